//! The peers' side of the scale benchmark: an ENet host (rusty_enet) and a renet server
//! over its netcode transport (unsecure), with their load generators.

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use renet::{ConnectionConfig, DefaultChannel, RenetClient, RenetServer, ServerEvent};
use renet_netcode::{
    ClientAuthentication, NetcodeClientTransport, NetcodeServerTransport, ServerAuthentication, ServerConfig,
};
use rusty_enet::{Event, Host, HostSettings, Packet, PeerID};

use super::ScaleServer;

const PROTOCOL_ID: u64 = 7;
const CH: DefaultChannel = DefaultChannel::ReliableOrdered;
/// The load generators' sweep interval.
const SWEEP: Duration = Duration::from_millis(2);

/// Sleeps up to 1 ms, not past `until` (neither peer has a blocking wait).
fn nap(until: Instant) {
    std::thread::sleep(until.saturating_duration_since(Instant::now()).min(Duration::from_millis(1)));
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// rusty_enet's server: one host.
pub(super) struct Enet {
    host: Host<UdpSocket>,
    clients: HashSet<PeerID>,
}

impl Enet {
    pub(super) fn new(clients: usize) -> (Enet, SocketAddr) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let settings = HostSettings { peer_limit: clients, channel_limit: 1, ..Default::default() };
        (Enet { host: Host::new(socket, settings).unwrap(), clients: HashSet::new() }, addr)
    }
}

impl ScaleServer for Enet {
    fn poll(&mut self, until: Instant) {
        nap(until);
        while let Some(e) = self.host.service().unwrap() {
            match e {
                Event::Connect { peer, .. } => {
                    self.clients.insert(peer.id());
                }
                Event::Disconnect { peer, .. } => {
                    self.clients.remove(&peer.id());
                }
                Event::Receive { .. } => {}
            }
        }
    }
    fn connected(&mut self) -> usize {
        self.clients.len()
    }
    fn broadcast(&mut self, state: &[u8]) -> u64 {
        let mut refused = 0;
        for &c in &self.clients {
            if self.host.peer_mut(c).send(0, &Packet::reliable(state)).is_err() {
                refused += 1;
            }
        }
        self.host.flush();
        refused
    }
}

/// `clients` ENet hosts of one peer each, swept every 2 ms.
pub(super) fn enet_loadgen(server: SocketAddr, clients: usize) {
    let mut hosts = Vec::with_capacity(clients);
    for i in 0..clients {
        let settings = HostSettings { peer_limit: 1, channel_limit: 1, ..Default::default() };
        let mut host = Host::new(UdpSocket::bind("127.0.0.1:0").unwrap(), settings).unwrap();
        host.connect(server, 1, 0).unwrap();
        hosts.push(host);
        if i % 500 == 499 {
            sweep_enet(&mut hosts);
        }
    }
    loop {
        sweep_enet(&mut hosts);
        std::thread::sleep(SWEEP);
    }
}

fn sweep_enet(hosts: &mut [Host<UdpSocket>]) {
    for h in hosts {
        while let Ok(Some(_)) = h.service() {}
    }
}

/// renet's server over its netcode transport.
pub(super) struct Renet {
    server: RenetServer,
    transport: NetcodeServerTransport,
    clients: HashSet<u64>,
    last: Instant,
}

impl Renet {
    pub(super) fn new(clients: usize) -> (Renet, SocketAddr) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let transport = NetcodeServerTransport::new(
            ServerConfig {
                current_time: unix_now(),
                max_clients: clients,
                protocol_id: PROTOCOL_ID,
                public_addresses: vec![addr],
                authentication: ServerAuthentication::Unsecure,
            },
            socket,
        )
        .unwrap();
        let server = RenetServer::new(ConnectionConfig::default());
        (Renet { server, transport, clients: HashSet::new(), last: Instant::now() }, addr)
    }
}

impl ScaleServer for Renet {
    fn poll(&mut self, until: Instant) {
        nap(until);
        let now = Instant::now();
        let dt = now - self.last;
        self.last = now;
        self.server.update(dt);
        self.transport.update(dt, &mut self.server).unwrap();
        while let Some(e) = self.server.get_event() {
            match e {
                ServerEvent::ClientConnected { client_id } => {
                    self.clients.insert(client_id);
                }
                ServerEvent::ClientDisconnected { client_id, .. } => {
                    self.clients.remove(&client_id);
                }
            }
        }
        for &c in &self.clients {
            while self.server.receive_message(c, CH).is_some() {}
        }
        self.transport.send_packets(&mut self.server);
    }
    fn connected(&mut self) -> usize {
        self.clients.len()
    }
    fn broadcast(&mut self, state: &[u8]) -> u64 {
        // renet has no refusal: a channel over its memory limit disconnects the client.
        for &c in &self.clients {
            self.server.send_message(c, CH, state.to_vec());
        }
        self.transport.send_packets(&mut self.server);
        0
    }
}

/// `clients` renet clients, one socket each, swept every 2 ms.
pub(super) fn renet_loadgen(server: SocketAddr, clients: usize) {
    let mut all: Vec<(RenetClient, NetcodeClientTransport)> = Vec::with_capacity(clients);
    let mut last = Instant::now();
    for i in 0..clients as u64 {
        let auth = ClientAuthentication::Unsecure {
            protocol_id: PROTOCOL_ID,
            client_id: i + 1,
            server_addr: server,
            user_data: None,
        };
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        all.push((
            RenetClient::new(ConnectionConfig::default()),
            NetcodeClientTransport::new(unix_now(), auth, socket).unwrap(),
        ));
        if i % 500 == 499 {
            sweep_renet(&mut all, &mut last);
        }
    }
    loop {
        sweep_renet(&mut all, &mut last);
        std::thread::sleep(SWEEP);
    }
}

fn sweep_renet(all: &mut [(RenetClient, NetcodeClientTransport)], last: &mut Instant) {
    let now = Instant::now();
    let dt = now - *last;
    *last = now;
    for (client, transport) in all {
        client.update(dt);
        if transport.update(dt, client).is_err() {
            continue;
        }
        while client.receive_message(CH).is_some() {}
        let _ = transport.send_packets(client);
    }
}
