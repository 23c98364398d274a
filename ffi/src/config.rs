//! The configuration as a plain C struct, and the conversions from and to the core's.

use std::net::SocketAddr;

use kaos_core::config::{ChannelConfig, ChannelKind, Config, MAX_CHANNELS};
use kaos_core::congestion::Stats;
use kaos_core::conn::DisconnectReason;
use kaos_core::time::Duration;
use kaos_core::wire::RejectReason;

use crate::status::Error;

/// `KaosChannelConfig::kind`: best effort, may be lost or reordered.
pub const KAOS_UNRELIABLE: u8 = 0;
/// Best effort; an older message is never delivered after a newer one.
pub const KAOS_UNRELIABLE_SEQUENCED: u8 = 1;
/// Every message exactly once, in any order.
pub const KAOS_RELIABLE_UNORDERED: u8 = 2;
/// Every message exactly once, in send order.
pub const KAOS_RELIABLE_ORDERED: u8 = 3;

/// Channel 0 of the default configuration: reliable-ordered.
pub const KAOS_CHANNEL_RELIABLE_ORDERED: u8 = 0;
/// Channel 1 of the default configuration: reliable-unordered.
pub const KAOS_CHANNEL_RELIABLE_UNORDERED: u8 = 1;
/// Channel 2 of the default configuration: unreliable-sequenced.
pub const KAOS_CHANNEL_UNRELIABLE_SEQUENCED: u8 = 2;
/// Channel 3 of the default configuration: unreliable.
pub const KAOS_CHANNEL_UNRELIABLE: u8 = 3;

/// Most channels a configuration holds.
pub const KAOS_MAX_CHANNELS: usize = 8;
const _: () = assert!(KAOS_MAX_CHANNELS == MAX_CHANNELS);

/// One channel: its delivery mode (`KAOS_RELIABLE_ORDERED`…) and, for reliable ones, its
/// window (messages in flight, a power of two) and buffer (bytes kept until acked, a power
/// of two at least `max_message`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KaosChannelConfig {
    /// `KAOS_UNRELIABLE`, `KAOS_UNRELIABLE_SEQUENCED`, `KAOS_RELIABLE_UNORDERED` or
    /// `KAOS_RELIABLE_ORDERED`.
    pub kind: u8,
    /// Reliable channels: most messages sent but not yet acked (power of two, 2..=16384).
    pub window: u16,
    /// Reliable channels: bytes of unacked messages kept (power of two).
    pub buffer_bytes: u32,
}

/// Everything that sizes and times a connection: start from
/// `kaos_config_default` and change what you need. Both
/// ends must agree on the channels, `max_datagram` and `max_message`. Times are in
/// microseconds.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KaosConfig {
    /// Channels in use, 1..=`KAOS_MAX_CHANNELS`, described by `channels[0..channel_count]`.
    pub channel_count: u8,
    /// The channels, indexed by position.
    pub channels: [KaosChannelConfig; KAOS_MAX_CHANNELS],
    /// Largest datagram sent (UDP payload), bytes.
    pub max_datagram: u16,
    /// Largest message accepted by a send, bytes.
    pub max_message: u32,
    /// Data packets tracked while unacked (power of two).
    pub sent_packets: u16,
    /// Reliable message references across unacked packets (power of two).
    pub message_refs: u32,
    /// Bytes of received messages waiting to be read.
    pub inbox_bytes: u32,
    /// Bytes of unreliable messages waiting for a datagram.
    pub outbox_bytes: u32,
    /// Unreliable fragmented messages reassembled at once.
    pub reassembly_sets: u8,
    /// Retransmission timeout before the first round-trip sample.
    pub initial_rto_us: u64,
    /// Retransmission timeout floor.
    pub min_rto_us: u64,
    /// Retransmission timeout ceiling.
    pub max_rto_us: u64,
    /// Longest an ack waits to ride on a message.
    pub max_ack_delay_us: u64,
    /// A keep-alive goes out when nothing was sent for this long.
    pub keepalive_interval_us: u64,
    /// The connection closes when nothing valid arrived for this long.
    pub idle_timeout_us: u64,
    /// Client: resend the handshake this often.
    pub handshake_resend_us: u64,
    /// Client: give up connecting after this long.
    pub handshake_timeout_us: u64,
    /// An incomplete unreliable fragment set is dropped after this long.
    pub fragment_timeout_us: u64,
    /// Initial congestion window, datagrams.
    pub initial_window_packets: u32,
    /// Congestion window ceiling, bytes.
    pub max_window_bytes: u32,
}

