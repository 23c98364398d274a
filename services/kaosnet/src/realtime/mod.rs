//! The realtime socket, on two transports with one protocol in two formats:
//! - WebSocket: `/ws?token=<session>&format=json|protobuf&status=true|false` on the
//!   client API port, as Nakama serves it (kaos-http hands the upgrade over with
//!   [`RealtimeHandle::submit`]; the token is checked before the upgrade is accepted).
//! - Reliable UDP on a port of its own (what Nakama users asked for): each message is one
//!   envelope (replies on channel 0, reliable and ordered); the first must be the JSON
//!   `{"token": "…", "status": bool, "format": "json"|"protobuf"}`, answered by
//!   `{"connected": {"session_id", "user_id", "username"}}`, or by a disconnect with
//!   [`close::UNAUTHORIZED`] ([`close::AUTH_TIMEOUT`] if nothing came in time;
//!   [`close::TRY_LATER`] when too many connections already owe their token).
//!
//! Both carry Nakama's envelope: JSON text (`{"cid": "…", "<kind>": {…}}`, see
//! [`envelope`]) or protobuf binary frames ([`protobuf`]). Each transport runs on a
//! thread of its own, and the [`SessionRegistry`] (in [`KaosNet::sessions`]) knows every
//! session on either. This layer sits above the services; what they use of it lives
//! below them, in `presence` and `socket`.

pub(crate) mod data_reader;
pub(crate) mod envelope;
mod inbound;
pub(crate) mod lanes;
mod request;
mod rudp;
mod rudp_metrics;
mod socket_loop;
mod ws;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use kaos_http::Upgrade;
use kaos_rudp::{RudpConfig, RudpWaker};
use kaos_ws::{Adopter, WsConfig};

pub use envelope::envelope;

/// What a socket thread does with one inbound frame from `session`, without worker
/// lanes (every message runs on the calling thread): the replies to send it. For
/// benchmarks and tools; the socket loops also hand messages that may block to lanes.
pub fn receive(kaos: &KaosNet, session: &SocketSession, data: &[u8]) -> Vec<serde_json::Value> {
    envelope::as_json(&inbound::receive(kaos, None, session, data))
}
/// Entry points for the fuzz targets in `fuzz/` (not a stable API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// Whether the socket's fast game-data reader and serde's read `data` the same way
    /// wherever the fast one reads it at all.
    pub fn data_readers_agree(data: &[u8]) -> bool {
        std::str::from_utf8(data).ok().and_then(super::data_reader::agrees).unwrap_or(true)
    }
}

// What the transports are built on, under the names server code has used.
use crate::presence::MAX_SOCKET_THREADS;
pub use crate::presence::{router, tracker, Format, Frame, SessionId, SessionRegistry, Transport};
pub use crate::protobuf;
pub use crate::socket::{SocketError, SocketSession};

use crate::KaosNet;

/// Close codes of the realtime socket beyond RFC 6455's (RUDP disconnects carry them too).
pub mod close {
    /// The user opened a newer socket under the single-socket policy.
    pub const REPLACED: u16 = 4000;
    /// RUDP: the first message was not a valid session token.
    pub const UNAUTHORIZED: u16 = 4001;
    /// RUDP: no token arrived in time.
    pub const AUTH_TIMEOUT: u16 = 4002;
    /// RUDP: too many connections owe their token (from this address, or in all); try
    /// again later.
    pub const TRY_LATER: u16 = 4003;
    /// The client does not read its replies fast enough.
    pub const SLOW_CONSUMER: u16 = 1008;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Handling one of the session's messages failed inside the server (a bug, logged).
    pub const INTERNAL_ERROR: u16 = 1011;
}

/// Realtime over reliable UDP.
#[derive(Debug, Clone)]
pub struct RudpSocketConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Transport settings; clients must use the same protocol settings.
    pub rudp: RudpConfig,
    /// How long a connected client has to send its token.
    pub auth_timeout: Duration,
    /// Replies a client may have waiting for room in its reliable window, bytes; past
    /// it the client is disconnected as a slow consumer (1008).
    pub max_backlog_bytes: usize,
    /// Connections still owing their token, at most, from one IP address; more are sent
    /// away at once ([`close::TRY_LATER`]).
    pub max_pending_per_ip: usize,
    /// Connections still owing their token, at most, from everyone: the rest of the
    /// client table stays for clients that sign in. Past it, the one that has waited
    /// longest is sent away ([`close::TRY_LATER`]) to make room for the newcomer.
    pub max_pending: usize,
}

