//! Reassembly of fragmented unreliable messages with bounded memory.
//!
//! A connection has a fixed number of reassembly sets, each with a buffer of
//! `max_message` bytes in the connection's storage. Fragment `i` of a message lands at
//! `i * fragment_payload`; a 64-bit mask records which arrived ([`MAX_FRAGMENTS`] is the
//! compile-time limit). A message is handed over only when every fragment is there, so an
//! unreliable message arrives whole or not at all. A set not completed within the
//! fragment timeout is dropped; when all sets are busy, the oldest one is evicted.
//! (Reliable messages reassemble in their channel's receive buffer instead.)

use crate::config::{MAX_FRAGMENTS, MAX_REASSEMBLY_SETS};
use crate::time::{Duration, Instant};

/// One partially received message.
#[derive(Debug, Clone, Copy, Default)]
struct Set {
    used: bool,
    channel: u8,
    id: u16,
    count: u8,
    received: u64,
    started: Instant,
    last_len: u16,
}

/// Why a fragment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentError {
    /// Index, count or length impossible for this configuration.
    Malformed,
    /// Already received.
    Duplicate,
}

/// Reassembly state; the set buffers are passed to each call.
#[derive(Debug, Clone)]
pub struct Reassembler {
    sets: [Set; MAX_REASSEMBLY_SETS],
    active: usize,
    fragment_payload: usize,
    set_bytes: usize,
}

impl Reassembler {
    /// `sets` sets (at most [`MAX_REASSEMBLY_SETS`]) of `set_bytes` each; every fragment
    /// but the last carries exactly `fragment_payload` bytes.
    pub fn new(sets: usize, set_bytes: usize, fragment_payload: usize) -> Self {
        Reassembler {
            sets: [Set::default(); MAX_REASSEMBLY_SETS],
            active: sets.min(MAX_REASSEMBLY_SETS),
            fragment_payload: fragment_payload.max(1),
            set_bytes,
        }
    }

    /// Bytes of storage the sets need.
    pub fn storage_bytes(&self) -> usize {
        self.active * self.set_bytes
    }

