//! Authoritative matches in Lua: [`LuaMatchHandler`] is a [`MatchHandler`], so Lua and
//! Rust matches are created, listed, joined and run alike. Each match runs in a Lua state
//! of its own (the modules loaded afresh), as in Nakama.
//!
//! Two forms:
//! - Nakama's: a module returning `{ match_init = …, match_loop = … }`, created by its
//!   module name; callbacks take `(vm.context.clone(), vm.dispatcher.clone(), tick, state, …)` and the
//!   dispatcher offers `broadcast_message`, `broadcast_message_deferred`, `match_kick`
//!   and `match_label_update` (called with a dot).
//! - The seed's: `kaos.register_match(name, { … })`; callbacks take `(context, state, …)`,
//!   `match_init` returns `{ state =, tick_rate =, label = }` and `match_loop` returns the
//!   state and a list of broadcasts `{ op_code =, data =, presences =, reliable = }`.
//!
//! A callback that fails, or returns no state, ends the match (logged with where).

use std::collections::HashMap;
use std::sync::Arc;

use kaosnet::matches::{Dispatcher, MatchContext, MatchHandler, MatchInit, MatchMessage};
use kaosnet::presence::tracker::Presence;
use mlua::{Function, Lua, MultiValue, Table, Value};
use serde_json::Value as Json;

use crate::convert::{json_to_lua, lua_to_json};
use crate::match_dispatch::{self, Actions};
use crate::state::State;
use crate::LuaRuntime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Nakama,
    Seed,
}

struct Vm {
    state: State,
    handlers: Table,
    form: Form,
    /// Made once per match: the context, the dispatcher and its queue, and a presence
    /// table per session (messages reuse their sender's).
    context: Table,
    dispatcher: Table,
    actions: Actions,
    presences: Table,
    /// The match state the script keeps between calls.
    value: Value,
    label: String,
    tick_rate: u32,
}

/// A match whose handler is Lua: `name` is a module name (Nakama's form) or a name given
/// to `kaos.register_match` (the seed's).
pub struct LuaMatchHandler {
    runtime: Arc<LuaRuntime>,
    name: String,
    vm: Option<Vm>,
    /// Set when a callback failed: the next tick ends the match.
    failed: bool,
}

impl std::fmt::Debug for LuaMatchHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuaMatchHandler").field("name", &self.name).finish_non_exhaustive()
    }
}

impl LuaMatchHandler {
    pub fn new(runtime: Arc<LuaRuntime>, name: &str) -> LuaMatchHandler {
        LuaMatchHandler { runtime, name: name.to_string(), vm: None, failed: false }
    }

    fn start(&self) -> Result<Vm, String> {
        let state = self.runtime.pool.fresh_state().map_err(|e| e.to_string())?;
        let (handlers, form) = match state.registered.matches.get(&self.name) {
            Some(t) => (t.clone(), Form::Seed),
            None => {
                let require: Function = state.lua.globals().get("require").map_err(|e| e.to_string())?;
                match state.call(&require, self.name.as_str()).map_err(|f| f.describe())?.pop_front() {
                    Some(Value::Table(t)) => (t, Form::Nakama),
                    _ => return Err(format!("module '{}' does not return a match handler table", self.name)),
                }
            }
        };
        let needed: &[&str] = match form {
            Form::Nakama => &[
                "match_init",
                "match_join_attempt",
                "match_join",
                "match_leave",
                "match_loop",
                "match_terminate",
                "match_signal",
            ],
            Form::Seed => &["match_init", "match_loop"],
        };
        for name in needed {
            if !matches!(handlers.raw_get::<Value>(*name), Ok(Value::Function(_))) {
                return Err(format!("{name} not found or not a function in match handler '{}'", self.name));
            }
        }
        let lua = &state.lua;
        let actions = Actions::default();
        let made = || -> mlua::Result<(Table, Table, Table)> {
            let context = lua.create_table()?;
            context.set("env", lua.create_table()?)?;
            context.set("execution_mode", "match")?;
            context.set("node", kaosnet::matches::authoritative::NODE)?;
            context.set("match_node", kaosnet::matches::authoritative::NODE)?;
            let dispatcher = match_dispatch::table(lua, &actions, &context)?;
            Ok((context, dispatcher, lua.create_table()?))
        };
        let (context, dispatcher, presences) = made().map_err(|e| e.to_string())?;
        Ok(Vm {
            state,
            handlers,
            form,
            context,
            dispatcher,
            actions,
            presences,
            value: Value::Nil,
            label: String::new(),
            tick_rate: 0,
        })
    }

