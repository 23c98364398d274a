//! Chat: rooms (by name), direct messages (between two users) and group channels, over
//! the realtime socket; messages are stored when the sender joined with `persistence`,
//! and `GET /v2/channel/{id}` pages through the history.
//!
//! A channel is a tracker stream; its id is Nakama's `mode.subject.subcontext.label`
//! (`2...lobby` for a room, `4.<user>.<user>.` for a direct chat, `3.<group>..` for a
//! group).

use serde_json::{json, Value};

use std::sync::Arc;

use crate::error::{check_limit, ApiError};
use crate::groups::Groups;
use crate::notifications::{self, Notifications, Outgoing};
use crate::presence::router::{channel_id, ChannelTarget};
use crate::presence::tracker::{Presence, PresenceMeta, Stream, StreamMode};
use crate::presence::Notifier;
use crate::protobuf::api;
use crate::protobuf::realtime::{self, envelope::Message};
use crate::socket::{Answer, Failure, SocketSession};
use crate::store::{AccountStore, ChannelMessage, MessageStore, StoreError, UserKey};

/// The chat service: channels (who is in them, through the notifier), their history in
/// the message store, and the group membership that opens group channels.
pub struct Chat {
    pub(crate) accounts: Arc<dyn AccountStore + Send + Sync>,
    pub(crate) messages: Arc<dyn MessageStore + Send + Sync>,
    pub(crate) groups: Arc<Groups>,
    pub(crate) notifications: Arc<Notifications>,
    pub(crate) notifier: Arc<Notifier>,
    pub(crate) clock: fn() -> i64,
}

crate::opaque_debug!(Chat);

/// Longest message content, bytes.
pub const MAX_CONTENT: usize = 4096;
/// Longest room name, characters.
pub const MAX_ROOM_NAME: usize = 64;

/// Message codes on the wire: a message, its update, its removal.
pub mod code {
    pub const CHAT: i32 = 0;
    pub const UPDATE: i32 = 1;
    pub const REMOVE: i32 = 2;
}

/// The stream of a chat of `kind` (1 room, 2 direct, 3 group) between `sender_id` and
/// `target` (a room name, the other user, the group), the names as given.
fn chat_stream(kind: i32, sender_id: &str, target: &str) -> Option<Stream> {
    Some(match kind {
        1 => Stream {
            mode: StreamMode::ChannelRoom,
            subject: String::new(),
            subcontext: String::new(),
            label: target.into(),
        },
        2 => {
            let (a, b) = if sender_id < target { (sender_id, target) } else { (target, sender_id) };
            Stream { mode: StreamMode::ChannelDirect, subject: a.into(), subcontext: b.into(), label: String::new() }
        }
        3 => Stream::new(StreamMode::ChannelGroup, target),
        _ => return None,
    })
}

/// The channel id of a chat of `kind` (1 room, 2 direct with `target`, 3 group) as
/// `sender_id` would join it (Nakama's `channel_id_build`).
pub fn build_channel_id(sender_id: &str, target: &str, kind: i32) -> Result<String, ApiError> {
    let bad = || ApiError::invalid("Invalid channel type or target.");
    if kind == 1 && !valid_room(target) {
        return Err(bad());
    }
    let id = channel_id(&chat_stream(kind, sender_id, target).ok_or_else(bad)?);
    stream_of(&id)?;
    Ok(id)
}

/// The stream of a channel id sent by a client.
pub fn stream_of(id: &str) -> Result<Stream, ApiError> {
    let bad = || ApiError::invalid("Invalid channel ID.");
    let mut parts = id.splitn(4, '.');
    let (mode, subject, subcontext, label) = (
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
    );
    let uuid = |s: &str| uuid::Uuid::parse_str(s).map(|u| u.to_string()).map_err(|_| bad());
    let stream = match mode {
        "2" if subject.is_empty() && subcontext.is_empty() && valid_room(label) => Stream {
            mode: StreamMode::ChannelRoom,
            subject: String::new(),
            subcontext: String::new(),
            label: label.into(),
        },
        "3" if subcontext.is_empty() && label.is_empty() => Stream::new(StreamMode::ChannelGroup, uuid(subject)?),
        "4" if label.is_empty() => {
            let (a, b) = (uuid(subject)?, uuid(subcontext)?);
            if a >= b {
                return Err(bad());
            }
            Stream { mode: StreamMode::ChannelDirect, subject: a, subcontext: b, label: String::new() }
        }
        _ => return Err(bad()),
    };
    Ok(stream)
}

fn valid_room(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= MAX_ROOM_NAME && !name.chars().any(char::is_control)
}

/// Refused group channel joins and sends, in Nakama's words.
fn not_group_member() -> ApiError {
    ApiError::invalid("Group not found or you are not a member.")
}

