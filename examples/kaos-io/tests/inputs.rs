//! Bad input over the real socket: directions far too long, not numbers, unknown op
//! codes and oversized data. The server clamps or ignores them; the player's cell never
//! moves faster than the rules allow, measured tick by tick in the server's own
//! snapshots.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use base64::Engine;
use serde_json::{json, Value};

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

fn sign_in(addr: std::net::SocketAddr) -> String {
    let body = json!({"id": "kaos-io-input-device"}).to_string();
    let auth = base64::engine::general_purpose::STANDARD.encode("defaultkey:");
    let mut c = TcpStream::connect(addr).unwrap();
    write!(
        c,
        "POST /v2/account/authenticate/device?create=true&username=cheater HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).unwrap();
    let answer: Value = serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap();
    answer["token"].as_str().unwrap().to_string()
}

fn next(ws: &mut Ws) -> Value {
    loop {
        if let tungstenite::Message::Text(t) = ws.read().unwrap() {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

fn send(ws: &mut Ws, match_id: &str, op: i64, data: &[u8]) {
    let data = base64::engine::general_purpose::STANDARD.encode(data);
    let m = json!({"match_data_send": {"match_id": match_id, "op_code": op.to_string(), "data": data}});
    ws.send(tungstenite::Message::text(m.to_string())).unwrap();
}

/// The next state snapshot's tick and this player's (x, y, mass).
fn snapshot(ws: &mut Ws, me: &str) -> (u64, (f64, f64, f64)) {
    loop {
        let m = next(ws);
        let Some(data) = m["match_data"]["data"].as_str() else { continue };
        let state: Value =
            serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(data).unwrap()).unwrap();
        let players = state["players"].as_array().unwrap();
        let mine = players.iter().find(|p| p[1] == me).unwrap();
        let f = |i: usize| mine[i].as_f64().unwrap();
        return (state["tick"].as_u64().unwrap(), (f(2), f(3), f(4)));
    }
}

#[test]
fn out_of_range_and_malformed_inputs_are_clamped_or_ignored() {
    let config = common::config();
    let game = kaos_io::serve(&config, 0).unwrap();
    let token = sign_in(game.server.addr);
    // No client writes a score: the board is the match's alone.
    let post = format!(
        "POST /v2/leaderboard/{} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 18\r\nConnection: close\r\n\r\n{{\"score\":\"999999\"}}",
        kaos_io::LEADERBOARD
    );
    let mut c = TcpStream::connect(game.server.addr).unwrap();
    c.write_all(post.as_bytes()).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let (mut ws, _) = tungstenite::connect(format!("ws://{}/ws?token={token}&format=json", game.server.addr)).unwrap();
    ws.send(tungstenite::Message::text(json!({"cid": "1", "rpc": {"id": kaos_io::JOIN_RPC}}).to_string())).unwrap();
    let match_id = next(&mut ws)["rpc"]["payload"].as_str().unwrap().to_string();
    ws.send(tungstenite::Message::text(json!({"cid": "2", "match_join": {"match_id": match_id}}).to_string())).unwrap();
    while next(&mut ws)["cid"] != "2" {}

    // Garbage first: none of it may move, kill or break the match.
    for bad in [&b"not json"[..], br#"{"x": "fast", "y": 1}"#, br#"{"x": 1e400, "y": 0}"#, br#"[1, 2]"#] {
        send(&mut ws, &match_id, 1, bad);
    }
    send(&mut ws, &match_id, 99, b"{}");
    send(&mut ws, &match_id, 2, b"respawn while alive");
    // Then a direction a thousand times too long, held.
    send(&mut ws, &match_id, 1, br#"{"x": 1000, "y": 0}"#);
    let (mut tick, mut at) = snapshot(&mut ws, "cheater");
    let mut moved = 0.0;
    for _ in 0..30 {
        let (t, now) = snapshot(&mut ws, "cheater");
        let ticks = (t - tick) as f64;
        let step = ((now.0 - at.0).powi(2) + (now.1 - at.1).powi(2)).sqrt();
        // Positions are rounded to whole units in snapshots: one unit of slack a tick.
        let allowed = kaos_io::game::speed(at.2 as f32) as f64 / f64::from(kaos_io::TICK_RATE) * ticks + 1.5;
        assert!(step <= allowed, "moved {step} in {ticks} ticks, the rules allow {allowed}");
        moved += step;
        (tick, at) = (t, now);
    }
    assert!(moved > 0.0 || at.0 > 2900.0, "the clamped direction still moves the cell");
    // A message far over the socket's size limit closes that socket, not the match.
    let huge = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 4 << 20]);
    let m = json!({"match_data_send": {"match_id": match_id, "op_code": "1", "data": huge}});
    // The server may close while the frame is still being written.
    let sent = ws.send(tungstenite::Message::text(m.to_string()));
    let closed = sent.is_err() || (0..100).any(|_| matches!(ws.read(), Err(_) | Ok(tungstenite::Message::Close(_))));
    assert!(closed, "an oversized frame ends the connection");
    assert!(game.server.kaos.matches().get(&match_id).is_some(), "the match goes on");
    game.stop().unwrap();
}
