//! One sandboxed Lua state: the standard libraries a module may use, `require` limited
//! to the module directory, an instruction budget per call and a memory limit, and the
//! call that reports where a script failed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use mlua::chunk::ChunkMode;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use crate::modules::Modules;
use crate::{LuaError, RuntimeConfig};

/// The instructions between two budget checks.
const BUDGET_STEP: u32 = 1000;

/// What a state's modules registered while they loaded.
#[derive(Default)]
pub(crate) struct Registered {
    pub(crate) rpcs: HashMap<String, Function>,
    pub(crate) run_once: Vec<Function>,
    pub(crate) matches: HashMap<String, Table>,
    /// Modules that return a match handler table (Nakama's form), by module name.
    pub(crate) match_modules: Vec<String>,
    /// What makes the match for a matchmaker's group (`register_matchmaker_matched`).
    pub(crate) matchmaker_matched: Option<Function>,
    /// Board reset and tournament end functions.
    pub(crate) board_hooks: Vec<(crate::schedule::BoardHook, Function)>,
    /// Hooks in registration order: their side and operation (KaosNet's name).
    pub(crate) hooks: Vec<(crate::hooks::Side, &'static str, Function)>,
}

impl Registered {
    pub(crate) fn hooks_for<'a>(&'a self, side: crate::hooks::Side, op: &'a str) -> impl Iterator<Item = &'a Function> {
        self.hooks.iter().filter(move |(s, o, _)| *s == side && *o == op).map(|(_, _, f)| f)
    }
}

/// A Lua state and what its modules registered.
pub(crate) struct State {
    pub(crate) lua: Lua,
    pub(crate) registered: Registered,
    /// Instructions left in the current call (checked every `BUDGET_STEP`).
    budget: Arc<AtomicI64>,
    max_instructions: i64,
    memory_limit: usize,
    /// The standard library's `xpcall`, kept before module code can replace it.
    xpcall: Function,
    handler: Function,
    pub(crate) generation: u64,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("generation", &self.generation).finish_non_exhaustive()
    }
}

/// A call's failure: its message (or the `{message, code}` table a script raised) and
/// where it happened.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    /// A gRPC code the script gave with its error.
    pub(crate) code: Option<i64>,
    pub(crate) location: Option<String>,
    pub(crate) out_of_budget: bool,
}

impl State {
    /// A fresh state with `modules` loaded; `install` adds the host API (`kaos`, `nakama`)
    /// before any module runs.
    pub(crate) fn new(
        config: &RuntimeConfig,
        modules: &Modules,
        install: &dyn Fn(&Lua) -> mlua::Result<()>,
    ) -> Result<State, LuaError> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::UTF8 | StdLib::COROUTINE | StdLib::OS;
        let lua = Lua::new_with(libs, LuaOptions::default()).map_err(|e| LuaError::Start(e.to_string()))?;
        let budget = Arc::new(AtomicI64::new(i64::MAX));
        let max_instructions = i64::try_from(config.max_instructions).unwrap_or(i64::MAX);
        let setup = || -> mlua::Result<(Function, Function)> {
            restrict(&lua)?;
            let xpcall: Function = lua.globals().get("xpcall")?;
            guard_protected_calls(&lua, budget.clone())?;
            install(&lua)?;
            lua.set_app_data(Registered::default());
            let handler = lua.create_function(failure_table)?;
            Ok((xpcall, handler))
        };
        let (xpcall, handler) = setup().map_err(|e| LuaError::Start(e.to_string()))?;
        let counter = budget.clone();
        // Global: coroutines a script makes inherit it (a per-thread hook would skip them).
        lua.set_global_hook(HookTriggers::new().every_nth_instruction(BUDGET_STEP), move |_, _| {
            if counter.fetch_sub(i64::from(BUDGET_STEP), Ordering::Relaxed) <= i64::from(BUDGET_STEP) {
                return Err(mlua::Error::RuntimeError("instruction budget exceeded".into()));
            }
            Ok(VmState::Continue)
        })
        .map_err(|e| LuaError::Start(e.to_string()))?;
        // The limit covers the modules' own allocations, from their first line.
        lua.set_memory_limit(config.memory_limit).map_err(|e| LuaError::Start(e.to_string()))?;
        let mut state = State {
            lua,
            registered: Registered::default(),
            budget,
            max_instructions,
            memory_limit: config.memory_limit,
            xpcall,
            handler,
            generation: modules.generation,
        };
        install_require(&state.lua, modules).map_err(|e| LuaError::Start(e.to_string()))?;
        for name in modules.names() {
            state.budget.store(max_instructions, Ordering::Relaxed);
            let require: Function = state.lua.globals().get("require").map_err(|e| LuaError::Start(e.to_string()))?;
            if let Err(f) = state.protected(&require, name) {
                return Err(LuaError::Load { module: name.to_string(), message: f.describe() });
            }
        }
        state.registered = state.lua.remove_app_data::<Registered>().unwrap_or_default();
        state.registered.match_modules =
            match_modules(&state.lua, modules).map_err(|e| LuaError::Start(e.to_string()))?;
        Ok(state)
    }

    /// Calls `f` with `args` under a fresh budget, catching any error with where it was.
    pub(crate) fn call(&self, f: &Function, args: impl mlua::IntoLuaMulti) -> Result<MultiValue, Failure> {
        self.budget.store(self.max_instructions, Ordering::Relaxed);
        self.protected(f, args)
    }

    fn out_of_memory(&self) -> String {
        format!("out of memory: the state's memory limit ({} MiB) was reached", self.memory_limit >> 20)
    }

    fn protected(&self, f: &Function, args: impl mlua::IntoLuaMulti) -> Result<MultiValue, Failure> {
        let args = args.into_lua_multi(&self.lua).map_err(|e| Failure::plain(e.to_string()))?;
        let mut all = MultiValue::new();
        all.push_back(Value::Function(f.clone()));
        all.push_back(Value::Function(self.handler.clone()));
        all.extend(args);
        let out_of_budget = || self.budget.load(Ordering::Relaxed) <= 0;
        let mut results = match self.xpcall.call::<MultiValue>(all) {
            Ok(r) => r,
            // Errors xpcall itself cannot catch (memory while unwinding, errors in the handler).
            Err(mlua::Error::MemoryError(_)) => return Err(Failure::plain(self.out_of_memory())),
            Err(e) => return Err(Failure { out_of_budget: out_of_budget(), ..Failure::plain(error_text(&e)) }),
        };
        match results.pop_front() {
            Some(Value::Boolean(true)) => Ok(results),
            _ => {
                let mut failure = Failure::from_value(results.pop_front().unwrap_or(Value::Nil));
                failure.out_of_budget = out_of_budget();
                // Memory errors skip the message handler: they arrive as Lua's bare text.
                if failure.message == "not enough memory" {
                    failure.message = self.out_of_memory();
                }
                if failure.out_of_budget {
                    failure.message = "instruction budget exceeded".into();
                    failure.code = None;
                }
                Err(failure)
            }
        }
    }
}

