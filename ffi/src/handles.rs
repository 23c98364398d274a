//! Handles for objects the library owns: a 64-bit number (slot index and generation)
//! rather than a pointer, so a handle that was closed, never issued or made up is
//! refused with an error instead of touching freed memory.
//!
//! A call takes its slot with one compare-and-swap (`BUSY`) and gives it back with one
//! store; a second thread calling with the same handle meanwhile gets `KAOS_ERR_BUSY`,
//! never a data race.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::status::{Error, KaosStatus};

const CHUNK: usize = 256;
const CHUNKS: usize = 256;
/// Most objects alive at once.
pub(crate) const CAPACITY: usize = CHUNK * CHUNKS;

const LIVE: u64 = 1;
const BUSY: u64 = 2;
/// A call panicked while holding the slot: the object may be half-updated.
const POISONED: u64 = 4;
const FLAGS: u64 = 3;

/// `state` is `generation << 3 | flags`; the handle carries the generation it was issued
/// with, so a slot reused for a new object refuses the old handle.
struct Slot<T> {
    state: AtomicU64,
    value: UnsafeCell<Option<T>>,
}

/// A table of objects of type `T` addressed by handles.
pub(crate) struct Registry<T> {
    chunks: [OnceLock<Box<[Slot<T>]>>; CHUNKS],
    next: AtomicU32,
    free: Mutex<Vec<u32>>,
}

// SAFETY: a slot's value is touched only by the thread that moved its state to BUSY (or
// by `insert` before it is LIVE, and `remove` after it left LIVE), so sharing the table
// between threads shares no `T` between them; `T: Send` lets it move between threads.
unsafe impl<T: Send> Sync for Registry<T> {}

impl<T> Registry<T> {
    pub(crate) const fn new() -> Self {
        Registry { chunks: [const { OnceLock::new() }; CHUNKS], next: AtomicU32::new(0), free: Mutex::new(Vec::new()) }
    }

    fn slot(&self, index: usize) -> Option<&Slot<T>> {
        self.chunks.get(index / CHUNK)?.get().map(|chunk| &chunk[index % CHUNK])
    }

    /// Stores `value` and returns its handle (never 0).
    pub(crate) fn insert(&self, value: T) -> Result<u64, Error> {
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let index = match reused {
            Some(i) => i as usize,
            None => {
                let i = self.next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= CAPACITY {
                    self.next.store(CAPACITY as u32, Ordering::Relaxed);
                    return Err(Error::new(KaosStatus::KaosErrInvalidArgument, "too many open handles (65536)"));
                }
                i
            }
        };
        let chunk = self.chunks[index / CHUNK].get_or_init(|| {
            (0..CHUNK).map(|_| Slot { state: AtomicU64::new(0), value: UnsafeCell::new(None) }).collect()
        });
        let slot = &chunk[index % CHUNK];
        let old = slot.state.load(Ordering::Acquire);
        let generation = ((old >> 3) + 1) & u64::from(u32::MAX);
        let generation = generation.max(1);
        // SAFETY: the slot is not LIVE (fresh, or freed by `remove`, which handed the index
        // to the free list only after taking the value out), and this thread popped its
        // index, so nobody else reads or writes the value.
        unsafe { *slot.value.get() = Some(value) };
        slot.state.store(generation << 3 | LIVE, Ordering::Release);
        Ok(generation << 32 | (index as u64 + 1))
    }

    /// The slot `handle` names, if it is in range; and its expected live state.
    fn find(&self, handle: u64) -> Result<(&Slot<T>, u64), Error> {
        let index = (handle & u64::from(u32::MAX)).wrapping_sub(1) as usize;
        let generation = handle >> 32;
        match self.slot(index) {
            Some(slot) if generation != 0 => Ok((slot, generation << 3 | LIVE)),
            _ => Err(invalid_handle()),
        }
    }

