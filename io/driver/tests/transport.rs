//! The reliable-UDP suite over the driver: DriverTransport and DriverServer against each
//! other and against the in-process RudpServer and RudpTransport, through a real
//! `kaos-driver` process.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{any, check, message, until, DriverProcess};
use kaos_core::wire::RejectReason;
use kaos_rudp::driver::{DriverError, DriverServer, DriverTransport};
use kaos_rudp::{
    DisconnectReason, RudpConfig, RudpServer, RudpTransport, SendError, ServerEvent, Transport, TransportError,
};

const LONG: Duration = Duration::from_secs(60);

/// One client's turn: send while the ring takes it, then check what arrived.
/// `p`: sent by the client, received by the server, sent by the server, received by the client.
fn client_step(client: &mut impl Transport, p: &mut [u32; 4], messages: u32, buf: &mut Vec<u8>) {
    while client.is_connected() && p[0] < messages && client.send(message(p[0], buf)).is_ok() {
        p[0] += 1;
    }
    client
        .receive(&mut |data| {
            assert_eq!(check(data), p[3], "client got messages out of order");
            p[3] += 1;
        })
        .unwrap();
}

#[test]
fn clients_and_server_exchange_reliable_ordered_messages_through_the_driver() {
    const CLIENTS: usize = 8;
    const MESSAGES: u32 = 2_000;
    let driver = DriverProcess::start("exchange");
    let mut server = DriverServer::bind(&driver.dir, any(), 256).unwrap();
    let mut clients: Vec<DriverTransport> =
        (0..CLIENTS).map(|_| DriverTransport::new(&driver.dir, any(), server.local_addr(), 256).unwrap()).collect();
    for c in &mut clients {
        assert!(c.wait_connected(LONG).unwrap());
    }
    let addrs: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().expect("bound")).collect();
    let mut progress: HashMap<SocketAddr, [u32; 4]> = addrs.iter().map(|&a| (a, [0; 4])).collect();
    let mut buf = Vec::new();
    let mut accepted = 0;
    until(LONG, || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        while server.accept().is_some() {
            accepted += 1;
        }
        server.receive_all(|from, channel, data| {
            assert_eq!(channel, 0);
            let p = progress.get_mut(&from).expect("message from a known client");
            assert_eq!(check(data), p[1], "server got {from}'s messages out of order");
            p[1] += 1;
        });
        for addr in &addrs {
            let p = progress.get_mut(addr).unwrap();
            while p[2] < MESSAGES && server.send(addr, message(p[2], &mut buf)).is_ok() {
                p[2] += 1;
            }
        }
        for (client, addr) in clients.iter_mut().zip(&addrs) {
            client_step(client, progress.get_mut(addr).unwrap(), MESSAGES, &mut buf);
        }
        progress.values().all(|p| p[1] == MESSAGES && p[3] == MESSAGES)
    });
    assert_eq!(accepted, CLIENTS);
    assert_eq!(server.clients().count(), CLIENTS);
}

/// The driver speaks the same wire protocol: a DriverTransport reaches an in-process
/// RudpServer, and a RudpTransport a DriverServer.
#[test]
fn driver_endpoints_talk_to_plain_endpoints() {
    let driver = DriverProcess::start("mixed");
    let mut plain_server = RudpServer::bind(any(), 64).unwrap();
    let mut via_driver = DriverTransport::new(&driver.dir, any(), plain_server.local_addr().unwrap(), 64).unwrap();
    let mut driver_server = DriverServer::bind(&driver.dir, any(), 64).unwrap();
    let mut plain_client = RudpTransport::new(any(), driver_server.local_addr(), 64).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut sent = (false, false);
    until(LONG, || {
        plain_server.poll(Some(Duration::from_millis(1))).unwrap();
        driver_server.poll(Some(Duration::ZERO)).unwrap();
        plain_client.process_acks().unwrap();
        via_driver.process_acks().unwrap();
        if via_driver.is_connected() && !sent.0 {
            sent.0 = via_driver.send(b"through the driver").is_ok();
        }
        if Transport::is_connected(&plain_client) && !sent.1 {
            sent.1 = Transport::send(&mut plain_client, b"to the driver").is_ok();
        }
        plain_server.receive_all(|_, _, d| a.push(d.to_vec()));
        driver_server.receive_all(|_, _, d| b.push(d.to_vec()));
        !a.is_empty() && !b.is_empty()
    });
    assert_eq!(a, vec![b"through the driver".to_vec()]);
    assert_eq!(b, vec![b"to the driver".to_vec()]);
    assert_eq!(plain_server.clients().next(), via_driver.local_addr());
}

