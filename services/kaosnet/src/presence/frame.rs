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
}

impl Frame {
    /// An envelope already written as JSON text (without unpopulated fields).
    pub fn from_json(json: String) -> Frame {
        Frame { json: OnceLock::from(json), protobuf: OnceLock::new(), typed: None }
    }

    /// An envelope of one message, typed: its JSON and protobuf are written from it.
    pub fn from_message(message: Message) -> Frame {
        let envelope = Envelope { cid: String::new(), message: Some(message) };
        Frame { json: OnceLock::new(), protobuf: OnceLock::new(), typed: Some(envelope) }
    }

    /// An envelope as a JSON value.
    pub fn from_value(envelope: &Value) -> Frame {
        Frame::from_json(crate::protojson::to_text(envelope))
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        self.json.get_or_init(|| match &self.typed {
            Some(envelope) => json_of(envelope),
            None => String::new(),
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
        // Generated serializers of plain fields and maps with string keys: no failure.
        _ => serde_json::to_string(envelope).unwrap_or_default(),
    }
}

/// `{"<kind>":{"<id>":…,"presence":…,"op_code":"…","data":"<base64>","reliable":true}}`,
/// empty data and a false `reliable` left out.
fn data_json(
    (kind, id_field): (&str, &str),
    id: &str,
    presence: Option<&crate::protobuf::realtime::UserPresence>,
    op_code: i64,
    data: &[u8],
    reliable: bool,
) -> String {
    use base64::Engine;
    use std::fmt::Write;
    let mut out = String::with_capacity(160 + id.len() + data.len() * 4 / 3);
    // Ids and names come from clients: serde_json escapes them.
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let _ = write!(out, r#"{{"{kind}":{{"{id_field}":{}"#, quoted(id));
    if let Some(p) = presence {
        out.push_str(r#","presence":"#);
        out.push_str(&serde_json::to_string(p).unwrap_or_default());
    }
    let _ = write!(out, r#","op_code":"{op_code}""#);
    if !data.is_empty() {
        out.push_str(r#","data":""#);
        base64::engine::general_purpose::STANDARD.encode_string(data, &mut out);
        out.push('"');
    }
    if reliable {
        out.push_str(r#","reliable":true"#);
    }
    out.push_str("}}");
    out
}
