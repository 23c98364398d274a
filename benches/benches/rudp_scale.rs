//! Scale: many connected clients, first idle (keep-alives only; kaos parks them), then at
//! 20 Hz, each tick a 100-byte reliable state from the server to every client. Reported
//! per phase: the server thread's CPU share and the server process's memory per client.
//!
//! `cargo bench -p kaos-benches --bench rudp_scale` (about 90 s). The clients run in a
//! second process (this binary again, with `KAOS_SCALE_LOADGEN` set), so the server's
//! process holds only its own memory. kaos-rudp runs with 10,000 clients. The peers
//! cannot hold that many on one server: renet's netcode transport takes at most 1,024
//! clients and an ENet host at most 4,095 peers, so each peer runs at its limit beside
//! kaos-rudp at the same count. `KAOS_SCALE_CLIENTS` changes the kaos-only count.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kaos_core::config::Config;
use kaos_core::conn::{Connection, Event};
use kaos_core::time::Instant as CoreInstant;
use kaos_rudp::{RudpConfig, RudpServer};
use mio::net::UdpSocket as MioSocket;
use mio::{Events, Interest, Poll, Token};

#[path = "rudp_scale/peers.rs"]
mod peers;

const STATE: usize = 100;
const TICK: Duration = Duration::from_millis(50);
const MEASURE: Duration = Duration::from_secs(10);
/// Idle phase: settle (clients park after `park_after`), then measure.
const IDLE_SETTLE: Duration = Duration::from_secs(3);
const IDLE_MEASURE: Duration = Duration::from_secs(5);

/// A small-footprint protocol configuration both sides use.
fn protocol() -> Config {
    let mut cfg = Config::default();
    for c in cfg.channels.iter_mut() {
        c.window = 64;
        c.buffer_bytes = 4096;
    }
    cfg.max_message = 1024;
    cfg.inbox_bytes = 4096;
    cfg.outbox_bytes = 4096;
    cfg.sent_packets = 64;
    cfg.message_refs = 64;
    cfg.reassembly_sets = 1;
    cfg.idle_timeout = kaos_core::time::Duration::from_secs(30);
    cfg
}

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A library's server in the scale workload.
trait ScaleServer {
    /// Receives and sends, waiting at most until `until` (peers without a blocking wait
    /// sleep 1 ms at a time).
    fn poll(&mut self, until: Instant);
    /// Clients connected so far.
    fn connected(&mut self) -> usize;
    /// Sends `state` reliably to every client and flushes; returns how many refused it.
    fn broadcast(&mut self, state: &[u8]) -> u64;
}

