//! Server and clients over real loopback sockets, each test on its own free ports.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use kaos_core::wire::{HandshakeRepr, RejectReason};
use kaos_rudp::{DisconnectReason, IoBackend, RudpConfig, RudpServer, RudpTransport, ServerEvent, Transport};

mod common;
use common::messages::{check, message};
use common::on_both_backends;
use common::relay::Relay;

const ANY: &str = "127.0.0.1:0";

fn any() -> SocketAddr {
    ANY.parse().unwrap()
}

/// Defaults with reliable windows of `window` on `backend`.
fn config(window: u16, backend: IoBackend) -> RudpConfig {
    let mut cfg = RudpConfig::with_window(window);
    cfg.io = backend;
    cfg
}

/// A server on `cfg`, checked to run on the backend asked for (no silent fallback).
fn server(cfg: &RudpConfig) -> RudpServer {
    let server = RudpServer::with_config(any(), cfg.clone()).unwrap();
    assert_eq!(server.backend(), cfg.io, "backend not available");
    server
}

/// Runs `step` until it returns true, failing after `limit`.
#[track_caller]
fn until(limit: Duration, mut step: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !step() {
        assert!(Instant::now() < end, "condition not reached within {limit:?}");
    }
}

/// One client's turn in an exchange: send its next messages while the window allows,
/// then check what arrived. `p`: sent by the client, received by the server, sent by the
/// server, received by the client.
fn client_step(client: &mut RudpTransport, p: &mut [u32; 4], messages: u32, buf: &mut Vec<u8>) {
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

fn connect(server: &mut RudpServer, cfg: &RudpConfig) -> RudpTransport {
    let mut client = RudpTransport::with_config(any(), server.local_addr().unwrap(), cfg.clone()).unwrap();
    until(Duration::from_secs(5), || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        client.process_acks().unwrap();
        client.is_connected()
    });
    client
}

/// Many clients, each with several windows' worth of messages both ways: sized to finish in
/// seconds in a debug build on a busy machine (the bulk figures are the benchmarks').
fn clients_and_server_exchange_reliable_ordered_messages(backend: IoBackend) {
    const CLIENTS: usize = 64;
    const MESSAGES: u32 = 2_000;
    let cfg = config(256, backend);
    let mut server = server(&cfg);
    let mut clients: Vec<RudpTransport> = (0..CLIENTS)
        .map(|_| RudpTransport::with_config(any(), server.local_addr().unwrap(), cfg.clone()).unwrap())
        .collect();
    let addrs: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    // Per client: (sent by client, received by server, sent by server, received by client).
    let mut progress: HashMap<SocketAddr, [u32; 4]> = addrs.iter().map(|&a| (a, [0; 4])).collect();
    let mut buf = Vec::new();
    let mut accepted = 0;
    until(Duration::from_secs(120), || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        while server.accept().is_some() {
            accepted += 1;
        }
        server.receive_all(|from, channel, data| {
            assert_eq!(channel, 0);
            let p = progress.get_mut(&from).expect("message from a known client");
            assert_eq!(check(data), p[1], "server got client {from}'s messages out of order");
            p[1] += 1;
        });
        for addr in &addrs {
            let p = progress.get_mut(addr).unwrap();
            while p[2] < MESSAGES && server.send(addr, message(p[2], &mut buf)).is_ok() {
                p[2] += 1;
            }
        }
        server.flush().unwrap();
        for (client, addr) in clients.iter_mut().zip(&addrs) {
            client_step(client, progress.get_mut(addr).unwrap(), MESSAGES, &mut buf);
        }
        progress.values().all(|p| p[1] == MESSAGES && p[3] == MESSAGES)
    });
    assert_eq!(accepted, CLIENTS);
    let stats = server.stats();
    if cfg!(target_os = "linux") {
        assert!(stats.gso_segments > 0, "no datagram went out through UDP GSO");
        assert!(stats.gro_segments > 0, "no datagram arrived coalesced (UDP GRO)");
    }
    assert_eq!(stats.clients, CLIENTS);
    assert_eq!(stats.accepted, CLIENTS as u64);
    let s = server.client_stats(&addrs[0]).unwrap();
    assert!(s.messages_delivered >= u64::from(MESSAGES));
    assert!(s.bytes_received > 0 && s.rtt.as_micros() > 0);
}

