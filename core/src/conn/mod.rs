//! The [`Connection`] state machine, in quinn-proto's sans-IO shape.
//!
//! The caller owns the socket and the clock. It feeds datagrams to
//! [`handle_datagram`](Connection::handle_datagram), drains datagrams to send with
//! [`poll_transmit`](Connection::poll_transmit), drains [`Event`]s with
//! [`poll_event`](Connection::poll_event), and calls
//! [`handle_timeout`](Connection::handle_timeout) once the instant from
//! [`poll_timeout`](Connection::poll_timeout) has passed. Every call takes `now`.
//!
//! Handshake (client view): `ConnectRequest` (padded) → the server answers with a
//! stateless `Challenge` holding a cookie (keyed hash of our address and a time bucket)
//! → `ChallengeResponse` echoing it → `Accept` with the salt that keys every later
//! packet's checksum. The server side of a connection is created by
//! [`crate::endpoint::Endpoint`] only once the cookie comes back.
//!
//! All memory is the caller's `storage` (`Config::storage_words` words), laid out once.

mod park;
mod receive;
mod transmit;

pub use park::ParkedConnection;

use core::net::SocketAddr;

use bytemuck::{Pod, Zeroable};

use crate::channel::{RecvSlot, ReliableReceiver, ReliableSender, SendError, SendSlot, UnreliableState};
use crate::config::{Config, ConfigError, Layout, MAX_CHANNELS};
use crate::congestion::{Aimd, RttEstimator, Stats};
use crate::fragment::Reassembler;
use crate::queue::ByteQueue;
use crate::time::{Duration, Instant};
use crate::window::BitmapWindow;
use crate::wire::RejectReason;
use transmit::LOSS_GRANULARITY;

/// Packets received unacked after which `ack_overdue` asks for an ack: half the 64
/// packets one ack covers, leaving room for reordering.
const ACK_OVERDUE_PACKETS: u32 = 32;

/// One sent data packet awaiting its ack.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub(crate) struct SentPacket {
    pub(crate) sent_time: u64,
    pub(crate) refs_start: u32,
    pub(crate) refs_count: u16,
    pub(crate) size: u16,
    pub(crate) seq: u16,
    pub(crate) flags: u16,
    pub(crate) _pad: u32,
}

/// `SentPacket::flags`: the slot holds an unresolved ack-eliciting packet.
pub(crate) const SENT_OUTSTANDING: u16 = 1;

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// This side called [`Connection::close`] with this code.
    Local(u16),
    /// The peer closed with this code.
    Remote(u16),
    /// Nothing valid arrived within the idle timeout.
    TimedOut,
    /// The server never completed the handshake.
    HandshakeTimeout,
    /// The server refused the connection.
    Rejected(RejectReason),
    /// The peer sent something no correct implementation sends.
    ProtocolViolation,
}

/// Something that happened on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// The handshake completed; messages flow.
    Connected,
    /// A message arrived on `channel`.
    Message {
        /// Channel index.
        channel: u8,
        /// The whole message.
        data: &'a [u8],
    },
    /// The connection ended; no more events follow.
    Disconnected(DisconnectReason),
}

/// Which side of the handshake this connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Opened with [`Connection::connect`].
    Client,
    /// Created by a server after the cookie came back.
    Server,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Connected,
    Closing { code: u16, sends_left: u8 },
    Closed,
}

/// The memory regions of a connection, carved from its storage for one call.
pub(crate) struct Mem<'a> {
    pub(crate) sent: &'a mut [SentPacket],
    pub(crate) refs: &'a mut [u32],
    pub(crate) inbox: &'a mut [u8],
    pub(crate) outbox: &'a mut [u8],
    pub(crate) reasm: &'a mut [u8],
    pub(crate) chans: [ChanMem<'a>; MAX_CHANNELS],
}

/// A reliable channel's regions (empty for unreliable channels).
#[derive(Default)]
pub(crate) struct ChanMem<'a> {
    pub(crate) send_slots: &'a mut [SendSlot],
    pub(crate) send_bytes: &'a mut [u8],
    pub(crate) recv_slots: &'a mut [RecvSlot],
    pub(crate) recv_bytes: &'a mut [u8],
}

