//! Nakama's envelope: `{"cid": "…", "<kind>": {…}}` in, replies and error envelopes out,
//! the same on every transport.

use serde_json::{json, Map, Value};

use crate::hooks::HookOperation;
use crate::rpc::RpcContext;
use crate::socket::{Answer, Failure, SocketError, SocketSession};
use crate::KaosNet;

/// An error envelope, with the request's `cid` if it had one.
pub(crate) fn error(cid: Option<&Value>, code: SocketError, message: &str) -> Value {
    let mut v = json!({"error": {"code": code as i32, "message": message}});
    if let Some(cid) = cid {
        v["cid"] = cid.clone();
    }
    v
}

/// A message kind the socket takes: its operation (whose name is the envelope's key, in
/// snake case, and which says whether it may block and how it is rate limited) and its
/// handler.
pub(crate) struct Kind {
    pub op: HookOperation,
    handle: Handler,
}

type Handler = fn(&KaosNet, &SocketSession, &str, &Value, Option<&Value>) -> Result<Answer, Failure>;

const fn kind(op: HookOperation, handle: Handler) -> Kind {
    Kind { op, handle }
}

impl Kind {
    /// Its name: the envelope's key, in snake case.
    pub fn name(&self) -> &'static str {
        self.op.name()
    }
}

/// Every message kind a client may send.
static KINDS: &[Kind] = &[
    kind(HookOperation::Ping, |_, _, _, _, _| Ok(Answer::Reply("pong", json!({})))),
    kind(HookOperation::Rpc, |k, s, _, p, _| rpc(k, s, p)),
    kind(HookOperation::StatusFollow, status),
    kind(HookOperation::StatusUnfollow, status),
    kind(HookOperation::StatusUpdate, status),
    kind(HookOperation::ChannelJoin, chat),
    kind(HookOperation::ChannelLeave, chat),
    kind(HookOperation::ChannelMessageSend, chat),
    kind(HookOperation::ChannelMessageUpdate, chat),
    kind(HookOperation::ChannelMessageRemove, chat),
    kind(HookOperation::PartyCreate, party),
    kind(HookOperation::PartyJoin, party),
    kind(HookOperation::PartyLeave, party),
    kind(HookOperation::PartyPromote, party),
    kind(HookOperation::PartyAccept, party),
    kind(HookOperation::PartyRemove, party),
    kind(HookOperation::PartyClose, party),
    kind(HookOperation::PartyJoinRequestList, party),
    kind(HookOperation::PartyDataSend, party),
    kind(HookOperation::PartyMatchmakerAdd, party),
    kind(HookOperation::PartyMatchmakerRemove, party),
    kind(HookOperation::MatchmakerAdd, matchmaker),
    kind(HookOperation::MatchmakerRemove, matchmaker),
    kind(HookOperation::MatchCreate, crate::matches::socket),
    kind(HookOperation::MatchJoin, crate::matches::socket),
    kind(HookOperation::MatchLeave, crate::matches::socket),
    kind(HookOperation::MatchDataSend, crate::matches::socket),
];

fn status(k: &KaosNet, s: &SocketSession, kind: &str, p: &Value, _: Option<&Value>) -> Result<Answer, Failure> {
    crate::status::socket(k, s, kind, p)
}

fn chat(k: &KaosNet, s: &SocketSession, kind: &str, p: &Value, _: Option<&Value>) -> Result<Answer, Failure> {
    crate::chat::socket(k, s, kind, p)
}

fn party(k: &KaosNet, s: &SocketSession, kind: &str, p: &Value, _: Option<&Value>) -> Result<Answer, Failure> {
    crate::parties::socket(k, s, kind, p)
}

fn matchmaker(k: &KaosNet, s: &SocketSession, kind: &str, p: &Value, _: Option<&Value>) -> Result<Answer, Failure> {
    crate::matchmaker::socket(k, s, kind, p)
}