impl Failure {
    fn plain(message: String) -> Failure {
        Failure { message, code: None, location: None, out_of_budget: false }
    }

    /// Reads what [`failure_table`] made of an error (or the bare error value).
    fn from_value(value: Value) -> Failure {
        match value {
            Value::Table(t) => Failure {
                message: t.get::<Option<String>>("message").ok().flatten().unwrap_or_else(|| "error".into()),
                code: t.get::<Option<i64>>("code").ok().flatten(),
                location: t.get::<Option<String>>("location").ok().flatten(),
                out_of_budget: false,
            },
            Value::String(s) => Failure::plain(s.to_string_lossy()),
            other => Failure::plain(format!("{other:?}")),
        }
    }

    /// The message with where it happened, for logs and load errors.
    pub(crate) fn describe(&self) -> String {
        let Some(at) = &self.location else { return self.message.clone() };
        match at.split_once(" in ") {
            // Lua put the file and line in the message already: add the function.
            Some((place, function)) if self.message.contains(place) => format!("{} (in {function})", self.message),
            None if self.message.contains(at.as_str()) => self.message.clone(),
            _ => format!("{} (at {at})", self.message),
        }
    }
}

fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        mlua::Error::MemoryError(_) => "out of memory: the state's memory limit was reached".into(),
        mlua::Error::RuntimeError(message) => message.clone(),
        other => other.to_string(),
    }
}

/// The message handler: the error's message and code (a script may raise `{message,
/// code}` or Nakama's `{"message", code}`) and the innermost Lua frame's place.
fn failure_table(lua: &Lua, error: Value) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    match &error {
        Value::Table(e) => {
            let message: Option<String> = e.get::<Option<String>>("message")?.or(e.get::<Option<String>>(1)?);
            let code: Option<i64> = e.get::<Option<i64>>("code")?.or(e.get::<Option<i64>>(2)?);
            t.set("message", message.unwrap_or_else(|| "error".into()))?;
            t.set("code", code)?;
        }
        Value::Error(e) => t.set("message", error_text(e))?,
        other => t.set("message", other.to_string()?)?,
    }
    for level in 1..32 {
        let frame = lua.inspect_stack(level, |d| {
            let source = d.source();
            // Module files only (their chunk names start with '@'), not the sandbox's shims.
            source.source.as_deref().is_some_and(|s| s.starts_with('@')).then(|| {
                let file = source.short_src.map(|s| s.to_string()).unwrap_or_default();
                let line = d.current_line().map_or(String::new(), |l| format!(":{l}"));
                // As Lua's tracebacks: by name where the caller shows one, else where defined.
                let name = match (d.names().name, source.line_defined) {
                    (Some(n), _) => format!(" in function '{n}'"),
                    (None, Some(defined)) => format!(" in function <{file}:{defined}>"),
                    (None, None) => String::new(),
                };
                format!("{file}{line}{name}")
            })
        });
        match frame {
            None => break,
            Some(None) => continue,
            Some(Some(at)) => {
                t.set("location", at)?;
                break;
            }
        }
    }
    Ok(t)
}

