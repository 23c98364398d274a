//! `RudpConfig::busy_poll`: a poll that checks the socket without sleeping first, over
//! real loopback sockets on both backends.

#![cfg(target_os = "linux")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaos_rudp::{IoBackend, RudpConfig, RudpServer, RudpTransport, Transport};

// Only the macro: the other helpers serve the end-to-end suites.
#[allow(dead_code)]
mod common;
use common::on_both_backends;

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn config(backend: IoBackend, busy_poll: Duration) -> RudpConfig {
    let mut cfg = RudpConfig::with_window(64);
    cfg.io = backend;
    cfg.busy_poll = busy_poll;
    cfg
}

fn server(cfg: &RudpConfig) -> RudpServer {
    let server = RudpServer::with_config(any(), cfg.clone()).unwrap();
    assert_eq!(server.backend(), cfg.io, "backend not available");
    server
}

/// Times this thread gave up its CPU to sleep (voluntary context switches).
fn sleeps() -> i64 {
    // SAFETY: rusage is plain C data (integers and timevals), valid when zeroed.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD asks for this thread's counters; `usage` outlives the call.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) }, 0);
    usage.ru_nvcsw
}

/// A poll shorter than the spin (a quarter of the most, to start) spins through it and
/// never sleeps; the same poll without busy polling sleeps. One poll each: a poll
/// stalled by a loaded machine would shrink the spin for the next.
fn a_busy_polling_wait_never_sleeps(backend: IoBackend) {
    let mut spinning = server(&config(backend, Duration::from_millis(10)));
    let mut sleeping = server(&config(backend, Duration::ZERO));
    // The first polls set up what they wait on.
    spinning.poll(Some(Duration::ZERO)).unwrap();
    sleeping.poll(Some(Duration::ZERO)).unwrap();
    let before = sleeps();
    let started = Instant::now();
    spinning.poll(Some(Duration::from_millis(2))).unwrap();
    assert_eq!(sleeps() - before, 0, "a busy-polling wait slept");
    assert!(started.elapsed() >= Duration::from_millis(2), "the poll ended before its timeout");
    let before = sleeps();
    sleeping.poll(Some(Duration::from_millis(2))).unwrap();
    assert!(sleeps() - before >= 1, "a plain wait did not sleep");
}

/// A client and a server that both busy-poll exchange messages in order: a datagram
/// seen while spinning ends the wait and is received.
fn busy_polling_ends_exchange_messages(backend: IoBackend) {
    const MESSAGES: u32 = 200;
    let cfg = config(backend, Duration::from_millis(1));
    let mut server = server(&cfg);
    let mut client = RudpTransport::with_config(any(), server.local_addr().unwrap(), cfg).unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    while !client.is_connected() {
        assert!(Instant::now() < end, "no connection");
        server.poll(Some(Duration::from_millis(1))).unwrap();
        client.poll(Some(Duration::from_millis(1))).unwrap();
    }
    let peer = loop {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        if let Some(a) = server.accept() {
            break a;
        }
    };
    let server_thread = std::thread::spawn(move || {
        let mut echoed = 0;
        let end = Instant::now() + Duration::from_secs(30);
        while echoed < MESSAGES && Instant::now() < end {
            server.poll(Some(Duration::from_millis(50))).unwrap();
            let mut got = Vec::new();
            server.receive(&peer, |m| got.push(m.to_vec()));
            for m in got {
                server.send(&peer, &m).unwrap();
                echoed += 1;
            }
            server.flush().unwrap();
        }
        // Let the last acks out.
        for _ in 0..10 {
            server.poll(Some(Duration::from_millis(2))).unwrap();
        }
        echoed
    });
    for i in 0..MESSAGES {
        client.send(&i.to_le_bytes()).unwrap();
        client.flush().unwrap();
        let mut back = None;
        while back.is_none() {
            assert!(Instant::now() < end, "message {i} never came back");
            client.poll(Some(Duration::from_millis(50))).unwrap();
            client.receive(&mut |m| back = Some(u32::from_le_bytes(m.try_into().unwrap()))).unwrap();
        }
        assert_eq!(back, Some(i));
    }
    assert_eq!(server_thread.join().unwrap(), MESSAGES);
}

/// A wake-up made before a busy-polling poll ends it: the spin or the sleep after it
/// sees it (`Io::ready` seeing it is `backend.rs`'s test).
fn a_waker_ends_a_busy_polling_poll(backend: IoBackend) {
    let mut server = server(&config(backend, Duration::from_millis(10)));
    let waker = server.waker().unwrap();
    for _ in 0..3 {
        waker.wake().unwrap();
        let started = Instant::now();
        server.poll(Some(Duration::from_secs(60))).unwrap();
        assert!(started.elapsed() < Duration::from_secs(30), "the wake-up was lost");
    }
}

on_both_backends!(
    a_busy_polling_wait_never_sleeps,
    busy_polling_ends_exchange_messages,
    a_waker_ends_a_busy_polling_poll
);

#[test]
fn a_busy_poll_above_ten_milliseconds_is_refused() {
    let err = RudpServer::with_config(any(), config(IoBackend::Mio, Duration::from_millis(11))).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("busy_poll"), "{err}");
    assert!(RudpServer::with_config(any(), config(IoBackend::Mio, Duration::from_millis(10))).is_ok());
}
