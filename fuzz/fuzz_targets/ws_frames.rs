//! WebSocket frames from a hostile peer, to a server session (with and without
//! permessage-deflate: compressed messages, bombs) and to a client session: bounded
//! queues and messages, a clean end, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, bool, u8, &[u8])| {
    let (server, deflate, budget, data) = input;
    kaos_ws::fuzzing::frames(data, server, budget as usize, deflate);
});
