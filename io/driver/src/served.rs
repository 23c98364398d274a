//! One client slot as the driver serves it: its rings, the socket it asked for, and the
//! records waiting for room in its ring.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};

use kaos_core::ring::RingError;
use kaos_rudp::driver::layout::{put_addr, DriverRings, ADDR_LEN};
use kaos_rudp::driver::proto::{self, Command, EndpointSpec, Kind, Report, FROM_DRIVER_HEADER};
use kaos_rudp::driver::slot_error;
use kaos_rudp::{RudpServer, RudpTransport, SendError, TransportError};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// Most messages taken from one client's ring per turn, so one busy client cannot hold
/// the others up.
const BUDGET: usize = 4096;

/// The socket a client asked for.
enum Endpoint {
    Client(Box<RudpTransport>),
    Server(Box<RudpServer>),
}

impl Endpoint {
    fn fd(&self) -> i32 {
        match self {
            Endpoint::Client(t) => t.as_fd().as_raw_fd(),
            Endpoint::Server(s) => s.as_fd().as_raw_fd(),
        }
    }
}

/// A client slot in service.
pub(crate) struct Served {
    rings: DriverRings,
    endpoint: Option<Endpoint>,
    /// Records that found the client's ring full, in order; nothing new is read from the
    /// socket side while any wait, so this holds at most one turn's worth.
    pending: VecDeque<Box<[u8]>>,
    peers: HashMap<u32, SocketAddr>,
    ids: HashMap<SocketAddr, u32>,
    next_peer: u32,
    /// Client endpoint: what was reported already.
    reported_connected: bool,
    reported_end: bool,
    /// A record's private copy (the client may rewrite its ring at any time).
    buf: Vec<u8>,
    out: Vec<u8>,
}

/// Writes a record to the client, or queues it behind those waiting.
fn emit(rings: &mut DriverRings, pending: &mut VecDeque<Box<[u8]>>, out: &mut Vec<u8>, r: Report, payload: &[u8]) {
    if pending.is_empty() {
        match rings.from_driver.claim(FROM_DRIVER_HEADER + payload.len()) {
            Ok(mut claim) => {
                r.put(&mut claim);
                claim[FROM_DRIVER_HEADER..].copy_from_slice(payload);
                claim.commit();
                return;
            }
            Err(RingError::Full) => {}
            // TooLarge cannot happen: endpoints are refused when their messages could not
            // fit the ring. Anything else: the client's side of the ring is broken, which
            // the next read of its rings reports.
            Err(_) => return,
        }
    }
    out.clear();
    out.resize(FROM_DRIVER_HEADER, 0);
    r.put(out);
    out.extend_from_slice(payload);
    pending.push_back(out.as_slice().into());
}

fn report(kind: Kind, peer: u32) -> Report {
    Report { kind, channel: 0, code: 0, peer }
}

fn addr_bytes(addr: SocketAddr) -> [u8; ADDR_LEN] {
    let mut b = [0; ADDR_LEN];
    put_addr(&mut b, addr);
    b
}

impl Served {
    pub(crate) fn new(rings: DriverRings) -> Served {
        let max = rings.to_driver.capacity().max(rings.control.capacity());
        Served {
            rings,
            endpoint: None,
            pending: VecDeque::new(),
            peers: HashMap::new(),
            ids: HashMap::new(),
            next_peer: 1,
            reported_connected: false,
            reported_end: false,
            buf: vec![0; max],
            out: Vec::new(),
        }
    }

    /// Serves the slot once; returns how many things moved, or the slot error that
    /// closes it.
    pub(crate) fn serve(&mut self, registry: &Registry, slot: usize) -> Result<usize, u32> {
        let mut work = self.commands(registry, slot)?;
        work += self.flush_pending();
        work += self.send_queued()?;
        work += self.deliver_received();
        Ok(work)
    }

