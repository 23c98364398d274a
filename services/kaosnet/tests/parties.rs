//! Parties through the realtime socket with several users: open and closed parties,
//! join requests, data, promotion, removal, leaving, closing, disconnects, and
//! matchmaking as one ticket.

mod common;
use common::{own_join, ListField};

use std::sync::Arc;
use std::time::Duration;

use common::{session, start_realtime, ws_call, ws_drain, ws_next, ws_open, ws_send, Api, Ws};
use kaosnet::realtime::RealtimeConfig;
use kaosnet::store::MemoryStore;
use kaosnet::KaosNet;
use serde_json::{json, Value};

fn server() -> Api {
    let limits = kaosnet::hooks::OperationRateLimiter::default();
    let kaos = KaosNet::with_limits(Arc::new(MemoryStore::new()), Default::default(), Default::default(), limits);
    start_realtime(kaos, RealtimeConfig { matchmaker_interval: Duration::from_secs(3600), ..RealtimeConfig::default() })
}

fn player(api: &Api, name: &str) -> Ws {
    ws_open(api, &session(api, &format!("device-party-{name}"), name), "")
}

fn names(list: &Value) -> Vec<&str> {
    list.list().iter().map(|p| p["username"].as_str().unwrap()).collect()
}

fn call(ws: &mut Ws, msg: Value) -> Value {
    ws_call(ws, "c", msg).0
}

#[test]
fn an_open_party_shares_data_follows_its_leader_and_ends_with_its_last_member() {
    let api = server();
    let (mut l, mut m, mut n, mut o) =
        (player(&api, "lea"), player(&api, "max"), player(&api, "ned"), player(&api, "oli"));
    let party = call(&mut l, json!({"party_create": {"open": true, "max_size": 3}}));
    let id = party["party"]["party_id"].as_str().unwrap().to_string();
    assert!(id.ends_with(".kaos"), "{party}");
    assert_eq!(party["party"]["leader"]["username"], "lea");
    // The creator, and then each joiner, hears of its own join after the answer.
    own_join(&mut l, "party", "lea");
    let joined = call(&mut m, json!({"party_join": {"party_id": id}}));
    assert_eq!(names(&joined["party"]["presences"]), ["lea", "max"]);
    own_join(&mut m, "party", "max");
    assert_eq!(names(&ws_next(&mut l)["party_presence_event"]["joins"]), ["max"]);
    call(&mut n, json!({"party_join": {"party_id": id}}));
    assert_eq!(call(&mut o, json!({"party_join": {"party_id": id}}))["error"]["code"], 3);
    ws_drain(&mut l);
    ws_drain(&mut m);
    own_join(&mut n, "party", "ned");

    // Data reaches the others.
    ws_send(&mut m, json!({"party_data_send": {"party_id": id, "op_code": "5", "data": "aGk="}}));
    for ws in [&mut l, &mut n] {
        let d = ws_next(ws);
        assert_eq!((d["party_data"]["op_code"].clone(), d["party_data"]["data"].clone()), (json!("5"), json!("aGk=")));
        assert_eq!(d["party_data"]["presence"]["username"], "max");
    }
    assert_eq!(ws_drain(&mut m), Vec::<Value>::new());
    assert_eq!(call(&mut o, json!({"party_data_send": {"party_id": id, "op_code": "1"}}))["error"]["code"], 3);

    // Only the leader promotes; everyone hears of the new leader.
    let ned = joined["party"]["presences"].list().len();
    assert_eq!(ned, 2);
    let roster = call(&mut n, json!({"party_join": {"party_id": id}}));
    assert_eq!(ws_drain(&mut n), Vec::<Value>::new(), "a member joining again hears nothing new");
    let ned_presence = roster["party"]["self"].clone();
    assert_eq!(call(&mut m, json!({"party_promote": {"party_id": id, "presence": ned_presence}}))["error"]["code"], 3);
    let promoted = call(&mut l, json!({"party_promote": {"party_id": id, "presence": ned_presence}}));
    assert_eq!(promoted["party_leader"]["presence"]["username"], "ned");
    for ws in [&mut m, &mut n] {
        assert_eq!(ws_next(ws)["party_leader"]["presence"]["username"], "ned");
    }
    // Ned removes Max.
    let max_presence = joined["party"]["self"].clone();
    assert_eq!(call(&mut n, json!({"party_remove": {"party_id": id, "presence": max_presence}})), json!({"cid": "c"}));
    assert_eq!(names(&ws_next(&mut m)["party_presence_event"]["leaves"]), ["max"]);
    assert_eq!(names(&ws_next(&mut l)["party_presence_event"]["leaves"]), ["max"]);
    // The leader disconnects: Lea, the longest-standing member, leads.
    n.close(None).unwrap();
    while n.read().is_ok() {}
    assert_eq!(names(&ws_next(&mut l)["party_presence_event"]["leaves"]), ["ned"]);
    assert_eq!(ws_next(&mut l)["party_leader"]["presence"]["username"], "lea");
    assert_eq!(call(&mut l, json!({"party_leave": {"party_id": id}})), json!({"cid": "c"}));
    assert_eq!(api.kaos.parties().count(), 0);
}

