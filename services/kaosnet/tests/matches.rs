//! Relayed matches through the realtime socket with several users: joins and leaves
//! reach exactly the members, data reaches everyone else or the chosen presences, bad
//! input gets error envelopes.

mod common;
use common::{own_join, ListField};

use base64::Engine;
use common::{session, start, ws_call, ws_drain, ws_next, ws_open, ws_send, Ws};
use serde_json::{json, Value};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn names(list: &Value) -> Vec<&str> {
    list.list().iter().map(|p| p["username"].as_str().unwrap()).collect()
}

fn player(api: &common::Api, name: &str) -> (Ws, Value) {
    let s = session(api, &format!("device-match-{name}"), name);
    let mut ws = ws_open(api, &s, "");
    let (me, _) = ws_call(&mut ws, "me", json!({"ping": {}}));
    assert_eq!(me["pong"], json!({}));
    (ws, s)
}

#[test]
fn members_hear_joins_leaves_and_each_others_data() {
    let api = start();
    let (mut a, _) = player(&api, "ann");
    let (mut b, _) = player(&api, "ben");
    let (mut c, _) = player(&api, "cat");
    let (m, _) = ws_call(&mut a, "1", json!({"match_create": {}}));
    let ann = m["match"]["self"].clone();
    let id = m["match"]["match_id"].as_str().unwrap().to_string();
    assert!(id.ends_with('.') && uuid::Uuid::parse_str(&id[..id.len() - 1]).is_ok(), "{m}");
    assert_eq!((m["match"]["size"].clone(), m["match"]["authoritative"].clone()), (json!(1), json!(false)));
    assert_eq!(m["match"]["self"]["username"], "ann");
    own_join(&mut a, "match", "ann");

    let (m, _) = ws_call(&mut b, "2", json!({"match_join": {"match_id": id}}));
    assert_eq!((names(&m["match"]["presences"]), m["match"]["size"].clone()), (vec!["ann"], json!(2)));
    own_join(&mut b, "match", "ben");
    let e = ws_next(&mut a);
    assert_eq!(e["match_presence_event"]["match_id"], id);
    assert_eq!(names(&e["match_presence_event"]["joins"]), vec!["ben"]);
    let (m, _) = ws_call(&mut c, "3", json!({"match_join": {"match_id": id, "metadata": {"k": "v"}}}));
    assert_eq!(m["match"]["size"], 3);
    own_join(&mut c, "match", "cat");
    for ws in [&mut a, &mut b] {
        assert_eq!(names(&ws_next(ws)["match_presence_event"]["joins"]), vec!["cat"]);
    }
    // Joining again: no event (nothing comes before the answer), and Ben finds himself
    // among the presences.
    let (again, pushed) = ws_call(&mut b, "2", json!({"match_join": {"match_id": id}}));
    assert_eq!(pushed, Vec::<Value>::new());
    let mut listed = names(&again["match"]["presences"]);
    listed.sort();
    assert_eq!(listed, vec!["ann", "ben", "cat"], "{again}");

    // Data from Ann reaches Ben and Cat, not Ann.
    ws_send(
        &mut a,
        json!({"match_data_send": {"match_id": id, "op_code": "7", "data": b64("hello"), "presences": []}}),
    );
    for ws in [&mut b, &mut c] {
        let d = ws_next(ws);
        assert_eq!(d["match_data"]["op_code"], "7", "{d}");
        assert_eq!(d["match_data"]["data"], b64("hello"));
        assert_eq!(d["match_data"]["presence"]["username"], "ann");
        assert_eq!(d["match_data"]["match_id"], id);
    }
    assert_eq!(ws_drain(&mut a), Vec::<Value>::new());

    // To Cat, reliable flag carried, and to Ann herself, who names herself (Nakama echoes
    // data to a sender only then).
    let cat = m["match"]["self"].clone();
    ws_send(
        &mut a,
        json!({"match_data_send": {"match_id": id, "op_code": 9, "data": b64("psst"), "presences": [cat, ann], "reliable": true}}),
    );
    let d = ws_next(&mut c);
    assert_eq!((d["match_data"]["op_code"].clone(), d["match_data"]["reliable"].clone()), (json!("9"), json!(true)));
    assert_eq!(ws_drain(&mut b), Vec::<Value>::new());
    assert_eq!(ws_next(&mut a)["match_data"]["data"], b64("psst"));

    // Ben leaves: the others hear it; his data is refused afterwards.
    let (ack, _) = ws_call(&mut b, "4", json!({"match_leave": {"match_id": id}}));
    assert_eq!(ack, json!({"cid": "4"}));
    for ws in [&mut a, &mut c] {
        assert_eq!(names(&ws_next(ws)["match_presence_event"]["leaves"]), vec!["ben"]);
    }
    let (e, _) = ws_call(&mut b, "5", json!({"match_data_send": {"match_id": id, "op_code": "1", "data": ""}}));
    assert_eq!(e["error"]["code"], 4);

    // Cat disconnects: Ann hears her leave.
    c.close(None).unwrap();
    while c.read().is_ok() {}
    assert_eq!(names(&ws_next(&mut a)["match_presence_event"]["leaves"]), vec!["cat"]);
    assert_eq!(api.kaos.tracker().count_all(), 1);
}

