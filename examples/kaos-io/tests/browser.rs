//! Kaos.io end to end in Debian's Chromium (`tests/browser.mjs`, playwright-core from the
//! server's end-to-end suites): two players, movement seen by the other, a score on the
//! leaderboard, a screenshot that is not blank; and in Debian's Firefox ESR
//! (`tests/firefox.mjs`, puppeteer-core over WebDriver BiDi): two players, movement.

mod common;

use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn two_players_see_each_other_move_and_a_score_lands_on_the_leaderboard() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services/server/tests/e2e");
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if node && !e2e.join("node_modules/playwright-core").exists() {
        let _ = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&e2e).status();
    }
    let playwright = e2e.join("node_modules/playwright-core/index.mjs");
    if !node || !playwright.exists() || !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("KAOS_REQUIRE_NODE").is_none() && std::env::var_os("KAOS_REQUIRE_BROWSER").is_none(),
            "node, playwright-core or {CHROMIUM} is missing"
        );
        eprintln!("skipped: node, playwright-core or {CHROMIUM} is missing");
        return;
    }
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
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services/server/tests/e2e");
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if node && !e2e.join("node_modules/puppeteer-core").exists() {
        let _ = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&e2e).status();
    }
    let puppeteer = e2e.join("node_modules/puppeteer-core/lib/esm/puppeteer/puppeteer-core.js");
    if !node || !puppeteer.exists() || !Path::new(FIREFOX).exists() {
        assert!(std::env::var_os("KAOS_REQUIRE_FIREFOX").is_none(), "node, puppeteer-core or {FIREFOX} is missing");
        eprintln!("skipped: node, puppeteer-core or {FIREFOX} is missing (apt-get install firefox-esr)");
        return;
    }
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
