//! Several WebSocket threads (`RealtimeConfig::ws_threads`): connections are handed to
//! them in turn, and sessions on different threads play in one match, get each other's
//! presence events and are closed across threads by the single-socket policy.

mod common;

use std::sync::Arc;

use common::{own_join, session, start_realtime, ws_call, ws_next, ws_open, ws_send, Ws};
use kaosnet::realtime::RealtimeConfig;
use kaosnet::store::MemoryStore;
use kaosnet::KaosNet;
use serde_json::json;

#[test]
fn sessions_on_different_threads_share_matches_and_the_single_socket_policy() {
    let kaos = KaosNet::new(Arc::new(MemoryStore::new()), Default::default(), Default::default());
    let api = start_realtime(kaos, RealtimeConfig { ws_threads: 3, single_socket: true, ..RealtimeConfig::default() });
    // Six players: two on each thread.
    let mut players: Vec<(Ws, String)> = (0..6)
        .map(|i| {
            let name = format!("threaded{i}");
            (ws_open(&api, &session(&api, &format!("device-threads-{i:04}"), &name), ""), name)
        })
        .collect();
    for (i, (ws, name)) in players.iter_mut().enumerate() {
        let (joined, _) = ws_call(ws, "j", json!({"match_create": {"name": "threads"}}));
        assert_eq!(joined["match"]["size"], i + 1);
        own_join(ws, "match", name);
    }
    // Each earlier player heard each later one join, in order.
    for i in 0..6 {
        for j in i + 1..6 {
            let e = ws_next(&mut players[i].0);
            assert_eq!(e["match_presence_event"]["joins"][0]["username"], players[j].1, "{e}");
        }
    }
    let id = {
        let (again, _) = ws_call(&mut players[0].0, "again", json!({"match_create": {"name": "threads"}}));
        again["match"]["match_id"].as_str().unwrap().to_string()
    };
    // Everyone sends; everyone gets the other five, each sender's in order.
    for round in 0..3 {
        for (i, (ws, _)) in players.iter_mut().enumerate() {
            let op = (i * 10 + round).to_string();
            ws_send(ws, json!({"match_data_send": {"match_id": id, "op_code": op, "data": ""}}));
        }
    }
    for (i, (ws, _)) in players.iter_mut().enumerate() {
        let mut seen: Vec<Vec<usize>> = vec![Vec::new(); 6];
        for _ in 0..15 {
            let d = ws_next(ws);
            let op: usize = d["match_data"]["op_code"].as_str().unwrap().parse().unwrap();
            seen[op / 10].push(op % 10);
        }
        for (j, rounds) in seen.iter().enumerate() {
            let want: Vec<usize> = if i == j { vec![] } else { vec![0, 1, 2] };
            assert_eq!(rounds, &want, "player {i} from player {j}");
        }
    }
    // A second socket of player 0's user closes the first (4000), whichever thread each is on.
    let again = session(&api, "device-threads-0000", "threaded0");
    let _newer = ws_open(&api, &again, "");
    assert_eq!(ws_next(&mut players[0].0), json!({"closed": 4000}));
    // The client's answer to the close, so the server need not wait for it.
    let _ = players[0].0.flush();
    // The others hear player 0 leave.
    let left = ws_next(&mut players[1].0);
    assert_eq!(left["match_presence_event"]["leaves"][0]["username"], "threaded0", "{left}");
    assert_eq!(api.kaos.sessions().count(), 6);
}
