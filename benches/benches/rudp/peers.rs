//! The peers' side of the rudp benchmark: renet 2 over its netcode transport (unsecure)
//! and rusty_enet, driven exactly like kaos-rudp.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use renet::{ConnectionConfig, DefaultChannel, RenetClient, RenetServer, SendType, ServerEvent};
use renet_netcode::{
    ClientAuthentication, NetcodeClientTransport, NetcodeServerTransport, ServerAuthentication, ServerConfig,
};
use rusty_enet::{Event, Host, HostSettings, Packet, PeerID};

use super::fanout::{fanout, FanClients, FanServer, Fanout, Wake, FAN_CLIENTS};
use super::threads::{big_buffers, wait_readable, End};
use super::{message, percentile, seq_of, Figures, BULK, MSG, PINGS};

const PROTOCOL_ID: u64 = 7;
const CH: DefaultChannel = DefaultChannel::ReliableOrdered;
/// renet disconnects a connection whose reliable channel goes over its memory limit;
/// 16 MiB leaves room for the whole bulk run.
const CHANNEL_MEM: usize = 16 * 1024 * 1024;
/// What the bulk sender keeps unacked: renet walks every unacked message on every send,
/// so it is fastest with a bounded backlog (256 KiB measured best of 64 KiB to 5 MiB).
const RENET_WINDOW: usize = 256 * 1024;

fn renet_config() -> ConnectionConfig {
    let mut channels = DefaultChannel::config();
    for c in channels.iter_mut() {
        if matches!(c.send_type, SendType::ReliableOrdered { .. }) {
            c.max_memory_usage_bytes = CHANNEL_MEM;
        }
    }
    ConnectionConfig {
        available_bytes_per_tick: 60_000,
        server_channels_config: channels.clone(),
        client_channels_config: channels,
    }
}

/// A connected renet server and client in one thread, advanced by real time.
struct Renet {
    server: RenetServer,
    server_transport: NetcodeServerTransport,
    client: RenetClient,
    client_transport: NetcodeClientTransport,
    client_id: u64,
    last: Instant,
    /// The sockets, to sleep on in the threaded workloads.
    server_fd: RawFd,
    client_fd: RawFd,
}

impl Renet {
    fn connected() -> Renet {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        big_buffers(&socket);
        let (addr, server_fd) = (socket.local_addr().unwrap(), socket.as_raw_fd());
        let server_transport = NetcodeServerTransport::new(
            ServerConfig {
                current_time: now,
                max_clients: 4,
                protocol_id: PROTOCOL_ID,
                public_addresses: vec![addr],
                authentication: ServerAuthentication::Unsecure,
            },
            socket,
        )
        .unwrap();
        let client_id = 42;
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        big_buffers(&socket);
        let client_fd = socket.as_raw_fd();
        let client_transport = NetcodeClientTransport::new(
            now,
            ClientAuthentication::Unsecure { protocol_id: PROTOCOL_ID, client_id, server_addr: addr, user_data: None },
            socket,
        )
        .unwrap();
        let mut r = Renet {
            server: RenetServer::new(renet_config()),
            server_transport,
            client: RenetClient::new(renet_config()),
            client_transport,
            client_id,
            last: Instant::now(),
            server_fd,
            client_fd,
        };
        // The server reports the connection as an event; the client flips `is_connected`
        // in its transport's next update.
        let mut server_saw = false;
        while !(server_saw && r.client.is_connected()) {
            r.receive();
            while let Some(e) = r.server.get_event() {
                server_saw |= matches!(e, ServerEvent::ClientConnected { .. });
            }
            r.send();
        }
        r
    }

    fn receive(&mut self) {
        let now = Instant::now();
        let dt = now - self.last;
        self.last = now;
        self.server.update(dt);
        self.server_transport.update(dt, &mut self.server).unwrap();
        self.client.update(dt);
        self.client_transport.update(dt, &mut self.client).unwrap();
        assert!(!self.client.is_disconnected(), "renet client disconnected");
    }

    fn send(&mut self) {
        self.client_transport.send_packets(&mut self.client).unwrap();
        self.server_transport.send_packets(&mut self.server);
    }
}

