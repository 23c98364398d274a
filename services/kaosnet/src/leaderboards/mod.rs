//! Leaderboards and tournaments.
//!
//! A board keeps the records of its current period in memory, ranked by an in-memory
//! index (see `rank`), so ranks, pages and the records around an owner cost O(log n)
//! whatever the board's size; every change is written to the store before it is
//! acknowledged (see `board`). Boards with a reset schedule (5-field cron, UTC) start a
//! new period at each occurrence; the records of a period carry its end as
//! `expiry_time` and stay in the store after it. Tournaments are boards with a start, an
//! end, an active window per period (`duration`), a size limit, an attempt limit and
//! optional joining (see [`tournaments`]); [`brackets`] turns standings into a
//! single-elimination bracket.
//!
//! ```
//! use kaosnet::leaderboards::{LeaderboardConfig, Leaderboards, Operator, SortOrder, Submission};
//!
//! let lb = Leaderboards::new();
//! lb.create(LeaderboardConfig {
//!     id: "weekly".into(),
//!     sort_order: SortOrder::Descending,
//!     operator: Operator::Best,
//!     reset_schedule: Some("0 0 * * 1".into()),
//!     ..Default::default()
//! })?;
//! let (ann, bob) = ("5f1c6d2e-8b7a-4c3d-9e0f-112233445566", "0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70");
//! let metadata = Some(r#"{"kills": 42}"#.to_string());
//! lb.submit("weekly", ann, "ann", Submission { score: 5000, metadata, ..Default::default() })?;
//! lb.submit("weekly", bob, "bob", Submission { score: 7000, ..Default::default() })?;
//! let top = lb.get_top("weekly", 10)?;
//! assert_eq!((top[0].username.as_str(), top[0].rank), ("bob", 1));
//! let around = lb.get_around("weekly", ann, 5)?;
//! assert_eq!(around.len(), 2);
//! # Ok::<(), kaosnet::ApiError>(())
//! ```
//!
//! (The seed's sketch passes a score and metadata to `submit`; a [`Submission`] carries
//! them with Nakama's subscore and operator override, and a board has an id but no name,
//! as in Nakama.)

mod board;
pub mod brackets;
pub mod cron;
mod listing;
mod rank;
mod schedule;
pub mod tournaments;

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::store::leaderboards::{StoredBoard, StoredRecord};
use crate::store::Store;
use board::{owner_key, Board, Period};
use cron::Cron;
pub use listing::{RecordList, RecordsRequest};
pub use rank::RankIndex;
pub use schedule::{BoardEvent, BoardEventKind};
pub use tournaments::{TournamentConfig, TournamentRules};

/// Which records rank first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Lowest score first (lap times).
    Ascending,
    /// Highest score first (points).
    #[default]
    Descending,
}

impl SortOrder {
    /// Nakama's number: 0 ascending, 1 descending.
    pub fn code(self) -> u8 {
        match self {
            SortOrder::Ascending => 0,
            SortOrder::Descending => 1,
        }
    }
}

/// How a submission combines with the owner's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operator {
    /// Keep the better of the two (score, then subscore).
    #[default]
    Best,
    /// Replace.
    Set,
    /// Add to the score and subscore.
    Increment,
    /// Subtract from them.
    Decrement,
}

impl Operator {
    /// Nakama's number (1 best, 2 set, 3 increment, 4 decrement).
    pub fn code(self) -> u8 {
        match self {
            Operator::Best => 1,
            Operator::Set => 2,
            Operator::Increment => 3,
            Operator::Decrement => 4,
        }
    }

    /// The operator of Nakama's number; 0 (no override) is None.
    pub fn from_code(code: i64) -> Result<Option<Operator>, ApiError> {
        match code {
            0 => Ok(None),
            1 => Ok(Some(Operator::Best)),
            2 => Ok(Some(Operator::Set)),
            3 => Ok(Some(Operator::Increment)),
            4 => Ok(Some(Operator::Decrement)),
            _ => Err(ApiError::invalid(format!("Invalid operator {code}: expected 0 to 4."))),
        }
    }
}

/// A leaderboard to create.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeaderboardConfig {
    pub id: String,
    /// Only server code may write records.
    pub authoritative: bool,
    pub sort_order: SortOrder,
    pub operator: Operator,
    /// 5-field cron (UTC); records expire at each occurrence.
    pub reset_schedule: Option<String>,
    /// A JSON object, as text (empty means `{}`).
    pub metadata: String,
}

