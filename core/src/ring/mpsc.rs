//! The multi-producer ring and its producers.

use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::Ordering;

use super::{
    debug_counters, record_len, Consumer, Pos, RawRing, RingError, COUNTER_BITS, KIND_MPSC, RECORD_ALIGN,
    RECORD_COMMIT, RECORD_PAD,
};

/// A multi-producer, single-consumer message ring over a region (see the [module
/// docs](super) for the layout and protocol). Create with [`init`](Self::init) or join
/// with [`attach`](Self::attach), then [`split`](Self::split); clone the
/// [`MpscProducer`] once per producing thread.
///
/// ```
/// use kaos_core::ring::{CacheLine, MpscRing};
///
/// let mut lines = vec![CacheLine::ZERO; CacheLine::lines_for(4096)];
/// let (tx, mut rx) = MpscRing::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
/// std::thread::scope(|s| {
///     for id in 0..3u8 {
///         let mut tx = tx.clone();
///         s.spawn(move || while tx.push(&[id; 10]).is_err() {});
///     }
/// });
/// let mut seen = 0;
/// rx.read_batch(usize::MAX, |m| { assert_eq!(m.len(), 10); seen += 1 }).unwrap();
/// assert_eq!(seen, 3);
/// ```
pub struct MpscRing<'a> {
    raw: RawRing,
    _region: PhantomData<&'a mut [u8]>,
}

// SAFETY: an MpscRing only holds the location of the region it borrows; the handles it
// splits into are themselves Send.
unsafe impl Send for MpscRing<'_> {}

impl<'a> MpscRing<'a> {
    /// Formats `region` as an empty MPSC ring: the data area is the largest power of two
    /// that fits after the header (capped at [`MAX_CAPACITY`](super::MAX_CAPACITY)).
    /// The region must be 64-byte aligned (see [`CacheLine`](super::CacheLine)).
    pub fn init(region: &'a mut [u8]) -> Result<Self, RingError> {
        // SAFETY: an exclusive borrow for 'a: valid, initialized, unaliased.
        unsafe { Self::init_raw(region.as_mut_ptr(), region.len()) }
    }

    /// Joins the MPSC ring already in `region`, validating its header.
    pub fn attach(region: &'a mut [u8]) -> Result<Self, RingError> {
        // SAFETY: an exclusive borrow for 'a: valid, initialized, unaliased.
        unsafe { Self::from_raw(region.as_mut_ptr(), region.len()) }
    }

    /// [`init`](Self::init) over raw memory, such as a fresh shared mapping.
    ///
    /// # Safety
    /// - `ptr` is valid for reads and writes of `len` initialized bytes for all of `'a`,
    ///   and stays mapped while any handle lives.
    /// - During this call nothing else accesses those bytes.
    /// - Afterwards they are accessed only through ring handles, in this process or
    ///   others: no Rust reference to them exists outside the handles.
    pub unsafe fn init_raw(ptr: *mut u8, len: usize) -> Result<Self, RingError> {
        // SAFETY: forwarded from the caller.
        let raw = unsafe { RawRing::init(ptr, len, KIND_MPSC, 0)? };
        Ok(MpscRing { raw, _region: PhantomData })
    }

    /// [`attach`](Self::attach) over raw memory, such as a mapping another process
    /// initialized.
    ///
    /// # Safety
    /// - `ptr` is valid for reads and writes of `len` initialized bytes for all of `'a`,
    ///   and stays mapped while any handle lives.
    /// - Those bytes are accessed only through ring handles, in this process or others:
    ///   no Rust reference to them exists outside the handles.
    /// - Across all processes, at most one [`Consumer`] of this ring is in use at a time
    ///   (producers may be many).
    pub unsafe fn from_raw(ptr: *mut u8, len: usize) -> Result<Self, RingError> {
        // SAFETY: forwarded from the caller.
        let raw = unsafe { RawRing::attach(ptr, len, KIND_MPSC)? };
        Ok(MpscRing { raw, _region: PhantomData })
    }

    /// Bytes in the data area (a power of two).
    pub fn capacity(&self) -> usize {
        self.raw.cap
    }

    /// Longest message the ring accepts: [`max_payload`](super::max_payload)`(capacity)`.
    pub fn max_payload(&self) -> usize {
        self.raw.max_payload()
    }