pub(super) fn renet() -> Figures {
    let mut r = Renet::connected();
    let id = r.client_id;
    let start = Instant::now();
    let (mut sent, mut got) = (0u64, 0u64);
    while got < BULK {
        while sent < BULK
            && r.client.can_send_message(CH, MSG)
            && r.client.channel_available_memory(CH) >= CHANNEL_MEM - RENET_WINDOW
        {
            r.client.send_message(CH, message(sent).to_vec());
            sent += 1;
        }
        r.send();
        r.receive();
        while let Some(m) = r.server.receive_message(id, CH) {
            assert_eq!(seq_of(&m), got, "out of order");
            got += 1;
        }
    }
    let bulk_per_sec = BULK as f64 / start.elapsed().as_secs_f64();
    let mut r = Renet::connected();
    let id = r.client_id;
    let mut rtts = Vec::with_capacity(PINGS);
    for i in 0..PINGS as u64 {
        let t = Instant::now();
        r.client.send_message(CH, message(i).to_vec());
        r.send();
        let mut back = false;
        while !back {
            r.receive();
            while let Some(m) = r.server.receive_message(id, CH) {
                r.server.send_message(id, CH, m);
            }
            while let Some(m) = r.client.receive_message(CH) {
                assert_eq!(seq_of(&m), i);
                back = true;
            }
            r.send();
        }
        rtts.push(t.elapsed());
    }
    rtts.sort();
    Figures { bulk_per_sec, p50: percentile(&rtts, 0.5), p99: percentile(&rtts, 0.99) }
}

/// A connected rusty_enet server and client: (server, client, the client's id of the server).
fn enet_connected() -> (Host<UdpSocket>, Host<UdpSocket>, PeerID) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = socket.local_addr().unwrap();
    let settings = |peers| HostSettings { peer_limit: peers, channel_limit: 1, ..Default::default() };
    let mut server = Host::new(socket, settings(4)).unwrap();
    let mut client = Host::new(UdpSocket::bind("127.0.0.1:0").unwrap(), settings(1)).unwrap();
    let peer = client.connect(addr, 1, 0).unwrap().id();
    let (mut client_ok, mut server_ok) = (false, false);
    let end = Instant::now() + Duration::from_secs(5);
    while !(client_ok && server_ok) {
        assert!(Instant::now() < end, "rusty_enet connect timeout");
        while let Some(e) = server.service().unwrap() {
            server_ok |= matches!(e, Event::Connect { .. });
        }
        while let Some(e) = client.service().unwrap() {
            client_ok |= matches!(e, Event::Connect { .. });
        }
    }
    (server, client, peer)
}

pub(super) fn rusty_enet() -> Figures {
    let (mut server, mut client, peer) = enet_connected();
    let start = Instant::now();
    // ENet queues without a cap; its in-flight window throttles the wire.
    for i in 0..BULK {
        client.peer_mut(peer).send(0, &Packet::reliable(&message(i)[..])).unwrap();
    }
    let mut got = 0u64;
    while got < BULK {
        while client.service().unwrap().is_some() {}
        while let Some(e) = server.service().unwrap() {
            if let Event::Receive { packet, .. } = e {
                assert_eq!(seq_of(packet.data()), got, "out of order");
                got += 1;
            }
        }
    }
    let bulk_per_sec = BULK as f64 / start.elapsed().as_secs_f64();
    let (mut server, mut client, peer) = enet_connected();
    let mut rtts = Vec::with_capacity(PINGS);
    for i in 0..PINGS as u64 {
        let t = Instant::now();
        client.peer_mut(peer).send(0, &Packet::reliable(&message(i)[..])).unwrap();
        let mut back = false;
        while !back {
            while let Some(e) = client.service().unwrap() {
                if let Event::Receive { packet, .. } = e {
                    assert_eq!(seq_of(packet.data()), i);
                    back = true;
                }
            }
            while let Some(e) = server.service().unwrap() {
                if let Event::Receive { peer, packet, .. } = e {
                    peer.send(0, &Packet::reliable(packet.data())).unwrap();
                }
            }
        }
        rtts.push(t.elapsed());
    }
    rtts.sort();
    Figures { bulk_per_sec, p50: percentile(&rtts, 0.5), p99: percentile(&rtts, 0.99) }
}

/// renet's server side of the fan-out workload.
struct RenetFanServer {
    server: RenetServer,
    transport: NetcodeServerTransport,
    clients: Vec<u64>,
    last: Instant,
    /// Its socket, slept on until a datagram arrives.
    fd: RawFd,
}

impl FanServer for RenetFanServer {
    fn wait(&mut self, max: Duration) {
        wait_readable(self.fd, max);
    }
    fn pump(&mut self) -> usize {
        let now = Instant::now();
        let dt = now - self.last;
        self.last = now;
        self.server.update(dt);
        self.transport.update(dt, &mut self.server).unwrap();
        while let Some(e) = self.server.get_event() {
            if let ServerEvent::ClientConnected { client_id } = e {
                self.clients.push(client_id);
            }
        }
        let mut inputs = 0;
        for &c in &self.clients {
            while self.server.receive_message(c, CH).is_some() {
                inputs += 1;
            }
        }
        self.transport.send_packets(&mut self.server);
        inputs
    }
    fn clients(&self) -> usize {
        self.clients.len()
    }
    fn broadcast(&mut self, state: &[u8]) {
        for &c in &self.clients {
            self.server.send_message(c, CH, state.to_vec());
        }
        self.transport.send_packets(&mut self.server);
    }
}

