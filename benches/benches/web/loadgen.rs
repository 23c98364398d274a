//! The load generator: one thread, one mio loop, many non-blocking connections, the same
//! client for every server. HTTP connections keep `depth` `GET /json` requests in flight
//! (keep-alive; depth 1 is wrk's default, no pipelining); WebSocket connections keep one small message in flight
//! (echo) or, at scale, just stay connected.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Socket, Type};

const REQUEST: &[u8] = b"GET /json HTTP/1.1\r\nHost: bench\r\n\r\n";
const UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
/// Handshakes in progress at once while connecting (the server's accept backlog is finite).
const CONNECTING_AT_ONCE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// HTTP keep-alive with `depth` requests in flight (1: no pipelining).
    Http { depth: usize },
    /// WebSocket: `echo` keeps a message in flight; otherwise one echo, then idle.
    Ws { echo: bool },
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    Handshake,
    Open,
}

struct Conn {
    stream: TcpStream,
    phase: Phase,
    rbuf: Vec<u8>,
    out: Vec<u8>,
    /// Replies received.
    done: u64,
}

/// A client-side WebSocket frame: binary, masked with a zero key (payload unchanged).
fn ws_frame(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut f = vec![0x82, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    f.extend_from_slice(payload);
    f
}

/// Total length of the complete HTTP response at the start of `buf`, if there is one.
fn http_response_len(buf: &[u8]) -> Option<usize> {
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(&buf[..head]).ok()?;
    let length = text
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (buf.len() >= head + length).then_some(head + length)
}

/// Total length of the complete unmasked server frame at the start of `buf`.
fn ws_frame_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 2 {
        return None;
    }
    let (len, header) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        126 => return None,
        127 => panic!("unexpected 64-bit frame"),
        n => (n as usize, 2),
    };
    (buf.len() >= header + len).then_some(header + len)
}

/// Builds the request a connection sends next: (connection index, its request number).
pub type MakeRequest = Box<dyn FnMut(usize, u64) -> Vec<u8>>;

pub struct LoadGen {
    poll: Poll,
    /// HTTP requests other than `GET /json`.
    make_request: Option<MakeRequest>,
    conns: Vec<Conn>,
    mode: Mode,
    server: SocketAddr,
    sources: Vec<IpAddr>,
    target: usize,
    /// Replies across all connections.
    pub replies: u64,
    /// Connections open (handshake done).
    pub open: usize,
    pub failed: usize,
    payload: Vec<u8>,
}

impl LoadGen {
    /// A load generator of `target` connections to `server`, bound round-robin to the
    /// `sources` addresses.
    pub fn new(mode: Mode, server: SocketAddr, target: usize, sources: Vec<IpAddr>) -> LoadGen {
        LoadGen {
            poll: Poll::new().unwrap(),
            make_request: None,
            conns: Vec::with_capacity(target),
            mode,
            server,
            sources,
            target,
            replies: 0,
            open: 0,
            failed: 0,
            payload: ws_frame(b"0123456789abcdef0123456789abcdef"),
        }
    }

    /// Sends the requests `make` builds instead of `GET /json` (HTTP, depth 1).
    pub fn with_requests(mut self, make: MakeRequest) -> LoadGen {
        self.make_request = Some(make);
        self
    }

    fn next_request(&mut self, conn: usize) -> Vec<u8> {
        let seq = self.conns.get(conn).map_or(0, |c| c.done);
        match &mut self.make_request {
            Some(make) => make(conn, seq),
            None => REQUEST.to_vec(),
        }
    }