    /// Runs the commands on the control ring.
    fn commands(&mut self, registry: &Registry, slot: usize) -> Result<usize, u32> {
        let mut n = 0;
        loop {
            let cmd = match self.rings.control.read_copy(&mut self.buf, |b| (true, Command::decode(b))) {
                Ok(Some(Some(cmd))) => cmd,
                Ok(Some(None)) => return Err(slot_error::BAD_COMMAND),
                Ok(None) => return Ok(n),
                Err(_) => return Err(slot_error::CORRUPT_RING),
            };
            n += 1;
            match cmd {
                Command::Connect { spec, bind, server } => self.open(registry, slot, spec, |cfg| {
                    RudpTransport::with_config(bind, server, cfg).map(|t| Endpoint::Client(Box::new(t)))
                }),
                Command::Bind { spec, addr } => self.open(registry, slot, spec, |cfg| {
                    RudpServer::with_config(addr, cfg).map(|s| Endpoint::Server(Box::new(s)))
                }),
                Command::Disconnect { peer, code } => match &mut self.endpoint {
                    Some(Endpoint::Client(t)) => {
                        let _ = t.disconnect(code);
                    }
                    Some(Endpoint::Server(s)) => {
                        if let Some(addr) = self.peers.get(&peer) {
                            let _ = s.disconnect(addr, code);
                        }
                    }
                    None => {}
                },
            }
        }
    }

    /// Opens the endpoint a command asked for and reports its address or the error.
    fn open(
        &mut self,
        registry: &Registry,
        slot: usize,
        spec: EndpointSpec,
        make: impl FnOnce(kaos_rudp::RudpConfig) -> std::io::Result<Endpoint>,
    ) {
        let fits = spec.max_message as usize + FROM_DRIVER_HEADER
            <= kaos_core::ring::max_payload(self.rings.from_driver.capacity())
            && spec.max_message as usize + proto::TO_DRIVER_HEADER
                <= kaos_core::ring::max_payload(self.rings.to_driver.capacity());
        let result = if self.endpoint.is_some() {
            Err("this slot already has an endpoint".to_string())
        } else if !fits {
            Err(format!("max_message {} does not fit the driver's rings", spec.max_message))
        } else {
            let cfg = spec.config();
            match cfg.validate().and_then(|()| make(cfg)) {
                Ok(e) => {
                    let fd = e.fd();
                    match registry.register(&mut SourceFd(&fd), Token(slot), Interest::READABLE) {
                        Ok(()) => Ok(e),
                        Err(err) => Err(err.to_string()),
                    }
                }
                Err(e) => Err(e.to_string()),
            }
        };
        match result {
            Ok(e) => {
                let local = match &e {
                    Endpoint::Client(t) => t.local_addr(),
                    Endpoint::Server(s) => s.local_addr(),
                };
                let local = local.map(addr_bytes).unwrap_or([0; ADDR_LEN]);
                self.endpoint = Some(e);
                emit(&mut self.rings, &mut self.pending, &mut self.out, report(Kind::Bound, 0), &local);
            }
            Err(why) => emit(&mut self.rings, &mut self.pending, &mut self.out, report(Kind::Error, 0), why.as_bytes()),
        }
    }

    /// Moves waiting records into the client's ring.
    fn flush_pending(&mut self) -> usize {
        let mut n = 0;
        while let Some(rec) = self.pending.front() {
            match self.rings.from_driver.push(rec) {
                Ok(()) => {
                    self.pending.pop_front();
                    n += 1;
                }
                Err(_) => break,
            }
        }
        n
    }

