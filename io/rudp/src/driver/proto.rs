//! The records on a slot's rings: commands (control ring), messages to the driver, and
//! what the driver reports back. Decoders take untrusted bytes and return `None` on
//! anything malformed.

use std::net::SocketAddr;

use kaos_core::conn::DisconnectReason;
use kaos_core::wire::RejectReason;

use super::layout::{get_addr, put_addr, ADDR_LEN};
use crate::RudpConfig;

/// Command: open a client connection.
const CMD_CONNECT: u8 = 1;
/// Command: open a server socket.
const CMD_BIND: u8 = 2;
/// Command: close one connection.
const CMD_DISCONNECT: u8 = 3;

/// Bytes before the payload of a message to the driver: peer id (u32), channel (u8),
/// three zero bytes (keeps payloads 8-byte aligned).
pub const TO_DRIVER_HEADER: usize = 8;
/// Bytes before the payload of a record from the driver: kind, channel, code (u16),
/// peer id (u32).
pub const FROM_DRIVER_HEADER: usize = 8;

/// The settings an application chooses for an endpoint the driver opens for it. The rest
/// of [`RudpConfig`] is the driver's (its defaults, and mio).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointSpec {
    /// Reliable window of every reliable channel, messages.
    pub window: u16,
    /// Longest message, bytes.
    pub max_message: u32,
    /// Idle timeout, milliseconds.
    pub idle_timeout_ms: u32,
    /// Server: most clients.
    pub max_clients: u32,
}

impl EndpointSpec {
    const LEN: usize = 14;

    /// The spec of `cfg`.
    pub fn of(cfg: &RudpConfig) -> EndpointSpec {
        EndpointSpec {
            window: cfg.protocol.channels.first().map_or(256, |c| c.window),
            max_message: cfg.protocol.max_message,
            idle_timeout_ms: cfg.protocol.idle_timeout.as_millis().min(u64::from(u32::MAX)) as u32,
            max_clients: cfg.max_clients.min(u32::MAX as usize) as u32,
        }
    }

    /// The configuration the driver runs the endpoint with.
    pub fn config(&self) -> RudpConfig {
        let mut cfg = RudpConfig::with_window(self.window);
        cfg.protocol.max_message = self.max_message;
        cfg.protocol.idle_timeout = kaos_core::time::Duration::from_millis(u64::from(self.idle_timeout_ms));
        cfg.max_clients = self.max_clients as usize;
        cfg.io = crate::IoBackend::Mio;
        cfg
    }

    fn put(&self, out: &mut [u8]) {
        out[0..2].copy_from_slice(&self.window.to_le_bytes());
        out[2..6].copy_from_slice(&self.max_message.to_le_bytes());
        out[6..10].copy_from_slice(&self.idle_timeout_ms.to_le_bytes());
        out[10..14].copy_from_slice(&self.max_clients.to_le_bytes());
    }

    fn get(b: &[u8]) -> Option<EndpointSpec> {
        let b = b.get(..Self::LEN)?;
        let u32_at = |k: usize| u32::from_le_bytes(b[k..k + 4].try_into().expect("4 bytes"));
        Some(EndpointSpec {
            window: u16::from_le_bytes([b[0], b[1]]),
            max_message: u32_at(2),
            idle_timeout_ms: u32_at(6),
            max_clients: u32_at(10),
        })
    }
}

/// A command on the control ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Open a client socket on `bind` and connect to `server`.
    Connect {
        /// Settings.
        spec: EndpointSpec,
        /// Local address.
        bind: SocketAddr,
        /// The server.
        server: SocketAddr,
    },
    /// Open a server socket on `addr`.
    Bind {
        /// Settings.
        spec: EndpointSpec,
        /// Local address.
        addr: SocketAddr,
    },
    /// Close connection `peer` with `code`.
    Disconnect {
        /// Peer id (0 for a client endpoint's server).
        peer: u32,
        /// Code the other side is told.
        code: u16,
    },
}

/// Longest encoded command.
pub const MAX_COMMAND: usize = 2 + EndpointSpec::LEN + 2 * ADDR_LEN;

impl Command {
    /// Encodes into `out` (at least [`MAX_COMMAND`] bytes); returns the length.
    pub fn encode(&self, out: &mut [u8]) -> usize {
        out[1] = 0;
        match *self {
            Command::Connect { spec, bind, server } => {
                out[0] = CMD_CONNECT;
                spec.put(&mut out[2..]);
                put_addr(&mut out[2 + EndpointSpec::LEN..], bind);
                put_addr(&mut out[2 + EndpointSpec::LEN + ADDR_LEN..], server);
                MAX_COMMAND
            }
            Command::Bind { spec, addr } => {
                out[0] = CMD_BIND;
                spec.put(&mut out[2..]);
                put_addr(&mut out[2 + EndpointSpec::LEN..], addr);
                2 + EndpointSpec::LEN + ADDR_LEN
            }
            Command::Disconnect { peer, code } => {
                out[0] = CMD_DISCONNECT;
                out[2..4].copy_from_slice(&code.to_le_bytes());
                out[4..8].copy_from_slice(&peer.to_le_bytes());
                8
            }
        }
    }

