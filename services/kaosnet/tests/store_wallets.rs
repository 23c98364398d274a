//! The account state kept apart from account updates, in every `Store` (memory, SQLite,
//! PostgreSQL with `--features postgres`): wallets (atomic updates that never go below
//! zero, concurrent updates that all land, the ledger) and bans.

#[macro_use]
mod conformance;
#[cfg(feature = "postgres")]
use conformance::postgres_store;

use std::collections::BTreeMap;

use kaosnet::store::{LedgerEntry, Store, StoreError, User, UserKey};

fn changes(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn wallet(s: &dyn Store, id: &str) -> serde_json::Value {
    serde_json::from_str(&s.user(UserKey::Id(id)).unwrap().unwrap().wallet).unwrap()
}

fn wallets_add_refuse_negatives_and_keep_a_ledger(s: &dyn Store) {
    let u = User { id: "w".into(), username: "walleter".into(), metadata: "{}".into(), ..User::default() };
    s.create_user(&u).unwrap();
    assert_eq!(wallet(s, "w"), serde_json::json!({}));
    let entry = |id: &str| LedgerEntry {
        id: id.into(),
        user_id: "w".into(),
        changeset: r#"{"gold":10}"#.into(),
        metadata: r#"{"why":"quest"}"#.into(),
        create_time: 5,
    };
    let first = s.update_wallet("w", &changes(&[("gold", 10), ("gems", 2)]), Some(&entry("l1"))).unwrap();
    assert_eq!((first.previous.as_str(), first.updated.as_str()), ("{}", r#"{"gems":2,"gold":10}"#));
    let refused = s.update_wallet("w", &changes(&[("gems", 5), ("gold", -11)]), Some(&entry("l2")));
    assert!(matches!(refused, Err(StoreError::Wallet(ref why)) if why.contains("'gold'")), "{refused:?}");
    assert_eq!(wallet(s, "w"), serde_json::json!({"gems": 2, "gold": 10}), "a refused update changes nothing");
    s.update_wallet("w", &changes(&[("gold", -10)]), None).unwrap();
    assert_eq!(wallet(s, "w"), serde_json::json!({"gems": 2, "gold": 0}));
    let ledger = s.wallet_ledger("w", 10).unwrap();
    assert_eq!(ledger.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["l1"]);
    assert_eq!(ledger[0].metadata, r#"{"why":"quest"}"#);
    assert!(matches!(s.update_wallet("nobody", &changes(&[("gold", 1)]), None), Err(StoreError::NotFound)));

    // An account update does not touch the wallet, even from a stale read.
    let stale = s.user(UserKey::Id("w")).unwrap().unwrap();
    s.update_wallet("w", &changes(&[("gold", 3)]), None).unwrap();
    s.update_user(&User { display_name: "W".into(), ..stale }).unwrap();
    assert_eq!(wallet(s, "w")["gold"], 3);

    // Concurrent updates of one wallet all land.
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..25 {
                    s.update_wallet("w", &changes(&[("coins", 1)]), None).unwrap();
                }
            });
        }
    });
    assert_eq!(wallet(s, "w")["coins"], 200);
    assert!(s.delete_user("w").unwrap());
    assert!(s.wallet_ledger("w", 10).unwrap().is_empty());
}

fn bans_are_kept_and_account_updates_leave_them(s: &dyn Store) {
    let u = User { id: "b".into(), username: "bannable".into(), metadata: "{}".into(), ..User::default() };
    s.create_user(&u).unwrap();
    let stale = s.user(UserKey::Id("b")).unwrap().unwrap();
    assert_eq!(stale.ban_until, 0);
    assert!(s.set_ban("b", 5_000).unwrap());
    s.update_user(&User { display_name: "B".into(), ..stale }).unwrap();
    let read = s.user(UserKey::Id("b")).unwrap().unwrap();
    assert_eq!((read.ban_until, read.display_name.as_str()), (5_000, "B"));
    assert!(s.set_ban("b", 0).unwrap());
    assert_eq!(s.user(UserKey::Id("b")).unwrap().unwrap().ban_until, 0);
    assert!(!s.set_ban("nobody", 5).unwrap());
}

conformance!(wallets_add_refuse_negatives_and_keep_a_ledger, bans_are_kept_and_account_updates_leave_them);
