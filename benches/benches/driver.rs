//! The media driver's shared-memory path between two processes, beside what the same
//! hand-off costs elsewhere, in one run:
//!
//! - **throughput**: 64-byte messages from a child process to this one through a kaos-core
//!   ring in a /dev/shm file of the driver's default size (1 MiB), one message at a time
//!   and in bursts of 32, read in place (`read_batch`, the application's side) and copied
//!   out (`read_copy_batch`, the driver's side against an untrusted writer); beside `rtrb`
//!   between two threads (no process boundary) and a Unix datagram socket between two
//!   processes (one system call per message).
//! - **latency**: one-way latency (half a ping-pong round trip) of 64-byte messages between
//!   two processes through two rings, beside rtrb between threads and a Unix socket.
//! - **syscalls**: an application sending 1,000,000 64-byte messages through a real driver
//!   to an echo server and reading the 1,000,000 echoes, traced with `strace -f`: the
//!   system calls it makes between two markers (`getppid`) around that loop, beside a
//!   `RudpTransport` doing the same with its own socket.
//!
//! `cargo bench -p kaos-benches --bench driver` (`KAOS_DRIVER_ROUNDS`, default 7). The
//! two sides are pinned to CPUs 0 and 1; figures are medians over rounds.

use std::hint::{black_box, spin_loop};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kaos_core::ring::{self, Ring};
use kaos_rudp::driver::DriverTransport;
use kaos_rudp::{RudpServer, RudpTransport, Transport};

const MSG: usize = 64;
const RING_BYTES: usize = 1 << 20;
const ROLE: &str = "KAOS_DRIVER_BENCH_ROLE";

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes inside it; the call reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

fn digest(m: &[u8]) -> u64 {
    m.chunks_exact(8).fold(0u64, |a, w| a.wrapping_add(u64::from_le_bytes(w.try_into().unwrap())))
}

