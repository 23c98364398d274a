//! The protocol core without sockets: header encode/decode, ack processing, and a
//! client/server pair moving reliable-ordered 64-byte messages through memory, beside
//! renet 2 (`RenetClient` / `RenetServer`, its sans-IO core) doing the same in one run.
//!
//! Pair workload, identical for both: each round the client queues up to 256 messages
//! (fewer when its window is full), every datagram it writes is handed to the server, the
//! server drains its received messages (checking each one's sequence number), every
//! datagram the server writes (acks) is handed back, and a virtual clock advances 50 µs.
//! One criterion iteration is one message delivered; throughput is messages per second.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kaos_core::config::Config;
use kaos_core::conn::{Connection, Event};
use kaos_core::endpoint::Endpoint;
use kaos_core::time::{Duration, Instant};
use kaos_core::window::{acked_iter, BitmapWindow};
use kaos_core::wire::{seal, DataHeader, Packet, DATA_HEADER_LEN};

const MSG: usize = 64;
const BATCH: u64 = 256;
const CHANNEL_RO: u8 = 0;
const RENET_RO: u8 = 2;

fn message(seq: u64) -> [u8; MSG] {
    let mut m = [0x5A; MSG];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

fn seq_of(m: &[u8]) -> u64 {
    u64::from_le_bytes(m[..8].try_into().unwrap())
}

fn headers(c: &mut Criterion) {
    let mut g = c.benchmark_group("header");
    g.throughput(Throughput::Elements(1));
    let key = 0x0123_4567_89ab_cdef;
    let mut buf = [0u8; DATA_HEADER_LEN + MSG];
    let mut seq = 0u16;
    g.bench_function("encode_and_seal_86B", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            let h = DataHeader { seq, ack: seq.wrapping_sub(3), ack_bits: !0 >> 3, ack_delay: 12 };
            h.emit(black_box(&mut buf)).unwrap();
            seal(&mut buf, key).unwrap();
            black_box(&buf);
        })
    });
    DataHeader { seq: 7, ack: 3, ack_bits: 0xF0, ack_delay: 1 }.emit(&mut buf).unwrap();
    seal(&mut buf, key).unwrap();
    g.bench_function("decode_and_verify_86B", |b| {
        b.iter(|| {
            let p = Packet::new_checked(black_box(&buf[..])).unwrap();
            p.verify(key).unwrap();
            black_box(DataHeader::parse(&p).unwrap())
        })
    });
    let mut big = vec![0u8; 1200];
    DataHeader::default().emit(&mut big).unwrap();
    seal(&mut big, key).unwrap();
    g.bench_function("decode_and_verify_1200B", |b| {
        b.iter(|| {
            let p = Packet::new_checked(black_box(&big[..])).unwrap();
            p.verify(key).unwrap();
            black_box(DataHeader::parse(&p).unwrap())
        })
    });
    g.finish();
}

fn acks(c: &mut Criterion) {
    let mut g = c.benchmark_group("ack");
    g.throughput(Throughput::Elements(1));
    let mut w = BitmapWindow::new();
    let mut seq = 0u16;
    // A stream with every 7th packet arriving late: in-order and behind-latest inserts.
    g.bench_function("window_insert", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            let s = if seq.is_multiple_of(7) { seq.wrapping_sub(5) } else { seq };
            black_box(w.insert(black_box(s)).is_ok())
        })
    });
    g.bench_function("acked_iter_65_packets", |b| {
        b.iter(|| acked_iter(black_box(1000), black_box(!0u64)).fold(0u32, |a, s| a.wrapping_add(s as u32)))
    });
    g.finish();
}

/// A connected KaosNet client and server (through an `Endpoint`) on a perfect wire.
struct KaosPair {
    client: Connection<Vec<u64>>,
    server: Endpoint<Vec<u64>, Vec<Vec<u64>>, 2>,
    now: Instant,
    addr: SocketAddr,
    buf: Vec<u8>,
    reply: Vec<u8>,
    sent: u64,
    received: u64,
}

