//! The server-side storage API: server access, a user's access with their permissions,
//! and field queries.

use std::sync::Arc;

use kaosnet::storage::{ObjectPermission, Query, Storage};
use kaosnet::store::{SqliteStore, Store};
use kaosnet::Code;
use serde_json::json;

fn storage() -> Storage {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    Storage::with_store(store)
}

#[test]
fn server_code_reads_and_writes_everything() {
    let s = storage();
    let o = s.set("u1", "saves", "slot", json!({"hp": 3})).unwrap();
    assert_eq!((o.permission_read, o.permission_write), (1, 1));
    assert_eq!(s.get("u1", "saves", "slot").unwrap().unwrap().value, r#"{"hp":3}"#);
    s.set_with_permission("", "config", "global", json!({"motd": "hi"}), ObjectPermission::PublicRead).unwrap();
    assert_eq!(s.list(None, "config", 10, None).unwrap().objects.len(), 1);
    assert!(s.delete("u1", "saves", "slot").unwrap());
    assert!(!s.delete("u1", "saves", "slot").unwrap());
    assert_eq!(s.set("u1", "c", "k", json!([1, 2])).unwrap_err().code, Code::InvalidArgument);
    // Clients write only with write permission 0 or 1.
    assert_eq!(
        s.write_as("u1", "u1", "c", "k", json!({}), ObjectPermission::PublicReadWrite).unwrap_err().code,
        Code::InvalidArgument
    );
}

#[test]
fn users_get_their_client_permissions() {
    let s = storage();
    s.set_with_permission("u1", "decks", "main", json!({"cards": 3}), ObjectPermission::PublicRead).unwrap();
    s.set("u1", "saves", "slot", json!({"hp": 3})).unwrap();
    s.set_with_permission("u1", "secrets", "k", json!({}), ObjectPermission::NoRead).unwrap();
    assert!(s.read_as("u2", "u1", "decks", "main").unwrap().is_some());
    assert!(s.read_as("u2", "u1", "saves", "slot").unwrap().is_none());
    assert!(s.read_as("u1", "u1", "saves", "slot").unwrap().is_some());
    assert!(s.read_as("u1", "u1", "secrets", "k").unwrap().is_none());
    let owner_only = ObjectPermission::OwnerOnly;
    let v = s.write_as_if("u2", "u2", "saves", "slot", json!({"hp": 1}), owner_only, "*").unwrap().version;
    assert_eq!(
        s.write_as_if("u2", "u2", "saves", "slot", json!({"hp": 2}), owner_only, "*").unwrap_err().code,
        Code::InvalidArgument
    );
    s.write_as_if("u2", "u2", "saves", "slot", json!({"hp": 2}), owner_only, &v).unwrap();
    // Server-only objects are not the owner's to change or delete; others' not at all.
    assert_eq!(s.write_as("u1", "u1", "secrets", "k", json!({}), owner_only).unwrap_err().code, Code::PermissionDenied);
    assert_eq!(s.delete_as("u1", "u1", "secrets", "k").unwrap_err().code, Code::PermissionDenied);
    assert_eq!(
        s.write_as("u1", "u2", "saves", "slot", json!({}), owner_only).unwrap_err().code,
        Code::PermissionDenied
    );
    assert_eq!(s.delete_as("u1", "u2", "saves", "slot").unwrap_err().code, Code::PermissionDenied);
    assert_eq!(s.write_as("u1", "u3", "new", "k", json!({}), owner_only).unwrap_err().code, Code::PermissionDenied);
    s.delete_as("u2", "u2", "saves", "slot").unwrap();
    assert!(s.get("u2", "saves", "slot").unwrap().is_none());
}

#[test]
fn public_objects_are_anyones_to_write_but_their_permissions_are_the_owners() {
    let s = storage();
    s.set_with_permission("u1", "boards", "wall", json!({"posts": 0}), ObjectPermission::PublicReadWrite).unwrap();
    // Another user writes the value; the permissions stay what the owner's were.
    let o = s.write_as("u2", "u1", "boards", "wall", json!({"posts": 1}), ObjectPermission::NoRead).unwrap();
    assert_eq!(
        (o.id.user_id.as_str(), o.value.as_str(), o.permission_read, o.permission_write),
        ("u1", r#"{"posts":1}"#, 2, 2)
    );
    assert!(s.read_as("u3", "u1", "boards", "wall").unwrap().is_some());
    // Versions hold for them too, and so may they delete it.
    assert_eq!(
        s.write_as_if("u3", "u1", "boards", "wall", json!({}), ObjectPermission::OwnerOnly, "0").unwrap_err().code,
        Code::InvalidArgument
    );
    s.delete_as("u3", "u1", "boards", "wall").unwrap();
    assert!(s.get("u1", "boards", "wall").unwrap().is_none());
}

#[test]
fn queries_match_fields_by_value_and_order() {
    let s = storage();
    for (user, level, region) in [("a", 5, "eu"), ("b", 12, "us"), ("c", 20, "eu"), ("d", 12, "eu")] {
        s.set(user, "profiles", "p", json!({"level": level, "region": region, "name": user})).unwrap();
    }
    let ids = |q: &Query, limit| -> Vec<String> {
        s.query("profiles", q, limit).unwrap().into_iter().map(|o| o.id.user_id).collect()
    };
    assert_eq!(ids(&Query::new().ge("/level", 12).eq("/region", "eu"), 10), ["c", "d"]);
    assert_eq!(ids(&Query::new().lt("/level", 12), 10), ["a"]);
    assert_eq!(ids(&Query::new().ne("/region", "eu"), 10), ["b"]);
    assert_eq!(ids(&Query::new().gt("/name", "b"), 10), ["c", "d"]);
    assert_eq!(ids(&Query::new().ge("/level", 0), 2), ["a", "b"]);
    // A missing field never orders.
    assert_eq!(ids(&Query::new().gt("/missing", 0), 10), Vec::<String>::new());
}

#[test]
fn server_code_meets_the_same_rules_as_a_client() {
    // One set of rules (`storage::ops`) for every caller: a name a client may not use,
    // server code may not either.
    let s = storage();
    let long = "k".repeat(129);
    for (collection, key) in [("", "k"), ("c", ""), ("c", long.as_str())] {
        assert_eq!(s.set("u1", collection, key, json!({})).unwrap_err().code, Code::InvalidArgument, "{key}");
        assert_eq!(s.get("u1", collection, key).unwrap_err().code, Code::InvalidArgument);
        let owner_only = ObjectPermission::OwnerOnly;
        assert_eq!(
            s.write_as("u1", "u1", collection, key, json!({}), owner_only).unwrap_err().code,
            Code::InvalidArgument
        );
    }
    assert_eq!(s.list(None, "", 10, None).unwrap_err().code, Code::InvalidArgument);
    assert_eq!(s.list(None, "c", 0, None).unwrap_err().code, Code::InvalidArgument);
    assert!(s.list(None, "c", 1000, None).is_ok(), "server code may read bigger pages");
}