    /// Takes the object for one call.
    pub(crate) fn get(&self, handle: u64) -> Result<Held<'_, T>, Error> {
        let (slot, live) = self.find(handle)?;
        match slot.state.compare_exchange(live, live | BUSY, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => Ok(Held { slot, live }),
            Err(now) => Err(refusal(now, live)),
        }
    }

    /// Takes the object out for good; the handle is invalid from now on.
    pub(crate) fn remove(&self, handle: u64) -> Result<T, Error> {
        let (slot, live) = self.find(handle)?;
        let mut expected = live;
        loop {
            match slot.state.compare_exchange(expected, live | BUSY, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => break,
                // A poisoned object may still be closed.
                Err(now) if now == live | POISONED => expected = now,
                Err(now) => return Err(refusal(now, live)),
            }
        }
        // SAFETY: the state is BUSY and ours (the CAS above), so nobody else touches it.
        let value = unsafe { (*slot.value.get()).take() };
        slot.state.store(live & !FLAGS, Ordering::Release);
        let index = (handle & u64::from(u32::MAX)) as u32 - 1;
        self.free.lock().unwrap_or_else(|e| e.into_inner()).push(index);
        value.ok_or_else(invalid_handle)
    }
}

fn invalid_handle() -> Error {
    Error::new(KaosStatus::KaosErrInvalidHandle, "invalid handle (never issued, or closed)")
}

fn refusal(now: u64, live: u64) -> Error {
    if now == live | BUSY {
        Error::new(KaosStatus::KaosErrBusy, "the handle is in use by another thread")
    } else if now == live | POISONED {
        Error::new(KaosStatus::KaosErrPanic, "an earlier call on this handle failed inside the library; close it")
    } else {
        invalid_handle()
    }
}

/// An object taken for one call; given back (or poisoned, if the call panicked) on drop.
pub(crate) struct Held<'r, T> {
    slot: &'r Slot<T>,
    live: u64,
}

impl<T> Deref for Held<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: BUSY is ours while `self` lives; `insert` stored a value before LIVE.
        unsafe { (*self.slot.value.get()).as_ref().expect("a live slot holds a value") }
    }
}

impl<T> DerefMut for Held<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only view.
        unsafe { (*self.slot.value.get()).as_mut().expect("a live slot holds a value") }
    }
}

impl<T> Drop for Held<'_, T> {
    fn drop(&mut self) {
        let state = if std::thread::panicking() { self.live | POISONED } else { self.live };
        self.slot.state.store(state, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_refuse_after_remove_and_reuse() {
        let reg: Registry<String> = Registry::new();
        let a = reg.insert("a".into()).unwrap();
        assert_eq!(&*reg.get(a).unwrap(), "a");
        assert_eq!(reg.remove(a).unwrap(), "a");
        assert_eq!(reg.get(a).err().unwrap().status, KaosStatus::KaosErrInvalidHandle);
        // The slot is reused with a new generation: the old handle stays invalid.
        let b = reg.insert("b".into()).unwrap();
        assert_eq!(b & 0xffff_ffff, a & 0xffff_ffff);
        assert_ne!(a, b);
        assert_eq!(reg.get(a).err().unwrap().status, KaosStatus::KaosErrInvalidHandle);
        assert_eq!(&*reg.get(b).unwrap(), "b");
        for bogus in [0, u64::MAX, 1 << 32, b + 1, b ^ (1 << 40)] {
            assert_eq!(reg.get(bogus).err().unwrap().status, KaosStatus::KaosErrInvalidHandle, "{bogus:#x}");
        }
    }

    #[test]
    fn a_held_handle_is_busy_and_a_panic_poisons_it() {
        let reg: Registry<u32> = Registry::new();
        let h = reg.insert(7).unwrap();
        {
            let held = reg.get(h).unwrap();
            assert_eq!(reg.get(h).err().unwrap().status, KaosStatus::KaosErrBusy);
            assert_eq!(reg.remove(h).err().unwrap().status, KaosStatus::KaosErrBusy);
            drop(held);
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = reg.get(h).unwrap();
            panic!("inside a call");
        }));
        assert!(r.is_err());
        assert_eq!(reg.get(h).err().unwrap().status, KaosStatus::KaosErrPanic);
        assert_eq!(reg.remove(h).unwrap(), 7);
    }
}
