//! A kaos-rudp echo server on a free loopback port, for the tests of the C ABI.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use kaos_rudp::RudpServer;

/// A kaos-rudp server echoing every message on its channel, until dropped.
pub struct EchoServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    pub fn start() -> EchoServer {
        let mut server = RudpServer::bind("127.0.0.1:0".parse().unwrap(), 256).unwrap();
        let addr = server.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut echoes = std::collections::VecDeque::new();
            while !flag.load(Ordering::Relaxed) {
                server.poll(Some(Duration::from_millis(5))).unwrap();
                server.receive_all(|from, channel, data| echoes.push_back((from, channel, data.to_vec())));
                // An echo the window cannot take yet waits for the next turn, in order.
                while let Some((from, channel, data)) = echoes.front() {
                    if server.send_on(from, *channel, data).is_err() {
                        break;
                    }
                    echoes.pop_front();
                }
            }
        });
        EchoServer { addr, stop, thread: Some(thread) }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