/// renet's clients: (client, transport) pairs advanced by real time.
struct RenetFanClients {
    clients: Vec<(RenetClient, NetcodeClientTransport)>,
    last: Instant,
}

impl FanClients for RenetFanClients {
    fn pump(&mut self, input: Option<&[u8]>, on_state: &mut dyn FnMut(&[u8])) {
        let now = Instant::now();
        let dt = now - self.last;
        self.last = now;
        for (client, transport) in &mut self.clients {
            client.update(dt);
            transport.update(dt, client).unwrap();
            if let Some(input) = input.filter(|_| client.is_connected()) {
                client.send_message(CH, input.to_vec());
            }
            while let Some(m) = client.receive_message(CH) {
                on_state(&m);
            }
            transport.send_packets(client).unwrap();
        }
    }
}

pub(super) fn renet_fanout(wake: Wake) -> Fanout {
    fanout(
        wake,
        || {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            big_buffers(&socket);
            let (addr, fd) = (socket.local_addr().unwrap(), socket.as_raw_fd());
            let transport = NetcodeServerTransport::new(
                ServerConfig {
                    current_time: now,
                    max_clients: FAN_CLIENTS,
                    protocol_id: PROTOCOL_ID,
                    public_addresses: vec![addr],
                    authentication: ServerAuthentication::Unsecure,
                },
                socket,
            )
            .unwrap();
            let server = RenetServer::new(renet_config());
            (RenetFanServer { server, transport, clients: Vec::new(), last: Instant::now(), fd }, addr)
        },
        |addr| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let clients = (0..FAN_CLIENTS as u64)
                .map(|client_id| {
                    let auth = ClientAuthentication::Unsecure {
                        protocol_id: PROTOCOL_ID,
                        client_id: client_id + 1,
                        server_addr: addr,
                        user_data: None,
                    };
                    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                    (RenetClient::new(renet_config()), NetcodeClientTransport::new(now, auth, socket).unwrap())
                })
                .collect();
            RenetFanClients { clients, last: Instant::now() }
        },
    )
}

/// rusty_enet's server side of the fan-out workload.
struct EnetFanServer {
    host: Host<UdpSocket>,
    clients: Vec<PeerID>,
    /// Its socket, slept on until a datagram arrives.
    fd: RawFd,
}

impl FanServer for EnetFanServer {
    fn wait(&mut self, max: Duration) {
        wait_readable(self.fd, max);
    }
    fn pump(&mut self) -> usize {
        let mut inputs = 0;
        while let Some(e) = self.host.service().unwrap() {
            match e {
                Event::Connect { peer, .. } => self.clients.push(peer.id()),
                Event::Receive { .. } => inputs += 1,
                _ => {}
            }
        }
        inputs
    }
    fn clients(&self) -> usize {
        self.clients.len()
    }
    fn broadcast(&mut self, state: &[u8]) {
        for &c in &self.clients {
            self.host.peer_mut(c).send(0, &Packet::reliable(state)).unwrap();
        }
        self.host.flush();
    }
}

/// rusty_enet's clients: one host each, with the id of its server peer and whether it
/// is connected.
struct EnetFanClients(Vec<(Host<UdpSocket>, PeerID, bool)>);

impl FanClients for EnetFanClients {
    fn pump(&mut self, input: Option<&[u8]>, on_state: &mut dyn FnMut(&[u8])) {
        for (host, server, connected) in &mut self.0 {
            if let Some(input) = input.filter(|_| *connected) {
                host.peer_mut(*server).send(0, &Packet::reliable(input)).unwrap();
            }
            while let Some(e) = host.service().unwrap() {
                match e {
                    Event::Connect { .. } => *connected = true,
                    Event::Receive { packet, .. } => on_state(packet.data()),
                    _ => {}
                }
            }
        }
    }
}

