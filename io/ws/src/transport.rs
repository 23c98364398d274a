//! The one-object-per-connection API: [`WsServerTransport`] accepts, each
//! [`WsConnection`] sends and receives on its own socket (blocking or not), and
//! [`WsClient::connect`] opens one to a server. Simple to use for a handful of
//! connections; [`WsServer`](crate::WsServer) serves thousands from one loop.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use tungstenite::protocol::Role;

use crate::handshake::{self, Verdict};
use crate::session::{ReadState, SendRefused, Session};
use crate::{ClientTransport, CloseReason, Kind, TransportError, TransportServer, WsConfig};

/// A listening WebSocket server that hands out one [`WsConnection`] per client.
#[derive(Debug)]
pub struct WsServerTransport {
    listener: TcpListener,
    cfg: WsConfig,
    nonblocking: bool,
    /// Handshakes in progress (non-blocking mode).
    pending: Vec<Pending>,
}

#[derive(Debug)]
struct Pending {
    stream: TcpStream,
    buf: Vec<u8>,
    started: Instant,
}

impl WsServerTransport {
    /// Listens on `addr` (`"0.0.0.0:7351"`) with the default settings.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<WsServerTransport> {
        WsServerTransport::bind_with(addr, WsConfig::default())
    }

    /// Listens on `addr` with `cfg`.
    pub fn bind_with(addr: impl ToSocketAddrs, cfg: WsConfig) -> io::Result<WsServerTransport> {
        Ok(WsServerTransport { listener: TcpListener::bind(addr)?, cfg, nonblocking: false, pending: Vec::new() })
    }

    /// Chooses whether `accept` and the connections it returns wait.
    pub fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        self.listener.set_nonblocking(nonblocking)?;
        self.nonblocking = nonblocking;
        Ok(())
    }

    /// The listening address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next client whose handshake succeeded. Blocking: waits for one (clients
    /// that fail their handshake are answered and skipped). Non-blocking: `Ok(None)`
    /// when none is ready; handshakes progress over successive calls.
    pub fn accept(&mut self) -> io::Result<Option<WsConnection>> {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    if self.nonblocking {
                        stream.set_nonblocking(true)?;
                        self.pending.push(Pending { stream, buf: Vec::new(), started: Instant::now() });
                        continue;
                    }
                    stream.set_read_timeout(Some(self.cfg.handshake_timeout))?;
                    let mut p = Pending { stream, buf: Vec::new(), started: Instant::now() };
                    if let Ok(Some(conn)) = self.progress(&mut p) {
                        return Ok(Some(conn));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut i = 0;
        while i < self.pending.len() {
            let mut p = self.pending.swap_remove(i);
            match self.progress(&mut p) {
                Ok(Some(conn)) => return Ok(Some(conn)),
                Ok(None) if p.started.elapsed() < self.cfg.handshake_timeout => {
                    self.pending.push(p);
                    let last = self.pending.len() - 1;
                    self.pending.swap(i, last);
                    i += 1;
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// Reads and answers one handshake: `Ok(None)` while incomplete (non-blocking),
    /// `Err` when it failed (answered with an error where one applies).
    fn progress(&self, p: &mut Pending) -> io::Result<Option<WsConnection>> {
        let mut chunk = [0u8; 2048];
        loop {
            let n = match p.stream.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            p.buf.extend_from_slice(&chunk[..n]);
            let parsed = match handshake::parse_request(
                &p.buf,
                self.cfg.max_handshake_bytes,
                &self.cfg.protocols,
                self.cfg.deflate,
            ) {
                Ok(None) => continue,
                Ok(Some(parsed)) => Ok(parsed),
                Err(verdict) => Err(verdict),
            };
            let (target, len, response, deflate) = match parsed {
                Ok(handshake::Parsed { target, len, verdict: Verdict::Accept(response, agreed) }) => {
                    (target, len, response, agreed.deflate)
                }
                Ok(handshake::Parsed { verdict: Verdict::Refuse(response), .. })
                | Err(Verdict::Refuse(response))
                | Err(Verdict::Accept(response, _)) => {
                    // Best effort: the client gets the reason, then the connection closes.
                    let _ = p.stream.set_nonblocking(false);
                    let _ = p.stream.set_write_timeout(Some(Duration::from_secs(1)));
                    let _ = p.stream.write_all(&response);
                    let _ = p.stream.shutdown(Shutdown::Write);
                    return Err(io::ErrorKind::InvalidData.into());
                }
            };
            let stream = p.stream.try_clone()?;
            stream.set_read_timeout(None)?;
            stream.set_nonblocking(self.nonblocking)?;
            let peer = stream.peer_addr()?;
            let session = Session::new(Role::Server, &self.cfg, p.buf[len..].to_vec(), response, deflate);
            let mut conn = WsConnection { stream, session, peer, target, nonblocking: self.nonblocking };
            conn.flush_now().map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
            return Ok(Some(conn));
        }
    }
}

impl TransportServer for WsServerTransport {
    type Client = WsConnection;

    fn accept(&mut self) -> io::Result<Option<WsConnection>> {
        WsServerTransport::accept(self)
    }

    fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        WsServerTransport::set_nonblocking(self, nonblocking)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        WsServerTransport::local_addr(self)
    }
}

/// One WebSocket connection on its own socket: a client accepted by
/// [`WsServerTransport`], or the client side opened by [`WsClient::connect`].
#[derive(Debug)]
pub struct WsConnection {
    stream: TcpStream,
    session: Session,
    peer: SocketAddr,
    target: String,
    nonblocking: bool,
}

/// The client side of a WebSocket connection (the same type as a server's).
pub type WsClient = WsConnection;

impl WsConnection {
    /// Opens a connection to `url` (`ws://host:port/path?query`), blocking until the
    /// handshake completes; the connection is then blocking (see
    /// [`set_nonblocking`](Self::set_nonblocking)).
    pub fn connect(url: &str) -> Result<WsConnection, TransportError> {
        WsConnection::connect_with(url, WsConfig::default())
    }

    /// [`connect`](Self::connect) with settings.
    pub fn connect_with(url: &str, cfg: WsConfig) -> Result<WsConnection, TransportError> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| TransportError::Protocol(format!("only ws:// URLs are supported: {url}")))?;
        let (host, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let addr =
            host.to_socket_addrs()?.next().ok_or_else(|| TransportError::Protocol(format!("no address for {host}")))?;
        let mut stream = TcpStream::connect_timeout(&addr, cfg.handshake_timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(cfg.handshake_timeout))?;
        let (request, key) = handshake::client_request(host, &target);
        stream.write_all(&request)?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 2048];
        let len = loop {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(TransportError::Closed);
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(len) = handshake::check_response(&buf, &key).map_err(TransportError::Protocol)? {
                break len;
            }
            if buf.len() > cfg.max_handshake_bytes {
                return Err(TransportError::Protocol("handshake response too large".into()));
            }
        };
        stream.set_read_timeout(None)?;
        let session = Session::new(Role::Client, &cfg, buf[len..].to_vec(), Vec::new(), false);
        Ok(WsConnection { stream, session, peer: addr, target, nonblocking: false })
    }

    /// Chooses whether `receive` waits and `send` blocks until written.
    pub fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        self.stream.set_nonblocking(nonblocking)?;
        self.nonblocking = nonblocking;
        Ok(())
    }

    /// Sends one binary message (written now as far as the socket takes it).
    pub fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.send_kind(Kind::Binary, data)
    }

    /// Sends one text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), TransportError> {
        self.send_kind(Kind::Text, text.as_bytes())
    }

    fn send_kind(&mut self, kind: Kind, data: &[u8]) -> Result<(), TransportError> {
        match self.session.send(kind, data) {
            Ok(()) => self.flush_now(),
            Err(SendRefused::Full) => {
                let _ = self.flush_now();
                Err(TransportError::Full)
            }
            Err(SendRefused::TooLarge) => Err(TransportError::TooLarge),
            Err(SendRefused::Closed) => Err(TransportError::Closed),
        }
    }

    /// Reads the socket and hands every message received to `f` (payloads, text or
    /// binary); returns how many. Blocking: waits for at least one. Once the connection
    /// is over and every message was handed out: `Err(Closed)`, or the protocol error
    /// that ended it.
    pub fn receive(&mut self, mut f: impl FnMut(&[u8])) -> Result<usize, TransportError> {
        self.receive_messages(|_, data| f(data))
    }

    /// [`receive`](Self::receive) with each message's kind.
    pub fn receive_messages(&mut self, mut f: impl FnMut(Kind, &[u8])) -> Result<usize, TransportError> {
        loop {
            let budget = if self.nonblocking { usize::MAX } else { 1 };
            let state = self.session.read(&mut self.stream, budget, true);
            // Pongs and close replies queued by the read go out now.
            let _ = self.flush_now();
            let n = self.session.drain(&mut f);
            if n > 0 {
                return Ok(n);
            }
            if state == ReadState::Done || self.session.is_done() {
                return Err(match self.session.reason() {
                    Some(CloseReason::Violation(code)) => TransportError::Protocol(format!("closed with {code}")),
                    _ => TransportError::Closed,
                });
            }
            if self.nonblocking {
                return Ok(0);
            }
        }
    }

    /// Starts a graceful close with `code` and a short reason; `receive` then returns
    /// `Err(Closed)` once the peer answers.
    pub fn close_with(&mut self, code: u16, reason: &str) -> Result<(), TransportError> {
        self.session.close(code, reason);
        self.flush_now()
    }

    /// Why the connection ended, once it has (or is ending).
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.session.reason()
    }

    /// The request target the connection was opened with.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Outbound bytes the socket has not taken yet.
    pub fn queued_bytes(&self) -> usize {
        self.session.queued()
    }

    /// Writes what is queued, as far as the socket takes it now.
    pub fn flush(&mut self) -> Result<(), TransportError> {
        self.flush_now()
    }

    fn flush_now(&mut self) -> Result<(), TransportError> {
        match self.session.flush(&mut self.stream) {
            Ok(_) => Ok(()),
            Err(e) => Err(TransportError::Io(e)),
        }
    }
}

impl ClientTransport for WsConnection {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        WsConnection::send(self, data)
    }

    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<usize, TransportError> {
        WsConnection::receive(self, f)
    }

    fn is_connected(&self) -> bool {
        self.session.is_open()
    }

    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    fn close(&mut self) -> Result<(), TransportError> {
        self.close_with(1000, "")
    }
}
