//! The host API modules see: `kaos` (the seed's) and `nakama` (Nakama's names, argument
//! orders and shapes), both calling the same service operations as the REST API.
//!
//! A host function that a service refuses raises a Lua error carrying the service's
//! code, `{message = …, code = …}` (printing as its message); left uncaught in an RPC, it
//! reaches the client as the same error the REST API would have answered.

mod kaos;
mod matches;
mod nakama;
mod nakama_data;
mod social;
mod streams;

use std::sync::{Arc, Weak};

use kaosnet::{ApiError, Code, KaosNet};
use mlua::chunk::ChunkMode;
use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Table, Value};

use crate::state::{Failure, Registered};

/// What the host functions reach: the services (weakly: the services hold the runtime).
#[derive(Clone)]
pub(crate) struct Host {
    kaos: Weak<KaosNet>,
}

impl Host {
    /// The services, while they run.
    pub(crate) fn kaos(&self) -> Option<std::sync::Arc<KaosNet>> {
        self.kaos.upgrade()
    }

    pub(crate) fn new(kaos: Weak<KaosNet>) -> Host {
        Host { kaos }
    }

    /// Adds `kaos` and `nakama` to a fresh state.
    pub(crate) fn install(&self, lua: &Lua) -> mlua::Result<()> {
        let raise: Function = lua
            .load(
                r#"
                local error, setmetatable = error, setmetatable
                local meta = { __tostring = function(e) return e.message end }
                local function pass(ok, ...)
                    if ok then return ... end
                    local message, code = ...
                    error(setmetatable({ message = message, code = code }, meta), 3)
                end
                return function(f)
                    return function(...) return pass(f(...)) end
                end
                "#,
            )
            .set_name("=host")
            .set_mode(ChunkMode::Text)
            .eval()?;
        let module = Module { lua, raise, host: self.clone() };
        lua.globals().set("kaos", kaos::table(&module)?)?;
        lua.globals().set("nakama", nakama::table(&module)?)?;
        Ok(())
    }

    pub(crate) fn services(&self) -> Result<Arc<KaosNet>, ApiError> {
        self.kaos.upgrade().ok_or_else(|| ApiError::new(Code::Unavailable, "the server is stopping"))
    }
}

/// Builds one module table.
pub(crate) struct Module<'a> {
    pub(crate) lua: &'a Lua,
    raise: Function,
    pub(crate) host: Host,
}

impl Module<'_> {
    /// A host function whose service errors raise `{message, code}` at the caller.
    pub(crate) fn service<A, R, F>(&self, t: &Table, name: &str, f: F) -> mlua::Result<()>
    where
        A: mlua::FromLuaMulti,
        R: IntoLuaMulti,
        F: Fn(&Lua, &KaosNet, A) -> Result<R, Refused> + Send + 'static,
    {
        let host = self.host.clone();
        let inner = self.lua.create_function(move |lua, args: A| {
            let outcome = host.services().map_err(Refused::Api).and_then(|kaos| f(lua, &kaos, args));
            match outcome {
                Ok(r) => {
                    let mut out = r.into_lua_multi(lua)?;
                    out.push_front(Value::Boolean(true));
                    Ok(out)
                }
                Err(Refused::Api(e)) => (false, e.message, e.code as i64).into_lua_multi(lua),
                Err(Refused::Lua(e)) => Err(e),
            }
        })?;
        t.set(name, self.raise.call::<Function>(inner)?)
    }

    /// A plain host function (its errors are Lua errors).
    pub(crate) fn function<A, R, F>(&self, t: &Table, name: &str, f: F) -> mlua::Result<()>
    where
        A: mlua::FromLuaMulti,
        R: IntoLuaMulti,
        F: Fn(&Lua, A) -> mlua::Result<R> + Send + 'static,
    {
        t.set(name, self.lua.create_function(f)?)
    }
}

/// Why a host function failed: a service's refusal (raised with its code) or a Lua
/// error (a bad argument, a value that cannot become JSON).
pub(crate) enum Refused {
    Api(ApiError),
    Lua(mlua::Error),
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Refused {
        Refused::Api(e)
    }
}

impl From<mlua::Error> for Refused {
    fn from(e: mlua::Error) -> Refused {
        Refused::Lua(e)
    }
}

/// Registrations made while modules load; outside loading (in a call) they are refused.
pub(crate) fn register(lua: &Lua, what: &str, add: impl FnOnce(&mut Registered)) -> mlua::Result<()> {
    match lua.app_data_mut::<Registered>() {
        Some(mut r) => {
            add(&mut r);
            Ok(())
        }
        None => Err(mlua::Error::RuntimeError(format!("{what} is allowed only while modules load"))),
    }
}

/// Adds a hook while modules load; an unknown operation is an error (Nakama ignores it
/// silently, which hides typos).
pub(crate) fn register_hook(lua: &Lua, side: crate::hooks::Side, name: &str, f: Function) -> mlua::Result<()> {
    let Some(op) = crate::hooks::operation(name) else {
        return Err(mlua::Error::RuntimeError(format!("no operation is called {name:?}")));
    };
    register(lua, "registering a hook", |r| r.hooks.push((side, op, f)))
}

/// A gRPC code a script gave, if it is one.
pub(crate) fn code_from(n: i64) -> Option<Code> {
    Some(match n {
        1 => Code::Cancelled,
        2 => Code::Unknown,
        3 => Code::InvalidArgument,
        4 => Code::DeadlineExceeded,
        5 => Code::NotFound,
        6 => Code::AlreadyExists,
        7 => Code::PermissionDenied,
        8 => Code::ResourceExhausted,
        9 => Code::FailedPrecondition,
        10 => Code::Aborted,
        12 => Code::Unimplemented,
        13 => Code::Internal,
        14 => Code::Unavailable,
        16 => Code::Unauthenticated,
        _ => return None,
    })
}

/// A failed call as the client's error: a code the script (or a service) raised is
/// kept with its message; any other failure is logged with where it was and answers
/// Internal with its message.
pub(crate) fn failure_to_error(what: &str, failure: Failure) -> ApiError {
    if let Some(code) = failure.code.and_then(code_from) {
        return ApiError::new(code, failure.message);
    }
    let described = failure.describe();
    tracing::warn!(target: "kaos_lua", "{what} failed: {described}");
    // As Nakama: the client reads the message without the script's `file:line: ` (the
    // log above keeps where it was).
    ApiError::new(Code::Internal, without_location(&failure.message).to_string())
}

/// `msg` without a leading `something.lua:12: `.
fn without_location(msg: &str) -> &str {
    let Some((head, rest)) = msg.split_once(": ") else { return msg };
    match head.rsplit_once(':') {
        Some((file, line)) if file.ends_with(".lua") && line.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => msg,
    }
}

/// Arguments as a list, for functions that take any number.
pub(crate) fn strings(args: MultiValue) -> String {
    args.iter().map(|v| v.to_string().unwrap_or_default()).collect::<Vec<_>>().join(" ")
}
