//! The reliable-UDP client behind a handle: `RudpTransport` (its own socket), or
//! `DriverTransport` (through the shared-memory media driver, Linux).

use std::ffi::{c_char, c_void};
use std::net::SocketAddr;
use std::time::Duration;

use kaos_rudp::{IoBackend, RudpConfig, RudpTransport};

use crate::config::{parse_addr, KaosConfig, KaosDisconnect, KaosStats};
use crate::handles::Registry;
use crate::status::{bytes, bytes_mut, copy_c_string, guard, put, text, Error, KaosStatus};

/// A client's handle: 0 is never a valid one.
pub type KaosClientHandle = u64;

/// Receives one message: `user` as given, the channel, and the bytes (lent for the call).
pub type KaosMessageFn = Option<unsafe extern "C" fn(user: *mut c_void, channel: u8, data: *const u8, len: usize)>;

/// How a client is set up: start from `kaos_client_options_default`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KaosClientOptions {
    /// The connection's protocol settings; they must match the server's channels,
    /// `max_datagram` and `max_message`.
    pub protocol: KaosConfig,
    /// Requested kernel receive buffer, bytes.
    pub recv_buffer: u32,
    /// Requested kernel send buffer, bytes.
    pub send_buffer: u32,
    /// Datagrams per system call, 1..=32 (smaller saves memory per client).
    pub batch: u32,
}

impl KaosClientOptions {
    fn to_rudp(self) -> Result<RudpConfig, Error> {
        let mut cfg = RudpConfig::with_window(256);
        cfg.protocol = self.protocol.core_config()?;
        cfg.recv_buffer = self.recv_buffer as usize;
        cfg.send_buffer = self.send_buffer as usize;
        if !(1..=32).contains(&self.batch) {
            return Err(Error::invalid(format!("batch {} is not in 1..=32", self.batch)));
        }
        cfg.batch = self.batch as usize;
        // io_uring waits for completions on send; mio is the measured default.
        cfg.io = IoBackend::Mio;
        Ok(cfg)
    }
}

enum Client {
    Rudp(Box<RudpTransport>),
    #[cfg(target_os = "linux")]
    Driver(Box<kaos_rudp::driver::DriverTransport>),
}

/// Calls the same method on whichever transport the client is.
macro_rules! each {
    ($client:expr, $t:ident => $body:expr) => {
        match $client {
            Client::Rudp($t) => $body,
            #[cfg(target_os = "linux")]
            Client::Driver($t) => $body,
        }
    };
}

static CLIENTS: Registry<Client> = Registry::new();

fn rudp_config(ptr: *const KaosClientOptions) -> Result<RudpConfig, Error> {
    // SAFETY: callers pass a pointer that is null or valid (their caller's contract).
    match unsafe { ptr.as_ref() } {
        Some(o) => o.to_rudp(),
        None => Ok(RudpConfig::with_window(256)),
    }
}

fn addrs(bind: *const c_char, server: *const c_char) -> Result<(SocketAddr, SocketAddr), Error> {
    // SAFETY: callers pass NUL-terminated strings or null (their caller's contract).
    let (bind, server) = unsafe { (text(bind, "bind")?, text(server, "server")?) };
    Ok((parse_addr(bind, "bind")?, parse_addr(server, "server")?))
}

/// Writes the default client options (the default configuration, 4 MiB socket buffers,
/// batches of 32).
///
/// # Safety
/// A non-null `out` is valid for a write of a `KaosClientOptions`.
#[no_mangle]
pub unsafe extern "C" fn kaos_client_options_default(out: *mut KaosClientOptions) -> KaosStatus {
    let d = RudpConfig::with_window(256);
    let value = KaosClientOptions {
        protocol: KaosConfig::from(&d.protocol),
        recv_buffer: d.recv_buffer as u32,
        send_buffer: d.send_buffer as u32,
        batch: d.batch as u32,
    };
    // SAFETY: the caller's contract.
    guard(|| unsafe { put(out, value, "out") })
}

