//! 64-byte messages between two threads: KaosNet's rings beside `rtrb` and
//! `crossbeam_queue::ArrayQueue`, all with 64 KiB of message storage, in one run.
//!
//! `cargo bench -p kaos-benches --bench ring` runs every queue once per round for
//! `KAOS_RING_ROUNDS` rounds (default 15) of `KAOS_RING_MESSAGES` messages (default two
//! million), rotating the order each round, and prints each queue's median, min and max
//! and the median of the per-round ratios. Interleaving matters on shared virtual
//! machines, whose cross-core latency can change several-fold between minutes; a ratio
//! taken within one round compares queues under the same conditions.
//!
//! Each run spawns a producer and a consumer thread (pinned to different CPUs on Linux
//! when there are two), lines them up on a barrier and times until the consumer has seen
//! all messages. The producer forwards messages that are already in memory, as a server
//! forwards what it received: it writes sequence numbers into a block of 32 messages,
//! hides the block from the optimizer (`black_box`) and copies each message into the
//! queue. The consumer reads every byte of every message (a sum of its words). A waiting
//! side issues one `spin_loop` hint and retries.
//!
//! One message at a time on the producer side:
//! - `kaos_spsc`, `kaos_mpsc_1p`: `push`, consumer drains with `Consumer::read_batch`;
//! - `rtrb`: `push` / `pop`; `crossbeam_array_queue`: `push` / `pop`;
//! - `bbqueue_framed`: bbqueue 0.5's framed grants, `grant(64)` + `commit` / `read` +
//!   `release` (a variable-length byte queue like ours).
//!
//! Batches of 32 on the producer side, everything available on the consumer side:
//! - `kaos_spsc_batch32`: `Producer::batch`, `Batch::push` ×32, `publish`; `read_batch`;
//! - `rtrb_chunks32`: `write_chunk_uninit(32)` filled from the block, `read_chunk(slots())`.

use std::hint::{black_box, spin_loop};
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use kaos_core::ring::{CacheLine, Consumer, MpscRing, Ring};

const MSG: usize = 64;
/// Bytes of message storage in every queue.
const STORAGE: usize = 64 * 1024;
/// Producer batch size of the batched variants.
const BATCH: u64 = 32;

/// The producer's source: `BATCH` messages in memory.
type Block = [[u8; MSG]; BATCH as usize];

/// Runs `send` over blocks of `BATCH` messages (fewer in the last block) holding the
/// sequence numbers `0..n`. Each block is filled in memory and hidden from the optimizer,
/// so every queue copies real bytes rather than constants folded into its stores.
#[inline(always)]
fn blocks(n: u64, mut send: impl FnMut(&[[u8; MSG]])) {
    let mut block: Block = [[0x5A; MSG]; BATCH as usize];
    let mut i = 0;
    while i < n {
        let k = BATCH.min(n - i) as usize;
        for (j, m) in block[..k].iter_mut().enumerate() {
            m[..8].copy_from_slice(&(i + j as u64).to_le_bytes());
        }
        send(black_box(&block[..k]));
        i += k as u64;
    }
}

/// What the consumer does with a message: reads all of it (a wrapping sum of its eight
/// words). A consumer that read only the sequence number would let a queue skip the
/// cache traffic of the rest of the message, which no real consumer does.
/// Messages come out of KaosNet's rings as `&[u8]`; a consumer that knows its messages
/// are 64 bytes checks that once (`try_into`), as it would in a real program.
fn digest(m: &[u8]) -> u64 {
    let m: &[u8; MSG] = m.try_into().expect("64-byte message");
    m.chunks_exact(8).fold(0u64, |acc, w| acc.wrapping_add(u64::from_le_bytes(w.try_into().unwrap())))
}

/// Whether the process may use two CPUs, decided before any thread is pinned (threads
/// inherit their creator's affinity, so asking later would see one CPU).
static CAN_PIN: OnceLock<bool> = OnceLock::new();