fn take<'a>(rest: &mut &'a mut [u64], words: usize) -> &'a mut [u64] {
    let (head, tail) = core::mem::take(rest).split_at_mut(words);
    *rest = tail;
    head
}

fn as_bytes(words: &mut [u64], len: usize) -> &mut [u8] {
    &mut bytemuck::cast_slice_mut::<u64, u8>(words)[..len]
}

/// The inbox alone: the per-message event path needs nothing else.
fn inbox_of<'a>(cfg: &Config, layout: &Layout, storage: &'a mut [u64]) -> &'a mut [u8] {
    as_bytes(&mut storage[layout.inbox.range()], cfg.inbox_bytes as usize)
}

impl Mem<'_> {
    #[inline(always)]
    fn carve<'a>(cfg: &Config, layout: &Layout, storage: &'a mut [u64]) -> Mem<'a> {
        let mut rest = &mut storage[..layout.total_words];
        let sent = bytemuck::cast_slice_mut(take(&mut rest, layout.sent.words()));
        let refs = bytemuck::cast_slice_mut(take(&mut rest, layout.refs.words()));
        let inbox = as_bytes(take(&mut rest, layout.inbox.words()), cfg.inbox_bytes as usize);
        let outbox = as_bytes(take(&mut rest, layout.outbox.words()), cfg.outbox_bytes as usize);
        let reasm = bytemuck::cast_slice_mut(take(&mut rest, layout.reassembly.words()));
        let mut chans: [ChanMem<'a>; MAX_CHANNELS] = Default::default();
        for (i, c) in cfg.channels.iter().enumerate() {
            if c.kind.is_reliable() {
                let r = layout.channel(cfg, i);
                chans[i] = ChanMem {
                    send_slots: bytemuck::cast_slice_mut(take(&mut rest, r.send_slots.words())),
                    send_bytes: as_bytes(take(&mut rest, r.send_bytes.words()), c.buffer_bytes as usize),
                    recv_slots: bytemuck::cast_slice_mut(take(&mut rest, r.recv_slots.words())),
                    recv_bytes: as_bytes(take(&mut rest, r.recv_bytes.words()), c.buffer_bytes as usize),
                };
            }
        }
        Mem { sent: &mut sent[..cfg.sent_packets as usize], refs, inbox, outbox, reasm, chans }
    }
}

/// Everything but the storage.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) cfg: Config,
    pub(crate) layout: Layout,
    pub(crate) role: Role,
    phase: Phase,
    pub(crate) remote: SocketAddr,
    pub(crate) nonce: u64,
    pub(crate) salt: u64,
    // Client handshake.
    challenge: Option<(u32, [u8; crate::wire::COOKIE_LEN])>,
    hs_next_send: Instant,
    hs_deadline: Instant,
    // Server handshake.
    accept_pending: bool,
    // Sending.
    pub(crate) next_seq: u16,
    pub(crate) oldest_seq: u16,
    pub(crate) largest_acked: Option<u16>,
    /// Send time of the oldest outstanding packet: the retransmission timer's base.
    pub(crate) rto_base: Option<Instant>,
    /// When an outstanding packet overtaken by acked ones counts as lost by time.
    pub(crate) loss_time: Option<Instant>,
    pub(crate) refs_head: u32,
    pub(crate) refs_tail: u32,
    pub(crate) rr_channel: usize,
    pub(crate) outbox_q: ByteQueue,
    pub(crate) outbox_frag_next: u8,
    pub(crate) ping_pending: bool,
    /// When to probe for the ack a waiting sender asked for (see `probe_timeout`).
    pub(crate) probe_at: Option<Instant>,
    /// Probes sent since the last ack: each waits twice as long.
    pub(crate) probes: u8,
    /// A probe (ack-eliciting, ack-now) is due.
    pub(crate) probe_pending: bool,
    /// When the last probe went out, until an ack arrives.
    pub(crate) last_probe: Option<Instant>,
    pub(crate) last_send: Instant,
    // Receiving.
    pub(crate) recv_window: BitmapWindow,
    pub(crate) latest_recv_time: Instant,
    pub(crate) last_recv: Instant,
    pub(crate) unacked_eliciting: u32,
    pub(crate) ack_deadline: Option<Instant>,
    pub(crate) inbox_q: ByteQueue,
    pub(crate) reasm: Reassembler,
    // Channels.
    pub(crate) rel_send: [ReliableSender; MAX_CHANNELS],
    pub(crate) rel_recv: [ReliableReceiver; MAX_CHANNELS],
    pub(crate) unrel: [UnreliableState; MAX_CHANNELS],
    // Path.
    pub(crate) rtt: RttEstimator,
    pub(crate) cc: Aimd,
    pub(crate) stats: Stats,
    // Events.
    pending_pop: bool,
    connected_event: bool,
    disconnect_event: Option<DisconnectReason>,
    drained: bool,
}

