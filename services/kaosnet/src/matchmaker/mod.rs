//! The matchmaker: players (or whole parties) add tickets with a query and properties;
//! every interval a pass groups mutually matching tickets (see [`pool`]), and each
//! player gets `matchmaker_matched` with the group and either a token that `match_join`
//! turns into a relayed match or, when server code registered [`Matchmaker::on_matched`],
//! the id of the match it created (an authoritative one, say). Skill ranges are numeric
//! properties with range terms: `+properties.skill:>=900 +properties.skill:<=1100`.
//! Tickets vanish when their session ends.

pub mod pool;
mod server_api;

pub use server_api::{MatchmakerConfig, MatchmakerMatch, MatchmakerTicket};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::error::ApiError;
use crate::presence::tracker::{Presence, PresenceMeta};
use crate::presence::{Frame, SessionId};
use crate::protobuf::realtime::{self, envelope::Message, matchmaker_matched::Id, MatchmakerAdd};
use crate::query::Query;
use crate::socket::{Answer, Failure, SocketSession};
use crate::KaosNet;
use pool::{doc_of, Member, Pool, Ticket};

/// Tickets one session (or party) may have waiting.
pub const MAX_TICKETS: usize = 3;
/// Largest `max_count`.
pub const MAX_COUNT: usize = 256;
/// How long a match token stays good.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// A player in a matched group, as the hook and the clients see it.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedUser {
    pub presence: Presence,
    pub party_id: Option<String>,
    pub string_properties: BTreeMap<String, String>,
    pub numeric_properties: BTreeMap<String, f64>,
}

/// Server code that makes the match for a group; `Some(match_id)` sends that id instead
/// of a token.
pub type MatchedHook = Arc<dyn Fn(&KaosNet, &[MatchedUser]) -> Option<String> + Send + Sync>;

/// What a ticket asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketSpec {
    pub min_count: usize,
    pub max_count: usize,
    pub count_multiple: usize,
    pub query: String,
    pub string_properties: BTreeMap<String, String>,
    pub numeric_properties: BTreeMap<String, f64>,
}

/// The pool, the tokens handed out, and the hook.
#[derive(Default)]
pub struct Matchmaker {
    pool: Mutex<Pool>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    hook: RwLock<Option<MatchedHook>>,
    /// Counts of tickets server code adds with [`Matchmaker::add`].
    config: MatchmakerConfig,
    /// Numbers for the sessions of tickets server code adds (no socket has them).
    server_sessions: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Matchmaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matchmaker").field("tickets", &self.lock().len()).finish()
    }
}

impl MatchedUser {
    /// The player as `matchmaker_matched` lists it.
    pub fn to_message(&self) -> realtime::matchmaker_matched::MatchmakerUser {
        realtime::matchmaker_matched::MatchmakerUser {
            presence: Some(self.presence.to_proto()),
            party_id: self.party_id.clone().unwrap_or_default(),
            string_properties: self.string_properties.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            numeric_properties: self.numeric_properties.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        }
    }
}

