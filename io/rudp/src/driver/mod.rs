//! Transports through a media driver: the application exchanges messages with a
//! separate `kaos-driver` process through shared-memory rings and makes no system calls
//! to send or receive; the driver owns the sockets (the model is Aeron's media driver).
//!
//! [`DriverTransport`] is a [`RudpTransport`](crate::RudpTransport) whose socket lives in
//! the driver, and [`DriverServer`] a [`RudpServer`](crate::RudpServer): a game switches
//! by changing the constructor and naming the driver's directory.
//!
//! ```no_run
//! use kaos_rudp::driver::{default_dir, DriverTransport};
//! use kaos_rudp::Transport;
//!
//! // Before: RudpTransport::new(bind, server, 256)?
//! let mut client = DriverTransport::new(default_dir("default"), "0.0.0.0:0".parse()?, "127.0.0.1:7352".parse()?, 256)?;
//! client.send(b"hello")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Liveness: the driver stamps a heartbeat on every loop turn and holds `driver.lock`
//! while it lives. A client whose heartbeat is older than 100 ms asks the lock (one system
//! call, at most every 100 ms, only while it waits); a killed driver's lock is free, so
//! calls fail with [`DriverError::Gone`] within about 200 ms. A driver that lives but
//! stamps nothing for [`DriverTransport::set_hung_after`] (10 s by default) counts as
//! gone too.

mod client;
pub mod layout;
pub mod proto;
mod server;

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kaos_core::ring::RingError;

pub use client::DriverTransport;
pub use server::DriverServer;

/// A [`DriverServer`] in the [`TransportServer`](crate::TransportServer) shape:
/// `DriverServerTransport::new(DriverServer::bind(dir, addr, window)?)`.
pub type DriverServerTransport = crate::RudpServerTransport<DriverServer>;

use layout::{now_ns, owner_parts, owner_word, ClientRings, Cnc};
use proto::{Command, Report, FROM_DRIVER_HEADER, MAX_COMMAND, TO_DRIVER_HEADER};

/// The directory of the driver named `name`: `$KAOS_DRIVER_DIR` if set, else
/// `/dev/shm/kaos-driver-<name>`.
pub fn default_dir(name: &str) -> PathBuf {
    match std::env::var_os("KAOS_DRIVER_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(format!("/dev/shm/kaos-driver-{name}")),
    }
}

/// Why talking to the driver failed.
#[derive(Debug, Clone)]
pub enum DriverError {
    /// No driver runs in this directory (no `cnc.dat`, or its lock is free).
    NotRunning(PathBuf),
    /// The driver died (its lock is free, or a newer driver replaced its files) or
    /// stopped stamping its heartbeat. The transport is unusable; open a new one.
    Gone,
    /// The driver's shared-memory layout is another version than this library's.
    VersionMismatch {
        /// The driver's layout version.
        driver: u32,
        /// This library's.
        client: u32,
    },
    /// The driver's files are not of this layout.
    BadLayout(String),
    /// Every slot of the driver is taken.
    NoFreeSlot,
    /// The driver closed this client's channel (its rings broke the protocol).
    ChannelClosed(String),
    /// The driver refused a command (a bind to an address in use, say).
    Refused(String),
    /// Another driver already runs in this directory.
    AlreadyRunning(PathBuf),
    /// A ring failed.
    Ring(RingError),
    /// A file operation failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: Arc<io::Error>,
    },
}

