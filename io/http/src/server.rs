//! The server loop: accepts connections, parses requests, routes them (inline or on the
//! worker pool), writes responses in order, enforces limits and timeouts, hands
//! WebSocket upgrades off, and shuts down gracefully.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::conn::{Conn, Parsed, Slot};
use crate::h2::Ready;
use crate::pool::{JobId, Pool};
use crate::request::{Method, Request};
use crate::response::Response;
use crate::router::{Lookup, Router, Run};
use crate::tls::Stream;
use crate::HttpConfig;

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
/// How often timeouts are checked.
const SWEEP: Duration = Duration::from_millis(100);

/// A WebSocket upgrade request, handed off with its connection.
#[derive(Debug)]
pub struct Upgrade {
    /// The connection (plain or TLS), deregistered from the HTTP loop, non-blocking.
    pub stream: Stream,
    /// The upgrade request (`Sec-WebSocket-Key` and friends in its headers).
    pub request: Request,
    /// Bytes the client sent after the request (WebSocket frames sent early).
    pub buffered: Vec<u8>,
}

/// Server counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections refused at `max_connections`.
    pub refused: u64,
    /// Requests answered (errors included).
    pub requests: u64,
    /// Requests refused as malformed, too large or too slow (4xx/5xx from the server
    /// itself).
    pub bad_requests: u64,
    /// Connections closed for a timeout.
    pub timeouts: u64,
    /// Upgrades handed off.
    pub upgrades: u64,
    /// Connections open now.
    pub connections: usize,
    /// Worker threads alive now.
    pub workers: usize,
}

/// Stops a running server from another thread: it stops accepting, finishes the
/// requests in progress (up to `HttpConfig::drain_timeout`), then returns from `run`.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl ShutdownHandle {
    /// Asks the server to shut down.
    pub fn shutdown(&self) {
        self.flag.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }
}

type UpgradeSink = Box<dyn FnMut(Upgrade) + Send>;

/// Tokens are distinct counters chosen by the server, not by peers: they hash to
/// themselves (SipHash would cost more than the lookups it guards).
#[derive(Default)]
struct TokenHasher(u64);

impl Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = n as u64;
    }
}

/// An HTTP/1.1 server on one mio loop.
pub struct HttpServer {
    poll: Poll,
    /// Closed (`None`) once draining: new connections are refused by the kernel.
    listener: Option<TcpListener>,
    addr: SocketAddr,
    router: Router,
    cfg: HttpConfig,
    conns: HashMap<usize, Conn, BuildHasherDefault<TokenHasher>>,
    /// The read buffer every connection reads into before keeping what it got.
    scratch: Box<[u8]>,
    next_token: usize,
    generation: u64,
    pool: Pool,
    waker: Arc<Waker>,
    shutdown: Arc<AtomicBool>,
    draining_since: Option<Instant>,
    upgrade: Option<UpgradeSink>,
    last_sweep: Instant,
    events: Events,
    stats: HttpStats,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer").field("stats", &self.stats).finish()
    }
}

impl HttpServer {
    /// A server on `addr` serving `router`.
    pub fn bind(addr: SocketAddr, router: Router, cfg: HttpConfig) -> io::Result<HttpServer> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(addr)?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let workers = (cfg.resting_workers, cfg.workers, cfg.worker_idle_timeout);
        let pool = Pool::new(workers, cfg.worker_queue, waker.clone(), (cfg.error_response, cfg.on_rest));
        let addr = listener.local_addr()?;
        Ok(HttpServer {
            poll,
            listener: Some(listener),
            addr,
            router,
            cfg,
            conns: HashMap::default(),
            scratch: vec![0u8; 16 * 1024].into_boxed_slice(),
            next_token: 0,
            generation: 0,
            pool,
            waker,
            shutdown: Arc::new(AtomicBool::new(false)),
            draining_since: None,
            upgrade: None,
            last_sweep: Instant::now(),
            events: Events::with_capacity(1024),
            stats: HttpStats::default(),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }

    /// A handle that shuts the server down from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle { flag: self.shutdown.clone(), waker: self.waker.clone() }
    }