impl From<&Config> for KaosConfig {
    fn from(c: &Config) -> Self {
        let mut channels = [KaosChannelConfig { kind: KAOS_UNRELIABLE, window: 0, buffer_bytes: 0 }; KAOS_MAX_CHANNELS];
        for (out, ch) in channels.iter_mut().zip(&c.channels) {
            let kind = match ch.kind {
                ChannelKind::Unreliable => KAOS_UNRELIABLE,
                ChannelKind::UnreliableSequenced => KAOS_UNRELIABLE_SEQUENCED,
                ChannelKind::ReliableUnordered => KAOS_RELIABLE_UNORDERED,
                ChannelKind::ReliableOrdered => KAOS_RELIABLE_ORDERED,
            };
            *out = KaosChannelConfig { kind, window: ch.window, buffer_bytes: ch.buffer_bytes };
        }
        KaosConfig {
            channel_count: c.channels.len() as u8,
            channels,
            max_datagram: c.max_datagram,
            max_message: c.max_message,
            sent_packets: c.sent_packets,
            message_refs: c.message_refs,
            inbox_bytes: c.inbox_bytes,
            outbox_bytes: c.outbox_bytes,
            reassembly_sets: c.reassembly_sets,
            initial_rto_us: c.initial_rto.as_micros(),
            min_rto_us: c.min_rto.as_micros(),
            max_rto_us: c.max_rto.as_micros(),
            max_ack_delay_us: c.max_ack_delay.as_micros(),
            keepalive_interval_us: c.keepalive_interval.as_micros(),
            idle_timeout_us: c.idle_timeout.as_micros(),
            handshake_resend_us: c.handshake_resend.as_micros(),
            handshake_timeout_us: c.handshake_timeout.as_micros(),
            fragment_timeout_us: c.fragment_timeout.as_micros(),
            initial_window_packets: c.initial_window_packets,
            max_window_bytes: c.max_window_bytes,
        }
    }
}

impl KaosConfig {
    /// The core's configuration, validated.
    pub(crate) fn core_config(&self) -> Result<Config, Error> {
        let count = self.channel_count as usize;
        if count == 0 || count > KAOS_MAX_CHANNELS {
            return Err(Error::invalid(format!("channel_count {count} is not in 1..={KAOS_MAX_CHANNELS}")));
        }
        let mut channels = heapless::Vec::new();
        for (i, ch) in self.channels[..count].iter().enumerate() {
            let kind = match ch.kind {
                KAOS_UNRELIABLE => ChannelKind::Unreliable,
                KAOS_UNRELIABLE_SEQUENCED => ChannelKind::UnreliableSequenced,
                KAOS_RELIABLE_UNORDERED => ChannelKind::ReliableUnordered,
                KAOS_RELIABLE_ORDERED => ChannelKind::ReliableOrdered,
                other => return Err(Error::invalid(format!("channel {i}: unknown kind {other}"))),
            };
            let _ = channels.push(ChannelConfig { kind, window: ch.window, buffer_bytes: ch.buffer_bytes });
        }
        let mut c = Config::with_channels(channels);
        c.max_datagram = self.max_datagram;
        c.max_message = self.max_message;
        c.sent_packets = self.sent_packets;
        c.message_refs = self.message_refs;
        c.inbox_bytes = self.inbox_bytes;
        c.outbox_bytes = self.outbox_bytes;
        c.reassembly_sets = self.reassembly_sets;
        c.initial_rto = Duration::from_micros(self.initial_rto_us);
        c.min_rto = Duration::from_micros(self.min_rto_us);
        c.max_rto = Duration::from_micros(self.max_rto_us);
        c.max_ack_delay = Duration::from_micros(self.max_ack_delay_us);
        c.keepalive_interval = Duration::from_micros(self.keepalive_interval_us);
        c.idle_timeout = Duration::from_micros(self.idle_timeout_us);
        c.handshake_resend = Duration::from_micros(self.handshake_resend_us);
        c.handshake_timeout = Duration::from_micros(self.handshake_timeout_us);
        c.fragment_timeout = Duration::from_micros(self.fragment_timeout_us);
        c.initial_window_packets = self.initial_window_packets;
        c.max_window_bytes = self.max_window_bytes;
        c.validate().map_err(|e| Error::invalid(format!("configuration: {e}")))?;
        Ok(c)
    }
}

