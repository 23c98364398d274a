//! Status through the realtime socket with several users: follows, presence events on
//! connect, update and disconnect, unfollow, and bad input.

mod common;

use common::{session, start, user_id, ws_call, ws_drain, ws_next, ws_open};
use serde_json::{json, Value};

fn presence_users(list: &Value) -> Vec<(String, Option<String>)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| (p["username"].as_str().unwrap().to_string(), p["status"].as_str().map(str::to_string)))
        .collect()
}

#[test]
fn followers_hear_a_user_come_online_change_status_and_leave() {
    let api = start();
    let alice = session(&api, "device-status-a1", "alice");
    let bob = session(&api, "device-status-b1", "bob");
    let mut a = ws_open(&api, &alice, "status=false");
    let (reply, _) = ws_call(&mut a, "1", json!({"status_follow": {"user_ids": [user_id(&bob)]}}));
    assert_eq!(reply["status"].get("presences"), None, "{reply}");

    // Bob connects asking to appear online: Alice hears it.
    let mut b = ws_open(&api, &bob, "status=true");
    let event = ws_next(&mut a);
    let joins = &event["status_presence_event"]["joins"];
    assert_eq!(presence_users(joins), vec![("bob".to_string(), None)], "{event}");
    assert_eq!(joins[0]["user_id"], user_id(&bob));
    assert!(uuid::Uuid::parse_str(joins[0]["session_id"].as_str().unwrap()).is_ok(), "{event}");

    // Bob's status text: one event with the new presence joining and the old leaving.
    let (ack, _) = ws_call(&mut b, "2", json!({"status_update": {"status": "in a match"}}));
    assert_eq!(ack, json!({"cid": "2"}));
    let event = ws_next(&mut a);
    assert_eq!(
        presence_users(&event["status_presence_event"]["joins"]),
        vec![("bob".into(), Some("in a match".into()))]
    );
    assert_eq!(presence_users(&event["status_presence_event"]["leaves"]), vec![("bob".into(), None)]);

    // A second follower sees Bob's current presence in the reply.
    let carol = session(&api, "device-status-c1", "carol");
    let mut c = ws_open(&api, &carol, "");
    let (reply, _) = ws_call(&mut c, "3", json!({"status_follow": {"usernames": ["bob"]}}));
    assert_eq!(presence_users(&reply["status"]["presences"]), vec![("bob".into(), Some("in a match".into()))]);

    // Bob goes: both followers hear him leave; Bob himself heard nothing of his own.
    assert_eq!(ws_drain(&mut b), Vec::<Value>::new());
    b.close(None).unwrap();
    while b.read().is_ok() {}
    for ws in [&mut a, &mut c] {
        let event = ws_next(ws);
        assert_eq!(
            presence_users(&event["status_presence_event"]["leaves"]),
            vec![("bob".into(), Some("in a match".into()))]
        );
    }

    // Alice unfollows; Bob's return reaches Carol only.
    let (ack, _) = ws_call(&mut a, "4", json!({"status_unfollow": {"user_ids": [user_id(&bob)]}}));
    assert_eq!(ack, json!({"cid": "4"}));
    let _b = ws_open(&api, &bob, "status=true");
    let event = ws_next(&mut c);
    assert_eq!(presence_users(&event["status_presence_event"]["joins"]), vec![("bob".into(), None)]);
    assert_eq!(ws_drain(&mut a), Vec::<Value>::new());
}

#[test]
fn status_update_without_text_goes_offline_and_status_false_stays_hidden() {
    let api = start();
    let alice = session(&api, "device-status-a2", "alice2");
    let bob = session(&api, "device-status-b2", "bob2");
    let mut a = ws_open(&api, &alice, "");
    ws_call(&mut a, "1", json!({"status_follow": {"user_ids": [user_id(&bob)]}}));
    // Connected without status: nobody hears of it.
    let mut b = ws_open(&api, &bob, "status=false");
    assert_eq!(ws_drain(&mut a), Vec::<Value>::new());
    ws_call(&mut b, "2", json!({"status_update": {"status": "hi"}}));
    let event = ws_next(&mut a);
    assert_eq!(presence_users(&event["status_presence_event"]["joins"]), vec![("bob2".into(), Some("hi".into()))]);
    ws_call(&mut b, "3", json!({"status_update": {}}));
    let event = ws_next(&mut a);
    assert_eq!(event["status_presence_event"].get("joins"), None);
    assert_eq!(presence_users(&event["status_presence_event"]["leaves"]), vec![("bob2".into(), Some("hi".into()))]);
}

#[test]
fn bad_follows_get_error_envelopes() {
    let api = start();
    let alice = session(&api, "device-status-a3", "alice3");
    let mut a = ws_open(&api, &alice, "");
    for bad in [
        json!({"status_follow": {"user_ids": ["not-a-uuid"]}}),
        json!({"status_follow": {"user_ids": ["00000000-0000-4000-8000-000000000000"]}}),
        json!({"status_follow": {"usernames": ["nobody-by-this-name"]}}),
        json!({"status_follow": {"user_ids": "one"}}),
        json!({"status_update": {"status": "x".repeat(3000)}}),
    ] {
        let (reply, _) = ws_call(&mut a, "e", bad.clone());
        assert_eq!(reply["error"]["code"], 3, "{bad} -> {reply}");
    }
    // Following oneself is allowed and changes nothing.
    let (reply, _) = ws_call(&mut a, "s", json!({"status_follow": {"user_ids": [user_id(&alice)]}}));
    assert_eq!(reply["status"].get("presences"), None);
    assert_eq!(api.kaos.tracker().count_all(), 0);
}
