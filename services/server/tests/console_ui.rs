//! The console UI, embedded in kaos-server, driven in Debian's Chromium by playwright-core
//! (`tests/e2e/console-ui.mjs`) against this server with sample data: players (one whose
//! username is HTML), storage, a leaderboard and a tournament, chat, a group,
//! notifications, a match, a matchmaker ticket, a Lua module, and a readonly console user.

mod common;

use std::path::Path;
use std::process::Command;

use common::console::{login, ADMIN_PASSWORD};
use common::{bearer, call_at};
use kaos_server::config::Config;
use kaosnet::leaderboards::{Submission, TournamentConfig, TournamentRules};
use kaosnet::{DeviceAuthRequest, KaosNet, LeaderboardConfig};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const XSS: &str = "<img/src=x/onerror=window.__pwned=1>";

/// The node modules and browser the run needs, or why it is skipped.
fn ready() -> Option<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if node && !dir.join("node_modules/playwright-core").exists() {
        let _ = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).status();
    }
    if !node || !dir.join("node_modules/playwright-core").exists() {
        assert!(
            std::env::var_os("KAOS_REQUIRE_NODE").is_none(),
            "node or playwright-core is missing in {}",
            dir.display()
        );
        eprintln!("skipped: node or playwright-core is missing (npm ci in {})", dir.display());
        return None;
    }
    if !Path::new(CHROMIUM).exists() {
        assert!(std::env::var_os("KAOS_REQUIRE_BROWSER").is_none(), "{CHROMIUM} is missing");
        eprintln!("skipped: {CHROMIUM} is missing (apt-get install chromium)");
        return None;
    }
    Some(dir)
}

fn player(kaos: &KaosNet, device: &str, name: &str) -> kaosnet::AuthResponse {
    let request = DeviceAuthRequest { device_id: device.into(), create: true, username: Some(name.into()) };
    kaos.accounts().authenticate_device(request).unwrap()
}

/// What an operator finds on every page.
fn sample_data(kaos: &std::sync::Arc<KaosNet>) -> kaosnet::AuthResponse {
    let marked = player(kaos, "ui-device-xss", XSS);
    let alice = player(kaos, "ui-device-alice", "alice");
    let bob = player(kaos, "ui-device-bob", "bob");
    let wallet = [("gold".to_string(), 120)].into();
    kaos.accounts().update_wallet(&marked.user_id, &wallet, &Value::Null, true).unwrap();
    let storage = kaos.storage();
    storage.set(&marked.user_id, "saves", "slot1", json!({"level": 3})).unwrap();
    storage.set(&alice.user_id, "saves", "slot1", json!({"level": 9, "note": XSS})).unwrap();
    storage.set(&alice.user_id, "inventory", "main", json!({"items": ["sword"]})).unwrap();
    let boards = kaos.leaderboards();
    boards.create(LeaderboardConfig { id: "weekly".into(), ..LeaderboardConfig::default() }).unwrap();
    for (who, score) in [(&marked, 30), (&alice, 50), (&bob, 40)] {
        let s = Submission { score, ..Submission::default() };
        boards.submit("weekly", &who.user_id, "", s).unwrap();
    }
    let cup = TournamentConfig {
        board: LeaderboardConfig { id: "cup".into(), ..LeaderboardConfig::default() },
        rules: TournamentRules { title: "Weekend cup".into(), duration: 3600, ..TournamentRules::default() },
    };
    boards.create_tournament(cup).unwrap();
    for text in ["hello", XSS] {
        let content = json!({ "text": text }).to_string();
        kaos.chat().send_as_server("2...lobby", &content, Some(&alice.user_id), "alice", true).unwrap();
    }
    let spec = kaosnet::groups::GroupSpec { name: "guild".into(), open: true, ..Default::default() };
    let group = kaos.groups().create(&alice.user_id, spec).unwrap();
    kaos.groups().join(&bob.user_id, &group.id).unwrap();
    kaos.friends().add(&alice.user_id, std::slice::from_ref(&bob.user_id), &[]).unwrap();
    let note = kaosnet::notifications::Outgoing {
        user_id: alice.user_id.clone(),
        subject: "welcome".into(),
        content: json!({"msg": XSS}),
        code: 5,
        sender_id: None,
        persistent: true,
    };
    kaos.notifications().send(note).unwrap();
    kaos.matches().create(kaos, "console_room", &Value::Null).unwrap();
    kaos.matchmaker().add(kaosnet::MatchmakerTicket::new(&bob.user_id, "*")).unwrap();
    marked
}

