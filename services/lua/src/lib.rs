//! KaosNet's Lua runtime: server modules in sandboxed Lua 5.4 states.
//!
//! [`LuaRuntime::start`] reads every `.lua` file of a directory and runs them in a pool
//! of states (created as calls need them, up to [`RuntimeConfig::max_states`]); what the
//! modules register (RPCs through `kaos.register_rpc` or Nakama's
//! `nk.register_rpc`) joins the server's registries, so REST, the socket and Rust code
//! reach Lua functions as they reach Rust ones. Modules see:
//! - the standard libraries without files, processes or bytecode (`io`, `debug`,
//!   `package`, `dofile`, `loadfile`, `string.dump` and most of `os` are gone), and a
//!   `require` that finds only the module directory's files;
//! - `kaos` (the seed's API) and `require("nakama")` (Nakama's), both over the same
//!   service operations as the REST API.
//!
//! Each call runs under an instruction budget and each state under a memory limit: a
//! runaway script fails its own call with an error naming where it was, and the server
//! goes on.

mod api;
mod console;
mod convert;
mod hooks;
mod match_dispatch;
mod matches;
mod modules;
mod pool;
mod schedule;
mod state;

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use kaosnet::rpc::RpcContext;
use kaosnet::{ApiError, Code, KaosNet};

pub use console::MAX_SNIPPET;
pub use matches::LuaMatchHandler;
pub use pool::PoolStats;

/// Where the modules are and what each state and call may use.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The module directory (`./data/modules` by default); absent means no modules.
    pub path: PathBuf,
    /// States at most: calls beyond that many at once wait for one.
    pub max_states: usize,
    /// VM instructions one call may run (checked every thousand).
    pub max_instructions: u64,
    /// Bytes one state may allocate.
    pub memory_limit: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            path: PathBuf::from("./data/modules"),
            max_states: 16,
            max_instructions: 10_000_000,
            memory_limit: 64 << 20,
        }
    }
}

/// Why modules could not be loaded or run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LuaError {
    /// The module directory or a file in it cannot be read.
    Path(String),
    /// A module failed while it loaded (syntax, runtime error, budget, memory).
    Load { module: String, message: String },
    /// A state could not be made.
    Start(String),
}

impl std::fmt::Display for LuaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LuaError::Path(m) => write!(f, "Lua modules: {m}"),
            LuaError::Load { module, message } => write!(f, "Lua module '{module}' failed to load: {message}"),
            LuaError::Start(m) => write!(f, "Lua state: {m}"),
        }
    }
}

impl std::error::Error for LuaError {}

/// The runtime: the module directory's current generation and its pool of states.
pub struct LuaRuntime {
    pool: pool::Pool,
    kaos: Weak<KaosNet>,
    hooks: hooks::Wired,
    /// Whether the board schedule's thread runs.
    schedule: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for LuaRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuaRuntime").field("pool", &self.pool.stats()).finish()
    }
}

impl LuaRuntime {
    /// Loads the modules of `config.path` and registers what they register with `kaos`.
    /// A module that fails to load fails the start, with its error.
    pub fn start(kaos: &Arc<KaosNet>, config: RuntimeConfig) -> Result<Arc<LuaRuntime>, LuaError> {
        let weak = Arc::downgrade(kaos);
        let api = api::Host::new(weak.clone());
        let runtime = Arc::new(LuaRuntime {
            pool: pool::Pool::new(config, api)?,
            kaos: weak,
            hooks: Default::default(),
            schedule: Default::default(),
        });
        runtime.register_functions(kaos);
        runtime.pool.run_once()?;
        Ok(runtime)
    }

    /// Reads the module directory again and swaps in states that run the new text; calls
    /// in progress finish on the old states. On an error nothing changes.
    pub fn reload(self: &Arc<LuaRuntime>) -> Result<(), LuaError> {
        self.pool.reload()?;
        if let Some(kaos) = self.kaos.upgrade() {
            self.register_functions(&kaos);
        }
        Ok(())
    }

