//! HTTP/2 on the same port as HTTP/1.1: curl (`--http2` over TLS, and
//! `--http2-prior-knowledge`), flow control, and abuse: rapid reset, too many streams,
//! oversized headers, slow readers and protocol violations end one stream or one
//! connection, never the server.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use kaos_http::{Cors, HttpConfig, HttpServer, Method, Response, Router, Run, TlsConfig};

#[path = "common/ca.rs"]
mod ca;
#[path = "common/h2client.rs"]
mod h2client;
use h2client::*;

#[path = "common/running.rs"]
mod running;
use running::Running;

/// Gates the tests open by name: `/gate/{name}` blocks its worker until then, so a test
/// decides when an answer may come rather than racing a sleep. Each gate also records
/// that a worker reached it ("entered:{name}").
static GATES: (Mutex<Option<HashSet<String>>>, Condvar) = (Mutex::new(None), Condvar::new());

fn mark(name: &str) {
    GATES.0.lock().unwrap().get_or_insert_with(HashSet::new).insert(name.to_string());
    GATES.1.notify_all();
}

fn open_gate(name: &str) {
    mark(name);
}

/// Waits until `name` is marked.
fn wait_for(name: &str) {
    let mut marks = GATES.0.lock().unwrap();
    while !marks.as_ref().is_some_and(|o| o.contains(name)) {
        marks = GATES.1.wait(marks).unwrap();
    }
}

fn wait_gate(name: &str) {
    mark(&format!("entered:{name}"));
    wait_for(name);
}

/// Opens its gate when dropped, so a failing test does not leave a worker blocked (the
/// server's shutdown would wait for it).
struct OpenOnDrop(&'static str);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        open_gate(self.0);
    }
}

fn routes() -> Router {
    let mut r = Router::new();
    r.get("/hello", |req| {
        Response::json(&serde_json::json!({"hello": "h2", "host": req.header("host"), "q": req.query("q")}))
    });
    r.post("/echo", |req| Response::with_body(200, "application/octet-stream", req.body.clone()));
    r.get("/big/{n}", |req| {
        let n: usize = req.param("n").and_then(|n| n.parse().ok()).unwrap_or(0);
        Response::with_body(200, "application/octet-stream", (0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
    });
    r.route(Method::Get, "/gate/{name}", Run::Blocking, |req| {
        wait_gate(req.param("name").unwrap_or(""));
        Response::text(200, "opened")
    });
    r.route(Method::Get, "/slow/{ms}", Run::Blocking, |req| {
        let ms: u64 = req.param("ms").and_then(|m| m.parse().ok()).unwrap_or(0);
        std::thread::sleep(Duration::from_millis(ms));
        Response::text(200, &format!("slept {ms}"))
    });
    r
}

fn start(cfg: HttpConfig) -> Running {
    Running::spawn(HttpServer::bind("127.0.0.1:0".parse().unwrap(), routes(), cfg).unwrap())
}

/// The server still answers a new HTTP/2 client.
fn still_serving(addr: SocketAddr) {
    let mut c = H2Client::connect(addr, &[]);
    c.request(1, "GET", "/hello", &[], None);
    assert_eq!(c.reply(1).status, 200);
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl").args(["-sS", "--max-time", "60"]).args(args).output().expect("curl runs");
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, version) = text.rsplit_once('\n').unwrap();
    (body.to_string(), version.to_string())
}

#[test]
fn curl_speaks_h2_with_prior_knowledge_and_http11_by_default() {
    let s = start(HttpConfig::default());
    let url = format!("http://{}/hello?q=7", s.addr);
    let (body, version) = curl(&["--http2-prior-knowledge", "-w", "\n%{http_version}", &url]);
    assert_eq!(version, "2");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["hello"], "h2");
    assert_eq!(v["q"], "7");
    assert_eq!(v["host"], s.addr.to_string(), ":authority reaches handlers as Host");
    // Several requests multiplexed on one connection, a body, a blocking handler.
    let echo = format!("http://{}/echo", s.addr);
    let slow = format!("http://{}/slow/50", s.addr);
    let (body, version) = curl(&[
        "--http2-prior-knowledge",
        "--parallel",
        "--data-binary",
        "payload-bytes",
        &echo,
        "-w",
        "\n%{http_version}",
    ]);
    assert_eq!((body.as_str(), version.as_str()), ("payload-bytes", "2"));
    let (body, _) = curl(&["--http2-prior-knowledge", &slow, "-w", "\n%{http_version}"]);
    assert_eq!(body, "slept 50");
    // Without asking, curl gets HTTP/1.1 on the same port.
    let (_, version) = curl(&["-w", "\n%{http_version}", &url]);
    assert_eq!(version, "1.1");
    let stats = s.stop().stats();
    assert!(stats.requests >= 4, "{stats:?}");
}

