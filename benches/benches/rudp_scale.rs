//! Scale: 10,000 connected clients, first idle (keep-alives only; the server parks them),
//! then at 20 Hz, each tick a 100-byte reliable state from the server to every client.
//! Reported per phase: the server thread's CPU share and the server process's memory per
//! client.
//!
//! `cargo bench -p kaos-benches --bench rudp_scale` (about 30 s). The clients run in a
//! second process (this binary again, with `KAOS_SCALE_LOADGEN` set), as bare
//! `kaos-core` connections on one socket each, all on one epoll, so the server's process
//! holds only its own memory. `KAOS_SCALE_CLIENTS` changes the count (default 10,000).

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kaos_core::config::Config;
use kaos_core::conn::{Connection, Event};
use kaos_core::time::Instant as CoreInstant;
use kaos_rudp::{RudpConfig, RudpServer};
use mio::net::UdpSocket as MioSocket;
use mio::{Events, Interest, Poll, Token};

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

fn main() {
    if let Ok(addr) = std::env::var("KAOS_SCALE_LOADGEN") {
        let clients = std::env::var("KAOS_SCALE_CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
        loadgen(addr.parse().unwrap(), clients);
        return;
    }
    let clients: usize = std::env::var("KAOS_SCALE_CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let mut cfg = RudpConfig::with_window(64);
    cfg.protocol = protocol();
    cfg.max_clients = clients + 16;
    cfg.handshakes_per_sec = 50_000;
    let mut server = RudpServer::with_config("127.0.0.1:0".parse().unwrap(), cfg).unwrap();
    let addr = server.local_addr().unwrap();
    let rss_before = resident_bytes();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("KAOS_SCALE_LOADGEN", addr.to_string())
        .env("KAOS_SCALE_CLIENTS", clients.to_string())
        .stdout(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut connected = Vec::with_capacity(clients);
    let deadline = Instant::now() + Duration::from_secs(60);
    while connected.len() < clients {
        assert!(Instant::now() < deadline, "only {} of {clients} clients connected", connected.len());
        server.poll(Some(Duration::from_millis(5))).unwrap();
        while let Some(c) = server.accept() {
            connected.push(c);
        }
    }
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
    // Active: a state to every client each tick.
    let state = [0x42u8; STATE];
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    let mut next_tick = Instant::now();
    let mut refused = 0u64;
    while wall0.elapsed() < MEASURE {
        server.poll(Some(next_tick.saturating_duration_since(Instant::now()))).unwrap();
        server.receive_all(|_, _, _| {});
        if Instant::now() >= next_tick {
            next_tick += TICK;
            for c in &connected {
                if server.send(c, &state).is_err() {
                    refused += 1;
                }
            }
            server.flush().unwrap();
        }
    }
    let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
    let active_rss = resident_bytes().saturating_sub(rss_before);
    let stats = server.stats();
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
        "kaos-rudp (mio) idle:   server CPU share {:.1} % of one core; memory {:.2} KiB per client ({:.1} MiB); {idle_parked} clients parked",
        100.0 * idle_cpu,
        kib(idle_rss),
        mib(idle_rss),
    );
    println!(
        "kaos-rudp (mio) active: server CPU share {:.1} % of one core; memory {:.1} KiB per client ({:.1} MiB); \
         {refused} states refused (window full); {} clients still connected",
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
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