#[test]
fn a_closed_party_takes_requests_and_closes_for_everyone() {
    let api = server();
    let (mut l, mut p, mut q) = (player(&api, "lou"), player(&api, "pia"), player(&api, "quin"));
    let id = call(&mut l, json!({"party_create": {"open": false, "max_size": 4}}))["party"]["party_id"]
        .as_str()
        .unwrap()
        .to_string();
    own_join(&mut l, "party", "lou");
    assert_eq!(call(&mut p, json!({"party_join": {"party_id": id}})), json!({"cid": "c"}));
    call(&mut q, json!({"party_join": {"party_id": id}}));
    let request = ws_next(&mut l);
    assert_eq!(names(&request["party_join_request"]["presences"]), ["pia"]);
    ws_drain(&mut l);
    let list = call(&mut l, json!({"party_join_request_list": {"party_id": id}}));
    assert_eq!(names(&list["party_join_request"]["presences"]), ["pia", "quin"]);
    assert_eq!(call(&mut p, json!({"party_join_request_list": {"party_id": id}}))["error"]["code"], 3);
    let pia = list["party_join_request"]["presences"][0].clone();
    let quin = list["party_join_request"]["presences"][1].clone();
    assert_eq!(call(&mut l, json!({"party_accept": {"party_id": id, "presence": pia}})), json!({"cid": "c"}));
    let welcome = ws_next(&mut p);
    assert_eq!(names(&welcome["party"]["presences"]), ["lou", "pia"]);
    own_join(&mut p, "party", "pia");
    assert_eq!(names(&ws_next(&mut l)["party_presence_event"]["joins"]), ["pia"]);
    // Quin's request is turned down.
    call(&mut l, json!({"party_remove": {"party_id": id, "presence": quin}}));
    let list = call(&mut l, json!({"party_join_request_list": {"party_id": id}}));
    assert_eq!(list["party_join_request"].get("presences"), None);
    // Closing reaches the members; the party is gone.
    assert_eq!(call(&mut l, json!({"party_close": {"party_id": id}})), json!({"cid": "c"}));
    assert_eq!(ws_next(&mut p), json!({"party_close": {"party_id": id}}));
    assert_eq!(api.kaos.parties().count(), 0);
    assert_eq!(call(&mut p, json!({"party_join": {"party_id": id}}))["error"]["code"], 3);
    assert_eq!(api.kaos.tracker().count_all(), 0);
}

#[test]
fn a_party_matchmakes_as_one_ticket() {
    let api = server();
    let (mut l, mut m, mut s) = (player(&api, "ray"), player(&api, "sue"), player(&api, "tom"));
    let id = call(&mut l, json!({"party_create": {"open": true, "max_size": 2}}))["party"]["party_id"]
        .as_str()
        .unwrap()
        .to_string();
    call(&mut m, json!({"party_join": {"party_id": id}}));
    own_join(&mut m, "party", "sue");
    ws_drain(&mut l);
    let ticket =
        call(&mut l, json!({"party_matchmaker_add": {"party_id": id, "min_count": 3, "max_count": 3, "query": "*"}}));
    assert_eq!(ticket["party_matchmaker_ticket"]["party_id"], id.as_str(), "{ticket}");
    assert_eq!(ws_next(&mut m)["party_matchmaker_ticket"]["ticket"], ticket["party_matchmaker_ticket"]["ticket"]);
    assert_eq!(
        call(&mut m, json!({"party_matchmaker_add": {"party_id": id, "min_count": 3, "max_count": 3}}))["error"]
            ["code"],
        3
    );
    call(&mut s, json!({"matchmaker_add": {"min_count": 3, "max_count": 3, "query": "*"}}));
    assert_eq!(api.kaos.matchmaker().run(&api.kaos).len(), 1);
    for ws in [&mut l, &mut m, &mut s] {
        let matched = ws_next(ws);
        let users = matched["matchmaker_matched"]["users"].list().to_vec();
        assert_eq!(users.len(), 3, "{matched}");
        let in_party = users.iter().filter(|u| u["party_id"] == json!(id)).count();
        assert_eq!(in_party, 2);
    }
}