    /// Decodes a command; `None` if malformed.
    pub fn decode(b: &[u8]) -> Option<Command> {
        let spec_end = 2 + EndpointSpec::LEN;
        match *b.first()? {
            CMD_CONNECT => Some(Command::Connect {
                spec: EndpointSpec::get(b.get(2..)?)?,
                bind: get_addr(b.get(spec_end..)?)?,
                server: get_addr(b.get(spec_end + ADDR_LEN..)?)?,
            }),
            CMD_BIND => {
                Some(Command::Bind { spec: EndpointSpec::get(b.get(2..)?)?, addr: get_addr(b.get(spec_end..)?)? })
            }
            CMD_DISCONNECT => {
                let b = b.get(..8)?;
                Some(Command::Disconnect {
                    code: u16::from_le_bytes([b[2], b[3]]),
                    peer: u32::from_le_bytes(b[4..8].try_into().ok()?),
                })
            }
            _ => None,
        }
    }
}

/// Writes the header of a message to the driver.
pub fn put_to_driver(out: &mut [u8], peer: u32, channel: u8) {
    out[..4].copy_from_slice(&peer.to_le_bytes());
    out[4..8].copy_from_slice(&[channel, 0, 0, 0]);
}

/// Reads the header of a message to the driver: `(peer, channel, payload)`.
pub fn get_to_driver(b: &[u8]) -> Option<(u32, u8, &[u8])> {
    let h = b.get(..TO_DRIVER_HEADER)?;
    Some((u32::from_le_bytes(h[..4].try_into().ok()?), h[4], &b[TO_DRIVER_HEADER..]))
}

/// What a record from the driver reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A message from `peer` on `channel`; the payload is the message.
    Message = 1,
    /// The endpoint is open; the payload is its local address.
    Bound = 2,
    /// `peer` connected; the payload is its address.
    Connected = 3,
    /// `peer` is gone (`channel` and `code` encode the reason); payload: its address.
    Disconnected = 4,
    /// The command failed; the payload is the reason as text.
    Error = 5,
}

/// A record header from the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// What it reports.
    pub kind: Kind,
    /// Channel, or the reason's kind for `Disconnected`.
    pub channel: u8,
    /// The reason's code for `Disconnected`.
    pub code: u16,
    /// Peer id.
    pub peer: u32,
}

impl Report {
    /// Encodes the header into `out[..8]`.
    pub fn put(&self, out: &mut [u8]) {
        out[0] = self.kind as u8;
        out[1] = self.channel;
        out[2..4].copy_from_slice(&self.code.to_le_bytes());
        out[4..8].copy_from_slice(&self.peer.to_le_bytes());
    }

    /// Decodes a record: header and payload.
    pub fn get(b: &[u8]) -> Option<(Report, &[u8])> {
        let h = b.get(..FROM_DRIVER_HEADER)?;
        let kind = match h[0] {
            1 => Kind::Message,
            2 => Kind::Bound,
            3 => Kind::Connected,
            4 => Kind::Disconnected,
            5 => Kind::Error,
            _ => return None,
        };
        let r = Report {
            kind,
            channel: h[1],
            code: u16::from_le_bytes([h[2], h[3]]),
            peer: u32::from_le_bytes(h[4..8].try_into().ok()?),
        };
        Some((r, &b[FROM_DRIVER_HEADER..]))
    }
}

/// A disconnect reason as `(kind, code)` for a [`Kind::Disconnected`] record.
pub fn put_reason(r: DisconnectReason) -> (u8, u16) {
    match r {
        DisconnectReason::Local(c) => (1, c),
        DisconnectReason::Remote(c) => (2, c),
        DisconnectReason::TimedOut => (3, 0),
        DisconnectReason::HandshakeTimeout => (4, 0),
        DisconnectReason::Rejected(RejectReason::ServerFull) => (5, 1),
        DisconnectReason::Rejected(RejectReason::ConfigMismatch) => (5, 2),
        DisconnectReason::Rejected(RejectReason::Other(b)) => (5, u16::from(b)),
        DisconnectReason::ProtocolViolation => (6, 0),
    }
}

/// The reason [`put_reason`] encoded.
pub fn get_reason(kind: u8, code: u16) -> Option<DisconnectReason> {
    Some(match kind {
        1 => DisconnectReason::Local(code),
        2 => DisconnectReason::Remote(code),
        3 => DisconnectReason::TimedOut,
        4 => DisconnectReason::HandshakeTimeout,
        5 => DisconnectReason::Rejected(match code {
            1 => RejectReason::ServerFull,
            2 => RejectReason::ConfigMismatch,
            c => RejectReason::Other(c as u8),
        }),
        6 => DisconnectReason::ProtocolViolation,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_and_garbage_is_refused() {
        let spec = EndpointSpec { window: 64, max_message: 9000, idle_timeout_ms: 400, max_clients: 7 };
        let cmds = [
            Command::Connect { spec, bind: "127.0.0.1:0".parse().unwrap(), server: "[::1]:9".parse().unwrap() },
            Command::Bind { spec, addr: "0.0.0.0:7352".parse().unwrap() },
            Command::Disconnect { peer: 42, code: 7 },
        ];
        let mut buf = [0; MAX_COMMAND];
        for c in cmds {
            let n = c.encode(&mut buf);
            assert_eq!(Command::decode(&buf[..n]), Some(c));
            for cut in 0..n {
                assert_eq!(Command::decode(&buf[..cut]), None, "{c:?} cut at {cut}");
            }
        }
        assert_eq!(Command::decode(&[9, 0, 0, 0, 0, 0, 0, 0]), None);
        for r in [
            DisconnectReason::Local(3),
            DisconnectReason::Remote(9),
            DisconnectReason::TimedOut,
            DisconnectReason::Rejected(RejectReason::ServerFull),
            DisconnectReason::ProtocolViolation,
        ] {
            let (k, c) = put_reason(r);
            assert_eq!(get_reason(k, c), Some(r));
        }
    }
}
