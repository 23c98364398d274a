//! Hooks around every operation (REST calls and realtime messages, by operation name such
//! as `authenticate_device`, `write_storage_objects` or `rpc`): before hooks see the
//! request as JSON and may change it or reject the call; after hooks observe the request
//! and the answer once the operation succeeded (on the socket, the answer's message;
//! `{}` for a message that is not answered). `rpc` has one shape, `{"id", "payload"}`,
//! over REST and the socket. After hooks of `session_connect` and `session_disconnect`
//! hear each socket start and end, once, with `{"session_id", "status", "format"}`.
//!
//! Rate limits per client and operation live in [`crate::limits`] (re-exported here).
//!
//! ```
//! use kaosnet::hooks::HookContext;
//! use kaosnet::{AfterHook, BeforeHook, BeforeHookResult, HookOperation, HookRegistry};
//! use serde_json::json;
//!
//! let hooks = HookRegistry::new();
//!
//! // Before hook - modify or reject requests
//! hooks.register_before(HookOperation::StorageWrite, Box::new(|ctx, payload| {
//!     // Validate data, modify payload, or reject
//!     if payload.get("cheating").is_some() {
//!         return BeforeHookResult::Reject("Cheating detected".into());
//!     }
//!     BeforeHookResult::Continue(payload)
//! }));
//!
//! // After hook - react to events
//! hooks.register_after(HookOperation::SessionConnect, Box::new(|ctx, payload| {
//!     println!("Player {} connected", ctx.user_id.as_deref().unwrap_or_default());
//! }));
//!
//! // What every caller of the operation goes through:
//! let ctx = HookContext { operation: "write_storage_objects".into(), ..Default::default() };
//! assert!(hooks.run_before(&ctx, json!({"objects": []})).is_ok());
//! let refused = hooks.run_before(&ctx, json!({"cheating": true})).unwrap_err();
//! assert_eq!(refused.message, "Cheating detected");
//! # let _: Option<(BeforeHook, AfterHook)> = None;
//! ```
//!
//! (In the seed's example `ctx.user_id` is printed as it is; a context has no user
//! before authentication, so it is an `Option`.)

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::Value;

use crate::error::{ApiError, Code};
pub use crate::limits::{Limit, LimitClass, OperationRateLimiter, RateLimiter, RateLimits};
pub use operation::HookOperation;

mod operation;

/// Who is calling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookContext {
    /// The operation (`authenticate_device`, `rpc`, …).
    pub operation: String,
    /// The caller's user id, once authenticated.
    pub user_id: Option<String>,
    pub username: Option<String>,
}

/// A before hook as kept: returns the request to proceed with, or an error for the client.
type BeforeFn = Arc<dyn Fn(&HookContext, Value) -> Result<Value, ApiError> + Send + Sync>;
/// An after hook as kept: sees the request and the answer.
type AfterFn = Arc<dyn Fn(&HookContext, &Value, &Value) + Send + Sync>;

/// What a before hook decides.
#[derive(Debug, Clone, PartialEq)]
pub enum BeforeHookResult {
    /// Go on with this request (the one given, or changed).
    Continue(Value),
    /// Refuse the call; the client is told why (invalid argument, 400).
    Reject(String),
}

/// A before hook registered by [`HookOperation`]: sees the caller and the request.
pub type BeforeHook = Box<dyn Fn(&HookContext, Value) -> BeforeHookResult + Send + Sync>;
/// An after hook registered by [`HookOperation`]: sees the caller and the request once
/// the operation has succeeded (for `SessionConnect` and `SessionDisconnect`, the
/// session: `{"session_id", "status", "format"}`).
pub type AfterHook = Box<dyn Fn(&HookContext, &Value) + Send + Sync>;

/// Registered hooks by operation.
#[derive(Default)]
pub struct HookRegistry {
    before: RwLock<HashMap<String, Vec<BeforeFn>>>,
    after: RwLock<HashMap<String, Vec<AfterFn>>>,
    /// Whether any hook was ever registered: most servers have none for the realtime
    /// kinds, and this spares each message the lookups.
    any: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for HookRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookRegistry").finish_non_exhaustive()
    }
}

impl HookRegistry {
    /// No hooks.
    pub fn new() -> HookRegistry {
        HookRegistry::default()
    }

