//! The reliable-UDP transport of the realtime socket: a kaos-rudp server on a port and a
//! thread of its own. Every message is one envelope on any channel (JSON text, or
//! protobuf when the client's first message asked for `"format": "protobuf"`); replies go on
//! channel 0 (reliable, ordered). A connected client is a session only once its first
//! message carried a valid token.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaos_rudp::{RudpServer, RudpWaker, SendError, ServerEvent, TransportError};
use serde::Deserialize;
use serde_json::json;

use super::envelope::error;
use super::{
    close, Format, Frame, RealtimeHandle, RudpSocketConfig, SessionId, SessionRegistry, SocketError, SocketSession,
};
use crate::presence::{Command, Transport};
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

/// Replies waiting for room in a client's reliable window, and their bytes.
type Backlog = (VecDeque<Box<[u8]>>, usize);

pub(super) struct RudpSocket {
    kaos: Arc<KaosNet>,
    single_socket: bool,
    server: RudpServer,
    waker: RudpWaker,
    auth_timeout: Duration,
    /// Connected clients that have not sent their token yet, with their deadline.
    waiting: HashMap<SocketAddr, Instant>,
    sessions: HashMap<SocketAddr, SocketSession>,
    /// Each session's client and wire format.
    addrs: HashMap<SessionId, (SocketAddr, Format)>,
    backlog: HashMap<SocketAddr, Backlog>,
    max_backlog_bytes: usize,
}

impl RudpSocket {
    pub(super) fn bind(kaos: Arc<KaosNet>, cfg: &RudpSocketConfig, single_socket: bool) -> std::io::Result<RudpSocket> {
        let mut server = RudpServer::with_config(cfg.addr, cfg.rudp.clone())?;
        let waker = server.waker()?;
        let w = waker.clone();
        kaos.sessions.attach(Transport::Rudp, move || {
            let _ = w.wake();
        });
        Ok(RudpSocket {
            kaos,
            single_socket,
            server,
            waker,
            auth_timeout: cfg.auth_timeout,
            waiting: HashMap::new(),
            sessions: HashMap::new(),
            addrs: HashMap::new(),
            backlog: HashMap::new(),
            max_backlog_bytes: cfg.max_backlog_bytes,
        })
    }

