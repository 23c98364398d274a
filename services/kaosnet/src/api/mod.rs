//! The REST API under `/v2/...`, shaped as Nakama's so its client SDKs work unchanged:
//! JSON in snake_case, HTTP Basic with the server key on authenticate and refresh,
//! `Authorization: Bearer <session token>` elsewhere, errors as `{"code", "message"}`
//! with the matching status. Handlers that reach the database run on kaos-http's worker
//! pool.

mod account;
mod channel;
mod friend;
mod group;
mod leaderboard;
mod matches;
mod notification;
mod rpc;
mod storage;

pub(crate) use leaderboard::record_json;
pub(crate) use storage::object_json;

use std::sync::Arc;

use base64::Engine;
use kaos_http::{Method, Request, Response, Router, Run};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::session::Claims;
use crate::KaosNet;

/// A handler's result: a JSON body or an API error.
type Answer = Result<serde_json::Value, ApiError>;

/// Sends `answer` as JSON without unpopulated fields (errors with their status).
fn respond(answer: Answer) -> Response {
    match answer {
        Ok(body) => Response::json(&crate::protojson::Populated(&body)),
        Err(e) => Response::json_status(e.code.http_status(), &e.to_json()),
    }
}

/// Parses the body as `T` with protojson's rules (proto or lowerCamelCase names, unknown
/// fields ignored); an empty body counts as `{}`.
fn body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = if req.body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &req.body };
    let invalid = |e: String| ApiError::invalid(format!("Invalid request body: {e}"));
    T::deserialize(crate::protojson::parse(bytes).map_err(invalid)?).map_err(|e| invalid(e.to_string()))
}

/// A boolean query parameter (`true`/`false`), `default` when absent.
fn query_bool(req: &Request, name: &str, default: bool) -> Result<bool, ApiError> {
    match req.query(name).as_deref() {
        None | Some("") => Ok(default),
        Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(ApiError::invalid(format!("Invalid {name}: {other}"))),
    }
}

/// Checks HTTP Basic with the server key (authenticate and refresh calls).
fn server_key(kaos: &KaosNet, req: &Request) -> Result<(), ApiError> {
    let given = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    match given {
        Some(pair) if pair.split_once(':').map_or(pair.as_str(), |(user, _)| user) == kaos.config.server_key => Ok(()),
        Some(_) => Err(ApiError::unauthenticated("Server key invalid")),
        None => Err(ApiError::unauthenticated("Server key required")),
    }
}

thread_local! {
    /// The session of the request this worker is serving, verified once for its rate
    /// limit, its hooks and its handler (see [`with_session`]).
    static SESSION: std::cell::RefCell<Option<Result<Claims, ApiError>>> = const { std::cell::RefCell::new(None) };
}

/// The session of a Bearer token.
fn session(kaos: &KaosNet, req: &Request) -> Result<Claims, ApiError> {
    SESSION.with_borrow(Clone::clone).unwrap_or_else(|| verify(kaos, req))
}

fn verify(kaos: &KaosNet, req: &Request) -> Result<Claims, ApiError> {
    let token = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthenticated("Auth token required"))?;
    kaos.accounts.verify(token.trim())
}

/// Runs `f` with `req`'s session token verified once (signature, expiry, revocation):
/// [`session`] answers from it until `f` returns.
fn with_session<T>(kaos: &KaosNet, req: &Request, f: impl FnOnce(&Result<Claims, ApiError>) -> T) -> T {
    struct Served;
    impl Drop for Served {
        fn drop(&mut self) {
            SESSION.with_borrow_mut(|s| *s = None);
        }
    }
    let verified = verify(kaos, req);
    SESSION.with_borrow_mut(|s| *s = Some(verified.clone()));
    let _served = Served;
    f(&verified)
}