    fn start_connect(&mut self) -> io::Result<()> {
        let source = self.sources[self.conns.len() % self.sources.len()];
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        socket.bind(&SocketAddr::new(source, 0).into())?;
        match socket.connect(&self.server.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let mut stream = TcpStream::from_std(socket.into());
        let token = Token(self.conns.len());
        self.poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        let index = self.conns.len();
        let (phase, out) = match self.mode {
            Mode::Http { depth } if self.make_request.is_some() => {
                let first = self.next_request(index);
                (Phase::Connecting, first.repeat(depth))
            }
            Mode::Http { depth } => (Phase::Connecting, REQUEST.repeat(depth)),
            Mode::Ws { .. } => (Phase::Connecting, UPGRADE.to_vec()),
        };
        self.conns.push(Conn { stream, phase, rbuf: Vec::new(), out, done: 0 });
        Ok(())
    }

    /// Opens connections until `target` are open (or `timeout` passes).
    pub fn connect_all(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.open + self.failed < self.target && Instant::now() < deadline {
            while self.conns.len() < self.target && self.conns.len() - self.open - self.failed < CONNECTING_AT_ONCE {
                if self.start_connect().is_err() {
                    self.failed += 1;
                    break;
                }
            }
            self.turn(Duration::from_millis(10));
        }
    }

    /// Runs the loop for `duration`.
    pub fn run_for(&mut self, duration: Duration) {
        let end = Instant::now() + duration;
        while Instant::now() < end {
            self.turn(Duration::from_millis(10));
        }
    }

    /// Sends one more message on every open WebSocket connection and waits until each
    /// has its echo; returns how many did within `timeout`.
    pub fn ping_all(&mut self, timeout: Duration) -> usize {
        let before: Vec<u64> = self.conns.iter().map(|c| c.done).collect();
        for i in 0..self.conns.len() {
            if self.conns[i].phase == Phase::Open {
                let frame = self.payload.clone();
                self.conns[i].out.extend_from_slice(&frame);
                self.write(i);
            }
        }
        let deadline = Instant::now() + timeout;
        loop {
            let answered = self.conns.iter().zip(&before).filter(|(c, b)| c.done > **b).count();
            if answered >= self.open || Instant::now() >= deadline {
                return answered;
            }
            self.turn(Duration::from_millis(10));
        }
    }

    fn turn(&mut self, timeout: Duration) {
        let mut events = Events::with_capacity(1024);
        self.poll.poll(&mut events, Some(timeout)).unwrap();
        for e in events.iter() {
            let i = e.token().0;
            if e.is_error() {
                self.fail(i);
                continue;
            }
            if e.is_writable() {
                if self.conns[i].phase == Phase::Connecting {
                    self.conns[i].phase = if matches!(self.mode, Mode::Http { .. }) {
                        self.open += 1;
                        Phase::Open
                    } else {
                        Phase::Handshake
                    };
                }
                self.write(i);
            }
            if e.is_readable() {
                self.read(i);
            }
        }
    }

    fn fail(&mut self, i: usize) {
        let c = &mut self.conns[i];
        if c.phase != Phase::Open || matches!(self.mode, Mode::Http { .. }) {
            self.failed += 1;
        }
        if c.phase == Phase::Open {
            self.open -= 1;
        }
        c.phase = Phase::Connecting;
        let _ = self.poll.registry().deregister(&mut c.stream);
        c.out.clear();
    }

    fn write(&mut self, i: usize) {
        let c = &mut self.conns[i];
        if c.phase == Phase::Connecting || c.out.is_empty() {
            return;
        }
        match c.stream.write(&c.out) {
            Ok(n) => {
                c.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => self.fail(i),
        }
    }

    fn read(&mut self, i: usize) {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let c = &mut self.conns[i];
            if c.phase == Phase::Connecting {
                return;
            }
            match c.stream.read(&mut chunk) {
                Ok(0) => return self.fail(i),
                Ok(n) => c.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(i),
            }
        }
        let c = &mut self.conns[i];
        let mut send_next = 0;
        loop {
            match (self.mode, &c.phase) {
                (Mode::Ws { .. }, Phase::Handshake) => {
                    let Some(end) = c.rbuf.windows(4).position(|w| w == b"\r\n\r\n") else { break };
                    assert!(c.rbuf.starts_with(b"HTTP/1.1 101"), "handshake refused");
                    c.rbuf.drain(..end + 4);
                    c.phase = Phase::Open;
                    self.open += 1;
                    send_next += 1;
                }
                (Mode::Http { .. }, _) => {
                    let Some(len) = http_response_len(&c.rbuf) else { break };
                    assert!(c.rbuf.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&c.rbuf));
                    c.rbuf.drain(..len);
                    c.done += 1;
                    self.replies += 1;
                    send_next += 1;
                }
                (Mode::Ws { echo }, _) => {
                    let Some(len) = ws_frame_len(&c.rbuf) else { break };
                    c.rbuf.drain(..len);
                    c.done += 1;
                    self.replies += 1;
                    send_next += usize::from(echo);
                }
            }
        }
        // The next request, or a message after the handshake or an echo.
        for _ in 0..send_next {
            let next = if matches!(self.mode, Mode::Http { .. }) { self.next_request(i) } else { self.payload.clone() };
            self.conns[i].out.extend_from_slice(&next);
        }
        self.write(i);
    }
}
