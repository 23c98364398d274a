//! Friends and groups in PostgreSQL: writes run [`SocialWrite::apply`] in one SERIALIZABLE
//! transaction (retried on conflicts), so two servers cannot both take a group's last
//! seat or remove its last superadmin.

use postgres::{Row, Transaction};

use super::{db, PostgresStore};
use crate::store::{
    friend_state, group_state, like_pattern, Friend, Group, GroupFilter, Membership, SocialDone, SocialStore, SocialTx,
    SocialWrite, StoreError, GROUP_COLUMNS,
};

fn group_row(r: &Row) -> Group {
    group_at(r, 0)
}

/// A group whose columns start at `at`.
fn group_at(r: &Row, at: usize) -> Group {
    Group {
        id: r.get(at),
        creator_id: r.get(at + 1),
        name: r.get(at + 2),
        description: r.get(at + 3),
        avatar_url: r.get(at + 4),
        lang_tag: r.get(at + 5),
        metadata: r.get(at + 6),
        open: r.get(at + 7),
        edge_count: r.get(at + 8),
        max_count: r.get(at + 9),
        create_time: r.get(at + 10),
        update_time: r.get(at + 11),
    }
}

fn membership(r: &Row) -> Membership {
    Membership { group_id: r.get(0), user_id: r.get(1), state: r.get(2), update_time: r.get(3), seq: r.get(4) }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SocialTx for Transaction<'_> {
    fn user_exists(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.query_opt("SELECT 1 FROM users WHERE id = $1", &[&id]).map_err(db)?.is_some())
    }

    fn friend_state(&mut self, from: &str, to: &str) -> Result<Option<i32>, StoreError> {
        let row = self
            .query_opt("SELECT state FROM user_edges WHERE source_id = $1 AND destination_id = $2", &[&from, &to])
            .map_err(db)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn set_friend(&mut self, from: &str, to: &str, state: i32, now: i64) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO user_edges (source_id, destination_id, state, update_time) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (source_id, destination_id) DO UPDATE SET state = excluded.state, \
             update_time = excluded.update_time",
            &[&from, &to, &state, &now],
        )
        .map_err(db)?;
        Ok(())
    }

    fn delete_friend(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM user_edges WHERE source_id = $1 AND destination_id = $2", &[&from, &to])
            .map_err(db)?;
        Ok(())
    }

    fn delete_friends_of(&mut self, user: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM user_edges WHERE source_id = $1 OR destination_id = $1", &[&user]).map_err(db)?;
        Ok(())
    }

    fn group(&mut self, id: &str) -> Result<Option<Group>, StoreError> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id = $1");
        Ok(self.query_opt(&sql, &[&id]).map_err(db)?.map(|r| group_row(&r)))
    }

    fn group_named(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        let row = self.query_opt("SELECT id FROM groups WHERE name_lower = $1", &[&name.to_lowercase()]).map_err(db)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn put_group(&mut self, g: &Group, insert: bool) -> Result<(), StoreError> {
        let sql = if insert {
            "INSERT INTO groups (id, creator_id, name, name_lower, description, avatar_url, lang_tag, metadata, \
             open, edge_count, max_count, create_time, update_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        } else {
            "UPDATE groups SET creator_id = $2, name = $3, name_lower = $4, description = $5, avatar_url = $6, \
             lang_tag = $7, metadata = $8, open = $9, edge_count = $10, max_count = $11, create_time = $12, \
             update_time = $13 WHERE id = $1"
        };
        self.execute(
            sql,
            &[
                &g.id,
                &g.creator_id,
                &g.name,
                &g.name.to_lowercase(),
                &g.description,
                &g.avatar_url,
                &g.lang_tag,
                &g.metadata,
                &g.open,
                &g.edge_count,
                &g.max_count,
                &g.create_time,
                &g.update_time,
            ],
        )
        .map_err(db)?;
        Ok(())
    }

    fn delete_group(&mut self, id: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM group_edges WHERE group_id = $1", &[&id]).map_err(db)?;
        self.execute("DELETE FROM groups WHERE id = $1", &[&id]).map_err(db)?;
        Ok(())
    }

    fn member_state(&mut self, group: &str, user: &str) -> Result<Option<i32>, StoreError> {
        let row = self
            .query_opt("SELECT state FROM group_edges WHERE group_id = $1 AND user_id = $2", &[&group, &user])
            .map_err(db)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn set_member(&mut self, group: &str, user: &str, state: i32, now: i64) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO group_edges (group_id, user_id, state, update_time) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (group_id, user_id) DO UPDATE SET state = excluded.state, \
             update_time = excluded.update_time",
            &[&group, &user, &state, &now],
        )
        .map_err(db)?;
        Ok(())
    }

    fn delete_member(&mut self, group: &str, user: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM group_edges WHERE group_id = $1 AND user_id = $2", &[&group, &user]).map_err(db)?;
        Ok(())
    }

    fn members_in(&mut self, group: &str, states: &[i32]) -> Result<Vec<String>, StoreError> {
        let states = states.to_vec();
        let rows = self
            .query(
                "SELECT user_id FROM group_edges WHERE group_id = $1 AND state = ANY($2) ORDER BY seq",
                &[&group, &states],
            )
            .map_err(db)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn groups_of(&mut self, user: &str) -> Result<Vec<(String, i32)>, StoreError> {
        let rows = self.query("SELECT group_id, state FROM group_edges WHERE user_id = $1", &[&user]).map_err(db)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

impl SocialStore for PostgresStore {
    fn social_write(&self, write: SocialWrite, now: i64) -> Result<SocialDone, StoreError> {
        self.write(|tx| write.apply(tx, now))
    }

    fn list_friends(
        &self,
        user_id: &str,
        state: Option<i32>,
        after: Option<i64>,
        n: usize,
    ) -> Result<Vec<Friend>, StoreError> {
        let mut client = self.conn()?;
        let rows = client
            .query(
                "SELECT destination_id, state, update_time, seq FROM user_edges WHERE source_id = $1 \
                 AND ($2::INT4 IS NULL OR state = $2::INT4) AND seq > $3 ORDER BY seq LIMIT $4",
                &[&user_id, &state, &after.unwrap_or(i64::MIN), &limit(n)],
            )
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| Friend { user_id: r.get(0), state: r.get(1), update_time: r.get(2), seq: r.get(3) })
            .collect())
    }

    fn friends_of_friends(
        &self,
        user_id: &str,
        after: Option<(&str, &str)>,
        n: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut client = self.conn()?;
        let (a, b) = after.unwrap_or(("", ""));
        // COLLATE "C": byte order, as the other stores and the cursor assume.
        let rows = client
            .query(
                "SELECT f.destination_id, g.destination_id FROM user_edges f \
                 JOIN user_edges g ON g.source_id = f.destination_id AND g.state = $2 \
                 WHERE f.source_id = $1 AND f.state = $2 AND g.destination_id <> $1 \
                 AND NOT EXISTS (SELECT 1 FROM user_edges m WHERE m.source_id = $1 \
                     AND m.destination_id = g.destination_id AND m.state = $2) \
                 AND (f.destination_id COLLATE \"C\", g.destination_id COLLATE \"C\") \
                     > ($3 COLLATE \"C\", $4 COLLATE \"C\") \
                 ORDER BY f.destination_id COLLATE \"C\", g.destination_id COLLATE \"C\" LIMIT $5",
                &[&user_id, &friend_state::MUTUAL, &a, &b, &limit(n)],
            )
            .map_err(db)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn group(&self, id: &str) -> Result<Option<Group>, StoreError> {
        let mut client = self.conn()?;
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id = $1");
        Ok(client.query_opt(&sql, &[&id]).map_err(db)?.map(|r| group_row(&r)))
    }

    fn member_state(&self, group_id: &str, user_id: &str) -> Result<Option<i32>, StoreError> {
        let mut client = self.conn()?;
        let row = client
            .query_opt("SELECT state FROM group_edges WHERE group_id = $1 AND user_id = $2", &[&group_id, &user_id])
            .map_err(db)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn list_groups(&self, f: &GroupFilter, after: Option<&str>, n: usize) -> Result<Vec<Group>, StoreError> {
        let mut client = self.conn()?;
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM groups WHERE ($1::TEXT IS NULL OR name_lower LIKE $1::TEXT ESCAPE '\\') \
             AND ($2::TEXT IS NULL OR lang_tag = $2::TEXT) AND ($3::INT8 IS NULL OR edge_count >= $3::INT8) \
             AND ($4::BOOL IS NULL OR open = $4::BOOL) AND name_lower COLLATE \"C\" > $5 ORDER BY name_lower COLLATE \"C\" LIMIT $6"
        );
        let name = f.name.as_deref().map(like_pattern);
        let rows = client
            .query(&sql, &[&name, &f.lang_tag, &f.members, &f.open, &after.unwrap_or(""), &limit(n)])
            .map_err(db)?;
        Ok(rows.iter().map(group_row).collect())
    }

    fn list_group_users(
        &self,
        group_id: &str,
        state: Option<i32>,
        after: Option<i64>,
        n: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        let mut client = self.conn()?;
        let rows = client
            .query(
                "SELECT group_id, user_id, state, update_time, seq FROM group_edges WHERE group_id = $1 \
                 AND (($2::INT4 IS NULL AND state <> $3) OR state = $2::INT4) AND seq > $4 ORDER BY seq LIMIT $5",
                &[&group_id, &state, &group_state::BANNED, &after.unwrap_or(i64::MIN), &limit(n)],
            )
            .map_err(db)?;
        Ok(rows.iter().map(membership).collect())
    }

    fn list_user_groups(
        &self,
        user_id: &str,
        state: Option<i32>,
        after: Option<i64>,
        n: usize,
    ) -> Result<Vec<(Group, Membership)>, StoreError> {
        let mut client = self.conn()?;
        let columns: String = GROUP_COLUMNS.split(", ").map(|c| format!("g.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT e.group_id, e.user_id, e.state, e.update_time, e.seq, {columns} FROM group_edges e \
             JOIN groups g ON g.id = e.group_id WHERE e.user_id = $1 \
             AND (($2::INT4 IS NULL AND e.state <> $3) OR e.state = $2::INT4) AND e.seq > $4 ORDER BY e.seq LIMIT $5"
        );
        let rows = client
            .query(&sql, &[&user_id, &state, &group_state::BANNED, &after.unwrap_or(i64::MIN), &limit(n)])
            .map_err(db)?;
        Ok(rows.iter().map(|r| (group_at(r, 5), membership(r))).collect())
    }
}