    /// Runs `hook` before `operation`.
    pub fn register_before(&self, operation: HookOperation, hook: BeforeHook) {
        self.before(operation.name(), move |ctx, request| match hook(ctx, request) {
            BeforeHookResult::Continue(request) => Ok(request),
            BeforeHookResult::Reject(why) => Err(ApiError::invalid(why)),
        });
    }

    /// Runs `hook` after `operation` succeeded.
    pub fn register_after(&self, operation: HookOperation, hook: AfterHook) {
        self.after(operation.name(), move |ctx, request, _| hook(ctx, request));
    }

    /// Runs `hook` before `operation`; hooks run in registration order.
    pub fn before(
        &self,
        operation: &str,
        hook: impl Fn(&HookContext, Value) -> Result<Value, ApiError> + Send + Sync + 'static,
    ) {
        self.register(&self.before, operation, Arc::new(hook));
    }

    /// Runs `hook` after `operation` succeeded.
    pub fn after(&self, operation: &str, hook: impl Fn(&HookContext, &Value, &Value) + Send + Sync + 'static) {
        self.register(&self.after, operation, Arc::new(hook));
    }

    /// Adds `hook` to `operation`'s in `table`; from now on calls check for hooks.
    fn register<H>(&self, table: &RwLock<HashMap<String, Vec<H>>>, operation: &str, hook: H) {
        table.write().unwrap_or_else(PoisonError::into_inner).entry(operation.into()).or_default().push(hook);
        self.any.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether any before hook is registered for `operation` (saves parsing if not).
    pub fn has_before(&self, operation: &str) -> bool {
        self.any.load(std::sync::atomic::Ordering::Acquire)
            && self.before.read().unwrap_or_else(PoisonError::into_inner).contains_key(operation)
    }

    /// Whether any after hook is registered for `operation`.
    pub fn has_after(&self, operation: &str) -> bool {
        self.any.load(std::sync::atomic::Ordering::Acquire)
            && self.after.read().unwrap_or_else(PoisonError::into_inner).contains_key(operation)
    }

    /// Whether `operation` has hooks of either kind.
    pub fn has_any(&self, operation: &str) -> bool {
        self.has_before(operation) || self.has_after(operation)
    }

    /// One call of an operation with its hooks, the same for every caller (REST routes,
    /// REST and socket RPCs, socket messages, session start and end): the before hooks
    /// see `request` and may change it or refuse the call; `run` gets the request to
    /// proceed with; once it succeeded, the after hooks see that request and
    /// `answer_of` its result (`None`: the hooks do not hear of it). Callers skip this,
    /// and building the request, when [`has_any`](Self::has_any) says there are none.
    pub fn call<T, E: From<ApiError>>(
        &self,
        ctx: &HookContext,
        request: Value,
        run: impl FnOnce(&Value) -> Result<T, E>,
        answer_of: impl FnOnce(&T) -> Option<Value>,
    ) -> Result<T, E> {
        let request = if self.has_before(&ctx.operation) { self.run_before(ctx, request)? } else { request };
        let result = run(&request)?;
        if self.has_after(&ctx.operation) {
            if let Some(answer) = answer_of(&result) {
                self.run_after(ctx, &request, &answer);
            }
        }
        Ok(result)
    }

    /// Passes `request` through the before hooks. A hook that panics rejects the call
    /// with an internal error; the server goes on.
    pub fn run_before(&self, ctx: &HookContext, mut request: Value) -> Result<Value, ApiError> {
        let hooks = self.before.read().unwrap_or_else(PoisonError::into_inner).get(&ctx.operation).cloned();
        for hook in hooks.unwrap_or_default() {
            request = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(ctx, request)))
                .unwrap_or_else(|_| Err(ApiError::new(Code::Internal, "Before hook failed.")))?;
        }
        Ok(request)
    }

    /// Shows the request and its answer to the after hooks (a panicking hook is skipped).
    pub fn run_after(&self, ctx: &HookContext, request: &Value, response: &Value) {
        let hooks = self.after.read().unwrap_or_else(PoisonError::into_inner).get(&ctx.operation).cloned();
        for hook in hooks.unwrap_or_default() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(ctx, request, response)));
        }
    }
}
