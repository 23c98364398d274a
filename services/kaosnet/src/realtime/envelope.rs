//! Nakama's envelope: one message a client sent (decoded by [`super::request`]) handled
//! (counted, rate limited, shown to its hooks, handed to its service), and the replies
//! and error envelopes out, the same on every transport.

use serde_json::{json, Value};

use super::protobuf::api::Rpc;
use super::protobuf::realtime::envelope::Message;
use super::request::{Body, Request};
use super::Frame;
use crate::hooks::HookOperation;
use crate::rpc::RpcContext;
use crate::socket::{Answer, Failure, SocketError, SocketSession};
use crate::KaosNet;

/// An error envelope, with the request's `cid` if it had one.
pub(crate) fn error(cid: Option<&Value>, code: SocketError, message: &str) -> Frame {
    let error = super::protobuf::realtime::Error { code: code as i32, message: message.into(), ..Default::default() };
    Frame::reply(cid, Some(Message::Error(error)))
}

/// Every message kind a client may send.
pub(crate) static KINDS: &[HookOperation] = &[
    HookOperation::Ping,
    HookOperation::Rpc,
    HookOperation::StatusFollow,
    HookOperation::StatusUnfollow,
    HookOperation::StatusUpdate,
    HookOperation::ChannelJoin,
    HookOperation::ChannelLeave,
    HookOperation::ChannelMessageSend,
    HookOperation::ChannelMessageUpdate,
    HookOperation::ChannelMessageRemove,
    HookOperation::PartyCreate,
    HookOperation::PartyJoin,
    HookOperation::PartyLeave,
    HookOperation::PartyPromote,
    HookOperation::PartyAccept,
    HookOperation::PartyRemove,
    HookOperation::PartyClose,
    HookOperation::PartyJoinRequestList,
    HookOperation::PartyDataSend,
    HookOperation::PartyMatchmakerAdd,
    HookOperation::PartyMatchmakerRemove,
    HookOperation::MatchmakerAdd,
    HookOperation::MatchmakerRemove,
    HookOperation::MatchCreate,
    HookOperation::MatchJoin,
    HookOperation::MatchLeave,
    HookOperation::MatchDataSend,
];

/// The operation of a message a client may send; None for the server's own kinds (and
/// `party_update`, which is not served).
pub(crate) fn operation_of(message: &Message) -> Option<HookOperation> {
    use HookOperation as Op;
    Some(match message {
        Message::Ping(_) => Op::Ping,
        Message::Rpc(_) => Op::Rpc,
        Message::StatusFollow(_) => Op::StatusFollow,
        Message::StatusUnfollow(_) => Op::StatusUnfollow,
        Message::StatusUpdate(_) => Op::StatusUpdate,
        Message::ChannelJoin(_) => Op::ChannelJoin,
        Message::ChannelLeave(_) => Op::ChannelLeave,
        Message::ChannelMessageSend(_) => Op::ChannelMessageSend,
        Message::ChannelMessageUpdate(_) => Op::ChannelMessageUpdate,
        Message::ChannelMessageRemove(_) => Op::ChannelMessageRemove,
        Message::PartyCreate(_) => Op::PartyCreate,
        Message::PartyJoin(_) => Op::PartyJoin,
        Message::PartyLeave(_) => Op::PartyLeave,
        Message::PartyPromote(_) => Op::PartyPromote,
        Message::PartyAccept(_) => Op::PartyAccept,
        Message::PartyRemove(_) => Op::PartyRemove,
        Message::PartyClose(_) => Op::PartyClose,
        Message::PartyJoinRequestList(_) => Op::PartyJoinRequestList,
        Message::PartyDataSend(_) => Op::PartyDataSend,
        Message::PartyMatchmakerAdd(_) => Op::PartyMatchmakerAdd,
        Message::PartyMatchmakerRemove(_) => Op::PartyMatchmakerRemove,
        Message::MatchmakerAdd(_) => Op::MatchmakerAdd,
        Message::MatchmakerRemove(_) => Op::MatchmakerRemove,
        Message::MatchCreate(_) => Op::MatchCreate,
        Message::MatchJoin(_) => Op::MatchJoin,
        Message::MatchLeave(_) => Op::MatchLeave,
        Message::MatchDataSend(_) => Op::MatchDataSend,
        _ => return None,
    })
}

/// The replies to one JSON envelope from `session`, read as a JSON tree (the way a
/// message with hooks goes; benchmarks compare it with the typed readers), as JSON.
pub fn envelope(kaos: &KaosNet, session: &SocketSession, data: &[u8]) -> Vec<Value> {
    as_json(&handle(kaos, session, super::request::general(&kaos.hooks, data)))
}

/// Frames as the JSON envelopes they carry (for tools and tests).
pub(crate) fn as_json(frames: &[Frame]) -> Vec<Value> {
    frames.iter().map(|f| serde_json::from_str(f.json()).unwrap_or_default()).collect()
}

