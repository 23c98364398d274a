//! Protobuf envelopes from any bytes, as a `format=protobuf` socket receives them: a frame
//! either fails to decode (the session gets an error) or becomes the JSON envelope it
//! stands for, and that JSON encodes back to a frame that decodes to the same envelope.
#![no_main]

use kaosnet::realtime::protobuf::{decode_to_json, encode_json, realtime::Envelope};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = decode_to_json(data) else { return };
    let json = String::from_utf8(json).expect("JSON is UTF-8");
    let again = encode_json(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(Envelope::decode(&again[..]).unwrap(), Envelope::decode(data).unwrap(), "{json}");
});
