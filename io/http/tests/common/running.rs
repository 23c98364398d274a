//! A kaos-http server running on its own thread for a test, stopped when dropped.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::thread::JoinHandle;

use kaos_http::{HttpServer, ShutdownHandle};

pub struct Running {
    pub addr: SocketAddr,
    pub stop: ShutdownHandle,
    thread: Option<JoinHandle<HttpServer>>,
}

impl Running {
    /// Runs `server` on a new thread.
    pub fn spawn(mut server: HttpServer) -> Running {
        let addr = server.local_addr().unwrap();
        let stop = server.shutdown_handle();
        let thread = std::thread::spawn(move || {
            server.run().unwrap();
            server
        });
        Running { addr, stop, thread: Some(thread) }
    }

    /// Shuts the server down and returns it once drained.
    pub fn stop(mut self) -> HttpServer {
        self.stop.shutdown();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
