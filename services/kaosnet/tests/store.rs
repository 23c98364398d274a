//! One conformance suite for every `Store`: each test runs on memory and on SQLite
//! (and on PostgreSQL with `--features postgres`).

#[macro_use]
mod conformance;
#[cfg(feature = "postgres")]
use conformance::postgres_store;

use kaosnet::store::leaderboards::{LeaderboardStore, RecordWrite, StoredBoard, StoredRecord};
use kaosnet::store::{
    version_of, AccountStore, Caller, ChannelMessage, Group, GroupFilter, GroupUpdate, GroupUsersOp, MemoryStore,
    Notification, ObjectDelete, ObjectId, ObjectStore, ObjectWrite, Refusal, SessionStore, SocialDone, SocialWrite,
    SqliteStore, Store, StoreError, User, UserKey, VersionCheck,
};

fn user(id: &str, username: &str) -> User {
    User {
        id: id.to_string(),
        username: username.to_string(),
        metadata: "{}".into(),
        wallet: "{}".into(),
        create_time: 100,
        update_time: 100,
        ..User::default()
    }
}

fn oid(collection: &str, key: &str, owner: &str) -> ObjectId {
    ObjectId { collection: collection.into(), key: key.into(), user_id: owner.into() }
}

fn write(id: ObjectId, value: &str, version: VersionCheck, read: u8, write: u8) -> ObjectWrite {
    ObjectWrite { id, value: value.into(), version, permission_read: read, permission_write: write }
}

fn users_are_unique_by_every_key(s: &dyn Store) {
    let mut a = user("a", "Alice");
    a.email = Some("Alice@Example.com".into());
    a.custom_id = Some("custom-a".into());
    a.devices = vec!["device-a-1".into(), "device-a-2".into()];
    s.create_user(&a).unwrap();
    for key in [
        UserKey::Id("a"),
        UserKey::Username("alice"),
        UserKey::Email("alice@example.COM"),
        UserKey::Custom("custom-a"),
        UserKey::Device("device-a-2"),
    ] {
        assert_eq!(s.user(key).unwrap().as_ref(), Some(&a), "{key:?}");
    }
    assert_eq!(s.user(UserKey::Device("nope")).unwrap(), None);
    let clash = |f: &dyn Fn(&mut User)| {
        let mut b = user("b", "bob");
        f(&mut b);
        s.create_user(&b).unwrap_err()
    };
    assert_eq!(clash(&|b| b.username = "ALICE".into()), StoreError::Conflict("username"));
    assert_eq!(clash(&|b| b.email = Some("alice@example.com".into())), StoreError::Conflict("email"));
    assert_eq!(clash(&|b| b.custom_id = Some("custom-a".into())), StoreError::Conflict("custom id"));
    assert_eq!(clash(&|b| b.devices = vec!["device-a-1".into()]), StoreError::Conflict("device id"));
    assert_eq!(s.create_user(&user("a", "other")).unwrap_err(), StoreError::Conflict("id"));
    // None of the failed creates left anything behind.
    assert_eq!(s.user(UserKey::Id("b")).unwrap(), None);
    s.create_user(&user("b", "bob")).unwrap();
    let found = s.users(&["b".into(), "a".into(), "zz".into()], &["ALICE".into(), "nobody".into()]).unwrap();
    assert_eq!(found.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), ["b", "a"]);
}

fn updates_move_unique_keys(s: &dyn Store) {
    let mut a = user("a", "alice");
    a.devices = vec!["d1".into()];
    s.create_user(&a).unwrap();
    s.create_user(&user("b", "bob")).unwrap();
    a.username = "alicia".into();
    a.devices = vec!["d2".into(), "d3".into()];
    a.display_name = "Alicia".into();
    s.update_user(&a).unwrap();
    assert_eq!(s.user(UserKey::Username("alice")).unwrap(), None);
    assert_eq!(s.user(UserKey::Device("d1")).unwrap(), None);
    assert_eq!(s.user(UserKey::Device("d3")).unwrap().unwrap().display_name, "Alicia");
    let mut b = s.user(UserKey::Id("b")).unwrap().unwrap();
    b.username = "Alicia".into();
    assert_eq!(s.update_user(&b).unwrap_err(), StoreError::Conflict("username"));
    b.username = "bob".into();
    b.devices = vec!["d2".into()];
    assert_eq!(s.update_user(&b).unwrap_err(), StoreError::Conflict("device id"));
    assert_eq!(s.update_user(&user("zz", "zz")).unwrap_err(), StoreError::NotFound);
}