fn vanished_client_times_out_on_the_server(backend: IoBackend) {
    let mut cfg = config(64, backend);
    cfg.protocol.idle_timeout = kaos_rudp::Duration::from_millis(400);
    let mut server = server(&cfg);
    let client = connect(&mut server, &cfg);
    let addr = client.local_addr().unwrap();
    drop(client); // no goodbye
    let start = Instant::now();
    let mut gone = None;
    until(Duration::from_secs(5), || {
        server.poll(Some(Duration::from_millis(5))).unwrap();
        while let Some(e) = server.poll_event() {
            if let ServerEvent::Disconnected(a, reason) = e {
                gone = Some((a, reason));
            }
        }
        gone.is_some()
    });
    assert_eq!(gone, Some((addr, DisconnectReason::TimedOut)));
    assert!(start.elapsed() >= Duration::from_millis(300), "timed out too early");
    until(Duration::from_secs(1), || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        server.stats().clients == 0
    });
    assert!(server.send(&addr, b"late").is_err());
}

fn graceful_disconnect_reaches_the_server_with_its_code(backend: IoBackend) {
    let cfg = config(64, backend);
    let mut server = server(&cfg);
    let mut client = connect(&mut server, &cfg);
    let addr = client.local_addr().unwrap();
    client.disconnect(7).unwrap();
    let mut events = Vec::new();
    until(Duration::from_secs(5), || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        client.process_acks().unwrap();
        events.extend(std::iter::from_fn(|| server.poll_event()));
        events.iter().any(|e| matches!(e, ServerEvent::Disconnected(..)))
    });
    assert_eq!(events, [ServerEvent::Connected(addr), ServerEvent::Disconnected(addr, DisconnectReason::Remote(7))]);
}

fn garbage_datagrams_are_counted_and_dropped_while_clients_continue(backend: IoBackend) {
    let cfg = config(64, backend);
    let mut server = server(&cfg);
    let mut client = connect(&mut server, &cfg);
    let caddr = client.local_addr().unwrap();
    let raw = UdpSocket::bind(ANY).unwrap();
    let target = server.local_addr().unwrap();
    let mut sent_garbage = 0u64;
    let mut buf = Vec::new();
    let (mut sent, mut got) = (0u32, 0u32);
    until(Duration::from_secs(20), || {
        for k in 0..20u32 {
            let junk: Vec<u8> =
                (0..(k * 37 % 1400) as usize).map(|i| ((i as u32).wrapping_mul(2654435761) >> 24) as u8).collect();
            raw.send_to(&junk, target).unwrap();
            sent_garbage += 1;
        }
        while sent < 300 && client.send(message(sent, &mut buf)).is_ok() {
            sent += 1;
        }
        server.poll(Some(Duration::from_millis(1))).unwrap();
        server.receive(&caddr, |data| {
            assert_eq!(check(data), got);
            got += 1;
        });
        client.process_acks().unwrap();
        got == 300
    });
    until(Duration::from_secs(2), || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        server.stats().invalid_dropped >= sent_garbage
    });
    assert_eq!(server.stats().clients, 1);
    assert!(client.is_connected());
}

fn a_handshake_that_never_echoes_the_cookie_creates_no_state(backend: IoBackend) {
    let cfg = config(64, backend);
    let mut server = server(&cfg);
    let raw = UdpSocket::bind(ANY).unwrap();
    raw.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let target = server.local_addr().unwrap();
    let mut request = [0u8; 1200];
    let fingerprint = cfg.protocol.fingerprint();
    let len = HandshakeRepr::ConnectRequest { nonce: 42, fingerprint }.emit(&mut request).unwrap();
    let mut replies = 0;
    for _ in 0..50 {
        raw.send_to(&request[..len], target).unwrap();
        server.poll(Some(Duration::from_millis(2))).unwrap();
        let mut reply = [0u8; 2048];
        if let Ok((n, _)) = raw.recv_from(&mut reply) {
            assert!(n <= len, "reply of {n} bytes to a {len}-byte request");
            replies += 1;
        }
    }
    assert!(replies > 0, "no challenge came back");
    let stats = server.stats();
    assert_eq!((stats.clients, stats.accepted), (0, 0));
    assert!(stats.challenges >= 50);
}

