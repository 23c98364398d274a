//! The SQLite store: the default, one file (WAL journal, `synchronous = FULL`, so an
//! acknowledged write survives a crash or power loss). Reads use one connection; writes
//! go to a writer thread that group-commits them (see [`writer`]).

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};

mod leaderboards;
mod messages;
mod social;
mod wallets;

use super::{
    apply_write, check_delete, decode_cursor, encode_cursor, may_read, AccountStore, Caller, ObjectDelete, ObjectId,
    ObjectPage, ObjectStore, ObjectWrite, SessionStore, StorageObject, StoreError, User, UserKey, OBJECT_COLUMNS,
    USER_COLUMNS,
};

/// Schema changes, applied in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    username_lower TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    avatar_url TEXT NOT NULL DEFAULT '',
    lang_tag TEXT NOT NULL DEFAULT '',
    location TEXT NOT NULL DEFAULT '',
    timezone TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    email TEXT,
    email_lower TEXT UNIQUE,
    password_hash TEXT,
    custom_id TEXT UNIQUE,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL
);
CREATE TABLE user_devices (
    device_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX user_devices_user ON user_devices (user_id);
CREATE TABLE storage (
    collection TEXT NOT NULL,
    user_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    version TEXT NOT NULL,
    permission_read INTEGER NOT NULL,
    permission_write INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    PRIMARY KEY (collection, user_id, key)
);
CREATE INDEX storage_owner ON storage (user_id);
CREATE TABLE revoked_tokens (
    token_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    exp INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    channel_id TEXT NOT NULL,
    code INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    username TEXT NOT NULL,
    content TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL
);
CREATE INDEX messages_channel ON messages (channel_id, seq);
CREATE TABLE notifications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    content TEXT NOT NULL,
    code INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    create_time INTEGER NOT NULL
);
CREATE INDEX notifications_user ON notifications (user_id, seq);
"#,
    r#"
CREATE TABLE leaderboards (
    id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    create_time INTEGER NOT NULL
);
CREATE TABLE leaderboard_records (
    leaderboard_id TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    username TEXT NOT NULL,
    score INTEGER NOT NULL,
    subscore INTEGER NOT NULL,
    num_score INTEGER NOT NULL,
    max_num_score INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    expiry_time INTEGER NOT NULL,
    PRIMARY KEY (leaderboard_id, expiry_time, owner_id)
) WITHOUT ROWID;
CREATE TABLE leaderboard_journal (
    seq INTEGER PRIMARY KEY,
    leaderboard_id TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    expiry_time INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    username TEXT NOT NULL,
    score INTEGER NOT NULL,
    subscore INTEGER NOT NULL,
    num_score INTEGER NOT NULL,
    max_num_score INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE user_edges (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id TEXT NOT NULL,
    destination_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    UNIQUE (source_id, destination_id)
);
CREATE INDEX user_edges_source ON user_edges (source_id, seq);
CREATE INDEX user_edges_destination ON user_edges (destination_id);
CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    creator_id TEXT NOT NULL,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    avatar_url TEXT NOT NULL,
    lang_tag TEXT NOT NULL,
    metadata TEXT NOT NULL,
    open INTEGER NOT NULL,
    edge_count INTEGER NOT NULL,
    max_count INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL
);
CREATE TABLE group_edges (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    UNIQUE (group_id, user_id)
);
CREATE INDEX group_edges_group ON group_edges (group_id, seq);
CREATE INDEX group_edges_user ON group_edges (user_id, seq);
"#,
    r#"
ALTER TABLE users ADD COLUMN wallet TEXT NOT NULL DEFAULT '{}';
CREATE TABLE wallet_ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    changeset TEXT NOT NULL,
    metadata TEXT NOT NULL,
    create_time INTEGER NOT NULL
);
CREATE INDEX wallet_ledger_user ON wallet_ledger (user_id, seq);
"#,
    "ALTER TABLE users ADD COLUMN ban_until INTEGER NOT NULL DEFAULT 0;",
];

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// One write transaction's work, run by the writer thread inside a shared commit.
trait Job: Send {
    /// Runs the work in `tx`; false if it failed (its changes are rolled back).
    fn run(&mut self, tx: &Transaction<'_>) -> bool;
    /// Answers the caller once the shared commit is done (or failed).
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Pending<T, F> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: mpsc::SyncSender<Result<T, StoreError>>,
}

impl<T: Send, F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send> Job for Pending<T, F> {
    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        let Some(work) = self.work.take() else { return false };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(tx)))
            .unwrap_or_else(|_| Err(StoreError::Backend("a store operation panicked".into())));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (self.result, committed) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(out)), Ok(())) => Ok(out),
            (_, Err(e)) => Err(StoreError::Backend(e)),
            (None, Ok(())) => Err(StoreError::Backend("the operation did not run".into())),
        };
        let _ = self.reply.send(answer);
    }
}

