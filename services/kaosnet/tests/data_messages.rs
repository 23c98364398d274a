//! Data messages (`match_data_send`, `party_data_send`) take a typed path on the socket
//! thread: straight from the frame to the relayed event. With a hook registered for the
//! kind they go the JSON way instead. Both ways must relay the same events and refuse
//! the same bad messages with the same errors, in JSON and in protobuf.

mod common;

use std::sync::Arc;

use common::{own_join, session, start, ws_call, ws_next, ws_open, ws_send, Api, Ws};
use kaosnet::realtime::protobuf::realtime::{envelope::Message, Envelope, PartyDataSend};
use prost::Message as _;
use serde_json::{json, Value};

/// Three players in a relayed match and a party: `a` sends, `b` reads JSON, `c` protobuf.
struct Table {
    a: Ws,
    b: Ws,
    c: Ws,
    match_id: String,
    party_id: String,
}

fn next_pb(ws: &mut Ws) -> Envelope {
    loop {
        if let tungstenite::Message::Binary(b) = ws.read().unwrap() {
            return Envelope::decode(&b[..]).unwrap();
        }
    }
}

fn send_pb(ws: &mut Ws, message: Message) {
    let envelope = Envelope { cid: String::new(), message: Some(message) };
    ws.send(tungstenite::Message::binary(envelope.encode_to_vec())).unwrap();
}

fn table(api: &Api, tag: &str) -> Table {
    let open =
        |n: &str, q: &str| ws_open(api, &session(api, &format!("device-data-{tag}-{n}"), &format!("{tag}{n}")), q);
    let (mut a, mut b, mut c) = (open("a", ""), open("b", ""), open("c", "format=protobuf"));
    let (created, _) = ws_call(&mut a, "1", json!({"match_create": {}}));
    let match_id = created["match"]["match_id"].as_str().unwrap().to_string();
    own_join(&mut a, "match", &format!("{tag}a"));
    let (party, _) = ws_call(&mut a, "2", json!({"party_create": {"open": true, "max_size": 4}}));
    let party_id = party["party"]["party_id"].as_str().unwrap().to_string();
    own_join(&mut a, "party", &format!("{tag}a"));
    ws_call(&mut b, "3", json!({"match_join": {"match_id": match_id}}));
    own_join(&mut b, "match", &format!("{tag}b"));
    ws_call(&mut b, "4", json!({"party_join": {"party_id": party_id}}));
    own_join(&mut b, "party", &format!("{tag}b"));
    // c joins in protobuf.
    let join = |id: &str| {
        Message::MatchJoin(kaosnet::realtime::protobuf::realtime::MatchJoin {
            id: Some(kaosnet::realtime::protobuf::realtime::match_join::Id::MatchId(id.into())),
            metadata: Default::default(),
        })
    };
    send_pb(&mut c, join(&match_id));
    while !matches!(next_pb(&mut c).message, Some(Message::MatchPresenceEvent(_))) {}
    send_pb(
        &mut c,
        Message::PartyJoin(kaosnet::realtime::protobuf::realtime::PartyJoin { party_id: party_id.clone() }),
    );
    while !matches!(next_pb(&mut c).message, Some(Message::PartyPresenceEvent(_))) {}
    // What the joins told a and b.
    common::ws_drain(&mut a);
    common::ws_drain(&mut b);
    Table { a, b, c, match_id, party_id }
}

