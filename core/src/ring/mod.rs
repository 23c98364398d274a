//! Variable-length message rings over caller memory: single-producer ([`Ring`]) and
//! multi-producer ([`MpscRing`]), one consumer each.
//!
//! A ring lives entirely inside a byte region the caller provides: a `&mut [u8]` in
//! process memory, or (through the `unsafe` raw constructors) an mmap shared between
//! processes. The region holds no pointers, only offsets and counters, so every process
//! can map it at a different address.
//!
//! ## Guarantees
//! - Messages are byte strings of any length up to [`Ring::max_payload`] (half the
//!   data area, minus the record header), delivered whole and in order. Every payload is
//!   contiguous: consumers get a `&[u8]` into the ring, producers a `&mut [u8]` to write
//!   in place ([`Producer::claim`]); nothing is copied unless the caller copies.
//! - No allocation, no locks, no system calls. Producers and the consumer each keep a
//!   private copy of the other side's counter and read the shared one only when that copy
//!   says the ring is full (producer) or empty (consumer), so the two sides do not bounce
//!   each other's cache lines on every message. [`Consumer::read_batch`] hands out every
//!   available record and publishes its progress with a single store;
//!   [`Producer::stage`] and [`Producer::publish`] do the same for a burst of writes.
//! - The consumer treats the region as untrusted: whatever another process writes into
//!   it, reads return [`RingError::Corrupt`] and never panic, never touch memory outside
//!   the region and never loop without bound. After the first `Corrupt` the consumer is
//!   poisoned and keeps returning it (fail closed).
//!
//! ## Layout
//!
//! The region must start on a [`REGION_ALIGN`] (64-byte) boundary (a page-aligned mmap,
//! or a slice of [`CacheLine`]s). All integers are native-endian; all offsets are from
//! the start of the region.
//!
//! ```text
//! offset  size  field
//!      0     4  magic           MAGIC ("KRNG"), stored last by init (release)
//!      4     4  version         VERSION
//!      8     4  kind            1 = SPSC, 2 = MPSC
//!     12     4  counter_bits    COUNTER_BITS: 64 where the target has 64-bit atomics, else 32
//!     16     4  capacity        data area bytes, a power of two in MIN_CAPACITY..=MAX_CAPACITY
//!     20     4  data_offset     HEADER_LEN
//!     24    40  (zero)
//!     64     8  tail            TAIL_OFFSET: producer position (u64, or u32 + 4 zero bytes)
//!     72    56  (zero)          the rest of tail's cache line
//!    128     8  head            HEAD_OFFSET: consumer position (same width as tail)
//!    136    56  (zero)
//!    192     -  data area       capacity bytes
//! ```
//!
//! `tail` and `head` are free-running byte positions that wrap at the counter width;
//! a position's offset in the data area is `position & (capacity - 1)`. Used bytes are
//! `tail - head` (wrapping), never more than `capacity`. Both are multiples of 8.
//!
//! The data area is a sequence of records, each starting on an 8-byte boundary:
//!
//! ```text
//! [word: u32][reserved: u32][payload: len bytes][zero to 7 bytes to the next multiple of 8]
//! word = RECORD_COMMIT | len                  a message of len bytes
//! word = RECORD_COMMIT | RECORD_PAD | n       n bytes (a multiple of 8, header included) to skip
//! ```
//!
//! A record never crosses the end of the data area: when one does not fit before the end,
//! the producer writes a pad record covering the rest of the area and puts the message at
//! offset 0. Payloads are therefore 8-byte aligned and contiguous. Readers ignore the
//! reserved field (SPSC producers leave whatever it held; MPSC rings have it zeroed).
//!
//! ## Protocols
//!
//! SPSC ([`Ring`]): the producer writes the record, then stores `tail` (release); the
//! consumer loads `tail` (acquire), reads the records below it, then stores `head`
//! (release); the producer loads `head` (acquire) before reusing space.
//!
//! MPSC ([`MpscRing`]): producers reserve space with a compare-and-swap on `tail`, write
//! the payload, then store the record word with [`RECORD_COMMIT`] set (release). The
//! consumer stops at the first record whose word is still zero, so it never sees a
//! half-written message, and zeroes every byte it consumes before storing `head`, so a
//! stale word from an earlier lap is never taken for a committed record. A claim dropped
//! without commit becomes a pad record. A producer that dies between reservation and
//! commit (a crashed process) stalls the consumer at its record.
//!
//! Where the target has no 64-bit atomics (thumbv7em) counters are 32 bits wide and wrap
//! every 4 GiB. Wrapping arithmetic keeps SPSC exact (no difference ever exceeds the
//! capacity). MPSC producers then load both counters before every reservation (with 64-bit
//! counters they work from their own last reservation and cached head); still, a producer
//! suspended between loading `tail` and its compare-and-swap while exactly a multiple of
//! 4 GiB passes through the ring could succeed with a stale reservation (ABA). 64-bit
//! counters make that impossible in practice.

