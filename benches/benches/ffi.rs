//! The C ABI's cost on the hot path: the RUDP bulk workload from a C client through
//! libkaosnet_ffi beside the same loop in Rust over `RudpTransport`, in one run.
//!
//! `cargo bench -p kaos-benches --bench ffi`
//!
//! Each client is a process of its own (`benches/ffi/bulk_client.c`, compiled here with
//! `cc -O2` against the release libkaosnet_ffi.a; the Rust one is this binary run with
//! `--rust-client`). It sends `KAOS_FFI_MESSAGES` (default 500,000) reliable-ordered
//! 64-byte messages as fast as the window (1024) allows: queue until full, flush, poll
//! up to 1 ms, receive. A kaos-rudp server on a thread of this process checks every
//! sequence number and measures messages/s from the first receipt to the last, the same
//! clock for both clients. The two alternate for `KAOS_FFI_ROUNDS` rounds (default 7);
//! reported: each one's median, and the median of the per-round ratios.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kaos_rudp::{RudpConfig, RudpServer, RudpTransport, RELIABLE_ORDERED};

const WINDOW: u16 = 1024;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The Rust client: the C program's loop over `RudpTransport`.
fn rust_client(server: SocketAddr, count: u64) {
    let mut client =
        RudpTransport::with_config("127.0.0.1:0".parse().unwrap(), server, RudpConfig::with_window(WINDOW))
            .expect("client");
    assert!(client.wait_connected(Duration::from_secs(5)).unwrap());
    let mut msg = [0x5Au8; 64];
    let (mut sent, mut done) = (0u64, false);
    while !done {
        while sent < count {
            msg[..8].copy_from_slice(&sent.to_le_bytes());
            if client.queue_on(RELIABLE_ORDERED, &msg).is_err() {
                break;
            }
            sent += 1;
        }
        client.flush().unwrap();
        client.poll(Some(Duration::from_millis(1))).unwrap();
        client.receive_messages(|_, m| done |= m == b"done").unwrap();
    }
}

/// Compiles the C client against the release static library next to this binary.
fn compile_c_client() -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let lib = deps.join("libkaosnet_ffi.a");
    assert!(lib.exists(), "{} missing (kaos-ffi is a dev-dependency of the benches)", lib.display());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::env::temp_dir().join(format!("kaos-bulk-client-{}", std::process::id()));
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c11", "-O2", "-Wall", "-Werror", "-I"])
        .arg(root.join("ffi/include"))
        .arg(root.join("benches/benches/ffi/bulk_client.c"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&out)
        .status()
        .expect("cc");
    assert!(status.success(), "cc failed");
    out
}

/// Runs one client process against a fresh server; returns messages/s at the server.
fn run(client: &mut Command, count: u64) -> f64 {
    let mut server =
        RudpServer::with_config("127.0.0.1:0".parse().unwrap(), RudpConfig::with_window(WINDOW)).expect("server");
    let addr = server.local_addr().unwrap();
    let mut child = client.arg(addr.to_string()).arg(count.to_string()).stdout(Stdio::null()).spawn().unwrap();
    let (mut got, mut first, mut last) = (0u64, None, None);
    let mut peer = None;
    while got < count {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        server.receive_all(|from, _, m| {
            let seq = u64::from_le_bytes(m[..8].try_into().unwrap());
            assert_eq!(seq, got, "out of order");
            got += 1;
            let now = Instant::now();
            first.get_or_insert(now);
            last = Some(now);
            peer = Some(from);
        });
        assert!(child.try_wait().unwrap().is_none(), "the client exited early");
    }
    let peer = peer.unwrap();
    server.send_on(&peer, RELIABLE_ORDERED, b"done").unwrap();
    while child.try_wait().unwrap().is_none() {
        server.poll(Some(Duration::from_millis(1))).unwrap();
    }
    assert!(child.wait().unwrap().success(), "client failed");
    (count - 1) as f64 / (last.unwrap() - first.unwrap()).as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--rust-client") {
        rust_client(args[i + 1].parse().unwrap(), args[i + 2].parse().unwrap());
        return;
    }
    let count = env_or("KAOS_FFI_MESSAGES", 500_000);
    let rounds = env_or("KAOS_FFI_ROUNDS", 7) as usize;
    let c_client = compile_c_client();
    let me = std::env::current_exe().unwrap();
    let (mut rust, mut c) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate who goes first, so neither always follows the other.
        for which in [round % 2, 1 - round % 2] {
            if which == 0 {
                rust.push(run(Command::new(&me).arg("--rust-client"), count));
            } else {
                c.push(run(&mut Command::new(&c_client), count));
            }
        }
    }
    let _ = std::fs::remove_file(&c_client);
    let mut ratios: Vec<f64> = c.iter().zip(&rust).map(|(c, r)| c / r).collect();
    println!("rudp_bulk_through_the_c_abi: {rounds} rounds of {count} 64-byte reliable-ordered messages, client process -> server thread");
    println!("{:<32} {:>12} {:>12} {:>12}", "client", "median", "min", "max");
    for (name, v) in [("Rust (RudpTransport)", &rust), ("C (libkaosnet_ffi)", &c)] {
        let (lo, hi) = v.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        println!("{name:<32} {:>10.0}/s {lo:>10.0}/s {hi:>10.0}/s", median(&mut v.clone()));
    }
    println!("C / Rust: median of per-round ratios {:.3}x (goal >= 0.90)", median(&mut ratios));
}
