//! kaos-ws against the npm `ws` client under node. The test installs the locked client
//! with `npm ci` on first run; without node it reports that it skipped, except in CI
//! (`.ci/run` installs node and sets KAOS_REQUIRE_NODE=1, so a missing node fails there).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::Echo;
use kaos_ws::{CloseReason, WsConfig};

#[test]
fn the_npm_ws_client_round_trips_text_binary_ping_and_close() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    let node_ok = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if node_ok && !dir.join("node_modules/ws").exists() {
        // First run on this machine: install the locked client (npm reads package-lock.json).
        let _ = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).status();
    }
    if !node_ok || !dir.join("node_modules/ws").exists() {
        assert!(
            std::env::var_os("KAOS_REQUIRE_NODE").is_none(),
            "node or the ws package is missing (run `npm ci` in {})",
            dir.display()
        );
        eprintln!("skipped: node or the ws package is missing (run `npm ci` in {})", dir.display());
        return;
    }
    // Plain, then with permessage-deflate (node's zlib compressing every message, ours
    // compressing the echoes of 512 bytes and more).
    for mode in ["plain", "deflate"] {
        let echo = Echo::start(WsConfig::default());
        let out = Command::new("node").arg(dir.join("client.mjs")).arg(echo.url("/node")).arg(mode).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            let server_side = echo.next_close(Duration::from_secs(1));
            panic!(
                "node client failed ({mode}): {stdout}{} (server: {server_side:?})",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let expected = if mode == "deflate" { "ok 200 deflate" } else { "ok 200" };
        assert_eq!(stdout.trim(), expected);
        assert_eq!(echo.next_close(Duration::from_secs(5)), Some(CloseReason::Peer(4000)));
        let stats = echo.stop();
        assert_eq!((stats.accepted, stats.messages_in), (1, 200));
        assert_eq!(stats.deflate, u64::from(mode == "deflate"), "handshakes that agreed to permessage-deflate");
    }
}
