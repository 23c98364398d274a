//! Any bytes as a JSON realtime frame, through the socket thread's fast game-data reader
//! and through serde's: wherever the fast reader takes a frame, serde reads the same
//! message, cid and payload from it (the fast reader only ever saves time).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let agree = kaosnet::realtime::fuzzing::data_readers_agree(data);
    assert!(agree, "the readers differ on {:?}", String::from_utf8_lossy(data));
});
