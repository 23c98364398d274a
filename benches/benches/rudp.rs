//! Reliable UDP over loopback: KaosNet's `kaos-rudp` (mio and io_uring backends) with
//! identical workloads for every library, one thread driving client and server.
//!
//! `cargo bench -p kaos-benches --bench rudp`
//!
//! - bulk: one client sends 200,000 reliable-ordered 64-byte messages; the server checks
//!   each one's sequence number; messages/s from the first send to the last receipt.
//! - ping-pong: 5,000 reliable round trips of 64 bytes (the server echoes; the client
//!   sends the next when the echo is back); RTT p50 and p99.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaos_rudp::{IoBackend, RudpConfig, RudpServer, RudpTransport, Transport, RELIABLE_ORDERED};

const BULK: u64 = 200_000;
const PINGS: usize = 5_000;
const MSG: usize = 64;

fn message(seq: u64) -> [u8; MSG] {
    let mut m = [0x5A; MSG];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

fn seq_of(m: &[u8]) -> u64 {
    u64::from_le_bytes(m[..8].try_into().expect("8 bytes"))
}

/// Throughput of the bulk workload and RTT percentiles of the ping-pong workload.
struct Figures {
    bulk_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn kaos_pair(backend: IoBackend) -> (RudpServer, RudpTransport, SocketAddr) {
    let mut cfg = RudpConfig::with_window(1024);
    cfg.io = backend;
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut server = RudpServer::with_config(any, cfg.clone()).unwrap();
    let mut client = RudpTransport::with_config(any, server.local_addr().unwrap(), cfg).unwrap();
    while !client.is_connected() {
        server.process().unwrap();
        client.process().unwrap();
    }
    let addr = client.local_addr().unwrap();
    while server.accept().is_none() {
        server.process().unwrap();
    }
    (server, client, addr)
}

fn kaos(backend: IoBackend) -> Figures {
    let (mut server, mut client, addr) = kaos_pair(backend);
    // bulk
    let start = Instant::now();
    let (mut sent, mut got) = (0u64, 0u64);
    while got < BULK {
        while sent < BULK && client.queue_on(RELIABLE_ORDERED, &message(sent)).is_ok() {
            sent += 1;
        }
        client.flush().unwrap();
        server.process().unwrap();
        server.receive(&addr, |m| {
            assert_eq!(seq_of(m), got, "out of order");
            got += 1;
        });
        server.flush().unwrap();
        client.process().unwrap();
    }
    let bulk_per_sec = BULK as f64 / start.elapsed().as_secs_f64();
    // ping-pong
    let mut rtts = Vec::with_capacity(PINGS);
    for i in 0..PINGS as u64 {
        let t = Instant::now();
        client.send(&message(i)).unwrap();
        let mut back = false;
        while !back {
            server.process().unwrap();
            let mut echo = None;
            server.receive(&addr, |m| echo = Some(m.to_vec()));
            if let Some(m) = echo {
                server.send(&addr, &m).unwrap();
                server.flush().unwrap();
            }
            client
                .receive(&mut |m| {
                    assert_eq!(seq_of(m), i);
                    back = true;
                })
                .unwrap();
        }
        rtts.push(t.elapsed());
    }
    rtts.sort();
    Figures { bulk_per_sec, p50: percentile(&rtts, 0.50), p99: percentile(&rtts, 0.99) }
}

fn main() {
    let mut rows: Vec<(&str, Figures)> = vec![("kaos-rudp (mio)", kaos(IoBackend::Mio))];
    #[cfg(target_os = "linux")]
    rows.push(("kaos-rudp (io_uring)", kaos(IoBackend::Uring)));
    println!("reliable UDP over loopback, one thread driving both ends");
    println!("{:<28} {:>14} {:>12} {:>12}", "library", "bulk msgs/s", "RTT p50", "RTT p99");
    for (name, f) in &rows {
        println!("{name:<28} {:>14.0} {:>10.1}µs {:>10.1}µs", f.bulk_per_sec, micros(f.p50), micros(f.p99));
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
