//! Notifications: sent from server code (one or a batch), delivered at once to the
//! user's connected sessions (`{"notifications": {"notifications": [...]}}`) and, when
//! persistent, kept for `GET /v2/notification` until deleted.

use std::collections::BTreeMap;

use serde_json::Value;

use std::sync::Arc;

use crate::error::ApiError;
use crate::presence::Notifier;
use crate::store::{MessageStore, Notification};

/// Most notifications one page may hold, or one call delete.
pub const MAX_PAGE: usize = 100;

/// Notification codes Nakama reserves (games use codes above 0).
pub mod code {
    pub const DM_REQUEST: i32 = -1;
    pub const FRIEND_REQUEST: i32 = -2;
    pub const FRIEND_ACCEPT: i32 = -3;
    pub const GROUP_ADD: i32 = -4;
    pub const GROUP_JOIN_REQUEST: i32 = -5;
    pub const FRIEND_JOIN_GAME: i32 = -6;
}

/// A notification to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub user_id: String,
    pub subject: String,
    /// A JSON object.
    pub content: Value,
    pub code: i32,
    /// The sending user, or None for the server.
    pub sender_id: Option<String>,
    /// Kept until the user deletes it (otherwise only online sessions get it).
    pub persistent: bool,
}

/// The API's `ApiNotification` (content as a JSON string).
pub fn notification_proto(n: &Notification, persistent: bool) -> crate::protobuf::api::Notification {
    crate::protobuf::api::Notification {
        id: n.id.clone(),
        subject: n.subject.clone(),
        content: n.content.clone(),
        code: n.code,
        sender_id: n.sender_id.clone(),
        create_time: Some(pbjson_types::Timestamp { seconds: n.create_time, nanos: 0 }),
        persistent,
    }
}

/// The same, as the REST API writes it.
pub fn notification_json(n: &Notification, persistent: bool) -> Value {
    crate::protobuf::message_value(&notification_proto(n, persistent))
}

/// The notifications service: it owns where notifications are kept and how they reach
/// a user's sessions.
pub struct Notifications {
    pub(crate) store: Arc<dyn MessageStore + Send + Sync>,
    pub(crate) notifier: Arc<Notifier>,
    pub(crate) clock: fn() -> i64,
}

crate::opaque_debug!(Notifications);

impl Notifications {
    /// Sends one notification.
    pub fn send(&self, n: Outgoing) -> Result<(), ApiError> {
        self.send_all(vec![n])
    }

    /// Sends notifications: the persistent ones are stored (all or none), then every one
    /// goes to its user's connected sessions, one envelope per user.
    pub fn send_all(&self, list: Vec<Outgoing>) -> Result<(), ApiError> {
        let now = (self.clock)();
        let mut made = Vec::with_capacity(list.len());
        for n in list {
            if !n.content.is_object() {
                return Err(ApiError::invalid("Notification content must be a JSON object."));
            }
            if n.code == 0 {
                return Err(ApiError::invalid("Notification code 0 is reserved."));
            }
            if uuid::Uuid::parse_str(&n.user_id).is_err() {
                return Err(ApiError::invalid(format!("Invalid user ID {:?}.", n.user_id)));
            }
            let stored = Notification {
                seq: 0,
                id: uuid::Uuid::new_v4().to_string(),
                user_id: n.user_id,
                subject: n.subject,
                content: n.content.to_string(),
                code: n.code,
                sender_id: n.sender_id.unwrap_or_default(),
                create_time: now,
            };
            made.push((stored, n.persistent));
        }
        let persistent: Vec<Notification> = made.iter().filter(|(_, p)| *p).map(|(n, _)| n.clone()).collect();
        if !persistent.is_empty() {
            self.store.add_notifications(&persistent)?;
        }
        let mut by_user: BTreeMap<&str, Vec<crate::protobuf::api::Notification>> = BTreeMap::new();
        for (n, p) in &made {
            by_user.entry(n.user_id.as_str()).or_default().push(notification_proto(n, *p));
        }
        for (user, notifications) in by_user {
            let message = crate::protobuf::realtime::Notifications { notifications };
            self.notifier.to_user(user, crate::protobuf::realtime::envelope::Message::Notifications(message));
        }
        Ok(())
    }

    /// Sends notifications for a change already committed: a failure here is logged,
    /// not reported, since the change itself stands.
    pub(crate) fn send_after(&self, list: Vec<Outgoing>) {
        if list.is_empty() {
            return;
        }
        if let Err(e) = self.send_all(list) {
            tracing::warn!(error = %e, "notifications for a committed change were not sent");
        }
    }

    /// `user_id`'s stored notifications after `after` (a sequence number), oldest first.
    pub fn list(&self, user_id: &str, after: Option<i64>, limit: usize) -> Result<Vec<Notification>, ApiError> {
        crate::error::check_limit(limit, MAX_PAGE)?;
        Ok(self.store.list_notifications(user_id, after, limit)?)
    }

    /// Deletes `user_id`'s notifications with these ids (others' are left alone).
    pub fn delete(&self, user_id: &str, ids: &[String]) -> Result<(), ApiError> {
        if ids.len() > MAX_PAGE {
            return Err(ApiError::invalid(format!("At most {MAX_PAGE} notifications may be deleted at once.")));
        }
        self.store.delete_notifications(user_id, ids)?;
        Ok(())
    }
}