/// Most operations that share one commit.
const MAX_GROUP: usize = 512;

/// The writer thread: takes every operation waiting, runs each under its own savepoint in
/// one transaction, commits once (one fsync for the group), then answers them all. A
/// failed operation rolls back to its savepoint and does not disturb the others.
fn writer(mut conn: Connection, jobs: mpsc::Receiver<Box<dyn Job>>, journal: Arc<AtomicI64>) {
    loop {
        let first = match jobs.recv_timeout(leaderboards::FOLD_WHEN_IDLE) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                leaderboards::fold_some(&mut conn, &journal);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let committed = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for job in &mut group {
                tx.prepare_cached("SAVEPOINT op")?.execute([])?;
                if job.run(&tx) {
                    tx.prepare_cached("RELEASE op")?.execute([])?;
                } else {
                    tx.prepare_cached("ROLLBACK TO op")?.execute([])?;
                    tx.prepare_cached("RELEASE op")?.execute([])?;
                }
            }
            tx.commit()
        })()
        .map_err(|e| e.to_string());
        for job in group {
            job.finish(committed.clone());
        }
        if journal.load(Ordering::Relaxed) > leaderboards::JOURNAL_HIGH_WATER {
            leaderboards::fold_some(&mut conn, &journal);
        }
    }
}

/// SQLite persistence: reads on their own connection (WAL lets them run beside the
/// writer), writes through the group-committing writer thread.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    /// Leaderboard journal rows not folded into the records table yet (approximate).
    journal: Arc<AtomicI64>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// A temporary database file to delete on drop (`in_memory`).
    scratch: Option<std::path::PathBuf>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        if let Some(path) = self.scratch.take() {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn user_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        display_name: row.get(2)?,
        avatar_url: row.get(3)?,
        lang_tag: row.get(4)?,
        location: row.get(5)?,
        timezone: row.get(6)?,
        metadata: row.get(7)?,
        email: row.get(8)?,
        password_hash: row.get(9)?,
        custom_id: row.get(10)?,
        devices: Vec::new(),
        create_time: row.get(11)?,
        update_time: row.get(12)?,
        wallet: row.get(13)?,
        ban_until: row.get(14)?,
    })
}

fn object_row(row: &Row<'_>) -> rusqlite::Result<StorageObject> {
    Ok(StorageObject {
        id: ObjectId { collection: row.get(0)?, user_id: row.get(1)?, key: row.get(2)? },
        value: row.get(3)?,
        version: row.get(4)?,
        permission_read: row.get(5)?,
        permission_write: row.get(6)?,
        create_time: row.get(7)?,
        update_time: row.get(8)?,
    })
}

fn with_devices(tx: &Connection, mut user: User) -> Result<User, StoreError> {
    let mut stmt =
        tx.prepare_cached("SELECT device_id FROM user_devices WHERE user_id = ?1 ORDER BY device_id").map_err(db)?;
    user.devices = stmt.query_map([&user.id], |r| r.get(0)).map_err(db)?.collect::<Result<_, _>>().map_err(db)?;
    Ok(user)
}

fn find_user(conn: &Connection, key: UserKey<'_>) -> Result<Option<User>, StoreError> {
    let (clause, value) = match key {
        UserKey::Id(v) => ("id = ?1", v.to_string()),
        UserKey::Username(v) => ("username_lower = ?1", v.to_lowercase()),
        UserKey::Email(v) => ("email_lower = ?1", v.to_lowercase()),
        UserKey::Custom(v) => ("custom_id = ?1", v.to_string()),
        UserKey::Device(v) => ("id = (SELECT user_id FROM user_devices WHERE device_id = ?1)", v.to_string()),
    };
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {clause}");
    let user = conn.prepare_cached(&sql).map_err(db)?.query_row([value], user_row).optional().map_err(db)?;
    user.map(|u| with_devices(conn, u)).transpose()
}