/// Opens a reliable-UDP client on its own socket bound to `bind` (`"0.0.0.0:0"` picks a
/// port) and starts the handshake with `server`; writes its handle to `*out`. `options`
/// may be null for the defaults. Messages sent before the handshake completes wait.
///
/// # Safety
/// `bind` and `server` are NUL-terminated strings or null; `options` is valid or null;
/// `out` is valid for a write or null.
#[no_mangle]
pub unsafe extern "C" fn kaos_client_connect(
    bind: *const c_char,
    server: *const c_char,
    options: *const KaosClientOptions,
    out: *mut KaosClientHandle,
) -> KaosStatus {
    // SAFETY: the caller's contract.
    unsafe {
        open_client(bind, server, options, out, |bind, server, cfg| {
            Ok(Client::Rudp(Box::new(RudpTransport::with_config(bind, server, cfg)?)))
        })
    }
}

/// As `kaos_client_connect`, through the media driver whose directory is `driver_dir`
/// (null: `$KAOS_DRIVER_DIR`, else `/dev/shm/kaos-driver-default`): sends and receives
/// make no system call. Linux only; elsewhere it returns `KAOS_ERR_DRIVER`.
///
/// # Safety
/// As `kaos_client_connect`; `driver_dir` is a NUL-terminated string or null.
#[no_mangle]
pub unsafe extern "C" fn kaos_client_connect_driver(
    driver_dir: *const c_char,
    bind: *const c_char,
    server: *const c_char,
    options: *const KaosClientOptions,
    out: *mut KaosClientHandle,
) -> KaosStatus {
    // SAFETY: the caller's contract.
    unsafe {
        open_client(bind, server, options, out, |bind, server, cfg| {
            let dir = if driver_dir.is_null() {
                None
            } else {
                // SAFETY: the caller's contract.
                Some(text(driver_dir, "driver_dir")?.to_owned())
            };
            driver_client(dir, bind, server, &cfg)
        })
    }
}

/// What both connects share: checks `out`, reads the addresses and options, opens the
/// client with `open` and writes its handle.
///
/// # Safety
/// As `kaos_client_connect`.
unsafe fn open_client(
    bind: *const c_char,
    server: *const c_char,
    options: *const KaosClientOptions,
    out: *mut KaosClientHandle,
    open: impl FnOnce(SocketAddr, SocketAddr, RudpConfig) -> Result<Client, Error>,
) -> KaosStatus {
    guard(|| {
        if out.is_null() {
            return Err(Error::null("out"));
        }
        let (bind, server) = addrs(bind, server)?;
        let handle = CLIENTS.insert(open(bind, server, rudp_config(options)?)?)?;
        // SAFETY: checked non-null; writable (the caller's contract).
        unsafe { put(out, handle, "out") }
    })
}

#[cfg(target_os = "linux")]
fn driver_client(dir: Option<String>, bind: SocketAddr, server: SocketAddr, cfg: &RudpConfig) -> Result<Client, Error> {
    use kaos_rudp::driver::{default_dir, DriverTransport};
    let dir = dir.map_or_else(|| default_dir("default"), std::path::PathBuf::from);
    Ok(Client::Driver(Box::new(DriverTransport::with_config(dir, bind, server, cfg)?)))
}

#[cfg(not(target_os = "linux"))]
fn driver_client(_: Option<String>, _: SocketAddr, _: SocketAddr, _: &RudpConfig) -> Result<Client, Error> {
    Err(Error::new(KaosStatus::KaosErrDriver, "the media driver runs on Linux only"))
}

/// Runs `f` on the client behind `handle`.
fn with<R>(handle: KaosClientHandle, f: impl FnOnce(&mut Client) -> Result<R, Error>) -> Result<R, Error> {
    let mut client = CLIENTS.get(handle)?;
    f(&mut client)
}

/// Waits up to `timeout_us` microseconds (negative: until the connection's next timer)
/// for datagrams, then runs the connection (receive, timers, send). Messages wait for
/// `kaos_client_receive`.
///
/// # Safety
/// None: any handle is checked.
#[no_mangle]
pub extern "C" fn kaos_client_poll(client: KaosClientHandle, timeout_us: i64) -> KaosStatus {
    let timeout = u64::try_from(timeout_us).ok().map(Duration::from_micros);
    guard(|| with(client, |c| each!(c, t => t.poll(timeout).map_err(Error::from))))
}

