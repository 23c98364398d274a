//! Chat history and notifications in PostgreSQL.

use postgres::{Row, Transaction};

use super::{db, PostgresStore};
use crate::store::{ChannelMessage, MessageStore, Notification, StoreError, MESSAGE_COLUMNS, NOTIFICATION_COLUMNS};

fn message_row(r: &Row) -> ChannelMessage {
    ChannelMessage {
        seq: r.get(0),
        id: r.get(1),
        channel_id: r.get(2),
        code: r.get(3),
        sender_id: r.get(4),
        username: r.get(5),
        content: r.get(6),
        create_time: r.get(7),
        update_time: r.get(8),
    }
}

fn notification_row(r: &Row) -> Notification {
    Notification {
        seq: r.get(0),
        id: r.get(1),
        user_id: r.get(2),
        subject: r.get(3),
        content: r.get(4),
        code: r.get(5),
        sender_id: r.get(6),
        create_time: r.get(7),
    }
}

/// Message `id` of `channel_id` if `sender_id` sent it.
fn owned(
    tx: &mut Transaction<'_>,
    channel_id: &str,
    id: &str,
    sender_id: Option<&str>,
) -> Result<ChannelMessage, StoreError> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND channel_id = $2");
    match tx.query_opt(&sql, &[&id, &channel_id]).map_err(db)?.map(|r| message_row(&r)) {
        None => Err(StoreError::NotFound),
        Some(m) if sender_id.is_some_and(|s| s != m.sender_id) => Err(StoreError::PermissionDenied),
        Some(m) => Ok(m),
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl MessageStore for PostgresStore {
    fn add_message(&self, m: &ChannelMessage) -> Result<ChannelMessage, StoreError> {
        self.write(|tx| {
            let row = tx
                .query_one(
                    "INSERT INTO messages (id, channel_id, code, sender_id, username, content, create_time, update_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq",
                    &[&m.id, &m.channel_id, &m.code, &m.sender_id, &m.username, &m.content, &m.create_time, &m.update_time],
                )
                .map_err(db)?;
            Ok(ChannelMessage { seq: row.get(0), ..m.clone() })
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
        self.write(|tx| {
            let m = owned(tx, channel_id, id, Some(sender_id))?;
            tx.execute("UPDATE messages SET content = $1, update_time = $2 WHERE seq = $3", &[&content, &now, &m.seq])
                .map_err(db)?;
            Ok(ChannelMessage { content: content.to_string(), update_time: now, ..m })
        })
    }

    fn remove_message(
        &self,
        channel_id: &str,
        id: &str,
        sender_id: Option<&str>,
    ) -> Result<ChannelMessage, StoreError> {
        self.write(|tx| {
            let m = owned(tx, channel_id, id, sender_id)?;
            tx.execute("DELETE FROM messages WHERE seq = $1", &[&m.seq]).map_err(db)?;
            Ok(m)
        })
    }

    fn channels(&self, after: &str, n: usize) -> Result<Vec<(String, u64)>, StoreError> {
        let sql = "SELECT channel_id COLLATE \"C\" AS c, COUNT(*) FROM messages WHERE channel_id COLLATE \"C\" > $1 \
                   GROUP BY c ORDER BY c LIMIT $2";
        let rows = self.conn()?.query(sql, &[&after, &limit(n)]).map_err(db)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get::<_, i64>(1) as u64)).collect())
    }

    fn list_messages(
        &self,
        channel_id: &str,
        forward: bool,
        from: Option<i64>,
        n: usize,
    ) -> Result<Vec<ChannelMessage>, StoreError> {
        let sql = if forward {
            format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE channel_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
        } else {
            format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE channel_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
            )
        };
        let from = from.unwrap_or(if forward { i64::MIN } else { i64::MAX });
        let mut client = self.conn()?;
        let rows = client.query(&sql, &[&channel_id, &from, &limit(n)]).map_err(db)?;
        Ok(rows.iter().map(message_row).collect())
    }

    fn add_notifications(&self, notifications: &[Notification]) -> Result<Vec<Notification>, StoreError> {
        self.write(|tx| {
            let mut out = Vec::with_capacity(notifications.len());
            for n in notifications {
                let row = tx
                    .query_one(
                        "INSERT INTO notifications (id, user_id, subject, content, code, sender_id, create_time) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
                        &[&n.id, &n.user_id, &n.subject, &n.content, &n.code, &n.sender_id, &n.create_time],
                    )
                    .map_err(db)?;
                out.push(Notification { seq: row.get(0), ..n.clone() });
            }
            Ok(out)
        })
    }

    fn list_notifications(&self, user_id: &str, after: Option<i64>, n: usize) -> Result<Vec<Notification>, StoreError> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        );
        let mut client = self.conn()?;
        let rows = client.query(&sql, &[&user_id, &after.unwrap_or(i64::MIN), &limit(n)]).map_err(db)?;
        Ok(rows.iter().map(notification_row).collect())
    }

    fn delete_notifications(&self, user_id: &str, ids: &[String]) -> Result<usize, StoreError> {
        self.write(|tx| {
            let mut gone = 0;
            for id in ids {
                gone += tx
                    .execute("DELETE FROM notifications WHERE user_id = $1 AND id = $2", &[&user_id, id])
                    .map_err(db)?;
            }
            Ok(gone as usize)
        })
    }
}