/// `KaosEvent::kind` and friends: nothing happened.
pub const KAOS_EVENT_NONE: u32 = 0;
/// The handshake completed; messages flow.
pub const KAOS_EVENT_CONNECTED: u32 = 1;
/// A message arrived (`channel`, `data`, `len`).
pub const KAOS_EVENT_MESSAGE: u32 = 2;
/// The connection ended (`reason`, `code`); no event follows.
pub const KAOS_EVENT_DISCONNECTED: u32 = 3;

/// `KaosDisconnect::reason`: the connection has not ended.
pub const KAOS_DISCONNECT_NONE: u32 = 0;
/// This side closed it with `code`.
pub const KAOS_DISCONNECT_LOCAL: u32 = 1;
/// The peer closed it with `code`.
pub const KAOS_DISCONNECT_REMOTE: u32 = 2;
/// Nothing valid arrived within the idle timeout.
pub const KAOS_DISCONNECT_TIMED_OUT: u32 = 3;
/// The server never completed the handshake.
pub const KAOS_DISCONNECT_HANDSHAKE_TIMEOUT: u32 = 4;
/// The server refused the connection; `code` is 1 (server full), 2 (configuration
/// mismatch) or another refusal code.
pub const KAOS_DISCONNECT_REJECTED: u32 = 5;
/// The peer broke the protocol.
pub const KAOS_DISCONNECT_PROTOCOL_VIOLATION: u32 = 6;

/// Why a connection ended.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KaosDisconnect {
    /// A `KAOS_DISCONNECT_*` value.
    pub reason: u32,
    /// The close code (local or remote) or refusal code; 0 otherwise.
    pub code: u16,
}

impl From<Option<DisconnectReason>> for KaosDisconnect {
    fn from(r: Option<DisconnectReason>) -> Self {
        let (reason, code) = match r {
            None => (KAOS_DISCONNECT_NONE, 0),
            Some(DisconnectReason::Local(c)) => (KAOS_DISCONNECT_LOCAL, c),
            Some(DisconnectReason::Remote(c)) => (KAOS_DISCONNECT_REMOTE, c),
            Some(DisconnectReason::TimedOut) => (KAOS_DISCONNECT_TIMED_OUT, 0),
            Some(DisconnectReason::HandshakeTimeout) => (KAOS_DISCONNECT_HANDSHAKE_TIMEOUT, 0),
            Some(DisconnectReason::Rejected(why)) => {
                let code = match why {
                    RejectReason::ServerFull => 1,
                    RejectReason::ConfigMismatch => 2,
                    RejectReason::Other(b) => u16::from(b),
                };
                (KAOS_DISCONNECT_REJECTED, code)
            }
            Some(DisconnectReason::ProtocolViolation) => (KAOS_DISCONNECT_PROTOCOL_VIOLATION, 0),
        };
        KaosDisconnect { reason, code }
    }
}

/// A connection's counters.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct KaosStats {
    /// Smoothed round-trip time, microseconds.
    pub rtt_us: u64,
    /// Round-trip variance, microseconds.
    pub rtt_var_us: u64,
    /// Congestion window, bytes.
    pub cwnd: u32,
    /// Datagrams sent.
    pub packets_sent: u64,
    /// Valid datagrams received.
    pub packets_received: u64,
    /// Data packets declared lost.
    pub packets_lost: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes of valid datagrams received.
    pub bytes_received: u64,
    /// Reliable messages sent again after a loss.
    pub messages_resent: u64,
    /// Messages delivered to the application.
    pub messages_delivered: u64,
    /// Datagrams dropped as invalid.
    pub invalid_dropped: u64,
}

impl From<Stats> for KaosStats {
    fn from(s: Stats) -> Self {
        KaosStats {
            rtt_us: s.rtt.as_micros(),
            rtt_var_us: s.rtt_var.as_micros(),
            cwnd: s.cwnd,
            packets_sent: s.packets_sent,
            packets_received: s.packets_received,
            packets_lost: s.packets_lost,
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            messages_resent: s.messages_resent,
            messages_delivered: s.messages_delivered,
            invalid_dropped: s.invalid_dropped,
        }
    }
}

/// An `ip:port` address (`[v6]:port` for IPv6).
pub(crate) fn parse_addr(text: &str, what: &str) -> Result<SocketAddr, Error> {
    text.parse().map_err(|_| Error::invalid(format!("{what} {text:?} is not an ip:port address")))
}
