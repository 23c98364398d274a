//! The console port's routes as kaos-server serves them: kaosnet's admin API, with the
//! Lua runtime's routes and the first start's `admin` user.
//!
//! | Route | Permission |
//! |---|---|
//! | `GET /v2/console/runtime` (modules, RPCs, match handlers, hooks, states) | ViewLua |
//! | `POST /v2/console/runtime/reload` (as SIGHUP; connections stay) | ReloadLua |
//! | `POST /v2/console/runtime/rpc/{id}` `{"payload", "user_id"?}` (any RPC, Rust or Lua) | ExecuteLua |
//! | `POST /v2/console/runtime/execute` `{"code"}` → `{"result", "output"}` | ExecuteLua |

use std::sync::Arc;

use kaos_http::Method::{Get, Post};
use kaos_http::Router;
use kaosnet::console::auth::ConsoleAuth;
use kaosnet::console::guarded;
use kaosnet::console::roles::Permission;
use kaosnet::rpc::RpcContext;
use kaosnet::{ApiError, KaosNet};
use serde_json::{json, Value};

use crate::config::{Config, Database};

/// The console's router: open health and metrics, and the admin API.
pub(crate) fn routes(
    kaos: &Arc<KaosNet>,
    lua: &Arc<kaos_lua::LuaRuntime>,
    config: &Config,
    database: &str,
) -> Result<Router, String> {
    let mut routes = kaosnet::console::router(kaos);
    crate::console_ui::routes(&mut routes);
    let auth = console_auth(kaos, config)?;
    let (l, database) = (lua.clone(), database.to_string());
    kaosnet::console::admin_routes(
        &mut routes,
        kaos,
        &auth,
        move || json!({ "database": database, "lua_modules": l.describe()["modules"].as_array().map_or(0, Vec::len) }),
    );
    lua_routes(&mut routes, kaos, lua, &auth);
    Ok(routes)
}

fn lua_routes(r: &mut Router, kaos: &Arc<KaosNet>, lua: &Arc<kaos_lua::LuaRuntime>, auth: &Arc<ConsoleAuth>) {
    let l = lua.clone();
    guarded(r, Get, "/v2/console/runtime", auth, Permission::ViewLua, move |_, _| Ok(l.describe()));
    let l = lua.clone();
    guarded(r, Post, "/v2/console/runtime/reload", auth, Permission::ReloadLua, move |_, _| {
        l.reload().map_err(|e| ApiError::invalid(e.to_string()))?;
        Ok(json!({"generation": l.stats().generation, "rpcs": l.rpc_ids()}))
    });
    let k = kaos.clone();
    guarded(r, Post, "/v2/console/runtime/rpc/{id}", auth, Permission::ExecuteLua, move |req, _| {
        let body: Value = kaosnet::console::body(req)?;
        let user_id = body["user_id"].as_str().filter(|u| !u.is_empty());
        let username = match user_id {
            Some(id) => Some(k.accounts().account(id)?.username),
            None => None,
        };
        let ctx = RpcContext { user_id: user_id.map(str::to_string), username, ..RpcContext::default() };
        let payload = body["payload"].as_str().unwrap_or_default();
        Ok(json!({ "payload": k.rpcs().call(req.param("id").unwrap_or_default(), &ctx, payload)? }))
    });
    let l = lua.clone();
    guarded(r, Post, "/v2/console/runtime/execute", auth, Permission::ExecuteLua, move |req, _| {
        #[derive(serde::Deserialize)]
        struct Snippet {
            code: String,
        }
        let s: Snippet = kaosnet::console::body(req)?;
        l.execute(&s.code)
    });
}

/// The console's sign-in, with `admin` made on first start: with `KAOS_ADMIN_PASSWORD`,
/// or with a strong password made here, printed once and kept in the data directory.
fn console_auth(kaos: &Arc<KaosNet>, config: &Config) -> Result<Arc<ConsoleAuth>, String> {
    let auth = ConsoleAuth::new(kaos.clone(), kaosnet::console::auth::ConsoleConfig::default())
        .map_err(|e| format!("console: {}", e.message))?;
    let made = auth.bootstrap(config.admin_password.as_deref()).map_err(|e| format!("console: {}", e.message))?;
    if let Some(password) = made {
        let kept = match &config.database {
            Database::Sqlite(path) => {
                let file = path.parent().unwrap_or(std::path::Path::new(".")).join("console-admin-password");
                write_private(&file, &password).map(|()| format!(" (kept in {})", file.display())).unwrap_or_default()
            }
            _ => String::new(),
        };
        eprintln!("kaos-server: console user `admin` created with password {password}{kept}; set KAOS_ADMIN_PASSWORD to choose it");
    }
    Ok(Arc::new(auth))
}

/// Writes `text` to a file only its owner may read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(format!("{text}\n").as_bytes())
}
