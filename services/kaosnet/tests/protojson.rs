//! Nakama's JSON rules on every REST body: each field under its proto name or its
//! lowerCamelCase JSON name, unknown fields ignored, answers in proto names without
//! unpopulated fields; Nakama's defaults for new users and groups. Every body a client
//! sends is sent here in both spellings.

mod common;

use common::{basic, call, call_as, sign_in, start, ListField, SignedIn};
use serde_json::{json, Value};

/// Sends `proto` and `camel` (the same request, spelled both ways) as `u`; both answers.
fn both(api: &common::Api, u: &SignedIn, method: &str, path: &str, proto: Value, camel: Value) -> [(u16, Value); 2] {
    [proto, camel].map(|body| call_as(api, u, method, path, &body.to_string()))
}

#[test]
fn new_users_speak_english_and_leave_out_what_they_lack() {
    let api = start();
    let u = sign_in(&api, "plain");
    let (_, account) = call_as(&api, &u, "GET", "/v2/account", "");
    assert_eq!(account["user"]["lang_tag"], "en", "{account}");
    // No empty strings or lists: the keys are absent, as protojson leaves them.
    for absent in ["email", "custom_id"] {
        assert_eq!(account.get(absent), None, "{account}");
    }
    for absent in ["display_name", "avatar_url", "location", "timezone"] {
        assert_eq!(account["user"].get(absent), None, "{account}");
    }
    assert_eq!(account["devices"].list().len(), 1);
    let other = sign_in(&api, "other");
    let (_, users) = call_as(&api, &other, "GET", &format!("/v2/user?ids={}", u.id), "");
    assert_eq!(users["users"][0]["lang_tag"], "en");
    let (status, group) = call_as(&api, &u, "POST", "/v2/group", &json!({"name": "Plain Group"}).to_string());
    assert_eq!((status, &group["lang_tag"]), (200, &json!("en")), "{group}");
    assert_eq!(group.get("description"), None, "{group}");
}

#[test]
fn unknown_query_parameters_are_ignored_as_nakamas_gateway_does() {
    let api = start();
    let u = sign_in(&api, "querier");
    // nakama-python 1.0.3 sends `create=` and `username=` on a friend listing.
    for path in
        ["/v2/friend?limit=10&create=100&username=", "/v2/notification?limit=5&what=1", "/v2/channel/2...x?sort=up"]
    {
        assert_eq!(call_as(&api, &u, "GET", path, "").0, 200, "{path}");
    }
    // A storage listing for a user that is not a UUID is refused, as in Nakama.
    let (status, body) = call_as(&api, &u, "GET", "/v2/storage/c?user_id=null", "");
    assert_eq!((status, &body["code"]), (400, &json!(3)), "{body}");
}

#[test]
fn account_and_session_bodies_take_both_spellings() {
    let api = start();
    let u = sign_in(&api, "speller");
    let [(a, _), (b, _)] = both(
        &api,
        &u,
        "PUT",
        "/v2/account",
        json!({"display_name": "Proto", "avatar_url": "http://a/p.png", "lang_tag": "fr", "unknown": 1}),
        json!({"displayName": "Camel", "avatarUrl": "http://a/c.png", "langTag": "de", "alsoUnknown": {"x": 1}}),
    );
    assert_eq!((a, b), (200, 200));
    let (_, account) = call_as(&api, &u, "GET", "/v2/account", "");
    let user = &account["user"];
    assert_eq!(
        (&user["display_name"], &user["avatar_url"], &user["lang_tag"]),
        (&json!("Camel"), &json!("http://a/c.png"), &json!("de"))
    );
    // Authenticate with camelCase vars: the map's own keys are kept as sent.
    let body = json!({"id": "device-protojson-0001", "vars": {"clientVersion": "1.2"}, "somethingElse": true});
    let (status, s) =
        call(&api, "POST", "/v2/account/authenticate/device?create=true", &basic("defaultkey"), &body.to_string());
    assert_eq!(status, 200, "{s}");
    let claims = common::claims(&s);
    assert_eq!(claims["vrs"], json!({"clientVersion": "1.2"}));
    // Logout with `refreshToken`: the refresh token no longer works.
    let fresh = sign_in(&api, "leaver");
    let body = json!({"token": fresh.s["token"], "refreshToken": fresh.s["refresh_token"]});
    assert_eq!(call_as(&api, &fresh, "POST", "/v2/session/logout", &body.to_string()).0, 200);
    let refresh = json!({"token": fresh.s["refresh_token"]}).to_string();
    assert_eq!(call(&api, "POST", "/v2/account/session/refresh", &basic("defaultkey"), &refresh).0, 401);
}

