//! What happened to the boards between two instants: periods that reset and tournaments
//! that ended. Resets are worked out from the schedules when records are read or
//! written; server code that must act on them (Lua's `register_leaderboard_reset`,
//! `register_tournament_reset/end`) asks here on a clock of its own.

use super::{LeaderboardConfig, Leaderboards, TournamentRules};
use crate::error::ApiError;

/// Most resets reported for one board in one call (a clock that jumped far ahead).
const MAX_PER_BOARD: usize = 64;

/// A reset or an end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardEvent {
    pub board: LeaderboardConfig,
    /// Set for a tournament.
    pub tournament: Option<TournamentRules>,
    pub kind: BoardEventKind,
    /// When it happened (Unix seconds): the reset time, or the tournament's end.
    pub at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardEventKind {
    /// A period ended and the next began (a leaderboard's or a tournament's).
    Reset,
    /// A tournament reached its end time.
    TournamentEnd,
}

impl Leaderboards {
    /// The resets and tournament ends in `(after, until]`, in time order per board.
    pub fn events_between(&self, after: i64, until: i64) -> Result<Vec<BoardEvent>, ApiError> {
        let mut out = Vec::new();
        for def in self.defs()? {
            let end = def.tournament.as_ref().map_or(0, |t| t.end_time);
            let mut at = after;
            for _ in 0..MAX_PER_BOARD {
                let expiry = def.period(at).expiry;
                if expiry <= at || expiry > until {
                    break;
                }
                let kind = if end > 0 && expiry >= end { BoardEventKind::TournamentEnd } else { BoardEventKind::Reset };
                out.push(BoardEvent {
                    board: def.config.clone(),
                    tournament: def.tournament.clone(),
                    kind,
                    at: expiry,
                });
                if kind == BoardEventKind::TournamentEnd {
                    break;
                }
                at = expiry;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::leaderboards::TournamentConfig;

    #[test]
    fn resets_and_ends_are_reported_once_in_their_window() {
        static NOW: AtomicI64 = AtomicI64::new(0);
        let clock = Arc::new(|| NOW.load(Ordering::Relaxed));
        let lb = Leaderboards::with_clock(Arc::new(crate::store::MemoryStore::new()), clock);
        // Midnight 2023-11-15 is 1_700_006_400.
        NOW.store(1_700_000_000, Ordering::Relaxed);
        let daily =
            LeaderboardConfig { id: "daily".into(), reset_schedule: Some("0 0 * * *".into()), ..Default::default() };
        lb.create(daily).unwrap();
        lb.create(LeaderboardConfig { id: "forever".into(), ..Default::default() }).unwrap();
        let rules = TournamentRules {
            start_time: 1_700_000_000,
            end_time: 1_700_000_000 + 3 * 86_400,
            duration: 3600,
            ..Default::default()
        };
        let cup =
            LeaderboardConfig { id: "cup".into(), reset_schedule: Some("0 0 * * *".into()), ..Default::default() };
        lb.create_tournament(TournamentConfig { board: cup, rules }).unwrap();
        let kinds = |after: i64, until: i64| {
            let mut v: Vec<_> =
                lb.events_between(after, until).unwrap().into_iter().map(|e| (e.board.id, e.kind, e.at)).collect();
            v.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
            v
        };
        assert!(kinds(1_700_000_000, 1_700_006_399).is_empty());
        let midnight = 1_700_006_400;
        let reset = BoardEventKind::Reset;
        assert_eq!(
            kinds(1_700_000_000, midnight),
            [("cup".into(), reset, midnight), ("daily".into(), reset, midnight)]
        );
        assert!(kinds(midnight, midnight + 10).is_empty(), "reported once");
        // Three days later in one step: the two midnights before the end; the cup ends at
        // its end time (its own reset due then is its end).
        let end = 1_700_000_000 + 3 * 86_400;
        let events = kinds(midnight, end + 10);
        assert_eq!(events.iter().filter(|e| e.0 == "daily").count(), 2);
        assert_eq!(events.last().unwrap(), &("cup".to_string(), BoardEventKind::TournamentEnd, end));
    }
}
