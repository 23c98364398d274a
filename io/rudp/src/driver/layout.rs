//! The shared memory between the media driver and its clients, and the records on its
//! rings. Both sides map the same files; nothing here trusts what the other side wrote.
//!
//! A driver directory (`/dev/shm/kaos-driver-<name>` by default) holds:
//!
//! ```text
//! driver.lock   held with flock(LOCK_EX) by the live driver; never deleted
//! cnc.dat       command-and-control: header, driver heartbeat, slot table
//! slot-<n>.dat  one client's three rings, made by the client that claimed slot n
//! ```
//!
//! `cnc.dat` (native-endian, offsets in bytes):
//!
//! ```text
//!   0  magic u32 "KDRV" (stored last)   4  version u32   8  max_slots u32
//!  12  control_bytes u32               16  data_bytes u32  20  driver_pid u32
//!  64  heartbeat u64: CLOCK_MONOTONIC ns, stored by the driver on every loop turn
//! 128  slot i at 128 + 64 * i: owner u64 = pid << 32 | state, error u32
//! ```
//!
//! `slot-<n>.dat` holds three kaos-core SPSC rings back to back: control (client to
//! driver, `control_bytes` of data), to-driver messages and from-driver records
//! (`data_bytes` each).

use std::fs::{File, OpenOptions};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use kaos_core::ring::{self, Consumer, Producer, Ring};
use memmap2::MmapMut;

use super::DriverError;

/// First word of `cnc.dat`: `"KDRV"`.
pub const CNC_MAGIC: u32 = u32::from_le_bytes(*b"KDRV");
/// Version of this layout and of the records below; a driver and a client of different
/// versions refuse each other.
pub const LAYOUT_VERSION: u32 = 1;
/// The command-and-control file.
pub const CNC_FILE: &str = "cnc.dat";
/// The file the live driver holds locked.
pub const LOCK_FILE: &str = "driver.lock";
/// Most slots a driver offers.
pub const MAX_SLOTS: u32 = 4096;
/// Bytes of `cnc.dat` before the slot table.
const CNC_HEADER: usize = 128;
const SLOT_LEN: usize = 64;

/// Slot states (low half of `owner`).
pub const SLOT_FREE: u32 = 0;
/// A client took the slot and is making its rings.
pub const SLOT_CLAIMED: u32 = 1;
/// The rings are ready; the driver attaches on its next scan.
pub const SLOT_READY: u32 = 2;
/// The driver serves the slot.
pub const SLOT_ACTIVE: u32 = 3;
/// The client is done; the driver releases the slot.
pub const SLOT_CLOSING: u32 = 4;
/// The driver closed the slot because its rings broke the protocol (`error` says how).
pub const SLOT_FAILED: u32 = 5;

/// The file of slot `n`.
pub fn slot_file(dir: &Path, n: usize) -> PathBuf {
    dir.join(format!("slot-{n}.dat"))
}

/// Bytes of a slot file.
pub fn slot_file_len(control_bytes: usize, data_bytes: usize) -> usize {
    ring::region_len(control_bytes) + 2 * ring::region_len(data_bytes)
}

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process on the machine, read
/// through the vDSO (no system call).
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to the live local.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A mapped `cnc.dat`, checked to be of this layout.
#[derive(Debug)]
pub struct Cnc {
    map: MmapMut,
    /// The file stays open: a client asks it whether a newer driver replaced it.
    file: File,
    slots: usize,
    control_bytes: usize,
    data_bytes: usize,
}

impl Cnc {
    /// Creates `cnc.dat` in `dir` (replacing any) for a driver with these sizes.
    pub fn create(dir: &Path, slots: u32, control_bytes: u32, data_bytes: u32) -> Result<Cnc, DriverError> {
        let path = dir.join(CNC_FILE);
        let _ = std::fs::remove_file(&path);
        let file =
            OpenOptions::new().read(true).write(true).create_new(true).open(&path).map_err(DriverError::io(&path))?;
        file.set_len((CNC_HEADER + slots as usize * SLOT_LEN) as u64).map_err(DriverError::io(&path))?;
        // SAFETY: a file this process just made; other processes only map it through Cnc,
        // whose every access is atomic.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(DriverError::io(&path))?;
        let cnc = Cnc {
            map,
            file,
            slots: slots as usize,
            control_bytes: control_bytes as usize,
            data_bytes: data_bytes as usize,
        };
        cnc.word(4).store(LAYOUT_VERSION, Ordering::Relaxed);
        cnc.word(8).store(slots, Ordering::Relaxed);
        cnc.word(12).store(control_bytes, Ordering::Relaxed);
        cnc.word(16).store(data_bytes, Ordering::Relaxed);
        cnc.word(20).store(std::process::id(), Ordering::Relaxed);
        cnc.heartbeat().store(now_ns(), Ordering::Relaxed);
        cnc.word(0).store(CNC_MAGIC, Ordering::Release);
        Ok(cnc)
    }

