//! KaosNet's C ABI (`libkaosnet_ffi.so`, `libkaosnet_ffi.a`, header `include/kaosnet.h`).
//!
//! Two ways in:
//! - **`kaos_conn_*`**: the sans-IO core connection in memory the caller provides. The
//!   engine keeps its own socket and clock: it feeds received datagrams and the time in,
//!   sends the datagrams that come out, and reads events.
//! - **`kaos_client_*`**: the reliable-UDP client with its socket handled
//!   (`RudpTransport`), or through the shared-memory media driver on Linux
//!   (`DriverTransport`), behind a numeric handle.
//!
//! Every function returns a `KaosStatus` (0 is success, errors are negative); after an
//! error, `kaos_last_error` tells what happened, on the calling thread. Null pointers,
//! too-small buffers, closed or made-up handles and bad arguments are errors, never
//! crashes; a panic inside the library is caught and returned as `KAOS_ERR_PANIC`.
//! Results go through out-pointers; message bytes are lent, not copied.

mod client;
mod config;
mod handles;
mod sansio;
mod status;

use std::ffi::c_char;

pub use client::*;
pub use config::*;
pub use sansio::{KaosConn, KaosEvent};
pub use status::KaosStatus;

use status::{bytes, bytes_mut, guard, put, text, Error};

/// The library's version, e.g. `"0.1.0"` (a static string).
///
/// # Safety
/// None: the result is a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn kaos_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The name of a status code, e.g. `"KAOS_ERR_FULL"` (a static string).
///
/// # Safety
/// None: any value is accepted, and the result is a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn kaos_status_name(status: i32) -> *const c_char {
    status::status_name(status).as_ptr()
}

/// Copies the message of the last error on this thread into `buf` (`len` bytes,
/// NUL-terminated, cut to fit) and returns the message's length plus one: a result above
/// `len` means `buf` was too small. `buf` may be null when `len` is 0, to ask for the size.
///
/// # Safety
/// A non-null `buf` is valid for writes of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn kaos_last_error(buf: *mut c_char, len: usize) -> usize {
    // SAFETY: the caller's contract; a null `buf` with a nonzero `len` writes nothing.
    match unsafe { bytes_mut(buf.cast(), len, "buf") } {
        Ok(buf) => status::copy_last_error(buf),
        Err(_) => status::copy_last_error(&mut []),
    }
}

/// Writes the default configuration (four channels: 0 reliable-ordered, 1
/// reliable-unordered, 2 unreliable-sequenced, 3 unreliable; 1200-byte datagrams; 16 KiB
/// messages) into `*out`.
///
/// # Safety
/// A non-null `out` is valid for a write of a `KaosConfig`.
#[no_mangle]
pub unsafe extern "C" fn kaos_config_default(out: *mut KaosConfig) -> KaosStatus {
    let value = KaosConfig::from(&kaos_core::config::Config::default());
    // SAFETY: the caller's contract.
    guard(|| unsafe { put(out, value, "out") })
}

/// Checks `*cfg` as a connection would; the error message names the first problem.
///
/// # Safety
/// A non-null `cfg` points to a `KaosConfig`.
#[no_mangle]
pub unsafe extern "C" fn kaos_config_validate(cfg: *const KaosConfig) -> KaosStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let cfg = unsafe { cfg.as_ref() }.ok_or_else(|| Error::null("cfg"))?;
        cfg.core_config().map(|_| ())
    })
}

/// Bytes of memory `kaos_conn_connect` needs for `*cfg`, at any alignment: the
/// connection's whole memory, which it never grows.
///
/// # Safety
/// A non-null `cfg` points to a `KaosConfig`; a non-null `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn kaos_conn_memory_size(cfg: *const KaosConfig, out: *mut usize) -> KaosStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let cfg = unsafe { cfg.as_ref() }.ok_or_else(|| Error::null("cfg"))?;
        let size = sansio::memory_size(cfg)?;
        // SAFETY: the caller's contract.
        unsafe { put(out, size, "out") }
    })
}

