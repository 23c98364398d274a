//! HTTP behaviour over real loopback connections: each test starts its own server on a
//! free port and stops it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kaos_http::{Cors, HttpConfig, HttpServer, Method, Response, Router, Run, Upgrade};

#[path = "common/running.rs"]
mod running;
use running::Running;

fn routes() -> Router {
    let mut r = Router::new();
    r.get("/hello", |_| Response::json(&serde_json::json!({"hello": "world"})));
    r.get("/v2/rpc/{id}", |req| {
        Response::json(&serde_json::json!({"id": req.param("id"), "q": req.query("q"), "path": req.path}))
    });
    r.post("/echo", |req| Response::with_body(200, "application/octet-stream", req.body.clone()));
    r.route(Method::Get, "/slow/{ms}", Run::Blocking, |req| {
        let ms: u64 = req.param("ms").and_then(|m| m.parse().ok()).unwrap_or(0);
        std::thread::sleep(Duration::from_millis(ms));
        Response::text(200, &format!("slept {ms}"))
    });
    r.get("/panic", |_| panic!("handler bug"));
    r.websocket("/ws");
    r
}

fn start(cfg: HttpConfig) -> Running {
    start_with(cfg, None)
}

fn start_with(cfg: HttpConfig, upgrades: Option<mpsc::Sender<Upgrade>>) -> Running {
    let mut server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), routes(), cfg).unwrap();
    if let Some(tx) = upgrades {
        server.on_upgrade(move |u| {
            let _ = tx.send(u);
        });
    }
    Running::spawn(server)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// One parsed response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    /// The one value of header `name`; a header sent twice fails the test (browsers
    /// refuse a CORS answer with two `Access-Control-Allow-Origin` values).
    #[track_caller]
    fn header(&self, name: &str) -> Option<&str> {
        let mut values = self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let first = values.next();
        assert_eq!(values.next(), None, "{name} sent twice: {:?}", self.headers);
        first
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Reads `n` responses from `s` (`head`: the first is to a HEAD request, no body).
fn read_replies(s: &mut TcpStream, n: usize, head: bool) -> Vec<Reply> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < n {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(len)) = r.parse(&buf) {
            let headers: Vec<(String, String)> =
                r.headers.iter().map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned())).collect();
            let status = r.code.unwrap();
            let cl: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().unwrap());
            let body_len = if head && out.is_empty() { 0 } else { cl };
            if buf.len() >= len + body_len {
                let body = buf[len..len + body_len].to_vec();
                buf.drain(..len + body_len);
                if status != 100 {
                    out.push(Reply { status, headers, body });
                }
                continue;
            }
        }
        let got = s.read(&mut chunk).expect("read a response");
        assert!(got > 0, "connection closed after {} of {n} responses", out.len());
        buf.extend_from_slice(&chunk[..got]);
    }
    out
}

/// Whether the server closed `s` (EOF within the read timeout).
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    matches!(s.read(&mut b), Ok(0))
        || matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

