//! The server: many core connections behind one socket.
//!
//! Work is proportional to activity, not to the number of clients: a datagram goes to
//! its connection through a hash map, connections with something to do wait in a queue,
//! and timers sit in a heap ordered by deadline.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;

use kaos_core::conn::{Connection, DisconnectReason, Event};
use kaos_core::endpoint::{Gate, GateAction};
use kaos_core::time::Instant;
use kaos_core::wire::{Packet, PacketType, RejectReason};

use crate::backend::{Io, IoBackend};
use crate::busy_poll::BusyPoll;
use crate::parking::{ArenaPool, Conn};
use crate::sys;
use crate::{random_key, wait, Clock, RudpConfig, Stats, TransportError, RELIABLE_ORDERED};

/// Something that happened to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEvent {
    /// The client completed the handshake (also queued for [`RudpServer::accept`]).
    Connected(SocketAddr),
    /// The client is gone: it closed, timed out ([`DisconnectReason::TimedOut`]), was
    /// disconnected by the server, or broke the protocol.
    Disconnected(SocketAddr, DisconnectReason),
}

/// Server counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Challenges sent to connect requests.
    pub challenges: u64,
    /// Clients accepted.
    pub accepted: u64,
    /// Handshakes refused (server full, configuration mismatch).
    pub rejected: u64,
    /// Datagrams from unknown addresses that were not a valid handshake, plus invalid
    /// datagrams on connections (bad checksum, malformed, replayed).
    pub invalid_dropped: u64,
    /// Connect requests dropped unanswered by the handshake rate limit.
    pub handshakes_limited: u64,
    /// Datagrams the kernel would not take (send buffer full).
    pub send_dropped: u64,
    /// Datagrams sent inside UDP GSO messages (runs to one client, split by the kernel).
    pub gso_segments: u64,
    /// Datagrams received coalesced with others from the same sender (UDP GRO, Linux).
    pub gro_segments: u64,
    /// Datagrams dropped and sends refused because no storage could be mapped for a
    /// parked client.
    pub storage_failures: u64,
    /// Clients connected now.
    pub clients: usize,
    /// Of those, clients parked now (holding no storage).
    pub parked: usize,
    /// Times a parked client took storage back (for a message, or to close).
    pub unparks: u64,
}

struct Client {
    conn: Conn,
    /// When a message last went either way.
    active_at: Instant,
    /// Delivered messages not yet read, as `[channel][len: u32 LE][bytes]` records: one
    /// buffer reused, not an allocation per message.
    inbox: Vec<u8>,
    /// In the work queue.
    queued: bool,
    /// In the queue of clients with unread messages.
    readable: bool,
    /// The deadline this client has in the timer heap.
    deadline: Option<Instant>,
    /// Invalid datagrams already counted in the server stats.
    invalid_seen: u64,
}

/// A token bucket: `rate` per second, bursts of `rate`.
#[derive(Debug)]
struct RateLimit {
    rate: u64,
    tokens: u64,
    last: Instant,
}

impl RateLimit {
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_since(self.last).as_micros();
        let refill = elapsed.saturating_mul(self.rate) / 1_000_000;
        if refill > 0 {
            self.tokens = (self.tokens + refill).min(self.rate);
            self.last = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// A reliable-UDP server.
///
/// Call [`poll`](Self::poll) in a loop: it waits for datagrams or the next timer, then
/// receives, runs timers and sends. Between polls, [`accept`](Self::accept) new clients,
/// [`receive`](Self::receive) their messages, [`send`](Self::send) to them and read
/// [`poll_event`](Self::poll_event) for disconnects and timeouts.
pub struct RudpServer {
    socket: mio::net::UdpSocket,
    io: Io,
    busy: BusyPoll,
    cfg: RudpConfig,
    gate: Gate,
    clock: Clock,
    handshakes: RateLimit,
    /// Boxed: a slot vector grown by doubling would otherwise reserve whole records.
    slots: Vec<Option<Box<Client>>>,
    free: Vec<usize>,
    by_addr: HashMap<SocketAddr, usize>,
    pool: ArenaPool,
    work: VecDeque<usize>,
    readable: VecDeque<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    accepted: VecDeque<SocketAddr>,
    out_events: VecDeque<ServerEvent>,
    reply: Vec<u8>,
    stats: ServerStats,
    /// Datagrams were left in the socket when the last `process` hit its batch limit.
    backlog: bool,
}

impl std::fmt::Debug for RudpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RudpServer").field("clients", &self.by_addr.len()).field("stats", &self.stats).finish()
    }
}

