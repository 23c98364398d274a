//! Ack bitfields and the packet replay window.
//!
//! [`BitmapWindow`] is the receiver's record of which packet sequence numbers arrived: the
//! newest one plus a 64-bit field for the 64 before it. It answers three questions with
//! no allocation: is this number a duplicate or too old (replay protection), what ack do I
//! send (`latest`, `bits`), and which numbers does a peer's ack cover ([`acked_iter`]).
//!
//! A number more than [`BitmapWindow::MAX_JUMP`] ahead of the newest is refused, so a
//! forged packet with a far-future sequence number cannot slide the window past every
//! legitimate packet (the window would otherwise reject the real sender as "too old").

use crate::seq::seq_diff;

/// Why the window refused a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowError {
    /// The number was already received.
    Duplicate,
    /// The number is older than the 64 numbers the window remembers.
    TooOld,
    /// The number is further ahead of the newest than a legitimate sender can be.
    TooFarAhead,
}

/// Receiver-side record of the newest sequence number and the 64 before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BitmapWindow {
    latest: u16,
    /// Bit `i` set: `latest - 1 - i` was received.
    bits: u64,
    started: bool,
}

impl BitmapWindow {
    /// Largest forward jump accepted. A sender never has more packets outstanding than its
    /// sent-packet table holds, far below this.
    pub const MAX_JUMP: i16 = 4096;

    /// An empty window: the first number checked is accepted.
    pub const fn new() -> Self {
        BitmapWindow { latest: 0, bits: 0, started: false }
    }

    /// Whether `seq` would be accepted, without recording it. Call this before
    /// authenticating expensive work; call [`insert`](Self::insert) once the packet is
    /// accepted.
    pub fn check(&self, seq: u16) -> Result<(), WindowError> {
        if !self.started {
            return Ok(());
        }
        let d = seq_diff(seq, self.latest);
        if d > Self::MAX_JUMP {
            Err(WindowError::TooFarAhead)
        } else if d > 0 {
            Ok(())
        } else if d == 0 {
            Err(WindowError::Duplicate)
        } else if d < -64 {
            Err(WindowError::TooOld)
        } else if self.bits & (1u64 << (-d - 1)) != 0 {
            Err(WindowError::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Records `seq`. Returns the same errors as [`check`](Self::check) and leaves the
    /// window unchanged on error.
    pub fn insert(&mut self, seq: u16) -> Result<(), WindowError> {
        self.check(seq)?;
        if !self.started {
            self.started = true;
            self.latest = seq;
            self.bits = 0;
            return Ok(());
        }
        let d = seq_diff(seq, self.latest);
        if d > 0 {
            let shift = d as u32;
            self.bits = if shift >= 64 {
                0
            } else {
                // The old latest becomes bit `shift - 1`.
                (self.bits << shift) | (1u64 << (shift - 1))
            };
            self.latest = seq;
        } else {
            self.bits |= 1u64 << (-d - 1);
        }
        Ok(())
    }

    /// Whether anything was received yet.
    pub const fn is_started(&self) -> bool {
        self.started
    }

    /// The newest number received.
    pub const fn latest(&self) -> u16 {
        self.latest
    }

    /// Bit `i` set: `latest - 1 - i` was received.
    pub const fn bits(&self) -> u64 {
        self.bits
    }
}

/// Every sequence number an ack `(latest, bits)` covers, newest first.
pub fn acked_iter(latest: u16, bits: u64) -> impl Iterator<Item = u16> {
    let mut rest = bits;
    core::iter::once(latest).chain(core::iter::from_fn(move || {
        if rest == 0 {
            return None;
        }
        let i = rest.trailing_zeros();
        rest &= rest - 1;
        Some(latest.wrapping_sub(1 + i as u16))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_rejects_duplicates() {
        let mut w = BitmapWindow::new();
        assert_eq!(w.insert(10), Ok(()));
        assert_eq!(w.insert(10), Err(WindowError::Duplicate));
        assert_eq!(w.insert(12), Ok(()));
        assert_eq!(w.insert(11), Ok(()));
        assert_eq!(w.insert(11), Err(WindowError::Duplicate));
        assert_eq!(w.latest(), 12);
        assert_eq!(w.bits() & 0b11, 0b11);
    }

    #[test]
    fn too_old_and_too_far() {
        let mut w = BitmapWindow::new();
        w.insert(1000).unwrap();
        assert_eq!(w.check(1000 - 65), Err(WindowError::TooOld));
        assert_eq!(w.check(1000 - 64), Ok(()));
        assert_eq!(w.check(1000 + 4097), Err(WindowError::TooFarAhead));
        assert_eq!(w.check(1000 + 4096), Ok(()));
        // A refused forgery leaves the window able to accept the real sender.
        assert!(w.insert(1000 + 30_000).is_err());
        assert_eq!(w.insert(1001), Ok(()));
    }

    #[test]
    fn wraps() {
        let mut w = BitmapWindow::new();
        w.insert(65534).unwrap();
        w.insert(1).unwrap();
        assert_eq!(w.latest(), 1);
        assert_eq!(w.check(65534), Err(WindowError::Duplicate));
        assert_eq!(w.check(65535), Ok(()));
        assert_eq!(w.check(0), Ok(()));
    }

    #[test]
    fn big_jump_clears_bits() {
        let mut w = BitmapWindow::new();
        for s in 0..10 {
            w.insert(s).unwrap();
        }
        w.insert(200).unwrap();
        assert_eq!(w.bits(), 0);
        assert_eq!(w.check(150), Ok(()));
    }

    #[test]
    fn ack_iteration_lists_exactly_the_set_bits() {
        let got: heapless::Vec<u16, 8> = acked_iter(5, 0b1011).collect();
        assert_eq!(&got[..], &[5, 4, 3, 1]);
        let wrapped: heapless::Vec<u16, 4> = acked_iter(0, 0b1).collect();
        assert_eq!(&wrapped[..], &[0, u16::MAX]);
    }
}
