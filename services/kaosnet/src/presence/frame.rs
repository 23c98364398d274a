//! What a session receives, in the wire format it chose at connect: JSON text frames
//! (`format=json`, the default) or binary protobuf frames (`format=protobuf`, Nakama's
//! `Envelope`). A message for many sessions is encoded at most once per format.

use std::sync::OnceLock;

use serde_json::Value;

use crate::protobuf;

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

/// One envelope for one or many sessions: its JSON text, and its protobuf encoding once a
/// protobuf session needs it.
#[derive(Debug)]
pub struct Frame {
    json: String,
    protobuf: OnceLock<Option<Vec<u8>>>,
}

impl Frame {
    /// An envelope already written as JSON text (without unpopulated fields).
    pub fn from_json(json: String) -> Frame {
        Frame { json, protobuf: OnceLock::new() }
    }

    /// An envelope as a JSON value.
    pub fn from_value(envelope: &Value) -> Frame {
        Frame::from_json(crate::protojson::to_text(envelope))
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The protobuf encoding; None for a message Nakama's schema cannot carry (a bug,
    /// logged once per message: the session misses it rather than getting garbage).
    pub fn protobuf(&self) -> Option<&[u8]> {
        self.protobuf
            .get_or_init(|| match protobuf::encode_json(&self.json) {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    tracing::error!("an envelope does not fit the protobuf schema: {e}: {}", self.json);
                    None
                }
            })
            .as_deref()
    }

    /// The bytes for `format`.
    pub fn bytes(&self, format: Format) -> Option<&[u8]> {
        match format {
            Format::Json => Some(self.json.as_bytes()),
            Format::Protobuf => self.protobuf(),
        }
    }
}
