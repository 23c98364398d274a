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

/// What [`RudpServerTransport`] needs of a server: implemented by [`RudpServer`] and,
/// on Linux, by [`DriverServer`](crate::driver::DriverServer).
pub trait ServerCore {
    /// Waits up to `timeout` for traffic, then runs the server.
    fn poll_for(&mut self, timeout: Duration) -> io::Result<()>;
    /// The next newly connected client.
    fn accept(&mut self) -> Option<SocketAddr>;
    /// Queues `data` reliably and in order for `addr`, and sends what is due.
    fn send_now(&mut self, addr: &SocketAddr, data: &[u8]) -> Result<(), TransportError>;
    /// Hands `addr`'s received messages to `f`; returns how many.
    fn receive_from(&mut self, addr: &SocketAddr, f: &mut dyn FnMut(&[u8])) -> usize;
    /// Whether `addr` is connected.
    fn has_client(&self, addr: &SocketAddr) -> bool;
    /// Closes the connection with `addr`, telling it `code`.
    fn disconnect_now(&mut self, addr: &SocketAddr, code: u16) -> Result<(), TransportError>;
    /// The address the server listens on.
    fn listen_addr(&self) -> io::Result<SocketAddr>;
}

impl ServerCore for RudpServer {
    fn poll_for(&mut self, timeout: Duration) -> io::Result<()> {
        self.poll(Some(timeout))
    }

    fn accept(&mut self) -> Option<SocketAddr> {
        RudpServer::accept(self)
    }

    fn send_now(&mut self, addr: &SocketAddr, data: &[u8]) -> Result<(), TransportError> {
        self.send(addr, data)?;
        Ok(self.flush()?)
    }

    fn receive_from(&mut self, addr: &SocketAddr, f: &mut dyn FnMut(&[u8])) -> usize {
        self.receive(addr, f)
    }

    fn has_client(&self, addr: &SocketAddr) -> bool {
        self.clients().any(|a| a == *addr)
    }

    fn disconnect_now(&mut self, addr: &SocketAddr, code: u16) -> Result<(), TransportError> {
        self.disconnect(addr, code)?;
        Ok(self.flush()?)
    }

    fn listen_addr(&self) -> io::Result<SocketAddr> {
        self.local_addr()
    }
}

#[cfg(target_os = "linux")]
impl ServerCore for crate::driver::DriverServer {
    fn poll_for(&mut self, timeout: Duration) -> io::Result<()> {
        self.poll(Some(timeout)).map_err(|e| match e {
            TransportError::Io(e) => e,
            TransportError::Driver(e) => e.into(),
            other => io::Error::other(other.to_string()),
        })
    }

    fn accept(&mut self) -> Option<SocketAddr> {
        crate::driver::DriverServer::accept(self)
    }

    fn send_now(&mut self, addr: &SocketAddr, data: &[u8]) -> Result<(), TransportError> {
        self.send(addr, data)
    }

    fn receive_from(&mut self, addr: &SocketAddr, f: &mut dyn FnMut(&[u8])) -> usize {
        self.receive(addr, f)
    }

    fn has_client(&self, addr: &SocketAddr) -> bool {
        self.clients().any(|a| a == *addr)
    }

    fn disconnect_now(&mut self, addr: &SocketAddr, code: u16) -> Result<(), TransportError> {
        self.disconnect(addr, code)
    }

    fn listen_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr())
    }
}

type Shared<S> = Arc<Mutex<S>>;

fn lock<S>(server: &Shared<S>) -> MutexGuard<'_, S> {
    server.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A reliable UDP server in the [`TransportServer`] shape, over a [`RudpServer`] or
/// (`RudpServerTransport<DriverServer>`) a server run by the media driver.
#[derive(Debug)]
pub struct RudpServerTransport<S: ServerCore = RudpServer> {
    server: Shared<S>,
    nonblocking: bool,
}

impl RudpServerTransport {
    /// Listens on `addr` with a send/receive window of `window` messages.
    pub fn bind(addr: SocketAddr, window: u16) -> io::Result<RudpServerTransport> {
        RudpServerTransport::with_config(addr, RudpConfig::with_window(window))
    }

    /// Listens on `addr` with `cfg`.
    pub fn with_config(addr: SocketAddr, cfg: RudpConfig) -> io::Result<RudpServerTransport> {
        Ok(RudpServerTransport::new(RudpServer::with_config(addr, cfg)?))
    }
}

impl<S: ServerCore> RudpServerTransport<S> {
    /// The traits' shape over `server`.
    pub fn new(server: S) -> Self {
        RudpServerTransport { server: Arc::new(Mutex::new(server)), nonblocking: false }
    }

    /// The server underneath, for what the traits do not cover (channels, events,
    /// statistics).
    pub fn server(&self) -> MutexGuard<'_, S> {
        lock(&self.server)
    }
}

impl<S: ServerCore> TransportServer for RudpServerTransport<S> {
    type Client = RudpClient<S>;

    fn accept(&mut self) -> io::Result<Option<RudpClient<S>>> {
        loop {
            let mut server = lock(&self.server);
            if let Some(addr) = server.accept() {
                return Ok(Some(RudpClient { server: self.server.clone(), addr, nonblocking: self.nonblocking }));
            }
            if self.nonblocking {
                server.poll_for(Duration::ZERO)?;
                return Ok(server.accept().map(|addr| RudpClient {
                    server: self.server.clone(),
                    addr,
                    nonblocking: true,
                }));
            }
            // Short waits, so clients on other threads get the lock in between.
            server.poll_for(Duration::from_millis(10))?;
        }
    }

    fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking = nonblocking;
        Ok(())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        lock(&self.server).listen_addr()
    }
}

/// One client of a [`RudpServerTransport`]; it drives the shared server when used.
#[derive(Debug)]
pub struct RudpClient<S: ServerCore = RudpServer> {
    server: Shared<S>,
    addr: SocketAddr,
    nonblocking: bool,
}

impl<S: ServerCore> ClientTransport for RudpClient<S> {
    fn send(&mut self, data: &[u8]) -> Result<(), Unified> {
        Ok(lock(&self.server).send_now(&self.addr, data)?)
    }

    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<usize, Unified> {
        loop {
            let mut server = lock(&self.server);
            let wait = if self.nonblocking { Duration::ZERO } else { Duration::from_millis(10) };
            server.poll_for(wait)?;
            let n = server.receive_from(&self.addr, &mut *f);
            if n > 0 {
                return Ok(n);
            }
            if !server.has_client(&self.addr) {
                return Err(Unified::Closed);
            }
            if self.nonblocking {
                return Ok(0);
            }
        }
    }

    fn is_connected(&self) -> bool {
        lock(&self.server).has_client(&self.addr)
    }

    fn peer_addr(&self) -> SocketAddr {
        self.addr
    }

    fn close(&mut self) -> Result<(), Unified> {
        Ok(lock(&self.server).disconnect_now(&self.addr, 0)?)
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