/// The socket, for options this crate does not set (DSCP marks, `SO_MARK`, ...).
#[cfg(unix)]
impl std::os::fd::AsFd for RudpServer {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl RudpServer {
    /// A server on `addr` with default settings and reliable windows of `window`
    /// messages.
    pub fn bind(addr: SocketAddr, window: u16) -> io::Result<Self> {
        Self::with_config(addr, RudpConfig::with_window(window))
    }

    /// A server on `addr` with `cfg`.
    pub fn with_config(addr: SocketAddr, cfg: RudpConfig) -> io::Result<Self> {
        cfg.validate()?;
        let mut socket = sys::bind(addr, cfg.socket())?;
        let io = Io::new(&mut socket, cfg.io, cfg.protocol.max_datagram as usize, cfg.batch)?;
        let clock = Clock::new();
        let now = clock.now();
        let pool = ArenaPool::new(&cfg.protocol, cfg.spare_storage_bytes);
        Ok(RudpServer {
            socket,
            io,
            busy: BusyPoll::new(cfg.busy_poll),
            gate: Gate::new(&cfg.protocol, random_key()?),
            handshakes: RateLimit {
                rate: u64::from(cfg.handshakes_per_sec),
                tokens: u64::from(cfg.handshakes_per_sec),
                last: now,
            },
            cfg,
            clock,
            slots: Vec::new(),
            free: Vec::new(),
            by_addr: HashMap::new(),
            pool,
            work: VecDeque::new(),
            readable: VecDeque::new(),
            timers: BinaryHeap::new(),
            accepted: VecDeque::new(),
            out_events: VecDeque::new(),
            reply: vec![0; sys::SLOT],
            stats: ServerStats::default(),
            backlog: false,
        })
    }