impl KaosPair {
    fn new() -> Self {
        let cfg = Config::default();
        let words = cfg.storage_words();
        let now = Instant::from_millis(1);
        let client = Connection::connect(&cfg, vec![0; words], now, "127.0.0.1:7352".parse().unwrap(), 9).unwrap();
        let server = Endpoint::new(cfg, [3; 16], vec![vec![0; words]]).unwrap();
        let mut p = KaosPair {
            client,
            server,
            now,
            addr: "127.0.0.1:40000".parse().unwrap(),
            buf: vec![0; 1500],
            reply: vec![0; 1500],
            sent: 0,
            received: 0,
        };
        for _ in 0..10 {
            p.round(0);
        }
        assert!(p.client.is_connected());
        p
    }

    /// One round of the workload with up to `batch` new messages.
    fn round(&mut self, batch: u64) {
        for _ in 0..batch {
            if self.client.send(CHANNEL_RO, &message(self.sent)).is_err() {
                break;
            }
            self.sent += 1;
        }
        while let Some(n) = self.client.poll_transmit(self.now, &mut self.buf) {
            if let Some(r) = self.server.handle_datagram(self.now, self.addr, &self.buf[..n], &mut self.reply) {
                self.client.handle_datagram(self.now, &self.reply[..r]);
            }
        }
        while let Some((_, e)) = self.server.poll_event() {
            if let Event::Message { data, .. } = e {
                assert_eq!(seq_of(data), self.received);
                self.received += 1;
            }
        }
        while let Some((_, _, n)) = self.server.poll_transmit(self.now, &mut self.buf) {
            self.client.handle_datagram(self.now, &self.buf[..n]);
        }
        while self.client.poll_event().is_some() {}
        self.now += Duration::from_micros(50);
    }
}

/// renet 2's client and server wired together in memory.
struct RenetPair {
    client: renet::RenetClient,
    server: renet::RenetServer,
    sent: u64,
    received: u64,
}

impl RenetPair {
    const ID: u64 = 1;

    fn new() -> Self {
        let mut server = renet::RenetServer::new(renet::ConnectionConfig::default());
        server.add_connection(Self::ID);
        let mut client = renet::RenetClient::new(renet::ConnectionConfig::default());
        client.set_connected();
        RenetPair { client, server, sent: 0, received: 0 }
    }

    fn round(&mut self, batch: u64) {
        for _ in 0..batch {
            if !self.client.can_send_message(RENET_RO, MSG) {
                break;
            }
            self.client.send_message(RENET_RO, renet::Bytes::copy_from_slice(&message(self.sent)));
            self.sent += 1;
        }
        for p in self.client.get_packets_to_send() {
            self.server.process_packet_from(&p, Self::ID).unwrap();
        }
        while let Some(m) = self.server.receive_message(Self::ID, RENET_RO) {
            assert_eq!(seq_of(&m), self.received);
            self.received += 1;
        }
        for p in self.server.get_packets_to_send(Self::ID).unwrap() {
            self.client.process_packet(&p);
        }
        let dt = StdDuration::from_micros(50);
        self.client.update(dt);
        self.server.update(dt);
    }
}

/// Times rounds until `iters` more messages were delivered; `round` returns the total
/// delivered so far.
fn run(iters: u64, round: &mut dyn FnMut(u64) -> u64) -> StdDuration {
    let goal = round(0) + iters;
    let start = StdInstant::now();
    while round(BATCH) < goal {}
    start.elapsed()
}

fn pair(c: &mut Criterion) {
    let mut g = c.benchmark_group("connection_pair_reliable_ordered_64B");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(StdDuration::from_secs(5));
    g.bench_function("kaos_core", |b| {
        let mut p = KaosPair::new();
        b.iter_custom(|iters| {
            run(iters, &mut |batch| {
                p.round(batch);
                p.received
            })
        })
    });
    g.bench_function("renet2", |b| {
        let mut p = RenetPair::new();
        b.iter_custom(|iters| {
            run(iters, &mut |batch| {
                p.round(batch);
                p.received
            })
        })
    });
    g.finish();
}

criterion_group!(benches, headers, acks, pair);
criterion_main!(benches);
