//! The message router ([`Notifier`]): envelopes to sessions, to a user's sessions and to
//! everyone on a stream, each serialized once and shared. Presence events in the shape
//! each stream's kind has on the wire.

use std::sync::Arc;

use super::tracker::{Presence, Stream, StreamMode, Tracker};
use super::{SessionId, SessionRegistry};
use crate::protobuf::realtime::{self, envelope::Message};

/// Delivery to sessions, users and streams: what the services use of the sessions and
/// the tracker, below them and knowing nothing of them.
#[derive(Debug, Default)]
pub struct Notifier {
    sessions: SessionRegistry,
    tracker: Tracker,
}

impl Notifier {
    /// Every connected session.
    pub fn sessions(&self) -> &SessionRegistry {
        &self.sessions
    }

    /// Who is present on which stream.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// Sends `envelope` (a typed message, or a frame already made) to each of `sessions`.
    pub fn to_sessions(&self, sessions: impl IntoIterator<Item = SessionId>, envelope: impl Into<super::Frame>) {
        let sessions: Vec<SessionId> = sessions.into_iter().collect();
        if !sessions.is_empty() {
            self.deliver(&sessions, envelope.into());
        }
    }

    /// Sends `frame` to each of `sessions`: one frame shared by all, encoded at most once
    /// per wire format, queued for each transport thread under one lock.
    pub fn deliver(&self, sessions: &[SessionId], frame: super::Frame) {
        if !sessions.is_empty() {
            self.sessions.send_many(sessions, &Arc::new(frame));
        }
    }

    /// Sends `envelope` to every session of `user_id`; false if the user has none.
    pub fn to_user(&self, user_id: &str, envelope: impl Into<super::Frame>) -> bool {
        let sessions = self.sessions.sessions_of(user_id);
        let online = !sessions.is_empty();
        self.to_sessions(sessions, envelope);
        online
    }

    /// Sends `envelope` to everyone on `stream` but `except`.
    pub fn to_stream(&self, stream: &Stream, envelope: impl Into<super::Frame>, except: Option<SessionId>) {
        let sessions = self.tracker.sessions(stream);
        self.to_sessions(sessions.into_iter().filter(|s| Some(*s) != except), envelope);
    }

    /// `who` joined `stream`: the others hear it now; the joiner's own copy of the event is
    /// returned, to send after its answer (Nakama tells the joiner too).
    pub fn announce_join(&self, stream: &Stream, who: &Presence) -> Option<Message> {
        let event = presence_event(stream, std::slice::from_ref(who), &[])?;
        self.to_stream(stream, event.clone(), Some(who.session));
        Some(event)
    }

    /// Tells the members of `stream` (but `except`, the session that changed) who joined
    /// and who left.
    pub fn announce(&self, stream: &Stream, joins: &[Presence], leaves: &[Presence], except: Option<SessionId>) {
        if let Some(event) = presence_event(stream, joins, leaves) {
            self.to_stream(stream, event, except);
        }
    }
}

/// The id clients use for a chat stream: `mode.subject.subcontext.label`, as Nakama
/// writes it.
pub fn channel_id(stream: &Stream) -> String {
    format!("{}.{}.{}.{}", stream.mode.code(), stream.subject, stream.subcontext, stream.label)
}

/// The id clients use for a match: `<uuid>.` relayed, `<uuid>.<node>` authoritative.
pub fn match_id(stream: &Stream) -> String {
    format!("{}.{}", stream.subject, stream.label)
}

/// The fields that say which chat a channel message or event belongs to: its room name,
/// group id, and the two users of a direct chat (those that do not apply are empty).
#[derive(Debug, Default)]
pub struct ChannelTarget {
    pub room_name: String,
    pub group_id: String,
    pub user_id_one: String,
    pub user_id_two: String,
}

impl ChannelTarget {
    /// The target of the chat on `stream`.
    pub fn of(stream: &Stream) -> ChannelTarget {
        let mut t = ChannelTarget::default();
        match stream.mode {
            StreamMode::ChannelRoom => t.room_name.clone_from(&stream.label),
            StreamMode::ChannelGroup => t.group_id.clone_from(&stream.subject),
            StreamMode::ChannelDirect => {
                t.user_id_one.clone_from(&stream.subject);
                t.user_id_two.clone_from(&stream.subcontext);
            }
            _ => {}
        }
        t
    }
}

/// The presence event for `stream` as its members receive it, or None where the stream
/// has none (notifications).
pub fn presence_event(stream: &Stream, joins: &[Presence], leaves: &[Presence]) -> Option<Message> {
    let list = |ps: &[Presence]| ps.iter().filter(|p| !p.meta.hidden).map(Presence::to_proto).collect::<Vec<_>>();
    let (joins, leaves) = (list(joins), list(leaves));
    if joins.is_empty() && leaves.is_empty() {
        return None;
    }
    Some(match stream.mode {
        StreamMode::Notifications => return None,
        StreamMode::Status => Message::StatusPresenceEvent(realtime::StatusPresenceEvent { joins, leaves }),
        StreamMode::ChannelRoom | StreamMode::ChannelGroup | StreamMode::ChannelDirect => {
            let t = ChannelTarget::of(stream);
            Message::ChannelPresenceEvent(realtime::ChannelPresenceEvent {
                channel_id: channel_id(stream),
                joins,
                leaves,
                room_name: t.room_name,
                group_id: t.group_id,
                user_id_one: t.user_id_one,
                user_id_two: t.user_id_two,
            })
        }
        StreamMode::MatchRelayed | StreamMode::MatchAuthoritative => {
            Message::MatchPresenceEvent(realtime::MatchPresenceEvent { match_id: match_id(stream), joins, leaves })
        }
        StreamMode::Party => {
            Message::PartyPresenceEvent(realtime::PartyPresenceEvent { party_id: match_id(stream), joins, leaves })
        }
        StreamMode::Custom(_) => Message::StreamPresenceEvent(realtime::StreamPresenceEvent {
            stream: Some(stream_proto(stream)),
            joins,
            leaves,
        }),
    })
}

/// The stream as Nakama's `Stream` message names it.
pub fn stream_proto(stream: &Stream) -> realtime::Stream {
    realtime::Stream {
        mode: i32::from(stream.mode.code()),
        subject: stream.subject.clone(),
        subcontext: stream.subcontext.clone(),
        label: stream.label.clone(),
    }
}
