//! What a session receives, in the wire format it chose at connect: JSON text frames
//! (`format=json`, the default) or binary protobuf frames (`format=protobuf`, Nakama's
//! `Envelope`). A message for many sessions is encoded at most once per format.

use std::sync::OnceLock;

use serde_json::Value;

use crate::protobuf;
use crate::protobuf::realtime::{envelope::Message, Envelope};
use prost::Message as _;

/// A session's wire format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// JSON envelopes in text frames.
    #[default]
    Json,
    /// Protobuf envelopes in binary frames.
    Protobuf,
}

impl Format {
    /// The format a client names at connect (`json`, `protobuf`; none means JSON).
    pub fn parse(name: Option<&str>) -> Option<Format> {
        match name {
            None | Some("") | Some("json") => Some(Format::Json),
            Some("protobuf") => Some(Format::Protobuf),
            Some(_) => None,
        }
    }
}

/// One envelope for one or many sessions: its JSON text and its protobuf encoding, each
/// made once, when a session of that format first needs it.
#[derive(Debug)]
pub struct Frame {
    json: OnceLock<String>,
    protobuf: OnceLock<Option<Vec<u8>>>,
    /// The envelope, when it was built typed (no JSON tree on the way).
    typed: Option<Envelope>,
    /// A reply's cid as the client sent it, when that was not a string: JSON echoes it as
    /// it came (protobuf carries its text).
    raw_cid: Option<Value>,
}

impl Frame {
    /// Whether this is an error reply (one built typed; the socket's own errors are).
    pub(crate) fn is_error(&self) -> bool {
        matches!(&self.typed, Some(Envelope { message: Some(Message::Error(_)), .. }))
    }
}

impl From<Message> for Frame {
    fn from(message: Message) -> Frame {
        Frame::from_message(message)
    }
}

impl Frame {
    /// An envelope already written as JSON text (without unpopulated fields).
    pub fn from_json(json: String) -> Frame {
        Frame { json: OnceLock::from(json), protobuf: OnceLock::new(), typed: None, raw_cid: None }
    }

    /// An envelope of one message, typed: its JSON and protobuf are written from it.
    pub fn from_message(message: Message) -> Frame {
        let envelope = Envelope { cid: String::new(), message: Some(message) };
        Frame { json: OnceLock::new(), protobuf: OnceLock::new(), typed: Some(envelope), raw_cid: None }
    }

    /// The answer to a request with `cid`: `message`, or with none the bare `{"cid": …}`
    /// that says the request is done.
    pub fn reply(cid: Option<&Value>, message: Option<Message>) -> Frame {
        let (cid, raw_cid) = match cid {
            None => (String::new(), None),
            Some(Value::String(s)) => (s.clone(), None),
            Some(other) => (other.to_string(), Some(other.clone())),
        };
        let envelope = Envelope { cid, message };
        Frame { json: OnceLock::new(), protobuf: OnceLock::new(), typed: Some(envelope), raw_cid }
    }

    /// An envelope as a JSON value.
    pub fn from_value(envelope: &Value) -> Frame {
        Frame::from_json(crate::protojson::to_text(envelope))
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        self.json.get_or_init(|| match (&self.typed, &self.raw_cid) {
            (Some(envelope), None) => json_of(envelope),
            (Some(envelope), Some(cid)) => {
                let mut v: Value = serde_json::from_str(&json_of(envelope)).unwrap_or_default();
                v["cid"] = cid.clone();
                v.to_string()
            }
            (None, _) => String::new(),
        })
    }

    /// The protobuf encoding; None for a message Nakama's schema cannot carry (a bug,
    /// logged once per message: the session misses it rather than getting garbage).
    pub fn protobuf(&self) -> Option<&[u8]> {
        self.protobuf
            .get_or_init(|| {
                if let Some(envelope) = &self.typed {
                    return Some(envelope.encode_to_vec());
                }
                match protobuf::encode_json(self.json()) {
                    Ok(bytes) => Some(bytes),
                    Err(e) => {
                        tracing::error!("an envelope does not fit the protobuf schema: {e}: {}", self.json());
                        None
                    }
                }
            })
            .as_deref()
    }