impl RudpSocketConfig {
    /// Defaults on `addr`: windows of 256 messages, up to 10,000 clients, of which at most
    /// a quarter still owe their token (8 from one address), 2 s each to send it.
    pub fn on(addr: SocketAddr) -> RudpSocketConfig {
        let mut rudp = RudpConfig::with_window(256);
        rudp.max_clients = 10_000;
        let max_pending = rudp.max_clients / 4;
        RudpSocketConfig {
            addr,
            rudp,
            auth_timeout: Duration::from_secs(2),
            max_backlog_bytes: 1 << 20,
            max_pending_per_ip: 8,
            max_pending,
        }
    }
}

/// Realtime settings.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// One socket per user: a new connection closes the user's older ones (on either
    /// transport) with 4000.
    pub single_socket: bool,
    /// WebSocket limits (message size, queues, pings).
    pub ws: WsConfig,
    /// Reliable UDP, if wanted.
    pub rudp: Option<RudpSocketConfig>,
    /// How often the matchmaker runs a pass.
    pub matchmaker_interval: Duration,
    /// Threads that run messages which may block (RPCs, chat writes), per session in order.
    pub workers: usize,
    /// WebSocket threads (1 to 15): each serves the connections it is handed, in turn.
    /// More than one spreads the sockets' `send()` work over cores when one thread is
    /// the bottleneck; the order of messages from different sessions is then only that
    /// of their arrival at each thread.
    pub ws_threads: usize,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig {
            single_socket: false,
            ws: WsConfig { max_message_size: 4 << 20, ..WsConfig::default() },
            rudp: None,
            matchmaker_interval: Duration::from_secs(1),
            workers: 8,
            ws_threads: 1,
        }
    }
}

/// A session has connected (and is registered): it appears online if it asked to, and
/// the after hooks of `session_connect` hear of it.
pub(crate) fn opened(kaos: &KaosNet, session: &SocketSession) {
    if session.status {
        // A fresh session has no status presence, and an empty text is always valid.
        let _ = kaos.status.update(session, Some(String::new()));
    }
    session_hook(kaos, "session_connect", session);
}

/// Shows a session's start or end to the after hooks of `operation`.
fn session_hook(kaos: &KaosNet, operation: &str, session: &SocketSession) {
    // Session events have after hooks alone: nothing is asked of a before hook.
    if !kaos.hooks.has_after(operation) {
        return;
    }
    let ctx = crate::hooks::HookContext {
        operation: operation.into(),
        user_id: Some(session.user_id.clone()),
        username: Some(session.username.clone()),
    };
    let format = match session.format {
        Format::Json => "json",
        Format::Protobuf => "protobuf",
    };
    let about = serde_json::json!({"session_id": session.id.to_string(), "status": session.status, "format": format});
    kaos.hooks.run_after(&ctx, &about, &serde_json::json!({}));
}

/// A session has gone: it leaves every stream (the members still there hear of it) and
/// the registry, and the after hooks of `session_disconnect` hear of it.
pub(crate) fn closed(kaos: &KaosNet, lanes: &lanes::Lanes, session: &SocketSession) {
    // A message still running in its lane finishes first and calls this again: the
    // hooks hear of the end then, once.
    let running = lanes.close(session.id);
    kaos.sessions().unregister(session.id);
    kaos.matchmaker.remove_session(session.id);
    for (stream, presence) in kaos.tracker().untrack_all(session.id) {
        kaos.notifier.announce(&stream, &[], std::slice::from_ref(&presence), Some(session.id));
        match stream.mode {
            tracker::StreamMode::MatchAuthoritative => kaos.matches.leave(&router::match_id(&stream), presence),
            tracker::StreamMode::Party => kaos.parties.left(kaos, &stream.subject, &presence),
            _ => {}
        }
    }
    if !running {
        session_hook(kaos, "session_disconnect", session);
    }
}

