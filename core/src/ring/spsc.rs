//! The single-producer ring and its producer.

use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::Ordering;

use super::{
    debug_counters, max_payload, record_len, Consumer, Pos, RawRing, RingError, KIND_SPSC, RECORD_COMMIT, RECORD_PAD,
};

/// A single-producer, single-consumer message ring over a region (see the [module
/// docs](super) for the layout). Create one with [`init`](Self::init) or join an
/// existing one with [`attach`](Self::attach), then [`split`](Self::split) it.
///
/// ```
/// use kaos_core::ring::{CacheLine, Ring};
///
/// let mut lines = [CacheLine::ZERO; CacheLine::lines_for(1024)];
/// let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
/// tx.push(b"hello").unwrap();
/// let mut claim = tx.claim(5).unwrap();
/// claim.copy_from_slice(b"world");
/// claim.commit();
/// assert_eq!(rx.read(|m| m == b"hello"), Ok(Some(true)));
/// let mut n = 0;
/// rx.read_batch(usize::MAX, |m| { assert_eq!(m, b"world"); n += 1 }).unwrap();
/// assert_eq!(n, 1);
/// ```
pub struct Ring<'a> {
    raw: RawRing,
    _region: PhantomData<&'a mut [u8]>,
}

// SAFETY: a Ring only holds the location of the region it borrows; the handles it splits
// into are themselves Send.
unsafe impl Send for Ring<'_> {}

impl<'a> Ring<'a> {
    /// Formats `region` as an empty SPSC ring: the data area is the largest power of two
    /// that fits after the header (capped at [`MAX_CAPACITY`](super::MAX_CAPACITY)).
    /// The region must be 64-byte aligned (see [`CacheLine`](super::CacheLine)).
    pub fn init(region: &'a mut [u8]) -> Result<Self, RingError> {
        // SAFETY: an exclusive borrow for 'a: valid, initialized, unaliased.
        unsafe { Self::init_raw(region.as_mut_ptr(), region.len()) }
    }

    /// Joins the SPSC ring already in `region` (written by [`init`](Self::init), maybe
    /// by another process), validating its header. The producer resumes at the shared
    /// producer counter and the consumer at the shared consumer counter.
    pub fn attach(region: &'a mut [u8]) -> Result<Self, RingError> {
        // SAFETY: an exclusive borrow for 'a: valid, initialized, unaliased.
        unsafe { Self::from_raw(region.as_mut_ptr(), region.len()) }
    }

    /// [`init`](Self::init) over raw memory, such as a fresh shared mapping.
    ///
    /// # Safety
    /// - `ptr` is valid for reads and writes of `len` initialized bytes (a zero-filled
    ///   mapping is) for all of `'a`, and stays mapped while any handle lives.
    /// - During this call nothing else accesses those bytes.
    /// - Afterwards they are accessed only through ring handles, in this process or
    ///   others: no Rust reference to them exists outside the handles.
    pub unsafe fn init_raw(ptr: *mut u8, len: usize) -> Result<Self, RingError> {
        // SAFETY: forwarded from the caller.
        let raw = unsafe { RawRing::init(ptr, len, KIND_SPSC, 0)? };
        Ok(Ring { raw, _region: PhantomData })
    }

    /// [`attach`](Self::attach) over raw memory, such as a mapping another process
    /// initialized.
    ///
    /// # Safety
    /// - `ptr` is valid for reads and writes of `len` initialized bytes for all of `'a`,
    ///   and stays mapped while any handle lives.
    /// - Those bytes are accessed only through ring handles, in this process or others:
    ///   no Rust reference to them exists outside the handles.
    /// - Across all processes, at most one [`Producer`] and one [`Consumer`] of this ring
    ///   are in use at a time (do not use the half of [`split`](Self::split) that
    ///   another process owns).
    ///
    /// A process that breaks the layout can only cause [`RingError`]s here, not
    /// out-of-bounds access; a process that breaks the protocol (writing payloads the
    /// other side is reading) races with it outside Rust's memory model.
    pub unsafe fn from_raw(ptr: *mut u8, len: usize) -> Result<Self, RingError> {
        // SAFETY: forwarded from the caller.
        let raw = unsafe { RawRing::attach(ptr, len, KIND_SPSC)? };
        Ok(Ring { raw, _region: PhantomData })
    }

    /// Bytes in the data area (a power of two).
    pub fn capacity(&self) -> usize {
        self.raw.cap
    }

    /// Longest message the ring accepts: [`max_payload`](super::max_payload)`(capacity)`.
    pub fn max_payload(&self) -> usize {
        self.raw.max_payload()
    }

