//! The unified transport traits over WebSocket and reliable UDP, and WebSocket on the
//! HTTP port through kaos-http's upgrade hand-off.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaos_http::{HttpConfig, HttpServer, Response, Router};
use kaos_rudp::{RudpServerTransport, RudpTransport};
use kaos_ws::{ClientTransport, TransportServer, WsClient, WsConfig, WsServer, WsServerTransport};

/// The seed README's example, as written: bind, go non-blocking, accept, then each
/// client's `send` and `receive`.
#[test]
fn the_seed_example_works_as_written() {
    let mut server = WsServerTransport::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let client_thread = std::thread::spawn(move || {
        let mut client = WsClient::connect(&url).unwrap();
        client.send(b"hello").unwrap();
        let mut replies = Vec::new();
        while replies.is_empty() {
            client.receive(|data| replies.push(data.to_vec())).unwrap();
        }
        replies
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut clients = Vec::new();
    while !client_thread.is_finished() {
        assert!(Instant::now() < deadline);
        if let Some(client) = server.accept().unwrap() {
            clients.push(client);
        }
        for client in &mut clients {
            let mut got = Vec::new();
            client.receive(|data| got.push(data.to_vec())).unwrap();
            for data in got {
                client.send(&[b"echo: ".as_slice(), &data].concat()).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(client_thread.join().unwrap(), vec![b"echo: hello".to_vec()]);
}

/// Serves `rounds` echoes to each of `clients` clients, written once for any transport.
fn serve_echo<S: TransportServer>(server: &mut S, clients: usize, rounds: usize, stop: &AtomicBool) {
    server.set_nonblocking(true).unwrap();
    let mut accepted: Vec<S::Client> = Vec::new();
    let mut echoed = 0;
    while echoed < clients * rounds && !stop.load(Ordering::Relaxed) {
        if let Some(c) = server.accept().unwrap() {
            accepted.push(c);
        }
        for c in &mut accepted {
            let mut got = Vec::new();
            // A closed client is simply done.
            let _ = c.receive(&mut |data| got.push(data.to_vec()));
            for data in got {
                c.send(&data).unwrap();
                echoed += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn drive_clients(mut clients: Vec<Box<dyn ClientTransport>>, rounds: usize) {
    for round in 0..rounds {
        for (i, c) in clients.iter_mut().enumerate() {
            c.send(format!("{i}/{round}").as_bytes()).unwrap();
        }
        for (i, c) in clients.iter_mut().enumerate() {
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(10);
            while got.is_empty() {
                assert!(Instant::now() < deadline, "no echo for client {i} round {round}");
                c.receive(&mut |data| got.push(data.to_vec())).unwrap();
            }
            assert_eq!(got, vec![format!("{i}/{round}").into_bytes()]);
        }
    }
    for mut c in clients {
        assert!(c.is_connected());
        c.close().unwrap();
    }
}

#[test]
fn one_echo_service_serves_websocket_and_reliable_udp_through_the_traits() {
    const CLIENTS: usize = 8;
    const ROUNDS: usize = 20;
    let stop = Arc::new(AtomicBool::new(false));

    let mut ws = WsServerTransport::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", ws.local_addr().unwrap());
    let flag = stop.clone();
    let ws_thread = std::thread::spawn(move || serve_echo(&mut ws, CLIENTS, ROUNDS, &flag));
    let clients: Vec<Box<dyn ClientTransport>> =
        (0..CLIENTS).map(|_| Box::new(WsClient::connect(&url).unwrap()) as Box<dyn ClientTransport>).collect();
    drive_clients(clients, ROUNDS);
    ws_thread.join().unwrap();

    let mut rudp = RudpServerTransport::bind("127.0.0.1:0".parse().unwrap(), 64).unwrap();
    let server_addr = rudp.local_addr().unwrap();
    let flag = stop.clone();
    let rudp_thread = std::thread::spawn(move || serve_echo(&mut rudp, CLIENTS, ROUNDS, &flag));
    let clients: Vec<Box<dyn ClientTransport>> = (0..CLIENTS)
        .map(|_| {
            let mut c = RudpTransport::new("127.0.0.1:0".parse().unwrap(), server_addr, 64).unwrap();
            assert!(c.wait_connected(Duration::from_secs(5)).unwrap());
            assert_eq!(ClientTransport::peer_addr(&c), server_addr);
            Box::new(c) as Box<dyn ClientTransport>
        })
        .collect();
    drive_clients(clients, ROUNDS);
    stop.store(true, Ordering::Relaxed);
    rudp_thread.join().unwrap();
}

struct HttpAndWs {
    addr: SocketAddr,
    targets: std::sync::mpsc::Receiver<String>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for HttpAndWs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// kaos-http on one thread, a WsServer fed by its upgrades on another: one port.
fn http_and_ws() -> HttpAndWs {
    let mut ws = WsServer::new(WsConfig::default()).unwrap();
    let mut router = Router::new();
    router.get("/healthcheck", |_| Response::json(&serde_json::json!({"ok": true})));
    router.websocket("/ws");
    let mut http = HttpServer::bind("127.0.0.1:0".parse().unwrap(), router, HttpConfig::default()).unwrap();
    let adopter = ws.adopter();
    http.on_upgrade(move |upgrade| adopter.adopt(upgrade));
    let addr = http.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, targets) = std::sync::mpsc::channel();
    let flag = stop.clone();
    let ws_thread = std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            ws.poll(Some(Duration::from_millis(5))).unwrap();
            while let Some(conn) = ws.accept() {
                let _ = tx.send(ws.target(conn).unwrap().to_string());
            }
            let mut replies = Vec::new();
            ws.receive_all(|conn, kind, data| replies.push((conn, kind, data.to_vec())));
            for (conn, kind, data) in replies {
                let _ = ws.send_kind(conn, kind, &data);
            }
        }
    });
    let shutdown = http.shutdown_handle();
    let flag = stop.clone();
    let http_thread = std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            http.poll(Some(Duration::from_millis(5))).unwrap();
        }
        shutdown.shutdown();
    });
    HttpAndWs { addr, targets, stop, threads: vec![ws_thread, http_thread] }
}

#[test]
fn websocket_and_rest_share_the_http_port() {
    let server = http_and_ws();
    let (mut ws, _) = tungstenite::connect(format!("ws://{}/ws?token=abc&format=json", server.addr)).unwrap();
    assert_eq!(server.targets.recv_timeout(Duration::from_secs(5)).unwrap(), "/ws?token=abc&format=json");
    ws.send(tungstenite::Message::text("{\"cid\":\"1\"}")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("{\"cid\":\"1\"}"));

    // Plain HTTP on the same port, while the socket stays open.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 ") && answer.ends_with("{\"ok\":true}"), "{answer}");

    // An upgrade the WebSocket server refuses gets its HTTP error on this port too.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 7\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(answer.starts_with(b"HTTP/1.1 426 "), "{}", String::from_utf8_lossy(&answer));

    ws.send(tungstenite::Message::binary(vec![1, 2, 3])).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::binary(vec![1, 2, 3]));
}