#[test]
fn keep_alive_serves_several_requests_with_params_and_query() {
    let srv = start(HttpConfig::default());
    let mut s = connect(srv.addr);
    s.write_all(get("/hello").as_bytes()).unwrap();
    let r = &read_replies(&mut s, 1, false)[0];
    assert_eq!((r.status, r.json()), (200, serde_json::json!({"hello": "world"})));
    assert_eq!(r.header("content-type"), Some("application/json"));
    s.write_all(get("/v2/rpc/my%20rpc?q=a%2Bb+c&x=1").as_bytes()).unwrap();
    let r = &read_replies(&mut s, 1, false)[0];
    assert_eq!(r.json(), serde_json::json!({"id": "my rpc", "q": "a+b c", "path": "/v2/rpc/my rpc"}));
    // HTTP/1.0 closes unless asked to keep alive.
    let mut s = connect(srv.addr);
    s.write_all(b"GET /hello HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].status, 200);
    assert!(closed(&mut s));
}

#[test]
fn pipelined_requests_are_answered_in_order_even_when_the_first_blocks() {
    let srv = start(HttpConfig::default());
    let mut s = connect(srv.addr);
    let batch = format!("{}{}{}", get("/slow/150"), get("/hello"), get("/v2/rpc/three"));
    s.write_all(batch.as_bytes()).unwrap();
    let r = read_replies(&mut s, 3, false);
    assert_eq!(r[0].body, b"slept 150");
    assert_eq!(r[1].json()["hello"], "world");
    assert_eq!(r[2].json()["id"], "three");
}

/// A deep pipeline on a route that blocks: the answers come out of the workers in any
/// order, and the connection keeps reading its buffered requests as room frees up.
#[test]
fn a_deep_pipeline_of_blocking_requests_is_answered_whole_and_in_order() {
    let srv = start(HttpConfig::default());
    let mut s = connect(srv.addr);
    // A stall is the failure; the timeout only turns a hang into a failed read.
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let n = 2_000;
    // The first of every few requests sleeps, so the ones after it finish first and wait.
    let ms = |i: usize| u64::from(i % 40 == 0) * 5;
    let batch: String = (0..n).map(|i| get(&format!("/slow/{}", ms(i)))).collect();
    s.write_all(batch.as_bytes()).unwrap();
    let replies = read_replies(&mut s, n, false);
    for (i, r) in replies.iter().enumerate() {
        assert_eq!((r.status, r.body.as_slice()), (200, format!("slept {}", ms(i)).as_bytes()), "reply {i}");
    }
}

#[test]
fn malformed_requests_get_400_and_a_closed_connection() {
    let srv = start(HttpConfig::default());
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /x HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET http://elsewhere/ HTTP/1.1\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let mut s = connect(srv.addr);
        s.write_all(bad).unwrap();
        let r = read_replies(&mut s, 1, false);
        assert_eq!(r[0].status, 400, "{}", String::from_utf8_lossy(bad));
        assert_eq!(r[0].header("connection"), Some("close"));
        assert!(closed(&mut s));
    }
    // An unknown method is not implemented.
    let mut s = connect(srv.addr);
    s.write_all(b"BREW /pot HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].status, 501);
    let server = srv.stop();
    assert!(server.stats().bad_requests >= 7);
}

#[test]
fn oversize_bodies_get_413_and_oversize_heads_431() {
    let cfg = HttpConfig { max_body_bytes: 1000, max_header_bytes: 2048, max_headers: 16, ..HttpConfig::default() };
    let srv = start(cfg);
    let mut s = connect(srv.addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nContent-Length: 1001\r\n\r\n").unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].status, 413);
    let mut s = connect(srv.addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n").unwrap();
    s.write_all(&[b'a'; 1001]).unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].status, 413);
    let mut s = connect(srv.addr);
    let big = format!("GET /hello HTTP/1.1\r\nX-Big: {}\r\n\r\n", "b".repeat(3000));
    s.write_all(big.as_bytes()).unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].status, 431);
    let mut s = connect(srv.addr);
    let many: String = (0..20).map(|i| format!("X-{i}: v\r\n")).collect();
    s.write_all(format!("GET /hello HTTP/1.1\r\n{many}\r\n").as_bytes()).unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].status, 431);
    // A chunk's size line and the trailers are capped by size, not only by the timeout:
    // an endless extension or trailer is refused as soon as it outgrows its cap.
    let mut s = connect(srv.addr);
    let ext = format!("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x={}", "e".repeat(2000));
    s.write_all(ext.as_bytes()).unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].status, 400);
    assert!(closed(&mut s));
    let mut s = connect(srv.addr);
    let trailer = format!("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: {}", "t".repeat(3000));
    s.write_all(trailer.as_bytes()).unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].status, 431);
    assert!(closed(&mut s));
    // Within the limits, a body comes back whole, by length or chunked.
    let mut s = connect(srv.addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].body, b"hello");
    s.write_all(
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].body, b"abcde");
}