#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

use core::fmt;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU32, Ordering};

mod consumer;
mod mpsc;
mod spsc;
#[cfg(test)]
mod tests;

pub use consumer::{Consumer, Record};
pub use mpsc::{MpscClaim, MpscProducer, MpscRing};
pub use spsc::{Batch, Claim, Producer, Ring};

/// A ring position: free-running, wrapping at its width.
#[cfg(target_has_atomic = "64")]
type Pos = u64;
#[cfg(target_has_atomic = "64")]
type AtomicPos = core::sync::atomic::AtomicU64;
/// A ring position: free-running, wrapping at its width.
#[cfg(not(target_has_atomic = "64"))]
type Pos = u32;
#[cfg(not(target_has_atomic = "64"))]
type AtomicPos = AtomicU32;

/// First word of every ring header: `"KRNG"` little-endian.
pub const MAGIC: u32 = u32::from_le_bytes(*b"KRNG");
/// Layout version; [`Ring::attach`] refuses any other.
pub const VERSION: u32 = 2;
/// Width of the `tail` and `head` counters on this target (64, or 32 without 64-bit
/// atomics). Rings are shared only between processes of the same width.
pub const COUNTER_BITS: u32 = Pos::BITS;
/// Bytes before the data area.
pub const HEADER_LEN: usize = 192;
/// Offset of the producer counter `tail` in the region.
pub const TAIL_OFFSET: usize = 64;
/// Offset of the consumer counter `head` in the region.
pub const HEAD_OFFSET: usize = 128;
/// Required alignment of the region's first byte.
pub const REGION_ALIGN: usize = 64;
/// Smallest data area.
pub const MIN_CAPACITY: usize = 64;
/// Largest data area (the record word keeps 30 bits of length).
pub const MAX_CAPACITY: usize = 1 << 30;
/// Bytes in front of every payload: the record word and a reserved word, so that
/// payloads start 8-byte aligned.
pub const RECORD_HEADER_LEN: usize = 8;
/// Records start on multiples of this.
pub const RECORD_ALIGN: usize = 8;
/// Record word flag: the record is complete and may be read.
pub const RECORD_COMMIT: u32 = 1 << 31;
/// Record word flag: the record is padding, its length field counts bytes to skip.
pub const RECORD_PAD: u32 = 1 << 30;
/// Record word bits holding the length.
const LEN_MASK: u32 = RECORD_PAD - 1;

const KIND_SPSC: u32 = 1;
const KIND_MPSC: u32 = 2;

/// Region bytes for a ring whose data area is `capacity` bytes.
pub const fn region_len(capacity: usize) -> usize {
    HEADER_LEN + capacity
}