fn a_full_server_refuses_the_next_client(backend: IoBackend) {
    let mut cfg = config(64, backend);
    cfg.max_clients = 1;
    let mut server = server(&cfg);
    let _first = connect(&mut server, &cfg);
    let mut second = RudpTransport::with_config(any(), server.local_addr().unwrap(), cfg.clone()).unwrap();
    until(Duration::from_secs(5), || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        second.process_acks().unwrap();
        second.disconnect_reason().is_some()
    });
    assert_eq!(second.disconnect_reason(), Some(DisconnectReason::Rejected(RejectReason::ServerFull)));
    assert_eq!(server.stats().clients, 1);
}

fn mismatched_configuration_is_rejected(backend: IoBackend) {
    let cfg = config(64, backend);
    let mut server = server(&cfg);
    let mut client = RudpTransport::with_config(any(), server.local_addr().unwrap(), config(128, backend)).unwrap();
    until(Duration::from_secs(5), || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        client.process_acks().unwrap();
        client.disconnect_reason().is_some()
    });
    assert_eq!(client.disconnect_reason(), Some(DisconnectReason::Rejected(RejectReason::ConfigMismatch)));
}

fn everything_arrives_through_a_lossy_reordering_duplicating_relay(backend: IoBackend) {
    const CLIENTS: usize = 10;
    const MESSAGES: u32 = 2_000;
    let cfg = config(256, backend);
    let mut server = server(&cfg);
    let mut relay = Relay::new(server.local_addr().unwrap());
    let mut clients: Vec<RudpTransport> =
        (0..CLIENTS).map(|_| RudpTransport::with_config(any(), relay.addr(), cfg.clone()).unwrap()).collect();
    // Per client (by index): sent by client, received by server, sent by server, received.
    let mut progress = [[0u32; 4]; CLIENTS];
    // The server knows clients by the relay's uplink addresses.
    let mut index: HashMap<SocketAddr, usize> = HashMap::new();
    let mut buf = Vec::new();
    until(Duration::from_secs(120), || {
        relay.step();
        server.poll(Some(Duration::from_micros(200))).unwrap();
        relay.step();
        // Uplink k serves the k-th client the relay heard from.
        for (client, up) in &relay.uplinks {
            let c = clients.iter().position(|t| t.local_addr().unwrap() == *client).unwrap();
            index.entry(up.local_addr().unwrap()).or_insert(c);
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
        server.flush().unwrap();
        for (client, p) in clients.iter_mut().zip(&mut progress) {
            client_step(client, p, MESSAGES, &mut buf);
        }
        progress.iter().all(|p| p[1] == MESSAGES && p[3] == MESSAGES)
    });
    // About one datagram in ten, either way, never arrived.
    assert!(relay.dropped * 100 >= relay.seen * 7, "dropped {} of {}", relay.dropped, relay.seen);
    assert!(relay.dropped > 200, "dropped only {}", relay.dropped);
    let resent: u64 = clients.iter().map(|c| c.stats().messages_resent).sum();
    assert!(resent > 0);
}

fn handshakes_beyond_the_rate_limit_go_unanswered(backend: IoBackend) {
    let mut cfg = config(64, backend);
    cfg.handshakes_per_sec = 5;
    let mut server = server(&cfg);
    let raw = UdpSocket::bind(ANY).unwrap();
    let mut request = [0u8; 1200];
    let len =
        HandshakeRepr::ConnectRequest { nonce: 1, fingerprint: cfg.protocol.fingerprint() }.emit(&mut request).unwrap();
    for _ in 0..50 {
        raw.send_to(&request[..len], server.local_addr().unwrap()).unwrap();
    }
    until(Duration::from_secs(2), || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        let s = server.stats();
        s.challenges + s.handshakes_limited == 50
    });
    let s = server.stats();
    // A burst of five, plus at most a token or two refilled while the burst arrived.
    assert!((5..=7).contains(&s.challenges), "{} challenges", s.challenges);
    assert!(s.handshakes_limited >= 43);
}

