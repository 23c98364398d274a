//! IPv4 multicast with sequence numbers, gap detection and NAK-driven repair.
//!
//! Every member of a group can send and receive. A sender numbers its messages and keeps
//! the last `history` of them; a receiver delivers each sender's messages in order,
//! holds out-of-order ones (up to `window`), and on a gap sends a NAK to the sender,
//! which multicasts the missing messages again from its history (or answers that they
//! are gone, and the receiver counts them lost and moves on). Heartbeats carry the
//! sender's next sequence number, so a lost tail is noticed too.
//!
//! Wire format (little-endian), every datagram:
//! `magic "KM" (2) | version (1) | kind (1) | sender id (4) | crc32 of the rest (4) | body`
//! - data (kind 1): `seq (8) | payload`
//! - nak (kind 2): `first seq (8) | count (2)`, unicast to the sender
//! - heartbeat (kind 3): `next seq (8)`
//! - gone (kind 4): `oldest seq still held (8)`, unicast to the NAK's sender
//!
//! Hostile members are bounded: repairs are rate-limited and each message is repaired
//! at most once per NAK interval (NAKs cannot turn into a flood on the group), held
//! out-of-order messages share one byte budget, senders that fall silent are forgotten,
//! and replies never go to a source that cannot be answered.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

const MAGIC: [u8; 2] = *b"KM";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 12;
/// Largest payload of one multicast message (no fragmentation on multicast).
pub const MAX_MULTICAST_PAYLOAD: usize = 1400;
/// Most messages one NAK asks for.
const MAX_NAK_COUNT: u16 = 256;

/// One decoded multicast datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McPacket<'a> {
    /// Message `seq` of `sender`.
    Data {
        /// Sender id.
        sender: u32,
        /// Sequence number.
        seq: u64,
        /// The message.
        payload: &'a [u8],
    },
    /// A request to `sender` for `count` messages from `first`.
    Nak {
        /// Sender id the NAK is for.
        sender: u32,
        /// First missing sequence number.
        first: u64,
        /// How many.
        count: u16,
    },
    /// `sender`'s next sequence number.
    Heartbeat {
        /// Sender id.
        sender: u32,
        /// The sequence number its next message will have.
        next: u64,
    },
    /// `sender` no longer holds messages before `oldest`.
    Gone {
        /// Sender id.
        sender: u32,
        /// Oldest sequence number still held.
        oldest: u64,
    },
}

/// Why a datagram was not a multicast packet of this protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McDecodeError {
    /// Shorter than its header or body.
    Truncated,
    /// Wrong magic or version.
    Foreign,
    /// The checksum does not match.
    Checksum,
    /// Unknown kind, or a body of the wrong size.
    Malformed,
}

impl<'a> McPacket<'a> {
    /// Decodes `buf`; every malformed input gives an error.
    pub fn decode(buf: &'a [u8]) -> Result<Self, McDecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(McDecodeError::Truncated);
        }
        if buf[..2] != MAGIC || buf[2] != VERSION {
            return Err(McDecodeError::Foreign);
        }
        let crc = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
        if crc != checksum(&buf[..8], &buf[HEADER_LEN..]) {
            return Err(McDecodeError::Checksum);
        }
        let sender = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
        let body = &buf[HEADER_LEN..];
        let u64_at = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        match (buf[3], body.len()) {
            (1, n) if n >= 8 && n - 8 <= MAX_MULTICAST_PAYLOAD => {
                Ok(McPacket::Data { sender, seq: u64_at(body), payload: &body[8..] })
            }
            (2, 10) => Ok(McPacket::Nak {
                sender,
                first: u64_at(body),
                count: u16::from_le_bytes(body[8..10].try_into().expect("2 bytes")),
            }),
            (3, 8) => Ok(McPacket::Heartbeat { sender, next: u64_at(body) }),
            (4, 8) => Ok(McPacket::Gone { sender, oldest: u64_at(body) }),
            (1..=4, _) if body.len() < 8 => Err(McDecodeError::Truncated),
            _ => Err(McDecodeError::Malformed),
        }
    }

    /// Encodes into `buf`, returning the length; `None` if `buf` is too small or the
    /// payload too large.
    pub fn encode(&self, buf: &mut [u8]) -> Option<usize> {
        let (kind, sender) = match *self {
            McPacket::Data { sender, .. } => (1, sender),
            McPacket::Nak { sender, .. } => (2, sender),
            McPacket::Heartbeat { sender, .. } => (3, sender),
            McPacket::Gone { sender, .. } => (4, sender),
        };
        let body_len = match *self {
            McPacket::Data { payload, .. } if payload.len() <= MAX_MULTICAST_PAYLOAD => 8 + payload.len(),
            McPacket::Data { .. } => return None,
            McPacket::Nak { .. } => 10,
            McPacket::Heartbeat { .. } | McPacket::Gone { .. } => 8,
        };
        let out = buf.get_mut(..HEADER_LEN + body_len)?;
        out[..2].copy_from_slice(&MAGIC);
        out[2] = VERSION;
        out[3] = kind;
        out[4..8].copy_from_slice(&sender.to_le_bytes());
        let body = &mut out[HEADER_LEN..];
        match *self {
            McPacket::Data { seq, payload, .. } => {
                body[..8].copy_from_slice(&seq.to_le_bytes());
                body[8..].copy_from_slice(payload);
            }
            McPacket::Nak { first, count, .. } => {
                body[..8].copy_from_slice(&first.to_le_bytes());
                body[8..10].copy_from_slice(&count.to_le_bytes());
            }
            McPacket::Heartbeat { next: v, .. } | McPacket::Gone { oldest: v, .. } => {
                body.copy_from_slice(&v.to_le_bytes())
            }
        }
        let crc = checksum(&out[..8], &out[HEADER_LEN..]);
        out[8..12].copy_from_slice(&crc.to_le_bytes());
        Some(HEADER_LEN + body_len)
    }
}

