//! The console's admin API on its own port: sign-in, roles, API keys, and credentials
//! that must not work (a player's session, forged, logged out, revoked).

mod common;

use common::console::{login, serve, team, ADMIN_PASSWORD};
use common::{basic, bearer, call_at};
use kaos_server::config::{Config, Database};
use serde_json::{json, Value};

#[test]
fn each_role_gets_exactly_its_endpoints() {
    let server = serve();
    let console = server.console_addr.unwrap();
    let (status, body) = login(console, "admin", ADMIN_PASSWORD);
    assert_eq!(status, 200, "{body}");
    let admin = bearer(&body["token"]);
    let (dev, viewer) = team(console, &admin, "dev", "viewer");
    let key_body = json!({"name": "ci", "role": "developer"}).to_string();
    let (status, made) = call_at(console, "POST", "/v2/console/api_key", &admin, &key_body);
    assert_eq!(status, 200, "{made}");
    let key = format!("Bearer {}", made["key"].as_str().unwrap());

    // Every guarded route, with the least role that may call it (A admin, D developer,
    // R readonly). The server's own list must be exactly this, so a new route cannot go
    // untested.
    let expected: &[(&str, &str, char)] = &[
        ("GET", "/v2/console/status", 'R'),
        ("GET", "/v2/console/route", 'R'),
        ("GET", "/v2/console/user", 'A'),
        ("POST", "/v2/console/user", 'A'),
        ("PUT", "/v2/console/user/{username}", 'A'),
        ("DELETE", "/v2/console/user/{username}", 'A'),
        ("GET", "/v2/console/api_key", 'A'),
        ("POST", "/v2/console/api_key", 'A'),
        ("DELETE", "/v2/console/api_key/{id}", 'A'),
        ("GET", "/v2/console/session", 'R'),
        ("DELETE", "/v2/console/session/{id}", 'D'),
        ("GET", "/v2/console/account", 'R'),
        ("GET", "/v2/console/account/{id}", 'R'),
        ("PUT", "/v2/console/account/{id}", 'D'),
        ("DELETE", "/v2/console/account/{id}", 'D'),
        ("POST", "/v2/console/account/{id}/ban", 'D'),
        ("POST", "/v2/console/account/{id}/unban", 'D'),
        ("GET", "/v2/console/account/{id}/export", 'R'),
        ("GET", "/v2/console/account/{id}/friend", 'R'),
        ("DELETE", "/v2/console/account/{id}/friend/{friend_id}", 'D'),
        ("GET", "/v2/console/account/{id}/group", 'R'),
        ("GET", "/v2/console/match", 'R'),
        ("GET", "/v2/console/match/{id}/state", 'R'),
        ("POST", "/v2/console/match/{id}/signal", 'D'),
        ("DELETE", "/v2/console/match/{id}", 'D'),
        ("GET", "/v2/console/storage/collection", 'R'),
        ("GET", "/v2/console/storage", 'R'),
        ("GET", "/v2/console/storage/{collection}/{key}/{user_id}", 'R'),
        ("PUT", "/v2/console/storage/{collection}/{key}/{user_id}", 'D'),
        ("DELETE", "/v2/console/storage/{collection}/{key}/{user_id}", 'D'),
        ("GET", "/v2/console/leaderboard", 'R'),
        ("GET", "/v2/console/leaderboard/{id}/record", 'R'),
        ("DELETE", "/v2/console/leaderboard/{id}/record/{owner_id}", 'D'),
        ("POST", "/v2/console/leaderboard/{id}/reset", 'D'),
        ("DELETE", "/v2/console/leaderboard/{id}", 'D'),
        ("GET", "/v2/console/channel", 'R'),
        ("GET", "/v2/console/channel/{channel_id}/message", 'R'),
        ("DELETE", "/v2/console/channel/{channel_id}/message/{message_id}", 'D'),
        ("GET", "/v2/console/notification", 'R'),
        ("POST", "/v2/console/notification", 'D'),
        ("DELETE", "/v2/console/notification/{user_id}/{id}", 'D'),
        ("GET", "/v2/console/group", 'R'),
        ("GET", "/v2/console/group/{id}/member", 'R'),
        ("POST", "/v2/console/group/{id}/{op}", 'D'),
        ("DELETE", "/v2/console/group/{id}", 'D'),
        ("GET", "/v2/console/matchmaker", 'R'),
        ("GET", "/v2/console/runtime", 'R'),
        ("POST", "/v2/console/runtime/reload", 'D'),
        ("POST", "/v2/console/runtime/rpc/{id}", 'D'),
        ("POST", "/v2/console/runtime/execute", 'D'),
    ];
    let (status, listed) = call_at(console, "GET", "/v2/console/route", &viewer, "");
    assert_eq!(status, 200, "{listed}");
    let mut served: Vec<(String, String)> = listed["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["method"].as_str().unwrap().to_string(), r["path"].as_str().unwrap().to_string()))
        .collect();
    let mut wanted: Vec<(String, String)> = expected.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    served.sort();
    wanted.sort();
    assert_eq!(served, wanted, "the console's routes and this table differ");
    // Each route with made-up ids and no body: a role allowed gets past the guard (a 404
    // or 400 about the ids or the body), a role below gets 403, no credentials 401.
    let dummy = "00000000-0000-4000-8000-00000000dead";
    for (method, pattern, least) in expected {
        let path: String =
            pattern.split('/').map(|seg| if seg.starts_with('{') { dummy } else { seg }).collect::<Vec<_>>().join("/");
        let rank = |c: char| "RDA".find(c).unwrap();
        for (who, auth, role) in
            [("admin", &admin, 'A'), ("developer", &dev, 'D'), ("readonly", &viewer, 'R'), ("key", &key, 'D')]
        {
            let (status, answer) = call_at(console, method, &path, auth, "");
            if rank(role) >= rank(*least) {
                assert!(status != 401 && status != 403, "{who} {method} {path}: {status} {answer}, expected allowed");
            } else {
                assert_eq!(status, 403, "{who} {method} {path}: {answer}");
                assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
            }
        }
        assert_eq!(call_at(console, method, &path, "", "").0, 401, "{method} {path} without credentials");
    }
    // A body that works, for the routes that take one.
    let user = r#"{"username":"x","password":"long-enough-pw","role":"readonly"}"#;
    assert_eq!(call_at(console, "POST", "/v2/console/user", &admin, user).0, 200);
    assert_eq!(call_at(console, "POST", "/v2/console/user", &admin, user).0, 409);

    // Listings never carry password hashes or key secrets.
    let (_, users) = call_at(console, "GET", "/v2/console/user", &admin, "");
    assert!(!users.to_string().contains("argon2") && users["users"].as_array().unwrap().len() >= 3, "{users}");
    let (_, keys) = call_at(console, "GET", "/v2/console/api_key", &admin, "");
    let secret = made["key"].as_str().unwrap().rsplit('_').next().unwrap();
    assert!(!keys.to_string().contains(secret), "{keys}");

    // A revoked key stops at once; a deleted user's token too; a logged-out token too.
    let id = made["id"].as_str().unwrap();
    assert_eq!(call_at(console, "DELETE", &format!("/v2/console/api_key/{id}"), &admin, "").0, 200);
    let (status, why) = call_at(console, "GET", "/v2/console/status", &key, "");
    assert_eq!((status, why["message"].as_str().unwrap()), (401, "API key revoked."));
    assert_eq!(call_at(console, "DELETE", "/v2/console/user/viewer", &admin, "").0, 200);
    assert_eq!(call_at(console, "GET", "/v2/console/status", &viewer, "").0, 401);
    assert_eq!(call_at(console, "POST", "/v2/console/authenticate/logout", &dev, "").0, 200);
    assert_eq!(call_at(console, "GET", "/v2/console/status", &dev, "").0, 401);
    server.shutdown();
    server.wait().unwrap();
}

#[test]
fn foreign_and_forged_credentials_and_wrong_passwords_are_refused() {
    let server = serve();
    let console = server.console_addr.unwrap();
    // A player's session token is no console token.
    let player = server
        .kaos
        .accounts()
        .authenticate_device(kaosnet::DeviceAuthRequest {
            device_id: "console-test-device".into(),
            create: true,
            username: None,
        })
        .unwrap();
    let (status, _) = call_at(console, "GET", "/v2/console/status", &format!("Bearer {}", player.token), "");
    assert_eq!(status, 401);
    // Nor is a console token signed with another key, or a made-up API key.
    let forged = kaosnet::session::sign_hs256(
        &json!({"usn": "admin", "rol": "admin", "tid": "t", "exp": 4_000_000_000i64, "typ": "console"}),
        b"not the console's key",
    )
    .unwrap();
    assert_eq!(call_at(console, "GET", "/v2/console/status", &format!("Bearer {forged}"), "").0, 401);
    assert_eq!(call_at(console, "GET", "/v2/console/status", "Bearer kaoskey_abc_def", "").0, 401);
    // And a console token is no player session on the client port.
    let admin = login(console, "admin", ADMIN_PASSWORD).1["token"].as_str().unwrap().to_string();
    let (status, _) = call_at(server.addr, "GET", "/v2/account", &format!("Bearer {admin}"), "");
    assert_eq!(status, 401);
    // Wrong passwords are refused alike; after five free failures the account is locked
    // for a while that doubles with each failure after a lock (1 s, 2 s, 4 s…), so however
    // slowly this machine checks passwords, the lock soon outlasts a try.
    let mut statuses = Vec::new();
    while statuses.last() != Some(&429) {
        assert!(statuses.len() < 40, "never locked: {statuses:?}");
        statuses.push(login(console, "admin", "wrong-password").0);
    }
    assert!(statuses[..statuses.len() - 1].iter().all(|s| *s == 401) && statuses.len() > 5, "{statuses:?}");
    assert_eq!(login(console, "admin", ADMIN_PASSWORD).0, 429, "locked even for the right password");
    assert_eq!(login(console, "nobody", "whatever-pw").0, 401);
    server.shutdown();
    server.wait().unwrap();
}

#[test]
fn the_first_start_makes_admin_with_a_strong_password_kept_in_the_data_directory() {
    let dir = std::env::temp_dir().join(format!("kaos-console-first-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config {
        address: "127.0.0.1".into(),
        port: 0,
        rudp_port: None,
        console_port: Some(0),
        database: Database::Sqlite(dir.join("kaos.db")),
        admin_password: None,
        ..Config::default()
    };
    let server = kaos_server::start(&config, |_| {}).unwrap();
    let kept = dir.join("console-admin-password");
    let password = std::fs::read_to_string(&kept).unwrap().trim().to_string();
    assert!(password.len() >= 24, "a strong password: {password}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let (status, body) = login(server.console_addr.unwrap(), "admin", &password);
    assert_eq!(status, 200, "{body}");
    server.shutdown();
    server.wait().unwrap();
    // A second start keeps admin and its password, and its signing key (tokens stay good).
    std::fs::remove_file(&kept).unwrap();
    let server = kaos_server::start(&config, |_| {}).unwrap();
    assert!(!kept.exists(), "no new password once admin exists");
    let console = server.console_addr.unwrap();
    assert_eq!(call_at(console, "GET", "/v2/console/status", &bearer(&body["token"]), "").0, 200);
    assert_eq!(login(console, "admin", &password).0, 200);
    // A token logged out stays out across a restart.
    assert_eq!(call_at(console, "POST", "/v2/console/authenticate/logout", &bearer(&body["token"]), "").0, 200);
    server.shutdown();
    server.wait().unwrap();
    let server = kaos_server::start(&config, |_| {}).unwrap();
    let (status, why) = call_at(server.console_addr.unwrap(), "GET", "/v2/console/status", &bearer(&body["token"]), "");
    assert_eq!((status, why["message"].as_str()), (401, Some("Console token logged out.")));
    server.shutdown();
    server.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sessions_are_listed_and_kicked_and_players_found_shown_and_deleted() {
    let server = serve();
    let console = server.console_addr.unwrap();
    let admin = bearer(&login(console, "admin", ADMIN_PASSWORD).1["token"]);
    let (dev, viewer) = team(console, &admin, "dev2", "viewer2");
    let kaos = &server.kaos;
    let request = kaosnet::DeviceAuthRequest {
        device_id: "console-player-device".into(),
        create: true,
        username: Some("consoleplayer".into()),
    };
    let player = kaos.accounts().authenticate_device(request).unwrap();
    kaos.accounts().update_wallet(&player.user_id, &[("gold".to_string(), 7)].into(), &Value::Null, false).unwrap();
    kaos.storage().set(&player.user_id, "saves", "slot", json!({"level": 2})).unwrap();
    let url = format!("ws://{}/ws?token={}", server.addr, player.token);
    let (mut ws, _) = tungstenite::connect(url).unwrap();

    // Readonly sees the session and the player; it may not kick or delete.
    let listed = loop {
        let (status, body) =
            call_at(console, "GET", &format!("/v2/console/session?user_id={}", player.user_id), &viewer, "");
        assert_eq!(status, 200);
        if !body["sessions"].as_array().unwrap().is_empty() {
            break body;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let session = listed["sessions"][0]["session_id"].as_str().unwrap().to_string();
    assert_eq!(listed["sessions"][0]["transport"], "websocket");
    let by = |transport: &str| {
        let q = format!("/v2/console/session?user_id={}&transport={transport}", player.user_id);
        call_at(console, "GET", &q, &viewer, "")
    };
    assert_eq!(by("websocket").1["sessions"].as_array().unwrap().len(), 1);
    assert!(by("rudp").1["sessions"].as_array().unwrap().is_empty());
    assert_eq!(by("carrier-pigeon").0, 400);
    for q in ["consoleplayer", "console-player-device", player.user_id.as_str()] {
        let (status, found) = call_at(console, "GET", &format!("/v2/console/account?q={q}"), &viewer, "");
        assert_eq!((status, found["accounts"].as_array().unwrap().len()), (200, 1), "{q}: {found}");
    }
    let (_, shown) = call_at(console, "GET", &format!("/v2/console/account/{}", player.user_id), &viewer, "");
    assert_eq!(
        (shown["wallet"]["gold"].as_i64(), shown["devices"][0].as_str()),
        (Some(7), Some("console-player-device"))
    );
    assert!(!shown.to_string().contains("password"), "{shown}");
    assert_eq!(call_at(console, "DELETE", &format!("/v2/console/session/{session}"), &viewer, "").0, 403);
    assert_eq!(call_at(console, "DELETE", &format!("/v2/console/account/{}", player.user_id), &viewer, "").0, 403);

    // A developer kicks: the socket closes with 4001.
    assert_eq!(call_at(console, "DELETE", &format!("/v2/console/session/{session}"), &dev, "").0, 200);
    let code = loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(f)) => break f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(code, Some(4001));
    // A ban: the player's socket closes, their token stops, sign-in is refused; an unban
    // lets them back.
    let (mut ws, _) = tungstenite::connect(format!("ws://{}/ws?token={}", server.addr, player.token)).unwrap();
    let id = &player.user_id;
    assert_eq!(call_at(console, "POST", &format!("/v2/console/account/{id}/ban"), &viewer, "").0, 403);
    assert_eq!(call_at(console, "POST", &format!("/v2/console/account/{id}/ban"), &dev, "").0, 200);
    let closed = loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(f)) => break f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(closed, Some(4001));
    assert_eq!(call_at(server.addr, "GET", "/v2/account", &format!("Bearer {}", player.token), "").0, 401);
    let sign_in = json!({"id": "console-player-device"}).to_string();
    let path = "/v2/account/authenticate/device?create=false";
    let (status, why) = call_at(server.addr, "POST", path, &basic("defaultkey"), &sign_in);
    assert_eq!((status, why["message"].as_str()), (403, Some("User account banned.")));
    let (_, shown) = call_at(console, "GET", &format!("/v2/console/account/{id}"), &viewer, "");
    assert_eq!(shown["ban_until"], i64::MAX);
    assert_eq!(call_at(console, "POST", &format!("/v2/console/account/{id}/unban"), &dev, "").0, 200);
    assert_eq!(call_at(server.addr, "POST", path, &basic("defaultkey"), &sign_in).0, 200);
    // And deletes the player with their data.
    assert_eq!(call_at(console, "DELETE", &format!("/v2/console/account/{}", player.user_id), &dev, "").0, 200);
    assert_eq!(call_at(console, "GET", &format!("/v2/console/account/{}", player.user_id), &dev, "").0, 404);
    assert!(kaos.storage().get(&player.user_id, "saves", "slot").unwrap().is_none());
    server.shutdown();
    server.wait().unwrap();
}

#[test]
fn matches_are_listed_signalled_and_terminated_by_role() {
    let server = serve();
    let console = server.console_addr.unwrap();
    let admin = bearer(&login(console, "admin", ADMIN_PASSWORD).1["token"]);
    let (dev, viewer) = team(console, &admin, "dev3", "viewer3");
    let id = server.kaos.matches().create(&server.kaos, "console_room", &Value::Null).unwrap();
    let listing = "/v2/console/match?query=%2Blabel.kind%3Aconsole";
    let (status, listed) = call_at(console, "GET", listing, &viewer, "");
    assert_eq!((status, listed["matches"][0]["match_id"].as_str()), (200, Some(id.as_str())), "{listed}");
    let signal = format!("/v2/console/match/{id}/signal");
    assert_eq!(call_at(console, "POST", &signal, &viewer, r#"{"data":"hi"}"#).0, 403);
    let (status, answer) = call_at(console, "POST", &signal, &dev, r#"{"data":"hi"}"#);
    assert_eq!((status, answer["data"].as_str()), (200, Some("pong:hi")));
    let terminate = format!("/v2/console/match/{id}");
    assert_eq!(call_at(console, "DELETE", &terminate, &viewer, "").0, 403);
    assert_eq!(call_at(console, "DELETE", &terminate, &dev, "").0, 200);
    // The match ends on its own thread, then leaves the listing.
    let mut tries = 0;
    while !call_at(console, "GET", listing, &viewer, "").1["matches"].as_array().unwrap().is_empty() {
        tries += 1;
        assert!(tries < 5_000, "the match never ended");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(call_at(console, "DELETE", "/v2/console/match/nope.kaos", &dev, "").0, 404);
    server.shutdown();
    server.wait().unwrap();
}

#[test]
fn tokens_refresh_and_a_password_change_ends_the_old_ones() {
    let server = serve();
    let console = server.console_addr.unwrap();
    let admin = bearer(&login(console, "admin", ADMIN_PASSWORD).1["token"]);
    let (dev, _) = team(console, &admin, "pwdev", "pwview");

    // A refresh answers a new token and ends the old one.
    let (status, refreshed) = call_at(console, "POST", "/v2/console/authenticate/refresh", &dev, "");
    assert_eq!(status, 200, "{refreshed}");
    let dev2 = bearer(&refreshed["token"]);
    assert_eq!(call_at(console, "GET", "/v2/console/status", &dev, "").0, 401);
    assert_eq!(call_at(console, "GET", "/v2/console/status", &dev2, "").0, 200);
    assert_eq!(call_at(console, "POST", "/v2/console/authenticate/refresh", "", "").0, 401);

    // Changing one's own password needs the current one; tokens from before it stop.
    let (_, second) = login(console, "pwdev", "long-enough-pw");
    let other_device = bearer(&second["token"]);
    // A wrong current password fails the request, not the session (no 401).
    let wrong = r#"{"current":"not-it-at-all","new":"brand-new-password"}"#;
    let (status, why) = call_at(console, "POST", "/v2/console/authenticate/password", &dev2, wrong);
    assert_eq!((status, why["message"].as_str()), (400, Some("The current password is wrong.")));
    assert_eq!(call_at(console, "GET", "/v2/console/status", &dev2, "").0, 200);
    let short = r#"{"current":"long-enough-pw","new":"short"}"#;
    assert_eq!(call_at(console, "POST", "/v2/console/authenticate/password", &dev2, short).0, 400);
    let change = r#"{"current":"long-enough-pw","new":"brand-new-password"}"#;
    let (status, changed) = call_at(console, "POST", "/v2/console/authenticate/password", &dev2, change);
    assert_eq!(status, 200, "{changed}");
    let fresh = bearer(&changed["token"]);
    assert_eq!(call_at(console, "GET", "/v2/console/status", &fresh, "").0, 200);
    for old in [&dev2, &other_device] {
        let (status, why) = call_at(console, "GET", "/v2/console/status", old, "");
        assert_eq!((status, why["message"].as_str()), (401, Some("Console token from before a password change.")));
    }
    assert_eq!(login(console, "pwdev", "long-enough-pw").0, 401);
    assert_eq!(login(console, "pwdev", "brand-new-password").0, 200);

    // An admin changes others' roles and passwords, not their own role.
    let promote = r#"{"role":"admin"}"#;
    assert_eq!(call_at(console, "PUT", "/v2/console/user/pwdev", &fresh, promote).0, 403);
    assert_eq!(call_at(console, "PUT", "/v2/console/user/pwdev", &admin, promote).0, 200);
    assert_eq!(call_at(console, "GET", "/v2/console/user", &fresh, "").0, 200, "now an admin");
    assert_eq!(call_at(console, "PUT", "/v2/console/user/admin", &admin, r#"{"role":"readonly"}"#).0, 400);
    assert_eq!(call_at(console, "PUT", "/v2/console/user/nobody", &admin, promote).0, 404);

    // A user made again under a deleted one's name does not inherit its tokens.
    let (_, before) = login(console, "pwview", "long-enough-pw");
    let old = bearer(&before["token"]);
    assert_eq!(call_at(console, "DELETE", "/v2/console/user/pwview", &admin, "").0, 200);
    let again = r#"{"username":"pwview","password":"another-password","role":"developer"}"#;
    assert_eq!(call_at(console, "POST", "/v2/console/user", &admin, again).0, 200);
    assert_eq!(call_at(console, "GET", "/v2/console/status", &old, "").0, 401);

    // An admin API key cannot take away the last admin; keys have nothing to refresh.
    assert_eq!(call_at(console, "PUT", "/v2/console/user/pwdev", &admin, r#"{"role":"readonly"}"#).0, 200);
    let (_, made) = call_at(console, "POST", "/v2/console/api_key", &admin, r#"{"name":"ops","role":"admin"}"#);
    let key = format!("Bearer {}", made["key"].as_str().unwrap());
    let (status, why) = call_at(console, "PUT", "/v2/console/user/admin", &key, r#"{"role":"readonly"}"#);
    assert_eq!((status, why["message"].as_str()), (400, Some("The last admin stays an admin.")));
    assert_eq!(call_at(console, "DELETE", "/v2/console/user/admin", &key, "").0, 400);
    assert_eq!(call_at(console, "POST", "/v2/console/authenticate/refresh", &key, "").0, 400);
    server.shutdown();
    server.wait().unwrap();
}