    /// A handle other threads use to make [`poll`](Self::poll) return early.
    pub fn waker(&mut self) -> io::Result<crate::RudpWaker> {
        self.io.waker()
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Waits up to `timeout` (or until the next timer, or not at all when work is
    /// pending) for datagrams, then receives everything waiting, runs due timers and
    /// sends what is due.
    pub fn poll(&mut self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        // Entries whose slot's deadline moved since are stale: drop them from the top,
        // or the loop would wake for nothing (an ack deadline just met by a send).
        while let Some(&Reverse((at, i))) = self.timers.peek() {
            if self.slots[i].as_ref().is_some_and(|c| c.deadline == Some(at)) {
                break;
            }
            self.timers.pop();
        }
        let next = if self.work.is_empty() && !self.backlog {
            self.timers.peek().map(|Reverse((at, _))| *at)
        } else {
            Some(Instant::from_micros(0))
        };
        wait(&mut self.io, &mut self.socket, &self.clock, timeout, next, &mut self.busy)?;
        self.process()
    }

    /// Receives, runs timers and sends, without waiting. A fixed-rate loop that sleeps
    /// on its own and calls only this never registers the socket with epoll (mio), which
    /// spares the kernel a visit to that entry for every datagram in and out.
    pub fn process(&mut self) -> io::Result<()> {
        self.receive_datagrams()?;
        let now = self.clock.now();
        self.run_timers(now);
        self.flush()
    }

    /// Processes queued work (events, transmits) and sends every datagram now.
    pub fn flush(&mut self) -> io::Result<()> {
        let now = self.clock.now();
        while let Some(i) = self.work.pop_front() {
            self.service(now, i)?;
        }
        self.send_queued()
    }

    /// The next newly connected client.
    pub fn accept(&mut self) -> Option<SocketAddr> {
        self.accepted.pop_front()
    }

    /// The next connect or disconnect.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.out_events.pop_front()
    }

    /// Sends `data` to `addr` reliably and in order (channel 0).
    pub fn send(&mut self, addr: &SocketAddr, data: &[u8]) -> Result<(), TransportError> {
        self.send_on(addr, RELIABLE_ORDERED, data)
    }

    /// Sends `data` to `addr` on `channel`, whose delivery mode the configuration sets.
    /// The datagram goes out at the next [`flush`](Self::flush) or poll.
    pub fn send_on(&mut self, addr: &SocketAddr, channel: u8, data: &[u8]) -> Result<(), TransportError> {
        let i = *self.by_addr.get(addr).ok_or(TransportError::UnknownPeer)?;
        let client = self.slots[i].as_mut().ok_or(TransportError::UnknownPeer)?;
        client.conn.active(&mut self.pool)?.send(channel, data)?;
        client.active_at = self.clock.now();
        self.touch(i);
        Ok(())
    }

    /// Hands `addr`'s received messages to `f` in arrival order (per channel, in each
    /// channel's delivery order); returns how many.
    pub fn receive(&mut self, addr: &SocketAddr, mut f: impl FnMut(&[u8])) -> usize {
        let Some(&i) = self.by_addr.get(addr) else { return 0 };
        self.drain_inbox(i, |_, data| f(data))
    }

    /// Hands every client's received messages to `f` as `(client, channel, message)`;
    /// returns how many.
    pub fn receive_all(&mut self, mut f: impl FnMut(SocketAddr, u8, &[u8])) -> usize {
        let mut n = 0;
        while let Some(i) = self.readable.pop_front() {
            let Some(c) = self.slots[i].as_mut() else { continue };
            c.readable = false;
            let addr = c.conn.remote();
            n += self.drain_inbox(i, |ch, data| f(addr, ch, data));
        }
        n
    }

    /// Closes the connection with `addr`, telling the client `code`.
    pub fn disconnect(&mut self, addr: &SocketAddr, code: u16) -> Result<(), TransportError> {
        let i = *self.by_addr.get(addr).ok_or(TransportError::UnknownPeer)?;
        let now = self.clock.now();
        if let Some(c) = self.slots[i].as_mut() {
            c.conn.active(&mut self.pool)?.close(now, code);
        }
        self.touch(i);
        Ok(())
    }

    /// Round-trip time, loss and byte counters of the connection with `addr`.
    pub fn client_stats(&self, addr: &SocketAddr) -> Option<Stats> {
        let i = *self.by_addr.get(addr)?;
        Some(self.slots[i].as_ref()?.conn.stats())
    }

    /// Bytes held for `addr`'s delivered messages not yet read, with a 5-byte header per
    /// message (at most the configuration's `inbox_bytes` plus one message).
    pub fn unread_bytes(&self, addr: &SocketAddr) -> usize {
        self.by_addr.get(addr).and_then(|&i| self.slots[i].as_ref()).map_or(0, |c| c.inbox.len())
    }

    /// Addresses of the connected clients.
    pub fn clients(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.by_addr.keys().copied()
    }

    /// Server counters.
    pub fn stats(&self) -> ServerStats {
        let gate = self.gate.stats();
        ServerStats {
            challenges: gate.challenges,
            rejected: gate.rejected,
            invalid_dropped: self.stats.invalid_dropped + gate.invalid_dropped,
            send_dropped: self.io.send_dropped(),
            gso_segments: self.io.gso_segments(),
            gro_segments: self.io.gro_segments(),
            storage_failures: self.pool.failures,
            clients: self.by_addr.len(),
            parked: self.pool.parked,
            unparks: self.pool.unparks,
            ..self.stats
        }
    }

    /// The I/O backend in use (after `Auto` and any fallback).
    pub fn backend(&self) -> IoBackend {
        self.io.backend()
    }

    /// The settings.
    pub fn config(&self) -> &RudpConfig {
        &self.cfg
    }

    fn receive_datagrams(&mut self) -> io::Result<()> {
        self.backlog = false;
        let mut taken = 0;
        while taken < sys::MAX_DATAGRAMS_PER_PROCESS {
            let n = self.io.recv(&self.socket)?;
            taken += n.max(1);
            let now = self.clock.now();
            let mut unread_full = false;
            for k in 0..n {
                if let Some(i) = self.datagram(now, k) {
                    // A long burst from one client: ack it before handling the rest.
                    self.service(now, i)?;
                    self.send_queued()?;
                    let cap = self.cfg.protocol.inbox_bytes as usize;
                    unread_full |= self.slots[i].as_ref().is_some_and(|c| c.inbox.len() >= cap);
                }
            }
            if unread_full {
                // The acks let that client send a window more than the application has
                // read: hand over what arrived before taking more from the socket, where
                // the rest waits instead of being dropped for a full inbox.
                break;
            }
            if !self.io.more_waiting() {
                return Ok(());
            }
        }
        self.backlog = true;
        Ok(())
    }

    /// Handles received datagram `k`; returns the client that must be acked before more
    /// is handled (`Connection::ack_overdue`).
    fn datagram(&mut self, now: Instant, k: usize) -> Option<usize> {
        let (from, data) = self.io.received(k)?;
        self.stats.datagrams_received += 1;
        if !sys::answerable(&from) {
            self.stats.invalid_dropped += 1;
            return None;
        }
        if let Some(&i) = self.by_addr.get(&from) {
            let mut overdue = false;
            if let Some(c) = self.slots[i].as_mut() {
                // Without storage the datagram is dropped (and counted); the peer resends.
                if c.conn.handle_datagram(&mut self.pool, now, data).is_err() {
                    return None;
                }
                let invalid = c.conn.stats().invalid_dropped;
                self.stats.invalid_dropped += invalid - c.invalid_seen;
                c.invalid_seen = invalid;
                overdue = c.conn.if_active().is_some_and(|live| live.ack_overdue());
            }
            self.touch(i);
            return overdue.then_some(i);
        }
        // Only handshake packets cost tokens, so a flood of garbage cannot lock real
        // clients out; the gate drops the garbage and counts it.
        let handshake = Packet::new_checked(data)
            .is_ok_and(|p| matches!(p.kind(), PacketType::ConnectRequest | PacketType::ChallengeResponse));
        if handshake && !self.handshakes.take(now) {
            self.stats.handshakes_limited += 1;
            return None;
        }
        // Copy out: admitting needs `self` whole while `data` borrows the receive buffer.
        let len = data.len();
        let data: Vec<u8> = data.to_vec();
        let action = match self.gate.handle(now, from, &data, &mut self.reply) {
            GateAction::Admit { nonce, salt } => match self.admit(now, from, nonce, salt) {
                Ok(()) => return None,
                Err(reason) => self.gate.refuse(nonce, reason, len, &mut self.reply),
            },
            action => action,
        };
        if let GateAction::Reply(n) = action {
            if self.io.send_full() {
                let _ = self.send_queued();
            }
            let (io, reply) = (&mut self.io, &self.reply);
            io.queue(from, &reply[..n]);
        }
        None
    }

    fn admit(&mut self, now: Instant, from: SocketAddr, nonce: u64, salt: u64) -> Result<(), RejectReason> {
        if self.by_addr.len() >= self.cfg.max_clients {
            return Err(RejectReason::ServerFull);
        }
        let Ok(storage) = self.pool.take() else { return Err(RejectReason::ServerFull) };
        let conn = match Connection::accept(&self.cfg.protocol, storage, now, from, nonce, salt) {
            Ok(c) => c,
            Err(_) => return Err(RejectReason::ServerFull),
        };
        let client = Box::new(Client {
            conn: Conn::new(conn),
            active_at: now,
            inbox: Vec::new(),
            queued: false,
            readable: false,
            deadline: None,
            invalid_seen: 0,
        });
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(client);
                i
            }
            None => {
                self.slots.push(Some(client));
                self.slots.len() - 1
            }
        };
        self.by_addr.insert(from, i);
        self.stats.accepted += 1;
        self.touch(i);
        Ok(())
    }