/// Registers `handler` for `method` on `pattern` as `operation`, on the worker pool,
/// behind the rate limits and the operation's hooks.
fn route(
    router: &mut Router,
    kaos: &Arc<KaosNet>,
    method: Method,
    pattern: &str,
    operation: &'static str,
    handler: fn(&KaosNet, &Request) -> Answer,
) {
    debug_assert!(crate::hooks::HookOperation::named(operation).is_some(), "{operation} is not a HookOperation");
    let kaos = kaos.clone();
    router.route(method, pattern, Run::Blocking, move |req| {
        let span = tracing::info_span!("rest", operation, result = tracing::field::Empty).entered();
        let started = std::time::Instant::now();
        let answer = guarded(&kaos, req, operation, handler);
        let result = answer.as_ref().map_or_else(|e| e.code.name(), |_| "ok");
        span.record("result", result);
        kaos.metrics.api_call(operation, result, started.elapsed());
        respond(answer)
    });
}

/// The caller's rate-limit key: the user of a valid session token (so players behind one
/// address do not share a bucket, and a forged token cannot drain someone else's), else
/// the client's address.
fn client_key(req: &Request, session: &Result<Claims, ApiError>) -> String {
    match session {
        Ok(claims) => format!("user:{}", claims.uid),
        Err(_) => req.peer.map_or_else(|| "unknown".to_string(), |p| p.ip().to_string()),
    }
}

/// Rate limit, before hooks (which may rewrite the JSON body or refuse), the handler,
/// after hooks; the session token verified once for all of them.
fn guarded(kaos: &KaosNet, req: &Request, operation: &str, handler: fn(&KaosNet, &Request) -> Answer) -> Answer {
    with_session(kaos, req, |session| run_guarded(kaos, req, operation, handler, session))
}

fn run_guarded(
    kaos: &KaosNet,
    req: &Request,
    operation: &str,
    handler: fn(&KaosNet, &Request) -> Answer,
    session: &Result<Claims, ApiError>,
) -> Answer {
    kaos.limits.admit(&client_key(req, session), operation)?;
    if !kaos.hooks.has_any(operation) {
        return handler(kaos, req);
    }
    let claims = session.as_ref().ok().cloned();
    let ctx = crate::hooks::HookContext {
        operation: operation.to_string(),
        user_id: claims.as_ref().map(|c| c.uid.clone()),
        username: claims.map(|c| c.usn),
    };
    let request: serde_json::Value = body(req)?;
    let run = |request: &serde_json::Value| {
        if !kaos.hooks.has_before(operation) {
            return handler(kaos, req);
        }
        let mut changed = req.clone();
        changed.body = serde_json::to_vec(request).map_err(|_| ApiError::invalid("Hook output is not JSON."))?;
        handler(kaos, &changed)
    };
    kaos.hooks.call(&ctx, request, run, |answer| Some(answer.clone()))
}

/// The HTTP server's own errors (unknown route, oversized body, malformed request…) in
/// Nakama's shape; set as `HttpConfig::error_response`.
pub fn error_response(status: u16, reason: &str) -> Response {
    let code = match status {
        404 => 5,
        405 | 501 => 12,
        408 => 4,
        500 => 13,
        503 => 14,
        _ => 3,
    };
    let message = match status {
        404 => "Not Found".to_string(),
        _ => reason.to_string(),
    };
    Response::json_status(status, &serde_json::json!({"code": code, "message": message, "error": message}))
}

/// Every REST route, on a new router.
pub fn router(kaos: &Arc<KaosNet>) -> Router {
    let mut r = Router::new();
    r.get("/healthcheck", |_| Response::json(&serde_json::json!({})));
    account::routes(&mut r, kaos);
    storage::routes(&mut r, kaos);
    notification::routes(&mut r, kaos);
    channel::routes(&mut r, kaos);
    friend::routes(&mut r, kaos);
    group::routes(&mut r, kaos);
    matches::routes(&mut r, kaos);
    leaderboard::routes(&mut r, kaos);
    rpc::routes(&mut r, kaos);
    // The realtime socket upgrades here (see `realtime`).
    r.websocket("/ws");
    r
}
