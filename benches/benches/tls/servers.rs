//! The servers of the TLS benchmark, each a child process on one thread, all with the
//! certificate the parent passes (`KAOS_TLS_CERT_PEM`, `KAOS_TLS_KEY_PEM`) and rustls
//! with ring: kaos-http and hyper answer `GET /json`; kaos-ws and tokio-tungstenite echo.

use std::io::BufRead;
use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use kaos_http::{HttpConfig, HttpServer, Response, Router, TlsConfig};
use kaos_ws::{WsConfig, WsServer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn pem(name: &str) -> String {
    std::env::var(name).unwrap()
}

/// Runs server `kind`: prints its port, serves until stdin closes.
pub fn serve(kind: &str) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    std::thread::spawn(|| {
        for _ in std::io::stdin().lock().lines() {}
        std::process::exit(0);
    });
    let (cert, key) = (pem("KAOS_TLS_CERT_PEM"), pem("KAOS_TLS_KEY_PEM"));
    match kind {
        "kaos-http-tls" => kaos_http(listener, TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap()),
        "kaos-ws-tls" => kaos_ws(listener, TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap()),
        "hyper-rustls" => hyper(listener, acceptor(&cert, &key)),
        "tokio-tungstenite-rustls" => tungstenite(listener, acceptor(&cert, &key)),
        other => panic!("unknown server {other}"),
    }
}

fn acceptor(cert: &str, key: &str) -> tokio_rustls::TlsAcceptor {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    #[allow(deprecated)] // ring's provider, as kaos-http uses
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn document(n: u64) -> serde_json::Value {
    serde_json::json!({"ok": true, "server": "bench", "n": n})
}

fn kaos_http(listener: StdListener, tls: TlsConfig) {
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut router = Router::new();
    let counter = std::sync::atomic::AtomicU64::new(0);
    router.get("/json", move |_| Response::json(&document(counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed))));
    let cfg = HttpConfig { max_connections: 20_000, tls: Some(tls), ..HttpConfig::default() };
    HttpServer::bind(addr, router, cfg).unwrap().run().unwrap();
}

fn kaos_ws(listener: StdListener, tls: TlsConfig) {
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut server = WsServer::bind(addr, WsConfig { tls: Some(tls), ..WsConfig::default() }).unwrap();
    let mut replies = Vec::new();
    loop {
        server.poll(None).unwrap();
        while server.accept().is_some() {}
        server.receive_all(|conn, kind, data| replies.push((conn, kind, data.to_vec())));
        for (conn, kind, data) in replies.drain(..) {
            let _ = server.send_kind(conn, kind, &data);
        }
        while server.poll_event().is_some() {}
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn hyper(listener: StdListener, acceptor: tokio_rustls::TlsAcceptor) {
    listener.set_nonblocking(true).unwrap();
    runtime().block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (counter, acceptor) = (counter.clone(), acceptor.clone());
            tokio::task::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else { return };
                let service = hyper::service::service_fn(move |_req| {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    async move {
                        let body = serde_json::to_vec(&document(n)).unwrap();
                        hyper::Response::builder()
                            .header("content-type", "application/json")
                            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
}

fn tungstenite(listener: StdListener, acceptor: tokio_rustls::TlsAcceptor) {
    listener.set_nonblocking(true).unwrap();
    runtime().block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::task::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else { return };
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
                while let Some(Ok(message)) = ws.next().await {
                    if (message.is_binary() || message.is_text()) && ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
}