impl LeaderboardConfig {
    /// A game's high-score board: best score first, each player's best kept, written by
    /// server code only (no client posts a score).
    pub fn high_scores(id: &str) -> LeaderboardConfig {
        LeaderboardConfig {
            id: id.into(),
            authoritative: true,
            sort_order: SortOrder::Descending,
            operator: Operator::Best,
            ..LeaderboardConfig::default()
        }
    }
}

/// A score to submit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Submission {
    pub score: i64,
    pub subscore: i64,
    /// A JSON object, as text; None keeps the record's metadata.
    pub metadata: Option<String>,
    /// Overrides the board's operator.
    pub operator: Option<Operator>,
}

/// A record as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub leaderboard_id: String,
    pub owner_id: String,
    pub username: String,
    pub score: i64,
    pub subscore: i64,
    pub num_score: i32,
    pub max_num_score: i32,
    pub metadata: String,
    pub create_time: i64,
    pub update_time: i64,
    /// 0: never expires.
    pub expiry_time: i64,
    /// 1-based.
    pub rank: u64,
}

impl Record {
    /// A stored record at 1-based `rank`.
    fn stored(r: StoredRecord, rank: u64) -> Record {
        Record {
            leaderboard_id: r.leaderboard_id,
            owner_id: r.owner_id,
            username: r.username,
            score: r.score,
            subscore: r.subscore,
            num_score: r.num_score,
            max_num_score: r.max_num_score,
            metadata: r.metadata,
            create_time: r.create_time,
            update_time: r.update_time,
            expiry_time: r.expiry_time,
            rank,
        }
    }

    /// The record as the store keeps it (without its rank).
    fn into_stored(self) -> StoredRecord {
        StoredRecord {
            leaderboard_id: self.leaderboard_id,
            owner_id: self.owner_id,
            username: self.username,
            score: self.score,
            subscore: self.subscore,
            num_score: self.num_score,
            max_num_score: self.max_num_score,
            metadata: self.metadata,
            create_time: self.create_time,
            update_time: self.update_time,
            expiry_time: self.expiry_time,
        }
    }
}

/// A page of records and the cursors around it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordPage {
    pub records: Vec<Record>,
    pub next_cursor: Option<String>,
    pub prev_cursor: Option<String>,
    /// Records in the period.
    pub rank_count: u64,
}

/// What a board is, as stored (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BoardDef {
    /// As created (metadata normalized to a JSON object, an empty schedule to none).
    #[serde(flatten)]
    pub config: LeaderboardConfig,
    /// Set for tournaments.
    pub tournament: Option<TournamentRules>,
    #[serde(skip)]
    pub cron: Option<Cron>,
}

impl BoardDef {
    /// The definition of a board to create: `config`, and `tournament` rules if it is one.
    fn new(config: LeaderboardConfig, tournament: Option<TournamentRules>) -> Result<BoardDef, ApiError> {
        let config = LeaderboardConfig {
            reset_schedule: config.reset_schedule.filter(|s| !s.is_empty()),
            metadata: metadata_object(&config.metadata)?,
            ..config
        };
        BoardDef { config, tournament, cron: None }.with_cron()
    }

    fn parse(stored: &StoredBoard) -> Result<BoardDef, ApiError> {
        let def: BoardDef = serde_json::from_str(&stored.config)
            .map_err(|e| ApiError::new(crate::Code::Internal, format!("Board {} is unreadable: {e}", stored.id)))?;
        def.with_cron()
    }

    /// The definition with its reset schedule parsed.
    fn with_cron(mut self) -> Result<BoardDef, ApiError> {
        self.cron = self
            .config
            .reset_schedule
            .as_deref()
            .map(Cron::parse)
            .transpose()
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        Ok(self)
    }

    pub(crate) fn max_num_score(&self) -> i32 {
        self.tournament.as_ref().map_or(0, |t| t.max_num_score)
    }

    /// The period `now` falls in.
    pub(crate) fn period(&self, now: i64) -> Period {
        match &self.tournament {
            Some(t) => t.period(self.cron.as_ref(), now),
            None => {
                let next = self.cron.as_ref().and_then(|c| c.next_after(now));
                Period {
                    expiry: next.unwrap_or(0),
                    active_from: i64::MIN,
                    active_until: i64::MAX,
                    valid_until: next.unwrap_or(i64::MAX),
                }
            }
        }
    }
}