    /// Calls callback `which` (skipped if the seed's form leaves it out) with what `args`
    /// builds, then applies what it asked of the dispatcher.
    fn call(
        &mut self,
        which: &str,
        ctx: &MatchContext,
        d: Option<&mut Dispatcher<'_>>,
        args: impl FnOnce(&Lua, &Vm) -> mlua::Result<MultiValue>,
    ) -> Option<MultiValue> {
        let vm = self.vm.as_ref()?;
        let Ok(Value::Function(f)) = vm.handlers.raw_get::<Value>(which) else {
            return None;
        };
        let lua = &vm.state.lua;
        let outcome = match vm.context.raw_set("match_id", ctx.match_id.as_str()).and_then(|()| args(lua, vm)) {
            Ok(args) => vm.state.call(&f, args).map_err(|failure| failure.describe()),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(out) => {
                if let Some(d) = d {
                    vm.actions.apply(d);
                }
                Some(out)
            }
            Err(why) => {
                vm.actions.clear();
                self.fail(which, &why)
            }
        }
    }

    fn fail(&mut self, which: &str, why: &str) -> Option<MultiValue> {
        tracing::warn!(target: "kaos_lua", "match handler '{}' {which} failed, ending the match: {why}", self.name);
        self.failed = true;
        None
    }

    /// Keeps the returned state; no state ends the match.
    fn keep(&mut self, which: &str, out: Option<MultiValue>) -> Option<MultiValue> {
        let mut out = out?;
        match out.pop_front() {
            None | Some(Value::Nil) => self.fail(which, "it returned no state"),
            Some(v) => {
                if let Some(vm) = self.vm.as_mut() {
                    vm.value = v;
                }
                Some(out)
            }
        }
    }

    fn form(&self) -> Form {
        self.vm.as_ref().map_or(Form::Nakama, |vm| vm.form)
    }
}

pub(crate) fn presence_table(lua: &Lua, p: &Presence) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("user_id", p.user_id.as_str())?;
    t.set("session_id", p.session.text())?;
    t.set("username", p.username.as_str())?;
    t.set("node", kaosnet::matches::authoritative::NODE)?;
    Ok(t)
}

/// The presence table of `p`, made once per session and match.
fn cached_presence(lua: &Lua, vm: &Vm, p: &Presence) -> mlua::Result<Table> {
    let key = p.session.text();
    if let Some(t) = vm.presences.raw_get::<Option<Table>>(key.as_str())? {
        return Ok(t);
    }
    let t = presence_table(lua, p)?;
    vm.presences.raw_set(key, &t)?;
    Ok(t)
}

impl MatchHandler for LuaMatchHandler {
    fn state(&mut self, _ctx: &MatchContext) -> Json {
        // A state JSON cannot show (functions, cycles) is reported as such, not fatal.
        let Some(vm) = &self.vm else { return Json::Null };
        lua_to_json(&vm.state.lua, vm.value.clone())
            .unwrap_or_else(|e| serde_json::json!({ "unreadable": e.to_string() }))
    }

