//! The pool of states: made as calls need them, up to the most allowed, each used by
//! one call at a time. A reload bumps the generation; states of an older one are
//! dropped as they come back, so calls in progress finish where they started.

use std::sync::{Condvar, Mutex, PoisonError};

use kaosnet::{ApiError, Code};

use crate::api::Host;
use crate::modules::Modules;
use crate::state::State;
use crate::{LuaError, RuntimeConfig};

/// What the pool holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// States alive (idle or in a call).
    pub states: usize,
    pub idle: usize,
    /// Module directory readings so far (1 after the start).
    pub generation: u64,
}

struct Inner {
    modules: Modules,
    idle: Vec<State>,
    /// States of the current generation alive, idle or not.
    alive: usize,
    rpc_ids: Vec<String>,
    match_names: Vec<String>,
    hook_names: Vec<(crate::hooks::Side, &'static str)>,
    matchmaker_matched: bool,
    board_hooks: bool,
}

pub(crate) struct Pool {
    config: RuntimeConfig,
    host: Host,
    inner: Mutex<Inner>,
    returned: Condvar,
}

impl Pool {
    /// Reads the modules and makes the first state (which shows any load error).
    pub(crate) fn new(config: RuntimeConfig, host: Host) -> Result<Pool, LuaError> {
        let modules = Modules::read(&config.path, 1)?;
        let first = State::new(&config, &modules, &|lua| host.install(lua))?;
        let (rpc_ids, match_names) = (sorted_ids(&first), match_names(&first));
        let hook_names = hook_names(&first);
        let matchmaker_matched = first.registered.matchmaker_matched.is_some();
        let board_hooks = !first.registered.board_hooks.is_empty();
        let inner = Inner {
            modules,
            idle: vec![first],
            alive: 1,
            rpc_ids,
            match_names,
            hook_names,
            matchmaker_matched,
            board_hooks,
        };
        Ok(Pool { config, host, inner: Mutex::new(inner), returned: Condvar::new() })
    }

    /// Calls the `run_once` functions of the first state, once per server.
    pub(crate) fn run_once(&self) -> Result<(), LuaError> {
        self.with_state(|state| {
            for f in std::mem::take(&mut state.registered.run_once) {
                if let Err(failure) = state.call(&f, crate::convert::run_once_context(&state.lua)) {
                    return Err(ApiError::new(Code::Internal, failure.describe()));
                }
            }
            Ok(())
        })
        .map_err(|e| LuaError::Load { module: "run_once".into(), message: e.message })
    }

    pub(crate) fn reload(&self) -> Result<(), LuaError> {
        let generation = self.lock().modules.generation + 1;
        let modules = Modules::read(&self.config.path, generation)?;
        let fresh = State::new(&self.config, &modules, &|lua| self.host.install(lua))?;
        let mut inner = self.lock();
        inner.rpc_ids = sorted_ids(&fresh);
        inner.match_names = match_names(&fresh);
        inner.hook_names = hook_names(&fresh);
        inner.matchmaker_matched = fresh.registered.matchmaker_matched.is_some();
        inner.board_hooks = !fresh.registered.board_hooks.is_empty();
        inner.modules = modules;
        inner.idle.clear();
        inner.idle.push(fresh);
        inner.alive = 1;
        drop(inner);
        self.returned.notify_all();
        Ok(())
    }

    /// A state of the current generation outside the pool (a match's own).
    pub(crate) fn fresh_state(&self) -> Result<State, LuaError> {
        let modules = self.lock().modules.clone();
        State::new(&self.config, &modules, &|lua| self.host.install(lua))
    }

    /// Match handler names: those registered with `kaos.register_match` and the modules
    /// that return a match handler table.
    pub(crate) fn match_names(&self) -> Vec<String> {
        self.lock().match_names.clone()
    }

    /// Whether the current modules act on board resets or tournament ends.
    pub(crate) fn has_board_hooks(&self) -> bool {
        self.lock().board_hooks
    }

    /// Whether the current modules make the matchmaker's matches.
    pub(crate) fn has_matchmaker_matched(&self) -> bool {
        self.lock().matchmaker_matched
    }

    /// The (side, operation) pairs the current modules hook.
    pub(crate) fn hook_names(&self) -> Vec<(crate::hooks::Side, &'static str)> {
        self.lock().hook_names.clone()
    }

    /// The current modules: name, file and size, in load order.
    pub(crate) fn modules(&self) -> Vec<(String, String, usize)> {
        let inner = self.lock();
        let m = &inner.modules;
        m.names().filter_map(|n| m.sources.get(n).map(|s| (n.to_string(), s.file.clone(), s.text.len()))).collect()
    }

    pub(crate) fn rpc_ids(&self) -> Vec<String> {
        self.lock().rpc_ids.clone()
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let inner = self.lock();
        PoolStats { states: inner.alive, idle: inner.idle.len(), generation: inner.modules.generation }
    }

    /// Runs `f` on a state of the current generation: an idle one, a new one while there
    /// is room, else the next one returned.
    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut State) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let started = std::time::Instant::now();
        let mut state = self.take()?;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut state)));
        self.give_back(state);
        let result = result.unwrap_or_else(|_| Err(ApiError::new(Code::Internal, "the Lua call panicked")));
        if let Some(kaos) = self.host.kaos() {
            kaos.metrics().lua_call(result.is_ok(), started.elapsed());
        }
        result
    }

    fn take(&self) -> Result<State, ApiError> {
        let mut inner = self.lock();
        loop {
            if let Some(state) = inner.idle.pop() {
                return Ok(state);
            }
            if inner.alive < self.config.max_states {
                inner.alive += 1;
                let modules = inner.modules.clone();
                drop(inner);
                return match State::new(&self.config, &modules, &|lua| self.host.install(lua)) {
                    Ok(state) => Ok(state),
                    Err(e) => {
                        let mut inner = self.lock();
                        if inner.modules.generation == modules.generation {
                            inner.alive -= 1;
                        }
                        Err(ApiError::new(Code::Internal, e.to_string()))
                    }
                };
            }
            inner = self.returned.wait(inner).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn give_back(&self, state: State) {
        let mut inner = self.lock();
        // A state of an older generation is dropped (its replacement is made on demand).
        if state.generation == inner.modules.generation {
            inner.idle.push(state);
        }
        drop(inner);
        self.returned.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn sorted_ids(state: &State) -> Vec<String> {
    let mut ids: Vec<String> = state.registered.rpcs.keys().cloned().collect();
    ids.sort();
    ids
}

fn match_names(state: &State) -> Vec<String> {
    let mut names: Vec<String> = state.registered.matches.keys().cloned().collect();
    names.extend(state.registered.match_modules.iter().cloned());
    names.sort();
    names.dedup();
    names
}

fn hook_names(state: &State) -> Vec<(crate::hooks::Side, &'static str)> {
    let mut names: Vec<_> = state.registered.hooks.iter().map(|(side, op, _)| (*side, *op)).collect();
    names.dedup();
    names
}
