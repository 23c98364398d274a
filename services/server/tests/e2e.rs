//! The end-to-end suite: kaos-server on a free loopback port, driven by the official
//! Nakama JavaScript client under node (`tests/e2e/e2e.test.mjs`, node's test runner).
//! The test installs the locked client with `npm ci` on first run; without node it
//! reports that it skipped, except in CI (`KAOS_REQUIRE_NODE=1`), where that fails.

use std::path::Path;
use std::process::Command;

use kaos_server::config::{Config, Database};

#[test]
fn the_nakama_js_client_works_against_kaos_server() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let node_ok = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if node_ok && !dir.join("node_modules/@heroiclabs/nakama-js").exists() {
        let _ = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).status();
    }
    if !node_ok || !dir.join("node_modules/@heroiclabs/nakama-js").exists() {
        assert!(std::env::var_os("KAOS_REQUIRE_NODE").is_none(), "node or nakama-js is missing in {}", dir.display());
        eprintln!("skipped: node or nakama-js is missing (npm ci in {})", dir.display());
        return;
    }
    let config = Config {
        address: "127.0.0.1".into(),
        port: 0,
        database: Database::Memory,
        rudp_port: Some(0),
        ..Config::default()
    };
    let server = kaos_server::start(&config, |kaos| {
        kaos.rpcs.register("echo", |_, payload| Ok(payload.to_string()));
    })
    .unwrap();
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec", "e2e.test.mjs"])
        .current_dir(&dir)
        .env("KAOS_ADDR", server.addr.to_string())
        .output()
        .unwrap();
    server.shutdown();
    server.wait().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "nakama-js suite failed:\n{report}");
    assert!(report.contains("pass 5") && report.contains("fail 0"), "{report}");
}
