-- KaosNet's PostgreSQL schema, as kaos-server creates it on a new database (its migrations,
-- services/kaosnet/src/store/postgres/mod.rs; a test checks this file matches them).

CREATE TABLE IF NOT EXISTS kaos_schema (version INTEGER NOT NULL);

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
ALTER TABLE users ADD COLUMN ban_until BIGINT NOT NULL DEFAULT 0;
INSERT INTO kaos_schema (version) VALUES (6);