/// Hands upgrades to the WebSocket threads and stops every socket thread.
#[derive(Debug, Clone)]
pub struct RealtimeHandle {
    lanes: Arc<lanes::Lanes>,
    /// Each WebSocket thread's waiting upgrades and its waker.
    ws: Arc<[(ws::Pending, Adopter)]>,
    /// The WebSocket thread the next upgrade goes to.
    next: Arc<AtomicUsize>,
    rudp: Option<(SocketAddr, RudpWaker)>,
    stop: Arc<AtomicBool>,
}

impl RealtimeHandle {
    /// Queues an upgrade (call from kaos-http's upgrade sink); the WebSocket threads
    /// take them in turn.
    pub fn submit(&self, upgrade: Upgrade) {
        let (pending, adopter) = &self.ws[self.next.fetch_add(1, Ordering::Relaxed) % self.ws.len()];
        pending.lock().unwrap_or_else(PoisonError::into_inner).push(upgrade);
        adopter.wake();
    }

    /// The RUDP socket's address (the real port when 0 was asked for).
    pub fn rudp_addr(&self) -> Option<SocketAddr> {
        self.rudp.as_ref().map(|(a, _)| *a)
    }

    /// Closes every socket (1001) and ends the threads.
    pub fn shutdown(&self) {
        self.lanes.stop();
        self.stop.store(true, Ordering::Release);
        for (_, adopter) in self.ws.iter() {
            adopter.wake();
        }
        if let Some((_, waker)) = &self.rudp {
            let _ = waker.wake();
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// Starts the WebSocket threads and, if configured, the RUDP thread (its port is bound
/// before this returns). The handle returned ends when all have stopped.
pub fn spawn(kaos: Arc<KaosNet>, cfg: RealtimeConfig) -> std::io::Result<(RealtimeHandle, JoinHandle<()>)> {
    let lanes = Arc::new(lanes::Lanes::default());
    let serve = |t| socket_loop::SocketLoop::new(kaos.clone(), lanes.clone(), t, cfg.single_socket);
    let mut ws_loops = Vec::new();
    for _ in 0..cfg.ws_threads.clamp(1, MAX_SOCKET_THREADS - 1) {
        ws_loops.push(serve(ws::WsSocket::new(&kaos, &cfg)?));
    }
    let rudp = match &cfg.rudp {
        Some(r) => Some(socket_loop::SocketLoop::new(
            kaos.clone(),
            lanes.clone(),
            rudp::RudpSocket::bind(&kaos, r)?,
            cfg.single_socket,
        )),
        None => None,
    };
    let handle = RealtimeHandle {
        lanes: lanes.clone(),
        ws: ws_loops.iter().map(|l| (l.transport().pending(), l.transport().adopter())).collect(),
        next: Arc::default(),
        rudp: match &rudp {
            Some(r) => Some((r.transport().local_addr()?, r.transport().waker())),
            None => None,
        },
        stop: Arc::new(AtomicBool::new(false)),
    };
    let mut others = Vec::new();
    if let Some(mut r) = rudp {
        let h = handle.clone();
        others.push(std::thread::Builder::new().name("kaos-realtime-rudp".into()).spawn(move || r.run(&h))?);
    }
    let mut ws_loops = ws_loops.into_iter();
    let mut first = ws_loops.next().expect("one WebSocket thread at least");
    for (i, mut l) in ws_loops.enumerate() {
        let h = handle.clone();
        others.push(std::thread::Builder::new().name(format!("kaos-realtime-{}", i + 1)).spawn(move || l.run(&h))?);
    }
    lanes::Lanes::start(&kaos, &lanes, cfg.workers)?;
    let h = handle.clone();
    let weak = Arc::downgrade(&kaos);
    let interval = cfg.matchmaker_interval;
    std::thread::Builder::new().name("kaos-matchmaker".into()).spawn(move || {
        while !h.stopped() {
            std::thread::sleep(interval);
            match weak.upgrade() {
                Some(kaos) => {
                    kaos.matchmaker.run(&kaos);
                }
                None => return,
            }
        }
    })?;
    let h = handle.clone();
    let thread = std::thread::Builder::new().name("kaos-realtime".into()).spawn(move || {
        first.run(&h);
        // Whichever stopped first, all go down together.
        h.shutdown();
        for t in others {
            let _ = t.join();
        }
    })?;
    Ok((handle, thread))
}
