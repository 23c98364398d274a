//! Storage. [`ops`] defines each operation once, for every caller; [`Storage`] is the API
//! for server code (RPC functions, hooks, match handlers) over it: values as
//! `serde_json::Value`, the server's own access (`set`, `get`, `delete`, `list`, `query`)
//! or a user's, with permissions checked as for that user's client (`read_as`,
//! `write_as`, `delete_as`), and the same rules as a client's calls (names, values,
//! permissions).
//!
//! ```
//! use kaosnet::{ObjectPermission, Storage};
//! use serde_json::json;
//!
//! let storage = Storage::new();
//!
//! // Server-side (bypasses permissions)
//! storage.set("user1", "profiles", "main", json!({"level": 5}))?;
//! storage.set_with_permission("user1", "internal", "flags",
//!     json!({"trust": 100}), ObjectPermission::NoRead)?;
//! storage.set_with_permission("user1", "profiles", "public", json!({"name": "Ann"}), ObjectPermission::PublicRead)?;
//!
//! // Client-side (enforces permissions)
//! storage.read_as("user2", "user1", "profiles", "public")?;  // OK if PublicRead
//! storage.write_as("user1", "user1", "profiles", "main",     // OK if owner
//!     json!({"level": 6}), ObjectPermission::OwnerOnly)?;
//!
//! assert!(storage.read_as("user2", "user1", "profiles", "public")?.is_some());
//! assert!(storage.read_as("user2", "user1", "internal", "flags")?.is_none());
//! assert!(storage.write_as("user2", "user1", "profiles", "main", json!({}), ObjectPermission::OwnerOnly).is_err());
//!
//! // A board anyone may write through server code, keeping its owner's permissions.
//! storage.set_with_permission("", "boards", "wall", json!({"posts": 0}), ObjectPermission::PublicReadWrite)?;
//! storage.write_as("user2", "", "boards", "wall", json!({"posts": 1}), ObjectPermission::OwnerOnly)?;
//! assert_eq!(storage.get("", "boards", "wall")?.unwrap().permission_write, 2);
//! # Ok::<(), kaosnet::ApiError>(())
//! ```

pub mod ops;
mod query;

use std::borrow::Borrow;
use std::sync::Arc;

use serde_json::Value;

pub use query::Query;

use crate::error::ApiError;
use crate::store::{Caller, ObjectId, ObjectPage, ObjectStore, StorageObject, Store, VersionCheck};

/// Who may read and write an object (Nakama's read and write permissions, as one
/// choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectPermission {
    /// Server code alone reads and writes it (read 0, write 0).
    NoRead,
    /// Its owner reads and writes it (read 1, write 1).
    OwnerOnly,
    /// Anyone reads it, its owner writes it (read 2, write 1).
    PublicRead,
    /// Anyone reads it, and any user may write it through server code's
    /// [`Storage::write_as`], its permissions unchanged (read 2, write 2). Only server
    /// code sets it: Nakama's clients write only their own objects, with write
    /// permission 0 or 1.
    PublicReadWrite,
}

impl ObjectPermission {
    /// The read and write permission numbers.
    pub fn codes(self) -> (i64, i64) {
        match self {
            ObjectPermission::NoRead => (0, 0),
            ObjectPermission::OwnerOnly => (1, 1),
            ObjectPermission::PublicRead => (2, 1),
            ObjectPermission::PublicReadWrite => (2, 2),
        }
    }
}

/// Storage for server code.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore + Send + Sync>,
    /// Counts operations by kind and result, when the storage is a server's.
    metrics: Option<crate::metrics::Metrics>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").finish_non_exhaustive()
    }
}

fn id(owner: &str, collection: &str, key: &str) -> ObjectId {
    ObjectId { collection: collection.into(), key: key.into(), user_id: owner.into() }
}

/// One write of `value` (its rules are [`Storage::write_objects`]'s).
fn one_write(collection: &str, key: &str, value: &Value, version: VersionCheck, p: ObjectPermission) -> ops::Write {
    let (permission_read, permission_write) = p.codes();
    ops::Write {
        collection: collection.into(),
        key: key.into(),
        value: value.to_string(),
        version,
        permission_read,
        permission_write,
    }
}

impl Default for Storage {
    fn default() -> Storage {
        Storage::new()
    }
}

impl Storage {
    /// Storage of its own, in memory (for tests and tools; a server's is
    /// [`KaosNet::storage`](crate::KaosNet::storage)).
    pub fn new() -> Storage {
        Storage::with_store(Arc::new(crate::store::MemoryStore::new()))
    }

