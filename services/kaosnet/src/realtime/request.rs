//! One inbound frame, decoded into the message it carries: typed, in either format.
//!
//! - JSON: the frame is read straight into the [`Envelope`] (pbjson: proto or
//!   lowerCamelCase names, unknown fields skipped, int64 as strings); game data
//!   (`match_data_send`, `party_data_send`) has its own readers that borrow the frame's
//!   strings: one pass by hand for the frames clients write ([`super::data_reader`]),
//!   serde for the rest. A frame those readers refuse, or whose kind has hooks, is read as a JSON
//!   tree ([`general`]), which names the error to answer or keeps the payload for the
//!   hooks.
//! - protobuf: prost reads the [`Envelope`]; a kind with hooks gives them its payload as
//!   the JSON a JSON socket would have sent.
//!
//! Either way the socket thread knows the message's kind before it decides where the
//! message runs (on this thread, or in the session's lane when it may block).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::envelope::{error, operation_of};
use super::protobuf::realtime::{envelope::Message, Envelope};
use super::Format;
use crate::hooks::{HookOperation, HookRegistry};
use crate::socket::{DataPayload, DataSend, Failure, SocketError};

/// A frame, decoded.
#[derive(Debug)]
pub(crate) enum Request {
    /// Refused before its kind was known (it does not decode, names no kind, an unknown
    /// one or several): the error envelope to answer. Nothing is counted for it.
    Unreadable(Box<super::Frame>),
    /// One message of a kind the socket serves.
    Message { cid: Option<Value>, op: HookOperation, body: Body },
}

/// A message's payload.
#[derive(Debug)]
pub(crate) enum Body {
    Typed(Box<Message>),
    /// Game data (`match_data_send`, `party_data_send`).
    Data(DataSend),
    /// As JSON (proto names), for the hooks registered on its kind; decoded after them.
    Hooked(Value),
    /// A payload that is not one of its kind: refused once counted and limited.
    Invalid(Failure),
}

impl Request {
    /// Whether it may block (and runs in the session's lane).
    pub fn blocks(&self) -> bool {
        matches!(self, Request::Message { op, .. } if op.blocks())
    }
}

/// A frame refused with `code` before its kind was known.
fn refused(cid: Option<&Value>, code: SocketError, message: &str) -> Request {
    Request::Unreadable(Box::new(error(cid, code, message)))
}

fn unreadable() -> Request {
    refused(None, SocketError::UnrecognizedPayload, "Could not parse message")
}

/// Decodes a frame in `format`; kinds with `hooks` keep their payload as JSON for them.
pub(crate) fn decode(hooks: &HookRegistry, format: Format, data: &[u8]) -> Request {
    match format {
        Format::Json => decode_json(hooks, data),
        Format::Protobuf => decode_protobuf(hooks, data),
    }
}

fn decode_json(hooks: &HookRegistry, data: &[u8]) -> Request {
    // Whole frame UTF-8, as the tree requires: fields the typed readers skip are not read.
    let Ok(text) = std::str::from_utf8(data) else { return unreadable() };
    if let Some((op, cid, payload)) = super::data_reader::read(text).filter(|(op, ..)| !hooks.has_any(op.name())) {
        // A payload it cannot check goes to serde, which reads escapes (or names the error).
        if let Ok(send) = payload.into_send(target_field(op)) {
            let cid = cid.map(|c| Value::String(c.to_string()));
            return Request::Message { cid, op, body: Body::Data(send) };
        }
    }
    if let Some((op, cid, payload)) = data_message(text) {
        if !hooks.has_any(op.name()) {
            let body = payload.into_send(target_field(op)).map_or_else(Body::Invalid, Body::Data);
            return Request::Message { cid: cid.map(Value::String), op, body };
        }
    }
    if let Ok(Envelope { cid, message: Some(message) }) = serde_json::from_str::<Envelope>(text) {
        if let Some(op) = operation_of(&message).filter(|op| !is_data(*op) && !hooks.has_any(op.name())) {
            let cid = (!cid.is_empty()).then_some(Value::String(cid));
            return Request::Message { cid, op, body: Body::Typed(Box::new(message)) };
        }
    }
    general(hooks, data)
}

/// A frame read as a JSON tree: the error it deserves, or its message (kept as JSON for
/// hooks, decoded otherwise). Keys that name no kind are skipped, as protojson does.
pub(crate) fn general(hooks: &HookRegistry, data: &[u8]) -> Request {
    let Ok(Value::Object(mut msg)) = crate::protojson::parse(data) else { return unreadable() };
    let cid = msg.remove("cid").filter(|c| !c.is_null());
    let empty = msg.is_empty();
    let kind =
        |(name, payload): (String, Value)| Some((HookOperation::named(&name).filter(|op| is_message(*op))?, payload));
    let mut kinds = msg.into_iter().filter_map(kind);
    let (op, payload) = match (kinds.next(), kinds.next()) {
        (Some((op, payload)), None) => (op, payload),
        (Some(_), Some(_)) => {
            let why = "Only one message payload allowed";
            return refused(cid.as_ref(), SocketError::UnrecognizedPayload, why);
        }
        (None, _) if empty => {
            return refused(cid.as_ref(), SocketError::MissingPayload, "Missing message payload");
        }
        _ => return refused(cid.as_ref(), SocketError::UnrecognizedPayload, "Unrecognized message"),
    };
    let body = if hooks.has_any(op.name()) { Body::Hooked(payload) } else { from_json(op, &payload) };
    Request::Message { cid, op, body }
}

/// Whether `op` is a message kind a client may send.
fn is_message(op: HookOperation) -> bool {
    super::envelope::KINDS.contains(&op)
}

