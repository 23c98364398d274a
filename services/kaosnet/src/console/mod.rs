//! The console port (7351): what operators and their tools reach, apart from players.
//! `GET /healthcheck` and `GET /metrics` (Prometheus text) are open; the admin API under
//! `/v2/console/` takes a console token (`POST /v2/console/authenticate`) or an API key,
//! and each route checks its permission ([`roles`]). Client session tokens are not
//! console credentials, nor console tokens client ones: their signing keys differ.
//!
//! | Route | Permission |
//! |---|---|
//! | `POST /v2/console/authenticate` `{"username", "password"}` → `{"token"}` | none |
//! | `POST /v2/console/authenticate/logout` | a console token |
//! | `POST /v2/console/authenticate/refresh` → `{"token"}` (the old one ends) | a console token |
//! | `POST /v2/console/authenticate/password` `{"current", "new"}` → `{"token"}` | a console token |
//! | `GET /v2/console/status` | ViewStatus |
//! | `GET, POST /v2/console/user`, `PUT, DELETE /v2/console/user/{username}` | ManageAccounts |
//! | `GET, POST /v2/console/api_key`, `DELETE /v2/console/api_key/{id}` | ManageApiKeys |
//!
//! Sessions and players: see [`players`]; matches: [`rooms`].

pub mod auth;
mod data;
pub mod players;
pub mod roles;
pub mod rooms;
mod social;

use std::sync::Arc;
use std::time::Instant;

use kaos_http::{Request, Response, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::KaosNet;
use auth::{ConsoleAuth, Principal};
use roles::{Permission, Role};

/// The console's open routes, on a new router.
pub fn router(kaos: &Arc<KaosNet>) -> Router {
    let mut r = Router::new();
    r.get("/healthcheck", |_| Response::json(&serde_json::json!({})));
    let k = kaos.clone();
    r.get("/metrics", move |_| {
        Response::with_body(200, "text/plain; version=0.0.4", k.metrics.render(&k).into_bytes())
    });
    r
}

/// An answer, or the error as the console's JSON.
pub type Answer = Result<Value, ApiError>;

fn respond(answer: Answer) -> Response {
    match answer {
        Ok(v) => Response::json(&v),
        Err(e) => Response::json_status(e.code.http_status(), &e.to_json()),
    }
}

/// Adds a console route that needs `permission`; `handler` gets the caller.
pub fn guarded(
    r: &mut Router,
    method: kaos_http::Method,
    path: &str,
    auth: &Arc<ConsoleAuth>,
    permission: Permission,
    handler: impl Fn(&Request, &Principal) -> Answer + Send + Sync + 'static,
) {
    auth.note_route(method, path, permission);
    let auth = auth.clone();
    let name = path.to_string();
    let route = move |req: &Request| {
        let _span = tracing::info_span!("console", route = %name).entered();
        let answer = auth.require(req.header("authorization"), permission).and_then(|who| {
            // 401 means the caller's credentials, nothing else: what a handler refuses
            // (an RPC's own Unauthenticated, say) is this request's failure.
            handler(req, &who).map_err(|e| match e.code {
                crate::Code::Unauthenticated => ApiError::new(crate::Code::FailedPrecondition, e.message),
                _ => e,
            })
        });
        respond(answer)
    };
    // Every console route may reach the database (or hash a password): never on the loop.
    r.route(method, path, kaos_http::Run::Blocking, route);
}

/// The request's JSON body (an empty one reads as `{}`), or a clear 400.
pub fn body<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    if req.body.is_empty() {
        return serde_json::from_str("{}").map_err(|e| ApiError::invalid(format!("Invalid request body: {e}")));
    }
    req.json().map_err(|e| ApiError::invalid(format!("Invalid request body: {e}")))
}

fn role(name: &str) -> Result<Role, ApiError> {
    Role::parse(name).ok_or_else(|| ApiError::invalid("Roles are admin, developer or readonly."))
}

