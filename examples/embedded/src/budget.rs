//! The example's [`Config`] and its memory budget.
//!
//! A connection's memory is the `Config::storage_words()` `u64` words its owner provides
//! (here an array inside the [`Client`](crate::client::Client)), plus the `Connection`'s
//! own bookkeeping. [`breakdown`] splits the storage by `Config` field; the tests check
//! that the rows add up to `storage_words() * 8` and re-derive each per-entry size from
//! kaos-core by changing one field at a time.

use core::fmt;

use kaos_core::config::{ChannelConfig, ChannelKind, Config, MAX_CHANNELS};

/// Largest datagram: what one radio frame carries.
pub const MTU: usize = 256;
/// Channel 0: reliable-ordered (commands, chat, events).
pub const RELIABLE: u8 = 0;
/// Channel 1: unreliable-sequenced (snapshots one way, inputs the other).
pub const STATE: u8 = 1;
/// Storage words of one connection: exactly `config().storage_words()` (a test checks it;
/// `storage_words` is not a `const fn`, so the number is written out).
pub const WORDS: usize = 872;

/// A configuration sized for a microcontroller: about 7 KiB per connection.
///
/// Both peers must agree on the channels, `max_datagram` and `max_message` (the handshake
/// compares a fingerprint of them); the other sizes are each side's own business.
pub fn config() -> Config {
    let mut channels = heapless::Vec::new();
    let reliable = ChannelConfig { kind: ChannelKind::ReliableOrdered, window: 16, buffer_bytes: 1024 };
    let _ = channels.push(reliable);
    let _ = channels.push(ChannelConfig::new(ChannelKind::UnreliableSequenced));
    let mut cfg = Config::with_channels(channels);
    cfg.max_datagram = MTU as u16;
    cfg.max_message = 512;
    // The smallest table kaos-core accepts; refs cover one small message per packet.
    cfg.sent_packets = 64;
    cfg.message_refs = 64;
    cfg.inbox_bytes = 1024;
    cfg.outbox_bytes = 1024;
    cfg.reassembly_sets = 1;
    cfg
}

/// Bytes of one entry of kaos-core's sent-packet table (a `repr(C)` record).
pub const SENT_PACKET_BYTES: usize = 24;
/// Bytes of one message reference (a `u32`).
pub const MESSAGE_REF_BYTES: usize = 4;
/// Bytes of one reliable send slot.
pub const SEND_SLOT_BYTES: usize = 24;
/// Bytes of one reliable receive slot.
pub const RECV_SLOT_BYTES: usize = 12;

/// One region of a connection's storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The `Config` field(s) that size it.
    pub field: &'static str,
    /// The channel, for a reliable channel's regions.
    pub channel: Option<u8>,
    /// Entries.
    pub count: usize,
    /// Bytes per entry.
    pub each: usize,
    /// `count * each`, rounded up to whole `u64` words.
    pub bytes: usize,
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.channel {
            Some(c) => write!(f, "channels[{c}].{:<25}", self.field)?,
            None => write!(f, "{:<37}", self.field)?,
        }
        write!(f, "{:>5} x {:>3} B = {:>5} B", self.count, self.each, self.bytes)
    }
}

/// Rows of [`breakdown`]: five fixed regions and four per reliable channel.
pub const MAX_ROWS: usize = 5 + 4 * MAX_CHANNELS;

fn row(field: &'static str, channel: Option<u8>, count: usize, each: usize) -> Row {
    Row { field, channel, count, each, bytes: (count * each).div_ceil(8) * 8 }
}