#[test]
fn curl_negotiates_h2_over_tls_and_http11_when_asked() {
    let ca = ca::Ca::new();
    let (cert, key) = ca.issue("h2");
    let tls = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let s = start(HttpConfig { tls: Some(tls), ..HttpConfig::default() });
    let dir = std::env::temp_dir().join(format!("kaos-h2-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let ca_arg = ca_file.to_str().unwrap();
    let url = format!("https://127.0.0.1:{}/big/100000", s.addr.port());
    let (size, version) =
        curl(&["--http2", "--cacert", ca_arg, "-o", "/dev/null", "-w", "%{size_download}\n%{http_version}", &url]);
    assert_eq!((size.as_str(), version.as_str()), ("100000", "2"));
    let (_, version) = curl(&["--http1.1", "--cacert", ca_arg, "-w", "\n%{http_version}", &url]);
    assert_eq!(version, "1.1");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn streams_multiplex_and_answers_keep_to_flow_control() {
    let _gate = OpenOnDrop("multiplex");
    let s = start(HttpConfig::default());
    // The client's window for each stream is 1,000 bytes.
    let mut c = H2Client::connect(s.addr, &[(4, 1000)]);
    c.request(1, "GET", "/gate/multiplex", &[], None);
    c.request(3, "GET", "/big/5000", &[], None);
    c.request(5, "POST", "/echo", &[("content-length", "5")], Some(b"hello"));
    // The later requests are answered while the first waits for its worker.
    let (mut body3, mut ended) = (Vec::new(), Vec::new());
    while ended.len() < 2 {
        let f = c.next_frame().expect("frames");
        assert_ne!(f.stream, 1, "the gated stream answered early");
        if f.kind == DATA && f.stream == 3 {
            body3.extend_from_slice(&f.payload);
            if body3.len() == 1000 {
                // The stream's window is spent: nothing more comes until it is granted.
                c.frame(WINDOW_UPDATE, 0, 3, &4000u32.to_be_bytes());
            }
            assert!(body3.len() <= 1000 || ended.is_empty() || body3.len() <= 5000);
        }
        if f.stream == 5 && f.kind == DATA {
            assert_eq!(f.payload, b"hello");
        }
        if f.flags & END_STREAM != 0 && (f.kind == DATA || f.kind == HEADERS) {
            ended.push(f.stream);
        }
    }
    assert_eq!(body3, (0..5000).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    open_gate("multiplex");
    assert_eq!(c.reply(1).body, b"opened");
}

#[test]
fn the_window_holds_data_back_until_granted() {
    let s = start(HttpConfig::default());
    let mut c = H2Client::connect(s.addr, &[(4, 1000)]);
    c.request(1, "GET", "/big/3000", &[], None);
    let mut got = 0;
    while got < 1000 {
        let f = c.next_frame().expect("frames");
        if f.kind == DATA {
            got += f.payload.len();
        }
    }
    assert_eq!(got, 1000);
    // A ping round trip: had more DATA been sent, it would arrive before the answer.
    c.frame(PING, 0, 0, b"12345678");
    loop {
        let f = c.next_frame().expect("frames");
        assert_ne!(f.kind, DATA, "DATA beyond the window");
        if f.kind == PING {
            break;
        }
    }
    c.frame(WINDOW_UPDATE, 0, 1, &2000u32.to_be_bytes());
    assert_eq!(c.reply(1).body.len(), 2000);
}

#[test]
fn head_requests_cors_and_errors_over_h2() {
    let cfg = HttpConfig { cors: Some(Cors::default()), ..HttpConfig::default() };
    let s = start(cfg);
    let mut c = H2Client::connect(s.addr, &[]);
    c.request(1, "HEAD", "/big/10", &[], None);
    let r = c.reply(1);
    assert_eq!((r.status, r.body.len(), r.header("content-length")), (200, 0, Some("10")));
    c.request(3, "GET", "/nope", &[("origin", "https://game.example")], None);
    let r = c.reply(3);
    assert_eq!(r.status, 404);
    assert_eq!(r.header("access-control-allow-origin").map(|v| v == "*" || v == "https://game.example"), Some(true));
    c.request(5, "PUT", "/hello", &[], None);
    let r = c.reply(5);
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
    c.request(7, "BREW", "/hello", &[], None);
    assert_eq!(c.reply(7).status, 501);
    // A malformed request resets its stream only.
    c.request(9, "GET", "/hello", &[("connection", "keep-alive")], None);
    assert!(matches!(c.outcome(9), Outcome::Reset(PROTOCOL_ERROR)));
    c.request(11, "GET", "/hello", &[], None);
    assert_eq!(c.reply(11).status, 200);
}

#[test]
fn bodies_over_the_limit_get_413_and_lying_lengths_a_reset() {
    let cfg = HttpConfig { max_body_bytes: 1000, ..HttpConfig::default() };
    let s = start(cfg);
    let mut c = H2Client::connect(s.addr, &[]);
    c.request(1, "POST", "/echo", &[("content-length", "5000")], Some(&[1u8; 10]));
    assert_eq!(c.reply(1).status, 413);
    c.request(3, "POST", "/echo", &[], Some(&[1u8; 1500]));
    assert_eq!(c.reply(3).status, 413);
    c.request(5, "POST", "/echo", &[("content-length", "3")], Some(b"four"));
    assert!(matches!(c.outcome(5), Outcome::Reset(PROTOCOL_ERROR)));
    c.request(7, "POST", "/echo", &[], Some(&[7u8; 900]));
    assert_eq!(c.reply(7).body, vec![7u8; 900]);
}

#[test]
fn rapid_reset_is_cut_off_and_runs_no_more_handlers_than_the_stream_limit() {
    let s = start(HttpConfig::default());
    let mut c = H2Client::connect(s.addr, &[]);
    for i in 0..1000u32 {
        let id = 1 + 2 * i;
        c.request(id, "GET", "/slow/20", &[], None);
        c.frame(RST_STREAM, 0, id, &8u32.to_be_bytes());
    }
    assert_eq!(c.goaway(), Some(ENHANCE_YOUR_CALM));
    assert!(c.closed());
    still_serving(s.addr);
    let stats = s.stop().stats();
    // Streams beyond those the limit allows at once were refused, not run.
    assert!(stats.requests <= 300, "{stats:?}");
}

#[test]
fn streams_beyond_the_limit_are_refused() {
    let _gate = OpenOnDrop("limit");
    let s = start(HttpConfig::default());
    let mut c = H2Client::connect(s.addr, &[]);
    for i in 0..110u32 {
        c.request(1 + 2 * i, "GET", "/gate/limit", &[], None);
    }
    // Every stream waits at the gate, so the last ten find the limit reached.
    let mut refused = Vec::new();
    while refused.len() < 10 {
        let f = c.next_frame().expect("frames");
        assert!(f.kind == RST_STREAM || f.kind == SETTINGS || f.kind == WINDOW_UPDATE, "{f:?}");
        if f.kind == RST_STREAM {
            assert_eq!(u32::from_be_bytes(f.payload[..4].try_into().unwrap()), REFUSED_STREAM);
            refused.push(f.stream);
        }
    }
    assert_eq!(refused, (100..110).map(|i| 1 + 2 * i).collect::<Vec<u32>>());
    open_gate("limit");
    for i in 0..100u32 {
        assert_eq!(c.reply(1 + 2 * i).status, 200);
    }
    // The connection goes on.
    c.request(221, "GET", "/hello", &[], None);
    assert_eq!(c.reply(221).status, 200);
}

#[test]
fn oversized_headers_get_431_or_end_the_connection() {
    let s = start(HttpConfig::default());
    let mut c = H2Client::connect(s.addr, &[]);
    // 4 KB in the dynamic table, then five references of one byte each: a small block
    // that decodes to more than the 16 KiB limit.
    let big = "v".repeat(4000);
    let first = c.block("GET", "/hello", &[("x-big", &big)]);
    c.frame(HEADERS, END_HEADERS | END_STREAM, 1, &first);
    assert_eq!(c.reply(1).status, 200);
    let refs = c.block(
        "GET",
        "/hello",
        &[("x-big", &big), ("x-big", &big), ("x-big", &big), ("x-big", &big), ("x-big", &big)],
    );
    assert!(refs.len() < 100, "{}", refs.len());
    c.frame(HEADERS, END_HEADERS | END_STREAM, 3, &refs);
    assert_eq!(c.reply(3).status, 431);
    c.request(5, "GET", "/hello", &[], None);
    assert_eq!(c.reply(5).status, 200, "the connection goes on");
    // A header block that grows past the limit in CONTINUATION frames ends the connection.
    c.frame(HEADERS, 0, 7, &[0u8; 0]);
    for _ in 0..20 {
        c.frame(CONTINUATION, 0, 7, &[0x40; 1000]);
    }
    assert_eq!(c.goaway(), Some(ENHANCE_YOUR_CALM));
    still_serving(s.addr);
}

#[test]
fn a_client_that_stops_reading_is_closed_by_the_write_timeout() {
    let cfg = HttpConfig { write_timeout: Duration::from_millis(500), ..HttpConfig::default() };
    let s = start(cfg);
    // A window of 0: no DATA may come until the client grants some, which it never does.
    let mut c = H2Client::connect(s.addr, &[(4, 0)]);
    c.request(1, "GET", "/big/1000", &[], None);
    // Until it is closed, pings are answered, then the connection ends.
    assert!(c.closed());
    still_serving(s.addr);
    // A client that floods PINGs and never reads: the server stops reading from it and
    // closes it on the write timeout.
    let mut c = H2Client::connect(s.addr, &[]);
    c.sock.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let ping = [0, 0, 8, PING, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    let flood: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 10_000).collect();
    let mut written = 0;
    for _ in 0..200 {
        if std::io::Write::write_all(&mut c.sock, &flood).is_err() {
            break;
        }
        written += flood.len();
    }
    assert!(written < 200 * flood.len(), "the server kept reading an unread flood");
    still_serving(s.addr);
}

#[test]
fn a_frame_left_incomplete_or_a_window_held_shut_ends_the_connection() {
    let cfg = HttpConfig {
        request_timeout: Duration::from_millis(300),
        write_timeout: Duration::from_millis(300),
        ..HttpConfig::default()
    };
    let s = start(cfg);
    // Three bytes of a frame header, then nothing: no stream exists to time out, the
    // connection must go anyway (else such clients would fill `max_connections`).
    let mut c = H2Client::connect(s.addr, &[]);
    c.raw(&[0, 0, 4]);
    assert!(c.closed());
    // Answers waiting on a window the client keeps shut while it sends PINGs, which the
    // server answers: the answers do not count as progress.
    let mut c = H2Client::connect(s.addr, &[(4, 0)]);
    c.request(1, "GET", "/big/1000", &[], None);
    let mut goaway = None;
    for _ in 0..2_000 {
        if goaway.is_some() {
            break;
        }
        c.frame(PING, 0, 0, b"keepbusy");
        std::thread::sleep(Duration::from_millis(50));
        c.sock.set_nonblocking(true).unwrap();
        while let Some(f) = c.next_frame() {
            if f.kind == GOAWAY {
                goaway = Some(u32::from_be_bytes(f.payload[4..8].try_into().unwrap()));
                break;
            }
        }
        c.sock.set_nonblocking(false).unwrap();
    }
    assert_eq!(goaway, Some(ENHANCE_YOUR_CALM));
    still_serving(s.addr);
}

#[test]
fn protocol_violations_end_their_connection_with_the_right_code() {
    let s = start(HttpConfig::default());
    type Send = Box<dyn Fn(&mut H2Client)>;
    let cases: Vec<(&str, Send, u32)> = vec![
        ("DATA on stream 0", Box::new(|c| c.frame(DATA, 0, 0, b"x")), PROTOCOL_ERROR),
        ("frame over 16 KiB", Box::new(|c| c.frame(DATA, 0, 1, &[0u8; 20_000])), FRAME_SIZE_ERROR),
        ("CONTINUATION alone", Box::new(|c| c.frame(CONTINUATION, END_HEADERS, 1, &[0x82])), PROTOCOL_ERROR),
        (
            "bad HPACK",
            Box::new(|c| c.frame(HEADERS, END_HEADERS, 1, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])),
            COMPRESSION_ERROR,
        ),
        ("PING of 7 bytes", Box::new(|c| c.frame(PING, 0, 0, &[0u8; 7])), FRAME_SIZE_ERROR),
        (
            "window overflow",
            Box::new(|c| c.frame(WINDOW_UPDATE, 0, 0, &0x7fff_ffffu32.to_be_bytes())),
            FLOW_CONTROL_ERROR,
        ),
        (
            "server-initiated id",
            Box::new(|c| {
                let b = c.block("GET", "/hello", &[]);
                c.frame(HEADERS, END_HEADERS | END_STREAM, 2, &b)
            }),
            PROTOCOL_ERROR,
        ),
    ];
    // Bodies arriving on several streams at once hold at most one largest body (4 MiB):
    // the stream whose DATA would pass that is answered 503, and the connection goes on.
    let mut c = H2Client::connect(s.addr, &[]);
    for id in [1, 3] {
        let block = c.block("POST", "/echo", &[]);
        c.frame(HEADERS, END_HEADERS, id, &block);
        for _ in 0..192 {
            c.frame(DATA, 0, id, &[0u8; 16_384]);
        }
    }
    let r = c.reply(3);
    assert_eq!(r.status, 503);
    c.request(5, "GET", "/hello", &[], None);
    assert_eq!(c.reply(5).status, 200, "the connection goes on");
    // Its upload on stream 1 would hold the server's shutdown until the drain timeout.
    drop(c);
    for (name, send, code) in cases {
        let mut c = H2Client::connect(s.addr, &[]);
        send(&mut c);
        assert_eq!(c.goaway(), Some(code), "{name}");
        assert!(c.closed(), "{name}");
    }
    // Garbage after the preface ends the connection; a preface that goes wrong is not
    // HTTP/2, and HTTP/1.1 answers it 400.
    let mut c = H2Client::connect(s.addr, &[]);
    c.raw(b"garbage garbage");
    assert_eq!(c.goaway(), Some(FRAME_SIZE_ERROR));
    let mut raw = std::net::TcpStream::connect(s.addr).unwrap();
    std::io::Write::write_all(&mut raw, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n").unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut raw, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    still_serving(s.addr);
}

#[test]
fn shutdown_sends_goaway_and_finishes_open_streams() {
    let _gate = OpenOnDrop("shutdown");
    let s = start(HttpConfig::default());
    let mut c = H2Client::connect(s.addr, &[]);
    c.request(1, "GET", "/gate/shutdown", &[], None);
    // The stream is in once a later one is answered.
    c.request(3, "GET", "/hello", &[], None);
    assert_eq!(c.reply(3).status, 200);
    s.stop.shutdown();
    assert_eq!(c.goaway(), Some(0));
    open_gate("shutdown");
    assert_eq!(c.reply(1).body, b"opened");
    assert!(c.closed());
}

#[test]
fn a_full_worker_pool_answers_503_and_a_half_closed_client_gets_its_answers() {
    let _gate = OpenOnDrop("busy");
    let cfg = HttpConfig { workers: 1, resting_workers: 1, worker_queue: 1, ..HttpConfig::default() };
    let s = start(cfg);
    let mut c = H2Client::connect(s.addr, &[]);
    // One request holds the worker, the next waits in the queue, the rest are refused.
    c.request(1, "GET", "/gate/busy", &[], None);
    wait_for("entered:busy");
    for i in 1..60u32 {
        c.request(1 + 2 * i, "GET", "/gate/busy", &[], None);
    }
    for i in 2..60u32 {
        assert_eq!(c.reply(1 + 2 * i).status, 503);
    }
    // The client closes its side; the two streams in the pool are still answered.
    c.sock.shutdown(std::net::Shutdown::Write).unwrap();
    open_gate("busy");
    assert_eq!(c.reply(1).body, b"opened");
    assert_eq!(c.reply(3).body, b"opened");
    assert!(c.closed());
}