    /// The producer and consumer handles.
    pub fn split(self) -> (Producer<'a>, Consumer<'a>) {
        (Producer::new(self.raw), Consumer::new(self.raw, false))
    }

    #[cfg(test)]
    pub(super) fn init_at(region: &'a mut [u8], start: Pos) -> Result<Self, RingError> {
        // SAFETY: an exclusive borrow for 'a: valid, initialized, unaliased.
        let raw = unsafe { RawRing::init(region.as_mut_ptr(), region.len(), KIND_SPSC, start)? };
        Ok(Ring { raw, _region: PhantomData })
    }
}

impl fmt::Debug for Ring<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_counters(&self.raw, "Ring", f)
    }
}

/// The writing end of a [`Ring`].
///
/// [`push`](Self::push) copies a message in; [`claim`](Self::claim) lends the space to
/// write it in place. Each message is published by one release store of the producer
/// counter; the consumer counter is read only when the cached copy says the ring is full.
///
/// To publish a burst with a single store, [`stage`](Self::stage) (or
/// [`Claim::stage`]) its messages and then [`publish`](Self::publish). Staged messages
/// are also published by the next `push` or `commit`, before a claim reports
/// [`RingError::Full`] (so a producer waiting for space never waits on its own unpublished
/// messages), and when the producer is dropped.
pub struct Producer<'a> {
    raw: RawRing,
    /// Our position: the end of everything written, staged or published.
    tail: Pos,
    /// The value of the shared `tail`: the end of what the consumer may read.
    published: Pos,
    /// The consumer counter as last loaded; the consumer is at or past it.
    head_cache: Pos,
    _region: PhantomData<&'a mut [u8]>,
}

// SAFETY: the producer accesses shared memory only through the header atomics, record
// words and the free space the protocol gives it; nothing in it is tied to a thread.
unsafe impl Send for Producer<'_> {}

impl<'a> Producer<'a> {
    fn new(raw: RawRing) -> Self {
        let head_cache = raw.head().load(Ordering::Acquire);
        let tail = raw.tail().load(Ordering::Acquire);
        // Keep `tail - head_cache <= cap`: an impossible pair (corrupt shared memory) makes
        // the cache say "full", so the first claim checks the real counter.
        let head_cache =
            if tail.wrapping_sub(head_cache) > raw.cap as Pos { tail.wrapping_sub(raw.cap as Pos) } else { head_cache };
        Producer { raw, tail, published: tail, head_cache, _region: PhantomData }
    }

    /// Bytes in the data area.
    pub fn capacity(&self) -> usize {
        self.raw.cap
    }

    /// Longest message the ring accepts.
    pub fn max_payload(&self) -> usize {
        self.raw.max_payload()
    }

    /// Reserves space for a `len`-byte message and lends it out (its bytes are stale
    /// data, not zeroes). Nothing is published until [`Claim::commit`]; dropping the
    /// claim gives the space back.
    ///
    /// Errors: [`RingError::TooLarge`] past [`max_payload`](Self::max_payload),
    /// [`RingError::Full`] while the consumer has not freed enough space,
    /// [`RingError::Corrupt`] if the shared consumer counter is impossible.
    #[inline]
    pub fn claim(&mut self, len: usize) -> Result<Claim<'_, 'a>, RingError> {
        let cap = self.raw.cap;
        let off = (self.tail & self.raw.mask()) as usize;
        // `used <= cap` always holds for the cached head (see `new` and `claim_slow`).
        let used = self.tail.wrapping_sub(self.head_cache) as usize;
        let (start, pad, size) = if len <= max_payload(cap) && record_len(len) <= (cap - off).min(cap - used) {
            (off, 0, record_len(len))
        } else {
            self.claim_slow(len)?
        };
        // SAFETY: `start + size <= cap` (it fits before the end, or starts at 0 and
        // size <= cap / 2), both multiples of 8; the space is free, so only we touch it.
        unsafe { self.raw.clear_record_end(start, size) };
        Ok(Claim { producer: self, start, len, pad })
    }

    /// The rest of [`claim`](Self::claim): too large, wrapping, or the cached consumer
    /// counter says full. Returns the record's offset, the pad before it and its size.
    #[cold]
    #[inline(never)]
    fn claim_slow(&mut self, len: usize) -> Result<(usize, usize, usize), RingError> {
        let cap = self.raw.cap;
        if len > max_payload(cap) {
            return Err(RingError::TooLarge);
        }
        let size = record_len(len);
        let off = (self.tail & self.raw.mask()) as usize;
        let to_end = cap - off;
        // A record that does not fit before the end wraps to offset 0 behind a pad.
        let (start, pad) = if size <= to_end { (off, 0) } else { (0, to_end) };
        let need = pad + size;
        let used = self.tail.wrapping_sub(self.head_cache) as usize;
        if cap - used < need {
            let head = self.raw.head().load(Ordering::Acquire);
            let used = self.tail.wrapping_sub(head);
            if used > cap as Pos {
                return Err(RingError::Corrupt);
            }
            self.head_cache = head;
            if cap - (used as usize) < need {
                self.publish();
                return Err(RingError::Full);
            }
        }
        Ok((start, pad, size))
    }

