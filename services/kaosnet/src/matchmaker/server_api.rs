//! The seed's matchmaker API for server code and tools: tickets for users by id, and
//! passes that return the groups they form, without telling any socket (the server's
//! own loop is [`Matchmaker::run`], which tells each matched player).
//!
//! ```
//! use kaosnet::matchmaker::{Matchmaker, MatchmakerConfig, MatchmakerTicket};
//!
//! let mm = Matchmaker::new(MatchmakerConfig { min_count: 2, max_count: 2, ..Default::default() });
//! for (user, region) in [("ann", "eu"), ("bob", "us"), ("cat", "eu")] {
//!     let mut ticket = MatchmakerTicket::new(user, "+properties.region:eu");
//!     ticket.string_properties.insert("region".into(), region.into());
//!     mm.add(ticket)?; // MatchmakerTicket with user_id, query, properties
//! }
//! let matches = mm.process(); // Returns Vec<MatchmakerMatch>
//! assert_eq!(matches.len(), 1);
//! let mut users: Vec<_> = matches[0].users.iter().map(|u| u.presence.user_id.as_str()).collect();
//! users.sort();
//! assert_eq!(users, ["ann", "cat"]);
//! assert_eq!(mm.ticket_count(), 1, "bob waits");
//! # Ok::<(), kaosnet::ApiError>(())
//! ```
//!
//! (The seed's ticket has one `properties`; Nakama's, and so ours, has string and numeric
//! ones, which queries reach as `properties.<name>`.)

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::{matched_users, MatchedUser, Matchmaker, TicketSpec};
use crate::error::ApiError;
use crate::presence::tracker::{Presence, PresenceMeta};
use crate::presence::SessionId;

/// The group sizes of tickets server code adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchmakerConfig {
    pub min_count: usize,
    pub max_count: usize,
    /// Group sizes must be a multiple of this (1: any).
    pub count_multiple: usize,
}

impl Default for MatchmakerConfig {
    /// Pairs.
    fn default() -> Self {
        MatchmakerConfig { min_count: 2, max_count: 2, count_multiple: 1 }
    }
}

/// A ticket server code adds for a user.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MatchmakerTicket {
    pub user_id: String,
    /// Shown to the group; the user id if empty.
    pub username: String,
    /// The query the others must match (`*` for anyone).
    pub query: String,
    pub string_properties: BTreeMap<String, String>,
    pub numeric_properties: BTreeMap<String, f64>,
}

impl MatchmakerTicket {
    /// A ticket for `user_id` with `query` and no properties.
    pub fn new(user_id: &str, query: &str) -> MatchmakerTicket {
        MatchmakerTicket { user_id: user_id.into(), query: query.into(), ..Default::default() }
    }
}

/// A group a pass formed.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchmakerMatch {
    /// The tickets matched together (each leaves the pool).
    pub tickets: Vec<String>,
    pub users: Vec<MatchedUser>,
}

/// Sessions numbered from here down are server code's tickets': socket sessions count
/// up from 1 and never reach them.
const SERVER_SESSIONS: u64 = u64::MAX;

impl Matchmaker {
    /// A matchmaker of its own (for tests and tools; a server's is
    /// [`KaosNet::matchmaker`](crate::KaosNet::matchmaker)) whose [`add`](Self::add)
    /// tickets have `config`'s group sizes.
    pub fn new(config: MatchmakerConfig) -> Matchmaker {
        Matchmaker { config, ..Matchmaker::default() }
    }

    /// Adds a ticket for a user with this matchmaker's group sizes; its id.
    pub fn add(&self, ticket: MatchmakerTicket) -> Result<String, ApiError> {
        let n = self.server_sessions.fetch_add(1, Ordering::Relaxed);
        let username = if ticket.username.is_empty() { ticket.user_id.clone() } else { ticket.username };
        let presence = Presence {
            session: SessionId::from_raw(SERVER_SESSIONS - n),
            user_id: ticket.user_id,
            username,
            meta: PresenceMeta::default(),
        };
        let spec = TicketSpec {
            min_count: self.config.min_count,
            max_count: self.config.max_count,
            count_multiple: self.config.count_multiple,
            query: ticket.query,
            string_properties: ticket.string_properties,
            numeric_properties: ticket.numeric_properties,
        };
        self.add_ticket(vec![presence], None, spec)
    }

    /// One matching pass: the groups formed (their tickets leave the pool). Nobody is
    /// told; the server's loop calls [`run`](Self::run) instead.
    pub fn process(&self) -> Vec<MatchmakerMatch> {
        let groups = self.lock().pass();
        groups
            .iter()
            .map(|g| MatchmakerMatch { tickets: g.iter().map(|t| t.id.clone()).collect(), users: matched_users(g) })
            .collect()
    }
}