/// A message as the API shows it (`ApiChannelMessage`; content as a JSON string).
pub fn message_proto(stream: &Stream, m: &ChannelMessage, persistent: bool) -> api::ChannelMessage {
    let time = |seconds| Some(pbjson_types::Timestamp { seconds, nanos: 0 });
    let t = ChannelTarget::of(stream);
    api::ChannelMessage {
        channel_id: m.channel_id.clone(),
        message_id: m.id.clone(),
        code: Some(pbjson_types::Int32Value { value: m.code }),
        sender_id: m.sender_id.clone(),
        username: m.username.clone(),
        content: m.content.clone(),
        create_time: time(m.create_time),
        update_time: time(m.update_time),
        persistent: Some(pbjson_types::BoolValue { value: persistent }),
        room_name: t.room_name,
        group_id: t.group_id,
        user_id_one: t.user_id_one,
        user_id_two: t.user_id_two,
    }
}

fn ack(stream: &Stream, m: &ChannelMessage, persistent: bool) -> Message {
    // The message without its sender and content.
    let c = message_proto(stream, m, persistent);
    Message::ChannelMessageAck(realtime::ChannelMessageAck {
        channel_id: c.channel_id,
        message_id: c.message_id,
        code: c.code,
        username: c.username,
        create_time: c.create_time,
        update_time: c.update_time,
        persistent: c.persistent,
        room_name: c.room_name,
        group_id: c.group_id,
        user_id_one: c.user_id_one,
        user_id_two: c.user_id_two,
    })
}

/// Most messages one page of history may hold.
pub const MAX_HISTORY_PAGE: usize = 100;

/// A page of a channel's history, and the cursors around it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    pub messages: Vec<api::ChannelMessage>,
    pub next_cursor: Option<String>,
    pub prev_cursor: Option<String>,
    /// Where to read from later for messages newer than these.
    pub cacheable_cursor: Option<String>,
}

/// A channel joined.
#[derive(Debug)]
pub struct Joined {
    pub stream: Stream,
    /// The session was not in the channel before.
    pub new: bool,
    /// The presence event of a new visible join, for the joiner after its answer (the
    /// other members have had theirs).
    pub own_event: Option<Message>,
}

/// The content a client sent: a JSON object within the size limit.
fn content(text: &str) -> Result<String, ApiError> {
    if text.len() > MAX_CONTENT {
        return Err(ApiError::invalid(format!("Message content is larger than {MAX_CONTENT} bytes.")));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) if v.is_object() => Ok(text.to_string()),
        _ => Err(ApiError::invalid("Message content must be a JSON object.")),
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::invalid("Message not found."),
        StoreError::PermissionDenied => ApiError::invalid("Only the sender may change a message."),
        other => other.into(),
    }
}

