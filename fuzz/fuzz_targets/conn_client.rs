//! Arbitrary datagrams (raw, or forged with a valid checksum) into a connected client:
//! no panic, memory within caps, and the connection keeps working or closes cleanly.
#![no_main]

#[path = "common.rs"]
mod common;

use arbitrary::Arbitrary;
use kaos_core::time::Duration;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Raw(Vec<u8>),
    Forged { seq: u16, ack: u16, ack_bits: u64, frames: Vec<u8> },
    Send { channel: u8, len: u16 },
    Advance { ms: u16 },
}

fuzz_target!(|ops: Vec<Op>| {
    let (mut client, _server, _h, mut now) = common::connected_pair();
    let key = client.checksum_key();
    let cfg = client.config().clone();
    let mut buf = vec![0u8; 2048];
    for op in ops.into_iter().take(500) {
        match op {
            Op::Raw(d) => client.handle_datagram(now, &d),
            Op::Forged { seq, ack, ack_bits, frames } => {
                client.handle_datagram(now, &common::forge_data(key, seq, ack, ack_bits, &frames))
            }
            Op::Send { channel, len } => {
                let _ = client.send(channel % 5, &vec![0xAB; len as usize % 6000]);
            }
            Op::Advance { ms } => now += Duration::from_millis(ms as u64),
        }
        while let Some(n) = client.poll_transmit(now, &mut buf) {
            assert!(n <= cfg.max_datagram as usize);
        }
        while client.poll_event().is_some() {}
        for ch in 0..cfg.channels.len() as u8 {
            assert!(client.send_buffered(ch) <= cfg.channels[ch as usize].buffer_bytes as usize);
        }
        assert!(client.inbox_used() <= cfg.inbox_bytes as usize);
    }
});