    /// Adds a fragment. When it completes its message, returns the set index and the
    /// message length: read it with [`message`](Self::message), then [`free`](Self::free).
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        now: Instant,
        buffers: &mut [u8],
        channel: u8,
        id: u16,
        index: u8,
        count: u8,
        data: &[u8],
    ) -> Result<Option<(usize, usize)>, FragmentError> {
        let (index, count_us) = (index as usize, count as usize);
        let fp = self.fragment_payload;
        let last = index + 1 == count_us;
        if !(2..=MAX_FRAGMENTS).contains(&count_us)
            || index >= count_us
            || (!last && data.len() != fp)
            || (last && data.len() > fp)
            || index * fp + data.len() > self.set_bytes
            || buffers.len() < self.storage_bytes()
        {
            return Err(FragmentError::Malformed);
        }
        if self.active == 0 {
            return Ok(None);
        }
        let sets = &mut self.sets[..self.active];
        let i = match sets.iter().position(|s| s.used && s.channel == channel && s.id == id) {
            Some(i) if sets[i].count == count => i,
            found => {
                // New message (or a reused id with another count): take a free set, else
                // the given one, else the oldest.
                let i = found
                    .or_else(|| sets.iter().position(|s| !s.used))
                    .unwrap_or_else(|| (0..sets.len()).min_by_key(|&i| sets[i].started).unwrap_or(0));
                sets[i] = Set { used: true, channel, id, count, received: 0, started: now, last_len: 0 };
                i
            }
        };
        let set = &mut sets[i];
        let bit = 1u64 << index;
        if set.received & bit != 0 {
            return Err(FragmentError::Duplicate);
        }
        set.received |= bit;
        if last {
            set.last_len = data.len() as u16;
        }
        let base = i * self.set_bytes + index * fp;
        buffers[base..base + data.len()].copy_from_slice(data);
        let full = if count_us == 64 { u64::MAX } else { (1u64 << count_us) - 1 };
        if set.received == full {
            Ok(Some((i, (count_us - 1) * fp + set.last_len as usize)))
        } else {
            Ok(None)
        }
    }

    /// The completed message in set `i`.
    pub fn message<'a>(&self, buffers: &'a [u8], i: usize, len: usize) -> &'a [u8] {
        let base = i * self.set_bytes;
        &buffers[base..base + len.min(self.set_bytes)]
    }

    /// Releases set `i`.
    pub fn free(&mut self, i: usize) {
        if let Some(s) = self.sets.get_mut(i) {
            s.used = false;
        }
    }

    /// Drops sets older than `timeout`; returns how many.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> usize {
        let mut n = 0;
        for s in &mut self.sets[..self.active] {
            if s.used && now - s.started >= timeout {
                s.used = false;
                n += 1;
            }
        }
        n
    }

    /// Drops partial sets of `channel` whose id is not newer than `id` (sequenced mode).
    pub fn drop_older(&mut self, channel: u8, id: u16) {
        for s in &mut self.sets[..self.active] {
            if s.used && s.channel == channel && !crate::seq::seq_newer(s.id, id) {
                s.used = false;
            }
        }
    }

    /// Earliest instant a set expires.
    pub fn next_expiry(&self, timeout: Duration) -> Option<Instant> {
        self.sets[..self.active].iter().filter(|s| s.used).map(|s| s.started + timeout).min()
    }

    /// Sets in use.
    pub fn in_use(&self) -> usize {
        self.sets[..self.active].iter().filter(|s| s.used).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: usize = 4;

    fn setup() -> (Reassembler, [u8; 64]) {
        (Reassembler::new(2, 32, FP), [0u8; 64])
    }

    #[test]
    fn reassembles_out_of_order() {
        let (mut r, mut buf) = setup();
        let t = Instant::ZERO;
        assert_eq!(r.insert(t, &mut buf, 0, 9, 2, 3, b"ij"), Ok(None));
        assert_eq!(r.insert(t, &mut buf, 0, 9, 0, 3, b"abcd"), Ok(None));
        assert_eq!(r.insert(t, &mut buf, 0, 9, 0, 3, b"abcd"), Err(FragmentError::Duplicate));
        let (i, len) = r.insert(t, &mut buf, 0, 9, 1, 3, b"efgh").unwrap().unwrap();
        assert_eq!(r.message(&buf, i, len), b"abcdefghij");
        r.free(i);
        assert_eq!(r.in_use(), 0);
    }

    #[test]
    fn rejects_impossible_fragments() {
        let (mut r, mut buf) = setup();
        let t = Instant::ZERO;
        for (idx, count, data) in [
            (0u8, 1u8, &b"abcd"[..]),
            (3, 3, b"ab"),
            (0, 3, b"abc"),
            (2, 3, b"abcde"),
            (0, 65, b"abcd"),
            (9, 10, b"ab"),
        ] {
            assert_eq!(r.insert(t, &mut buf, 0, 1, idx, count, data), Err(FragmentError::Malformed));
        }
        assert_eq!(r.in_use(), 0);
    }

    #[test]
    fn stale_sets_expire_and_oldest_is_evicted() {
        let (mut r, mut buf) = setup();
        r.insert(Instant::from_millis(0), &mut buf, 0, 1, 0, 2, b"abcd").unwrap();
        r.insert(Instant::from_millis(5), &mut buf, 0, 2, 0, 2, b"abcd").unwrap();
        // A third message evicts message 1, the oldest.
        r.insert(Instant::from_millis(6), &mut buf, 0, 3, 0, 2, b"wxyz").unwrap();
        assert_eq!(r.insert(Instant::from_millis(7), &mut buf, 0, 1, 1, 2, b"z"), Ok(None));
        assert_eq!(r.in_use(), 2);
        assert_eq!(r.expire(Instant::from_millis(1006), Duration::from_secs(1)), 1);
        assert_eq!(r.next_expiry(Duration::from_secs(1)), Some(Instant::from_millis(1007)));
        // Message 3 expired; message 1 (restarted at 7 ms) completes.
        let (i, len) = r.insert(Instant::from_millis(1006), &mut buf, 0, 1, 0, 2, b"abcd").unwrap().unwrap();
        assert_eq!(r.message(&buf, i, len), b"abcdz");
    }
}
