//! HTTPS on the mio loop: a rustls client trusting a test CA (made with rcgen) talks to
//! a server on a free loopback port; bad handshakes, slow handshakes and reloads.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use kaos_http::{HttpConfig, HttpServer, Response, Router, TlsConfig};

#[path = "common/ca.rs"]
mod ca;
use ca::{connect, Ca};

#[path = "common/running.rs"]
mod running;
use running::Running;

fn start(tls: TlsConfig, request_timeout: Duration) -> Running {
    let mut router = Router::new();
    router.get("/hello", |_| Response::json(&serde_json::json!({"hello": "tls"})));
    let cfg = HttpConfig { tls: Some(tls), request_timeout, ..HttpConfig::default() };
    Running::spawn(HttpServer::bind("127.0.0.1:0".parse().unwrap(), router, cfg).unwrap())
}

type Client = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// One GET on a kept-alive connection; returns the body.
fn get(c: &mut Client, path: &str) -> String {
    write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    c.flush().unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = c.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap();
            if body.len() >= len {
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                return body[..len].to_string();
            }
        }
    }
}

/// The common name of the certificate the server presented.
fn peer_name(c: &Client) -> String {
    let der = &c.conn.peer_certificates().unwrap()[0];
    // The name is stored in the certificate in clear: find the one we issued.
    for name in ["first", "second"] {
        if der.windows(name.len()).any(|w| w == name.as_bytes()) {
            return name.into();
        }
    }
    panic!("unknown certificate")
}

#[test]
fn https_requests_are_answered_and_a_reload_reaches_new_connections_only() {
    let ca = Ca::new();
    let dir = tempdir("reload");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let (c1, k1) = ca.issue("first");
    std::fs::write(&cert, c1).unwrap();
    std::fs::write(&key, k1).unwrap();
    let tls = TlsConfig::load(&cert, &key).unwrap();
    let server = start(tls.clone(), Duration::from_secs(10));
    let client = ca.client();

    let mut old = connect(server.addr, &client);
    assert_eq!(get(&mut old, "/hello"), r#"{"hello":"tls"}"#);
    assert_eq!(get(&mut old, "/hello"), r#"{"hello":"tls"}"#, "kept alive");
    assert_eq!(peer_name(&old), "first");
    assert_eq!(old.conn.alpn_protocol(), None, "the client offered no ALPN");

    // A new certificate on disk, then the reload: new connections get it, the open one
    // goes on with its session.
    let (c2, k2) = ca.issue("second");
    std::fs::write(&cert, c2).unwrap();
    std::fs::write(&key, k2).unwrap();
    tls.reload().unwrap();
    let mut new = connect(server.addr, &client);
    assert_eq!(get(&mut new, "/hello"), r#"{"hello":"tls"}"#);
    assert_eq!(peer_name(&new), "second");
    assert_eq!(get(&mut old, "/hello"), r#"{"hello":"tls"}"#, "the open connection survives the reload");

    // A broken file on reload keeps the running certificate.
    std::fs::write(&key, "not a key").unwrap();
    let err = tls.reload().unwrap_err();
    assert!(err.0.contains("key.pem"), "{err}");
    let mut after = connect(server.addr, &client);
    assert_eq!(get(&mut after, "/hello"), r#"{"hello":"tls"}"#);
    assert_eq!(peer_name(&after), "second");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn garbage_and_stalled_handshakes_end_their_connection_only() {
    let ca = Ca::new();
    let (c, k) = ca.issue("first");
    let tls = TlsConfig::from_pem(c.as_bytes(), k.as_bytes()).unwrap();
    let server = start(tls, Duration::from_millis(500));
    let client = ca.client();

    // Plain HTTP on the TLS port: an alert or a close, never an answer in clear.
    let mut plain = TcpStream::connect(server.addr).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    plain.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!String::from_utf8_lossy(&got).contains("hello"), "answered in clear: {got:?}");

    // A client that connects and never finishes its hello, and one that sends half of
    // one: both are closed once the handshake time is up.
    let mut silent = TcpStream::connect(server.addr).unwrap();
    let mut half = TcpStream::connect(server.addr).unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
    // Meanwhile others are served.
    let mut ok = connect(server.addr, &client);
    assert_eq!(get(&mut ok, "/hello"), r#"{"hello":"tls"}"#);
    for s in [&mut silent, &mut half] {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut rest = Vec::new();
        let n = s.read_to_end(&mut rest).unwrap_or(0);
        assert!(n < 16, "the server closed without serving: {rest:?}");
    }
    let mut again = connect(server.addr, &client);
    assert_eq!(get(&mut again, "/hello"), r#"{"hello":"tls"}"#);
}

#[test]
fn certificate_problems_are_named_at_load() {
    let ca = Ca::new();
    let dir = tempdir("errors");
    let (c1, k1) = ca.issue("first");
    let (_, k2) = ca.issue("second");
    let path = |n: &str| dir.join(n);
    std::fs::write(path("cert.pem"), &c1).unwrap();
    std::fs::write(path("key.pem"), &k1).unwrap();
    std::fs::write(path("other-key.pem"), &k2).unwrap();
    std::fs::write(path("garbage.pem"), "hello").unwrap();
    let err = |c: &str, k: &str| TlsConfig::load(path(c), path(k)).unwrap_err().0;
    assert!(err("missing.pem", "key.pem").contains("missing.pem"));
    assert!(err("garbage.pem", "key.pem").contains("garbage.pem: no certificate"));
    assert!(err("cert.pem", "garbage.pem").contains("garbage.pem"));
    let mismatch = err("cert.pem", "other-key.pem");
    assert!(mismatch.contains("other-key.pem") && mismatch.contains("does not fit"), "{mismatch}");
    assert!(TlsConfig::load(path("cert.pem"), path("key.pem")).is_ok());
    // Out of its validity period: refused with the date.
    let (old, old_key) = ca.issue_valid("old", (2020, 1, 1), (2021, 1, 1));
    std::fs::write(path("expired.pem"), old).unwrap();
    std::fs::write(path("expired-key.pem"), old_key).unwrap();
    let expired = err("expired.pem", "expired-key.pem");
    assert!(expired.contains("expired.pem: the certificate expired on") && expired.contains("2021"), "{expired}");
    let (future, future_key) = ca.issue_valid("future", (2090, 1, 1), (2091, 1, 1));
    std::fs::write(path("future.pem"), future).unwrap();
    std::fs::write(path("future-key.pem"), future_key).unwrap();
    assert!(err("future.pem", "future-key.pem").contains("not valid before"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kaos-http-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
