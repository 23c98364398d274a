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

/// The unified traits: code written against ClientTransport and TransportServer runs
/// over the driver.
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

    // And the server trait: a DriverServer as a TransportServer, a plain client.
    use kaos_rudp::driver::DriverServerTransport;
    use kaos_rudp::TransportServer;
    let mut server = DriverServerTransport::new(DriverServer::bind(&driver.dir, any(), 64).unwrap());
    let mut client = RudpTransport::new(any(), server.local_addr().unwrap(), 64).unwrap();
    let mut accepted = None;
    server.set_nonblocking(true).unwrap();
    until(LONG, || {
        client.process_acks().unwrap();
        if let Some(c) = server.accept().unwrap() {
            accepted = Some(c);
        }
        accepted.is_some()
    });
    let mut peer = accepted.unwrap();
    ClientTransport::send(&mut client, b"hello").unwrap();
    let mut got = Vec::new();
    until(LONG, || {
        client.process_acks().unwrap();
        peer.receive(&mut |d| got.extend_from_slice(d)).unwrap();
        !got.is_empty()
    });
    assert_eq!(got, b"hello");
    peer.send(b"back").unwrap();
    let mut back = Vec::new();
    until(LONG, || {
        ClientTransport::receive(&mut client, &mut |d| back.extend_from_slice(d)).unwrap();
        !back.is_empty()
    });
    assert_eq!(back, b"back");
    assert_eq!(peer.peer_addr(), client.local_addr().unwrap());
}

#[path = "../../rudp/tests/common/relay.rs"]
mod relay;

/// Clients through the driver, a lossy, duplicating and reordering relay, and a server
/// through the driver: everything arrives, in order, both ways.
#[test]
fn everything_arrives_through_a_lossy_reordering_duplicating_relay() {
    const CLIENTS: usize = 4;
    const MESSAGES: u32 = 1_000;
    let driver = DriverProcess::start("lossy");
    let mut server = DriverServer::bind(&driver.dir, any(), 256).unwrap();
    let mut relay = relay::Relay::new(server.local_addr());
    let mut clients: Vec<DriverTransport> =
        (0..CLIENTS).map(|_| DriverTransport::new(&driver.dir, any(), relay.addr(), 256).unwrap()).collect();
    let mut progress = [[0u32; 4]; CLIENTS];
    let mut index: HashMap<SocketAddr, usize> = HashMap::new();
    let mut buf = Vec::new();
    until(LONG, || {
        relay.step();
        server.poll(Some(Duration::from_micros(200))).unwrap();
        relay.step();
        for (client, up) in &relay.uplinks {
            if let Some(c) = clients.iter().position(|t| t.local_addr() == Some(*client)) {
                index.entry(up.local_addr().unwrap()).or_insert(c);
            }
        }
        server.receive_all(|from, _, data| {
            let p = &mut progress[index[&from]];
            assert_eq!(check(data), p[1], "server got messages out of order");
            p[1] += 1;
        });
        for (&addr, &c) in &index {
            let p = &mut progress[c];
            while p[2] < MESSAGES && server.send(&addr, message(p[2], &mut buf)).is_ok() {
                p[2] += 1;
            }
        }
        for (client, p) in clients.iter_mut().zip(&mut progress) {
            client.process().unwrap();
            client_step(client, p, MESSAGES, &mut buf);
        }
        progress.iter().all(|p| p[1] == MESSAGES && p[3] == MESSAGES)
    });
    assert!(relay.dropped * 100 >= relay.seen * 7, "dropped {} of {}", relay.dropped, relay.seen);
}

#[test]
fn mismatched_configuration_is_rejected() {
    let driver = DriverProcess::start("mismatch");
    let mut server = RudpServer::bind(any(), 64).unwrap();
    let mut client = DriverTransport::new(&driver.dir, any(), server.local_addr().unwrap(), 128).unwrap();
    until(LONG, || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        client.process_acks().unwrap();
        client.disconnect_reason().is_some()
    });
    assert_eq!(client.disconnect_reason(), Some(DisconnectReason::Rejected(RejectReason::ConfigMismatch)));
}

#[test]
fn garbage_datagrams_to_a_driver_server_leave_its_clients_alone() {
    let driver = DriverProcess::start("garbage");
    let mut server = DriverServer::bind(&driver.dir, any(), 64).unwrap();
    let mut client = DriverTransport::new(&driver.dir, any(), server.local_addr(), 64).unwrap();
    assert!(client.wait_connected(LONG).unwrap());
    let caddr = client.local_addr().unwrap();
    let raw = std::net::UdpSocket::bind(any()).unwrap();
    let mut buf = Vec::new();
    let (mut sent, mut got) = (0u32, 0u32);
    until(LONG, || {
        for k in 0..20u32 {
            let junk: Vec<u8> = (0..(k * 37 % 1400) as usize).map(|i| (i as u32 ^ k) as u8).collect();
            raw.send_to(&junk, server.local_addr()).unwrap();
        }
        while sent < 300 && client.send(message(sent, &mut buf)).is_ok() {
            sent += 1;
        }
        server.poll(Some(Duration::from_millis(1))).unwrap();
        server.receive(&caddr, |data| {
            assert_eq!(check(data), got);
            got += 1;
        });
        got == 300
    });
    assert_eq!(server.clients().count(), 1);
    assert!(client.is_connected());
}

/// A client that never reads: the driver stops taking its messages off the socket (the
/// connection pushes back on the server) and its memory stays bounded; the server sees
/// its sends refused with `Full`, never a growing queue.
#[test]
fn a_client_that_never_reads_cannot_grow_the_driver() {
    let driver = DriverProcess::start("never-read");
    let mut server = RudpServer::bind(any(), 64).unwrap();
    let mut client = DriverTransport::new(&driver.dir, any(), server.local_addr().unwrap(), 64).unwrap();
    until(LONG, || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        client.process().unwrap();
        client.is_connected()
    });
    let addr = client.local_addr().unwrap();
    let chunk = [7u8; 1000];
    let mut accepted = 0u64;
    let mut refused_rounds = 0;
    let rss = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", driver.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().to_string();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let mut peak = 0;
    // Until the server has been refused for a good while: everything in between is
    // buffered somewhere bounded (the driver's ring to the client, its socket-side inbox,
    // the connection's window).
    until(LONG, || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        let mut refused = false;
        for _ in 0..64 {
            match server.send(&addr, &chunk) {
                Ok(()) => accepted += 1,
                Err(_) => {
                    refused = true;
                    break;
                }
            }
        }
        if refused {
            refused_rounds += 1;
        }
        peak = peak.max(rss());
        refused_rounds > 2_000
    });
    eprintln!("never-reading client: {accepted} messages of 1000 bytes taken, driver resident peak {peak} KiB");
    // The ring to the client holds at most 1 MiB of it; the rest waits in bounded places.
    assert!(accepted * 1000 < 8 << 20, "{accepted} KB taken from a client that never reads");
    assert!(peak < 64 * 1024, "driver resident {peak} KiB");
    // The client still has everything, in order, when it reads at last.
    let mut n = 0;
    until(LONG, || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        client
            .receive(&mut |d| {
                assert_eq!(d, &chunk[..]);
                n += 1;
            })
            .unwrap();
        n == accepted
    });
}
