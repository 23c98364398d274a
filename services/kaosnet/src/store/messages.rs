//! What the realtime services persist: chat messages (channel history) and
//! notifications. Both are ordered by a sequence number the store assigns, which is also
//! what their cursors carry.

use super::StoreError;

/// A stored chat message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelMessage {
    /// Assigned by the store: the order of the channel's history.
    pub seq: i64,
    pub id: String,
    pub channel_id: String,
    pub code: i32,
    pub sender_id: String,
    pub username: String,
    /// A JSON object, as text.
    pub content: String,
    pub create_time: i64,
    pub update_time: i64,
}

/// A stored notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notification {
    /// Assigned by the store: the order of the user's list.
    pub seq: i64,
    pub id: String,
    pub user_id: String,
    pub subject: String,
    /// A JSON object, as text.
    pub content: String,
    pub code: i32,
    /// Empty when the server sent it.
    pub sender_id: String,
    pub create_time: i64,
}

/// Chat history and notifications.
pub trait MessageStore {
    /// Stores a message; returns it with its sequence number.
    fn add_message(&self, message: &ChannelMessage) -> Result<ChannelMessage, StoreError>;
    /// Replaces the content of message `id` in `channel_id`: `NotFound` if there is none,
    /// `PermissionDenied` if `sender_id` did not send it. Returns the message as it is now.
    fn update_message(
        &self,
        channel_id: &str,
        id: &str,
        sender_id: &str,
        content: &str,
        now: i64,
    ) -> Result<ChannelMessage, StoreError>;
    /// Deletes message `id` of `channel_id` (same errors as an update; `sender_id` None:
    /// whoever sent it, for operators); returns it.
    fn remove_message(&self, channel_id: &str, id: &str, sender_id: Option<&str>)
        -> Result<ChannelMessage, StoreError>;
    /// Up to `limit` messages of `channel_id`: oldest first after sequence `from`
    /// (`forward`), or newest first before it.
    fn list_messages(
        &self,
        channel_id: &str,
        forward: bool,
        from: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ChannelMessage>, StoreError>;

    /// Channels with stored messages after `after`, in byte order, each with how many.
    fn channels(&self, after: &str, limit: usize) -> Result<Vec<(String, u64)>, StoreError>;

    /// Stores notifications; returns them with their sequence numbers, in order.
    fn add_notifications(&self, notifications: &[Notification]) -> Result<Vec<Notification>, StoreError>;
    /// Up to `limit` of `user_id`'s notifications, oldest first, after sequence `after`.
    fn list_notifications(
        &self,
        user_id: &str,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError>;
    /// Deletes those of `ids` that belong to `user_id`; how many went.
    fn delete_notifications(&self, user_id: &str, ids: &[String]) -> Result<usize, StoreError>;
}

/// The columns the SQL stores read, in their row mappers' order.
pub(crate) const MESSAGE_COLUMNS: &str =
    "seq, id, channel_id, code, sender_id, username, content, create_time, update_time";
pub(crate) const NOTIFICATION_COLUMNS: &str = "seq, id, user_id, subject, content, code, sender_id, create_time";