/// Where a connection's storage goes, in kaos-core's layout order.
pub fn breakdown(cfg: &Config) -> heapless::Vec<Row, MAX_ROWS> {
    let mut rows = heapless::Vec::new();
    let fixed = [
        row("sent_packets", None, cfg.sent_packets as usize, SENT_PACKET_BYTES),
        row("message_refs", None, cfg.message_refs as usize, MESSAGE_REF_BYTES),
        row("inbox_bytes", None, cfg.inbox_bytes as usize, 1),
        row("outbox_bytes", None, cfg.outbox_bytes as usize, 1),
        row("reassembly_sets x max_message", None, cfg.reassembly_sets as usize, cfg.max_message as usize),
    ];
    for r in fixed {
        let _ = rows.push(r);
    }
    for (i, c) in cfg.channels.iter().enumerate().filter(|(_, c)| c.kind.is_reliable()) {
        let (w, b, ch) = (c.window as usize, c.buffer_bytes as usize, Some(i as u8));
        for r in [
            row("window (send slots)", ch, w, SEND_SLOT_BYTES),
            row("buffer_bytes (send)", ch, b, 1),
            row("window (receive slots)", ch, w, RECV_SLOT_BYTES),
            row("buffer_bytes (receive)", ch, b, 1),
        ] {
            let _ = rows.push(r);
        }
    }
    rows
}

/// The sum of [`breakdown`]: what `storage_words() * 8` should be.
pub fn storage_bytes(cfg: &Config) -> usize {
    breakdown(cfg).iter().map(|r| r.bytes).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{INPUT_BYTES, MAX_NUMBERED, MAX_SNAPSHOT_BYTES};

    /// Storage bytes `change` adds to the example's config, measured by kaos-core.
    fn added_by(change: impl FnOnce(&mut Config)) -> usize {
        let base = config();
        let mut cfg = base.clone();
        change(&mut cfg);
        assert_eq!(cfg.validate(), Ok(()));
        (cfg.storage_words() - base.storage_words()) * 8
    }

    #[test]
    fn words_and_rows_match_storage_words() {
        let cfg = config();
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(WORDS, cfg.storage_words(), "update WORDS");
        assert_eq!(storage_bytes(&cfg), cfg.storage_words() * 8);
        // Other layouts too: every reliable kind, odd sizes, several channels.
        let mut other = Config::default();
        other.inbox_bytes += 3;
        other.reassembly_sets = 3;
        assert_eq!(other.validate(), Ok(()));
        assert_eq!(storage_bytes(&other), other.storage_words() * 8);
        assert_eq!(breakdown(&other).len(), 5 + 4 * 2);
    }

    #[test]
    fn entry_sizes_are_kaos_cores() {
        assert_eq!(added_by(|c| c.message_refs = 128), 64 * MESSAGE_REF_BYTES);
        // `message_refs >= sent_packets`: both grow.
        let both = added_by(|c| (c.sent_packets, c.message_refs) = (128, 128));
        assert_eq!(both, 64 * SENT_PACKET_BYTES + 64 * MESSAGE_REF_BYTES);
        assert_eq!(added_by(|c| c.channels[0].window = 32), 16 * (SEND_SLOT_BYTES + RECV_SLOT_BYTES));
        assert_eq!(added_by(|c| c.channels[0].buffer_bytes = 2048), 2 * 1024);
        assert_eq!(added_by(|c| c.inbox_bytes += 64), 64);
        assert_eq!(added_by(|c| c.outbox_bytes += 64), 64);
        assert_eq!(added_by(|c| c.reassembly_sets = 2), 512);
        // An unreliable channel costs no storage.
        assert_eq!(added_by(|c| c.channels.push(ChannelConfig::new(ChannelKind::Unreliable)).unwrap()), 0);
    }

    #[test]
    fn messages_fit_the_config() {
        let cfg = config();
        assert!(MAX_SNAPSHOT_BYTES <= cfg.single_payload(false), "a snapshot is one datagram");
        assert!(INPUT_BYTES <= cfg.single_payload(false));
        assert!(MAX_NUMBERED <= cfg.max_message as usize);
        assert!(MAX_NUMBERED > cfg.single_payload(true), "the longest numbered messages are fragmented");
    }
}
