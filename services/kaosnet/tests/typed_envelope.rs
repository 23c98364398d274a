//! Every message kind is read typed, straight from the frame (pbjson for JSON, prost for
//! protobuf); a kind with hooks is read as a JSON tree so the hooks can see and change
//! it. Both readings must answer alike: the same replies and the same refusals, whatever
//! the spelling (proto or lowerCamelCase names), the extra fields or the wrong types.

use std::sync::Arc;

use kaosnet::realtime::{envelope, receive, Format, SessionId, SocketSession};
use kaosnet::store::MemoryStore;
use kaosnet::KaosNet;
use serde_json::{json, Value};

fn session(format: Format) -> SocketSession {
    SocketSession {
        id: SessionId::from_raw(7),
        user_id: "00000000-0000-4000-8000-000000000007".into(),
        username: "reader".into(),
        vars: Default::default(),
        status: false,
        format,
    }
}

fn services() -> Arc<KaosNet> {
    let kaos = KaosNet::new(Arc::new(MemoryStore::new()), Default::default(), Default::default());
    kaos.rpcs().register("echo", |_, p| Ok(p.to_string()));
    kaos
}

/// Frames whose answers do not depend on ids the server makes up.
fn frames() -> Vec<Value> {
    let bad_user = "not-a-uuid";
    vec![
        json!({"cid": "1", "ping": {}}),
        json!({"cid": "2", "ping": null}),
        json!({"cid": "3", "rpc": {"id": "echo", "payload": "hi", "extra": [1, 2]}}),
        json!({"cid": "4", "rpc": {"payload": "no id"}}),
        json!({"cid": "5", "rpc": {"id": 5}}),
        json!({"cid": "6", "statusFollow": {"userIds": [bad_user]}}),
        json!({"cid": "7", "status_follow": {"usernames": ["nobody"]}}),
        json!({"cid": "8", "status_follow": {"user_ids": "not a list"}}),
        json!({"cid": "9", "status_update": {"status": "x".repeat(3000)}}),
        json!({"cid": "10", "status_unfollow": {"user_ids": [bad_user]}}),
        json!({"cid": "11", "channel_join": {"target": "", "type": 1}}),
        json!({"cid": "12", "channelJoin": {"target": "lobby", "type": 9}}),
        json!({"cid": "13", "channel_join": {"target": "lobby", "type": "room"}}),
        json!({"cid": "14", "channel_leave": {"channel_id": "nope"}}),
        json!({"cid": "15", "channel_message_send": {"channel_id": "2...lobby", "content": "{}"}}),
        json!({"cid": "16", "channel_message_update": {"channel_id": "2...lobby", "message_id": "m"}}),
        json!({"cid": "17", "channel_message_remove": {"channelId": "x", "messageId": "m"}}),
        json!({"cid": "18", "party_create": {"open": true, "max_size": 0}}),
        json!({"cid": "19", "party_create": {"open": "yes", "max_size": 2}}),
        json!({"cid": "20", "party_join": {"party_id": "bad"}}),
        json!({"cid": "21", "partyJoin": {"partyId": "6f1c2a8e-2f47-4c55-9d7e-3b1f0a9c8d11.kaos"}}),
        json!({"cid": "22", "party_accept": {"party_id": "bad", "presence": {}}}),
        json!({"cid": "23", "party_matchmaker_remove": {"party_id": "bad", "ticket": "t"}}),
        json!({"cid": "24", "matchmaker_add": {"min_count": 1, "max_count": 2, "query": "*"}}),
        json!({"cid": "25", "matchmaker_add": {"min_count": 2, "max_count": 4, "count_multiple": -1}}),
        json!({"cid": "26", "matchmakerAdd": {"minCount": "two", "maxCount": 4}}),
        json!({"cid": "27", "matchmaker_remove": {"ticket": "none"}}),
        json!({"cid": "28", "match_join": {"match_id": "bad"}}),
        json!({"cid": "29", "match_join": {}}),
        json!({"cid": "30", "match_join": {"token": "forged"}}),
        json!({"cid": "31", "match_join": {"match_id": "6f1c2a8e-2f47-4c55-9d7e-3b1f0a9c8d11.", "token": "t"}}),
        json!({"cid": "32", "match_leave": {"match_id": "6f1c2a8e-2f47-4c55-9d7e-3b1f0a9c8d11."}}),
        json!({"cid": "33", "match_data_send": {"match_id": "bad", "op_code": "1"}}),
        json!({"cid": "34", "ping": {}, "not_a_kind": {}}),
        json!({"cid": "35", "ping": {}, "rpc": {"id": "echo"}}),
        json!({"cid": "36", "channel_join": {"target": "lobby", "targt": 1, "type": 1, "persistence": false}}),
        json!({"cid": "37", "rpc": {"id": "echo", "payload": "twice", "http_key": "k", "httpKey": "k"}}),
    ]
}

