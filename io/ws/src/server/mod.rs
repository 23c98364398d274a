//! [`WsServer`]: many WebSocket connections on one mio loop.
//!
//! Connections live in a slab indexed by their mio token; a [`ConnId`] adds a generation
//! so a stale id never reaches a newer connection in the same slot. Sends only queue;
//! each `poll` writes every connection's queue once (many messages, one syscall).

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kaos_http::{Stream, Upgrade};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use tungstenite::protocol::Role;

use crate::handshake::{self, Verdict};
use crate::session::{ReadState, SendRefused, Session};
use crate::{CloseReason, Kind, TransportError, WsConfig};

mod handles;

pub use handles::{Adopter, ConnId, WsEvent, WsStats};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
/// Connections accepted per listener wake-up before the loop serves the others.
const ACCEPTS_PER_WAKE: usize = 512;
/// A connection quiet this long gives its idle buffers back.
const TRIM_AFTER: Duration = Duration::from_secs(1);

struct Handshake {
    stream: Stream,
    buf: Vec<u8>,
    started: Instant,
    /// An error response being written, and how much of it is out.
    refusal: Option<(Vec<u8>, usize)>,
}

struct Conn {
    stream: Stream,
    session: Session,
    peer: SocketAddr,
    target: Box<str>,
    /// The subprotocol chosen in the handshake.
    protocol: Option<Box<str>>,
    last_heard: Instant,
    pinged: bool,
    closing_since: Option<Instant>,
    dirty: bool,
    write_blocked: bool,
    in_backlog: bool,
    in_mail: bool,
    paused: bool,
}

enum State {
    Free,
    Handshake(Box<Handshake>),
    Open(Box<Conn>),
}

struct Slot {
    generation: u32,
    state: State,
}

/// A WebSocket server on one mio loop.
pub struct WsServer {
    poll: Poll,
    events: Events,
    listener: Option<TcpListener>,
    cfg: WsConfig,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Slots in use (handshakes and connections).
    live: usize,
    accepted: VecDeque<ConnId>,
    closed: VecDeque<WsEvent>,
    /// Connections with bytes queued to write.
    dirty: Vec<u32>,
    /// Connections that stopped reading at their budget.
    backlog: Vec<u32>,
    /// Connections with messages waiting for the application.
    mail: Vec<u32>,
    adoptions: Arc<Mutex<Vec<Upgrade>>>,
    waker: Arc<Waker>,
    last_sweep: Instant,
    /// When queued messages were last written (see `WsConfig::flush_interval`).
    last_flush: Instant,
    /// Something queued must not wait for the flush interval (a handshake's answer, a
    /// close).
    flush_now: bool,
    /// The listener stopped at its per-wake budget with connections still waiting.
    accept_more: bool,
    stats: WsStats,
}

