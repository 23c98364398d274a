//! Groups through the REST API with several users: open and closed groups, join
//! requests and their notifications, roles and the refusals that leave everything
//! unchanged, bans, max_count, the last superadmin, listings with cursors and filters,
//! and group chat for members only.

mod common;
use common::ListField;

use common::{call_as, sign_in, start, ws_call, ws_drain, ws_next, ws_open, Api, SignedIn};
use serde_json::{json, Value};

fn create(api: &Api, u: &SignedIn, body: Value) -> Value {
    let (status, g) = call_as(api, u, "POST", "/v2/group", &body.to_string());
    assert_eq!(status, 200, "{g}");
    g
}

/// `POST /v2/group/{id}/{action}?user_ids=…`: the status.
fn act(api: &Api, u: &SignedIn, group: &str, action: &str, users: &[&SignedIn]) -> u16 {
    let q: Vec<String> = users.iter().map(|t| format!("user_ids={}", t.id)).collect();
    let (status, body) = call_as(api, u, "POST", &format!("/v2/group/{group}/{action}?{}", q.join("&")), "");
    assert!(status == 200 || body["code"].is_i64(), "{body}");
    status
}

/// (username, state) of a group's users.
fn members(api: &Api, u: &SignedIn, group: &str) -> Vec<(String, i64)> {
    let (status, body) = call_as(api, u, "GET", &format!("/v2/group/{group}/user"), "");
    assert_eq!(status, 200, "{body}");
    body["group_users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user"]["username"].as_str().unwrap().to_string(), m["state"].as_i64().unwrap()))
        .collect()
}

fn m(name: &str, state: i64) -> (String, i64) {
    (name.to_string(), state)
}

fn edge_count(api: &Api, u: &SignedIn, name: &str) -> i64 {
    let name = name.replace('%', "%25").replace(' ', "%20");
    let (_, list) = call_as(api, u, "GET", &format!("/v2/group?name={name}&limit=1"), "");
    list["groups"][0]["edge_count"].as_i64().unwrap()
}