#[test]
fn the_typed_and_the_tree_readings_answer_every_kind_alike() {
    let (typed, tree) = (services(), services());
    let s = session(Format::Json);
    let mut answered = 0;
    for frame in frames() {
        let bytes = frame.to_string();
        let a = receive(&typed, &s, bytes.as_bytes());
        let b = envelope(&tree, &s, bytes.as_bytes());
        assert_eq!(a, b, "{frame}");
        answered += usize::from(!a.is_empty());
    }
    assert!(answered >= 35, "nearly every frame has an answer");
    // What they answer (spot checks that the readings are not both wrong).
    let ask = |v: Value| receive(&typed, &s, v.to_string().as_bytes());
    assert_eq!(
        ask(json!({"cid": "a", "rpc": {"id": "echo", "payload": "x", "extra": 1}})),
        [json!({"cid": "a", "rpc": {"id": "echo", "payload": "x"}})]
    );
    assert_eq!(ask(json!({"cid": "b", "ping": null})), [json!({"cid": "b", "pong": {}})]);
    assert_eq!(ask(json!({"cid": "c", "rpc": {"id": 5}}))[0]["error"]["code"], 3, "a wrong type is bad input");
    let both = ask(json!({"cid": "d", "ping": {}, "rpc": {"id": "echo"}}));
    assert_eq!(both[0]["error"]["code"], 1, "two kinds in one frame: {both:?}");
    assert_eq!(ask(json!({"cid": "e", "ping": {}, "not_a_kind": {}})), [json!({"cid": "e", "pong": {}})]);
    let twice = ask(json!({"cid": "f", "rpc": {"id": "echo", "http_key": "k", "httpKey": "k"}}));
    assert_eq!(twice[0]["error"]["code"], 1, "a field under both names is no message: {twice:?}");
}

#[test]
fn with_hooks_the_tree_reading_runs_and_answers_the_same() {
    let (plain, hooked) = (services(), services());
    // Hooks that let everything through, on every kind the frames use.
    for op in kaosnet::HookOperation::ALL {
        hooked.hooks().before(op.name(), |_, body| Ok(body));
    }
    let s = session(Format::Json);
    for frame in frames() {
        let bytes = frame.to_string();
        assert_eq!(receive(&plain, &s, bytes.as_bytes()), receive(&hooked, &s, bytes.as_bytes()), "{frame}");
    }
}

#[test]
fn protobuf_frames_are_read_into_the_same_messages() {
    use kaosnet::realtime::protobuf::realtime::Envelope;
    let (json_side, proto_side) = (services(), services());
    let (j, p) = (session(Format::Json), session(Format::Protobuf));
    let mut compared = 0;
    for frame in frames() {
        // Frames protobuf can carry: those the JSON mapping reads.
        let Ok(envelope) = serde_json::from_value::<Envelope>(frame.clone()) else { continue };
        let bytes = prost::Message::encode_to_vec(&envelope);
        let canonical = serde_json::to_string(&envelope).unwrap();
        assert_eq!(receive(&json_side, &j, canonical.as_bytes()), receive(&proto_side, &p, &bytes), "{frame}");
        compared += 1;
    }
    assert!(compared >= 25, "most frames have a protobuf form: {compared}");
}