impl Matchmaker {
    /// Registers the code that makes matches for matched groups.
    pub fn on_matched(&self, f: impl Fn(&KaosNet, &[MatchedUser]) -> Option<String> + Send + Sync + 'static) {
        *self.hook.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(f));
    }

    /// How many tickets wait.
    pub fn ticket_count(&self) -> usize {
        self.lock().len()
    }

    /// Up to `limit` waiting tickets as the console shows them, and the pool's counts.
    pub fn snapshot(&self, limit: usize) -> (Vec<serde_json::Value>, serde_json::Value) {
        let pool = self.lock();
        let tickets = pool
            .tickets()
            .take(limit)
            .map(|t| {
                let players: Vec<_> = t
                    .members
                    .iter()
                    .map(|m| serde_json::json!({"user_id": m.presence.user_id, "username": m.presence.username}))
                    .collect();
                serde_json::json!({
                    "ticket": t.id, "party_id": t.party_id, "players": players,
                    "min_count": t.min_count, "max_count": t.max_count, "count_multiple": t.count_multiple,
                    "string_properties": t.string_properties, "numeric_properties": t.numeric_properties,
                    "passes": t.passes,
                })
            })
            .collect();
        let players: usize = pool.tickets().map(|t| t.members.len()).sum();
        let parties = pool.tickets().filter(|t| t.party_id.is_some()).count();
        let stats = serde_json::json!({ "tickets": pool.len(), "players": players, "party_tickets": parties });
        (tickets, stats)
    }

    /// Adds a ticket for `members` (one player, or a party with `party_id`); its id.
    pub fn add_ticket(
        &self,
        members: Vec<Presence>,
        party_id: Option<String>,
        spec: TicketSpec,
    ) -> Result<String, ApiError> {
        let size = members.len();
        if spec.min_count < 2 || spec.max_count < spec.min_count || spec.max_count > MAX_COUNT {
            return Err(ApiError::invalid(format!("Counts must satisfy 2 <= min_count <= max_count <= {MAX_COUNT}.")));
        }
        let multiple = spec.count_multiple.max(1);
        if multiple > spec.max_count {
            return Err(ApiError::invalid("count_multiple must not exceed max_count."));
        }
        if size == 0 || size > spec.min_count {
            return Err(ApiError::invalid("A party larger than min_count cannot matchmake."));
        }
        if spec.string_properties.len() + spec.numeric_properties.len() > 64
            || spec.string_properties.iter().any(|(k, v)| k.len() > 128 || v.len() > 1024)
            || spec.numeric_properties.iter().any(|(k, v)| k.len() > 128 || !v.is_finite())
        {
            return Err(ApiError::invalid("Too many, too long or non-finite properties."));
        }
        let query = Query::parse(if spec.query.is_empty() { "*" } else { &spec.query })
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        let owner = members[0].session;
        let mut pool = self.lock();
        let held = match &party_id {
            Some(p) => pool.of_party(p).len(),
            None => pool.of_session(owner).iter().filter(|t| t.party_id.is_none()).count(),
        };
        if held >= MAX_TICKETS {
            return Err(ApiError::invalid(format!("At most {MAX_TICKETS} tickets at once.")));
        }
        let id = uuid::Uuid::new_v4().to_string();
        pool.add(Ticket {
            id: id.clone(),
            party_id,
            members: members.into_iter().map(|presence| Member { presence }).collect(),
            min_count: spec.min_count,
            max_count: spec.max_count,
            count_multiple: multiple,
            query,
            doc: doc_of(&spec.string_properties, &spec.numeric_properties),
            string_properties: spec.string_properties,
            numeric_properties: spec.numeric_properties,
            passes: 0,
        });
        Ok(id)
    }

    /// Removes ticket `id` if `may` says its holder is the caller.
    pub fn remove(&self, id: &str, may: impl Fn(&Ticket) -> bool) -> Result<(), ApiError> {
        let mut pool = self.lock();
        match pool.get(id) {
            Some(t) if may(t) => {
                pool.remove(id);
                Ok(())
            }
            _ => Err(ApiError::invalid("Ticket not found.")),
        }
    }

    /// Removes every ticket `session` is in (its own, and its party's).
    pub fn remove_session(&self, session: SessionId) {
        let mut pool = self.lock();
        let ids: Vec<String> = pool.of_session(session).iter().map(|t| t.id.clone()).collect();
        for id in ids {
            pool.remove(&id);
        }
    }

    /// Removes a party's tickets.
    pub fn remove_party(&self, party_id: &str) {
        let mut pool = self.lock();
        let ids: Vec<String> = pool.of_party(party_id).iter().map(|t| t.id.clone()).collect();
        for id in ids {
            pool.remove(&id);
        }
    }

    /// One matching pass; tells every matched player. Returns the groups formed.
    pub fn run(&self, kaos: &KaosNet) -> Vec<Vec<Ticket>> {
        let groups = self.lock().pass();
        kaos.metrics.matchmaker_matched(groups.iter().flatten().map(|t| t.members.len()).sum());
        let hook = self.hook.read().unwrap_or_else(PoisonError::into_inner).clone();
        let now = Instant::now();
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (_, at)| now.duration_since(*at) < TOKEN_LIFETIME);
        for group in &groups {
            let users = matched_users(group);
            let made = hook.as_ref().and_then(|h| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h(kaos, &users))).unwrap_or_else(|_| {
                    tracing::error!("the matchmaker_matched hook panicked; the group gets a token");
                    None
                })
            });
            let id = match made {
                Some(match_id) => Id::MatchId(match_id),
                None => {
                    let token = uuid::Uuid::new_v4().to_string();
                    let relayed = uuid::Uuid::new_v4().to_string();
                    self.tokens.lock().unwrap_or_else(PoisonError::into_inner).insert(token.clone(), (relayed, now));
                    Id::Token(token)
                }
            };
            // Each player's message differs only in `ticket` and `self`: the users are
            // made into messages once, and each player's copy written once per its format.
            let listed: Vec<_> = users.iter().map(MatchedUser::to_message).collect();
            for t in group {
                for m in &t.members {
                    let me = users.iter().position(|u| u.presence.session == m.presence.session);
                    let matched = realtime::MatchmakerMatched {
                        ticket: t.id.clone(),
                        users: listed.clone(),
                        self_: me.map(|i| listed[i].clone()),
                        id: Some(id.clone()),
                    };
                    let frame = Frame::from_message(Message::MatchmakerMatched(matched));
                    kaos.sessions().send(m.presence.session, Arc::new(frame));
                }
            }
        }
        groups
    }

    /// The relayed match a token stands for, while it is good.
    pub(crate) fn redeem(&self, token: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens.get(token).filter(|(_, at)| at.elapsed() < TOKEN_LIFETIME).map(|(m, _)| m.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The players of a matched group, ticket by ticket.
fn matched_users(group: &[Ticket]) -> Vec<MatchedUser> {
    group
        .iter()
        .flat_map(|t| {
            t.members.iter().map(|m| MatchedUser {
                presence: m.presence.clone(),
                party_id: t.party_id.clone(),
                string_properties: t.string_properties.clone(),
                numeric_properties: t.numeric_properties.clone(),
            })
        })
        .collect()
}

impl TicketSpec {
    /// A ticket's fields as a client sends them (`matchmaker_add`; a party's are the same).
    pub(crate) fn from_message(m: MatchmakerAdd) -> Result<TicketSpec, Failure> {
        // Negative counts fail the count rules of `add_ticket`, with its message.
        let count = |n: i32| usize::try_from(n).unwrap_or(0);
        let count_multiple = match m.count_multiple.map(|v| v.value) {
            Some(n) if n < 0 => return Err(Failure::bad_input("count_multiple must not be negative.")),
            n => count(n.unwrap_or(1)).max(1),
        };
        Ok(TicketSpec {
            min_count: count(m.min_count),
            max_count: count(m.max_count),
            count_multiple,
            query: m.query,
            string_properties: m.string_properties.into_iter().collect(),
            numeric_properties: m.numeric_properties.into_iter().collect(),
        })
    }
}

/// The player a session is.
pub(crate) fn presence_of(session: &SocketSession) -> Presence {
    Presence {
        session: session.id,
        user_id: session.user_id.clone(),
        username: session.username.clone(),
        meta: PresenceMeta::default(),
    }
}

/// `matchmaker_add` and `matchmaker_remove` from the socket.
pub(crate) fn socket(kaos: &KaosNet, session: &SocketSession, message: Message) -> Result<Answer, Failure> {
    match message {
        Message::MatchmakerAdd(m) => {
            let spec = TicketSpec::from_message(m)?;
            let ticket = kaos.matchmaker.add_ticket(vec![presence_of(session)], None, spec)?;
            Ok(Answer::Reply(Message::MatchmakerTicket(realtime::MatchmakerTicket { ticket })))
        }
        Message::MatchmakerRemove(m) => {
            let mine = |t: &Ticket| t.party_id.is_none() && t.members[0].presence.session == session.id;
            kaos.matchmaker.remove(&m.ticket, mine)?;
            Ok(Answer::Ack)
        }
        _ => Err(Failure::unrecognized()),
    }
}
