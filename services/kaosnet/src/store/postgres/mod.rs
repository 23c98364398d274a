//! The PostgreSQL store (feature `postgres`), for production, over a pool of
//! connections. Every batch is one SERIALIZABLE transaction, retried when PostgreSQL
//! reports a serialization conflict or a deadlock, so the version and uniqueness checks
//! hold under concurrent writers; sign-ups run at READ COMMITTED, kept apart by the unique
//! indexes. Each connection prepares the queries it reads with once.

use std::collections::HashMap;

use postgres::error::SqlState;
use postgres::{Client, NoTls, Row, Transaction};

mod leaderboards;
mod messages;
mod social;
mod wallets;

use super::{
    apply_write, check_delete, decode_cursor, encode_cursor, may_read, AccountStore, Caller, ObjectDelete, ObjectId,
    ObjectPage, ObjectStore, ObjectWrite, SessionStore, StorageObject, StoreError, User, UserKey, OBJECT_COLUMNS,
    USER_COLUMNS,
};

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
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
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
    permission_read SMALLINT NOT NULL,
    permission_write SMALLINT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    PRIMARY KEY (collection, user_id, key)
);
CREATE INDEX storage_owner ON storage (user_id);
CREATE TABLE revoked_tokens (
    token_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    exp BIGINT NOT NULL
);
"#,
    r#"
