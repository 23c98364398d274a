//! KaosNet's WebSocket server and client: RFC 6455 over non-blocking mio streams, with
//! tungstenite for the frame protocol (masking, fragmentation, UTF-8, control frames).
//!
//! - [`WsServer`] serves many connections from one loop: its own listener, connections
//!   handed over by `kaos-http` after an upgrade on the HTTP port ([`WsServer::adopt`],
//!   [`Adopter`]), or both. Outbound messages are queued per connection up to
//!   [`WsConfig::max_outbound_bytes`]; a connection that reads too slowly to keep under
//!   it is closed with 1008 instead of growing memory. Inbound messages wait in a
//!   per-connection inbox; when it is full the server stops reading that socket (TCP
//!   pushes back on the client) until the application drains it.
//! - [`WsServerTransport`] and [`WsConnection`] (also called [`WsClient`]) are the simple
//!   one-object-per-connection API of the unified transport traits.
//!
//! ```no_run
//! use kaos_ws::{WsConfig, WsServer};
//!
//! let mut server = WsServer::bind("127.0.0.1:7350".parse().unwrap(), WsConfig::default()).unwrap();
//! loop {
//!     server.poll(None).unwrap();
//!     let mut echo = Vec::new();
//!     server.receive_all(|conn, kind, data| echo.push((conn, kind, data.to_vec())));
//!     for (conn, kind, data) in echo {
//!         let _ = server.send_kind(conn, kind, &data);
//!     }
//! }
//! ```

mod deflate;
mod handshake;
mod server;
mod session;
mod transport;

use std::fmt;
use std::time::Duration;

pub use kaos_transport::{ClientTransport, TransportError, TransportServer};
pub use server::{Adopter, ConnId, WsEvent, WsServer, WsStats};
pub use transport::{WsClient, WsConnection, WsServerTransport};

/// What a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// UTF-8 text (checked on receipt).
    Text,
    /// Bytes.
    Binary,
}

/// Why a connection ended (or is ending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer sent a close frame with this code (1005: it gave none).
    Peer(u16),
    /// This side closed with this code.
    Local(u16),
    /// The peer broke the protocol; this side closed with this code (1002 protocol
    /// error, 1007 invalid UTF-8, 1009 message too big).
    Violation(u16),
    /// The outbound queue reached its cap; closed with 1008.
    SlowConsumer,
    /// Nothing heard within the idle timeout, or a close that never completed.
    Timeout,
    /// The connection dropped without a close handshake.
    Reset,
}

impl CloseReason {
    /// The close code sent or received, if a close frame was exchanged.
    pub fn code(self) -> Option<u16> {
        match self {
            CloseReason::Peer(c) | CloseReason::Local(c) | CloseReason::Violation(c) => Some(c),
            CloseReason::SlowConsumer => Some(1008),
            CloseReason::Timeout | CloseReason::Reset => None,
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Peer(c) => write!(f, "closed by the peer ({c})"),
            CloseReason::Local(c) => write!(f, "closed locally ({c})"),
            CloseReason::Violation(c) => write!(f, "protocol violation ({c})"),
            CloseReason::SlowConsumer => f.write_str("slow consumer: outbound queue full (1008)"),
            CloseReason::Timeout => f.write_str("timed out"),
            CloseReason::Reset => f.write_str("connection reset"),
        }
    }
}