fn deleting_a_user_deletes_their_objects(s: &dyn Store) {
    s.create_user(&user("a", "alice")).unwrap();
    s.create_user(&user("b", "bob")).unwrap();
    let w = |owner: &str| write(oid("saves", "slot1", owner), r#"{"hp":1}"#, VersionCheck::Any, 1, 1);
    s.write_objects(Caller::Server, &[w("a"), w("b")], 5).unwrap();
    assert!(s.delete_user("a").unwrap());
    assert!(!s.delete_user("a").unwrap());
    assert_eq!(s.user(UserKey::Username("alice")).unwrap(), None);
    let left = s.read_objects(&[oid("saves", "slot1", "a"), oid("saves", "slot1", "b")]).unwrap();
    assert_eq!(left.iter().map(|o| o.id.user_id.as_str()).collect::<Vec<_>>(), ["b"]);
}

fn collections_and_user_ids_are_listed_in_order(s: &dyn Store) {
    for id in ["c", "a", "b"] {
        s.create_user(&user(id, &format!("name-{id}"))).unwrap();
    }
    assert_eq!(s.user_ids("", 2).unwrap(), ["a", "b"]);
    assert_eq!(s.user_ids("b", 10).unwrap(), ["c"]);
    let w = |c: &str, owner: &str| write(oid(c, "k", owner), "{}", VersionCheck::Any, 1, 1);
    s.write_objects(Caller::Server, &[w("zeta", "a"), w("alpha", "b"), w("zeta", "b"), w("mid", "c")], 5).unwrap();
    assert_eq!(s.collections(None).unwrap(), ["alpha", "mid", "zeta"]);
    assert_eq!(s.collections(Some("b")).unwrap(), ["alpha", "zeta"]);
    assert!(s.collections(Some("nobody")).unwrap().is_empty());
}

fn deleting_a_user_deletes_their_records_of_every_period(s: &dyn Store) {
    s.create_user(&user("o1", "one")).unwrap();
    s.create_board(&StoredBoard { id: "b".into(), config: r#"{"id":"b"}"#.into(), create_time: 3 }).unwrap();
    let puts = [record("b", "o1", 1, 0), record("b", "o1", 2, 100), record("b", "o2", 3, 0)];
    s.write_records(&puts.map(RecordWrite::Put)).unwrap();
    assert!(s.delete_user("o1").unwrap());
    assert_eq!(s.records("b", 0).unwrap(), [record("b", "o2", 3, 0)]);
    assert!(s.records("b", 100).unwrap().is_empty());
}

fn versions_make_writes_conditional_and_batches_atomic(s: &dyn Store) {
    let me = Caller::User("a");
    let id = oid("saves", "slot1", "a");
    let created = s.write_objects(me, &[write(id.clone(), r#"{"v":1}"#, VersionCheck::Absent, 1, 1)], 10).unwrap();
    assert_eq!(created[0].version, version_of(r#"{"v":1}"#));
    assert_eq!((created[0].create_time, created[0].update_time), (10, 10));
    // `*` again: the object exists.
    let again = s.write_objects(me, &[write(id.clone(), r#"{"v":2}"#, VersionCheck::Absent, 1, 1)], 11);
    assert_eq!(again.unwrap_err(), StoreError::VersionMismatch);
    // A batch whose second write fails applies nothing, not even its first.
    let batch = [
        write(oid("saves", "slot2", "a"), r#"{"new":true}"#, VersionCheck::Any, 1, 1),
        write(id.clone(), r#"{"v":3}"#, VersionCheck::Is("stale".into()), 1, 1),
    ];
    assert_eq!(s.write_objects(me, &batch, 12).unwrap_err(), StoreError::VersionMismatch);
    assert_eq!(s.read_objects(&[oid("saves", "slot2", "a")]).unwrap(), []);
    // The right version updates; creation time stays.
    let v = created[0].version.clone();
    let updated =
        s.write_objects(me, &[write(id.clone(), r#"{"v":4}"#, VersionCheck::Is(v.clone()), 2, 1)], 13).unwrap();
    assert_eq!((updated[0].create_time, updated[0].update_time, updated[0].permission_read), (10, 13, 2));
    assert_ne!(updated[0].version, v);
    assert_eq!(s.read_objects(std::slice::from_ref(&id)).unwrap(), updated);
    // Two writes to one key in a batch: the second sees the first.
    let chain = [
        write(oid("saves", "slot3", "a"), r#"{"n":1}"#, VersionCheck::Absent, 1, 1),
        write(oid("saves", "slot3", "a"), r#"{"n":2}"#, VersionCheck::Is(version_of(r#"{"n":1}"#)), 1, 1),
    ];
    assert_eq!(s.write_objects(me, &chain, 14).unwrap()[1].value, r#"{"n":2}"#);
}

fn write_permissions_hold_for_users_not_the_server(s: &dyn Store) {
    let (alice, bob) = (Caller::User("a"), Caller::User("b"));
    let mine = oid("saves", "k", "a");
    s.write_objects(alice, &[write(mine.clone(), "{}", VersionCheck::Any, 2, 1)], 1).unwrap();
    let theirs = [write(mine.clone(), r#"{"x":1}"#, VersionCheck::Any, 2, 1)];
    assert_eq!(s.write_objects(bob, &theirs, 2).unwrap_err(), StoreError::PermissionDenied);
    let create_for_other = [write(oid("saves", "new", "a"), "{}", VersionCheck::Any, 1, 1)];
    assert_eq!(s.write_objects(bob, &create_for_other, 2).unwrap_err(), StoreError::PermissionDenied);
    let server_owned = [write(oid("config", "k", ""), "{}", VersionCheck::Any, 2, 0)];
    assert_eq!(s.write_objects(alice, &server_owned, 2).unwrap_err(), StoreError::PermissionDenied);
    s.write_objects(Caller::Server, &server_owned, 2).unwrap();
    // Write permission 0: even the owner may not change or delete it.
    s.write_objects(Caller::Server, &[write(mine.clone(), "{}", VersionCheck::Any, 1, 0)], 3).unwrap();
    let denied = s.write_objects(alice, &[write(mine.clone(), "{}", VersionCheck::Any, 1, 1)], 4);
    assert_eq!(denied.unwrap_err(), StoreError::PermissionDenied);
    let delete = [ObjectDelete { id: mine.clone(), version: None }];
    assert_eq!(s.delete_objects(alice, &delete).unwrap_err(), StoreError::PermissionDenied);
    s.delete_objects(Caller::Server, &delete).unwrap();
    assert_eq!(s.read_objects(&[mine]).unwrap(), []);
    // Write permission 2: any user writes the value, the permissions stay.
    let wall = oid("boards", "wall", "a");
    s.write_objects(Caller::Server, &[write(wall.clone(), "{}", VersionCheck::Any, 2, 2)], 5).unwrap();
    let written = s.write_objects(bob, &[write(wall.clone(), r#"{"n":1}"#, VersionCheck::Any, 0, 0)], 6).unwrap();
    assert_eq!((written[0].permission_read, written[0].permission_write), (2, 2));
    let stored = s.read_objects(std::slice::from_ref(&wall)).unwrap();
    assert_eq!((stored[0].value.as_str(), stored[0].permission_read, stored[0].permission_write), (r#"{"n":1}"#, 2, 2));
    s.delete_objects(bob, &[ObjectDelete { id: wall.clone(), version: None }]).unwrap();
    assert_eq!(s.read_objects(&[wall]).unwrap(), []);
}

fn deletes_check_versions_and_are_atomic(s: &dyn Store) {
    let me = Caller::User("a");
    let objs = s
        .write_objects(
            me,
            &[
                write(oid("c", "1", "a"), r#"{"i":1}"#, VersionCheck::Any, 1, 1),
                write(oid("c", "2", "a"), r#"{"i":2}"#, VersionCheck::Any, 1, 1),
            ],
            1,
        )
        .unwrap();
    let bad = [
        ObjectDelete { id: oid("c", "1", "a"), version: None },
        ObjectDelete { id: oid("c", "2", "a"), version: Some("wrong".into()) },
    ];
    assert_eq!(s.delete_objects(me, &bad).unwrap_err(), StoreError::VersionMismatch);
    assert_eq!(s.read_objects(&[oid("c", "1", "a")]).unwrap().len(), 1);
    let good = [
        ObjectDelete { id: oid("c", "1", "a"), version: None },
        ObjectDelete { id: oid("c", "2", "a"), version: Some(objs[1].version.clone()) },
        ObjectDelete { id: oid("c", "missing", "a"), version: None },
    ];
    s.delete_objects(me, &good).unwrap();
    assert_eq!(s.read_objects(&[oid("c", "1", "a"), oid("c", "2", "a")]).unwrap(), []);
}

fn listings_page_through_readable_objects_once(s: &dyn Store) {
    let mut writes = Vec::new();
    for owner in ["a", "b", "c"] {
        for k in 0..25 {
            // Every third object is private to its owner.
            let read = if k % 3 == 0 { 1 } else { 2 };
            writes.push(write(oid("items", &format!("k{k:02}"), owner), "{}", VersionCheck::Any, read, 1));
        }
    }
    writes.push(write(oid("other", "x", "a"), "{}", VersionCheck::Any, 2, 1));
    s.write_objects(Caller::Server, &writes, 1).unwrap();
    let list_all = |caller: Caller<'_>, owner: Option<&str>, limit: usize| {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = s.list_objects(caller, "items", owner, limit, cursor.as_deref()).unwrap();
            assert!(page.objects.len() <= limit);
            seen.extend(page.objects.into_iter().map(|o| (o.id.user_id, o.id.key)));
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return seen,
            }
        }
    };
    // Bob sees everything public plus his own private ones, in order, each once.
    let bob = list_all(Caller::User("b"), None, 7);
    let expected: Vec<(String, String)> = ["a", "b", "c"]
        .iter()
        .flat_map(|o| {
            (0..25).filter(move |k| k % 3 != 0 || *o == "b").map(move |k| (o.to_string(), format!("k{k:02}")))
        })
        .collect();
    assert_eq!(bob, expected);
    assert_eq!(list_all(Caller::Server, None, 100).len(), 75);
    assert_eq!(list_all(Caller::Server, Some("c"), 10).len(), 25);
    assert_eq!(list_all(Caller::User("a"), Some("c"), 10).len(), 16);
    assert_eq!(
        s.list_objects(Caller::Server, "items", None, 5, Some("not a cursor!")).unwrap_err(),
        StoreError::InvalidCursor
    );
}

/// Sign-ups from many threads at once all land (a pooled store runs them together), and
/// a name two of them race for goes to one, the other told it is taken.
fn concurrent_sign_ups_all_land(s: &dyn Store) {
    std::thread::scope(|scope| {
        for t in 0..8 {
            scope.spawn(move || {
                for i in 0..25 {
                    let mut u = user(&format!("c-{t}-{i}"), &format!("racer{t}x{i}"));
                    u.devices.push(format!("device-c-{t}-{i}"));
                    s.create_user(&u).unwrap();
                }
            });
        }
    });
    for t in 0..8 {
        assert!(s.user(UserKey::Device(&format!("device-c-{t}-24"))).unwrap().is_some());
    }
    let outcomes: Vec<Result<(), StoreError>> = std::thread::scope(|scope| {
        let racers: Vec<_> =
            (0..6).map(|i| scope.spawn(move || s.create_user(&user(&format!("same-{i}"), "TakenName")))).collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(o, Ok(()) | Err(StoreError::Conflict("username")))), "{outcomes:?}");
}

fn revoked_tokens_stay_revoked(s: &dyn Store) {
    assert!(!s.is_revoked("t1").unwrap());
    s.revoke_token("t1", "a", 1_000).unwrap();
    s.revoke_token("t1", "a", 1_000).unwrap();
    assert!(s.is_revoked("t1").unwrap());
    assert!(!s.is_revoked("t2").unwrap());
    // The unexpired ones are listed (what a server holds in memory); expired ones go.
    s.revoke_token("t2", "b", 2_000).unwrap();
    let mut held = s.revoked_tokens(1_000).unwrap();
    held.sort();
    assert_eq!(held, [("t2".to_string(), 2_000)], "t1 expires at 1,000");
    assert_eq!(s.revoked_tokens(999).unwrap().len(), 2);
    assert_eq!(s.prune_revoked(1_500).unwrap(), 1);
    assert!(!s.is_revoked("t1").unwrap() && s.is_revoked("t2").unwrap());
    assert_eq!(s.prune_revoked(1_500).unwrap(), 0);
}

fn message(id: &str, channel: &str, sender: &str, text: &str) -> ChannelMessage {
    ChannelMessage {
        id: id.into(),
        channel_id: channel.into(),
        sender_id: sender.into(),
        username: sender.into(),
        content: format!("{{\"t\":\"{text}\"}}"),
        create_time: 5,
        update_time: 5,
        ..ChannelMessage::default()
    }
}

fn messages_keep_their_order_and_only_their_sender_changes_them(s: &dyn Store) {
    for i in 0..5 {
        s.add_message(&message(&format!("m{i}"), "2...lobby", "u1", &i.to_string())).unwrap();
        s.add_message(&message(&format!("x{i}"), "2...other", "u2", "x")).unwrap();
    }
    let texts = |list: &[ChannelMessage]| list.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
    let all = s.list_messages("2...lobby", true, None, 100).unwrap();
    assert_eq!(texts(&all), ["m0", "m1", "m2", "m3", "m4"]);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    // Pages either way from a sequence number.
    assert_eq!(texts(&s.list_messages("2...lobby", true, Some(all[1].seq), 2).unwrap()), ["m2", "m3"]);
    assert_eq!(texts(&s.list_messages("2...lobby", false, None, 2).unwrap()), ["m4", "m3"]);
    assert_eq!(texts(&s.list_messages("2...lobby", false, Some(all[3].seq), 10).unwrap()), ["m2", "m1", "m0"]);
    assert!(s.list_messages("2...nobody", true, None, 10).unwrap().is_empty());
    // Only the sender edits or removes, in the right channel.
    assert_eq!(s.update_message("2...lobby", "m1", "u2", "{}", 9).unwrap_err(), StoreError::PermissionDenied);
    assert_eq!(s.update_message("2...other", "m1", "u1", "{}", 9).unwrap_err(), StoreError::NotFound);
    let changed = s.update_message("2...lobby", "m1", "u1", "{\"t\":\"new\"}", 9).unwrap();
    assert_eq!((changed.content.as_str(), changed.update_time, changed.create_time), ("{\"t\":\"new\"}", 9, 5));
    assert_eq!(s.list_messages("2...lobby", true, None, 100).unwrap()[1], changed);
    assert_eq!(s.remove_message("2...lobby", "m2", Some("u2")).unwrap_err(), StoreError::PermissionDenied);
    assert_eq!(s.remove_message("2...lobby", "m2", Some("u1")).unwrap().id, "m2");
    assert_eq!(s.remove_message("2...lobby", "m2", Some("u1")).unwrap_err(), StoreError::NotFound);
    // An operator removes anyone's (in the right channel).
    assert_eq!(s.remove_message("2...other", "m3", None).unwrap_err(), StoreError::NotFound);
    assert_eq!(s.remove_message("2...lobby", "m3", None).unwrap().sender_id, "u1");
    assert_eq!(texts(&s.list_messages("2...lobby", true, None, 100).unwrap()), ["m0", "m1", "m4"]);
    // The channels with messages, a page at a time.
    assert_eq!(s.channels("", 10).unwrap(), [("2...lobby".to_string(), 3), ("2...other".to_string(), 5)]);
    assert_eq!(s.channels("2...lobby", 10).unwrap(), [("2...other".to_string(), 5)]);
    assert_eq!(s.channels("", 1).unwrap().len(), 1);
}

fn notifications_page_after_a_cursor_and_only_their_owner_deletes_them(s: &dyn Store) {
    s.create_user(&user("n1", "noti1")).unwrap();
    let make = |id: &str, owner: &str| Notification {
        id: id.into(),
        user_id: owner.into(),
        subject: "hi".into(),
        content: "{}".into(),
        code: 1,
        create_time: 7,
        ..Notification::default()
    };
    let stored = s.add_notifications(&[make("a", "n1"), make("b", "n2"), make("c", "n1"), make("d", "n1")]).unwrap();
    assert!(stored.windows(2).all(|w| w[0].seq < w[1].seq));
    let ids = |list: Vec<Notification>| list.into_iter().map(|n| n.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_notifications("n1", None, 10).unwrap()), ["a", "c", "d"]);
    assert_eq!(ids(s.list_notifications("n1", None, 2).unwrap()), ["a", "c"]);
    assert_eq!(ids(s.list_notifications("n1", Some(stored[2].seq), 10).unwrap()), ["d"]);
    // Someone else's ids are not deleted.
    assert_eq!(s.delete_notifications("n1", &["b".into(), "c".into(), "zz".into()]).unwrap(), 1);
    assert_eq!(ids(s.list_notifications("n1", None, 10).unwrap()), ["a", "d"]);
    assert_eq!(ids(s.list_notifications("n2", None, 10).unwrap()), ["b"]);
    // Deleting the user deletes their notifications.
    assert!(s.delete_user("n1").unwrap());
    assert!(s.list_notifications("n1", None, 10).unwrap().is_empty());
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn friends_of(s: &dyn Store, user: &str) -> Vec<(String, i32)> {
    s.list_friends(user, None, None, 100).unwrap().into_iter().map(|f| (f.user_id, f.state)).collect()
}

fn pair(a: &str, state: i32) -> (String, i32) {
    (a.to_string(), state)
}

fn friend_edges_follow_invites_accepts_and_blocks(s: &dyn Store) {
    for (id, name) in [("a", "alice"), ("b", "bob"), ("c", "cy")] {
        s.create_user(&user(id, name)).unwrap();
    }
    let add = |me: &str, who: &[&str]| s.social_write(SocialWrite::AddFriends { user_id: me.into(), ids: ids(who) }, 7);
    assert_eq!(add("a", &["b", "c"]).unwrap(), SocialDone::Friends { invited: ids(&["b", "c"]), accepted: vec![] });
    assert_eq!(friends_of(s, "a"), [pair("b", 1), pair("c", 1)]);
    assert_eq!(friends_of(s, "b"), [pair("a", 2)]);
    // Inviting again changes nothing; accepting makes both sides mutual.
    assert_eq!(add("a", &["b"]).unwrap(), SocialDone::Friends { invited: vec![], accepted: vec![] });
    assert_eq!(add("b", &["a"]).unwrap(), SocialDone::Friends { invited: vec![], accepted: ids(&["a"]) });
    assert_eq!((friends_of(s, "a"), friends_of(s, "b")), (vec![pair("b", 0), pair("c", 1)], vec![pair("a", 0)]));
    assert_eq!(s.list_friends("a", Some(0), None, 10).unwrap().len(), 1);
    // A refused target refuses the whole call.
    let err = add("b", &["c", "zz"]).unwrap_err();
    assert_eq!(err, StoreError::Social(Refusal::UserNotFound));
    assert_eq!(add("b", &["b"]).unwrap_err(), StoreError::Social(Refusal::Myself));
    assert_eq!(friends_of(s, "c"), [pair("a", 2)]);
    // C blocks A: A's invite is gone, and A cannot invite C again.
    s.social_write(SocialWrite::BlockFriends { user_id: "c".into(), ids: ids(&["a"]) }, 8).unwrap();
    assert_eq!((friends_of(s, "a"), friends_of(s, "c")), (vec![pair("b", 0)], vec![pair("a", 3)]));
    assert_eq!(add("a", &["c"]).unwrap_err(), StoreError::Social(Refusal::BlockedByUser));
    assert_eq!(add("c", &["a"]).unwrap_err(), StoreError::Social(Refusal::BlockedUser));
    // A deleting C leaves C's block; C deleting A lifts it.
    s.social_write(SocialWrite::DeleteFriends { user_id: "a".into(), ids: ids(&["c"]) }, 9).unwrap();
    assert_eq!(friends_of(s, "c"), [pair("a", 3)]);
    s.social_write(SocialWrite::DeleteFriends { user_id: "c".into(), ids: ids(&["a"]) }, 9).unwrap();
    assert_eq!(friends_of(s, "c"), []);
    s.social_write(SocialWrite::DeleteFriends { user_id: "b".into(), ids: ids(&["a"]) }, 9).unwrap();
    assert_eq!((friends_of(s, "a"), friends_of(s, "b")), (vec![], vec![]));
}

fn group(id: &str, name: &str, creator: &str, open: bool, max: i64) -> Group {
    Group {
        id: id.into(),
        creator_id: creator.into(),
        name: name.into(),
        metadata: "{}".into(),
        open,
        max_count: max,
        create_time: 3,
        update_time: 3,
        ..Group::default()
    }
}

fn members(s: &dyn Store, g: &str) -> Vec<(String, i32)> {
    s.list_group_users(g, None, None, 100).unwrap().into_iter().map(|m| (m.user_id, m.state)).collect()
}

fn users_op(s: &dyn Store, caller: &str, g: &str, op: GroupUsersOp, who: &[&str]) -> Result<SocialDone, StoreError> {
    let write = SocialWrite::GroupUsers { caller: Some(caller.into()), id: g.into(), op, user_ids: ids(who) };
    s.social_write(write, 20)
}

fn groups_keep_roles_counts_and_names(s: &dyn Store) {
    for (id, name) in [("a", "alice"), ("b", "bob"), ("c", "cy"), ("d", "di")] {
        s.create_user(&user(id, name)).unwrap();
    }
    s.social_write(SocialWrite::CreateGroup(group("g1", "Knights", "a", false, 3)), 3).unwrap();
    let clash = s.social_write(SocialWrite::CreateGroup(group("g2", "KNIGHTS", "b", true, 3)), 3);
    assert_eq!(clash.unwrap_err(), StoreError::Social(Refusal::NameInUse));
    assert_eq!(s.group("g2").unwrap(), None);
    // A closed group takes a join request and names the admins to tell.
    let join = |u: &str| s.social_write(SocialWrite::JoinGroup { user_id: u.into(), id: "g1".into() }, 4);
    match join("b").unwrap() {
        SocialDone::Group { requested, group, .. } => assert_eq!((requested, group.edge_count), (ids(&["a"]), 1)),
        other => panic!("{other:?}"),
    }
    assert_eq!(members(s, "g1"), [pair("a", 0), pair("b", 3)]);
    // A join request cannot act; the superadmin accepts it and adds C (the group is full).
    assert_eq!(
        users_op(s, "b", "g1", GroupUsersOp::Add, &["c"]).unwrap_err(),
        StoreError::Social(Refusal::PermissionDenied)
    );
    match users_op(s, "a", "g1", GroupUsersOp::Promote, &["b"]).unwrap() {
        SocialDone::Group { added, .. } => assert_eq!(added, ids(&["b"])),
        other => panic!("{other:?}"),
    }
    users_op(s, "a", "g1", GroupUsersOp::Add, &["c"]).unwrap();
    assert_eq!(s.group("g1").unwrap().unwrap().edge_count, 3);
    assert_eq!(users_op(s, "a", "g1", GroupUsersOp::Add, &["d"]).unwrap_err(), StoreError::Social(Refusal::GroupFull));
    // B becomes admin; an admin cannot make a superadmin nor touch one.
    users_op(s, "a", "g1", GroupUsersOp::Promote, &["b"]).unwrap();
    // An admin may raise a member to admin (acting on oneself is skipped).
    users_op(s, "b", "g1", GroupUsersOp::Promote, &["b", "c"]).unwrap();
    assert_eq!(members(s, "g1"), [pair("a", 0), pair("b", 1), pair("c", 1)]);
    for op in [GroupUsersOp::Kick, GroupUsersOp::Ban, GroupUsersOp::Demote] {
        assert_eq!(users_op(s, "b", "g1", op, &["a"]).unwrap_err(), StoreError::Social(Refusal::PermissionDenied));
    }
    assert_eq!(
        users_op(s, "b", "g1", GroupUsersOp::Promote, &["c"]).unwrap_err(),
        StoreError::Social(Refusal::PermissionDenied)
    );
    // The last superadmin cannot leave; a banned user cannot come back.
    let leave = |u: &str| s.social_write(SocialWrite::LeaveGroup { user_id: u.into(), id: "g1".into() }, 5);
    assert_eq!(leave("a").unwrap_err(), StoreError::Social(Refusal::LastSuperadmin));
    users_op(s, "b", "g1", GroupUsersOp::Ban, &["c"]).unwrap();
    assert_eq!(members(s, "g1"), [pair("a", 0), pair("b", 1)]);
    assert_eq!(s.member_state("g1", "c").unwrap(), Some(4));
    assert_eq!(join("c").unwrap_err(), StoreError::Social(Refusal::Banned));
    assert_eq!(s.group("g1").unwrap().unwrap().edge_count, 2);
    assert!(s.list_user_groups("c", None, None, 10).unwrap().is_empty());
    // Updates: admins only, names stay unique.
    s.social_write(SocialWrite::CreateGroup(group("g2", "Squires", "d", true, 10)), 3).unwrap();
    let rename = |caller: &str, name: &str| {
        let update = GroupUpdate { name: Some(name.into()), ..GroupUpdate::default() };
        s.social_write(SocialWrite::UpdateGroup { caller: Some(caller.into()), id: "g1".into(), update }, 6)
    };
    assert_eq!(rename("b", "squires").unwrap_err(), StoreError::Social(Refusal::NameInUse));
    assert_eq!(rename("d", "Pages").unwrap_err(), StoreError::Social(Refusal::PermissionDenied));
    rename("b", "Paladins").unwrap();
    assert_eq!(s.group("g1").unwrap().unwrap().name, "Paladins");
    // Only a superadmin deletes.
    let delete =
        |caller: &str| s.social_write(SocialWrite::DeleteGroup { caller: Some(caller.into()), id: "g1".into() }, 7);
    assert_eq!(delete("b").unwrap_err(), StoreError::Social(Refusal::PermissionDenied));
    delete("a").unwrap();
    assert_eq!((s.group("g1").unwrap(), members(s, "g1")), (None, vec![]));
}

fn social_listings_page_once_and_filter(s: &dyn Store) {
    s.create_user(&user("me", "me")).unwrap();
    let others: Vec<String> = (0..7).map(|i| format!("u{i}")).collect();
    for o in &others {
        s.create_user(&user(o, o)).unwrap();
    }
    s.social_write(SocialWrite::AddFriends { user_id: "me".into(), ids: others.clone() }, 1).unwrap();
    let (mut seen, mut after) = (Vec::new(), None);
    loop {
        let page = s.list_friends("me", Some(1), after, 3).unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|f| f.seq);
        seen.extend(page.into_iter().map(|f| f.user_id));
    }
    assert_eq!(seen, others);
    for (i, name) in ["Alpha one", "alpha two", "Beta", "al_pha"].iter().enumerate() {
        let g = group(&format!("g{i}"), name, "me", i % 2 == 0, 10);
        s.social_write(
            SocialWrite::CreateGroup(Group { lang_tag: if i < 2 { "en".into() } else { "fr".into() }, ..g }),
            1,
        )
        .unwrap();
    }
    s.social_write(SocialWrite::JoinGroup { user_id: "u0".into(), id: "g0".into() }, 2).unwrap();
    let names = |f: GroupFilter, after: Option<&str>, n: usize| -> Vec<String> {
        s.list_groups(&f, after, n).unwrap().into_iter().map(|g| g.name).collect()
    };
    assert_eq!(names(GroupFilter::default(), None, 10), ["al_pha", "Alpha one", "alpha two", "Beta"]);
    assert_eq!(names(GroupFilter::default(), Some("alpha one"), 2), ["alpha two", "Beta"]);
    let by_name = |n: &str| GroupFilter { name: Some(n.into()), ..GroupFilter::default() };
    assert_eq!(names(by_name("ALPHA%"), None, 10), ["Alpha one", "alpha two"]);
    assert_eq!(names(by_name("al_%"), None, 10), ["al_pha"]);
    assert_eq!(names(by_name("beta"), None, 10), ["Beta"]);
    assert_eq!(names(by_name("%o"), None, 10), ["alpha two"]);
    let f = GroupFilter { lang_tag: Some("en".into()), open: Some(true), ..GroupFilter::default() };
    assert_eq!(names(f, None, 10), ["Alpha one"]);
    assert_eq!(names(GroupFilter { members: Some(2), ..GroupFilter::default() }, None, 10), ["Alpha one"]);
    let mine = s.list_user_groups("me", Some(0), None, 10).unwrap();
    assert_eq!(mine.iter().map(|(g, _)| g.id.as_str()).collect::<Vec<_>>(), ["g0", "g1", "g2", "g3"]);
    let rest = s.list_user_groups("me", None, Some(mine[1].1.seq), 10).unwrap();
    assert_eq!(rest.iter().map(|(g, _)| g.id.as_str()).collect::<Vec<_>>(), ["g2", "g3"]);
}

fn friends_of_friends_are_paged_in_order(s: &dyn Store) {
    for u in ["me", "a", "b", "c", "x", "y", "z"] {
        s.create_user(&user(u, u)).unwrap();
    }
    let add = |from: &str, to: &str| {
        s.social_write(SocialWrite::AddFriends { user_id: from.into(), ids: vec![to.into()] }, 1).unwrap();
    };
    let befriend = |p: &str, q: &str| {
        add(p, q);
        add(q, p);
    };
    // My friends a and b; c only invited. x is known through both a and b; b is a's friend
    // but already mine; z is only invited by b and a friend of c, who is not mine.
    befriend("me", "a");
    befriend("me", "b");
    add("me", "c");
    befriend("a", "x");
    befriend("a", "y");
    befriend("a", "b");
    befriend("b", "x");
    add("b", "z");
    befriend("c", "z");
    let pairs = |after: Option<(&str, &str)>, n: usize| s.friends_of_friends("me", after, n).unwrap();
    let owned = |v: &[(&str, &str)]| v.iter().map(|(f, u)| (f.to_string(), u.to_string())).collect::<Vec<_>>();
    assert_eq!(pairs(None, 10), owned(&[("a", "x"), ("a", "y"), ("b", "x")]));
    assert_eq!(pairs(None, 2), owned(&[("a", "x"), ("a", "y")]));
    assert_eq!(pairs(Some(("a", "y")), 2), owned(&[("b", "x")]));
    assert_eq!(pairs(Some(("b", "x")), 2), []);
    assert_eq!(s.friends_of_friends("z", None, 10).unwrap(), owned(&[]));
}

fn deleting_a_user_removes_their_edges(s: &dyn Store) {
    for (id, name) in [("a", "alice"), ("b", "bob")] {
        s.create_user(&user(id, name)).unwrap();
    }
    s.social_write(SocialWrite::AddFriends { user_id: "a".into(), ids: ids(&["b"]) }, 1).unwrap();
    s.social_write(SocialWrite::CreateGroup(group("g", "G", "b", true, 10)), 1).unwrap();
    s.social_write(SocialWrite::JoinGroup { user_id: "a".into(), id: "g".into() }, 1).unwrap();
    assert_eq!(s.group("g").unwrap().unwrap().edge_count, 2);
    assert!(s.delete_user("a").unwrap());
    assert_eq!((friends_of(s, "b"), members(s, "g")), (vec![], vec![pair("b", 0)]));
    assert_eq!(s.group("g").unwrap().unwrap().edge_count, 1);
}

fn a_deleted_last_superadmin_hands_the_group_on(s: &dyn Store) {
    for (id, name) in [("a", "alice"), ("b", "bob"), ("c", "carol"), ("d", "dan")] {
        s.create_user(&user(id, name)).unwrap();
    }
    s.social_write(SocialWrite::CreateGroup(group("g", "G", "a", true, 10)), 1).unwrap();
    for u in ["b", "c"] {
        s.social_write(SocialWrite::JoinGroup { user_id: u.into(), id: "g".into() }, 1).unwrap();
    }
    users_op(s, "a", "g", GroupUsersOp::Promote, &["c"]).unwrap();
    // A group with a second superadmin keeps its roles.
    s.social_write(SocialWrite::CreateGroup(group("h", "H", "d", true, 10)), 1).unwrap();
    s.social_write(SocialWrite::JoinGroup { user_id: "b".into(), id: "h".into() }, 1).unwrap();
    users_op(s, "d", "h", GroupUsersOp::Promote, &["b"]).unwrap();
    users_op(s, "d", "h", GroupUsersOp::Promote, &["b"]).unwrap();
    assert_eq!(s.member_state("h", "b").unwrap(), Some(0));

    // The admin (c) takes over from a, then the member (b) from c; then no one is left.
    s.delete_user("a").unwrap();
    assert_eq!(members(s, "g"), vec![pair("b", 2), pair("c", 0)]);
    s.delete_user("c").unwrap();
    assert_eq!(members(s, "g"), vec![pair("b", 0)]);
    assert_eq!(s.group("g").unwrap().unwrap().edge_count, 1);
    s.delete_user("b").unwrap();
    assert_eq!(s.group("g").unwrap(), None);
    assert_eq!(members(s, "h"), vec![pair("d", 0)]);
}

fn record(board: &str, owner: &str, score: i64, expiry: i64) -> StoredRecord {
    StoredRecord {
        leaderboard_id: board.into(),
        owner_id: owner.into(),
        username: format!("u-{owner}"),
        score,
        subscore: 1,
        num_score: 1,
        metadata: "{}".into(),
        create_time: 5,
        update_time: 6,
        expiry_time: expiry,
        ..StoredRecord::default()
    }
}

fn boards_and_records_are_kept_by_period(s: &dyn Store) {
    let def = |id: &str| StoredBoard { id: id.into(), config: format!(r#"{{"id":"{id}"}}"#), create_time: 3 };
    assert!(s.create_board(&def("b")).unwrap());
    assert!(!s.create_board(&StoredBoard { config: "{}".into(), ..def("b") }).unwrap());
    assert!(s.create_board(&def("a")).unwrap());
    assert_eq!(s.board("b").unwrap(), Some(def("b")));
    assert_eq!(s.board("zz").unwrap(), None);
    assert_eq!(s.boards().unwrap().iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);

    s.write_records(&[
        RecordWrite::Put(record("b", "o1", 10, 0)),
        RecordWrite::Put(record("b", "o2", 20, 0)),
        RecordWrite::Put(record("b", "o1", 30, 100)),
        RecordWrite::Put(record("a", "o1", 40, 0)),
    ])
    .unwrap();
    // A replace and a delete in one batch, in order.
    s.write_records(&[
        RecordWrite::Put(record("b", "o1", 11, 0)),
        RecordWrite::Delete { leaderboard_id: "b".into(), owner_id: "o2".into(), expiry_time: 0 },
        RecordWrite::Put(record("b", "o3", 5, 0)),
        RecordWrite::Delete { leaderboard_id: "b".into(), owner_id: "o3".into(), expiry_time: 0 },
    ])
    .unwrap();
    let mut current = s.records("b", 0).unwrap();
    current.sort_by(|x, y| x.owner_id.cmp(&y.owner_id));
    assert_eq!(current, [record("b", "o1", 11, 0)]);
    assert_eq!(s.records("b", 100).unwrap(), [record("b", "o1", 30, 100)]);
    assert!(s.delete_board("b").unwrap());
    assert!(!s.delete_board("b").unwrap());
    assert!(s.records("b", 0).unwrap().is_empty() && s.records("b", 100).unwrap().is_empty());
    assert_eq!(s.records("a", 0).unwrap(), [record("a", "o1", 40, 0)]);
}

conformance!(
    users_are_unique_by_every_key,
    updates_move_unique_keys,
    deleting_a_user_deletes_their_objects,
    collections_and_user_ids_are_listed_in_order,
    deleting_a_user_deletes_their_records_of_every_period,
    versions_make_writes_conditional_and_batches_atomic,
    write_permissions_hold_for_users_not_the_server,
    deletes_check_versions_and_are_atomic,
    listings_page_through_readable_objects_once,
    revoked_tokens_stay_revoked,
    concurrent_sign_ups_all_land,
    messages_keep_their_order_and_only_their_sender_changes_them,
    notifications_page_after_a_cursor_and_only_their_owner_deletes_them,
    boards_and_records_are_kept_by_period,
    friend_edges_follow_invites_accepts_and_blocks,
    groups_keep_roles_counts_and_names,
    social_listings_page_once_and_filter,
    friends_of_friends_are_paged_in_order,
    deleting_a_user_removes_their_edges,
    a_deleted_last_superadmin_hands_the_group_on,
);

#[test]
fn sqlite_keeps_acknowledged_writes_across_a_reopen() {
    let dir = std::env::temp_dir().join(format!("kaosnet-store-{}", std::process::id()));
    let path = dir.join("data/kaos.db");
    let _ = std::fs::remove_dir_all(&dir);
    {
        let s = SqliteStore::open(&path).unwrap();
        s.create_user(&user("a", "alice")).unwrap();
        s.write_objects(
            Caller::User("a"),
            &[write(oid("c", "k", "a"), r#"{"kept":true}"#, VersionCheck::Any, 1, 1)],
            1,
        )
        .unwrap();
        s.revoke_token("t", "a", 9).unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.user(UserKey::Username("alice")).unwrap().unwrap().id, "a");
    assert_eq!(s.read_objects(&[oid("c", "k", "a")]).unwrap()[0].value, r#"{"kept":true}"#);
    assert!(s.is_revoked("t").unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    // The memory store is the same API.
    let _: &dyn Store = &MemoryStore::new();
}

/// Many writers at once share commits: every acknowledged write is there after a
/// reopen, and a failing write in the same group changes nothing of the others.
#[test]
fn sqlite_group_commits_keep_every_write_apart() {
    let dir = std::env::temp_dir().join(format!("kaosnet-group-{}", std::process::id()));
    let path = dir.join("kaos.db");
    let _ = std::fs::remove_dir_all(&dir);
    {
        let s = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    let mut refused = 0;
                    for i in 0..50 {
                        let owner = format!("u{t}");
                        let ok = write(
                            oid("c", &format!("k{i}"), &owner),
                            &format!("{{\"i\":{i}}}"),
                            VersionCheck::Absent,
                            1,
                            1,
                        );
                        s.write_objects(Caller::User(&owner), &[ok], 1).unwrap();
                        // The same key again with `*`: refused, alone.
                        let again = write(oid("c", &format!("k{i}"), &owner), "{}", VersionCheck::Absent, 1, 1);
                        refused += usize::from(s.write_objects(Caller::User(&owner), &[again], 2).is_err());
                    }
                    refused
                })
            })
            .collect();
        let refused: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(refused, 16 * 50);
    }
    let s = SqliteStore::open(&path).unwrap();
    for t in 0..16 {
        let page = s.list_objects(Caller::Server, "c", Some(&format!("u{t}")), 100, None).unwrap();
        assert_eq!(page.objects.len(), 50);
        assert!(page.objects.iter().all(|o| o.create_time == 1 && o.value.starts_with("{\"i\":")));
    }
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sqlite_leaderboard_writes_read_the_same_before_and_after_the_journal_folds() {
    let dir = std::env::temp_dir().join(format!("kaosnet-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("kaos.db");
    let sorted = |s: &SqliteStore| {
        let mut r = s.records("b", 0).unwrap();
        r.sort_by(|x, y| x.owner_id.cmp(&y.owner_id));
        r
    };
    {
        let s = SqliteStore::open(&path).unwrap();
        let puts: Vec<RecordWrite> =
            ["o1", "o2", "o3"].iter().map(|o| RecordWrite::Put(record("b", o, 1, 0))).collect();
        s.write_records(&puts).unwrap();
        s.fold_leaderboard_journal().unwrap();
        // Journal rows over folded ones: a replace, a delete, a new record, and one for
        // another board that goes with its board.
        s.write_records(&[
            RecordWrite::Put(record("b", "o1", 9, 0)),
            RecordWrite::Delete { leaderboard_id: "b".into(), owner_id: "o2".into(), expiry_time: 0 },
            RecordWrite::Put(record("b", "o4", 4, 0)),
            RecordWrite::Put(record("gone", "o1", 4, 0)),
        ])
        .unwrap();
        let want = vec![record("b", "o1", 9, 0), record("b", "o3", 1, 0), record("b", "o4", 4, 0)];
        assert_eq!(sorted(&s), want);
        s.delete_board("gone").unwrap();
        assert!(s.records("gone", 0).unwrap().is_empty());
    }
    // Reopened, before and after folding.
    let s = SqliteStore::open(&path).unwrap();
    let want = vec![record("b", "o1", 9, 0), record("b", "o3", 1, 0), record("b", "o4", 4, 0)];
    assert_eq!(sorted(&s), want);
    s.fold_leaderboard_journal().unwrap();
    assert_eq!(sorted(&s), want);
    assert!(s.records("gone", 0).unwrap().is_empty());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `scripts/init.sql` is the schema the PostgreSQL migrations create
/// (`KAOS_WRITE_INIT_SQL=1` writes it anew).
#[cfg(feature = "postgres")]
#[test]
fn init_sql_is_the_postgresql_migrations() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/init.sql");
    let schema = kaosnet::store::postgres_schema_sql();
    if std::env::var_os("KAOS_WRITE_INIT_SQL").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &schema).unwrap();
    }
    let file = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(file == schema, "scripts/init.sql is stale: run this test with KAOS_WRITE_INIT_SQL=1");
}
