//! Connection configuration and the storage layout it implies.
//!
//! A [`Config`] fixes every capacity of a connection: channels and their delivery modes,
//! reliable windows and buffers, the inbox and outbox, reassembly sets. From it,
//! [`Config::storage_words`] tells how many `u64` words of storage a connection needs;
//! the caller provides exactly that (an array, a static, a `Vec`), and the connection
//! never uses more. Both peers must use the same channel layout: the handshake compares
//! [`Config::fingerprint`]s and refuses a mismatch.

use crate::time::Duration;
use crate::wire::{MessageFrame, ACK_NOW_LEN, DATA_HEADER_LEN, MIN_DATAGRAM};

/// Most channels a connection can have.
pub const MAX_CHANNELS: usize = 8;
/// Most fragments one message can be split into (a compile-time limit: reassembly
/// tracks fragments in a 64-bit mask).
pub const MAX_FRAGMENTS: usize = 64;
/// Most unreliable reassembly sets a connection can have.
pub const MAX_REASSEMBLY_SETS: usize = 8;
/// Largest reliable window (messages in flight per channel).
pub const MAX_WINDOW: u16 = 16_384;

/// How a channel delivers messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// Best effort; may be lost or reordered; never duplicated.
    Unreliable,
    /// Best effort; an older message is never delivered after a newer one.
    UnreliableSequenced,
    /// Every message exactly once, in any order.
    ReliableUnordered,
    /// Every message exactly once, in send order.
    ReliableOrdered,
}

impl ChannelKind {
    /// Whether messages are resent until acked.
    pub const fn is_reliable(self) -> bool {
        matches!(self, ChannelKind::ReliableUnordered | ChannelKind::ReliableOrdered)
    }
}

/// One channel's mode and capacities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Delivery mode.
    pub kind: ChannelKind,
    /// Reliable channels: most messages (fragments count one each) sent but not yet
    /// acked. A power of two, `2..=MAX_WINDOW`. Ignored for unreliable channels.
    pub window: u16,
    /// Reliable channels: bytes of unacked messages the sender keeps (and the receiver
    /// mirrors): the channel's memory cap. A power of two, at least the largest message.
    /// Ignored for unreliable channels.
    pub buffer_bytes: u32,
}

impl ChannelConfig {
    /// A channel of `kind` with default capacities (window 256, 64 KiB buffer).
    pub const fn new(kind: ChannelKind) -> Self {
        ChannelConfig { kind, window: 256, buffer_bytes: 64 * 1024 }
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// No channels, or more than [`MAX_CHANNELS`].
    ChannelCount,
    /// A window is not a power of two in `2..=MAX_WINDOW`.
    Window,
    /// A reliable buffer is not a power of two or smaller than `max_message`.
    Buffer,
    /// The datagram size is below [`MIN_DATAGRAM`].
    Datagram,
    /// `max_message` needs more than [`MAX_FRAGMENTS`] fragments.
    MessageTooLarge,
    /// The inbox or outbox cannot hold one largest message.
    Queue,
    /// Sent-packet table size is not a power of two in `64..=32768`, or the message
    /// reference ring is smaller than it.
    PacketTable,
    /// More than [`MAX_REASSEMBLY_SETS`] reassembly sets.
    Reassembly,
    /// The storage passed in is smaller than [`Config::storage_words`].
    StorageTooSmall,
    /// The buffers add up to more than `u32::MAX` words of storage.
    StorageTooLarge,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            ConfigError::ChannelCount => "channel count must be 1..=8",
            ConfigError::Window => "reliable window must be a power of two in 2..=16384",
            ConfigError::Buffer => "reliable buffer must be a power of two >= max_message",
            ConfigError::Datagram => "max_datagram below the protocol minimum",
            ConfigError::MessageTooLarge => "max_message needs more than MAX_FRAGMENTS fragments",
            ConfigError::Queue => "inbox and outbox must hold a largest message",
            ConfigError::PacketTable => "sent_packets must be a power of two in 64..=32768 and <= message_refs",
            ConfigError::Reassembly => "too many reassembly sets",
            ConfigError::StorageTooSmall => "storage smaller than Config::storage_words()",
            ConfigError::StorageTooLarge => "buffers add up to more than u32::MAX words of storage",
        };
        f.write_str(s)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}

