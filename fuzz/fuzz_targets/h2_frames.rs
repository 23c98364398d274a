//! HTTP/2 frames from a client: any bytes after the preface, split at any point, give
//! requests, stream resets or a GOAWAY, within the session's limits, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, &[u8])| {
    let (split, data) = input;
    kaos_http::fuzzing::h2_session(data, usize::from(split));
});