    /// Moves the client's messages to its sockets; a message the connection cannot take
    /// yet (window full) stays in the ring.
    fn send_queued(&mut self) -> Result<usize, u32> {
        let Some(endpoint) = self.endpoint.as_mut() else { return Ok(0) };
        let Served { rings, peers, buf, .. } = self;
        let mut bad = false;
        let took = rings.to_driver.read_copy_batch(buf, BUDGET, |rec| {
            let Some((peer, channel, payload)) = proto::get_to_driver(rec) else {
                bad = true;
                return false;
            };
            let sent = match endpoint {
                Endpoint::Client(t) => t.queue_on(channel, payload),
                Endpoint::Server(s) => match peers.get(&peer) {
                    Some(addr) => s.send_on(addr, channel, payload),
                    None => Err(TransportError::UnknownPeer),
                },
            };
            // Full: kept for a later turn, once acks have opened the window. Any other
            // refusal (a connection that ended, a peer that left): dropped, as a socket
            // would drop it.
            !matches!(sent, Err(TransportError::Send(SendError::Full)))
        });
        let n = match took {
            _ if bad => return Err(slot_error::BAD_MESSAGE),
            Ok(n) => n,
            Err(_) => return Err(slot_error::CORRUPT_RING),
        };
        let _ = match endpoint {
            Endpoint::Client(t) => t.flush(),
            Endpoint::Server(s) => s.flush(),
        };
        Ok(n)
    }

    /// Runs the socket and reports what arrived, unless records still wait for room.
    fn deliver_received(&mut self) -> usize {
        let Served { rings, pending, out, endpoint, peers, ids, next_peer, .. } = self;
        let Some(endpoint) = endpoint.as_mut() else { return 0 };
        if !pending.is_empty() {
            let _ = match endpoint {
                Endpoint::Client(t) => t.process(),
                Endpoint::Server(s) => s.process(),
            };
            return 0;
        }
        let mut n = 0;
        match endpoint {
            Endpoint::Client(t) => {
                let _ = t.process();
                if !self.reported_connected && kaos_rudp::Transport::is_connected(&**t) {
                    self.reported_connected = true;
                    emit(rings, pending, out, report(Kind::Connected, 0), &addr_bytes(t.server_addr()));
                    n += 1;
                }
                t.take_messages(|channel, data| {
                    emit(rings, pending, out, Report { kind: Kind::Message, channel, code: 0, peer: 0 }, data);
                    n += 1;
                });
                if let (false, Some(reason)) = (self.reported_end, t.disconnect_reason()) {
                    self.reported_end = true;
                    let (kind, code) = proto::put_reason(reason);
                    let r = Report { kind: Kind::Disconnected, channel: kind, code, peer: 0 };
                    emit(rings, pending, out, r, &addr_bytes(t.server_addr()));
                    n += 1;
                }
            }
            Endpoint::Server(s) => {
                let _ = s.process();
                while let Some(addr) = s.accept() {
                    let id = *next_peer;
                    *next_peer = next_peer.wrapping_add(1).max(1);
                    peers.insert(id, addr);
                    ids.insert(addr, id);
                    emit(rings, pending, out, report(Kind::Connected, id), &addr_bytes(addr));
                    n += 1;
                }
                s.receive_all(|from, channel, data| {
                    let peer = ids.get(&from).copied().unwrap_or(0);
                    emit(rings, pending, out, Report { kind: Kind::Message, channel, code: 0, peer }, data);
                    n += 1;
                });
                while let Some(event) = s.poll_event() {
                    if let kaos_rudp::ServerEvent::Disconnected(addr, reason) = event {
                        let Some(id) = ids.remove(&addr) else { continue };
                        peers.remove(&id);
                        let (kind, code) = proto::put_reason(reason);
                        let r = Report { kind: Kind::Disconnected, channel: kind, code, peer: id };
                        emit(rings, pending, out, r, &addr_bytes(addr));
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Sends what the client had queued, closes its connections gracefully and drops the
    /// socket.
    pub(crate) fn close(mut self, registry: &Registry) {
        let _ = self.send_queued();
        if let Some(endpoint) = self.endpoint.take() {
            let fd = endpoint.fd();
            let _ = registry.deregister(&mut SourceFd(&fd));
            match endpoint {
                Endpoint::Client(mut t) => {
                    if t.disconnect_reason().is_none() {
                        let _ = t.disconnect(0);
                    }
                }
                Endpoint::Server(mut s) => {
                    let clients: Vec<SocketAddr> = s.clients().collect();
                    for addr in clients {
                        let _ = s.disconnect(&addr, 0);
                    }
                    let _ = s.flush();
                }
            }
        }
    }
}
