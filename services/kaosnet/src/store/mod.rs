//! Persistence behind [`Store`], which is one trait per service's data ([`AccountStore`],
//! [`ObjectStore`], [`SessionStore`], [`MessageStore`], [`SocialStore`],
//! [`leaderboards::LeaderboardStore`]), with three implementations that pass one
//! conformance suite (`tests/store.rs`): in memory (tests, development), SQLite (the
//! default, a file under `./data`) and PostgreSQL (feature `postgres`). A service that
//! needs one kind of data can take that trait alone.
//!
//! The store enforces what must hold inside one transaction: unique usernames, emails,
//! custom ids and device ids; storage object versions (`*` = create only, a version =
//! only if unchanged) and write permissions, all or nothing per batch. Everything
//! else (validation, read permissions, hashing) lives in the services above it.

pub mod leaderboards;
mod memory;
mod memory_leaderboards;
mod memory_social;
mod messages;
#[cfg(feature = "postgres")]
mod postgres;
mod social;
mod sqlite;
pub mod wallets;

pub use memory::MemoryStore;
pub use messages::{ChannelMessage, MessageStore, Notification};
pub(crate) use messages::{MESSAGE_COLUMNS, NOTIFICATION_COLUMNS};
#[cfg(feature = "postgres")]
pub use postgres::{schema_sql as postgres_schema_sql, PostgresStore};
pub(crate) use social::{forget_user, like_pattern, name_matches, SocialTx, GROUP_COLUMNS};
pub use social::{
    friend_state, group_state, Friend, Group, GroupFilter, GroupUpdate, GroupUsersOp, Membership, Refusal, SocialDone,
    SocialStore, SocialWrite,
};
pub use sqlite::SqliteStore;
pub use wallets::{LedgerEntry, WalletChange, WalletStore};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique field (named) is taken by another user.
    #[error("{0} already in use")]
    Conflict(&'static str),
    /// A storage write's version did not match (or `*` met an existing object); the
    /// batch was not applied.
    #[error("storage version check failed")]
    VersionMismatch,
    /// The caller may not write or delete this object; the batch was not applied.
    #[error("permission denied")]
    PermissionDenied,
    /// No such record.
    #[error("not found")]
    NotFound,
    /// A listing cursor that this store did not issue.
    #[error("invalid cursor")]
    InvalidCursor,
    /// A friend or group operation was refused; nothing was changed.
    #[error("refused: {0:?}")]
    Social(Refusal),
    /// A wallet update was refused (a balance below zero, an overflow); nothing changed.
    #[error("{0}")]
    Wallet(String),
    /// The database failed.
    #[error("database error: {0}")]
    Backend(String),
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct User {
    /// UUID, lower-case, hyphenated.
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub avatar_url: String,
    pub lang_tag: String,
    pub location: String,
    pub timezone: String,
    /// A JSON object, as text.
    pub metadata: String,
    pub email: Option<String>,
    /// argon2id PHC string.
    pub password_hash: Option<String>,
    pub custom_id: Option<String>,
    /// Linked device ids.
    pub devices: Vec<String>,
    /// Unix seconds.
    pub create_time: i64,
    pub update_time: i64,
    /// Balances by name, a JSON object; read with the user, changed only through
    /// [`WalletStore::update_wallet`] (an account update leaves it as it is).
    #[serde(default)]
    pub wallet: String,
    /// Banned until this time (Unix seconds; 0: not banned); changed only through
    /// [`AccountStore::set_ban`].
    #[serde(default)]
    pub ban_until: i64,
}

/// Which unique field to look a user up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKey<'a> {
    Id(&'a str),
    Username(&'a str),
    Email(&'a str),
    Custom(&'a str),
    Device(&'a str),
}

/// Who is acting on storage: the server (no permission checks) or a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    Server,
    User(&'a str),
}

/// A storage object's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectId {
    pub collection: String,
    pub key: String,
    /// Owner; empty for objects the server owns.
    pub user_id: String,
}

/// A stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageObject {
    pub id: ObjectId,
    /// A JSON object, as text.
    pub value: String,
    /// Hash of the value; changes whenever the value does.
    pub version: String,
    /// 0 server only, 1 owner, 2 public.
    pub permission_read: u8,
    /// 0 server only, 1 owner.
    pub permission_write: u8,
    pub create_time: i64,
    pub update_time: i64,
}

/// How a write treats an existing object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionCheck {
    /// Write whatever is there.
    Any,
    /// Only if no object exists (`*`).
    Absent,
    /// Only if the stored version is this one.
    Is(String),
}

/// One write of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectWrite {
    pub id: ObjectId,
    pub value: String,
    pub version: VersionCheck,
    pub permission_read: u8,
    pub permission_write: u8,
}

/// One delete of a batch (`version`: only if unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDelete {
    pub id: ObjectId,
    pub version: Option<String>,
}

