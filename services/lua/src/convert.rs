//! Values between Lua and Rust: JSON both ways, and the context tables calls receive.

use kaosnet::rpc::RpcContext;
use mlua::{Lua, LuaSerdeExt, Table, Value};

/// Deepest nesting converted either way.
const MAX_DEPTH: usize = 64;

/// JSON as Lua: objects and arrays as tables (arrays keep an array mark, so they encode
/// back as arrays even when empty), `null` as `nil`.
pub(crate) fn json_to_lua(lua: &Lua, value: &serde_json::Value) -> mlua::Result<Value> {
    let options = mlua::serde::ser::Options::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false)
        .set_array_metatable(true);
    lua.to_value_with(value, options)
}

/// A Lua value as JSON; functions, userdata, tables that hold themselves and nesting
/// deeper than 64 are errors.
pub(crate) fn lua_to_json(lua: &Lua, value: Value) -> mlua::Result<serde_json::Value> {
    let options =
        mlua::serde::de::Options::new().deny_unsupported_types(true).deny_recursive_tables(true).sort_keys(true);
    let json: serde_json::Value = lua.from_value_with(value, options).map_err(|e| {
        mlua::Error::RuntimeError(format!(
            "value cannot become JSON: {}",
            first_line(&e.to_string()).trim_start_matches("deserialize error: ")
        ))
    })?;
    if depth(&json) > MAX_DEPTH {
        return Err(mlua::Error::RuntimeError(format!("value cannot become JSON: nested deeper than {MAX_DEPTH}")));
    }
    Ok(json)
}

/// JSON text as Lua.
pub(crate) fn decode(lua: &Lua, text: &str) -> mlua::Result<Value> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| mlua::Error::RuntimeError(format!("invalid JSON: {e}")))?;
    json_to_lua(lua, &json)
}

/// JSON text the services keep (a value, metadata, a wallet) as Lua; empty text is an
/// empty object, and text that is not JSON an error rather than a crash.
pub(crate) fn stored(lua: &Lua, text: &str) -> mlua::Result<Value> {
    if text.is_empty() {
        return Ok(Value::Table(lua.create_table()?));
    }
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| mlua::Error::RuntimeError(format!("stored value is not JSON: {e}")))?;
    json_to_lua(lua, &json)
}

/// A Lua value as JSON text.
pub(crate) fn encode(lua: &Lua, value: Value) -> mlua::Result<String> {
    Ok(lua_to_json(lua, value)?.to_string())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The context an RPC or hook gets, with Nakama's keys.
pub(crate) fn rpc_context(lua: &Lua, ctx: &RpcContext, mode: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("execution_mode", mode)?;
    t.set("user_id", ctx.user_id.as_deref())?;
    t.set("username", ctx.username.as_deref())?;
    let vars = lua.create_table()?;
    for (k, v) in &ctx.vars {
        vars.set(k.as_str(), v.as_str())?;
    }
    t.set("vars", vars)?;
    t.set("session_id", ctx.session_id.as_deref())?;
    t.set("env", lua.create_table()?)?;
    t.set("node", "kaos")?;
    Ok(t)
}

/// The context `run_once` functions get.
pub(crate) fn run_once_context(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("execution_mode", "run_once")?;
    t.set("env", lua.create_table()?)?;
    t.set("node", "kaos")?;
    Ok(t)
}
