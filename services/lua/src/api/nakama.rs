//! `require("nakama")`: Nakama's Lua module, with its names, argument orders and shapes,
//! for what Nakama modules use most.

use base64::Engine;
use mlua::{Function, Table, Value};

use super::kaos::log;
use super::{register, register_hook, Module};
use crate::convert::{decode, encode};
use crate::hooks::Side;
use crate::schedule::BoardHook;

pub(super) fn table(m: &Module<'_>) -> mlua::Result<Table> {
    let t = m.lua.create_table()?;
    m.function(&t, "register_rpc", |lua, (f, id): (Function, String)| {
        register(lua, "register_rpc", |r| {
            r.rpcs.insert(id.to_lowercase(), f);
        })
    })?;
    for (name, side) in [
        ("register_req_before", Side::Before),
        ("register_req_after", Side::After),
        ("register_rt_before", Side::Before),
        ("register_rt_after", Side::After),
    ] {
        m.function(&t, name, move |lua, (f, id): (Function, String)| register_hook(lua, side, &id, f))?;
    }
    m.function(&t, "register_matchmaker_matched", |lua, f: Function| {
        register(lua, "register_matchmaker_matched", |r| r.matchmaker_matched = Some(f))
    })?;
    for (name, hook) in [
        ("register_leaderboard_reset", BoardHook::LeaderboardReset),
        ("register_tournament_reset", BoardHook::TournamentReset),
        ("register_tournament_end", BoardHook::TournamentEnd),
    ] {
        m.function(&t, name, move |lua, f: Function| register(lua, name, |r| r.board_hooks.push((hook, f))))?;
    }
    m.function(&t, "run_once", |lua, f: Function| register(lua, "run_once", |r| r.run_once.push(f)))?;
    m.function(&t, "json_encode", |lua, v: Value| encode(lua, v))?;
    m.function(&t, "json_decode", |lua, s: mlua::LuaString| decode(lua, &s.to_str()?))?;
    m.function(&t, "base64_encode", |_, (s, padding): (mlua::LuaString, Option<bool>)| {
        let engine = if padding.unwrap_or(true) {
            &base64::engine::general_purpose::STANDARD
        } else {
            &base64::engine::general_purpose::STANDARD_NO_PAD
        };
        Ok(engine.encode(s.as_bytes()))
    })?;
    m.function(&t, "base64_decode", |lua, (s, _padding): (mlua::LuaString, Option<bool>)| {
        let text = s.to_str()?;
        let trimmed = text.trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(trimmed)
            .map_err(|e| mlua::Error::RuntimeError(format!("base64 decode failed: {e}")))?;
        lua.create_string(bytes)
    })?;
    m.function(&t, "uuid_v4", |_, ()| Ok(uuid::Uuid::new_v4().to_string()))?;
    m.function(&t, "time", |_, ()| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Ok(i64::try_from(now.as_millis()).unwrap_or(i64::MAX))
    })?;
    for (name, level) in [
        ("logger_debug", tracing::Level::DEBUG),
        ("logger_info", tracing::Level::INFO),
        ("logger_warn", tracing::Level::WARN),
        ("logger_error", tracing::Level::ERROR),
    ] {
        // As Nakama's: one message, no formatting; it is returned.
        m.function(&t, name, move |_, message: String| {
            if message.is_empty() {
                return Err(mlua::Error::RuntimeError("expects message string".into()));
            }
            log(level, &message);
            Ok(message)
        })?;
    }
    m.function(&t, "cron_next", |_, (expr, ts): (String, i64)| {
        if expr.is_empty() {
            return Err(mlua::Error::RuntimeError("expects cron string".into()));
        }
        if ts == 0 {
            return Err(mlua::Error::RuntimeError("expects timestamp in seconds".into()));
        }
        let cron = kaosnet::leaderboards::cron::Cron::parse(&expr)
            .map_err(|_| mlua::Error::RuntimeError("expects a valid cron string".into()))?;
        Ok(cron.next_after(ts))
    })?;
    m.function(&t, "jwt_generate", |lua, (algorithm, key, claims): (String, String, Value)| {
        if algorithm != "HS256" {
            return Err(mlua::Error::RuntimeError("unsupported algo type - only 'HS256' is supported here".into()));
        }
        let claims = crate::convert::lua_to_json(lua, claims)?;
        kaosnet::session::sign_hs256(&claims, key.as_bytes()).map_err(|e| mlua::Error::RuntimeError(e.message))
    })?;
    m.function(&t, "event", |lua, (name, properties): (String, Value)| {
        let properties = match properties {
            Value::Nil => serde_json::json!({}),
            v => crate::convert::lua_to_json(lua, v)?,
        };
        tracing::info!(target: "kaos_lua::event", name = %name, properties = %properties, "event");
        Ok(())
    })?;
    super::nakama_data::install(m, &t)?;
    super::matches::install(m, &t)?;
    super::social::install(m, &t)?;
    super::streams::install(m, &t)?;
    Ok(t)
}
