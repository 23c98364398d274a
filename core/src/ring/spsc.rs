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
/// write it in place. The consumer counter is read only when the cached copy says the
/// ring is full.
///
/// To publish a burst at once, write it through a [`Batch`] ([`batch`](Self::batch), the
/// fastest way), or [`stage`](Self::stage) (or [`Claim::stage`]) its messages and then
/// [`publish`](Self::publish). Staged messages are also published by the next `push` or
/// `commit`, before a claim reports [`RingError::Full`] (so a producer waiting for space
/// never waits on its own unpublished messages), and when the producer is dropped.
///
/// Publishing is one release store of the shared producer counter, however many
/// messages it covers.
pub struct Producer<'a> {
    raw: RawRing,
    cur: Cursor,
    _region: PhantomData<&'a mut [u8]>,
}

/// The producer's private state, copied into a [`Batch`] while one is open.
#[derive(Clone, Copy)]
struct Cursor {
    /// Our position: the end of everything written, staged or published.
    tail: Pos,
    /// The value of the shared `tail`: the end of what the consumer may read.
    published: Pos,
    /// The consumer counter as last loaded; the consumer is at or past it.
    head_cache: Pos,
    /// How far records may reach without wrapping or looking at the consumer: the end of
    /// the current lap or `head_cache + cap`, whichever comes first.
    limit: Pos,
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
        let cap = raw.cap as Pos;
        let head_cache = if tail.wrapping_sub(head_cache) > cap { tail.wrapping_sub(cap) } else { head_cache };
        let cur = Cursor { tail, published: tail, head_cache, limit: free_limit(raw, tail, head_cache) };
        Producer { raw, cur, _region: PhantomData }
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
        let pos = if self.cur.fits(self.raw, len) { self.cur.tail } else { self.make_room(len)? };
        // SAFETY: `fits` or `make_room` found `record_len(len)` free bytes at `pos` before
        // the end of the area; `pos` is a multiple of 8.
        unsafe { self.raw.clear_record_end((pos & self.raw.mask()) as usize, len) };
        Ok(Claim { producer: self, pos, len })
    }

    /// Copies `msg` into the ring and publishes it.
    ///
    /// Errors as [`claim`](Self::claim); on error nothing was written.
    #[inline]
    pub fn push(&mut self, msg: &[u8]) -> Result<(), RingError> {
        if self.cur.write_fast(self.raw, msg) {
            self.cur.publish(self.raw);
            return Ok(());
        }
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

    /// A writer for a burst of messages, published together when it ends: the fastest way
    /// to write many messages (see [`Batch`]).
    #[inline]
    pub fn batch(&mut self) -> Batch<'_, 'a> {
        Batch { raw: self.raw, cur: self.cur, producer: self }
    }

    /// Publishes every staged message with one release store of the producer counter.
    #[inline]
    pub fn publish(&mut self) {
        self.cur.publish(self.raw);
    }

    /// [`make_room`] for the producer's own state.
    #[inline(always)]
    fn make_room(&mut self, len: usize) -> Result<Pos, RingError> {
        let (pos, cur) = make_room(self.raw, self.cur, len);
        self.cur = cur;
        pos
    }
}

/// The slow part of a claim: too large, wrapping, or the known free space used up.
/// Returns where the record goes (`tail`, or the start of the next lap, in which case the
/// writer puts a pad record at `tail` once the record is written) and the updated state.
///
/// On `Full` everything staged is published first, so a producer waiting for room never
/// waits on its own messages.
///
/// The state goes in and out by value: a cold call that took the producer (or a batch)
/// by reference would make the compiler keep its state in memory and store the position
/// after every message, which costs store-buffer entries on the hot path.
#[cold]
#[inline(never)]
fn make_room(raw: RawRing, mut cur: Cursor, len: usize) -> (Result<Pos, RingError>, Cursor) {
    let cap = raw.cap;
    if len > max_payload(cap) {
        return (Err(RingError::TooLarge), cur);
    }
    let tail = cur.tail;
    let size = record_len(len);
    let to_end = cap - (tail & raw.mask()) as usize;
    // A record that does not fit before the end wraps to offset 0 behind a pad.
    let pad = if size <= to_end { 0 } else { to_end };
    let need = pad + size;
    if cap - (tail.wrapping_sub(cur.head_cache) as usize) < need {
        let head = raw.head().load(Ordering::Acquire);
        let used = tail.wrapping_sub(head);
        if used > cap as Pos {
            return (Err(RingError::Corrupt), cur);
        }
        cur.head_cache = head;
        if cap - (used as usize) < need {
            cur.limit = free_limit(raw, tail, head);
            cur.publish(raw);
            return (Err(RingError::Full), cur);
        }
    }
    // Also when `tail` just reached the end of a lap: the limit then still marks that
    // end. After a pad, `seal` moves it on once the record is written.
    cur.limit = free_limit(raw, tail, cur.head_cache);
    (Ok(tail.wrapping_add(pad as Pos)), cur)
}

