//! Before and after hooks in Lua, on the operations REST and the socket share
//! (`kaosnet::hooks`): Nakama's `register_req_before/after` and `register_rt_before/after`
//! (by its names, `AuthenticateDevice`, `ChannelJoin`, any case) and the seed's
//! `kaos.register_hook("before"|"after", operation, fn)` (by KaosNet's names,
//! `authenticate_device`).
//!
//! A before hook gets `(context, payload)` and returns the payload to go on with, or nil
//! to refuse the call (NotFound, as Nakama); an error it raises keeps its code. An after
//! hook gets `(context, outgoing, incoming)`; what it raises is only logged.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use kaosnet::hooks::{HookContext, HookOperation};
use kaosnet::{ApiError, Code, KaosNet};
use mlua::Value;

use crate::convert::{json_to_lua, lua_to_json};
use crate::LuaRuntime;

/// Which side of the operation a hook runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    Before,
    After,
}

/// An operation's name as KaosNet knows it, from Nakama's (`WriteStorageObjects`,
/// `ChannelJoin`, in any case) or KaosNet's own (`write_storage_objects`).
pub(crate) fn operation(name: &str) -> Option<&'static str> {
    if let Some(op) = HookOperation::named(name) {
        return Some(op.name());
    }
    let wanted: String = name.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect();
    HookOperation::ALL.iter().map(|op| op.name()).find(|known| known.replace('_', "") == wanted)
}

/// The (side, operation) pairs already wired to the services, and whether the
/// matchmaker's hook is: a reload adds new ones and the old dispatchers find the new
/// generation's functions.
#[derive(Default)]
pub(crate) struct Wired(Mutex<HashSet<(Side, &'static str)>>, std::sync::atomic::AtomicBool);

impl Wired {
    /// Hands the matchmaker's matched groups to Lua, once the modules register a function.
    pub(crate) fn wire_matchmaker(&self, runtime: &Arc<LuaRuntime>, kaos: &KaosNet) {
        if !runtime.pool.has_matchmaker_matched() || self.1.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(runtime);
        kaos.matchmaker().on_matched(move |_, users| weak.upgrade().and_then(|r| r.run_matchmaker_matched(users)));
    }

    pub(crate) fn wire(&self, runtime: &Arc<LuaRuntime>, kaos: &KaosNet, hooks: &[(Side, &'static str)]) {
        let mut wired = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for &(side, op) in hooks {
            if !wired.insert((side, op)) {
                continue;
            }
            let weak: Weak<LuaRuntime> = Arc::downgrade(runtime);
            match side {
                Side::Before => kaos.hooks().before(op, move |ctx, request| match weak.upgrade() {
                    Some(r) => r.run_before(op, ctx, request),
                    None => Ok(request),
                }),
                Side::After => kaos.hooks().after(op, move |ctx, request, answer| {
                    if let Some(r) = weak.upgrade() {
                        r.run_after(op, ctx, request, answer);
                    }
                }),
            }
        }
    }
}

fn context(lua: &mlua::Lua, ctx: &HookContext, side: Side) -> mlua::Result<mlua::Table> {
    let rpc =
        kaosnet::rpc::RpcContext { user_id: ctx.user_id.clone(), username: ctx.username.clone(), ..Default::default() };
    let t = crate::convert::rpc_context(lua, &rpc, if side == Side::Before { "before" } else { "after" })?;
    t.set("operation", ctx.operation.as_str())?;
    Ok(t)
}

impl LuaRuntime {
    fn run_before(
        &self,
        op: &str,
        ctx: &HookContext,
        request: serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        let _span = tracing::info_span!("lua_hook", side = "before", operation = op).entered();
        self.pool.with_state(|state| {
            let mut request = request;
            let hooks: Vec<_> = state.registered.hooks_for(Side::Before, op).cloned().collect();
            for f in hooks {
                let lua = &state.lua;
                let args =
                    (context(lua, ctx, Side::Before).map_err(internal)?, json_to_lua(lua, &request).map_err(internal)?);
                match state.call(&f, args) {
                    Ok(mut out) => match out.pop_front() {
                        None | Some(Value::Nil) => {
                            return Err(ApiError::not_found("Requested resource was not found."))
                        }
                        Some(v) => request = lua_to_json(lua, v).map_err(internal)?,
                    },
                    Err(failure) => return Err(crate::api::failure_to_error(&format!("before hook of {op}"), failure)),
                }
            }
            Ok(request)
        })
    }

    fn run_after(&self, op: &str, ctx: &HookContext, request: &serde_json::Value, answer: &serde_json::Value) {
        let _span = tracing::info_span!("lua_hook", side = "after", operation = op).entered();
        let outcome = self.pool.with_state(|state| {
            let hooks: Vec<_> = state.registered.hooks_for(Side::After, op).cloned().collect();
            for f in hooks {
                let lua = &state.lua;
                let context = context(lua, ctx, Side::After).map_err(internal)?;
                let args = (
                    context,
                    json_to_lua(lua, answer).map_err(internal)?,
                    json_to_lua(lua, request).map_err(internal)?,
                );
                if let Err(failure) = state.call(&f, args) {
                    tracing::warn!(target: "kaos_lua", "after hook of {op} failed: {}", failure.describe());
                }
            }
            Ok(())
        });
        if let Err(e) = outcome {
            tracing::warn!(target: "kaos_lua", "after hook of {op} failed: {}", e.message);
        }
    }
}

impl LuaRuntime {
    /// The match id the Lua function makes for a matched group, or None (a relayed match).
    fn run_matchmaker_matched(&self, users: &[kaosnet::matchmaker::MatchedUser]) -> Option<String> {
        let outcome = self.pool.with_state(|state| {
            let Some(f) = state.registered.matchmaker_matched.clone() else { return Ok(None) };
            let lua = &state.lua;
            let entries = || -> mlua::Result<mlua::Table> {
                let list = lua.create_table()?;
                for u in users {
                    let entry = lua.create_table()?;
                    entry.set("presence", crate::matches::presence_table(lua, &u.presence)?)?;
                    let properties = lua.create_table()?;
                    for (k, v) in &u.string_properties {
                        properties.set(k.as_str(), v.as_str())?;
                    }
                    for (k, v) in &u.numeric_properties {
                        properties.set(k.as_str(), *v)?;
                    }
                    entry.set("properties", properties)?;
                    entry.set("party_id", u.party_id.as_deref())?;
                    list.push(entry)?;
                }
                Ok(list)
            };
            let rpc = kaosnet::rpc::RpcContext::default();
            let args =
                (crate::convert::rpc_context(lua, &rpc, "matchmaker").map_err(internal)?, entries().map_err(internal)?);
            match state.call(&f, args) {
                Ok(mut out) => match out.pop_front() {
                    Some(Value::String(id)) => Ok(Some(id.to_string_lossy())),
                    None | Some(Value::Nil) => Ok(None),
                    Some(other) => Err(ApiError::new(
                        Code::Internal,
                        format!("it returned a {} where a match id was expected", other.type_name()),
                    )),
                },
                Err(failure) => Err(ApiError::new(Code::Internal, failure.describe())),
            }
        });
        outcome.unwrap_or_else(|e| {
            tracing::warn!(target: "kaos_lua", "matchmaker_matched failed, the group gets a relayed match: {}", e.message);
            None
        })
    }
}

fn internal(e: mlua::Error) -> ApiError {
    ApiError::new(Code::Internal, format!("Lua: {e}"))
}