fn a_client_that_never_reads_cannot_grow_the_server(backend: IoBackend) {
    never_read(backend, &[7u8; 1000]);
    // Empty messages cost their record headers: they cannot slip past the cap either.
    never_read(backend, &[]);
}

fn never_read(backend: IoBackend, chunk: &[u8]) {
    let mut cfg = config(256, backend);
    cfg.protocol.inbox_bytes = 16 * 1024 + 64;
    let mut server = server(&cfg);
    let mut client = connect(&mut server, &cfg);
    let addr = client.local_addr().unwrap();
    let end = Instant::now() + Duration::from_millis(500);
    let mut refused = 0;
    while Instant::now() < end {
        while client.send(chunk).is_ok() {}
        refused += 1;
        server.poll(Some(Duration::from_millis(1))).unwrap();
        client.process_acks().unwrap();
        // Never read: the bytes held stay bounded (a 5-byte header per message).
        assert!(server.unread_bytes(&addr) <= cfg.protocol.inbox_bytes as usize + 5 + chunk.len());
    }
    assert!(refused > 10, "the client's window never filled");
    assert!(client.is_connected());
    // Reading drains it and delivery resumes, in order and whole.
    let mut got = 0;
    until(Duration::from_secs(5), || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        client.process_acks().unwrap();
        got += server.receive(&addr, |m| assert_eq!(m, chunk));
        got > 100
    });
}

fn oversize_messages_are_refused_with_an_error(backend: IoBackend) {
    let cfg = config(64, backend);
    let mut server = server(&cfg);
    let mut client = connect(&mut server, &cfg);
    let big = vec![0u8; cfg.protocol.max_message as usize + 1];
    assert!(matches!(client.send(&big), Err(kaos_rudp::TransportError::Send(kaos_rudp::SendError::Oversize))));
    let addr = client.local_addr().unwrap();
    assert!(matches!(server.send(&addr, &big), Err(kaos_rudp::TransportError::Send(kaos_rudp::SendError::Oversize))));
    assert!(matches!(server.send(&any(), b"x"), Err(kaos_rudp::TransportError::UnknownPeer)));
}

