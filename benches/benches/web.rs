//! HTTP and WebSocket servers over loopback, each beside its peer in the same run:
//!
//! - http: small-JSON `GET /json` requests/s, kaos-http against hyper 1 (tokio,
//!   current-thread), 50 keep-alive connections, one request in flight each (as wrk
//!   sends them), then 16 pipelined.
//! - echo: WebSocket echo messages/s with 1,000 connections, one 32-byte message in
//!   flight each, kaos-ws against tokio-tungstenite (current-thread).
//! - scale: 15,000 WebSocket connections held by one server process, opened from
//!   127.0.0.1 to 127.0.0.4; server memory per connection once they are idle, and a
//!   round of echoes on all of them to prove they are live.
//!
//! `cargo bench -p kaos-benches --bench web` (about 3 minutes). Every server runs in a
//! child process (this binary again, with `KAOS_WEB_SERVE` set) on one thread; the load
//! generator runs here on one thread (the machine has two cores). Server CPU comes from
//! the child's /proc counters and memory from its resident set.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

#[path = "common/child.rs"]
mod child;
#[path = "web/loadgen.rs"]
#[allow(dead_code)] // shared with the services benchmark
mod loadgen;
#[path = "common/procfs.rs"]
mod procfs;
#[path = "web/servers.rs"]
mod servers;

use loadgen::{LoadGen, Mode};

const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(4);
/// Alternating rounds per throughput workload; the median is reported.
const ROUNDS: usize = 3;
const HTTP_CONNECTIONS: usize = 50;
/// Requests in flight per connection in the pipelined HTTP run.
const PIPELINE_DEPTH: usize = 16;
const ECHO_CONNECTIONS: usize = 1000;
const SCALE_CONNECTIONS: usize = 15_000;

/// Server `kind` in a child process (`KAOS_WEB_SERVE` names it).
fn start(kind: &str) -> child::Child {
    child::Child::start(&[("KAOS_WEB_SERVE", kind)])
}

struct Rate {
    per_sec: f64,
    /// Server CPU per reply, microseconds.
    cpu_us: f64,
}

/// Runs `mode` against server `kind` with `connections`: replies/s and server CPU each.
fn throughput(kind: &str, mode: Mode, connections: usize) -> Rate {
    let server = start(kind);
    let mut load = LoadGen::new(mode, server.addr, connections, vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    load.connect_all(Duration::from_secs(30));
    assert_eq!(load.open, connections, "{kind}: only {} of {connections} connected", load.open);
    load.run_for(WARMUP);
    let (replies, cpu, start) = (load.replies, server.cpu(), Instant::now());
    load.run_for(MEASURE);
    let (replies, cpu, elapsed) = (load.replies - replies, server.cpu() - cpu, start.elapsed());
    assert_eq!(load.failed, 0, "{kind}: connections failed");
    Rate { per_sec: replies as f64 / elapsed.as_secs_f64(), cpu_us: cpu.as_secs_f64() * 1e6 / replies as f64 }
}

struct Scale {
    per_conn: f64,
    connect_secs: f64,
    live: usize,
    idle_cpu: f64,
}

/// Opens `SCALE_CONNECTIONS` WebSocket connections to `kind`, one echo each, then idle.
fn scale(kind: &str) -> Scale {
    let server = start(kind);
    let before = server.resident();
    let sources = (1..=4).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i))).collect();
    let mut load = LoadGen::new(Mode::Ws { echo: false }, server.addr, SCALE_CONNECTIONS, sources);
    let start = Instant::now();
    load.connect_all(Duration::from_secs(120));
    let connect_secs = start.elapsed().as_secs_f64();
    // Every connection has sent its first message; wait for the echoes and for idle.
    load.run_for(Duration::from_secs(3));
    let cpu = server.cpu();
    load.run_for(Duration::from_secs(2));
    let idle_cpu = (server.cpu() - cpu).as_secs_f64() / 2.0;
    let per_conn = (server.resident() - before) as f64 / load.open as f64;
    let live = load.ping_all(Duration::from_secs(30));
    Scale { per_conn, connect_secs, live, idle_cpu }
}

/// Runs each server `ROUNDS` times, alternating, and prints the medians (the machine's
/// other tenants make single runs vary by a fifth).
fn rounds(kinds: &[&str], mode: Mode, connections: usize) {
    let mut results: Vec<Vec<Rate>> = kinds.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        for (k, kind) in kinds.iter().enumerate() {
            results[k].push(throughput(kind, mode, connections));
        }
    }
    for (kind, mut rates) in kinds.iter().zip(results) {
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let mut per_sec: Vec<f64> = rates.iter().map(|r| r.per_sec).collect();
        let mut cpu: Vec<f64> = rates.drain(..).map(|r| r.cpu_us).collect();
        let all: Vec<String> = per_sec.iter().map(|r| format!("{:.0}k", r / 1000.0)).collect();
        println!("{kind:<34}{:>14.0}{:>20.2}µs   (rounds: {})", median(&mut per_sec), median(&mut cpu), all.join(" "));
    }
}

fn main() {
    if let Ok(kind) = std::env::var("KAOS_WEB_SERVE") {
        return servers::serve(&kind);
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // KAOS_WEB_ONLY=http|echo|scale runs one section (for profiling).
    let only = std::env::var("KAOS_WEB_ONLY").ok();
    let run = |section: &str| only.as_deref().is_none_or(|o| o == section);
    if run("http") {
        let depths: Vec<usize> = match std::env::var("KAOS_WEB_DEPTH") {
            Ok(d) => vec![d.parse().unwrap()],
            Err(_) => vec![1, PIPELINE_DEPTH],
        };
        for depth in depths {
            println!(
                "small-JSON HTTP: {HTTP_CONNECTIONS} keep-alive connections, {depth} request(s) in flight each, {MEASURE:?}, median of {ROUNDS} rounds"
            );
            println!("{:<34}{:>14}{:>22}", "server (one thread)", "requests/s", "server CPU/request");
            rounds(&["kaos-http", "hyper"], Mode::Http { depth }, HTTP_CONNECTIONS);
        }
    }
    if run("echo") {
        println!("WebSocket echo: {ECHO_CONNECTIONS} connections, one 32-byte message in flight each, {MEASURE:?}, median of {ROUNDS} rounds");
        println!("{:<34}{:>14}{:>22}", "server (one thread)", "messages/s", "server CPU/message");
        rounds(&["kaos-ws", "tokio-tungstenite"], Mode::Ws { echo: true }, ECHO_CONNECTIONS);
    }
    if run("scale") {
        println!("WebSocket scale: {SCALE_CONNECTIONS} connections from 127.0.0.1-4, one echo each, then idle");
        println!("{:<34}{:>14}{:>12}{:>14}{:>12}", "server", "memory/conn", "connect", "live (echo)", "idle CPU");
        for kind in ["kaos-ws", "tokio-tungstenite", "tokio-tungstenite-4k"] {
            let s = scale(kind);
            println!(
                "{kind:<34}{:>12.2}KiB{:>11.1}s{:>14}{:>11.1}%",
                s.per_conn / 1024.0,
                s.connect_secs,
                s.live,
                s.idle_cpu * 100.0
            );
        }
    }
}