/// A KaosNet connection over caller-provided storage `S` (`[u64; N]`, `&mut [u64]`,
/// `Box<[u64]>`...).
#[derive(Debug)]
pub struct Connection<S> {
    storage: S,
    st: State,
}

impl<S: AsMut<[u64]>> Connection<S> {
    fn new(cfg: &Config, mut storage: S, now: Instant, remote: SocketAddr, role: Role) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let layout = Layout::new(cfg);
        let words = storage.as_mut();
        if words.len() < layout.total_words {
            return Err(ConfigError::StorageTooSmall);
        }
        park::clear_tables(cfg, &layout, words);
        let st = State {
            layout,
            role,
            phase: Phase::Connecting,
            remote,
            nonce: 0,
            salt: 0,
            challenge: None,
            hs_next_send: now,
            hs_deadline: now + cfg.handshake_timeout,
            accept_pending: false,
            next_seq: 0,
            oldest_seq: 0,
            largest_acked: None,
            rto_base: None,
            loss_time: None,
            refs_head: 0,
            refs_tail: 0,
            rr_channel: 0,
            outbox_q: ByteQueue::new(),
            outbox_frag_next: 0,
            ping_pending: false,
            probe_at: None,
            probes: 0,
            probe_pending: false,
            last_probe: None,
            last_send: now,
            recv_window: BitmapWindow::new(),
            latest_recv_time: now,
            last_recv: now,
            unacked_eliciting: 0,
            ack_deadline: None,
            inbox_q: ByteQueue::new(),
            reasm: Reassembler::new(cfg.reassembly_sets as usize, cfg.max_message as usize, cfg.fragment_payload()),
            rel_send: Default::default(),
            rel_recv: Default::default(),
            unrel: Default::default(),
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto).with_max_ack_delay(cfg.max_ack_delay),
            cc: Aimd::new(cfg.max_datagram as u32, cfg.initial_window_packets, cfg.max_window_bytes),
            stats: Stats::default(),
            pending_pop: false,
            connected_event: false,
            disconnect_event: None,
            drained: false,
            cfg: cfg.clone(),
        };
        Ok(Connection { storage, st })
    }

    /// Opens a client connection to `remote`. `nonce` must be unpredictable (random) and
    /// differ between connections. The first [`poll_transmit`](Self::poll_transmit)
    /// yields the connect request.
    pub fn connect(
        cfg: &Config,
        storage: S,
        now: Instant,
        remote: SocketAddr,
        nonce: u64,
    ) -> Result<Self, ConfigError> {
        let mut c = Self::new(cfg, storage, now, remote, Role::Client)?;
        c.st.nonce = nonce;
        Ok(c)
    }

    /// Creates the server side of a connection whose cookie was verified (normally
    /// called by [`crate::endpoint::Endpoint`]): it is connected at once and its first
    /// transmit is the `Accept`.
    pub fn accept(
        cfg: &Config,
        storage: S,
        now: Instant,
        remote: SocketAddr,
        nonce: u64,
        salt: u64,
    ) -> Result<Self, ConfigError> {
        let mut c = Self::new(cfg, storage, now, remote, Role::Server)?;
        c.st.nonce = nonce;
        c.st.salt = salt;
        c.st.phase = Phase::Connected;
        c.st.accept_pending = true;
        c.st.connected_event = true;
        Ok(c)
    }

    /// Processes one received datagram. Invalid datagrams are counted in
    /// [`Stats::invalid_dropped`] and otherwise ignored.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        let mut mem = Mem::carve(&self.st.cfg, &self.st.layout, self.storage.as_mut());
        self.st.handle_datagram(&mut mem, now, datagram);
    }

    /// Writes the next datagram to send into `buf` and returns its length, or `None` when
    /// there is nothing to send now. Call until `None` after every input and timeout.
    /// `buf` must hold at least `Config::max_datagram` bytes to carry full packets.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let mut mem = Mem::carve(&self.st.cfg, &self.st.layout, self.storage.as_mut());
        self.st.handle_timeout(&mut mem, now);
        self.st.poll_transmit(&mut mem, now, buf)
    }

    /// Processes timers (retransmission, keep-alive, idle and handshake timeouts).
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut mem = Mem::carve(&self.st.cfg, &self.st.layout, self.storage.as_mut());
        self.st.handle_timeout(&mut mem, now);
    }

    /// The next event, if any. A message's bytes stay valid until the next call.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        if !self.has_event() {
            return None;
        }
        let st = &mut self.st;
        if st.connected_event {
            st.connected_event = false;
            return Some(Event::Connected);
        }
        let inbox = inbox_of(&st.cfg, &st.layout, self.storage.as_mut());
        if let Some(body) = st.inbox_q.front(inbox) {
            st.pending_pop = true;
            let (channel, data) = body.split_first().unwrap_or((&0, &[]));
            return Some(Event::Message { channel: *channel, data });
        }
        let reason = st.disconnect_event.take()?;
        st.drained = true;
        Some(Event::Disconnected(reason))
    }

    /// Whether [`poll_event`](Self::poll_event) will return an event. Releases the
    /// previously returned message and moves messages held back by a full inbox in.
    pub fn has_event(&mut self) -> bool {
        let st = &mut self.st;
        if st.pending_pop {
            st.pending_pop = false;
            st.inbox_q.pop(inbox_of(&st.cfg, &st.layout, self.storage.as_mut()));
        }
        if st.inbox_q.is_empty() && st.rel_recv.iter().any(|r| r.pending > 0) {
            let Mem { inbox, mut chans, .. } = Mem::carve(&st.cfg, &st.layout, self.storage.as_mut());
            st.drain_channels(&mut chans, inbox);
        }
        st.connected_event || !st.inbox_q.is_empty() || st.disconnect_event.is_some()
    }

    /// Queues a message on `channel`. Reliable channels keep it until acked; unreliable
    /// ones until it is sent. Allowed while connecting (it goes out once connected).
    pub fn send(&mut self, channel: u8, data: &[u8]) -> Result<(), SendError> {
        let st = &mut self.st;
        if !matches!(st.phase, Phase::Connecting | Phase::Connected) {
            return Err(SendError::NotConnected);
        }
        let Some(cc) = st.cfg.channels.get(channel as usize) else { return Err(SendError::UnknownChannel) };
        if data.len() > st.cfg.max_message as usize {
            return Err(SendError::Oversize);
        }
        let words = self.storage.as_mut();
        if cc.kind.is_reliable() {
            let r = st.layout.channel(&st.cfg, channel as usize);
            let region = &mut words[r.send_slots.start()..r.send_bytes.end()];
            let (slots, bytes) = region.split_at_mut(r.send_slots.words());
            let slots: &mut [SendSlot] = bytemuck::cast_slice_mut(slots);
            let bytes = as_bytes(bytes, cc.buffer_bytes as usize);
            let (single, frag) = (st.cfg.single_payload(true), st.cfg.fragment_payload());
            st.rel_send[channel as usize].queue(slots, bytes, data, single, frag)
        } else {
            let r = st.layout.outbox;
            let outbox = as_bytes(&mut words[r.range()], st.cfg.outbox_bytes as usize);
            let body = st.outbox_q.push(outbox, data.len() + 3).ok_or(SendError::Full)?;
            let u = &mut st.unrel[channel as usize];
            body[0] = channel;
            body[1..3].copy_from_slice(&u.next_id.to_le_bytes());
            body[3..].copy_from_slice(data);
            u.next_id = u.next_id.wrapping_add(1);
            Ok(())
        }
    }

    /// Starts a graceful close: queued data is abandoned, the peer is told `code` (the
    /// disconnect packet is sent three times against loss), then the connection is closed.
    pub fn close(&mut self, _now: Instant, code: u16) {
        let st = &mut self.st;
        match st.phase {
            Phase::Connected => st.phase = Phase::Closing { code, sends_left: 3 },
            Phase::Connecting => st.set_closed(DisconnectReason::Local(code)),
            Phase::Closing { .. } | Phase::Closed => {}
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.st.poll_timeout()
    }
}

