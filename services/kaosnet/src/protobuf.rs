//! Nakama's realtime protocol in protobuf: the `Envelope` and every message it carries,
//! generated at build time from `proto/nakama/*.proto` (our schema, field for field
//! Nakama's: names, numbers, wrapper types) by prost for the binary encoding and pbjson
//! for the JSON mapping of the same types (proto names out, proto or lowerCamelCase names
//! in, unknown fields ignored, int64 as strings).
//!
//! The services speak JSON envelopes; a protobuf session's frames are turned into the
//! JSON they stand for as they arrive, and its answers into protobuf as they leave.

use prost::Message;

/// `nakama.api`: the API messages the realtime protocol carries.
#[allow(clippy::all, clippy::pedantic, missing_docs, missing_debug_implementations, rust_2018_idioms)]
pub mod api {
    include!(concat!(env!("OUT_DIR"), "/nakama.api.rs"));
    include!(concat!(env!("OUT_DIR"), "/nakama.api.serde.rs"));
}

/// `nakama.realtime`: the envelope and the realtime messages.
#[allow(clippy::all, clippy::pedantic, missing_docs, missing_debug_implementations, rust_2018_idioms)]
pub mod realtime {
    include!(concat!(env!("OUT_DIR"), "/nakama.realtime.rs"));
    include!(concat!(env!("OUT_DIR"), "/nakama.realtime.serde.rs"));
}

use realtime::Envelope;

/// A binary frame as the JSON envelope it stands for.
pub fn decode_to_json(frame: &[u8]) -> Result<Vec<u8>, String> {
    let envelope = Envelope::decode(frame).map_err(|e| e.to_string())?;
    Ok(to_json(&envelope).into_bytes())
}

/// An envelope as protojson writes it (the rules of [`crate::protojson`]: empty strings,
/// lists and unset wrappers left out, numbers and booleans kept).
pub fn to_json(envelope: &Envelope) -> String {
    crate::protojson::to_text(&to_value(envelope))
}

/// An envelope as a JSON value, every field in it (the generated mapping writes them all;
/// [`crate::protojson::to_text`] leaves out the unpopulated ones).
pub fn to_value(envelope: &Envelope) -> serde_json::Value {
    // Generated serializers of plain fields and maps with string keys: no failure.
    serde_json::to_value(envelope).unwrap_or_default()
}

/// A JSON envelope as a binary frame.
pub fn encode_json(json: &str) -> Result<Vec<u8>, String> {
    let envelope: Envelope = serde_json::from_str(json).map_err(|e| e.to_string())?;
    Ok(envelope.encode_to_vec())
}
