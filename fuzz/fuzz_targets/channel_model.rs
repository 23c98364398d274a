//! Model-based target: arbitrary sends on every channel kind, and an adversarial wire that
//! delivers, drops, duplicates and reorders datagrams at will, with time jumps. Checked
//! against the model of each delivery mode, during the run and after a perfect drain:
//! reliable-ordered delivers an in-order prefix and finally everything; reliable-unordered
//! never duplicates and finally delivers everything; sequenced only moves forward;
//! unreliable never duplicates; every message arrives whole.
#![no_main]

#[path = "common.rs"]
mod common;

use std::collections::{BTreeSet, VecDeque};

use arbitrary::Arbitrary;
use kaos_core::conn::Event;
use kaos_core::time::{Duration, Instant};
use libfuzzer_sys::fuzz_target;

const CHANNELS: usize = 4;

#[derive(Arbitrary, Debug)]
enum Op {
    Send { from_client: bool, channel: u8, len: u16 },
    /// Both sides write what they have onto the wire.
    Transmit,
    Deliver { to_server: bool, pick: u8 },
    Drop { to_server: bool, pick: u8 },
    Duplicate { to_server: bool, pick: u8 },
    Advance { ms: u16 },
}

/// Message `index` on `channel`, `len` bytes: a self-checking pattern.
fn message(channel: usize, index: u32, len: usize) -> Vec<u8> {
    let len = len.max(5);
    let mut m = Vec::with_capacity(len);
    m.push(channel as u8);
    m.extend_from_slice(&index.to_le_bytes());
    m.extend((5..len).map(|i| (index as usize).wrapping_mul(31).wrapping_add(i) as u8));
    m
}

/// Checks a received message is whole; returns its index.
fn parse(channel: u8, data: &[u8]) -> u32 {
    assert!(data.len() >= 5, "truncated message");
    assert_eq!(data[0], channel, "message on the wrong channel");
    let index = u32::from_le_bytes(data[1..5].try_into().unwrap());
    assert_eq!(data, &message(channel as usize, index, data.len())[..], "corrupted message");
    index
}

/// What one side sent and received, per channel.
#[derive(Default)]
struct Side {
    sent: [u32; CHANNELS],
    got: [Vec<u32>; CHANNELS],
    seen: [BTreeSet<u32>; CHANNELS],
    disconnected: bool,
}

impl Side {
    fn receive(&mut self, channel: u8, data: &[u8]) {
        let ch = channel as usize;
        assert!(ch < CHANNELS);
        let index = parse(channel, data);
        assert!(index < 100_000);
        let fresh = self.seen[ch].insert(index);
        assert!(fresh, "channel {ch}: message {index} delivered twice");
        let got = &mut self.got[ch];
        match ch {
            // Reliable-ordered: exactly the next one.
            0 => assert_eq!(index as usize, got.len(), "reliable-ordered out of order"),
            // Sequenced: never older than the newest delivered.
            2 => assert!(got.last().is_none_or(|&last| index > last), "sequenced went backwards"),
            _ => {}
        }
        got.push(index);
    }
}

/// The indices the peer attempted that `send` accepted, per channel.
struct Accepted([Vec<u32>; CHANNELS]);

fuzz_target!(|ops: Vec<Op>| {
    let (mut client, mut server, handle, mut now) = common::connected_pair();
    let cfg = client.config().clone();
    assert_eq!(cfg.channels.len(), CHANNELS);
    let mut wire: [VecDeque<Vec<u8>>; 2] = [VecDeque::new(), VecDeque::new()];
    let (mut cside, mut sside) = (Side::default(), Side::default());
    let mut accepted = [Accepted(Default::default()), Accepted(Default::default())];
    let mut buf = vec![0u8; 2048];
    let mut reply = vec![0u8; 2048];
    let addr = common::client_addr();

    macro_rules! transmit {
        () => {{
            while let Some(n) = client.poll_transmit(now, &mut buf) {
                wire[1].push_back(buf[..n].to_vec());
            }
            while let Some((_, _, n)) = server.poll_transmit(now, &mut buf) {
                wire[0].push_back(buf[..n].to_vec());
            }
        }};
    }
    macro_rules! deliver {
        ($to_server:expr, $d:expr) => {
            if $to_server {
                if let Some(r) = server.handle_datagram(now, addr, &$d, &mut reply) {
                    client.handle_datagram(now, &reply[..r]);
                }
            } else {
                client.handle_datagram(now, &$d);
            }
        };
    }
    macro_rules! events {
        () => {
            while let Some(e) = client.poll_event() {
                match e {
                    Event::Message { channel, data } => cside.receive(channel, data),
                    Event::Disconnected(_) => cside.disconnected = true,
                    Event::Connected => {}
                }
            }
            while let Some((_, e)) = server.poll_event() {
                match e {
                    Event::Message { channel, data } => sside.receive(channel, data),
                    Event::Disconnected(_) => sside.disconnected = true,
                    Event::Connected => {}
                }
            }
        };
    }

    for op in ops.into_iter().take(400) {
        match op {
            Op::Send { from_client, channel, len } => {
                let ch = channel as usize % CHANNELS;
                let len = len as usize % (cfg.max_message as usize + 1);
                let side = if from_client { &mut cside } else { &mut sside };
                let msg = message(ch, side.sent[ch], len);
                let ok = if from_client {
                    client.send(ch as u8, &msg).is_ok()
                } else {
                    server.connection(handle).is_some_and(|c| c.send(ch as u8, &msg).is_ok())
                };
                if ok {
                    accepted[from_client as usize].0[ch].push(side.sent[ch]);
                    side.sent[ch] += 1;
                }
            }
            Op::Transmit => transmit!(),
            Op::Deliver { to_server, pick } | Op::Duplicate { to_server, pick } if !wire[to_server as usize].is_empty() => {
                let q = &mut wire[to_server as usize];
                let i = pick as usize % q.len();
                let d = if matches!(op, Op::Deliver { .. }) { q.remove(i).unwrap() } else { q[i].clone() };
                deliver!(to_server, d);
            }
            Op::Drop { to_server, pick } if !wire[to_server as usize].is_empty() => {
                let q = &mut wire[to_server as usize];
                let i = pick as usize % q.len();
                q.remove(i);
            }
            Op::Advance { ms } => now += Duration::from_millis(ms as u64 % 3000),
            _ => {}
        }
        events!();
    }

    // Perfect drain: in-flight datagrams land, then the wire is lossless and in order.
    let start: Instant = now;
    while now - start < Duration::from_secs(60) && !(cside.disconnected || sside.disconnected) {
        for to_server in [true, false] {
            while let Some(d) = wire[to_server as usize].pop_front() {
                deliver!(to_server, d);
            }
        }
        events!();
        let done = [(&sside, &accepted[1]), (&cside, &accepted[0])]
            .iter()
            .all(|(receiver, sender)| (0..2).all(|ch| receiver.got[ch].len() == sender.0[ch].len()));
        if done {
            break;
        }
        transmit!();
        now += Duration::from_millis(5);
    }
    if cside.disconnected || sside.disconnected {
        // Time jumps past the idle timeout may legitimately end the connection.
        return;
    }
    for (receiver, sender) in [(&sside, &accepted[1]), (&cside, &accepted[0])] {
        for ch in [0usize, 1] {
            let mut got = receiver.got[ch].clone();
            got.sort_unstable();
            assert_eq!(got, sender.0[ch], "channel {ch}: reliable messages missing after a perfect drain");
        }
        for ch in [2usize, 3] {
            assert!(receiver.got[ch].iter().all(|i| sender.0[ch].contains(i)), "message never sent");
        }
    }
});