/// WebSocket settings, for servers and clients.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Largest message accepted or sent, bytes; a bigger incoming one closes with 1009.
    pub max_message_size: usize,
    /// Largest single frame accepted, bytes.
    pub max_frame_size: usize,
    /// Read buffer per connection, allocated with it: the floor of its memory.
    pub read_buffer_size: usize,
    /// Outbound bytes a connection may have waiting for its socket; a send beyond it
    /// closes the connection as a slow consumer (1008).
    pub max_outbound_bytes: usize,
    /// Received bytes a connection may hold unread by the application before the
    /// server stops reading its socket.
    pub max_inbox_bytes: usize,
    /// Most connections (handshakes included); more are closed at once.
    pub max_connections: usize,
    /// Largest upgrade request; beyond it: 431.
    pub max_handshake_bytes: usize,
    /// A handshake must complete within this long.
    pub handshake_timeout: Duration,
    /// A ping goes to a connection silent this long (`None`: never).
    pub ping_interval: Option<Duration>,
    /// A connection that sends nothing (pongs included) for this long is dropped.
    pub idle_timeout: Duration,
    /// How long a close handshake, or flushing the last bytes, may take.
    pub close_timeout: Duration,
    /// Messages read from one connection before the loop serves the others.
    pub read_budget: usize,
    /// How long queued messages may wait to go out together: zero (the default) writes
    /// them every turn of the loop; a few milliseconds lets several messages to one
    /// connection share a `send()`, which is most of a busy server's CPU, for that much
    /// more latency.
    pub flush_interval: Duration,
    /// Serve `wss://` on the server's own listener with this certificate (upgrades
    /// from kaos-http arrive already in TLS when its server has one).
    pub tls: Option<kaos_http::TlsConfig>,
    /// Subprotocols the server speaks, most preferred first: the handshake answers with
    /// the first of them the client offered (`Sec-WebSocket-Protocol`), or names none.
    pub protocols: Vec<String>,
    /// Accept permessage-deflate (RFC 7692) when a client offers it. Each message is
    /// compressed on its own (no context takeover), so idle connections hold no
    /// compression state, and an inflating message stops at `max_message_size` (1009).
    pub deflate: bool,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            read_buffer_size: 4096,
            max_outbound_bytes: 1 << 20,
            max_inbox_bytes: 1 << 20,
            max_connections: 100_000,
            max_handshake_bytes: 8192,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Some(Duration::from_secs(15)),
            idle_timeout: Duration::from_secs(45),
            close_timeout: Duration::from_secs(5),
            read_budget: 64,
            flush_interval: Duration::ZERO,
            tls: None,
            protocols: Vec::new(),
            deflate: true,
        }
    }
}

/// Entry points for the fuzz targets in `fuzz/` (not a stable API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use std::io::Cursor;

    use tungstenite::protocol::Role;

    use crate::session::{ReadState, Session};
    use crate::{handshake, WsConfig};

    /// Feeds `data` to the handshake parsers (request and response).
    pub fn handshake(data: &[u8]) {
        if let Ok(Some(parsed)) = handshake::parse_request(data, WsConfig::default().max_handshake_bytes, &[], true) {
            assert!(parsed.len <= data.len());
        }
        let (_, key) = handshake::client_request("h", "/");
        if let Ok(Some(len)) = handshake::check_response(data, &key) {
            assert!(len <= data.len());
        }
    }

    /// Feeds `data` as frames from a client (`server` true) or from a server, reading
    /// `budget` messages a pass, with permessage-deflate on (`deflate`, server side):
    /// memory stays within the limits, nothing panics, and the connection either drains
    /// the input or ends.
    pub fn frames(data: &[u8], server: bool, budget: usize, deflate: bool) {
        let cfg = WsConfig {
            max_message_size: 4096,
            max_frame_size: 2048,
            read_buffer_size: 512,
            max_outbound_bytes: 8192,
            max_inbox_bytes: 16 * 1024,
            ..WsConfig::default()
        };
        let role = if server { Role::Server } else { Role::Client };
        let mut session = Session::new(role, &cfg, Vec::new(), Vec::new(), deflate);
        let mut stream = Cursor::new(data);
        for _ in 0..data.len() + 2 {
            let state = session.read(&mut stream, budget.max(1), true);
            assert!(session.queued() <= cfg.max_outbound_bytes + 4096, "queue grew to {}", session.queued());
            session.drain(|_, m| assert!(m.len() <= cfg.max_message_size));
            // A cursor at its end reads 0 bytes: tungstenite reports that as a reset.
            if state == ReadState::Done || stream.position() as usize == data.len() && state == ReadState::Drained {
                break;
            }
        }
    }
}
