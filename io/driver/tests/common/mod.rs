//! A driver process per test, in a directory of its own under /dev/shm.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kaos_rudp::driver::layout::Cnc;

/// A `kaos-driver` child process; killed and its directory removed on drop.
pub struct DriverProcess {
    pub child: Child,
    pub dir: PathBuf,
    owned_dir: bool,
}

/// A fresh directory name for one test.
pub fn fresh_dir(test: &str) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = base.join(format!("kaos-driver-test-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

impl DriverProcess {
    /// Starts a driver in a fresh directory and waits until it serves.
    pub fn start(test: &str) -> DriverProcess {
        Self::start_in(fresh_dir(test), true)
    }

    /// Starts a driver in `dir` (left in place on drop unless `owned_dir`).
    pub fn start_in(dir: PathBuf, owned_dir: bool) -> DriverProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_kaos-driver"))
            .arg("--dir")
            .arg(&dir)
            .arg("--slots")
            .arg("16")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kaos-driver");
        let mut d = DriverProcess { child, dir, owned_dir };
        d.wait_serving();
        d
    }

    /// Waits until `cnc.dat` carries this process's id.
    fn wait_serving(&mut self) {
        let start = Instant::now();
        loop {
            if let Ok(cnc) = Cnc::open(&self.dir) {
                if cnc.driver_pid() == self.child.id() {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                use std::io::Read;
                let _ = self.child.stderr.as_mut().unwrap().read_to_string(&mut err);
                panic!("kaos-driver exited: {status}: {err}");
            }
            assert!(start.elapsed() < Duration::from_secs(60), "kaos-driver did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for DriverProcess {
    fn drop(&mut self) {
        self.kill();
        if self.owned_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs `step` until it returns true, failing after `limit` (generous: only a broken
/// build gets near it).
#[track_caller]
pub fn until(limit: Duration, mut step: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !step() {
        assert!(Instant::now() < end, "condition not reached within {limit:?}");
    }
}

#[path = "../../../rudp/tests/common/messages.rs"]
mod messages;
#[allow(unused_imports)]
pub use messages::{check, message};

pub fn any() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}
