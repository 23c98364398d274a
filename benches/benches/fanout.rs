//! Relayed match fan-out over WebSocket, the realtime load Nakama is known for: players
//! in matches of 8, each sending 20 messages a second that the server relays to the 7
//! others. Reports the messages delivered per second, the fan-out latency (send to
//! receipt, p50/p99), the server's CPU, and its memory per connected player.
//!
//! `cargo bench -p kaos-benches --bench fanout` (about a minute). `KAOS_FANOUT_PLAYERS`
//! players connect and join their matches (15,000 by default: the connected-player
//! goal), and the first `KAOS_FANOUT_ACTIVE` of them (1,000), whole matches, play for
//! `KAOS_FANOUT_SECONDS` (10 s) while the rest stay connected; `KAOS_FANOUT_FORMAT=protobuf`
//! has every player speak protobuf instead of JSON; `KAOS_FANOUT_FLUSH_MS` sets the
//! server's `socket_flush_ms` (0) and `KAOS_FANOUT_THREADS` its `socket_threads` (1);
//! `KAOS_FANOUT_PIN=1` runs the server on CPU 0 and the load generators on the others.
//! kaos-server
//! runs in a child process on the memory store with the default rate limits but for
//! sign-ins (15,000 from four addresses would wait on the auth class); the players come
//! from four more processes (a process may hold 20,000 files here), each connecting from
//! its own loopback address (127.0.0.10-13).
//!
//! Peer: Nakama's published figure is about 19,500 connected sockets on one CPU; Nakama
//! itself (Go, with CockroachDB or PostgreSQL) does not run here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// kaos-server's allocator, so the figures are those of the server as it ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/procfs.rs"]
mod procfs;

#[path = "fanout/player.rs"]
mod player;

const MATCH_SIZE: usize = 8;
const RATE: u32 = 20;
const LOADGENS: usize = 4;

fn serve() {
    let config = kaos_server::config::Config {
        address: "127.0.0.1".into(),
        port: 0,
        database: kaos_server::config::Database::Memory,
        session: kaosnet::session::SessionConfig { token_expiry_sec: 3600, ..Default::default() },
        // Match data and the rest as shipped: a player at 20 Hz is far inside the limits.
        rate_limits: kaosnet::hooks::RateLimits { auth: None, ..Default::default() },
        rudp_port: None,
        console_port: None,
        socket_flush: Duration::from_millis(
            std::env::var("KAOS_FANOUT_FLUSH_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0),
        ),
        socket_threads: std::env::var("KAOS_FANOUT_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1),
        ..kaos_server::config::Config::default()
    };
    let server = kaos_server::start(&config, |_| {}).unwrap();
    println!("{}", server.addr.port());
    for _ in std::io::stdin().lock().lines() {}
    std::process::exit(0);
}

/// Device accounts for `n` players over keep-alive connections; their session tokens.
fn tokens(server: SocketAddr, n: usize) -> Vec<String> {
    let run = std::process::id();
    let threads = 4;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(server).unwrap();
                c.set_nodelay(true).unwrap();
                let mut out = Vec::new();
                let mut buf = Vec::new();
                for i in (t..n).step_by(threads) {
                    let body = format!("{{\"id\":\"fanout-{run}-{i}\"}}");
                    let request = format!(
                        "POST /v2/account/authenticate/device?create=true HTTP/1.1\r\nHost: b\r\n\
                         Authorization: Basic ZGVmYXVsdGtleTo=\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    c.write_all(request.as_bytes()).unwrap();
                    buf.clear();
                    let mut chunk = [0u8; 4096];
                    let token = loop {
                        let k = c.read(&mut chunk).unwrap();
                        assert!(k > 0, "the server closed");
                        buf.extend_from_slice(&chunk[..k]);
                        let text = String::from_utf8_lossy(&buf);
                        if let Some(at) = text.find("\"token\":\"") {
                            let rest = &text[at + 9..];
                            if let Some(end) = rest.find('"') {
                                if text.ends_with('}') {
                                    break rest[..end].to_string();
                                }
                            }
                        }
                    };
                    out.push((i, token));
                }
                out
            })
        })
        .collect();
    let mut all: Vec<(usize, String)> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort();
    all.into_iter().map(|(_, t)| t).collect()
}

