//! RPC functions: Rust closures registered by id, called over REST (`/v2/rpc/{id}`, with
//! a session or, server to server, `?http_key=`) and from the realtime socket.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use crate::error::ApiError;

/// The message of calling an id nobody registered.
pub const NOT_FOUND: &str = "RPC function not found";

/// Who called an RPC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpcContext {
    /// The caller's user id; `None` for a server-to-server call with the http key.
    pub user_id: Option<String>,
    pub username: Option<String>,
    /// The session's variables.
    pub vars: BTreeMap<String, String>,
    /// The socket session the call came on (`None` over REST), as Nakama's context has it.
    pub session_id: Option<String>,
}

/// An RPC function: payload in, payload out (both usually JSON text).
pub type RpcFn = Arc<dyn Fn(&RpcContext, &str) -> Result<String, ApiError> + Send + Sync>;

/// The registered functions.
#[derive(Default)]
pub struct Rpcs {
    functions: RwLock<HashMap<String, RpcFn>>,
}

impl std::fmt::Debug for Rpcs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.functions.read().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Rpcs").field("functions", &n).finish()
    }
}

impl Rpcs {
    /// Registers (or replaces) function `id`; ids are case-insensitive, as Nakama's.
    pub fn register(
        &self,
        id: &str,
        f: impl Fn(&RpcContext, &str) -> Result<String, ApiError> + Send + Sync + 'static,
    ) {
        self.functions.write().unwrap_or_else(PoisonError::into_inner).insert(id.to_lowercase(), Arc::new(f));
    }

    /// Calls function `id`. A function that panics answers an internal error; the
    /// server goes on.
    pub fn call(&self, id: &str, ctx: &RpcContext, payload: &str) -> Result<String, ApiError> {
        let f = self
            .functions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id.to_lowercase())
            .cloned()
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(ctx, payload)))
            .unwrap_or_else(|_| Err(ApiError::new(crate::Code::Internal, "RPC function failed")))
    }
}
