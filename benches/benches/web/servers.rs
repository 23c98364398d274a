//! The servers of the web benchmark (and, with a certificate, of the tls one), each run in
//! a child process on one thread: kaos-http and hyper answer `GET /json` with a small
//! JSON document; kaos-ws and tokio-tungstenite echo every WebSocket message.

use std::io::BufRead;
use std::net::TcpListener as StdListener;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use kaos_http::{HttpConfig, HttpServer, Response, Router, TlsConfig};
use kaos_ws::{WsConfig, WsServer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

/// The JSON both HTTP servers build and serialize for every request.
fn document(n: u64) -> serde_json::Value {
    serde_json::json!({"ok": true, "server": "bench", "n": n})
}

/// Binds a free port, prints it, and exits once the parent closes our stdin.
pub fn listen() -> StdListener {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    std::thread::spawn(|| {
        for _ in std::io::stdin().lock().lines() {}
        std::process::exit(0);
    });
    listener
}

/// Runs server `kind`: prints its port, serves until stdin closes.
#[allow(dead_code)] // the tls benchmark has its own kinds
pub fn serve(kind: &str) {
    let listener = listen();
    match kind {
        "kaos-http" => kaos_http_server(listener, None),
        "hyper" => hyper_server(listener, None),
        "kaos-ws" => kaos_ws_server(listener, None),
        "tokio-tungstenite" => tokio_tungstenite_server(listener, None, None),
        "tokio-tungstenite-4k" => tokio_tungstenite_server(listener, Some(4096), None),
        other => panic!("unknown server {other}"),
    }
}

pub fn kaos_http_server(listener: StdListener, tls: Option<TlsConfig>) {
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut router = Router::new();
    let counter = std::sync::atomic::AtomicU64::new(0);
    router.get("/json", move |_| Response::json(&document(counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed))));
    let cfg = HttpConfig { max_connections: 20_000, tls, ..HttpConfig::default() };
    let mut server = HttpServer::bind(addr, router, cfg).unwrap();
    server.run().unwrap();
}

pub fn kaos_ws_server(listener: StdListener, tls: Option<TlsConfig>) {
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut server = WsServer::bind(addr, WsConfig { tls, ..WsConfig::default() }).unwrap();
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

pub fn hyper_server(listener: StdListener, tls: Option<TlsAcceptor>) {
    serve_hyper(listener, tls, false)
}

/// hyper on a current-thread runtime; with `h2`, serving HTTP/2 only (its `h2` crate), for
/// clients that chose `h2` by ALPN.
pub fn serve_hyper(listener: StdListener, tls: Option<TlsAcceptor>, h2: bool) {
    listener.set_nonblocking(true).unwrap();
    runtime().block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (counter, tls) = (counter.clone(), tls.clone());
            tokio::task::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            hyper_connection(stream, counter, h2).await;
                        }
                    }
                    None => hyper_connection(stream, counter, h2).await,
                }
            });
        }
    });
}

async fn hyper_connection<S>(stream: S, counter: std::sync::Arc<std::sync::atomic::AtomicU64>, h2: bool)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
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
    if h2 {
        let executor = hyper_util::rt::TokioExecutor::new();
        let _ = hyper::server::conn::http2::Builder::new(executor).serve_connection(io, service).await;
        return;
    }
    // Pipelined responses share a flush, as a user serving pipelining clients would set.
    let _ = hyper::server::conn::http1::Builder::new().pipeline_flush(true).serve_connection(io, service).await;
}

pub fn tokio_tungstenite_server(listener: StdListener, read_buffer: Option<usize>, tls: Option<TlsAcceptor>) {
    listener.set_nonblocking(true).unwrap();
    let mut cfg = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
    if let Some(n) = read_buffer {
        cfg = cfg.read_buffer_size(n);
    }
    runtime().block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let tls = tls.clone();
            tokio::task::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            echo_connection(stream, cfg).await;
                        }
                    }
                    None => echo_connection(stream, cfg).await,
                }
            });
        }
    });
}

async fn echo_connection<S>(stream: S, cfg: tokio_tungstenite::tungstenite::protocol::WebSocketConfig)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(cfg)).await else { return };
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_binary() || message.is_text()) && ws.send(message).await.is_err() {
            break;
        }
    }
}
