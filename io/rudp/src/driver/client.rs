//! [`DriverTransport`]: a reliable-UDP client whose socket lives in the driver.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use kaos_core::conn::DisconnectReason;

use super::proto::{self, Command, EndpointSpec, Kind};
use super::{DriverError, Link};
use crate::{RudpConfig, SendError, Transport, TransportError, RELIABLE_ORDERED};

/// A reliable-UDP client connection to one server, run by a `kaos-driver` process: the
/// same calls as [`RudpTransport`](crate::RudpTransport), with sends and receives going
/// through shared memory (no system call) instead of a socket.
///
/// [`new`](Self::new) asks the driver to connect; messages sent before the handshake
/// completes wait in the driver. Every call fails with [`DriverError::Gone`] (as
/// [`TransportError::Driver`]) once the driver has died.
#[derive(Debug)]
pub struct DriverTransport {
    link: Link,
    server: SocketAddr,
    local: Option<SocketAddr>,
    connected: bool,
    ended: Option<DisconnectReason>,
    refused: Option<String>,
    inbox: VecDeque<(u8, Box<[u8]>)>,
    inbox_bytes: usize,
    inbox_cap: usize,
}

/// What a record from the driver changed, for a client.
struct State<'a> {
    local: &'a mut Option<SocketAddr>,
    connected: &'a mut bool,
    ended: &'a mut Option<DisconnectReason>,
    refused: &'a mut Option<String>,
}

impl State<'_> {
    /// Applies a report that is not a message.
    fn apply(&mut self, kind: Kind, channel: u8, code: u16, payload: &[u8]) {
        match kind {
            Kind::Message => {}
            Kind::Bound => *self.local = super::layout::get_addr(payload),
            Kind::Connected => *self.connected = true,
            Kind::Disconnected => {
                *self.connected = false;
                *self.ended = Some(proto::get_reason(channel, code).unwrap_or(DisconnectReason::ProtocolViolation));
            }
            Kind::Error => {
                *self.connected = false;
                *self.refused = Some(String::from_utf8_lossy(payload).into_owned());
            }
        }
    }
}

impl DriverTransport {
    /// A client bound to `bind` (port 0 picks one) connecting to `server` through the
    /// driver in `driver_dir` ([`default_dir`](super::default_dir)), with default
    /// settings and reliable windows of `window` messages.
    pub fn new(
        driver_dir: impl AsRef<Path>,
        bind: SocketAddr,
        server: SocketAddr,
        window: u16,
    ) -> Result<Self, DriverError> {
        Self::with_config(driver_dir, bind, server, &RudpConfig::with_window(window))
    }

    /// A client with `cfg`'s window, message size and idle timeout (the driver chooses
    /// the rest, see [`EndpointSpec`]).
    pub fn with_config(
        driver_dir: impl AsRef<Path>,
        bind: SocketAddr,
        server: SocketAddr,
        cfg: &RudpConfig,
    ) -> Result<Self, DriverError> {
        cfg.validate().map_err(|e| DriverError::Refused(e.to_string()))?;
        let mut link = Link::open(driver_dir.as_ref(), cfg)?;
        link.command(Command::Connect { spec: EndpointSpec::of(cfg), bind, server })?;
        Ok(DriverTransport {
            link,
            server,
            local: None,
            connected: false,
            ended: None,
            refused: None,
            inbox: VecDeque::new(),
            inbox_bytes: 0,
            inbox_cap: cfg.protocol.inbox_bytes as usize,
        })
    }

    /// Stops counting a driver that stamps no heartbeat for `after` as alive (a dead one
    /// is noticed sooner, see the module docs).
    pub fn set_hung_after(&mut self, after: Duration) {
        self.link.hung_after_ns = after.as_nanos().min(u128::from(u64::MAX)) as u64;
    }

    /// The address the driver's socket is bound to, once the driver has reported it.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// The server's address.
    pub fn server_addr(&self) -> SocketAddr {
        self.server
    }

