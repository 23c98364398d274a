//! The storage API for server code (RPC functions, hooks, match handlers): values as
//! `serde_json::Value`, the server's own access (`set`, `get`, `delete`, `list`, `query`)
//! or a user's, with permissions checked as for that user's client (`read_as`,
//! `write_as`, `delete_as`).
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

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::Value;

use crate::accounts::unix_now;
use crate::error::ApiError;
use crate::store::{
    may_read, Caller, ObjectDelete, ObjectId, ObjectPage, ObjectWrite, StorageObject, Store, VersionCheck,
};

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

fn text(value: &Value) -> Result<String, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid("Value must be a JSON object."));
    }
    Ok(value.to_string())
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
        if write == Permission::Public {
            return Err(ApiError::invalid("Write permission is ServerOnly or Owner."));
        }
        let w = ObjectWrite {
            id: id(owner, collection, key),
            value: text(value)?,
            version: VersionCheck::Any,
            permission_read: read as u8,
            permission_write: write as u8,
        };
        Ok(self.store.write_objects(Caller::Server, &[w], unix_now())?.remove(0))
    }

    /// The object, whoever may read it.
    pub fn get(&self, owner: &str, collection: &str, key: &str) -> Result<Option<StorageObject>, ApiError> {
        Ok(self.store.read_objects(&[id(owner, collection, key)])?.pop())
    }

    /// Deletes the object; false if there was none.
    pub fn delete(&self, owner: &str, collection: &str, key: &str) -> Result<bool, ApiError> {
        let existed = self.get(owner, collection, key)?.is_some();
        self.store.delete_objects(Caller::Server, &[ObjectDelete { id: id(owner, collection, key), version: None }])?;
        Ok(existed)
    }

    /// A page of `collection` (of one owner, or all), in owner-then-key order.
    pub fn list(
        &self,
        owner: Option<&str>,
        collection: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ObjectPage, ApiError> {
        Ok(self.store.list_objects(Caller::Server, collection, owner, limit, cursor)?)
    }

    /// Up to `limit` objects of `collection` whose values match `query`.
    pub fn query(&self, collection: &str, query: &Query, limit: usize) -> Result<Vec<StorageObject>, ApiError> {
        let mut found = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.store.list_objects(Caller::Server, collection, None, 256, cursor.as_deref())?;
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
        Ok(self.get(owner, collection, key)?.filter(|o| may_read(Caller::User(caller), o)))
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
        let version = match version {
            None => VersionCheck::Any,
            Some("*") => VersionCheck::Absent,
            Some(v) => VersionCheck::Is(v.to_string()),
        };
        let w = ObjectWrite {
            id: id(caller, collection, key),
            value: text(value)?,
            version,
            permission_read: 1,
            permission_write: 1,
        };
        Ok(self.store.write_objects(Caller::User(caller), &[w], unix_now())?.remove(0))
    }

    /// Deletes `caller`'s own object as their client would.
    pub fn delete_as(&self, caller: &str, collection: &str, key: &str) -> Result<(), ApiError> {
        let d = ObjectDelete { id: id(caller, collection, key), version: None };
        Ok(self.store.delete_objects(Caller::User(caller), &[d])?)
    }
}

/// How a field compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Conditions on fields of stored values (JSON pointers such as `/stats/level`), all of
/// which must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    terms: Vec<(String, Op, Value)>,
}

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    fn term(mut self, pointer: &str, op: Op, value: impl Into<Value>) -> Query {
        self.terms.push((pointer.to_string(), op, value.into()));
        self
    }

    pub fn eq(self, pointer: &str, value: impl Into<Value>) -> Query {
        self.term(pointer, Op::Eq, value)
    }

    pub fn ne(self, pointer: &str, value: impl Into<Value>) -> Query {
        self.term(pointer, Op::Ne, value)
    }

    pub fn lt(self, pointer: &str, value: impl Into<Value>) -> Query {
        self.term(pointer, Op::Lt, value)
    }

    pub fn le(self, pointer: &str, value: impl Into<Value>) -> Query {
        self.term(pointer, Op::Le, value)
    }

    pub fn gt(self, pointer: &str, value: impl Into<Value>) -> Query {
        self.term(pointer, Op::Gt, value)
    }

    pub fn ge(self, pointer: &str, value: impl Into<Value>) -> Query {
        self.term(pointer, Op::Ge, value)
    }

    /// Whether `value` meets every term. Numbers compare as numbers, strings as strings;
    /// an ordering between anything else (or a missing field) does not hold.
    pub fn matches(&self, value: &Value) -> bool {
        self.terms.iter().all(|(pointer, op, want)| {
            let got = value.pointer(pointer);
            match op {
                Op::Eq => got == Some(want),
                Op::Ne => got != Some(want),
                _ => {
                    let order = match (got, want) {
                        (Some(Value::Number(a)), Value::Number(b)) => {
                            a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b))
                        }
                        (Some(Value::String(a)), Value::String(b)) => Some(a.as_str().cmp(b.as_str())),
                        _ => None,
                    };
                    matches!(
                        (op, order),
                        (Op::Lt, Some(Ordering::Less))
                            | (Op::Le, Some(Ordering::Less | Ordering::Equal))
                            | (Op::Gt, Some(Ordering::Greater))
                            | (Op::Ge, Some(Ordering::Greater | Ordering::Equal))
                    )
                }
            }
        })
    }
}