impl DriverError {
    /// An `Io` error about `path`.
    pub fn io(path: &Path) -> impl FnOnce(io::Error) -> DriverError + '_ {
        move |e| DriverError::Io { path: path.to_path_buf(), error: Arc::new(e) }
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::NotRunning(dir) => write!(f, "no kaos-driver is running in {}", dir.display()),
            DriverError::Gone => f.write_str("the kaos-driver is gone (killed, replaced or not responding)"),
            DriverError::VersionMismatch { driver, client } => {
                write!(f, "kaos-driver layout version {driver}, this client speaks version {client}")
            }
            DriverError::BadLayout(why) => write!(f, "not a kaos-driver directory: {why}"),
            DriverError::NoFreeSlot => f.write_str("every slot of the kaos-driver is taken"),
            DriverError::ChannelClosed(why) => write!(f, "the kaos-driver closed this client's channel: {why}"),
            DriverError::Refused(why) => write!(f, "the kaos-driver refused: {why}"),
            DriverError::AlreadyRunning(dir) => write!(f, "a kaos-driver already runs in {}", dir.display()),
            DriverError::Ring(e) => write!(f, "driver ring: {e}"),
            DriverError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for DriverError {}

impl From<DriverError> for io::Error {
    fn from(e: DriverError) -> io::Error {
        let kind = match e {
            DriverError::Gone | DriverError::ChannelClosed(_) => io::ErrorKind::BrokenPipe,
            DriverError::NotRunning(_) => io::ErrorKind::NotFound,
            DriverError::Io { ref error, .. } => error.kind(),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// Slot error codes the driver stores with [`layout::SLOT_FAILED`].
pub mod slot_error {
    /// A ring was corrupted.
    pub const CORRUPT_RING: u32 = 1;
    /// A command was malformed.
    pub const BAD_COMMAND: u32 = 2;
    /// The slot file could not be mapped or its ring headers were wrong.
    pub const BAD_SLOT: u32 = 3;
    /// A record on the message ring was malformed.
    pub const BAD_MESSAGE: u32 = 4;

    /// Words for a code.
    pub fn describe(code: u32) -> &'static str {
        match code {
            CORRUPT_RING => "a ring was corrupted",
            BAD_COMMAND => "a malformed command",
            BAD_SLOT => "the slot file was unusable",
            BAD_MESSAGE => "a malformed message record",
            _ => "an unknown error",
        }
    }
}

/// How long a heartbeat may be stale before a waiting client asks the driver's lock.
const PROBE_AFTER_NS: u64 = 100_000_000;

/// A client's slot in a driver: its rings and the liveness checks.
pub(crate) struct Link {
    rings: ClientRings,
    cnc: Cnc,
    slot: usize,
    lock: File,
    next_probe: u64,
    hung_after_ns: u64,
    failed: Option<DriverError>,
    command: [u8; MAX_COMMAND],
    /// The endpoint's `max_message` and channel count: sends past them are refused at
    /// once, before they reach the ring.
    max_message: usize,
    channels: usize,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link").field("slot", &self.slot).field("failed", &self.failed).finish()
    }
}

/// Whether nobody holds `lock` exclusively (the driver that held it is dead).
fn lock_free(lock: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this File owns.
    let got = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    if got {
        // SAFETY: as above; drops the shared lock just taken.
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_UN) };
    }
    got
}

