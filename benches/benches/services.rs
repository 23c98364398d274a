//! The game services over HTTP, as Nakama's clients call them, on SQLite (durable: WAL,
//! `synchronous = FULL`, group commit): device authentication creating new accounts and
//! signing in existing ones, storage object writes and reads. Nakama publishes about
//! 500-800 such requests a second per CPU for one node; the goal is ten times that per
//! core.
//!
//! `cargo bench -p kaos-benches --bench services` (about 40 s). kaos-server runs in a
//! child process (this binary again, with `KAOS_SERVICES_SERVE` set) with rate limits off;
//! the load generator (64 keep-alive connections, one request in flight each) runs here.
//!
//! On PostgreSQL instead: `KAOS_SERVICES_DATABASE='host=127.0.0.1 user=postgres
//! dbname=<empty database>' cargo bench -p kaos-benches --features postgres --bench services`,
//! `KAOS_SERVICES_POOL` connections (16). The CPU columns count kaos-server alone, not
//! PostgreSQL.

use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

#[path = "web/loadgen.rs"]
#[allow(dead_code)]
mod loadgen;

#[path = "common/child.rs"]
mod child;
#[path = "common/procfs.rs"]
mod procfs;

use loadgen::{LoadGen, Mode};

/// kaos-server's allocator, so the figures are those of the server as it ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONNECTIONS: usize = 64;
const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(4);
/// Accounts per connection the sign-in workload uses, and objects per user the read one.
const EXISTING: u64 = 10;
const BASIC: &str = "Basic ZGVmYXVsdGtleTo="; // base64("defaultkey:")

fn serve(dir: &str) {
    let modules = std::path::Path::new(dir).join("modules");
    std::fs::create_dir_all(&modules).unwrap();
    let echo = r#"require("nakama").register_rpc(function(context, payload) return payload end, "echo_lua")"#;
    std::fs::write(modules.join("echo.lua"), echo).unwrap();
    // Logs and spans as kaos-server ships them (INFO: a span on every REST call).
    let level = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let _tracing = kaosnet::telemetry::init_tracing(kaosnet::telemetry::TracingConfig::default().with_level(&level));
    let _tracing = _tracing.unwrap();
    let config = kaos_server::config::Config {
        address: "127.0.0.1".into(),
        port: 0,
        database: match std::env::var("KAOS_SERVICES_DATABASE") {
            Ok(params) => kaos_server::config::Database::Postgres(params),
            Err(_) => kaos_server::config::Database::Sqlite(std::path::Path::new(dir).join("kaos.db")),
        },
        database_pool_size: std::env::var("KAOS_SERVICES_POOL").ok().and_then(|n| n.parse().ok()).unwrap_or(16),
        session: kaosnet::session::SessionConfig { token_expiry_sec: 3600, ..Default::default() },
        rate_limits: kaosnet::hooks::RateLimits::NONE,
        rudp_port: None,
        console_port: None,
        runtime: kaos_lua::RuntimeConfig { path: modules, ..kaos_lua::RuntimeConfig::default() },
        ..kaos_server::config::Config::default()
    };
    // The same echo in Rust and in Lua, side by side.
    let server = kaos_server::start(&config, |kaos| {
        kaos.rpcs().register("echo_rust", |_, payload| Ok(payload.to_string()));
    })
    .unwrap();
    println!("{}", server.addr.port());
    for _ in std::io::stdin().lock().lines() {}
    std::process::exit(0);
}

/// kaos-server in a child process, its data in a directory of its own.
struct Server {
    process: child::Child,
    dir: std::path::PathBuf,
}