    pub(super) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.local_addr()
    }

    pub(super) fn waker(&self) -> RudpWaker {
        self.waker.clone()
    }

    pub(super) fn run(&mut self, handle: &RealtimeHandle) {
        SessionRegistry::serve_on_this_thread(Transport::Rudp);
        let mut inbox = Vec::new();
        while !handle.stopped() {
            let now = Instant::now();
            let next_deadline = self.waiting.values().min().map(|d| d.saturating_duration_since(now));
            let timeout = next_deadline.unwrap_or(Duration::from_millis(250)).min(Duration::from_millis(250));
            if self.server.poll(Some(timeout)).is_err() {
                break;
            }
            let now = Instant::now();
            while let Some(addr) = self.server.accept() {
                self.waiting.insert(addr, now + self.auth_timeout);
            }
            self.server.receive_all(|addr, _, data| inbox.push((addr, data.to_vec())));
            for (addr, data) in inbox.drain(..) {
                self.handle(addr, &data);
            }
            self.drain_backlogs();
            let late: Vec<SocketAddr> = self.waiting.iter().filter(|(_, d)| **d <= now).map(|(a, _)| *a).collect();
            for addr in late {
                self.refuse(addr, close::AUTH_TIMEOUT);
            }
            while let Some(event) = self.server.poll_event() {
                if let ServerEvent::Disconnected(addr, _) = event {
                    self.waiting.remove(&addr);
                    self.forget(addr);
                }
            }
            // Last: replies and events queued by everything above go out in this round.
            for command in self.kaos.sessions.take(Transport::Rudp) {
                self.run_command(command);
            }
            let _ = self.server.flush();
        }
        self.goodbye();
    }

    /// Disconnects everyone with 1001 and gives the notices a moment to leave.
    fn goodbye(&mut self) {
        let clients: Vec<SocketAddr> = self.server.clients().collect();
        for addr in clients {
            let _ = self.server.disconnect(&addr, close::GOING_AWAY);
        }
        let _ = self.server.flush();
        let until = Instant::now() + Duration::from_millis(100);
        while Instant::now() < until && self.server.clients().next().is_some() {
            let _ = self.server.poll(Some(Duration::from_millis(10)));
        }
        for (_, session) in self.sessions.drain() {
            super::closed(&self.kaos, &session);
        }
    }

    fn handle(&mut self, addr: SocketAddr, data: &[u8]) {
        if self.waiting.remove(&addr).is_some() {
            return self.admit(addr, data);
        }
        let Some(session) = self.sessions.get(&addr) else { return };
        let format = session.format;
        let replies = super::inbound::receive(&self.kaos, session, data);
        for reply in replies {
            let frame = Frame::from_value(&reply);
            if !frame.bytes(format).is_none_or(|bytes| self.send(addr, bytes)) {
                break;
            }
        }
    }

    /// The first message: a token, or the client is sent away.
    fn admit(&mut self, addr: SocketAddr, data: &[u8]) {
        let Ok(hello) = serde_json::from_slice::<Hello>(data) else {
            return self.refuse(addr, close::UNAUTHORIZED);
        };
        let Some(format) = Format::parse(hello.format.as_deref()) else {
            return self.refuse(addr, close::UNAUTHORIZED);
        };
        let Ok(claims) = self.kaos.accounts.verify(&hello.token) else {
            return self.refuse(addr, close::UNAUTHORIZED);
        };
        let id = self.kaos.sessions.register(Transport::Rudp, &claims.uid, self.single_socket);
        let connected = json!({"connected": {
            "session_id": id.to_string(), "user_id": claims.uid, "username": claims.usn,
        }});
        self.addrs.insert(id, (addr, format));
        let (vars, status) = (claims.vrs, hello.status);
        let session = SocketSession { id, user_id: claims.uid, username: claims.usn, vars, status, format };
        self.send(addr, connected.to_string().as_bytes());
        super::opened(&self.kaos, &session);
        self.sessions.insert(addr, session);
    }

    /// Sends a client away; the close code says why (a disconnect drops anything still
    /// queued, so an error message could not reliably precede it).
    fn refuse(&mut self, addr: SocketAddr, code: u16) {
        self.waiting.remove(&addr);
        let _ = self.server.disconnect(&addr, code);
    }

    /// Sends on channel 0, after whatever is already waiting for room in the client's
    /// window. A client whose backlog passes the cap is disconnected as a slow consumer
    /// (false); a reply larger than the transport's message size becomes an error.
    fn send(&mut self, addr: SocketAddr, text: &[u8]) -> bool {
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
                let format = self.sessions.get(&addr).map_or(Format::Json, |s| s.format);
                match Frame::from_value(&e).bytes(format) {
                    Some(bytes) => self.send(addr, bytes),
                    None => true,
                }
            }
            Err(TransportError::Send(SendError::Full)) => self.drop_slow(addr),
            Err(_) => {
                self.forget(addr);
                false
            }
        }
    }

    fn drop_slow(&mut self, addr: SocketAddr) -> bool {
        let _ = self.server.disconnect(&addr, close::SLOW_CONSUMER);
        self.forget(addr);
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

    fn run_command(&mut self, command: Command) {
        match command {
            Command::Send { session, frame } => {
                if let Some(&(addr, format)) = self.addrs.get(&session) {
                    if let Some(bytes) = frame.bytes(format) {
                        self.send(addr, bytes);
                    }
                }
            }
            Command::Close { session, code, .. } => {
                if let Some(&(addr, _)) = self.addrs.get(&session) {
                    let _ = self.server.disconnect(&addr, code);
                    self.forget(addr);
                }
            }
        }
    }

    fn forget(&mut self, addr: SocketAddr) {
        self.backlog.remove(&addr);
        if let Some(s) = self.sessions.remove(&addr) {
            self.addrs.remove(&s.id);
            super::closed(&self.kaos, &s);
        }
    }
}
