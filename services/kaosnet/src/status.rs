//! Status: a user's online presence and status text, and the users a session follows.
//!
//! A session that connects with `status=true` (or sends `status_update`) is present on
//! its user's status stream; a follower's session sits hidden on the streams of the users
//! it follows, so it hears their `status_presence_event`s.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::ApiError;
use crate::presence::tracker::{Presence, PresenceMeta, Stream, StreamMode};
use crate::presence::Notifier;
use crate::protobuf::realtime::{self, envelope::Message};
use crate::socket::{Answer, Failure, SocketSession};
use crate::store::{AccountStore, UserKey};

/// The status service: follows and statuses are presences on users' status streams.
pub struct Status {
    pub(crate) accounts: Arc<dyn AccountStore + Send + Sync>,
    pub(crate) notifier: Arc<Notifier>,
}

crate::opaque_debug!(Status);

/// Most users one session may follow.
pub const MAX_FOLLOWS: usize = 10_000;

fn stream(user_id: &str) -> Stream {
    Stream::new(StreamMode::Status, user_id)
}

fn presence(session: &SocketSession, meta: PresenceMeta) -> Presence {
    Presence { session: session.id, user_id: session.user_id.clone(), username: session.username.clone(), meta }
}

impl Status {
    /// Follows the users named by id or username (the session's own user is skipped); the
    /// presences they have now.
    pub fn follow(
        &self,
        session: &SocketSession,
        user_ids: &[String],
        usernames: &[String],
    ) -> Result<Vec<Presence>, ApiError> {
        let store = &self.accounts;
        let mut targets = BTreeSet::new();
        for id in user_ids {
            if uuid::Uuid::parse_str(id).is_err() || store.user(UserKey::Id(id))?.is_none() {
                return Err(ApiError::invalid(format!("Invalid user ID {id:?}.")));
            }
            targets.insert(id.clone());
        }
        for name in usernames {
            match store.user(UserKey::Username(name))? {
                Some(u) => targets.insert(u.id),
                None => return Err(ApiError::invalid(format!("Unknown username {name:?}."))),
            };
        }
        targets.remove(&session.user_id);
        let following =
            self.notifier.tracker().streams_of(session.id).iter().filter(|s| s.mode == StreamMode::Status).count();
        if following + targets.len() > MAX_FOLLOWS {
            return Err(ApiError::invalid(format!("At most {MAX_FOLLOWS} follows per session.")));
        }
        let mut now = Vec::new();
        for target in targets {
            let s = stream(&target);
            self.notifier
                .tracker()
                .track(&s, presence(session, PresenceMeta { hidden: true, ..PresenceMeta::default() }));
            now.extend(self.notifier.tracker().list(&s).into_iter().filter(|p| !p.meta.hidden));
        }
        Ok(now)
    }

    /// Stops following the users.
    pub fn unfollow(&self, session: &SocketSession, user_ids: &[String]) -> Result<(), ApiError> {
        for id in user_ids {
            if uuid::Uuid::parse_str(id).is_err() {
                return Err(ApiError::invalid(format!("Invalid user ID {id:?}.")));
            }
            if id == &session.user_id {
                continue;
            }
            self.notifier.tracker().untrack(&stream(id), session.id);
        }
        Ok(())
    }

    /// Sets the session's status text (and appears online), or with None appears offline.
    /// Followers hear a presence event either way.
    pub fn update(&self, session: &SocketSession, status: Option<String>) -> Result<(), ApiError> {
        let s = stream(&session.user_id);
        match status {
            None => {
                if let Some(gone) = self.notifier.tracker().untrack(&s, session.id) {
                    self.notifier.announce(&s, &[], &[gone], Some(session.id));
                }
            }
            Some(text) => {
                if text.chars().count() > 2048 {
                    return Err(ApiError::invalid("Status must be at most 2048 characters."));
                }
                let meta = PresenceMeta { status: text, ..PresenceMeta::default() };
                let now = presence(session, meta.clone());
                match self.notifier.tracker().update(&s, session.id, meta) {
                    Some(before) => self.notifier.announce(&s, &[now], &[before], Some(session.id)),
                    None => {
                        self.notifier.tracker().track(&s, now.clone());
                        self.notifier.announce(&s, &[now], &[], Some(session.id));
                    }
                }
            }
        }
        Ok(())
    }

    /// `status_follow`, `status_unfollow` and `status_update` from the socket.
    pub(crate) fn socket(&self, session: &SocketSession, message: Message) -> Result<Answer, Failure> {
        match message {
            Message::StatusFollow(m) => {
                let presences = self.follow(session, &m.user_ids, &m.usernames)?;
                let presences = presences.iter().map(Presence::to_proto).collect();
                Ok(Answer::Reply(Message::Status(realtime::Status { presences })))
            }
            Message::StatusUnfollow(m) => {
                self.unfollow(session, &m.user_ids)?;
                Ok(Answer::Ack)
            }
            Message::StatusUpdate(m) => {
                self.update(session, m.status.map(|v| v.value))?;
                Ok(Answer::Ack)
            }
            _ => Err(Failure::unrecognized()),
        }
    }
}