    /// Maps the `cnc.dat` of the driver in `dir`, refusing another layout version.
    pub fn open(dir: &Path) -> Result<Cnc, DriverError> {
        let path = dir.join(CNC_FILE);
        let file = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                DriverError::NotRunning(dir.to_path_buf())
            } else {
                DriverError::io(&path)(e)
            }
        })?;
        let len = file.metadata().map_err(DriverError::io(&path))?.len() as usize;
        if len < CNC_HEADER {
            return Err(DriverError::BadLayout(format!("{} is {len} bytes", path.display())));
        }
        // SAFETY: every access to the mapping goes through atomics (`word`, `heartbeat`,
        // `slot`), whatever the driver or other clients write.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(DriverError::io(&path))?;
        let mut cnc = Cnc { map, file, slots: 0, control_bytes: 0, data_bytes: 0 };
        if cnc.word(0).load(Ordering::Acquire) != CNC_MAGIC {
            return Err(DriverError::BadLayout(format!("{} is not a driver file", path.display())));
        }
        let version = cnc.word(4).load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(DriverError::VersionMismatch { driver: version, client: LAYOUT_VERSION });
        }
        let slots = cnc.word(8).load(Ordering::Relaxed) as usize;
        let control = cnc.word(12).load(Ordering::Relaxed) as usize;
        let data = cnc.word(16).load(Ordering::Relaxed) as usize;
        let sizes_ok = |b: usize| b.is_power_of_two() && (ring::MIN_CAPACITY..=ring::MAX_CAPACITY).contains(&b);
        if slots == 0
            || slots > MAX_SLOTS as usize
            || CNC_HEADER + slots * SLOT_LEN > len
            || !sizes_ok(control)
            || !sizes_ok(data)
        {
            return Err(DriverError::BadLayout(format!("{} has impossible sizes", path.display())));
        }
        cnc.slots = slots;
        cnc.control_bytes = control;
        cnc.data_bytes = data;
        Ok(cnc)
    }

    fn word(&self, off: usize) -> &AtomicU32 {
        assert!(off % 4 == 0 && off + 4 <= CNC_HEADER);
        // SAFETY: the mapping is page-aligned and at least CNC_HEADER bytes long (checked
        // at create/open), so the word is aligned and in bounds; shared memory is only
        // accessed atomically.
        unsafe { &*self.map.as_ptr().add(off).cast::<AtomicU32>() }
    }

    /// The driver's heartbeat: `now_ns()` at its latest loop turn.
    pub fn heartbeat(&self) -> &AtomicU64 {
        // SAFETY: offset 64 of a page-aligned mapping of at least CNC_HEADER bytes.
        unsafe { &*self.map.as_ptr().add(64).cast::<AtomicU64>() }
    }

    /// The driver's process id as it wrote it.
    pub fn driver_pid(&self) -> u32 {
        self.word(20).load(Ordering::Relaxed)
    }

    /// Slot `i`'s owner word: `pid << 32 | state`.
    pub fn owner(&self, i: usize) -> &AtomicU64 {
        assert!(i < self.slots);
        // SAFETY: `i < slots` and open/create checked that the table fits the mapping;
        // slot entries are 64-byte aligned.
        unsafe { &*self.map.as_ptr().add(CNC_HEADER + i * SLOT_LEN).cast::<AtomicU64>() }
    }

    /// Slot `i`'s error code (set with [`SLOT_FAILED`]).
    pub fn slot_error(&self, i: usize) -> &AtomicU32 {
        assert!(i < self.slots);
        // SAFETY: as in `owner`, 8 bytes further.
        unsafe { &*self.map.as_ptr().add(CNC_HEADER + i * SLOT_LEN + 8).cast::<AtomicU32>() }
    }

    /// Slots in the table.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Data bytes of each client's control ring.
    pub fn control_bytes(&self) -> usize {
        self.control_bytes
    }

    /// Data bytes of each client's message rings.
    pub fn data_bytes(&self) -> usize {
        self.data_bytes
    }

    /// Whether the file this maps was deleted (a newer driver replaced it).
    pub fn replaced(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.file.metadata().map(|m| m.nlink() == 0).unwrap_or(true)
    }
}

/// Packs a slot owner word.
pub fn owner_word(pid: u32, state: u32) -> u64 {
    (u64::from(pid) << 32) | u64::from(state)
}

