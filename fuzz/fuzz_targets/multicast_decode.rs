//! The multicast packet decoder over arbitrary bytes: typed errors, never a panic;
//! whatever decodes encodes back to exactly the same bytes.
#![no_main]

use kaos_rudp::multicast::McPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = McPacket::decode(data) else { return };
    let mut out = vec![0u8; data.len()];
    let n = p.encode(&mut out).expect("a decoded packet encodes");
    assert_eq!(&out[..n], data);
});