/// The kind named `name` (its proto name or its lowerCamelCase JSON name).
pub(crate) fn find(name: &str) -> Option<&'static Kind> {
    let name = crate::protojson::snake_case(name);
    KINDS.iter().find(|k| k.name() == name)
}

/// The replies to one envelope from `session`. An unknown kind is refused before any
/// state (metrics, rate limits, hooks) is kept for it.
pub fn envelope(kaos: &KaosNet, session: &SocketSession, data: &[u8]) -> Vec<Value> {
    let Ok(Value::Object(mut msg)) = crate::protojson::parse(data) else {
        return vec![error(None, SocketError::UnrecognizedPayload, "Could not parse message")];
    };
    let cid = msg.remove("cid");
    let cid = cid.as_ref().filter(|c| !c.is_null());
    if msg.len() != 1 {
        let why = if msg.is_empty() { "Missing message payload" } else { "Only one message payload allowed" };
        let code = if msg.is_empty() { SocketError::MissingPayload } else { SocketError::UnrecognizedPayload };
        return vec![error(cid, code, why)];
    }
    let Some((name, payload)) = msg.into_iter().next() else { return Vec::new() };
    let Some(kind) = find(&name) else {
        return vec![error(cid, SocketError::UnrecognizedPayload, "Unrecognized message")];
    };
    kaos.metrics.socket_message(kind.name());
    if !kaos.limits.check_operation(&session.user_id, kind.op) {
        return vec![error(cid, SocketError::BadInput, "Too many requests, slow down.")];
    }
    if !kaos.hooks.has_any(kind.name()) {
        return dispatch(kaos, session, kind, &payload, cid);
    }
    let ctx = crate::hooks::HookContext {
        operation: kind.name().to_string(),
        user_id: Some(session.user_id.clone()),
        username: Some(session.username.clone()),
    };
    let run = |payload: &Value| Ok::<_, crate::ApiError>(dispatch(kaos, session, kind, payload, cid));
    // After a success, the hooks see the answer's message (as a REST call's body), or
    // `{}` for a message that is not answered.
    let answer_of = |replies: &Vec<Value>| match replies.first().and_then(Value::as_object) {
        None => Some(json!({})),
        Some(reply) => match reply.iter().find(|(k, _)| *k != "cid") {
            Some((name, _)) if name == "error" => None,
            Some((_, message)) => Some(message.clone()),
            None => Some(json!({})),
        },
    };
    match kaos.hooks.call(&ctx, payload, run, answer_of) {
        Ok(replies) => replies,
        Err(e) => vec![error(cid, SocketError::BadInput, &e.message)],
    }
}

/// The replies to one message of `kind`.
fn dispatch(kaos: &KaosNet, session: &SocketSession, kind: &Kind, payload: &Value, cid: Option<&Value>) -> Vec<Value> {
    let answer = (kind.handle)(kaos, session, kind.name(), payload, cid);
    let reply = |kind: &str, body: Value| {
        let mut v = Map::new();
        if let Some(cid) = cid {
            v.insert("cid".into(), cid.clone());
        }
        v.insert(kind.into(), body);
        Value::Object(v)
    };
    match answer {
        Ok(Answer::Reply(kind, body)) => vec![reply(kind, body)],
        Ok(Answer::ReplyThen(kind, body, then)) => std::iter::once(reply(kind, body)).chain(then).collect(),
        Ok(Answer::Ack) => cid.map(|cid| json!({ "cid": cid })).into_iter().collect(),
        Ok(Answer::Silent) => Vec::new(),
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

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_is_an_operation_hooks_can_name() {
        for kind in super::KINDS {
            assert_eq!(crate::hooks::HookOperation::named(kind.name()), Some(kind.op), "{}", kind.name());
        }
        let names: std::collections::HashSet<_> = crate::hooks::HookOperation::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(names.len(), crate::hooks::HookOperation::ALL.len(), "names are unique");
    }
}