#[test]
fn slow_requests_get_408_and_idle_connections_close() {
    let cfg = HttpConfig {
        request_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(500),
        ..HttpConfig::default()
    };
    let srv = start(cfg);
    let mut slow = connect(srv.addr);
    let t = Instant::now();
    slow.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n").unwrap(); // never finished
    let r = read_replies(&mut slow, 1, false);
    assert_eq!(r[0].status, 408);
    assert!(t.elapsed() >= Duration::from_millis(250), "408 too early");
    assert!(closed(&mut slow));
    let mut idle = connect(srv.addr);
    idle.write_all(get("/hello").as_bytes()).unwrap();
    assert_eq!(read_replies(&mut idle, 1, false)[0].status, 200);
    let t = Instant::now();
    assert!(closed(&mut idle));
    assert!(t.elapsed() >= Duration::from_millis(350), "idle connection closed too early");
}

#[test]
fn cors_preflight_and_marked_responses() {
    let cfg = HttpConfig {
        cors: Some(Cors { allowed_origins: vec!["https://game.example".into()], ..Cors::default() }),
        ..HttpConfig::default()
    };
    let srv = start(cfg);
    let mut s = connect(srv.addr);
    s.write_all(
        b"OPTIONS /v2/rpc/x HTTP/1.1\r\nOrigin: https://game.example\r\nAccess-Control-Request-Method: POST\r\n\
          Access-Control-Request-Headers: authorization, content-type\r\n\r\n",
    )
    .unwrap();
    let r = &read_replies(&mut s, 1, false)[0];
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://game.example"));
    assert!(r.header("access-control-allow-methods").unwrap().contains("POST"));
    assert_eq!(r.header("access-control-allow-headers"), Some("authorization, content-type"));
    s.write_all(b"GET /hello HTTP/1.1\r\nOrigin: https://game.example\r\n\r\n").unwrap();
    let r = &read_replies(&mut s, 1, false)[0];
    assert_eq!(r.header("access-control-allow-origin"), Some("https://game.example"));
    // Another origin gets no permission.
    s.write_all(
        b"OPTIONS /hello HTTP/1.1\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n\r\n",
    )
    .unwrap();
    let r = &read_replies(&mut s, 1, false)[0];
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn cors_headers_appear_once_for_every_origin_including_null() {
    // The server's default: any origin, as kaos-server runs it. A page at about:blank
    // or file:// sends `Origin: null`.
    let srv = start(HttpConfig { cors: Some(Cors::default()), ..HttpConfig::default() });
    let mut s = connect(srv.addr);
    for origin in ["null", "http://localhost:8080"] {
        let preflight = format!(
            "OPTIONS /v2/rpc/x HTTP/1.1\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: authorization\r\n\r\n"
        );
        s.write_all(preflight.as_bytes()).unwrap();
        let r = &read_replies(&mut s, 1, false)[0];
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-origin"), Some(origin));
        assert_eq!(r.header("vary"), Some("Origin"));
        assert_eq!(r.header("access-control-allow-headers"), Some("authorization"));
        // Inline and worker-pool handlers alike.
        for path in ["/hello", "/slow/0"] {
            s.write_all(format!("GET {path} HTTP/1.1\r\nOrigin: {origin}\r\n\r\n").as_bytes()).unwrap();
            let r = &read_replies(&mut s, 1, false)[0];
            assert_eq!(r.status, 200);
            assert_eq!(r.header("access-control-allow-origin"), Some(origin));
            assert_eq!(r.header("vary"), Some("Origin"));
        }
    }
}

#[test]
fn wrong_method_missing_path_head_panic_and_continue() {
    let srv = start(HttpConfig::default());
    let mut s = connect(srv.addr);
    s.write_all(b"DELETE /hello HTTP/1.1\r\n\r\n").unwrap();
    let r = &read_replies(&mut s, 1, false)[0];
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
    s.write_all(get("/nothing/here").as_bytes()).unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].status, 404);
    s.write_all(b"HEAD /hello HTTP/1.1\r\n\r\n").unwrap();
    let r = &read_replies(&mut s, 1, true)[0];
    assert_eq!((r.status, r.header("content-length"), r.body.len()), (200, Some("17"), 0));
    s.write_all(get("/panic").as_bytes()).unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].status, 500);
    // The loop survived the panic; Expect: 100-continue gets its interim answer first.
    s.write_all(b"POST /echo HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n").unwrap();
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"body").unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].body, b"body");
}

