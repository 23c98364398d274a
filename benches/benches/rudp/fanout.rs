//! The fan-out workload: 64 clients at 60 Hz; every tick the server sends each client a
//! 200-byte reliable state and each client sends a 16-byte input. The server runs on its
//! own thread, whose CPU time is measured; one thread runs the 64 clients, visiting each
//! and then sleeping 200 µs. Reported: server CPU per client-tick, the server's wakes
//! per tick and the p99 one-way latency of states (stamped when sent, read when received;
//! one process, one clock). Two server loops, each run by every library:
//! - `fan-out/`: the server sleeps on its socket and wakes for each datagram (renet and
//!   rusty_enet have no blocking wait: `poll(2)` on their socket);
//! - `fan-out-tick/`: the server sleeps until its next tick, then takes all that arrived
//!   (a fixed-rate game loop).
//!
//! A last row, "plain UDP, no protocol" (`raw.rs`), moves the same datagrams with no
//! library at all: the kernel's share, under every row.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaos_rudp::{IoBackend, RudpConfig, RudpServer, RudpTransport, Transport};

use super::{median, micros, peers, percentile, thread_cpu};

/// Interleaved rounds; figures are medians, ratios the median of per-round ratios.
const ROUNDS: usize = 3;

pub(super) const FAN_CLIENTS: usize = 64;
const TICK: Duration = Duration::from_micros(16_667);
const FAN_SECS: u64 = 5;

/// A message carrying the time it was sent (µs since `epoch`), padded to `len`.
pub(super) fn stamped(epoch: Instant, len: usize) -> Vec<u8> {
    let mut m = vec![0x33; len];
    m[..8].copy_from_slice(&(epoch.elapsed().as_micros() as u64).to_le_bytes());
    m
}

/// Server CPU per client-tick and p99 one-way latency of the fan-out workload.
pub(super) struct Fanout {
    pub cpu_per_client_tick: Duration,
    /// Times the server went to sleep per tick.
    pub wakes_per_tick: f64,
    pub p99: Duration,
}

/// How a fan-out server sleeps between its rounds of work.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Wake {
    /// On its socket, waking for each datagram and at its next tick.
    Traffic,
    /// Until its next tick, then it takes everything that arrived (a fixed-rate game
    /// loop: inputs, acks and resends wait for the tick).
    Tick,
}

/// A library's server side in the fan-out workload.
pub(super) trait FanServer {
    /// Waits up to `max` for traffic (libraries without a blocking wait sleep).
    fn wait(&mut self, max: Duration);
    /// Takes from the socket what has arrived, without waiting (for a `Wake::Tick` loop;
    /// libraries that receive in `pump` need nothing here).
    fn take(&mut self) {}
    /// Receives, accepts and counts the inputs that arrived.
    fn pump(&mut self) -> usize;
    /// Connected clients.
    fn clients(&self) -> usize;
    /// Sends `state` reliably to every client and flushes.
    fn broadcast(&mut self, state: &[u8]);
}

/// A library's clients in the fan-out workload.
pub(super) trait FanClients {
    /// Runs every client: sends `input` reliably from each if given, hands each received
    /// state to `on_state`.
    fn pump(&mut self, input: Option<&[u8]>, on_state: &mut dyn FnMut(&[u8]));
}