    /// Queues `data` on `channel`: one copy into shared memory, no system call. Errors:
    /// `Send(Full)` while the ring to the driver is full, `Send(Oversize)`,
    /// `Send(NotConnected)` once the connection ended, `Driver(..)` once the driver is gone.
    #[inline]
    pub fn send_on(&mut self, channel: u8, data: &[u8]) -> Result<(), TransportError> {
        self.link.check_message(channel, data.len())?;
        if self.ended.is_some() || self.refused.is_some() {
            return Err(SendError::NotConnected.into());
        }
        self.link.send(0, channel, data)
    }

    /// [`send_on`](Self::send_on): the driver batches what it finds queued.
    pub fn queue_on(&mut self, channel: u8, data: &[u8]) -> Result<(), TransportError> {
        self.send_on(channel, data)
    }

    /// Nothing to do: the driver sends as soon as it reads the ring.
    pub fn flush(&mut self) -> Result<(), TransportError> {
        Ok(())
    }

    /// Reads the driver's reports (connection state, messages into the inbox) without
    /// waiting, and checks that the driver lives.
    pub fn process(&mut self) -> Result<(), TransportError> {
        let DriverTransport { link, local, connected, ended, refused, inbox, inbox_bytes, inbox_cap, .. } = self;
        let mut state = State { local, connected, ended, refused };
        while *inbox_bytes < *inbox_cap {
            let n = link.read(64, |r, payload| {
                if r.kind == Kind::Message {
                    *inbox_bytes += payload.len() + size_of::<(u8, Box<[u8]>)>();
                    inbox.push_back((r.channel, payload.into()));
                } else {
                    state.apply(r.kind, r.channel, r.code, payload);
                }
            })?;
            if n == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for something from the driver, then [`process`](Self::process)es.
    /// Spins, then yields, then sleeps in 50 µs steps: the only system calls a waiting
    /// client makes.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<(), TransportError> {
        self.link.wait_records(timeout)?;
        self.process()
    }

    /// Hands every message received so far to `f`; returns how many. Messages come
    /// straight from shared memory, without a copy, once earlier ones are out of the inbox.
    pub fn receive_messages(&mut self, mut f: impl FnMut(u8, &[u8])) -> Result<usize, TransportError> {
        let mut n = self.inbox.len();
        for (channel, data) in self.inbox.drain(..) {
            f(channel, &data);
        }
        self.inbox_bytes = 0;
        let DriverTransport { link, local, connected, ended, refused, .. } = self;
        let mut state = State { local, connected, ended, refused };
        // Twice at most: a driver that keeps publishing cannot hold the caller here.
        for _ in 0..2 {
            let read = link.read(usize::MAX, |r, payload| {
                if r.kind == Kind::Message {
                    n += 1;
                    f(r.channel, payload);
                } else {
                    state.apply(r.kind, r.channel, r.code, payload);
                }
            })?;
            if read == 0 {
                break;
            }
        }
        Ok(n)
    }

    /// Waits until the handshake completes, fails, or `timeout` passes.
    pub fn wait_connected(&mut self, timeout: Duration) -> Result<bool, TransportError> {
        let start = std::time::Instant::now();
        while !self.connected && self.ended.is_none() && self.refused.is_none() {
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                break;
            }
            self.poll(Some(left))?;
        }
        if let Some(why) = &self.refused {
            return Err(TransportError::Driver(DriverError::Refused(why.clone())));
        }
        Ok(self.connected && self.ended.is_none())
    }

    /// Why the connection ended, once it has.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        self.ended
    }

    /// Closes the connection, telling the server `code`.
    pub fn disconnect(&mut self, code: u16) -> Result<(), TransportError> {
        self.link.command(Command::Disconnect { peer: 0, code })?;
        Ok(())
    }
}

impl Transport for DriverTransport {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.send_on(RELIABLE_ORDERED, data)
    }

    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<usize, TransportError> {
        self.receive_messages(|_, data| f(data))
    }

    fn process_acks(&mut self) -> Result<(), TransportError> {
        self.process()
    }

    fn is_connected(&self) -> bool {
        self.connected && self.ended.is_none()
    }
}