impl Server {
    fn start() -> Server {
        let dir = std::env::temp_dir().join(format!("kaos-services-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let process = child::Child::start(&[("KAOS_SERVICES_SERVE", dir.to_str().unwrap())]);
        Server { process, dir }
    }
}

impl std::ops::Deref for Server {
    type Target = child::Child;

    fn deref(&self) -> &child::Child {
        &self.process
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn request(method: &str, path: &str, auth: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One blocking call (setup): the JSON answer.
fn call(addr: SocketAddr, req: &[u8]) -> serde_json::Value {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(req).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= len {
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                return serde_json::from_str(&body[..len]).unwrap();
            }
        }
        assert!(n > 0);
    }
}

/// Runs `make` on every connection: requests per second, server CPU per request.
fn measure(server: &Server, make: loadgen::MakeRequest) -> (f64, f64) {
    let mut load =
        LoadGen::new(Mode::Http { depth: 1 }, server.addr, CONNECTIONS, vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])
            .with_requests(make);
    load.connect_all(Duration::from_secs(10));
    load.run_for(WARMUP);
    let (replies, cpu, start) = (load.replies, server.cpu(), Instant::now());
    load.run_for(MEASURE);
    let (n, cpu, elapsed) = (load.replies - replies, server.cpu() - cpu, start.elapsed());
    assert_eq!(load.failed, 0);
    (n as f64 / elapsed.as_secs_f64(), cpu.as_secs_f64() * 1e6 / n as f64)
}

fn main() {
    if let Ok(dir) = std::env::var("KAOS_SERVICES_SERVE") {
        return serve(&dir);
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let server = Server::start();
    let at_rest = (server.resident(), procfs::threads(server.child.id()));
    let run = std::process::id();
    match std::env::var("KAOS_SERVICES_DATABASE") {
        Ok(_) => println!(
            "kaos-server on PostgreSQL ({} pooled connections), {CONNECTIONS} connections, {MEASURE:?} each",
            std::env::var("KAOS_SERVICES_POOL").unwrap_or_else(|_| "16".into())
        ),
        Err(_) => println!(
            "kaos-server on SQLite (WAL, synchronous=FULL, group commit), {CONNECTIONS} connections, {MEASURE:?} each"
        ),
    }
    println!("{:<44}{:>12}{:>16}{:>16}", "workload", "requests/s", "CPU/request", "per core");
    let report = |name: &str, (rate, cpu_us): (f64, f64)| {
        println!("{name:<44}{rate:>12.0}{:>14.1}µs{:>14.0}/s", cpu_us, 1e6 / cpu_us);
    };
    report(
        "authenticate device, new accounts",
        measure(
            &server,
            Box::new(move |c, seq| {
                request(
                    "POST",
                    "/v2/account/authenticate/device?create=true",
                    BASIC,
                    &format!("{{\"id\":\"bench-{run}-{c}-{seq}\"}}"),
                )
            }),
        ),
    );
    // The accounts and objects the next workloads use exist whatever the rate above
    // (PostgreSQL may not have reached them all): 10 per connection.
    for c in 0..CONNECTIONS {
        for i in 0..EXISTING {
            let body = format!("{{\"id\":\"bench-{run}-{c}-{i}\"}}");
            call(server.addr, &request("POST", "/v2/account/authenticate/device?create=true", BASIC, &body));
        }
    }
    report(
        "authenticate device, existing accounts",
        measure(
            &server,
            Box::new(move |c, seq| {
                request(
                    "POST",
                    "/v2/account/authenticate/device?create=false",
                    BASIC,
                    &format!("{{\"id\":\"bench-{run}-{c}-{}\"}}", seq % EXISTING),
                )
            }),
        ),
    );
    // One session per connection for the storage workloads.
    let sessions: Vec<(String, String)> = (0..CONNECTIONS)
        .map(|c| {
            let body = format!("{{\"id\":\"bench-storage-{run}-{c}\"}}");
            let s = call(server.addr, &request("POST", "/v2/account/authenticate/device", BASIC, &body));
            let token = s["token"].as_str().unwrap().to_string();
            let account = call(server.addr, &request("GET", "/v2/account", &format!("Bearer {token}"), ""));
            (format!("Bearer {token}"), account["user"]["id"].as_str().unwrap().to_string())
        })
        .collect();
    let auth: Vec<String> = sessions.iter().map(|(a, _)| a.clone()).collect();
    let auth_rpc = auth.clone();
    for (auth, _) in &sessions {
        for i in 0..EXISTING {
            let body = format!("{{\"objects\":[{{\"collection\":\"bench\",\"key\":\"k{i}\",\"value\":\"{{}}\"}}]}}");
            call(server.addr, &request("PUT", "/v2/storage", auth, &body));
        }
    }
    let accounts = auth.clone();
    report(
        "account read (GET /v2/account)",
        measure(&server, Box::new(move |c, _| request("GET", "/v2/account", &accounts[c], ""))),
    );
    report(
        "storage write (one object, 100 keys per user)",
        measure(
            &server,
            Box::new(move |c, seq| {
                let body = format!(
                    "{{\"objects\":[{{\"collection\":\"bench\",\"key\":\"k{}\",\"value\":\"{{\\\"score\\\":{seq}}}\"}}]}}",
                    seq % 100
                );
                request("PUT", "/v2/storage", &auth[c], &body)
            }),
        ),
    );
    report(
        "storage read (one object)",
        measure(
            &server,
            Box::new(move |c, seq| {
                let (auth, uid) = &sessions[c];
                let body = format!(
                    "{{\"object_ids\":[{{\"collection\":\"bench\",\"key\":\"k{}\",\"user_id\":\"{uid}\"}}]}}",
                    seq % EXISTING
                );
                request("POST", "/v2/storage", auth, &body)
            }),
        ),
    );
    // An RPC echo, as Nakama's Lua echo was measured (payload a JSON string).
    for (name, id) in [("RPC echo in Rust", "echo_rust"), ("RPC echo in Lua", "echo_lua")] {
        let auth = auth_rpc.clone();
        let path = format!("/v2/rpc/{id}");
        report(name, measure(&server, Box::new(move |c, _| request("POST", &path, &auth[c], "\"hello\""))));
    }
    let pid = server.child.id();
    let after = (procfs::resident_bytes(pid), procfs::threads(pid));
    std::thread::sleep(Duration::from_secs(12)); // past the HTTP workers' idle timeout
    let settled = (procfs::resident_bytes(pid), procfs::threads(pid));
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "server memory: {:.1} MiB and {} threads at rest, {:.1} MiB and {} threads after the load, {:.1} MiB and {} threads 12 s later",
        mib(at_rest.0),
        at_rest.1,
        mib(after.0),
        after.1,
        mib(settled.0),
        settled.1
    );
    println!("Nakama's published figure: about 500-800 requests/s per CPU (goal: 10x per core)");
}