    /// A producer handle (clone it for more) and the consumer.
    pub fn split(self) -> (MpscProducer<'a>, Consumer<'a>) {
        let head_cache = self.raw.head().load(Ordering::Acquire);
        let tail_guess = self.raw.tail().load(Ordering::Acquire);
        (MpscProducer { raw: self.raw, head_cache, tail_guess, _region: PhantomData }, Consumer::new(self.raw, true))
    }

    #[cfg(test)]
    pub(super) fn init_at(region: &'a mut [u8], start: Pos) -> Result<Self, RingError> {
        // SAFETY: an exclusive borrow for 'a: valid, initialized, unaliased.
        let raw = unsafe { RawRing::init(region.as_mut_ptr(), region.len(), KIND_MPSC, start)? };
        Ok(MpscRing { raw, _region: PhantomData })
    }
}

impl fmt::Debug for MpscRing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_counters(&self.raw, "MpscRing", f)
    }
}

/// A writing end of an [`MpscRing`]. Clone one per thread: each clone keeps its own copy
/// of the consumer counter, and reservations are a compare-and-swap on the shared
/// producer counter.
#[derive(Clone)]
pub struct MpscProducer<'a> {
    raw: RawRing,
    /// The consumer counter as last loaded by this handle.
    head_cache: Pos,
    /// The producer counter as this handle last saw or set it.
    tail_guess: Pos,
    _region: PhantomData<&'a mut [u8]>,
}

// SAFETY: producers touch shared memory only through atomics (the producer counter is
// advanced by compare-and-swap) and the space each reservation gives them exclusively.
unsafe impl Send for MpscProducer<'_> {}
// SAFETY: every method that touches the ring takes `&mut self`; through `&MpscProducer`
// one can only read the capacity or clone the handle.
unsafe impl Sync for MpscProducer<'_> {}

impl<'a> MpscProducer<'a> {
    /// Bytes in the data area.
    pub fn capacity(&self) -> usize {
        self.raw.cap
    }

    /// Longest message the ring accepts.
    pub fn max_payload(&self) -> usize {
        self.raw.max_payload()
    }

    /// Reserves space for a `len`-byte message and lends it out (its bytes are stale
    /// data). The consumer waits at this record until [`MpscClaim::commit`]; dropping the
    /// claim turns it into padding the consumer skips. Keep claims short-lived: the
    /// consumer cannot pass an uncommitted one.
    ///
    /// Errors: [`RingError::TooLarge`] past [`max_payload`](Self::max_payload),
    /// [`RingError::Full`] while the consumer has not freed enough space,
    /// [`RingError::Corrupt`] if the shared counters are impossible.
    #[inline]
    pub fn claim(&mut self, len: usize) -> Result<MpscClaim<'a>, RingError> {
        let cap = self.raw.cap;
        if len > self.raw.max_payload() {
            return Err(RingError::TooLarge);
        }
        let size = record_len(len);
        let mut tail = if COUNTER_BITS == 64 {
            // Start from where our last reservation ended instead of loading the counter:
            // a load would pull the line in shared state just before the compare-and-swap
            // needs it exclusive. If others moved it since, the failed exchange returns
            // the current value.
            self.tail_guess
        } else {
            // 32-bit counters wrap every 4 GiB: a handle idle for that long could hold a
            // guess or a cached head that compare equal to current values (ABA), so
            // load both fresh, head first.
            self.head_cache = self.raw.head().load(Ordering::Acquire);
            self.raw.tail().load(Ordering::Acquire)
        };
        loop {
            if tail % RECORD_ALIGN as Pos != 0 {
                return Err(RingError::Corrupt);
            }
            let off = (tail & self.raw.mask()) as usize;
            let to_end = cap - off;
            let (start, pad) = if size <= to_end { (off, 0) } else { (0, to_end) };
            let need = pad + size;
            let used = tail.wrapping_sub(self.head_cache);
            if used > cap as Pos || cap - (used as usize) < need {
                self.head_cache = self.raw.head().load(Ordering::Acquire);
                let used = tail.wrapping_sub(self.head_cache);
                if used > cap as Pos {
                    // The head was loaded after `tail`, so either the consumer overtook
                    // our (stale) tail, or the counters are corrupt: if `tail` has not
                    // moved, `head` cannot be ahead of it nor a capacity behind (the
                    // producer that stored `tail` saw a head at most that far behind,
                    // and released it to us).
                    let fresh = self.raw.tail().load(Ordering::Acquire);
                    if fresh == tail {
                        return Err(RingError::Corrupt);
                    }
                    tail = fresh;
                    continue;
                }
                if cap - (used as usize) < need {
                    return Err(RingError::Full);
                }
            }
            match self.raw.tail().compare_exchange_weak(
                tail,
                tail.wrapping_add(need as Pos),
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.tail_guess = tail.wrapping_add(need as Pos);
                    if pad != 0 {
                        self.raw.word(off).store(RECORD_COMMIT | RECORD_PAD | pad as u32, Ordering::Release);
                    }
                    // The space is already zero: the consumer zeroes what it frees.
                    return Ok(MpscClaim { raw: self.raw, start, len, _region: PhantomData });
                }
                Err(now) => tail = now,
            }
        }
    }

    /// Copies `msg` into the ring and publishes it.
    ///
    /// Errors as [`claim`](Self::claim); on error nothing was reserved.
    #[inline]
    pub fn push(&mut self, msg: &[u8]) -> Result<(), RingError> {
        let mut claim = self.claim(msg.len())?;
        claim.copy_from_slice(msg);
        claim.commit();
        Ok(())
    }
}

