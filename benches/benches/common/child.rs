//! A server in a child process: this benchmark binary run again with the environment
//! that tells it what to serve. It prints its port on its first line and serves until
//! its stdin closes (on drop).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

pub struct Child {
    pub child: std::process::Child,
    pub addr: SocketAddr,
}

impl Child {
    /// Starts this binary with `envs` and waits for the port it prints.
    pub fn start(envs: &[(&str, &str)]) -> Child {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let port: u16 = line.trim().parse().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        Child { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    /// The child's CPU time so far.
    pub fn cpu(&self) -> Duration {
        super::procfs::cpu_time(self.child.id())
    }

    /// The child's resident memory, bytes.
    pub fn resident(&self) -> usize {
        super::procfs::resident_bytes(self.child.id())
    }
}

impl Child {
    /// Closes the child's stdin, kills it and waits for it (also done on drop).
    pub fn stop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.stop();
    }
}