    /// The bytes for `format`.
    pub fn bytes(&self, format: Format) -> Option<&[u8]> {
        match format {
            Format::Json => Some(self.json().as_bytes()),
            Format::Protobuf => self.protobuf(),
        }
    }
}

/// An envelope built typed, as JSON text. The data events are written here: the
/// generated mapping leaves out an `op_code` of 0 as unpopulated, and Nakama's clients
/// read it as a number whatever it is.
fn json_of(envelope: &Envelope) -> String {
    match &envelope.message {
        Some(Message::MatchData(m)) => {
            data_json(("match_data", "match_id"), &m.match_id, m.presence.as_ref(), m.op_code, &m.data, m.reliable)
        }
        Some(Message::PartyData(m)) => {
            data_json(("party_data", "party_id"), &m.party_id, m.presence.as_ref(), m.op_code, &m.data, false)
        }
        _ => protobuf::to_json(envelope),
    }
}

/// `{"<kind>":{"<id>":…,"presence":…,"op_code":"…","data":"<base64>","reliable":true}}`,
/// empty data and a false `reliable` left out; written straight into one string.
fn data_json(
    (kind, id_field): (&str, &str),
    id: &str,
    presence: Option<&crate::protobuf::realtime::UserPresence>,
    op_code: i64,
    data: &[u8],
    reliable: bool,
) -> String {
    let mut out = String::with_capacity(192 + id.len() + data.len() * 4 / 3);
    for piece in ["{\"", kind, "\":{\"", id_field, "\":"] {
        out.push_str(piece);
    }
    quote(&mut out, id);
    if let Some(p) = presence {
        out.push_str(r#","presence":{"user_id":"#);
        quote(&mut out, &p.user_id);
        out.push_str(r#","session_id":"#);
        quote(&mut out, &p.session_id);
        out.push_str(r#","username":"#);
        quote(&mut out, &p.username);
        if p.persistence {
            out.push_str(r#","persistence":true"#);
        }
        if let Some(status) = &p.status {
            out.push_str(r#","status":"#);
            quote(&mut out, &status.value);
        }
        out.push('}');
    }
    out.push_str(r#","op_code":""#);
    out.push_str(itoa::Buffer::new().format(op_code));
    out.push('"');
    if !data.is_empty() {
        out.push_str(r#","data":""#);
        base64_simd::STANDARD.encode_append(data, &mut out);
        out.push('"');
    }
    if reliable {
        out.push_str(r#","reliable":true"#);
    }
    out.push_str("}}");
    out
}

/// `s` as a JSON string. Ids and names come from clients: one needing escapes is written
/// by serde_json; the others, most, are copied as they are.
fn quote(out: &mut String, s: &str) {
    if crate::protojson::is_plain(s.as_bytes()) {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else if let Ok(quoted) = serde_json::to_string(s) {
        out.push_str(&quoted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protobuf::realtime::{MatchData, UserPresence};

    #[test]
    fn data_events_written_by_hand_escape_names_and_read_back_as_the_typed_event() {
        let presence = UserPresence {
            user_id: "u\"1".into(),
            session_id: "s\\1".into(),
            username: "ann\u{1}\u{e9}\u{1f600}".into(),
            persistence: true,
            status: Some(pbjson_types::StringValue { value: "away \"now\"".into() }),
        };
        for (op_code, data, reliable) in
            [(0, vec![], false), (-7, vec![0, 1, 255, 3], true), (i64::MAX, vec![9; 100], false)]
        {
            let event =
                MatchData { match_id: "m\"x".into(), presence: Some(presence.clone()), op_code, data, reliable };
            let frame = Frame::from_message(Message::MatchData(event.clone()));
            let json: serde_json::Value = serde_json::from_str(frame.json()).unwrap();
            assert_eq!(json["match_data"]["op_code"], op_code.to_string(), "op_code is always written");
            let read: Envelope = serde_json::from_str(frame.json()).unwrap();
            assert_eq!(read.message, Some(Message::MatchData(event)), "{}", frame.json());
            assert_eq!(Envelope::decode(frame.protobuf().unwrap()).unwrap(), read);
        }
    }
}
