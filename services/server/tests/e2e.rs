//! The end-to-end suite: kaos-server on a free loopback port, driven by the official
//! Nakama JavaScript client under node (`tests/e2e/e2e.test.mjs` for REST and RPC,
//! `tests/e2e/realtime.test.mjs` for the realtime services, `tests/e2e/social.test.mjs`
//! for friends and groups, `tests/e2e/leaderboards.test.mjs` for leaderboards and
//! tournaments, `tests/e2e/lua.test.mjs` for RPCs and a match in Lua (`tests/lua`), all sharing `tests/e2e/client.mjs`; node's test runner).
//! Every suite runs with JSON sockets and with protobuf sockets
//! (`@heroiclabs/nakama-js-protobuf`, `KAOS_SOCKET_FORMAT=protobuf`). The same suites then
//! run inside headless Chromium (`tests/e2e/browser.mjs`: Debian's
//! `/usr/bin/chromium` under playwright-core, the suites bundled by esbuild into a page
//! whose origin is `null`), so CORS and the browser's WebSocket are checked on every run.
//! With `--features postgres` and `KAOS_TEST_POSTGRES` (`.ci/run`), the node runs are made
//! again against kaos-server on PostgreSQL.
//! The test installs the locked packages with `npm ci` on first run; without node it
//! reports that it skipped, except in CI (`KAOS_REQUIRE_NODE=1`), where that fails; so
//! does a missing Chromium with `KAOS_REQUIRE_BROWSER=1`.

#[path = "../../../io/http/tests/common/ca.rs"]
mod ca;
mod common;

use std::path::Path;
use std::process::Command;

use kaos_server::config::{Config, Database};
use kaosnet::leaderboards::{LeaderboardConfig, Operator, SortOrder, Submission, TournamentConfig, TournamentRules};
use kaosnet::matches::{Dispatcher, MatchContext, MatchHandler, MatchInit, MatchMessage};
use kaosnet::notifications::Outgoing;
use serde_json::{json, Value};

#[cfg(feature = "postgres")]
use common::postgres::Schema;

/// Answers each input to its sender alone: op 2, `pong:<data>`.
struct Arena;

impl MatchHandler for Arena {
    fn init(&mut self, _: &MatchContext, params: &Value) -> Result<MatchInit, String> {
        Ok(MatchInit { tick_rate: 10, label: json!({ "mode": params["mode"] }).to_string() })
    }

    fn tick(&mut self, _: &MatchContext, d: &mut Dispatcher<'_>, _: u64, messages: Vec<MatchMessage>) -> bool {
        for m in messages {
            let reply = [b"pong:".as_slice(), &m.data].concat();
            d.broadcast(2, &reply, Some(std::slice::from_ref(&m.sender)), None, true);
        }
        true
    }
}

#[test]
fn the_nakama_js_client_works_against_kaos_server() {
    let Some(dir) = suites_ready() else { return };
    let browser = Path::new(CHROMIUM).exists();
    if !browser {
        assert!(std::env::var_os("KAOS_REQUIRE_BROWSER").is_none(), "{CHROMIUM} is missing");
        eprintln!("skipped the browser runs: {CHROMIUM} is missing (apt-get install chromium)");
    }
    // Sockets in JSON and in protobuf (@heroiclabs/nakama-js-protobuf), under node and
    // inside Chromium from a page whose origin is `null` (CORS and the browser's own
    // WebSocket, as a game in a browser meets them).
    for format in ["json", "protobuf"] {
        let (ok, report) = run(&dir, Database::Memory, &["--test", "--test-reporter=spec"], format);
        assert!(ok, "nakama-js suite failed under node, {format} sockets:\n{report}");
        assert!(report.contains("pass 25") && report.contains("fail 0"), "{report}");
        if browser {
            let (ok, report) = run(&dir, Database::Memory, &["browser.mjs"], format);
            assert!(ok, "nakama-js suite failed in Chromium, {format} sockets:\n{report}");
            assert!(report.lines().any(|l| l == "browser: 25 passed, 0 failed"), "{report}");
            // Every call was cross-origin (preflighted), from an opaque origin.
            let header = format!("page origin null, {format} sockets");
            assert_eq!(report.matches(&header).count(), SUITES.len(), "{report}");
        }
    }
}

