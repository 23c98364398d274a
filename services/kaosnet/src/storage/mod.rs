//! Storage. [`ops`] defines each operation once, for every caller; [`Storage`] is the API
//! for server code (RPC functions, hooks, match handlers) over it: values as
//! `serde_json::Value`, the server's own access (`set`, `get`, `delete`, `list`, `query`)
//! or a user's, with permissions checked as for that user's client (`read_as`,
//! `write_as`, `delete_as`), and the same rules as a client's calls (names, values,
//! permissions).
//!
//! ```
//! use std::sync::Arc;
//! use kaosnet::storage::{Permission, Query, Storage};
//! use kaosnet::store::MemoryStore;
//!
//! let storage = Storage::new(Arc::new(MemoryStore::new()));
//! storage.set("user-1", "profiles", "main", &serde_json::json!({"level": 12})).unwrap();
//! storage.set_with_permission("user-2", "profiles", "main", &serde_json::json!({"level": 3}),
//!     Permission::Public, Permission::Owner).unwrap();
//! let high = storage.query("profiles", &Query::new().ge("/level", 10), 100).unwrap();
//! assert_eq!(high[0].id.user_id, "user-1");
//! // user-2 may read user-2's public object, not user-1's owner-only one.
//! assert!(storage.read_as("user-2", "user-1", "profiles", "main").unwrap().is_none());
//! ```

pub mod ops;
mod query;

use std::sync::Arc;

use serde_json::Value;

pub use query::Query;

use crate::accounts::unix_now;
use crate::error::ApiError;
use crate::store::{Caller, ObjectId, ObjectPage, StorageObject, Store, VersionCheck};

/// Who may read or write an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Only server code.
    ServerOnly = 0,
    /// The owner (and server code).
    Owner = 1,
    /// Anyone (reads only).
    Public = 2,
}

/// Storage for server code.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").finish_non_exhaustive()
    }
}

fn id(owner: &str, collection: &str, key: &str) -> ObjectId {
    ObjectId { collection: collection.into(), key: key.into(), user_id: owner.into() }
}

/// One write of `value` (its rules are [`ops::write`]'s).
fn one_write(collection: &str, key: &str, value: &Value, version: VersionCheck, read: i64, write: i64) -> ops::Write {
    ops::Write {
        collection: collection.into(),
        key: key.into(),
        value: value.to_string(),
        version,
        permission_read: read,
        permission_write: write,
    }
}

impl Storage {
    pub fn new(store: Arc<dyn Store>) -> Storage {
        Storage { store }
    }

    /// Writes `value` for `owner` (owner-readable, owner-writable), whatever was there.
    pub fn set(&self, owner: &str, collection: &str, key: &str, value: &Value) -> Result<StorageObject, ApiError> {
        self.set_with_permission(owner, collection, key, value, Permission::Owner, Permission::Owner)
    }

    /// Writes `value` with explicit permissions (`write` may only be `ServerOnly` or `Owner`).
    pub fn set_with_permission(
        &self,
        owner: &str,
        collection: &str,
        key: &str,
        value: &Value,
        read: Permission,
        write: Permission,
    ) -> Result<StorageObject, ApiError> {
        let w = one_write(collection, key, value, VersionCheck::Any, read as i64, write as i64);
        Ok(ops::write(&*self.store, Caller::Server, owner, vec![w], unix_now())?.remove(0))
    }

    /// The object, whoever may read it.
    pub fn get(&self, owner: &str, collection: &str, key: &str) -> Result<Option<StorageObject>, ApiError> {
        Ok(ops::read(&*self.store, Caller::Server, vec![id(owner, collection, key)])?.pop())
    }

    /// Deletes the object; false if there was none.
    pub fn delete(&self, owner: &str, collection: &str, key: &str) -> Result<bool, ApiError> {
        let existed = self.get(owner, collection, key)?.is_some();
        let d = ops::Delete { collection: collection.into(), key: key.into(), version: None };
        ops::delete(&*self.store, Caller::Server, owner, vec![d])?;
        Ok(existed)
    }

    /// A page of `collection` (of one owner, or all), in owner-then-key order; up to
    /// [`ops::MAX_SERVER_PAGE`] objects.
    pub fn list(
        &self,
        owner: Option<&str>,
        collection: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ObjectPage, ApiError> {
        ops::list(&*self.store, Caller::Server, collection, owner, limit, cursor)
    }

    /// Up to `limit` objects of `collection` whose values match `query`.
    pub fn query(&self, collection: &str, query: &Query, limit: usize) -> Result<Vec<StorageObject>, ApiError> {
        let mut found = Vec::new();
        let mut cursor = None;
        loop {
            let page = ops::list(&*self.store, Caller::Server, collection, None, 256, cursor.as_deref())?;
            for o in page.objects {
                let matches = serde_json::from_str::<Value>(&o.value).is_ok_and(|v| query.matches(&v));
                if matches {
                    found.push(o);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(found),
            }
        }
    }

    /// The object if `caller` (a user id) may read it.
    pub fn read_as(
        &self,
        caller: &str,
        owner: &str,
        collection: &str,
        key: &str,
    ) -> Result<Option<StorageObject>, ApiError> {
        Ok(ops::read(&*self.store, Caller::User(caller), vec![id(owner, collection, key)])?.pop())
    }

    /// Writes `caller`'s own object as their client would (`version`: `None` any, `"*"`
    /// only if absent, else only if unchanged).
    pub fn write_as(
        &self,
        caller: &str,
        collection: &str,
        key: &str,
        value: &Value,
        version: Option<&str>,
    ) -> Result<StorageObject, ApiError> {
        let w = one_write(collection, key, value, ops::version(version.unwrap_or("")), 1, 1);
        Ok(ops::write(&*self.store, Caller::User(caller), caller, vec![w], unix_now())?.remove(0))
    }

    /// Deletes `caller`'s own object as their client would.
    pub fn delete_as(&self, caller: &str, collection: &str, key: &str) -> Result<(), ApiError> {
        let d = ops::Delete { collection: collection.into(), key: key.into(), version: None };
        ops::delete(&*self.store, Caller::User(caller), caller, vec![d])
    }
}
