//! `POST|GET /v2/rpc/{id}`: a session or `?http_key=`; the payload is a JSON string (or,
//! with `?unwrap`, the raw body), the answer `{"id", "payload"}` (or the raw payload).

use std::sync::Arc;

use kaos_http::{Method, Request, Response, Router, Run};
use serde_json::json;

use super::{respond, session};
use crate::error::ApiError;
use crate::hooks::HookContext;
use crate::rpc::RpcContext;
use crate::KaosNet;

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>) {
    for method in [Method::Post, Method::Get] {
        let kaos = kaos.clone();
        r.route(method, "/v2/rpc/{id}", Run::Blocking, move |req| {
            let id = req.param("id").unwrap_or_default();
            let span = tracing::info_span!("rest", operation = "rpc", id, result = tracing::field::Empty).entered();
            let started = std::time::Instant::now();
            let (result, response) = super::with_session(&kaos, req, |session| {
                match kaos.limits.admit(&super::client_key(req, session), "rpc") {
                    Ok(()) => call(&kaos, req),
                    Err(e) => (e.code.name(), respond(Err(e))),
                }
            });
            span.record("result", result);
            kaos.metrics.api_call("rpc", result, started.elapsed());
            response
        });
    }
}

fn context(kaos: &KaosNet, req: &Request) -> Result<RpcContext, ApiError> {
    if let Some(key) = req.query("http_key") {
        if key != kaos.config.http_key {
            return Err(ApiError::unauthenticated("HTTP key invalid"));
        }
        return Ok(RpcContext::default());
    }
    let claims = session(kaos, req)?;
    Ok(RpcContext { user_id: Some(claims.uid), username: Some(claims.usn), vars: claims.vrs, session_id: None })
}

/// The response, and its result for the metrics.
fn call(kaos: &KaosNet, req: &Request) -> (&'static str, Response) {
    let id = req.param("id").unwrap_or_default().to_string();
    let unwrap = req.query("unwrap").is_some();
    let answer = (|| -> Result<String, ApiError> {
        let ctx = context(kaos, req)?;
        let payload = if req.method == Method::Get {
            req.query("payload").unwrap_or_default()
        } else if unwrap {
            String::from_utf8(req.body.clone()).map_err(|_| ApiError::invalid("Payload must be UTF-8."))?
        } else if req.body.iter().all(u8::is_ascii_whitespace) {
            String::new()
        } else {
            serde_json::from_slice::<String>(&req.body)
                .map_err(|_| ApiError::invalid("Payload must be a JSON string (or call with ?unwrap)."))?
        };
        // The socket's `rpc` message passes its hooks as `{"id", "payload"}`: so does this.
        let hook =
            HookContext { operation: "rpc".into(), user_id: ctx.user_id.clone(), username: ctx.username.clone() };
        if !kaos.hooks.has_any("rpc") {
            return kaos.rpcs.call(&id, &ctx, &payload);
        }
        let run =
            |request: &serde_json::Value| kaos.rpcs.call(&id, &ctx, request["payload"].as_str().unwrap_or_default());
        kaos.hooks
            .call(&hook, json!({"id": id, "payload": payload}), run, |out| Some(json!({"id": id, "payload": out})))
    })();
    match answer {
        Ok(out) if unwrap => ("ok", Response::with_body(200, "application/json", out.into_bytes())),
        Ok(out) => ("ok", Response::json(&json!({"id": id, "payload": out}))),
        Err(e) => (e.code.name(), respond(Err(e))),
    }
}