pub(super) fn rusty_enet_fanout(wake: Wake) -> Fanout {
    fanout(
        wake,
        || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            big_buffers(&socket);
            let (addr, fd) = (socket.local_addr().unwrap(), socket.as_raw_fd());
            let settings = HostSettings { peer_limit: FAN_CLIENTS, channel_limit: 1, ..Default::default() };
            (EnetFanServer { host: Host::new(socket, settings).unwrap(), clients: Vec::new(), fd }, addr)
        },
        |addr| {
            let clients = (0..FAN_CLIENTS)
                .map(|_| {
                    let settings = HostSettings { peer_limit: 1, channel_limit: 1, ..Default::default() };
                    let mut host = Host::new(UdpSocket::bind("127.0.0.1:0").unwrap(), settings).unwrap();
                    let server = host.connect(addr, 1, 0).unwrap().id();
                    (host, server, false)
                })
                .collect();
            EnetFanClients(clients)
        },
    )
}

/// rusty_enet's side of a connection for the threaded workloads: its host, the id of the
/// other side, the socket to sleep on, and messages taken from events not yet handed on.
pub(super) struct EnetEnd {
    host: Host<UdpSocket>,
    peer: PeerID,
    fd: RawFd,
    inbox: VecDeque<Vec<u8>>,
}

impl EnetEnd {
    fn service(&mut self) {
        while let Some(e) = self.host.service().unwrap() {
            if let Event::Receive { packet, .. } = e {
                self.inbox.push_back(packet.data().to_vec());
            }
        }
    }
}

impl End for EnetEnd {
    fn wait(&mut self, max: Duration) {
        wait_readable(self.fd, max);
        self.service();
    }
    fn send(&mut self, m: &[u8]) -> bool {
        // ENet queues without a cap; its in-flight window throttles the wire.
        self.host.peer_mut(self.peer).send(0, &Packet::reliable(m)).is_ok()
    }
    fn flush(&mut self) {
        self.host.flush();
    }
    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) {
        self.service();
        for m in self.inbox.drain(..) {
            f(&m);
        }
    }
}

/// A connected rusty_enet pair for the threaded workloads: (server end, client end).
pub(super) fn enet_ends() -> (EnetEnd, EnetEnd) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    big_buffers(&socket);
    let (addr, server_fd) = (socket.local_addr().unwrap(), socket.as_raw_fd());
    let settings = |peers| HostSettings { peer_limit: peers, channel_limit: 1, ..Default::default() };
    let mut server = Host::new(socket, settings(4)).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    big_buffers(&socket);
    let client_fd = socket.as_raw_fd();
    let mut client = Host::new(socket, settings(1)).unwrap();
    let to_server = client.connect(addr, 1, 0).unwrap().id();
    let (mut to_client, mut client_ok) = (None, false);
    let end = Instant::now() + Duration::from_secs(5);
    while !(client_ok && to_client.is_some()) {
        assert!(Instant::now() < end, "rusty_enet connect timeout");
        while let Some(e) = server.service().unwrap() {
            if let Event::Connect { peer, .. } = e {
                to_client = Some(peer.id());
            }
        }
        while let Some(e) = client.service().unwrap() {
            client_ok |= matches!(e, Event::Connect { .. });
        }
    }
    let end = |host, peer, fd| EnetEnd { host, peer, fd, inbox: VecDeque::new() };
    (end(server, to_client.unwrap(), server_fd), end(client, to_server, client_fd))
}

/// renet's server side for the threaded workloads, bound to its one client.
pub(super) struct RenetServerEnd {
    server: RenetServer,
    transport: NetcodeServerTransport,
    client_id: u64,
    fd: RawFd,
    last: Instant,
}

impl End for RenetServerEnd {
    fn wait(&mut self, max: Duration) {
        wait_readable(self.fd, max);
        let now = Instant::now();
        let dt = now - self.last;
        self.last = now;
        self.server.update(dt);
        self.transport.update(dt, &mut self.server).unwrap();
    }
    fn send(&mut self, m: &[u8]) -> bool {
        self.server.send_message(self.client_id, CH, m.to_vec());
        true
    }
    fn flush(&mut self) {
        self.transport.send_packets(&mut self.server);
    }
    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) {
        while let Some(m) = self.server.receive_message(self.client_id, CH) {
            f(&m);
        }
    }
}

/// renet's client side for the threaded workloads.
pub(super) struct RenetClientEnd {
    client: RenetClient,
    transport: NetcodeClientTransport,
    fd: RawFd,
    last: Instant,
}

impl End for RenetClientEnd {
    fn wait(&mut self, max: Duration) {
        wait_readable(self.fd, max);
        let now = Instant::now();
        let dt = now - self.last;
        self.last = now;
        self.client.update(dt);
        self.transport.update(dt, &mut self.client).unwrap();
        assert!(!self.client.is_disconnected(), "renet client disconnected");
    }
    fn send(&mut self, m: &[u8]) -> bool {
        // At most `RENET_WINDOW` unacked, as in the one-thread workload.
        let ok = self.client.can_send_message(CH, m.len())
            && self.client.channel_available_memory(CH) >= CHANNEL_MEM - RENET_WINDOW;
        if ok {
            self.client.send_message(CH, m.to_vec());
        }
        ok
    }
    fn flush(&mut self) {
        self.transport.send_packets(&mut self.client).unwrap();
    }
    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) {
        while let Some(m) = self.client.receive_message(CH) {
            f(&m);
        }
    }
}