/// The metadata of a config: a JSON object, `{}` when empty.
fn metadata_object(text: &str) -> Result<String, ApiError> {
    if text.is_empty() {
        return Ok("{}".into());
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => Ok(text.to_string()),
        _ => Err(ApiError::invalid("Metadata must be a JSON object.")),
    }
}

/// The time in Unix seconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Every board, loaded from the store on first use.
pub struct Leaderboards {
    store: Arc<dyn Store>,
    boards: RwLock<foldhash::HashMap<String, Arc<Board>>>,
    clock: Clock,
    /// Counts record writes, when the boards are a server's.
    metrics: Option<crate::metrics::Metrics>,
}

impl std::fmt::Debug for Leaderboards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leaderboards").finish_non_exhaustive()
    }
}

/// Cursors carry the period, the direction and the key of the record they continue from.
fn encode_cursor(expiry: i64, forward: bool, score: i64, subscore: i64, owner: u128) -> String {
    let text = format!("{}:{expiry}:{score}:{subscore}:{owner:x}", if forward { 'n' } else { 'p' });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(cursor: &str) -> Result<(i64, bool, i64, i64, u128), ApiError> {
    let bad = || ApiError::invalid("Invalid cursor.");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let parts: Vec<&str> = text.split(':').collect();
    let [dir, expiry, score, subscore, owner] = parts[..] else { return Err(bad()) };
    let forward = match dir {
        "n" => true,
        "p" => false,
        _ => return Err(bad()),
    };
    Ok((
        expiry.parse().map_err(|_| bad())?,
        forward,
        score.parse().map_err(|_| bad())?,
        subscore.parse().map_err(|_| bad())?,
        u128::from_str_radix(owner, 16).map_err(|_| bad())?,
    ))
}

impl Leaderboards {
    /// Leaderboards of their own, in memory (for tests and tools; a server's are
    /// [`KaosNet::leaderboards`](crate::KaosNet::leaderboards)).
    #[allow(clippy::new_without_default)]
    pub fn new() -> Leaderboards {
        Leaderboards::with_store(Arc::new(crate::store::MemoryStore::new()))
    }

    /// Boards over `store`, on the system clock.
    pub fn with_store(store: Arc<dyn Store>) -> Leaderboards {
        Leaderboards::with_clock(store, Arc::new(crate::accounts::unix_now))
    }

    /// Boards on an injected clock (Unix seconds): tests of resets.
    pub fn with_clock(store: Arc<dyn Store>, clock: Clock) -> Leaderboards {
        Leaderboards { store, boards: RwLock::default(), clock, metrics: None }
    }

    /// Boards in `store` that count their record writes in `metrics`.
    pub(crate) fn with_metrics(store: Arc<dyn Store>, metrics: crate::metrics::Metrics) -> Leaderboards {
        Leaderboards { metrics: Some(metrics), ..Leaderboards::with_store(store) }
    }

    pub(crate) fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Creates a leaderboard; false if one with that id exists (it is left as it is).
    pub fn create(&self, config: LeaderboardConfig) -> Result<bool, ApiError> {
        self.create_def(BoardDef::new(config, None)?)
    }

    fn create_def(&self, def: BoardDef) -> Result<bool, ApiError> {
        if def.config.id.is_empty() || def.config.id.len() > 128 {
            return Err(ApiError::invalid("Leaderboard ID must be 1-128 characters."));
        }
        let config = serde_json::to_string(&def).map_err(|e| ApiError::invalid(e.to_string()))?;
        let stored = StoredBoard { id: def.config.id.clone(), config, create_time: self.now() };
        Ok(self.store.create_board(&stored)?)
    }

    /// Deletes a board and every record of it; false if there was none.
    pub fn delete(&self, id: &str) -> Result<bool, ApiError> {
        let mut boards = self.boards.write().unwrap_or_else(PoisonError::into_inner);
        boards.remove(id);
        Ok(self.store.delete_board(id)?)
    }

    /// The board `id`, loaded (again, if a write failed) when needed.
    fn board(&self, id: &str) -> Result<Arc<Board>, ApiError> {
        if let Some(b) = self.boards.read().unwrap_or_else(PoisonError::into_inner).get(id) {
            if !b.stale.load(Ordering::Acquire) {
                return Ok(b.clone());
            }
        }
        let mut boards = self.boards.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = boards.get(id).filter(|b| !b.stale.load(Ordering::Acquire)) {
            return Ok(b.clone());
        }
        let stored =
            self.store.board(id)?.ok_or_else(|| ApiError::not_found(format!("Leaderboard {id} not found.")))?;
        let board = Arc::new(Board::load(BoardDef::parse(&stored)?, stored.create_time, &*self.store, self.now())?);
        boards.insert(id.to_string(), board.clone());
        Ok(board)
    }

    /// Whether board `id` is a tournament.
    pub(crate) fn is_tournament(&self, id: &str) -> Result<bool, ApiError> {
        Ok(self.board(id)?.def.tournament.is_some())
    }

    /// Every board's definition.
    pub(crate) fn defs(&self) -> Result<Vec<BoardDef>, ApiError> {
        self.store.boards()?.iter().map(BoardDef::parse).collect()
    }

    /// Submits a score as server code (authoritative boards included).
    pub fn submit(&self, id: &str, owner_id: &str, username: &str, s: Submission) -> Result<Record, ApiError> {
        self.write(id, owner_id, username, &s, false, false)
    }

    /// A submission from a client: refused on authoritative boards, and on tournaments
    /// (which take theirs through `submit_tournament_as_client`).
    pub fn submit_as_client(
        &self,
        id: &str,
        owner_id: &str,
        username: &str,
        s: Submission,
    ) -> Result<Record, ApiError> {
        if self.is_tournament(id)? {
            return Err(ApiError::invalid("That is a tournament: write to /v2/tournament/{id}."));
        }
        self.write(id, owner_id, username, &s, true, false)
    }

    pub(crate) fn write(
        &self,
        id: &str,
        owner_id: &str,
        username: &str,
        s: &Submission,
        client: bool,
        joining: bool,
    ) -> Result<Record, ApiError> {
        let owner = owner_key(owner_id)?;
        if let Some(m) = &s.metadata {
            metadata_object(m)?;
        }
        let board = self.board(id)?;
        if client && board.def.config.authoritative && !joining {
            return Err(ApiError::new(crate::Code::PermissionDenied, "Writes to this board are server only."));
        }
        let written = board
            .submit(&*self.store, self.now(), owner, username, s, joining)
            .and_then(|(record, outcome)| board.persist(&*self.store, &outcome).map(|()| record));
        if let Some(m) = &self.metrics {
            m.leaderboard_write(written.is_ok());
        }
        written
    }

    /// `owner_id`'s record in the current period; whether there was one.
    pub fn delete_record(&self, id: &str, owner_id: &str) -> Result<bool, ApiError> {
        let owner = owner_key(owner_id)?;
        let board = self.board(id)?;
        match board.remove(&*self.store, self.now(), owner)? {
            Some(outcome) => board.persist(&*self.store, &outcome).map(|()| true),
            None => Ok(false),
        }
    }

    pub(crate) fn delete_record_as_client(&self, id: &str, owner_id: &str) -> Result<bool, ApiError> {
        if self.board(id)?.def.config.authoritative {
            return Err(ApiError::new(crate::Code::PermissionDenied, "Writes to this board are server only."));
        }
        self.delete_record(id, owner_id)
    }

    /// Removes every record of the current period of board `id` (an operator's reset);
    /// how many went.
    pub fn clear_period(&self, id: &str) -> Result<usize, ApiError> {
        let owners: Vec<String> = {
            let board = self.board(id)?;
            let state = board.read(&*self.store, self.now())?;
            board.page(&state, 0, state.index.len()).into_iter().map(|r| r.owner_id).collect()
        };
        let mut removed = 0;
        for owner in owners {
            removed += usize::from(self.delete_record(id, &owner)?);
        }
        Ok(removed)
    }

    /// Every board's definition (tournaments' with their rules), as JSON.
    pub fn definitions(&self) -> Result<Vec<serde_json::Value>, ApiError> {
        let defs = self.defs()?;
        defs.iter().map(|d| serde_json::to_value(d).map_err(|e| ApiError::invalid(e.to_string()))).collect()
    }

    /// The first `limit` records of the current period, best first.
    pub fn get_top(&self, id: &str, limit: usize) -> Result<Vec<Record>, ApiError> {
        Ok(self.get_page(id, limit, None)?.records)
    }

    /// The best `limit` records, or the page a cursor of an earlier page points to.
    pub fn get_page(&self, id: &str, limit: usize, cursor: Option<&str>) -> Result<RecordPage, ApiError> {
        let board = self.board(id)?;
        let state = board.read(&*self.store, self.now())?;
        let from = match cursor.filter(|c| !c.is_empty()) {
            None => 0,
            Some(c) => {
                let (expiry, forward, score, subscore, owner) = decode_cursor(c)?;
                if expiry != state.period.expiry {
                    return Err(ApiError::invalid("The cursor is from an earlier period of this board."));
                }
                let key = board.key(score, subscore, state.cursor_slot(owner));
                let at = state.index.rank(&key);
                if forward {
                    at + usize::from(state.index.contains(&key))
                } else {
                    at.saturating_sub(limit)
                }
            }
        };
        let records = board.page(&state, from, limit);
        let cursor_of = |r: &Record, forward: bool| {
            let owner = owner_key(&r.owner_id).unwrap_or_default();
            encode_cursor(state.period.expiry, forward, r.score, r.subscore, owner)
        };
        let last_rank = records.last().map_or(0, |r| r.rank as usize);
        Ok(RecordPage {
            next_cursor: records.last().filter(|_| last_rank < state.index.len()).map(|r| cursor_of(r, true)),
            prev_cursor: records.first().filter(|_| from > 0).map(|r| cursor_of(r, false)),
            rank_count: state.index.len() as u64,
            records,
        })
    }

    /// Up to `limit` records around `owner_id`'s (it in the middle where the board allows);
    /// empty if the owner has no record.
    pub fn get_around(&self, id: &str, owner_id: &str, limit: usize) -> Result<Vec<Record>, ApiError> {
        let owner = owner_key(owner_id)?;
        let board = self.board(id)?;
        let state = board.read(&*self.store, self.now())?;
        let Some((slot, entry)) = state.entry(owner) else { return Ok(Vec::new()) };
        let rank = state.index.rank(&board.key(entry.score, entry.subscore, slot));
        let from = rank.saturating_sub(limit.saturating_sub(1) / 2).min(state.index.len().saturating_sub(limit));
        Ok(board.page(&state, from, limit))
    }

    /// `owner_id`'s record in the current period.
    pub fn get_record(&self, id: &str, owner_id: &str) -> Result<Option<Record>, ApiError> {
        Ok(self.get_records(id, &[owner_id.to_string()])?.pop())
    }

    /// The records of these owners (those who have one), in the order given.
    pub fn get_records(&self, id: &str, owner_ids: &[String]) -> Result<Vec<Record>, ApiError> {
        let owners = owner_ids.iter().map(|o| owner_key(o)).collect::<Result<Vec<_>, _>>()?;
        let board = self.board(id)?;
        let state = board.read(&*self.store, self.now())?;
        Ok(owners.into_iter().filter_map(|o| board.owner_record(&state, o)).collect())
    }

    /// The records of the period that ended at `expiry_time` (0: a board that never
    /// resets), best first, from the store.
    pub fn get_period(&self, id: &str, expiry_time: i64, limit: usize, offset: usize) -> Result<Vec<Record>, ApiError> {
        let board = self.board(id)?;
        let mut rows = self.store.records(id, expiry_time)?;
        // The order of the live board: score, subscore, then who came first.
        rows.sort_by_cached_key(|r| {
            let (score, subscore, _) = board.key(r.score, r.subscore, 0);
            (score, subscore, r.create_time, owner_key(&r.owner_id).unwrap_or_default())
        });
        Ok(rows
            .into_iter()
            .enumerate()
            .skip(offset)
            .take(limit)
            .map(|(i, r)| Record::stored(r, i as u64 + 1))
            .collect())
    }

    /// How many records the current period of board `id` has.
    pub fn rank_count(&self, id: &str) -> Result<usize, ApiError> {
        let board = self.board(id)?;
        let state = board.read(&*self.store, self.now())?;
        Ok(state.index.len())
    }

    /// The expiry of the current period of board `id` (0: never).
    pub fn current_expiry(&self, id: &str) -> Result<i64, ApiError> {
        let board = self.board(id)?;
        let state = board.read(&*self.store, self.now())?;
        Ok(state.period.expiry)
    }
}
