//! The presence tracker (Nakama's shape): who is present on which stream. A stream is a
//! chat channel, a match, a party, a user's status or notifications; a presence is one
//! session on one stream, with its metadata. Tracking and untracking return what changed,
//! so the caller can tell the stream's other members (see [`super::router`]).

use std::collections::BTreeMap;

/// Maps keyed by streams (whose names clients choose, as chat rooms): foldhash, seeded per
/// process, several times faster than SipHash on every message's lookup.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::quality::RandomState>;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::SessionId;

/// What a stream is, with Nakama's mode numbers ([`StreamMode::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamMode {
    Notifications,
    Status,
    ChannelRoom,
    ChannelGroup,
    ChannelDirect,
    MatchRelayed,
    MatchAuthoritative,
    Party,
    /// A stream of server code's own (modes 8 to 255): presences and data, nothing more.
    Custom(u8),
}

impl StreamMode {
    /// The first mode server code may use for streams of its own.
    pub const FIRST_CUSTOM: u8 = 8;

    /// Nakama's number for the mode.
    pub fn code(self) -> u8 {
        match self {
            StreamMode::Notifications => 0,
            StreamMode::Status => 1,
            StreamMode::ChannelRoom => 2,
            StreamMode::ChannelGroup => 3,
            StreamMode::ChannelDirect => 4,
            StreamMode::MatchRelayed => 5,
            StreamMode::MatchAuthoritative => 6,
            StreamMode::Party => 7,
            StreamMode::Custom(n) => n,
        }
    }

    /// A custom mode by its number; None for the numbers of the built-in ones.
    pub fn custom(code: u8) -> Option<StreamMode> {
        (code >= Self::FIRST_CUSTOM).then_some(StreamMode::Custom(code))
    }
}

/// A stream: its mode and up to three strings that name it.
#[derive(Debug, Clone, Eq, PartialOrd, Ord)]
pub struct Stream {
    pub mode: StreamMode,
    pub subject: String,
    pub subcontext: String,
    pub label: String,
}

impl Stream {
    /// A stream named by its subject alone.
    pub fn new(mode: StreamMode, subject: impl Into<String>) -> Stream {
        Stream { mode, subject: subject.into(), subcontext: String::new(), label: String::new() }
    }
}

/// Field by field, as derived, but an empty string is compared by its length alone:
/// glibc's `memcmp` (the EVEX version AMD Zen 4 gets) takes 75-140 ns for zero bytes on
/// the machine the benchmarks run on, and most streams have two empty names, compared on
/// every lookup.
impl PartialEq for Stream {
    fn eq(&self, other: &Stream) -> bool {
        fn same(a: &str, b: &str) -> bool {
            a.len() == b.len() && (a.is_empty() || a == b)
        }
        self.mode == other.mode
            && same(&self.subject, &other.subject)
            && same(&self.subcontext, &other.subcontext)
            && same(&self.label, &other.label)
    }
}

impl std::hash::Hash for Stream {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.mode, &self.subject, &self.subcontext, &self.label).hash(state);
    }
}

/// What a presence carries besides who it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresenceMeta {
    /// Not listed to others and no presence events (followers on a status stream, hidden
    /// chat members).
    pub hidden: bool,
    /// Chat: messages this session sends are stored.
    pub persistence: bool,
    /// Status text (status streams).
    pub status: String,
}

/// One session on one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub session: SessionId,
    pub user_id: String,
    pub username: String,
    pub meta: PresenceMeta,
}

impl Presence {
    /// Nakama's `UserPresence` (`status` only where it is set).
    pub fn to_proto(&self) -> crate::protobuf::realtime::UserPresence {
        crate::protobuf::realtime::UserPresence {
            user_id: self.user_id.clone(),
            session_id: self.session.text(),
            username: self.username.clone(),
            persistence: self.meta.persistence,
            status: (!self.meta.status.is_empty())
                .then(|| pbjson_types::StringValue { value: self.meta.status.clone() }),
        }
    }
}

#[derive(Default)]
struct State {
    streams: HashMap<Stream, BTreeMap<SessionId, Presence>>,
    by_session: HashMap<SessionId, HashSet<Stream>>,
}

