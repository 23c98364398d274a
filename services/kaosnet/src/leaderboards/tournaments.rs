//! Tournaments: boards that open at `start_time`, close at `end_time` (0: never), and,
//! with a reset schedule, start a new period at each occurrence. Writes are taken for
//! `duration` seconds from the start of each period. `max_size` caps the players of a
//! period, `max_num_score` the submissions of each, and `join_required` makes players
//! join (an empty record, score 0) before they write.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::board::{Board, Period};
use super::cron::Cron;
use super::{BoardDef, LeaderboardConfig, Leaderboards, Record, Submission};
use crate::error::ApiError;

/// What a tournament adds to a board (stored with its definition).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TournamentRules {
    pub title: String,
    pub description: String,
    pub category: u32,
    pub start_time: i64,
    /// 0: never ends.
    pub end_time: i64,
    /// Seconds writes are taken from the start of each period.
    pub duration: i64,
    /// 0: no limit.
    pub max_size: u32,
    /// 0: no limit.
    pub max_num_score: i32,
    pub join_required: bool,
}

/// A tournament to create: a board, and its rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TournamentConfig {
    pub board: LeaderboardConfig,
    pub rules: TournamentRules,
}

/// Which tournaments to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TournamentFilter {
    pub category_start: u32,
    pub category_end: u32,
    /// Only those starting at or after this time.
    pub start_time: Option<i64>,
    /// Only those ending (end_time set) at or before this time.
    pub end_time: Option<i64>,
    pub limit: usize,
    /// The last id of the previous page.
    pub cursor: Option<String>,
}

impl Default for TournamentFilter {
    fn default() -> Self {
        TournamentFilter {
            category_start: 0,
            category_end: u32::MAX,
            start_time: None,
            end_time: None,
            limit: 100,
            cursor: None,
        }
    }
}

impl TournamentRules {
    /// The period of `now`: before the start nothing is active; after the end the last
    /// period stays visible and inactive.
    pub(crate) fn period(&self, cron: Option<&Cron>, now: i64) -> Period {
        let end = if self.end_time > 0 { self.end_time } else { i64::MAX };
        let at = now.max(self.start_time).min(end.saturating_sub(1));
        let period_start =
            cron.and_then(|c| c.previous_at_or_before(at)).filter(|p| *p >= self.start_time).unwrap_or(self.start_time);
        let next_reset = cron.and_then(|c| c.next_after(at)).unwrap_or(i64::MAX);
        let expiry = next_reset.min(end);
        let active_until = period_start.saturating_add(self.duration).min(expiry);
        let (active_from, valid_until) = if now < self.start_time {
            (self.start_time, self.start_time)
        } else if now >= end {
            (end, i64::MAX)
        } else {
            (period_start, expiry)
        };
        Period { expiry: if expiry == i64::MAX { 0 } else { expiry }, active_from, active_until, valid_until }
    }
}

/// A tournament as a viewer sees it (the API's `Tournament`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tournament {
    pub id: String,
    pub title: String,
    pub description: String,
    pub category: u32,
    /// [`super::SortOrder`]'s code.
    pub sort_order: u8,
    /// [`super::Operator`]'s code.
    pub operator: u8,
    /// Records in the current period.
    pub size: usize,
    pub max_size: u32,
    pub max_num_score: i32,
    /// The viewer may write now: the period is active and there is room (or they joined).
    pub can_enter: bool,
    pub duration: i64,
    /// The current period's active window (Unix seconds).
    pub start_active: i64,
    pub end_active: i64,
    /// A JSON object, as text.
    pub metadata: String,
    pub create_time: i64,
    pub start_time: i64,
    /// None: no end.
    pub end_time: Option<i64>,
    /// The reset schedule's next and previous occurrences.
    pub next_reset: Option<i64>,
    pub prev_reset: Option<i64>,
    pub authoritative: bool,
}

fn tournament_of(def: &BoardDef, create_time: i64, size: usize, joined: bool, now: i64) -> Tournament {
    let t = def.tournament.clone().unwrap_or_default();
    let period = def.period(now);
    let active = now >= period.active_from && now < period.active_until;
    let full = t.max_size > 0 && size >= t.max_size as usize;
    Tournament {
        id: def.config.id.clone(),
        category: t.category,
        sort_order: def.config.sort_order.code(),
        operator: def.config.operator.code(),
        size,
        max_size: t.max_size,
        max_num_score: t.max_num_score,
        can_enter: active && (!full || joined),
        duration: t.duration,
        start_active: period.active_from.max(t.start_time),
        end_active: period.active_until,
        metadata: def.config.metadata.clone(),
        create_time,
        start_time: t.start_time,
        end_time: (t.end_time > 0).then_some(t.end_time),
        next_reset: def.cron.as_ref().and_then(|c| c.next_after(now)),
        prev_reset: def.cron.as_ref().and_then(|c| c.previous_at_or_before(now)),
        authoritative: def.config.authoritative,
        title: t.title,
        description: t.description,
    }
}