impl Link {
    /// Claims a slot of the driver in `dir` and makes its rings, for an endpoint with
    /// `cfg`'s message size and channels.
    fn open(dir: &Path, cfg: &crate::RudpConfig) -> Result<Link, DriverError> {
        let cnc = Cnc::open(dir)?;
        let lock_path = dir.join(layout::LOCK_FILE);
        let lock = File::open(&lock_path).map_err(DriverError::io(&lock_path))?;
        if lock_free(&lock) || cnc.replaced() {
            return Err(DriverError::NotRunning(dir.to_path_buf()));
        }
        let pid = std::process::id();
        let slot = (0..cnc.slots())
            .find(|&i| {
                let owner = cnc.owner(i);
                owner.load(Ordering::Relaxed) == 0
                    && owner
                        .compare_exchange(0, owner_word(pid, layout::SLOT_CLAIMED), Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
            })
            .ok_or(DriverError::NoFreeSlot)?;
        let rings = match layout::create_slot(dir, slot, &cnc) {
            Ok(r) => r,
            Err(e) => {
                cnc.owner(slot).store(0, Ordering::Release);
                return Err(e);
            }
        };
        cnc.owner(slot).store(owner_word(pid, layout::SLOT_READY), Ordering::Release);
        Ok(Link {
            rings,
            cnc,
            slot,
            lock,
            next_probe: 0,
            hung_after_ns: 10_000_000_000,
            failed: None,
            command: [0; MAX_COMMAND],
            max_message: cfg.protocol.max_message as usize,
            channels: cfg.protocol.channels.len(),
        })
    }

    /// Sends a command to the driver.
    fn command(&mut self, cmd: Command) -> Result<(), DriverError> {
        self.check_failed()?;
        let n = cmd.encode(&mut self.command);
        loop {
            match self.rings.control.push(&self.command[..n]) {
                Ok(()) => return Ok(()),
                Err(RingError::Full) => {
                    self.check()?;
                    std::thread::yield_now();
                }
                Err(e) => return Err(DriverError::Ring(e)),
            }
        }
    }

    /// Refuses at once what the endpoint could never send: a message past `max_message`,
    /// a channel it does not have.
    #[inline]
    fn check_message(&self, channel: u8, len: usize) -> Result<(), crate::TransportError> {
        if len > self.max_message {
            return Err(crate::SendError::Oversize.into());
        }
        if usize::from(channel) >= self.channels {
            return Err(crate::SendError::UnknownChannel.into());
        }
        Ok(())
    }

    /// Queues a message for `peer`: `Send(Full)` while the ring is full.
    #[inline]
    fn send(&mut self, peer: u32, channel: u8, data: &[u8]) -> Result<(), crate::TransportError> {
        self.check_failed()?;
        match self.rings.to_driver.claim(TO_DRIVER_HEADER + data.len()) {
            Ok(mut claim) => {
                proto::put_to_driver(&mut claim, peer, channel);
                claim[TO_DRIVER_HEADER..].copy_from_slice(data);
                claim.commit();
                Ok(())
            }
            Err(RingError::Full) => {
                self.check()?;
                Err(crate::SendError::Full.into())
            }
            Err(e) => Err(DriverError::Ring(e).into()),
        }
    }

    /// Hands up to `limit` records from the driver to `f`; returns how many. Checks the
    /// driver's liveness when there are none.
    #[inline]
    fn read(&mut self, limit: usize, mut f: impl FnMut(Report, &[u8])) -> Result<usize, DriverError> {
        self.check_failed()?;
        let mut bad = false;
        let n = self
            .rings
            .from_driver
            .read_batch(limit, |rec| match Report::get(rec) {
                Some((r, payload)) => f(r, payload),
                None => bad = true,
            })
            .map_err(|e| self.fail(DriverError::Ring(e)))?;
        if bad {
            return Err(
                self.fail(DriverError::ChannelClosed(format!("a record shorter than {FROM_DRIVER_HEADER} bytes")))
            );
        }
        if n == 0 {
            self.check()?;
        }
        Ok(n)
    }

    fn fail(&mut self, e: DriverError) -> DriverError {
        self.failed = Some(e.clone());
        e
    }

    fn check_failed(&self) -> Result<(), DriverError> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Whether the driver lives and still serves this slot (see the module docs).
    fn check(&mut self) -> Result<(), DriverError> {
        self.check_failed()?;
        let (_, state) = owner_parts(self.cnc.owner(self.slot).load(Ordering::Acquire));
        if state == layout::SLOT_FAILED {
            let code = self.cnc.slot_error(self.slot).load(Ordering::Relaxed);
            return Err(self.fail(DriverError::ChannelClosed(slot_error::describe(code).into())));
        }
        let now = now_ns();
        let age = now.saturating_sub(self.cnc.heartbeat().load(Ordering::Acquire));
        if age > self.hung_after_ns {
            return Err(self.fail(DriverError::Gone));
        }
        if age > PROBE_AFTER_NS && now >= self.next_probe {
            self.next_probe = now + PROBE_AFTER_NS;
            if lock_free(&self.lock) || self.cnc.replaced() {
                return Err(self.fail(DriverError::Gone));
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for records from the driver (see [`wait_until`]), checking
    /// the driver's liveness while none come.
    fn wait_records(&mut self, timeout: Option<Duration>) -> Result<(), DriverError> {
        wait_until(timeout, || {
            if self.rings.from_driver.has_pending() {
                return Ok(true);
            }
            self.check().map(|()| false)
        })
        .map(drop)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let owner = self.cnc.owner(self.slot);
        let (pid, state) = owner_parts(owner.load(Ordering::Acquire));
        if state != layout::SLOT_FAILED {
            let _ = owner.compare_exchange(
                owner_word(pid, state),
                owner_word(pid, layout::SLOT_CLOSING),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }
}

/// Waits for `ready` with a spin, then yields, then short sleeps, up to `timeout`
/// (`None`: forever). Only an idle wait sleeps, so only an idle wait makes system calls.
fn wait_until(
    timeout: Option<Duration>,
    mut ready: impl FnMut() -> Result<bool, DriverError>,
) -> Result<bool, DriverError> {
    let start = now_ns();
    let limit = timeout.map(|t| t.as_nanos().min(u128::from(u64::MAX)) as u64);
    let mut turn = 0u32;
    loop {
        if ready()? {
            return Ok(true);
        }
        if limit.is_some_and(|l| now_ns().saturating_sub(start) >= l) {
            return Ok(false);
        }
        turn = turn.saturating_add(1);
        match turn {
            0..=200 => std::hint::spin_loop(),
            201..=300 => std::thread::yield_now(),
            _ => std::thread::sleep(Duration::from_micros(50)),
        }
    }
}
