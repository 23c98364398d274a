//! The storage operations, each defined once for every caller (the REST API, server code
//! through [`super::Storage`], and next the Lua runtime and the console): what a request
//! holds, its rules (batch sizes, collection and key names, values that are JSON objects,
//! permission values, listing limits), who may see what, and the store call. The store
//! applies a batch whole or not at all and checks versions and write permissions inside
//! its transaction.

use super::Storage;
use crate::accounts::unix_now;
use crate::error::ApiError;
use crate::store::{may_read, Caller, ObjectDelete, ObjectId, ObjectPage, ObjectWrite, StorageObject, VersionCheck};

/// Most objects in one batch.
pub const MAX_BATCH: usize = 100;
/// Longest collection or key name.
pub const MAX_NAME: usize = 128;
/// Most objects in one page of a client's listing (server code may ask for more).
pub const MAX_PAGE: usize = 100;
/// Most objects in one page of server code's listing.
pub const MAX_SERVER_PAGE: usize = 1000;
/// Collections that start with this are the server's own (console users, API keys and
/// the console's signing key): no storage operation reads or writes them, whoever asks.
pub const RESERVED_PREFIX: &str = "kaos_console_";

/// One object to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub collection: String,
    pub key: String,
    /// A JSON object, as text.
    pub value: String,
    pub version: VersionCheck,
    /// 0 server only, 1 owner, 2 anyone.
    pub permission_read: i64,
    /// 0 server only, 1 owner, 2 any user through server code.
    pub permission_write: i64,
}

/// One object to delete (`version`: only if unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    pub collection: String,
    pub key: String,
    pub version: Option<String>,
}

/// A version as clients send it: empty for any, `*` for only if absent, else only if
/// unchanged.
pub fn version(given: &str) -> VersionCheck {
    match given {
        "" => VersionCheck::Any,
        "*" => VersionCheck::Absent,
        v => VersionCheck::Is(v.to_string()),
    }
}

fn check_name(what: &str, s: &str) -> Result<(), ApiError> {
    if s.is_empty() || s.len() > MAX_NAME {
        return Err(ApiError::invalid(format!("Invalid {what}, must be set and at most {MAX_NAME} characters.")));
    }
    if what == "collection" && s.starts_with(RESERVED_PREFIX) {
        return Err(ApiError::new(
            crate::Code::PermissionDenied,
            format!("Collections named {RESERVED_PREFIX}… are the server's own."),
        ));
    }
    Ok(())
}

fn check_batch<T>(items: &[T]) -> Result<(), ApiError> {
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::invalid(format!("Batches hold 1 to {MAX_BATCH} objects.")));
    }
    Ok(())
}

impl Storage {
    /// Writes `objects` for `owner` (a user's own objects when `caller` is that user).
    pub fn write_objects(
        &self,
        caller: Caller<'_>,
        owner: &str,
        objects: Vec<Write>,
    ) -> Result<Vec<StorageObject>, ApiError> {
        self.counted("write", || {
            check_batch(&objects)?;
            let mut writes = Vec::with_capacity(objects.len());
            for o in objects {
                check_name("collection", &o.collection)?;
                check_name("key", &o.key)?;
                if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&o.value).is_err() {
                    return Err(ApiError::invalid("Value must be a JSON object."));
                }
                let permission_read = match o.permission_read {
                    p @ 0..=2 => p as u8,
                    _ => return Err(ApiError::invalid("Invalid read permission, must be 0, 1 or 2.")),
                };
                // 2 (any user, through server code) is server code's to give.
                let permission_write = match (o.permission_write, caller) {
                    (p @ 0..=1, _) | (p @ 2, Caller::Server) => p as u8,
                    _ => return Err(ApiError::invalid("Invalid write permission, must be 0 or 1.")),
                };
                let id = ObjectId { collection: o.collection, key: o.key, user_id: owner.to_string() };
                writes.push(ObjectWrite { id, value: o.value, version: o.version, permission_read, permission_write });
            }
            Ok(self.store.write_objects(caller, &writes, unix_now())?)
        })
    }

    /// The objects of `ids` that exist and `caller` may read.
    pub fn read_objects(&self, caller: Caller<'_>, ids: Vec<ObjectId>) -> Result<Vec<StorageObject>, ApiError> {
        self.counted("read", || {
            check_batch(&ids)?;
            for id in &ids {
                check_name("collection", &id.collection)?;
                check_name("key", &id.key)?;
            }
            let mut objects = self.store.read_objects(&ids)?;
            objects.retain(|o| may_read(caller, o));
            Ok(objects)
        })
    }

    /// Deletes `owner`'s `objects` (a user's own when `caller` is that user).
    pub fn delete_objects(&self, caller: Caller<'_>, owner: &str, objects: Vec<Delete>) -> Result<(), ApiError> {
        self.counted("delete", || {
            check_batch(&objects)?;
            let mut deletes = Vec::with_capacity(objects.len());
            for d in objects {
                check_name("collection", &d.collection)?;
                check_name("key", &d.key)?;
                let id = ObjectId { collection: d.collection, key: d.key, user_id: owner.to_string() };
                deletes.push(ObjectDelete { id, version: d.version.filter(|v| !v.is_empty()) });
            }
            Ok(self.store.delete_objects(caller, &deletes)?)
        })
    }

    /// A page of `collection` (of one owner, or everyone's) that `caller` may read, in
    /// owner-then-key order. Clients name owners by user id (a UUID) and read at most
    /// [`MAX_PAGE`] objects a page; server code, [`MAX_SERVER_PAGE`].
    pub fn list_objects(
        &self,
        caller: Caller<'_>,
        collection: &str,
        owner: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ObjectPage, ApiError> {
        self.counted("list", || {
            check_name("collection", collection)?;
            let client = matches!(caller, Caller::User(_));
            if client && owner.is_some_and(|u| uuid::Uuid::parse_str(u).is_err()) {
                return Err(ApiError::invalid("Invalid user ID - make sure user ID is a valid UUID."));
            }
            let max = if client { MAX_PAGE } else { MAX_SERVER_PAGE };
            if !(1..=max).contains(&limit) {
                return Err(ApiError::invalid(format!("Invalid limit - limit must be between 1 and {max}.")));
            }
            Ok(self.store.list_objects(caller, collection, owner, limit, cursor)?)
        })
    }
}

impl Storage {
    /// Runs one operation in its span, counting its result.
    fn counted<T>(&self, operation: &'static str, f: impl FnOnce() -> Result<T, ApiError>) -> Result<T, ApiError> {
        let _span = tracing::debug_span!("storage", operation).entered();
        let result = f();
        if let Some(m) = &self.metrics {
            m.storage_op(operation, result.is_ok());
        }
        result
    }
}
