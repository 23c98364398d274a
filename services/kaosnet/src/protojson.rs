//! The JSON conventions of Nakama's gateway (protojson), applied to every REST body and
//! socket message in one place:
//! - in: each field may be spelled with its proto name (`object_ids`) or its lowerCamelCase
//!   JSON name (`objectIds`); [`normalize`] turns the second into the first before any
//!   request type sees it, and request types ignore fields they do not know.
//! - out: unpopulated fields are left out (`""`, `[]`, `null`), as protojson does without
//!   `EmitUnpopulated`; [`Populated`] writes a value that way, [`to_text`] to a string.
//!   Numbers and booleans stay: several of Nakama's are wrapper types, sent even when 0
//!   or false (a friend's `state` 0, a group's `open` false).

use std::borrow::Cow;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// Map fields: their keys are the caller's own (`vars`, matchmaker properties, a match
/// join's `metadata`) and are never renamed.
const MAP_FIELDS: &[&str] = &["vars", "string_properties", "numeric_properties", "metadata"];

/// `name` in snake case (`objectIds` -> `object_ids`); names already in snake case come
/// back borrowed.
pub fn snake_case(name: &str) -> Cow<'_, str> {
    if !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Renames every lowerCamelCase field of `value` (at any depth, but not inside map fields)
/// to its proto name. A field given under both names is an error, as in protojson.
pub fn normalize(value: &mut Value) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            if map.keys().any(|k| k.bytes().any(|b| b.is_ascii_uppercase())) {
                let mut renamed = Map::with_capacity(map.len());
                for (k, v) in std::mem::take(map) {
                    let k = snake_case(&k).into_owned();
                    if renamed.contains_key(&k) {
                        return Err(format!("field {k} is given twice"));
                    }
                    renamed.insert(k, v);
                }
                *map = renamed;
            }
            for (k, v) in map.iter_mut() {
                if !MAP_FIELDS.contains(&k.as_str()) {
                    normalize(v)?;
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                normalize(v)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Parses a request body or socket message: JSON, normalized.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let mut v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    normalize(&mut v)?;
    Ok(v)
}

/// Whether protojson would leave this field out.
pub(crate) fn unpopulated(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Serializes the value it wraps without unpopulated object fields, at any depth.
#[derive(Debug, Clone, Copy)]
pub struct Populated<'a>(pub &'a Value);

impl Serialize for Populated<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut m = s.serialize_map(None)?;
                for (k, v) in map.iter().filter(|(_, v)| !unpopulated(v)) {
                    m.serialize_entry(k, &Populated(v))?;
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&Populated(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// `value` as JSON text, without unpopulated fields.
pub fn to_text(value: &Value) -> String {
    // A `Value` always serializes: its keys are strings.
    serde_json::to_string(&Populated(value)).unwrap_or_default()
}

/// Whether `bytes` go into a JSON string as they are: no quote, backslash or control
/// character. Eight bytes at a time (the socket's hot path checks every id and name).
pub(crate) fn is_plain(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Exact per word: some byte is below `n` (n <= 128), some byte is zero.
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH != 0;
    let special =
        |w: u64| below(w, 0x20) || below(w ^ (ONES * u64::from(b'"')), 1) || below(w ^ (ONES * u64::from(b'\\')), 1);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        // Always eight bytes; were it not, "not plain" is the safe answer.
        if <[u8; 8]>::try_from(word).map_or(true, |w| special(u64::from_le_bytes(w))) {
            return false;
        }
    }
    words.remainder().iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn camel_case_fields_take_their_proto_names_but_map_keys_stay() {
        let mut v = json!({
            "objectIds": [{"collection": "c", "userId": "u"}],
            "permission_read": 2,
            "stringProperties": {"myRegion": "eu"},
            "vars": {"clientVersion": "1"},
            "matchJoin": {"matchId": "m", "metadata": {"teamColour": "red"}},
        });
        normalize(&mut v).unwrap();
        assert_eq!(
            v,
            json!({
                "object_ids": [{"collection": "c", "user_id": "u"}],
                "permission_read": 2,
                "string_properties": {"myRegion": "eu"},
                "vars": {"clientVersion": "1"},
                "match_join": {"match_id": "m", "metadata": {"teamColour": "red"}},
            })
        );
        assert!(normalize(&mut json!({"userId": "a", "user_id": "b"})).is_err());
    }

    #[test]
    fn unpopulated_fields_are_left_out_at_any_depth() {
        let v = json!({
            "user": {"id": "u", "lang_tag": "en", "avatar_url": "", "online": false, "edge_count": 0},
            "devices": [],
            "email": null,
            "list": [{"a": ""}, ""],
            "pong": {},
        });
        let back: Value = serde_json::from_str(&to_text(&v)).unwrap();
        assert_eq!(
            back,
            json!({
                "user": {"id": "u", "lang_tag": "en", "online": false, "edge_count": 0},
                "list": [{}, ""],
                "pong": {},
            })
        );
    }

    #[test]
    fn plain_bytes_are_found_at_every_place_in_a_word() {
        for len in 0..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    let expected = b >= 0x20 && b != b'"' && b != b'\\';
                    assert_eq!(is_plain(&bytes), expected, "{b} at {at} of {len}");
                }
            }
        }
    }
}