/// Starts the load generator for `lib` with `clients` clients of `server`.
fn spawn_loadgen(lib: &str, server: SocketAddr, clients: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env("KAOS_SCALE_LOADGEN", format!("{lib},{server},{clients}"))
        .stdout(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Waits until all `clients` connected.
fn wait_connected(server: &mut impl ScaleServer, clients: usize) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while server.connected() < clients {
        assert!(Instant::now() < deadline, "only {} of {clients} clients connected", server.connected());
        server.poll(Instant::now() + Duration::from_millis(5));
    }
}

/// Server CPU share and states refused over `secs` of 20 Hz ticks.
fn active_phase(server: &mut impl ScaleServer, measure: Duration) -> (f64, u64) {
    let state = [0x42u8; STATE];
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    let mut next_tick = Instant::now();
    let mut refused = 0u64;
    while wall0.elapsed() < measure {
        server.poll(next_tick);
        if Instant::now() >= next_tick {
            next_tick += TICK;
            refused += server.broadcast(&state);
        }
    }
    ((thread_cpu() - cpu0).as_secs_f64() / wall0.elapsed().as_secs_f64(), refused)
}

/// One active-phase row: `make` builds the server (its memory counts), `lib` names the
/// load generator.
fn active_row<S: ScaleServer>(name: &str, lib: &str, clients: usize, make: impl FnOnce(usize) -> (S, SocketAddr)) {
    let rss_before = resident_bytes();
    let (mut server, addr) = make(clients);
    let mut child = spawn_loadgen(lib, addr, clients);
    wait_connected(&mut server, clients);
    let (cpu, refused) = active_phase(&mut server, MEASURE / 2);
    let rss = resident_bytes().saturating_sub(rss_before);
    let _ = child.kill();
    let _ = child.wait();
    let ticks = (MEASURE / 2).as_secs_f64() / TICK.as_secs_f64();
    println!(
        "{name:<22} {clients:>7} {:>9.1} % {:>10.2} µs {:>10.1} KiB {refused:>8}",
        100.0 * cpu,
        cpu * (MEASURE / 2).as_secs_f64() * 1e6 / (ticks * clients as f64),
        rss as f64 / clients as f64 / 1024.0,
    );
}

/// kaos-rudp's server.
struct Kaos {
    server: RudpServer,
    clients: Vec<SocketAddr>,
}

impl Kaos {
    fn new(clients: usize) -> (Kaos, SocketAddr) {
        let mut cfg = RudpConfig::with_window(64);
        cfg.protocol = protocol();
        cfg.max_clients = clients + 16;
        cfg.handshakes_per_sec = 50_000;
        let server = RudpServer::with_config("127.0.0.1:0".parse().unwrap(), cfg).unwrap();
        let addr = server.local_addr().unwrap();
        (Kaos { server, clients: Vec::with_capacity(clients) }, addr)
    }
}

impl ScaleServer for Kaos {
    fn poll(&mut self, until: Instant) {
        self.server.poll(Some(until.saturating_duration_since(Instant::now()))).unwrap();
        self.server.receive_all(|_, _, _| {});
    }
    fn connected(&mut self) -> usize {
        while let Some(c) = self.server.accept() {
            self.clients.push(c);
        }
        self.clients.len()
    }
    fn broadcast(&mut self, state: &[u8]) -> u64 {
        let refused = self.clients.iter().filter(|c| self.server.send(c, state).is_err()).count();
        self.server.flush().unwrap();
        refused as u64
    }
}

fn main() {
    if let Ok(spec) = std::env::var("KAOS_SCALE_LOADGEN") {
        let mut parts = spec.split(',');
        let (lib, addr, clients) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let (addr, clients): (SocketAddr, usize) = (addr.parse().unwrap(), clients.parse().unwrap());
        match lib {
            "renet" => peers::renet_loadgen(addr, clients),
            "enet" => peers::enet_loadgen(addr, clients),
            _ => loadgen(addr, clients),
        }
        return;
    }
    let clients: usize = std::env::var("KAOS_SCALE_CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    kaos_idle_then_active(clients);
    println!();
    println!(
        "active, 20 Hz, each peer at its client limit beside kaos-rudp at the same count, {} s each",
        (MEASURE / 2).as_secs()
    );
    println!(
        "{:<22} {:>7} {:>11} {:>13} {:>14} {:>8}",
        "library", "clients", "server CPU", "per client-tick", "memory/client", "refused"
    );
    active_row("kaos-rudp (mio)", "kaos", 4_095, Kaos::new);
    active_row("rusty_enet 0.4.1", "enet", 4_095, peers::Enet::new);
    active_row("kaos-rudp (mio)", "kaos", 1_024, Kaos::new);
    active_row("renet 2.0.1 (netcode)", "renet", 1_024, peers::Renet::new);
}

/// kaos-rudp alone at `clients`: an idle phase, then an active one.
fn kaos_idle_then_active(clients: usize) {
    let rss_before = resident_bytes();
    let (mut kaos, addr) = Kaos::new(clients);
    let mut child = spawn_loadgen("kaos", addr, clients);
    wait_connected(&mut kaos, clients);
    let server = &mut kaos.server;
    // Idle: only keep-alives flow; every client parks once idle for `park_after`.
    let settle = Instant::now();
    while settle.elapsed() < IDLE_SETTLE {
        server.poll(Some(Duration::from_millis(50))).unwrap();
    }
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    while wall0.elapsed() < IDLE_MEASURE {
        server.poll(Some(Duration::from_millis(50))).unwrap();
    }
    let idle_cpu = (thread_cpu() - cpu0).as_secs_f64() / wall0.elapsed().as_secs_f64();
    let idle_rss = resident_bytes().saturating_sub(rss_before);
    let idle_parked = server.stats().parked;
    let (cpu, refused) = active_phase(&mut kaos, MEASURE);
    let active_rss = resident_bytes().saturating_sub(rss_before);
    let stats = kaos.server.stats();
    let _ = child.kill();
    let _ = child.wait();
    let kib = |bytes: usize| bytes as f64 / clients as f64 / 1024.0;
    let mib = |bytes: usize| bytes as f64 / (1 << 20) as f64;
    println!(
        "scale: {clients} clients; idle {} s, then 20 Hz {STATE}-byte reliable states for {} s",
        IDLE_MEASURE.as_secs(),
        MEASURE.as_secs()
    );
    println!(
        "kaos-rudp (mio) idle:   server CPU share {:.1} % of one core; memory {:.2} KiB per client ({:.1} MiB); \
         {idle_parked} clients parked",
        100.0 * idle_cpu,
        kib(idle_rss),
        mib(idle_rss),
    );
    println!(
        "kaos-rudp (mio) active: server CPU share {:.1} % of one core; memory {:.1} KiB per client ({:.1} MiB); \
         {refused} states refused (window full); {} clients still connected",
        100.0 * cpu,
        kib(active_rss),
        mib(active_rss),
        stats.clients,
    );
}

/// The clients: bare core connections, one socket each, one epoll for all.
fn loadgen(server: SocketAddr, clients: usize) {
    let cfg = protocol();
    let epoch = Instant::now();
    let now = || CoreInstant::from_micros(epoch.elapsed().as_micros() as u64 + 1);
    let mut poll = Poll::new().unwrap();
    let mut events = Events::with_capacity(1024);
    let mut conns = Vec::with_capacity(clients);
    let mut sockets = Vec::with_capacity(clients);
    let mut buf = [0u8; 2048];
    let mut out = [0u8; 2048];
    for i in 0..clients {
        let std_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        std_socket.set_nonblocking(true).unwrap();
        let mut socket = MioSocket::from_std(std_socket);
        poll.registry().register(&mut socket, Token(i), Interest::READABLE).unwrap();
        let conn =
            Connection::connect(&cfg, vec![0u64; cfg.storage_words()], now(), server, 0x5eed + i as u64).unwrap();
        sockets.push(socket);
        conns.push(conn);
        // Pace the handshakes a little.
        if i % 500 == 499 {
            flush_all(&mut conns, &sockets, now(), &mut out);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let mut last_sweep = Instant::now();
    loop {
        poll.poll(&mut events, Some(Duration::from_millis(5))).unwrap();
        let t = now();
        for e in events.iter() {
            let i = e.token().0;
            while let Ok((n, _)) = sockets[i].recv_from(&mut buf) {
                conns[i].handle_datagram(t, &buf[..n]);
            }
            while let Some(Event::Message { .. } | Event::Connected | Event::Disconnected(_)) = conns[i].poll_event() {}
            while let Some(n) = conns[i].poll_transmit(t, &mut out) {
                let _ = sockets[i].send_to(&out[..n], server);
            }
        }
        if last_sweep.elapsed() >= Duration::from_millis(10) {
            last_sweep = Instant::now();
            for c in &mut conns {
                if c.poll_timeout().is_some_and(|d| d <= t) {
                    c.handle_timeout(t);
                }
            }
            flush_all(&mut conns, &sockets, t, &mut out);
        }
    }
}

fn flush_all(conns: &mut [Connection<Vec<u64>>], sockets: &[MioSocket], t: CoreInstant, out: &mut [u8]) {
    for (c, s) in conns.iter_mut().zip(sockets) {
        while let Some(n) = c.poll_transmit(t, out) {
            let _ = s.send_to(&out[..n], c.remote());
        }
    }
}