#[test]
fn a_named_match_is_the_same_match_for_everyone() {
    let api = start();
    let (mut a, _) = player(&api, "dan");
    let (mut b, _) = player(&api, "eve");
    let (m1, _) = ws_call(&mut a, "1", json!({"match_create": {"name": "lobby-7"}}));
    let (m2, _) = ws_call(&mut b, "1", json!({"match_create": {"name": "lobby-7"}}));
    assert_eq!(m1["match"]["match_id"], m2["match"]["match_id"]);
    assert_eq!(names(&m2["match"]["presences"]), vec!["dan"]);
    let (m3, _) = ws_call(&mut b, "2", json!({"match_create": {"name": "lobby-8"}}));
    assert_ne!(m3["match"]["match_id"], m1["match"]["match_id"]);
}

#[test]
fn bad_match_messages_get_error_envelopes() {
    let api = start();
    let (mut a, _) = player(&api, "fay");
    let (m, _) = ws_call(&mut a, "1", json!({"match_create": {}}));
    let id = m["match"]["match_id"].as_str().unwrap().to_string();
    let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 70 * 1024]);
    for (bad, code) in [
        (json!({"match_join": {"match_id": "nope"}}), 3),
        (json!({"match_join": {"match_id": "8f0b0a0e-0000-4000-8000-000000000000."}}), 4),
        (json!({"match_join": {}}), 3),
        (json!({"match_data_send": {"match_id": id, "op_code": "1", "data": "***"}}), 3),
        (json!({"match_data_send": {"match_id": id, "op_code": "x", "data": ""}}), 3),
        (json!({"match_data_send": {"match_id": id, "op_code": "1", "data": big}}), 3),
        (json!({"match_data_send": {"match_id": id, "op_code": "1", "presences": [{"session_id": "zz"}]}}), 3),
        (json!({"match_create": {"name": 5}}), 3),
    ] {
        let (reply, _) = ws_call(&mut a, "e", bad.clone());
        assert_eq!(reply["error"]["code"], code, "{bad} -> {reply}");
    }
    // Still in the match and served.
    assert_eq!(api.kaos.tracker().count_all(), 1);
}

#[test]
fn the_match_listing_rules_hold_for_server_code_too() {
    use kaosnet::matches::listing::{list, MatchFilter};
    use kaosnet::realtime::tracker::{Presence, PresenceMeta, Stream, StreamMode};
    use kaosnet::realtime::SessionId;
    let kaos = kaosnet::KaosNet::new(
        std::sync::Arc::new(kaosnet::store::MemoryStore::new()),
        Default::default(),
        Default::default(),
    );
    let stream = Stream::new(StreamMode::MatchRelayed, "6f1c2a8e-2f47-4c55-9d7e-3b1f0a9c8d11");
    for i in 1..=3 {
        let p = Presence {
            session: SessionId::from_raw(i),
            user_id: format!("u{i}"),
            username: format!("p{i}"),
            meta: PresenceMeta::default(),
        };
        kaos.tracker().track(&stream, p);
    }
    let found = list(&kaos, &MatchFilter::default()).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].match_id.as_str(), found[0].size), ("6f1c2a8e-2f47-4c55-9d7e-3b1f0a9c8d11.", 3));
    assert!(list(&kaos, &MatchFilter { min_size: 4, ..Default::default() }).unwrap().is_empty());
    assert!(list(&kaos, &MatchFilter { authoritative: Some(true), ..Default::default() }).unwrap().is_empty());
    assert!(list(&kaos, &MatchFilter { label: Some("x".into()), ..Default::default() }).unwrap().is_empty());
    for limit in [0, 101] {
        assert!(list(&kaos, &MatchFilter { limit, ..Default::default() }).is_err(), "limit {limit}");
    }
    let bad_query = MatchFilter { query: Some("+label.mode:".into()), ..Default::default() };
    assert_eq!(list(&kaos, &bad_query).unwrap_err().code, kaosnet::Code::InvalidArgument);
}