/// With `park_after` zero every quiescent client gives its storage back; keep-alives
/// flow without taking it again; messages both ways still arrive in order after each
/// idle spell, and a parked client that vanishes still times out.
fn idle_clients_park_and_wake_without_losing_anything(backend: IoBackend) {
    const CLIENTS: usize = 20;
    const PER_ROUND: u32 = 5;
    let mut cfg = config(64, backend);
    cfg.park_after = Duration::ZERO;
    cfg.protocol.keepalive_interval = kaos_rudp::Duration::from_millis(100);
    cfg.protocol.idle_timeout = kaos_rudp::Duration::from_millis(800);
    let mut server = server(&cfg);
    let mut clients: Vec<RudpTransport> = (0..CLIENTS).map(|_| connect(&mut server, &cfg)).collect();
    let addrs: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    let mut progress: HashMap<SocketAddr, [u32; 4]> = addrs.iter().map(|&a| (a, [0; 4])).collect();
    let mut buf = Vec::new();
    let pump =
        |server: &mut RudpServer, clients: &mut [RudpTransport], progress: &mut HashMap<SocketAddr, [u32; 4]>| {
            server.poll(Some(Duration::from_millis(1))).unwrap();
            while server.accept().is_some() {}
            server.receive_all(|from, _, data| {
                let p = progress.get_mut(&from).unwrap();
                assert_eq!(check(data), p[1], "server got {from}'s messages out of order");
                p[1] += 1;
            });
            for c in clients.iter_mut() {
                let p = progress.get_mut(&c.local_addr().unwrap()).unwrap();
                c.receive(&mut |data| {
                    assert_eq!(check(data), p[3], "client got messages out of order");
                    p[3] += 1;
                })
                .unwrap();
            }
        };
    for round in 1..=4u32 {
        until(Duration::from_secs(5), || {
            pump(&mut server, &mut clients, &mut progress);
            server.stats().parked == CLIENTS
        });
        let (unparks, heard) = (server.stats().unparks, server.client_stats(&addrs[0]).unwrap().packets_received);
        let idle = Instant::now();
        while idle.elapsed() < Duration::from_millis(350) {
            pump(&mut server, &mut clients, &mut progress);
        }
        assert_eq!(server.stats().unparks, unparks, "keep-alives unparked a client");
        assert!(server.client_stats(&addrs[0]).unwrap().packets_received > heard, "no keep-alive reached the server");
        assert_eq!(server.stats().parked, CLIENTS);
        let goal = round * PER_ROUND;
        for (c, a) in clients.iter_mut().zip(&addrs) {
            let p = progress.get_mut(a).unwrap();
            while p[0] < goal {
                c.send(message(p[0], &mut buf)).unwrap();
                p[0] += 1;
            }
            while p[2] < goal {
                server.send(a, message(p[2], &mut buf)).unwrap();
                p[2] += 1;
            }
        }
        until(Duration::from_secs(5), || {
            pump(&mut server, &mut clients, &mut progress);
            progress.values().all(|p| p[1] == goal && p[3] == goal)
        });
    }
    until(Duration::from_secs(5), || {
        pump(&mut server, &mut clients, &mut progress);
        server.stats().parked == CLIENTS
    });
    let gone = clients.pop().unwrap().local_addr().unwrap();
    let mut event = None;
    until(Duration::from_secs(5), || {
        pump(&mut server, &mut clients, &mut progress);
        while let Some(e) = server.poll_event() {
            if let ServerEvent::Disconnected(..) = e {
                event = event.or(Some(e));
            }
        }
        event.is_some()
    });
    assert_eq!(event, Some(ServerEvent::Disconnected(gone, DisconnectReason::TimedOut)));
    let stats = server.stats();
    assert_eq!((stats.clients, stats.storage_failures), (CLIENTS - 1, 0));
}

/// A kernel that refuses UDP GSO (here: checksums off on the server's socket, which GSO
/// needs) makes the server send one datagram at a time from then on; nothing is lost.
#[cfg(target_os = "linux")]
fn a_kernel_refusing_gso_gets_single_datagrams(backend: IoBackend) {
    use std::os::fd::{AsFd, AsRawFd};
    const MESSAGES: u32 = 3_000;
    let cfg = config(256, backend);
    let mut server = server(&cfg);
    let one: libc::c_int = 1;
    // SAFETY: a valid socket, a valid int option of the size given.
    let r = unsafe {
        libc::setsockopt(
            server.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NO_CHECK,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "setsockopt SO_NO_CHECK");
    let mut client = connect(&mut server, &cfg);
    let addr = client.local_addr().unwrap();
    let (mut sent, mut got, mut buf) = (0u32, 0u32, Vec::new());
    until(Duration::from_secs(20), || {
        while sent < MESSAGES && server.send(&addr, message(sent, &mut buf)).is_ok() {
            sent += 1;
        }
        server.poll(Some(Duration::from_millis(1))).unwrap();
        client
            .receive(&mut |data| {
                assert_eq!(check(data), got, "client got messages out of order");
                got += 1;
            })
            .unwrap();
        got == MESSAGES
    });
    assert_eq!(server.stats().gso_segments, 0, "GSO went through with checksums off");
}

/// Another thread's wake-up ends a long `poll`, every time, and a drained waker does
/// not end the next one.
fn a_waker_ends_a_blocked_poll_from_another_thread(backend: IoBackend) {
    let cfg = config(16, backend);
    let mut server = server(&cfg);
    let waker = server.waker().unwrap();
    for round in 0..3 {
        let w = waker.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            w.wake().unwrap();
        });
        let started = Instant::now();
        server.poll(Some(Duration::from_secs(60))).unwrap();
        assert!(started.elapsed() < Duration::from_secs(30), "round {round}: the wake-up was lost");
        t.join().unwrap();
        // The wake-up is consumed: a short poll now runs to its timeout.
        let started = Instant::now();
        server.poll(Some(Duration::from_millis(200))).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(150), "round {round}: woken twice by one wake-up");
    }
    // A wake-up before the poll ends it at once, and many coalesce into one.
    for _ in 0..5 {
        waker.wake().unwrap();
    }
    let started = Instant::now();
    server.poll(Some(Duration::from_secs(60))).unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A client's waker ends its blocked poll too: an engine thread can sleep on the
