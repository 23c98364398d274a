//! TLS over loopback, each server beside its peer in the same run:
//!
//! - https: small-JSON `GET /json` requests/s over TLS 1.3, kaos-http (mio, rustls)
//!   against hyper 1 with tokio-rustls (current-thread), 50 keep-alive connections, one
//!   request in flight each; server CPU per request. Handshakes happen before the
//!   measured window.
//! - h2: the same `GET /json` over HTTP/2 (ALPN `h2`), kaos-http against hyper 1's HTTP/2
//!   server (the `h2` crate) with tokio-rustls, 50 connections with 10 streams in flight
//!   each; server CPU per request.
//! - wss idle memory: 2,000 `wss://` connections held open (handshake done, one echo
//!   each), kaos-ws against tokio-tungstenite with tokio-rustls: server resident memory
//!   per connection.
//!
//! `cargo bench -p kaos-benches --bench tls`. Every server is a child process (this binary
//! again, `KAOS_TLS_SERVE` set) on one thread with the same certificate (made here with
//! rcgen, ECDSA P-256) and rustls with ring on both sides; the load generator is one
//! non-blocking thread here.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::pki_types::{CertificateDer, ServerName};

#[path = "common/child.rs"]
mod child;
#[path = "tls/h2load.rs"]
mod h2load;
#[path = "common/procfs.rs"]
mod procfs;
#[path = "tls/servers.rs"]
mod servers;
#[path = "web/servers.rs"]
mod web_servers;

const CONNECTIONS: usize = 50;
const WSS_CONNECTIONS: usize = 2_000;
const MEASURE: Duration = Duration::from_secs(4);
const ROUNDS: usize = 3;
/// Requests in flight on each HTTP/2 connection.
const H2_STREAMS: u32 = 10;

/// What the load generator speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Http1,
    Wss,
    H2,
}

fn start(kind: &str, cert: &str, key: &str) -> child::Child {
    child::Child::start(&[("KAOS_TLS_SERVE", kind), ("KAOS_TLS_CERT_PEM", cert), ("KAOS_TLS_KEY_PEM", key)])
}

/// One client connection of the load generator.
struct Conn {
    sock: TcpStream,
    tls: rustls::ClientConnection,
    buf: Vec<u8>,
    /// Upgraded to WebSocket (wss mode) and its echo seen.
    ready: bool,
    /// The next HTTP/2 stream to open.
    next_stream: u32,
}

/// A non-blocking TLS load generator: `connections` connections to `addr`, each sending
/// `request` and counting replies (an HTTP response, or in wss mode the 101 and one echo).
struct Load {
    poll: Poll,
    conns: HashMap<usize, Conn>,
    request: Vec<u8>,
    mode: Mode,
    replies: u64,
}

impl Load {
    fn new(addr: SocketAddr, connections: usize, client: &Arc<rustls::ClientConfig>, mode: Mode) -> Load {
        let poll = Poll::new().unwrap();
        let mut conns = HashMap::new();
        for i in 0..connections {
            let mut sock = TcpStream::connect(addr).unwrap();
            poll.registry().register(&mut sock, Token(i), Interest::READABLE | Interest::WRITABLE).unwrap();
            let name = ServerName::try_from("127.0.0.1").unwrap();
            let tls = rustls::ClientConnection::new(client.clone(), name).unwrap();
            conns.insert(i, Conn { sock, tls, buf: Vec::new(), ready: false, next_stream: 1 });
        }
        let request = if mode == Mode::Wss {
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".to_vec()
        } else {
            b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()
        };
        let mut load = Load { poll, conns, request, mode, replies: 0 };
        for i in 0..connections {
            load.send(i);
        }
        load
    }

    fn send(&mut self, i: usize) {
        let c = self.conns.get_mut(&i).unwrap();
        if self.mode == Mode::H2 {
            let mut out = h2load::preface();
            for _ in 0..H2_STREAMS {
                h2load::request(&mut out, c.next_stream);
                c.next_stream += 2;
            }
            c.tls.writer().write_all(&out).unwrap();
        } else {
            c.tls.writer().write_all(&self.request).unwrap();
        }
        flush(c);
    }