    fn init(&mut self, ctx: &MatchContext, params: &Json) -> Result<MatchInit, String> {
        self.vm = Some(self.start()?);
        let out = self
            .call("match_init", ctx, None, |lua, vm| {
                let params = if params.is_null() { Value::Nil } else { json_to_lua(lua, params)? };
                mlua::IntoLuaMulti::into_lua_multi((vm.context.clone(), params), lua)
            })
            .ok_or_else(|| format!("match_init of '{}' failed", self.name))?;
        let vm = self.vm.as_mut().ok_or("no state")?;
        let mut out = out.into_iter();
        let (state, tick_rate, label) = match vm.form {
            Form::Seed => {
                let Some(Value::Table(t)) = out.next() else {
                    return Err("match_init must return { state =, tick_rate =, label = }".into());
                };
                (
                    t.get::<Value>("state").map_err(|e| e.to_string())?,
                    t.get::<Value>("tick_rate"),
                    t.get::<Value>("label"),
                )
            }
            Form::Nakama => (
                out.next().unwrap_or(Value::Nil),
                Ok(out.next().unwrap_or(Value::Nil)),
                Ok(out.next().unwrap_or(Value::Nil)),
            ),
        };
        if state.is_nil() {
            return Err("Match initial state must not be nil".into());
        }
        let tick_rate = match tick_rate.map_err(|e| e.to_string())? {
            Value::Integer(n @ 1..=60) => n as u32,
            Value::Number(n) if (1.0..=60.0).contains(&n) && n.fract() == 0.0 => n as u32,
            _ => return Err("match_init returned an invalid tick rate: it must be between 1 and 60".into()),
        };
        let label = match label.map_err(|e| e.to_string())? {
            Value::Nil => String::new(),
            Value::String(s) => s.to_str().map_err(|e| e.to_string())?.to_string(),
            _ => return Err("match_init returned an unexpected label: it must be a string".into()),
        };
        (vm.value, vm.tick_rate, vm.label) = (state, tick_rate, label.clone());
        vm.context.raw_set("match_label", label.as_str()).map_err(|e| e.to_string())?;
        vm.context.raw_set("match_tick_rate", tick_rate).map_err(|e| e.to_string())?;
        Ok(MatchInit { tick_rate, label })
    }

