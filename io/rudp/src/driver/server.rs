//! [`DriverServer`]: a reliable-UDP server whose socket lives in the driver.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use kaos_core::conn::DisconnectReason;

use super::layout::get_addr;
use super::proto::{self, Command, EndpointSpec, Kind, Report};
use super::{wait_until, DriverError, Link};
use crate::{RudpConfig, ServerEvent, TransportError, RELIABLE_ORDERED};

/// A reliable-UDP server run by a `kaos-driver` process: the calls of
/// [`RudpServer`](crate::RudpServer), with messages going through shared memory.
#[derive(Debug)]
pub struct DriverServer {
    link: Link,
    local: SocketAddr,
    /// Connected clients by the driver's peer id.
    peers: HashMap<u32, Peer>,
    ids: HashMap<SocketAddr, u32>,
    accepted: VecDeque<SocketAddr>,
    events: VecDeque<ServerEvent>,
    inbox_bytes: usize,
    /// Per-client unread bytes the server holds before it leaves records in the ring
    /// (which makes the driver hold back, and the connections push back on senders).
    inbox_cap: usize,
}

#[derive(Debug)]
struct Peer {
    addr: SocketAddr,
    inbox: VecDeque<(u8, Box<[u8]>)>,
}

impl DriverServer {
    /// A server on `addr` through the driver in `driver_dir`, with default settings and
    /// reliable windows of `window` messages. Returns once the driver has bound the socket.
    pub fn bind(driver_dir: impl AsRef<Path>, addr: SocketAddr, window: u16) -> Result<Self, DriverError> {
        Self::with_config(driver_dir, addr, &RudpConfig::with_window(window))
    }

    /// A server with `cfg`'s window, message size, idle timeout and client limit.
    pub fn with_config(driver_dir: impl AsRef<Path>, addr: SocketAddr, cfg: &RudpConfig) -> Result<Self, DriverError> {
        cfg.validate().map_err(|e| DriverError::Refused(e.to_string()))?;
        let mut link = Link::open(driver_dir.as_ref(), cfg)?;
        link.command(Command::Bind { spec: EndpointSpec::of(cfg), addr })?;
        // The driver answers Bound or Error first.
        let mut answer = None;
        wait_until(None, || {
            link.read(1, |r, payload| {
                answer = Some(match r.kind {
                    Kind::Bound => get_addr(payload).ok_or_else(|| DriverError::Refused("no address".into())),
                    _ => Err(DriverError::Refused(String::from_utf8_lossy(payload).into_owned())),
                })
            })?;
            Ok(answer.is_some())
        })?;
        let local = answer.expect("waited for")?;
        Ok(DriverServer {
            link,
            local,
            peers: HashMap::new(),
            ids: HashMap::new(),
            accepted: VecDeque::new(),
            events: VecDeque::new(),
            inbox_bytes: 0,
            inbox_cap: (cfg.protocol.inbox_bytes as usize).saturating_mul(cfg.max_clients.max(1)),
        })
    }

    /// The address the driver's socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stops counting a driver that stamps no heartbeat for `after` as alive.
    pub fn set_hung_after(&mut self, after: Duration) {
        self.link.hung_after_ns = after.as_nanos().min(u128::from(u64::MAX)) as u64;
    }