/// Bytes a `payload`-byte message occupies in the data area, header and padding included.
pub const fn record_len(payload: usize) -> usize {
    (RECORD_HEADER_LEN + payload + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// Longest message a ring with a `capacity`-byte data area accepts: its record takes at
/// most half the area, so it always fits once the ring is empty, wherever the counters
/// stand.
pub const fn max_payload(capacity: usize) -> usize {
    capacity / 2 - RECORD_HEADER_LEN
}

/// Why a ring operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// Not enough free space now; retry once the consumer has caught up.
    Full,
    /// The message is longer than the ring's `max_payload` and can never fit.
    TooLarge,
    /// The region is shorter than [`region_len`]`(`[`MIN_CAPACITY`]`)`, or shorter than
    /// the capacity its header declares.
    RegionTooSmall,
    /// The region does not start on a [`REGION_ALIGN`] boundary (or is null).
    Misaligned,
    /// The header is not a ring of this layout: wrong magic, version, counter width,
    /// data offset, kind or capacity.
    BadHeader,
    /// The header describes the other kind of ring (SPSC where MPSC was expected or the
    /// reverse).
    WrongKind,
    /// Counters or records are inconsistent: the shared memory was corrupted.
    Corrupt,
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RingError::Full => "ring full",
            RingError::TooLarge => "message larger than the ring's max payload",
            RingError::RegionTooSmall => "region too small for the ring",
            RingError::Misaligned => "ring region not 64-byte aligned",
            RingError::BadHeader => "not a ring header of this layout version",
            RingError::WrongKind => "ring is of the other kind (SPSC/MPSC)",
            RingError::Corrupt => "ring memory corrupted",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RingError {}

/// A 64-byte aligned block of bytes: `vec![CacheLine::ZERO; n]` or `[CacheLine::ZERO; N]`
/// gives a region with the alignment a ring needs, without `unsafe`.
#[derive(Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
pub struct CacheLine(pub [u8; 64]);

impl CacheLine {
    /// A line of zeroes.
    pub const ZERO: CacheLine = CacheLine([0; 64]);

    /// Lines needed for a ring with a `capacity`-byte data area.
    pub const fn lines_for(capacity: usize) -> usize {
        region_len(capacity).div_ceil(64)
    }

    /// The lines as one byte region, aligned for [`Ring::init`].
    pub fn as_bytes_mut(lines: &mut [CacheLine]) -> &mut [u8] {
        bytemuck::cast_slice_mut(lines)
    }
}

impl fmt::Debug for CacheLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheLine(..)")
    }
}

/// Fixed fields at the start of the header.
#[repr(C, align(64))]
struct Meta {
    magic: AtomicU32,
    version: AtomicU32,
    kind: AtomicU32,
    counter_bits: AtomicU32,
    capacity: AtomicU32,
    data_offset: AtomicU32,
}

/// A value alone in its cache line.
#[repr(C, align(64))]
struct Padded<T>(T);

/// The ring header. Only atomics: another process may write any of it at any time.
#[repr(C)]
struct Header {
    meta: Meta,
    tail: Padded<AtomicPos>,
    head: Padded<AtomicPos>,
}

const _: () = {
    assert!(core::mem::size_of::<Header>() == HEADER_LEN);
    assert!(core::mem::align_of::<Header>() == REGION_ALIGN);
    assert!(core::mem::offset_of!(Header, tail) == TAIL_OFFSET);
    assert!(core::mem::offset_of!(Header, head) == HEAD_OFFSET);
    assert!(core::mem::offset_of!(Meta, capacity) == 16);
    assert!(core::mem::offset_of!(Meta, data_offset) == 20);
    assert!(MAX_CAPACITY <= LEN_MASK as usize + 1);
};

/// A validated region: `base` points to a header and `cap` data bytes follow it.
///
/// Invariant (established by [`RawRing::init`] / [`RawRing::attach`], whose callers
/// promise it for the lifetime of every handle built on it): `base` is 64-byte aligned
/// and valid for reads and writes of `HEADER_LEN + cap` initialized bytes; `cap` is a
/// power of two in `MIN_CAPACITY..=MAX_CAPACITY`; outside this module the memory is
/// accessed only through ring handles (or by other processes, outside Rust's model).
#[derive(Clone, Copy)]
struct RawRing {
    base: NonNull<u8>,
    cap: usize,
}

