//! The client: one core connection on its own socket.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use kaos_core::conn::{Connection, DisconnectReason, Event};

use crate::backend::{Io, IoBackend};
use crate::busy_poll::BusyPoll;
use crate::sys;
use crate::{random_key, wait, Clock, RudpConfig, Stats, Transport, TransportError, RELIABLE_ORDERED};

/// A reliable-UDP client connection to one server.
///
/// [`new`](Self::new) starts the handshake; every call that runs the socket
/// ([`poll`](Self::poll), [`process_acks`](Self::process_acks), [`receive`](Self::receive))
/// moves it along. Messages sent before the handshake completes wait in the connection.
pub struct RudpTransport {
    socket: mio::net::UdpSocket,
    io: Io,
    busy: BusyPoll,
    cfg: RudpConfig,
    clock: Clock,
    server: SocketAddr,
    conn: Connection<Vec<u64>>,
    inbox: VecDeque<(u8, Box<[u8]>)>,
    inbox_bytes: usize,
    connected: bool,
    ended: Option<DisconnectReason>,
    foreign_dropped: u64,
    /// Datagrams were left in the socket when the last `process` hit its batch limit.
    backlog: bool,
}

impl std::fmt::Debug for RudpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RudpTransport")
            .field("server", &self.server)
            .field("connected", &self.connected)
            .field("ended", &self.ended)
            .finish()
    }
}

/// The socket: an engine's own event loop registers it for readability and calls
/// [`RudpTransport::process`] when it fires (with the mio backend; io_uring consumes
/// datagrams itself, so use [`RudpTransport::poll`] there).
#[cfg(unix)]
impl std::os::fd::AsFd for RudpTransport {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl RudpTransport {
    /// A client bound to `bind` (port 0 picks one) connecting to `server`, with default
    /// settings and reliable windows of `window` messages.
    pub fn new(bind: SocketAddr, server: SocketAddr, window: u16) -> io::Result<Self> {
        Self::with_config(bind, server, RudpConfig::with_window(window))
    }

    /// A client with `cfg`; the server must use the same channels and sizes.
    pub fn with_config(bind: SocketAddr, server: SocketAddr, cfg: RudpConfig) -> io::Result<Self> {
        cfg.validate()?;
        let mut socket = sys::bind(bind, cfg.socket())?;
        let io = Io::new(&mut socket, cfg.io, cfg.protocol.max_datagram as usize, cfg.batch)?;
        let clock = Clock::new();
        let nonce = u64::from_le_bytes(random_key()?[..8].try_into().expect("8 bytes"));
        let storage = vec![0; cfg.protocol.storage_words()];
        let conn = Connection::connect(&cfg.protocol, storage, clock.now(), server, nonce)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut t = RudpTransport {
            socket,
            io,
            busy: BusyPoll::new(cfg.busy_poll),
            cfg,
            clock,
            server,
            conn,
            inbox: VecDeque::new(),
            inbox_bytes: 0,
            connected: false,
            ended: None,
            foreign_dropped: 0,
            backlog: false,
        };
        t.process()?;
        Ok(t)
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// A handle other threads use to make [`poll`](Self::poll) return early (after
    /// queueing sends for the polling thread, say).
    pub fn waker(&mut self) -> io::Result<crate::RudpWaker> {
        self.io.waker()
    }

    /// The server's address.
    pub fn server_addr(&self) -> SocketAddr {
        self.server
    }

    /// Waits up to `timeout` (or until the connection's next timer) for datagrams, then
    /// runs the socket.
    pub fn poll(&mut self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        let next = if self.backlog { Some(self.clock.now()) } else { self.conn.poll_timeout() };
        wait(&mut self.io, &mut self.socket, &self.clock, timeout, next, &mut self.busy)?;
        self.process()
    }

    /// Runs the socket without waiting: receives, fires due timers, moves events out and
    /// sends what is due. A client driven only by this (once per frame) never registers
    /// its socket with epoll (mio).
    pub fn process(&mut self) -> io::Result<()> {
        self.backlog = true;
        let mut taken = 0;
        while taken < sys::MAX_DATAGRAMS_PER_PROCESS {
            let n = self.io.recv(&self.socket)?;
            taken += n.max(1);
            let now = self.clock.now();
            for k in 0..n {
                let Some((from, data)) = self.io.received(k) else { continue };
                if from == self.server {
                    self.conn.handle_datagram(now, data);
                    if self.conn.ack_overdue() {
                        // A long burst: ack it before handling the rest.
                        self.transmit()?;
                    }
                } else {
                    self.foreign_dropped += 1;
                }
            }
            if !self.io.more_waiting() {
                self.backlog = false;
                break;
            }
        }
        let now = self.clock.now();
        if self.conn.poll_timeout().is_some_and(|at| at <= now) {
            self.conn.handle_timeout(now);
        }
        self.take_events();
        self.transmit()
    }

    /// Queues `data` on `channel` and sends what the connection allows now.
    pub fn send_on(&mut self, channel: u8, data: &[u8]) -> Result<(), TransportError> {
        self.queue_on(channel, data)?;
        self.transmit()?;
        Ok(())
    }

    /// Queues `data` on `channel` without sending: many queued messages then share
    /// datagrams, sent by the next [`flush`](Self::flush) or poll.
    pub fn queue_on(&mut self, channel: u8, data: &[u8]) -> Result<(), TransportError> {
        self.conn.send(channel, data)?;
        Ok(())
    }

    /// Sends everything the connection allows now.
    pub fn flush(&mut self) -> io::Result<()> {
        self.transmit()
    }

    /// Hands every message received so far to `f` (after running the socket); returns
    /// how many.
    pub fn receive_messages(&mut self, f: impl FnMut(u8, &[u8])) -> Result<usize, TransportError> {
        self.process()?;
        Ok(self.take_messages(f))
    }

    /// Hands the messages already received to `f` without running the socket (after a
    /// [`process`](Self::process) or [`poll`](Self::poll) of one's own); returns how many.
    pub fn take_messages(&mut self, mut f: impl FnMut(u8, &[u8])) -> usize {
        let n = self.inbox.len();
        for (channel, data) in self.inbox.drain(..) {
            f(channel, &data);
        }
        self.inbox_bytes = 0;
        // Messages left in the connection while the inbox was at its cap.
        self.take_events();
        n
    }

    /// Runs the socket until the handshake completes, fails, or `timeout` passes.
    pub fn wait_connected(&mut self, timeout: std::time::Duration) -> io::Result<bool> {
        let end = std::time::Instant::now() + timeout;
        while !self.connected && self.ended.is_none() {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            self.poll(Some(left))?;
        }
        Ok(self.connected && self.ended.is_none())
    }

    /// Why the connection ended, once it has.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        self.ended
    }