    /// Runs until `done` says so or `limit` passes.
    fn run(&mut self, limit: Duration, mut done: impl FnMut(&Load) -> bool) {
        let mut events = Events::with_capacity(1024);
        let end = Instant::now() + limit;
        while Instant::now() < end && !done(self) {
            self.poll.poll(&mut events, Some(Duration::from_millis(10))).unwrap();
            for e in events.iter() {
                let i = e.token().0;
                let c = self.conns.get_mut(&i).unwrap();
                flush(c);
                if !e.is_readable() {
                    continue;
                }
                let mut plain = [0u8; 16 * 1024];
                loop {
                    match c.tls.read_tls(&mut c.sock) {
                        Ok(0) => panic!("server closed connection {i}"),
                        Ok(_) => {
                            c.tls.process_new_packets().unwrap();
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("{e}"),
                    }
                    while let Ok(n) = c.tls.reader().read(&mut plain) {
                        if n == 0 {
                            break;
                        }
                        c.buf.extend_from_slice(&plain[..n]);
                    }
                }
                flush(c);
                if self.mode == Mode::Wss {
                    self.replies += wss_progress(c);
                    continue;
                }
                if self.mode == Mode::H2 {
                    // Each finished stream is followed by a new one.
                    let mut out = Vec::new();
                    let done = h2load::progress(&mut c.buf, &mut out);
                    for _ in 0..done {
                        h2load::request(&mut out, c.next_stream);
                        c.next_stream += 2;
                    }
                    self.replies += done;
                    c.tls.writer().write_all(&out).unwrap();
                    flush(c);
                    continue;
                }
                // Count complete responses; answer each with the next request.
                let mut next = 0;
                while let Some(len) = http_len(&c.buf) {
                    c.buf.drain(..len);
                    self.replies += 1;
                    next += 1;
                }
                for _ in 0..next {
                    c.tls.writer().write_all(&self.request).unwrap();
                }
                flush(c);
            }
        }
    }
}

/// wss mode: after the 101, sends one masked text frame; returns 1 once its echo came.
fn wss_progress(c: &mut Conn) -> u64 {
    if !c.ready {
        let Some(head) = c.buf.windows(4).position(|w| w == b"\r\n\r\n") else { return 0 };
        assert!(c.buf.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&c.buf));
        c.buf.drain(..head + 4);
        let frame = [0x81, 0x85, 1, 2, 3, 4, b'h' ^ 1, b'e' ^ 2, b'l' ^ 3, b'l' ^ 4, b'o' ^ 1];
        c.tls.writer().write_all(&frame).unwrap();
        flush(c);
        c.ready = true;
    }
    // The echo: an unmasked 5-byte text frame.
    if c.buf.len() >= 7 {
        c.buf.clear();
        return 1;
    }
    0
}

/// The length of the first whole HTTP response in `buf` (head and Content-Length body).
fn http_len(buf: &[u8]) -> Option<usize> {
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(&buf[..head]).ok()?;
    let body: usize = text
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0);
    (buf.len() >= head + 4 + body).then_some(head + 4 + body)
}

fn flush(c: &mut Conn) {
    while c.tls.wants_write() {
        match c.tls.write_tls(&mut c.sock) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotConnected => return,
            Err(e) => panic!("{e}"),
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Requests/s and server CPU per request of each server, in interleaved rounds.
fn requests_per_second(kinds: &[(&str, Mode)], client: &Arc<rustls::ClientConfig>, cert_pem: &str, key_pem: &str) {
    println!("{:<34}{:>14}{:>22}", "server (one thread)", "requests/s", "server CPU/request");
    let mut rates: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); kinds.len()];
    for _ in 0..ROUNDS {
        for (k, &(kind, mode)) in kinds.iter().enumerate() {
            let server = start(kind, cert_pem, key_pem);
            let mut load = Load::new(server.addr, CONNECTIONS, client, mode);
            load.run(Duration::from_secs(30), |l| l.replies >= CONNECTIONS as u64 * 10);
            assert!(load.replies >= CONNECTIONS as u64 * 10, "{kind}: the warm-up did not finish");
            let (replies, cpu, start) = (load.replies, server.cpu(), Instant::now());
            load.run(MEASURE, |_| false);
            let (n, elapsed) = ((load.replies - replies) as f64, start.elapsed().as_secs_f64());
            let cpu = (server.cpu() - cpu).as_secs_f64();
            rates[k].0.push(n / elapsed);
            rates[k].1.push(cpu * 1e6 / n);
        }
    }
    for (&(kind, _), (mut per_sec, mut cpu)) in kinds.iter().zip(rates) {
        println!("{kind:<34}{:>14.0}{:>20.2}µs", median(&mut per_sec), median(&mut cpu));
    }
}

fn main() {
    if let Ok(kind) = std::env::var("KAOS_TLS_SERVE") {
        return servers::serve(&kind);
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(cert.der().to_vec())).unwrap();
    #[allow(deprecated)] // ring's provider, as the servers use (see kaos-http's tls.rs)
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut h2_config = config.clone();
    h2_config.alpn_protocols = vec![b"h2".to_vec()];
    let (client, h2_client) = (Arc::new(config), Arc::new(h2_config));

    println!("HTTPS small-JSON: {CONNECTIONS} keep-alive TLS 1.3 connections, one request in flight each, {MEASURE:?}, median of {ROUNDS} rounds");
    requests_per_second(&[("kaos-http-tls", Mode::Http1), ("hyper-rustls", Mode::Http1)], &client, &cert_pem, &key_pem);
    println!("h2 small-JSON: {CONNECTIONS} TLS 1.3 connections (ALPN h2), {H2_STREAMS} streams in flight each, {MEASURE:?}, median of {ROUNDS} rounds");
    requests_per_second(&[("kaos-http-tls", Mode::H2), ("hyper-rustls-h2", Mode::H2)], &h2_client, &cert_pem, &key_pem);

    println!("wss:// idle: {WSS_CONNECTIONS} connections, one echo each, then idle");
    println!("{:<34}{:>14}", "server", "memory/conn");
    for kind in ["kaos-ws-tls", "tokio-tungstenite-rustls"] {
        let server = start(kind, &cert_pem, &key_pem);
        let before = server.resident();
        let mut load = Load::new(server.addr, WSS_CONNECTIONS, &client, Mode::Wss);
        load.run(Duration::from_secs(120), |l| l.replies >= WSS_CONNECTIONS as u64);
        assert_eq!(load.replies, WSS_CONNECTIONS as u64, "{kind}: not every connection echoed");
        std::thread::sleep(Duration::from_secs(2));
        let per_conn = (server.resident() - before) as f64 / WSS_CONNECTIONS as f64;
        println!("{kind:<34}{:>11.2}KiB", per_conn / 1024.0);
    }
}