/// Creates a client connection to `remote` (`"ip:port"`) inside `mem` (`len` bytes, at
/// least `kaos_conn_memory_size`) and writes its pointer to `*out`. `now_us` is the
/// caller's monotonic clock in microseconds (any origin, the same clock in every later
/// call); `nonce` must be random and nonzero. The first `kaos_conn_poll_transmit`
/// yields the connect request.
///
/// A connection is used by one thread at a time; it lives until
/// `kaos_conn_destroy`, after which `mem` is the caller's again.
///
/// # Safety
/// - `cfg` and `remote` (NUL-terminated) are valid or null; `out` is valid for a write
///   or null.
/// - `mem` is valid for reads and writes of `len` bytes and stays so, untouched by
///   anything else, until `kaos_conn_destroy`.
#[no_mangle]
pub unsafe extern "C" fn kaos_conn_connect(
    cfg: *const KaosConfig,
    mem: *mut std::ffi::c_void,
    len: usize,
    now_us: u64,
    remote: *const c_char,
    nonce: u64,
    out: *mut *mut KaosConn,
) -> KaosStatus {
    guard(|| {
        if out.is_null() {
            return Err(Error::null("out"));
        }
        // SAFETY: the caller's contract.
        let cfg = unsafe { cfg.as_ref() }.ok_or_else(|| Error::null("cfg"))?;
        // SAFETY: the caller's contract.
        let remote = unsafe { text(remote, "remote") }?;
        // SAFETY: the caller's contract on `mem`.
        let conn = unsafe { sansio::connect(cfg, mem.cast(), len, now_us, remote, nonce) }?;
        // SAFETY: `out` is non-null and writable (the caller's contract).
        unsafe { put(out, conn, "out") }
    })
}

/// Processes one datagram received from the connection's peer. Invalid datagrams are
/// counted and otherwise ignored.
///
/// # Safety
/// `conn` comes from `kaos_conn_connect` (destroyed ones are refused) or is null;
/// `data` is valid for reads of `len` bytes or null with `len` 0.
#[no_mangle]
pub unsafe extern "C" fn kaos_conn_handle_datagram(
    conn: *mut KaosConn,
    now_us: u64,
    data: *const u8,
    len: usize,
) -> KaosStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let mut c = unsafe { sansio::take(conn) }?;
        // SAFETY: the caller's contract.
        let data = unsafe { bytes(data, len, "data") }?;
        c.conn().handle_datagram(sansio::core_instant(now_us), data);
        Ok(())
    })
}

/// Writes the next datagram to send into `buf` (`cap` bytes, at least the configuration's
/// `max_datagram`) and its length into `*out_len`; a length of 0 means nothing is due.
/// Call until it gives 0 after every input and timeout.
///
/// # Safety
/// `conn` as in `kaos_conn_handle_datagram`; `buf` is valid for writes of `cap` bytes;
/// `out_len` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn kaos_conn_poll_transmit(
    conn: *mut KaosConn,
    now_us: u64,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> KaosStatus {
    guard(|| {
        if out_len.is_null() {
            return Err(Error::null("out_len"));
        }
        // SAFETY: the caller's contract.
        let mut c = unsafe { sansio::take(conn) }?;
        if cap < c.max_datagram() {
            let need = c.max_datagram();
            return Err(Error::new(KaosStatus::KaosErrBufferTooSmall, format!("buf holds {cap} bytes; {need} needed")));
        }
        // SAFETY: the caller's contract.
        let buf = unsafe { bytes_mut(buf, cap, "buf") }?;
        let n = c.conn().poll_transmit(sansio::core_instant(now_us), buf).unwrap_or(0);
        // SAFETY: checked non-null above; writable (the caller's contract).
        unsafe { put(out_len, n, "out_len") }
    })
}

/// Fires the connection's due timers (retransmission, keep-alive, idle and handshake
/// timeouts).
///
/// # Safety
/// `conn` as in `kaos_conn_handle_datagram`.
#[no_mangle]
pub unsafe extern "C" fn kaos_conn_handle_timeout(conn: *mut KaosConn, now_us: u64) -> KaosStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let mut c = unsafe { sansio::take(conn) }?;
        c.conn().handle_timeout(sansio::core_instant(now_us));
        Ok(())
    })
}

/// Writes when `kaos_conn_handle_timeout` should next run, on the caller's clock, into
/// `*at_us`: `UINT64_MAX` when no timer is set.
///
/// # Safety
/// `conn` as in `kaos_conn_handle_datagram`; `at_us` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn kaos_conn_poll_timeout(conn: *mut KaosConn, at_us: *mut u64) -> KaosStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let mut c = unsafe { sansio::take(conn) }?;
        let at = c.conn().poll_timeout().map_or(u64::MAX, sansio::caller_time);
        // SAFETY: the caller's contract.
        unsafe { put(at_us, at, "at_us") }
    })
}

