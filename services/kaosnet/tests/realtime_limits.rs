//! The realtime rate limits as shipped: a client sending game data every frame is never
//! refused, and message kinds nobody knows cost the server no state.

mod common;

use std::time::Duration;

use common::{own_join, session, start, ws_call, ws_next, ws_open, ws_send, Ws};
use serde_json::{json, Value};

fn player(api: &common::Api, name: &str) -> Ws {
    ws_open(api, &session(api, &format!("device-limits-{name}"), name), "")
}

#[test]
fn a_60_hz_client_sends_match_and_party_data_for_10_s_without_a_refusal() {
    // `start()` runs the default limits, as kaos-server ships them.
    let api = start();
    let (mut a, mut b) = (player(&api, "sixty"), player(&api, "watcher"));
    let (m, _) = ws_call(&mut a, "m", json!({"match_create": {}}));
    let match_id = m["match"]["match_id"].clone();
    own_join(&mut a, "match", "sixty");
    ws_call(&mut b, "j", json!({"match_join": {"match_id": match_id}}));
    let (p, _) = ws_call(&mut a, "p", json!({"party_create": {"open": true, "max_size": 2}}));
    let party_id = p["party"]["party_id"].clone();
    ws_call(&mut b, "j", json!({"party_join": {"party_id": party_id}}));
    // Every frame for 10 s: one match and one party message. A sleep per frame and no
    // catching up, so a busy machine only sends slower, never faster than 60 Hz.
    const FRAMES: usize = 600;
    for frame in 0..FRAMES {
        let data = common_b64(&frame.to_be_bytes());
        ws_send(&mut a, json!({"match_data_send": {"match_id": match_id, "op_code": "1", "data": data}}));
        ws_send(&mut a, json!({"party_data_send": {"party_id": party_id, "op_code": "1", "data": data}}));
        std::thread::sleep(Duration::from_micros(16_667));
    }
    // Nothing was refused: the only thing before the ping's answer is our own join.
    let (pong, pushed) = ws_call(&mut a, "end", json!({"ping": {}}));
    assert_eq!(pong, json!({"cid": "end", "pong": {}}));
    assert!(
        pushed.iter().all(|m| m.get("error").is_none()),
        "refused: {:?}",
        pushed.iter().find(|m| m.get("error").is_some())
    );
    // And the watcher got every frame of both.
    let (mut matched, mut partied) = (0, 0);
    while matched < FRAMES || partied < FRAMES {
        let m = ws_next(&mut b);
        assert!(m.get("error").is_none(), "{m}");
        matched += usize::from(m.get("match_data").is_some());
        partied += usize::from(m.get("party_data").is_some());
    }
    assert_eq!((matched, partied), (FRAMES, FRAMES));
}

fn common_b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[test]
fn invented_message_kinds_are_refused_and_leave_no_state_behind() {
    let api = start();
    let mut a = player(&api, "inventor");
    ws_call(&mut a, "warm", json!({"ping": {}}));
    let before = api.kaos.limits().tracked();
    for i in 0..300 {
        let kind = format!("{i}{}", "k".repeat(20_000));
        let mut envelope = serde_json::Map::new();
        envelope.insert("cid".into(), json!(i.to_string()));
        envelope.insert(kind, json!({}));
        let (reply, _) = ws_call(&mut a, &i.to_string(), Value::Object(envelope));
        assert_eq!(reply["error"]["code"], 1, "unrecognized payload: {reply}");
    }
    assert_eq!(api.kaos.limits().tracked(), before, "no limiter state for kinds that do not exist");
    let metrics = api.kaos.metrics().render(&api.kaos);
    assert!(!metrics.contains("kkkkkkkkkk"), "no metric series for them either");
    // The session is still served.
    assert_eq!(ws_call(&mut a, "ok", json!({"ping": {}})).0["pong"], json!({}));
}