/// A connected renet pair for the threaded workloads: (server end, client end).
pub(super) fn renet_ends() -> (RenetServerEnd, RenetClientEnd) {
    let r = Renet::connected();
    let server = RenetServerEnd {
        server: r.server,
        transport: r.server_transport,
        client_id: r.client_id,
        fd: r.server_fd,
        last: Instant::now(),
    };
    let client =
        RenetClientEnd { client: r.client, transport: r.client_transport, fd: r.client_fd, last: Instant::now() };
    (server, client)
}

/// A rusty_enet server socket waiting for one client (the process workload): returns
/// the host, its socket and its port.
pub(super) fn enet_listen() -> (Host<UdpSocket>, RawFd, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    big_buffers(&socket);
    let (port, fd) = (socket.local_addr().unwrap().port(), socket.as_raw_fd());
    let settings = HostSettings { peer_limit: 4, channel_limit: 1, ..Default::default() };
    (Host::new(socket, settings).unwrap(), fd, port)
}

/// Waits for the client of `enet_listen`'s host.
pub(super) fn enet_accept((mut host, fd, _): (Host<UdpSocket>, RawFd, u16)) -> EnetEnd {
    loop {
        wait_readable(fd, Duration::from_millis(1));
        while let Some(e) = host.service().unwrap() {
            if let Event::Connect { peer, .. } = e {
                let peer = peer.id();
                return EnetEnd { host, peer, fd, inbox: VecDeque::new() };
            }
        }
    }
}

/// A rusty_enet client connected to `addr`.
pub(super) fn enet_connect(addr: SocketAddr) -> EnetEnd {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    big_buffers(&socket);
    let fd = socket.as_raw_fd();
    let mut host = Host::new(socket, HostSettings { peer_limit: 1, channel_limit: 1, ..Default::default() }).unwrap();
    let peer = host.connect(addr, 1, 0).unwrap().id();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < end, "rusty_enet connect timeout");
        wait_readable(fd, Duration::from_millis(1));
        while let Some(e) = host.service().unwrap() {
            if matches!(e, Event::Connect { .. }) {
                return EnetEnd { host, peer, fd, inbox: VecDeque::new() };
            }
        }
    }
}

/// A renet server waiting for one client (the process and lossy workloads), and its port;
/// `also` is another address clients may dial it by (a relay in front of it).
pub(super) fn renet_listen(also: Option<SocketAddr>) -> (RenetServerEnd, u16) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    big_buffers(&socket);
    let (addr, fd) = (socket.local_addr().unwrap(), socket.as_raw_fd());
    let config = ServerConfig {
        current_time: now,
        max_clients: 4,
        protocol_id: PROTOCOL_ID,
        public_addresses: std::iter::once(addr).chain(also).collect(),
        authentication: ServerAuthentication::Unsecure,
    };
    let transport = NetcodeServerTransport::new(config, socket).unwrap();
    let server = RenetServer::new(renet_config());
    (RenetServerEnd { server, transport, client_id: 0, fd, last: Instant::now() }, addr.port())
}

/// Waits for the client of `renet_listen`'s server.
pub(super) fn renet_accept(mut end: RenetServerEnd) -> RenetServerEnd {
    loop {
        end.wait(Duration::from_millis(1));
        while let Some(e) = end.server.get_event() {
            if let ServerEvent::ClientConnected { client_id } = e {
                end.client_id = client_id;
                return end;
            }
        }
        end.flush();
    }
}

/// A renet client connected to `addr`.
pub(super) fn renet_connect(addr: SocketAddr) -> RenetClientEnd {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    big_buffers(&socket);
    let fd = socket.as_raw_fd();
    let auth =
        ClientAuthentication::Unsecure { protocol_id: PROTOCOL_ID, client_id: 42, server_addr: addr, user_data: None };
    let transport = NetcodeClientTransport::new(now, auth, socket).unwrap();
    let mut end = RenetClientEnd { client: RenetClient::new(renet_config()), transport, fd, last: Instant::now() };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !end.client.is_connected() {
        assert!(Instant::now() < deadline, "renet connect timeout");
        end.flush();
        end.wait(Duration::from_millis(1));
    }
    end
}
