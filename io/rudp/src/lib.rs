//! # kaos-rudp: reliable UDP for games
//!
//! [`kaos_core`] connections on non-blocking UDP sockets: a server for many clients
//! ([`RudpServer`]) and a client ([`RudpTransport`]), plus IPv4 multicast with NAK repair
//! ([`MulticastTransport`]). Both run on a [`mio`] loop and move
//! datagrams in batches (`recvmmsg` / `sendmmsg` on Linux).
//!
//! ```no_run
//! use kaos_rudp::{RudpServer, RudpTransport, Transport};
//! use std::time::Duration;
//!
//! let mut server = RudpServer::bind("127.0.0.1:7352".parse().unwrap(), 256)?;
//! let mut client = RudpTransport::new("127.0.0.1:0".parse().unwrap(), server.local_addr()?, 256)?;
//! client.send(b"hello")?;
//! loop {
//!     server.poll(Some(Duration::from_millis(1)))?;
//!     client.process_acks()?;
//!     while let Some(addr) = server.accept() {
//!         println!("{addr} connected");
//!     }
//!     # break;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Everything is bounded: clients ([`RudpConfig::max_clients`]), memory per client (the
//! core connection's fixed storage plus at most [`kaos_core::config::Config::inbox_bytes`] of
//! delivered but unread messages), message size, idle time, and handshakes answered per
//! second. Going past a bound gives an error or a disconnect event, never a panic or growth.

#![warn(missing_docs)]

mod backend;
mod busy_poll;
mod client;
#[cfg(target_os = "linux")]
pub mod driver;
pub mod multicast;
mod parking;
mod server;
mod shards;
mod sys;
mod unified;
#[cfg(target_os = "linux")]
mod uring;

use std::fmt;
use std::io;
use std::time::Instant as StdInstant;

pub use kaos_core::channel::SendError;
pub use kaos_core::config::{ChannelConfig, ChannelKind, Config};
pub use kaos_core::congestion::Stats;
pub use kaos_core::conn::DisconnectReason;
pub use kaos_core::time::Duration;

pub use backend::{IoBackend, RudpWaker};
pub use client::RudpTransport;
pub use kaos_transport::{ClientTransport, TransportServer};
pub use multicast::{MulticastConfig, MulticastStats, MulticastTransport};
pub use server::{RudpServer, ServerEvent, ServerStats};
pub use shards::Shards;
pub use unified::{RudpClient, RudpServerTransport, ServerCore};

/// Channel 0 of [`RudpConfig::with_window`]: reliable-ordered.
pub const RELIABLE_ORDERED: u8 = 0;
/// Channel 1: reliable-unordered.
pub const RELIABLE_UNORDERED: u8 = 1;
/// Channel 2: unreliable-sequenced (only the newest message counts).
pub const UNRELIABLE_SEQUENCED: u8 = 2;
/// Channel 3: unreliable.
pub const UNRELIABLE: u8 = 3;

/// Settings of a server or client.
#[derive(Debug, Clone)]
pub struct RudpConfig {
    /// The connection protocol: channels, sizes, timers. Both sides must agree on the
    /// channels, `max_datagram` and `max_message` (checked in the handshake).
    pub protocol: Config,
    /// Server: most connected clients; handshakes beyond it are refused (`ServerFull`).
    pub max_clients: usize,
    /// Server: connect requests answered per second (a token bucket with a burst of the
    /// same size); the rest are dropped unanswered and counted.
    pub handshakes_per_sec: u32,
    /// Requested kernel receive buffer, bytes.
    pub recv_buffer: usize,
    /// Requested kernel send buffer, bytes.
    pub send_buffer: usize,
    /// Set `SO_REUSEPORT` so several sockets (loop threads) can share the port.
    pub reuse_port: bool,
    /// The I/O backend.
    pub io: IoBackend,
    /// Server: a client quiescent (nothing in flight or unread) with no message either
    /// way for this long gives its storage back and keeps about 1.5 KiB; it takes storage
    /// again on its next datagram, send or timer. Zero parks as soon as it is quiescent.
    pub park_after: std::time::Duration,
    /// Server: bytes of spare connection storage kept for reuse; the rest goes back to
    /// the OS.
    pub spare_storage_bytes: usize,
    /// Datagrams per system call (1..=32). The mio backend keeps `batch × max_datagram`
    /// bytes of send buffers per socket and, for receiving, `batch` entries of 64 KiB on
    /// Linux (each can take a train of datagrams the kernel coalesced, UDP GRO) or of
    /// `max_datagram` elsewhere. Receive entries are anonymous memory, backed only where
    /// the kernel wrote: small datagrams use a page of each. A process holding many
    /// client transports saves memory with a smaller batch, at the cost of more system
    /// calls in bulk transfers.
    pub batch: usize,
    /// The longest [`RudpServer::poll`] and [`RudpTransport::poll`] check the socket
    /// without sleeping before they sleep on it (200 µs by default, at most 10 ms; zero
    /// never spins). Within it the spin adapts as Linux's haltpoll governor does: it
    /// grows while waits (to a datagram, a wake-up or the timeout) end within this long,
    /// and halves, then stops, once they outlast it. So a loop in a fast exchange spins,
    /// a poll whose timeout is within the spin spins through it without sleeping, and a
    /// loop waiting for its tick or on an idle socket stops spinning after a few waits.
    /// The spinning thread yields between checks, so a thread sharing its CPU can run.
    /// Waking a sleeping thread costs a few microseconds on bare metal and tens on a
    /// virtual machine whose idle CPUs halt, twice per round trip; spinning skips that.
    pub busy_poll: std::time::Duration,
}