/// The loaded modules whose value is a table with a `match_init` function.
fn match_modules(lua: &Lua, modules: &Modules) -> mlua::Result<Vec<String>> {
    let loaded: Table = lua.named_registry_value(LOADED)?;
    let mut out = Vec::new();
    for name in modules.names() {
        if let Value::Table(t) = loaded.raw_get::<Value>(name)? {
            if matches!(t.raw_get::<Value>("match_init")?, Value::Function(_)) {
                out.push(name.to_string());
            }
        }
    }
    Ok(out)
}

/// Where `require` keeps what modules returned.
const LOADED: &str = "kaos.loaded";

/// Removes what a module must not reach: files, processes, the environment, bytecode.
fn restrict(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    for name in ["dofile", "loadfile", "require", "collectgarbage"] {
        g.set(name, Value::Nil)?;
    }
    let os: Table = g.get("os")?;
    let kept = lua.create_table()?;
    for name in ["clock", "date", "difftime", "time"] {
        kept.set(name, os.get::<Value>(name)?)?;
    }
    g.set("os", kept)?;
    let string: Table = g.get("string")?;
    string.set("dump", Value::Nil)?;
    // Text chunks only: precompiled bytecode can break the VM's invariants.
    let load: Function = g.get("load")?;
    let text_only = lua.create_function(move |_, (chunk, name, _mode, env): (Value, Value, Value, Value)| {
        load.call::<MultiValue>((chunk, name, "t", env))
    })?;
    g.set("load", text_only)?;
    let print = lua.create_function(|_, args: MultiValue| {
        let text: Vec<String> = args.iter().map(|v| v.to_string().unwrap_or_default()).collect();
        tracing::info!(target: "kaos_lua", "{}", text.join("\t"));
        Ok(())
    })?;
    g.set("print", print)
}

/// `pcall`, `xpcall` and coroutines catch errors; once a call's budget is spent they
/// pass its error on instead, so a script cannot catch its way past the budget.
fn guard_protected_calls(lua: &Lua, budget: Arc<AtomicI64>) -> mlua::Result<()> {
    let spent = lua.create_function(move |_, ()| Ok(budget.load(Ordering::Relaxed) <= 0))?;
    let guard: Function = lua
        .load(
            r#"
            local spent, pcall, xpcall, resume, wrap, create, select, error =
                ...
            local function check(ok, ...)
                if not ok and spent() then error("instruction budget exceeded", 0) end
                return ok, ...
            end
            _G.pcall = function(f, ...) return check(pcall(f, ...)) end
            _G.xpcall = function(f, h, ...) return check(xpcall(f, h, ...)) end
            coroutine.resume = function(co, ...) return check(resume(co, ...)) end
            coroutine.wrap = function(f)
                local co = create(f)
                return function(...)
                    local function pass(ok, ...)
                        if not ok then error((...), 0) end
                        return ...
                    end
                    return pass(check(resume(co, ...)))
                end
            end
            "#,
        )
        .set_name("=sandbox")
        .set_mode(ChunkMode::Text)
        .into_function()?;
    let g = lua.globals();
    let co: Table = g.get("coroutine")?;
    guard.call::<()>((
        spent,
        g.get::<Function>("pcall")?,
        g.get::<Function>("xpcall")?,
        co.get::<Function>("resume")?,
        co.get::<Function>("wrap")?,
        co.get::<Function>("create")?,
        g.get::<Function>("select")?,
        g.get::<Function>("error")?,
    ))
}

/// `require(name)`: the host modules (`nakama`), then the module directory's files by
/// name (`a.b` is `a/b.lua`), each run once per state.
fn install_require(lua: &Lua, modules: &Modules) -> mlua::Result<()> {
    let loaded = lua.create_table()?;
    for name in ["nakama", "kaos"] {
        if let Ok(Value::Table(t)) = lua.globals().get::<Value>(name) {
            loaded.set(name, t)?;
        }
    }
    lua.set_named_registry_value(LOADED, &loaded)?;
    let sources = modules.sources.clone();
    let require = lua.create_function(move |lua, name: String| {
        if let Some(v) = loaded.get::<Option<Value>>(name.as_str())? {
            return Ok(v);
        }
        let Some(source) = sources.get(&name) else {
            return Err(mlua::Error::RuntimeError(format!("module '{name}' not found in the module directory")));
        };
        let chunk = lua
            .load(source.text.as_str())
            .set_name(format!("@{}", source.file))
            .set_mode(ChunkMode::Text)
            .into_function()?;
        // A module that requires itself (directly or not) gets `true`, as in Lua.
        loaded.set(name.as_str(), true)?;
        let value = match chunk.call::<Value>(name.as_str()) {
            Ok(v) => v,
            Err(e) => {
                loaded.set(name.as_str(), Value::Nil)?;
                return Err(e);
            }
        };
        let value = if value.is_nil() { Value::Boolean(true) } else { value };
        loaded.set(name.as_str(), value.clone())?;
        Ok(value)
    })?;
    lua.globals().set("require", require)
}