/// transport and be woken for its own work.
fn a_waker_ends_a_clients_blocked_poll(backend: IoBackend) {
    let mut cfg = config(64, backend);
    // No timer of the connection's would end the wait before the assertion's bound.
    cfg.protocol.keepalive_interval = kaos_rudp::Duration::from_secs(40);
    cfg.protocol.idle_timeout = kaos_rudp::Duration::from_secs(120);
    let mut server = server(&cfg);
    let mut client = connect(&mut server, &cfg);
    // Let the handshake's last acknowledgements settle.
    for _ in 0..20 {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        client.process().unwrap();
    }
    let waker = client.waker().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        waker.wake().unwrap();
    });
    let started = Instant::now();
    client.poll(Some(Duration::from_secs(60))).unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "poll ran to a timer, not the waker");
    t.join().unwrap();
}

/// Bulk over lossless loopback loses nothing, even when the server handles a whole
/// window (more packets than one ack can report) before it sends: it acks mid-burst.
fn a_window_burst_is_acked_without_spurious_losses(backend: IoBackend) {
    const MESSAGES: u32 = 30_000;
    let mut cfg = config(1024, backend);
    cfg.protocol.inbox_bytes = 256 * 1024;
    let mut server = server(&cfg);
    let mut client = connect(&mut server, &cfg);
    let addr = client.local_addr().unwrap();
    let (mut sent, mut got, mut buf) = (0u32, 0u32, Vec::new());
    until(Duration::from_secs(60), || {
        while sent < MESSAGES && client.queue_on(0, message(sent, &mut buf)).is_ok() {
            sent += 1;
        }
        client.flush().unwrap();
        // The whole burst waits in the server's socket before it runs.
        server.process().unwrap();
        server.receive(&addr, |m| {
            assert_eq!(check(m), got);
            got += 1;
        });
        server.flush().unwrap();
        client.process().unwrap();
        got == MESSAGES
    });
    let st = client.stats();
    assert!(st.packets_sent > 1_000);
    assert_eq!((st.packets_lost, st.timeouts), (0, 0), "{st:?}");
}

/// A sender on its own thread refills its window on every ack while the server is still
/// taking a burst from the socket: the server hands what arrived to the application
/// before its unread inbox (the default, smaller than a window here) overflows, so
/// nothing is dropped and nothing is taken for lost.
fn a_window_larger_than_the_inbox_drops_nothing(backend: IoBackend) {
    const MESSAGES: u32 = 60_000;
    let cfg = config(1024, backend);
    assert!(cfg.protocol.inbox_bytes < 1024 * 65, "the inbox holds a window here");
    let mut server = server(&cfg);
    let mut client = connect(&mut server, &cfg);
    let addr = client.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = 0u32;
        let end = Instant::now() + Duration::from_secs(60);
        while got < MESSAGES && Instant::now() < end {
            server.poll(Some(Duration::from_millis(1))).unwrap();
            server.receive(&addr, |m| {
                assert_eq!(check(m), got);
                got += 1;
            });
            server.flush().unwrap();
        }
        (got, server.client_stats(&addr).unwrap())
    });
    let (mut sent, mut buf) = (0u32, Vec::new());
    while !reader.is_finished() {
        while sent < MESSAGES && client.queue_on(0, message(sent, &mut buf)).is_ok() {
            sent += 1;
        }
        client.flush().unwrap();
        client.poll(Some(Duration::from_millis(1))).unwrap();
    }
    let (got, server_stats) = reader.join().unwrap();
    assert_eq!(got, MESSAGES);
    assert_eq!(server_stats.dropped_full, 0, "{server_stats:?}");
    assert_eq!(client.stats().packets_lost, 0, "{:?}", client.stats());
}

