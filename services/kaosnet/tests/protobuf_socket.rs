//! The realtime socket in protobuf (`/ws?format=protobuf`, Nakama's `Envelope` in binary
//! frames): requests answered with their `cid`, relayed match data between a protobuf
//! and a JSON session both ways, and bad frames answered with an error that leaves the
//! socket usable.

mod common;

use common::{own_join, session, start, ws_call, ws_next, ws_open, Ws};
use kaosnet::realtime::protobuf::api::Rpc;
use kaosnet::realtime::protobuf::realtime::match_join::Id;
use kaosnet::realtime::protobuf::realtime::{envelope::Message, Envelope, MatchCreate, MatchDataSend, MatchJoin, Ping};
use prost::Message as _;
use serde_json::json;

fn send(ws: &mut Ws, cid: &str, message: Message) {
    let envelope = Envelope { cid: cid.into(), message: Some(message) };
    ws.send(tungstenite::Message::binary(envelope.encode_to_vec())).unwrap();
}

/// The next binary frame, decoded.
fn next(ws: &mut Ws) -> Envelope {
    loop {
        match ws.read().unwrap() {
            tungstenite::Message::Binary(b) => return Envelope::decode(&b[..]).unwrap(),
            tungstenite::Message::Text(t) => panic!("a text frame on a protobuf socket: {t}"),
            _ => {}
        }
    }
}

#[test]
fn a_protobuf_session_gets_answers_and_plays_with_a_json_one() {
    let api = start();
    api.kaos.rpcs().register("echo", |_, p| Ok(format!("echo:{p}")));
    let s = session(&api, "device-pb-0001", "pbplayer");
    let mut pb = ws_open(&api, &s, "format=protobuf");
    send(&mut pb, "1", Message::Ping(Ping {}));
    assert_eq!(next(&mut pb), Envelope { cid: "1".into(), message: Some(Message::Pong(Default::default())) });
    let rpc = Rpc { id: "echo".into(), payload: "hi".into(), http_key: String::new() };
    send(&mut pb, "2", Message::Rpc(rpc));
    let Some(Message::Rpc(answer)) = next(&mut pb).message else { panic!("no rpc answer") };
    assert_eq!(answer.payload, "echo:hi");

    // A relayed match: created over protobuf, joined over JSON.
    send(&mut pb, "3", Message::MatchCreate(MatchCreate { name: String::new() }));
    let created = next(&mut pb);
    assert_eq!(created.cid, "3");
    let Some(Message::Match(m)) = created.message else { panic!("no match: {created:?}") };
    assert_eq!((m.size, m.authoritative, m.self_.as_ref().unwrap().username.as_str()), (1, false, "pbplayer"));
    let Some(Message::MatchPresenceEvent(own)) = next(&mut pb).message else { panic!("no own join") };
    assert_eq!(own.joins[0].username, "pbplayer");
    let j = session(&api, "device-pb-0002", "jsonplayer");
    let mut js = ws_open(&api, &j, "");
    let (joined, _) = ws_call(&mut js, "j", json!({"match_join": {"match_id": m.match_id}}));
    assert_eq!(joined["match"]["presences"][0]["username"], "pbplayer");
    own_join(&mut js, "match", "jsonplayer");
    let Some(Message::MatchPresenceEvent(e)) = next(&mut pb).message else { panic!("no join event") };
    assert_eq!(e.joins[0].username, "jsonplayer");
    // Protobuf to JSON: op code as a string, data in base64.
    let data = MatchDataSend { match_id: m.match_id.clone(), op_code: 7, data: vec![0, 1, 255], ..Default::default() };
    send(&mut pb, "", Message::MatchDataSend(data));
    let got = ws_next(&mut js);
    assert_eq!((&got["match_data"]["op_code"], &got["match_data"]["data"]), (&json!("7"), &json!("AAH/")), "{got}");
    // JSON to protobuf: bytes and an int64.
    common::ws_send(&mut js, json!({"match_data_send": {"match_id": m.match_id, "op_code": "9", "data": "AQID"}}));
    let Some(Message::MatchData(d)) = next(&mut pb).message else { panic!("no match data") };
    assert_eq!(
        (d.op_code, d.data.as_slice(), d.presence.unwrap().username.as_str()),
        (9, &[1u8, 2, 3][..], "jsonplayer")
    );
    // Joining again over protobuf by id: the oneof `id` carries it.
    send(
        &mut pb,
        "4",
        Message::MatchJoin(MatchJoin { id: Some(Id::MatchId(m.match_id.clone())), metadata: Default::default() }),
    );
    let Some(Message::Match(again)) = next(&mut pb).message else { panic!("no match") };
    assert_eq!(again.presences.len(), 2, "a session already in the match is listed too");
}