impl fmt::Debug for MpscProducer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpscProducer")
            .field("capacity", &self.raw.cap)
            .field("head_cache", &self.head_cache)
            .field("tail_guess", &self.tail_guess)
            .finish()
    }
}

/// Space for one message in an [`MpscRing`], reserved by [`MpscProducer::claim`]. Derefs
/// to the payload bytes; [`commit`](Self::commit) publishes them; dropping it publishes a
/// pad record instead, which the consumer skips.
#[must_use = "the consumer waits at this record until it is committed or dropped"]
pub struct MpscClaim<'a> {
    raw: RawRing,
    /// Data offset of the record.
    start: usize,
    len: usize,
    _region: PhantomData<&'a mut [u8]>,
}

// SAFETY: a claim is exclusive ownership of reserved bytes plus an atomic record word;
// committing from another thread is as valid as from this one.
unsafe impl Send for MpscClaim<'_> {}

impl MpscClaim<'_> {
    /// Publishes the message.
    #[inline]
    pub fn commit(self) {
        let len = self.len;
        self.commit_len(len);
    }

    /// Publishes only the first `len` bytes of the claimed space; the rest becomes
    /// padding. `len` is clamped to the claimed length.
    #[inline]
    pub fn commit_len(self, len: usize) {
        let this = ManuallyDrop::new(self);
        let len = len.min(this.len);
        let (size, used) = (record_len(this.len), record_len(len));
        if len < this.len {
            // SAFETY: the reservation covers `start..start + size` inside the data area
            // and `used <= size`; it is ours until the record word is committed below.
            unsafe { this.raw.clear_padding(this.start, len) };
        }
        if used < size {
            // The pad must be readable before the record that leads the consumer to it.
            this.raw
                .word(this.start + used)
                .store(RECORD_COMMIT | RECORD_PAD | (size - used) as u32, Ordering::Release);
        }
        this.raw.word(this.start).store(RECORD_COMMIT | len as u32, Ordering::Release);
    }
}

impl Drop for MpscClaim<'_> {
    fn drop(&mut self) {
        let size = record_len(self.len) as u32;
        self.raw.word(self.start).store(RECORD_COMMIT | RECORD_PAD | size, Ordering::Release);
    }
}

impl Deref for MpscClaim<'_> {
    type Target = [u8];

    #[inline(always)]
    fn deref(&self) -> &[u8] {
        // SAFETY: the compare-and-swap reserved `start..start + record_len(len)` (inside
        // the data area) for this claim alone; the consumer does not read the payload
        // before the record word is committed, which consumes the claim.
        unsafe { self.raw.payload(self.start, self.len) }
    }
}

impl DerefMut for MpscClaim<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes this the only live view.
        unsafe { self.raw.payload_mut(self.start, self.len) }
    }
}

impl fmt::Debug for MpscClaim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpscClaim").field("len", &self.len).finish()
    }
}