/// Everything that sizes and times a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Channels, indexed by position.
    pub channels: heapless::Vec<ChannelConfig, MAX_CHANNELS>,
    /// Largest datagram sent (UDP payload), default 1200 bytes.
    pub max_datagram: u16,
    /// Largest message accepted by `send`, default 16 KiB.
    pub max_message: u32,
    /// Data packets tracked while unacked; a power of two. Default 256.
    pub sent_packets: u16,
    /// Reliable message references across unacked packets; a power of two. Default 4096.
    pub message_refs: u32,
    /// Bytes of received messages waiting for `poll_event`. Default 64 KiB.
    pub inbox_bytes: u32,
    /// Bytes of unreliable messages waiting for a datagram. Default 32 KiB.
    pub outbox_bytes: u32,
    /// Unreliable fragmented messages reassembled at once. Default 4.
    pub reassembly_sets: u8,
    /// RTO before the first RTT sample.
    pub initial_rto: Duration,
    /// RTO floor.
    pub min_rto: Duration,
    /// RTO ceiling (backoff included).
    pub max_rto: Duration,
    /// Longest an ack is held hoping to piggyback it on a message (the second
    /// unacked packet is acked at once). Default 20 ms: above a 60 Hz tick, so a game's
    /// inputs and states carry each other's acks. Both peers should use the same value:
    /// the retransmission timeout adds it.
    pub max_ack_delay: Duration,
    /// Send a keep-alive when nothing was sent for this long.
    pub keepalive_interval: Duration,
    /// Close when nothing valid arrived for this long.
    pub idle_timeout: Duration,
    /// Client: resend the handshake packet this often.
    pub handshake_resend: Duration,
    /// Client: give up connecting after this long.
    pub handshake_timeout: Duration,
    /// Drop an incomplete unreliable fragment set after this long.
    pub fragment_timeout: Duration,
    /// Initial congestion window, in datagrams.
    pub initial_window_packets: u32,
    /// Congestion window ceiling, in bytes.
    pub max_window_bytes: u32,
}

impl Default for Config {
    /// Four channels: 0 reliable-ordered, 1 reliable-unordered, 2 unreliable-sequenced,
    /// 3 unreliable.
    fn default() -> Self {
        let mut channels = heapless::Vec::new();
        for kind in [
            ChannelKind::ReliableOrdered,
            ChannelKind::ReliableUnordered,
            ChannelKind::UnreliableSequenced,
            ChannelKind::Unreliable,
        ] {
            let _ = channels.push(ChannelConfig::new(kind));
        }
        Config::with_channels(channels)
    }
}

impl Config {
    /// Default sizes and timings with the given channels.
    pub fn with_channels(channels: heapless::Vec<ChannelConfig, MAX_CHANNELS>) -> Self {
        Config {
            channels,
            max_datagram: 1200,
            max_message: 16 * 1024,
            sent_packets: 256,
            message_refs: 4096,
            inbox_bytes: 64 * 1024,
            outbox_bytes: 32 * 1024,
            reassembly_sets: 4,
            initial_rto: Duration::from_millis(500),
            min_rto: Duration::from_millis(30),
            max_rto: Duration::from_secs(4),
            max_ack_delay: Duration::from_millis(20),
            keepalive_interval: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(10),
            handshake_resend: Duration::from_millis(250),
            handshake_timeout: Duration::from_secs(5),
            fragment_timeout: Duration::from_secs(2),
            initial_window_packets: 32,
            max_window_bytes: 4 * 1024 * 1024,
        }
    }

    /// Payload bytes of one fragment (every fragment but the last carries exactly this).
    pub fn fragment_payload(&self) -> usize {
        self.max_datagram as usize - DATA_HEADER_LEN - ACK_NOW_LEN - MessageFrame::header_len(true, true)
    }

    /// Largest message sent without fragmentation on a channel.
    pub fn single_payload(&self, reliable: bool) -> usize {
        self.max_datagram as usize - DATA_HEADER_LEN - ACK_NOW_LEN - MessageFrame::header_len(reliable, false)
    }

    /// Checks every constraint.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.channels.is_empty() {
            return Err(ConfigError::ChannelCount);
        }
        if (self.max_datagram as usize) < MIN_DATAGRAM {
            return Err(ConfigError::Datagram);
        }
        let max_msg = self.max_message as usize;
        if max_msg.div_ceil(self.fragment_payload()) > MAX_FRAGMENTS {
            return Err(ConfigError::MessageTooLarge);
        }
        for c in &self.channels {
            if c.kind.is_reliable() {
                if !c.window.is_power_of_two() || c.window < 2 || c.window > MAX_WINDOW {
                    return Err(ConfigError::Window);
                }
                if !c.buffer_bytes.is_power_of_two() || (c.buffer_bytes as usize) < max_msg {
                    return Err(ConfigError::Buffer);
                }
            }
        }
        let record = max_msg + 2 * crate::queue::PREFIX + 8;
        if (self.inbox_bytes as usize) < record || (self.outbox_bytes as usize) < record {
            return Err(ConfigError::Queue);
        }
        if !self.sent_packets.is_power_of_two()
            || !(64..=32_768).contains(&self.sent_packets)
            || self.message_refs < self.sent_packets as u32
            || !self.message_refs.is_power_of_two()
        {
            return Err(ConfigError::PacketTable);
        }
        if self.reassembly_sets as usize > MAX_REASSEMBLY_SETS {
            return Err(ConfigError::Reassembly);
        }
        if self.storage_words() > u32::MAX as usize {
            return Err(ConfigError::StorageTooLarge);
        }
        Ok(())
    }

    /// A hash of everything both peers must agree on.
    pub fn fingerprint(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&[self.channels.len() as u8]);
        for c in &self.channels {
            h.update(&[c.kind as u8]);
            if c.kind.is_reliable() {
                h.update(&c.window.to_le_bytes());
                h.update(&c.buffer_bytes.to_le_bytes());
            }
        }
        h.update(&self.max_datagram.to_le_bytes());
        h.update(&self.max_message.to_le_bytes());
        h.finalize()
    }

    /// Storage a connection with this configuration needs, in `u64` words.
    pub fn storage_words(&self) -> usize {
        Layout::new(self).total_words
    }
}

