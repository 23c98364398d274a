//! The reliable-UDP transport of the realtime socket: a kaos-rudp server on a port and a
//! thread of its own. Every message is one envelope on any channel (JSON text, or
//! protobuf when the client's first message asked for `"format": "protobuf"`); replies go on
//! channel 0 (reliable, ordered). A connected client is a session only once its first
//! message carried a valid token.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use kaos_rudp::{RudpServer, RudpWaker, SendError, ServerEvent, TransportError};
use serde::{Deserialize, Serialize};

use super::envelope::error;
use super::socket_loop::{Event, SocketTransport};
use super::{close, Format, Frame, RealtimeHandle, RudpSocketConfig, SocketError, SocketSession};
use crate::presence::{MailboxId, Transport};
use crate::KaosNet;

/// The first message (JSON, whatever the format chosen for the envelopes after it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Hello {
    token: String,
    #[serde(default)]
    status: bool,
    /// `json` (the default) or `protobuf`.
    #[serde(default)]
    format: Option<String>,
}

/// The answer to the hello: `{"connected": {…}}` (JSON too: the handshake is kaos's
/// own, not one of Nakama's envelopes).
#[derive(Serialize)]
struct Connected<'a> {
    connected: Who<'a>,
}

#[derive(Serialize)]
struct Who<'a> {
    session_id: String,
    user_id: &'a str,
    username: &'a str,
}

/// Connections that owe their token: each one's deadline, and how many each IP address
/// holds.
#[derive(Default)]
struct Pending {
    deadlines: HashMap<SocketAddr, Instant>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Pending {
    fn insert(&mut self, addr: SocketAddr, deadline: Instant) {
        if self.deadlines.insert(addr, deadline).is_none() {
            *self.per_ip.entry(addr.ip()).or_default() += 1;
        }
    }

    /// Whether `addr` was pending.
    fn remove(&mut self, addr: &SocketAddr) -> bool {
        if self.deadlines.remove(addr).is_none() {
            return false;
        }
        if let Some(n) = self.per_ip.get_mut(&addr.ip()) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&addr.ip());
            }
        }
        true
    }

    fn from(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }

    fn len(&self) -> usize {
        self.deadlines.len()
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.values().min().copied()
    }

    /// The one that has waited longest (deadlines are its arrival plus one budget).
    fn oldest(&self) -> Option<SocketAddr> {
        self.deadlines.iter().min_by_key(|(_, d)| **d).map(|(a, _)| *a)
    }

    /// Those whose deadline has passed at `now`.
    fn late(&self, now: Instant) -> Vec<SocketAddr> {
        self.deadlines.iter().filter(|(_, d)| **d <= now).map(|(a, _)| *a).collect()
    }
}

/// Replies waiting for room in a client's reliable window, and their bytes.
type Backlog = (VecDeque<Box<[u8]>>, usize);

pub(super) struct RudpSocket {
    server: RudpServer,
    mailbox: MailboxId,
    waker: RudpWaker,
    auth_timeout: Duration,
    /// Connected clients that have not sent their token yet.
    waiting: Pending,
    max_pending_per_ip: usize,
    max_pending: usize,
    backlog: HashMap<SocketAddr, Backlog>,
    max_backlog_bytes: usize,
    sampler: super::rudp_metrics::RudpSampler,
}

impl RudpSocket {
    pub(super) fn bind(kaos: &KaosNet, cfg: &RudpSocketConfig) -> std::io::Result<RudpSocket> {
        let mut server = RudpServer::with_config(cfg.addr, cfg.rudp.clone())?;
        let waker = server.waker()?;
        let w = waker.clone();
        let mailbox = kaos
            .sessions()
            .attach(move || {
                let _ = w.wake();
            })
            .ok_or_else(super::socket_loop::too_many_threads)?;
        Ok(RudpSocket {
            server,
            mailbox,
            waker,
            auth_timeout: cfg.auth_timeout,
            waiting: Pending::default(),
            max_pending_per_ip: cfg.max_pending_per_ip,
            max_pending: cfg.max_pending,
            backlog: HashMap::new(),
            max_backlog_bytes: cfg.max_backlog_bytes,
            sampler: super::rudp_metrics::RudpSampler::new(kaos.metrics.rudp().clone()),
        })
    }