impl<S> Connection<S> {
    /// Whether the handshake completed and the connection is not closing.
    pub fn is_connected(&self) -> bool {
        self.st.phase == Phase::Connected
    }

    /// Whether the connection is fully closed (a `Disconnected` event is or was pending).
    pub fn is_closed(&self) -> bool {
        self.st.phase == Phase::Closed
    }

    /// Whether the connection is closed and its `Disconnected` event was delivered.
    pub fn is_drained(&self) -> bool {
        self.st.drained
    }

    /// Client or server side.
    pub fn role(&self) -> Role {
        self.st.role
    }

    /// The peer's address.
    pub fn remote(&self) -> SocketAddr {
        self.st.remote
    }

    /// The checksum key of data packets (zero before the handshake completes). Exposed
    /// for test and fuzzing tools that forge well-formed packets.
    pub fn checksum_key(&self) -> u64 {
        self.st.salt
    }

    /// The handshake nonce.
    pub fn nonce(&self) -> u64 {
        self.st.nonce
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.st.cfg
    }

    /// Current statistics.
    pub fn stats(&self) -> Stats {
        self.st.stats()
    }

    /// Bytes of unacked reliable data held for `channel` (never above its `buffer_bytes`).
    pub fn send_buffered(&self, channel: u8) -> usize {
        match self.st.rel_send.get(channel as usize) {
            Some(s) => s.head.wrapping_sub(s.tail) as usize,
            None => 0,
        }
    }