#[test]
fn closed_groups_take_requests_that_admins_hear_of_and_accept() {
    let api = start();
    let (owner, admin, asker) = (sign_in(&api, "gowner"), sign_in(&api, "gadmin"), sign_in(&api, "gasker"));
    let g = create(&api, &owner, json!({"name": "Night Watch", "description": "guards", "open": false}));
    let id = g["id"].as_str().unwrap().to_string();
    assert_eq!((g["creator_id"].as_str(), g["edge_count"].as_i64()), (Some(owner.id.as_str()), Some(1)));
    assert_eq!(
        (g["max_count"].as_i64(), g["open"].as_bool(), g["metadata"].as_str()),
        (Some(100), Some(false), Some("{}"))
    );
    assert!(g["lang_tag"] == "en" && g["create_time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(act(&api, &owner, &id, "add", &[&admin]), 200);
    assert_eq!(act(&api, &owner, &id, "promote", &[&admin]), 200);

    let mut ows = ws_open(&api, &owner.s, "");
    let mut aws = ws_open(&api, &admin.s, "");
    let mut sws = ws_open(&api, &asker.s, "");
    for ws in [&mut ows, &mut aws, &mut sws] {
        ws_drain(ws);
    }
    assert_eq!(act(&api, &asker, &id, "join", &[]), 200);
    assert_eq!(members(&api, &asker, &id), [m("gowner", 0), m("gadmin", 1), m("gasker", 3)]);
    for ws in [&mut ows, &mut aws] {
        let n = &ws_next(ws)["notifications"]["notifications"][0];
        assert_eq!((n["code"].as_i64(), n["sender_id"].as_str()), (Some(-5), Some(asker.id.as_str())), "{n}");
    }
    // Joining again changes nothing; a join request is no member yet.
    assert_eq!(act(&api, &asker, &id, "join", &[]), 200);
    assert_eq!(edge_count(&api, &asker, "Night%"), 2);
    // The admin accepts (promote a request = member); the user hears -4.
    assert_eq!(act(&api, &admin, &id, "promote", &[&asker]), 200);
    let n = &ws_next(&mut sws)["notifications"]["notifications"][0];
    assert_eq!((n["code"].as_i64(), n["sender_id"].as_str()), (Some(-4), Some(admin.id.as_str())), "{n}");
    assert_eq!(members(&api, &owner, &id), [m("gowner", 0), m("gadmin", 1), m("gasker", 2)]);
    assert_eq!(edge_count(&api, &asker, "night watch"), 3);

    // The user's groups, with their state.
    let (_, mine) = call_as(&api, &asker, "GET", &format!("/v2/user/{}/group", asker.id), "");
    assert_eq!(mine["user_groups"][0]["group"]["name"], "Night Watch");
    assert_eq!((mine["user_groups"][0]["state"].as_i64(), mine["user_groups"].list().len()), (Some(2), 1));

    // Open groups take members at once.
    let open = create(&api, &owner, json!({"name": "Tavern", "open": true}));
    let open_id = open["id"].as_str().unwrap();
    assert_eq!(act(&api, &asker, open_id, "join", &[]), 200);
    assert_eq!(members(&api, &asker, open_id), [m("gowner", 0), m("gasker", 2)]);
}

#[test]
fn roles_are_checked_and_refusals_change_nothing() {
    let api = start();
    let [sa, ad, me1, me2, out]: [SignedIn; 5] = ["rsa", "rad", "rm1", "rm2", "rout"].map(|n| sign_in(&api, n));
    let id = create(&api, &sa, json!({"name": "Order", "open": true}))["id"].as_str().unwrap().to_string();
    for u in [&ad, &me1, &me2] {
        assert_eq!(act(&api, u, &id, "join", &[]), 200);
    }
    assert_eq!(act(&api, &sa, &id, "promote", &[&ad]), 200);
    let before = members(&api, &sa, &id);
    assert_eq!(before, [m("rsa", 0), m("rad", 1), m("rm1", 2), m("rm2", 2)]);

    // Members and outsiders may not manage; an admin may not touch the superadmin nor
    // make anyone superadmin. Nakama answers these as "not found or permission denied".
    for (who, action, target) in [
        (&me1, "kick", &me2),
        (&me1, "add", &out),
        (&me1, "promote", &me1),
        (&out, "ban", &me1),
        (&ad, "kick", &sa),
        (&ad, "ban", &sa),
        (&ad, "demote", &sa),
    ] {
        assert_eq!(act(&api, who, &id, action, &[target]), 404, "{action}");
    }
    // Acting on oneself is skipped: an admin cannot promote themselves.
    assert_eq!(act(&api, &ad, &id, "promote", &[&ad]), 200);
    assert_eq!(act(&api, &ad, &id, "promote", &[&me1]), 200);
    assert_eq!(act(&api, &ad, &id, "promote", &[&me1]), 404, "an admin cannot make a superadmin");
    assert_eq!(act(&api, &ad, &id, "demote", &[&me1]), 200);
    assert_eq!(members(&api, &sa, &id), before);
    let update = json!({"description": "changed"}).to_string();
    let (status, body) = call_as(&api, &me1, "PUT", &format!("/v2/group/{id}"), &update);
    assert_eq!((status, body["code"].as_i64()), (404, Some(5)), "{body}");
    let (status, _) = call_as(&api, &ad, "DELETE", &format!("/v2/group/{id}"), "");
    assert_eq!(status, 400);
    // Admins update; superadmins delete.
    assert_eq!(call_as(&api, &ad, "PUT", &format!("/v2/group/{id}"), &update).0, 200);
    let (_, list) = call_as(&api, &out, "GET", "/v2/group?name=order", "");
    assert_eq!(list["groups"][0]["description"], "changed");

    // The last superadmin cannot leave; after promoting another, they can.
    let (status, body) = call_as(&api, &sa, "POST", &format!("/v2/group/{id}/leave"), "");
    assert_eq!((status, body["code"].as_i64()), (400, Some(3)), "{body}");
    assert_eq!(act(&api, &sa, &id, "promote", &[&ad]), 200);
    assert_eq!(act(&api, &sa, &id, "leave", &[]), 200);
    assert_eq!(members(&api, &ad, &id), [m("rad", 0), m("rm1", 2), m("rm2", 2)]);
    assert_eq!(edge_count(&api, &ad, "order"), 3);
    assert_eq!(call_as(&api, &ad, "DELETE", &format!("/v2/group/{id}"), "").0, 200);
    assert_eq!(call_as(&api, &ad, "GET", &format!("/v2/group/{id}/user"), "").0, 404);
}

#[test]
fn bans_hold_and_max_count_is_enforced() {
    let api = start();
    let [sa, a, b, c]: [SignedIn; 4] = ["bsa", "bua", "bub", "buc"].map(|n| sign_in(&api, n));
    let id =
        create(&api, &sa, json!({"name": "Small", "open": true, "max_count": 2}))["id"].as_str().unwrap().to_string();
    assert_eq!(act(&api, &a, &id, "join", &[]), 200);
    let (status, body) = call_as(&api, &b, "POST", &format!("/v2/group/{id}/join"), "");
    assert_eq!((status, body["message"].as_str()), (400, Some("Group is full.")), "{body}");
    assert_eq!(act(&api, &sa, &id, "add", &[&b]), 400);
    assert_eq!(members(&api, &sa, &id), [m("bsa", 0), m("bua", 2)]);

    // Banned: gone from every listing, cannot rejoin, counts no more.
    assert_eq!(act(&api, &sa, &id, "ban", &[&a]), 200);
    assert_eq!(members(&api, &sa, &id), [m("bsa", 0)]);
    assert_eq!(act(&api, &a, &id, "join", &[]), 403);
    let (_, theirs) = call_as(&api, &a, "GET", &format!("/v2/user/{}/group", a.id), "");
    assert_eq!(theirs.get("user_groups"), None);
    assert_eq!(call_as(&api, &sa, "GET", &format!("/v2/group/{id}/user?state=4"), "").0, 400);
    assert_eq!(act(&api, &b, &id, "join", &[]), 200);
    assert_eq!(edge_count(&api, &b, "small"), 2);
    // Kicked (not banned) users may come back; an admin adding a banned user lifts it.
    assert_eq!(act(&api, &sa, &id, "kick", &[&b]), 200);
    assert_eq!(act(&api, &sa, &id, "add", &[&a]), 200);
    assert_eq!(members(&api, &sa, &id), [m("bsa", 0), m("bua", 2)]);
    assert_eq!(act(&api, &c, &id, "join", &[]), 400);

    // Bad input.
    let bad_body = json!({"name": ""}).to_string();
    assert_eq!(call_as(&api, &sa, "POST", "/v2/group", &bad_body).0, 400);
    let dup = json!({"name": "SMALL"}).to_string();
    let (status, body) = call_as(&api, &sa, "POST", "/v2/group", &dup);
    assert_eq!((status, body["code"].as_i64()), (409, Some(6)), "{body}");
    assert_eq!(call_as(&api, &sa, "POST", "/v2/group", &json!({"name": "x", "max_count": -1}).to_string()).0, 400);
    assert_eq!(call_as(&api, &sa, "POST", "/v2/group/not-a-uuid/join", "").0, 400);
    assert_eq!(call_as(&api, &sa, "POST", &format!("/v2/group/{id}/kick?user_ids=nope"), "").0, 400);
    let unknown = "00000000-0000-4000-8000-000000000002";
    assert_eq!(call_as(&api, &sa, "POST", &format!("/v2/group/{unknown}/join"), "").0, 404);
    assert_eq!(call_as(&api, &sa, "POST", &format!("/v2/group/{id}/add?user_ids={unknown}"), "").0, 400);
}

#[test]
fn listings_page_once_and_filter() {
    let api = start();
    let owner = sign_in(&api, "lowner");
    for i in 0..7 {
        let open = i % 2 == 0;
        create(
            &api,
            &owner,
            json!({"name": format!("Clan {i}"), "lang_tag": if i < 4 { "en" } else { "de" }, "open": open}),
        );
    }
    create(&api, &owner, json!({"name": "Other"}));
    let pages = |query: &str| -> (Vec<String>, usize) {
        let (mut names, mut cursor, mut n) = (Vec::new(), String::new(), 0);
        loop {
            let (status, page) = call_as(&api, &owner, "GET", &format!("/v2/group?{query}&cursor={cursor}"), "");
            assert_eq!(status, 200, "{page}");
            n += 1;
            names.extend(page["groups"].list().iter().map(|g| g["name"].as_str().unwrap().to_string()));
            match page["cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => return (names, n),
            }
        }
    };
    let clans: Vec<String> = (0..7).map(|i| format!("Clan {i}")).collect();
    assert_eq!(pages("name=clan%25&limit=3"), (clans.clone(), 3));
    assert_eq!(pages("limit=100").0.len(), 8);
    assert_eq!(pages("name=clan%25&lang_tag=de&open=true&limit=10").0, ["Clan 4", "Clan 6"]);
    assert_eq!(pages("members=2&limit=10").0, Vec::<String>::new());

    // Group users page through everyone once.
    assert_eq!(pages("name=clan%200&limit=1").0, ["Clan 0"]);
    let (_, g) = call_as(&api, &owner, "GET", "/v2/group?name=clan%200", "");
    let gid = g["groups"][0]["id"].as_str().unwrap().to_string();
    let mut expected = vec!["lowner".to_string()];
    for i in 0..5 {
        let u = sign_in(&api, &format!("lmember{i}"));
        assert_eq!(act(&api, &u, &gid, "join", &[]), 200);
        expected.push(format!("lmember{i}"));
    }
    let (mut seen, mut cursor) = (Vec::new(), String::new());
    loop {
        let (_, page) = call_as(&api, &owner, "GET", &format!("/v2/group/{gid}/user?limit=2&cursor={cursor}"), "");
        seen.extend(page["group_users"].list().iter().map(|u| u["user"]["username"].as_str().unwrap().to_string()));
        match page["cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages("members=6&limit=10").0, ["Clan 0"]);
    let (_, supers) = call_as(&api, &owner, "GET", &format!("/v2/group/{gid}/user?state=0"), "");
    assert_eq!(supers["group_users"].list().len(), 1);
    for q in ["limit=0", "limit=101", "state=9", "cursor=%%%"] {
        assert_eq!(call_as(&api, &owner, "GET", &format!("/v2/group/{gid}/user?{q}"), "").0, 400, "{q}");
    }
}

#[test]
fn group_chat_is_for_members_only() {
    let api = start();
    let (owner, member, asker, outsider) =
        (sign_in(&api, "cowner"), sign_in(&api, "cmember"), sign_in(&api, "casker"), sign_in(&api, "cout"));
    let id = create(&api, &owner, json!({"name": "Chatters", "open": false}))["id"].as_str().unwrap().to_string();
    assert_eq!(act(&api, &owner, &id, "add", &[&member]), 200);
    assert_eq!(act(&api, &asker, &id, "join", &[]), 200);
    let join = json!({"channel_join": {"target": id, "type": 3, "persistence": true, "hidden": false}});
    for u in [&outsider, &asker] {
        let mut ws = ws_open(&api, &u.s, "");
        let (reply, _) = ws_call(&mut ws, "j", join.clone());
        assert_eq!(reply["error"]["code"], 3, "{reply}");
    }
    let mut mws = ws_open(&api, &member.s, "");
    ws_drain(&mut mws);
    let (reply, _) = ws_call(&mut mws, "j", join.clone());
    let channel = reply["channel"]["id"].as_str().unwrap().to_string();
    assert_eq!(channel, format!("3.{id}.."), "{reply}");
    let send = json!({"channel_message_send": {"channel_id": channel, "content": "{\"t\":1}"}});
    let (ack, _) = ws_call(&mut mws, "s", send.clone());
    assert!(ack.get("channel_message_ack").is_some(), "{ack}");
    // The history is for members too.
    assert_eq!(call_as(&api, &member, "GET", &format!("/v2/channel/{channel}"), "").0, 200);
    assert_eq!(call_as(&api, &outsider, "GET", &format!("/v2/channel/{channel}"), "").0, 403);
    // Once kicked, the member is off the channel and may no longer write to it.
    assert_eq!(act(&api, &owner, &id, "kick", &[&member]), 200);
    ws_drain(&mut mws);
    let (reply, _) = ws_call(&mut mws, "s2", send);
    assert_eq!(reply["error"]["code"], 3, "{reply}");
    // Rejoining the socket is refused too.
    let (reply, _) = ws_call(&mut mws, "j2", join);
    assert_eq!(reply["error"]["code"], 3, "{reply}");
}