on_both_backends!(
    clients_and_server_exchange_reliable_ordered_messages,
    vanished_client_times_out_on_the_server,
    graceful_disconnect_reaches_the_server_with_its_code,
    garbage_datagrams_are_counted_and_dropped_while_clients_continue,
    a_handshake_that_never_echoes_the_cookie_creates_no_state,
    a_full_server_refuses_the_next_client,
    mismatched_configuration_is_rejected,
    everything_arrives_through_a_lossy_reordering_duplicating_relay,
    handshakes_beyond_the_rate_limit_go_unanswered,
    a_client_that_never_reads_cannot_grow_the_server,
    oversize_messages_are_refused_with_an_error,
    idle_clients_park_and_wake_without_losing_anything,
    a_waker_ends_a_blocked_poll_from_another_thread,
    a_waker_ends_a_clients_blocked_poll,
    a_window_burst_is_acked_without_spurious_losses,
    a_window_larger_than_the_inbox_drops_nothing,
);

#[cfg(target_os = "linux")]
mod gso {
    use super::{a_kernel_refusing_gso_gets_single_datagrams, on_both_backends};
    on_both_backends!(a_kernel_refusing_gso_gets_single_datagrams);
}

/// Batches of one and two datagrams per system call (the memory-saving setting for
/// processes holding many clients) still move every message, both ways, in order.
#[test]
fn small_batches_move_everything() {
    const MESSAGES: u32 = 3_000;
    let mut cfg = config(256, IoBackend::Mio);
    cfg.batch = 2;
    let mut server = server(&cfg);
    cfg.batch = 1;
    let mut client = connect(&mut server, &cfg);
    let addr = client.local_addr().unwrap();
    let mut p = [0u32; 4];
    let mut buf = Vec::new();
    until(Duration::from_secs(120), || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        server.receive(&addr, |data| {
            assert_eq!(check(data), p[1]);
            p[1] += 1;
        });
        while p[2] < MESSAGES && server.send(&addr, message(p[2], &mut buf)).is_ok() {
            p[2] += 1;
        }
        server.flush().unwrap();
        client_step(&mut client, &mut p, MESSAGES, &mut buf);
        p[1] == MESSAGES && p[3] == MESSAGES
    });
}

/// Two loop threads share one port; every client is served by one of them, and the
/// kernel spreads the clients over both.
#[test]
fn reuseport_shards_share_the_port() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    const CLIENTS: usize = 24;
    let cfg = RudpConfig::with_window(64);
    let per_shard = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counts = Arc::clone(&per_shard);
    let shards = kaos_rudp::Shards::spawn(any(), cfg.clone(), 2, Duration::from_millis(1), move |i, server| {
        while server.accept().is_some() {
            counts[i].fetch_add(1, Ordering::Relaxed);
        }
        // Echo everything back.
        let mut echo = Vec::new();
        server.receive_all(|from, _, data| echo.push((from, data.to_vec())));
        for (to, data) in echo {
            server.send(&to, &data).unwrap();
        }
    })
    .unwrap();
    let mut clients: Vec<RudpTransport> =
        (0..CLIENTS).map(|_| RudpTransport::with_config(any(), shards.local_addr(), cfg.clone()).unwrap()).collect();
    let mut echoed = [0u32; CLIENTS];
    let mut sent = [false; CLIENTS];
    let mut buf = Vec::new();
    until(Duration::from_secs(20), || {
        for ((client, got), sent) in clients.iter_mut().zip(&mut echoed).zip(&mut sent) {
            if client.is_connected() && !*sent {
                *sent = client.send(message(7, &mut buf)).is_ok();
            }
            client
                .receive(&mut |data| {
                    assert_eq!(check(data), 7);
                    *got += 1;
                })
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(1));
        echoed.iter().all(|&n| n > 0)
    });
    shards.stop().unwrap();
    let counts: Vec<usize> = per_shard.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    assert_eq!(counts.iter().sum::<usize>(), CLIENTS);
    assert!(counts.iter().all(|&n| n > 0), "one shard got every client: {counts:?}");
}
