//! The core connection over memory the caller provides: the engine owns the socket and
//! the clock, feeds datagrams and time in, and sends what comes out.
//!
//! The memory holds a small header (a state word and the connection's bookkeeping) and
//! the connection's storage. The state word tells a live connection from anything else,
//! so a destroyed connection or a pointer to other memory is refused, and it is taken
//! for each call, so two threads calling on one connection at once get `KAOS_ERR_BUSY`.

use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicU64, Ordering};

use kaos_core::conn::{Connection, Event};
use kaos_core::time::Instant;

use crate::config::{
    parse_addr, KaosConfig, KaosDisconnect, KAOS_EVENT_CONNECTED, KAOS_EVENT_DISCONNECTED, KAOS_EVENT_MESSAGE,
    KAOS_EVENT_NONE,
};
use crate::status::{Error, KaosStatus};

const IDLE: u64 = u64::from_le_bytes(*b"KAOSconn");
const BUSY: u64 = u64::from_le_bytes(*b"KAOSbusy");
const POISONED: u64 = u64::from_le_bytes(*b"KAOSpois");
const DESTROYED: u64 = u64::from_le_bytes(*b"KAOSdead");

/// A connection living in caller memory (opaque).
pub struct KaosConn {
    state: AtomicU64,
    conn: Connection<&'static mut [u64]>,
    max_datagram: usize,
}

impl std::fmt::Debug for KaosConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KaosConn").field("max_datagram", &self.max_datagram).finish_non_exhaustive()
    }
}

/// What `kaos_conn_poll_event` found.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KaosEvent {
    /// `KAOS_EVENT_NONE`, `KAOS_EVENT_CONNECTED`, `KAOS_EVENT_MESSAGE` or
    /// `KAOS_EVENT_DISCONNECTED`.
    pub kind: u32,
    /// The message's channel.
    pub channel: u8,
    /// The message's bytes, inside the connection's memory: valid until the next call on
    /// this connection.
    pub data: *const u8,
    /// The message's length.
    pub len: usize,
    /// Why the connection ended (`KAOS_EVENT_DISCONNECTED`).
    pub disconnect: KaosDisconnect,
}

impl KaosEvent {
    pub(crate) const NONE: KaosEvent = KaosEvent {
        kind: KAOS_EVENT_NONE,
        channel: 0,
        data: std::ptr::null(),
        len: 0,
        disconnect: KaosDisconnect { reason: 0, code: 0 },
    };
}

/// The caller's clock starts anywhere, zero included; the core's starts at 1 µs so that
/// "at the start" and "never" differ.
pub(crate) fn core_instant(now_us: u64) -> Instant {
    Instant::from_micros(now_us.saturating_add(1))
}

/// Bytes of memory a connection with `cfg` needs, whatever the alignment of the block.
pub(crate) fn memory_size(cfg: &KaosConfig) -> Result<usize, Error> {
    let core = cfg.core_config()?;
    Ok(align_of::<KaosConn>() - 1 + header_size() + core.storage_words() * 8)
}

/// The header rounded up to the storage's 8-byte alignment.
fn header_size() -> usize {
    size_of::<KaosConn>().next_multiple_of(8)
}

/// Creates a client connection in `mem`.
///
/// # Safety
/// `mem` is valid for reads and writes of `len` bytes until the connection is destroyed,
/// and nothing else uses those bytes meanwhile.
pub(crate) unsafe fn connect(
    cfg: &KaosConfig,
    mem: *mut u8,
    len: usize,
    now_us: u64,
    remote: &str,
    nonce: u64,
) -> Result<*mut KaosConn, Error> {
    let core = cfg.core_config()?;
    let remote = parse_addr(remote, "remote")?;
    if nonce == 0 {
        return Err(Error::invalid("nonce must be random and nonzero"));
    }
    if mem.is_null() {
        return Err(Error::null("mem"));
    }
    let need = align_of::<KaosConn>() - 1 + header_size() + core.storage_words() * 8;
    if len < need {
        return Err(Error::new(KaosStatus::KaosErrBufferTooSmall, format!("mem holds {len} bytes; {need} are needed")));
    }
    let skip = mem.align_offset(align_of::<KaosConn>());
    // SAFETY: `skip < align_of::<KaosConn>()` and `len >= need` leave room for the header
    // and the storage after it.
    let (cell, words) = unsafe {
        let cell = mem.add(skip).cast::<KaosConn>();
        let words = mem.add(skip + header_size()).cast::<u64>();
        (cell, words)
    };
    // SAFETY: `words` is 8-aligned (the header ends on a multiple of 8 from an 8-aligned
    // start) and the caller's memory holds `storage_words` words there, used by nothing
    // else until the connection is destroyed; zeroing makes them initialized.
    let storage: &'static mut [u64] = unsafe {
        std::ptr::write_bytes(words, 0, core.storage_words());
        std::slice::from_raw_parts_mut(words, core.storage_words())
    };
    let conn = Connection::connect(&core, storage, core_instant(now_us), remote, nonce)
        .map_err(|e| Error::invalid(format!("configuration: {e}")))?;
    let value = KaosConn { state: AtomicU64::new(IDLE), conn, max_datagram: core.max_datagram as usize };
    // SAFETY: `cell` is aligned and inside the caller's block (see above).
    unsafe { cell.write(value) };
    Ok(cell)
}

