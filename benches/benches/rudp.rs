//! Reliable UDP over loopback: KaosNet's `kaos-rudp` (mio and io_uring backends) beside
//! renet 2 (netcode transport, unsecure) and rusty_enet 0.4, with identical workloads.
//!
//! `cargo bench -p kaos-benches --bench rudp`
//!
//! - threads (the headline): bulk and ping-pong with client and server each on their own
//!   thread, sleeping on their sockets, `ROUNDS` interleaved rounds; bulk as the median of
//!   per-round ratios to the best peer, server CPU for the run, sends refused for a full
//!   window, RTT p50/p99 and the server's CPU over the round trips; kaos-rudp as shipped
//!   (busy-polling before it sleeps) and with busy polling off (`rudp/threads.rs`).
//!
//! - lossy: the threaded bulk through a relay dropping 0, 1 and 5 % of the datagrams
//!   each way (`rudp/lossy.rs`).
//!
//! - fan-out: 64 clients at 60 Hz, the server on its own thread waking for each datagram
//!   or on its tick; server CPU per client-tick beside rusty_enet's (`rudp/fanout.rs`).
//!
//! The rows below drive both ends from one thread in a busy loop: the CPU cost per
//! message with no sleeping at all.
//!
//! - bulk: one client sends 200,000 reliable-ordered 64-byte messages; the server checks
//!   each one's sequence number; messages/s from the first send to the last receipt.
//! - ping-pong: 5,000 reliable round trips of 64 bytes (the server echoes; the client
//!   sends the next when the echo is back); RTT p50 and p99.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaos_rudp::{RudpServer, RudpTransport, Transport, RELIABLE_ORDERED};

#[path = "rudp/fanout.rs"]
mod fanout;
#[path = "rudp/lossy.rs"]
mod lossy;
#[path = "rudp/peers.rs"]
mod peers;
#[path = "rudp/processes.rs"]
mod processes;
#[path = "rudp/raw.rs"]
mod raw;
#[path = "rudp/threads.rs"]
mod threads;

/// Interleaved rounds of the threaded workloads.
const ROUNDS: usize = 5;

const BULK: u64 = 200_000;
const PINGS: usize = 5_000;
const MSG: usize = 64;

