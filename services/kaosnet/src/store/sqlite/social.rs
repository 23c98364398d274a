//! Friends and groups in SQLite: writes run [`SocialWrite::apply`] on the group-committing
//! writer; listings read on the reader connection.

use std::sync::PoisonError;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{db, SqliteStore};
use crate::store::{
    friend_state, group_state, like_pattern, Friend, Group, GroupFilter, Membership, SocialDone, SocialStore, SocialTx,
    SocialWrite, StoreError, GROUP_COLUMNS,
};

/// A write transaction (or any connection) seen as a [`SocialTx`].
pub(super) struct Tx<'a>(pub(super) &'a Connection);

fn group_row(r: &Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        id: r.get(0)?,
        creator_id: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        avatar_url: r.get(4)?,
        lang_tag: r.get(5)?,
        metadata: r.get(6)?,
        open: r.get(7)?,
        edge_count: r.get(8)?,
        max_count: r.get(9)?,
        create_time: r.get(10)?,
        update_time: r.get(11)?,
    })
}

fn one_state(conn: &Connection, sql: &str, a: &str, b: &str) -> Result<Option<i32>, StoreError> {
    conn.prepare_cached(sql).map_err(db)?.query_row([a, b], |r| r.get(0)).optional().map_err(db)
}

/// (friend, user) pairs of friends of friends after a cursor (see
/// `SocialStore::friends_of_friends`); the edge table's (source, destination) key serves
/// both the join and the exclusion.
const FRIENDS_OF_FRIENDS: &str = "SELECT f.destination_id, g.destination_id FROM user_edges f \
     JOIN user_edges g ON g.source_id = f.destination_id AND g.state = ?2 \
     WHERE f.source_id = ?1 AND f.state = ?2 AND g.destination_id <> ?1 \
     AND NOT EXISTS (SELECT 1 FROM user_edges m WHERE m.source_id = ?1 \
         AND m.destination_id = g.destination_id AND m.state = ?2) \
     AND (f.destination_id > ?3 OR (f.destination_id = ?3 AND g.destination_id > ?4)) \
     ORDER BY f.destination_id, g.destination_id LIMIT ?5";

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SocialTx for Tx<'_> {
    fn user_exists(&mut self, id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = self
            .0
            .prepare_cached("SELECT 1 FROM users WHERE id = ?1")
            .map_err(db)?
            .query_row([id], |r| r.get(0))
            .optional()
            .map_err(db)?;
        Ok(found.is_some())
    }

    fn friend_state(&mut self, from: &str, to: &str) -> Result<Option<i32>, StoreError> {
        one_state(self.0, "SELECT state FROM user_edges WHERE source_id = ?1 AND destination_id = ?2", from, to)
    }

    fn set_friend(&mut self, from: &str, to: &str, state: i32, now: i64) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO user_edges (source_id, destination_id, state, update_time) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (source_id, destination_id) DO UPDATE SET state = excluded.state, \
                 update_time = excluded.update_time",
            )
            .map_err(db)?
            .execute(params![from, to, state, now])
            .map_err(db)?;
        Ok(())
    }

    fn delete_friend(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        self.0
            .prepare_cached("DELETE FROM user_edges WHERE source_id = ?1 AND destination_id = ?2")
            .map_err(db)?
            .execute([from, to])
            .map_err(db)?;
        Ok(())
    }

    fn delete_friends_of(&mut self, user: &str) -> Result<(), StoreError> {
        self.0.execute("DELETE FROM user_edges WHERE source_id = ?1 OR destination_id = ?1", [user]).map_err(db)?;
        Ok(())
    }

    fn group(&mut self, id: &str) -> Result<Option<Group>, StoreError> {
        read_group(self.0, id)
    }

    fn group_named(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        self.0
            .prepare_cached("SELECT id FROM groups WHERE name_lower = ?1")
            .map_err(db)?
            .query_row([name.to_lowercase()], |r| r.get(0))
            .optional()
            .map_err(db)
    }

    fn put_group(&mut self, g: &Group, insert: bool) -> Result<(), StoreError> {
        let sql = if insert {
            "INSERT INTO groups (id, creator_id, name, name_lower, description, avatar_url, lang_tag, metadata, \
             open, edge_count, max_count, create_time, update_time) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        } else {
            "UPDATE groups SET creator_id = ?2, name = ?3, name_lower = ?4, description = ?5, avatar_url = ?6, \
             lang_tag = ?7, metadata = ?8, open = ?9, edge_count = ?10, max_count = ?11, create_time = ?12, \
             update_time = ?13 WHERE id = ?1"
        };
        self.0
            .prepare_cached(sql)
            .map_err(db)?
            .execute(params![
                g.id,
                g.creator_id,
                g.name,
                g.name.to_lowercase(),
                g.description,
                g.avatar_url,
                g.lang_tag,
                g.metadata,
                g.open,
                g.edge_count,
                g.max_count,
                g.create_time,
                g.update_time
            ])
            .map_err(db)?;
        Ok(())
    }

    fn delete_group(&mut self, id: &str) -> Result<(), StoreError> {
        self.0.execute("DELETE FROM group_edges WHERE group_id = ?1", [id]).map_err(db)?;
        self.0.execute("DELETE FROM groups WHERE id = ?1", [id]).map_err(db)?;
        Ok(())
    }

    fn member_state(&mut self, group: &str, user: &str) -> Result<Option<i32>, StoreError> {
        one_state(self.0, "SELECT state FROM group_edges WHERE group_id = ?1 AND user_id = ?2", group, user)
    }

    fn set_member(&mut self, group: &str, user: &str, state: i32, now: i64) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO group_edges (group_id, user_id, state, update_time) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (group_id, user_id) DO UPDATE SET state = excluded.state, \
                 update_time = excluded.update_time",
            )
            .map_err(db)?
            .execute(params![group, user, state, now])
            .map_err(db)?;
        Ok(())
    }

    fn delete_member(&mut self, group: &str, user: &str) -> Result<(), StoreError> {
        self.0
            .prepare_cached("DELETE FROM group_edges WHERE group_id = ?1 AND user_id = ?2")
            .map_err(db)?
            .execute([group, user])
            .map_err(db)?;
        Ok(())
    }

    fn members_in(&mut self, group: &str, states: &[i32]) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT user_id, state FROM group_edges WHERE group_id = ?1 ORDER BY seq")
            .map_err(db)?;
        let rows = stmt.query_map([group], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i32>(1)?))).map_err(db)?;
        let all = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)?;
        Ok(all.into_iter().filter(|(_, s)| states.contains(s)).map(|(u, _)| u).collect())
    }

    fn groups_of(&mut self, user: &str) -> Result<Vec<(String, i32)>, StoreError> {
        let mut stmt =
            self.0.prepare_cached("SELECT group_id, state FROM group_edges WHERE user_id = ?1").map_err(db)?;
        let rows = stmt.query_map([user], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }
}