struct Gen {
    child: Child,
    /// The index of its first player.
    first: usize,
    stdin: ChildStdin,
    lines: BufReader<std::process::ChildStdout>,
}

impl Gen {
    fn line(&mut self) -> String {
        let mut l = String::new();
        self.lines.read_line(&mut l).unwrap();
        l
    }
}

fn percentile(hist: &[u64], p: f64) -> f64 {
    let total: u64 = hist.iter().sum();
    let want = (total as f64 * p).ceil() as u64;
    let mut seen = 0;
    for (b, c) in hist.iter().enumerate() {
        seen += c;
        if seen >= want.max(1) {
            return (b as u64 * player::BUCKET_NS + player::BUCKET_NS / 2) as f64 / 1e6;
        }
    }
    f64::NAN
}

fn main() {
    if std::env::var_os("KAOS_FANOUT_SERVE").is_some() {
        return serve();
    }
    if let Ok(spec) = std::env::var("KAOS_FANOUT_LOAD") {
        // "<server> <source> <first group>" then tokens on stdin, one per line, then "end".
        let mut parts = spec.split_whitespace();
        let server: SocketAddr = parts.next().unwrap().parse().unwrap();
        let source: IpAddr = parts.next().unwrap().parse().unwrap();
        let first: usize = parts.next().unwrap().parse().unwrap();
        let mut players = Vec::new();
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if line == "end" {
                break;
            }
            players.push(((first + players.len()) / MATCH_SIZE, line));
        }
        drop(lines);
        return player::child(server, source, players);
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let players: usize = std::env::var("KAOS_FANOUT_PLAYERS").ok().and_then(|v| v.parse().ok()).unwrap_or(15_000);
    let active: usize = std::env::var("KAOS_FANOUT_ACTIVE").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
    let seconds: u64 = std::env::var("KAOS_FANOUT_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let players = players / MATCH_SIZE * MATCH_SIZE;
    let active = active.min(players) / MATCH_SIZE * MATCH_SIZE;
    let exe = std::env::current_exe().unwrap();
    // `KAOS_FANOUT_PIN=1`: the server on CPU 0, the load generators on the others
    // (through taskset), so neither waits for a core the other holds.
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let pinned = std::env::var("KAOS_FANOUT_PIN").is_ok_and(|v| v == "1") && cpus > 1;
    let on = |cpus: &str| {
        let mut c = Command::new(if pinned { "taskset" } else { exe.to_str().unwrap() });
        if pinned {
            c.args(["-c", cpus]).arg(&exe);
        }
        c
    };
    let mut server =
        on("0").env("KAOS_FANOUT_SERVE", "1").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut port = String::new();
    BufReader::new(server.stdout.as_mut().unwrap()).read_line(&mut port).unwrap();
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port.trim().parse().unwrap());
    let pid = server.id();

    let started = Instant::now();
    let tokens = tokens(addr, players);
    println!("{players} device accounts in {:.1} s", started.elapsed().as_secs_f64());
    let rss_before = procfs::resident_bytes(pid);

    // Four load generator processes, whole matches each.
    let per = players / MATCH_SIZE / LOADGENS * MATCH_SIZE;
    let mut gens = Vec::new();
    let mut first = 0;
    for k in 0..LOADGENS {
        let count = if k == LOADGENS - 1 { players - first } else { per };
        let source = format!("127.0.0.{}", 10 + k);
        let mut child = on(&format!("1-{}", cpus - 1))
            .env("KAOS_FANOUT_LOAD", format!("{addr} {source} {first}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for t in &tokens[first..first + count] {
            writeln!(stdin, "{t}").unwrap();
        }
        writeln!(stdin, "end").unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap());
        gens.push(Gen { child, stdin, lines, first });
        first += count;
    }
    let connecting = Instant::now();
    for g in &mut gens {
        let ready = g.line();
        let n: Vec<usize> = ready.split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect();
        assert_eq!(n.get(1), Some(&0), "players failed to connect: {ready}");
    }
    println!("{players} players connected and in their matches in {:.1} s", connecting.elapsed().as_secs_f64());
    std::thread::sleep(Duration::from_secs(1));
    let rss_after = procfs::resident_bytes(pid);
    let idle_cpu = procfs::cpu_time(pid);
    std::thread::sleep(Duration::from_secs(3));
    let idle = (procfs::cpu_time(pid) - idle_cpu).as_secs_f64() / 3.0;

    let gen_pids: Vec<u32> = gens.iter().map(|g| g.child.id()).collect();
    let gen_cpu = || gen_pids.iter().map(|p| procfs::cpu_time(*p)).sum::<Duration>();
    let gen_before = gen_cpu();
    let cpu_before = procfs::cpu_time(pid);
    let wall = Instant::now();
    for g in &mut gens {
        writeln!(g.stdin, "go {RATE} {seconds} {}", active.saturating_sub(g.first)).unwrap();
    }
    let mut sent = 0u64;
    let mut received = 0u64;
    let mut hist = vec![0u64; player::BUCKETS];
    let mut cpu = None;
    for g in &mut gens {
        let result = g.line();
        // The first result marks the end of the sending: take the server's CPU there.
        cpu.get_or_insert_with(|| (procfs::cpu_time(pid) - cpu_before, wall.elapsed(), gen_cpu() - gen_before));
        let mut parts = result.split_whitespace().skip(1);
        sent += parts.next().unwrap().parse::<u64>().unwrap();
        received += parts.next().unwrap().parse::<u64>().unwrap();
        for pair in parts.next().unwrap_or("").split(',').filter(|p| !p.is_empty()) {
            let (b, c) = pair.split_once(':').unwrap();
            hist[b.parse::<usize>().unwrap()] += c.parse::<u64>().unwrap();
        }
    }
    let (server_cpu, window, load_cpu) = cpu.unwrap();
    for g in &mut gens {
        let _ = g.child.wait();
    }
    drop(server.stdin.take());
    let _ = server.kill();
    let _ = server.wait();

    let expected = sent * (MATCH_SIZE as u64 - 1);
    println!();
    println!("relayed matches of {MATCH_SIZE}, {RATE} messages/s per playing player, {seconds} s:");
    println!("  players connected        {players:>12}");
    println!("  players playing          {active:>12}");
    println!("  messages sent            {:>12.0}/s", sent as f64 / seconds as f64);
    println!(
        "  messages delivered       {:>12.0}/s ({received} of {expected} expected, {:.2}%)",
        received as f64 / seconds as f64,
        received as f64 * 100.0 / expected.max(1) as f64
    );
    println!(
        "  fan-out latency          p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
        percentile(&hist, 0.5),
        percentile(&hist, 0.99),
        percentile(&hist, 0.999)
    );
    println!(
        "  server CPU               {:.2} cores while playing ({:.1} s of CPU in {:.1} s), {:.3} cores connected and idle",
        server_cpu.as_secs_f64() / window.as_secs_f64(),
        server_cpu.as_secs_f64(),
        window.as_secs_f64(),
        idle
    );
    println!(
        "  server CPU per delivery  {:.2} µs ({} format, socket_flush_ms {}, socket_threads {})",
        server_cpu.as_secs_f64() * 1e6 / received.max(1) as f64,
        std::env::var("KAOS_FANOUT_FORMAT").unwrap_or_else(|_| "json".into()),
        std::env::var("KAOS_FANOUT_FLUSH_MS").unwrap_or_else(|_| "0".into()),
        std::env::var("KAOS_FANOUT_THREADS").unwrap_or_else(|_| "1".into())
    );
    println!("  load generators' CPU     {:.2} cores", load_cpu.as_secs_f64() / window.as_secs_f64());
    println!(
        "  server memory            {:.1} KiB per connected player ({:.1} MiB for {players})",
        (rss_after.saturating_sub(rss_before)) as f64 / players as f64 / 1024.0,
        (rss_after.saturating_sub(rss_before)) as f64 / (1 << 20) as f64
    );
    println!("peer: Nakama publishes about 19,500 connected sockets on one CPU (not runnable here)");
}