/// What each relayed message looked like to b (JSON) and c (protobuf, as its Debug text),
/// and the errors the bad ones got, for one way of handling them.
fn run(api: &Api, tag: &str) -> Vec<String> {
    let mut t = table(api, tag);
    let (m, p) = (t.match_id.clone(), t.party_id.clone());
    let mut seen = Vec::new();
    let good = [
        json!({"match_data_send": {"match_id": m, "op_code": "0", "data": ""}}),
        json!({"match_data_send": {"match_id": m, "op_code": 7, "data": "AAH/", "reliable": true}}),
        json!({"matchDataSend": {"matchId": m, "opCode": "-3", "data": "aGk=", "extra": [1, {"x": null}]}}),
        json!({"party_data_send": {"party_id": p, "op_code": "5", "data": "aGk="}}),
        json!({"partyDataSend": {"partyId": p, "opCode": 6}}),
    ];
    for message in good {
        ws_send(&mut t.a, message);
        let b = ws_next(&mut t.b);
        let c = next_pb(&mut t.c);
        // The ids differ between runs; the rest must not.
        let text = b.to_string().replace(&m, "M").replace(&p, "P");
        let pb = format!("{:?}", c.message).replace(&m, "M").replace(&p, "P");
        seen.push(format!("{}|{}", strip_sessions(&text), strip_sessions(&pb)));
    }
    let bad = [
        json!({"match_data_send": {"match_id": m, "op_code": "x"}}),
        json!({"match_data_send": {"match_id": m, "op_code": "1", "data": "***"}}),
        json!({"match_data_send": {"match_id": "nope", "op_code": "1"}}),
        json!({"match_data_send": {"op_code": "1"}}),
        json!({"match_data_send": {"match_id": m, "op_code": "1", "presences": [{"session_id": "x"}]}}),
        json!({"match_data_send": {"match_id": m, "op_code": "1"}, "ping": {}}),
        json!({"party_data_send": {"party_id": "nope", "op_code": "1"}}),
        json!({"party_data_send": {"party_id": p, "op_code": 1.5}}),
        json!({"match_data_send": {"match_id": m, "op_code": "1", "data": base64(70 * 1024)}}),
    ];
    for message in bad {
        let (answer, pushed) = ws_call(&mut t.a, "bad", message.clone());
        assert!(pushed.is_empty(), "{pushed:?}");
        seen.push(format!("{message} -> {}", answer["error"]));
    }
    // Nothing else reached b or c.
    assert_eq!(common::ws_drain(&mut t.b), Vec::<Value>::new());
    send_pb(&mut t.c, Message::PartyDataSend(PartyDataSend { party_id: p.clone(), op_code: 11, data: vec![9] }));
    let a = ws_next(&mut t.a);
    seen.push(strip_sessions(&a.to_string().replace(&p, "P")));
    seen.iter().map(|s| s.replace(&m, "M").replace(&p, "P").replace(tag, "T")).collect()
}

fn base64(n: usize) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![1u8; n])
}

/// Session and user ids differ between runs: every UUID becomes `<id>`.
fn strip_sessions(s: &str) -> String {
    let b = s.as_bytes();
    let uuid_at = |i: usize| {
        b.len() >= i + 36
            && (0..36).all(|k| match k {
                8 | 13 | 18 | 23 => b[i + k] == b'-',
                _ => b[i + k].is_ascii_hexdigit(),
            })
    };
    let (mut out, mut i) = (String::new(), 0);
    while i < b.len() {
        if uuid_at(i) {
            out.push_str("<id>");
            i += 36;
        } else {
            let c = s[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

#[test]
fn the_typed_path_and_the_json_path_relay_and_refuse_alike() {
    let api = start();
    let typed = run(&api, "qx");
    // A hook on each kind sends them the JSON way.
    for kind in ["match_data_send", "party_data_send"] {
        api.kaos.hooks().before(kind, |_, request| Ok(request));
    }
    let hooked = run(&api, "qz");
    for (t, h) in typed.iter().zip(&hooked) {
        assert_eq!(t, h);
    }
    assert_eq!(typed.len(), hooked.len());
    // What the events hold, once: op code 0 kept in JSON, empty data and false
    // reliable left out, int64 as strings.
    assert!(typed[0].contains(r#""op_code":"0""#), "{}", typed[0]);
    assert!(!typed[0].contains(r#""data""#), "{}", typed[0]);
    assert!(typed[1].contains(r#""data":"AAH/""#) && typed[1].contains(r#""reliable":true"#), "{}", typed[1]);
    assert!(typed[2].contains(r#""op_code":"-3""#), "{}", typed[2]);
    assert!(typed[3].contains(r#""party_data""#) && typed[3].contains(r#""data":"aGk=""#), "{}", typed[3]);
    assert!(typed[4].contains(r#""op_code":"6""#), "{}", typed[4]);
    let errors: Vec<&str> = typed[5..14].iter().map(|s| s.split(" -> ").nth(1).unwrap()).collect();
    for e in &errors {
        assert!(e.contains(r#""code":"#), "every bad message is answered: {errors:?}");
    }
    assert!(typed[14].contains(r#""op_code":"11""#) && typed[14].contains(r#""data":"CQ==""#), "{}", typed[14]);
}

#[test]
fn a_frame_the_general_path_cannot_read_is_not_read_by_the_typed_one_either() {
    use kaosnet::realtime::{receive, SessionId, SocketSession};
    let kaos =
        kaosnet::KaosNet::new(Arc::new(kaosnet::store::MemoryStore::new()), Default::default(), Default::default());
    let session = SocketSession {
        id: SessionId::from_raw(1),
        user_id: "00000000-0000-4000-8000-000000000001".into(),
        username: "p1".into(),
        vars: Default::default(),
        status: false,
        format: Default::default(),
    };
    // Not UTF-8 in a field the typed path skips (found by fuzzing).
    let mut frame = br#"{"cid":"9","match_data_send":{"match_id":"m.","op_code":"1","extra":"#.to_vec();
    frame.extend_from_slice(b"\"\xff\xfe\"}}");
    let replies = receive(&kaos, &session, &frame);
    assert_eq!(replies, [json!({"error": {"code": 1, "message": "Could not parse message"}})]);
}