/// Pins the calling thread to `cpu` (Linux, when the process may use at least two CPUs).
#[cfg(target_os = "linux")]
fn pin(cpu: usize) {
    if !CAN_PIN.get().copied().unwrap_or(false) {
        return;
    }
    // SAFETY: cpu_set_t is plain data, valid when zeroed; the call only reads the set we
    // pass, and a failure just leaves the thread unpinned.
    unsafe {
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one);
    }
}

#[cfg(not(target_os = "linux"))]
fn pin(_cpu: usize) {}

/// Runs `producer` on a new thread and `consumer` on this one, timing the consumer from
/// the moment both are ready.
fn timed_pair(producer: impl FnOnce() + Send, consumer: impl FnOnce() -> u64) -> Duration {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            pin(1);
            barrier.wait();
            producer();
        });
        pin(0);
        barrier.wait();
        let start = Instant::now();
        black_box(consumer());
        start.elapsed()
    })
}

/// Drains `n` messages with `read_batch`.
fn drain(mut rx: Consumer<'_>, n: u64) -> u64 {
    let (mut got, mut sum) = (0, 0);
    while got < n {
        let k = rx.read_batch(usize::MAX, |m| sum = digest(m).wrapping_add(sum)).unwrap();
        if k == 0 {
            spin_loop();
        }
        got += k as u64;
    }
    sum
}

fn kaos_spsc(n: u64) -> Duration {
    let mut lines = vec![CacheLine::ZERO; CacheLine::lines_for(STORAGE)];
    let (mut tx, rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    timed_pair(
        move || {
            blocks(n, |block| {
                for m in block {
                    while tx.push(m).is_err() {
                        spin_loop();
                    }
                }
            })
        },
        move || drain(rx, n),
    )
}

fn kaos_spsc_batch(n: u64) -> Duration {
    let mut lines = vec![CacheLine::ZERO; CacheLine::lines_for(STORAGE)];
    let (mut tx, rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    timed_pair(
        move || {
            blocks(n, |mut block| {
                while !block.is_empty() {
                    let mut batch = tx.batch();
                    // On a full ring the batch publishes what it holds, so the consumer
                    // can make room; a new batch goes on from there.
                    while let Some((m, rest)) = block.split_first() {
                        if batch.push(m).is_err() {
                            break;
                        }
                        block = rest;
                    }
                    batch.publish();
                    if !block.is_empty() {
                        spin_loop();
                    }
                }
            })
        },
        move || drain(rx, n),
    )
}

fn kaos_mpsc(n: u64) -> Duration {
    let mut lines = vec![CacheLine::ZERO; CacheLine::lines_for(STORAGE)];
    let (mut tx, rx) = MpscRing::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    timed_pair(
        move || {
            blocks(n, |block| {
                for m in block {
                    while tx.push(m).is_err() {
                        spin_loop();
                    }
                }
            })
        },
        move || drain(rx, n),
    )
}

fn rtrb_pop(n: u64) -> Duration {
    let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; MSG]>::new(STORAGE / MSG);
    timed_pair(
        move || {
            blocks(n, |block| {
                for m in block {
                    while tx.push(*m).is_err() {
                        spin_loop();
                    }
                }
            })
        },
        move || {
            let (mut got, mut sum) = (0, 0);
            while got < n {
                match rx.pop() {
                    Ok(m) => {
                        sum = digest(&m).wrapping_add(sum);
                        got += 1;
                    }
                    Err(_) => spin_loop(),
                }
            }
            sum
        },
    )
}

fn rtrb_chunks(n: u64) -> Duration {
    let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; MSG]>::new(STORAGE / MSG);
    timed_pair(
        move || {
            blocks(n, |mut block| {
                while !block.is_empty() {
                    match tx.write_chunk_uninit(block.len()) {
                        Ok(chunk) => {
                            chunk.fill_from_iter(block.iter().copied());
                            block = &[];
                        }
                        Err(_) => spin_loop(),
                    }
                }
            })
        },
        move || {
            let (mut got, mut sum) = (0, 0);
            while got < n {
                let slots = rx.slots();
                if slots == 0 {
                    spin_loop();
                    continue;
                }
                let chunk = rx.read_chunk(slots).unwrap();
                let (a, b) = chunk.as_slices();
                for m in a.iter().chain(b) {
                    sum = digest(m).wrapping_add(sum);
                }
                chunk.commit_all();
                got += slots as u64;
            }
            sum
        },
    )
}

