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
            session_id: self.id.text(),
            username: self.username.clone(),
            ..Default::default()
        }
    }
}

/// What a message handler answers.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The reply, typed: the request's cid and this message.
    Reply(crate::protobuf::realtime::envelope::Message),
    /// The reply, then an event for the caller alone: the presence event of its own join,
    /// which Nakama sends the joiner after the answer.
    ReplyThen(crate::protobuf::realtime::envelope::Message, Option<Box<crate::protobuf::realtime::envelope::Message>>),
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

    /// A kind the handler does not serve.
    pub fn unrecognized() -> Failure {
        Failure::new(SocketError::UnrecognizedPayload, "Unrecognized message")
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
/// lowerCamelCase names; fields it does not know are skipped. Strings are borrowed from
/// the frame where they need no unescaping.
#[derive(serde::Deserialize)]
pub(crate) struct DataPayload<'a> {
    #[serde(default, borrow, alias = "match_id", alias = "matchId", alias = "party_id", alias = "partyId")]
    to: Option<std::borrow::Cow<'a, str>>,
    /// An int64, a string in JSON (a number is taken too).
    #[serde(alias = "opCode")]
    op_code: OpCode,
    #[serde(default, borrow)]
    data: Option<std::borrow::Cow<'a, str>>,
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

/// An int64 as JSON carries it (a string, or a number; null is 0), or that it was not one:
/// the payload still reads, and the message is refused with the reason.
struct OpCode(Option<i64>);

impl<'de> serde::Deserialize<'de> for OpCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<OpCode, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = OpCode;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an int64")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<OpCode, E> {
                Ok(OpCode(s.parse().ok()))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<OpCode, E> {
                Ok(OpCode(Some(n)))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<OpCode, E> {
                Ok(OpCode(i64::try_from(n).ok()))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<OpCode, E> {
                Ok(OpCode(None))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<OpCode, E> {
                Ok(OpCode(None))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<OpCode, E> {
                Ok(OpCode(Some(0)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<OpCode, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(OpCode(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<OpCode, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(OpCode(None))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Game data is base64 in JSON. The SIMD decoder (the `base64` crate took a sixth of a
/// game message's path) reads exactly what the `base64` crate's standard engine does: see
/// the test below.
impl<'a> DataPayload<'a> {
    /// A payload read from a frame without serde (borrowed strings, no named presences).
    pub fn borrowed(to: Option<&'a str>, op_code: Option<i64>, data: Option<&'a str>, reliable: Option<bool>) -> Self {
        use std::borrow::Cow::Borrowed;
        DataPayload {
            to: to.map(Borrowed),
            op_code: OpCode(op_code),
            data: data.map(Borrowed),
            presences: Vec::new(),
            reliable,
        }
    }

    /// The data message, checked; `id` names the target field for the error.
    pub fn into_send(self, id: &str) -> Result<DataSend, Failure> {
        let Some(to) = self.to else {
            return Err(Failure::bad_input(format!("Invalid payload: missing field `{id}`")));
        };
        let op_code = self.op_code.0.ok_or_else(|| Failure::bad_input("op_code must be an int64"))?;
        let data = base64_simd::STANDARD
            .decode_to_vec(self.data.unwrap_or_default().as_bytes())
            .map_err(|_| Failure::bad_input("data must be base64"))?;
        let presences = self.presences.into_iter().map(|p| p.session_id).collect();
        Ok(DataSend { to: to.into_owned(), op_code, data, presences, reliable: self.reliable })
    }
}

impl DataSend {
    /// A JSON payload (proto names) as a data message; `id` names its target field.
    pub fn from_payload(payload: &Value, id: &str) -> Result<DataSend, Failure> {
        let p = <DataPayload<'_> as serde::Deserialize>::deserialize(payload)
            .map_err(|e| Failure::bad_input(format!("Invalid payload: {e}")))?;
        p.into_send(id)
    }
}

impl From<crate::protobuf::realtime::MatchDataSend> for DataSend {
    fn from(m: crate::protobuf::realtime::MatchDataSend) -> DataSend {
        let presences = m.presences.into_iter().map(|p| p.session_id).collect();
        let reliable = m.reliable.then_some(true);
        DataSend { to: m.match_id, op_code: m.op_code, data: m.data, presences, reliable }
    }
}

impl From<crate::protobuf::realtime::PartyDataSend> for DataSend {
    fn from(m: crate::protobuf::realtime::PartyDataSend) -> DataSend {
        DataSend { to: m.party_id, op_code: m.op_code, data: m.data, ..DataSend::default() }
    }
}

#[cfg(test)]
mod tests {
    /// Every string of up to six characters from an alphabet with the edge cases (padding,
    /// trailing bits, the URL-safe and space characters), and long ones with each of those
    /// anywhere: both decoders agree.
    #[test]
    fn the_simd_base64_decoder_reads_what_the_base64_crate_reads() {
        use base64::Engine;
        let alphabet = [b'A', b'B', b'Q', b'w', b'=', b'-', b' ', b'/'];
        let mut text = Vec::new();
        for len in 0..=6u32 {
            for n in 0..alphabet.len().pow(len) {
                text.clear();
                let mut k = n;
                for _ in 0..len {
                    text.push(alphabet[k % alphabet.len()]);
                    k /= alphabet.len();
                }
                same(&text);
            }
        }
        // Longer text goes through both decoders' word and vector loops: the encodings of
        // 0 to 99 bytes, each character in turn replaced by each of the alphabet.
        for len in 0..100u8 {
            let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37) ^ len).collect();
            let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes).into_bytes();
            same(&encoded);
            for at in 0..encoded.len() {
                for &c in &alphabet {
                    let mut text = encoded.clone();
                    text[at] = c;
                    same(&text);
                }
            }
        }
    }

    fn same(text: &[u8]) {
        use base64::Engine;
        let simd = base64_simd::STANDARD.decode_to_vec(text).ok();
        let reference = base64::engine::general_purpose::STANDARD.decode(text).ok();
        assert_eq!(simd, reference, "{:?}", String::from_utf8_lossy(text));
    }
}
