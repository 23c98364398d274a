//! kaos-server with `--tls-cert` and `--tls-key`: the client API over HTTPS and `wss://`,
//! the console over HTTPS, a SIGHUP that swaps the certificate for new connections only,
//! and certificates that cannot be used refused at start with the file named.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

#[path = "../../../io/http/tests/common/ca.rs"]
mod ca;
use ca::{connect, Ca};

struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    api: SocketAddr,
    console: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(cert: &Path, key: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kaos-server"))
        .args(["--address", "127.0.0.1", "--port", "0", "--rudp-port", "off", "--console-port", "0"])
        .args(["--database", "memory", "--tls-cert"])
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .env("KAOS_ADMIN_PASSWORD", "admin-password-for-tests")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = |n: usize| -> SocketAddr {
        let rest = line.split("https://").nth(n).unwrap_or_else(|| panic!("no https address in {line:?}"));
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    let (api, console) = (addr(1), addr(2));
    Server { child, stdout, api, console }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// One request on a kept-alive connection: (status, body).
fn call(c: &mut Tls, method: &str, path: &str, auth: &str, body: &str) -> (u16, String) {
    let auth = if auth.is_empty() { String::new() } else { format!("Authorization: {auth}\r\n") };
    write!(c, "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    c.flush().unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = c.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0);
            if rest.len() >= len {
                return (head[9..12].parse().unwrap(), rest[..len].to_string());
            }
        }
    }
}

fn issued_to(c: &Tls) -> &'static str {
    let der = &c.conn.peer_certificates().unwrap()[0];
    ["first", "second"].into_iter().find(|n| der.windows(n.len()).any(|w| w == n.as_bytes())).unwrap()
}

fn files(dir: &Path, ca: &Ca, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = ca.issue(name);
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (c, k)
}

#[test]
fn the_client_api_and_console_speak_https_and_wss_and_sighup_swaps_the_certificate() {
    let ca = Ca::new();
    let dir = tempdir("serve");
    let (cert, key) = files(&dir, &ca, "first");
    let mut server = start(&cert, &key);
    let client = ca.client();

    let mut api = connect(server.api, &client);
    assert_eq!(call(&mut api, "GET", "/healthcheck", "", "").0, 200);
    let basic = "Basic ZGVmYXVsdGtleTo="; // defaultkey:
    let (status, body) =
        call(&mut api, "POST", "/v2/account/authenticate/device?create=true", basic, r#"{"id":"tls-device-0001"}"#);
    assert_eq!(status, 200, "{body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"].as_str().unwrap().to_string();
    let mut console = connect(server.console, &client);
    assert_eq!(call(&mut console, "GET", "/healthcheck", "", "").0, 200);

    // The realtime socket over wss:// on the same port.
    let url = format!("wss://127.0.0.1:{}/ws?token={token}&format=json", server.api.port());
    let (mut ws, _) = tungstenite::client(url.as_str(), connect(server.api, &client)).unwrap();
    ws.send(tungstenite::Message::text(r#"{"cid":"1","ping":{}}"#)).unwrap();
    let reply = loop {
        if let tungstenite::Message::Text(t) = ws.read().unwrap() {
            break t.to_string();
        }
    };
    assert_eq!(serde_json::from_str::<serde_json::Value>(&reply).unwrap(), serde_json::json!({"cid": "1", "pong": {}}));
    assert_eq!(issued_to(&api), "first");

    // A new certificate, then SIGHUP: new connections get it; open ones go on.
    files(&dir, &ca, "second");
    // SAFETY: kill(2) with the child's own pid and a signal number; no memory involved.
    assert_eq!(unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) }, 0);
    let mut line = String::new();
    while !line.contains("TLS certificate reloaded") {
        line.clear();
        assert!(server.stdout.read_line(&mut line).unwrap() > 0, "the server stopped");
    }
    let mut fresh = connect(server.api, &client);
    assert_eq!(call(&mut fresh, "GET", "/healthcheck", "", "").0, 200);
    assert_eq!(issued_to(&fresh), "second");
    assert_eq!(call(&mut api, "GET", "/healthcheck", "", "").0, 200, "an open connection survives the reload");
    ws.send(tungstenite::Message::text(r#"{"cid":"2","ping":{}}"#)).unwrap();
    assert!(matches!(ws.read().unwrap(), tungstenite::Message::Text(t) if t.contains("pong")));

    // Plain HTTP on the TLS port gets no answer in clear, and the server goes on.
    let mut plain = TcpStream::connect(server.api).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    plain.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!String::from_utf8_lossy(&got).contains("200"));
    assert_eq!(call(&mut fresh, "GET", "/healthcheck", "", "").0, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_certificate_that_cannot_be_used_stops_the_start_naming_the_file() {
    let ca = Ca::new();
    let dir = tempdir("refuse");
    let (cert, _) = files(&dir, &ca, "first");
    let (_, other_key) = ca.issue("second");
    let wrong = dir.join("wrong-key.pem");
    std::fs::write(&wrong, other_key).unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_kaos-server"))
            .args(["--address", "127.0.0.1", "--port", "0", "--rudp-port", "off", "--console-port", "off"])
            .args(["--database", "memory"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["--tls-cert".as_ref(), cert.as_os_str(), "--tls-key".as_ref(), wrong.as_os_str()]);
    assert!(err.contains("wrong-key.pem") && err.contains("does not fit"), "{err}");
    let missing = dir.join("missing.pem");
    let err = run(&["--tls-cert".as_ref(), missing.as_os_str(), "--tls-key".as_ref(), wrong.as_os_str()]);
    assert!(err.contains("missing.pem"), "{err}");
    let err = run(&["--tls-cert".as_ref(), cert.as_os_str()]);
    assert!(err.contains("tls_cert and tls_key go together"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kaos-server-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