#[test]
fn storage_bodies_take_both_spellings() {
    let api = start();
    let u = sign_in(&api, "keeper");
    let [(a, wa), (b, wb)] = both(
        &api,
        &u,
        "PUT",
        "/v2/storage",
        json!({"objects": [{"collection": "c", "key": "p", "value": "{\"n\":1}", "permission_read": 2, "permission_write": 1}]}),
        json!({"objects": [{"collection": "c", "key": "q", "value": "{\"n\":2}", "permissionRead": 2, "permissionWrite": 1, "extra": "x"}]}),
    );
    assert_eq!((a, b), (200, 200), "{wa} {wb}");
    let ids = |k: &str| json!({"collection": "c", "key": k, "user_id": u.id});
    let [(a, ra), (b, rb)] = both(
        &api,
        &u,
        "POST",
        "/v2/storage",
        json!({"object_ids": [ids("p"), ids("q")]}),
        json!({"objectIds": [{"collection": "c", "key": "p", "userId": u.id}, {"collection": "c", "key": "q", "userId": u.id}]}),
    );
    assert_eq!((a, b), (200, 200));
    assert_eq!(ra, rb);
    let objects = ra["objects"].list();
    assert_eq!(objects.len(), 2, "{ra}");
    for o in objects {
        // Answers keep the proto names.
        assert_eq!(
            (&o["permission_read"], &o["permission_write"], &o["user_id"]),
            (&json!(2), &json!(1), &json!(u.id))
        );
    }
    let [(a, _), (b, _)] = both(
        &api,
        &u,
        "PUT",
        "/v2/storage/delete",
        json!({"object_ids": [{"collection": "c", "key": "p"}]}),
        json!({"objectIds": [{"collection": "c", "key": "q"}]}),
    );
    assert_eq!((a, b), (200, 200));
    let (_, read) = call_as(&api, &u, "POST", "/v2/storage", &json!({"object_ids": [ids("p"), ids("q")]}).to_string());
    assert_eq!(read, json!({}), "both deleted; the empty list is left out");
    // A field under both names is refused, as protojson does.
    let twice = json!({"object_ids": [ids("p")], "objectIds": [ids("q")]});
    assert_eq!(call_as(&api, &u, "POST", "/v2/storage", &twice.to_string()).0, 400);
}

#[test]
fn group_and_leaderboard_bodies_take_both_spellings() {
    let api = start();
    let u = sign_in(&api, "founder");
    let [(a, ga), (b, gb)] = both(
        &api,
        &u,
        "POST",
        "/v2/group",
        json!({"name": "Proto Club", "max_count": 7, "lang_tag": "fr", "avatar_url": "http://a/g.png"}),
        json!({"name": "Camel Club", "maxCount": 7, "langTag": "fr", "avatarUrl": "http://a/g.png", "colour": "red"}),
    );
    assert_eq!((a, b), (200, 200), "{ga} {gb}");
    for g in [&ga, &gb] {
        assert_eq!(
            (&g["max_count"], &g["lang_tag"], &g["avatar_url"]),
            (&json!(7), &json!("fr"), &json!("http://a/g.png"))
        );
    }
    let id = gb["id"].as_str().unwrap();
    let (status, updated) = call_as(
        &api,
        &u,
        "PUT",
        &format!("/v2/group/{id}"),
        &json!({"langTag": "es", "avatarUrl": "http://a/h.png"}).to_string(),
    );
    assert_eq!(status, 200, "{updated}");
    let (_, list) = call_as(&api, &u, "GET", "/v2/group?name=Camel%20Club", "");
    let g = &list["groups"][0];
    assert_eq!((&g["lang_tag"], &g["avatar_url"]), (&json!("es"), &json!("http://a/h.png")), "{list}");
    // A leaderboard write ignores what it does not know.
    api.kaos
        .leaderboards()
        .create(kaosnet::leaderboards::LeaderboardConfig { id: "pj".into(), ..Default::default() })
        .unwrap();
    let body = json!({"score": "12", "subscore": "3", "unknownField": true});
    let (status, record) = call_as(&api, &u, "POST", "/v2/leaderboard/pj", &body.to_string());
    assert_eq!((status, &record["score"], &record["subscore"]), (200, &json!("12"), &json!("3")), "{record}");
}