    /// Where WebSocket upgrades go (routes marked with `Router::websocket`). Without a
    /// sink, upgrade requests get 404.
    pub fn on_upgrade(&mut self, sink: impl FnMut(Upgrade) + Send + 'static) {
        self.upgrade = Some(Box::new(sink));
    }

    /// Counters.
    pub fn stats(&self) -> HttpStats {
        HttpStats { connections: self.conns.len(), workers: self.pool.threads(), ..self.stats }
    }

    /// Runs until shut down and drained.
    pub fn run(&mut self) -> io::Result<()> {
        while self.poll(None)? {}
        Ok(())
    }

    /// One turn of the loop, waiting up to `timeout` (and at most the timeout sweep
    /// interval). Returns false once the server has shut down and drained.
    pub fn poll(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        // The events buffer is kept between turns (taken out while its events run).
        let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let wait = timeout.map_or(SWEEP, |t| t.min(SWEEP));
        let polled = match self.poll.poll(&mut events, Some(wait)) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
            _ => Ok(()),
        };
        let now = Instant::now();
        let mut accepted = Ok(());
        for event in events.iter() {
            match event.token() {
                LISTENER => accepted = accepted.and(self.accept(now)),
                WAKER => self.collect_results(now),
                Token(t) => self.drive(t, event, now),
            }
        }
        self.events = events;
        polled?;
        accepted?;
        if self.shutdown.load(Ordering::Acquire) && self.draining_since.is_none() {
            self.begin_drain(now)?;
        }
        if now.duration_since(self.last_sweep) >= SWEEP {
            self.last_sweep = now;
            self.sweep(now);
        }
        if let Some(since) = self.draining_since {
            if self.conns.is_empty() || now.duration_since(since) >= self.cfg.drain_timeout {
                self.conns.clear();
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn accept(&mut self, now: Instant) -> io::Result<()> {
        loop {
            let Some(listener) = &self.listener else { return Ok(()) };
            let (stream, peer) = match listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors or a connection reset before accept: keep serving.
                Err(_) => return Ok(()),
            };
            if self.draining_since.is_some() || self.conns.len() >= self.cfg.max_connections {
                self.stats.refused += 1;
                continue; // dropped: closed
            }
            let _ = stream.set_nodelay(true);
            let mut stream = match &self.cfg.tls {
                Some(tls) => match Stream::tls_alpn(stream, tls, self.cfg.http2) {
                    Ok(s) => s,
                    Err(_) => continue,
                },
                None => Stream::Plain(stream),
            };
            let token = self.next_token;
            self.next_token = (self.next_token + 1) % (usize::MAX - 16);
            if self
                .poll
                .registry()
                .register(&mut stream, Token(token), Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            self.generation += 1;
            self.conns.insert(token, Conn::new(stream, peer, self.generation, &self.cfg, now));
            self.stats.accepted += 1;
        }
    }

    /// Reads (if the event says bytes or an end arrived), parses and answers what
    /// connection `t` has, then writes.
    fn drive(&mut self, t: usize, event: &mio::event::Event, now: Instant) {
        let Some(conn) = self.conns.get_mut(&t) else { return };
        let readable = event.is_readable() || event.is_read_closed() || event.is_error();
        if readable && !conn.closing {
            conn.fill(now, event.is_read_closed() || event.is_error(), &mut self.scratch[..]);
        }
        self.process(t, now);
    }

    fn process(&mut self, t: usize, now: Instant) {
        match self.choose_protocol(t) {
            Some(true) => return self.process_h2(t, now),
            Some(false) => {}
            // Part of the HTTP/2 preface: wait for the rest.
            None => return self.finish(t, now),
        }
        loop {
            let mut full = false;
            loop {
                let Some(conn) = self.conns.get_mut(&t) else { return };
                if conn.closing {
                    break;
                }
                if conn.slots.len() >= self.cfg.max_pipelined {
                    full = true;
                    break;
                }
                match conn.parse(&self.cfg) {
                    Parsed::Incomplete => {
                        // A socket drained up to the buffer limit may hold more.
                        if conn.read_paused() && conn.buffered() < self.cfg.max_header_bytes {
                            conn.fill(now, true, &mut self.scratch[..]);
                            continue;
                        }
                        break;
                    }
                    Parsed::Error(status) => {
                        self.stats.bad_requests += 1;
                        self.respond_error(t, status);
                        break;
                    }
                    Parsed::Request(request, raw_path, keep_alive) => {
                        if self.dispatch(t, request, &raw_path, keep_alive) {
                            return; // handed off
                        }
                    }
                }
            }
            self.finish(t, now);
            // Writing may have freed the slots a full pipeline waited for: its requests are
            // in the buffer already, so no event will come for them. Parse on now.
            let Some(conn) = self.conns.get(&t) else { return };
            if !full || conn.closing || conn.slots.len() >= self.cfg.max_pipelined {
                return;
            }
        }
    }

    /// Whether connection `t` speaks HTTP/2, starting it when the client chose it (ALPN
    /// `h2`, or the preface as the first bytes); `None` while the first bytes could
    /// still be the preface.
    fn choose_protocol(&mut self, t: usize) -> Option<bool> {
        let conn = self.conns.get_mut(&t)?;
        if conn.h2.is_some() {
            return Some(true);
        }
        if !self.cfg.http2 || conn.next_seq > 0 || conn.stream.is_handshaking() {
            return Some(false);
        }
        let chosen = conn.stream.is_h2() || conn.h2c_preface()?;
        if chosen {
            conn.start_h2(&self.cfg);
        }
        Some(chosen)
    }

    /// Feeds what an HTTP/2 connection received to its session and routes the requests
    /// that came whole.
    fn process_h2(&mut self, t: usize, now: Instant) {
        loop {
            let Some(conn) = self.conns.get_mut(&t) else { return };
            let (used, held_back) = conn.receive_h2(now);
            let ready = conn.h2.as_mut().map(|h| h.take_requests()).unwrap_or_default();
            for r in ready {
                self.dispatch_h2(t, r);
            }
            self.finish(t, now);
            let Some(conn) = self.conns.get_mut(&t) else { return };
            // Frames the session held back while output was high are in the buffer
            // already (no event will come for them): go on once the flush made room.
            // Frames held back at the buffer limit: read on now that there is room.
            let pending = conn.buffered() > 0 && (used > 0 || held_back) && conn.h2_can_receive();
            let again = pending || (conn.can_read_more() && conn.fill(now, true, &mut self.scratch[..]));
            if !again {
                return;
            }
        }
    }

    /// Routes one HTTP/2 request.
    fn dispatch_h2(&mut self, t: usize, ready: Ready) {
        let Ready { stream, mut request, raw_path } = ready;
        let Some(conn) = self.conns.get(&t) else { return };
        request.peer = Some(conn.peer);
        let id = JobId { token: t, generation: conn.generation, seq: u64::from(stream) };
        if let Some(response) = self.route(request, &raw_path, id) {
            self.answer_h2(t, stream, response);
        }
    }

    /// CORS preflights and the router, for both protocols: the response now, or `None`
    /// once the request went to a worker as job `id` (its answer comes to `complete`).
    fn route(&mut self, mut request: Request, raw_path: &str, id: JobId) -> Option<Response> {
        if let Some(response) = self.cfg.cors.as_ref().and_then(|c| c.preflight(&request)) {
            return Some(response);
        }
        Some(match self.router.find(request.method, raw_path, &mut request.params) {
            Lookup::Handler(handler, Run::Inline) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&request)))
                    .unwrap_or_else(|_| self.cfg.error(500, "handler panicked"))
            }
            Lookup::Handler(handler, Run::Blocking) => {
                if self.pool.submit(id, handler, request).is_ok() {
                    return None;
                }
                // Answered here, not through `complete`: that would process the
                // connection again from inside its own loop.
                self.cfg.error(503, "server busy").header("Retry-After", "1")
            }
            Lookup::WrongMethod(allowed) => {
                let allow: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
                self.cfg.error(405, "method not allowed").header("Allow", &allow.join(", "))
            }
            Lookup::Missing => self.cfg.error(404, "not found"),
        })
    }

    /// Queues `response` on HTTP/2 stream `stream` of connection `t`.
    fn answer_h2(&mut self, t: usize, stream: u32, mut response: Response) {
        let Some(h2) = self.conns.get_mut(&t).and_then(|c| c.h2.as_mut()) else { return };
        if let (Some(cors), Some(origin)) = (&self.cfg.cors, h2.origin(stream)) {
            cors.decorate(origin, &mut response);
        }
        h2.respond(stream, response);
        self.stats.requests += 1;
    }

    /// Answers `status` and closes after it.
    fn respond_error(&mut self, t: usize, status: u16) {
        let Some(conn) = self.conns.get_mut(&t) else { return };
        let mut bytes = Vec::new();
        self.cfg.error(status, crate::response::reason(status)).write(&mut bytes, false, true);
        let seq = conn.next_seq;
        conn.next_seq += 1;
        conn.slots.push_back(Slot { seq, bytes: Some(bytes), close: true, head: false, origin: None });
        conn.closing = true;
        self.stats.requests += 1;
    }

    /// Routes one request. Returns true if the connection was handed off (upgrade).
    fn dispatch(&mut self, t: usize, mut request: Request, raw_path: &str, keep_alive: bool) -> bool {
        let origin = request.header("origin").map(str::to_string);
        let head = request.method == Method::Head;
        let wants_upgrade = request.method == Method::Get
            && request.header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
            && self.upgrade.is_some()
            && self.router.is_upgrade(raw_path, &mut request.params);
        if wants_upgrade {
            return self.hand_off(t, request);
        }
        let Some(conn) = self.conns.get(&t) else { return false };
        let id = JobId { token: t, generation: conn.generation, seq: conn.next_seq };
        match self.route(request, raw_path, id) {
            Some(response) => self.fill(t, response, keep_alive, head, origin),
            None => {
                // A worker has it: its slot waits in order for the answer.
                let Some(conn) = self.conns.get_mut(&t) else { return false };
                conn.next_seq += 1;
                let close = !keep_alive || self.draining_since.is_some();
                conn.slots.push_back(Slot { seq: id.seq, bytes: None, close, head, origin });
            }
        }
        false
    }

    /// Queues `response` for connection `t` in a new slot.
    fn fill(&mut self, t: usize, mut response: Response, keep_alive: bool, head: bool, origin: Option<String>) {
        let close = !keep_alive || self.draining_since.is_some();
        if let (Some(cors), Some(o)) = (&self.cfg.cors, &origin) {
            cors.decorate(o, &mut response);
        }
        let Some(conn) = self.conns.get_mut(&t) else { return };
        conn.respond(close, head, |out| response.write(out, head, close));
        self.stats.requests += 1;
    }

    /// A worker's (or the refusal's) response for job `id`.
    fn complete(&mut self, id: JobId, mut response: Response, now: Instant) {
        let Some(conn) = self.conns.get_mut(&id.token) else { return };
        if conn.generation != id.generation {
            return; // the connection is gone and its token reused
        }
        if conn.h2.is_some() {
            self.answer_h2(id.token, id.seq as u32, response);
            return self.process(id.token, now);
        }
        let Some(slot) = conn.slots.iter_mut().find(|s| s.seq == id.seq) else { return };
        if let (Some(cors), Some(o)) = (&self.cfg.cors, &slot.origin) {
            cors.decorate(o, &mut response);
        }
        let mut bytes = Vec::new();
        response.write(&mut bytes, slot.head, slot.close);
        slot.bytes = Some(bytes);
        self.stats.requests += 1;
        self.process(id.token, now);
    }

    fn collect_results(&mut self, now: Instant) {
        while let Ok((id, response)) = self.pool.done.try_recv() {
            self.complete(id, response, now);
        }
    }

    /// Writes what is ready; closes the connection once it is done.
    fn finish(&mut self, t: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(&t) else { return };
        let broken = conn.flush(now).is_err();
        // An HTTP/2 client that closed its side still gets the answers of its open
        // streams; a partial frame it left will never complete.
        let done_reading = match conn.h2.as_mut() {
            Some(h2) if conn.read_done => {
                h2.peer_closed();
                h2.is_idle()
            }
            Some(_) => false,
            None => conn.read_done && conn.buffered() == 0,
        };
        let finished = conn.closing || done_reading || conn.h2.as_ref().is_some_and(|h| h.is_finished());
        if broken || (finished && conn.slots.is_empty() && !conn.has_output()) {
            self.close(t);
        }
    }

    fn close(&mut self, t: usize) {
        if let Some(mut conn) = self.conns.remove(&t) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
        }
    }

    /// Hands connection `t` to the upgrade sink once its earlier responses are out;
    /// until then the request waits (it was the last one parsed).
    fn hand_off(&mut self, t: usize, request: Request) -> bool {
        let Some(mut conn) = self.conns.remove(&t) else { return true };
        let _ = conn.flush(Instant::now());
        // TLS records the socket has not taken yet go along with the stream: kaos-ws
        // writes them before anything else.
        if !conn.slots.is_empty() || conn.has_unsent_responses() {
            // Pipelined responses still owed: refuse rather than reorder.
            self.conns.insert(t, conn);
            self.stats.bad_requests += 1;
            self.respond_error(t, 400);
            self.finish(t, Instant::now());
            return true;
        }
        let _ = self.poll.registry().deregister(&mut conn.stream);
        let buffered = conn.take_buffered();
        self.stats.upgrades += 1;
        if let Some(sink) = self.upgrade.as_mut() {
            sink(Upgrade { stream: conn.stream, request, buffered });
        }
        true
    }

    /// Closes connections that went over a timeout.
    fn sweep(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut slow = Vec::new();
        let mut h2_late = Vec::new();
        for (&t, c) in self.conns.iter_mut() {
            if let Some(h2) = c.h2.as_mut() {
                // HTTP/2 requests time out stream by stream (408 on the stream).
                let late = h2.expire(now, self.cfg.request_timeout);
                if late > 0 {
                    self.stats.timeouts += late as u64;
                    self.stats.bad_requests += late as u64;
                    h2_late.push(t);
                }
            }
            let request_late = c.request_started.is_some_and(|s| now.duration_since(s) >= self.cfg.request_timeout);
            let write_stalled = c.has_output() && now.duration_since(c.last_write_progress) >= self.cfg.write_timeout;
            // A TLS handshake gets the time a request gets; it cannot speak HTTP, so no 408.
            let handshake_late =
                c.stream.is_handshaking() && now.duration_since(c.accepted) >= self.cfg.request_timeout;
            let idle = c.is_idle() && now.duration_since(c.last_active) >= self.cfg.idle_timeout;
            // HTTP/2: a frame left incomplete, or answers waiting on a window the client
            // keeps closed (PINGs do not count as progress), end the connection.
            let frame_late = c.h2.is_some() && request_late;
            if let Some(h2) = c.h2.as_mut() {
                if h2.window_wait().0 && now.duration_since(c.window_progress) >= self.cfg.write_timeout {
                    h2.fail_stalled();
                    h2_late.push(t);
                }
            }
            if write_stalled || idle || handshake_late || frame_late {
                expired.push(t);
            } else if request_late && !c.closing {
                slow.push(t);
            }
        }
        for t in expired {
            self.stats.timeouts += 1;
            self.close(t);
        }
        for t in h2_late {
            self.finish(t, now);
        }
        for t in slow {
            self.stats.timeouts += 1;
            self.stats.bad_requests += 1;
            self.respond_error(t, 408);
            self.finish(t, now);
        }
    }

    /// Stops accepting and closes idle connections; busy ones close after their
    /// responses.
    fn begin_drain(&mut self, now: Instant) -> io::Result<()> {
        self.draining_since = Some(now);
        if let Some(mut listener) = self.listener.take() {
            self.poll.registry().deregister(&mut listener)?;
        }
        let tokens: Vec<usize> = self.conns.keys().copied().collect();
        for t in tokens {
            if let Some(c) = self.conns.get_mut(&t) {
                if let Some(h2) = c.h2.as_mut() {
                    // GOAWAY: the open streams are answered, then the connection closes.
                    h2.go_away();
                    self.finish(t, now);
                } else if c.is_idle() {
                    self.close(t);
                } else {
                    // The requests in progress are answered, the last one with a close;
                    // a request still arriving is answered with a close too (`fill`).
                    if let Some(s) = c.slots.back_mut() {
                        s.close = true;
                    }
                    self.finish(t, now);
                }
            }
        }
        Ok(())
    }
}