impl RudpConfig {
    /// Defaults, with every reliable channel's window set to `window` messages (a power of
    /// two, 2..=16384): channels 0 reliable-ordered, 1 reliable-unordered, 2
    /// unreliable-sequenced, 3 unreliable.
    ///
    /// The window bounds what is unacked, not what is unread: messages acked and waiting
    /// for the application sit in the inbox (`protocol.inbox_bytes`, 64 KiB, plus 5 bytes
    /// a message on the server). With a large window of small messages, size the inbox for
    /// a few windows, or a burst that outruns the reader is dropped on arrival (and sent
    /// again, the sender taking it for loss).
    pub fn with_window(window: u16) -> Self {
        let mut protocol = Config::default();
        for c in protocol.channels.iter_mut() {
            c.window = window;
        }
        RudpConfig {
            protocol,
            max_clients: 1024,
            handshakes_per_sec: 10_000,
            recv_buffer: 4 << 20,
            send_buffer: 4 << 20,
            reuse_port: false,
            io: IoBackend::Auto,
            park_after: std::time::Duration::from_secs(1),
            spare_storage_bytes: 2 << 20,
            batch: 32,
            busy_poll: std::time::Duration::from_micros(200),
        }
    }

    /// Checks the protocol configuration.
    pub fn validate(&self) -> io::Result<()> {
        self.protocol.validate().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if self.protocol.max_datagram as usize > sys::SLOT {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "max_datagram above 2048 bytes"));
        }
        if self.busy_poll > MAX_BUSY_POLL {
            // Waking costs microseconds: spinning longer only burns the CPU.
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "busy_poll above 10 ms"));
        }
        Ok(())
    }

    /// Memory an active connection holds, bytes: its fixed storage plus the most its
    /// delivered, unread messages may take (a parked one holds about 1.5 KiB).
    pub fn memory_per_client(&self) -> usize {
        self.protocol.storage_words() * 8 + self.protocol.inbox_bytes as usize
    }

    fn socket(&self) -> sys::SocketOptions {
        sys::SocketOptions { recv_buffer: self.recv_buffer, send_buffer: self.send_buffer, reuse_port: self.reuse_port }
    }
}

impl Default for RudpConfig {
    fn default() -> Self {
        RudpConfig::with_window(256)
    }
}

/// Why a send or receive failed.
#[derive(Debug)]
pub enum TransportError {
    /// No connection with that address (never connected, or already gone).
    UnknownPeer,
    /// The connection refused the message (full, oversize, unknown channel, closed).
    Send(SendError),
    /// The socket failed.
    Io(io::Error),
    /// The media driver failed or is gone ([`DriverTransport`](driver::DriverTransport)).
    #[cfg(target_os = "linux")]
    Driver(driver::DriverError),
}

#[cfg(target_os = "linux")]
impl From<driver::DriverError> for TransportError {
    fn from(e: driver::DriverError) -> Self {
        TransportError::Driver(e)
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::UnknownPeer => f.write_str("no connection with that address"),
            TransportError::Send(e) => write!(f, "send refused: {e}"),
            TransportError::Io(e) => write!(f, "socket error: {e}"),
            #[cfg(target_os = "linux")]
            TransportError::Driver(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransportError::Io(e) => Some(e),
            #[cfg(target_os = "linux")]
            TransportError::Driver(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for TransportError {
    fn from(e: io::Error) -> Self {
        TransportError::Io(e)
    }
}

impl From<SendError> for TransportError {
    fn from(e: SendError) -> Self {
        TransportError::Send(e)
    }
}

/// A client-side message transport (reliable UDP here; WebSocket elsewhere in KaosNet).
pub trait Transport {
    /// Queues `data` reliably and in order, and sends what it can now.
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError>;
    /// Runs the socket (receive, timers, send), then hands every message received so far
    /// to `f`; returns how many.
    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<usize, TransportError>;
    /// Runs the socket without waiting: receives datagrams (acks included), fires timers,
    /// sends what is due.
    fn process_acks(&mut self) -> Result<(), TransportError>;
    /// Whether the connection is established.
    fn is_connected(&self) -> bool;
}

/// Microseconds since the transport started, as the core's clock.
#[derive(Debug, Clone, Copy)]
struct Clock(StdInstant);

impl Clock {
    fn new() -> Self {
        Clock(StdInstant::now())
    }

    fn now(&self) -> kaos_core::time::Instant {
        // Start at 1 µs, not 0, so "never" and "at start" cannot be confused.
        kaos_core::time::Instant::from_micros(self.0.elapsed().as_micros() as u64 + 1)
    }

    /// How long from now until `at` (zero if passed).
    fn until(&self, at: kaos_core::time::Instant) -> std::time::Duration {
        std::time::Duration::from_micros(at.as_micros().saturating_sub(self.now().as_micros()))
    }
}

/// The longest [`RudpConfig::busy_poll`].
const MAX_BUSY_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// Waits for datagrams up to `timeout`, or until the core timer `next` if sooner.
fn wait(
    io: &mut backend::Io,
    socket: &mut mio::net::UdpSocket,
    clock: &Clock,
    timeout: Option<std::time::Duration>,
    next: Option<kaos_core::time::Instant>,
    busy: &mut busy_poll::BusyPoll,
) -> io::Result<()> {
    let until = next.map(|at| clock.until(at));
    let wait = match (timeout, until) {
        (Some(t), Some(u)) => Some(t.min(u)),
        (t, u) => t.or(u),
    };
    busy.wait(io, socket, wait)
}

/// 16 random bytes from the operating system.
fn random_key() -> io::Result<[u8; 16]> {
    let mut k = [0; 16];
    getrandom::fill(&mut k).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(k)
}