/// The first unique field of `user` that another user holds.
fn taken(tx: &Transaction<'_>, user: &User) -> Result<Option<&'static str>, StoreError> {
    let other = |sql: &str, v: &str| -> Result<bool, StoreError> {
        let owner: Option<String> =
            tx.prepare_cached(sql).map_err(db)?.query_row([v], |r| r.get(0)).optional().map_err(db)?;
        Ok(owner.is_some_and(|o| o != user.id))
    };
    if other("SELECT id FROM users WHERE username_lower = ?1", &user.username.to_lowercase())? {
        return Ok(Some("username"));
    }
    if let Some(e) = &user.email {
        if other("SELECT id FROM users WHERE email_lower = ?1", &e.to_lowercase())? {
            return Ok(Some("email"));
        }
    }
    if let Some(c) = &user.custom_id {
        if other("SELECT id FROM users WHERE custom_id = ?1", c)? {
            return Ok(Some("custom id"));
        }
    }
    for d in &user.devices {
        if other("SELECT user_id FROM user_devices WHERE device_id = ?1", d)? {
            return Ok(Some("device id"));
        }
    }
    Ok(None)
}

fn write_user(tx: &Transaction<'_>, user: &User, insert: bool) -> Result<(), StoreError> {
    let values = params![
        user.id,
        user.username,
        user.username.to_lowercase(),
        user.display_name,
        user.avatar_url,
        user.lang_tag,
        user.location,
        user.timezone,
        user.metadata,
        user.email,
        user.email.as_ref().map(|e| e.to_lowercase()),
        user.password_hash,
        user.custom_id,
        user.create_time,
        user.update_time,
    ];
    let sql = if insert {
        "INSERT INTO users (id, username, username_lower, display_name, avatar_url, lang_tag, location, timezone, \
         metadata, email, email_lower, password_hash, custom_id, create_time, update_time) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    } else {
        "UPDATE users SET username = ?2, username_lower = ?3, display_name = ?4, avatar_url = ?5, lang_tag = ?6, \
         location = ?7, timezone = ?8, metadata = ?9, email = ?10, email_lower = ?11, password_hash = ?12, \
         custom_id = ?13, create_time = ?14, update_time = ?15 WHERE id = ?1"
    };
    let n = tx.prepare_cached(sql).map_err(db)?.execute(values).map_err(db)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    tx.prepare_cached("DELETE FROM user_devices WHERE user_id = ?1").map_err(db)?.execute([&user.id]).map_err(db)?;
    for d in &user.devices {
        tx.prepare_cached("INSERT INTO user_devices (device_id, user_id) VALUES (?1, ?2)")
            .map_err(db)?
            .execute([d, &user.id])
            .map_err(db)?;
    }
    Ok(())
}

/// A [`Caller`] that owns its user id (operations move to the writer thread).
enum OwnedCaller {
    Server,
    User(String),
}

impl OwnedCaller {
    fn from(caller: Caller<'_>) -> OwnedCaller {
        match caller {
            Caller::Server => OwnedCaller::Server,
            Caller::User(u) => OwnedCaller::User(u.to_string()),
        }
    }

    fn get(&self) -> Caller<'_> {
        match self {
            OwnedCaller::Server => Caller::Server,
            OwnedCaller::User(u) => Caller::User(u),
        }
    }
}

