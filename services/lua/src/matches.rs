//! Authoritative matches in Lua: [`LuaMatchHandler`] is a [`MatchHandler`], so Lua and
//! Rust matches are created, listed, joined and run alike. Each match runs in a Lua state
//! of its own (the modules loaded afresh), as in Nakama.
//!
//! Two forms:
//! - Nakama's: a module returning `{ match_init = …, match_loop = … }`, created by its
//!   module name; callbacks take `(context, dispatcher, tick, state, …)` and the
//!   dispatcher offers `broadcast_message`, `broadcast_message_deferred`, `match_kick`
//!   and `match_label_update` (called with a dot).
//! - The seed's: `kaos.register_match(name, { … })`; callbacks take `(context, state, …)`,
//!   `match_init` returns `{ state =, tick_rate =, label = }` and `match_loop` returns the
//!   state and a list of broadcasts `{ op_code =, data =, presences =, reliable = }`.
//!
//! A callback that fails, or returns no state, ends the match (logged with where).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use kaosnet::matches::{Dispatcher, MatchContext, MatchHandler, MatchInit, MatchMessage};
use kaosnet::presence::tracker::Presence;
use mlua::{Function, Lua, MultiValue, Table, Value};
use serde_json::Value as Json;

use crate::convert::{json_to_lua, lua_to_json};
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
        Ok(Vm { state, handlers, form, value: Value::Nil, label: String::new(), tick_rate: 0 })
    }

    /// Calls callback `which` (skipped if the seed's form leaves it out); `args` gets the
    /// dispatcher table (Nakama's form) to place among its arguments.
    fn call(
        &mut self,
        which: &str,
        ctx: &MatchContext,
        d: Option<&mut Dispatcher<'_>>,
        args: impl FnOnce(&Lua, &Vm, Table, Value) -> mlua::Result<MultiValue>,
    ) -> Option<MultiValue> {
        let vm = self.vm.as_ref()?;
        let Ok(Value::Function(f)) = vm.handlers.raw_get::<Value>(which) else {
            return None;
        };
        let lua = &vm.state.lua;
        let d = RefCell::new(d);
        let outcome = lua.scope(|scope| {
            let dispatcher = dispatcher(lua, scope, &d)?;
            let context = context(lua, ctx, vm)?;
            let args = args(lua, vm, context, Value::Table(dispatcher))?;
            Ok(vm.state.call(&f, args))
        });
        match outcome {
            Ok(Ok(out)) => Some(out),
            Ok(Err(failure)) => self.fail(which, &failure.describe()),
            Err(e) => self.fail(which, &e.to_string()),
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

fn context(lua: &Lua, ctx: &MatchContext, vm: &Vm) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("env", lua.create_table()?)?;
    t.set("execution_mode", "match")?;
    t.set("node", kaosnet::matches::authoritative::NODE)?;
    t.set("match_id", ctx.match_id.as_str())?;
    t.set("match_node", kaosnet::matches::authoritative::NODE)?;
    if vm.tick_rate > 0 {
        t.set("match_label", vm.label.as_str())?;
        t.set("match_tick_rate", vm.tick_rate)?;
    }
    Ok(t)
}

pub(crate) fn presence_table(lua: &Lua, p: &Presence) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("user_id", p.user_id.as_str())?;
    t.set("session_id", p.session.text())?;
    t.set("username", p.username.as_str())?;
    t.set("node", kaosnet::matches::authoritative::NODE)?;
    Ok(t)
}

fn presences_table(lua: &Lua, list: &[Presence]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for p in list {
        t.push(presence_table(lua, p)?)?;
    }
    Ok(t)
}

/// The match's presences a Lua list names (by session id); others are dropped.
fn named(d: &Dispatcher<'_>, list: &Table) -> mlua::Result<Vec<Presence>> {
    let present = d.presences();
    let mut out = Vec::new();
    for p in list.sequence_values::<Table>() {
        let session: Option<String> = p?.get("session_id")?;
        if let Some(found) = present.iter().find(|q| Some(q.session.text()) == session) {
            out.push(found.clone());
        }
    }
    Ok(out)
}

type Slot<'a, 'd> = RefCell<Option<&'a mut Dispatcher<'d>>>;