/// The same suites over HTTPS and `wss://`: kaos-server with a certificate from a test
/// CA, trusted by node (`NODE_EXTRA_CA_CERTS`) and by Chromium (its key pinned with
/// `--ignore-certificate-errors-spki-list`), JSON sockets.
#[test]
fn the_nakama_js_client_works_over_https_and_wss() {
    let Some(dir) = suites_ready() else { return };
    let ca = ca::Ca::new();
    let (cert, key) = ca.issue("kaos e2e");
    let files = std::env::temp_dir().join(format!("kaos-e2e-tls-{}", std::process::id()));
    std::fs::create_dir_all(&files).unwrap();
    let tls = Tls { ca: files.join("ca.pem"), cert: files.join("cert.pem"), key: files.join("key.pem") };
    std::fs::write(&tls.ca, ca.pem()).unwrap();
    std::fs::write(&tls.cert, cert).unwrap();
    std::fs::write(&tls.key, key).unwrap();
    let (ok, report) = run_with(&dir, Database::Memory, &["--test", "--test-reporter=spec"], "json", Some(&tls));
    assert!(ok, "nakama-js suite failed under node over TLS:\n{report}");
    assert!(report.contains("pass 25") && report.contains("fail 0"), "{report}");
    if Path::new(CHROMIUM).exists() {
        let (ok, report) = run_with(&dir, Database::Memory, &["browser.mjs"], "json", Some(&tls));
        assert!(ok, "nakama-js suite failed in Chromium over TLS:\n{report}");
        assert!(report.lines().any(|l| l == "browser: 25 passed, 0 failed"), "{report}");
        assert_eq!(report.matches("page origin null, json sockets over TLS").count(), SUITES.len(), "{report}");
        // Chromium chose HTTP/2 by ALPN for the REST calls (its WebSocket stays on 1.1).
        let http = report.lines().find(|l| l.starts_with("browser http:")).unwrap_or_default();
        let h2: u32 =
            http.split_whitespace().find_map(|w| w.strip_prefix("h2=")).and_then(|n| n.parse().ok()).unwrap_or(0);
        assert!(h2 >= 25, "REST over HTTP/2 in Chromium: {http}\n{report}");
        eprintln!("{http}");
    } else {
        assert!(std::env::var_os("KAOS_REQUIRE_BROWSER").is_none(), "{CHROMIUM} is missing");
    }
    let _ = std::fs::remove_dir_all(&files);
}

/// A test CA's certificate, and the server's certificate and key it issued.
struct Tls {
    ca: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

/// The same suites under node against kaos-server on PostgreSQL (`--features postgres`),
/// each run in a fresh schema of the server named by `KAOS_TEST_POSTGRES` (`.ci/run`
/// starts one); without it the test says it skipped, unless `KAOS_REQUIRE_POSTGRES` is set.
#[cfg(feature = "postgres")]
#[test]
fn the_nakama_js_client_works_against_kaos_server_on_postgresql() {
    let Ok(base) = std::env::var("KAOS_TEST_POSTGRES") else {
        assert!(std::env::var_os("KAOS_REQUIRE_POSTGRES").is_none(), "KAOS_TEST_POSTGRES is not set");
        eprintln!("skipped: KAOS_TEST_POSTGRES is not set");
        return;
    };
    let Some(dir) = suites_ready() else { return };
    for format in ["json", "protobuf"] {
        let mut schema = Schema::create(&base, &format!("kaos_e2e_{}_{format}", std::process::id()));
        let database = Database::Postgres(format!("{base} options='-c search_path={}'", schema.name));
        let (ok, report) = run(&dir, database, &["--test", "--test-reporter=spec"], format);
        assert!(ok, "nakama-js suite failed under node on PostgreSQL, {format} sockets:\n{report}");
        assert!(report.contains("pass 25") && report.contains("fail 0"), "{report}");
        // What the suites did is in PostgreSQL: accounts, storage, records, messages.
        let kept = ["users", "storage", "leaderboard_records", "messages"].map(|t| (t, schema.rows(t)));
        assert!(kept.iter().all(|(_, n)| *n > 0), "{format}: {kept:?}");
    }
}

/// The suites' directory once its packages are installed; None (the test skips) without
/// node, except in CI (`KAOS_REQUIRE_NODE`).
fn suites_ready() -> Option<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let node_ok = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if node_ok && !dir.join("node_modules/@heroiclabs/nakama-js-protobuf").exists() {
        let _ = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).status();
    }
    if !node_ok || !dir.join("node_modules/@heroiclabs/nakama-js").exists() {
        assert!(std::env::var_os("KAOS_REQUIRE_NODE").is_none(), "node or nakama-js is missing in {}", dir.display());
        eprintln!("skipped: node or nakama-js is missing (npm ci in {})", dir.display());
        return None;
    }
    Some(dir)
}

/// `node <args> <suites>` against a server of its own on `database` (the suites build on
/// the boards they fill): whether it passed, and what it printed.
fn run(dir: &Path, database: Database, args: &[&str], format: &str) -> (bool, String) {
    run_with(dir, database, args, format, None)
}

/// `run`, over TLS when `tls` is given.
fn run_with(dir: &Path, database: Database, args: &[&str], format: &str, tls: Option<&Tls>) -> (bool, String) {
    let server = serve(database, tls.map(|t| (t.cert.clone(), t.key.clone())));
    let mut node = Command::new("node");
    node.args(args).args(SUITES).current_dir(dir);
    node.env("KAOS_ADDR", server.addr.to_string()).env("KAOS_SOCKET_FORMAT", format);
    if let Some(t) = tls {
        node.env("KAOS_TLS", "1").env("NODE_EXTRA_CA_CERTS", &t.ca).env("KAOS_TLS_CERT", &t.cert);
    }
    let out = node.output().unwrap();
    server.shutdown();
    server.wait().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), report)
}