/// bbqueue's framed grants: a variable-length SPSC byte queue, the same shape as ours
/// (a length header in front of each message, a contiguous grant to write in place).
fn bbqueue_framed(n: u64) -> Duration {
    let buf: Box<bbqueue::BBBuffer<STORAGE>> = Box::new(bbqueue::BBBuffer::new());
    let (mut tx, mut rx) = buf.try_split_framed().unwrap();
    timed_pair(
        move || {
            blocks(n, |block| {
                for m in block {
                    let mut grant = loop {
                        match tx.grant(MSG) {
                            Ok(g) => break g,
                            Err(_) => spin_loop(),
                        }
                    };
                    grant.copy_from_slice(m);
                    grant.commit(MSG);
                }
            })
        },
        move || {
            let (mut got, mut sum) = (0, 0);
            while got < n {
                match rx.read() {
                    Some(frame) => {
                        sum = digest(&frame).wrapping_add(sum);
                        frame.release();
                        got += 1;
                    }
                    None => spin_loop(),
                }
            }
            sum
        },
    )
}

fn crossbeam(n: u64) -> Duration {
    let q = ArrayQueue::<[u8; MSG]>::new(STORAGE / MSG);
    let q = &q;
    timed_pair(
        move || {
            blocks(n, |block| {
                for m in block {
                    while q.push(*m).is_err() {
                        spin_loop();
                    }
                }
            })
        },
        move || {
            let (mut got, mut sum) = (0, 0);
            while got < n {
                match q.pop() {
                    Some(m) => {
                        sum = digest(&m).wrapping_add(sum);
                        got += 1;
                    }
                    None => spin_loop(),
                }
            }
            sum
        },
    )
}

/// One benchmarked queue: its name and a run of `n` messages.
type Case = (&'static str, fn(u64) -> Duration);

const CASES: [Case; 9] = [
    ("kaos_spsc", kaos_spsc),
    ("kaos_mpsc_1p", kaos_mpsc),
    ("rtrb", rtrb_pop),
    ("bbqueue_framed", bbqueue_framed),
    ("crossbeam_array_queue", crossbeam),
    ("kaos_spsc_batch32", kaos_spsc_batch),
    ("rtrb_chunks32", rtrb_chunks),
    ("probe_stride64", probe::<64>),
    ("probe_stride72", probe::<72>),
];

/// Ratios printed at the end: (ours, peer).
const RATIOS: [(&str, &str); 7] = [
    ("kaos_spsc", "rtrb"),
    ("kaos_spsc", "bbqueue_framed"),
    ("kaos_spsc", "probe_stride72"),
    ("kaos_mpsc_1p", "rtrb"),
    ("kaos_spsc_batch32", "rtrb_chunks32"),
    ("kaos_spsc_batch32", "rtrb"),
    ("probe_stride72", "probe_stride64"),
];

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    CAN_PIN.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2));
    // `cargo bench` passes `--bench`; any other argument filters cases by substring.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let cases: Vec<Case> = CASES
        .into_iter()
        .filter(|(name, _)| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())))
        .collect();
    let rounds = env_or("KAOS_RING_ROUNDS", 15) as usize;
    let n = env_or("KAOS_RING_MESSAGES", 2_000_000);
    for (_, run) in &cases {
        run(n / 10);
    }
    let mut rates = vec![Vec::with_capacity(rounds); cases.len()];
    for round in 0..rounds {
        // Rotate the order so no queue always runs right after the same neighbour.
        for k in 0..cases.len() {
            let i = (round + k) % cases.len();
            rates[i].push(n as f64 / cases[i].1(n).as_secs_f64() / 1e6);
        }
    }
    println!("ring_64B_two_threads: {rounds} rounds of {n} messages, queues interleaved in every round");
    println!("{:<24} {:>10} {:>10} {:>10}   (M msgs/s)", "queue", "median", "min", "max");
    for ((name, _), r) in cases.iter().zip(&rates) {
        let (lo, hi) = r.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        println!("{name:<24} {:>10.1} {lo:>10.1} {hi:>10.1}", median(&mut r.clone()));
    }
    let index = |name: &str| cases.iter().position(|(n, _)| *n == name);
    for (ours, peer) in RATIOS {
        if let (Some(a), Some(b)) = (index(ours), index(peer)) {
            let mut per_round: Vec<f64> = rates[a].iter().zip(&rates[b]).map(|(x, y)| x / y).collect();
            println!("{ours} / {peer}: median of per-round ratios {:.2}x", median(&mut per_round));
        }
    }
}

