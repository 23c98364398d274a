//! Kaos.io end to end in Debian's Chromium (`tests/browser.mjs`, playwright-core from the
//! server's end-to-end suites): two players, movement seen by the other, a score on the
//! leaderboard, a screenshot that is not blank; and in Debian's Firefox ESR
//! (`tests/firefox.mjs`, puppeteer-core over WebDriver BiDi): two players, movement.

mod common;

use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The node module `entry` (under the server's end-to-end suites, installed there if it
/// is missing) when node and `browser` are here too; None (the test skips) otherwise,
/// unless one of `required` is set.
fn ready(entry: &str, browser: &str, required: &[&str]) -> Option<std::path::PathBuf> {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services/server/tests/e2e");
    let module = e2e.join("node_modules").join(entry);
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if node && !module.exists() {
        let _ = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&e2e).status();
    }
    if node && module.exists() && Path::new(browser).exists() {
        return Some(module);
    }
    assert!(required.iter().all(|v| std::env::var_os(v).is_none()), "node, {entry} or {browser} is missing");
    eprintln!("skipped: node, {entry} or {browser} is missing");
    None
}

#[test]
fn two_players_see_each_other_move_and_a_score_lands_on_the_leaderboard() {
    let Some(playwright) = ready("playwright-core/index.mjs", CHROMIUM, &["KAOS_REQUIRE_NODE", "KAOS_REQUIRE_BROWSER"])
    else {
        return;
    };
    let config = common::config();
    let game = kaos_io::serve(&config, 0).unwrap();
    // KAOS_IO_SHOT keeps the screenshot there (the README's comes from it).
    let shot = std::env::var("KAOS_IO_SHOT").unwrap_or_else(|_| {
        std::env::temp_dir().join(format!("kaos-io-{}.png", std::process::id())).display().to_string()
    });
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser.mjs"))
        .env("KAOS_IO_URL", format!("http://{}", game.web_addr))
        .env("KAOS_PLAYWRIGHT", &playwright)
        .env("KAOS_SHOT", &shot)
        .output()
        .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let records = game.server.kaos.leaderboards().get_top(kaos_io::LEADERBOARD, 10).unwrap();
    game.stop().unwrap();
    assert!(out.status.success() && report.contains("kaos-io browser: passed"), "{report}");
    assert!(records.iter().any(|r| r.username == "alpha"), "the server's board has alpha: {records:?}");
    if std::env::var_os("KAOS_IO_SHOT").is_none() {
        let _ = std::fs::remove_file(&shot);
    }
}

const FIREFOX: &str = "/usr/bin/firefox-esr";

#[test]
fn two_players_see_each_other_move_in_firefox() {
    let Some(puppeteer) =
        ready("puppeteer-core/lib/esm/puppeteer/puppeteer-core.js", FIREFOX, &["KAOS_REQUIRE_FIREFOX"])
    else {
        return;
    };
    let game = kaos_io::serve(&common::config(), 0).unwrap();
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/firefox.mjs"))
        .env("KAOS_IO_URL", format!("http://{}", game.web_addr))
        .env("KAOS_PUPPETEER", &puppeteer)
        .output()
        .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    game.stop().unwrap();
    assert!(out.status.success() && report.contains("kaos-io firefox: passed"), "{report}");
}
