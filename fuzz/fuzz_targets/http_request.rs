//! HTTP/1.1 request framing: any bytes, whole or split at any point, give the same
//! requests or a 400/413/431/501, within the limits, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &[u8])| {
    let (split, data) = input;
    kaos_http::fuzzing::request_stream(data, split as usize);
});
