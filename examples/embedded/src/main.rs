//! KaosNet on a microcontroller: a client and a server [`Connection`] over fixed buffers.
//!
//! Built for `thumbv7em-none-eabihf` this is a `#![no_std]`, `#![no_main]` binary with its
//! own panic handler, `panic = "abort"` and **no global allocator**: it links only if
//! nothing in kaos-core or its dependencies reaches for `alloc`. On a host it is an
//! ordinary program running the same exchange, so the logic is tested too.
//!
//! The entry point drives a handshake through an [`Endpoint`] and a few reliable and
//! unreliable messages each way over an in-memory "wire" with a fake millisecond clock.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use kaos_core::config::{ChannelConfig, ChannelKind, Config};
use kaos_core::conn::{Connection, Event};
use kaos_core::endpoint::Endpoint;
use kaos_core::time::{Duration, Instant};

/// Storage per connection, in 64-bit words (16 KiB).
const WORDS: usize = 2048;
/// Datagram size on this small link.
const MTU: usize = 256;

/// A configuration small enough for a microcontroller's RAM.
fn small_config() -> Config {
    let mut channels = heapless::Vec::new();
    let reliable = ChannelConfig { kind: ChannelKind::ReliableOrdered, window: 16, buffer_bytes: 2048 };
    let _ = channels.push(reliable);
    let _ = channels.push(ChannelConfig::new(ChannelKind::Unreliable));
    let mut cfg = Config::with_channels(channels);
    cfg.max_datagram = MTU as u16;
    cfg.max_message = 1024;
    cfg.sent_packets = 64;
    cfg.message_refs = 64;
    cfg.inbox_bytes = 2048;
    cfg.outbox_bytes = 1100;
    cfg.reassembly_sets = 1;
    cfg
}

/// What the exchange achieved; every field must reach its goal.
#[derive(Debug, Default, PartialEq, Eq)]
struct Outcome {
    connected: bool,
    server_got: u32,
    client_got: u32,
}

const MESSAGES: u32 = 8;

/// Runs the exchange; returns the outcome.
fn run() -> Outcome {
    let cfg = small_config();
    if cfg.validate().is_err() || cfg.storage_words() > WORDS {
        return Outcome::default();
    }
    let server_addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 7352));
    let client_addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40_000));
    let mut pool: heapless::Vec<[u64; WORDS], 1> = heapless::Vec::new();
    let _ = pool.push([0u64; WORDS]);
    let Ok(mut server) = Endpoint::<[u64; WORDS], _, 2>::new(cfg.clone(), *b"embedded-secret!", pool) else {
        return Outcome::default();
    };
    let mut now = Instant::from_millis(1);
    let Ok(mut client) = Connection::connect(&cfg, [0u64; WORDS], now, server_addr, 0x5eed) else {
        return Outcome::default();
    };
    let mut out = Outcome::default();
    let mut sent = 0u32;
    let mut buf = [0u8; MTU];
    let mut reply = [0u8; MTU];
    for _ in 0..2_000 {
        // Client → server.
        while let Some(n) = client.poll_transmit(now, &mut buf) {
            if let Some(r) = server.handle_datagram(now, client_addr, &buf[..n], &mut reply) {
                client.handle_datagram(now, &reply[..r]);
            }
        }
        // Server → client.
        while let Some((_, to, n)) = server.poll_transmit(now, &mut buf) {
            if to == client_addr {
                client.handle_datagram(now, &buf[..n]);
            }
        }
        while let Some(e) = client.poll_event() {
            match e {
                Event::Connected => out.connected = true,
                Event::Message { data, .. } if data.starts_with(b"pong") => out.client_got += 1,
                _ => {}
            }
        }
        let mut echo: Option<(kaos_core::endpoint::ConnectionHandle, u8, [u8; 8])> = None;
        while let Some((h, e)) = server.poll_event() {
            if let Event::Message { channel, data } = e {
                if data.starts_with(b"ping") && data.len() == 8 {
                    out.server_got += 1;
                    let mut pong = [0u8; 8];
                    pong[..4].copy_from_slice(b"pong");
                    pong[4..].copy_from_slice(&data[4..]);
                    echo = Some((h, channel, pong));
                    break;
                }
            }
        }
        if let Some((h, ch, pong)) = echo {
            if let Some(c) = server.connection(h) {
                let _ = c.send(ch, &pong);
            }
        }
        if out.connected && sent < MESSAGES {
            let mut ping = [0u8; 8];
            ping[..4].copy_from_slice(b"ping");
            ping[4..].copy_from_slice(&sent.to_le_bytes());
            // Even messages reliable, odd ones unreliable (this wire never loses).
            if client.send((sent % 2) as u8, &ping).is_ok() {
                sent += 1;
            }
        }
        if out.server_got == MESSAGES && out.client_got == MESSAGES {
            break;
        }
        now += Duration::from_millis(1);
    }
    out
}

fn succeeded(o: &Outcome) -> bool {
    o.connected && o.server_got == MESSAGES && o.client_got == MESSAGES
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// Bare-metal entry point (the linker's default entry symbol).
#[cfg(target_os = "none")]
#[no_mangle]
pub extern "C" fn _start() -> ! {
    let ok = succeeded(&run());
    loop {
        core::hint::black_box(ok);
        core::hint::spin_loop();
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    let o = run();
    println!("kaos-embedded: {o:?}");
    if !succeeded(&o) {
        std::process::exit(1);
    }
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    #[test]
    fn exchange_completes_over_fixed_buffers() {
        let o = super::run();
        assert!(super::succeeded(&o), "{o:?}");
    }
}