/// The suites, run under node and in Chromium alike.
const SUITES: [&str; 5] =
    ["e2e.test.mjs", "realtime.test.mjs", "social.test.mjs", "leaderboards.test.mjs", "lua.test.mjs"];

/// Debian's Chromium, driven by playwright-core (no browser download).
const CHROMIUM: &str = "/usr/bin/chromium";

/// kaos-server on a free loopback port, on `database`, with what the suites use: the `arena` match
/// handler, the RPCs, the boards and the tournament.
fn serve(database: Database, tls: Option<(std::path::PathBuf, std::path::PathBuf)>) -> kaos_server::Running {
    let config = Config {
        address: "127.0.0.1".into(),
        port: 0,
        database,
        tls,
        rudp_port: Some(0),
        // Free ports only: two runs (or two checkouts) may test at once.
        console_port: Some(0),
        // The Lua modules of lua.test.mjs.
        runtime: kaos_lua::RuntimeConfig {
            path: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lua"),
            ..kaos_lua::RuntimeConfig::default()
        },
        ..Config::default()
    };
    kaos_server::start(&config, |kaos| {
        kaos.rpcs().register("echo", |_, payload| Ok(payload.to_string()));
        kaos.matches().register("arena", || Box::new(Arena));
        let weak = kaos.weak();
        kaos.rpcs().register("make_arena", move |_, payload| {
            let kaos = weak.upgrade().ok_or_else(|| kaosnet::ApiError::invalid("shutting down"))?;
            let params: Value = serde_json::from_str(payload).map_err(|_| kaosnet::ApiError::invalid("JSON please"))?;
            let id = kaos.matches().create(&kaos, "arena", &params)?;
            Ok(json!({ "match_id": id }).to_string())
        });
        let weak = kaos.weak();
        kaos.rpcs().register("notify_me", move |ctx, payload| {
            let kaos = weak.upgrade().ok_or_else(|| kaosnet::ApiError::invalid("shutting down"))?;
            let content: Value =
                serde_json::from_str(payload).map_err(|_| kaosnet::ApiError::invalid("JSON please"))?;
            let subject = content["subject"].as_str().unwrap_or_default().to_string();
            let user_id = ctx.user_id.clone().unwrap_or_default();
            let note = Outgoing { user_id, subject, content, code: 1, sender_id: None, persistent: true };
            kaos.notifications().send(note)?;
            Ok("{}".into())
        });
        // The boards of leaderboards.test.mjs.
        let board = |id: &str, authoritative: bool, operator: Operator| LeaderboardConfig {
            id: id.into(),
            authoritative,
            sort_order: SortOrder::Descending,
            operator,
            ..Default::default()
        };
        kaos.leaderboards().create(board("e2e_weekly", false, Operator::Best)).unwrap();
        kaos.leaderboards().create(board("e2e_server_only", true, Operator::Best)).unwrap();
        kaos.leaderboards().create(board("e2e_increment", false, Operator::Increment)).unwrap();
        let now = kaos.accounts().now();
        let cup = TournamentConfig {
            board: LeaderboardConfig {
                id: "e2e_cup".into(),
                sort_order: SortOrder::Descending,
                operator: Operator::Best,
                metadata: r#"{"prize":"gold"}"#.into(),
                ..Default::default()
            },
            rules: TournamentRules {
                title: "E2E Cup".into(),
                description: "end-to-end".into(),
                category: 5,
                start_time: now - 60,
                end_time: now + 3600,
                duration: 3600,
                max_size: 100,
                max_num_score: 3,
                join_required: true,
            },
        };
        kaos.leaderboards().create_tournament(cup).unwrap();
        // Server code writes to the authoritative board for the caller: `{"score": n}`.
        let weak = kaos.weak();
        kaos.rpcs().register("submit_server_only", move |ctx, payload| {
            let kaos = weak.upgrade().ok_or_else(|| kaosnet::ApiError::invalid("shutting down"))?;
            let body: Value = serde_json::from_str(payload).map_err(|_| kaosnet::ApiError::invalid("JSON please"))?;
            let score = body["score"].as_i64().ok_or_else(|| kaosnet::ApiError::invalid("score please"))?;
            let (user_id, username) =
                (ctx.user_id.clone().unwrap_or_default(), ctx.username.clone().unwrap_or_default());
            let s = Submission { score, ..Default::default() };
            let r = kaos.leaderboards().submit("e2e_server_only", &user_id, &username, s)?;
            Ok(json!({ "score": r.score, "rank": r.rank }).to_string())
        });
    })
    .unwrap()
}