#[test]
fn graceful_disconnect_reaches_the_server_with_its_code() {
    let driver = DriverProcess::start("disconnect");
    let mut server = DriverServer::bind(&driver.dir, any(), 64).unwrap();
    let mut client = DriverTransport::new(&driver.dir, any(), server.local_addr(), 64).unwrap();
    assert!(client.wait_connected(LONG).unwrap());
    let addr = client.local_addr().unwrap();
    client.disconnect(42).unwrap();
    let mut events = Vec::new();
    until(LONG, || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        events.extend(std::iter::from_fn(|| server.poll_event()));
        events.iter().any(|e| matches!(e, ServerEvent::Disconnected(..)))
    });
    assert!(events.contains(&ServerEvent::Disconnected(addr, DisconnectReason::Remote(42))), "{events:?}");
    until(LONG, || {
        client.poll(Some(Duration::from_millis(1))).unwrap();
        client.disconnect_reason().is_some()
    });
    assert_eq!(client.disconnect_reason(), Some(DisconnectReason::Local(42)));
    assert!(matches!(client.send(b"late"), Err(TransportError::Send(SendError::NotConnected))));
}

#[test]
fn a_full_server_refuses_the_next_client() {
    let driver = DriverProcess::start("full");
    let mut cfg = RudpConfig::with_window(64);
    cfg.max_clients = 1;
    let mut server = DriverServer::with_config(&driver.dir, any(), &cfg).unwrap();
    let mut first = DriverTransport::new(&driver.dir, any(), server.local_addr(), 64).unwrap();
    assert!(first.wait_connected(LONG).unwrap());
    let mut second = DriverTransport::new(&driver.dir, any(), server.local_addr(), 64).unwrap();
    assert!(!second.wait_connected(LONG).unwrap());
    assert_eq!(second.disconnect_reason(), Some(DisconnectReason::Rejected(RejectReason::ServerFull)));
    server.process().unwrap();
    assert_eq!(server.clients().count(), 1);
}

#[test]
fn oversize_messages_and_unknown_channels_are_refused_with_an_error() {
    let driver = DriverProcess::start("oversize");
    let mut server = DriverServer::bind(&driver.dir, any(), 64).unwrap();
    let mut client = DriverTransport::new(&driver.dir, any(), server.local_addr(), 64).unwrap();
    let big = vec![7; RudpConfig::default().protocol.max_message as usize + 1];
    assert!(matches!(client.send(&big), Err(TransportError::Send(SendError::Oversize))));
    assert!(matches!(client.send_on(9, b"x"), Err(TransportError::Send(SendError::UnknownChannel))));
    assert!(client.wait_connected(LONG).unwrap());
    let addr = client.local_addr().unwrap();
    until(LONG, || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        server.clients().any(|a| a == addr)
    });
    assert!(matches!(server.send(&addr, &big), Err(TransportError::Send(SendError::Oversize))));
    assert!(matches!(server.send(&any(), b"x"), Err(TransportError::UnknownPeer)));
    // The largest message goes through whole.
    let max = &big[..big.len() - 1];
    client.send(max).unwrap();
    let mut got = Vec::new();
    until(LONG, || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        server.receive(&addr, |d| got.push(d.len()));
        !got.is_empty()
    });
    assert_eq!(got, vec![max.len()]);
}

#[test]
fn a_bind_the_kernel_refuses_comes_back_as_the_drivers_reason() {
    let driver = DriverProcess::start("bind");
    let taken = std::net::UdpSocket::bind(any()).unwrap();
    let err = DriverServer::bind(&driver.dir, taken.local_addr().unwrap(), 64).unwrap_err();
    assert!(matches!(&err, DriverError::Refused(why) if why.contains("in use")), "{err}");
    // The slot is given back: the driver still serves new clients.
    let server = DriverServer::bind(&driver.dir, any(), 64).unwrap();
    assert_ne!(server.local_addr().port(), 0);
}

/// The unified traits: code written against ClientTransport runs over the driver.
#[test]
fn the_unified_client_trait_runs_over_the_driver() {
    use kaos_rudp::ClientTransport;
    fn echo_once(client: &mut dyn ClientTransport, server: &mut RudpServer) -> Vec<u8> {
        let mut got = Vec::new();
        let mut sent = false;
        until(LONG, || {
            server.poll(Some(Duration::from_millis(1))).unwrap();
            let mut echo = Vec::new();
            server.receive_all(|from, _, d| echo.push((from, d.to_vec())));
            for (to, d) in echo {
                server.send(&to, &d).unwrap();
            }
            if client.is_connected() && !sent {
                sent = client.send(b"ping").is_ok();
            }
            client.receive(&mut |d| got.extend_from_slice(d)).unwrap();
            !got.is_empty()
        });
        got
    }
    let driver = DriverProcess::start("unified");
    let mut server = RudpServer::bind(any(), 64).unwrap();
    let mut client = DriverTransport::new(&driver.dir, any(), server.local_addr().unwrap(), 64).unwrap();
    assert_eq!(echo_once(&mut client, &mut server), b"ping");
    assert_eq!(ClientTransport::peer_addr(&client), server.local_addr().unwrap());
    ClientTransport::close(&mut client).unwrap();
}
