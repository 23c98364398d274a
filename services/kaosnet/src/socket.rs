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

/// A message's payload as `T` (already in proto names); fields `T` does not know are
/// ignored, as protojson does; wrong types are bad input.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(payload: &Value) -> Result<T, Failure> {
    T::deserialize(payload).map_err(|e| Failure::bad_input(format!("Invalid payload: {e}")))
}