impl fmt::Debug for WsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsServer").field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl WsServer {
    /// A server listening on `addr`.
    pub fn bind(addr: SocketAddr, cfg: WsConfig) -> io::Result<WsServer> {
        let mut server = WsServer::new(cfg)?;
        let mut listener = TcpListener::bind(addr)?;
        server.poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        server.listener = Some(listener);
        Ok(server)
    }

    /// A server without a listener, fed connections by [`adopt`](Self::adopt).
    pub fn new(cfg: WsConfig) -> io::Result<WsServer> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(WsServer {
            poll,
            events: Events::with_capacity(1024),
            listener: None,
            cfg,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            accepted: VecDeque::new(),
            closed: VecDeque::new(),
            dirty: Vec::new(),
            backlog: Vec::new(),
            mail: Vec::new(),
            adoptions: Arc::default(),
            waker,
            last_sweep: Instant::now(),
            last_flush: Instant::now(),
            flush_now: false,
            accept_more: false,
            stats: WsStats::default(),
        })
    }

    /// The listening address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listener {
            Some(l) => l.local_addr(),
            None => Err(io::Error::new(io::ErrorKind::NotConnected, "this server has no listener")),
        }
    }

    /// A handle that passes upgraded connections in from another thread.
    pub fn adopter(&self) -> Adopter {
        Adopter { queue: self.adoptions.clone(), waker: self.waker.clone() }
    }

    /// Takes a connection `kaos-http` upgraded: answers its handshake (101, or the
    /// error) and serves it. Returns its id if the handshake was accepted.
    pub fn adopt(&mut self, upgrade: Upgrade) -> Option<ConnId> {
        let Upgrade { stream, request, buffered } = upgrade;
        let verdict = handshake::verdict(
            request.method.as_str(),
            |name| request.header(name),
            &self.cfg.protocols,
            self.cfg.deflate,
        );
        let target = if request.raw_query.is_empty() {
            request.path.clone()
        } else {
            format!("{}?{}", request.path, request.raw_query)
        };
        match verdict {
            Verdict::Accept(response, agreed) => self.open(stream, target, agreed, buffered, response),
            Verdict::Refuse(response) => {
                self.stats.refused += 1;
                let hs = Handshake { stream, buf: Vec::new(), started: Instant::now(), refusal: Some((response, 0)) };
                if let Some(index) = self.insert(State::Handshake(Box::new(hs))) {
                    self.write_refusal(index);
                }
                None
            }
        }
    }

    /// Refuses an upgrade with an HTTP error (`status`, a short reason) and closes it.
    pub fn refuse(&mut self, upgrade: Upgrade, status: u16, reason: &str) {
        self.stats.refused += 1;
        let Verdict::Refuse(response) = handshake::refuse(status, reason, "") else { return };
        let hs = Handshake {
            stream: upgrade.stream,
            buf: Vec::new(),
            started: Instant::now(),
            refusal: Some((response, 0)),
        };
        if let Some(index) = self.insert(State::Handshake(Box::new(hs))) {
            self.write_refusal(index);
        }
    }

    /// The next connection whose handshake completed.
    pub fn accept(&mut self) -> Option<ConnId> {
        self.accepted.pop_front()
    }

    /// The next event (a connection gone).
    pub fn poll_event(&mut self) -> Option<WsEvent> {
        self.closed.pop_front()
    }

    /// Sends one binary message. It is queued and written by the next `poll` or
    /// [`flush`](Self::flush). A send that would take the connection's queue past
    /// `max_outbound_bytes` closes it as a slow consumer and answers `Full`.
    pub fn send(&mut self, conn: ConnId, data: &[u8]) -> Result<(), TransportError> {
        self.send_kind(conn, Kind::Binary, data)
    }

    /// Sends one text message.
    pub fn send_text(&mut self, conn: ConnId, text: &str) -> Result<(), TransportError> {
        self.send_kind(conn, Kind::Text, text.as_bytes())
    }

    /// Sends one message of `kind` (text must be UTF-8).
    pub fn send_kind(&mut self, conn: ConnId, kind: Kind, data: &[u8]) -> Result<(), TransportError> {
        if kind == Kind::Text && std::str::from_utf8(data).is_err() {
            return Err(TransportError::Protocol("text messages must be UTF-8".into()));
        }
        let index = conn.index;
        let c = self.conn_mut(conn).ok_or(TransportError::Closed)?;
        match c.session.send(kind, data) {
            Ok(()) => {
                self.stats.messages_out += 1;
                self.mark_dirty(index);
                Ok(())
            }
            Err(SendRefused::Full) => {
                c.closing_since = Some(Instant::now());
                self.stats.slow_consumers += 1;
                self.mark_dirty(index);
                Err(TransportError::Full)
            }
            Err(SendRefused::TooLarge) => Err(TransportError::TooLarge),
            Err(SendRefused::Closed) => Err(TransportError::Closed),
        }
    }

    /// Hands the connection's received messages to `f` (payloads, text or binary);
    /// returns how many.
    pub fn receive(&mut self, conn: ConnId, mut f: impl FnMut(&[u8])) -> usize {
        self.receive_messages(conn, |_, data| f(data))
    }

    /// Hands the connection's received messages to `f` with their kind.
    pub fn receive_messages(&mut self, conn: ConnId, f: impl FnMut(Kind, &[u8])) -> usize {
        let Some(c) = self.conn_mut(conn) else { return 0 };
        let n = c.session.drain(f);
        self.after_drain(conn.index);
        n
    }

    /// Hands every connection's received messages to `f`; returns how many.
    pub fn receive_all(&mut self, mut f: impl FnMut(ConnId, Kind, &[u8])) -> usize {
        let mut total = 0;
        for index in std::mem::take(&mut self.mail) {
            let generation = self.slots[index as usize].generation;
            let id = ConnId { index, generation };
            let State::Open(c) = &mut self.slots[index as usize].state else { continue };
            c.in_mail = false;
            total += c.session.drain(|kind, data| f(id, kind, data));
            self.after_drain(index);
        }
        total
    }

    /// Starts a graceful close with `code` (1000 normal, 1001 going away, 4000+ for the
    /// application) and a short reason.
    pub fn close(&mut self, conn: ConnId, code: u16, reason: &str) {
        let index = conn.index;
        if let Some(c) = self.conn_mut(conn) {
            c.session.close(code, reason);
            c.closing_since.get_or_insert(Instant::now());
            self.mark_dirty(index);
            self.flush_now = true;
        }
    }

    /// The connection's peer address.
    pub fn peer_addr(&self, conn: ConnId) -> Option<SocketAddr> {
        self.conn(conn).map(|c| c.peer)
    }

    /// The request target the connection was opened with (path and query).
    pub fn target(&self, conn: ConnId) -> Option<&str> {
        self.conn(conn).map(|c| &*c.target)
    }

    /// The subprotocol the handshake chose (`WsConfig::protocols`), if any.
    pub fn protocol(&self, conn: ConnId) -> Option<&str> {
        self.conn(conn).and_then(|c| c.protocol.as_deref())
    }

    /// Outbound bytes waiting for the connection's socket.
    pub fn queued_bytes(&self, conn: ConnId) -> usize {
        self.conn(conn).map_or(0, |c| c.session.queued())
    }

    /// Whether the connection is open (not closing, not gone).
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.conn(conn).is_some_and(|c| c.session.is_open())
    }

    /// Counters.
    pub fn stats(&self) -> WsStats {
        self.stats
    }

    /// The settings.
    pub fn config(&self) -> &WsConfig {
        &self.cfg
    }

    /// Writes every queued message that the sockets take now.
    pub fn flush(&mut self) {
        for index in std::mem::take(&mut self.dirty) {
            let State::Open(c) = &mut self.slots[index as usize].state else { continue };
            c.dirty = false;
            if !c.write_blocked {
                self.flush_conn(index);
            }
        }
    }

    /// Runs the loop once: writes what is queued, waits up to `timeout` for sockets (not
    /// at all if work is pending), then accepts, reads, writes and checks timeouts.
    pub fn poll(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let now = Instant::now();
        let to_flush = self.flush_when_due(now);
        self.take_adoptions();
        let to_sweep = self.sweep_every().saturating_sub(now.duration_since(self.last_sweep));
        let busy = !self.backlog.is_empty() || self.accept_more;
        let wait = if busy { Duration::ZERO } else { timeout.map_or(to_sweep, |t| t.min(to_sweep)).min(to_flush) };
        let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let polled = self.poll.poll(&mut events, Some(wait));
        if let Err(e) = polled {
            self.events = events;
            return if e.kind() == io::ErrorKind::Interrupted { Ok(()) } else { Err(e) };
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => self.accept_ready(),
                WAKER => self.take_adoptions(),
                Token(t) => {
                    let index = t as u32;
                    if event.is_writable() || event.is_write_closed() {
                        self.on_writable(index);
                    }
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        self.on_readable(index, event.is_read_closed() || event.is_error());
                    }
                }
            }
        }
        self.events = events;
        if self.accept_more {
            self.accept_ready();
        }
        for index in std::mem::take(&mut self.backlog) {
            let State::Open(c) = &mut self.slots[index as usize].state else { continue };
            c.in_backlog = false;
            self.read_conn(index, true);
        }
        let now = Instant::now();
        if now.duration_since(self.last_sweep) >= self.sweep_every() {
            self.last_sweep = now;
            self.sweep(now);
        }
        self.flush_when_due(now);
        Ok(())
    }

    /// Writes what is queued if the flush interval has passed; how long until it has
    /// (no limit when nothing waits).
    fn flush_when_due(&mut self, now: Instant) -> Duration {
        if self.dirty.is_empty() {
            return Duration::MAX;
        }
        let since = now.saturating_duration_since(self.last_flush);
        if since < self.cfg.flush_interval && !self.flush_now {
            return self.cfg.flush_interval - since;
        }
        self.flush();
        self.last_flush = now;
        self.flush_now = false;
        Duration::MAX
    }

    /// Closes every connection with 1001 and stops listening, then serves the closes
    /// for up to `timeout`; connections still open after it are dropped.
    pub fn shutdown(&mut self, timeout: Duration) -> io::Result<()> {
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        for index in 0..self.slots.len() as u32 {
            match &mut self.slots[index as usize].state {
                State::Open(c) => {
                    c.session.close(1001, "server shutting down");
                    c.closing_since.get_or_insert(Instant::now());
                    self.mark_dirty(index);
                }
                State::Handshake(_) => self.remove(index),
                State::Free => {}
            }
        }
        let deadline = Instant::now() + timeout;
        while self.stats.connections > 0 && Instant::now() < deadline {
            self.poll(Some(Duration::from_millis(10)))?;
            // Messages that arrived before the close still go to nobody once shutting
            // down: drain them so the connections can end.
            self.receive_all(|_, _, _| {});
        }
        for index in 0..self.slots.len() as u32 {
            if let State::Open(c) = &mut self.slots[index as usize].state {
                c.session.abort(CloseReason::Timeout);
                c.session.drain(|_, _| {});
                self.remove(index);
            }
        }
        Ok(())
    }

    fn conn(&self, id: ConnId) -> Option<&Conn> {
        let slot = self.slots.get(id.index as usize)?;
        match &slot.state {
            State::Open(c) if slot.generation == id.generation => Some(c),
            _ => None,
        }
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        let slot = self.slots.get_mut(id.index as usize)?;
        match &mut slot.state {
            State::Open(c) if slot.generation == id.generation => Some(c),
            _ => None,
        }
    }

    fn mark_dirty(&mut self, index: u32) {
        if let State::Open(c) = &mut self.slots[index as usize].state {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(index);
            }
        }
    }

    /// Takes a free slot for `state` and registers its stream.
    fn insert(&mut self, mut state: State) -> Option<u32> {
        if self.live >= self.cfg.max_connections {
            self.stats.refused += 1;
            return None;
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot { generation: 0, state: State::Free });
                (self.slots.len() - 1) as u32
            }
        };
        let stream = match &mut state {
            State::Handshake(h) => &mut h.stream,
            State::Open(c) => &mut c.stream,
            State::Free => unreachable!("inserting a free slot"),
        };
        let registered =
            self.poll.registry().register(stream, Token(index as usize), Interest::READABLE | Interest::WRITABLE);
        if registered.is_err() {
            self.free.push(index);
            return None;
        }
        self.slots[index as usize].state = state;
        self.live += 1;
        Some(index)
    }

    /// Frees slot `index`; an open connection reports its close.
    fn remove(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        let id = ConnId { index, generation: slot.generation };
        let state = std::mem::replace(&mut slot.state, State::Free);
        slot.generation = slot.generation.wrapping_add(1);
        match state {
            State::Free => return,
            State::Handshake(mut h) => {
                let _ = self.poll.registry().deregister(&mut h.stream);
            }
            State::Open(mut c) => {
                let _ = self.poll.registry().deregister(&mut c.stream);
                let reason = c.session.reason().unwrap_or(CloseReason::Reset);
                self.stats.closed += 1;
                self.stats.connections -= 1;
                match reason {
                    CloseReason::Violation(_) => self.stats.violations += 1,
                    CloseReason::Timeout => self.stats.timeouts += 1,
                    _ => {}
                }
                self.closed.push_back(WsEvent::Closed { conn: id, reason });
            }
        }
        self.live -= 1;
        self.free.push(index);
    }

    fn open(
        &mut self,
        stream: Stream,
        target: String,
        agreed: handshake::Negotiated,
        early: Vec<u8>,
        response: Vec<u8>,
    ) -> Option<ConnId> {
        let deflate = u64::from(agreed.deflate);
        let conn = self.new_conn(stream, target, agreed, early, response)?;
        self.stats.deflate += deflate;
        let index = self.insert(State::Open(Box::new(conn)))?;
        Some(self.opened(index))
    }

    fn new_conn(
        &self,
        stream: Stream,
        target: String,
        agreed: handshake::Negotiated,
        early: Vec<u8>,
        response: Vec<u8>,
    ) -> Option<Conn> {
        let peer = stream.peer_addr().ok()?;
        Some(Conn {
            stream,
            session: Session::new(Role::Server, &self.cfg, early, response, agreed.deflate),
            peer,
            target: target.into_boxed_str(),
            protocol: agreed.protocol.map(String::into_boxed_str),
            last_heard: Instant::now(),
            pinged: false,
            closing_since: None,
            dirty: false,
            write_blocked: false,
            in_backlog: false,
            in_mail: false,
            paused: false,
        })
    }

    /// Bookkeeping for a connection whose handshake just completed in slot `index`.
    fn opened(&mut self, index: u32) -> ConnId {
        let id = ConnId { index, generation: self.slots[index as usize].generation };
        self.stats.accepted += 1;
        self.stats.connections += 1;
        self.accepted.push_back(id);
        self.mark_dirty(index);
        self.flush_now = true;
        // Frames may have come with the request; the socket may hold more.
        self.read_conn(index, true);
        id
    }

    fn take_adoptions(&mut self) {
        let upgrades = std::mem::take(&mut *self.adoptions.lock().unwrap_or_else(PoisonError::into_inner));
        for upgrade in upgrades {
            self.adopt(upgrade);
        }
    }

    fn accept_ready(&mut self) {
        self.accept_more = false;
        for _ in 0..ACCEPTS_PER_WAKE {
            let Some(listener) = &self.listener else { return };
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let stream = match &self.cfg.tls {
                        Some(tls) => match Stream::tls(stream, tls) {
                            Ok(s) => s,
                            Err(_) => continue,
                        },
                        None => Stream::Plain(stream),
                    };
                    let hs = Handshake { stream, buf: Vec::new(), started: Instant::now(), refusal: None };
                    // Over the limit the stream is dropped: closed at once.
                    let _ = self.insert(State::Handshake(Box::new(hs)));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // WouldBlock: all taken. Anything else (out of files): the next wake-up
                // retries; the connections wait in the kernel's backlog meanwhile.
                Err(_) => return,
            }
        }
        // More may wait, and the edge-triggered listener will not say so again.
        self.accept_more = true;
    }

    fn on_readable(&mut self, index: u32, read_closed: bool) {
        match self.slots.get_mut(index as usize).map(|s| &mut s.state) {
            Some(State::Handshake(_)) => self.read_handshake(index),
            Some(State::Open(c)) => {
                c.last_heard = Instant::now();
                c.pinged = false;
                self.read_conn(index, read_closed);
            }
            _ => {}
        }
    }

    fn on_writable(&mut self, index: u32) {
        match self.slots.get_mut(index as usize).map(|s| &mut s.state) {
            Some(State::Handshake(h)) => {
                // TLS handshake records the socket did not take at once.
                let _ = h.stream.flush_pending();
                self.write_refusal(index);
            }
            Some(State::Open(c)) => {
                c.write_blocked = false;
                self.flush_conn(index);
            }
            _ => {}
        }
    }

    fn read_handshake(&mut self, index: u32) {
        let max = self.cfg.max_handshake_bytes;
        let State::Handshake(h) = &mut self.slots[index as usize].state else { return };
        if h.refusal.is_some() {
            return;
        }
        let mut chunk = [0u8; 2048];
        let parsed = loop {
            match h.stream.read(&mut chunk) {
                Ok(0) => break Err(None),
                Ok(n) => {
                    h.buf.extend_from_slice(&chunk[..n]);
                    match handshake::parse_request(&h.buf, max, &self.cfg.protocols, self.cfg.deflate) {
                        Ok(None) => {}
                        Ok(Some(p)) => break Ok(p),
                        Err(v) => break Err(Some(v)),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => break Err(None),
            }
        };
        match parsed {
            Ok(handshake::Parsed { target, len, verdict: Verdict::Accept(response, agreed) }) => {
                // The stream keeps its registration (same token) as it becomes a connection.
                let State::Handshake(h) = std::mem::replace(&mut self.slots[index as usize].state, State::Free) else {
                    return;
                };
                let Handshake { stream, buf, .. } = *h;
                let deflate = u64::from(agreed.deflate);
                match self.new_conn(stream, target, agreed, buf[len..].to_vec(), response) {
                    Some(conn) => {
                        self.stats.deflate += deflate;
                        self.slots[index as usize].state = State::Open(Box::new(conn));
                        self.opened(index);
                    }
                    None => self.live_slot_lost(index),
                }
            }
            Ok(handshake::Parsed { verdict: Verdict::Refuse(response), .. }) | Err(Some(Verdict::Refuse(response))) => {
                self.stats.refused += 1;
                h.refusal = Some((response, 0));
                self.write_refusal(index);
            }
            Err(Some(Verdict::Accept(..))) => unreachable!("parse errors are refusals"),
            Err(None) => self.remove(index),
        }
    }

    /// A handshake whose stream failed while becoming a connection: the slot is
    /// already empty, so only the count and the free list change.
    fn live_slot_lost(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        self.live -= 1;
        self.free.push(index);
    }

    /// Writes the error response of a refused handshake, then closes.
    fn write_refusal(&mut self, index: u32) {
        let State::Handshake(h) = &mut self.slots[index as usize].state else { return };
        let Some((response, sent)) = &mut h.refusal else { return };
        while *sent < response.len() {
            match io::Write::write(&mut h.stream, &response[*sent..]) {
                Ok(0) => break,
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        let _ = h.stream.shutdown(Shutdown::Write);
        self.remove(index);
    }

    /// Reads connection `index`; `full` reads to `WouldBlock` (no readiness event
    /// vouches for what is already waiting).
    fn read_conn(&mut self, index: u32, full: bool) {
        let budget = self.cfg.read_budget;
        let State::Open(c) = &mut self.slots[index as usize].state else { return };
        let before = c.session.inbox_len();
        // A short read from TLS does not mean the socket is drained: read to WouldBlock.
        let full = full || c.stream.is_tls();
        let state = c.session.read(&mut c.stream, budget, full);
        self.stats.messages_in += (c.session.inbox_len() - before) as u64;
        if c.session.has_mail() && !c.in_mail {
            c.in_mail = true;
            self.mail.push(index);
        }
        match state {
            ReadState::Drained => {}
            ReadState::More => {
                if !c.in_backlog {
                    c.in_backlog = true;
                    self.backlog.push(index);
                }
            }
            ReadState::Paused => c.paused = true,
            ReadState::Done => {
                c.closing_since.get_or_insert(Instant::now());
            }
        }
        if c.session.queued() > 0 {
            self.mark_dirty(index);
        } else {
            self.remove_if_done(index);
        }
    }

    fn flush_conn(&mut self, index: u32) {
        let State::Open(c) = &mut self.slots[index as usize].state else { return };
        // TLS records the socket has not taken yet count as unwritten.
        let flushed = c.session.flush(&mut c.stream).and_then(|all| {
            c.stream.flush_pending()?;
            Ok(all && !c.stream.has_pending_output())
        });
        match flushed {
            Ok(true) => {
                self.resume_if_paused(index);
                self.remove_if_done(index);
            }
            Ok(false) => {
                c.write_blocked = true;
                self.resume_if_paused(index);
            }
            Err(_) => self.remove_if_done(index),
        }
    }

    /// A paused connection reads again once its inbox and its queue have room.
    fn resume_if_paused(&mut self, index: u32) {
        let State::Open(c) = &mut self.slots[index as usize].state else { return };
        if c.paused && c.session.wants_input() {
            c.paused = false;
            if !c.in_backlog {
                c.in_backlog = true;
                self.backlog.push(index);
            }
        }
    }

    /// A drained inbox may let a paused connection read again, or a finished one end.
    fn after_drain(&mut self, index: u32) {
        self.resume_if_paused(index);
        self.remove_if_done(index);
    }

    /// Ends a connection that is over, fully written, and whose messages were handed out.
    fn remove_if_done(&mut self, index: u32) {
        if let State::Open(c) = &self.slots[index as usize].state {
            if c.session.is_done() && !c.session.has_mail() {
                self.remove(index);
            }
        }
    }

    /// How often timeouts and pings are checked: a quarter of the shortest of them,
    /// between 10 ms and 1 s (a pass visits every connection).
    fn sweep_every(&self) -> Duration {
        let c = &self.cfg;
        let shortest = [c.handshake_timeout, c.close_timeout, c.idle_timeout, c.ping_interval.unwrap_or(Duration::MAX)]
            .into_iter()
            .min()
            .unwrap_or(Duration::from_secs(1));
        (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    fn sweep(&mut self, now: Instant) {
        let (handshake_timeout, close_timeout, idle_timeout, ping_interval) =
            (self.cfg.handshake_timeout, self.cfg.close_timeout, self.cfg.idle_timeout, self.cfg.ping_interval);
        for index in 0..self.slots.len() as u32 {
            match &mut self.slots[index as usize].state {
                State::Handshake(h) => {
                    if now.duration_since(h.started) >= handshake_timeout {
                        self.stats.handshake_timeouts += 1;
                        self.remove(index);
                    }
                }
                State::Open(c) => {
                    let quiet = now.duration_since(c.last_heard);
                    let close_late = c.closing_since.is_some_and(|s| now.duration_since(s) >= close_timeout);
                    if close_late || quiet >= idle_timeout {
                        c.session.abort(CloseReason::Timeout);
                        self.remove_if_done(index);
                        continue;
                    }
                    if !c.pinged && ping_interval.is_some_and(|p| quiet >= p) {
                        c.pinged = true;
                        c.session.ping();
                        self.mark_dirty(index);
                    } else if quiet >= TRIM_AFTER && c.session.queued() == 0 {
                        c.session.trim();
                    }
                }
                State::Free => {}
            }
        }
    }
}