    /// The RPC ids the current modules registered.
    pub fn rpc_ids(&self) -> Vec<String> {
        self.pool.rpc_ids()
    }

    /// States alive and idle now, and the current generation.
    pub fn stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// Calls Lua RPC `id` as a client or server would.
    pub fn call_rpc(&self, id: &str, ctx: &RpcContext, payload: &str) -> Result<String, ApiError> {
        let _span = tracing::info_span!("lua_rpc", id).entered();
        self.pool.with_state(|state| {
            let Some(f) = state.registered.rpcs.get(id) else {
                return Err(ApiError::not_found(kaosnet::rpc::NOT_FOUND));
            };
            let context = convert::rpc_context(&state.lua, ctx, "rpc").map_err(internal)?;
            match state.call(f, (context, payload)) {
                Ok(mut out) => match out.pop_front() {
                    Some(mlua::Value::String(s)) => Ok(s.to_str().map(|s| s.to_string()).unwrap_or_default()),
                    None | Some(mlua::Value::Nil) => Ok(String::new()),
                    Some(other) => Err(ApiError::new(
                        Code::Internal,
                        format!("RPC function '{id}' returned a {} where a string was expected", other.type_name()),
                    )),
                },
                Err(failure) => Err(api::failure_to_error(&format!("RPC function '{id}'"), failure)),
            }
        })
    }

    /// The match handler names the current modules offer.
    pub fn match_names(&self) -> Vec<String> {
        self.pool.match_names()
    }

    fn register_functions(self: &Arc<LuaRuntime>, kaos: &Arc<KaosNet>) {
        self.hooks.wire(self, kaos, &self.pool.hook_names());
        self.hooks.wire_matchmaker(self, kaos);
        schedule::start(self, kaos, &self.schedule);
        for name in self.pool.match_names() {
            let runtime = self.clone();
            let handler = name.clone();
            kaos.matches().register(&name, move || Box::new(LuaMatchHandler::new(runtime.clone(), &handler)));
        }
        for id in self.pool.rpc_ids() {
            let runtime = Arc::downgrade(self);
            let rpc_id = id.clone();
            kaos.rpcs().register(&id, move |ctx, payload| match runtime.upgrade() {
                Some(r) => r.call_rpc(&rpc_id, ctx, payload),
                None => Err(ApiError::not_found(kaosnet::rpc::NOT_FOUND)),
            });
        }
    }
}

/// Entry points for the fuzz targets in `fuzz/` (not a stable API).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use std::sync::{Arc, OnceLock};

    use kaosnet::KaosNet;

    /// Loads `text` as a module in a small sandboxed state (100,000 instructions a call,
    /// 8 MiB) and calls every RPC it registers with `payload`. Whatever the text, this
    /// returns: errors are values, never a panic, a hang or unbounded memory.
    pub fn run_module(text: &str, payload: &str) {
        static KAOS: OnceLock<Arc<KaosNet>> = OnceLock::new();
        let kaos = KAOS.get_or_init(|| {
            let store = Arc::new(kaosnet::store::MemoryStore::new());
            KaosNet::new(store, kaosnet::ApiConfig::default(), Default::default())
        });
        let config = crate::RuntimeConfig { max_instructions: 100_000, memory_limit: 8 << 20, ..Default::default() };
        let modules = crate::modules::Modules::from_text("fuzz", text);
        let host = crate::api::Host::new(Arc::downgrade(kaos));
        let Ok(state) = crate::state::State::new(&config, &modules, &|lua| host.install(lua)) else { return };
        for f in state.registered.rpcs.values() {
            let context = crate::convert::rpc_context(&state.lua, &Default::default(), "rpc");
            if let Ok(context) = context {
                let _ = state.call(f, (context, payload));
            }
        }
    }
}

fn internal(e: mlua::Error) -> ApiError {
    ApiError::new(Code::Internal, format!("Lua: {e}"))
}