    /// Whether so many packets arrived since this side last sent that an ack must go out
    /// before more are handled: one ack reports the newest packet and the 64 before it,
    /// so a loop that handles a long burst before sending would leave the sender to take
    /// the unreported ones for lost. A receive loop should send when this turns true.
    pub fn ack_overdue(&self) -> bool {
        self.st.unacked_eliciting >= ACK_OVERDUE_PACKETS
    }

    /// Whether `channel` has reliable messages not yet acked.
    pub fn has_unacked(&self, channel: u8) -> bool {
        self.st.rel_send.get(channel as usize).is_some_and(|s| !s.is_idle())
    }

    /// Bytes used in the inbox (never above `Config::inbox_bytes`).
    pub fn inbox_used(&self) -> usize {
        self.st.inbox_q.used()
    }

    /// Gives the storage back.
    pub fn into_storage(self) -> S {
        self.storage
    }
}

impl State {
    fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.rtt = self.rtt.smoothed();
        s.rtt_var = self.rtt.variance();
        s.cwnd = self.cc.window();
        (s.window_cuts, s.random_loss_cuts) = (self.cc.cuts, self.cc.random_cuts);
        s
    }

    pub(crate) fn set_closed(&mut self, reason: DisconnectReason) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.disconnect_event = Some(reason);
        }
    }

    fn drain_channels(&mut self, chans: &mut [ChanMem<'_>; MAX_CHANNELS], inbox: &mut [u8]) {
        let count = self.cfg.channels.len();
        for (i, c) in chans.iter_mut().enumerate().take(count) {
            let kind = self.cfg.channels[i].kind;
            if !kind.is_reliable() || self.rel_recv[i].pending == 0 {
                continue;
            }
            let ordered = kind == crate::config::ChannelKind::ReliableOrdered;
            let r = self.rel_recv[i].deliver(
                ordered,
                i as u8,
                c.recv_slots,
                c.recv_bytes,
                &mut self.inbox_q,
                inbox,
                self.cfg.max_message as usize,
                &mut self.stats.messages_delivered,
            );
            if r.is_err() {
                self.set_closed(DisconnectReason::ProtocolViolation);
            }
        }
    }

    fn handle_timeout(&mut self, mem: &mut Mem<'_>, now: Instant) {
        match self.phase {
            Phase::Connecting => {
                if now >= self.hs_deadline {
                    self.set_closed(DisconnectReason::HandshakeTimeout);
                }
            }
            Phase::Connected => {
                if now - self.last_recv >= self.cfg.idle_timeout {
                    self.set_closed(DisconnectReason::TimedOut);
                    return;
                }
                if self.loss_time.is_some_and(|t| now >= t) {
                    self.detect_lost(mem, now);
                    self.advance_oldest(mem);
                }
                if self.probe_at.is_some_and(|t| now >= t) {
                    self.probe_at = None;
                    self.probe_pending = self.oldest_seq != self.next_seq;
                }
                if let Some(deadline) = self.rto_deadline() {
                    if now >= deadline {
                        self.on_rto(mem, now);
                    }
                }
                if now - self.last_send >= self.cfg.keepalive_interval {
                    self.ping_pending = true;
                }
                if self.reasm.in_use() > 0 {
                    self.reasm.expire(now, self.cfg.fragment_timeout);
                }
            }
            Phase::Closing { .. } | Phase::Closed => {}
        }
    }

    /// How long a sender that asked for an immediate ack waits for it before probing:
    /// RFC 9002's probe timeout without the peer's ack delay (it acks at once), so a
    /// probe goes out `max_ack_delay` before the retransmission timer would fire;
    /// doubled per unanswered probe.
    pub(crate) fn probe_timeout(&self) -> Duration {
        let var = (4 * self.rtt.variance().as_micros()).max(LOSS_GRANULARITY.as_micros());
        Duration::from_micros((self.rtt.smoothed().as_micros() + var) << self.probes.min(6))
    }

    /// The retransmission timer: an RTO after the oldest outstanding packet, and after
    /// the last probe (whose ack tells what was lost without declaring it all lost).
    fn rto_deadline(&self) -> Option<Instant> {
        let rto = self.rtt.rto();
        self.rto_base.map(|b| (b + rto).max(self.last_probe.map_or(b, |p| p + rto)))
    }

    /// Re-reads the send time of the oldest outstanding packet after `oldest_seq` moved.
    pub(crate) fn update_rto_base(&mut self, sent: &[SentPacket]) {
        self.rto_base = None;
        if self.oldest_seq != self.next_seq {
            let p = &sent[self.oldest_seq as usize & (sent.len() - 1)];
            if p.flags & SENT_OUTSTANDING != 0 && p.seq == self.oldest_seq {
                self.rto_base = Some(Instant::from_micros(p.sent_time));
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Connecting => Some(self.hs_next_send.min(self.hs_deadline)),
            Phase::Closing { .. } => Some(Instant::ZERO),
            Phase::Closed => None,
            Phase::Connected => {
                let mut t = (self.last_recv + self.cfg.idle_timeout).min(self.last_send + self.cfg.keepalive_interval);
                if let Some(a) = self.ack_deadline {
                    t = t.min(a);
                }
                if let Some(d) = self.rto_deadline() {
                    t = t.min(d);
                }
                if let Some(l) = self.loss_time {
                    t = t.min(l);
                }
                if let Some(p) = self.probe_at.filter(|_| self.oldest_seq != self.next_seq) {
                    t = t.min(p);
                }
                if let Some(f) = self.reasm.next_expiry(self.cfg.fragment_timeout) {
                    t = t.min(f);
                }
                if self.accept_pending || self.ping_pending || self.probe_pending {
                    t = Instant::ZERO;
                }
                Some(t)
            }
        }
    }

    /// Duration of `units` of 8 µs (the wire's ack-delay unit).
    fn ack_delay_of(units: u16) -> Duration {
        Duration::from_micros(units as u64 * 8)
    }
}