/// A page of a collection listing and where the next begins.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectPage {
    pub objects: Vec<StorageObject>,
    pub cursor: Option<String>,
}

/// The user columns the SQL stores read, in the order their row mappers expect.
pub(crate) const USER_COLUMNS: &str =
    "id, username, display_name, avatar_url, lang_tag, location, timezone, metadata, \
                                       email, password_hash, custom_id, create_time, update_time, wallet, ban_until";
/// The storage columns the SQL stores read and write, in their row mappers' order.
pub(crate) const OBJECT_COLUMNS: &str =
    "collection, user_id, key, value, version, permission_read, permission_write, create_time, update_time";

/// The version of a stored value: the first 16 bytes of its SHA-256, in hex.
pub fn version_of(value: &str) -> String {
    Sha256::digest(value.as_bytes())[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `caller` may write (or delete) `existing`.
pub(crate) fn may_write(caller: Caller<'_>, existing: &StorageObject) -> bool {
    match caller {
        Caller::Server => true,
        Caller::User(u) => {
            existing.permission_write == 2 || (existing.permission_write == 1 && existing.id.user_id == u)
        }
    }
}

/// Whether `caller` may read `object`.
pub fn may_read(caller: Caller<'_>, object: &StorageObject) -> bool {
    match caller {
        Caller::Server => true,
        Caller::User(u) => object.permission_read == 2 || (object.permission_read == 1 && object.id.user_id == u),
    }
}

/// Listing cursors are opaque to clients: the last (owner, key) seen, base64.
pub(crate) fn encode_cursor(id: &ObjectId) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}\n{}", id.user_id, id.key))
}

pub(crate) fn decode_cursor(cursor: &str) -> Option<(String, String)> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, key) = text.split_once('\n')?;
    Some((user.to_string(), key.to_string()))
}

/// Everything the services persist: one trait per service's data, each with SQLite,
/// PostgreSQL and memory implementations that pass one conformance suite.
pub trait Store:
    AccountStore
    + ObjectStore
    + SessionStore
    + MessageStore
    + SocialStore
    + leaderboards::LeaderboardStore
    + wallets::WalletStore
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: AccountStore
        + ObjectStore
        + SessionStore
        + MessageStore
        + SocialStore
        + leaderboards::LeaderboardStore
        + wallets::WalletStore
        + Send
        + Sync
{
}