fn read_group(conn: &Connection, id: &str) -> Result<Option<Group>, StoreError> {
    let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id = ?1");
    conn.prepare_cached(&sql).map_err(db)?.query_row([id], group_row).optional().map_err(db)
}

fn membership(r: &Row<'_>) -> rusqlite::Result<Membership> {
    Ok(Membership { group_id: r.get(0)?, user_id: r.get(1)?, state: r.get(2)?, update_time: r.get(3)?, seq: r.get(4)? })
}

impl SocialStore for SqliteStore {
    fn social_write(&self, write: SocialWrite, now: i64) -> Result<SocialDone, StoreError> {
        self.write(move |tx| write.apply(&mut Tx(tx), now))
    }

    fn list_friends(
        &self,
        user_id: &str,
        state: Option<i32>,
        after: Option<i64>,
        n: usize,
    ) -> Result<Vec<Friend>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn
            .prepare_cached(
                "SELECT destination_id, state, update_time, seq FROM user_edges WHERE source_id = ?1 \
                 AND (?2 IS NULL OR state = ?2) AND seq > ?3 ORDER BY seq LIMIT ?4",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map(params![user_id, state, after.unwrap_or(i64::MIN), limit(n)], |r| {
                Ok(Friend { user_id: r.get(0)?, state: r.get(1)?, update_time: r.get(2)?, seq: r.get(3)? })
            })
            .map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }

    fn friends_of_friends(
        &self,
        user_id: &str,
        after: Option<(&str, &str)>,
        n: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn.prepare_cached(FRIENDS_OF_FRIENDS).map_err(db)?;
        let (a, b) = after.unwrap_or(("", ""));
        let rows = stmt
            .query_map(params![user_id, friend_state::MUTUAL, a, b, limit(n)], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }

    fn group(&self, id: &str) -> Result<Option<Group>, StoreError> {
        read_group(&self.conn.lock().unwrap_or_else(PoisonError::into_inner), id)
    }

    fn member_state(&self, group_id: &str, user_id: &str) -> Result<Option<i32>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        one_state(&conn, "SELECT state FROM group_edges WHERE group_id = ?1 AND user_id = ?2", group_id, user_id)
    }

    fn list_groups(&self, f: &GroupFilter, after: Option<&str>, n: usize) -> Result<Vec<Group>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM groups WHERE (?1 IS NULL OR name_lower LIKE ?1 ESCAPE '\\') \
             AND (?2 IS NULL OR lang_tag = ?2) AND (?3 IS NULL OR edge_count >= ?3) AND (?4 IS NULL OR open = ?4) \
             AND name_lower > ?5 ORDER BY name_lower LIMIT ?6"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
        let name = f.name.as_deref().map(like_pattern);
        let rows = stmt
            .query_map(params![name, f.lang_tag, f.members, f.open, after.unwrap_or(""), limit(n)], group_row)
            .map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }

    fn list_group_users(
        &self,
        group_id: &str,
        state: Option<i32>,
        after: Option<i64>,
        n: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn
            .prepare_cached(
                "SELECT group_id, user_id, state, update_time, seq FROM group_edges WHERE group_id = ?1 \
                 AND ((?2 IS NULL AND state <> ?3) OR state = ?2) AND seq > ?4 ORDER BY seq LIMIT ?5",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map(params![group_id, state, group_state::BANNED, after.unwrap_or(i64::MIN), limit(n)], membership)
            .map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }

    fn list_user_groups(
        &self,
        user_id: &str,
        state: Option<i32>,
        after: Option<i64>,
        n: usize,
    ) -> Result<Vec<(Group, Membership)>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let columns: String = GROUP_COLUMNS.split(", ").map(|c| format!("g.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT e.group_id, e.user_id, e.state, e.update_time, e.seq, {columns} FROM group_edges e \
             JOIN groups g ON g.id = e.group_id WHERE e.user_id = ?1 \
             AND ((?2 IS NULL AND e.state <> ?3) OR e.state = ?2) AND e.seq > ?4 ORDER BY e.seq LIMIT ?5"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
        let rows = stmt
            .query_map(params![user_id, state, group_state::BANNED, after.unwrap_or(i64::MIN), limit(n)], |r| {
                let m = membership(r)?;
                let g = Group {
                    id: r.get(5)?,
                    creator_id: r.get(6)?,
                    name: r.get(7)?,
                    description: r.get(8)?,
                    avatar_url: r.get(9)?,
                    lang_tag: r.get(10)?,
                    metadata: r.get(11)?,
                    open: r.get(12)?,
                    edge_count: r.get(13)?,
                    max_count: r.get(14)?,
                    create_time: r.get(15)?,
                    update_time: r.get(16)?,
                };
                Ok((g, m))
            })
            .map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }
}
