//! Hooks around every operation (REST calls and realtime messages, by operation name such
//! as `authenticate_device`, `write_storage_objects` or `rpc`): before hooks see the
//! request as JSON and may change it or reject the call; after hooks observe the request
//! and the answer. And rate limits per client and per operation (429 on REST, an error
//! envelope on the socket).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use serde_json::Value;

use crate::error::{ApiError, Code};

/// Who is calling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookContext {
    /// The operation (`authenticate_device`, `rpc`, …).
    pub operation: String,
    /// The caller's user id, once authenticated.
    pub user_id: Option<String>,
    pub username: Option<String>,
}

/// A before hook: returns the request to proceed with, or an error for the client.
pub type BeforeHook = Arc<dyn Fn(&HookContext, Value) -> Result<Value, ApiError> + Send + Sync>;
/// An after hook: sees the request and the answer.
pub type AfterHook = Arc<dyn Fn(&HookContext, &Value, &Value) + Send + Sync>;

/// Registered hooks by operation.
#[derive(Default)]
pub struct HookRegistry {
    before: RwLock<HashMap<String, Vec<BeforeHook>>>,
    after: RwLock<HashMap<String, Vec<AfterHook>>>,
}

impl std::fmt::Debug for HookRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookRegistry").finish_non_exhaustive()
    }
}

impl HookRegistry {
    /// Runs `hook` before `operation`; hooks run in registration order.
    pub fn before(
        &self,
        operation: &str,
        hook: impl Fn(&HookContext, Value) -> Result<Value, ApiError> + Send + Sync + 'static,
    ) {
        self.before
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(operation.into())
            .or_default()
            .push(Arc::new(hook));
    }

    /// Runs `hook` after `operation` succeeded.
    pub fn after(&self, operation: &str, hook: impl Fn(&HookContext, &Value, &Value) + Send + Sync + 'static) {
        self.after
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(operation.into())
            .or_default()
            .push(Arc::new(hook));
    }

    /// Whether any before hook is registered for `operation` (saves parsing if not).
    pub fn has_before(&self, operation: &str) -> bool {
        self.before.read().unwrap_or_else(PoisonError::into_inner).contains_key(operation)
    }

    /// Whether any after hook is registered for `operation`.
    pub fn has_after(&self, operation: &str) -> bool {
        self.after.read().unwrap_or_else(PoisonError::into_inner).contains_key(operation)
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

/// A token bucket's settings: `per_second` sustained, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub per_second: f64,
    pub burst: f64,
}

/// Token buckets by key, with a bound on how many keys it remembers.
#[derive(Debug)]
pub struct RateLimiter {
    limit: Limit,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    max_keys: usize,
}

impl RateLimiter {
    pub fn new(limit: Limit) -> RateLimiter {
        RateLimiter { limit, buckets: Mutex::default(), max_keys: 100_000 }
    }

    /// Takes a token for `key`; false when its bucket is empty.
    pub fn allow(&self, key: &str, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= self.max_keys && !buckets.contains_key(key) {
            // Forget the keys whose buckets have refilled: they are indistinguishable
            // from new ones. If none has, refuse rather than grow.
            let (rate, burst) = (self.limit.per_second, self.limit.burst);
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < burst);
            if buckets.len() >= self.max_keys {
                return false;
            }
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((self.limit.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.limit.per_second).min(self.limit.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Rate limits per client for every operation, with overrides for some.
#[derive(Debug)]
pub struct OperationRateLimiter {
    default: Option<RateLimiter>,
    per_operation: HashMap<String, RateLimiter>,
}

impl OperationRateLimiter {
    /// `default` applies to every operation without an override (`None`: unlimited).
    pub fn new(default: Option<Limit>) -> OperationRateLimiter {
        OperationRateLimiter { default: default.map(RateLimiter::new), per_operation: HashMap::new() }
    }

    /// A limit of its own for `operation`.
    pub fn with(mut self, operation: &str, limit: Limit) -> OperationRateLimiter {
        self.per_operation.insert(operation.to_string(), RateLimiter::new(limit));
        self
    }

    /// Whether `client` may run `operation` now; 429's error otherwise.
    pub fn check(&self, client: &str, operation: &str) -> Result<(), ApiError> {
        let limiter = self.per_operation.get(operation).or(self.default.as_ref());
        match limiter {
            Some(l) if !l.allow(&format!("{client}\n{operation}"), Instant::now()) => {
                Err(ApiError::new(Code::ResourceExhausted, "Too many requests, slow down."))
            }
            _ => Ok(()),
        }
    }
}

impl Default for OperationRateLimiter {
    /// 50 calls a second per client per operation, bursts of 100: far above what a game
    /// client needs, well below a flood.
    fn default() -> Self {
        OperationRateLimiter::new(Some(Limit { per_second: 50.0, burst: 100.0 }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn buckets_refill_at_their_rate() {
        let l = RateLimiter::new(Limit { per_second: 10.0, burst: 3.0 });
        let t = Instant::now();
        assert!((0..3).all(|_| l.allow("a", t)));
        assert!(!l.allow("a", t));
        assert!(l.allow("b", t), "keys are independent");
        assert!(!l.allow("a", t + Duration::from_millis(50)));
        assert!(l.allow("a", t + Duration::from_millis(150)));
    }

    #[test]
    fn a_full_table_forgets_refilled_keys_and_never_grows_past_its_bound() {
        let mut l = RateLimiter::new(Limit { per_second: 1.0, burst: 1.0 });
        l.max_keys = 4;
        let t = Instant::now();
        for k in 0..4 {
            assert!(l.allow(&k.to_string(), t));
        }
        assert!(!l.allow("new", t), "all four still draining");
        assert!(l.allow("new", t + Duration::from_secs(2)));
        assert!(l.buckets.lock().unwrap().len() <= 4);
    }
}
