//! Several loop threads serving one port: each thread runs its own [`RudpServer`] on a
//! socket bound with `SO_REUSEPORT`, and the kernel spreads clients over them by a hash
//! of their address, so a client always reaches the same thread.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{RudpConfig, RudpServer};

/// Running shards; [`stop`](Self::stop) ends them.
#[derive(Debug)]
pub struct Shards {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl Shards {
    /// Starts `threads` servers on `addr` (port 0 picks one port for all), each in its own
    /// thread, calling `serve(shard index, server)` after every poll (accept, receive and
    /// send there). Each poll waits at most `tick`.
    pub fn spawn<F>(addr: SocketAddr, cfg: RudpConfig, threads: usize, tick: Duration, serve: F) -> io::Result<Shards>
    where
        F: Fn(usize, &mut RudpServer) + Send + Sync + 'static,
    {
        let mut cfg = cfg;
        cfg.reuse_port = true;
        let stop = Arc::new(AtomicBool::new(false));
        let serve = Arc::new(serve);
        // Bind every socket before any thread starts, so the port is complete when this
        // returns and a bind error is reported here.
        let first = RudpServer::with_config(addr, cfg.clone())?;
        let addr = first.local_addr()?;
        let mut servers = vec![first];
        for _ in 1..threads.max(1) {
            servers.push(RudpServer::with_config(addr, cfg.clone())?);
        }
        let threads = servers
            .into_iter()
            .enumerate()
            .map(|(i, mut server)| {
                let (stop, serve) = (Arc::clone(&stop), Arc::clone(&serve));
                std::thread::Builder::new().name(format!("kaos-rudp-{i}")).spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        server.poll(Some(tick))?;
                        serve(i, &mut server);
                        server.flush()?;
                    }
                    Ok(())
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Shards { addr, stop, threads })
    }

    /// The shared address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops every shard and returns the first error one of them hit.
    pub fn stop(self) -> io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        let mut result = Ok(());
        for t in self.threads {
            let r = t.join().unwrap_or_else(|_| Err(io::Error::other("shard thread panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}