fn is_data(op: HookOperation) -> bool {
    matches!(op, HookOperation::MatchDataSend | HookOperation::PartyDataSend)
}

/// The field that names a data message's target.
fn target_field(op: HookOperation) -> &'static str {
    if op == HookOperation::MatchDataSend {
        "match_id"
    } else {
        "party_id"
    }
}

/// A payload in JSON (proto names) as the message of kind `op`.
pub(crate) fn from_json(op: HookOperation, payload: &Value) -> Body {
    if is_data(op) {
        return DataSend::from_payload(payload, target_field(op)).map_or_else(Body::Invalid, Body::Data);
    }
    // `null` is an empty message, as protojson reads it.
    let payload = if payload.is_null() { Value::Object(Map::new()) } else { payload.clone() };
    let envelope = Value::Object(Map::from_iter([(op.name().to_string(), payload)]));
    match Envelope::deserialize(envelope) {
        Ok(Envelope { message: Some(message), .. }) => Body::Typed(Box::new(message)),
        Ok(_) => Body::Invalid(Failure::bad_input("Invalid payload")),
        Err(e) => Body::Invalid(Failure::bad_input(format!("Invalid payload: {e}"))),
    }
}

fn decode_protobuf(hooks: &HookRegistry, data: &[u8]) -> Request {
    let Ok(envelope) = <Envelope as prost::Message>::decode(data) else { return unreadable() };
    let cid = (!envelope.cid.is_empty()).then(|| Value::String(envelope.cid.clone()));
    let Some(message) = envelope.message else {
        return refused(cid.as_ref(), SocketError::MissingPayload, "Missing message payload");
    };
    let Some(op) = operation_of(&message) else {
        return refused(cid.as_ref(), SocketError::UnrecognizedPayload, "Unrecognized message");
    };
    if hooks.has_any(op.name()) {
        // The hooks see the payload as a JSON socket would have sent it.
        let json = super::protobuf::to_json(&Envelope { cid: String::new(), message: Some(message) });
        let payload = match serde_json::from_str::<Value>(&json) {
            Ok(Value::Object(m)) => m.into_iter().find(|(k, _)| k != "cid").map(|(_, p)| p).unwrap_or_default(),
            _ => return unreadable(),
        };
        return Request::Message { cid, op, body: Body::Hooked(payload) };
    }
    let body = match message {
        Message::MatchDataSend(m) => Body::Data(m.into()),
        Message::PartyDataSend(m) => Body::Data(m.into()),
        message => Body::Typed(Box::new(message)),
    };
    Request::Message { cid, op, body }
}

/// A JSON envelope that is exactly one data message with a string cid or none, read
/// with borrowed strings; None leaves anything else to the other readers.
pub(crate) fn data_message(text: &str) -> Option<(HookOperation, Option<String>, DataPayload<'_>)> {
    let op = match kind_of(text.as_bytes())? {
        b"match_data_send" | b"matchDataSend" => HookOperation::MatchDataSend,
        b"party_data_send" | b"partyDataSend" => HookOperation::PartyDataSend,
        _ => return None,
    };
    let e: DataEnvelope<'_> = serde_json::from_str(text).ok()?;
    let (payload, other) = match op {
        HookOperation::MatchDataSend => (e.match_data_send?, e.party_data_send),
        _ => (e.party_data_send?, e.match_data_send),
    };
    if other.is_some() {
        return None;
    }
    Some((op, e.cid, payload))
}

/// The first key of the envelope other than `cid` (whose value, a string or a number,
/// is skipped), without escapes.
pub(crate) fn kind_of(data: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while data.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
    };
    let key = |i: &mut usize| -> Option<&[u8]> {
        if data.get(*i) != Some(&b'"') {
            return None;
        }
        let start = *i + 1;
        let len = data[start..].iter().position(|&b| b == b'"' || b == b'\\')?;
        if data[start + len] != b'"' {
            return None;
        }
        *i = start + len + 1;
        Some(&data[start..start + len])
    };
    skip_ws(&mut i);
    if data.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        skip_ws(&mut i);
        let k = key(&mut i)?;
        if k != b"cid" {
            return Some(k);
        }
        skip_ws(&mut i);
        if data.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        skip_ws(&mut i);
        if data.get(i) == Some(&b'"') {
            key(&mut i)?;
        } else {
            while data.get(i).is_some_and(|b| !matches!(b, b',' | b'}')) {
                i += 1;
            }
        }
        skip_ws(&mut i);
        if data.get(i) != Some(&b',') {
            return None;
        }
        i += 1;
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataEnvelope<'a> {
    #[serde(default)]
    cid: Option<String>,
    #[serde(default, borrow, alias = "matchDataSend")]
    match_data_send: Option<DataPayload<'a>>,
    #[serde(default, borrow, alias = "partyDataSend")]
    party_data_send: Option<DataPayload<'a>>,
}

#[cfg(test)]
mod tests {
    use super::kind_of;

    #[test]
    fn the_kind_is_the_first_key_but_the_cid() {
        assert_eq!(kind_of(br#" { "cid" : "7" , "rpc" : {}}"#), Some(&b"rpc"[..]));
        assert_eq!(kind_of(br#"{"cid":12,"match_data_send":{"data":"rpc"}}"#), Some(&b"match_data_send"[..]));
        assert_eq!(kind_of(br#"{"matchDataSend":{}}"#), Some(&b"matchDataSend"[..]));
        assert_eq!(kind_of(br#"{"cid":"a\"b","rpc":{}}"#), None, "an escaped cid is left to the tree");
        assert_eq!(kind_of(b"not json"), None);
        assert_eq!(kind_of(b""), None);
    }
}