    /// Queues client `i` for [`service`](Self::service).
    fn touch(&mut self, i: usize) {
        if let Some(c) = self.slots[i].as_mut() {
            if !c.queued {
                c.queued = true;
                self.work.push_back(i);
            }
        }
    }

    /// Moves client `i`'s events out, sends its datagrams, parks it if it has been idle
    /// long enough, and files its next deadline; frees it once it is closed and its last
    /// event was taken.
    fn service(&mut self, now: Instant, i: usize) -> io::Result<()> {
        let Some(c) = self.slots[i].as_mut() else { return Ok(()) };
        c.queued = false;
        let addr = c.conn.remote();
        let cap = self.cfg.protocol.inbox_bytes as usize;
        let Client { conn, inbox, readable, active_at, .. } = &mut **c;
        let mut park = false;
        if let Some(live) = conn.if_active() {
            // Leave messages in the connection once the unread ones reach the cap: it
            // stops taking more, and the sender backs off.
            while inbox.len() < cap {
                let Some(event) = live.poll_event() else { break };
                match event {
                    Event::Connected => {
                        self.accepted.push_back(addr);
                        self.out_events.push_back(ServerEvent::Connected(addr));
                    }
                    Event::Message { channel, data } => {
                        // The cap counts the 5-byte record headers, so empty messages
                        // fill it too.
                        inbox.push(channel);
                        inbox.extend_from_slice(&(data.len() as u32).to_le_bytes());
                        inbox.extend_from_slice(data);
                        *active_at = now;
                        if !*readable {
                            *readable = true;
                            self.readable.push_back(i);
                        }
                    }
                    Event::Disconnected(reason) => self.out_events.push_back(ServerEvent::Disconnected(addr, reason)),
                }
            }
            park = inbox.is_empty()
                && now.saturating_since(*active_at).as_micros() >= self.cfg.park_after.as_micros() as u64
                && conn.if_active().is_some_and(|live| live.is_quiescent());
        }
        let was_active = conn.if_active().is_some();
        loop {
            if self.io.send_full() {
                if let Err(e) = self.send_queued() {
                    // Queue the client again so it is not stranded without a deadline.
                    self.touch(i);
                    return Err(e);
                }
            }
            let Some(c) = self.slots[i].as_mut() else { return Ok(()) };
            // Without storage for a parked client that needs it, try again at its timer.
            let Ok(Some(n)) = c.conn.poll_transmit(&mut self.pool, now, self.io.send_buf()) else { break };
            self.io.commit(addr, n);
            self.stats.datagrams_sent += 1;
        }
        let Some(c) = self.slots[i].as_mut() else { return Ok(()) };
        if !was_active && c.conn.if_active().is_some() {
            // Its timers ended the parked client's quiescence (it timed out): run it again
            // for its events.
            self.touch(i);
            return Ok(());
        }
        if c.conn.is_drained() && c.inbox.is_empty() {
            self.release(i);
            return Ok(());
        }
        if park && c.conn.park(&mut self.pool) {
            // An empty queue gives its buffer back too.
            c.inbox = Vec::new();
        }
        let deadline = c.conn.poll_timeout();
        if deadline.is_some() && deadline != c.deadline {
            c.deadline = deadline;
            self.timers.push(Reverse((deadline.unwrap_or(now), i)));
        }
        Ok(())
    }