/// Runs the connection without waiting.
///
/// # Safety
/// None: any handle is checked.
#[no_mangle]
pub extern "C" fn kaos_client_process(client: KaosClientHandle) -> KaosStatus {
    guard(|| with(client, |c| each!(c, t => t.process().map_err(Error::from))))
}

/// Queues `data` on `channel` and sends what the connection allows now. Errors:
/// `KAOS_ERR_FULL` (run the connection, then try again), `KAOS_ERR_TOO_LARGE`,
/// `KAOS_ERR_UNKNOWN_CHANNEL`, `KAOS_ERR_CLOSED`.
///
/// # Safety
/// `data` is valid for reads of `len` bytes, or null with `len` 0.
#[no_mangle]
pub unsafe extern "C" fn kaos_client_send(
    client: KaosClientHandle,
    channel: u8,
    data: *const u8,
    len: usize,
) -> KaosStatus {
    // SAFETY: the caller's contract.
    unsafe { message(client, channel, data, len, true) }
}

/// Queues `data` on `channel` without sending: queued messages share datagrams, sent by
/// the next `kaos_client_flush` or poll. Errors as `kaos_client_send`.
///
/// # Safety
/// As `kaos_client_send`.
#[no_mangle]
pub unsafe extern "C" fn kaos_client_queue(
    client: KaosClientHandle,
    channel: u8,
    data: *const u8,
    len: usize,
) -> KaosStatus {
    // SAFETY: the caller's contract.
    unsafe { message(client, channel, data, len, false) }
}

/// `kaos_client_send` (`now`) or `kaos_client_queue`.
///
/// # Safety
/// As `kaos_client_send`.
unsafe fn message(client: KaosClientHandle, channel: u8, data: *const u8, len: usize, now: bool) -> KaosStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let data = unsafe { bytes(data, len, "data") }?;
        with(client, |c| {
            each!(c, t => if now { t.send_on(channel, data) } else { t.queue_on(channel, data) }).map_err(Error::from)
        })
    })
}

/// Sends everything the connection allows now.
///
/// # Safety
/// None: any handle is checked.
#[no_mangle]
pub extern "C" fn kaos_client_flush(client: KaosClientHandle) -> KaosStatus {
    guard(|| with(client, |c| each!(c, t => t.flush().map_err(Error::from))))
}

/// Runs the connection, then calls `on_message` for every message received so far, in
/// order (the bytes are lent for the call); writes how many to `*count` (may be null).
/// `on_message` must not call back into the library with this handle (`KAOS_ERR_BUSY`).
///
/// # Safety
/// `on_message` is a valid function that returns normally; `count` is valid for a write
/// or null.
#[no_mangle]
pub unsafe extern "C" fn kaos_client_receive(
    client: KaosClientHandle,
    on_message: KaosMessageFn,
    user: *mut c_void,
    count: *mut usize,
) -> KaosStatus {
    guard(|| {
        let f = on_message.ok_or_else(|| Error::null("on_message"))?;
        // SAFETY: `f` is valid and returns (the caller's contract); the slice lives for
        // the call.
        let deliver = |channel: u8, data: &[u8]| unsafe { f(user, channel, data.as_ptr(), data.len()) };
        let n = with(client, |c| each!(c, t => t.receive_messages(deliver)).map_err(Error::from))?;
        if !count.is_null() {
            // SAFETY: non-null and writable (the caller's contract).
            unsafe { put(count, n, "count") }?;
        }
        Ok(())
    })
}

/// Runs the connection until the handshake completes, fails, or `timeout_us`
/// microseconds pass; writes whether it is connected.
///
/// # Safety
/// `connected` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn kaos_client_wait_connected(
    client: KaosClientHandle,
    timeout_us: u64,
    connected: *mut bool,
) -> KaosStatus {
    guard(|| {
        if connected.is_null() {
            return Err(Error::null("connected"));
        }
        let timeout = Duration::from_micros(timeout_us);
        let ok = with(client, |c| each!(c, t => t.wait_connected(timeout).map_err(Error::from)))?;
        // SAFETY: checked non-null; writable (the caller's contract).
        unsafe { put(connected, ok, "connected") }
    })
}

/// Writes whether messages flow (the handshake completed and the connection has not
/// ended).
///
/// # Safety
/// `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn kaos_client_is_connected(client: KaosClientHandle, out: *mut bool) -> KaosStatus {
    guard(|| {
        use kaos_rudp::Transport;
        let connected = with(client, |c| Ok(each!(c, t => t.is_connected())))?;
        // SAFETY: the caller's contract.
        unsafe { put(out, connected, "out") }
    })
}