/// Layout probes: a minimal SPSC ring of fixed `REC`-byte records, the 64-byte message
/// at the end of each record (a 4-byte length word in front of it when `REC > 64`), one
/// message published at a time. Not KaosNet code: they show what a record stride costs on
/// the machine, apart from any implementation. `probe_stride64` is rtrb's layout (a slot
/// per message), `probe_stride72` KaosNet's (an 8-byte header before each 64-byte payload).
fn probe<const REC: u64>(n: u64) -> Duration {
    use std::sync::atomic::{AtomicU64, Ordering::*};
    const CAP: u64 = STORAGE as u64;
    #[repr(C, align(128))]
    struct Counter(AtomicU64);
    let (tail, head) = (Counter(AtomicU64::new(0)), Counter(AtomicU64::new(0)));
    let mut lines = vec![CacheLine::ZERO; STORAGE / 64];
    let buf = CacheLine::as_bytes_mut(&mut lines).as_mut_ptr() as usize;
    let (tail, head) = (&tail, &head);
    // Records never straddle the end: a record that would is skipped to offset 0, which
    // both sides work out from the position alone.
    let place = |pos: u64| if pos % CAP + REC > CAP { pos + CAP - pos % CAP } else { pos };
    timed_pair(
        move || {
            let (mut pos, mut head_cache) = (0u64, 0u64);
            blocks(n, |block| {
                for m in block {
                    let at = place(pos);
                    while at + REC - head_cache > CAP {
                        head_cache = head.0.load(Acquire);
                        spin_loop();
                    }
                    let o = (at % CAP) as usize;
                    // SAFETY: `o + REC <= CAP` (`place`), the buffer holds CAP bytes, and the
                    // consumer has released these bytes (`head_cache`); u32 stores need
                    // 4-byte alignment, which 8-byte record offsets give.
                    unsafe {
                        let rec = (buf as *mut u8).add(o);
                        if REC > 64 {
                            rec.cast::<u32>().write(0x8000_0040);
                        }
                        std::ptr::copy_nonoverlapping(m.as_ptr(), rec.add((REC - 64) as usize), 64);
                    }
                    pos = at + REC;
                    tail.0.store(pos, Release);
                }
            })
        },
        move || {
            let (mut got, mut sum, mut pos, mut avail_to) = (0, 0u64, 0u64, 0u64);
            while got < n {
                if pos == avail_to {
                    avail_to = tail.0.load(Acquire);
                    if pos == avail_to {
                        spin_loop();
                        continue;
                    }
                }
                let at = place(pos);
                // SAFETY: the producer published this record (`avail_to`) and will not
                // touch it before `head` passes it.
                let m = unsafe {
                    let rec = (buf as *const u8).add((at % CAP) as usize);
                    if REC > 64 {
                        black_box(rec.cast::<u32>().read());
                    }
                    std::slice::from_raw_parts(rec.add((REC - 64) as usize), 64)
                };
                sum = digest(m).wrapping_add(sum);
                pos = at + REC;
                got += 1;
                head.0.store(pos, Release);
            }
            sum
        },
    )
}