/// The replies to one message from `session` (see [`handle_message`]). A panic in its
/// handling is logged and ends that session alone: the socket thread, or the lane's
/// worker, serves on.
pub(crate) fn handle(kaos: &KaosNet, session: &SocketSession, request: Request) -> Vec<Frame> {
    let kind = match &request {
        Request::Message { op, .. } => op.name(),
        Request::Unreadable(_) => "unreadable",
    };
    guarded(kaos, session, kind, || handle_message(kaos, session, request))
}

fn guarded(kaos: &KaosNet, session: &SocketSession, kind: &str, f: impl FnOnce() -> Vec<Frame>) -> Vec<Frame> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let why = panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str));
        tracing::error!(
            session = session.id.as_u64(),
            user_id = %session.user_id,
            kind,
            "a socket message's handling panicked ({}); the session is closed",
            why.unwrap_or("no message")
        );
        kaos.sessions().close(session.id, super::close::INTERNAL_ERROR, "internal error");
        Vec::new()
    })
}

/// The replies to one message from `session`: counted, limited, shown to its hooks,
/// handled. A frame refused before its kind was known leaves no state behind.
fn handle_message(kaos: &KaosNet, session: &SocketSession, request: Request) -> Vec<Frame> {
    let (cid, op, body) = match request {
        Request::Unreadable(refusal) => return vec![*refusal],
        Request::Message { cid, op, body } => (cid, op, body),
    };
    let span = tracing::debug_span!("socket", kind = op.name(), error = tracing::field::Empty).entered();
    // Every message is counted; one in SAMPLE_EVERY is timed (a clock read and a
    // histogram cost a quarter of a relayed message's handling).
    let started = crate::metrics::sample_socket_latency().then(std::time::Instant::now);
    let replies = handle_known(kaos, session, cid.as_ref(), op, body);
    let error = replies.iter().any(Frame::is_error);
    span.record("error", error);
    kaos.metrics.socket_message(op, error, started.map(|s| s.elapsed()));
    replies
}

/// The replies to a message of kind `op`: limited, shown to its hooks, handled.
fn handle_known(
    kaos: &KaosNet,
    session: &SocketSession,
    cid: Option<&Value>,
    op: HookOperation,
    body: Body,
) -> Vec<Frame> {
    let refusal = |cid, code, message: &str| vec![error(cid, code, message)];
    if !kaos.limits.check_operation(&session.user_id, op) {
        return refusal(cid, SocketError::BadInput, "Too many requests, slow down.");
    }
    let payload = match body {
        Body::Hooked(payload) => payload,
        body => return dispatch(kaos, session, op, body, cid),
    };
    let ctx = crate::hooks::HookContext {
        operation: op.name().to_string(),
        user_id: Some(session.user_id.clone()),
        username: Some(session.username.clone()),
    };
    let run = |payload: &Value| {
        Ok::<_, crate::ApiError>(dispatch(kaos, session, op, super::request::from_json(op, payload), cid))
    };
    // After a success, the hooks see the answer's message (as a REST call's body), or
    // `{}` for a message that is not answered.
    let answer_of = |replies: &Vec<Frame>| match as_json(&replies[..replies.len().min(1)]).pop() {
        Some(Value::Object(reply)) => match reply.into_iter().find(|(k, _)| k != "cid") {
            Some((name, _)) if name == "error" => None,
            Some((_, message)) => Some(message),
            None => Some(json!({})),
        },
        _ => Some(json!({})),
    };
    match kaos.hooks.call(&ctx, payload, run, answer_of) {
        Ok(replies) => replies,
        Err(e) => refusal(cid, SocketError::BadInput, &e.message),
    }
}

/// The replies to one message of kind `op`.
fn dispatch(kaos: &KaosNet, session: &SocketSession, op: HookOperation, body: Body, cid: Option<&Value>) -> Vec<Frame> {
    let answer = match body {
        Body::Typed(message) => serve(kaos, session, *message, cid),
        Body::Data(m) if op == HookOperation::MatchDataSend => {
            crate::matches::send_data(kaos, session, m).map(|()| Answer::Silent)
        }
        Body::Data(m) => crate::parties::send_data(kaos, session, m).map(|()| Answer::Silent),
        Body::Hooked(payload) => return dispatch(kaos, session, op, super::request::from_json(op, &payload), cid),
        Body::Invalid(refusal) => Err(refusal),
    };
    match answer {
        Ok(Answer::Reply(message)) => vec![Frame::reply(cid, Some(message))],
        Ok(Answer::ReplyThen(message, then)) => std::iter::once(Frame::reply(cid, Some(message)))
            .chain(then.map(|event| Frame::from_message(*event)))
            .collect(),
        Ok(Answer::Ack) => cid.map(|cid| Frame::reply(Some(cid), None)).into_iter().collect(),
        Ok(Answer::Silent) => Vec::new(),
        Err(f) => vec![error(cid, f.code, &f.message)],
    }
}

