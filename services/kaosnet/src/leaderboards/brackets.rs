//! Single-elimination brackets seeded from standings: seed 1 meets the last seed, and the
//! top seeds can only meet in later rounds (the usual 1-16, 8-9, 4-13, … order). When the
//! field is not a power of two the top seeds get byes and advance at once. Reporting a
//! match's winner moves them into the next round; the last winner is the champion.
//! A bracket is plain data (serde), so a game can keep it in storage.

use serde::{Deserialize, Serialize};

use super::{Leaderboards, Record};
use crate::error::ApiError;

/// One match: its two players (None: a bye or not decided yet) and its winner.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BracketMatch {
    pub a: Option<String>,
    pub b: Option<String>,
    pub winner: Option<String>,
}

/// Rounds of matches, the first round first; round r has half the matches of round r-1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bracket {
    pub rounds: Vec<Vec<BracketMatch>>,
}

/// Seeds (1-based) in bracket order for a field of `size` (a power of two).
fn seed_order(size: usize) -> Vec<usize> {
    let mut order = vec![1];
    while order.len() < size {
        let n = order.len() * 2;
        order = order.iter().flat_map(|&s| [s, n + 1 - s]).collect();
    }
    order
}

impl Bracket {
    /// A bracket of `players`, best seed first. Needs at least two players.
    pub fn from_standings(players: &[String]) -> Result<Bracket, ApiError> {
        if players.len() < 2 {
            return Err(ApiError::invalid("A bracket needs at least two players."));
        }
        let size = players.len().next_power_of_two();
        let seeded: Vec<Option<String>> = seed_order(size).into_iter().map(|s| players.get(s - 1).cloned()).collect();
        let first: Vec<BracketMatch> = seeded
            .chunks(2)
            .map(|pair| BracketMatch { a: pair[0].clone(), b: pair[1].clone(), winner: None })
            .collect();
        let mut rounds = vec![first];
        while rounds.last().is_some_and(|r| r.len() > 1) {
            let n = rounds.last().map_or(0, Vec::len) / 2;
            rounds.push(vec![BracketMatch::default(); n]);
        }
        let mut bracket = Bracket { rounds };
        // Byes: a player without an opponent goes through.
        for i in 0..bracket.rounds[0].len() {
            let m = &bracket.rounds[0][i];
            if let (Some(p), None) | (None, Some(p)) = (&m.a, &m.b) {
                let p = p.clone();
                bracket.advance(0, i, p);
            }
        }
        Ok(bracket)
    }

    fn advance(&mut self, round: usize, index: usize, winner: String) {
        self.rounds[round][index].winner = Some(winner.clone());
        if let Some(next) = self.rounds.get_mut(round + 1) {
            let slot = &mut next[index / 2];
            if index % 2 == 0 {
                slot.a = Some(winner);
            } else {
                slot.b = Some(winner);
            }
        }
    }

    /// Records that `winner` won match `index` of `round`: both players must be known,
    /// the winner one of them, and the match not decided yet.
    pub fn report(&mut self, round: usize, index: usize, winner: &str) -> Result<(), ApiError> {
        let m = self
            .rounds
            .get(round)
            .and_then(|r| r.get(index))
            .ok_or_else(|| ApiError::invalid(format!("No match {index} in round {round}.")))?;
        if m.winner.is_some() {
            return Err(ApiError::invalid("That match already has a winner."));
        }
        let (Some(a), Some(b)) = (&m.a, &m.b) else {
            return Err(ApiError::invalid("That match does not have both players yet."));
        };
        if winner != a && winner != b {
            return Err(ApiError::invalid(format!("{winner} does not play in that match.")));
        }
        self.advance(round, index, winner.to_string());
        Ok(())
    }

    /// Matches with both players and no winner: (round, index).
    pub fn ready(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (r, round) in self.rounds.iter().enumerate() {
            for (i, m) in round.iter().enumerate() {
                if m.a.is_some() && m.b.is_some() && m.winner.is_none() {
                    out.push((r, i));
                }
            }
        }
        out
    }

    /// The winner of the final, once played.
    pub fn champion(&self) -> Option<&str> {
        self.rounds.last()?.first()?.winner.as_deref()
    }
}

impl Leaderboards {
    /// A bracket of the best `size` owners of board `id`'s current standings.
    pub fn bracket(&self, id: &str, size: usize) -> Result<Bracket, ApiError> {
        let top = self.get_page(id, size, None)?.records;
        Bracket::from_standings(&top.into_iter().map(|r: Record| r.owner_id).collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use super::{seed_order, Bracket};

    fn players(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("p{i}")).collect()
    }

    #[test]
    fn seeds_meet_in_the_usual_order() {
        assert_eq!(seed_order(8), [1, 8, 4, 5, 2, 7, 3, 6]);
        assert_eq!(seed_order(16), [1, 16, 8, 9, 4, 13, 5, 12, 2, 15, 7, 10, 3, 14, 6, 11]);
    }

    #[test]
    fn the_better_seed_winning_every_match_makes_seed_one_champion() {
        let mut b = Bracket::from_standings(&players(8)).unwrap();
        assert_eq!(b.rounds.iter().map(Vec::len).collect::<Vec<_>>(), [4, 2, 1]);
        while let Some(&(r, i)) = b.ready().first() {
            let m = &b.rounds[r][i];
            let seed = |p: &Option<String>| p.as_deref().unwrap()[1..].parse::<usize>().unwrap();
            let winner = if seed(&m.a) < seed(&m.b) { m.a.clone() } else { m.b.clone() }.unwrap();
            b.report(r, i, &winner).unwrap();
        }
        assert_eq!(b.champion(), Some("p1"));
        // The final was seed 1 against seed 2.
        assert_eq!((b.rounds[2][0].a.as_deref(), b.rounds[2][0].b.as_deref()), (Some("p1"), Some("p2")));
    }

    #[test]
    fn byes_advance_the_top_seeds_and_bad_reports_change_nothing() {
        let mut b = Bracket::from_standings(&players(5)).unwrap();
        // 8 slots: seeds 1-3 have byes; 4 plays 5, and 2 already meets 3 in round two.
        assert_eq!(b.ready(), [(0, 1), (1, 1)]);
        assert_eq!(b.rounds[1][0].a.as_deref(), Some("p1"));
        let before = b.clone();
        assert!(b.report(0, 1, "p1").is_err());
        assert!(b.report(1, 0, "p1").is_err());
        assert!(b.report(0, 9, "p4").is_err());
        assert!(b.report(0, 0, "p1").is_err());
        assert_eq!(b, before);
        b.report(0, 1, "p5").unwrap();
        assert_eq!(b.rounds[1][0].b.as_deref(), Some("p5"));
        assert!(Bracket::from_standings(&players(1)).is_err());
    }
}
