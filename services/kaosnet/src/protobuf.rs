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

/// A binary frame as the JSON envelope it stands for, every field written (a oneof's
/// member stays set even when its value is empty, so the JSON encodes back to the same
/// frame).
pub fn decode_to_json(frame: &[u8]) -> Result<Vec<u8>, String> {
    let envelope = Envelope::decode(frame).map_err(|e| e.to_string())?;
    serde_json::to_vec(&envelope).map_err(|e| e.to_string())
}

/// An envelope as protojson writes it: empty strings and lists, unset wrappers and empty
/// maps left out, numbers and booleans kept (the rules of every message this server
/// writes, see [`crate::protojson`]), and UTC times ending in `Z`. A oneof member set to
/// an empty value is left out too (none of the messages the server writes has one).
pub fn to_json(envelope: &Envelope) -> String {
    let mut v = to_value(envelope);
    prune(&mut v, 0);
    v.to_string()
}

/// An envelope as a JSON value, every field in it (the generated mapping writes them all).
pub fn to_value(envelope: &Envelope) -> serde_json::Value {
    // Generated serializers of plain fields and maps with string keys: no failure.
    serde_json::to_value(envelope).unwrap_or_default()
}

/// A message (not an envelope) as JSON by the same rules, for the REST API where it
/// carries the same messages (a channel's history, a user's notifications).
pub fn message_value<T: serde::Serialize>(message: &T) -> serde_json::Value {
    let mut v = serde_json::to_value(message).unwrap_or_default();
    prune(&mut v, 1);
    v
}

/// Leaves out the unpopulated fields of an object at `depth` (0: the envelope, whose
/// message is kept even when empty, as `{"pong": {}}`), and below.
fn prune(v: &mut serde_json::Value, depth: usize) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            map.retain(|key, field| {
                prune(field, depth + 1);
                if key.ends_with("_time") {
                    // The generated mapping writes UTC as `+00:00`; protojson, as `Z`.
                    if let Some(utc) = field.as_str().and_then(|t| t.strip_suffix("+00:00")) {
                        *field = Value::String(format!("{utc}Z"));
                    }
                }
                // protojson's rule, and empty maps below the envelope's message.
                let empty_map = depth > 0 && field.as_object().is_some_and(serde_json::Map::is_empty);
                !(crate::protojson::unpopulated(field) || empty_map)
            });
        }
        Value::Array(items) => items.iter_mut().for_each(|item| prune(item, depth + 1)),
        _ => {}
    }
}

/// A JSON envelope as a binary frame.
pub fn encode_json(json: &str) -> Result<Vec<u8>, String> {
    let envelope: Envelope = serde_json::from_str(json).map_err(|e| e.to_string())?;
    Ok(envelope.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use crate::protobuf::realtime::{envelope::Message, Envelope, Match, Pong, UserPresence};

    fn json(message: Message, cid: &str) -> serde_json::Value {
        serde_json::from_str(&super::to_json(&Envelope { cid: cid.into(), message: Some(message) })).unwrap()
    }

    #[test]
    fn typed_messages_are_written_by_protojson_rules() {
        assert_eq!(json(Message::Pong(Pong {}), "1"), serde_json::json!({"cid": "1", "pong": {}}));
        let m = Match {
            match_id: "m.".into(),
            size: 0,
            self_: Some(UserPresence { user_id: "u".into(), ..Default::default() }),
            ..Default::default()
        };
        assert_eq!(
            json(Message::Match(m), ""),
            serde_json::json!({"match": {
                "match_id": "m.", "authoritative": false, "size": 0,
                "self": {"user_id": "u", "persistence": false},
            }}),
            "false and 0 stay; empty strings, lists, unset wrappers and the cid go"
        );
        let ack = crate::protobuf::realtime::ChannelMessageAck {
            create_time: Some(pbjson_types::Timestamp { seconds: 0, nanos: 0 }),
            ..Default::default()
        };
        assert_eq!(
            json(Message::ChannelMessageAck(ack), "2"),
            serde_json::json!({"cid": "2", "channel_message_ack": {"create_time": "1970-01-01T00:00:00Z"}})
        );
        let e = crate::protobuf::realtime::Error { code: 3, message: "no".into(), ..Default::default() };
        assert_eq!(json(Message::Error(e), ""), serde_json::json!({"error": {"code": 3, "message": "no"}}), "no {{}}");
    }
}
