//! One shape for every message transport KaosNet serves: a [`TransportServer`] hands out
//! accepted clients, and each client (or a client-side connection) is a
//! [`ClientTransport`] that sends and receives whole messages. `kaos-ws` implements them
//! for WebSocket and `kaos-rudp` for reliable UDP, so game services can be written once.
//!
//! ```ignore
//! use kaos_ws::{ClientTransport, TransportServer, WsServerTransport};
//!
//! let mut server = WsServerTransport::bind("127.0.0.1:7351")?;
//! server.set_nonblocking(true)?;
//! let mut clients = Vec::new();
//! loop {
//!     if let Some(client) = server.accept()? {
//!         clients.push(client);
//!     }
//!     for client in &mut clients {
//!         let mut replies = Vec::new();
//!         client.receive(&mut |data| replies.push(data.to_vec()))?;
//!         for r in replies {
//!             client.send(&r)?;
//!         }
//!     }
//! }
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Why a transport operation failed.
#[derive(Debug)]
pub enum TransportError {
    /// The connection is closed (by either side, or lost); nothing more can be sent.
    Closed,
    /// The message is larger than the transport accepts.
    TooLarge,
    /// The connection's outbound queue is full; the message was not queued.
    Full,
    /// The peer broke the protocol; the connection was closed.
    Protocol(String),
    /// The socket failed.
    Io(io::Error),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Closed => f.write_str("connection closed"),
            TransportError::TooLarge => f.write_str("message too large"),
            TransportError::Full => f.write_str("outbound queue full"),
            TransportError::Protocol(why) => write!(f, "protocol error: {why}"),
            TransportError::Io(e) => write!(f, "socket error: {e}"),
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransportError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for TransportError {
    fn from(e: io::Error) -> Self {
        TransportError::Io(e)
    }
}

/// One connection that carries whole messages, reliably and in order: a client accepted
/// by a [`TransportServer`], or the client side of a connection.
pub trait ClientTransport {
    /// Queues `data` as one message and sends what the socket takes now.
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError>;
    /// Runs the connection (reads the socket, answers the protocol, writes what is
    /// queued) and hands every message received so far to `f`; returns how many.
    /// A blocking transport waits for at least one message; a non-blocking one does not
    /// wait.
    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<usize, TransportError>;
    /// Whether messages can still be exchanged.
    fn is_connected(&self) -> bool;
    /// The other end's address.
    fn peer_addr(&self) -> SocketAddr;
    /// Closes the connection gracefully.
    fn close(&mut self) -> Result<(), TransportError>;
}

/// A listening server that hands out connected clients.
pub trait TransportServer {
    /// The accepted clients' type.
    type Client: ClientTransport;
    /// The next client whose handshake has completed. Blocking (the default) waits for
    /// one; non-blocking returns `Ok(None)` when none is ready.
    fn accept(&mut self) -> io::Result<Option<Self::Client>>;
    /// Chooses whether `accept` (and the clients it returns) wait.
    fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()>;
    /// The address the server listens on.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}
