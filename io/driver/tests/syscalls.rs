//! The application's hot path through the driver makes no system call: a child process
//! sends 100,000 messages through a real driver to an echo server and reads every echo,
//! traced with `strace -f` between two markers (see `kaos_driver::syscall_audit`).
//! Skipped where strace is not installed, unless `KAOS_REQUIRE_STRACE` is set (CI).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{any, DriverProcess};
use kaos_driver::syscall_audit;
use kaos_rudp::driver::DriverTransport;
use kaos_rudp::{RudpServer, Transport};

const ROLE: &str = "KAOS_DRIVER_SYSCALL_ROLE";
const MESSAGES: u64 = 100_000;

#[test]
fn child_role() {
    let Ok(args) = std::env::var(ROLE) else { return };
    let (dir, server) = args.split_once('\n').unwrap();
    let mut t = DriverTransport::new(dir, any(), server.parse().unwrap(), 1024).unwrap();
    assert!(t.wait_connected(Duration::from_secs(60)).unwrap());
    let mut m = [0x5Au8; 64];
    let (mut sent, mut got) = (0u64, 0u64);
    syscall_audit::marker();
    while got < MESSAGES {
        while sent < MESSAGES && sent < got + 4096 {
            m[..8].copy_from_slice(&sent.to_le_bytes());
            if t.send(&m).is_err() {
                break;
            }
            sent += 1;
        }
        t.receive(&mut |d| {
            assert_eq!(d[..8], got.to_le_bytes(), "echo out of order");
            got += 1;
        })
        .unwrap();
    }
    syscall_audit::marker();
    std::process::exit(0);
}

#[test]
fn sending_and_receiving_through_the_driver_makes_no_system_call() {
    if Command::new("strace").arg("-V").output().is_err() {
        assert!(std::env::var_os("KAOS_REQUIRE_STRACE").is_none(), "strace is missing");
        eprintln!("skipped: strace is missing");
        return;
    }
    let driver = DriverProcess::start("syscalls");
    let mut server = RudpServer::bind(any(), 1024).unwrap();
    let addr = server.local_addr().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let echo = std::thread::spawn(move || {
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            server.poll(Some(Duration::from_millis(1))).unwrap();
            let mut echo = Vec::new();
            server.receive_all(|from, _, d| echo.push((from, d.to_vec())));
            for (to, d) in echo {
                while server.send(&to, &d).is_err() {
                    server.poll(Some(Duration::from_micros(100))).unwrap();
                }
            }
        }
    });
    let log = driver.dir.with_extension("strace");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(ROLE, format!("{}\n{addr}", driver.dir.display()))
        .output()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    echo.join().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let calls = syscall_audit::between_markers(&text).expect("both markers in the log");
    // A heartbeat older than 100 ms (the driver descheduled) makes a waiting client ask
    // the driver's lock: an idle-path call, allowed.
    let hot: Vec<_> = calls.iter().filter(|(name, _)| name != "flock").collect();
    assert!(hot.is_empty(), "system calls on the hot path: {calls:?}");
}