#[test]
fn a_full_worker_queue_answers_503() {
    let cfg = HttpConfig { workers: 1, worker_queue: 1, ..HttpConfig::default() };
    let srv = start(cfg);
    let mut conns: Vec<TcpStream> = (0..4).map(|_| connect(srv.addr)).collect();
    for s in &mut conns {
        s.write_all(get("/slow/300").as_bytes()).unwrap();
    }
    let statuses: Vec<u16> = conns.iter_mut().map(|s| read_replies(s, 1, false)[0].status).collect();
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
}

#[test]
fn shutdown_finishes_requests_in_flight_then_stops() {
    let srv = start(HttpConfig::default());
    let addr = srv.addr;
    let mut busy = connect(addr);
    busy.write_all(get("/slow/300").as_bytes()).unwrap();
    let mut idle = connect(addr);
    idle.write_all(get("/hello").as_bytes()).unwrap();
    assert_eq!(read_replies(&mut idle, 1, false)[0].status, 200);
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    let server = srv.stop();
    assert!(t.elapsed() >= Duration::from_millis(200), "did not wait for the request in flight");
    let r = &read_replies(&mut busy, 1, false)[0];
    assert_eq!((r.status, &r.body[..]), (200, &b"slept 300"[..]));
    assert!(closed(&mut busy) && closed(&mut idle));
    assert_eq!(server.stats().connections, 0);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(), "still accepting");
}

#[test]
fn websocket_upgrades_are_handed_off_with_early_bytes() {
    let (tx, rx) = mpsc::channel();
    let srv = start_with(HttpConfig::default(), Some(tx));
    let mut s = connect(srv.addr);
    s.write_all(
        b"GET /ws?token=t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nEARLY",
    )
    .unwrap();
    let up = rx.recv_timeout(Duration::from_secs(5)).expect("upgrade handed off");
    assert_eq!(up.request.query("token").as_deref(), Some("t"));
    assert_eq!(up.request.header("sec-websocket-key"), Some("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_eq!(up.buffered, b"EARLY");
    // The stream is the client's: what it sends arrives there, not at the HTTP loop.
    let mut stream = up.stream;
    s.write_all(b"more").unwrap();
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(5);
    while got.len() < 4 && Instant::now() < end {
        let mut b = [0u8; 16];
        match stream.read(&mut b) {
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    assert_eq!(got, b"more");
    // Plain GET on the same path (no upgrade) is not a route.
    let mut s = connect(srv.addr);
    s.write_all(get("/ws").as_bytes()).unwrap();
    assert_eq!(read_replies(&mut s, 1, false)[0].status, 404);
}

/// A client that sends its requests and then its end of stream (together or apart)
/// gets every answer, then the server closes: the end is found even when it arrived
/// with the data and no later readiness event announces it.
#[test]
fn a_half_closed_client_gets_its_answers_then_the_close() {
    let server = start(HttpConfig::default());
    for apart in [false, true] {
        let mut s = connect(server.addr);
        s.write_all(format!("{}{}", get("/hello"), get("/v2/rpc/b")).as_bytes()).unwrap();
        if apart {
            std::thread::sleep(Duration::from_millis(50));
        }
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let replies = read_replies(&mut s, 2, false);
        assert_eq!(replies.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 200]);
        assert!(closed(&mut s), "the server kept a half-closed connection open");
    }
}