#[test]
fn the_console_ui_works_in_chromium_against_a_real_server() {
    let Some(dir) = ready() else { return };
    let modules = std::env::temp_dir().join(format!("kaos-console-ui-modules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&modules);
    std::fs::create_dir_all(&modules).unwrap();
    let module = r#"require("nakama").register_rpc(function(context, payload) return payload end, "echo")"#;
    std::fs::write(modules.join("echo.lua"), module).unwrap();
    let config = Config {
        runtime: kaos_lua::RuntimeConfig { path: modules.clone(), ..kaos_lua::RuntimeConfig::default() },
        ..common::console::config()
    };
    let server = kaos_server::start(&config, |kaos| {
        kaos.matches().register("console_room", || Box::new(common::console::Room));
    })
    .unwrap();
    let console = server.console_addr.unwrap();
    let marked = sample_data(&server.kaos);
    let admin = bearer(&login(console, "admin", ADMIN_PASSWORD).1["token"]);
    let viewer = json!({"username": "viewer", "password": "viewer-password", "role": "readonly"}).to_string();
    assert_eq!(call_at(console, "POST", "/v2/console/user", &admin, &viewer).0, 200);

    // KAOS_CONSOLE_SHOTS keeps the screenshots there (docs/console-*.png come from it).
    let keep = std::env::var_os("KAOS_CONSOLE_SHOTS").map(std::path::PathBuf::from);
    let shots = keep
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("kaos-console-ui-shots-{}", std::process::id())));
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg("console-ui.mjs")
        .current_dir(&dir)
        .env("KAOS_CONSOLE", format!("http://{console}"))
        .env("KAOS_API", server.addr.to_string())
        .env("KAOS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("KAOS_PLAYER_ID", &marked.user_id)
        .env("KAOS_PLAYER_TOKEN", &marked.token)
        .env("KAOS_SHOTS", &shots)
        .output()
        .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    server.shutdown();
    server.wait().unwrap();
    std::fs::remove_dir_all(&modules).unwrap();
    assert!(out.status.success() && report.contains("console-ui: passed"), "{report}");
    for shot in ["dashboard.png", "players.png"] {
        assert!(shots.join(shot).metadata().is_ok_and(|m| m.len() > 10_000), "{shot} was written");
    }
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&shots);
    }
}

#[test]
fn the_console_port_serves_the_ui_with_a_strict_content_policy() {
    let server = common::console::serve();
    let console = server.console_addr.unwrap();
    let raw = |path: &str| {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(console).unwrap();
        write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        c.read_to_string(&mut text).unwrap();
        text
    };
    let index = raw("/");
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    assert!(index.contains("Content-Security-Policy: default-src 'self'; script-src 'self'"), "{index}");
    let script = index.split("src=\"/assets/").nth(1).and_then(|s| s.split('"').next()).unwrap().to_string();
    let asset = raw(&format!("/assets/{script}"));
    assert!(asset.starts_with("HTTP/1.1 200") && asset.contains("text/javascript"), "{}", &asset[..200]);
    assert!(asset.contains("immutable"));
    assert!(raw("/assets/nope.js").starts_with("HTTP/1.1 404"));
    assert!(raw("/assets/..%2F..%2FCargo.toml").starts_with("HTTP/1.1 404"));
    server.shutdown();
    server.wait().unwrap();
}