fn read_object(tx: &Connection, id: &ObjectId) -> Result<Option<StorageObject>, StoreError> {
    let sql = format!("SELECT {OBJECT_COLUMNS} FROM storage WHERE collection = ?1 AND user_id = ?2 AND key = ?3");
    tx.prepare_cached(&sql)
        .map_err(db)?
        .query_row([&id.collection, &id.user_id, &id.key], object_row)
        .optional()
        .map_err(db)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.as_ref().parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                // "File exists" says little: name the part of the path that is a file.
                let file = dir.ancestors().find(|a| a.is_file());
                StoreError::Backend(match file {
                    Some(f) => format!("{} is not a directory", f.display()),
                    None => format!("cannot create the directory {}: {e}", dir.display()),
                })
            })?;
        }
        let writer = Connection::open(path.as_ref()).map_err(db)?;
        SqliteStore::init(writer, path.as_ref(), None)
    }

    /// A private, throwaway database (a temporary file, deleted on drop): for tests.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "kaosnet-{}-{}.db",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let writer = Connection::open(&path).map_err(db)?;
        SqliteStore::init(writer, &path, Some(path.clone()))
    }

    fn init(mut conn: Connection, path: &Path, scratch: Option<std::path::PathBuf>) -> Result<SqliteStore, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        // Leaderboard writes land on random pages of big tables: keep them cached (128 MiB
        // at most, only as the database grows).
        conn.pragma_update(None, "cache_size", -131_072).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db)?;
        let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(db)?;
        let applied = usize::try_from(applied).unwrap_or(usize::MAX);
        if applied > MIGRATIONS.len() {
            return Err(StoreError::Backend(format!(
                "the database has schema version {applied}, newer than this server's {}",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
            let tx = conn.transaction().map_err(db)?;
            tx.execute_batch(sql).map_err(db)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64).map_err(db)?;
            tx.commit().map_err(db)?;
        }
        let reader = Connection::open(path).map_err(db)?;
        reader.busy_timeout(std::time::Duration::from_secs(5)).map_err(db)?;
        let pending: i64 = conn.query_row("SELECT COUNT(*) FROM leaderboard_journal", [], |r| r.get(0)).map_err(db)?;
        let journal = Arc::new(AtomicI64::new(pending));
        let folding = journal.clone();
        let (jobs, queue) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("kaos-sqlite-writer".into())
            .spawn(move || writer(conn, queue, folding))
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(SqliteStore { conn: Mutex::new(reader), jobs: Some(jobs), journal, writer: Some(writer), scratch })
    }

    /// Runs `f` as one atomic write: applied entirely or not at all, and answered only
    /// once it is durable (its group's commit has been synced).
    fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let gone = || StoreError::Backend("the database writer has stopped".into());
        self.write_later(f)?.recv().map_err(|_| gone())?
    }

    /// Queues `f` as one atomic write after those queued before it; the answer arrives
    /// on the receiver once it is durable.
    fn write_later<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<mpsc::Receiver<Result<T, StoreError>>, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Box::new(Pending { work: Some(f), result: None, reply });
        let gone = || StoreError::Backend("the database writer has stopped".into());
        self.jobs.as_ref().ok_or_else(gone)?.send(job).map_err(|_| gone())?;
        Ok(answer)
    }

    /// Runs `f` on the reading connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        f(&self.conn.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl AccountStore for SqliteStore {
    fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let user = user.clone();
        self.write(move |tx| {
            if find_user(tx, UserKey::Id(&user.id))?.is_some() {
                return Err(StoreError::Conflict("id"));
            }
            if let Some(field) = taken(tx, &user)? {
                return Err(StoreError::Conflict(field));
            }
            write_user(tx, &user, true)
        })
    }

    fn user(&self, key: UserKey<'_>) -> Result<Option<User>, StoreError> {
        find_user(&self.conn.lock().unwrap_or_else(PoisonError::into_inner), key)
    }

    fn users(&self, ids: &[String], usernames: &[String]) -> Result<Vec<User>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<User> = Vec::new();
        let keys = ids.iter().map(|i| UserKey::Id(i)).chain(usernames.iter().map(|u| UserKey::Username(u)));
        for key in keys {
            if let Some(u) = find_user(&conn, key)? {
                if !out.iter().any(|o| o.id == u.id) {
                    out.push(u);
                }
            }
        }
        Ok(out)
    }

    fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let user = user.clone();
        self.write(move |tx| {
            if let Some(field) = taken(tx, &user)? {
                return Err(StoreError::Conflict(field));
            }
            write_user(tx, &user, false)
        })
    }

    fn set_ban(&self, id: &str, until: i64) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            Ok(tx.execute("UPDATE users SET ban_until = ?2 WHERE id = ?1", params![id, until]).map_err(db)? > 0)
        })
    }

    fn user_ids(&self, after: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT id FROM users WHERE id > ?1 ORDER BY id LIMIT ?2").map_err(db)?;
            let rows = stmt.query_map(params![after, limit as i64], |r| r.get(0)).map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
    }

    fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            tx.execute("DELETE FROM storage WHERE user_id = ?1", [&id]).map_err(db)?;
            tx.execute("DELETE FROM notifications WHERE user_id = ?1", [&id]).map_err(db)?;
            tx.execute("DELETE FROM wallet_ledger WHERE user_id = ?1", [&id]).map_err(db)?;
            tx.execute("DELETE FROM leaderboard_records WHERE owner_id = ?1", [&id]).map_err(db)?;
            // Writes not folded yet would bring records back.
            tx.execute("DELETE FROM leaderboard_journal WHERE owner_id = ?1", [&id]).map_err(db)?;
            crate::store::forget_user(&mut social::Tx(tx), &id)?;
            Ok(tx.execute("DELETE FROM users WHERE id = ?1", [&id]).map_err(db)? > 0)
        })
    }
}

