//! The console's management routes doing their work: storage, leaderboards, chat,
//! notifications, groups, the matchmaker, match state, and a player's export and deletion
//! with all their data.

mod common;

use common::console::{login, serve, team, ADMIN_PASSWORD};
use common::{bearer, call_at};
use kaosnet::leaderboards::Submission;
use kaosnet::{DeviceAuthRequest, KaosNet, LeaderboardConfig};
use serde_json::{json, Value};

fn player(kaos: &KaosNet, name: &str) -> String {
    let request = DeviceAuthRequest { device_id: format!("{name}-device"), create: true, username: Some(name.into()) };
    kaos.accounts().authenticate_device(request).unwrap().user_id
}

fn submit(kaos: &KaosNet, board: &str, owner: &str, score: i64) {
    let s = Submission { score, ..Submission::default() };
    kaos.leaderboards().submit(board, owner, owner, s).unwrap();
}

#[test]
fn storage_is_browsed_by_collection_and_owner_and_edited_with_version_checks() {
    let server = serve();
    let console = server.console_addr.unwrap();
    let admin = bearer(&login(console, "admin", ADMIN_PASSWORD).1["token"]);
    let (dev, viewer) = team(console, &admin, "sdev", "sview");
    let (a, b) = (player(&server.kaos, "store_a"), player(&server.kaos, "store_b"));
    let path = |owner: &str, key: &str| format!("/v2/console/storage/saves/{key}/{owner}");

    // A developer writes (a readonly user may not); new objects get owner permissions.
    let body = json!({"value": {"hp": 10}}).to_string();
    assert_eq!(call_at(console, "PUT", &path(&a, "slot1"), &viewer, &body).0, 403);
    let (status, made) = call_at(console, "PUT", &path(&a, "slot1"), &dev, &body);
    assert_eq!((status, made["permission_read"].as_i64()), (200, Some(1)), "{made}");
    for (owner, key) in [(&b, "slot1"), (&a, "slot2")] {
        assert_eq!(call_at(console, "PUT", &path(owner, key), &dev, &body).0, 200);
    }
    let inventory = json!({"value": {"items": []}, "permission_read": 2}).to_string();
    assert_eq!(call_at(console, "PUT", &format!("/v2/console/storage/inventory/main/{a}"), &dev, &inventory).0, 200);
    let (_, collections) = call_at(console, "GET", "/v2/console/storage/collection", &viewer, "");
    assert_eq!(collections["collections"], json!(["inventory", "saves"]));
    let (_, of_b) = call_at(console, "GET", &format!("/v2/console/storage/collection?user_id={b}"), &viewer, "");
    assert_eq!(of_b["collections"], json!(["saves"]));

    // Pages follow the cursor, each object once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let q = format!("/v2/console/storage?collection=saves&limit=2&cursor={cursor}");
        let (status, page) = call_at(console, "GET", &q, &viewer, "");
        assert_eq!(status, 200, "{page}");
        for o in page["objects"].as_array().unwrap() {
            seen.push(format!("{}/{}", o["user_id"].as_str().unwrap(), o["key"].as_str().unwrap()));
            assert_eq!(o["value"]["hp"], 10, "values are JSON: {o}");
        }
        match page["cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    let mut want = vec![format!("{a}/slot1"), format!("{a}/slot2"), format!("{b}/slot1")];
    want.sort();
    assert_eq!(seen, want);
    let (_, by_key) = call_at(console, "GET", "/v2/console/storage?collection=saves&key=slot1", &viewer, "");
    assert_eq!((by_key["objects"].as_array().unwrap().len(), &by_key["truncated"]), (2, &json!(false)), "{by_key}");
    let one = format!("/v2/console/storage?collection=saves&key=slot2&user_id={a}");
    assert_eq!(call_at(console, "GET", &one, &viewer, "").1["objects"][0]["key"], "slot2");
    let (_, of_a) = call_at(console, "GET", &format!("/v2/console/storage?collection=saves&user_id={a}"), &viewer, "");
    assert_eq!(of_a["objects"].as_array().unwrap().len(), 2, "{of_a}");

    // An edit with a stale version is refused; with the current one it lands.
    let (status, shown) = call_at(console, "GET", &path(&a, "slot1"), &viewer, "");
    assert_eq!(status, 200);
    let version = shown["version"].as_str().unwrap().to_string();
    let edit = |hp: i64, version: &str| json!({"value": {"hp": hp}, "version": version}).to_string();
    assert_eq!(call_at(console, "PUT", &path(&a, "slot1"), &dev, &edit(20, &version)).0, 200);
    let (status, stale) = call_at(console, "PUT", &path(&a, "slot1"), &dev, &edit(30, &version));
    assert_eq!((status, stale["message"].as_str()), (400, Some("Storage write rejected - version check failed.")));
    assert_eq!(server.kaos.storage().get(&a, "saves", "slot1").unwrap().unwrap().value, r#"{"hp":20}"#);
    let bad = json!({"value": [1, 2]}).to_string();
    assert_eq!(call_at(console, "PUT", &path(&a, "slot1"), &dev, &bad).0, 400);

    // Deletes: a stale version is refused, then it goes.
    assert_eq!(call_at(console, "DELETE", &format!("{}?version={version}", path(&a, "slot1")), &dev, "").0, 400);
    assert_eq!(call_at(console, "DELETE", &path(&a, "slot1"), &viewer, "").0, 403);
    assert_eq!(call_at(console, "DELETE", &path(&a, "slot1"), &dev, "").0, 200);
    assert_eq!(call_at(console, "GET", &path(&a, "slot1"), &viewer, "").0, 404);

    // The console's own collections (users, keys, signing key) are out of every
    // storage route's reach, for reading and writing alike.
    let system = "00000000-0000-0000-0000-000000000000";
    let secret = format!("/v2/console/storage/kaos_console_secrets/signing_key/{system}");
    let (status, refused) = call_at(console, "GET", &secret, &admin, "");
    assert_eq!(status, 403, "{refused}");
    let admin_user = format!("/v2/console/storage/kaos_console_users/mallory/{system}");
    let forged = json!({"value": {"role": "admin", "password_hash": "x"}}).to_string();
    assert_eq!(call_at(console, "PUT", &admin_user, &dev, &forged).0, 403);
    let listing = "/v2/console/storage?collection=kaos_console_users";
    assert_eq!(call_at(console, "GET", listing, &admin, "").0, 403);
    server.shutdown();
    server.wait().unwrap();
}

#[test]
fn leaderboard_records_are_listed_deleted_and_reset() {
    let server = serve();
    let console = server.console_addr.unwrap();
    let admin = bearer(&login(console, "admin", ADMIN_PASSWORD).1["token"]);
    let (dev, viewer) = team(console, &admin, "ldev", "lview");
    let kaos = &server.kaos;
    kaos.leaderboards().create(LeaderboardConfig { id: "weekly".into(), ..LeaderboardConfig::default() }).unwrap();
    let players: Vec<String> = (0..5).map(|i| player(kaos, &format!("board_p{i}"))).collect();
    for (i, p) in players.iter().enumerate() {
        submit(kaos, "weekly", p, 100 + i as i64);
    }
    let (status, boards) = call_at(console, "GET", "/v2/console/leaderboard", &viewer, "");
    assert_eq!(status, 200, "{boards}");
    let weekly = boards["leaderboards"].as_array().unwrap().iter().find(|b| b["id"] == "weekly").unwrap().clone();
    assert_eq!(weekly["rank_count"], 5, "{weekly}");

    // Records page by the cursor, best first (the default order is descending).
    let (_, first) = call_at(console, "GET", "/v2/console/leaderboard/weekly/record?limit=3", &viewer, "");
    let scores = |page: &Value| -> Vec<String> {
        page["records"].as_array().unwrap().iter().map(|r| r["score"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(scores(&first), ["104", "103", "102"]);
    let next = first["next_cursor"].as_str().unwrap();
    let (_, second) =
        call_at(console, "GET", &format!("/v2/console/leaderboard/weekly/record?limit=3&cursor={next}"), &viewer, "");
    assert_eq!(scores(&second), ["101", "100"]);

    let record = format!("/v2/console/leaderboard/weekly/record/{}", players[4]);
    assert_eq!(call_at(console, "DELETE", &record, &viewer, "").0, 403);
    assert_eq!(call_at(console, "DELETE", &record, &dev, "").0, 200);
    assert_eq!(call_at(console, "DELETE", &record, &dev, "").0, 404);
    assert_eq!(kaos.leaderboards().rank_count("weekly").unwrap(), 4);
    assert_eq!(call_at(console, "POST", "/v2/console/leaderboard/weekly/reset", &viewer, "").0, 403);
    let (status, reset) = call_at(console, "POST", "/v2/console/leaderboard/weekly/reset", &dev, "");
    assert_eq!((status, reset["removed"].as_u64()), (200, Some(4)), "{reset}");
    assert!(kaos.leaderboards().get_top("weekly", 10).unwrap().is_empty());
    // The board stays, taking new records; deleting it takes it away.
    submit(kaos, "weekly", &players[0], 7);
    assert_eq!(call_at(console, "DELETE", "/v2/console/leaderboard/weekly", &dev, "").0, 200);
    assert_eq!(call_at(console, "GET", "/v2/console/leaderboard/weekly/record", &viewer, "").0, 404);
    server.shutdown();
    server.wait().unwrap();
}

#[test]
fn chat_notifications_groups_and_the_matchmaker_are_managed() {
    let server = serve();
    let console = server.console_addr.unwrap();
    let admin = bearer(&login(console, "admin", ADMIN_PASSWORD).1["token"]);
    let (dev, viewer) = team(console, &admin, "cdev", "cview");
    let kaos = &server.kaos;
    let (a, b) = (player(kaos, "social_a"), player(kaos, "social_b"));

    // Chat history of any channel, and an operator's removal of anyone's message.
    for text in ["one", "two", "three"] {
        kaos.chat().send_as_server("2...lobby", &json!({"t": text}).to_string(), Some(&a), "social_a", true).unwrap();
    }
    let (status, channels) = call_at(console, "GET", "/v2/console/channel", &viewer, "");
    assert_eq!(status, 200, "{channels}");
    assert_eq!(channels["stored"], json!([{"channel_id": "2...lobby", "messages": 3}]));
    let (status, history) = call_at(console, "GET", "/v2/console/channel/2...lobby/message?forward=true", &viewer, "");
    assert_eq!(status, 200, "{history}");
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    let id = messages[1]["message_id"].as_str().unwrap();
    let remove = format!("/v2/console/channel/2...lobby/message/{id}");
    assert_eq!(call_at(console, "DELETE", &remove, &viewer, "").0, 403);
    assert_eq!(call_at(console, "DELETE", &remove, &dev, "").0, 200);
    let (_, history) = call_at(console, "GET", "/v2/console/channel/2...lobby/message?forward=true", &viewer, "");
    let left: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(left, [r#"{"t":"one"}"#, r#"{"t":"three"}"#]);

    // Notifications to one player, and to everyone (stored for every account).
    let note =
        |user: &str| json!({"user_id": user, "subject": "hi", "content": {"x": 1}, "code": 7, "persistent": true});
    assert_eq!(call_at(console, "POST", "/v2/console/notification", &viewer, &note(&a).to_string()).0, 403);
    assert_eq!(call_at(console, "POST", "/v2/console/notification", &dev, &note(&a).to_string()).0, 200);
    let all = json!({"subject": "maintenance", "content": {}, "code": 8, "persistent": true}).to_string();
    let (status, sent) = call_at(console, "POST", "/v2/console/notification", &dev, &all);
    assert_eq!((status, sent["sent"].as_u64()), (200, Some(2)), "{sent}");
    let (_, of_a) = call_at(console, "GET", &format!("/v2/console/notification?user_id={a}"), &viewer, "");
    assert_eq!(of_a["notifications"].as_array().unwrap().len(), 2, "{of_a}");
    assert_eq!(kaos.notifications().list(&b, None, 10).unwrap().len(), 1);
    let nid = of_a["notifications"][0]["id"].as_str().unwrap();
    assert_eq!(call_at(console, "DELETE", &format!("/v2/console/notification/{a}/{nid}"), &dev, "").0, 200);
    assert_eq!(kaos.notifications().list(&a, None, 10).unwrap().len(), 1);

    // Groups: membership edited by an operator.
    let spec = kaosnet::groups::GroupSpec { name: "console-guild".into(), ..Default::default() };
    let group = kaos.groups().create(&a, spec).unwrap().id;
    let (_, groups) = call_at(console, "GET", "/v2/console/group?name=console%25", &viewer, "");
    assert_eq!(groups["groups"][0]["id"].as_str(), Some(group.as_str()), "{groups}");
    let users = json!({"user_ids": [b]}).to_string();
    assert_eq!(call_at(console, "POST", &format!("/v2/console/group/{group}/add"), &viewer, &users).0, 403);
    assert_eq!(call_at(console, "POST", &format!("/v2/console/group/{group}/add"), &dev, &users).0, 200);
    let members = |who: &str| {
        let (_, m) = call_at(console, "GET", &format!("/v2/console/group/{group}/member"), who, "");
        m["members"].as_array().unwrap().iter().map(|m| m["user_id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert!(members(&viewer).contains(&b));
    assert_eq!(call_at(console, "POST", &format!("/v2/console/group/{group}/kick"), &dev, &users).0, 200);
    assert!(!members(&viewer).contains(&b));
    assert_eq!(call_at(console, "POST", &format!("/v2/console/group/{group}/nonsense"), &dev, &users).0, 404);
    assert_eq!(call_at(console, "DELETE", &format!("/v2/console/group/{group}"), &dev, "").0, 200);
    assert_eq!(call_at(console, "GET", &format!("/v2/console/group/{group}/member"), &viewer, "").0, 404);

    // The matchmaker's tickets and counts.
    kaos.matchmaker().add(kaosnet::MatchmakerTicket::new(&a, "+properties.mode:duel")).unwrap();
    let (status, pool) = call_at(console, "GET", "/v2/console/matchmaker", &viewer, "");
    assert_eq!((status, pool["stats"]["tickets"].as_u64()), (200, Some(1)), "{pool}");
    assert_eq!(pool["tickets"][0]["players"][0]["user_id"].as_str(), Some(a.as_str()));

    // A running match's state, as its handler shows it.
    let id = kaos.matches().create(kaos, "console_room", &Value::Null).unwrap();
    let (status, state) = call_at(console, "GET", &format!("/v2/console/match/{id}/state"), &viewer, "");
    assert_eq!((status, &state["state"]), (200, &json!({"round": 3})), "{state}");
    assert_eq!(call_at(console, "GET", "/v2/console/match/nope.kaos/state", &viewer, "").0, 404);
    server.shutdown();
    server.wait().unwrap();
}

#[test]
fn a_player_is_edited_exported_and_deleted_with_all_their_data() {
    let server = serve();
    let console = server.console_addr.unwrap();
    let admin = bearer(&login(console, "admin", ADMIN_PASSWORD).1["token"]);
    let (dev, viewer) = team(console, &admin, "pdev", "pview");
    let kaos = &server.kaos;
    let (gone, friend) = (player(kaos, "leaving"), player(kaos, "staying"));
    kaos.storage().set(&gone, "saves", "slot", json!({"level": 9})).unwrap();
    kaos.leaderboards().create(LeaderboardConfig { id: "all_time".into(), ..LeaderboardConfig::default() }).unwrap();
    submit(kaos, "all_time", &gone, 50);
    submit(kaos, "all_time", &friend, 40);
    kaos.friends().add(&gone, std::slice::from_ref(&friend), &[]).unwrap();
    kaos.friends().add(&friend, std::slice::from_ref(&gone), &[]).unwrap();
    let spec = kaosnet::groups::GroupSpec { name: "leavers".into(), open: true, ..Default::default() };
    let group = kaos.groups().create(&friend, spec).unwrap().id;
    kaos.groups().join(&gone, &group).unwrap();

    // An edit: profile fields, metadata, and a wallet change recorded in the ledger.
    let edit = json!({"display_name": "Leaver", "metadata": {"vip": true}, "wallet": {"gold": 25}}).to_string();
    assert_eq!(call_at(console, "PUT", &format!("/v2/console/account/{gone}"), &viewer, &edit).0, 403);
    let (status, edited) = call_at(console, "PUT", &format!("/v2/console/account/{gone}"), &dev, &edit);
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (&edited["display_name"], &edited["metadata"]["vip"], &edited["wallet"]["gold"]),
        (&json!("Leaver"), &json!(true), &json!(25))
    );
    let taken = json!({"username": "staying"}).to_string();
    assert_eq!(call_at(console, "PUT", &format!("/v2/console/account/{gone}"), &dev, &taken).0, 409);

    // The export holds everything kept about them.
    let (status, export) = call_at(console, "GET", &format!("/v2/console/account/{gone}/export"), &viewer, "");
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["account"]["username"], "leaving");
    assert_eq!(export["storage"][0]["key"], "slot");
    assert_eq!(export["leaderboard_records"][0]["score"], "50");
    assert_eq!(export["friends"][0]["user_id"].as_str(), Some(friend.as_str()));
    assert_eq!(export["groups"][0]["group_id"].as_str(), Some(group.as_str()));
    assert_eq!(export["wallet_ledger"][0]["changeset"]["gold"], 25);
    assert!(!export.to_string().contains("password"), "{export}");
    let (_, friends) = call_at(console, "GET", &format!("/v2/console/account/{friend}/friend"), &viewer, "");
    assert_eq!(friends["friends"][0]["user_id"].as_str(), Some(gone.as_str()));
    let (_, groups) = call_at(console, "GET", &format!("/v2/console/account/{gone}/group"), &viewer, "");
    assert_eq!(groups["groups"][0]["group"]["id"].as_str(), Some(group.as_str()));

    // Deleting them takes their storage, records, friendships and memberships with them.
    assert_eq!(call_at(console, "DELETE", &format!("/v2/console/account/{gone}"), &dev, "").0, 200);
    assert!(kaos.storage().get(&gone, "saves", "slot").unwrap().is_none());
    assert_eq!(kaos.leaderboards().get_record("all_time", &gone).unwrap(), None);
    assert_eq!(kaos.leaderboards().rank_count("all_time").unwrap(), 1);
    assert!(kaos.friends().list(&friend, None, 100, None).unwrap().friends.is_empty());
    let members = kaos.groups().users(&group, None, 100, None).unwrap().items;
    assert_eq!(members.iter().map(|(u, _)| u.id.as_str()).collect::<Vec<_>>(), [friend.as_str()]);
    assert_eq!(call_at(console, "GET", &format!("/v2/console/account/{gone}/export"), &viewer, "").0, 404);
    server.shutdown();
    server.wait().unwrap();
}
