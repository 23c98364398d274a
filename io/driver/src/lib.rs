//! # kaos-driver: the media driver
//!
//! A separate process that owns KaosNet's reliable-UDP sockets on behalf of applications,
//! which talk to it through shared-memory rings ([`kaos_rudp::driver`]) and make no system
//! call to send or receive. The model is Aeron's media driver.
//!
//! ```no_run
//! use kaos_driver::{Driver, DriverConfig};
//!
//! let mut driver = Driver::start(DriverConfig::new(kaos_rudp::driver::default_dir("default")))?;
//! driver.run(kaos_driver::stop_on_signals())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! One loop serves every client: it reads each client's control and message rings, runs
//! the sockets without blocking, and writes what arrived to each client's ring. When a
//! turn finds nothing to do it spins, then yields, then sleeps on its sockets for at most
//! [`DriverConfig::idle_max`] (a ring write cannot wake it, so that is the most an idle
//! driver adds to an application's message). Sockets run on mio: io_uring measured
//! slower on every figure here (see `benches/README.md`).
//!
//! Faults: the driver holds `driver.lock` while it lives (clients ask it when the
//! heartbeat stops); files left by a dead driver are removed at start; a client whose
//! process died, or whose rings broke the protocol, loses its slot and its connections
//! and nothing else.

#![warn(missing_docs)]

mod served;
pub mod syscall_audit;

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kaos_rudp::driver::layout::{self, now_ns, owner_parts, owner_word, Cnc};
use kaos_rudp::driver::{slot_error, DriverError};
use mio::{Events, Poll};

use served::Served;

/// How often the slot table is scanned for new and closing clients.
const SCAN_NS: u64 = 1_000_000;
/// How often client processes are checked for life.
const PID_CHECK_NS: u64 = 100_000_000;

/// Settings of a driver.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The shared-memory directory.
    pub dir: PathBuf,
    /// Client slots.
    pub slots: u32,
    /// Data bytes of each client's control ring (a power of two).
    pub control_bytes: u32,
    /// Data bytes of each client's two message rings (a power of two).
    pub data_bytes: u32,
    /// Longest sleep of an idle driver.
    pub idle_max: Duration,
}

impl DriverConfig {
    /// Defaults for a driver in `dir`: 64 slots, 1 MiB message rings, 1 ms idle sleep.
    pub fn new(dir: impl Into<PathBuf>) -> DriverConfig {
        DriverConfig {
            dir: dir.into(),
            slots: 64,
            control_bytes: 4096,
            data_bytes: 1 << 20,
            idle_max: Duration::from_millis(1),
        }
    }
}

/// A running driver: [`start`](Self::start) it, then [`run`](Self::run) it (or call
/// [`run_once`](Self::run_once) from a loop of one's own).
pub struct Driver {
    cfg: DriverConfig,
    cnc: Cnc,
    served: Vec<Option<Served>>,
    poll: Poll,
    events: Events,
    next_scan: u64,
    next_pid_check: u64,
    idle_turns: u32,
    reclaimed: usize,
    /// Held (flock) for the driver's life; the kernel drops it when the process dies.
    _lock: File,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").field("dir", &self.cfg.dir).field("clients", &self.clients()).finish()
    }
}

impl Driver {
    /// Takes the directory (refusing if another driver holds it), removes what a dead
    /// driver left there, and lays out a fresh `cnc.dat`.
    pub fn start(cfg: DriverConfig) -> Result<Driver, DriverError> {
        let sizes_ok = |b: u32| b.is_power_of_two() && (64..=1 << 30).contains(&b);
        if !sizes_ok(cfg.control_bytes) || !sizes_ok(cfg.data_bytes) || cfg.slots == 0 || cfg.slots > layout::MAX_SLOTS
        {
            return Err(DriverError::BadLayout(format!(
                "ring sizes must be powers of two from 64 bytes to 1 GiB and slots 1..={}",
                layout::MAX_SLOTS
            )));
        }
        let dir = cfg.dir.clone();
        std::fs::create_dir_all(&dir).map_err(DriverError::io(&dir))?;
        let lock_path = dir.join(layout::LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(DriverError::io(&lock_path))?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor the File owns.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(DriverError::AlreadyRunning(dir));
        }
        let reclaimed = reclaim(&dir)?;
        let cnc = Cnc::create(&dir, cfg.slots, cfg.control_bytes, cfg.data_bytes)?;
        let poll = Poll::new().map_err(DriverError::io(&dir))?;
        Ok(Driver {
            served: (0..cfg.slots).map(|_| None).collect(),
            cfg,
            cnc,
            poll,
            events: Events::with_capacity(256),
            next_scan: 0,
            next_pid_check: 0,
            idle_turns: 0,
            reclaimed,
            _lock: lock,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }

    /// Files a dead driver had left, removed at start.
    pub fn reclaimed(&self) -> usize {
        self.reclaimed
    }

    /// Clients served now.
    pub fn clients(&self) -> usize {
        self.served.iter().filter(|s| s.is_some()).count()
    }

    /// Serves until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        while !stop.load(Ordering::Relaxed) {
            let work = self.run_once()?;
            self.idle(work)?;
        }
        Ok(())
    }