fn message(seq: u64) -> [u8; MSG] {
    let mut m = [0x5A; MSG];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

fn seq_of(m: &[u8]) -> u64 {
    u64::from_le_bytes(m[..8].try_into().expect("8 bytes"))
}

/// Throughput of the bulk workload and RTT percentiles of the ping-pong workload.
struct Figures {
    bulk_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

/// The middle value of `v` (the upper one of an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// A connected pair for the one-thread workloads, set up as the threaded ones are.
fn kaos_pair(lib: &str) -> (RudpServer, RudpTransport, SocketAddr) {
    let (server, client) = threads::kaos_ends(lib);
    (server.server, client.0, server.client)
}

fn kaos(lib: &str) -> Figures {
    let (mut server, mut client, addr) = kaos_pair(lib);
    // bulk
    let start = Instant::now();
    let (mut sent, mut got) = (0u64, 0u64);
    while got < BULK {
        while sent < BULK && client.queue_on(RELIABLE_ORDERED, &message(sent)).is_ok() {
            sent += 1;
        }
        client.flush().unwrap();
        server.process().unwrap();
        server.receive(&addr, |m| {
            assert_eq!(seq_of(m), got, "out of order");
            got += 1;
        });
        server.flush().unwrap();
        client.process().unwrap();
    }
    let bulk_per_sec = BULK as f64 / start.elapsed().as_secs_f64();
    // ping-pong
    let mut rtts = Vec::with_capacity(PINGS);
    for i in 0..PINGS as u64 {
        let t = Instant::now();
        client.send(&message(i)).unwrap();
        let mut back = false;
        while !back {
            server.process().unwrap();
            let mut echo = None;
            server.receive(&addr, |m| echo = Some(m.to_vec()));
            if let Some(m) = echo {
                server.send(&addr, &m).unwrap();
                server.flush().unwrap();
            }
            client
                .receive(&mut |m| {
                    assert_eq!(seq_of(m), i);
                    back = true;
                })
                .unwrap();
        }
        rtts.push(t.elapsed());
    }
    rtts.sort();
    Figures { bulk_per_sec, p50: percentile(&rtts, 0.50), p99: percentile(&rtts, 0.99) }
}

/// CPU time the calling thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs the rows whose `section/library` name contains the first argument (all without
/// one): `cargo bench -p kaos-benches --bench rudp -- fan-out/kaos`.
fn main() {
    if let Ok(lib) = std::env::var("KAOS_RUDP_SERVE") {
        return processes::serve(&lib);
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let wanted = |section: &str, name: &str| format!("{section}/{name}").contains(&filter);
    type Row<T> = (&'static str, fn() -> T);
    let pairs: Vec<Row<Figures>> = vec![
        ("kaos-rudp (mio)", || kaos("kaos-mio")),
        #[cfg(target_os = "linux")]
        ("kaos-rudp (io_uring)", || kaos("kaos-uring")),
        ("renet 2.0.1 (netcode)", peers::renet),
        ("rusty_enet 0.4.1", peers::rusty_enet),
    ];
    threaded(&|name| wanted("threads", name));
    lossy_rows(&|name| wanted("lossy", name));
    let rows: Vec<_> = pairs.iter().filter(|(n, _)| wanted("pair", n)).map(|(n, run)| (n, run())).collect();
    if !rows.is_empty() {
        println!("reliable UDP over loopback, one thread driving both ends");
        println!("{:<28} {:>14} {:>12} {:>12}", "library", "bulk msgs/s", "RTT p50", "RTT p99");
    }
    for (name, f) in &rows {
        println!("{name:<28} {:>14.0} {:>10.1}µs {:>10.1}µs", f.bulk_per_sec, micros(f.p50), micros(f.p99));
    }
    fanout::rows(&wanted);
}

/// Bulk through a relay that loses 0, 1 and 5 % of the datagrams each way (and delivers
/// 1 % late), client and server on their own threads; the median of 3 rounds.
fn lossy_rows(wanted: &dyn Fn(&str) -> bool) {
    let libs = [
        ("kaos-rudp (mio)", "kaos-mio"),
        ("kaos-rudp (io_uring)", "kaos-uring"),
        ("renet 2.0.1 (netcode)", "renet"),
        ("rusty_enet 0.4.1", "rusty_enet"),
    ];
    let libs: Vec<_> = libs.iter().filter(|(name, _)| wanted(name)).collect();
    if libs.is_empty() {
        return;
    }
    const LOSSES: [f64; 3] = [0.0, 0.01, 0.05];
    println!(
        "bulk through a lossy relay (1 % delivered late), client and server on their own threads (median of 3 rounds)"
    );
    println!("{:<24} {:>14} {:>14} {:>14}", "library", "0 % loss", "1 % loss", "5 % loss");
    let mut runs = vec![vec![Vec::new(); LOSSES.len()]; libs.len()];
    for _ in 0..3 {
        for (i, (_, lib)) in libs.iter().enumerate() {
            for (j, &loss) in LOSSES.iter().enumerate() {
                runs[i][j].push(lossy::bulk(lib, loss));
            }
        }
    }
    for ((name, _), per_loss) in libs.iter().zip(runs) {
        let med: Vec<f64> = per_loss.into_iter().map(median).collect();
        println!("{name:<24} {:>14.0} {:>14.0} {:>14.0}", med[0], med[1], med[2]);
    }
}

/// One round of one library in the threaded workloads.
#[derive(Clone, Copy)]
struct ThreadRun {
    per_sec: f64,
    /// Bulk with the server in another process.
    across: f64,
    server_cpu: Duration,
    refused: u64,
    p50: Duration,
    p99: Duration,
    /// The server thread's CPU time over the round trips.
    ping_cpu: Duration,
}

/// One library in the threaded workloads.
struct ThreadRow {
    name: &'static str,
    /// The library's name for `threads::ends` and the process workload's child.
    lib: &'static str,
    peer: bool,
}

/// The threaded workloads, every library once per round, rounds interleaved.
fn threaded(wanted: &dyn Fn(&str) -> bool) {
    use threads::{bulk, ends, ping_pong};
    let rows = [
        ThreadRow { name: "kaos-rudp (mio)", lib: "kaos-mio", peer: false },
        #[cfg(target_os = "linux")]
        ThreadRow { name: "kaos-rudp (io_uring)", lib: "kaos-uring", peer: false },
        ThreadRow { name: "kaos-rudp (mio), no spin", lib: "kaos-mio-sleep", peer: false },
        #[cfg(target_os = "linux")]
        ThreadRow { name: "kaos-rudp (io_uring), no spin", lib: "kaos-uring-sleep", peer: false },
        ThreadRow { name: "renet 2.0.1 (netcode)", lib: "renet", peer: true },
        ThreadRow { name: "rusty_enet 0.4.1", lib: "rusty_enet", peer: true },
    ];
    let rows: Vec<&ThreadRow> = rows.iter().filter(|r| wanted(r.name)).collect();
    if rows.is_empty() {
        return;
    }
    let mut runs: Vec<Vec<ThreadRun>> = vec![Vec::new(); rows.len()];
    for _ in 0..ROUNDS {
        for (i, r) in rows.iter().enumerate() {
            let (server, client) = ends(r.lib);
            let b = bulk(server, client);
            let (server, client) = ends(r.lib);
            let (p50, p99, ping_cpu) = ping_pong(server, client);
            let across = processes::bulk(r.lib).per_sec;
            runs[i].push(ThreadRun {
                per_sec: b.per_sec,
                across,
                server_cpu: b.server_cpu,
                refused: b.refused,
                p50,
                p99,
                ping_cpu,
            });
        }
    }
    println!("reliable UDP over loopback, client and server on their own threads sleeping on their sockets ({ROUNDS} interleaved rounds, medians)");
    println!(
        "{:<28} {:>12} {:>16} {:>9} {:>10} {:>10} {:>14} {:>18} {:>16} {:>10}",
        "library",
        "bulk msgs/s",
        "server CPU/run",
        "refused",
        "RTT p50",
        "RTT p99",
        "CPU/pings",
        "bulk vs best peer",
        "across processes",
        "vs best"
    );
    for (i, r) in rows.iter().enumerate() {
        let col = |f: &dyn Fn(&ThreadRun) -> f64| median(runs[i].iter().map(f).collect());
        // The median of per-round ratios to the round's best peer.
        let ratio = |f: fn(&ThreadRun) -> f64| {
            let ratios: Vec<f64> = (0..ROUNDS)
                .filter_map(|k| {
                    let best =
                        rows.iter().zip(&runs).filter(|(r, _)| r.peer).map(|(_, v)| f(&v[k])).fold(0.0, f64::max);
                    (best > 0.0 && !r.peer).then(|| f(&runs[i][k]) / best)
                })
                .collect();
            if ratios.is_empty() {
                String::new()
            } else {
                format!("{:.2}x", median(ratios))
            }
        };
        println!(
            "{:<28} {:>12.0} {:>14.1}ms {:>9.0} {:>8.1}µs {:>8.1}µs {:>12.1}ms {:>18} {:>16.0} {:>10}",
            r.name,
            col(&|x| x.per_sec),
            col(&|x| x.server_cpu.as_secs_f64() * 1e3),
            col(&|x| x.refused as f64),
            col(&|x| micros(x.p50)),
            col(&|x| micros(x.p99)),
            col(&|x| x.ping_cpu.as_secs_f64() * 1e3),
            ratio(|x| x.per_sec),
            col(&|x| x.across),
            ratio(|x| x.across)
        );
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