    /// Closes the connection, telling the server `code`.
    pub fn disconnect(&mut self, code: u16) -> io::Result<()> {
        self.conn.close(self.clock.now(), code);
        self.process()
    }

    /// Round-trip time, loss and byte counters.
    pub fn stats(&self) -> Stats {
        self.conn.stats()
    }

    /// Datagrams from addresses other than the server, dropped.
    pub fn foreign_dropped(&self) -> u64 {
        self.foreign_dropped
    }

    fn take_events(&mut self) {
        let cap = self.cfg.protocol.inbox_bytes as usize;
        while self.inbox_bytes < cap {
            let Some(event) = self.conn.poll_event() else { break };
            match event {
                Event::Connected => self.connected = true,
                Event::Message { channel, data } => {
                    // Count each entry's bookkeeping, so empty messages fill the cap too.
                    self.inbox_bytes += data.len() + size_of::<(u8, Box<[u8]>)>();
                    self.inbox.push_back((channel, data.into()));
                }
                Event::Disconnected(reason) => {
                    self.connected = false;
                    self.ended = Some(reason);
                }
            }
        }
    }

    fn transmit(&mut self) -> io::Result<()> {
        let now = self.clock.now();
        loop {
            if self.io.send_full() {
                self.io.flush(&self.socket)?;
            }
            let Some(n) = self.conn.poll_transmit(now, self.io.send_buf()) else { break };
            self.io.commit(self.server, n);
        }
        self.io.flush(&self.socket)
    }

    /// The I/O backend in use (after `Auto` and any fallback).
    pub fn backend(&self) -> IoBackend {
        self.io.backend()
    }
}

impl Transport for RudpTransport {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.send_on(RELIABLE_ORDERED, data)
    }

    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<usize, TransportError> {
        self.receive_messages(|_, data| f(data))
    }

    fn process_acks(&mut self) -> Result<(), TransportError> {
        Ok(self.process()?)
    }

    fn is_connected(&self) -> bool {
        self.connected && self.ended.is_none()
    }
}
