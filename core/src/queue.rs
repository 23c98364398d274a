//! A FIFO of variable-length records over a caller-provided byte slice.
//!
//! Used for a connection's inbox (messages waiting for `poll_event`) and outbox
//! (unreliable messages waiting for a datagram). Every record is contiguous, so readers
//! get a plain `&[u8]`: a record that does not fit before the end of the buffer is placed
//! at the start, and the tail it skipped is marked. Record layout: `[len: u32 LE][body]`.
//!
//! The state ([`ByteQueue`]) is separate from the bytes so the bytes can live in a
//! connection's storage arena while the state lives in the connection.

/// Length-prefix value marking the rest of the buffer as skipped.
const SKIP: u32 = u32::MAX;
/// Length-prefix size.
pub(crate) const PREFIX: usize = 4;

/// Positions of a record queue; the bytes are passed to every call.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ByteQueue {
    read: usize,
    write: usize,
    /// Bytes between `read` and `write`, skipped tails included.
    used: usize,
    records: usize,
}

impl ByteQueue {
    pub(crate) const fn new() -> Self {
        ByteQueue { read: 0, write: 0, used: 0, records: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Bytes in use, skipped tails included.
    pub(crate) fn used(&self) -> usize {
        self.used
    }

    /// Where a record of `len` body bytes would start, and the bytes skipped to get there.
    fn place(&self, cap: usize, len: usize) -> Option<(usize, usize)> {
        let need = PREFIX.checked_add(len)?;
        if self.used == 0 {
            return (need <= cap).then_some((0, 0));
        }
        if self.write > self.read {
            let end_space = cap - self.write;
            if need <= end_space {
                Some((self.write, 0))
            } else if need <= self.read {
                Some((0, end_space))
            } else {
                None
            }
        } else {
            // write <= read and the queue is not empty: free space is between them.
            (need <= self.read - self.write).then_some((self.write, 0))
        }
    }

    /// Appends a record of `len` bytes and returns its body to fill, or `None` if full.
    pub(crate) fn push<'a>(&mut self, buf: &'a mut [u8], len: usize) -> Option<&'a mut [u8]> {
        let cap = buf.len();
        let (at, skipped) = self.place(cap, len)?;
        if self.used == 0 {
            self.read = 0;
        }
        if skipped >= PREFIX {
            buf[self.write..self.write + PREFIX].copy_from_slice(&SKIP.to_le_bytes());
        }
        buf[at..at + PREFIX].copy_from_slice(&(len as u32).to_le_bytes());
        let end = at + PREFIX + len;
        self.write = if end == cap { 0 } else { end };
        self.used += skipped + PREFIX + len;
        self.records += 1;
        Some(&mut buf[at + PREFIX..end])
    }

    /// Moves `read` past a skipped tail, if one is there.
    fn skip_tail(&mut self, buf: &[u8]) {
        let cap = buf.len();
        if self.used == 0 {
            return;
        }
        let left = cap - self.read;
        let marked = left >= PREFIX && read_u32(buf, self.read) == SKIP;
        if left < PREFIX || marked {
            self.used -= left;
            self.read = 0;
        }
    }

    /// The oldest record's body.
    pub(crate) fn front<'a>(&mut self, buf: &'a [u8]) -> Option<&'a [u8]> {
        if self.records == 0 {
            return None;
        }
        self.skip_tail(buf);
        let len = read_u32(buf, self.read) as usize;
        buf.get(self.read + PREFIX..self.read + PREFIX + len)
    }

    /// Removes the oldest record.
    pub(crate) fn pop(&mut self, buf: &[u8]) {
        if self.records == 0 {
            return;
        }
        self.skip_tail(buf);
        let len = read_u32(buf, self.read) as usize;
        let end = self.read + PREFIX + len;
        self.read = if end >= buf.len() { 0 } else { end };
        self.used -= PREFIX + len;
        self.records -= 1;
        if self.records == 0 {
            *self = ByteQueue::new();
        }
    }
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    match buf.get(at..at + 4) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_with_wrap_and_skip() {
        let mut buf = [0u8; 64];
        let mut q = ByteQueue::new();
        let mut next_in = 0u8;
        let mut next_out = 0u8;
        // Pseudo-random sizes; the model is a counter.
        let mut x = 12345u32;
        for _ in 0..10_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let len = (x >> 16) as usize % 30;
            if (x >> 8) & 1 == 0 {
                if let Some(body) = q.push(&mut buf, len) {
                    body.fill(next_in);
                    next_in = next_in.wrapping_add(1);
                } else {
                    assert!(q.used() + PREFIX + len > 0);
                }
            } else if let Some(body) = q.front(&buf) {
                assert!(body.iter().all(|&b| b == next_out));
                q.pop(&buf);
                next_out = next_out.wrapping_add(1);
            } else {
                assert_eq!(next_in, next_out);
            }
            assert!(q.used() <= buf.len());
        }
    }

    #[test]
    fn refuses_what_never_fits() {
        let mut buf = [0u8; 16];
        let mut q = ByteQueue::new();
        assert!(q.push(&mut buf, 13).is_none());
        assert!(q.push(&mut buf, 12).is_some());
        assert!(q.push(&mut buf, 0).is_none());
        q.pop(&buf);
        assert!(q.is_empty());
        assert!(q.push(&mut buf, 12).is_some());
    }
}