impl RawRing {
    /// Checks the region's alignment and size; returns the largest capacity that fits.
    fn check_region(base: *mut u8, len: usize) -> Result<(NonNull<u8>, usize), RingError> {
        let base = NonNull::new(base).ok_or(RingError::Misaligned)?;
        if base.as_ptr() as usize % REGION_ALIGN != 0 {
            return Err(RingError::Misaligned);
        }
        if len < region_len(MIN_CAPACITY) {
            return Err(RingError::RegionTooSmall);
        }
        let room = (len - HEADER_LEN).min(MAX_CAPACITY);
        Ok((base, 1 << (usize::BITS - 1 - room.leading_zeros())))
    }

    /// Writes a fresh header of `kind` with both counters at `start` and zeroes the data
    /// area. The capacity is the largest power of two that fits.
    ///
    /// # Safety
    /// `base` must be valid for reads and writes of `len` bytes, and nothing else may
    /// access them during the call.
    unsafe fn init(base: *mut u8, len: usize, kind: u32, start: Pos) -> Result<Self, RingError> {
        let (base, cap) = Self::check_region(base, len)?;
        // SAFETY: check_region made sure `HEADER_LEN + cap <= len`, and the caller promises
        // `len` writable bytes at `base` that nobody else touches now.
        unsafe { ptr::write_bytes(base.as_ptr(), 0, HEADER_LEN + cap) };
        let raw = RawRing { base, cap };
        let start = start & !(RECORD_ALIGN as Pos - 1);
        let h = raw.header();
        h.meta.version.store(VERSION, Ordering::Relaxed);
        h.meta.kind.store(kind, Ordering::Relaxed);
        h.meta.counter_bits.store(COUNTER_BITS, Ordering::Relaxed);
        h.meta.capacity.store(cap as u32, Ordering::Relaxed);
        h.meta.data_offset.store(HEADER_LEN as u32, Ordering::Relaxed);
        h.tail.0.store(start, Ordering::Relaxed);
        h.head.0.store(start, Ordering::Relaxed);
        h.meta.magic.store(MAGIC, Ordering::Release);
        Ok(raw)
    }

