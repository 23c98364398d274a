//! The server-side storage API: server access, a user's access with their permissions,
//! and field queries.

use std::sync::Arc;

use kaosnet::storage::{Permission, Query, Storage};
use kaosnet::store::{SqliteStore, Store};
use kaosnet::Code;
use serde_json::json;

fn storage() -> Storage {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    Storage::new(store)
}

#[test]
fn server_code_reads_and_writes_everything() {
    let s = storage();
    let o = s.set("u1", "saves", "slot", &json!({"hp": 3})).unwrap();
    assert_eq!((o.permission_read, o.permission_write), (1, 1));
    assert_eq!(s.get("u1", "saves", "slot").unwrap().unwrap().value, r#"{"hp":3}"#);
    s.set_with_permission("", "config", "global", &json!({"motd": "hi"}), Permission::Public, Permission::ServerOnly)
        .unwrap();
    assert_eq!(s.list(None, "config", 10, None).unwrap().objects.len(), 1);
    assert!(s.delete("u1", "saves", "slot").unwrap());
    assert!(!s.delete("u1", "saves", "slot").unwrap());
    assert_eq!(s.set("u1", "c", "k", &json!([1, 2])).unwrap_err().code, Code::InvalidArgument);
    assert_eq!(
        s.set_with_permission("u1", "c", "k", &json!({}), Permission::Owner, Permission::Public).unwrap_err().code,
        Code::InvalidArgument
    );
}

#[test]
fn users_get_their_client_permissions() {
    let s = storage();
    s.set_with_permission("u1", "decks", "main", &json!({"cards": 3}), Permission::Public, Permission::Owner).unwrap();
    s.set("u1", "saves", "slot", &json!({"hp": 3})).unwrap();
    s.set_with_permission("u1", "secrets", "k", &json!({}), Permission::ServerOnly, Permission::ServerOnly).unwrap();
    assert!(s.read_as("u2", "u1", "decks", "main").unwrap().is_some());
    assert!(s.read_as("u2", "u1", "saves", "slot").unwrap().is_none());
    assert!(s.read_as("u1", "u1", "saves", "slot").unwrap().is_some());
    assert!(s.read_as("u1", "u1", "secrets", "k").unwrap().is_none());
    let v = s.write_as("u2", "saves", "slot", &json!({"hp": 1}), Some("*")).unwrap().version;
    assert_eq!(
        s.write_as("u2", "saves", "slot", &json!({"hp": 2}), Some("*")).unwrap_err().code,
        Code::InvalidArgument
    );
    s.write_as("u2", "saves", "slot", &json!({"hp": 2}), Some(&v)).unwrap();
    // Server-only objects are not the owner's to change or delete.
    assert_eq!(s.write_as("u1", "secrets", "k", &json!({}), None).unwrap_err().code, Code::PermissionDenied);
    assert_eq!(s.delete_as("u1", "secrets", "k").unwrap_err().code, Code::PermissionDenied);
    s.delete_as("u2", "saves", "slot").unwrap();
    assert!(s.get("u2", "saves", "slot").unwrap().is_none());
}

#[test]
fn queries_match_fields_by_value_and_order() {
    let s = storage();
    for (user, level, region) in [("a", 5, "eu"), ("b", 12, "us"), ("c", 20, "eu"), ("d", 12, "eu")] {
        s.set(user, "profiles", "p", &json!({"level": level, "region": region, "name": user})).unwrap();
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
        assert_eq!(s.set("u1", collection, key, &json!({})).unwrap_err().code, Code::InvalidArgument, "{key}");
        assert_eq!(s.get("u1", collection, key).unwrap_err().code, Code::InvalidArgument);
        assert_eq!(s.write_as("u1", collection, key, &json!({}), None).unwrap_err().code, Code::InvalidArgument);
    }
    assert_eq!(s.list(None, "", 10, None).unwrap_err().code, Code::InvalidArgument);
    assert_eq!(s.list(None, "c", 0, None).unwrap_err().code, Code::InvalidArgument);
    assert!(s.list(None, "c", 1000, None).is_ok(), "server code may read bigger pages");
}
