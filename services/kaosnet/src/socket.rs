//! The contract between the realtime socket and the services that handle its messages:
//! the session a message comes from, what a handler answers (a reply, an event for the
//! caller, an acknowledgement, nothing, or a refusal with Nakama's socket error codes) and
//! how a payload becomes a request type. It sits below both, so the services never import
//! the socket code.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::presence::{Format, SessionId};

/// Socket error codes (Nakama's `Error.Code` in the realtime API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketError {
    RuntimeException = 0,
    UnrecognizedPayload = 1,
    MissingPayload = 2,
    BadInput = 3,
    MatchNotFound = 4,
    MatchJoinRejected = 5,
    RuntimeFunctionNotFound = 6,
    RuntimeFunctionException = 7,
}

/// One connected session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSession {
    pub id: SessionId,
    pub user_id: String,
    pub username: String,
    pub vars: BTreeMap<String, String>,
    /// Whether the socket asked to appear online to followers (`status=true`).
    pub status: bool,
    /// The wire format the socket chose at connect.
    pub format: Format,
}

impl SocketSession {
    /// The session as its presence on a stream appears in events.
    pub fn presence(&self) -> crate::protobuf::realtime::UserPresence {
        crate::protobuf::realtime::UserPresence {
            user_id: self.user_id.clone(),
            session_id: self.id.to_string(),
            username: self.username.clone(),
            ..Default::default()
        }
    }
}

/// What a message handler answers.
#[derive(Debug)]
pub(crate) enum Answer {
    /// `{"cid": …, "<kind>": body}`.
    Reply(&'static str, Value),
    /// The reply, then an event for the caller alone: the presence event of its own join,
    /// which Nakama sends the joiner after the answer.
    ReplyThen(&'static str, Value, Option<Value>),
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

/// A data message for the others in a match or a party (`match_data_send`,
/// `party_data_send`), typed: what both wire formats carry, read straight from the frame
/// on the socket thread's fast path, or from a JSON payload.
#[derive(Debug, Default)]
pub(crate) struct DataSend {
    /// The match or party id.
    pub to: String,
    pub op_code: i64,
    pub data: Vec<u8>,
    /// The session ids (in their UUID form) to send to; none means every other member.
    pub presences: Vec<String>,
    pub reliable: Option<bool>,
}

/// The payload of `match_data_send` and `party_data_send` in JSON, in proto or
/// lowerCamelCase names; fields it does not know are skipped.
#[derive(serde::Deserialize)]
pub(crate) struct DataPayload {
    #[serde(default, alias = "match_id", alias = "matchId", alias = "party_id", alias = "partyId")]
    to: Option<String>,
    /// An int64, a string in JSON (a number is taken too).
    #[serde(alias = "opCode")]
    op_code: Value,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    presences: Vec<PresenceRef>,
    #[serde(default)]
    reliable: Option<bool>,
}

/// A presence a client names (it sends the whole presence; the session is what counts).
#[derive(serde::Deserialize)]
struct PresenceRef {
    #[serde(alias = "sessionId")]
    session_id: String,
}

impl DataPayload {
    /// The data message, checked; `id` names the target field for the error.
    pub fn into_send(self, id: &str) -> Result<DataSend, Failure> {
        let Some(to) = self.to else {
            return Err(Failure::bad_input(format!("Invalid payload: missing field `{id}`")));
        };
        let op_code = int64(&self.op_code)?;
        let data = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, self.data.unwrap_or_default())
            .map_err(|_| Failure::bad_input("data must be base64"))?;
        let presences = self.presences.into_iter().map(|p| p.session_id).collect();
        Ok(DataSend { to, op_code, data, presences, reliable: self.reliable })
    }
}

impl DataSend {
    /// A JSON payload (proto names) as a data message; `id` names its target field.
    pub fn from_payload(payload: &Value, id: &str) -> Result<DataSend, Failure> {
        parse::<DataPayload>(payload)?.into_send(id)
    }
}

/// Reads an int64 sent as a string (or a number).
pub(crate) fn int64(v: &Value) -> Result<i64, Failure> {
    match v {
        Value::String(s) => s.parse().map_err(|_| Failure::bad_input("op_code must be an int64")),
        Value::Number(n) => n.as_i64().ok_or_else(|| Failure::bad_input("op_code must be an int64")),
        Value::Null => Ok(0),
        _ => Err(Failure::bad_input("op_code must be an int64")),
    }
}

/// A message's payload as `T` (already in proto names); fields `T` does not know are
/// ignored, as protojson does; wrong types are bad input.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(payload: &Value) -> Result<T, Failure> {
    T::deserialize(payload).map_err(|e| Failure::bad_input(format!("Invalid payload: {e}")))
}
