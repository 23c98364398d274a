//! The realtime socket: token checks on upgrade, envelopes with `cid`, rpc, errors with
//! Nakama's socket codes, the single-socket policy.

mod common;

use common::{bearer, call, session, start, start_realtime, ws_next, Ws};
use kaosnet::realtime::RealtimeConfig;
use serde_json::{json, Value};
use tungstenite::Message;

fn connect(api: &common::Api, query: &str) -> Result<Ws, tungstenite::Error> {
    tungstenite::connect(format!("ws://{}/ws?{query}", api.addr)).map(|(ws, _)| ws)
}

fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).unwrap();
}

fn token(s: &Value) -> String {
    s["token"].as_str().unwrap().to_string()
}

#[test]
fn envelopes_answer_with_their_cid() {
    let api = start();
    api.kaos.rpcs().register("add", |_, p| {
        let v: Value = serde_json::from_str(p).map_err(|_| kaosnet::ApiError::invalid("bad"))?;
        Ok((v["a"].as_i64().unwrap_or(0) + v["b"].as_i64().unwrap_or(0)).to_string())
    });
    api.kaos.rpcs().register("fail", |_, _| Err(kaosnet::ApiError::invalid("no")));
    let s = session(&api, "device-socket-01", "sock");
    let mut ws = connect(&api, &format!("lang=en&status=true&token={}&format=json", token(&s))).unwrap();
    send(&mut ws, json!({"cid": "1", "ping": {}}));
    assert_eq!(ws_next(&mut ws), json!({"cid": "1", "pong": {}}));
    send(&mut ws, json!({"cid": "2", "rpc": {"id": "add", "payload": "{\"a\":2,\"b\":3}"}}));
    assert_eq!(ws_next(&mut ws), json!({"cid": "2", "rpc": {"id": "add", "payload": "5"}}));
    send(&mut ws, json!({"cid": "3", "rpc": {"id": "missing"}}));
    assert_eq!(ws_next(&mut ws)["error"]["code"], 6);
    send(&mut ws, json!({"cid": "4", "rpc": {"id": "fail"}}));
    assert_eq!(ws_next(&mut ws)["error"]["code"], 7);
    send(&mut ws, json!({"cid": "5", "no_such_kind": {}}));
    assert_eq!(ws_next(&mut ws), json!({"cid": "5", "error": {"code": 1, "message": "Unrecognized message"}}));
    send(&mut ws, json!({"cid": "6"}));
    assert_eq!(ws_next(&mut ws)["error"]["code"], 2);
    ws.send(Message::text("{not json")).unwrap();
    assert_eq!(ws_next(&mut ws)["error"]["code"], 1);
    // Still served after the bad ones; no cid, no cid in the reply.
    send(&mut ws, json!({"ping": {}}));
    assert_eq!(ws_next(&mut ws), json!({"pong": {}}));
    // REST on the same port meanwhile.
    assert_eq!(call(&api, "GET", "/v2/account", &bearer(&s["token"]), "").0, 200);
}

#[test]
fn bad_revoked_or_missing_tokens_are_refused_with_401() {
    let api = start();
    let s = session(&api, "device-socket-02", "sock2");
    for query in ["format=json".to_string(), "token=garbage".to_string()] {
        match connect(&api, &query) {
            Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401, "{query}"),
            other => panic!("{query}: {:?}", other.map(|_| ())),
        }
    }
    match connect(&api, &format!("token={}&format=xml", token(&s))) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 400),
        other => panic!("xml: {:?}", other.map(|_| ())),
    }
    let logout = json!({"token": s["token"]}).to_string();
    assert_eq!(call(&api, "POST", "/v2/session/logout", &bearer(&s["token"]), &logout).0, 200);
    match connect(&api, &format!("token={}", token(&s))) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("revoked: {:?}", other.map(|_| ())),
    }
}

