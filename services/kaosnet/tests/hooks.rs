//! Hooks (before: rewrite or refuse; after: observe) and rate limits, over REST and the
//! socket.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{basic, bearer, call, session, start_realtime, start_with};
use kaosnet::hooks::{Limit, OperationRateLimiter, RateLimits};
use kaosnet::realtime::RealtimeConfig;
use kaosnet::session::SessionConfig;
use kaosnet::store::MemoryStore;
use kaosnet::{ApiConfig, ApiError, Code, KaosNet};
use serde_json::{json, Value};

fn kaos(limits: OperationRateLimiter) -> Arc<KaosNet> {
    KaosNet::with_limits(Arc::new(MemoryStore::new()), ApiConfig::default(), SessionConfig::default(), limits)
}

#[test]
fn before_hooks_rewrite_or_refuse_and_after_hooks_observe() {
    let api = start_with(kaos(OperationRateLimiter::new(RateLimits::NONE)));
    api.kaos.hooks().before("authenticate_device", |_, mut body: Value| {
        if body["id"].as_str().is_some_and(|id| id.starts_with("banned")) {
            return Err(ApiError::new(Code::PermissionDenied, "This device is banned."));
        }
        body["vars"] = json!({"stamped": "yes"});
        Ok(body)
    });
    let writes = Arc::new(AtomicUsize::new(0));
    let seen = writes.clone();
    api.kaos.hooks().after("write_storage_objects", move |ctx, _, answer| {
        assert!(ctx.user_id.is_some());
        seen.fetch_add(answer["acks"].as_array().map_or(0, Vec::len), Ordering::SeqCst);
    });
    let s = session(&api, "device-hooks-001", "hooked");
    let claims = api.kaos.accounts().verify(s["token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.vrs.get("stamped").map(String::as_str), Some("yes"));
    let (status, err) = call(
        &api,
        "POST",
        "/v2/account/authenticate/device",
        &basic("defaultkey"),
        &json!({"id": "banned-device-01"}).to_string(),
    );
    assert_eq!((status, err["message"].clone()), (403, json!("This device is banned.")));
    assert!(api.kaos.accounts().store().user(kaosnet::store::UserKey::Device("banned-device-01")).unwrap().is_none());
    let objects = json!({"objects": [{"collection": "c", "key": "a", "value": "{}"}, {"collection": "c", "key": "b", "value": "{}"}]});
    assert_eq!(call(&api, "PUT", "/v2/storage", &bearer(&s["token"]), &objects.to_string()).0, 200);
    assert_eq!(writes.load(Ordering::SeqCst), 2);
    // A panicking hook refuses its call with 500; the server goes on.
    api.kaos.hooks().before("get_account", |_, _| panic!("hook bug"));
    assert_eq!(call(&api, "GET", "/v2/account", &bearer(&s["token"]), "").0, 500);
    assert_eq!(call(&api, "GET", "/v2/user?ids=x", &bearer(&s["token"]), "").0, 200);
}

#[test]
fn floods_get_429_per_operation_while_others_pass() {
    let limits = OperationRateLimiter::new(RateLimits::NONE).with("get_account", Limit { per_second: 0.5, burst: 3.0 });
    let api = start_with(kaos(limits));
    let s = session(&api, "device-limit-001", "limited");
    let auth = bearer(&s["token"]);
    let statuses: Vec<u16> = (0..5).map(|_| call(&api, "GET", "/v2/account", &auth, "").0).collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let (_, err) = call(&api, "GET", "/v2/account", &auth, "");
    assert_eq!(err["code"], 8);
    // Another operation is not limited.
    assert_eq!(call(&api, "GET", "/v2/user?ids=x", &auth, "").0, 200);
    // Another player from the same address has a bucket of their own; a forged token
    // counts as the address, not as the player it names.
    let other = session(&api, "device-limit-002", "limited2");
    assert_eq!(call(&api, "GET", "/v2/account", &bearer(&other["token"]), "").0, 200);
    let forged = format!("{}x", other["token"].as_str().unwrap());
    assert_eq!(call(&api, "GET", "/v2/account", &format!("Bearer {forged}"), "").0, 401);
}

#[test]
fn socket_messages_pass_hooks_and_limits() {
    let limits = OperationRateLimiter::new(RateLimits::NONE).with("ping", Limit { per_second: 0.5, burst: 2.0 });
    let api = start_realtime(kaos(limits), RealtimeConfig::default());
    api.kaos.rpcs().register("echo", |_, p| Ok(p.to_string()));
    api.kaos.hooks().before("rpc", |_, body| {
        if body["id"] == "echo" && body["payload"] == "forbidden" {
            return Err(ApiError::new(Code::PermissionDenied, "not that"));
        }
        Ok(body)
    });
    let s = session(&api, "device-sockhook-1", "sockhook");
    let url = format!("ws://{}/ws?token={}", api.addr, s["token"].as_str().unwrap());
    let (mut ws, _) = tungstenite::connect(url).unwrap();
    let mut ask = |v: Value| {
        ws.send(tungstenite::Message::text(v.to_string())).unwrap();
        loop {
            if let tungstenite::Message::Text(t) = ws.read().unwrap() {
                return serde_json::from_str::<Value>(t.as_str()).unwrap();
            }
        }
    };
    assert_eq!(ask(json!({"cid": "1", "rpc": {"id": "echo", "payload": "ok"}}))["rpc"]["payload"], "ok");
    assert_eq!(ask(json!({"cid": "2", "rpc": {"id": "echo", "payload": "forbidden"}}))["error"]["message"], "not that");
    assert!(ask(json!({"cid": "3", "ping": {}})).get("pong").is_some());
    assert!(ask(json!({"cid": "4", "ping": {}})).get("pong").is_some());
    assert_eq!(ask(json!({"cid": "5", "ping": {}}))["error"]["code"], 3);
    // rpc is not limited.
    assert_eq!(ask(json!({"cid": "6", "rpc": {"id": "echo", "payload": "still"}}))["rpc"]["payload"], "still");
}

#[test]
fn rpc_hooks_run_over_rest_as_over_the_socket() {
    let api = start_with(kaos(OperationRateLimiter::default()));
    api.kaos.rpcs().register("shout", |_, p| Ok(p.to_uppercase()));
    api.kaos.hooks().before("rpc", |ctx, mut request: Value| {
        if request["payload"] == "forbidden" {
            return Err(ApiError::new(Code::PermissionDenied, "Not that."));
        }
        assert_eq!(ctx.operation, "rpc");
        request["payload"] = json!(format!("{}!", request["payload"].as_str().unwrap_or_default()));
        Ok(request)
    });
    let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = answers.clone();
    api.kaos.hooks().after("rpc", move |ctx, request, answer| {
        seen.lock().unwrap().push((ctx.user_id.is_some(), request["id"].clone(), answer["payload"].clone()));
    });
    let s = session(&api, "device-hooks-rpc1", "rpchooked");
    let (status, body) = call(&api, "POST", "/v2/rpc/shout", &bearer(&s["token"]), "\"hey\"");
    assert_eq!((status, &body["payload"]), (200, &json!("HEY!")), "{body}");
    let (status, _) = call(&api, "POST", "/v2/rpc/shout", &bearer(&s["token"]), "\"forbidden\"");
    assert_eq!(status, 403);
    // Server to server, with the http key: no user.
    let (status, body) = call(&api, "POST", "/v2/rpc/shout?http_key=defaulthttpkey", "", "\"srv\"");
    assert_eq!((status, &body["payload"]), (200, &json!("SRV!")));
    // And over the socket, through the same hooks.
    let mut ws = common::ws_open(&api, &s, "");
    let (reply, _) = common::ws_call(&mut ws, "r", json!({"rpc": {"id": "shout", "payload": "ws"}}));
    assert_eq!(reply["rpc"]["payload"], "WS!");
    let seen = answers.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (true, json!("shout"), json!("HEY!")),
            (false, json!("shout"), json!("SRV!")),
            (true, json!("shout"), json!("WS!"))
        ]
    );
}

#[test]
fn session_hooks_hear_each_socket_connect_and_disconnect_once() {
    let api = start_realtime(kaos(OperationRateLimiter::default()), RealtimeConfig::default());
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    for operation in ["session_connect", "session_disconnect"] {
        let seen = events.clone();
        api.kaos.hooks().after(operation, move |ctx, about, _| {
            seen.lock().unwrap().push((ctx.operation.clone(), ctx.username.clone(), about["format"].clone()));
        });
    }
    let s = session(&api, "device-hooks-sess", "hooksess");
    let mut ws = common::ws_open(&api, &s, "format=protobuf");
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while events.lock().unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no disconnect: {:?}", events.lock().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let name = Some("hooksess".to_string());
    assert_eq!(
        *events.lock().unwrap(),
        [
            ("session_connect".to_string(), name.clone(), json!("protobuf")),
            ("session_disconnect".to_string(), name, json!("protobuf"))
        ]
    );
}
