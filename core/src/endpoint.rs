//! The server side: a fixed-capacity demultiplexer of connections by address, and the
//! stateless half of the handshake.
//!
//! A datagram from an unknown address can only be a `ConnectRequest` (answered with a
//! `Challenge` carrying a cookie: SipHash-2-4-128 keyed by the server secret over the
//! client address, a time bucket and the client's nonce) or a `ChallengeResponse` echoing
//! a valid cookie for the current or previous bucket. Nothing is stored until the cookie
//! comes back, and no reply is larger than the request that caused it, so spoofed source
//! addresses can neither exhaust the server nor use it as an amplifier.

use core::hash::Hasher;
use core::net::SocketAddr;

use heapless::index_map::FnvIndexMap;
use siphasher::sip128::{Hasher128, SipHasher24};

use crate::config::{Config, ConfigError};
use crate::conn::{Connection, Event};
use crate::time::{Duration, Instant};
use crate::wire::{HandshakeRepr, Packet, PacketType, RejectReason, COOKIE_LEN, HANDSHAKE_KEY};

/// Where an endpoint gets connection storage from, and returns it to.
pub trait StoragePool<S> {
    /// Storage for a new connection, or `None` if exhausted.
    fn take(&mut self) -> Option<S>;
    /// Storage of a closed connection.
    fn give(&mut self, storage: S);
}

impl<S, const N: usize> StoragePool<S> for heapless::Vec<S, N> {
    fn take(&mut self) -> Option<S> {
        self.pop()
    }
    fn give(&mut self, storage: S) {
        let _ = self.push(storage);
    }
}

/// A heap pool, for hosts with `std`: storages given back are kept for reuse.
#[cfg(feature = "std")]
impl<S> StoragePool<S> for std::vec::Vec<S> {
    fn take(&mut self) -> Option<S> {
        self.pop()
    }
    fn give(&mut self, storage: S) {
        self.push(storage);
    }
}

/// Identifies a connection of an endpoint; stale handles (of a closed connection whose
/// slot was reused) are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionHandle {
    index: u16,
    generation: u16,
}

impl ConnectionHandle {
    /// Slot index (stable while the connection lives).
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// Endpoint counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Challenges sent to connect requests.
    pub challenges: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections refused (full, configuration mismatch).
    pub rejected: u64,
    /// Datagrams from unknown addresses dropped as invalid (bad checksum, bad cookie,
    /// expired cookie, wrong type).
    pub invalid_dropped: u64,
}

/// A server endpoint for up to `N` connections (`N` a power of two).
#[derive(Debug)]
pub struct Endpoint<S, P, const N: usize> {
    cfg: Config,
    fingerprint: u32,
    secret: [u8; 16],
    bucket_len: Duration,
    pool: P,
    slots: [Option<Connection<S>>; N],
    generations: [u16; N],
    by_addr: FnvIndexMap<SocketAddr, u16, N>,
    tx_cursor: usize,
    ev_cursor: usize,
    stats: EndpointStats,
}