#[test]
fn the_single_socket_policy_closes_the_older_socket() {
    let kaos = kaosnet::KaosNet::new(
        std::sync::Arc::new(kaosnet::store::MemoryStore::new()),
        kaosnet::ApiConfig::default(),
        kaosnet::session::SessionConfig::default(),
    );
    let api = start_realtime(kaos, RealtimeConfig { single_socket: true, ..RealtimeConfig::default() });
    let s = session(&api, "device-socket-03", "sock3");
    let mut first = connect(&api, &format!("token={}", token(&s))).unwrap();
    send(&mut first, json!({"cid": "a", "ping": {}}));
    assert_eq!(ws_next(&mut first)["cid"], "a");
    let mut second = connect(&api, &format!("token={}", token(&s))).unwrap();
    assert_eq!(ws_next(&mut first), json!({"closed": 4000}));
    send(&mut second, json!({"cid": "b", "ping": {}}));
    assert_eq!(ws_next(&mut second)["cid"], "b");
}

#[test]
fn users_show_online_while_they_have_a_socket() {
    let api = start();
    let s = session(&api, "device-socket-04", "sock4");
    let (_, account) = call(&api, "GET", "/v2/account", &bearer(&s["token"]), "");
    let id = account["user"]["id"].as_str().unwrap().to_string();
    let online =
        || call(&api, "GET", &format!("/v2/user?ids={id}"), &bearer(&s["token"]), "").1["users"][0]["online"].clone();
    assert_eq!(online(), Value::Null);
    let mut ws = connect(&api, &format!("token={}", token(&s))).unwrap();
    send(&mut ws, json!({"cid": "1", "ping": {}}));
    assert_eq!(ws_next(&mut ws)["cid"], "1");
    assert_eq!(online(), json!(true));
    assert_eq!(call(&api, "GET", "/v2/account", &bearer(&s["token"]), "").1["user"]["online"], json!(true));
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while online() != Value::Null {
        assert!(std::time::Instant::now() < deadline, "still online after the socket closed");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_flooding_socket_is_rate_limited_and_disturbs_no_one_else() {
    let api = start();
    let flooder = session(&api, "device-socket-05", "flood");
    let calm = session(&api, "device-socket-06", "calm");
    let mut f = connect(&api, &format!("token={}", token(&flooder))).unwrap();
    let mut c = connect(&api, &format!("token={}", token(&calm))).unwrap();
    for i in 0..2000 {
        send(&mut f, json!({"cid": i.to_string(), "ping": {}}));
    }
    // The calm session is answered while the flood is being refused.
    send(&mut c, json!({"cid": "calm", "ping": {}}));
    assert_eq!(ws_next(&mut c), json!({"cid": "calm", "pong": {}}));
    let (mut pongs, mut limited) = (0, 0);
    for _ in 0..2000 {
        let m = ws_next(&mut f);
        if m.get("pong").is_some() {
            pongs += 1;
        } else {
            assert_eq!(m["error"]["code"], 3, "{m}");
            limited += 1;
        }
    }
    // A burst of 100 at most (plus what the clock refilled meanwhile), the rest refused.
    assert!((100..400).contains(&pongs), "{pongs} pongs");
    assert_eq!(pongs + limited, 2000);
    send(&mut c, json!({"cid": "again", "ping": {}}));
    assert_eq!(ws_next(&mut c)["cid"], "again");
}

#[test]
fn a_slow_rpc_stalls_no_other_session_and_keeps_its_own_order() {
    let api = start();
    let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
    let g = gate.clone();
    api.kaos.rpcs().register("slow", move |_, _| {
        g.wait();
        Ok("done".into())
    });
    let slow = session(&api, "device-socket-07", "slowpoke");
    let quick = session(&api, "device-socket-08", "quick");
    let mut s = connect(&api, &format!("token={}", token(&slow))).unwrap();
    let mut q = connect(&api, &format!("token={}", token(&quick))).unwrap();
    send(&mut s, json!({"cid": "1", "rpc": {"id": "slow"}}));
    send(&mut s, json!({"cid": "2", "ping": {}}));
    // The RPC is still waiting: another session is served meanwhile.
    for i in 0..20 {
        send(&mut q, json!({"cid": i.to_string(), "ping": {}}));
        assert_eq!(ws_next(&mut q)["cid"], i.to_string());
    }
    gate.wait();
    // The slow session's replies keep the order of its requests.
    assert_eq!(ws_next(&mut s), json!({"cid": "1", "rpc": {"id": "slow", "payload": "done"}}));
    assert_eq!(ws_next(&mut s), json!({"cid": "2", "pong": {}}));
}
