//! kaos-server as a process on a free loopback port, driven over REST the way Nakama's
//! client SDKs call it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;

mod common;
use common::{basic, bearer, call_at};
use serde_json::{json, Value};

struct Server {
    child: Child,
    addr: SocketAddr,
    rudp: Option<SocketAddr>,
    console: Option<SocketAddr>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The console's `admin` password in these tests.
const ADMIN_PASSWORD: &str = "admin-password-for-tests";

fn start(extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kaos-server"))
        .args([
            "--address",
            "127.0.0.1",
            "--port",
            "0",
            "--rudp-port",
            "0",
            "--console-port",
            "0",
            "--database",
            "memory",
        ])
        .args(extra)
        .env("KAOS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let url = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).expect(&line);
    let rudp = line.split("udp://").nth(1).and_then(|r| r.split(';').next()).map(|a| a.trim().parse().unwrap());
    let console = line.split("http://").nth(2).and_then(|r| r.split_whitespace().next()).map(|a| a.parse().unwrap());
    Server { child, addr: url.parse().unwrap(), rudp, console }
}

/// One request on its own connection: (status, JSON body).
fn call(s: &Server, method: &str, path: &str, auth: &str, body: &str) -> (u16, Value) {
    call_at(s.addr, method, path, auth, body)
}

/// Decodes a JWT's claims, as client SDKs do.
fn claims(token: &Value) -> Value {
    let payload = token.as_str().unwrap().split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn device_session(s: &Server, id: &str, username: &str) -> Value {
    let (status, body) = call(
        s,
        "POST",
        &format!("/v2/account/authenticate/device?create=true&username={username}"),
        &basic("defaultkey"),
        &json!({"id": id}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn authenticate_account_refresh_and_logout() {
    let s = start(&[]);
    assert_eq!(call(&s, "GET", "/healthcheck", "", "").0, 200);
    let session = device_session(&s, "device-00000001", "alice");
    assert_eq!(session["created"], true);
    let c = claims(&session["token"]);
    assert_eq!(c["usn"], "alice");
    assert!(c["uid"].is_string() && c["tid"].is_string() && c["exp"].is_i64());
    assert!(claims(&session["refresh_token"])["exp"].as_i64() > c["exp"].as_i64());
    // Again: the same account, not created.
    let again = device_session(&s, "device-00000001", "ignored");
    assert_eq!((again["created"].clone(), claims(&again["token"])["uid"].clone()), (json!(false), c["uid"].clone()));

    let (status, account) = call(&s, "GET", "/v2/account", &bearer(&session["token"]), "");
    assert_eq!(status, 200);
    assert_eq!(account["user"]["username"], "alice");
    assert_eq!(account["devices"], json!([{"id": "device-00000001"}]));
    let update = json!({"display_name": "Alice A.", "location": "Berlin"}).to_string();
    assert_eq!(call(&s, "PUT", "/v2/account", &bearer(&session["token"]), &update).0, 200);
    let (_, users) = call(&s, "GET", "/v2/user?usernames=alice&ids=nobody", &bearer(&session["token"]), "");
    assert_eq!(users["users"][0]["display_name"], "Alice A.");
    assert_eq!(users["users"].as_array().unwrap().len(), 1);

    let refreshed = call(
        &s,
        "POST",
        "/v2/account/session/refresh",
        &basic("defaultkey"),
        &json!({"token": session["refresh_token"]}).to_string(),
    );
    assert_eq!(refreshed.0, 200, "{}", refreshed.1);
    let fresh = refreshed.1;
    let logout = json!({"token": fresh["token"], "refresh_token": fresh["refresh_token"]}).to_string();
    assert_eq!(call(&s, "POST", "/v2/session/logout", &bearer(&fresh["token"]), &logout).0, 200);
    let (status, err) = call(&s, "GET", "/v2/account", &bearer(&fresh["token"]), "");
    assert_eq!((status, err["code"].clone()), (401, json!(16)));
    let again = call(
        &s,
        "POST",
        "/v2/account/session/refresh",
        &basic("defaultkey"),
        &json!({"token": fresh["refresh_token"]}).to_string(),
    );
    assert_eq!(again.0, 401);
    // The first session was not logged out.
    assert_eq!(call(&s, "GET", "/v2/account", &bearer(&session["token"]), "").0, 200);
}

#[test]
fn bad_requests_get_nakama_shaped_errors() {
    let s = start(&["--server-key", "sekrit"]);
    let path = "/v2/account/authenticate/custom";
    let (status, err) = call(&s, "POST", path, &basic("defaultkey"), r#"{"id":"custom-1"}"#);
    assert_eq!((status, err["code"].clone()), (401, json!(16)));
    assert_eq!(call(&s, "POST", path, "", r#"{"id":"custom-1"}"#).0, 401);
    for (body, why) in
        [("{not json", "malformed JSON"), (r#"{"id": 5}"#, "a wrong type"), (r#"{"id":"abc"}"#, "a short id")]
    {
        let (status, err) = call(&s, "POST", path, &basic("sekrit"), body);
        assert_eq!((status, err["code"].clone()), (400, json!(3)), "{why}: {err}");
        assert!(err["message"].is_string());
    }
    let (status, err) = call(&s, "POST", &format!("{path}?create=false"), &basic("sekrit"), r#"{"id":"custom-1"}"#);
    assert_eq!((status, err["code"].clone()), (404, json!(5)));
    let (status, err) = call(&s, "GET", "/v2/account", "Bearer not.a.token", "");
    assert_eq!((status, err["code"].clone()), (401, json!(16)));
    // The HTTP layer's own errors are Nakama-shaped too.
    let (status, err) = call(&s, "GET", "/v2/no/such/route", "", "");
    assert_eq!((status, err["code"].clone()), (404, json!(5)));
    let huge = format!("{{\"id\":\"{}\"}}", "x".repeat(5 << 20));
    let (status, err) = call(&s, "POST", path, &basic("sekrit"), &huge);
    assert_eq!((status, err["code"].clone()), (413, json!(3)));
    // Email: a wrong password is 401, a taken username 409.
    let email = "/v2/account/authenticate/email?username=player1";
    let creds = r#"{"email":"player@example.com","password":"password123"}"#;
    assert_eq!(call(&s, "POST", email, &basic("sekrit"), creds).0, 200);
    let wrong = r#"{"email":"player@example.com","password":"password124"}"#;
    assert_eq!(call(&s, "POST", email, &basic("sekrit"), wrong).0, 401);
    let other = r#"{"email":"other@example.com","password":"password123"}"#;
    let (status, err) = call(&s, "POST", email, &basic("sekrit"), other);
    assert_eq!((status, err["code"].clone()), (409, json!(6)));
}

#[test]
fn storage_versions_permissions_and_listing() {
    let s = start(&[]);
    let alice = device_session(&s, "device-alice-01", "alice");
    let bob = device_session(&s, "device-bob-0001", "bob");
    let alice_id = claims(&alice["token"])["uid"].as_str().unwrap().to_string();
    let (a, b) = (bearer(&alice["token"]), bearer(&bob["token"]));
    let write =
        |auth: &str, objects: Value| call(&s, "PUT", "/v2/storage", auth, &json!({"objects": objects}).to_string());

    let (status, acks) = write(
        &a,
        json!([
            {"collection": "saves", "key": "slot1", "value": "{\"hp\":10}", "version": "*"},
            {"collection": "cards", "key": "deck", "value": "{\"cards\":[1,2]}", "permission_read": 2},
        ]),
    );
    assert_eq!(status, 200, "{acks}");
    let v1 = acks["acks"][0]["version"].clone();
    assert_eq!(acks["acks"][0]["user_id"], alice_id.as_str());
    // `*` on an existing object, a stale version: 400 and nothing written, even the
    // valid write in the same batch.
    let (status, err) = write(&a, json!([{"collection": "saves", "key": "slot1", "value": "{}", "version": "*"}]));
    assert_eq!((status, err["code"].clone()), (400, json!(3)));
    let (status, _) = write(
        &a,
        json!([
            {"collection": "saves", "key": "slot2", "value": "{}"},
            {"collection": "saves", "key": "slot1", "value": "{}", "version": "stale"},
        ]),
    );
    assert_eq!(status, 400);
    let read = |auth: &str, ids: Value| call(&s, "POST", "/v2/storage", auth, &json!({"object_ids": ids}).to_string());
    let (_, got) = read(&a, json!([{"collection": "saves", "key": "slot2", "user_id": alice_id}]));
    assert_eq!(got.get("objects"), None, "an empty list is left out: {got}");
    let (status, _) = write(&a, json!([{"collection": "saves", "key": "slot1", "value": "{\"hp\":9}", "version": v1}]));
    assert_eq!(status, 200);
    // Bob reads Alice's public deck but not her owner-only save.
    let ids = json!([
        {"collection": "saves", "key": "slot1", "user_id": alice_id},
        {"collection": "cards", "key": "deck", "user_id": alice_id},
    ]);
    let (_, got) = read(&b, ids.clone());
    assert_eq!(got["objects"].as_array().unwrap().len(), 1);
    assert_eq!(got["objects"][0]["key"], "deck");
    let (_, mine) = read(&a, ids);
    assert_eq!(mine["objects"][0]["value"], "{\"hp\":9}");
    // Values must be JSON objects; permissions in range.
    assert_eq!(write(&a, json!([{"collection": "c", "key": "k", "value": "[1]"}])).0, 400);
    assert_eq!(write(&a, json!([{"collection": "c", "key": "k", "value": "{}", "permission_read": 3}])).0, 400);
    // Listing with a cursor.
    let many: Vec<Value> = (0..7)
        .map(|i| json!({"collection": "items", "key": format!("i{i}"), "value": "{}", "permission_read": 2}))
        .collect();
    assert_eq!(write(&a, Value::Array(many)).0, 200);
    let mut keys = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/v2/storage/items/{alice_id}?limit=3&cursor={cursor}");
        let (status, page) = call(&s, "GET", &path, &b, "");
        assert_eq!(status, 200, "{page}");
        keys.extend(page["objects"].as_array().unwrap().iter().map(|o| o["key"].as_str().unwrap().to_string()));
        match page["cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(keys, (0..7).map(|i| format!("i{i}")).collect::<Vec<_>>());
    // Delete with a wrong version fails; with none it succeeds.
    let delete = |ids: Value| call(&s, "PUT", "/v2/storage/delete", &a, &json!({"object_ids": ids}).to_string());
    assert_eq!(delete(json!([{"collection": "saves", "key": "slot1", "version": "nope"}])).0, 400);
    assert_eq!(delete(json!([{"collection": "saves", "key": "slot1"}])).0, 200);
    let (_, gone) = read(&a, json!([{"collection": "saves", "key": "slot1", "user_id": alice_id}]));
    assert_eq!(gone.get("objects"), None);
}

/// The next message on the RUDP socket, as JSON, or the close code once disconnected.
fn rudp_next(c: &mut kaos_rudp::RudpTransport) -> Result<Value, u16> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        c.poll(Some(Duration::from_millis(20))).unwrap();
        let mut got = None;
        let _ = c.receive_messages(|_, m| got = got.take().or_else(|| serde_json::from_slice(m).ok()));
        if let Some(v) = got {
            return Ok(v);
        }
        if let Some(kaos_rudp::DisconnectReason::Remote(code)) = c.disconnect_reason() {
            return Err(code);
        }
    }
    panic!("nothing on the RUDP socket in 10 s")
}

#[test]
fn the_realtime_sockets_answer_and_stop_on_sigterm() {
    use kaos_rudp::Transport;
    let mut s = start(&[]);
    let session = device_session(&s, "device-socket-001", "sockuser");
    let mut udp = kaos_rudp::RudpTransport::new("127.0.0.1:0".parse().unwrap(), s.rudp.unwrap(), 256).unwrap();
    assert!(udp.wait_connected(Duration::from_secs(5)).unwrap());
    udp.send(json!({"token": session["token"]}).to_string().as_bytes()).unwrap();
    assert_eq!(rudp_next(&mut udp).unwrap()["connected"]["username"], "sockuser");
    udp.send(br#"{"cid":"8","ping":{}}"#).unwrap();
    assert_eq!(rudp_next(&mut udp), Ok(json!({"cid": "8", "pong": {}})));
    let url = format!("ws://{}/ws?token={}&format=json", s.addr, session["token"].as_str().unwrap());
    let (mut ws, _) = tungstenite::connect(url).unwrap();
    ws.send(tungstenite::Message::text(r#"{"cid":"7","ping":{}}"#)).unwrap();
    let reply = loop {
        if let tungstenite::Message::Text(t) = ws.read().unwrap() {
            break t.to_string();
        }
    };
    assert_eq!(serde_json::from_str::<Value>(&reply).unwrap(), json!({"cid": "7", "pong": {}}));
    // The console's metrics count the calls and both sessions.
    let mut console = TcpStream::connect(s.console.unwrap()).unwrap();
    console.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut metrics = String::new();
    console.read_to_string(&mut metrics).unwrap();
    for line in [
        "kaos_api_requests_total{operation=\"authenticate_device\",result=\"ok\"} 1",
        "kaos_sessions{transport=\"rudp\"} 1",
        "kaos_socket_messages_total{kind=\"ping\",result=\"ok\"} 2",
        "kaos_sessions{transport=\"websocket\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} missing from:\n{metrics}");
    }
    // SIGTERM: the socket gets 1001 and the process exits cleanly.
    let pid = s.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let code = loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(f)) => break f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(code, Some(1001));
    assert_eq!(rudp_next(&mut udp), Err(1001));
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// A socket's next text frame, as JSON.
fn ws_next(ws: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>) -> Value {
    loop {
        if let tungstenite::Message::Text(t) = ws.read().unwrap() {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[test]
fn lua_modules_reload_on_sighup_while_a_socket_stays_connected() {
    let dir = std::env::temp_dir().join(format!("kaos-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let module =
        |answer: &str| format!(r#"require("nakama").register_rpc(function() return "{answer}" end, "version")"#);
    std::fs::write(dir.join("v.lua"), module("one")).unwrap();
    let s = start(&["--runtime-path", dir.to_str().unwrap()]);
    let session = device_session(&s, "device-reload-01", "reloader");
    let url = format!("ws://{}/ws?token={}&format=json", s.addr, session["token"].as_str().unwrap());
    let (mut ws, _) = tungstenite::connect(url).unwrap();
    let ask = |ws: &mut _, cid: usize| {
        let rpc = json!({"cid": cid.to_string(), "rpc": {"id": "version"}}).to_string();
        tungstenite::WebSocket::send(ws, tungstenite::Message::text(rpc)).unwrap();
        ws_next(ws)["rpc"]["payload"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(ask(&mut ws, 1), "one");
    std::fs::write(dir.join("v.lua"), module("two")).unwrap();
    let pid = s.child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    // The reload happens within the server's next turns; the same socket sees it.
    let mut cid = 2;
    while ask(&mut ws, cid) != "two" {
        cid += 1;
        assert!(cid < 10_000, "the reload never showed");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The console's trigger does the same, for a console user who may reload.
    std::fs::write(dir.join("v.lua"), module("three")).unwrap();
    let console = s.console.unwrap();
    let (status, _) = call_at(console, "POST", "/v2/console/runtime/reload", "", "");
    assert_eq!(status, 401);
    let (status, _) = call_at(console, "POST", "/v2/console/runtime/reload", &bearer(&session["token"]), "");
    assert_eq!(status, 401, "a player's session is no console credential");
    assert_eq!(ask(&mut ws, cid + 1), "two");
    let login = json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string();
    let (status, body) = call_at(console, "POST", "/v2/console/authenticate", "", &login);
    assert_eq!(status, 200, "{body}");
    let admin = bearer(&body["token"]);
    let (status, body) = call_at(console, "POST", "/v2/console/runtime/reload", &admin, "");
    assert_eq!((status, &body["rpcs"]), (200, &json!(["version"])), "{body}");
    assert_eq!(ask(&mut ws, cid + 2), "three");
    // A broken module is refused, says why, and the last good one goes on.
    std::fs::write(dir.join("v.lua"), "not Lua at all").unwrap();
    let (status, body) = call_at(console, "POST", "/v2/console/runtime/reload", &admin, "");
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("v.lua:1"), "{body}");
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    assert_eq!(ask(&mut ws, cid + 3), "three");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_module_that_fails_to_load_stops_the_start_naming_it() {
    let dir = std::env::temp_dir().join(format!("kaos-badmodule-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("broken.lua"), "local x = {}\nx.y.z = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kaos-server"))
        .args(["--address", "127.0.0.1", "--port", "0", "--rudp-port", "off", "--console-port", "off"])
        .args(["--database", "memory", "--runtime-path", dir.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Lua module 'broken' failed to load") && stderr.contains("broken.lua:2"), "{stderr}");
}