impl<S: AsMut<[u64]>, P: StoragePool<S>, const N: usize> Endpoint<S, P, N> {
    /// An endpoint accepting connections with `cfg`. `secret` keys the cookies and must
    /// be random and private; `pool` provides `cfg.storage_words()` words per connection.
    pub fn new(cfg: Config, secret: [u8; 16], pool: P) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(Endpoint {
            fingerprint: cfg.fingerprint(),
            cfg,
            secret,
            bucket_len: Duration::from_secs(10),
            pool,
            slots: core::array::from_fn(|_| None),
            generations: [0; N],
            by_addr: FnvIndexMap::new(),
            tx_cursor: 0,
            ev_cursor: 0,
            stats: EndpointStats::default(),
        })
    }

    fn bucket(&self, now: Instant) -> u32 {
        (now.as_micros() / self.bucket_len.as_micros().max(1)) as u32
    }

    fn cookie(&self, addr: &SocketAddr, bucket: u32, nonce: u64) -> [u8; COOKIE_LEN] {
        let mut h = SipHasher24::new_with_key(&self.secret);
        match addr {
            SocketAddr::V4(a) => h.write(&a.ip().octets()),
            SocketAddr::V6(a) => h.write(&a.ip().octets()),
        }
        h.write(&addr.port().to_le_bytes());
        h.write(&bucket.to_le_bytes());
        h.write(&nonce.to_le_bytes());
        let out = h.finish128();
        let mut c = [0u8; COOKIE_LEN];
        c[..8].copy_from_slice(&out.h1.to_le_bytes());
        c[8..].copy_from_slice(&out.h2.to_le_bytes());
        c
    }

    fn cookie_valid(&self, now: Instant, addr: &SocketAddr, bucket: u32, nonce: u64, cookie: &[u8; 16]) -> bool {
        let cur = self.bucket(now);
        if bucket != cur && bucket.wrapping_add(1) != cur {
            return false;
        }
        // Constant-time comparison.
        let expect = self.cookie(addr, bucket, nonce);
        expect.iter().zip(cookie).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    fn salt(&self, cookie: &[u8; COOKIE_LEN], nonce: u64) -> u64 {
        let mut h = SipHasher24::new_with_key(&self.secret);
        h.write(b"salt");
        h.write(cookie);
        h.write(&nonce.to_le_bytes());
        let out = h.finish128();
        out.h1 ^ out.h2.rotate_left(17)
    }

    /// Processes a datagram from `from`. Returns the length of a stateless reply written
    /// to `reply` (a challenge or a rejection), to be sent back to `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8], reply: &mut [u8]) -> Option<usize> {
        if let Some(&i) = self.by_addr.get(&from) {
            if let Some(c) = self.slots[i as usize].as_mut() {
                c.handle_datagram(now, data);
            }
            return None;
        }
        let repr = Packet::new_checked(data)
            .ok()
            .filter(|p| matches!(p.kind(), PacketType::ConnectRequest | PacketType::ChallengeResponse))
            .filter(|p| p.verify(HANDSHAKE_KEY).is_ok())
            .and_then(|p| HandshakeRepr::parse(&p).ok());
        let reject = |nonce, reason| HandshakeRepr::Reject { nonce, reason };
        let answer = match repr {
            Some(HandshakeRepr::ConnectRequest { nonce, fingerprint }) => {
                if fingerprint != self.fingerprint {
                    reject(nonce, RejectReason::ConfigMismatch)
                } else {
                    let bucket = self.bucket(now);
                    self.stats.challenges += 1;
                    HandshakeRepr::Challenge { nonce, bucket, cookie: self.cookie(&from, bucket, nonce) }
                }
            }
            Some(HandshakeRepr::ChallengeResponse { nonce, fingerprint, bucket, cookie })
                if self.cookie_valid(now, &from, bucket, nonce, &cookie) =>
            {
                if fingerprint != self.fingerprint {
                    reject(nonce, RejectReason::ConfigMismatch)
                } else {
                    match self.admit(now, from, nonce, &cookie) {
                        Ok(()) => return None,
                        Err(reason) => reject(nonce, reason),
                    }
                }
            }
            _ => {
                self.stats.invalid_dropped += 1;
                return None;
            }
        };
        if matches!(answer, HandshakeRepr::Reject { .. }) {
            self.stats.rejected += 1;
        }
        let n = answer.emit(reply).ok()?;
        // Never amplify: a reply is at most as large as what the unproven sender sent.
        (n <= data.len()).then_some(n)
    }

    fn admit(&mut self, now: Instant, from: SocketAddr, nonce: u64, cookie: &[u8; 16]) -> Result<(), RejectReason> {
        let Some(index) = self.slots.iter().position(Option::is_none) else { return Err(RejectReason::ServerFull) };
        let Some(storage) = self.pool.take() else { return Err(RejectReason::ServerFull) };
        let salt = self.salt(cookie, nonce);
        match Connection::accept(&self.cfg, storage, now, from, nonce, salt) {
            Ok(c) => {
                if self.by_addr.insert(from, index as u16).is_err() {
                    self.pool.give(c.into_storage());
                    return Err(RejectReason::ServerFull);
                }
                self.slots[index] = Some(c);
                self.stats.accepted += 1;
                Ok(())
            }
            // The pool handed out storage too small for the configuration.
            Err(_) => Err(RejectReason::ServerFull),
        }
    }

    fn handle_of(&self, index: usize) -> ConnectionHandle {
        ConnectionHandle { index: index as u16, generation: self.generations[index] }
    }

    /// Frees the slots of connections whose `Disconnected` event was delivered.
    fn reap(&mut self) {
        for i in 0..N {
            if self.slots[i].as_ref().is_some_and(|c| c.is_drained()) {
                if let Some(c) = self.slots[i].take() {
                    self.by_addr.swap_remove(&c.remote());
                    self.generations[i] = self.generations[i].wrapping_add(1);
                    self.pool.give(c.into_storage());
                }
            }
        }
    }

    /// The next datagram to send: `(connection, destination, length)`. Connections take
    /// turns.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(ConnectionHandle, SocketAddr, usize)> {
        for k in 0..N {
            let i = (self.tx_cursor + k) % N;
            let Some(c) = self.slots[i].as_mut() else { continue };
            if let Some(n) = c.poll_transmit(now, buf) {
                self.tx_cursor = (i + 1) % N;
                let remote = c.remote();
                return Some((self.handle_of(i), remote, n));
            }
        }
        None
    }

    /// The next event of any connection. A connection's slot is freed after its
    /// `Disconnected` event.
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event<'_>)> {
        self.reap();
        let found = (0..N)
            .map(|k| (self.ev_cursor + k) % N)
            .find(|&i| self.slots[i].as_mut().is_some_and(|c| c.has_event()))?;
        self.ev_cursor = (found + 1) % N;
        let handle = self.handle_of(found);
        let event = self.slots[found].as_mut()?.poll_event()?;
        Some((handle, event))
    }

    /// Runs every connection's timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        for c in self.slots.iter_mut().flatten() {
            c.handle_timeout(now);
        }
    }

    /// Earliest timer of any connection.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots.iter().flatten().filter_map(|c| c.poll_timeout()).min()
    }

    /// The connection behind `handle`, if it is still there.
    pub fn connection(&mut self, handle: ConnectionHandle) -> Option<&mut Connection<S>> {
        let i = handle.index as usize;
        if *self.generations.get(i)? != handle.generation {
            return None;
        }
        self.slots[i].as_mut()
    }

    /// Handle of the connection with `addr`.
    pub fn lookup(&self, addr: &SocketAddr) -> Option<ConnectionHandle> {
        self.by_addr.get(addr).map(|&i| self.handle_of(i as usize))
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// The connection configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
}
