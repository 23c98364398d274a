//! Friends through the REST API with several users: states on both sides, notifications
//! received live, blocks, refused requests that change nothing, cursors, friends of
//! friends.

mod common;
use common::ListField;

use common::{call, call_as, sign_in, start, ws_drain, ws_next, ws_open, Api, SignedIn};
use serde_json::{json, Value};

fn req(api: &Api, u: &SignedIn, method: &str, path: &str) -> (u16, Value) {
    call_as(api, u, method, path, "")
}

/// (username, state) of `u`'s friend list.
fn states(api: &Api, u: &SignedIn) -> Vec<(String, i64)> {
    let (status, body) = req(api, u, "GET", "/v2/friend");
    assert_eq!(status, 200, "{body}");
    body["friends"]
        .list()
        .iter()
        .map(|f| (f["user"]["username"].as_str().unwrap().to_string(), f["state"].as_i64().unwrap()))
        .collect()
}

fn st(name: &str, state: i64) -> (String, i64) {
    (name.to_string(), state)
}

#[test]
fn invites_are_accepted_by_adding_back_and_both_sides_hear_of_it() {
    let api = start();
    let (a, b, c) = (sign_in(&api, "fa"), sign_in(&api, "fb"), sign_in(&api, "fc"));
    let mut bws = ws_open(&api, &b.s, "");
    let mut aws = ws_open(&api, &a.s, "");
    ws_drain(&mut bws);
    ws_drain(&mut aws);

    // A invites B by id and C by username.
    let (status, _) = req(&api, &a, "POST", &format!("/v2/friend?ids={}&usernames=fc", b.id));
    assert_eq!(status, 200);
    assert_eq!(states(&api, &a), [st("fb", 1), st("fc", 1)]);
    assert_eq!((states(&api, &b), states(&api, &c)), (vec![st("fa", 2)], vec![st("fa", 2)]));
    let n = &ws_next(&mut bws)["notifications"]["notifications"][0];
    assert_eq!((n["code"].as_i64(), n["sender_id"].as_str()), (Some(-2), Some(a.id.as_str())), "{n}");
    assert_eq!(serde_json::from_str::<Value>(n["content"].as_str().unwrap()).unwrap(), json!({"username": "fa"}));
    assert_eq!(n["persistent"], true);

    // B adds A back: both mutual, A hears -3. The invite is stored for C, who is offline.
    assert_eq!(req(&api, &b, "POST", "/v2/friend?usernames=fa").0, 200);
    assert_eq!(states(&api, &a), [st("fb", 0), st("fc", 1)]);
    assert_eq!(states(&api, &b), [st("fa", 0)]);
    let n = &ws_next(&mut aws)["notifications"]["notifications"][0];
    assert_eq!((n["code"].as_i64(), n["sender_id"].as_str()), (Some(-3), Some(b.id.as_str())), "{n}");
    let (_, stored) = req(&api, &c, "GET", "/v2/notification");
    assert_eq!(stored["notifications"][0]["code"], -2);
    // Adding again changes nothing and tells nobody.
    assert_eq!(req(&api, &a, "POST", &format!("/v2/friend?ids={}", b.id)).0, 200);
    assert_eq!(ws_drain(&mut bws), Vec::<Value>::new());

    // The list carries the user (online when connected), the state and a timestamp.
    let (_, list) = req(&api, &a, "GET", "/v2/friend?state=0");
    let f = &list["friends"][0];
    assert_eq!((f["user"]["id"].as_str(), f["user"]["online"].as_bool()), (Some(b.id.as_str()), Some(true)));
    assert!(f["update_time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(list["friends"].list().len(), 1);
    assert!(list.get("cursor").is_none());

    // Deleting removes both sides.
    assert_eq!(req(&api, &b, "DELETE", &format!("/v2/friend?ids={}", a.id)).0, 200);
    assert_eq!((states(&api, &a), states(&api, &b)), (vec![st("fc", 1)], vec![]));
}

#[test]
fn blocks_and_bad_requests_change_nothing() {
    let api = start();
    let (a, b, c) = (sign_in(&api, "ba"), sign_in(&api, "bb"), sign_in(&api, "bc"));
    assert_eq!(req(&api, &a, "POST", "/v2/friend?usernames=bc").0, 200);

    // Oneself, unknown users, malformed ids: refused, and a refused name in a batch
    // refuses the batch.
    let unknown = "00000000-0000-4000-8000-000000000001";
    for (path, status, code) in [
        (format!("/v2/friend?ids={}", a.id), 400, 3),
        ("/v2/friend?usernames=ba".to_string(), 400, 3),
        (format!("/v2/friend?ids={unknown}"), 404, 5),
        ("/v2/friend?usernames=bb&usernames=nobody".to_string(), 404, 5),
        ("/v2/friend?ids=not-a-uuid".to_string(), 400, 3),
        ("/v2/friend?usernames=".to_string(), 400, 3),
    ] {
        let (s, body) = req(&api, &a, "POST", &path);
        assert_eq!((s, body["code"].as_i64()), (status, Some(code)), "{path}: {body}");
    }
    assert_eq!(states(&api, &a), [st("bc", 1)]);
    assert_eq!(states(&api, &b), []);

    // C blocks A: A's invite is gone on both sides, and A cannot invite again.
    assert_eq!(req(&api, &c, "POST", "/v2/friend/block?usernames=ba").0, 200);
    assert_eq!((states(&api, &a), states(&api, &c)), (vec![], vec![st("ba", 3)]));
    let (s, body) = req(&api, &a, "POST", &format!("/v2/friend?ids={}", c.id));
    assert_eq!((s, body["code"].as_i64()), (400, Some(3)), "{body}");
    // Nor can C befriend A without deleting the block first.
    assert_eq!(req(&api, &c, "POST", &format!("/v2/friend?ids={}", a.id)).0, 400);
    assert_eq!(states(&api, &c), [st("ba", 3)]);
    assert_eq!(req(&api, &c, "DELETE", "/v2/friend?usernames=ba&usernames=nobody").0, 200);
    assert_eq!(req(&api, &c, "POST", &format!("/v2/friend?ids={}", a.id)).0, 200);
    assert_eq!(states(&api, &a), [st("bc", 2)]);
    for bad in ["/v2/friend/block?usernames=bb", "/v2/friend/block?ids=00000000-0000-4000-8000-000000000009"] {
        let (s, _) = req(&api, &b, "POST", bad);
        assert!(s == 400 || s == 404, "{bad}");
    }
    for q in ["limit=0", "limit=1001", "state=4", "state=x", "cursor=%%%", "cursor=Zm9v"] {
        assert_eq!(req(&api, &a, "GET", &format!("/v2/friend?{q}")).0, 400, "{q}");
    }
    assert_eq!(call(&api, "GET", "/v2/friend", "", "").0, 401);
}

#[test]
fn cursors_page_through_every_friend_exactly_once() {
    let api = start();
    let me = sign_in(&api, "pager");
    let names: Vec<String> = (0..11).map(|i| format!("pal{i:02}")).collect();
    for n in &names {
        sign_in(&api, n);
    }
    let query: Vec<String> = names.iter().map(|n| format!("usernames={n}")).collect();
    assert_eq!(req(&api, &me, "POST", &format!("/v2/friend?{}", query.join("&"))).0, 200);
    let (mut seen, mut cursor) = (Vec::new(), String::new());
    let mut pages = 0;
    loop {
        let (status, page) = req(&api, &me, "GET", &format!("/v2/friend?limit=4&state=1&cursor={cursor}"));
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(page["friends"].list().iter().map(|f| f["user"]["username"].as_str().unwrap().to_string()));
        match page["cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!((seen, pages), (names, 3));
}

#[test]
fn friends_of_friends_name_who_knows_them() {
    let api = start();
    let [me, f1, f2, x, y, z]: [SignedIn; 6] =
        ["fofme", "fof1", "fof2", "fofx", "fofy", "fofz"].map(|n| sign_in(&api, n));
    let befriend = |a: &SignedIn, b: &SignedIn| {
        assert_eq!(req(&api, a, "POST", &format!("/v2/friend?ids={}", b.id)).0, 200);
        assert_eq!(req(&api, b, "POST", &format!("/v2/friend?ids={}", a.id)).0, 200);
    };
    befriend(&me, &f1);
    befriend(&me, &f2);
    befriend(&f1, &f2);
    befriend(&f1, &x);
    befriend(&f2, &x);
    befriend(&f2, &y);
    // Only invited, not mutual: not a friend of a friend.
    assert_eq!(req(&api, &f1, "POST", &format!("/v2/friend?ids={}", z.id)).0, 200);

    let mut expected =
        vec![(f1.id.clone(), x.id.clone()), (f2.id.clone(), x.id.clone()), (f2.id.clone(), y.id.clone())];
    expected.sort();
    let (mut seen, mut cursor) = (Vec::new(), String::new());
    loop {
        let (status, page) = req(&api, &me, "GET", &format!("/v2/friend/friends?limit=2&cursor={cursor}"));
        assert_eq!(status, 200, "{page}");
        for f in page["friends_of_friends"].list() {
            seen.push((f["referrer"].as_str().unwrap().to_string(), f["user"]["id"].as_str().unwrap().to_string()));
        }
        match page["cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    let (_, none) = req(&api, &z, "GET", "/v2/friend/friends");
    assert_eq!(none.get("friends_of_friends"), None);
}
