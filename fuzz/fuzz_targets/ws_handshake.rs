//! WebSocket opening handshake: upgrade requests and 101 responses from any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kaos_ws::fuzzing::handshake(data);
});