/// Most senders a member tracks; datagrams from further sender ids are dropped, so
/// forged ids cannot grow the table.
const MAX_PEERS: usize = 1024;

/// Most datagrams one [`MulticastTransport::process`] takes from each socket, so a flood
/// cannot hold the caller's loop.
const MAX_RECV_PER_PROCESS: usize = 4096;

/// The state of `sender`, created on first contact (from `from`, starting at `seq`).
/// `None` for a known sender speaking from another address (forged) or a new sender past
/// [`MAX_PEERS`].
fn peer_of(peers: &mut HashMap<u32, Peer>, sender: u32, from: SocketAddr, seq: u64, now: Instant) -> Option<&mut Peer> {
    if !peers.contains_key(&sender) && peers.len() >= MAX_PEERS {
        return None;
    }
    let peer = peers.entry(sender).or_insert_with(|| Peer {
        addr: from,
        next: seq,
        known_end: seq,
        pending: BTreeMap::new(),
        last_nak: None,
        heard: now,
    });
    if peer.addr != from {
        return None;
    }
    peer.heard = now;
    Some(peer)
}

fn checksum(head: &[u8], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(head);
    h.update(body);
    h.finalize()
}

/// Settings of a [`MulticastTransport`].
#[derive(Debug, Clone)]
pub struct MulticastConfig {
    /// The group and port, e.g. `239.255.0.1:7400`.
    pub group: SocketAddrV4,
    /// The interface to send and receive on (`127.0.0.1` for loopback).
    pub interface: Ipv4Addr,
    /// Messages a sender keeps for repair.
    pub history: usize,
    /// Out-of-order messages a receiver holds per sender while it waits for a repair.
    pub window: usize,
    /// Time between NAKs for the same gap.
    pub nak_interval: Duration,
    /// Time between heartbeats of a sender that has sent something.
    pub heartbeat_interval: Duration,
    /// Requested kernel receive buffer, bytes.
    pub recv_buffer: usize,
    /// Most messages resent per second in answer to NAKs.
    pub repairs_per_sec: u32,
    /// Bytes of out-of-order messages held for all senders together; past it, further
    /// ones are dropped (and repaired later by NAK).
    pub max_pending_bytes: usize,
    /// A sender not heard from for this long is forgotten (with what is held for it).
    pub peer_timeout: Duration,
}

impl MulticastConfig {
    /// Defaults for `group` on `interface`: 4096 messages of history, a window of 4096,
    /// NAKs every 20 ms, heartbeats every 50 ms, 20,000 repairs/s, 8 MiB held out of
    /// order, senders forgotten after 30 s of silence.
    pub fn new(group: SocketAddrV4, interface: Ipv4Addr) -> Self {
        MulticastConfig {
            group,
            interface,
            history: 4096,
            window: 4096,
            nak_interval: Duration::from_millis(20),
            heartbeat_interval: Duration::from_millis(50),
            recv_buffer: 4 << 20,
            repairs_per_sec: 20_000,
            max_pending_bytes: 8 << 20,
            peer_timeout: Duration::from_secs(30),
        }
    }
}