/// Runs the fan-out workload: `server` is built on the server thread and returns its
/// address; `clients` connects `FAN_CLIENTS` clients to it.
pub(super) fn fanout<S: FanServer, C: FanClients>(
    wake: Wake,
    server: impl FnOnce() -> (S, SocketAddr) + Send + 'static,
    clients: impl FnOnce(SocketAddr) -> C,
) -> Fanout {
    let epoch = Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server_stop = stop.clone();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let server_thread = std::thread::Builder::new().name("fan-server".into()).spawn(move || {
        let (mut server, addr) = server();
        addr_tx.send(addr).unwrap();
        let mut next_tick = Instant::now();
        let (mut ticks, mut wakes) = (0u64, 0u64);
        let cpu0 = thread_cpu();
        while !server_stop.load(std::sync::atomic::Ordering::Relaxed) {
            wakes += 1;
            match wake {
                Wake::Traffic => server.wait(next_tick.saturating_duration_since(Instant::now())),
                Wake::Tick => {
                    std::thread::sleep(next_tick.saturating_duration_since(Instant::now()));
                    server.take();
                }
            }
            server.pump();
            if Instant::now() >= next_tick {
                next_tick += TICK;
                if server.clients() == FAN_CLIENTS {
                    ticks += 1;
                    server.broadcast(&stamped(epoch, 200));
                }
            }
        }
        (thread_cpu() - cpu0, ticks, wakes)
    });
    let server_thread = server_thread.expect("a thread");
    let mut clients = clients(addr_rx.recv().unwrap());
    let mut latencies = Vec::new();
    let end = Instant::now() + Duration::from_secs(FAN_SECS + 1);
    let mut next_tick = Instant::now();
    while Instant::now() < end {
        let tick = Instant::now() >= next_tick;
        if tick {
            next_tick += TICK;
        }
        let input = stamped(epoch, 16);
        clients.pump(tick.then_some(&input[..]), &mut |m| {
            let sent = u64::from_le_bytes(m[..8].try_into().unwrap());
            latencies.push(Duration::from_micros(epoch.elapsed().as_micros() as u64 - sent));
        });
        std::thread::sleep(Duration::from_micros(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (cpu, ticks, wakes) = server_thread.join().unwrap();
    assert!(ticks > 0, "the clients never all connected");
    latencies.sort();
    Fanout {
        cpu_per_client_tick: cpu / (ticks * FAN_CLIENTS as u64) as u32,
        wakes_per_tick: wakes as f64 / ticks as f64,
        p99: percentile(&latencies, 0.99),
    }
}

struct KaosFanServer {
    server: RudpServer,
    clients: Vec<SocketAddr>,
}

impl FanServer for KaosFanServer {
    fn wait(&mut self, max: Duration) {
        self.server.poll(Some(max)).unwrap();
    }
    fn take(&mut self) {
        self.server.process().unwrap();
    }
    fn pump(&mut self) -> usize {
        while let Some(c) = self.server.accept() {
            self.clients.push(c);
        }
        self.server.receive_all(|_, _, _| {})
    }
    fn clients(&self) -> usize {
        self.clients.len()
    }
    fn broadcast(&mut self, state: &[u8]) {
        for c in &self.clients {
            let _ = self.server.send(c, state);
        }
        self.server.flush().unwrap();
    }
}

impl FanClients for Vec<RudpTransport> {
    fn pump(&mut self, input: Option<&[u8]>, on_state: &mut dyn FnMut(&[u8])) {
        for c in self.iter_mut() {
            if let Some(input) = input.filter(|_| c.is_connected()) {
                let _ = c.send(input);
            }
            c.receive(&mut |m| on_state(m)).unwrap();
        }
    }
}

fn kaos_fanout(backend: IoBackend, wake: Wake) -> Fanout {
    let mut cfg = RudpConfig::with_window(256);
    cfg.io = backend;
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server_cfg = cfg.clone();
    fanout(
        wake,
        move || {
            let server = RudpServer::with_config(any, server_cfg).unwrap();
            let addr = server.local_addr().unwrap();
            (KaosFanServer { server, clients: Vec::new() }, addr)
        },
        |addr| {
            (0..FAN_CLIENTS).map(|_| RudpTransport::with_config(any, addr, cfg.clone()).unwrap()).collect::<Vec<_>>()
        },
    )
}

/// A fan-out row: its name and how to run it with a given server loop.
type FanRow = (&'static str, fn(Wake) -> Fanout);

/// Runs the rows of both server loops whose `section/library` name `wanted` accepts, in
/// interleaved rounds, and prints each library's medians beside rusty_enet's.
pub(super) fn rows(wanted: &dyn Fn(&str, &str) -> bool) {
    let libs: Vec<FanRow> = vec![
        ("kaos-rudp (mio)", |w| kaos_fanout(IoBackend::Mio, w)),
        #[cfg(target_os = "linux")]
        ("kaos-rudp (io_uring)", |w| kaos_fanout(IoBackend::Uring, w)),
        ("renet 2.0.1 (netcode)", peers::renet_fanout),
        ("rusty_enet 0.4.1", peers::rusty_enet_fanout),
        ("plain UDP, no protocol", super::raw::raw_fanout),
    ];
    for (section, wake, how) in [
        ("fan-out", Wake::Traffic, "waking on its socket for each datagram (the peers in ppoll(2)) and at its tick"),
        ("fan-out-tick", Wake::Tick, "sleeping until its next tick, then taking all that arrived"),
    ] {
        let chosen: Vec<&FanRow> = libs.iter().filter(|(n, _)| wanted(section, n)).collect();
        if chosen.is_empty() {
            continue;
        }
        let mut runs: Vec<Vec<Fanout>> = chosen.iter().map(|_| Vec::new()).collect();
        for _ in 0..ROUNDS {
            for (k, (_, run)) in chosen.iter().enumerate() {
                runs[k].push(run(wake));
            }
        }
        let enet = chosen.iter().position(|(n, _)| n.starts_with("rusty_enet"));
        println!("{section}: {FAN_CLIENTS} clients, 60 Hz, {FAN_SECS} s, server on its own thread {how} ({ROUNDS} interleaved rounds, medians)");
        println!(
            "{:<28} {:>22} {:>12} {:>14} {:>14}",
            "library", "server CPU/client-tick", "vs ENet", "wakes/tick", "latency p99"
        );
        for (k, (name, _)) in chosen.iter().enumerate() {
            let cpu = median(runs[k].iter().map(|f| micros(f.cpu_per_client_tick)).collect());
            let vs = enet.filter(|&e| e != k).map(|e| {
                let r = runs[k].iter().zip(&runs[e]);
                median(r.map(|(a, b)| micros(a.cpu_per_client_tick) / micros(b.cpu_per_client_tick)).collect())
            });
            let vs = vs.map_or(String::new(), |v| format!("{v:.2}x"));
            let wakes = median(runs[k].iter().map(|f| f.wakes_per_tick).collect());
            let p99 = median(runs[k].iter().map(|f| micros(f.p99)).collect());
            println!("{name:<28} {cpu:>20.2}µs {vs:>12} {wakes:>14.1} {p99:>12.0}µs");
        }
    }
}
