//! 64-byte messages between two threads: KaosNet's rings beside `rtrb` and
//! `crossbeam_queue::ArrayQueue`, all with 64 KiB of message storage, in one run.
//!
//! Each sample spawns a producer and a consumer thread (pinned to different CPUs on
//! Linux when there are two), lines them up on a barrier and times from the barrier until
//! the consumer has seen all `iters` messages. The producer writes the sequence number
//! into each 64-byte message; the consumer reads it back and sums it. When a queue is full
//! or empty the waiting side issues one `spin_loop` hint and retries. Throughput is in
//! messages per second.
//!
//! One message at a time on the producer side:
//! - `kaos_spsc`, `kaos_mpsc_1p`: `push`, consumer drains with `Consumer::read_batch`;
//! - `rtrb`: `push` / `pop`; `crossbeam_array_queue`: `push` / `pop`.
//!
//! Batches of 32 on the producer side, whole batches on the consumer side:
//! - `kaos_spsc_batch32`: `Producer::stage` ×32 then `publish`, `read_batch`;
//! - `rtrb_chunks32`: `write_chunk_uninit(32)`, `read_chunk(slots())`.

use std::hint::{black_box, spin_loop};
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use kaos_core::ring::{CacheLine, Consumer, MpscRing, Ring};

const MSG: usize = 64;
/// Bytes of message storage in every queue.
const STORAGE: usize = 64 * 1024;
/// Producer batch size of the batched variants.
const BATCH: u64 = 32;

fn message(seq: u64) -> [u8; MSG] {
    let mut m = [0x5A; MSG];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

fn seq_of(m: &[u8]) -> u64 {
    u64::from_le_bytes(m[..8].try_into().unwrap())
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
        let k = rx.read_batch(usize::MAX, |m| sum += seq_of(m)).unwrap();
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
            for i in 0..n {
                let m = message(i);
                while tx.push(&m).is_err() {
                    spin_loop();
                }
            }
        },
        move || drain(rx, n),
    )
}

fn kaos_spsc_batch(n: u64) -> Duration {
    let mut lines = vec![CacheLine::ZERO; CacheLine::lines_for(STORAGE)];
    let (mut tx, rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    timed_pair(
        move || {
            for i in 0..n {
                let m = message(i);
                // A full ring publishes what is staged, so the consumer can make room.
                while tx.stage(&m).is_err() {
                    spin_loop();
                }
                if i % BATCH == BATCH - 1 {
                    tx.publish();
                }
            }
            tx.publish();
        },
        move || drain(rx, n),
    )
}

fn kaos_mpsc(n: u64) -> Duration {
    let mut lines = vec![CacheLine::ZERO; CacheLine::lines_for(STORAGE)];
    let (mut tx, rx) = MpscRing::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    timed_pair(
        move || {
            for i in 0..n {
                let m = message(i);
                while tx.push(&m).is_err() {
                    spin_loop();
                }
            }
        },
        move || drain(rx, n),
    )
}

fn rtrb_pop(n: u64) -> Duration {
    let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; MSG]>::new(STORAGE / MSG);
    timed_pair(
        move || {
            for i in 0..n {
                let mut m = message(i);
                while let Err(rtrb::PushError::Full(back)) = tx.push(m) {
                    m = back;
                    spin_loop();
                }
            }
        },
        move || {
            let (mut got, mut sum) = (0, 0);
            while got < n {
                match rx.pop() {
                    Ok(m) => {
                        sum += seq_of(&m);
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
            let mut i = 0;
            while i < n {
                let k = BATCH.min(n - i);
                match tx.write_chunk_uninit(k as usize) {
                    Ok(chunk) => {
                        chunk.fill_from_iter((i..i + k).map(message));
                        i += k;
                    }
                    Err(_) => spin_loop(),
                }
            }
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
                    sum += seq_of(m);
                }
                chunk.commit_all();
                got += slots as u64;
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
            for i in 0..n {
                let mut m = message(i);
                while let Err(back) = q.push(m) {
                    m = back;
                    spin_loop();
                }
            }
        },
        move || {
            let (mut got, mut sum) = (0, 0);
            while got < n {
                match q.pop() {
                    Some(m) => {
                        sum += seq_of(&m);
                        got += 1;
                    }
                    None => spin_loop(),
                }
            }
            sum
        },
    )
}

fn ring_64b(c: &mut Criterion) {
    CAN_PIN.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2));
    let mut g = c.benchmark_group("ring_64B_two_threads");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("kaos_spsc", |b| b.iter_custom(kaos_spsc));
    g.bench_function("kaos_mpsc_1p", |b| b.iter_custom(kaos_mpsc));
    g.bench_function("rtrb", |b| b.iter_custom(rtrb_pop));
    g.bench_function("crossbeam_array_queue", |b| b.iter_custom(crossbeam));
    g.bench_function("kaos_spsc_batch32", |b| b.iter_custom(kaos_spsc_batch));
    g.bench_function("rtrb_chunks32", |b| b.iter_custom(rtrb_chunks));
    g.finish();
}

criterion_group!(benches, ring_64b);
criterion_main!(benches);
