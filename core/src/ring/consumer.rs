//! The consumer side, shared by SPSC and MPSC rings.

use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::sync::atomic::Ordering;

use super::{max_payload, record_len, Pos, RawRing, RingError, LEN_MASK, RECORD_ALIGN, RECORD_COMMIT, RECORD_PAD};

/// The reading end of a [`Ring`](super::Ring) or [`MpscRing`](super::MpscRing).
///
/// Read with [`read_batch`](Self::read_batch) (fastest: every available record, one
/// shared store), [`read`](Self::read) (one record through a closure) or
/// [`pop`](Self::pop) (one record as a guard that frees its space when dropped). Each
/// call reads the producer counter at most once, and only when the records it already
/// knows of are used up (in MPSC, only if the next record is committed).
///
/// Every record is validated before its payload is handed out; any inconsistency
/// returns [`RingError::Corrupt`] and poisons the consumer, which then returns `Corrupt`
/// from every read. A callback that panics leaves its record (and the rest of the batch)
/// in the ring.
pub struct Consumer<'a> {
    raw: RawRing,
    /// Our position; the shared `head` is a published copy.
    head: Pos,
    /// The last `tail` we loaded; records below it are known to exist.
    tail_cache: Pos,
    /// MPSC: records may be uncommitted, consumed bytes must be zeroed.
    multi: bool,
    poisoned: bool,
    _region: PhantomData<&'a mut [u8]>,
}

// SAFETY: the consumer accesses shared memory only through the header atomics, record
// words read atomically, and payload bytes the protocol reserves for it; nothing in it is
// tied to the thread that created it.
unsafe impl Send for Consumer<'_> {}

/// How far ahead of the record being read `read_batch` asks for cache lines (a record's
/// position depends on the previous record's length, so without the hint the lines of a
/// long batch arrive one miss at a time).
const PREFETCH_AHEAD: Pos = 512;

/// A read in progress, kept in locals: the next position and the bytes known to be
/// published after it.
#[derive(Clone, Copy)]
struct Scan {
    raw: RawRing,
    multi: bool,
    pos: Pos,
    avail: usize,
}

/// What [`Scan::step`] found.
enum Step {
    /// A message: data offset of its record and payload length.
    Record(usize, usize),
    /// Padding, skipped.
    Pad,
    /// MPSC: the next record is not committed yet.
    Stop,
}

impl Scan {
    /// Validates the record at `pos` (which needs `avail > 0`) and moves past it.
    #[inline(always)]
    fn step(&mut self) -> Result<Step, RingError> {
        let cap = self.raw.cap;
        let off = (self.pos & self.raw.mask()) as usize;
        // SPSC: the acquire load of `tail` already ordered the producer's writes before
        // us. MPSC: each record is published by its own release store of the word.
        let order = if self.multi { Ordering::Acquire } else { Ordering::Relaxed };
        let word = self.raw.word(off).load(order);
        if word & RECORD_COMMIT == 0 {
            // MPSC: reserved but not yet written. SPSC: everything below tail is
            // committed, so this cannot happen.
            return if self.multi { Ok(Step::Stop) } else { Err(RingError::Corrupt) };
        }
        let len = (word & LEN_MASK) as usize;
        // A record ends before the end of the area and before the producer counter.
        let room = (cap - off).min(self.avail);
        if word & RECORD_PAD == 0 {
            let size = record_len(len);
            if len > max_payload(cap) || size > room {
                return Err(RingError::Corrupt);
            }
            self.pos = self.pos.wrapping_add(size as Pos);
            self.avail -= size;
            Ok(Step::Record(off, len))
        } else {
            if len == 0 || len % RECORD_ALIGN != 0 || len > room {
                return Err(RingError::Corrupt);
            }
            self.pos = self.pos.wrapping_add(len as Pos);
            self.avail -= len;
            Ok(Step::Pad)
        }
    }
}

impl<'a> Consumer<'a> {
    pub(super) fn new(raw: RawRing, multi: bool) -> Self {
        let head = raw.head().load(Ordering::Acquire);
        Consumer { raw, head, tail_cache: head, multi, poisoned: false, _region: PhantomData }
    }

    /// Bytes in the data area.
    pub fn capacity(&self) -> usize {
        self.raw.cap
    }