impl ObjectStore for SqliteStore {
    fn read_objects(&self, ids: &[ObjectId]) -> Result<Vec<StorageObject>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        for id in ids {
            out.extend(read_object(&conn, id)?);
        }
        Ok(out)
    }

    fn write_objects(
        &self,
        caller: Caller<'_>,
        writes: &[ObjectWrite],
        now: i64,
    ) -> Result<Vec<StorageObject>, StoreError> {
        let writes = writes.to_vec();
        let caller = OwnedCaller::from(caller);
        self.write(move |tx| {
            let mut out = Vec::with_capacity(writes.len());
            for w in &writes {
                let object = apply_write(read_object(tx, &w.id)?.as_ref(), caller.get(), w, now)?;
                let sql = format!(
                    "INSERT INTO storage ({OBJECT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                     ON CONFLICT (collection, user_id, key) DO UPDATE SET value = excluded.value, \
                     version = excluded.version, permission_read = excluded.permission_read, \
                     permission_write = excluded.permission_write, update_time = excluded.update_time"
                );
                tx.prepare_cached(&sql)
                    .map_err(db)?
                    .execute(params![
                        object.id.collection,
                        object.id.user_id,
                        object.id.key,
                        object.value,
                        object.version,
                        object.permission_read,
                        object.permission_write,
                        object.create_time,
                        object.update_time,
                    ])
                    .map_err(db)?;
                out.push(object);
            }
            Ok(out)
        })
    }

    fn delete_objects(&self, caller: Caller<'_>, deletes: &[ObjectDelete]) -> Result<(), StoreError> {
        let deletes = deletes.to_vec();
        let caller = OwnedCaller::from(caller);
        self.write(move |tx| {
            for d in &deletes {
                check_delete(read_object(tx, &d.id)?.as_ref(), caller.get(), d)?;
                tx.execute(
                    "DELETE FROM storage WHERE collection = ?1 AND user_id = ?2 AND key = ?3",
                    [&d.id.collection, &d.id.user_id, &d.id.key],
                )
                .map_err(db)?;
            }
            Ok(())
        })
    }

    fn collections(&self, owner: Option<&str>) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let sql = "SELECT DISTINCT collection FROM storage WHERE ?1 IS NULL OR user_id = ?1 ORDER BY collection";
            let mut stmt = conn.prepare_cached(sql).map_err(db)?;
            let rows = stmt.query_map([owner], |r| r.get(0)).map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
    }

    fn list_objects(
        &self,
        caller: Caller<'_>,
        collection: &str,
        owner: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ObjectPage, StoreError> {
        let (after_owner, after_key) = match cursor {
            Some(c) => decode_cursor(c).ok_or(StoreError::InvalidCursor)?,
            None => (String::new(), String::new()),
        };
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        // Readability depends on the caller, so filter here and read on in pages.
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM storage WHERE collection = ?1 AND (?2 IS NULL OR user_id = ?2) \
             AND (user_id, key) > (?3, ?4) ORDER BY user_id, key LIMIT ?5"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
        let (mut from_owner, mut from_key) = (after_owner, after_key);
        let mut objects = Vec::new();
        let page = (limit + 1).max(64) as i64;
        loop {
            let rows: Vec<StorageObject> = stmt
                .query_map(params![collection, owner, from_owner, from_key, page], object_row)
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            let exhausted = (rows.len() as i64) < page;
            for o in rows {
                from_owner.clone_from(&o.id.user_id);
                from_key.clone_from(&o.id.key);
                if !may_read(caller, &o) {
                    continue;
                }
                if objects.len() == limit {
                    let cursor = objects.last().map(|o: &StorageObject| encode_cursor(&o.id));
                    return Ok(ObjectPage { objects, cursor });
                }
                objects.push(o);
            }
            if exhausted {
                return Ok(ObjectPage { objects, cursor: None });
            }
        }
    }
}

impl SessionStore for SqliteStore {
    fn revoke_token(&self, token_id: &str, user_id: &str, exp: i64) -> Result<(), StoreError> {
        let (token_id, user_id) = (token_id.to_string(), user_id.to_string());
        self.write(move |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO revoked_tokens (token_id, user_id, exp) VALUES (?1, ?2, ?3)",
                params![token_id, user_id, exp],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn is_revoked(&self, token_id: &str) -> Result<bool, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let found: Option<i64> = conn
            .prepare_cached("SELECT exp FROM revoked_tokens WHERE token_id = ?1")
            .map_err(db)?
            .query_row([token_id], |r| r.get(0))
            .optional()
            .map_err(db)?;
        Ok(found.is_some())
    }

    fn revoked_tokens(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn.prepare_cached("SELECT token_id, exp FROM revoked_tokens WHERE exp > ?1").map_err(db)?;
        let rows = stmt.query_map([now], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)
    }

    fn prune_revoked(&self, now: i64) -> Result<usize, StoreError> {
        self.write(move |tx| tx.execute("DELETE FROM revoked_tokens WHERE exp <= ?1", [now]).map_err(db))
    }
}