/// Unpacks a slot owner word: `(pid, state)`.
pub fn owner_parts(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// One slot's rings, as one side sees them. The rings are dropped before the mapping.
pub struct SlotRings<Out, In> {
    /// Control: the client's producer or the driver's consumer.
    pub control: Out,
    /// Messages to the driver (the client's producer) or from the client (the driver's
    /// consumer).
    pub to_driver: Out,
    /// Records from the driver (the client's consumer) or to the client (the driver's
    /// producer).
    pub from_driver: In,
    _map: MmapMut,
}

impl<Out, In> std::fmt::Debug for SlotRings<Out, In> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlotRings")
    }
}

/// The client's halves.
pub type ClientRings = SlotRings<Producer<'static>, Consumer<'static>>;
/// The driver's halves.
pub type DriverRings = SlotRings<Consumer<'static>, Producer<'static>>;

/// Ring regions of a slot file: (offset, length) of control, to-driver, from-driver.
fn regions(control_bytes: usize, data_bytes: usize) -> [(usize, usize); 3] {
    let c = ring::region_len(control_bytes);
    let d = ring::region_len(data_bytes);
    [(0, c), (c, d), (c + d, d)]
}

/// Creates slot `n`'s file and its three empty rings (client side).
pub fn create_slot(dir: &Path, n: usize, cnc: &Cnc) -> Result<ClientRings, DriverError> {
    let path = slot_file(dir, n);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(DriverError::io(&path))?;
    let len = slot_file_len(cnc.control_bytes, cnc.data_bytes);
    file.set_len(len as u64).map_err(DriverError::io(&path))?;
    // SAFETY: the rings below are the only accessors of the mapping in this process; the
    // driver maps it too and reaches it only through ring handles.
    let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(DriverError::io(&path))?;
    let base = map.as_mut_ptr();
    let [c, t, f] = regions(cnc.control_bytes, cnc.data_bytes);
    // SAFETY: each region lies inside the `len`-byte mapping, the regions are disjoint
    // and 64-byte aligned (a page-aligned base plus multiples of 64), and the mapping
    // lives in the returned value, whose rings drop before it.
    let ring = |(off, n): (usize, usize)| unsafe { Ring::init_raw(base.add(off), n) };
    let (control, _) = ring(c).map_err(DriverError::Ring)?.split();
    let (to_driver, _) = ring(t).map_err(DriverError::Ring)?.split();
    let (_, from_driver) = ring(f).map_err(DriverError::Ring)?.split();
    Ok(SlotRings { control, to_driver, from_driver, _map: map })
}

/// Maps slot `n`'s rings (driver side), validating every ring header.
pub fn attach_slot(dir: &Path, n: usize, cnc: &Cnc) -> Result<DriverRings, DriverError> {
    let path = slot_file(dir, n);
    let file = OpenOptions::new().read(true).write(true).open(&path).map_err(DriverError::io(&path))?;
    let len = slot_file_len(cnc.control_bytes, cnc.data_bytes);
    if (file.metadata().map_err(DriverError::io(&path))?.len() as usize) < len {
        return Err(DriverError::BadLayout(format!("{} is too short", path.display())));
    }
    // SAFETY: as in `create_slot`; a client that breaks the layout can only make the
    // rings below return errors.
    let mut map = unsafe { memmap2::MmapOptions::new().len(len).map_mut(&file) }.map_err(DriverError::io(&path))?;
    let base = map.as_mut_ptr();
    let [c, t, f] = regions(cnc.control_bytes, cnc.data_bytes);
    // SAFETY: as in `create_slot`.
    let ring = |(off, n): (usize, usize)| unsafe { Ring::from_raw(base.add(off), n) };
    let (_, control) = ring(c).map_err(DriverError::Ring)?.split();
    let (_, to_driver) = ring(t).map_err(DriverError::Ring)?.split();
    let (from_driver, _) = ring(f).map_err(DriverError::Ring)?.split();
    Ok(SlotRings { control, to_driver, from_driver, _map: map })
}

/// Bytes of an encoded socket address.
pub const ADDR_LEN: usize = 19;

/// Encodes `addr`: family (4 or 6), 16 address bytes, port (little-endian).
pub fn put_addr(out: &mut [u8], addr: SocketAddr) {
    out[..ADDR_LEN].fill(0);
    match addr.ip() {
        IpAddr::V4(ip) => {
            out[0] = 4;
            out[1..5].copy_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out[0] = 6;
            out[1..17].copy_from_slice(&ip.octets());
        }
    }
    out[17..19].copy_from_slice(&addr.port().to_le_bytes());
}

/// Decodes an address written by [`put_addr`].
pub fn get_addr(b: &[u8]) -> Option<SocketAddr> {
    let b = b.get(..ADDR_LEN)?;
    let port = u16::from_le_bytes([b[17], b[18]]);
    let ip = match b[0] {
        4 => IpAddr::V4(Ipv4Addr::new(b[1], b[2], b[3], b[4])),
        6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&b[1..17]).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}
