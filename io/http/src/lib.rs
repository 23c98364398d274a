//! KaosNet's HTTP/1.1 and HTTP/2 server: one mio loop, no async runtime.
//!
//! Requests are parsed with httparse; keep-alive and pipelining are supported (responses
//! go out in request order); header size, header count, body size and the time a
//! request may take to arrive are limited; a client that stops reading its responses is
//! cut off. Handlers that never block run on the loop thread; handlers that may block
//! (a database) run on a bounded worker pool, and the loop never waits for them. Routes
//! marked as WebSocket endpoints hand the connection off (see [`Upgrade`]). Clients that
//! ask for HTTP/2 (ALPN `h2` over TLS, or prior knowledge on plain TCP) get it on the
//! same port, with their streams dispatched to the same router and worker pool.
//!
//! ```no_run
//! use kaos_http::{HttpConfig, HttpServer, Response, Router};
//!
//! let mut router = Router::new();
//! router.get("/healthcheck", |_| Response::json(&serde_json::json!({})));
//! router.get("/v2/rpc/{id}", |req| Response::text(200, req.param("id").unwrap_or("")));
//! let mut server = HttpServer::bind("127.0.0.1:7350".parse().unwrap(), router, HttpConfig::default()).unwrap();
//! server.run().unwrap();
//! ```

mod conn;
mod cors;
mod h2;
mod parse;
mod pool;
mod request;
mod response;
mod router;
mod server;
mod tls;

use std::time::Duration;

pub use cors::Cors;
pub use request::{decode_component, Headers, Method, Request};
pub use response::{reason, Response};
pub use router::{Handler, Router, Run};
pub use server::{HttpServer, HttpStats, ShutdownHandle, Upgrade};
pub use tls::{Stream, TlsConfig, TlsError, TlsStream};

impl HttpConfig {
    /// The server's own error response for `status`.
    pub(crate) fn error(&self, status: u16, reason: &str) -> Response {
        match self.error_response {
            Some(f) => f(status, reason),
            None => Response::text(status, reason),
        }
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request head (request line and headers), bytes; beyond it: 431.
    pub max_header_bytes: usize,
    /// Most headers in a request; beyond it: 431.
    pub max_headers: usize,
    /// Largest request body, bytes; beyond it: 413.
    pub max_body_bytes: usize,
    /// A request must arrive whole within this long of its first byte; otherwise 408
    /// and the connection closes (against slow-sending clients).
    pub request_timeout: Duration,
    /// A keep-alive connection with nothing in progress closes after this long.
    pub idle_timeout: Duration,
    /// A connection whose responses make no progress for this long closes (a client that
    /// does not read).
    pub write_timeout: Duration,
    /// Most open connections; more are closed at once.
    pub max_connections: usize,
    /// Requests a connection may have waiting for responses before the server stops
    /// reading from it.
    pub max_pipelined: usize,
    /// Worker threads for blocking handlers, at most: they start as the load needs them.
    pub workers: usize,
    /// Worker threads kept while there is nothing to do (at least 1).
    pub resting_workers: usize,
    /// How long a worker beyond the resting ones waits for a job before it ends.
    pub worker_idle_timeout: Duration,
    /// Blocking requests queued for the workers; beyond it: 503.
    pub worker_queue: usize,
    /// Called (on a worker) when the pool is back to its resting threads after a load
    /// spike: the moment to give memory the spike left behind back to the system.
    pub on_rest: Option<fn()>,
    /// CORS for browser clients; `None` sends no CORS headers.
    pub cors: Option<Cors>,
    /// Serve HTTPS (and `wss://` upgrades) with this certificate; `None` serves plain
    /// HTTP. A handshake must finish within `request_timeout`.
    pub tls: Option<TlsConfig>,
    /// Serve HTTP/2 to clients that ask for it: ALPN `h2` over TLS, or the HTTP/2
    /// preface on plain TCP (prior knowledge, "h2c"). HTTP/1.1 stays the default.
    pub http2: bool,
    /// On shutdown, how long requests in progress may take before connections are cut.
    pub drain_timeout: Duration,
    /// Builds the responses the server makes itself (400, 404, 405, 408, 413, 431, 500,
    /// 503) from the status and a short reason; `None` sends plain text. An API can
    /// answer them in its own error format.
    pub error_response: Option<fn(u16, &str) -> Response>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_body_bytes: 4 << 20,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_connections: 16_384,
            max_pipelined: 32,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()).max(2),
            resting_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            worker_idle_timeout: Duration::from_secs(10),
            worker_queue: 1024,
            on_rest: None,
            cors: None,
            tls: None,
            http2: true,
            drain_timeout: Duration::from_secs(10),
            error_response: None,
        }
    }
}