#[test]
fn bad_protobuf_frames_get_an_error_and_the_socket_stays_usable() {
    let api = start();
    let s = session(&api, "device-pb-0003", "pbbad");
    let mut pb = ws_open(&api, &s, "format=protobuf");
    for garbage in [vec![0xff, 0xff, 0xff], b"{\"ping\":{}}".to_vec(), vec![0x0a, 0x50]] {
        pb.send(tungstenite::Message::binary(garbage)).unwrap();
        let Some(Message::Error(e)) = next(&mut pb).message else { panic!("no error") };
        assert_eq!(e.code, 1, "unrecognized payload: {e:?}");
    }
    // An envelope with no message, and one whose match id is nonsense.
    pb.send(tungstenite::Message::binary(Envelope { cid: "e".into(), message: None }.encode_to_vec())).unwrap();
    let missing = next(&mut pb);
    assert_eq!(missing.cid, "e");
    assert!(matches!(missing.message, Some(Message::Error(ref e)) if e.code == 2), "{missing:?}");
    send(
        &mut pb,
        "m",
        Message::MatchJoin(MatchJoin { id: Some(Id::MatchId("nope".into())), metadata: Default::default() }),
    );
    assert!(matches!(next(&mut pb).message, Some(Message::Error(e)) if e.code == 3));
    // Game data larger than a match message may be, to a match it is in (the typed
    // path), and data for a match it is not in.
    send(&mut pb, "c", Message::MatchCreate(MatchCreate { name: String::new() }));
    let Some(Message::Match(m)) = next(&mut pb).message else { panic!("no match") };
    let _own_join = next(&mut pb);
    let big =
        MatchDataSend { match_id: m.match_id.clone(), op_code: 1, data: vec![0; 70 * 1024], ..Default::default() };
    send(&mut pb, "big", Message::MatchDataSend(big));
    let refused = next(&mut pb);
    assert!(matches!(&refused.message, Some(Message::Error(e)) if e.code == 3), "{refused:?}");
    assert_eq!(refused.cid, "big");
    let elsewhere = format!("{}.", uuid::Uuid::new_v4());
    send(&mut pb, "x", Message::MatchDataSend(MatchDataSend { match_id: elsewhere, ..Default::default() }));
    assert!(matches!(next(&mut pb).message, Some(Message::Error(e)) if e.code == 4));
    send(&mut pb, "ok", Message::Ping(Ping {}));
    assert_eq!(next(&mut pb).cid, "ok");
}

#[test]
fn frames_whose_values_json_cannot_hold_are_refused_not_panicked_on() {
    use kaosnet::realtime::protobuf::api::ChannelMessage;
    use kaosnet::realtime::protobuf::decode_to_json;
    for (seconds, nanos) in [(i64::MAX, 0), (i64::MIN, -1), (0, -5), (0, 2_000_000_000)] {
        let create_time = Some(pbjson_types::Timestamp { seconds, nanos });
        let message = Message::ChannelMessage(ChannelMessage { create_time, ..Default::default() });
        let frame = Envelope { cid: String::new(), message: Some(message) }.encode_to_vec();
        // Either JSON that parses, or an error: never a panic.
        if let Ok(json) = decode_to_json(&frame) {
            serde_json::from_slice::<serde_json::Value>(&json).unwrap();
        }
    }
}

#[test]
fn a_oneof_member_set_to_an_empty_value_stays_set_through_json() {
    use kaosnet::realtime::protobuf::realtime::{matchmaker_matched::Id, MatchmakerMatched};
    use kaosnet::realtime::protobuf::{decode_to_json, encode_json};
    // Found by fuzzing protobuf_envelope: `{"token": ""}` is not the same as no id.
    let matched = MatchmakerMatched { id: Some(Id::Token(String::new())), ..Default::default() };
    let envelope = Envelope { cid: String::new(), message: Some(Message::MatchmakerMatched(matched)) };
    let json = decode_to_json(&envelope.encode_to_vec()).unwrap();
    let back = encode_json(std::str::from_utf8(&json).unwrap()).unwrap();
    assert_eq!(Envelope::decode(&back[..]).unwrap(), envelope);
}
