//! Arbitrary fragments into the reassembler: no panic, bounded sets, and every completed
//! message is exactly the concatenation of its fragments.
#![no_main]

use arbitrary::Arbitrary;
use kaos_core::fragment::Reassembler;
use kaos_core::time::{Duration, Instant};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Frag {
    dt_ms: u8,
    channel: u8,
    id: u8,
    index: u8,
    count: u8,
    len: u8,
}

const FP: usize = 16;
const SET: usize = 16 * 70;

fuzz_target!(|frags: Vec<Frag>| {
    let mut r = Reassembler::new(3, SET, FP);
    let mut buf = vec![0u8; 3 * SET];
    let mut now = Instant::ZERO;
    for f in frags.iter().take(2_000) {
        now += Duration::from_millis(f.dt_ms as u64);
        r.expire(now, Duration::from_millis(500));
        // Fragment i of message (channel, id) is filled with a byte derived from (id, i),
        // so a completed message can be checked.
        let data = vec![f.id ^ f.index.wrapping_mul(7); f.len as usize % (FP + 2)];
        if let Ok(Some((set, len))) = r.insert(now, &mut buf, f.channel % 2, f.id as u16, f.index, f.count, &data) {
            let msg = r.message(&buf, set, len);
            assert!(len <= SET);
            for (i, chunk) in msg.chunks(FP).enumerate() {
                let want = f.id ^ (i as u8).wrapping_mul(7);
                assert!(chunk.iter().all(|&b| b == want), "fragment {i} corrupted");
            }
            r.free(set);
        }
        assert!(r.in_use() <= 3);
    }
});