    /// One turn: stamps the heartbeat, scans the slot table when due, and serves every
    /// client once. Returns how many things it moved (0: idle).
    pub fn run_once(&mut self) -> io::Result<usize> {
        let now = now_ns();
        self.cnc.heartbeat().store(now, Ordering::Release);
        if now >= self.next_scan {
            self.next_scan = now + SCAN_NS;
            let check_pids = now >= self.next_pid_check;
            if check_pids {
                self.next_pid_check = now + PID_CHECK_NS;
            }
            self.scan(check_pids);
        }
        let mut work = 0;
        for i in 0..self.served.len() {
            let Some(s) = self.served[i].as_mut() else { continue };
            match s.serve(self.poll.registry(), i) {
                Ok(n) => work += n,
                Err(code) => self.fail(i, code),
            }
        }
        Ok(work)
    }

    /// Waits after a turn that moved `work` things: spin, yield, then sleep on the
    /// sockets for up to `idle_max`, longer the longer nothing happens.
    fn idle(&mut self, work: usize) -> io::Result<()> {
        if work > 0 {
            self.idle_turns = 0;
            return Ok(());
        }
        self.idle_turns = self.idle_turns.saturating_add(1);
        match self.idle_turns {
            0..=100 => std::hint::spin_loop(),
            101..=200 => std::thread::yield_now(),
            n => {
                let us = 10u64 << (n - 201).min(10);
                let wait = Duration::from_micros(us).min(self.cfg.idle_max);
                match self.poll.poll(&mut self.events, Some(wait)) {
                    Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
                    _ => {}
                }
                if !self.events.is_empty() {
                    self.idle_turns = 0;
                }
            }
        }
        Ok(())
    }

    /// Attaches new clients, releases closing and dead ones.
    fn scan(&mut self, check_pids: bool) {
        for i in 0..self.cnc.slots() {
            let word = self.cnc.owner(i).load(Ordering::Acquire);
            let (pid, state) = owner_parts(word);
            let dead = check_pids && state != layout::SLOT_FREE && !process_alive(pid);
            match state {
                layout::SLOT_FREE => {}
                layout::SLOT_READY if self.served[i].is_none() => {
                    match layout::attach_slot(&self.cfg.dir, i, &self.cnc) {
                        Ok(rings) => {
                            self.served[i] = Some(Served::new(rings));
                            let _ = self.cnc.owner(i).compare_exchange(
                                word,
                                owner_word(pid, layout::SLOT_ACTIVE),
                                Ordering::AcqRel,
                                Ordering::Relaxed,
                            );
                        }
                        Err(_) => self.fail(i, slot_error::BAD_SLOT),
                    }
                }
                layout::SLOT_CLOSING => self.release(i, true),
                layout::SLOT_CLAIMED | layout::SLOT_ACTIVE | layout::SLOT_FAILED | layout::SLOT_READY if dead => {
                    self.release(i, true)
                }
                layout::SLOT_CLAIMED | layout::SLOT_ACTIVE | layout::SLOT_FAILED | layout::SLOT_READY => {}
                _ => self.fail(i, slot_error::BAD_SLOT),
            }
        }
    }

    /// Ends slot `i`'s service (its connections closed gracefully, after what it had
    /// queued); `free` also gives the slot back.
    fn release(&mut self, i: usize, free: bool) {
        if let Some(s) = self.served[i].take() {
            s.close(self.poll.registry());
        }
        if free {
            let _ = std::fs::remove_file(layout::slot_file(&self.cfg.dir, i));
            self.cnc.slot_error(i).store(0, Ordering::Relaxed);
            self.cnc.owner(i).store(0, Ordering::Release);
        }
    }

    /// Closes slot `i` for breaking the protocol; the client reads `code` and the slot
    /// stays taken until it closes or dies.
    fn fail(&mut self, i: usize, code: u32) {
        self.release(i, false);
        let owner = self.cnc.owner(i);
        let (pid, _) = owner_parts(owner.load(Ordering::Acquire));
        self.cnc.slot_error(i).store(code, Ordering::Relaxed);
        owner.store(owner_word(pid, layout::SLOT_FAILED), Ordering::Release);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        for i in 0..self.served.len() {
            if let Some(s) = self.served[i].take() {
                s.close(self.poll.registry());
            }
        }
    }
}

/// Removes the files a dead driver left in `dir`; returns how many.
fn reclaim(dir: &Path) -> Result<usize, DriverError> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).map_err(DriverError::io(dir))? {
        let entry = entry.map_err(DriverError::io(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == layout::CNC_FILE || (name.starts_with("slot-") && name.ends_with(".dat")) {
            std::fs::remove_file(entry.path()).map_err(DriverError::io(&entry.path()))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Whether process `pid` exists (a zombie counts until it is reaped).
fn process_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid as i32, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Installs SIGINT and SIGTERM handlers that set the returned flag.
pub fn stop_on_signals() -> &'static AtomicBool {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(signal, on_stop_signal as *const () as libc::sighandler_t) };
    }
    &STOP
}
