//! The server side: the stateless half of the handshake ([`Gate`]) and a fixed-capacity
//! demultiplexer of connections by address ([`Endpoint`]).
//!
//! A datagram from an unknown address can only be a `ConnectRequest` (answered with a
//! `Challenge` carrying a cookie: SipHash-2-4-128 keyed by the server secret over the
//! client address, a time bucket and the client's nonce) or a `ChallengeResponse` echoing
//! a valid cookie for the current or previous bucket. Nothing is stored until the cookie
//! comes back, and no reply is larger than the request that caused it, so spoofed source
//! addresses can neither exhaust the server nor use it as an amplifier.
//!
//! [`Endpoint`] suits small fixed capacities (a microcontroller, tests): its polls visit
//! every slot. A host serving thousands of clients keeps its own table of connections
//! (hash map, ready queues, timer heap) and uses [`Gate`] for the handshake, as
//! `kaos-rudp` does.

use core::hash::Hasher;
use core::net::SocketAddr;

use heapless::index_map::FnvIndexMap;
use siphasher::sip128::{Hasher128, SipHasher24};

use crate::config::{Config, ConfigError};
use crate::conn::{Connection, Event};
use crate::time::{Duration, Instant};
use crate::wire::{HandshakeRepr, Packet, PacketType, RejectReason, COOKIE_LEN, HANDSHAKE_KEY};

/// What [`Gate::handle`] decided about a datagram from an address with no connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateAction {
    /// Send the first `len` bytes of the reply buffer back to the sender (a challenge or a
    /// rejection; never longer than the datagram that caused it).
    Reply(usize),
    /// The sender echoed a valid cookie: create its connection with
    /// [`Connection::accept`]`(cfg, storage, now, from, nonce, salt)`, or, if that is not
    /// possible (server full), answer with [`Gate::refuse`].
    Admit {
        /// The client's connection nonce.
        nonce: u64,
        /// The salt of the connection's checksum key.
        salt: u64,
    },
    /// Invalid or unexpected; counted in [`EndpointStats::invalid_dropped`].
    Drop,
}

/// The stateless half of a server: answers handshakes from addresses that have no
/// connection, keeping no state per address.
#[derive(Debug, Clone)]
pub struct Gate {
    fingerprint: u32,
    secret: [u8; 16],
    bucket_len: Duration,
    stats: EndpointStats,
}

impl Gate {
    /// A gate for connections with `cfg`. `secret` keys the cookies and must be random
    /// and private.
    pub fn new(cfg: &Config, secret: [u8; 16]) -> Self {
        Gate {
            fingerprint: cfg.fingerprint(),
            secret,
            bucket_len: Duration::from_secs(10),
            stats: EndpointStats::default(),
        }
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

    /// Handles datagram `data` from `from`, an address with no connection. A reply is
    /// written to `reply` (which should hold at least `data.len()` bytes).
    pub fn handle(&mut self, now: Instant, from: SocketAddr, data: &[u8], reply: &mut [u8]) -> GateAction {
        let repr = Packet::new_checked(data)
            .ok()
            .filter(|p| matches!(p.kind(), PacketType::ConnectRequest | PacketType::ChallengeResponse))
            .filter(|p| p.verify(HANDSHAKE_KEY).is_ok())
            .and_then(|p| HandshakeRepr::parse(&p).ok());
        let answer = match repr {
            Some(HandshakeRepr::ConnectRequest { nonce, fingerprint }) => {
                if fingerprint != self.fingerprint {
                    return self.reject(nonce, RejectReason::ConfigMismatch, data.len(), reply);
                }
                let bucket = self.bucket(now);
                self.stats.challenges += 1;
                HandshakeRepr::Challenge { nonce, bucket, cookie: self.cookie(&from, bucket, nonce) }
            }
            Some(HandshakeRepr::ChallengeResponse { nonce, fingerprint, bucket, cookie })
                if self.cookie_valid(now, &from, bucket, nonce, &cookie) =>
            {
                if fingerprint != self.fingerprint {
                    return self.reject(nonce, RejectReason::ConfigMismatch, data.len(), reply);
                }
                return GateAction::Admit { nonce, salt: self.salt(&cookie, nonce) };
            }
            _ => {
                self.stats.invalid_dropped += 1;
                return GateAction::Drop;
            }
        };
        Self::emit(answer, data.len(), reply)
    }

    /// The answer to an admitted client whose connection could not be created:
    /// a rejection for `reason`, no longer than the `request_len`-byte request.
    pub fn refuse(&mut self, nonce: u64, reason: RejectReason, request_len: usize, reply: &mut [u8]) -> GateAction {
        self.reject(nonce, reason, request_len, reply)
    }

    fn reject(&mut self, nonce: u64, reason: RejectReason, request_len: usize, reply: &mut [u8]) -> GateAction {
        self.stats.rejected += 1;
        Self::emit(HandshakeRepr::Reject { nonce, reason }, request_len, reply)
    }

    fn emit(answer: HandshakeRepr, request_len: usize, reply: &mut [u8]) -> GateAction {
        match answer.emit(reply) {
            // Never amplify: a reply is at most as large as what the unproven sender sent.
            Ok(n) if n <= request_len => GateAction::Reply(n),
            _ => GateAction::Drop,
        }
    }

    /// Counters (`accepted` stays zero: the host creates the connections).
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }
}

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
    gate: Gate,
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
            gate: Gate::new(&cfg, secret),
            cfg,
            pool,
            slots: core::array::from_fn(|_| None),
            generations: [0; N],
            by_addr: FnvIndexMap::new(),
            tx_cursor: 0,
            ev_cursor: 0,
            stats: EndpointStats::default(),
        })
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
        let action = match self.gate.handle(now, from, data, reply) {
            GateAction::Admit { nonce, salt } => match self.admit(now, from, nonce, salt) {
                Ok(()) => return None,
                Err(reason) => self.gate.refuse(nonce, reason, data.len(), reply),
            },
            action => action,
        };
        match action {
            GateAction::Reply(n) => Some(n),
            _ => None,
        }
    }

    fn admit(&mut self, now: Instant, from: SocketAddr, nonce: u64, salt: u64) -> Result<(), RejectReason> {
        let Some(index) = self.slots.iter().position(Option::is_none) else { return Err(RejectReason::ServerFull) };
        let Some(storage) = self.pool.take() else { return Err(RejectReason::ServerFull) };
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
        let gate = self.gate.stats();
        EndpointStats { accepted: self.stats.accepted, ..gate }
    }

    /// The connection configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
}