    pub(super) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.local_addr()
    }

    pub(super) fn waker(&self) -> RudpWaker {
        self.waker.clone()
    }

    /// The first message: a token, or the client is sent away.
    fn admit(&mut self, kaos: &KaosNet, addr: SocketAddr, data: &[u8], events: &mut Vec<Event<SocketAddr>>) {
        let Ok(hello) = serde_json::from_slice::<Hello>(data) else {
            return self.refuse(addr, close::UNAUTHORIZED);
        };
        let Some(format) = Format::parse(hello.format.as_deref()) else {
            return self.refuse(addr, close::UNAUTHORIZED);
        };
        let Ok(claims) = kaos.accounts.verify(&hello.token) else {
            return self.refuse(addr, close::UNAUTHORIZED);
        };
        events.push(Event::Opened { conn: addr, claims, status: hello.status, format });
    }

    /// Sends a client away; the close code says why (a disconnect drops anything still
    /// queued, so an error message could not reliably precede it).
    fn refuse(&mut self, addr: SocketAddr, code: u16) {
        self.waiting.remove(&addr);
        let _ = self.server.disconnect(&addr, code);
    }

    /// Sends on channel 0, after whatever is already waiting for room in the client's
    /// window. A client whose backlog passes the cap is disconnected as a slow consumer
    /// (false); a reply larger than the transport's message size becomes an error, in the
    /// session's `format`.
    fn send_bytes(&mut self, addr: SocketAddr, format: Format, text: &[u8]) -> bool {
        if let Some((queue, bytes)) = self.backlog.get_mut(&addr) {
            if *bytes + text.len() > self.max_backlog_bytes {
                return self.drop_slow(addr);
            }
            *bytes += text.len();
            queue.push_back(text.into());
            return true;
        }
        match self.server.send(&addr, text) {
            Ok(()) => true,
            Err(TransportError::Send(SendError::Full)) if text.len() <= self.max_backlog_bytes => {
                self.backlog.insert(addr, (VecDeque::from([text.into()]), text.len()));
                true
            }
            Err(TransportError::Send(SendError::Oversize)) => {
                let e = error(None, SocketError::RuntimeException, "Reply larger than the RUDP message limit");
                match e.bytes(format) {
                    Some(bytes) => self.send_bytes(addr, format, bytes),
                    None => true,
                }
            }
            Err(TransportError::Send(SendError::Full)) => self.drop_slow(addr),
            Err(_) => false,
        }
    }

    fn drop_slow(&mut self, addr: SocketAddr) -> bool {
        let _ = self.server.disconnect(&addr, close::SLOW_CONSUMER);
        false
    }

    /// Moves waiting replies into windows that have room again.
    fn drain_backlogs(&mut self) {
        let server = &mut self.server;
        self.backlog.retain(|addr, (queue, bytes)| {
            while let Some(front) = queue.front() {
                match server.send(addr, front) {
                    Ok(()) => {
                        *bytes -= front.len();
                        queue.pop_front();
                    }
                    Err(TransportError::Send(SendError::Full)) => return true,
                    // Gone or closing: its disconnect event cleans up the rest.
                    Err(_) => return false,
                }
            }
            false
        });
    }
}

impl SocketTransport for RudpSocket {
    type Conn = SocketAddr;
    const TRANSPORT: Transport = Transport::Rudp;

    fn mailbox(&self) -> MailboxId {
        self.mailbox
    }

    fn turn(&mut self, kaos: &KaosNet, _handle: &RealtimeHandle, events: &mut Vec<Event<SocketAddr>>) -> bool {
        let now = Instant::now();
        let next_deadline = self.waiting.next_deadline().map(|d| d.saturating_duration_since(now));
        let timeout = next_deadline.unwrap_or(Duration::from_millis(250)).min(Duration::from_millis(250));
        if self.server.poll(Some(timeout)).is_err() {
            return false;
        }
        let now = Instant::now();
        while let Some(addr) = self.server.accept() {
            // A handshake costs a client nothing: an address, or everyone together, may only
            // hold so much of the table before signing in.
            if self.waiting.from(addr.ip()) >= self.max_pending_per_ip {
                let _ = self.server.disconnect(&addr, close::TRY_LATER);
                continue;
            }
            // When everyone together holds their share, the connection that has waited
            // longest makes room: a client that signs in does so within a round trip, so
            // only a flood faster than that could push it out.
            if self.waiting.len() >= self.max_pending.max(1) {
                if let Some(oldest) = self.waiting.oldest() {
                    self.refuse(oldest, close::TRY_LATER);
                }
            }
            self.waiting.insert(addr, now + self.auth_timeout);
        }
        let mut inbox = Vec::new();
        self.server.receive_all(|addr, _, data| inbox.push((addr, data.to_vec())));
        for (addr, data) in inbox {
            if self.waiting.remove(&addr) {
                self.admit(kaos, addr, &data, events);
            } else {
                events.push(Event::Message(addr, data));
            }
        }
        for addr in self.waiting.late(now) {
            self.refuse(addr, close::AUTH_TIMEOUT);
        }
        while let Some(event) = self.server.poll_event() {
            if let ServerEvent::Disconnected(addr, _) = event {
                self.waiting.remove(&addr);
                events.push(Event::Gone(addr));
            }
        }
        true
    }

    fn opened(&mut self, addr: SocketAddr, session: &SocketSession) {
        let who = Who { session_id: session.id.text(), user_id: &session.user_id, username: &session.username };
        // The answer to the JSON hello is JSON whatever the session's format (which only an
        // error in its place would use). Plain strings and fields: it cannot fail.
        let connected = serde_json::to_vec(&Connected { connected: who }).unwrap_or_default();
        self.send_bytes(addr, session.format, &connected);
    }

    fn send(&mut self, addr: SocketAddr, format: Format, frame: &Frame) -> bool {
        frame.bytes(format).is_none_or(|bytes| self.send_bytes(addr, format, bytes))
    }

    fn close(&mut self, addr: SocketAddr, code: u16, _reason: &str) -> bool {
        let _ = self.server.disconnect(&addr, code);
        true
    }

    fn forget(&mut self, addr: SocketAddr) {
        self.backlog.remove(&addr);
        self.sampler.forget(&addr);
    }

    fn end_turn(&mut self) {
        self.drain_backlogs();
        let _ = self.server.flush();
        self.sampler.sample(&self.server);
    }

    /// Disconnects everyone with 1001 and gives the notices a moment to leave.
    fn shutdown(&mut self) {
        let clients: Vec<SocketAddr> = self.server.clients().collect();
        for addr in clients {
            let _ = self.server.disconnect(&addr, close::GOING_AWAY);
        }
        let _ = self.server.flush();
        let until = Instant::now() + Duration::from_millis(100);
        while Instant::now() < until && self.server.clients().next().is_some() {
            let _ = self.server.poll(Some(Duration::from_millis(10)));
        }
    }
}