/// Entry points for the fuzz targets in `fuzz/` (not a stable API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use crate::parse::{parse_request, Outcome};
    use crate::HttpConfig;

    /// What parsing a byte stream produced, request by request.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Request(String, String, Vec<u8>, bool),
        Error(u16),
    }

    fn run(chunks: &mut dyn Iterator<Item = &[u8]>, cfg: &HttpConfig) -> Vec<Seen> {
        let mut buf = Vec::new();
        let mut seen = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match parse_request(&buf, cfg) {
                    Outcome::Request { request, raw_path, keep_alive, consumed } => {
                        assert!(consumed > 0 && consumed <= buf.len(), "consumed {consumed} of {}", buf.len());
                        assert!(request.body.len() <= cfg.max_body_bytes);
                        seen.push(Seen::Request(request.method.as_str().into(), raw_path, request.body, keep_alive));
                        buf.drain(..consumed);
                    }
                    Outcome::Incomplete { .. } => break,
                    Outcome::Error(status) => {
                        assert!([400, 413, 431, 501].contains(&status), "status {status}");
                        seen.push(Seen::Error(status));
                        return seen;
                    }
                }
            }
        }
        seen
    }

    /// Runs an HTTP/2 session over `data` (the client's bytes after the preface and an
    /// empty SETTINGS), fed `split` bytes at a time. Every request is answered with its
    /// body echoed; the session must stay within its limits and never panic.
    pub fn h2_session(data: &[u8], split: usize) {
        use crate::h2::{H2, OUTPUT_HIGH, PREFACE};
        let cfg =
            HttpConfig { max_header_bytes: 4096, max_headers: 16, max_body_bytes: 65_536, ..HttpConfig::default() };
        let now = std::time::Instant::now();
        let mut h2 = H2::new(&cfg);
        let mut stream = PREFACE.to_vec();
        stream.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        stream.extend_from_slice(data);
        let mut buffered: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        for chunk in stream.chunks(split.max(1)) {
            buffered.extend_from_slice(chunk);
            let used = h2.receive(&buffered, now);
            assert!(used <= buffered.len());
            buffered.drain(..used);
            for ready in h2.take_requests() {
                assert!(ready.request.body.len() <= cfg.max_body_bytes);
                let body = ready.request.body.clone();
                h2.respond(ready.stream, crate::Response::with_body(200, "application/octet-stream", body));
            }
            h2.write(&mut out);
            // What one turn queues is bounded: control frames up to the output mark (then
            // input waits), the answers' headers (at most one per open stream), and DATA
            // up to the mark plus a frame.
            assert!(out.len() <= 2 * OUTPUT_HIGH + 16_393 + 100 * 256, "{}", out.len());
            out.clear();
            if h2.failure().is_some() {
                assert!(h2.is_finished());
                return;
            }
        }
    }

    /// Parses `data` whole and in pieces of `split` bytes: both must give the same
    /// requests (or the same error), within the limits, without panicking.
    pub fn request_stream(data: &[u8], split: usize) {
        let cfg = HttpConfig { max_header_bytes: 2048, max_headers: 16, max_body_bytes: 4096, ..HttpConfig::default() };
        let whole = run(&mut std::iter::once(data), &cfg);
        let pieces = run(&mut data.chunks(split.max(1)), &cfg);
        // Limits are checked as bytes arrive, so a piecewise parse may stop at an
        // error the whole parse reaches too: compare what both saw before any error.
        let ok = |v: &[Seen]| v.iter().take_while(|s| matches!(s, Seen::Request(..))).count();
        let n = ok(&whole).min(ok(&pieces));
        assert_eq!(whole[..n], pieces[..n]);
    }
}