/// Multicast counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MulticastStats {
    /// Messages sent (first transmissions).
    pub sent: u64,
    /// Messages delivered to the application.
    pub delivered: u64,
    /// Duplicates and messages older than the next expected, dropped.
    pub duplicates: u64,
    /// Gaps noticed (a message or heartbeat past the next expected).
    pub gaps: u64,
    /// NAKs sent.
    pub naks_sent: u64,
    /// Messages resent on request.
    pub repairs_sent: u64,
    /// Messages given up because the sender no longer held them.
    pub lost: u64,
    /// Datagrams that were not valid packets of this protocol (or came from a source
    /// that cannot be answered).
    pub invalid: u64,
    /// Repairs not sent: over the rate limit or sent again too soon.
    pub repairs_suppressed: u64,
    /// Out-of-order messages not held because the pending budget was spent.
    pub pending_dropped: u64,
    /// Senders forgotten after falling silent.
    pub peers_expired: u64,
    /// Unicast replies (NAKs, "gone") the kernel refused.
    pub send_errors: u64,
}

/// What a receiver knows of one sender.
#[derive(Debug)]
struct Peer {
    addr: SocketAddr,
    next: u64,
    /// Highest sequence number known to exist + 1 (from data or heartbeats).
    known_end: u64,
    pending: BTreeMap<u64, Box<[u8]>>,
    last_nak: Option<Instant>,
    /// When a datagram from it last arrived.
    heard: Instant,
}

/// A member of an IPv4 multicast group that sends numbered messages and receives every
/// other member's in order, repairing gaps by NAK.
pub struct MulticastTransport {
    /// Bound to the group's port and joined: receives the group's traffic.
    group_socket: std::net::UdpSocket,
    /// Bound to a port of its own: sends everything, so NAKs and "gone" answers, which
    /// go back to a datagram's source, reach this member and no other on the host.
    socket: std::net::UdpSocket,
    cfg: MulticastConfig,
    id: u32,
    next_seq: u64,
    /// Sent messages kept for repair, with when each was last repaired.
    history: VecDeque<(u64, Box<[u8]>, Option<Instant>)>,
    last_heartbeat: Option<Instant>,
    peers: HashMap<u32, Peer>,
    /// Bytes held in every peer's `pending`.
    pending_bytes: usize,
    /// Repair tokens (refilled at `repairs_per_sec`) and when they were last refilled.
    repair_tokens: f64,
    refilled: Instant,
    last_expiry: Instant,
    inbox: VecDeque<(u32, Box<[u8]>)>,
    buf: Vec<u8>,
    stats: MulticastStats,
}

impl std::fmt::Debug for MulticastTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MulticastTransport").field("id", &self.id).field("stats", &self.stats).finish()
    }
}