impl Cursor {
    /// Stores `tail` as the shared producer counter (release) if it moved.
    #[inline(always)]
    fn publish(&mut self, raw: RawRing) {
        if self.published != self.tail {
            self.published = self.tail;
            raw.tail().store(self.tail, Ordering::Release);
        }
    }

    /// Whether a `len`-byte record fits at `tail` without wrapping or looking at the
    /// consumer.
    #[inline(always)]
    fn fits(&self, raw: RawRing, len: usize) -> bool {
        len <= max_payload(raw.cap) && record_len(len) as Pos <= self.limit.wrapping_sub(self.tail)
    }

    /// Writes `msg` as the next record, unpublished, if it fits without wrapping or
    /// looking at the consumer (the common case); false leaves everything as it was.
    #[inline(always)]
    fn write_fast(&mut self, raw: RawRing, msg: &[u8]) -> bool {
        let len = msg.len();
        let size = record_len(len) as Pos;
        if len > max_payload(raw.cap) || size > self.limit.wrapping_sub(self.tail) {
            return false;
        }
        let off = (self.tail & raw.mask()) as usize;
        // SAFETY: the record's `size` bytes from `off` are free (below `limit`, which never
        // passes the end of the lap or the consumer) and ours until published; `off` is a
        // multiple of 8 below `cap`.
        unsafe {
            raw.clear_record_end(off, len);
            raw.payload_mut(off, len).copy_from_slice(msg);
            raw.word_at(off).store(RECORD_COMMIT | len as u32, Ordering::Relaxed);
        }
        self.tail = self.tail.wrapping_add(size);
        true
    }

    /// Completes the record of `len` bytes at `pos` (payload written): stores its word,
    /// and a pad record at `tail` when it wrapped, and moves `tail` past it. Relaxed:
    /// the consumer reads them only below the producer counter, stored later (release).
    #[inline(always)]
    fn seal(&mut self, raw: RawRing, pos: Pos, len: usize) {
        raw.word((pos & raw.mask()) as usize).store(RECORD_COMMIT | len as u32, Ordering::Relaxed);
        if pos != self.tail {
            let pad = RECORD_COMMIT | RECORD_PAD | pos.wrapping_sub(self.tail) as u32;
            raw.word((self.tail & raw.mask()) as usize).store(pad, Ordering::Relaxed);
            self.tail = pos.wrapping_add(record_len(len) as Pos);
            self.limit = free_limit(raw, self.tail, self.head_cache);
        } else {
            self.tail = pos.wrapping_add(record_len(len) as Pos);
        }
    }
}

/// End of the contiguous space known to be free after `tail`: the end of the lap or
/// `head + cap`, whichever comes first.
#[inline(always)]
fn free_limit(raw: RawRing, tail: Pos, head: Pos) -> Pos {
    let lap_end = (tail | raw.mask()).wrapping_add(1);
    let full_at = head.wrapping_add(raw.cap as Pos);
    // Both lie within `cap` after `tail`; compare their distances, not the wrapping values.
    if lap_end.wrapping_sub(tail) <= full_at.wrapping_sub(tail) {
        lap_end
    } else {
        full_at
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
            .field("tail", &self.cur.tail)
            .field("published", &self.cur.published)
            .field("head_cache", &self.cur.head_cache)
            .finish()
    }
}

/// Space for one message in a [`Ring`], lent by [`Producer::claim`]. Derefs to the
/// payload bytes; [`commit`](Self::commit) publishes them, dropping publishes nothing.
#[must_use = "a claim publishes nothing until commit()"]
pub struct Claim<'p, 'a> {
    producer: &'p mut Producer<'a>,
    /// Position of the record (the next lap's start when the claim wrapped).
    pos: Pos,
    len: usize,
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

