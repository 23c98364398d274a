//! Notifications: the Rust API delivers to online sessions at once and keeps persistent
//! ones for the REST list (with a cacheable cursor) until they are deleted.

mod common;
use common::ListField;

use common::{bearer, call, session, start, user_id, ws_drain, ws_next, ws_open};
use kaosnet::notifications::Outgoing;
use serde_json::{json, Value};

fn note(user: &str, subject: &str, persistent: bool) -> Outgoing {
    Outgoing {
        user_id: user.to_string(),
        subject: subject.to_string(),
        content: json!({"reward": subject}),
        code: 101,
        sender_id: None,
        persistent,
    }
}

fn subjects(v: &Value) -> Vec<&str> {
    v["notifications"].list().iter().map(|n| n["subject"].as_str().unwrap()).collect()
}

#[test]
fn online_users_get_them_at_once_and_persistent_ones_are_kept() {
    let api = start();
    let on = session(&api, "device-note-on1", "online1");
    let off = session(&api, "device-note-off1", "offline1");
    let mut ws = ws_open(&api, &on, "");
    ws_drain(&mut ws);

    api.kaos.notifications().send(note(&user_id(&on), "live", false)).unwrap();
    let got = ws_next(&mut ws);
    let n = &got["notifications"]["notifications"][0];
    assert_eq!(
        (n["subject"].as_str(), n["code"].clone(), n["persistent"].clone()),
        (Some("live"), json!(101), json!(false))
    );
    assert_eq!(serde_json::from_str::<Value>(n["content"].as_str().unwrap()).unwrap(), json!({"reward": "live"}));
    // Not kept.
    assert_eq!(subjects(&call(&api, "GET", "/v2/notification", &bearer(&on["token"]), "").1), Vec::<&str>::new());

    // A batch: one envelope per user; the offline user finds the persistent ones later.
    api.kaos
        .notifications()
        .send_all(vec![
            note(&user_id(&off), "a", true),
            note(&user_id(&on), "b", true),
            note(&user_id(&off), "c", true),
            note(&user_id(&off), "d", false),
        ])
        .unwrap();
    assert_eq!(subjects(&ws_next(&mut ws)["notifications"]), vec!["b"]);
    let (status, page) = call(&api, "GET", "/v2/notification?limit=1", &bearer(&off["token"]), "");
    assert_eq!((status, subjects(&page)), (200, vec!["a"]));
    let cursor = page["cacheable_cursor"].as_str().unwrap().to_string();
    let (_, page) =
        call(&api, "GET", &format!("/v2/notification?limit=10&cacheable_cursor={cursor}"), &bearer(&off["token"]), "");
    assert_eq!(subjects(&page), vec!["c"]);
    let cursor = page["cacheable_cursor"].as_str().unwrap().to_string();
    // Nothing new: the same cursor comes back.
    let (_, page) =
        call(&api, "GET", &format!("/v2/notification?cacheable_cursor={cursor}"), &bearer(&off["token"]), "");
    assert_eq!((subjects(&page), page["cacheable_cursor"].as_str()), (vec![], Some(cursor.as_str())));
    api.kaos.notifications().send(note(&user_id(&off), "e", true)).unwrap();
    let (_, page) =
        call(&api, "GET", &format!("/v2/notification?cacheable_cursor={cursor}"), &bearer(&off["token"]), "");
    assert_eq!(subjects(&page), vec!["e"]);

    // Deleting: only one's own.
    let (_, all) = call(&api, "GET", "/v2/notification", &bearer(&off["token"]), "");
    let ids: Vec<String> = all["notifications"].list().iter().map(|n| n["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 3);
    let (status, _) = call(&api, "DELETE", &format!("/v2/notification?ids={}", ids[0]), &bearer(&on["token"]), "");
    assert_eq!(status, 200);
    let (status, _) =
        call(&api, "DELETE", &format!("/v2/notification?ids={}&ids={}", ids[0], ids[2]), &bearer(&off["token"]), "");
    assert_eq!(status, 200);
    assert_eq!(subjects(&call(&api, "GET", "/v2/notification", &bearer(&off["token"]), "").1), vec!["c"]);
}

#[test]
fn bad_notifications_are_refused_whole() {
    let api = start();
    let s = session(&api, "device-note-bad1", "badnote");
    let uid = user_id(&s);
    let mut not_object = note(&uid, "x", true);
    not_object.content = json!([1]);
    let mut reserved = note(&uid, "y", true);
    reserved.code = 0;
    for bad in [not_object, reserved, note("not-a-user-id", "z", true)] {
        assert!(api.kaos.notifications().send_all(vec![note(&uid, "ok", true), bad]).is_err());
    }
    assert_eq!(subjects(&call(&api, "GET", "/v2/notification", &bearer(&s["token"]), "").1), Vec::<&str>::new());
    for q in ["limit=0", "cacheable_cursor=%%%"] {
        assert_eq!(call(&api, "GET", &format!("/v2/notification?{q}"), &bearer(&s["token"]), "").0, 400, "{q}");
    }
    assert_eq!(call(&api, "GET", "/v2/notification", "", "").0, 401);
}