/// A message, handed to the service it belongs to.
fn serve(kaos: &KaosNet, session: &SocketSession, message: Message, cid: Option<&Value>) -> Result<Answer, Failure> {
    use Message as M;
    match message {
        M::Ping(_) => Ok(Answer::Reply(M::Pong(super::protobuf::realtime::Pong {}))),
        M::Rpc(m) => rpc(kaos, session, m),
        M::StatusFollow(_) | M::StatusUnfollow(_) | M::StatusUpdate(_) => kaos.status.socket(session, message),
        M::ChannelJoin(_)
        | M::ChannelLeave(_)
        | M::ChannelMessageSend(_)
        | M::ChannelMessageUpdate(_)
        | M::ChannelMessageRemove(_) => kaos.chat.socket(session, message),
        M::MatchmakerAdd(_) | M::MatchmakerRemove(_) => crate::matchmaker::socket(kaos, session, message),
        M::MatchCreate(_) | M::MatchJoin(_) | M::MatchLeave(_) | M::MatchDataSend(_) => {
            crate::matches::socket(kaos, session, message, cid)
        }
        message => crate::parties::socket(kaos, session, message),
    }
}

fn rpc(kaos: &KaosNet, session: &SocketSession, m: Rpc) -> Result<Answer, Failure> {
    let (id, input) = (m.id.as_str(), m.payload.as_str());
    if id.is_empty() {
        return Err(Failure::bad_input("RPC ID must be set"));
    }
    let ctx = RpcContext {
        user_id: Some(session.user_id.clone()),
        username: Some(session.username.clone()),
        vars: session.vars.clone(),
        session_id: Some(session.id.text()),
    };
    match kaos.rpcs.call(id, &ctx, input) {
        Ok(out) => Ok(Answer::Reply(Message::Rpc(Rpc { id: m.id.clone(), payload: out, http_key: String::new() }))),
        // A function that raised NotFound is an exception, as in Nakama; only a missing
        // function is "not found".
        Err(e) if e.code == crate::Code::NotFound && e.message == crate::rpc::NOT_FOUND => {
            Err(Failure::new(SocketError::RuntimeFunctionNotFound, "RPC function not found"))
        }
        Err(e) => Err(Failure::new(SocketError::RuntimeFunctionException, e.message)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_in_a_handler_ends_its_session_alone() {
        use crate::presence::{Command, Transport};
        let store = std::sync::Arc::new(crate::store::MemoryStore::new());
        let kaos = crate::KaosNet::new(store, Default::default(), Default::default());
        let mailbox = kaos.sessions().attach(|| {}).unwrap();
        let id = kaos.sessions().register(Transport::WebSocket, mailbox, "u1", false);
        let other = kaos.sessions().register(Transport::WebSocket, mailbox, "u2", false);
        let session = crate::socket::SocketSession {
            id,
            user_id: "u1".into(),
            username: "one".into(),
            vars: Default::default(),
            status: false,
            format: Default::default(),
        };
        let frames = super::guarded(&kaos, &session, "rpc", || panic!("a bug"));
        assert!(frames.is_empty());
        let commands = kaos.sessions().take(mailbox);
        assert!(
            matches!(commands.as_slice(), [Command::Close { session, code: 1011, .. }] if *session == id),
            "{commands:?}"
        );
        assert_eq!(kaos.sessions().count(), 2, "the other session {other:?} is untouched, this one closes");
        let served = super::guarded(&kaos, &session, "rpc", Vec::new);
        assert!(served.is_empty() && kaos.sessions().take(mailbox).is_empty(), "no panic, no close");
    }

    #[test]
    fn every_kind_is_an_operation_hooks_can_name() {
        for kind in super::KINDS {
            assert_eq!(crate::hooks::HookOperation::named(kind.name()), Some(*kind), "{}", kind.name());
        }
        let names: std::collections::HashSet<_> = crate::hooks::HookOperation::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(names.len(), crate::hooks::HookOperation::ALL.len(), "names are unique");
    }

    #[test]
    fn every_kind_reads_as_its_own_message() {
        use super::super::request::{from_json, Body};
        for &op in super::KINDS {
            match from_json(op, &serde_json::json!({})) {
                Body::Typed(m) => assert_eq!(super::operation_of(&m), Some(op)),
                Body::Invalid(f) if matches!(op.name(), "match_data_send" | "party_data_send") => {
                    assert_eq!(f.code, crate::socket::SocketError::BadInput, "{}: no target", op.name());
                }
                other => panic!("{}: {other:?}", op.name()),
            }
        }
    }
}