/// Every presence on every stream.
#[derive(Default)]
pub struct Tracker {
    state: Mutex<State>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker").field("streams", &self.lock().streams.len()).finish()
    }
}

impl Tracker {
    /// Puts `presence` on `stream`; false (and nothing changes) if its session is
    /// already there.
    pub fn track(&self, stream: &Stream, presence: Presence) -> bool {
        let mut s = self.lock();
        let session = presence.session;
        let members = s.streams.entry(stream.clone()).or_default();
        if members.contains_key(&session) {
            return false;
        }
        members.insert(session, presence);
        s.by_session.entry(session).or_default().insert(stream.clone());
        true
    }

    /// Changes the metadata of a presence; the presence as it was, if it exists.
    pub fn update(&self, stream: &Stream, session: SessionId, meta: PresenceMeta) -> Option<Presence> {
        let mut s = self.lock();
        let p = s.streams.get_mut(stream)?.get_mut(&session)?;
        Some(std::mem::replace(&mut p.meta, meta)).map(|old| Presence { meta: old, ..p.clone() })
    }

    /// Takes `session` off `stream`; the presence that left.
    pub fn untrack(&self, stream: &Stream, session: SessionId) -> Option<Presence> {
        let mut s = self.lock();
        let members = s.streams.get_mut(stream)?;
        let gone = members.remove(&session)?;
        if members.is_empty() {
            s.streams.remove(stream);
        }
        if let Some(set) = s.by_session.get_mut(&session) {
            set.remove(stream);
            if set.is_empty() {
                s.by_session.remove(&session);
            }
        }
        Some(gone)
    }

    /// Takes `session` off every stream; what left, stream by stream.
    pub fn untrack_all(&self, session: SessionId) -> Vec<(Stream, Presence)> {
        let mut s = self.lock();
        let Some(streams) = s.by_session.remove(&session) else { return Vec::new() };
        let mut gone = Vec::with_capacity(streams.len());
        for stream in streams {
            if let Some(members) = s.streams.get_mut(&stream) {
                if let Some(p) = members.remove(&session) {
                    if members.is_empty() {
                        s.streams.remove(&stream);
                    }
                    gone.push((stream, p));
                }
            }
        }
        gone
    }

    /// The presences on `stream`, in session order.
    pub fn list(&self, stream: &Stream) -> Vec<Presence> {
        self.lock().streams.get(stream).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// The sessions on `stream`.
    pub fn sessions(&self, stream: &Stream) -> Vec<SessionId> {
        self.lock().streams.get(stream).map(|m| m.keys().copied().collect()).unwrap_or_default()
    }

    /// The sessions on `stream` but `session`; None when `session` is not on it. One
    /// lookup for a member's message to the others.
    pub fn others(&self, stream: &Stream, session: SessionId) -> Option<Vec<SessionId>> {
        let s = self.lock();
        let members = s.streams.get(stream).filter(|m| m.contains_key(&session))?;
        let mut others = Vec::with_capacity(members.len() - 1);
        others.extend(members.keys().copied().filter(|s| *s != session));
        Some(others)
    }

    /// How many presences `stream` has.
    pub fn count(&self, stream: &Stream) -> usize {
        self.lock().streams.get(stream).map_or(0, BTreeMap::len)
    }

    /// `session`'s presence on `stream`.
    pub fn get(&self, stream: &Stream, session: SessionId) -> Option<Presence> {
        self.lock().streams.get(stream)?.get(&session).cloned()
    }

    /// The streams `session` is on.
    pub fn streams_of(&self, session: SessionId) -> Vec<Stream> {
        self.lock().by_session.get(&session).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Every stream of `mode`, with how many presences it has.
    pub fn streams(&self, mode: StreamMode) -> Vec<(Stream, usize)> {
        self.lock().streams.iter().filter(|(s, _)| s.mode == mode).map(|(s, m)| (s.clone(), m.len())).collect()
    }

    /// How many presences there are on all streams.
    pub fn count_all(&self) -> usize {
        self.lock().streams.values().map(BTreeMap::len).sum()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
