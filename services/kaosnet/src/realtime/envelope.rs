//! Nakama's envelope: `{"cid": "…", "<kind>": {…}}` in, replies and error envelopes out,
//! the same on every transport.

use serde_json::{json, Map, Value};

use super::{SocketError, SocketSession};
use crate::rpc::RpcContext;
use crate::KaosNet;

/// An error envelope, with the request's `cid` if it had one.
pub(crate) fn error(cid: Option<&Value>, code: SocketError, message: &str) -> Value {
    let mut v = json!({"error": {"code": code as i32, "message": message}});
    if let Some(cid) = cid {
        v["cid"] = cid.clone();
    }
    v
}

/// The replies to one envelope from `session`.
pub fn envelope(kaos: &KaosNet, session: &SocketSession, data: &[u8]) -> Vec<Value> {
    let Ok(Value::Object(mut msg)) = serde_json::from_slice::<Value>(data) else {
        return vec![error(None, SocketError::UnrecognizedPayload, "Could not parse message")];
    };
    let cid = msg.remove("cid");
    let cid = cid.as_ref().filter(|c| !c.is_null());
    if msg.len() != 1 {
        let why = if msg.is_empty() { "Missing message payload" } else { "Only one message payload allowed" };
        let code = if msg.is_empty() { SocketError::MissingPayload } else { SocketError::UnrecognizedPayload };
        return vec![error(cid, code, why)];
    }
    let Some((kind, payload)) = msg.into_iter().next() else { return Vec::new() };
    kaos.metrics.socket_message(&kind);
    if kaos.limits.check(&session.user_id, &kind).is_err() {
        return vec![error(cid, SocketError::BadInput, "Too many requests, slow down.")];
    }
    let ctx = crate::hooks::HookContext {
        operation: kind.clone(),
        user_id: Some(session.user_id.clone()),
        username: Some(session.username.clone()),
    };
    let payload = match kaos.hooks.run_before(&ctx, payload) {
        Ok(p) => p,
        Err(e) => return vec![error(cid, SocketError::BadInput, &e.message)],
    };
    let replies = dispatch(kaos, session, &kind, &payload, cid);
    if kaos.hooks.has_after(&kind) {
        for r in &replies {
            kaos.hooks.run_after(&ctx, &payload, r);
        }
    }
    replies
}

/// The replies to one message of `kind`.
fn dispatch(kaos: &KaosNet, session: &SocketSession, kind: &str, payload: &Value, cid: Option<&Value>) -> Vec<Value> {
    let reply = |kind: &str, body: Value| {
        let mut v = Map::new();
        if let Some(cid) = cid {
            v.insert("cid".into(), cid.clone());
        }
        v.insert(kind.into(), body);
        Value::Object(v)
    };
    match kind {
        "ping" => vec![reply("pong", json!({}))],
        "rpc" => {
            let id = payload.get("id").and_then(Value::as_str).unwrap_or_default();
            if id.is_empty() {
                return vec![error(cid, SocketError::BadInput, "RPC ID must be set")];
            }
            let input = payload.get("payload").and_then(Value::as_str).unwrap_or_default();
            let ctx = RpcContext {
                user_id: Some(session.user_id.clone()),
                username: Some(session.username.clone()),
                vars: session.vars.clone(),
            };
            match kaos.rpcs.call(id, &ctx, input) {
                Ok(out) => vec![reply("rpc", json!({"id": id, "payload": out}))],
                Err(e) if e.code == crate::Code::NotFound => {
                    vec![error(cid, SocketError::RuntimeFunctionNotFound, "RPC function not found")]
                }
                Err(e) => vec![error(cid, SocketError::RuntimeFunctionException, &e.message)],
            }
        }
        _ => vec![error(cid, SocketError::UnrecognizedPayload, "Unrecognized message")],
    }
}