/// The connection behind `ptr`, taken for one call.
pub(crate) struct Taken<'a>(&'a mut KaosConn);

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        let state = if std::thread::panicking() { POISONED } else { IDLE };
        self.0.state.store(state, Ordering::Release);
    }
}

impl Taken<'_> {
    pub(crate) fn conn(&mut self) -> &mut Connection<&'static mut [u64]> {
        &mut self.0.conn
    }

    pub(crate) fn max_datagram(&self) -> usize {
        self.0.max_datagram
    }
}

/// Checks and takes the connection at `ptr`.
///
/// # Safety
/// A non-null, aligned `ptr` points to memory readable as a `KaosConn` header: one
/// returned by `kaos_conn_connect` (destroyed or not), or other memory at least that
/// large, which the state word then refuses.
pub(crate) unsafe fn take<'a>(ptr: *mut KaosConn) -> Result<Taken<'a>, Error> {
    if ptr.is_null() {
        return Err(Error::null("conn"));
    }
    if !ptr.is_aligned() {
        return Err(not_a_connection());
    }
    // SAFETY: non-null, aligned, and readable as the header (the caller's contract); the
    // state word is the header's first field and an atomic, so concurrent callers race
    // on it only through atomic operations.
    let state = unsafe { &(*ptr).state };
    match state.compare_exchange(IDLE, BUSY, Ordering::Acquire, Ordering::Relaxed) {
        // SAFETY: the state was IDLE, so this is a live connection, and BUSY is now ours:
        // no other call touches the rest of it until `Taken` drops.
        Ok(_) => Ok(Taken(unsafe { &mut *ptr })),
        Err(BUSY) => Err(Error::new(KaosStatus::KaosErrBusy, "the connection is in use by another thread")),
        Err(POISONED) => Err(Error::new(
            KaosStatus::KaosErrPanic,
            "an earlier call on this connection failed inside the library; destroy it",
        )),
        Err(_) => Err(not_a_connection()),
    }
}

fn not_a_connection() -> Error {
    Error::new(KaosStatus::KaosErrInvalidHandle, "not a live connection (destroyed, or not made by kaos_conn_connect)")
}

/// Drops the connection at `ptr` in place and marks its memory destroyed.
///
/// # Safety
/// As `take`.
pub(crate) unsafe fn destroy(ptr: *mut KaosConn) -> Result<(), Error> {
    if ptr.is_null() {
        return Err(Error::null("conn"));
    }
    if !ptr.is_aligned() {
        return Err(not_a_connection());
    }
    // SAFETY: as in `take`.
    let state = unsafe { &(*ptr).state };
    let mut expected = IDLE;
    loop {
        match state.compare_exchange(expected, BUSY, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => break,
            Err(POISONED) if expected == IDLE => expected = POISONED,
            Err(BUSY) => return Err(Error::new(KaosStatus::KaosErrBusy, "the connection is in use by another thread")),
            Err(_) => return Err(not_a_connection()),
        }
    }
    // SAFETY: BUSY is ours, so nobody else uses the connection; it was initialized by
    // `connect` and is dropped once, as the state becomes DESTROYED right after.
    unsafe { std::ptr::drop_in_place(&raw mut (*ptr).conn) };
    state.store(DESTROYED, Ordering::Release);
    Ok(())
}

/// The next event of `conn`, as the C struct.
pub(crate) fn poll_event(taken: &mut Taken<'_>) -> KaosEvent {
    match taken.conn().poll_event() {
        None => KaosEvent::NONE,
        Some(Event::Connected) => KaosEvent { kind: KAOS_EVENT_CONNECTED, ..KaosEvent::NONE },
        Some(Event::Message { channel, data }) => {
            KaosEvent { kind: KAOS_EVENT_MESSAGE, channel, data: data.as_ptr(), len: data.len(), ..KaosEvent::NONE }
        }
        Some(Event::Disconnected(why)) => {
            KaosEvent { kind: KAOS_EVENT_DISCONNECTED, disconnect: Some(why).into(), ..KaosEvent::NONE }
        }
    }
}

/// The caller's time of `at` (the inverse of the clock shift).
pub(crate) fn caller_time(at: Instant) -> u64 {
    at.as_micros().saturating_sub(1)
}
