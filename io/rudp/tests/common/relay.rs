//! A lossy, duplicating, reordering UDP relay for end-to-end tests.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A lossy UDP relay on loopback: clients talk to its front socket, and it talks to the
/// server from one socket per client (so the server still sees distinct addresses). Each
/// datagram, either way, is dropped (10 %), duplicated (5 %) or held back a random few
/// milliseconds (reordering), from a seeded generator.
pub struct Relay {
    front: UdpSocket,
    server: SocketAddr,
    /// The relay's socket towards the server for each client address it heard from.
    pub uplinks: Vec<(SocketAddr, UdpSocket)>,
    held: Vec<(Instant, usize, Option<SocketAddr>, Vec<u8>)>,
    rng: u64,
    /// Datagrams seen, either way.
    pub seen: u64,
    /// Of those, dropped.
    pub dropped: u64,
}

impl Relay {
    pub fn new(server: SocketAddr) -> Relay {
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        front.set_nonblocking(true).unwrap();
        Relay { front, server, uplinks: Vec::new(), held: Vec::new(), rng: 0x9E37_79B9_7F4A_7C15, seen: 0, dropped: 0 }
    }

    pub fn addr(&self) -> SocketAddr {
        self.front.local_addr().unwrap()
    }

    fn random(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Schedules `data` for sending through uplink `via` (or the front socket to
    /// `client` when `via` is `usize::MAX`), with loss, duplication and delay.
    fn impair(&mut self, now: Instant, via: usize, client: Option<SocketAddr>, data: &[u8]) {
        self.seen += 1;
        let roll = self.random() % 100;
        if roll < 10 {
            self.dropped += 1;
            return;
        }
        let copies = if roll < 15 { 2 } else { 1 };
        for _ in 0..copies {
            let delay = Duration::from_micros(self.random() % 4_000);
            self.held.push((now + delay, via, client, data.to_vec()));
        }
    }

    pub fn step(&mut self) {
        let now = Instant::now();
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = self.front.recv_from(&mut buf) {
            let via = match self.uplinks.iter().position(|(c, _)| *c == from) {
                Some(k) => k,
                None => {
                    let up = UdpSocket::bind("127.0.0.1:0").unwrap();
                    up.set_nonblocking(true).unwrap();
                    self.uplinks.push((from, up));
                    self.uplinks.len() - 1
                }
            };
            self.impair(now, via, None, &buf[..n]);
        }
        for k in 0..self.uplinks.len() {
            while let Ok((n, _)) = self.uplinks[k].1.recv_from(&mut buf) {
                let client = self.uplinks[k].0;
                self.impair(now, usize::MAX, Some(client), &buf[..n]);
            }
        }
        let mut k = 0;
        while k < self.held.len() {
            if self.held[k].0 <= now {
                let (_, via, client, data) = self.held.swap_remove(k);
                let _ = match client {
                    Some(c) => self.front.send_to(&data, c),
                    None => self.uplinks[via].1.send_to(&data, self.server),
                };
            } else {
                k += 1;
            }
        }
    }
}