impl MulticastTransport {
    /// Joins `cfg.group` on `cfg.interface` (several members may share the port on one
    /// host), with multicast loopback on so members on the same host hear each other.
    pub fn join(cfg: MulticastConfig) -> io::Result<Self> {
        let group = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        group.set_reuse_address(true)?;
        #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
        group.set_reuse_port(true)?;
        let _ = group.set_recv_buffer_size(cfg.recv_buffer);
        group.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, cfg.group.port())).into())?;
        group.join_multicast_v4(cfg.group.ip(), &cfg.interface)?;
        group.set_nonblocking(true)?;
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        let _ = socket.set_recv_buffer_size(cfg.recv_buffer);
        socket.bind(&SocketAddr::from((cfg.interface, 0)).into())?;
        socket.set_multicast_if_v4(&cfg.interface)?;
        socket.set_multicast_loop_v4(true)?;
        socket.set_nonblocking(true)?;
        let id = u32::from_le_bytes(crate::random_key()?[..4].try_into().expect("4 bytes"));
        let repair_tokens = f64::from(cfg.repairs_per_sec);
        Ok(MulticastTransport {
            group_socket: group.into(),
            socket: socket.into(),
            cfg,
            id,
            next_seq: 0,
            history: VecDeque::new(),
            last_heartbeat: None,
            peers: HashMap::new(),
            pending_bytes: 0,
            repair_tokens,
            refilled: Instant::now(),
            last_expiry: Instant::now(),
            inbox: VecDeque::new(),
            buf: vec![0; 2048],
            stats: MulticastStats::default(),
        })
    }

    /// The unicast address this member sends from and takes NAKs on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// This member's sender id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Multicasts `data` as this member's next message; returns its sequence number.
    pub fn send(&mut self, data: &[u8]) -> io::Result<u64> {
        if data.len() > MAX_MULTICAST_PAYLOAD {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "multicast message above 1400 bytes"));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.history.push_back((seq, data.into(), None));
        if self.history.len() > self.cfg.history {
            self.history.pop_front();
        }
        self.stats.sent += 1;
        self.transmit(McPacket::Data { sender: self.id, seq, payload: data }, self.cfg.group.into())?;
        Ok(seq)
    }

    /// Receives and handles every waiting datagram, sends due NAKs and heartbeats, then
    /// hands the messages now in order to `f` as `(sender id, message)`; returns how many.
    pub fn receive(&mut self, mut f: impl FnMut(u32, &[u8])) -> io::Result<usize> {
        self.process()?;
        let n = self.inbox.len();
        for (sender, data) in self.inbox.drain(..) {
            f(sender, &data);
        }
        Ok(n)
    }

    /// Receives and handles waiting datagrams (up to a bound per call) and sends due
    /// NAKs and heartbeats.
    pub fn process(&mut self) -> io::Result<()> {
        let now = Instant::now();
        for group in [true, false] {
            let mut taken = 0;
            while taken < MAX_RECV_PER_PROCESS {
                let socket = if group { &self.group_socket } else { &self.socket };
                let (n, from) = match socket.recv_from(&mut self.buf) {
                    Ok(r) => r,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // An ICMP error for an earlier reply says nothing about this socket.
                    Err(e) if !group && e.kind() == io::ErrorKind::ConnectionRefused => continue,
                    Err(e) => return Err(e),
                };
                taken += 1;
                if !crate::sys::answerable(&from) {
                    self.stats.invalid += 1;
                    continue;
                }
                let datagram = self.buf[..n].to_vec();
                match McPacket::decode(&datagram) {
                    Ok(p) => self.handle(p, from, now)?,
                    Err(_) => self.stats.invalid += 1,
                }
            }
        }
        self.expire_peers(now);
        self.send_naks(now);
        if self.next_seq > 0 && self.last_heartbeat.is_none_or(|t| now - t >= self.cfg.heartbeat_interval) {
            self.last_heartbeat = Some(now);
            self.transmit(McPacket::Heartbeat { sender: self.id, next: self.next_seq }, self.cfg.group.into())?;
        }
        Ok(())
    }

    /// Counters.
    pub fn stats(&self) -> MulticastStats {
        self.stats
    }

    fn handle(&mut self, packet: McPacket<'_>, from: SocketAddr, now: Instant) -> io::Result<()> {
        match packet {
            McPacket::Data { sender, .. } | McPacket::Heartbeat { sender, .. } | McPacket::Gone { sender, .. }
                if sender == self.id =>
            {
                Ok(()) // our own, looped back
            }
            // The last sequence number is never used, so `seq + 1` cannot overflow.
            McPacket::Data { seq: u64::MAX, .. }
            | McPacket::Heartbeat { next: u64::MAX, .. }
            | McPacket::Gone { oldest: u64::MAX, .. } => {
                self.stats.invalid += 1;
                Ok(())
            }
            McPacket::Data { sender, seq, payload } => {
                let window = self.cfg.window as u64;
                let Some(peer) = peer_of(&mut self.peers, sender, from, seq, now) else {
                    self.stats.invalid += 1;
                    return Ok(());
                };
                peer.known_end = peer.known_end.max(seq + 1);
                if seq < peer.next || peer.pending.contains_key(&seq) {
                    self.stats.duplicates += 1;
                } else if seq == peer.next {
                    peer.next += 1;
                    self.inbox.push_back((sender, payload.into()));
                    self.stats.delivered += 1;
                    self.drain(sender);
                } else if seq - peer.next <= window {
                    if peer.pending.is_empty() {
                        self.stats.gaps += 1;
                        peer.last_nak = None; // ask at once
                    }
                    if self.pending_bytes + payload.len() <= self.cfg.max_pending_bytes {
                        self.pending_bytes += payload.len();
                        peer.pending.insert(seq, payload.into());
                    } else {
                        self.stats.pending_dropped += 1;
                    }
                }
                Ok(())
            }
            McPacket::Heartbeat { sender, next } => {
                let Some(peer) = peer_of(&mut self.peers, sender, from, next, now) else {
                    self.stats.invalid += 1;
                    return Ok(());
                };
                if next > peer.known_end {
                    peer.known_end = next;
                    if peer.pending.is_empty() && next > peer.next {
                        self.stats.gaps += 1;
                        peer.last_nak = None;
                    }
                }
                Ok(())
            }
            McPacket::Gone { sender, oldest } => {
                // Only the sender itself, and only about messages it has announced.
                if let Some(peer) = self.peers.get_mut(&sender).filter(|p| p.addr == from) {
                    if oldest > peer.next && oldest <= peer.known_end {
                        self.stats.lost += oldest - peer.next;
                        peer.next = oldest;
                        let kept = peer.pending.split_off(&oldest);
                        self.pending_bytes -= peer.pending.values().map(|d| d.len()).sum::<usize>();
                        peer.pending = kept;
                        self.drain(sender);
                    }
                }
                Ok(())
            }
            McPacket::Nak { sender, first, count } if sender == self.id => {
                let count = u64::from(count.min(MAX_NAK_COUNT));
                let oldest = self.history.front().map_or(self.next_seq, |(s, ..)| *s);
                if first < oldest {
                    self.reply(McPacket::Gone { sender: self.id, oldest }, from);
                }
                self.refill_repairs(now);
                for seq in first.max(oldest)..first.saturating_add(count).min(self.next_seq) {
                    let (_, payload, repaired) = &mut self.history[(seq - oldest) as usize];
                    // One repair reaches the whole group: NAKs for it from several
                    // receivers (or a forged stream of them) within half an interval get
                    // one (half, so a receiver's next NAK for a lost repair is answered).
                    if repaired.is_some_and(|t| now - t < self.cfg.nak_interval / 2) || self.repair_tokens < 1.0 {
                        self.stats.repairs_suppressed += 1;
                        continue;
                    }
                    *repaired = Some(now);
                    self.repair_tokens -= 1.0;
                    let payload = payload.clone();
                    self.stats.repairs_sent += 1;
                    self.transmit(McPacket::Data { sender: self.id, seq, payload: &payload }, self.cfg.group.into())?;
                }
                Ok(())
            }
            McPacket::Nak { .. } => Ok(()), // for another sender
        }
    }

    /// Delivers `sender`'s held messages that are now in order.
    fn drain(&mut self, sender: u32) {
        let Some(peer) = self.peers.get_mut(&sender) else { return };
        while let Some(data) = peer.pending.remove(&peer.next) {
            self.pending_bytes -= data.len();
            peer.next += 1;
            self.inbox.push_back((sender, data));
            self.stats.delivered += 1;
        }
    }

    fn refill_repairs(&mut self, now: Instant) {
        let rate = f64::from(self.cfg.repairs_per_sec);
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.repair_tokens = (self.repair_tokens + elapsed * rate).min(rate.max(1.0));
        self.refilled = now;
    }

    /// Forgets senders silent for `peer_timeout` (checked about once a second).
    fn expire_peers(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_expiry) < Duration::from_secs(1).min(self.cfg.peer_timeout) {
            return;
        }
        self.last_expiry = now;
        let timeout = self.cfg.peer_timeout;
        let (mut freed, mut expired) = (0, 0);
        self.peers.retain(|_, p| {
            let keep = now.saturating_duration_since(p.heard) < timeout;
            if !keep {
                freed += p.pending.values().map(|d| d.len()).sum::<usize>();
                expired += 1;
            }
            keep
        });
        self.pending_bytes -= freed;
        self.stats.peers_expired += expired;
    }

    fn send_naks(&mut self, now: Instant) {
        let mut naks = Vec::new();
        for (&sender, peer) in &mut self.peers {
            let end = peer.pending.keys().next().copied().unwrap_or(peer.known_end);
            if end <= peer.next || peer.last_nak.is_some_and(|t| now - t < self.cfg.nak_interval) {
                continue;
            }
            peer.last_nak = Some(now);
            let count = (end - peer.next).min(u64::from(MAX_NAK_COUNT)) as u16;
            naks.push((peer.addr, McPacket::Nak { sender, first: peer.next, count }));
        }
        for (addr, nak) in naks {
            self.stats.naks_sent += 1;
            self.reply(nak, addr);
        }
    }

    /// Unicasts `packet` to one member; a refusal is counted, not returned, so one bad
    /// address cannot stop the transport.
    fn reply(&mut self, packet: McPacket<'_>, to: SocketAddr) {
        if self.transmit(packet, to).is_err() {
            self.stats.send_errors += 1;
        }
    }

    fn transmit(&mut self, packet: McPacket<'_>, to: SocketAddr) -> io::Result<()> {
        let mut out = [0u8; HEADER_LEN + 8 + MAX_MULTICAST_PAYLOAD];
        let n =
            packet.encode(&mut out).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "packet too large"))?;
        match self.socket.send_to(&out[..n], to) {
            Ok(_) => Ok(()),
            // A full send buffer loses the datagram; NAKs and heartbeats recover.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }
}
