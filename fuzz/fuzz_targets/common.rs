//! Shared set-up for the connection fuzz targets: a connected client/server pair.
#![allow(dead_code)]

use std::net::SocketAddr;

use kaos_core::config::Config;
use kaos_core::conn::Connection;
use kaos_core::endpoint::{ConnectionHandle, Endpoint};
use kaos_core::time::{Duration, Instant};
use kaos_core::wire::{seal, DataHeader, DATA_HEADER_LEN};

pub type Server = Endpoint<Vec<u64>, Vec<Vec<u64>>, 4>;

pub fn client_addr() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

pub fn config() -> Config {
    let mut cfg = Config::default();
    // Small buffers so caps are hit quickly.
    for c in cfg.channels.iter_mut() {
        c.window = 32;
        c.buffer_bytes = 16 * 1024;
    }
    cfg.max_message = 4096;
    cfg.inbox_bytes = 8192;
    cfg.outbox_bytes = 8192;
    cfg.sent_packets = 64;
    cfg.message_refs = 256;
    cfg
}

/// A client and server endpoint after a completed handshake over a perfect wire.
pub fn connected_pair() -> (Connection<Vec<u64>>, Server, ConnectionHandle, Instant) {
    let cfg = config();
    let words = cfg.storage_words();
    let mut now = Instant::from_millis(1000);
    let mut client = Connection::connect(&cfg, vec![0; words], now, "127.0.0.1:7352".parse().unwrap(), 42).unwrap();
    let mut server = Endpoint::new(cfg, [7; 16], vec![vec![0; words]; 2]).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut reply = vec![0u8; 2048];
    let mut handle = None;
    for _ in 0..20 {
        while let Some(n) = client.poll_transmit(now, &mut buf) {
            if let Some(r) = server.handle_datagram(now, client_addr(), &buf[..n], &mut reply) {
                client.handle_datagram(now, &reply[..r]);
            }
        }
        while let Some((_, _, n)) = server.poll_transmit(now, &mut buf) {
            client.handle_datagram(now, &buf[..n]);
        }
        while client.poll_event().is_some() {}
        while let Some((h, _)) = server.poll_event() {
            handle = Some(h);
        }
        now += Duration::from_millis(1);
    }
    assert!(client.is_connected());
    (client, server, handle.expect("server accepted"), now)
}

/// Wraps fuzz bytes into a data packet with a valid header and checksum, so the fuzzer
/// reaches the frame and ack logic instead of stopping at the CRC.
pub fn forge_data(key: u64, seq: u16, ack: u16, ack_bits: u64, frames: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; DATA_HEADER_LEN + frames.len()];
    DataHeader { seq, ack, ack_bits, ack_delay: 3 }.emit(&mut buf).unwrap();
    buf[DATA_HEADER_LEN..].copy_from_slice(frames);
    seal(&mut buf, key).unwrap();
    buf
}
