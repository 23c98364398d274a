//! `require("nakama")`: Nakama's Lua module, with its names, argument orders and shapes,
//! for what Nakama modules use most.

use base64::Engine;
use mlua::{Function, MultiValue, Table, Value};

use super::kaos::log;
use super::{register, Module};
use crate::convert::{decode, encode};

pub(super) fn table(m: &Module<'_>) -> mlua::Result<Table> {
    let t = m.lua.create_table()?;
    m.function(&t, "register_rpc", |lua, (f, id): (Function, String)| {
        register(lua, "register_rpc", |r| {
            r.rpcs.insert(id.to_lowercase(), f);
        })
    })?;
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
        // Nakama formats its logger's arguments as string.format does.
        let format: Function = m.lua.globals().get::<Table>("string")?.get("format")?;
        m.function(&t, name, move |_, args: MultiValue| {
            let text: String = format.call(args)?;
            log(level, &text);
            Ok(text)
        })?;
    }
    Ok(t)
}
