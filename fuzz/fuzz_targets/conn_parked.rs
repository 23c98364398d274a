//! Arbitrary datagrams (raw, or forged with a valid checksum), sends and time jumps into
//! a connected client that is parked whenever it is quiescent: the parked connection
//! handles what it can with no storage at all (any touch of storage would panic), hands
//! the rest back for unparking, and the connection keeps its caps.
#![no_main]

#[path = "common.rs"]
mod common;

use arbitrary::Arbitrary;
use kaos_core::conn::{Connection, ParkedConnection};
use kaos_core::time::Duration;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Raw(Vec<u8>),
    Forged { seq: u16, ack: u16, ack_bits: u64, frames: Vec<u8> },
    Send { channel: u8, len: u16 },
    Advance { ms: u16 },
}

/// The client, with or without its storage.
enum Client {
    Active(Connection<Vec<u64>>),
    Parked(ParkedConnection, Vec<u64>),
}

impl Client {
    fn active(self, garbage: u8) -> Connection<Vec<u64>> {
        match self {
            Client::Active(c) => c,
            Client::Parked(p, mut storage) => {
                storage.iter_mut().for_each(|w| *w = u64::from(garbage) * 0x0101_0101_0101_0101);
                p.unpark(storage).unwrap_or_else(|_| panic!("storage of the right size refused"))
            }
        }
    }

    fn park(self) -> Client {
        match self {
            Client::Active(c) => match c.park() {
                Ok((p, storage)) => Client::Parked(p, storage),
                Err(c) => Client::Active(c),
            },
            parked => parked,
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let (client, _server, _h, mut now) = common::connected_pair();
    let key = client.checksum_key();
    let cfg = client.config().clone();
    let mut client = Client::Active(client);
    let mut buf = vec![0u8; 2048];
    for (i, op) in ops.into_iter().take(500).enumerate() {
        client = client.park();
        let garbage = i as u8;
        let datagram = match op {
            Op::Raw(d) => Some(d),
            Op::Forged { seq, ack, ack_bits, frames } => Some(common::forge_data(key, seq, ack, ack_bits, &frames)),
            Op::Send { channel, len } => {
                let mut c = client.active(garbage);
                let _ = c.send(channel % 5, &vec![0xAB; len as usize % 6000]);
                client = Client::Active(c);
                None
            }
            Op::Advance { ms } => {
                now += Duration::from_millis(ms as u64);
                None
            }
        };
        if let Some(d) = datagram {
            let handled = match &mut client {
                Client::Parked(p, _) => p.handle_datagram(now, &d),
                Client::Active(_) => false,
            };
            if !handled {
                let mut c = client.active(garbage);
                c.handle_datagram(now, &d);
                client = Client::Active(c);
            }
        }
        let woke = match &mut client {
            Client::Parked(p, _) => {
                p.handle_timeout(now);
                while let Some(n) = p.poll_transmit(now, &mut buf) {
                    assert!(n <= cfg.max_datagram as usize);
                }
                !p.is_quiescent()
            }
            Client::Active(_) => false,
        };
        if woke {
            client = Client::Active(client.active(garbage));
        }
        if let Client::Active(c) = &mut client {
            while let Some(n) = c.poll_transmit(now, &mut buf) {
                assert!(n <= cfg.max_datagram as usize);
            }
            while c.poll_event().is_some() {}
            for ch in 0..cfg.channels.len() as u8 {
                assert!(c.send_buffered(ch) <= cfg.channels[ch as usize].buffer_bytes as usize);
            }
            assert!(c.inbox_used() <= cfg.inbox_bytes as usize);
        }
    }
});
