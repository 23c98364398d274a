//! Streams of server code's own (Nakama's `stream_*` functions): server code puts a
//! connected session on a stream of a custom mode (8 to 255), sends data to its members
//! (`stream_data`, which clients hear as `onstreamdata`), lists and counts them, and
//! closes it. Members hear of each other's joins and leaves (`stream_presence_event`);
//! a session that goes leaves its streams as it leaves any other.

use crate::error::{ApiError, Code};
use crate::presence::router::stream_proto;
use crate::presence::tracker::{Presence, PresenceMeta, Stream, StreamMode};
use crate::presence::SessionId;
use crate::protobuf::realtime::{self, envelope::Message};
use crate::KaosNet;

/// Longest subject, subcontext or label, bytes.
pub const MAX_NAME: usize = 256;
/// Longest data one send carries, bytes.
pub const MAX_DATA: usize = 64 * 1024;

/// A custom stream by Nakama's four fields; built-in modes are refused (their own
/// services own them).
pub fn custom_stream(mode: i64, subject: &str, subcontext: &str, label: &str) -> Result<Stream, ApiError> {
    let mode = u8::try_from(mode)
        .ok()
        .and_then(StreamMode::custom)
        .ok_or_else(|| ApiError::invalid("Stream mode must be a custom mode, 8 to 255."))?;
    if [subject, subcontext, label].iter().any(|s| s.len() > MAX_NAME) {
        return Err(ApiError::invalid(format!("Stream names are at most {MAX_NAME} bytes.")));
    }
    Ok(Stream { mode, subject: subject.into(), subcontext: subcontext.into(), label: label.into() })
}

/// The streams service (borrowed from [`KaosNet::streams`]).
#[derive(Debug)]
pub struct Streams<'a> {
    pub(crate) kaos: &'a KaosNet,
}

impl Streams<'_> {
    /// The connected session `session_id` of `user_id`.
    fn session(&self, user_id: &str, session_id: &str) -> Result<SessionId, ApiError> {
        let id = SessionId::parse(session_id).ok_or_else(|| ApiError::invalid("Invalid session ID."))?;
        if !self.kaos.sessions().sessions_of(user_id).contains(&id) {
            return Err(ApiError::new(Code::NotFound, "Session not found for that user."));
        }
        Ok(id)
    }

    /// Puts `user_id`'s session on `stream`; false if it was there already (its
    /// metadata is left as it was). The stream's members, the joiner too, hear of it.
    pub fn join(&self, user_id: &str, session_id: &str, stream: &Stream, meta: PresenceMeta) -> Result<bool, ApiError> {
        let session = self.session(user_id, session_id)?;
        let username = self.kaos.accounts().account(user_id)?.username;
        let presence = Presence { session, user_id: user_id.into(), username, meta };
        if !self.kaos.tracker().track(stream, presence.clone()) {
            return Ok(false);
        }
        self.kaos.notifier().announce(stream, std::slice::from_ref(&presence), &[], None);
        Ok(true)
    }

    /// Takes `user_id`'s session off `stream`; the members left hear of it.
    pub fn leave(&self, user_id: &str, session_id: &str, stream: &Stream) -> Result<(), ApiError> {
        let session = self.session(user_id, session_id)?;
        if let Some(gone) = self.kaos.tracker().untrack(stream, session) {
            self.kaos.notifier().announce(stream, &[], std::slice::from_ref(&gone), None);
        }
        Ok(())
    }

    /// Sends `data` to the members of `stream` (those of `to` only, when given).
    pub fn send(&self, stream: &Stream, data: &str, to: Option<&[SessionId]>, reliable: bool) -> Result<(), ApiError> {
        if data.len() > MAX_DATA {
            return Err(ApiError::invalid(format!("Stream data is at most {MAX_DATA} bytes.")));
        }
        let message = Message::StreamData(realtime::StreamData {
            stream: Some(stream_proto(stream)),
            sender: None,
            data: data.to_string(),
            reliable,
        });
        let members = self.kaos.tracker().sessions(stream);
        let targets = members.into_iter().filter(|s| to.is_none_or(|to| to.contains(s)));
        self.kaos.notifier().to_sessions(targets, message);
        Ok(())
    }

    /// The presences on `stream`: the hidden ones, the others, or both.
    pub fn list(&self, stream: &Stream, hidden: bool, visible: bool) -> Vec<Presence> {
        let mut all = self.kaos.tracker().list(stream);
        all.retain(|p| if p.meta.hidden { hidden } else { visible });
        all
    }

    /// How many sessions are on `stream`.
    pub fn count(&self, stream: &Stream) -> usize {
        self.kaos.tracker().count(stream)
    }

    /// Takes every session off `stream` (no events: the stream is gone).
    pub fn close(&self, stream: &Stream) {
        for session in self.kaos.tracker().sessions(stream) {
            self.kaos.tracker().untrack(stream, session);
        }
    }
}