fn encode_cursor(forward: bool, seq: Option<i64>) -> String {
    use base64::Engine;
    let text = format!("{}{}", if forward { 'f' } else { 'b' }, seq.unwrap_or(0));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(cursor: &str) -> Result<(bool, Option<i64>), ApiError> {
    use base64::Engine;
    let bad = || ApiError::invalid("Invalid cursor.");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = std::str::from_utf8(&raw).map_err(|_| bad())?;
    let forward = match text.chars().next() {
        Some('f') => true,
        Some('b') => false,
        _ => return Err(bad()),
    };
    let seq: i64 = text[1..].parse().map_err(|_| bad())?;
    Ok((forward, Some(seq)))
}

impl Chat {
    /// Whether `user_id` may read the channel's history, join it and send to it: rooms are
    /// open, direct chats take their two users, groups their members (not join requests).
    fn may_join(&self, stream: &Stream, user_id: &str) -> Result<bool, ApiError> {
        Ok(match stream.mode {
            StreamMode::ChannelDirect => stream.subject == user_id || stream.subcontext == user_id,
            StreamMode::ChannelGroup => self.groups.is_member(&stream.subject, user_id)?,
            _ => true,
        })
    }

    /// Joins `session` to a channel: a room by name (1), a direct chat with a user (2), or a
    /// group (3).
    pub fn join(
        &self,
        session: &SocketSession,
        target: &str,
        kind: i32,
        persistence: bool,
        hidden: bool,
    ) -> Result<Joined, ApiError> {
        // The target checked and as the stream names it.
        let target = match kind {
            1 if valid_room(target) => target.to_string(),
            1 => return Err(ApiError::invalid(format!("Room names are 1 to {MAX_ROOM_NAME} printable characters."))),
            2 => {
                let other =
                    uuid::Uuid::parse_str(target).map_err(|_| ApiError::invalid("Invalid user ID."))?.to_string();
                if other == session.user_id {
                    return Err(ApiError::invalid("A direct chat needs another user."));
                }
                if self.accounts.user(UserKey::Id(&other))?.is_none() {
                    return Err(ApiError::invalid("User not found."));
                }
                other
            }
            3 => {
                let group =
                    uuid::Uuid::parse_str(target).map_err(|_| ApiError::invalid("Invalid group ID."))?.to_string();
                if !self.may_join(&Stream::new(StreamMode::ChannelGroup, group.as_str()), &session.user_id)? {
                    return Err(not_group_member());
                }
                group
            }
            _ => return Err(ApiError::invalid("Channel type must be 1 (room), 2 (direct) or 3 (group).")),
        };
        let stream =
            chat_stream(kind, &session.user_id, &target).ok_or_else(|| ApiError::invalid("Invalid channel."))?;
        let me = Presence {
            session: session.id,
            user_id: session.user_id.clone(),
            username: session.username.clone(),
            meta: PresenceMeta { hidden, persistence, ..PresenceMeta::default() },
        };
        let new = self.notifier.tracker().track(&stream, me.clone());
        let own_event = if new { self.notifier.announce_join(&stream, &me) } else { None };
        if stream.mode == StreamMode::ChannelDirect {
            let other = if stream.subject == session.user_id { &stream.subcontext } else { &stream.subject };
            if !self.notifier.tracker().list(&stream).iter().any(|p| &p.user_id == other) {
                self.notifications.send(Outgoing {
                    user_id: other.clone(),
                    subject: format!("{} wants to chat", session.username),
                    content: json!({"channel_id": channel_id(&stream), "username": session.username}),
                    code: notifications::code::DM_REQUEST,
                    sender_id: Some(session.user_id.clone()),
                    persistent: true,
                })?;
            }
        }
        Ok(Joined { stream, new, own_event })
    }

    fn member(&self, session: &SocketSession, id: &str) -> Result<(Stream, Presence), ApiError> {
        let stream = stream_of(id)?;
        let me = self
            .notifier
            .tracker()
            .get(&stream, session.id)
            .ok_or_else(|| ApiError::invalid("Not a member of this channel."))?;
        // Someone kicked from a group after joining its channel may no longer write to it.
        if stream.mode == StreamMode::ChannelGroup && !self.may_join(&stream, &session.user_id)? {
            return Err(not_group_member());
        }
        Ok((stream, me))
    }

    /// `channel_*` messages from the socket.
    pub(crate) fn socket(&self, session: &SocketSession, message: Message) -> Result<Answer, Failure> {
        match message {
            Message::ChannelJoin(m) => {
                let (persistence, hidden) = (m.persistence.is_some_and(|v| v.value), m.hidden.is_some_and(|v| v.value));
                let Joined { stream, new, own_event } = self.join(session, &m.target, m.r#type, persistence, hidden)?;
                let all = self.notifier.tracker().list(&stream);
                // As Nakama: a new joiner is left out of the list, one already in finds itself.
                let listed = |p: &&Presence| !(p.meta.hidden || new && p.session == session.id);
                let t = ChannelTarget::of(&stream);
                let channel = realtime::Channel {
                    id: channel_id(&stream),
                    presences: all.iter().filter(listed).map(Presence::to_proto).collect(),
                    self_: all.iter().find(|p| p.session == session.id).map(Presence::to_proto),
                    room_name: t.room_name,
                    group_id: t.group_id,
                    user_id_one: t.user_id_one,
                    user_id_two: t.user_id_two,
                };
                Ok(Answer::ReplyThen(Message::Channel(channel), own_event.map(Box::new)))
            }
            Message::ChannelLeave(m) => {
                let stream = stream_of(&m.channel_id)?;
                if let Some(gone) = self.notifier.tracker().untrack(&stream, session.id) {
                    self.notifier.announce(&stream, &[], &[gone], Some(session.id));
                }
                Ok(Answer::Ack)
            }
            Message::ChannelMessageSend(m) => {
                let (stream, me) = self.member(session, &m.channel_id)?;
                let persistent = me.meta.persistence;
                let msg = self.post(&stream, &session.user_id, &session.username, &m.content, persistent)?;
                Ok(Answer::Reply(ack(&stream, &msg, persistent)))
            }
            Message::ChannelMessageUpdate(m) => {
                let (stream, _) = self.member(session, &m.channel_id)?;
                let text = content(&m.content)?;
                let now = (self.clock)();
                let mut msg = self
                    .messages
                    .update_message(&m.channel_id, &m.message_id, &session.user_id, &text, now)
                    .map_err(store_error)?;
                msg.code = code::UPDATE;
                Ok(self.changed(&stream, msg))
            }
            Message::ChannelMessageRemove(m) => {
                let (stream, _) = self.member(session, &m.channel_id)?;
                let store = &self.messages;
                let mut msg =
                    store.remove_message(&m.channel_id, &m.message_id, Some(&session.user_id)).map_err(store_error)?;
                msg.code = code::REMOVE;
                msg.content = "{}".into();
                Ok(self.changed(&stream, msg))
            }
            _ => Err(Failure::unrecognized()),
        }
    }

    /// A message to the channel on `stream` from `sender_id` (empty: the server): its
    /// content checked, kept if `persistent`, and sent to the channel's members.
    fn post(
        &self,
        stream: &Stream,
        sender_id: &str,
        username: &str,
        text: &str,
        persistent: bool,
    ) -> Result<ChannelMessage, ApiError> {
        let now = (self.clock)();
        let mut msg = ChannelMessage {
            seq: 0,
            id: uuid::Uuid::new_v4().to_string(),
            channel_id: channel_id(stream),
            code: code::CHAT,
            sender_id: sender_id.to_string(),
            username: username.to_string(),
            content: content(text)?,
            create_time: now,
            update_time: now,
        };
        if persistent {
            msg = self.messages.add_message(&msg).map_err(ApiError::from)?;
        }
        self.notifier.to_stream(stream, Message::ChannelMessage(message_proto(stream, &msg, persistent)), None);
        Ok(msg)
    }

    /// Server code's message to channel `id` (Nakama's `channel_message_send`), from
    /// `sender_id` (None: the server) under `username`, whoever is in the channel.
    pub fn send_as_server(
        &self,
        id: &str,
        text: &str,
        sender_id: Option<&str>,
        username: &str,
        persistent: bool,
    ) -> Result<ChannelMessage, ApiError> {
        let stream = stream_of(id)?;
        self.post(&stream, sender_id.unwrap_or_default(), username, text, persistent)
    }

    /// Removes message `id` of channel `channel` whoever sent it (an operator's removal),
    /// announced to the channel as the sender's own removal is.
    pub fn remove_as_server(&self, channel: &str, id: &str) -> Result<(), ApiError> {
        let stream = stream_of(channel)?;
        let mut msg = self.messages.remove_message(channel, id, None).map_err(ApiError::from)?;
        msg.code = code::REMOVE;
        msg.content = "{}".into();
        self.changed(&stream, msg);
        Ok(())
    }

    /// An edited or removed message, announced to the channel; the sender's answer.
    fn changed(&self, stream: &Stream, mut msg: ChannelMessage) -> Answer {
        msg.channel_id = channel_id(stream);
        self.notifier.to_stream(stream, Message::ChannelMessage(message_proto(stream, &msg, true)), None);
        Answer::Reply(ack(stream, &msg, true))
    }

    /// The channels someone is in now, with how many: rooms, groups' and direct ones.
    pub fn active_channels(&self) -> Vec<(String, usize)> {
        let modes = [StreamMode::ChannelRoom, StreamMode::ChannelGroup, StreamMode::ChannelDirect];
        let tracker = self.notifier.tracker();
        modes.into_iter().flat_map(|m| tracker.streams(m)).map(|(s, n)| (channel_id(&s), n)).collect()
    }

    /// Channels with stored messages after `after` (a channel id), each with how many.
    pub fn stored_channels(&self, after: &str, limit: usize) -> Result<Vec<(String, u64)>, ApiError> {
        check_limit(limit, MAX_HISTORY_PAGE)?;
        Ok(self.messages.channels(after, limit)?)
    }

    /// A page of a channel's history for `viewer` (`GET /v2/channel/{id}`), who must be
    /// allowed in the channel; None: for an operator, any channel.
    pub fn history(
        &self,
        viewer: Option<&str>,
        channel: &str,
        limit: usize,
        forward: bool,
        cursor: Option<&str>,
    ) -> Result<HistoryPage, ApiError> {
        check_limit(limit, MAX_HISTORY_PAGE)?;
        let stream = stream_of(channel)?;
        if let Some(user_id) = viewer {
            if !self.may_join(&stream, user_id)? {
                return Err(ApiError::new(crate::Code::PermissionDenied, "Not a member of this channel."));
            }
        }
        let (forward, from) = match cursor {
            Some(c) => decode_cursor(c)?,
            None => (forward, None),
        };
        let mut page = self.messages.list_messages(channel, forward, from, limit + 1)?;
        let more = page.len() > limit;
        page.truncate(limit);
        Ok(HistoryPage {
            messages: page.iter().map(|m| message_proto(&stream, m, true)).collect(),
            next_cursor: page.last().filter(|_| more).map(|last| encode_cursor(forward, Some(last.seq))),
            prev_cursor: page
                .first()
                .filter(|_| cursor.is_some())
                .map(|first| encode_cursor(!forward, Some(first.seq))),
            cacheable_cursor: page.iter().map(|m| m.seq).max().map(|newest| encode_cursor(true, Some(newest))),
        })
    }
}
