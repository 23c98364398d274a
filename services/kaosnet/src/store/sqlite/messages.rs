//! Chat history and notifications in SQLite.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{db, SqliteStore};
use crate::store::{ChannelMessage, MessageStore, Notification, StoreError, MESSAGE_COLUMNS, NOTIFICATION_COLUMNS};

fn message_row(r: &Row<'_>) -> rusqlite::Result<ChannelMessage> {
    Ok(ChannelMessage {
        seq: r.get(0)?,
        id: r.get(1)?,
        channel_id: r.get(2)?,
        code: r.get(3)?,
        sender_id: r.get(4)?,
        username: r.get(5)?,
        content: r.get(6)?,
        create_time: r.get(7)?,
        update_time: r.get(8)?,
    })
}

fn notification_row(r: &Row<'_>) -> rusqlite::Result<Notification> {
    Ok(Notification {
        seq: r.get(0)?,
        id: r.get(1)?,
        user_id: r.get(2)?,
        subject: r.get(3)?,
        content: r.get(4)?,
        code: r.get(5)?,
        sender_id: r.get(6)?,
        create_time: r.get(7)?,
    })
}

/// Message `id` of `channel_id` if `sender_id` sent it.
fn owned(conn: &Connection, channel_id: &str, id: &str, sender_id: Option<&str>) -> Result<ChannelMessage, StoreError> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND channel_id = ?2");
    let found =
        conn.prepare_cached(&sql).map_err(db)?.query_row([id, channel_id], message_row).optional().map_err(db)?;
    match found {
        None => Err(StoreError::NotFound),
        Some(m) if sender_id.is_some_and(|s| s != m.sender_id) => Err(StoreError::PermissionDenied),
        Some(m) => Ok(m),
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl MessageStore for SqliteStore {
    fn add_message(&self, message: &ChannelMessage) -> Result<ChannelMessage, StoreError> {
        let m = message.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO messages (id, channel_id, code, sender_id, username, content, create_time, update_time) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(db)?
            .execute(params![
                m.id,
                m.channel_id,
                m.code,
                m.sender_id,
                m.username,
                m.content,
                m.create_time,
                m.update_time
            ])
            .map_err(db)?;
            Ok(ChannelMessage { seq: tx.last_insert_rowid(), ..m })
        })
    }

    fn update_message(
        &self,
        channel_id: &str,
        id: &str,
        sender_id: &str,
        content: &str,
        now: i64,
    ) -> Result<ChannelMessage, StoreError> {
        let (channel_id, id, sender_id, content) =
            (channel_id.to_string(), id.to_string(), sender_id.to_string(), content.to_string());
        self.write(move |tx| {
            let m = owned(tx, &channel_id, &id, Some(&sender_id))?;
            tx.execute(
                "UPDATE messages SET content = ?1, update_time = ?2 WHERE seq = ?3",
                params![content, now, m.seq],
            )
            .map_err(db)?;
            Ok(ChannelMessage { content, update_time: now, ..m })
        })
    }

    fn remove_message(
        &self,
        channel_id: &str,
        id: &str,
        sender_id: Option<&str>,
    ) -> Result<ChannelMessage, StoreError> {
        let (channel_id, id, sender_id) = (channel_id.to_string(), id.to_string(), sender_id.map(str::to_string));
        self.write(move |tx| {
            let m = owned(tx, &channel_id, &id, sender_id.as_deref())?;
            tx.execute("DELETE FROM messages WHERE seq = ?1", [m.seq]).map_err(db)?;
            Ok(m)
        })
    }

    fn channels(&self, after: &str, n: usize) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let sql = "SELECT channel_id, COUNT(*) FROM messages WHERE channel_id > ?1 \
                   GROUP BY channel_id ORDER BY channel_id LIMIT ?2";
        let mut stmt = conn.prepare_cached(sql).map_err(db)?;
        let rows = stmt.query_map(params![after, limit(n)], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)));
        let channels: Vec<(String, u64)> = rows.map_err(db)?.collect::<Result<_, _>>().map_err(db)?;
        Ok(channels)
    }

    fn list_messages(
        &self,
        channel_id: &str,
        forward: bool,
        from: Option<i64>,
        n: usize,
    ) -> Result<Vec<ChannelMessage>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let sql = if forward {
            format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE channel_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")
        } else {
            format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE channel_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
            )
        };
        let from = from.unwrap_or(if forward { i64::MIN } else { i64::MAX });
        let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
        let rows = stmt.query_map(params![channel_id, from, limit(n)], message_row).map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }

    fn add_notifications(&self, notifications: &[Notification]) -> Result<Vec<Notification>, StoreError> {
        let list = notifications.to_vec();
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO notifications (id, user_id, subject, content, code, sender_id, create_time) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(db)?;
            let mut out = Vec::with_capacity(list.len());
            for n in list {
                stmt.execute(params![n.id, n.user_id, n.subject, n.content, n.code, n.sender_id, n.create_time])
                    .map_err(db)?;
                out.push(Notification { seq: tx.last_insert_rowid(), ..n });
            }
            Ok(out)
        })
    }

    fn list_notifications(&self, user_id: &str, after: Option<i64>, n: usize) -> Result<Vec<Notification>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
        let rows =
            stmt.query_map(params![user_id, after.unwrap_or(i64::MIN), limit(n)], notification_row).map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }

    fn delete_notifications(&self, user_id: &str, ids: &[String]) -> Result<usize, StoreError> {
        let (user_id, ids) = (user_id.to_string(), ids.to_vec());
        self.write(move |tx| {
            let mut gone = 0;
            for id in &ids {
                gone += tx
                    .execute("DELETE FROM notifications WHERE user_id = ?1 AND id = ?2", [&user_id, id])
                    .map_err(db)?;
            }
            Ok(gone)
        })
    }
}
