//! What the console shows and does with the Lua runtime: the modules and what they
//! registered, and snippets run in a sandbox.

use std::sync::{Arc, Mutex, PoisonError};

use kaosnet::{ApiError, Code};
use mlua::{MultiValue, Table, Value};
use serde_json::{json, Value as Json};

use crate::hooks::Side;
use crate::LuaRuntime;

/// Longest snippet accepted, in bytes.
pub const MAX_SNIPPET: usize = 64 << 10;
/// Most `print` lines a snippet's answer carries (and bytes each).
const MAX_LINES: usize = 200;
const MAX_LINE: usize = 4096;

impl LuaRuntime {
    /// The modules (name, file, bytes), the RPC ids, match handlers and hooks they
    /// registered, and the pool's state.
    pub fn describe(&self) -> Json {
        let modules: Vec<Json> = self
            .pool
            .modules()
            .into_iter()
            .map(|(name, file, bytes)| json!({"name": name, "file": file, "bytes": bytes}))
            .collect();
        let hooks: Vec<Json> = self
            .pool
            .hook_names()
            .into_iter()
            .map(|(side, op)| json!({"side": if side == Side::Before { "before" } else { "after" }, "operation": op}))
            .collect();
        let stats = self.stats();
        json!({
            "modules": modules,
            "rpcs": self.rpc_ids(),
            "matches": self.match_names(),
            "hooks": hooks,
            "matchmaker_matched": self.pool.has_matchmaker_matched(),
            "states": stats.states, "idle_states": stats.idle, "generation": stats.generation,
        })
    }

    /// Runs `code` in a state of its own (the current modules loaded, the same sandbox,
    /// instruction budget and memory limit as any call), dropped afterwards: a snippet
    /// cannot change what later calls see. Answers what it returned (as JSON) and what
    /// it printed.
    pub fn execute(&self, code: &str) -> Result<Json, ApiError> {
        if code.len() > MAX_SNIPPET {
            return Err(ApiError::invalid(format!("Snippets are at most {MAX_SNIPPET} bytes.")));
        }
        let state = self.pool.fresh_state().map_err(|e| ApiError::new(Code::Internal, e.to_string()))?;
        let lua = &state.lua;
        let printed = Arc::new(Mutex::new(Vec::<String>::new()));
        let setup = || -> mlua::Result<mlua::Function> {
            // Globals the snippet sets stay in its own table.
            let env = lua.create_table()?;
            let meta = lua.create_table()?;
            meta.set("__index", lua.globals())?;
            env.set_metatable(Some(meta))?;
            let lines = printed.clone();
            let print = lua.create_function(move |_, args: MultiValue| {
                let text: Vec<String> = args.iter().map(|v| v.to_string().unwrap_or_default()).collect();
                let mut lines = lines.lock().unwrap_or_else(PoisonError::into_inner);
                if lines.len() < MAX_LINES {
                    let mut line = text.join("\t");
                    let mut end = line.len().min(MAX_LINE);
                    while !line.is_char_boundary(end) {
                        end -= 1;
                    }
                    line.truncate(end);
                    lines.push(line);
                }
                Ok(())
            })?;
            env.set("print", print)?;
            lua.load(code).set_name("=console").set_environment(env).into_function()
        };
        let f = setup().map_err(|e| ApiError::invalid(format!("The snippet does not compile: {e}")))?;
        let out = state.call(&f, ()).map_err(|failure| ApiError::invalid(failure.describe()))?;
        let result: Vec<Json> = out
            .into_iter()
            .map(|v| crate::convert::lua_to_json(lua, v.clone()).unwrap_or_else(|_| json!(describe_value(&v))))
            .collect();
        let output = std::mem::take(&mut *printed.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(json!({ "result": result, "output": output }))
    }
}

/// A value JSON cannot hold, by its type (a function, a table that holds itself).
fn describe_value(v: &Value) -> String {
    match v {
        Value::Table(t) => format!("table: {:p}", Table::to_pointer(t)),
        other => other.type_name().to_string(),
    }
}