CREATE TABLE messages (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    channel_id TEXT NOT NULL,
    code INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    username TEXT NOT NULL,
    content TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE INDEX messages_channel ON messages (channel_id, seq);
CREATE TABLE notifications (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    content TEXT NOT NULL,
    code INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    create_time BIGINT NOT NULL
);
CREATE INDEX notifications_user ON notifications (user_id, seq);
"#,
    r#"
CREATE TABLE leaderboards (
    id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    create_time BIGINT NOT NULL
);
CREATE TABLE leaderboard_records (
    leaderboard_id TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    username TEXT NOT NULL,
    score BIGINT NOT NULL,
    subscore BIGINT NOT NULL,
    num_score INTEGER NOT NULL,
    max_num_score INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    expiry_time BIGINT NOT NULL,
    PRIMARY KEY (leaderboard_id, expiry_time, owner_id)
);
"#,
    r#"
CREATE TABLE user_edges (
    seq BIGSERIAL PRIMARY KEY,
    source_id TEXT NOT NULL,
    destination_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    update_time BIGINT NOT NULL,
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
    open BOOLEAN NOT NULL,
    edge_count BIGINT NOT NULL,
    max_count BIGINT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE TABLE group_edges (
    seq BIGSERIAL PRIMARY KEY,
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    update_time BIGINT NOT NULL,
    UNIQUE (group_id, user_id)
);
CREATE INDEX group_edges_group ON group_edges (group_id, seq);
CREATE INDEX group_edges_user ON group_edges (user_id, seq);
"#,
    r#"
ALTER TABLE users ADD COLUMN wallet TEXT NOT NULL DEFAULT '{}';
CREATE TABLE wallet_ledger (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    changeset TEXT NOT NULL,
    metadata TEXT NOT NULL,
    create_time BIGINT NOT NULL
);
CREATE INDEX wallet_ledger_user ON wallet_ledger (user_id, seq);
"#,
    "ALTER TABLE users ADD COLUMN ban_until BIGINT NOT NULL DEFAULT 0;",
];

/// Says "try the transaction again" inside `StoreError::Backend`.
const RETRY: &str = "serialization conflict";

/// Tries of a write transaction before its conflicts are reported as an error.
const MAX_TRIES: u32 = 50;

fn db(e: postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED => {
            StoreError::Backend(RETRY.into())
        }
        // Two servers raced for the same unique value: name it from the constraint.
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => {
            let constraint = e.as_db_error().and_then(|d| d.constraint()).unwrap_or("");
            StoreError::Conflict(if constraint.contains("username") {
                "username"
            } else if constraint.contains("email") {
                "email"
            } else if constraint.contains("custom") {
                "custom id"
            } else if constraint.contains("device") {
                "device id"
            } else {
                "id"
            })
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

/// PostgreSQL persistence over a pool of connections: queries and transactions from
/// different threads run at once, each on a connection of its own.
pub struct PostgresStore {
    pool: r2d2::Pool<Connector>,
}

/// Connections a store keeps by default (Nakama's default allows 100; a game server's
/// workers rarely need more than a few at once).
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// Opens and checks the pool's connections.
#[derive(Debug)]
struct Connector {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Connector {
    type Connection = Cached;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Cached, postgres::Error> {
        Ok(Cached { client: self.config.connect(NoTls)?, statements: HashMap::new() })
    }

    fn is_valid(&self, c: &mut Cached) -> Result<(), postgres::Error> {
        c.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, c: &mut Cached) -> bool {
        c.client.is_closed()
    }
}

/// A pooled connection and the statements prepared on it: a query the store runs again
/// is parsed and planned once per connection, then only bound and executed (one round
/// trip instead of two).
pub(super) struct Cached {
    client: Client,
    statements: HashMap<String, postgres::Statement>,
}

/// Statements one connection keeps (the store's queries are a fixed set well below it).
const MAX_STATEMENTS: usize = 256;

impl std::ops::Deref for Cached {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for Cached {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Query for Cached {
    fn rows(&mut self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let statement = match self.statements.get(sql) {
            Some(s) => s.clone(),
            None => {
                let s = self.client.prepare(sql).map_err(db)?;
                if self.statements.len() >= MAX_STATEMENTS {
                    self.statements.clear();
                }
                self.statements.insert(sql.to_string(), s.clone());
                s
            }
        };
        self.client.query(&statement, params).map_err(db)
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

fn user_row(row: &Row) -> User {
    User {
        id: row.get(0),
        username: row.get(1),
        display_name: row.get(2),
        avatar_url: row.get(3),
        lang_tag: row.get(4),
        location: row.get(5),
        timezone: row.get(6),
        metadata: row.get(7),
        email: row.get(8),
        password_hash: row.get(9),
        custom_id: row.get(10),
        devices: Vec::new(),
        create_time: row.get(11),
        update_time: row.get(12),
        wallet: row.get(13),
        ban_until: row.get(14),
    }
}

fn object_row(row: &Row) -> StorageObject {
    StorageObject {
        id: ObjectId { collection: row.get(0), user_id: row.get(1), key: row.get(2) },
        value: row.get(3),
        version: row.get(4),
        permission_read: row.get::<_, i16>(5) as u8,
        permission_write: row.get::<_, i16>(6) as u8,
        create_time: row.get(7),
        update_time: row.get(8),
    }
}

/// Runs a query on a pooled connection (prepared once per connection) or in a transaction.
trait Query {
    fn rows(&mut self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<Vec<Row>, StoreError>;
}

impl Query for Transaction<'_> {
    fn rows(&mut self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        self.query(sql, params).map_err(db)
    }
}

fn find_user(q: &mut impl Query, key: UserKey<'_>) -> Result<Option<User>, StoreError> {
    let (clause, value) = match key {
        UserKey::Id(v) => ("id = $1", v.to_string()),
        UserKey::Username(v) => ("username_lower = $1", v.to_lowercase()),
        UserKey::Email(v) => ("email_lower = $1", v.to_lowercase()),
        UserKey::Custom(v) => ("custom_id = $1", v.to_string()),
        UserKey::Device(v) => ("id = (SELECT user_id FROM user_devices WHERE device_id = $1)", v.to_string()),
    };
    let rows = q.rows(&format!("SELECT {USER_COLUMNS} FROM users WHERE {clause}"), &[&value])?;
    let Some(row) = rows.first() else { return Ok(None) };
    let mut user = user_row(row);
    user.devices = q
        .rows("SELECT device_id FROM user_devices WHERE user_id = $1 ORDER BY device_id", &[&user.id])?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Some(user))
}

fn taken(tx: &mut Transaction<'_>, user: &User) -> Result<Option<&'static str>, StoreError> {
    let mut other = |sql: &str, v: &str| -> Result<bool, StoreError> {
        let rows = tx.rows(sql, &[&v])?;
        Ok(rows.first().is_some_and(|r| r.get::<_, String>(0) != user.id))
    };
    if other("SELECT id FROM users WHERE username_lower = $1", &user.username.to_lowercase())? {
        return Ok(Some("username"));
    }
    if let Some(e) = &user.email {
        if other("SELECT id FROM users WHERE email_lower = $1", &e.to_lowercase())? {
            return Ok(Some("email"));
        }
    }
    if let Some(c) = &user.custom_id {
        if other("SELECT id FROM users WHERE custom_id = $1", c)? {
            return Ok(Some("custom id"));
        }
    }
    for d in &user.devices {
        if other("SELECT user_id FROM user_devices WHERE device_id = $1", d)? {
            return Ok(Some("device id"));
        }
    }
    Ok(None)
}

fn write_user(tx: &mut Transaction<'_>, user: &User, insert: bool) -> Result<(), StoreError> {
    let email_lower = user.email.as_ref().map(|e| e.to_lowercase());
    let username_lower = user.username.to_lowercase();
    let params: [&(dyn postgres::types::ToSql + Sync); 15] = [
        &user.id,
        &user.username,
        &username_lower,
        &user.display_name,
        &user.avatar_url,
        &user.lang_tag,
        &user.location,
        &user.timezone,
        &user.metadata,
        &user.email,
        &email_lower,
        &user.password_hash,
        &user.custom_id,
        &user.create_time,
        &user.update_time,
    ];
    let sql = if insert {
        "INSERT INTO users (id, username, username_lower, display_name, avatar_url, lang_tag, location, timezone, \
         metadata, email, email_lower, password_hash, custom_id, create_time, update_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    } else {
        "UPDATE users SET username = $2, username_lower = $3, display_name = $4, avatar_url = $5, lang_tag = $6, \
         location = $7, timezone = $8, metadata = $9, email = $10, email_lower = $11, password_hash = $12, \
         custom_id = $13, create_time = $14, update_time = $15 WHERE id = $1"
    };
    if tx.execute(sql, &params).map_err(db)? == 0 {
        return Err(StoreError::NotFound);
    }
    tx.execute("DELETE FROM user_devices WHERE user_id = $1", &[&user.id]).map_err(db)?;
    for d in &user.devices {
        tx.execute("INSERT INTO user_devices (device_id, user_id) VALUES ($1, $2)", &[d, &user.id]).map_err(db)?;
    }
    Ok(())
}

fn read_object(q: &mut impl Query, id: &ObjectId) -> Result<Option<StorageObject>, StoreError> {
    let sql = format!("SELECT {OBJECT_COLUMNS} FROM storage WHERE collection = $1 AND user_id = $2 AND key = $3");
    Ok(q.rows(&sql, &[&id.collection, &id.user_id, &id.key])?.first().map(object_row))
}

/// The whole schema as SQL, as [`PostgresStore::open`] leaves a new database: what
/// `scripts/init.sql` holds, for those who create databases by hand.
pub fn schema_sql() -> String {
    let mut sql = String::from(
        "-- KaosNet's PostgreSQL schema, as kaos-server creates it on a new database (its migrations,\n\
         -- services/kaosnet/src/store/postgres/mod.rs; a test checks this file matches them).\n\n\
         CREATE TABLE IF NOT EXISTS kaos_schema (version INTEGER NOT NULL);\n",
    );
    for m in MIGRATIONS {
        sql.push_str(m.trim_end());
        sql.push('\n');
    }
    sql.push_str(&format!("INSERT INTO kaos_schema (version) VALUES ({});\n", MIGRATIONS.len()));
    sql
}

impl PostgresStore {
    /// Connects (`host=… user=… dbname=…` or a `postgres://` URL) and brings the schema
    /// up to date.
    pub fn open(params: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open_with_pool(params, DEFAULT_POOL_SIZE)
    }

    /// The same, with up to `pool_size` connections.
    pub fn open_with_pool(params: &str, pool_size: u32) -> Result<PostgresStore, StoreError> {
        let config: postgres::Config = params.parse().map_err(db)?;
        let mut client = config.connect(NoTls).map_err(db)?;
        client.batch_execute("CREATE TABLE IF NOT EXISTS kaos_schema (version INTEGER NOT NULL)").map_err(db)?;
        let mut tx = client.transaction().map_err(db)?;
        tx.batch_execute("LOCK TABLE kaos_schema").map_err(db)?;
        let rows = tx.query("SELECT version FROM kaos_schema", &[]).map_err(db)?;
        let applied = rows.first().map_or(0, |r| r.get::<_, i32>(0)) as usize;
        if applied > MIGRATIONS.len() {
            return Err(StoreError::Backend(format!("schema version {applied} is newer than this server's")));
        }
        for sql in &MIGRATIONS[applied..] {
            tx.batch_execute(sql).map_err(db)?;
        }
        tx.execute("DELETE FROM kaos_schema", &[]).map_err(db)?;
        tx.execute("INSERT INTO kaos_schema (version) VALUES ($1)", &[&(MIGRATIONS.len() as i32)]).map_err(db)?;
        tx.commit().map_err(db)?;
        drop(client);
        // The pool opens its connections now, so a bad address fails the start.
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .build(Connector { config })
            .map_err(|e| StoreError::Backend(format!("connecting to PostgreSQL: {e}")))?;
        Ok(PostgresStore { pool })
    }

    /// A connection of the pool (waiting for one if all are busy).
    fn conn(&self) -> Result<r2d2::PooledConnection<Connector>, StoreError> {
        self.pool.get().map_err(|e| StoreError::Backend(format!("no PostgreSQL connection: {e}")))
    }

    /// Runs `f` in a SERIALIZABLE transaction, again on a serialization conflict or a
    /// deadlock (concurrent writers on the pool meet them): after a short random pause
    /// that grows with each try, so the writers that collided do not collide again.
    fn write<T>(&self, f: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.write_at(postgres::IsolationLevel::Serializable, f)
    }

    fn write_at<T>(
        &self,
        isolation: postgres::IsolationLevel,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = self.conn()?;
        for attempt in 0..MAX_TRIES {
            if attempt > 0 {
                let mut r = [0u8; 2];
                let _ = getrandom::fill(&mut r);
                let micros = u64::from(u16::from_le_bytes(r)) % (200 * u64::from(attempt.min(20)));
                std::thread::sleep(std::time::Duration::from_micros(micros));
            }
            let mut tx = client.build_transaction().isolation_level(isolation).start().map_err(db)?;
            let outcome = f(&mut tx).and_then(|out| tx.commit().map(|()| out).map_err(db));
            match outcome {
                Err(StoreError::Backend(why)) if why == RETRY => continue,
                other => return other,
            }
        }
        Err(StoreError::Backend("too many serialization conflicts".into()))
    }
}

impl AccountStore for PostgresStore {
    fn create_user(&self, user: &User) -> Result<(), StoreError> {
        // The unique indexes keep ids, names, emails and devices apart whatever runs at
        // once (a race ends in their violation, named as the conflict): no need for
        // SERIALIZABLE, whose predicate locks made concurrent sign-ups fail each other.
        self.write_at(postgres::IsolationLevel::ReadCommitted, |tx| {
            if find_user(tx, UserKey::Id(&user.id))?.is_some() {
                return Err(StoreError::Conflict("id"));
            }
            if let Some(field) = taken(tx, user)? {
                return Err(StoreError::Conflict(field));
            }
            write_user(tx, user, true)
        })
    }

    fn user(&self, key: UserKey<'_>) -> Result<Option<User>, StoreError> {
        find_user(&mut *self.conn()?, key)
    }

    fn users(&self, ids: &[String], usernames: &[String]) -> Result<Vec<User>, StoreError> {
        let mut client = self.conn()?;
        let mut out: Vec<User> = Vec::new();
        let keys = ids.iter().map(|i| UserKey::Id(i)).chain(usernames.iter().map(|u| UserKey::Username(u)));
        for key in keys {
            if let Some(u) = find_user(&mut *client, key)? {
                if !out.iter().any(|o| o.id == u.id) {
                    out.push(u);
                }
            }
        }
        Ok(out)
    }

    fn update_user(&self, user: &User) -> Result<(), StoreError> {
        self.write(|tx| {
            if let Some(field) = taken(tx, user)? {
                return Err(StoreError::Conflict(field));
            }
            write_user(tx, user, false)
        })
    }

    fn set_ban(&self, id: &str, until: i64) -> Result<bool, StoreError> {
        self.write_at(postgres::IsolationLevel::ReadCommitted, |tx| {
            Ok(tx.execute("UPDATE users SET ban_until = $2 WHERE id = $1", &[&id, &until]).map_err(db)? > 0)
        })
    }

    fn user_ids(&self, after: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT id FROM users WHERE id COLLATE \"C\" > $1 ORDER BY id COLLATE \"C\" LIMIT $2";
        let rows = self.conn()?.query(sql, &[&after, &(limit as i64)]).map_err(db)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            tx.execute("DELETE FROM storage WHERE user_id = $1", &[&id]).map_err(db)?;
            tx.execute("DELETE FROM notifications WHERE user_id = $1", &[&id]).map_err(db)?;
            tx.execute("DELETE FROM wallet_ledger WHERE user_id = $1", &[&id]).map_err(db)?;
            tx.execute("DELETE FROM leaderboard_records WHERE owner_id = $1", &[&id]).map_err(db)?;
            crate::store::forget_user(tx, id)?;
            Ok(tx.execute("DELETE FROM users WHERE id = $1", &[&id]).map_err(db)? > 0)
        })
    }
}

impl ObjectStore for PostgresStore {
    fn read_objects(&self, ids: &[ObjectId]) -> Result<Vec<StorageObject>, StoreError> {
        let mut client = self.conn()?;
        let mut out = Vec::new();
        for id in ids {
            out.extend(read_object(&mut *client, id)?);
        }
        Ok(out)
    }

    fn write_objects(
        &self,
        caller: Caller<'_>,
        writes: &[ObjectWrite],
        now: i64,
    ) -> Result<Vec<StorageObject>, StoreError> {
        self.write(|tx| {
            let mut out = Vec::with_capacity(writes.len());
            for w in writes {
                let o = apply_write(read_object(tx, &w.id)?.as_ref(), caller, w, now)?;
                let sql = format!(
                    "INSERT INTO storage ({OBJECT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (collection, user_id, key) DO UPDATE SET value = excluded.value, \
                     version = excluded.version, permission_read = excluded.permission_read, \
                     permission_write = excluded.permission_write, update_time = excluded.update_time"
                );
                let (read, write) = (i16::from(o.permission_read), i16::from(o.permission_write));
                tx.execute(
                    &sql,
                    &[
                        &o.id.collection,
                        &o.id.user_id,
                        &o.id.key,
                        &o.value,
                        &o.version,
                        &read,
                        &write,
                        &o.create_time,
                        &o.update_time,
                    ],
                )
                .map_err(db)?;
                out.push(o);
            }
            Ok(out)
        })
    }

    fn delete_objects(&self, caller: Caller<'_>, deletes: &[ObjectDelete]) -> Result<(), StoreError> {
        self.write(|tx| {
            for d in deletes {
                check_delete(read_object(tx, &d.id)?.as_ref(), caller, d)?;
                tx.execute(
                    "DELETE FROM storage WHERE collection = $1 AND user_id = $2 AND key = $3",
                    &[&d.id.collection, &d.id.user_id, &d.id.key],
                )
                .map_err(db)?;
            }
            Ok(())
        })
    }

    fn collections(&self, owner: Option<&str>) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT DISTINCT collection COLLATE \"C\" AS c FROM storage \
                   WHERE $1::TEXT IS NULL OR user_id = $1 ORDER BY c";
        let rows = self.conn()?.query(sql, &[&owner]).map_err(db)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn list_objects(
        &self,
        caller: Caller<'_>,
        collection: &str,
        owner: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ObjectPage, StoreError> {
        let (mut from_owner, mut from_key) = match cursor {
            Some(c) => decode_cursor(c).ok_or(StoreError::InvalidCursor)?,
            None => (String::new(), String::new()),
        };
        let mut client = self.conn()?;
        // COLLATE "C": byte order, as the other stores and the cursor assume.
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM storage WHERE collection = $1 AND ($2::TEXT IS NULL OR user_id = $2) \
             AND (user_id COLLATE \"C\", key COLLATE \"C\") > ($3 COLLATE \"C\", $4 COLLATE \"C\") \
             ORDER BY user_id COLLATE \"C\", key COLLATE \"C\" LIMIT $5"
        );
        let page = (limit + 1).max(64) as i64;
        let mut objects = Vec::new();
        loop {
            let rows = client.query(&sql, &[&collection, &owner, &from_owner, &from_key, &page]).map_err(db)?;
            let exhausted = (rows.len() as i64) < page;
            for row in &rows {
                let o = object_row(row);
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

impl SessionStore for PostgresStore {
    fn revoke_token(&self, token_id: &str, user_id: &str, exp: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO revoked_tokens (token_id, user_id, exp) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&token_id, &user_id, &exp],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn is_revoked(&self, token_id: &str) -> Result<bool, StoreError> {
        let mut client = self.conn()?;
        Ok(!client.rows("SELECT 1 FROM revoked_tokens WHERE token_id = $1", &[&token_id])?.is_empty())
    }

    fn revoked_tokens(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let mut client = self.conn()?;
        let rows = client.rows("SELECT token_id, exp FROM revoked_tokens WHERE exp > $1", &[&now])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn prune_revoked(&self, now: i64) -> Result<usize, StoreError> {
        let gone = self.write(|tx| tx.execute("DELETE FROM revoked_tokens WHERE exp <= $1", &[&now]).map_err(db))?;
        Ok(usize::try_from(gone).unwrap_or(usize::MAX))
    }
}
