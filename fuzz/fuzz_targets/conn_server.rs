//! Arbitrary datagrams into a server endpoint, from the connected client's address
//! (raw or forged with its checksum key) and from strangers: no panic, stateless replies
//! never larger than the request, no state for unproven addresses.
#![no_main]

#[path = "common.rs"]
mod common;

use arbitrary::Arbitrary;
use kaos_core::time::Duration;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    FromClient(Vec<u8>),
    Forged { seq: u16, ack: u16, ack_bits: u64, frames: Vec<u8> },
    FromStranger { port: u16, data: Vec<u8> },
    Advance { ms: u16 },
}

fuzz_target!(|ops: Vec<Op>| {
    let (client, mut server, _h, mut now) = common::connected_pair();
    let key = client.checksum_key();
    let mut buf = vec![0u8; 2048];
    let mut reply = vec![0u8; 2048];
    for op in ops.into_iter().take(500) {
        match op {
            Op::FromClient(d) => {
                assert!(server.handle_datagram(now, common::client_addr(), &d, &mut reply).is_none());
            }
            Op::Forged { seq, ack, ack_bits, frames } => {
                let d = common::forge_data(key, seq, ack, ack_bits, &frames);
                server.handle_datagram(now, common::client_addr(), &d, &mut reply);
            }
            Op::FromStranger { port, data } => {
                let from = std::net::SocketAddr::from(([127, 0, 0, 2], port));
                if let Some(n) = server.handle_datagram(now, from, &data, &mut reply) {
                    assert!(n <= data.len(), "amplification");
                }
            }
            Op::Advance { ms } => now += Duration::from_millis(ms as u64),
        }
        while server.poll_transmit(now, &mut buf).is_some() {}
        while server.poll_event().is_some() {}
        // Strangers never completed a cookie round trip, so at most the one client exists.
        assert!(server.len() <= 1);
    }
});