/// The admin API's routes: sign-in, status, console users and API keys, and the
/// management routes of the modules below. `status` adds what the server running these
/// services knows (its database, its Lua modules) to `GET /v2/console/status`.
pub fn admin_routes(
    r: &mut Router,
    kaos: &Arc<KaosNet>,
    auth: &Arc<ConsoleAuth>,
    status: impl Fn() -> Value + Send + Sync + 'static,
) {
    use kaos_http::Method::{Delete, Get, Post, Put};
    let a = auth.clone();
    r.route(Post, "/v2/console/authenticate", kaos_http::Run::Blocking, move |req| {
        #[derive(serde::Deserialize)]
        struct Login {
            username: String,
            password: String,
        }
        respond(body::<Login>(req).and_then(|l| Ok(json!({ "token": a.authenticate(&l.username, &l.password)? }))))
    });
    let a = auth.clone();
    r.route(Post, "/v2/console/authenticate/logout", kaos_http::Run::Blocking, move |req| {
        respond(a.logout(req.header("authorization")).map(|()| json!({})))
    });
    let a = auth.clone();
    r.route(Post, "/v2/console/authenticate/refresh", kaos_http::Run::Blocking, move |req| {
        respond(a.refresh(req.header("authorization")).map(|token| json!({ "token": token })))
    });
    let a = auth.clone();
    r.route(Post, "/v2/console/authenticate/password", kaos_http::Run::Blocking, move |req| {
        #[derive(serde::Deserialize)]
        struct Change {
            current: String,
            new: String,
        }
        let answer =
            body::<Change>(req).and_then(|c| a.change_own_password(req.header("authorization"), &c.current, &c.new));
        respond(answer.map(|token| json!({ "token": token })))
    });
    let (k, started) = (kaos.clone(), Instant::now());
    guarded(r, Get, "/v2/console/status", auth, Permission::ViewStatus, move |_, _| {
        let mut out = json!({
            "node": crate::matches::authoritative::NODE,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_sec": started.elapsed().as_secs(),
            "sessions": k.sessions().count(),
            "matches": k.matches().list().len(),
            "matchmaker_tickets": k.matchmaker().ticket_count(),
            "presences": k.tracker().count_all(),
        });
        if let (Value::Object(out), Value::Object(more)) = (&mut out, status()) {
            out.extend(more);
        }
        Ok(out)
    });
    let a = auth.clone();
    guarded(r, Get, "/v2/console/route", auth, Permission::ViewStatus, move |_, _| {
        let routes: Vec<Value> = a
            .routes()
            .into_iter()
            .map(|(method, path, p)| {
                json!({"method": method.as_str(), "path": path, "permission": format!("{p:?}"), "role": p.least_role()})
            })
            .collect();
        Ok(json!({ "routes": routes }))
    });
    let a = auth.clone();
    guarded(r, Get, "/v2/console/user", auth, Permission::ManageAccounts, move |_, _| {
        Ok(json!({ "users": a.users()? }))
    });
    let a = auth.clone();
    guarded(r, Post, "/v2/console/user", auth, Permission::ManageAccounts, move |req, _| {
        #[derive(serde::Deserialize)]
        struct NewUser {
            username: String,
            password: String,
            role: String,
        }
        let u: NewUser = body(req)?;
        a.create_user(&u.username, &u.password, role(&u.role)?)?;
        Ok(json!({}))
    });
    let a = auth.clone();
    guarded(r, Put, "/v2/console/user/{username}", auth, Permission::ManageAccounts, move |req, who| {
        #[derive(serde::Deserialize)]
        struct Edit {
            password: Option<String>,
            role: Option<String>,
        }
        let name = req.param("username").unwrap_or_default();
        let edit: Edit = body(req)?;
        let new_role = edit.role.as_deref().map(role).transpose()?;
        if new_role.is_some() && name.to_lowercase() == who.name {
            return Err(ApiError::invalid("Console users cannot change their own role."));
        }
        a.update_user(name, edit.password.as_deref(), new_role)?;
        Ok(json!({}))
    });
    let a = auth.clone();
    guarded(r, Delete, "/v2/console/user/{username}", auth, Permission::ManageAccounts, move |req, who| {
        let name = req.param("username").unwrap_or_default();
        if name.to_lowercase() == who.name {
            return Err(ApiError::invalid("Console users cannot delete themselves."));
        }
        a.delete_user(name)?;
        Ok(json!({}))
    });
    let a = auth.clone();
    guarded(r, Get, "/v2/console/api_key", auth, Permission::ManageApiKeys, move |_, _| {
        Ok(json!({ "keys": a.api_keys()? }))
    });
    let a = auth.clone();
    guarded(r, Post, "/v2/console/api_key", auth, Permission::ManageApiKeys, move |req, _| {
        #[derive(serde::Deserialize)]
        struct NewKey {
            name: String,
            role: String,
        }
        let k: NewKey = body(req)?;
        let (id, key) = a.create_api_key(&k.name, role(&k.role)?)?;
        Ok(json!({ "id": id, "key": key }))
    });
    let a = auth.clone();
    guarded(r, Delete, "/v2/console/api_key/{id}", auth, Permission::ManageApiKeys, move |req, _| {
        a.revoke_api_key(req.param("id").unwrap_or_default())?;
        Ok(json!({}))
    });
    players::routes(r, kaos, auth);
    rooms::routes(r, kaos, auth);
    data::routes(r, kaos, auth);
    social::routes(r, kaos, auth);
}