    /// Storage in `store`.
    pub fn with_store(store: Arc<dyn Store>) -> Storage {
        Storage { store, metrics: None }
    }

    /// Storage in `store` that counts its operations in `metrics`.
    pub(crate) fn with_metrics(store: Arc<dyn Store>, metrics: crate::metrics::Metrics) -> Storage {
        Storage { store, metrics: Some(metrics) }
    }

    /// Writes `value` for `owner` (its owner reads and writes it), whatever was there.
    pub fn set(
        &self,
        owner: &str,
        collection: &str,
        key: &str,
        value: impl Borrow<Value>,
    ) -> Result<StorageObject, ApiError> {
        self.set_with_permission(owner, collection, key, value, ObjectPermission::OwnerOnly)
    }

    /// Writes `value` for `owner` with `permission`, whatever was there.
    pub fn set_with_permission(
        &self,
        owner: &str,
        collection: &str,
        key: &str,
        value: impl Borrow<Value>,
        permission: ObjectPermission,
    ) -> Result<StorageObject, ApiError> {
        let w = one_write(collection, key, value.borrow(), VersionCheck::Any, permission);
        Ok(self.write_objects(Caller::Server, owner, vec![w])?.remove(0))
    }

    /// The object, whoever may read it.
    pub fn get(&self, owner: &str, collection: &str, key: &str) -> Result<Option<StorageObject>, ApiError> {
        Ok(self.read_objects(Caller::Server, vec![id(owner, collection, key)])?.pop())
    }

    /// Deletes the object; false if there was none.
    pub fn delete(&self, owner: &str, collection: &str, key: &str) -> Result<bool, ApiError> {
        let existed = self.get(owner, collection, key)?.is_some();
        let d = ops::Delete { collection: collection.into(), key: key.into(), version: None };
        self.delete_objects(Caller::Server, owner, vec![d])?;
        Ok(existed)
    }

    /// A page of `collection` (of one owner, or all), in owner-then-key order; up to
    /// [`ops::MAX_SERVER_PAGE`] objects.
    pub fn list<'a>(
        &self,
        owner: impl Into<Option<&'a str>>,
        collection: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ObjectPage, ApiError> {
        self.list_objects(Caller::Server, collection, owner.into(), limit, cursor)
    }

    /// The collections that hold objects (of `owner`, or anyone's), in byte order.
    pub fn collections(&self, owner: Option<&str>) -> Result<Vec<String>, ApiError> {
        let mut all = self.store.collections(owner)?;
        all.retain(|c| !c.starts_with(ops::RESERVED_PREFIX));
        Ok(all)
    }

    /// Up to `limit` objects of `collection` whose values match `query`.
    pub fn query(&self, collection: &str, query: &Query, limit: usize) -> Result<Vec<StorageObject>, ApiError> {
        let mut found = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list_objects(Caller::Server, collection, None, 256, cursor.as_deref())?;
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
        Ok(self.read_objects(Caller::User(caller), vec![id(owner, collection, key)])?.pop())
    }

    /// Writes `owner`'s object as `caller`'s client would: their own, or anyone's that is
    /// [`ObjectPermission::PublicReadWrite`] (whose permissions stay).
    pub fn write_as(
        &self,
        caller: &str,
        owner: &str,
        collection: &str,
        key: &str,
        value: impl Borrow<Value>,
        permission: ObjectPermission,
    ) -> Result<StorageObject, ApiError> {
        self.write_as_if(caller, owner, collection, key, value, permission, "")
    }

    /// [`write_as`](Self::write_as) if the object's `version` is as given: `""` any, `"*"`
    /// only if absent, else only if unchanged.
    #[allow(clippy::too_many_arguments)]
    pub fn write_as_if(
        &self,
        caller: &str,
        owner: &str,
        collection: &str,
        key: &str,
        value: impl Borrow<Value>,
        permission: ObjectPermission,
        version: &str,
    ) -> Result<StorageObject, ApiError> {
        let w = one_write(collection, key, value.borrow(), ops::version(version), permission);
        Ok(self.write_objects(Caller::User(caller), owner, vec![w])?.remove(0))
    }

    /// Deletes `owner`'s object as `caller`'s client would.
    pub fn delete_as(&self, caller: &str, owner: &str, collection: &str, key: &str) -> Result<(), ApiError> {
        let d = ops::Delete { collection: collection.into(), key: key.into(), version: None };
        self.delete_objects(Caller::User(caller), owner, vec![d])
    }
}
