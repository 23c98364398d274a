//! Chat through the realtime socket with several users: rooms, hidden members, messages
//! reaching exactly the members, edits by the sender only, history pages, direct chats
//! with their notification, bad input.

mod common;
use common::ListField;

use common::{bearer, call, session, start, user_id, ws_call, ws_drain, ws_next, ws_open, Ws};
use serde_json::{json, Value};

fn names(list: &Value) -> Vec<&str> {
    list.list().iter().map(|p| p["username"].as_str().unwrap()).collect()
}

fn user(api: &common::Api, name: &str) -> (Ws, Value) {
    let s = session(api, &format!("device-chat-{name}"), name);
    (ws_open(api, &s, ""), s)
}

/// Joins a channel; a visible joiner then hears of its own join, as in Nakama.
fn join(ws: &mut Ws, target: &str, kind: i32, persistence: bool, hidden: bool) -> Value {
    let (reply, _) = ws_call(
        ws,
        "j",
        json!({"channel_join": {"target": target, "type": kind, "persistence": persistence, "hidden": hidden}}),
    );
    if reply.get("channel").is_some() && !hidden {
        let own = ws_next(ws);
        let event = &own["channel_presence_event"];
        assert_eq!(event["channel_id"], reply["channel"]["id"], "{own}");
        assert_eq!(event["joins"], json!([reply["channel"]["self"]]), "{own}");
    }
    reply
}

/// Sends a message; its ack.
fn say(ws: &mut Ws, channel: &str, text: &str) -> Value {
    say_and_hear(ws, channel, text).0
}

/// Sends a message; its ack and the copy the sender receives (which may come before or
/// after the ack).
fn say_and_hear(ws: &mut Ws, channel: &str, text: &str) -> (Value, Value) {
    let content = json!({ "text": text }).to_string();
    let (ack, pushed) = ws_call(ws, "s", json!({"channel_message_send": {"channel_id": channel, "content": content}}));
    (ack, own(ws, pushed))
}

/// The sender's own copy of a channel message: among what came before the answer, or next.
fn own(ws: &mut Ws, pushed: Vec<Value>) -> Value {
    pushed.into_iter().find(|m| m.get("channel_message").is_some()).unwrap_or_else(|| ws_next(ws))
}