    /// Data offset of the record.
    #[inline(always)]
    fn off(&self) -> usize {
        (self.pos & self.producer.raw.mask()) as usize
    }

    /// Completes the record as a `len`-byte message, unpublished.
    #[inline(always)]
    fn write(self, len: usize) -> &'p mut Producer<'a> {
        let len = len.min(self.len);
        let off = self.off();
        let p = self.producer;
        if len < self.len {
            // SAFETY: `claim` found `record_len(self.len)` free bytes at `off`, and `len <
            // self.len`; the claimed space is ours until it is published.
            unsafe { p.raw.clear_padding(off, len) };
        }
        p.cur.seal(p.raw, self.pos, len);
        p
    }
}

impl Deref for Claim<'_, '_> {
    type Target = [u8];

    #[inline(always)]
    fn deref(&self) -> &[u8] {
        // SAFETY: `claim` found the record's bytes free (`off + record_len(len) <= cap`);
        // the consumer does not read free space and the claim borrows the only producer,
        // so these bytes are ours until commit.
        unsafe { self.producer.raw.payload(self.off(), self.len) }
    }
}

impl DerefMut for Claim<'_, '_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes this the only live view.
        unsafe { self.producer.raw.payload_mut(self.off(), self.len) }
    }
}

impl fmt::Debug for Claim<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim").field("len", &self.len).finish()
    }
}

/// A burst of messages for a [`Ring`], from [`Producer::batch`]: [`push`](Self::push)
/// copies messages in, and they are published together when the batch ends
/// ([`publish`](Self::publish) or drop).
///
/// A batch keeps the producer's state in locals, so each message costs one bounds check,
/// its copy and its record word, and nothing else; the consumer counter is read only
/// when the known free space runs out.
///
/// ```
/// use kaos_core::ring::{CacheLine, Ring};
///
/// let mut lines = [CacheLine::ZERO; CacheLine::lines_for(1024)];
/// let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
/// let mut batch = tx.batch();
/// for word in [&b"one"[..], b"two", b"three"] {
///     batch.push(word).unwrap();
/// }
/// assert_eq!(rx.read_batch(usize::MAX, |_| ()), Ok(0)); // not published yet
/// batch.publish();
/// assert_eq!(rx.read_batch(usize::MAX, |_| ()), Ok(3));
/// ```
pub struct Batch<'p, 'a> {
    producer: &'p mut Producer<'a>,
    raw: RawRing,
    cur: Cursor,
}

impl Batch<'_, '_> {
    /// Copies `msg` into the ring as the batch's next message.
    ///
    /// Errors as [`Producer::claim`]; on error nothing was written. On
    /// [`RingError::Full`] the messages pushed so far are published, so the consumer can
    /// make room, and the batch may go on once it has.
    #[inline]
    pub fn push(&mut self, msg: &[u8]) -> Result<(), RingError> {
        if self.cur.write_fast(self.raw, msg) {
            return Ok(());
        }
        let len = msg.len();
        let pos = if self.cur.fits(self.raw, len) {
            self.cur.tail
        } else {
            let (pos, cur) = make_room(self.raw, self.cur, len);
            self.cur = cur;
            pos?
        };
        // SAFETY: `fits` or `make_room` found `record_len(len)` free bytes at `pos` before
        // the end of the area, `pos` a multiple of 8; free space is ours until the batch
        // publishes it.
        unsafe {
            self.raw.clear_record_end((pos & self.raw.mask()) as usize, len);
            self.raw.payload_mut((pos & self.raw.mask()) as usize, len).copy_from_slice(msg);
        }
        self.cur.seal(self.raw, pos, len);
        Ok(())
    }

    /// Publishes the batch's messages (as dropping it does).
    #[inline]
    pub fn publish(self) {}
}

impl Drop for Batch<'_, '_> {
    #[inline]
    fn drop(&mut self) {
        self.producer.cur = self.cur;
        self.producer.publish();
    }
}

impl fmt::Debug for Batch<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch").field("tail", &self.cur.tail).field("published", &self.cur.published).finish()
    }
}