impl Leaderboards {
    /// Creates a tournament; false if a board with that id exists. A start time of 0
    /// is now, as in Nakama.
    pub fn create_tournament(&self, mut config: TournamentConfig) -> Result<bool, ApiError> {
        if config.rules.start_time == 0 {
            config.rules.start_time = (self.clock)();
        }
        let r = &config.rules;
        if r.duration <= 0 {
            return Err(ApiError::invalid("Tournament duration must be above 0 seconds."));
        }
        if r.end_time > 0 && r.end_time <= r.start_time {
            return Err(ApiError::invalid("Tournament end time must be after its start time."));
        }
        if r.max_num_score < 0 {
            return Err(ApiError::invalid("max_num_score must not be negative."));
        }
        self.create_def(BoardDef::new(config.board, Some(config.rules))?)
    }

    /// Tournament `id`'s board; NOT_FOUND if `id` is no tournament.
    fn tournament_board(&self, id: &str) -> Result<Arc<Board>, ApiError> {
        let board = self.board(id)?;
        if board.def.tournament.is_none() {
            return Err(ApiError::not_found(format!("Tournament {id} not found.")));
        }
        Ok(board)
    }

    /// Joins `owner_id` to the tournament's current period (an empty record); joining
    /// twice is not an error.
    pub fn join_tournament(&self, id: &str, owner_id: &str, username: &str) -> Result<Record, ApiError> {
        self.tournament_board(id)?;
        self.write(id, owner_id, username, &Submission::default(), true, true)
    }

    /// Submits a score to a tournament as server code.
    pub fn submit_tournament(
        &self,
        id: &str,
        owner_id: &str,
        username: &str,
        s: Submission,
    ) -> Result<Record, ApiError> {
        self.tournament_board(id)?;
        self.write(id, owner_id, username, &s, false, false)
    }

    /// A tournament submission from a client.
    pub(crate) fn submit_tournament_as_client(
        &self,
        id: &str,
        owner_id: &str,
        username: &str,
        s: Submission,
    ) -> Result<Record, ApiError> {
        self.tournament_board(id)?;
        self.write(id, owner_id, username, &s, true, false)
    }

    /// Gives `owner_id`'s record in tournament `id` `count` more attempts (Nakama's
    /// `tournament_add_attempt`); the record as it is now, or None if there is none yet.
    pub fn add_tournament_attempts(&self, id: &str, owner_id: &str, count: i32) -> Result<Option<Record>, ApiError> {
        if count == 0 {
            return Err(ApiError::invalid("The attempt count must not be zero."));
        }
        let owner = super::owner_key(owner_id)?;
        let board = self.tournament_board(id)?;
        let Some((record, outcome)) = board.add_attempts(&*self.store, self.now(), owner, count)? else {
            return Ok(None);
        };
        board.persist(&*self.store, &outcome)?;
        Ok(Some(record))
    }

    /// Tournament `id` as `viewer` sees it (`can_enter`).
    pub fn tournament(&self, id: &str, viewer: Option<&str>) -> Result<Tournament, ApiError> {
        let board = self.tournament_board(id)?;
        let size = self.rank_count(id)?;
        let joined = match viewer {
            Some(v) => self.get_record(id, v)?.is_some(),
            None => false,
        };
        Ok(tournament_of(&board.def, board.create_time, size, joined, self.now()))
    }

    /// Tournaments by id that pass `filter`, and the cursor of the next page.
    pub fn list_tournaments(
        &self,
        filter: &TournamentFilter,
        viewer: Option<&str>,
    ) -> Result<(Vec<Tournament>, Option<String>), ApiError> {
        super::listing::check_limit(Some(filter.limit))?;
        // Pages hold at most 1000 tournaments, whatever was asked.
        let filter = &TournamentFilter { limit: filter.limit.min(1000), ..filter.clone() };
        let mut found = Vec::new();
        let mut more = false;
        for def in self.defs()? {
            let Some(t) = &def.tournament else { continue };
            if filter.cursor.as_deref().is_some_and(|c| def.config.id.as_str() <= c)
                || t.category < filter.category_start
                || t.category > filter.category_end
                || filter.start_time.is_some_and(|s| t.start_time < s)
                || filter.end_time.is_some_and(|e| t.end_time == 0 || t.end_time > e)
            {
                continue;
            }
            if found.len() == filter.limit {
                more = true;
                break;
            }
            found.push(self.tournament(&def.config.id, viewer)?);
        }
        let cursor = found.last().filter(|_| more).map(|t| t.id.clone());
        Ok((found, cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::TournamentRules;
    use crate::leaderboards::cron::Cron;

    #[test]
    fn periods_follow_start_duration_resets_and_end() {
        let rules =
            TournamentRules { start_time: 1_000, end_time: 1_000 + 3 * 86_400, duration: 3_600, ..Default::default() };
        let before = rules.period(None, 500);
        assert!(500 < before.active_from && before.valid_until == 1_000);
        let during = rules.period(None, 2_000);
        assert_eq!((during.active_from, during.active_until, during.expiry), (1_000, 4_600, 1_000 + 3 * 86_400));
        let daily = Cron::parse("0 0 * * *").unwrap();
        // Day 1 (86,400) starts a period; writes are open for an hour of it.
        let p = rules.period(Some(&daily), 86_400 + 60);
        assert_eq!((p.active_from, p.active_until, p.expiry), (86_400, 86_400 + 3_600, 2 * 86_400));
        let after = rules.period(Some(&daily), 10 * 86_400);
        assert_eq!(after.expiry, 1_000 + 3 * 86_400);
        assert!(after.active_from >= after.active_until || after.active_from > 10 * 86_400);
    }
}