    /// Validates an existing header of `kind`.
    ///
    /// # Safety
    /// `base` must be valid for reads and writes of `len` initialized bytes, accessed
    /// by others only through ring handles.
    unsafe fn attach(base: *mut u8, len: usize, kind: u32) -> Result<Self, RingError> {
        let (base, _) = Self::check_region(base, len)?;
        // The capacity is not known yet; `header()` only needs HEADER_LEN bytes, which
        // check_region guaranteed.
        let probe = RawRing { base, cap: MIN_CAPACITY };
        let m = &probe.header().meta;
        if m.magic.load(Ordering::Acquire) != MAGIC
            || m.version.load(Ordering::Relaxed) != VERSION
            || m.counter_bits.load(Ordering::Relaxed) != COUNTER_BITS
            || m.data_offset.load(Ordering::Relaxed) != HEADER_LEN as u32
        {
            return Err(RingError::BadHeader);
        }
        match m.kind.load(Ordering::Relaxed) {
            k if k == kind => {}
            KIND_SPSC | KIND_MPSC => return Err(RingError::WrongKind),
            _ => return Err(RingError::BadHeader),
        }
        let cap = m.capacity.load(Ordering::Relaxed) as usize;
        if !cap.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&cap) {
            return Err(RingError::BadHeader);
        }
        if region_len(cap) > len {
            return Err(RingError::RegionTooSmall);
        }
        let raw = RawRing { base, cap };
        let align = RECORD_ALIGN as Pos - 1;
        let head = raw.head().load(Ordering::Acquire);
        let tail = raw.tail().load(Ordering::Acquire);
        if head & align != 0 || tail & align != 0 {
            return Err(RingError::Corrupt);
        }
        Ok(raw)
    }

    #[inline(always)]
    fn header(&self) -> &Header {
        // SAFETY: by the type invariant `base` is 64-byte aligned (Header's alignment) and
        // valid for HEADER_LEN = size_of::<Header>() bytes; Header holds only atomics, so
        // shared references may coexist with writes from other handles and threads.
        unsafe { self.base.cast::<Header>().as_ref() }
    }

    #[inline(always)]
    fn tail(&self) -> &AtomicPos {
        &self.header().tail.0
    }

    #[inline(always)]
    fn head(&self) -> &AtomicPos {
        &self.header().head.0
    }

    #[inline(always)]
    fn mask(&self) -> Pos {
        (self.cap - 1) as Pos
    }

    #[inline(always)]
    fn max_payload(&self) -> usize {
        max_payload(self.cap)
    }

    #[inline(always)]
    fn data(&self) -> *mut u8 {
        // SAFETY: the region is HEADER_LEN + cap bytes long (type invariant), so the data
        // area's first byte is in bounds.
        unsafe { self.base.as_ptr().add(HEADER_LEN) }
    }

    /// The record word at data offset `off` (masked to an in-bounds multiple of 8).
    #[inline(always)]
    fn word(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off % RECORD_ALIGN == 0 && off < self.cap);
        let off = off & (self.cap - 1) & !(RECORD_ALIGN - 1);
        // SAFETY: `off + 4 <= cap` (off is a multiple of 8 below cap, cap >= 64), the data
        // area starts 192 bytes after a 64-byte aligned base, so the word is 4-byte aligned
        // and in bounds. Record words are only ever accessed atomically while other threads
        // may look at them; the consumer's non-atomic zeroing and the producers' payload
        // writes happen only on bytes the protocol gives them exclusively.
        unsafe { &*self.data().add(off).cast::<AtomicU32>() }
    }

    /// The record word at data offset `off`, without [`word`](Self::word)'s masking.
    ///
    /// # Safety
    /// `off` is a multiple of 8 below `cap`.
    #[inline(always)]
    unsafe fn word_at(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off % RECORD_ALIGN == 0 && off < self.cap);
        // SAFETY: in bounds and 4-byte aligned, as the caller promises (see `word`).
        unsafe { &*self.data().add(off).cast::<AtomicU32>() }
    }

    /// The payload of the record at `off`.
    ///
    /// # Safety
    /// `off + RECORD_HEADER_LEN + len <= cap`, and no one writes these bytes while the
    /// returned slice lives (the record is committed and not yet released).
    #[inline(always)]
    unsafe fn payload(&self, off: usize, len: usize) -> &[u8] {
        // SAFETY: in bounds and unaliased by writers, as the caller promises.
        unsafe { core::slice::from_raw_parts(self.data().add(off + RECORD_HEADER_LEN), len) }
    }

    /// Copies the payload of the record at `off` into `out` (its length is the payload's)
    /// with relaxed atomic loads of whole 8-byte words: a producer writing the record at
    /// the same time (a broken or hostile process) changes what is copied, never the
    /// copy's length, and is no data race.
    ///
    /// # Safety
    /// `off + record_len(out.len()) <= cap` and `off` is a multiple of 8.
    #[inline]
    unsafe fn copy_payload(&self, off: usize, out: &mut [u8]) {
        /// The widest atomic word of the target (records are 8-byte aligned, so either
        /// width tiles them).
        #[cfg(target_has_atomic = "64")]
        type Word = core::sync::atomic::AtomicU64;
        #[cfg(not(target_has_atomic = "64"))]
        type Word = AtomicU32;
        const W: usize = core::mem::size_of::<Word>();
        debug_assert!(off % RECORD_ALIGN == 0 && off + record_len(out.len()) <= self.cap);
        // SAFETY: the payload starts 8 bytes into an 8-byte aligned record inside the data
        // area, and the record (padding included) spans `record_len(len)` bytes, a
        // multiple of 8, so every word read below is aligned and in bounds. Atomic loads
        // may race with writes from other processes.
        let words = unsafe { self.data().add(off + RECORD_HEADER_LEN) }.cast::<Word>();
        let whole = out.len() / W;
        let mut chunks = out.chunks_exact_mut(W);
        for (k, chunk) in (&mut chunks).enumerate() {
            // SAFETY: word `k` lies inside the record (see above).
            let w = unsafe { &*words.add(k) }.load(Ordering::Relaxed);
            chunk.copy_from_slice(&w.to_ne_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            // SAFETY: as above: the record's padding completes its last word.
            let w = unsafe { &*words.add(whole) }.load(Ordering::Relaxed).to_ne_bytes();
            rest.copy_from_slice(&w[..rest.len()]);
        }
    }

    /// The payload space of a claimed record at `off`.
    ///
    /// # Safety
    /// `off + RECORD_HEADER_LEN + len <= cap`, and the caller holds the only access to
    /// these bytes (claimed free space) while the returned slice lives.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn payload_mut(&self, off: usize, len: usize) -> &mut [u8] {
        // SAFETY: in bounds and exclusively owned, as the caller promises.
        unsafe { core::slice::from_raw_parts_mut(self.data().add(off + RECORD_HEADER_LEN), len) }
    }

    /// Zeroes the last 8 bytes of a fresh record at `off` for a `len`-byte payload that
    /// does not end on a multiple of 8. Called before the payload is written, so the
    /// record's padding ends up defined and, with the payload, every stale word from an
    /// earlier lap inside the record is overwritten whole (Miri's weak-memory emulation
    /// cannot model a stale atomic word that is only partly overwritten). A payload whose
    /// length is a multiple of 8 covers the record by itself, so it costs no store.
    ///
    /// # Safety
    /// `off` is a multiple of 8, `off + record_len(len) <= cap`, and the caller holds the
    /// only access to the record's bytes after its header.
    #[inline(always)]
    unsafe fn clear_record_end(&self, off: usize, len: usize) {
        let size = record_len(len);
        debug_assert!(off % RECORD_ALIGN == 0 && off + size <= self.cap);
        if len % RECORD_ALIGN != 0 {
            // SAFETY: the data area is 64-byte aligned and `off + size` is a multiple of 8,
            // so the store is aligned; `size >= 16` here, so it lies after the header,
            // inside the record the caller owns.
            unsafe { self.data().add(off + size - 8).cast::<u64>().write(0) };
        }
    }

    /// Zeroes the padding after a `len`-byte payload in the record at `off` (for a record
    /// committed shorter than claimed).
    ///
    /// # Safety
    /// `off + record_len(len) <= cap`, and the caller holds the only access to the record
    /// after its word.
    #[inline]
    unsafe fn clear_padding(&self, off: usize, len: usize) {
        let end = off + RECORD_HEADER_LEN + len;
        // SAFETY: `end..off + record_len(len)` lies inside the record, which the caller
        // owns and which is inside the data area.
        unsafe { ptr::write_bytes(self.data().add(end), 0, off + record_len(len) - end) };
    }

    /// Hints the CPU to fetch the cache line holding data position `pos`. No memory
    /// access in Rust's model: a prefetch reads nothing and cannot fault.
    #[inline(always)]
    fn prefetch(&self, pos: Pos) {
        #[cfg(target_arch = "x86_64")]
        {
            let off = (pos & self.mask()) as usize;
            // SAFETY: `off < cap`, so the address is inside the data area; `_mm_prefetch`
            // only hints the cache and has no effect on memory.
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                    self.data().add(off).cast::<i8>(),
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = pos;
    }

    /// Zeroes `len` data bytes from position `from`, wrapping at the end of the area.
    ///
    /// # Safety
    /// `len <= cap`, and the caller holds the only access to these bytes.
    unsafe fn zero(&self, from: Pos, len: usize) {
        debug_assert!(len <= self.cap);
        let len = len.min(self.cap);
        let off = (from & self.mask()) as usize;
        let first = len.min(self.cap - off);
        // SAFETY: `off + first <= cap` and `len - first <= cap`: both spans are inside the
        // data area; exclusivity is the caller's promise.
        unsafe {
            ptr::write_bytes(self.data().add(off), 0, first);
            ptr::write_bytes(self.data(), 0, len - first);
        }
    }
}

/// Debug output shared by the handles: capacity and the shared counters.
fn debug_counters(raw: &RawRing, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.debug_struct(name)
        .field("capacity", &raw.cap)
        .field("tail", &raw.tail().load(Ordering::Relaxed))
        .field("head", &raw.head().load(Ordering::Relaxed))
        .finish()
}