#[test]
fn room_members_hear_each_other_and_only_the_sender_edits() {
    let api = start();
    let (mut a, _) = user(&api, "amy");
    let (mut b, _) = user(&api, "bo");
    let (mut c, _) = user(&api, "cy");
    let (mut d, _) = user(&api, "di");
    let ch = join(&mut a, "lobby", 1, true, false);
    assert_eq!(ch["channel"]["id"], "2...lobby", "{ch}");
    assert_eq!(ch["channel"]["room_name"], "lobby");
    let ch = join(&mut b, "lobby", 1, false, false);
    assert_eq!(names(&ch["channel"]["presences"]), vec!["amy"]);
    let e = ws_next(&mut a);
    assert_eq!(e["channel_presence_event"]["channel_id"], "2...lobby");
    assert_eq!(names(&e["channel_presence_event"]["joins"]), vec!["bo"]);
    // A hidden member is announced to nobody and listed to nobody.
    let ch = join(&mut c, "lobby", 1, false, true);
    assert_eq!(names(&ch["channel"]["presences"]), vec!["amy", "bo"]);
    assert_eq!(ws_drain(&mut a), Vec::<Value>::new());
    assert_eq!(names(&join(&mut d, "lobby", 1, false, false)["channel"]["presences"]), vec!["amy", "bo"]);
    let _ = (ws_next(&mut a), ws_next(&mut b));
    let (reply, _) = ws_call(&mut d, "l", json!({"channel_leave": {"channel_id": "2...lobby"}}));
    assert_eq!(reply, json!({"cid": "l"}));
    for ws in [&mut a, &mut b] {
        assert_eq!(names(&ws_next(ws)["channel_presence_event"]["leaves"]), vec!["di"]);
    }
    // The hidden member hears the others come and go.
    assert_eq!(ws_drain(&mut c).len(), 2);

    // Amy's message reaches every member, herself included; Di (gone) hears nothing.
    let (ack, mine) = say_and_hear(&mut a, "2...lobby", "hello");
    let ack = &ack["channel_message_ack"];
    assert_eq!((ack["persistent"].clone(), ack["room_name"].clone()), (json!(true), json!("lobby")), "{ack}");
    let id = ack["message_id"].as_str().unwrap().to_string();
    for m in [mine, ws_next(&mut b), ws_next(&mut c)] {
        let m = &m["channel_message"];
        assert_eq!(
            (m["message_id"].as_str(), m["username"].as_str(), m["code"].clone()),
            (Some(id.as_str()), Some("amy"), json!(0))
        );
        assert_eq!(serde_json::from_str::<Value>(m["content"].as_str().unwrap()).unwrap(), json!({"text": "hello"}));
    }
    assert_eq!(ws_drain(&mut d), Vec::<Value>::new());

    // Only Amy changes it.
    let upd = |text: &str| json!({"channel_message_update": {"channel_id": "2...lobby", "message_id": id, "content": json!({"text": text}).to_string()}});
    assert_eq!(ws_call(&mut b, "u", upd("mine now")).0["error"]["code"], 3);
    let (ack, pushed) = ws_call(&mut a, "u", upd("edited"));
    assert_eq!(ack["channel_message_ack"]["code"], 1);
    let mine = own(&mut a, pushed);
    for m in [mine, ws_next(&mut b), ws_next(&mut c)] {
        assert_eq!(
            (m["channel_message"]["code"].clone(), m["channel_message"]["content"].clone()),
            (json!(1), json!(r#"{"text":"edited"}"#))
        );
    }
    let rm = json!({"channel_message_remove": {"channel_id": "2...lobby", "message_id": id}});
    assert_eq!(ws_call(&mut a, "r", rm.clone()).0["channel_message_ack"]["code"], 2);
    assert_eq!(ws_next(&mut b)["channel_message"]["code"], 2);
    assert_eq!(ws_call(&mut a, "r", rm).0["error"]["code"], 3);

    // Bo did not ask for persistence: his message is delivered, not stored.
    assert_eq!(say(&mut b, "2...lobby", "fleeting")["channel_message_ack"]["persistent"], false);
    let (_, history) =
        call(&api, "GET", "/v2/channel/2...lobby", &bearer(&session(&api, "device-chat-amy", "amy")["token"]), "");
    assert_eq!(history.get("messages"), None, "{history}");
}

#[test]
fn history_pages_both_ways_with_cursors() {
    let api = start();
    let (mut a, s) = user(&api, "eli");
    join(&mut a, "archive", 1, true, false);
    for i in 0..15 {
        say_and_hear(&mut a, "2...archive", &i.to_string());
    }
    let text = |m: &Value| {
        serde_json::from_str::<Value>(m["content"].as_str().unwrap()).unwrap()["text"].as_str().unwrap().to_string()
    };
    let get = |q: &str| call(&api, "GET", &format!("/v2/channel/2...archive?{q}"), &bearer(&s["token"]), "").1;
    let page = get("limit=10");
    let got: Vec<String> = page["messages"].list().iter().map(text).collect();
    assert_eq!(got, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    assert_eq!(page["messages"][0]["room_name"], "archive");
    let next = page["next_cursor"].as_str().unwrap();
    let page2 = get(&format!("limit=10&cursor={next}"));
    let got: Vec<String> = page2["messages"].list().iter().map(text).collect();
    assert_eq!(got, (10..15).map(|i| i.to_string()).collect::<Vec<_>>());
    assert!(page2.get("next_cursor").is_none(), "{page2}");
    // Back from the second page.
    let back = get(&format!("limit=3&cursor={}", page2["prev_cursor"].as_str().unwrap()));
    assert_eq!(back["messages"].list().iter().map(text).collect::<Vec<_>>(), ["9", "8", "7"]);
    // Newest first.
    let newest = get("limit=2&forward=false");
    assert_eq!(newest["messages"].list().iter().map(text).collect::<Vec<_>>(), ["14", "13"]);
    for bad in ["limit=0", "limit=101", "cursor=zzz", "forward=maybe"] {
        assert_eq!(get(bad)["code"], 3, "{bad}");
    }
    assert_eq!(call(&api, "GET", "/v2/channel/9.x.y.z", &bearer(&s["token"]), "").0, 400);
}

#[test]
fn direct_chats_notify_the_other_user_and_stay_private() {
    let api = start();
    let (mut a, sa) = user(&api, "flo");
    let (mut b, sb) = user(&api, "gus");
    let (_, sc) = user(&api, "hal");
    let ch = join(&mut a, &user_id(&sb), 2, true, false);
    let id = ch["channel"]["id"].as_str().unwrap().to_string();
    let (one, two) = (ch["channel"]["user_id_one"].as_str().unwrap(), ch["channel"]["user_id_two"].as_str().unwrap());
    assert!(one < two && [one, two].contains(&user_id(&sa).as_str()) && [one, two].contains(&user_id(&sb).as_str()));
    // Gus is online but not in the chat: he gets a DM request notification (and it is kept).
    let n = ws_next(&mut b);
    let n = &n["notifications"]["notifications"][0];
    assert_eq!((n["code"].clone(), n["sender_id"].as_str()), (json!(-1), Some(user_id(&sa).as_str())), "{n}");
    let (_, listed) = call(&api, "GET", "/v2/notification", &bearer(&sb["token"]), "");
    assert_eq!(listed["notifications"][0]["id"], n["id"]);
    let ch = join(&mut b, &user_id(&sa), 2, true, false);
    assert_eq!(ch["channel"]["id"], id);
    assert_eq!(names(&ch["channel"]["presences"]), vec!["flo"]);
    say(&mut b, &id, "hey");
    assert_eq!(ws_next(&mut a)["channel_presence_event"]["joins"][0]["username"], "gus");
    assert_eq!(ws_next(&mut a)["channel_message"]["username"], "gus");
    // Hal may not read it, the two may.
    let url = format!("/v2/channel/{id}");
    assert_eq!(call(&api, "GET", &url, &bearer(&sc["token"]), "").0, 403);
    assert_eq!(call(&api, "GET", &url, &bearer(&sa["token"]), "").1["messages"].list().len(), 1);
    assert_eq!(join(&mut a, &user_id(&sa), 2, false, false)["error"]["code"], 3);
}

#[test]
fn bad_chat_messages_get_error_envelopes() {
    let api = start();
    let (mut a, _) = user(&api, "ivy");
    join(&mut a, "room", 1, false, false);
    for bad in [
        json!({"channel_join": {"target": "", "type": 1}}),
        json!({"channel_join": {"target": "x".repeat(65), "type": 1}}),
        json!({"channel_join": {"target": "room", "type": 9}}),
        json!({"channel_join": {"target": "not-a-uuid", "type": 2}}),
        json!({"channel_message_send": {"channel_id": "2...room", "content": "not json"}}),
        json!({"channel_message_send": {"channel_id": "2...room", "content": "[1,2]"}}),
        json!({"channel_message_send": {"channel_id": "2...room", "content": json!({"t": "x".repeat(5000)}).to_string()}}),
        json!({"channel_message_send": {"channel_id": "2...other", "content": "{}"}}),
        json!({"channel_message_send": {"channel_id": "garbage", "content": "{}"}}),
        json!({"channel_message_send": {"channel_id": "2...room"}}),
    ] {
        let (reply, _) = ws_call(&mut a, "e", bad.clone());
        assert_eq!(reply["error"]["code"], 3, "{bad} -> {reply}");
    }
    // As protojson: unknown fields are ignored, and lowerCamelCase names are taken.
    let (reply, _) = ws_call(&mut a, "u", json!({"channelJoin": {"target": "room", "type": 1, "colour": "red"}}));
    assert_eq!(reply["channel"]["id"], "2...room", "{reply}");
    let message = json!({"channelMessageSend": {"channelId": "2...room", "content": "{}"}});
    assert!(ws_call(&mut a, "m", message).0.get("channel_message_ack").is_some());
}