fn spawn(role: &str, args: &[String]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env("KAOS_DRIVER_BENCH_ARGS", args.join("\n"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A shared file of `rings` ring regions of `RING_BYTES`, mapped.
struct Shm {
    path: PathBuf,
    map: memmap2::MmapMut,
}

impl Shm {
    fn create(name: &str, rings: usize) -> Shm {
        let path = PathBuf::from(format!("/dev/shm/kaos-driver-bench-{}-{name}", std::process::id()));
        let f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        f.set_len((rings * ring::region_len(RING_BYTES)) as u64).unwrap();
        // SAFETY: used only through ring handles, here and in the child.
        let map = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
        Shm { path, map }
    }

    fn open(path: &Path) -> Shm {
        let f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
        // SAFETY: as in `create`.
        let map = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
        Shm { path: path.to_path_buf(), map }
    }

    /// Ring `i`, formatted (`init`) or joined.
    fn ring(&mut self, i: usize, init: bool) -> Ring<'static> {
        let len = ring::region_len(RING_BYTES);
        // SAFETY: region `i` lies inside the mapping, which outlives every handle (the
        // benchmark drops handles before the Shm); each side uses only its halves.
        unsafe {
            let p = self.map.as_mut_ptr().add(i * len);
            if init { Ring::init_raw(p, len) } else { Ring::from_raw(p, len) }.unwrap()
        }
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Child: produces `n` messages on ring 0, one at a time or in bursts of 32.
fn produce(path: &Path, n: u64, burst: bool) {
    pin(1);
    let mut shm = Shm::open(path);
    let (mut tx, _) = shm.ring(0, false).split();
    let mut block = [[0x5Au8; MSG]; 32];
    let mut i = 0;
    while i < n {
        let k = 32.min(n - i) as usize;
        for (j, m) in block[..k].iter_mut().enumerate() {
            m[..8].copy_from_slice(&(i + j as u64).to_le_bytes());
        }
        let block = black_box(&block[..k]);
        if burst {
            let mut b = tx.batch();
            for m in block {
                while b.push(m).is_err() {
                    spin_loop();
                }
            }
        } else {
            for m in block {
                while tx.push(m).is_err() {
                    spin_loop();
                }
            }
        }
        i += k as u64;
    }
}

/// Messages per second from a producer process: timed from the first message to the last.
fn ring_throughput(n: u64, burst: bool, copy: bool) -> f64 {
    let mut shm = Shm::create("tp", 1);
    let (_, mut rx) = shm.ring(0, true).split();
    pin(0);
    let mut child = spawn(if burst { "burst" } else { "single" }, &[shm.path.display().to_string(), n.to_string()]);
    let mut seen = 0u64;
    let mut sum = 0u64;
    let mut start = None;
    let mut buf = [0u8; MSG];
    while seen < n {
        let got = if copy {
            rx.read_copy_batch(&mut buf, usize::MAX, |m| {
                sum = sum.wrapping_add(digest(m));
                true
            })
            .unwrap() as u64
        } else {
            rx.read_batch(usize::MAX, |m| sum = sum.wrapping_add(digest(m))).unwrap() as u64
        };
        if got == 0 {
            spin_loop();
            continue;
        }
        // Timed from the first batch: the messages in it arrived before the clock started.
        if start.is_none() {
            start = Some((Instant::now(), got));
        }
        seen += got;
    }
    let (t0, first) = start.unwrap();
    let t = t0.elapsed();
    child.wait().unwrap();
    black_box(sum);
    (n - first) as f64 / t.as_secs_f64()
}

fn rtrb_throughput(n: u64) -> f64 {
    let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; MSG]>::new(RING_BYTES / MSG);
    let producer = std::thread::spawn(move || {
        pin(1);
        let mut m = [0x5Au8; MSG];
        for i in 0..n {
            m[..8].copy_from_slice(&i.to_le_bytes());
            while tx.push(black_box(m)).is_err() {
                spin_loop();
            }
        }
    });
    pin(0);
    let mut seen = 0;
    let mut sum = 0u64;
    let mut start = None;
    while seen < n {
        match rx.pop() {
            Ok(m) => {
                start.get_or_insert_with(Instant::now);
                sum = sum.wrapping_add(digest(&m));
                seen += 1;
            }
            Err(_) => spin_loop(),
        }
    }
    let t = start.unwrap().elapsed();
    producer.join().unwrap();
    black_box(sum);
    (n - 1) as f64 / t.as_secs_f64()
}

fn uds_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kaos-driver-bench-{}-{name}.sock", std::process::id()))
}

fn uds_throughput(n: u64) -> f64 {
    let path = uds_path("tp");
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    pin(0);
    let mut child = spawn("uds-send", &[path.display().to_string(), n.to_string()]);
    let mut buf = [0u8; MSG];
    let mut start = None;
    let mut sum = 0u64;
    for _ in 0..n {
        sock.recv(&mut buf).unwrap();
        start.get_or_insert_with(Instant::now);
        sum = sum.wrapping_add(digest(&buf));
    }
    let t = start.unwrap().elapsed();
    child.wait().unwrap();
    let _ = std::fs::remove_file(&path);
    black_box(sum);
    (n - 1) as f64 / t.as_secs_f64()
}

/// Half round trips in nanoseconds, sorted.
fn ring_latency(n: usize) -> Vec<u64> {
    let mut shm = Shm::create("lat", 2);
    let (mut tx, _) = shm.ring(0, true).split();
    let (_, mut rx) = shm.ring(1, true).split();
    pin(0);
    let mut child = spawn("echo", &[shm.path.display().to_string(), n.to_string()]);
    let mut m = [0x5Au8; MSG];
    let mut out = Vec::with_capacity(n);
    for i in 0..n + 1000 {
        m[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let t0 = Instant::now();
        tx.push(&m).unwrap();
        while rx.read_batch(1, |r| assert_eq!(r[..8], m[..8])).unwrap() == 0 {
            spin_loop();
        }
        if i >= 1000 {
            out.push(t0.elapsed().as_nanos() as u64 / 2);
        }
    }
    child.wait().unwrap();
    out.sort_unstable();
    out
}

/// Child: echoes ring 0 to ring 1.
fn echo(path: &Path, n: usize) {
    pin(1);
    let mut shm = Shm::open(path);
    let (_, mut rx) = shm.ring(0, false).split();
    let (mut tx, _) = shm.ring(1, false).split();
    let mut k = 0;
    while k < n + 1000 {
        k += rx.read_batch(1, |m| tx.push(m).unwrap()).unwrap();
    }
}

fn rtrb_latency(n: usize) -> Vec<u64> {
    let (mut atx, mut arx) = rtrb::RingBuffer::<[u8; MSG]>::new(64);
    let (mut btx, mut brx) = rtrb::RingBuffer::<[u8; MSG]>::new(64);
    let echo = std::thread::spawn(move || {
        pin(1);
        for _ in 0..n + 1000 {
            let m = loop {
                if let Ok(m) = arx.pop() {
                    break m;
                }
                spin_loop();
            };
            btx.push(m).unwrap();
        }
    });
    pin(0);
    let mut out = Vec::with_capacity(n);
    let mut m = [0x5Au8; MSG];
    for i in 0..n + 1000 {
        m[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let t0 = Instant::now();
        atx.push(m).unwrap();
        while brx.pop().is_err() {
            spin_loop();
        }
        if i >= 1000 {
            out.push(t0.elapsed().as_nanos() as u64 / 2);
        }
    }
    echo.join().unwrap();
    out.sort_unstable();
    out
}

fn uds_latency(n: usize) -> Vec<u64> {
    let (a, b) = (uds_path("la"), uds_path("lb"));
    let _ = std::fs::remove_file(&a);
    let sock = UnixDatagram::bind(&a).unwrap();
    pin(0);
    let mut child = spawn("uds-echo", &[a.display().to_string(), b.display().to_string(), n.to_string()]);
    // The child binds b and says so.
    let mut buf = [0u8; MSG];
    sock.recv(&mut buf).unwrap();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n + 1000 {
        let t0 = Instant::now();
        sock.send_to(&buf, &b).unwrap();
        sock.recv(&mut buf).unwrap();
        out.push(t0.elapsed().as_nanos() as u64 / 2);
    }
    child.wait().unwrap();
    let _ = std::fs::remove_file(&a);
    out.drain(..1000);
    out.sort_unstable();
    out
}

/// A latency run: half round trips of `n` exchanges, sorted.
type LatencyRun = fn(usize) -> Vec<u64>;

fn pct(v: &[u64], p: f64) -> u64 {
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Child roles; returns whether this process was one.
fn child_role() -> bool {
    let Ok(role) = std::env::var(ROLE) else { return false };
    let args: Vec<String> = std::env::var("KAOS_DRIVER_BENCH_ARGS").unwrap().split('\n').map(String::from).collect();
    match role.as_str() {
        "single" | "burst" => produce(Path::new(&args[0]), args[1].parse().unwrap(), role == "burst"),
        "echo" => echo(Path::new(&args[0]), args[1].parse().unwrap()),
        "uds-send" => {
            pin(1);
            let s = UnixDatagram::unbound().unwrap();
            let mut m = [0x5Au8; MSG];
            for i in 0..args[1].parse::<u64>().unwrap() {
                m[..8].copy_from_slice(&i.to_le_bytes());
                // A full receive queue blocks the sender: no message is lost.
                s.send_to(&m, &args[0]).unwrap();
            }
        }
        "uds-echo" => {
            pin(1);
            let _ = std::fs::remove_file(&args[1]);
            let s = UnixDatagram::bind(&args[1]).unwrap();
            let mut buf = [0u8; MSG];
            s.send_to(&buf, &args[0]).unwrap();
            for _ in 0..args[2].parse::<usize>().unwrap() + 1000 {
                s.recv(&mut buf).unwrap();
                s.send_to(&buf, &args[0]).unwrap();
            }
            let _ = std::fs::remove_file(&args[1]);
        }
        "driver" => {
            let mut d = kaos_driver::Driver::start(kaos_driver::DriverConfig::new(&args[0])).unwrap();
            println!("ready");
            d.run(kaos_driver::stop_on_signals()).unwrap();
        }
        "app" => app(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap(), args[3] == "direct"),
        other => panic!("unknown role {other}"),
    }
    true
}

/// Child: `n` 64-byte messages to the echo server at `server` and their echoes, through
/// the driver in `dir` or (`direct`) a socket of its own. The loop sits between two
/// `getppid` calls, the markers the strace log is cut at.
fn app(dir: &str, server: std::net::SocketAddr, n: u64, direct: bool) {
    let any = "127.0.0.1:0".parse().unwrap();
    let mut t: Box<dyn Transport> = if direct {
        let mut t = RudpTransport::new(any, server, 1024).unwrap();
        assert!(t.wait_connected(Duration::from_secs(30)).unwrap());
        Box::new(t)
    } else {
        let mut t = DriverTransport::new(dir, any, server, 1024).unwrap();
        assert!(t.wait_connected(Duration::from_secs(30)).unwrap());
        Box::new(t)
    };
    let mut m = [0x5Au8; MSG];
    let (mut sent, mut got) = (0u64, 0u64);
    kaos_driver::syscall_audit::marker();
    let start = Instant::now();
    while got < n {
        while sent < n && sent < got + 4096 {
            m[..8].copy_from_slice(&sent.to_le_bytes());
            if t.send(&m).is_err() {
                break;
            }
            sent += 1;
        }
        t.receive(&mut |d| {
            assert_eq!(d[..8], got.to_le_bytes());
            got += 1;
        })
        .unwrap();
    }
    let took = start.elapsed();
    kaos_driver::syscall_audit::marker();
    println!("{:.0}", n as f64 / took.as_secs_f64());
}

/// Runs the app role (under strace when it is installed); returns (messages/s, the
/// system calls of its loop if traced).
fn app_run(dir: &Path, server: std::net::SocketAddr, n: u64, direct: bool) -> (f64, Option<Vec<(String, usize)>>) {
    let log = std::env::temp_dir().join(format!("kaos-driver-bench-{}-strace.log", std::process::id()));
    let traced = Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success());
    let mode = if direct { "direct" } else { "driver" };
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-o"]).arg(&log).arg(std::env::current_exe().unwrap());
    let args = format!("{}\n{server}\n{n}\n{mode}", dir.display());
    let run = |cmd: &mut Command| {
        let out = cmd.env(ROLE, "app").env("KAOS_DRIVER_BENCH_ARGS", &args).output().unwrap();
        assert!(out.status.success(), "app failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().parse::<f64>().unwrap()
    };
    // The rate untraced (ptrace slows every system call down), the calls traced.
    let rate = run(&mut Command::new(std::env::current_exe().unwrap()));
    let calls = traced
        .then(|| {
            run(&mut cmd);
            kaos_driver::syscall_audit::between_markers(&std::fs::read_to_string(&log).unwrap())
        })
        .flatten();
    let _ = std::fs::remove_file(&log);
    (rate, calls)
}

fn main() {
    if child_role() {
        return;
    }
    let rounds: usize = std::env::var("KAOS_DRIVER_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(7);
    let n: u64 = 20_000_000;
    println!("driver: {rounds} rounds; 64-byte messages; medians (min-max)\n");
    println!("## throughput between two processes, {n} messages per run");
    let mut rows: Vec<(&str, Vec<f64>)> = vec![
        ("kaos ring, push / read_batch", vec![]),
        ("kaos ring, batch of 32 / read_batch", vec![]),
        ("kaos ring, push / read_copy_batch (driver side: copied out)", vec![]),
        ("rtrb 0.4 push / pop, two threads", vec![]),
        ("Unix datagram socket, two processes", vec![]),
    ];
    for _ in 0..rounds {
        rows[0].1.push(ring_throughput(n, false, false));
        rows[1].1.push(ring_throughput(n, true, false));
        rows[2].1.push(ring_throughput(n, false, true));
        rows[3].1.push(rtrb_throughput(n));
        rows[4].1.push(uds_throughput(n / 20));
    }
    println!("| Path | messages/s |\n|---|---|");
    for (name, v) in &rows {
        let (lo, hi) = (v.iter().copied().fold(f64::MAX, f64::min), v.iter().copied().fold(0.0, f64::max));
        println!("| {name} | {:.1} M ({:.1}-{:.1}) |", median(v.clone()) / 1e6, lo / 1e6, hi / 1e6);
    }
    let lat_n = 1_000_000;
    println!("\n## one-way latency (half a round trip), {lat_n} round trips (a tenth for the socket)");
    println!("| Path | p50 | p99 | p99.9 |\n|---|---|---|---|");
    let runs: [(&str, LatencyRun); 3] = [
        ("kaos rings, two processes", ring_latency),
        ("rtrb, two threads", rtrb_latency),
        ("Unix datagram socket, two processes", uds_latency),
    ];
    for (name, f) in runs {
        let mut p = [vec![], vec![], vec![]];
        for _ in 0..rounds.min(3) {
            // A socket round trip takes microseconds: a tenth as many is plenty.
            let v = f(if name.starts_with("Unix") { lat_n / 10 } else { lat_n });
            p[0].push(pct(&v, 0.5) as f64);
            p[1].push(pct(&v, 0.99) as f64);
            p[2].push(pct(&v, 0.999) as f64);
        }
        let [a, b, c] = p.map(median);
        println!("| {name} | {a:.0} ns | {b:.0} ns | {c:.0} ns |");
    }

    println!("\n## an application's system calls over 1,000,000 messages sent and 1,000,000 echoes read");
    let dir = PathBuf::from(format!("/dev/shm/kaos-driver-bench-{}-dir", std::process::id()));
    let mut driver = spawn("driver", &[dir.display().to_string()]);
    let mut ready = [0u8; 6];
    std::io::Read::read_exact(driver.stdout.as_mut().unwrap(), &mut ready).unwrap();
    let server = std::thread::spawn(|| {
        let mut s = RudpServer::bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
        let addr = s.local_addr().unwrap();
        (
            addr,
            std::thread::spawn(move || loop {
                s.poll(Some(Duration::from_millis(1))).unwrap();
                let mut echo = Vec::new();
                s.receive_all(|from, _, d| echo.push((from, d.to_vec())));
                for (to, d) in echo {
                    while s.send(&to, &d).is_err() {
                        s.poll(Some(Duration::from_micros(100))).unwrap();
                    }
                }
                s.flush().unwrap();
            }),
        )
    });
    let (addr, _echo) = server.join().unwrap();
    println!("| Application | messages/s (each way) | system calls in the loop |\n|---|---|---|");
    for direct in [false, true] {
        let (rate, calls) = app_run(&dir, addr, 1_000_000, direct);
        let name = if direct { "RudpTransport, its own socket" } else { "DriverTransport through kaos-driver" };
        let calls = match calls {
            Some(c) if c.is_empty() => "0".to_string(),
            Some(c) => c.iter().map(|(n, k)| format!("{n} {k}")).collect::<Vec<_>>().join(", "),
            None => "strace not installed".to_string(),
        };
        println!("| {name} | {:.2} M | {calls} |", rate / 1e6);
    }
    let _ = driver.kill();
    let _ = driver.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