/// Nakama's dispatcher: functions over the match's [`Dispatcher`] for this call only.
fn dispatcher<'s>(lua: &Lua, scope: &'s mlua::Scope<'s, '_>, d: &'s Slot<'_, '_>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let stopped = || mlua::Error::RuntimeError("match stopped".into());
    let broadcast = scope.create_function(
        move |_, args: (i64, Option<mlua::LuaString>, Option<Table>, Option<Table>, Option<bool>)| {
            let (op_code, data, presences, sender, reliable) = args;
            let mut slot = d.borrow_mut();
            let d = slot.as_deref_mut().ok_or_else(stopped)?;
            let targets = presences.map(|p| named(d, &p)).transpose()?;
            if targets.as_ref().is_some_and(Vec::is_empty) {
                return Ok(());
            }
            let from = match sender {
                Some(s) => {
                    let session: Option<String> = s.get("session_id")?;
                    d.presences().into_iter().find(|p| Some(p.session.text()) == session)
                }
                None => None,
            };
            let data = data.map(|s| s.as_bytes().to_vec()).unwrap_or_default();
            d.broadcast(op_code, &data, targets.as_deref(), from.as_ref(), reliable.unwrap_or(true));
            Ok(())
        },
    )?;
    t.set("broadcast_message", broadcast.clone())?;
    t.set("broadcast_message_deferred", broadcast)?;
    t.set(
        "match_kick",
        scope.create_function(move |_, list: Table| {
            let mut slot = d.borrow_mut();
            let d = slot.as_deref_mut().ok_or_else(stopped)?;
            let kicked = named(d, &list)?;
            d.kick(&kicked);
            Ok(())
        })?,
    )?;
    t.set(
        "match_label_update",
        scope.create_function(move |_, label: String| {
            let mut slot = d.borrow_mut();
            let d = slot.as_deref_mut().ok_or_else(stopped)?;
            d.label_update(&label).map_err(mlua::Error::RuntimeError)
        })?,
    )?;
    Ok(t)
}

impl MatchHandler for LuaMatchHandler {
    fn init(&mut self, ctx: &MatchContext, params: &Json) -> Result<MatchInit, String> {
        self.vm = Some(self.start()?);
        let out = self
            .call("match_init", ctx, None, |lua, _, context, _| {
                let params = if params.is_null() { Value::Nil } else { json_to_lua(lua, params)? };
                mlua::IntoLuaMulti::into_lua_multi((context, params), lua)
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
        let out = self.call("match_join_attempt", ctx, Some(d), |lua, vm, context, dispatcher| {
            let p = presence_table(lua, presence)?;
            match form {
                Form::Nakama => {
                    let meta = lua.create_table_from(metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
                    mlua::IntoLuaMulti::into_lua_multi((context, dispatcher, tick, vm.value.clone(), p, meta), lua)
                }
                Form::Seed => mlua::IntoLuaMulti::into_lua_multi((context, vm.value.clone(), p), lua),
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
        let out = self.call("match_loop", ctx, Some(d), |lua, vm, context, dispatcher| {
            let list = lua.create_table()?;
            for m in &messages {
                let t = lua.create_table()?;
                t.set("sender", presence_table(lua, &m.sender)?)?;
                t.set("op_code", m.op_code)?;
                t.set("data", lua.create_string(&m.data)?)?;
                t.set("reliable", m.reliable)?;
                list.push(t)?;
            }
            match form {
                Form::Nakama => {
                    mlua::IntoLuaMulti::into_lua_multi((context, dispatcher, tick, vm.value.clone(), list), lua)
                }
                Form::Seed => mlua::IntoLuaMulti::into_lua_multi((context, vm.value.clone(), tick, list), lua),
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
        self.call("match_terminate", ctx, Some(d), |lua, vm, context, dispatcher| match form {
            Form::Nakama => {
                mlua::IntoLuaMulti::into_lua_multi((context, dispatcher, tick, vm.value.clone(), grace_seconds), lua)
            }
            Form::Seed => mlua::IntoLuaMulti::into_lua_multi((context, vm.value.clone()), lua),
        });
    }

    fn signal(&mut self, ctx: &MatchContext, d: &mut Dispatcher<'_>, tick: u64, data: &str) -> Result<String, String> {
        let form = self.form();
        let out = self.call("match_signal", ctx, Some(d), |lua, vm, context, dispatcher| match form {
            Form::Nakama => {
                mlua::IntoLuaMulti::into_lua_multi((context, dispatcher, tick, vm.value.clone(), data), lua)
            }
            Form::Seed => mlua::IntoLuaMulti::into_lua_multi((context, vm.value.clone(), data), lua),
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
        let out = self.call(which, ctx, Some(d), |lua, vm, context, dispatcher| {
            let p = presences_table(lua, list)?;
            match form {
                Form::Nakama => {
                    mlua::IntoLuaMulti::into_lua_multi((context, dispatcher, tick, vm.value.clone(), p), lua)
                }
                Form::Seed => mlua::IntoLuaMulti::into_lua_multi((context, vm.value.clone(), p), lua),
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
            Some(p) => Some(named(d, &p)?),
            None => None,
        };
        d.broadcast(op_code, &data, targets.as_deref(), None, b.get::<Option<bool>>("reliable")?.unwrap_or(true));
    }
    Ok(())
}