    fn release(&mut self, i: usize) {
        if let Some(c) = self.slots[i].take() {
            self.by_addr.remove(&c.conn.remote());
            c.conn.release(&mut self.pool);
            self.free.push(i);
        }
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, i))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            // Entries of a slot whose deadline moved since are stale.
            let Some(c) = self.slots[i].as_mut() else { continue };
            if c.deadline != Some(at) {
                continue;
            }
            match c.conn.handle_timeout(&mut self.pool, now) {
                Ok(()) => {
                    c.deadline = None;
                    self.touch(i);
                }
                Err(_) => {
                    // No memory for its storage now: try again shortly.
                    let retry = now + kaos_core::time::Duration::from_millis(10);
                    c.deadline = Some(retry);
                    self.timers.push(Reverse((retry, i)));
                }
            }
        }
        // Stale entries pile up while clients are busy; rebuild when they dominate.
        if self.timers.len() > 4 * self.by_addr.len() + 1024 {
            self.timers =
                self.slots.iter().enumerate().filter_map(|(i, c)| Some(Reverse((c.as_ref()?.deadline?, i)))).collect();
        }
    }

    fn drain_inbox(&mut self, i: usize, mut f: impl FnMut(u8, &[u8])) -> usize {
        let Some(c) = self.slots[i].as_mut() else { return 0 };
        let was_full = c.inbox.len() >= self.cfg.protocol.inbox_bytes as usize;
        let (mut n, mut at) = (0, 0);
        while let Some(header) = c.inbox.get(at..at + 5) {
            let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
            f(header[0], &c.inbox[at + 5..at + 5 + len]);
            at += 5 + len;
            n += 1;
        }
        c.inbox.clear();
        let drained = c.conn.is_drained();
        if was_full || drained {
            // Messages (or the final event) may wait in the connection.
            self.touch(i);
        }
        n
    }

    fn send_queued(&mut self) -> io::Result<()> {
        self.io.flush(&self.socket)
    }
}