/// A region of the storage arena, in words (`u32`s keep the layout, which every
/// connection carries, small).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Region {
    start: u32,
    words: u32,
}

impl Region {
    pub(crate) fn start(&self) -> usize {
        self.start as usize
    }

    pub(crate) fn words(&self) -> usize {
        self.words as usize
    }

    pub(crate) fn end(&self) -> usize {
        self.start() + self.words()
    }

    pub(crate) fn range(&self) -> core::ops::Range<usize> {
        self.start()..self.end()
    }
}

/// Where each buffer lives in a connection's storage.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Layout {
    pub(crate) sent: Region,
    pub(crate) refs: Region,
    pub(crate) inbox: Region,
    pub(crate) outbox: Region,
    pub(crate) reassembly: Region,
    /// Per reliable channel, where its four regions start: send slots, send bytes,
    /// receive slots, receive bytes, contiguous in that order (see [`Layout::channel`]).
    channel_starts: [u32; MAX_CHANNELS],
    pub(crate) total_words: usize,
}

/// A reliable channel's four regions.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ChannelRegions {
    pub(crate) send_slots: Region,
    pub(crate) send_bytes: Region,
    pub(crate) recv_slots: Region,
    pub(crate) recv_bytes: Region,
}

const fn words_for(bytes: usize) -> usize {
    bytes.div_ceil(8)
}

impl Layout {
    pub(crate) fn new(cfg: &Config) -> Self {
        use crate::conn::SentPacket;
        // `validate` refuses layouts past `u32::MAX` words; the total is exact regardless.
        let mut at = 0usize;
        let mut take = |bytes: usize| {
            let words = words_for(bytes);
            let r = Region { start: at as u32, words: words as u32 };
            at += words;
            r
        };
        let mut l = Layout {
            sent: take(cfg.sent_packets as usize * core::mem::size_of::<SentPacket>()),
            refs: take(cfg.message_refs as usize * 4),
            inbox: take(cfg.inbox_bytes as usize),
            outbox: take(cfg.outbox_bytes as usize),
            reassembly: take(cfg.reassembly_sets as usize * cfg.max_message as usize),
            ..Layout::default()
        };
        for (i, c) in cfg.channels.iter().enumerate() {
            if c.kind.is_reliable() {
                l.channel_starts[i] = at as u32;
                at = Layout::channel_at(c, at as u32).recv_bytes.end();
            }
        }
        l.total_words = at;
        l
    }

    /// Reliable channel `i`'s regions (empty for an unreliable one). Derived, not stored:
    /// every connection carries its layout.
    #[inline]
    pub(crate) fn channel(&self, cfg: &Config, i: usize) -> ChannelRegions {
        match cfg.channels.get(i) {
            Some(c) if c.kind.is_reliable() => Layout::channel_at(c, self.channel_starts[i]),
            _ => ChannelRegions::default(),
        }
    }

    fn channel_at(c: &ChannelConfig, start: u32) -> ChannelRegions {
        use crate::channel::{RecvSlot, SendSlot};
        let w = c.window as usize;
        let region = |start: u32, bytes: usize| Region { start, words: words_for(bytes) as u32 };
        let send_slots = region(start, w * core::mem::size_of::<SendSlot>());
        let send_bytes = region(send_slots.start + send_slots.words, c.buffer_bytes as usize);
        let recv_slots = region(send_bytes.start + send_bytes.words, w * core::mem::size_of::<RecvSlot>());
        let recv_bytes = region(recv_slots.start + recv_slots.words, c.buffer_bytes as usize);
        ChannelRegions { send_slots, send_bytes, recv_slots, recv_bytes }
    }
}