/// Accounts: users and their credentials.
pub trait AccountStore {
    /// Creates `user`; `Conflict` names the unique field already taken.
    fn create_user(&self, user: &User) -> Result<(), StoreError>;
    /// The user with that unique field, if any.
    fn user(&self, key: UserKey<'_>) -> Result<Option<User>, StoreError>;
    /// Users by ids and by usernames (each found once, unknown ones skipped).
    fn users(&self, ids: &[String], usernames: &[String]) -> Result<Vec<User>, StoreError>;
    /// Replaces the user's fields (devices included); `Conflict` if a unique field is
    /// taken by someone else, `NotFound` if the user is gone.
    fn update_user(&self, user: &User) -> Result<(), StoreError>;
    /// Deletes the user, everything they own in storage, their notifications, friend
    /// edges (both ways) and group edges; false if there was none.
    fn delete_user(&self, id: &str) -> Result<bool, StoreError>;
    /// Bans the user until `until` (0 lifts it); false if there is no such user.
    fn set_ban(&self, id: &str, until: i64) -> Result<bool, StoreError>;
    /// Up to `limit` user ids after `after`, in byte order: every account, a page at a time.
    fn user_ids(&self, after: &str, limit: usize) -> Result<Vec<String>, StoreError>;
}

/// Storage objects: versioned, permissioned, written and deleted in atomic batches.
pub trait ObjectStore {
    /// Reads the objects that exist among `ids` (no permission filter).
    fn read_objects(&self, ids: &[ObjectId]) -> Result<Vec<StorageObject>, StoreError>;
    /// Applies every write or none; returns the new objects in order.
    fn write_objects(
        &self,
        caller: Caller<'_>,
        writes: &[ObjectWrite],
        now: i64,
    ) -> Result<Vec<StorageObject>, StoreError>;
    /// Applies every delete or none (a missing object is not an error unless a version
    /// was given).
    fn delete_objects(&self, caller: Caller<'_>, deletes: &[ObjectDelete]) -> Result<(), StoreError>;
    /// The collections that hold objects (of one owner, or anyone's), in byte order.
    fn collections(&self, owner: Option<&str>) -> Result<Vec<String>, StoreError>;
    /// Objects of `collection` (of one owner, or all) that `caller` may read, ordered by
    /// owner then key, at most `limit`, after `cursor`.
    fn list_objects(
        &self,
        caller: Caller<'_>,
        collection: &str,
        owner: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ObjectPage, StoreError>;
}

/// Sessions: revoked tokens.
pub trait SessionStore {
    /// Records that session token `token_id` (of `user_id`, valid until `exp`) is revoked.
    fn revoke_token(&self, token_id: &str, user_id: &str, exp: i64) -> Result<(), StoreError>;
    /// Whether `token_id` was revoked.
    fn is_revoked(&self, token_id: &str) -> Result<bool, StoreError>;
    /// The revoked tokens still unexpired at `now`, with their expiry (what a server
    /// keeps in memory).
    fn revoked_tokens(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError>;
    /// Forgets the revocations of tokens expired at `now` (they fail on their expiry
    /// alone); how many went.
    fn prune_revoked(&self, now: i64) -> Result<usize, StoreError>;
}

/// The object a write produces over `existing`, or why it may not happen.
pub(crate) fn apply_write(
    existing: Option<&StorageObject>,
    caller: Caller<'_>,
    w: &ObjectWrite,
    now: i64,
) -> Result<StorageObject, StoreError> {
    match (&w.version, existing) {
        (VersionCheck::Absent, Some(_)) => return Err(StoreError::VersionMismatch),
        (VersionCheck::Is(_), None) => return Err(StoreError::VersionMismatch),
        (VersionCheck::Is(v), Some(e)) if *v != e.version => return Err(StoreError::VersionMismatch),
        _ => {}
    }
    let allowed = match (caller, existing) {
        (_, Some(e)) => may_write(caller, e),
        (Caller::Server, None) => true,
        // A user creates objects only under their own id.
        (Caller::User(u), None) => w.id.user_id == u,
    };
    if !allowed {
        return Err(StoreError::PermissionDenied);
    }
    // Another user may write a public object's value, not its permissions.
    let permissions = match (caller, existing) {
        (Caller::User(u), Some(e)) if e.id.user_id != u => (e.permission_read, e.permission_write),
        _ => (w.permission_read, w.permission_write),
    };
    Ok(StorageObject {
        id: w.id.clone(),
        value: w.value.clone(),
        version: version_of(&w.value),
        permission_read: permissions.0,
        permission_write: permissions.1,
        create_time: existing.map_or(now, |e| e.create_time),
        update_time: now,
    })
}

/// Checks one delete against `existing`.
pub(crate) fn check_delete(
    existing: Option<&StorageObject>,
    caller: Caller<'_>,
    d: &ObjectDelete,
) -> Result<(), StoreError> {
    match (existing, &d.version) {
        (None, Some(_)) => Err(StoreError::VersionMismatch),
        (None, None) => Ok(()),
        (Some(e), Some(v)) if *v != e.version => Err(StoreError::VersionMismatch),
        (Some(e), _) if !may_write(caller, e) => Err(StoreError::PermissionDenied),
        (Some(_), _) => Ok(()),
    }
}