    /// Copies `msg` into the ring and publishes it.
    ///
    /// Errors as [`claim`](Self::claim); on error nothing was written.
    #[inline]
    pub fn push(&mut self, msg: &[u8]) -> Result<(), RingError> {
        let mut claim = self.claim(msg.len())?;
        claim.copy_from_slice(msg);
        claim.commit();
        Ok(())
    }

    /// Copies `msg` into the ring without publishing it yet (see the type's docs).
    ///
    /// Errors as [`claim`](Self::claim); on error nothing was written (and anything staged
    /// before is published if the error is [`RingError::Full`]).
    #[inline]
    pub fn stage(&mut self, msg: &[u8]) -> Result<(), RingError> {
        let mut claim = self.claim(msg.len())?;
        claim.copy_from_slice(msg);
        claim.stage();
        Ok(())
    }

    /// Publishes every staged message with one release store of the producer counter.
    #[inline]
    pub fn publish(&mut self) {
        if self.published != self.tail {
            self.published = self.tail;
            self.raw.tail().store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for Producer<'_> {
    fn drop(&mut self) {
        self.publish();
    }
}

impl fmt::Debug for Producer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.raw.cap)
            .field("tail", &self.tail)
            .field("head_cache", &self.head_cache)
            .finish()
    }
}

/// Space for one message in a [`Ring`], lent by [`Producer::claim`]. Derefs to the
/// payload bytes; [`commit`](Self::commit) publishes them, dropping publishes nothing.
#[must_use = "a claim publishes nothing until commit()"]
pub struct Claim<'p, 'a> {
    producer: &'p mut Producer<'a>,
    /// Data offset of the record.
    start: usize,
    len: usize,
    /// Bytes of padding before the record (wrap to offset 0), or 0.
    pad: usize,
}

impl<'p, 'a> Claim<'p, 'a> {
    /// Publishes the message (and any staged before it).
    #[inline]
    pub fn commit(self) {
        let len = self.len;
        self.commit_len(len);
    }

    /// Publishes only the first `len` bytes of the claimed space (for messages whose size
    /// is known only once written). `len` is clamped to the claimed length.
    #[inline]
    pub fn commit_len(self, len: usize) {
        let p = self.write(len);
        p.publish();
    }

    /// Completes the message without publishing it: the next [`Producer::publish`] (or
    /// `push`, `commit`) does.
    #[inline]
    pub fn stage(self) {
        let len = self.len;
        self.write(len);
    }

    /// Writes the record words for a `len`-byte message and advances the producer's
    /// private position.
    #[inline(always)]
    fn write(self, len: usize) -> &'p mut Producer<'a> {
        let len = len.min(self.len);
        let p = self.producer;
        if self.pad != 0 {
            let off = (p.tail & p.raw.mask()) as usize;
            p.raw.word(off).store(RECORD_COMMIT | RECORD_PAD | self.pad as u32, Ordering::Relaxed);
        }
        if len < self.len {
            // SAFETY: `claim` checked `start + record_len(self.len) <= cap`, and `len <
            // self.len`; the claimed space is ours until the tail store below.
            unsafe { p.raw.clear_padding(self.start, len) };
        }
        p.raw.word(self.start).store(RECORD_COMMIT | len as u32, Ordering::Relaxed);
        p.tail = p.tail.wrapping_add((self.pad + record_len(len)) as Pos);
        p
    }
}

impl Deref for Claim<'_, '_> {
    type Target = [u8];

    #[inline(always)]
    fn deref(&self) -> &[u8] {
        // SAFETY: `claim` checked the record fits in free space (`start + record_len(len)
        // <= cap`); the consumer does not read free space and the claim borrows the only
        // producer, so these bytes are ours until commit.
        unsafe { self.producer.raw.payload(self.start, self.len) }
    }
}

impl DerefMut for Claim<'_, '_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes this the only live view.
        unsafe { self.producer.raw.payload_mut(self.start, self.len) }
    }
}

impl fmt::Debug for Claim<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim").field("len", &self.len).finish()
    }
}