    fn join_attempt(
        &mut self,
        ctx: &MatchContext,
        d: &mut Dispatcher<'_>,
        tick: u64,
        presence: &Presence,
        metadata: &HashMap<String, String>,
    ) -> Result<(), String> {
        let form = self.form();
        let out = self.call("match_join_attempt", ctx, Some(d), |lua, vm| {
            let p = cached_presence(lua, vm, presence)?;
            match form {
                Form::Nakama => {
                    let meta = lua.create_table_from(metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
                    mlua::IntoLuaMulti::into_lua_multi(
                        (vm.context.clone(), vm.dispatcher.clone(), tick, vm.value.clone(), p, meta),
                        lua,
                    )
                }
                Form::Seed => mlua::IntoLuaMulti::into_lua_multi((vm.context.clone(), vm.value.clone(), p), lua),
            }
        });
        if self.vm.as_ref().is_some_and(|vm| vm.form == Form::Seed && !has(vm, "match_join_attempt")) {
            return Ok(());
        }
        let Some(mut rest) = self.keep("match_join_attempt", out) else {
            return Err("the match refused the join".into());
        };
        match rest.pop_front() {
            Some(Value::Boolean(false)) => Err(match rest.pop_front() {
                Some(Value::String(s)) => s.to_string_lossy(),
                _ => "rejected by the match".into(),
            }),
            _ => Ok(()),
        }
    }

    fn join(&mut self, ctx: &MatchContext, d: &mut Dispatcher<'_>, tick: u64, joined: &[Presence]) {
        self.presences_call("match_join", ctx, d, tick, joined);
    }

    fn leave(&mut self, ctx: &MatchContext, d: &mut Dispatcher<'_>, tick: u64, left: &[Presence]) {
        self.presences_call("match_leave", ctx, d, tick, left);
    }

    fn tick(&mut self, ctx: &MatchContext, d: &mut Dispatcher<'_>, tick: u64, messages: Vec<MatchMessage>) -> bool {
        if self.failed {
            return false;
        }
        let form = self.form();
        let out = self.call("match_loop", ctx, Some(d), |lua, vm| {
            let list = lua.create_table()?;
            for m in &messages {
                let t = lua.create_table()?;
                t.set("sender", cached_presence(lua, vm, &m.sender)?)?;
                t.set("op_code", m.op_code)?;
                t.set("data", lua.create_string(&m.data)?)?;
                t.set("reliable", m.reliable)?;
                list.push(t)?;
            }
            match form {
                Form::Nakama => mlua::IntoLuaMulti::into_lua_multi(
                    (vm.context.clone(), vm.dispatcher.clone(), tick, vm.value.clone(), list),
                    lua,
                ),
                Form::Seed => {
                    mlua::IntoLuaMulti::into_lua_multi((vm.context.clone(), vm.value.clone(), tick, list), lua)
                }
            }
        });
        let Some(mut rest) = self.keep("match_loop", out) else {
            return false;
        };
        if let (Form::Seed, Some(Value::Table(broadcasts)), Some(vm)) = (form, rest.pop_front(), self.vm.as_ref()) {
            {
                if let Err(e) = seed_broadcasts(&vm.state.lua, d, &broadcasts) {
                    self.fail("match_loop", &e.to_string());
                    return false;
                }
            }
        }
        !self.failed
    }

    fn terminate(&mut self, ctx: &MatchContext, d: &mut Dispatcher<'_>, tick: u64, grace_seconds: u32) {
        let form = self.form();
        self.call("match_terminate", ctx, Some(d), |lua, vm| match form {
            Form::Nakama => mlua::IntoLuaMulti::into_lua_multi(
                (vm.context.clone(), vm.dispatcher.clone(), tick, vm.value.clone(), grace_seconds),
                lua,
            ),
            Form::Seed => mlua::IntoLuaMulti::into_lua_multi((vm.context.clone(), vm.value.clone()), lua),
        });
    }

    fn signal(&mut self, ctx: &MatchContext, d: &mut Dispatcher<'_>, tick: u64, data: &str) -> Result<String, String> {
        let form = self.form();
        let out = self.call("match_signal", ctx, Some(d), |lua, vm| match form {
            Form::Nakama => mlua::IntoLuaMulti::into_lua_multi(
                (vm.context.clone(), vm.dispatcher.clone(), tick, vm.value.clone(), data),
                lua,
            ),
            Form::Seed => mlua::IntoLuaMulti::into_lua_multi((vm.context.clone(), vm.value.clone(), data), lua),
        });
        if out.is_none() && self.vm.as_ref().is_some_and(|vm| !has(vm, "match_signal")) {
            return Err("this match takes no signals".into());
        }
        let mut rest = self.keep("match_signal", out).ok_or("the match failed on the signal")?;
        Ok(match rest.pop_front() {
            Some(Value::String(s)) => s.to_string_lossy(),
            _ => String::new(),
        })
    }
}

impl LuaMatchHandler {
    fn presences_call(
        &mut self,
        which: &str,
        ctx: &MatchContext,
        d: &mut Dispatcher<'_>,
        tick: u64,
        list: &[Presence],
    ) {
        let form = self.form();
        let out = self.call(which, ctx, Some(d), |lua, vm| {
            let p = lua.create_sequence_from(
                list.iter().map(|q| cached_presence(lua, vm, q)).collect::<mlua::Result<Vec<_>>>()?,
            )?;
            match form {
                Form::Nakama => mlua::IntoLuaMulti::into_lua_multi(
                    (vm.context.clone(), vm.dispatcher.clone(), tick, vm.value.clone(), p),
                    lua,
                ),
                Form::Seed => mlua::IntoLuaMulti::into_lua_multi((vm.context.clone(), vm.value.clone(), p), lua),
            }
        });
        if out.is_some() {
            self.keep(which, out);
        }
    }
}

fn has(vm: &Vm, name: &str) -> bool {
    matches!(vm.handlers.raw_get::<Value>(name), Ok(Value::Function(_)))
}

/// The seed's `match_loop` broadcasts: `{ op_code =, data =, presences =, reliable = }`.
fn seed_broadcasts(lua: &Lua, d: &mut Dispatcher<'_>, list: &Table) -> mlua::Result<()> {
    for b in list.sequence_values::<Table>() {
        let b = b?;
        let op_code: i64 = b.get("op_code")?;
        let data = match b.get::<Value>("data")? {
            Value::Nil => Vec::new(),
            Value::String(s) => s.as_bytes().to_vec(),
            other => lua_to_json(lua, other)?.to_string().into_bytes(),
        };
        let targets = match b.get::<Option<Table>>("presences")? {
            Some(list) => {
                let mut ids = Vec::new();
                for p in list.sequence_values::<Table>() {
                    ids.extend(p?.get::<Option<String>>("session_id")?);
                }
                Some(d.presences().into_iter().filter(|p| ids.contains(&p.session.text())).collect::<Vec<_>>())
            }
            None => None,
        };
        d.broadcast(op_code, &data, targets.as_deref(), None, b.get::<Option<bool>>("reliable")?.unwrap_or(true));
    }
    Ok(())
}
