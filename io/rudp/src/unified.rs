//! The unified transport traits over reliable UDP: [`RudpServerTransport`] hands out a
//! [`RudpClient`] per connected client (all sharing the server's one socket), and
//! [`RudpTransport`] is the client side.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use kaos_transport::{ClientTransport, TransportError as Unified, TransportServer};

use crate::{RudpConfig, RudpServer, RudpTransport, SendError, Transport, TransportError};

impl From<TransportError> for Unified {
    fn from(e: TransportError) -> Unified {
        match e {
            TransportError::UnknownPeer => Unified::Closed,
            TransportError::Send(SendError::Full) => Unified::Full,
            TransportError::Send(SendError::Oversize) => Unified::TooLarge,
            TransportError::Send(SendError::UnknownChannel) => Unified::Protocol("unknown channel".into()),
            TransportError::Send(_) => Unified::Closed,
            TransportError::Io(e) => Unified::Io(e),
            #[cfg(target_os = "linux")]
            TransportError::Driver(e) => Unified::Io(e.into()),
        }
    }
}

type Shared = Arc<Mutex<RudpServer>>;

fn lock(server: &Shared) -> MutexGuard<'_, RudpServer> {
    server.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A reliable UDP server in the [`TransportServer`] shape.
#[derive(Debug)]
pub struct RudpServerTransport {
    server: Shared,
    nonblocking: bool,
}

impl RudpServerTransport {
    /// Listens on `addr` with a send/receive window of `window` messages.
    pub fn bind(addr: SocketAddr, window: u16) -> io::Result<RudpServerTransport> {
        RudpServerTransport::with_config(addr, RudpConfig::with_window(window))
    }

    /// Listens on `addr` with `cfg`.
    pub fn with_config(addr: SocketAddr, cfg: RudpConfig) -> io::Result<RudpServerTransport> {
        Ok(RudpServerTransport {
            server: Arc::new(Mutex::new(RudpServer::with_config(addr, cfg)?)),
            nonblocking: false,
        })
    }

    /// The server underneath, for what the traits do not cover (channels, events,
    /// statistics).
    pub fn server(&self) -> MutexGuard<'_, RudpServer> {
        lock(&self.server)
    }
}

impl TransportServer for RudpServerTransport {
    type Client = RudpClient;

    fn accept(&mut self) -> io::Result<Option<RudpClient>> {
        loop {
            let mut server = lock(&self.server);
            if let Some(addr) = server.accept() {
                return Ok(Some(RudpClient { server: self.server.clone(), addr, nonblocking: self.nonblocking }));
            }
            if self.nonblocking {
                server.poll(Some(Duration::ZERO))?;
                return Ok(server.accept().map(|addr| RudpClient {
                    server: self.server.clone(),
                    addr,
                    nonblocking: true,
                }));
            }
            // Short waits, so clients on other threads get the lock in between.
            server.poll(Some(Duration::from_millis(10)))?;
        }
    }

    fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking = nonblocking;
        Ok(())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        lock(&self.server).local_addr()
    }
}

/// One client of a [`RudpServerTransport`]; it drives the shared server when used.
#[derive(Debug)]
pub struct RudpClient {
    server: Shared,
    addr: SocketAddr,
    nonblocking: bool,
}

impl ClientTransport for RudpClient {
    fn send(&mut self, data: &[u8]) -> Result<(), Unified> {
        let mut server = lock(&self.server);
        server.send(&self.addr, data)?;
        server.flush()?;
        Ok(())
    }

    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<usize, Unified> {
        loop {
            let mut server = lock(&self.server);
            let wait = if self.nonblocking { Duration::ZERO } else { Duration::from_millis(10) };
            server.poll(Some(wait))?;
            let n = server.receive(&self.addr, &mut *f);
            if n > 0 {
                return Ok(n);
            }
            if !server.clients().any(|a| a == self.addr) {
                return Err(Unified::Closed);
            }
            if self.nonblocking {
                return Ok(0);
            }
        }
    }

    fn is_connected(&self) -> bool {
        lock(&self.server).clients().any(|a| a == self.addr)
    }

    fn peer_addr(&self) -> SocketAddr {
        self.addr
    }

    fn close(&mut self) -> Result<(), Unified> {
        let mut server = lock(&self.server);
        server.disconnect(&self.addr, 0)?;
        server.flush()?;
        Ok(())
    }
}

impl ClientTransport for RudpTransport {
    fn send(&mut self, data: &[u8]) -> Result<(), Unified> {
        Ok(Transport::send(self, data)?)
    }

    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<usize, Unified> {
        Ok(Transport::receive(self, f)?)
    }

    fn is_connected(&self) -> bool {
        Transport::is_connected(self)
    }

    fn peer_addr(&self) -> SocketAddr {
        self.server_addr()
    }

    fn close(&mut self) -> Result<(), Unified> {
        Ok(self.disconnect(0)?)
    }
}

#[cfg(target_os = "linux")]
impl ClientTransport for crate::driver::DriverTransport {
    fn send(&mut self, data: &[u8]) -> Result<(), Unified> {
        Ok(Transport::send(self, data)?)
    }

    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<usize, Unified> {
        Ok(Transport::receive(self, f)?)
    }

    fn is_connected(&self) -> bool {
        Transport::is_connected(self)
    }

    fn peer_addr(&self) -> SocketAddr {
        self.server_addr()
    }

    fn close(&mut self) -> Result<(), Unified> {
        Ok(self.disconnect(0)?)
    }
}