    /// Waits up to `timeout` for something from the driver, then
    /// [`process`](Self::process)es.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<(), TransportError> {
        self.link.wait_records(timeout)?;
        self.process()
    }

    /// Reads the driver's reports without waiting: connects and disconnects into
    /// [`accept`](Self::accept) and [`poll_event`](Self::poll_event), messages into the
    /// clients' inboxes.
    pub fn process(&mut self) -> Result<(), TransportError> {
        let DriverServer { link, peers, ids, accepted, events, inbox_bytes, inbox_cap, .. } = self;
        while *inbox_bytes < *inbox_cap {
            let n = link.read(256, |r, payload| on_report(r, payload, peers, ids, accepted, events, inbox_bytes))?;
            if n == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Nothing to do: the driver sends as soon as it reads the ring.
    pub fn flush(&mut self) -> Result<(), TransportError> {
        Ok(())
    }

    /// The next newly connected client.
    pub fn accept(&mut self) -> Option<SocketAddr> {
        self.accepted.pop_front()
    }

    /// The next connect or disconnect.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Queues `data` reliably and in order for the client at `addr`.
    pub fn send(&mut self, addr: &SocketAddr, data: &[u8]) -> Result<(), TransportError> {
        self.send_on(addr, RELIABLE_ORDERED, data)
    }

    /// Queues `data` on `channel` for the client at `addr`: one copy into shared memory.
    #[inline]
    pub fn send_on(&mut self, addr: &SocketAddr, channel: u8, data: &[u8]) -> Result<(), TransportError> {
        let &peer = self.ids.get(addr).ok_or(TransportError::UnknownPeer)?;
        self.link.check_message(channel, data.len())?;
        self.link.send(peer, channel, data)
    }

    /// Hands the messages received from `addr` to `f`; returns how many.
    pub fn receive(&mut self, addr: &SocketAddr, mut f: impl FnMut(&[u8])) -> usize {
        let Some(peer) = self.ids.get(addr).and_then(|id| self.peers.get_mut(id)) else { return 0 };
        let n = peer.inbox.len();
        for (_, data) in peer.inbox.drain(..) {
            self.inbox_bytes -= data.len() + size_of::<(u8, Box<[u8]>)>();
            f(&data);
        }
        n
    }

    /// Hands every message received from every client to `f` with its sender and
    /// channel; returns how many.
    pub fn receive_all(&mut self, mut f: impl FnMut(SocketAddr, u8, &[u8])) -> usize {
        let mut n = 0;
        for peer in self.peers.values_mut() {
            n += peer.inbox.len();
            for (channel, data) in peer.inbox.drain(..) {
                f(peer.addr, channel, &data);
            }
        }
        self.inbox_bytes = 0;
        n
    }

    /// Closes the connection with `addr`, telling it `code`.
    pub fn disconnect(&mut self, addr: &SocketAddr, code: u16) -> Result<(), TransportError> {
        let peer = self.ids.remove(addr).ok_or(TransportError::UnknownPeer)?;
        self.link.command(Command::Disconnect { peer, code })?;
        Ok(())
    }

    /// The connected clients.
    pub fn clients(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.ids.keys().copied()
    }
}

/// Applies one record from the driver to a server's state.
fn on_report(
    r: Report,
    payload: &[u8],
    peers: &mut HashMap<u32, Peer>,
    ids: &mut HashMap<SocketAddr, u32>,
    accepted: &mut VecDeque<SocketAddr>,
    events: &mut VecDeque<ServerEvent>,
    inbox_bytes: &mut usize,
) {
    match r.kind {
        Kind::Message => {
            if let Some(peer) = peers.get_mut(&r.peer) {
                *inbox_bytes += payload.len() + size_of::<(u8, Box<[u8]>)>();
                peer.inbox.push_back((r.channel, payload.into()));
            }
        }
        Kind::Connected => {
            if let Some(addr) = get_addr(payload) {
                peers.insert(r.peer, Peer { addr, inbox: VecDeque::new() });
                ids.insert(addr, r.peer);
                accepted.push_back(addr);
                events.push_back(ServerEvent::Connected(addr));
            }
        }
        Kind::Disconnected => {
            // Unread messages stay readable until the next receive; the peer id goes.
            let addr = peers.get(&r.peer).map(|p| p.addr).or_else(|| get_addr(payload));
            if let Some(addr) = addr {
                if ids.get(&addr) == Some(&r.peer) {
                    ids.remove(&addr);
                }
                let reason = proto::get_reason(r.channel, r.code).unwrap_or(DisconnectReason::ProtocolViolation);
                events.push_back(ServerEvent::Disconnected(addr, reason));
            }
            if peers.get(&r.peer).is_some_and(|p| p.inbox.is_empty()) {
                peers.remove(&r.peer);
            }
        }
        Kind::Bound | Kind::Error => {}
    }
}
