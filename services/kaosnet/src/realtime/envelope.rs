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

/// What a message handler answers.
#[derive(Debug)]
pub(crate) enum Answer {
    /// `{"cid": …, "<kind>": body}`.
    Reply(&'static str, Value),
    /// The bare envelope `{"cid": …}`, which tells the client it is done (nothing
    /// without a cid).
    Ack,
    /// Nothing at all (data messages carry no cid and get no answer).
    Silent,
}

/// A handler's refusal: an `error` envelope.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: SocketError,
    pub message: String,
}

impl Failure {
    pub fn new(code: SocketError, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }

    pub fn bad_input(message: impl Into<String>) -> Failure {
        Failure::new(SocketError::BadInput, message)
    }
}

impl From<crate::ApiError> for Failure {
    fn from(e: crate::ApiError) -> Failure {
        let code = match e.code {
            crate::Code::Internal | crate::Code::Unknown | crate::Code::Unavailable => SocketError::RuntimeException,
            _ => SocketError::BadInput,
        };
        Failure::new(code, e.message)
    }
}

/// A message's payload as `T`; unknown fields and wrong types are bad input.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(payload: &Value) -> Result<T, Failure> {
    T::deserialize(payload).map_err(|e| Failure::bad_input(format!("Invalid payload: {e}")))
}

/// The replies to one message of `kind`.
fn dispatch(kaos: &KaosNet, session: &SocketSession, kind: &str, payload: &Value, cid: Option<&Value>) -> Vec<Value> {
    let answer = match kind {
        "ping" => Ok(Answer::Reply("pong", json!({}))),
        "rpc" => rpc(kaos, session, payload),
        "status_follow" | "status_unfollow" | "status_update" => crate::status::socket(kaos, session, kind, payload),
        "channel_join"
        | "channel_leave"
        | "channel_message_send"
        | "channel_message_update"
        | "channel_message_remove" => crate::chat::socket(kaos, session, kind, payload),
        "party_create"
        | "party_join"
        | "party_leave"
        | "party_promote"
        | "party_accept"
        | "party_remove"
        | "party_close"
        | "party_join_request_list"
        | "party_data_send"
        | "party_matchmaker_add"
        | "party_matchmaker_remove" => crate::parties::socket(kaos, session, kind, payload),
        "matchmaker_add" | "matchmaker_remove" => crate::matchmaker::socket(kaos, session, kind, payload),
        "match_create" | "match_join" | "match_leave" | "match_data_send" => {
            crate::matches::socket(kaos, session, kind, payload, cid)
        }
        _ => Err(Failure::new(SocketError::UnrecognizedPayload, "Unrecognized message")),
    };
    let mut v = Map::new();
    if let Some(cid) = cid {
        v.insert("cid".into(), cid.clone());
    }
    match answer {
        Ok(Answer::Reply(kind, body)) => {
            v.insert(kind.into(), body);
            vec![Value::Object(v)]
        }
        Ok(Answer::Ack) if cid.is_some() => vec![Value::Object(v)],
        Ok(_) => Vec::new(),
        Err(f) => vec![error(cid, f.code, &f.message)],
    }
}

fn rpc(kaos: &KaosNet, session: &SocketSession, payload: &Value) -> Result<Answer, Failure> {
    let id = payload.get("id").and_then(Value::as_str).unwrap_or_default();
    if id.is_empty() {
        return Err(Failure::bad_input("RPC ID must be set"));
    }
    let input = payload.get("payload").and_then(Value::as_str).unwrap_or_default();
    let ctx = RpcContext {
        user_id: Some(session.user_id.clone()),
        username: Some(session.username.clone()),
        vars: session.vars.clone(),
    };
    match kaos.rpcs.call(id, &ctx, input) {
        Ok(out) => Ok(Answer::Reply("rpc", json!({"id": id, "payload": out}))),
        Err(e) if e.code == crate::Code::NotFound => {
            Err(Failure::new(SocketError::RuntimeFunctionNotFound, "RPC function not found"))
        }
        Err(e) => Err(Failure::new(SocketError::RuntimeFunctionException, e.message)),
    }
}
