//! kaos-ws over loopback: third-party clients, bad input, many clients, slow consumers.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{close_code, frame, raw_client, read_frame, while_polling, Echo};
use kaos_ws::{CloseReason, Kind, TransportError, WsClient, WsConfig, WsServer};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

#[test]
fn tungstenite_client_gets_text_binary_pongs_and_a_clean_close() {
    let echo = Echo::start(WsConfig::default());
    let (mut ws, response) = tungstenite::connect(echo.url("/chat?room=1")).unwrap();
    assert_eq!(response.status(), 101);
    ws.send(Message::text("héllo")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("héllo"));
    let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
    ws.send(Message::binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(big));
    ws.send(Message::Ping(b"are you there".to_vec().into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong(b"are you there".to_vec().into()));
    // A fragmented message arrives whole.
    ws.send(Message::Frame(tungstenite::protocol::frame::Frame::message(
        b"frag".to_vec(),
        tungstenite::protocol::frame::coding::OpCode::Data(tungstenite::protocol::frame::coding::Data::Text),
        true,
    )))
    .unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("frag"));
    ws.close(Some(CloseFrame { code: CloseCode::Library(4001), reason: "bye".into() })).unwrap();
    // The server echoes the close; then the stream ends.
    loop {
        match ws.read() {
            Ok(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 4001),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(echo.next_close(Duration::from_secs(5)), Some(CloseReason::Peer(4001)));
    let stats = echo.stop();
    assert_eq!((stats.accepted, stats.closed, stats.messages_in), (1, 1, 3));
}

#[test]
fn protocol_violations_get_their_close_code_and_others_continue() {
    let cfg = WsConfig { max_message_size: 64 * 1024, max_frame_size: 64 * 1024, ..WsConfig::default() };
    let echo = Echo::start(cfg);
    let mut bystander = WsClient::connect(&echo.url("/")).unwrap();
    let cases: [(&str, Vec<u8>, u16); 5] = [
        ("unmasked frame", frame(0x2, b"hi", false, true), 1002),
        ("invalid UTF-8 text", frame(0x1, &[0xff, 0xfe, 0x80], true, true), 1007),
        ("oversized frame", frame(0x2, &vec![0u8; 64 * 1024 + 1], true, true), 1009),
        ("reserved opcode", frame(0x3, b"x", true, true), 1002),
        ("fragmented ping", frame(0x9, b"x", true, false), 1002),
    ];
    for (what, bytes, code) in cases {
        let mut s = raw_client(echo.addr);
        // The server may close before taking every byte of a bad frame.
        let _ = s.write_all(&bytes);
        let (op, payload) = read_frame(&mut s).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!((op, close_code(&payload)), (0x8, code), "{what}");
        // Then the server closes the TCP connection.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert_eq!(echo.next_close(Duration::from_secs(5)), Some(CloseReason::Violation(code)), "{what}");
        // The bystander is untouched.
        bystander.send(what.as_bytes()).unwrap();
        let mut got = Vec::new();
        bystander.receive(|m| got.push(m.to_vec())).unwrap();
        assert_eq!(got, vec![what.as_bytes().to_vec()]);
    }
    // An abrupt disconnect mid-frame is a reset, not a stall.
    let mut s = raw_client(echo.addr);
    s.write_all(&frame(0x2, &[1; 100], true, true)[..50]).unwrap();
    drop(s);
    assert_eq!(echo.next_close(Duration::from_secs(5)), Some(CloseReason::Reset));
    bystander.send(b"still here").unwrap();
    let mut n = 0;
    bystander.receive(|m| n += usize::from(m == b"still here")).unwrap();
    assert_eq!(n, 1);
    assert_eq!(echo.stop().violations, 5);
}

#[test]
fn bad_upgrade_requests_get_http_errors() {
    let echo = Echo::start(WsConfig { handshake_timeout: Duration::from_millis(300), ..WsConfig::default() });
    let ask = |request: &[u8]| {
        let mut s = TcpStream::connect(echo.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).to_string()
    };
    let version_8 = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let answer = ask(version_8);
    assert!(answer.starts_with("HTTP/1.1 426 ") && answer.contains("Sec-WebSocket-Version: 13"), "{answer}");
    assert!(ask(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 400 "));
    assert!(ask(b"\x16\x03\x01garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));
    let mut huge = b"GET / HTTP/1.1\r\n".to_vec();
    huge.extend(
        std::iter::repeat_n(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".as_slice(), 400).flatten(),
    );
    assert!(ask(&huge).starts_with("HTTP/1.1 431 "));
    // A client that never finishes its request is cut off.
    let start = Instant::now();
    assert_eq!(ask(b"GET / HTTP/1.1\r\n"), "");
    assert!(start.elapsed() < Duration::from_secs(4));
    let stats = echo.stop();
    assert_eq!((stats.accepted, stats.refused, stats.handshake_timeouts), (0, 4, 1));
}

#[test]
fn a_thousand_clients_echo_at_once() {
    const CLIENTS: usize = 1000;
    const ROUNDS: usize = 20;
    let echo = Echo::start(WsConfig::default());
    let url = echo.url("/");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut clients: Vec<WsClient> = (0..CLIENTS / 4).map(|_| WsClient::connect(&url).unwrap()).collect();
                for c in &mut clients {
                    c.set_nonblocking(true).unwrap();
                }
                let mut got = vec![0usize; clients.len()];
                for round in 0..ROUNDS {
                    for (i, c) in clients.iter_mut().enumerate() {
                        c.send(format!("{t}:{i}:{round}").as_bytes()).unwrap();
                    }
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while got.iter().any(|&g| g <= round) {
                        assert!(Instant::now() < deadline, "echoes stopped in round {round}");
                        for (i, c) in clients.iter_mut().enumerate() {
                            let expect = |n: usize| format!("{t}:{i}:{n}");
                            c.receive(|m| {
                                assert_eq!(m, expect(got[i]).as_bytes(), "out of order");
                                got[i] += 1;
                            })
                            .unwrap();
                        }
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
                got.iter().sum::<usize>()
            })
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, CLIENTS * ROUNDS);
    let stats = echo.stop();
    assert_eq!(stats.accepted, CLIENTS as u64);
    assert_eq!(stats.messages_in, (CLIENTS * ROUNDS) as u64);
}

#[test]
fn a_slow_consumer_is_closed_with_1008_while_others_continue() {
    const CAP: usize = 256 * 1024;
    let cfg = WsConfig { max_outbound_bytes: CAP, close_timeout: Duration::from_secs(20), ..WsConfig::default() };
    let mut server = WsServer::bind("127.0.0.1:0".parse().unwrap(), cfg).unwrap();
    let addr = server.local_addr().unwrap();
    let url = format!("ws://{addr}/");
    let (fast_tx, fast_rx) = std::sync::mpsc::channel();
    let fast_thread = std::thread::spawn(move || {
        let (mut ws, _) = tungstenite::connect(&url).unwrap();
        let mut n = 0u32;
        loop {
            match ws.read() {
                Ok(Message::Binary(b)) => {
                    assert_eq!(b[..4], n.to_le_bytes(), "a message was lost or reordered");
                    n += 1;
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        fast_tx.send(n).unwrap();
    });
    let mut slow = while_polling(&mut server, || raw_client(addr));
    let mut conns = Vec::new();
    while conns.len() < 2 {
        server.poll(Some(Duration::from_millis(10))).unwrap();
        conns.extend(std::iter::from_fn(|| server.accept()));
    }
    let slow_id = *conns.iter().find(|c| server.peer_addr(**c) == Some(slow.local_addr().unwrap())).unwrap();
    let fast_id = *conns.iter().find(|c| **c != slow_id).unwrap();
    let mut msg = vec![0u8; 1024];
    let mut sent = 0u32;
    let mut refused = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while refused.is_none() {
        assert!(Instant::now() < deadline, "the slow consumer was never cut off");
        if server.queued_bytes(fast_id) > CAP / 2 {
            // The fast reader is a thread of its own: let it catch up.
            server.poll(Some(Duration::from_millis(1))).unwrap();
            continue;
        }
        for _ in 0..64 {
            msg[..4].copy_from_slice(&sent.to_le_bytes());
            server.send(fast_id, &msg).unwrap();
            match server.send(slow_id, &msg) {
                Ok(()) => {}
                Err(TransportError::Full) => {
                    refused = Some(sent);
                    sent += 1;
                    break;
                }
                Err(e) => panic!("{e}"),
            }
            sent += 1;
            assert!(server.queued_bytes(slow_id) <= CAP + 256, "the queue passed its cap");
        }
        server.poll(Some(Duration::ZERO)).unwrap();
    }
    assert!(!server.is_open(slow_id));
    assert!(matches!(server.send(slow_id, b"more"), Err(TransportError::Closed)));
    // The fast client keeps getting messages after the slow one was cut off.
    for _ in 0..100 {
        while server.queued_bytes(fast_id) > CAP / 2 {
            server.poll(Some(Duration::from_millis(1))).unwrap();
        }
        msg[..4].copy_from_slice(&sent.to_le_bytes());
        server.send(fast_id, &msg).unwrap();
        sent += 1;
        server.poll(Some(Duration::ZERO)).unwrap();
    }
    // The slow client reads at last: everything queued before the cut, then 1008.
    let reader = std::thread::spawn(move || {
        let mut count = 0u32;
        loop {
            let (op, payload) = read_frame(&mut slow).unwrap();
            match op {
                0x2 => {
                    assert_eq!(payload[..4], count.to_le_bytes());
                    count += 1;
                }
                0x8 => return (count, close_code(&payload)),
                other => panic!("opcode {other}"),
            }
        }
    });
    let mut closed = None;
    while closed.is_none() {
        server.poll(Some(Duration::from_millis(10))).unwrap();
        while let Some(kaos_ws::WsEvent::Closed { conn, reason }) = server.poll_event() {
            assert_eq!(conn, slow_id);
            closed = Some(reason);
        }
    }
    assert_eq!(closed, Some(CloseReason::SlowConsumer));
    assert_eq!(reader.join().unwrap(), (refused.unwrap(), 1008));
    server.close(fast_id, 1000, "done");
    while server.poll_event().is_none() {
        server.poll(Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(fast_rx.recv().unwrap(), sent);
    fast_thread.join().unwrap();
    assert_eq!(server.stats().slow_consumers, 1);
}

#[test]
fn silent_clients_are_pinged_then_dropped_while_live_ones_stay() {
    let cfg = WsConfig {
        ping_interval: Some(Duration::from_millis(100)),
        idle_timeout: Duration::from_millis(400),
        ..WsConfig::default()
    };
    let echo = Echo::start(cfg);
    let mut silent = raw_client(echo.addr);
    let (mut live, _) = tungstenite::connect(echo.url("/")).unwrap();
    plain(&mut live).set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let start = Instant::now();
    // tungstenite answers pings while reading; keep it reading for a second.
    while start.elapsed() < Duration::from_secs(1) {
        match live.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("the live client was dropped: {e}"),
        }
    }
    // The silent one saw a ping, never answered, and was cut off.
    let (op, _) = read_frame(&mut silent).unwrap();
    assert_eq!(op, 0x9);
    assert_eq!(echo.next_close(Duration::from_secs(2)), Some(CloseReason::Timeout));
    live.send(Message::text("ok")).unwrap();
    plain(&mut live).set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    loop {
        match live.read().unwrap() {
            Message::Text(t) => break assert_eq!(t.as_str(), "ok"),
            _ => continue,
        }
    }
}

#[test]
fn messages_sent_before_a_close_are_all_delivered_first() {
    let mut server = WsServer::bind("127.0.0.1:0".parse().unwrap(), WsConfig::default()).unwrap();
    let addr = server.local_addr().unwrap();
    let mut s = while_polling(&mut server, || raw_client(addr));
    for i in 0..50u8 {
        s.write_all(&frame(0x2, &[i; 10], true, true)).unwrap();
    }
    let mut close = vec![0x03, 0xe8];
    close.extend_from_slice(b"bye");
    s.write_all(&frame(0x8, &close, true, true)).unwrap();
    let mut got = Vec::new();
    let reason = loop {
        server.poll(Some(Duration::from_millis(10))).unwrap();
        // Messages are taken only now and then: the close must wait for them.
        if got.len() < 50 && server.poll_event().is_some() {
            panic!("closed with messages undelivered");
        }
        server.receive_all(|_, kind, m| {
            assert_eq!(kind, Kind::Binary);
            got.push(m[0]);
        });
        if let Some(kaos_ws::WsEvent::Closed { reason, .. }) = server.poll_event() {
            break reason;
        }
    };
    assert_eq!(got, (0..50).collect::<Vec<u8>>());
    assert_eq!(reason, CloseReason::Peer(1000));
    let (op, payload) = read_frame(&mut s).unwrap();
    assert_eq!((op, close_code(&payload)), (0x8, 1000));
}

#[test]
fn a_full_inbox_stops_reading_until_the_application_drains_it() {
    let cfg = WsConfig { max_inbox_bytes: 64 * 1024, ..WsConfig::default() };
    let mut server = WsServer::bind("127.0.0.1:0".parse().unwrap(), cfg).unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let mut client = while_polling(&mut server, || WsClient::connect(&url).unwrap());
    client.set_nonblocking(true).unwrap();
    let chunk = vec![7u8; 4096];
    let mut sent = 0;
    let conn = loop {
        server.poll(Some(Duration::from_millis(5))).unwrap();
        if let Some(c) = server.accept() {
            break c;
        }
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        if client.queued_bytes() < 512 * 1024 {
            client.send(&chunk).unwrap();
            sent += 1;
        } else {
            let _ = client.receive(|_| {});
        }
        server.poll(Some(Duration::ZERO)).unwrap();
    }
    // Unread, the server held at most its cap plus one message.
    let stats = server.stats();
    assert!(stats.messages_in as usize * chunk.len() <= 64 * 1024 + chunk.len(), "{stats:?}");
    assert!(sent as u64 > stats.messages_in, "the client never got ahead");
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while got < sent {
        assert!(Instant::now() < deadline, "got {got} of {sent}");
        let _ = client.receive(|_| {});
        server.poll(Some(Duration::from_millis(1))).unwrap();
        got += server.receive(conn, |m| assert_eq!(m, chunk));
    }
    assert_eq!(got, sent);
}

#[test]
fn oversized_and_non_utf8_sends_are_refused_locally() {
    let cfg = WsConfig { max_message_size: 1000, ..WsConfig::default() };
    let mut server = WsServer::bind("127.0.0.1:0".parse().unwrap(), cfg).unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let _client = while_polling(&mut server, || WsClient::connect(&url).unwrap());
    let conn = loop {
        server.poll(Some(Duration::from_millis(5))).unwrap();
        if let Some(c) = server.accept() {
            break c;
        }
    };
    assert!(matches!(server.send(conn, &[0; 1001]), Err(TransportError::TooLarge)));
    assert!(matches!(server.send_kind(conn, Kind::Text, &[0xff]), Err(TransportError::Protocol(_))));
    assert!(server.send(conn, &[0; 1000]).is_ok());
    assert!(server.is_open(conn));
}

fn plain(ws: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>) -> &mut TcpStream {
    match ws.get_mut() {
        tungstenite::stream::MaybeTlsStream::Plain(s) => s,
        _ => unreachable!("ws:// is plain TCP"),
    }
}

#[test]
fn a_client_closes_a_server_that_masks_its_frames() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).unwrap();
            request.push(byte[0]);
        }
        let text = String::from_utf8(request).unwrap();
        let key = text.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap().trim().to_string();
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        write!(s, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").unwrap();
        // Servers must not mask.
        s.write_all(&frame(0x2, b"masked", true, true)).unwrap();
        read_frame(&mut s).unwrap()
    });
    let mut client = WsClient::connect(&format!("ws://{addr}/")).unwrap();
    let got = client.receive(|_| panic!("a masked frame was delivered"));
    assert!(matches!(got, Err(TransportError::Protocol(_))), "{got:?}");
    assert_eq!(client.close_reason(), Some(CloseReason::Violation(1002)));
    let (op, payload) = fake.join().unwrap();
    assert_eq!((op & 0x0f, close_code(&payload)), (0x8, 1002));
}

#[test]
fn shutdown_says_going_away_to_every_client() {
    let mut server = WsServer::bind("127.0.0.1:0".parse().unwrap(), WsConfig::default()).unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let (mut ws, _) = tungstenite::connect(&url).unwrap();
                loop {
                    match ws.read() {
                        Ok(Message::Close(Some(f))) => return u16::from(f.code),
                        Ok(_) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    let mut open = 0;
    while open < 3 {
        server.poll(Some(Duration::from_millis(5))).unwrap();
        open += std::iter::from_fn(|| server.accept()).count();
    }
    server.shutdown(Duration::from_secs(5)).unwrap();
    let reasons: Vec<_> = std::iter::from_fn(|| server.poll_event()).collect();
    assert_eq!(reasons.len(), 3);
    assert!(reasons.iter().all(|e| matches!(e, kaos_ws::WsEvent::Closed { reason: CloseReason::Local(1001), .. })));
    for c in clients {
        assert_eq!(c.join().unwrap(), 1001);
    }
    assert_eq!(server.stats().connections, 0);
    // Shut down: nothing listens any more.
    assert!(server.local_addr().is_err());
}

/// A client that sends a burst far larger than the server's outbound cap (and than the
/// kernel's buffers) before reading any reply is slowed by TCP, the server no longer
/// reading it, instead of being cut off as a slow consumer.
#[test]
fn a_bursting_client_is_slowed_not_cut_off() {
    const N: u32 = 4000;
    let echo = Echo::start(WsConfig { max_outbound_bytes: 256 * 1024, ..WsConfig::default() });
    let client_cfg = WsConfig { max_outbound_bytes: 64 << 20, ..WsConfig::default() };
    let mut client = WsClient::connect_with(&echo.url("/"), client_cfg).unwrap();
    client.set_nonblocking(true).unwrap();
    // 40 MB queued client-side, read nothing meanwhile.
    for i in 0..N {
        let mut m = vec![(i % 251) as u8; 10_000];
        m[..4].copy_from_slice(&i.to_le_bytes());
        client.send(&m).unwrap();
    }
    assert!(client.queued_bytes() > 8 << 20, "the kernel took the whole burst: not a test");
    let mut got = 0u32;
    let deadline = Instant::now() + Duration::from_secs(60);
    while got < N {
        assert!(Instant::now() < deadline, "{got} of {N} echoes");
        client
            .receive(|m| {
                assert_eq!(m[..4], got.to_le_bytes());
                got += 1;
            })
            .unwrap();
    }
    assert_eq!(echo.next_close(Duration::from_millis(100)), None);
    let stats = echo.stop();
    assert_eq!((stats.slow_consumers, stats.messages_in), (0, u64::from(N)));
}

#[test]
fn with_a_flush_interval_messages_wait_to_go_out_together() {
    let cfg = WsConfig { flush_interval: Duration::from_secs(3600), ..WsConfig::default() };
    let mut server = WsServer::bind("127.0.0.1:0".parse().unwrap(), cfg).unwrap();
    let addr = server.local_addr().unwrap();
    let mut s = while_polling(&mut server, || raw_client(addr));
    let conn = loop {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        if let Some(c) = server.accept() {
            break c;
        }
    };
    for i in 0..3u8 {
        server.send(conn, &[i]).unwrap();
    }
    for _ in 0..5 {
        server.poll(Some(Duration::from_millis(1))).unwrap();
    }
    // Loopback delivers a written message before `send()` returns: nothing was written.
    s.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(s.read(&mut byte).map_err(|e| e.kind()), Err(std::io::ErrorKind::WouldBlock));
    s.set_nonblocking(false).unwrap();
    server.flush();
    for i in 0..3u8 {
        assert_eq!(read_frame(&mut s).unwrap(), (0x2, vec![i]));
    }
}

#[test]
fn a_deflate_bomb_is_closed_with_1009_and_others_continue() {
    let echo = Echo::start(WsConfig { max_message_size: 256 * 1024, ..WsConfig::default() });
    let mut bystander = WsClient::connect(&echo.url("/")).unwrap();
    let mut s = TcpStream::connect(echo.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(
        head.contains(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        ),
        "{head}"
    );
    // 16 MiB of zeros deflate to a few KiB: far past the 256 KiB limit once inflated.
    let bomb = miniz_oxide::deflate::compress_to_vec(&vec![0u8; 16 << 20], 9);
    assert!(bomb.len() < 256 * 1024, "{}", bomb.len());
    // A masked binary frame with RSV1: the first (and only) frame of a compressed message.
    let mut f = frame(0x2, &bomb, true, true);
    f[0] |= 0x40;
    let _ = s.write_all(&f);
    let (op, payload) = read_frame(&mut s).unwrap();
    assert_eq!((op, close_code(&payload)), (0x8, 1009));
    assert_eq!(echo.next_close(Duration::from_secs(5)), Some(CloseReason::Violation(1009)));
    bystander.send(b"still here").unwrap();
    let mut got = Vec::new();
    bystander.receive(|m| got.push(m.to_vec())).unwrap();
    assert_eq!(got, vec![b"still here".to_vec()]);
}