/// Writes the next event into `*out` (`kind` `KAOS_EVENT_NONE` when there is none). A
/// message's bytes stay valid until the next call on this connection.
///
/// # Safety
/// `conn` as in `kaos_conn_handle_datagram`; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn kaos_conn_poll_event(conn: *mut KaosConn, out: *mut KaosEvent) -> KaosStatus {
    guard(|| {
        if out.is_null() {
            return Err(Error::null("out"));
        }
        // SAFETY: the caller's contract.
        let mut c = unsafe { sansio::take(conn) }?;
        let event = sansio::poll_event(&mut c);
        // SAFETY: checked non-null above; writable (the caller's contract).
        unsafe { put(out, event, "out") }
    })
}

/// Queues a message on `channel`: reliable channels keep it until acked. Allowed while
/// connecting (it goes out once connected). Errors: `KAOS_ERR_FULL` (try again after the
/// connection has run), `KAOS_ERR_TOO_LARGE`, `KAOS_ERR_UNKNOWN_CHANNEL`,
/// `KAOS_ERR_CLOSED`.
///
/// # Safety
/// `conn` as in `kaos_conn_handle_datagram`; `data` is valid for reads of `len` bytes
/// or null with `len` 0.
#[no_mangle]
pub unsafe extern "C" fn kaos_conn_send(conn: *mut KaosConn, channel: u8, data: *const u8, len: usize) -> KaosStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let mut c = unsafe { sansio::take(conn) }?;
        // SAFETY: the caller's contract.
        let data = unsafe { bytes(data, len, "data") }?;
        c.conn().send(channel, data).map_err(Error::from)
    })
}

/// Starts a graceful close: the peer is told `code`, then the connection ends (a
/// `KAOS_EVENT_DISCONNECTED` follows).
///
/// # Safety
/// `conn` as in `kaos_conn_handle_datagram`.
#[no_mangle]
pub unsafe extern "C" fn kaos_conn_close(conn: *mut KaosConn, now_us: u64, code: u16) -> KaosStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let mut c = unsafe { sansio::take(conn) }?;
        c.conn().close(sansio::core_instant(now_us), code);
        Ok(())
    })
}

/// Writes whether so many packets arrived since this connection last sent that an ack
/// must go out (`kaos_conn_poll_transmit`) before more are handled: one ack reports the
/// newest packet and the 64 before it. A loop that hands many datagrams to
/// `kaos_conn_handle_datagram` before sending should send when this turns true.
///
/// # Safety
/// `conn` as in `kaos_conn_handle_datagram`; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn kaos_conn_ack_overdue(conn: *mut KaosConn, out: *mut bool) -> KaosStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let mut c = unsafe { sansio::take(conn) }?;
        let overdue = c.conn().ack_overdue();
        // SAFETY: the caller's contract.
        unsafe { put(out, overdue, "out") }
    })
}

/// Writes whether the handshake completed and the connection is not closing.
///
/// # Safety
/// `conn` as in `kaos_conn_handle_datagram`; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn kaos_conn_is_connected(conn: *mut KaosConn, out: *mut bool) -> KaosStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let mut c = unsafe { sansio::take(conn) }?;
        let connected = c.conn().is_connected();
        // SAFETY: the caller's contract.
        unsafe { put(out, connected, "out") }
    })
}

/// Writes the connection's counters (round-trip time, loss, bytes).
///
/// # Safety
/// `conn` as in `kaos_conn_handle_datagram`; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn kaos_conn_stats(conn: *mut KaosConn, out: *mut KaosStats) -> KaosStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let mut c = unsafe { sansio::take(conn) }?;
        let stats = KaosStats::from(c.conn().stats());
        // SAFETY: the caller's contract.
        unsafe { put(out, stats, "out") }
    })
}

/// Ends the connection at once (no close is sent: call `kaos_conn_close` and run it
/// until `KAOS_EVENT_DISCONNECTED` for a graceful one) and gives its memory back; later
/// calls with `conn` return `KAOS_ERR_INVALID_HANDLE` while the memory is left as it is.
///
/// # Safety
/// `conn` as in `kaos_conn_handle_datagram`.
#[no_mangle]
pub unsafe extern "C" fn kaos_conn_destroy(conn: *mut KaosConn) -> KaosStatus {
    // SAFETY: the caller's contract.
    guard(|| unsafe { sansio::destroy(conn) })
}

#[cfg(test)]
mod tests;