/// Writes why the connection ended (`reason` `KAOS_DISCONNECT_NONE` while it has not).
///
/// # Safety
/// `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn kaos_client_disconnect_reason(
    client: KaosClientHandle,
    out: *mut KaosDisconnect,
) -> KaosStatus {
    guard(|| {
        let why = with(client, |c| Ok(each!(c, t => t.disconnect_reason())))?;
        // SAFETY: the caller's contract.
        unsafe { put(out, KaosDisconnect::from(why), "out") }
    })
}

/// Closes the connection gracefully, telling the server `code`. The handle stays valid
/// (for the reason and counters) until `kaos_client_close`.
///
/// # Safety
/// None: any handle is checked.
#[no_mangle]
pub extern "C" fn kaos_client_disconnect(client: KaosClientHandle, code: u16) -> KaosStatus {
    guard(|| with(client, |c| each!(c, t => t.disconnect(code).map_err(Error::from))))
}

/// Writes the connection's counters. Through the driver the counters live in the
/// driver's process: `KAOS_ERR_DRIVER`.
///
/// # Safety
/// `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn kaos_client_stats(client: KaosClientHandle, out: *mut KaosStats) -> KaosStatus {
    guard(|| {
        let stats = with(client, |c| match c {
            Client::Rudp(t) => Ok(KaosStats::from(t.stats())),
            #[cfg(target_os = "linux")]
            Client::Driver(_) => Err(Error::new(KaosStatus::KaosErrDriver, "counters live in the driver's process")),
        })?;
        // SAFETY: the caller's contract.
        unsafe { put(out, stats, "out") }
    })
}

/// Writes the client's local address as `"ip:port"` into `buf` (NUL-terminated);
/// `KAOS_ERR_BUFFER_TOO_SMALL` if it does not fit (48 bytes always do).
///
/// # Safety
/// `buf` is valid for writes of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn kaos_client_local_addr(client: KaosClientHandle, buf: *mut c_char, len: usize) -> KaosStatus {
    guard(|| {
        let addr = with(client, |c| match c {
            Client::Rudp(t) => t.local_addr().map_err(Error::from),
            #[cfg(target_os = "linux")]
            Client::Driver(t) => {
                t.local_addr().ok_or_else(|| Error::new(KaosStatus::KaosErrClosed, "the driver has not bound it yet"))
            }
        })?;
        let text = addr.to_string();
        // SAFETY: the caller's contract.
        let buf = unsafe { bytes_mut(buf.cast(), len, "buf") }?;
        if copy_c_string(text.as_bytes(), buf) > buf.len() {
            let need = text.len() + 1;
            return Err(Error::new(KaosStatus::KaosErrBufferTooSmall, format!("buf holds {len} bytes; {need} needed")));
        }
        Ok(())
    })
}

/// Writes the client's socket descriptor, for an engine's own event loop to wait on
/// (readable: call `kaos_client_process`). Through the driver there is none:
/// `KAOS_ERR_DRIVER`.
///
/// # Safety
/// `out` is valid for a write.
#[cfg(unix)]
#[no_mangle]
pub unsafe extern "C" fn kaos_client_fd(client: KaosClientHandle, out: *mut i32) -> KaosStatus {
    guard(|| {
        use std::os::fd::{AsFd, AsRawFd};
        let fd = with(client, |c| match c {
            Client::Rudp(t) => Ok(t.as_fd().as_raw_fd()),
            #[cfg(target_os = "linux")]
            Client::Driver(_) => Err(Error::new(KaosStatus::KaosErrDriver, "the driver owns the socket")),
        })?;
        // SAFETY: the caller's contract.
        unsafe { put(out, fd, "out") }
    })
}

/// Frees the client (its socket closes without telling the server: call
/// `kaos_client_disconnect` first for a graceful close). The handle is invalid after.
///
/// # Safety
/// None: any handle is checked.
#[no_mangle]
pub extern "C" fn kaos_client_close(client: KaosClientHandle) -> KaosStatus {
    guard(|| CLIENTS.remove(client).map(drop))
}
