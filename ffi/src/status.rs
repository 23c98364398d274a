//! Status codes, the thread's last error message, and the guard every exported function
//! runs its body in (no panic crosses the boundary).

use std::cell::RefCell;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use kaos_core::channel::SendError;
use kaos_rudp::TransportError;

/// What every function returns. `KAOS_OK` is zero, errors are negative; after an error,
/// `kaos_last_error` tells the details on the same thread.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KaosStatus {
    /// Success.
    KaosOk = 0,
    /// A required pointer was null.
    KaosErrNull = -1,
    /// A caller's buffer is too small (the error message says how large it must be).
    KaosErrBufferTooSmall = -2,
    /// The handle was never valid, or it was closed.
    KaosErrInvalidHandle = -3,
    /// An argument is out of range or malformed (an address, a configuration, text that
    /// is not UTF-8).
    KaosErrInvalidArgument = -4,
    /// The channel's window or buffer is full: try again after the connection has run.
    KaosErrFull = -5,
    /// The message is larger than the configuration's `max_message`.
    KaosErrTooLarge = -6,
    /// No channel with that index.
    KaosErrUnknownChannel = -7,
    /// The connection is closing or closed.
    KaosErrClosed = -8,
    /// A socket or file operation failed.
    KaosErrIo = -9,
    /// The media driver is gone, refused the request, or its files are of another layout.
    KaosErrDriver = -10,
    /// Another thread is using this handle right now (a handle serves one thread at a
    /// time).
    KaosErrBusy = -11,
    /// A bug inside the library was caught (a panic). The handle it happened on is
    /// unusable; close it.
    KaosErrPanic = -12,
}

/// An error on its way out: the status and the message kept for `kaos_last_error`.
#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) status: KaosStatus,
    pub(crate) message: String,
}

impl Error {
    pub(crate) fn new(status: KaosStatus, message: impl Into<String>) -> Self {
        Error { status, message: message.into() }
    }

    pub(crate) fn null(what: &str) -> Self {
        Error::new(KaosStatus::KaosErrNull, format!("{what} is null"))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(KaosStatus::KaosErrInvalidArgument, message)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        let status = match e {
            SendError::NotConnected => KaosStatus::KaosErrClosed,
            SendError::UnknownChannel => KaosStatus::KaosErrUnknownChannel,
            SendError::Oversize => KaosStatus::KaosErrTooLarge,
            SendError::Full => KaosStatus::KaosErrFull,
        };
        Error::new(status, e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let status = match e.kind() {
            std::io::ErrorKind::InvalidInput => KaosStatus::KaosErrInvalidArgument,
            _ => KaosStatus::KaosErrIo,
        };
        Error::new(status, e.to_string())
    }
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Send(e) => e.into(),
            TransportError::Io(e) => e.into(),
            TransportError::UnknownPeer => Error::new(KaosStatus::KaosErrClosed, e.to_string()),
            #[cfg(target_os = "linux")]
            TransportError::Driver(e) => Error::new(KaosStatus::KaosErrDriver, e.to_string()),
        }
    }
}

#[cfg(target_os = "linux")]
impl From<kaos_rudp::driver::DriverError> for Error {
    fn from(e: kaos_rudp::driver::DriverError) -> Self {
        Error::new(KaosStatus::KaosErrDriver, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: String) {
    LAST_ERROR.with(|last| *last.borrow_mut() = message);
}

/// Runs an exported function's body: a panic becomes `KAOS_ERR_PANIC`, an error records
/// its message for `kaos_last_error`.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Error>) -> KaosStatus {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => KaosStatus::KaosOk,
        Ok(Err(e)) => {
            set_last_error(e.message);
            e.status
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            set_last_error(format!("internal error (panic): {what}"));
            KaosStatus::KaosErrPanic
        }
    }
}

/// Copies the last error message of this thread into `buf` (NUL-terminated, cut to fit)
/// and returns its whole length plus one: a result above `len` means it was cut.
pub(crate) fn copy_last_error(buf: &mut [u8]) -> usize {
    LAST_ERROR.with(|last| {
        let message = last.borrow();
        copy_c_string(message.as_bytes(), buf)
    })
}

/// Writes `text` and a NUL into `buf`, cutting it to fit; returns `text.len() + 1`.
pub(crate) fn copy_c_string(text: &[u8], buf: &mut [u8]) -> usize {
    if let Some(room) = buf.len().checked_sub(1) {
        let n = text.len().min(room);
        buf[..n].copy_from_slice(&text[..n]);
        buf[n] = 0;
    }
    text.len() + 1
}

/// The static name of a status, for logs.
pub(crate) fn status_name(status: i32) -> &'static CStr {
    match status {
        0 => c"KAOS_OK",
        -1 => c"KAOS_ERR_NULL",
        -2 => c"KAOS_ERR_BUFFER_TOO_SMALL",
        -3 => c"KAOS_ERR_INVALID_HANDLE",
        -4 => c"KAOS_ERR_INVALID_ARGUMENT",
        -5 => c"KAOS_ERR_FULL",
        -6 => c"KAOS_ERR_TOO_LARGE",
        -7 => c"KAOS_ERR_UNKNOWN_CHANNEL",
        -8 => c"KAOS_ERR_CLOSED",
        -9 => c"KAOS_ERR_IO",
        -10 => c"KAOS_ERR_DRIVER",
        -11 => c"KAOS_ERR_BUSY",
        -12 => c"KAOS_ERR_PANIC",
        _ => c"KAOS_UNKNOWN_STATUS",
    }
}

/// A caller's byte slice: null with a zero length is the empty slice.
///
/// # Safety
/// A non-null `ptr` is valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(Error::null(what)) };
    }
    // SAFETY: non-null and valid for `len` bytes (the caller's contract).
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A caller's writable buffer: null with a zero length is the empty buffer.
///
/// # Safety
/// A non-null `ptr` is valid for writes of `len` bytes for `'a`, and nothing else
/// accesses them meanwhile.
pub(crate) unsafe fn bytes_mut<'a>(ptr: *mut u8, len: usize, what: &str) -> Result<&'a mut [u8], Error> {
    if ptr.is_null() {
        return if len == 0 { Ok(&mut []) } else { Err(Error::null(what)) };
    }
    // SAFETY: non-null, valid and unaliased for `len` bytes (the caller's contract).
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// A caller's NUL-terminated UTF-8 string.
///
/// # Safety
/// A non-null `ptr` points to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(Error::null(what));
    }
    // SAFETY: non-null and NUL-terminated (the caller's contract).
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str().map_err(|_| Error::invalid(format!("{what} is not UTF-8")))
}

/// Writes `value` through a caller's out-pointer.
///
/// # Safety
/// A non-null `ptr` is valid for a write of `T` and suitably aligned.
pub(crate) unsafe fn put<T>(ptr: *mut T, value: T, what: &str) -> Result<(), Error> {
    if ptr.is_null() {
        return Err(Error::null(what));
    }
    // SAFETY: non-null, aligned and writable (the caller's contract); `write` does not
    // drop the uninitialized old value.
    unsafe { ptr.write(value) };
    Ok(())
}