    /// Whether a read found the ring corrupted; every later read returns
    /// [`RingError::Corrupt`].
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Whether anything was published past what this consumer has read (one load of
    /// the producer counter; in MPSC the next record may still be uncommitted). Reads no
    /// record.
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.tail_cache != self.head || self.raw.tail().load(Ordering::Acquire) != self.head
    }

    /// Calls `f` on up to `limit` records in order, then frees them all with one release
    /// store of the consumer counter. Returns how many records `f` saw (0: the ring is
    /// empty, or in MPSC the next record is not committed yet).
    ///
    /// On [`RingError::Corrupt`] the records already passed to `f` are freed.
    #[inline]
    pub fn read_batch<F: FnMut(&[u8])>(&mut self, limit: usize, mut f: F) -> Result<usize, RingError> {
        if !self.multi {
            return self.read_batch_spsc(limit, f);
        }
        let mut scan = self.scan()?;
        let mut reloaded = false;
        let mut n = 0;
        let res = loop {
            if n == limit {
                break Ok(());
            }
            // Reload at most once, and not once records were handed out: the batch covers
            // what was published when it started.
            match self.next(&mut scan, &mut reloaded, n == 0) {
                Ok(Some((off, len))) => {
                    // SAFETY: `step` validated `off + 8 + len <= cap` and that the record
                    // is committed: its producer no longer writes it, and it stays ours
                    // until `release`.
                    f(unsafe { scan.raw.payload(off, len) });
                    n += 1;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.finish(scan.pos, res).map(|()| n)
    }

    /// [`read_batch`](Self::read_batch) for an SPSC ring: every record below the producer
    /// counter is committed, so the loop only validates each record's bounds (one word
    /// load, three comparisons) and hands it out; pads and errors take the general path.
    #[inline]
    fn read_batch_spsc<F: FnMut(&[u8])>(&mut self, limit: usize, mut f: F) -> Result<usize, RingError> {
        if self.poisoned {
            return Err(RingError::Corrupt);
        }
        let mut scan = Scan { raw: self.raw, multi: false, pos: self.head, avail: 0 };
        let mut end = self.tail_cache;
        if scan.pos == end {
            match self.refill(&mut scan) {
                Ok(true) => end = self.tail_cache,
                Ok(false) => return Ok(0),
                Err(e) => return self.finish(scan.pos, Err(e)),
            }
        }
        let raw = self.raw;
        let (cap, mask, max) = (raw.cap, raw.mask(), max_payload(raw.cap) as u32);
        let mut pos = scan.pos;
        let mut n = 0;
        while pos != end && n < limit {
            let off = (pos & mask) as usize;
            // Ask for lines ahead while far behind the producer (see `read_batch`).
            if end.wrapping_sub(pos) > PREFETCH_AHEAD {
                raw.prefetch(pos.wrapping_add(PREFETCH_AHEAD));
            }
            // SAFETY: positions advance by whole records from a multiple of 8, and `off`
            // is masked below `cap`.
            let word = unsafe { raw.word_at(off) }.load(Ordering::Relaxed);
            // One comparison rejects a word without COMMIT (bit 31 set after the xor), a
            // pad (bit 30 set) and a length past `max_payload`.
            let len = word ^ RECORD_COMMIT;
            let size = record_len(len as usize);
            if len <= max && off + size <= cap && size as Pos <= end.wrapping_sub(pos) {
                // SAFETY: the record lies below the producer counter and inside the data
                // area (checked just above); the producer does not write it again before
                // `release` publishes our position past it.
                f(unsafe { raw.payload(off, len as usize) });
                n += 1;
                pos = pos.wrapping_add(size as Pos);
                continue;
            }
            // A pad, or something wrong: the general step decides.
            let mut one = Scan { raw, multi: false, pos, avail: end.wrapping_sub(pos) as usize };
            match one.step() {
                Ok(Step::Pad) => pos = one.pos,
                Ok(_) => return self.finish(pos, Err(RingError::Corrupt)),
                Err(e) => return self.finish(pos, Err(e)),
            }
        }
        self.finish(pos, Ok(())).map(|()| n)
    }

    /// Calls `f` on the next record and frees it. `Ok(None)`: nothing to read.
    #[inline]
    pub fn read<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, RingError> {
        Ok(self.pop()?.map(|rec| f(&rec)))
    }

    /// The next record, as a guard that derefs to its payload and frees it (publishing
    /// the consumer counter) when dropped. `Ok(None)`: nothing to read. Forgetting the
    /// guard leaves the record in the ring.
    #[inline]
    pub fn pop(&mut self) -> Result<Option<Record<'_, 'a>>, RingError> {
        let mut scan = self.scan()?;
        match self.next(&mut scan, &mut false, true) {
            Ok(Some((off, len))) => Ok(Some(Record { consumer: self, off, len, next: scan.pos })),
            Ok(None) => self.finish(scan.pos, Ok(None)),
            Err(e) => self.finish(scan.pos, Err(e)),
        }
    }

    /// The next record from `scan`, skipping pads, loading the producer counter when the
    /// known records are used up if `may_reload` and it was not loaded yet (`reloaded`).
    /// `Ok(None)`: nothing more for this call (empty, or in MPSC not committed yet).
    #[inline(always)]
    fn next(
        &mut self,
        scan: &mut Scan,
        reloaded: &mut bool,
        may_reload: bool,
    ) -> Result<Option<(usize, usize)>, RingError> {
        loop {
            if scan.avail == 0 {
                if *reloaded || !may_reload {
                    return Ok(None);
                }
                *reloaded = true;
                if !self.refill(scan)? {
                    return Ok(None);
                }
            }
            match scan.step()? {
                Step::Record(off, len) => return Ok(Some((off, len))),
                Step::Pad => {}
                Step::Stop => return Ok(None),
            }
        }
    }

    /// Copies the next record into `buf` and calls `f` on the copy; the record is freed
    /// if `f` returns true and stays in the ring (to be read again) if it returns false.
    /// `Ok(None)`: nothing to read.
    ///
    /// For a ring whose producer is not trusted (another process): the payload is read
    /// once, with atomic loads, into memory the producer cannot reach, so `f` sees bytes
    /// that cannot change under it, and the length it was validated with is the length
    /// copied (no second fetch). Errors: [`RingError::TooLarge`] (not poisoning) when
    /// `buf` is shorter than the record, [`RingError::Corrupt`] as for every read.
    #[inline]
    pub fn read_copy<R>(&mut self, buf: &mut [u8], f: impl FnOnce(&[u8]) -> (bool, R)) -> Result<Option<R>, RingError> {
        let mut scan = self.scan()?;
        let (off, len) = match self.next(&mut scan, &mut false, true) {
            Ok(Some(record)) => record,
            Ok(None) => return self.finish(scan.pos, Ok(None)),
            Err(e) => return self.finish(scan.pos, Err(e)),
        };
        // The record's start (after any pad before it).
        let before = scan.pos.wrapping_sub(record_len(len) as Pos);
        if buf.len() < len {
            // Leave the record for a larger buffer.
            self.release(before);
            return Err(RingError::TooLarge);
        }
        // SAFETY: `step` validated that the record's `record_len(len)` bytes from `off` lie
        // inside the data area and below the producer counter.
        unsafe { self.raw.copy_payload(off, &mut buf[..len]) };
        let (free, out) = f(&buf[..len]);
        self.release(if free { scan.pos } else { before });
        Ok(Some(out))
    }

    /// [`read_copy`](Self::read_copy) for up to `limit` records, freeing all the accepted
    /// ones with one store of the consumer counter: each record is copied into `buf` and
    /// handed to `f`; the first one `f` refuses (returns false) and everything after it
    /// stay in the ring. Returns how many `f` accepted.
    ///
    /// Errors as `read_copy`; on [`RingError::TooLarge`] the records accepted before it
    /// are freed.
    #[inline]
    pub fn read_copy_batch(
        &mut self,
        buf: &mut [u8],
        limit: usize,
        mut f: impl FnMut(&[u8]) -> bool,
    ) -> Result<usize, RingError> {
        let mut scan = self.scan()?;
        let mut reloaded = false;
        let mut n = 0;
        let res = loop {
            if n == limit {
                break Ok(());
            }
            let (off, len) = match self.next(&mut scan, &mut reloaded, n == 0) {
                Ok(Some(record)) => record,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            let before = scan.pos.wrapping_sub(record_len(len) as Pos);
            if buf.len() < len {
                self.release(before);
                return Err(RingError::TooLarge);
            }
            // SAFETY: `step` validated that the record's `record_len(len)` bytes from `off`
            // lie inside the data area and below the producer counter.
            unsafe { self.raw.copy_payload(off, &mut buf[..len]) };
            if !f(&buf[..len]) {
                scan.pos = before;
                break Ok(());
            }
            n += 1;
        };
        self.finish(scan.pos, res).map(|()| n)
    }

    /// A scan from our position over the records we already know of.
    #[inline(always)]
    fn scan(&self) -> Result<Scan, RingError> {
        if self.poisoned {
            return Err(RingError::Corrupt);
        }
        let avail = self.tail_cache.wrapping_sub(self.head) as usize;
        Ok(Scan { raw: self.raw, multi: self.multi, pos: self.head, avail })
    }

    /// Loads the producer counter into `scan`; returns whether anything is readable.
    #[inline]
    fn refill(&mut self, scan: &mut Scan) -> Result<bool, RingError> {
        if self.multi {
            // Free space is zero in MPSC: an uncommitted word at our position means there is
            // nothing to read yet, and we need not touch the producers' contended counter.
            let off = (scan.pos & self.raw.mask()) as usize;
            if self.raw.word(off).load(Ordering::Relaxed) & RECORD_COMMIT == 0 {
                return Ok(false);
            }
        }
        let tail = self.raw.tail().load(Ordering::Acquire);
        let avail = tail.wrapping_sub(scan.pos);
        if avail > self.raw.cap as Pos || avail % RECORD_ALIGN as Pos != 0 {
            return Err(RingError::Corrupt);
        }
        self.tail_cache = tail;
        scan.avail = avail as usize;
        if !self.multi {
            // Ask for the first lines of the new records together: each record's position
            // depends on the one before it, so reading them cold costs one miss after another.
            let ahead = scan.avail.min(PREFETCH_AHEAD as usize);
            let mut at = 0;
            while at < ahead {
                self.raw.prefetch(scan.pos.wrapping_add(at as Pos));
                at += 64;
            }
        }
        Ok(avail != 0)
    }

    /// Frees everything before `pos` and passes `res` on, poisoning on error.
    #[inline(always)]
    fn finish<T>(&mut self, pos: Pos, res: Result<T, RingError>) -> Result<T, RingError> {
        self.release(pos);
        if res.is_err() {
            self.poisoned = true;
        }
        res
    }

    /// Publishes `pos` as the consumer counter (zeroing the freed bytes first in MPSC).
    #[inline(always)]
    fn release(&mut self, pos: Pos) {
        if pos == self.head {
            return;
        }
        if self.multi {
            let len = pos.wrapping_sub(self.head) as usize;
            // SAFETY: `pos` only ever advances over validated records below the producer
            // counter, so `len <= cap`; those bytes are consumed and no producer may touch
            // them before the store below publishes them as free.
            unsafe { self.raw.zero(self.head, len) };
        }
        self.head = pos;
        self.raw.head().store(pos, Ordering::Release);
    }
}

impl fmt::Debug for Consumer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.raw.cap)
            .field("multi_producer", &self.multi)
            .field("head", &self.head)
            .field("tail_cache", &self.tail_cache)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

/// A record returned by [`Consumer::pop`]: derefs to the payload; dropping it frees the
/// record's space for producers.
pub struct Record<'c, 'a> {
    consumer: &'c mut Consumer<'a>,
    off: usize,
    len: usize,
    /// Position after this record (and any padding before it).
    next: Pos,
}

impl Deref for Record<'_, '_> {
    type Target = [u8];

    #[inline(always)]
    fn deref(&self) -> &[u8] {
        // SAFETY: `Consumer::next` validated the record (in bounds, committed, below the
        // producer counter); it is released only when this guard drops, and the guard
        // borrows the consumer, so the slice cannot outlive it.
        unsafe { self.consumer.raw.payload(self.off, self.len) }
    }
}

impl Drop for Record<'_, '_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.consumer.release(self.next);
    }
}

impl fmt::Debug for Record<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record").field("len", &self.len).finish()
    }
}
