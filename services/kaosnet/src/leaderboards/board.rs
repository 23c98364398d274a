//! One board: its definition, the records of its current period in memory (a hash map by
//! owner and the rank index), and the write path that makes submissions durable in
//! batches.
//!
//! Durability: a submission changes memory under the board's lock and queues its row in
//! the same critical section, so the queue is in the order of memory. Then whoever holds
//! the flush turn writes the whole queue in one store transaction: under load one commit
//! carries many submissions. If a batch fails, the board is marked stale and reloaded
//! from the store on its next use, so memory never keeps what the database refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::rank::RankIndex;
use super::{BoardDef, Operator, Record, SortOrder, Submission};
use crate::error::ApiError;
use crate::store::leaderboards::{RecordWrite, StoredRecord};
use crate::store::{Store, StoreError};

/// Orders records best first: the score and subscore mapped to unsigned order (flipped for
/// descending boards), then the owner.
pub(super) type Key = (u64, u64, u128);

fn order(v: i64, sort: SortOrder) -> u64 {
    let up = (v as u64) ^ (1 << 63);
    match sort {
        SortOrder::Ascending => up,
        SortOrder::Descending => !up,
    }
}

/// A record in memory (the board, owner and expiry are implied).
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub username: Box<str>,
    pub score: i64,
    pub subscore: i64,
    pub num_score: i32,
    pub metadata: Box<str>,
    pub create_time: i64,
    pub update_time: i64,
}

/// The period the records in memory belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Period {
    /// When the period's records expire (0: never).
    pub expiry: i64,
    /// Writes are taken in `[active_from, active_until)`.
    pub active_from: i64,
    pub active_until: i64,
    /// The period must be worked out again at this time.
    pub valid_until: i64,
}

pub(super) struct State {
    pub period: Period,
    pub index: RankIndex<Key>,
    pub entries: HashMap<u128, Entry>,
}

type Outcome = Arc<OnceLock<Result<(), StoreError>>>;

pub(super) struct Board {
    pub def: BoardDef,
    pub create_time: i64,
    state: RwLock<State>,
    queue: Mutex<Vec<(RecordWrite, Outcome)>>,
    flush_turn: Mutex<()>,
    /// A batch failed: memory may hold what the store does not.
    pub stale: AtomicBool,
}

/// An owner id as the index keys it.
pub(super) fn owner_key(owner_id: &str) -> Result<u128, ApiError> {
    uuid::Uuid::parse_str(owner_id)
        .map(|u| u.as_u128())
        .map_err(|_| ApiError::invalid(format!("Invalid owner ID: {owner_id:?}.")))
}

impl Board {
    /// The board `def` in the period of `now`, with that period's records from `store`.
    pub fn load(def: BoardDef, create_time: i64, store: &dyn Store, now: i64) -> Result<Board, ApiError> {
        let period = def.period(now);
        let board = Board {
            def,
            create_time,
            state: RwLock::new(State { period, index: RankIndex::default(), entries: HashMap::new() }),
            queue: Mutex::new(Vec::new()),
            flush_turn: Mutex::new(()),
            stale: AtomicBool::new(false),
        };
        let mut state = board.state.write().unwrap_or_else(PoisonError::into_inner);
        board.fill(&mut state, store)?;
        drop(state);
        Ok(board)
    }

    fn fill(&self, state: &mut State, store: &dyn Store) -> Result<(), ApiError> {
        state.index.clear();
        state.entries.clear();
        for r in store.records(&self.def.id, state.period.expiry)? {
            let Ok(owner) = owner_key(&r.owner_id) else { continue };
            state.index.insert(self.key(r.score, r.subscore, owner));
            state.entries.insert(
                owner,
                Entry {
                    username: r.username.into(),
                    score: r.score,
                    subscore: r.subscore,
                    num_score: r.num_score,
                    metadata: r.metadata.into(),
                    create_time: r.create_time,
                    update_time: r.update_time,
                },
            );
        }
        Ok(())
    }

    pub fn key(&self, score: i64, subscore: i64, owner: u128) -> Key {
        (order(score, self.def.sort_order), order(subscore, self.def.sort_order), owner)
    }

    /// The state, moved on to the period of `now` first if that one is over.
    pub fn read(&self, store: &dyn Store, now: i64) -> Result<RwLockReadGuard<'_, State>, ApiError> {
        {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            if now < state.period.valid_until {
                return Ok(state);
            }
        }
        drop(self.write(store, now)?);
        Ok(self.state.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The state for a change, in the period of `now`.
    pub fn write(&self, store: &dyn Store, now: i64) -> Result<RwLockWriteGuard<'_, State>, ApiError> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if now >= state.period.valid_until {
            let period = self.def.period(now);
            if period.expiry != state.period.expiry {
                state.period = period;
                self.fill(&mut state, store)?;
            } else {
                state.period = period;
            }
        }
        Ok(state)
    }

    /// The API form of `owner`'s entry at 1-based `rank`.
    pub fn record(&self, state: &State, owner: u128, entry: &Entry, rank: usize) -> Record {
        Record {
            leaderboard_id: self.def.id.clone(),
            owner_id: uuid::Uuid::from_u128(owner).to_string(),
            username: entry.username.to_string(),
            score: entry.score,
            subscore: entry.subscore,
            num_score: entry.num_score,
            max_num_score: self.def.max_num_score(),
            metadata: entry.metadata.to_string(),
            create_time: entry.create_time,
            update_time: entry.update_time,
            expiry_time: state.period.expiry,
            rank: rank as u64,
        }
    }

    /// The records at 0-based ranks `from..from + count`.
    pub fn page(&self, state: &State, from: usize, count: usize) -> Vec<Record> {
        state
            .index
            .range(from, count)
            .enumerate()
            .filter_map(|(i, key)| state.entries.get(&key.2).map(|e| self.record(state, key.2, e, from + i + 1)))
            .collect()
    }

    /// `owner`'s record with its rank.
    pub fn owner_record(&self, state: &State, owner: u128) -> Option<Record> {
        let entry = state.entries.get(&owner)?;
        let rank = state.index.rank(&self.key(entry.score, entry.subscore, owner)) + 1;
        Some(self.record(state, owner, entry, rank))
    }

    /// Applies a submission to memory and queues its row; the caller then calls
    /// [`Board::persist`] with the outcome returned. `joining` creates an empty record
    /// (a tournament join) and refuses nothing else.
    pub fn submit(
        &self,
        store: &dyn Store,
        now: i64,
        owner: u128,
        username: &str,
        s: &Submission,
        joining: bool,
    ) -> Result<(Record, Outcome), ApiError> {
        let mut state = self.write(store, now)?;
        let period = state.period;
        if now < period.active_from || now >= period.active_until {
            return Err(ApiError::invalid(format!("Tournament {} is not active.", self.def.id)));
        }
        if joining {
            if let Some(existing) = self.owner_record(&state, owner) {
                return Ok((existing, Arc::default()));
            }
        }
        let old = state.entries.get(&owner).cloned();
        let rules = self.def.tournament.as_ref();
        if old.is_none() {
            if rules.is_some_and(|t| t.join_required) && !joining {
                return Err(ApiError::invalid("The tournament must be joined before a record is written."));
            }
            if rules.is_some_and(|t| t.max_size > 0 && state.entries.len() >= t.max_size as usize) {
                return Err(ApiError::invalid(format!("Tournament {} is full.", self.def.id)));
            }
        }
        let entry = if joining {
            Entry {
                username: username.into(),
                score: 0,
                subscore: 0,
                num_score: 0,
                metadata: "{}".into(),
                create_time: now,
                update_time: now,
            }
        } else {
            self.apply(old.as_ref(), now, username, s)?
        };
        if let Some(o) = &old {
            state.index.remove(&self.key(o.score, o.subscore, owner));
        }
        let key = self.key(entry.score, entry.subscore, owner);
        state.index.insert(key);
        let rank = state.index.rank(&key) + 1;
        let record = self.record(&state, owner, &entry, rank);
        state.entries.insert(owner, entry);
        let outcome = Outcome::default();
        let row = RecordWrite::Put(StoredRecord {
            leaderboard_id: record.leaderboard_id.clone(),
            owner_id: record.owner_id.clone(),
            username: record.username.clone(),
            score: record.score,
            subscore: record.subscore,
            num_score: record.num_score,
            max_num_score: record.max_num_score,
            metadata: record.metadata.clone(),
            create_time: record.create_time,
            update_time: record.update_time,
            expiry_time: record.expiry_time,
        });
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).push((row, outcome.clone()));
        Ok((record, outcome))
    }

    /// The entry a submission makes of `old`.
    fn apply(&self, old: Option<&Entry>, now: i64, username: &str, s: &Submission) -> Result<Entry, ApiError> {
        let max = self.def.max_num_score();
        if let Some(o) = old {
            if max > 0 && o.num_score >= max {
                return Err(ApiError::invalid("Maximum number of score attempts reached."));
            }
        }
        let out_of_range = || ApiError::invalid("Score or subscore out of range.");
        let operator = s.operator.unwrap_or(self.def.operator);
        let (score, subscore) = match (operator, old) {
            (_, None) | (Operator::Set, Some(_)) => (s.score, s.subscore),
            (Operator::Best, Some(o)) => {
                let better = match self.def.sort_order {
                    SortOrder::Descending => (s.score, s.subscore) > (o.score, o.subscore),
                    SortOrder::Ascending => (s.score, s.subscore) < (o.score, o.subscore),
                };
                if better {
                    (s.score, s.subscore)
                } else {
                    (o.score, o.subscore)
                }
            }
            (Operator::Increment, Some(o)) => (
                o.score.checked_add(s.score).ok_or_else(out_of_range)?,
                o.subscore.checked_add(s.subscore).ok_or_else(out_of_range)?,
            ),
            (Operator::Decrement, Some(o)) => (
                o.score.checked_sub(s.score).ok_or_else(out_of_range)?,
                o.subscore.checked_sub(s.subscore).ok_or_else(out_of_range)?,
            ),
        };
        let metadata = match (&s.metadata, old) {
            (Some(m), _) => m.as_str().into(),
            (None, Some(o)) => o.metadata.clone(),
            (None, None) => "{}".into(),
        };
        Ok(Entry {
            username: username.into(),
            score,
            subscore,
            num_score: old.map_or(0, |o| o.num_score).saturating_add(1),
            metadata,
            create_time: old.map_or(now, |o| o.create_time),
            update_time: now,
        })
    }

    /// Deletes `owner`'s record of the current period; whether there was one. The caller
    /// then calls [`Board::persist`].
    pub fn remove(&self, store: &dyn Store, now: i64, owner: u128) -> Result<Option<Outcome>, ApiError> {
        let mut state = self.write(store, now)?;
        let Some(old) = state.entries.remove(&owner) else { return Ok(None) };
        state.index.remove(&self.key(old.score, old.subscore, owner));
        let outcome = Outcome::default();
        let row = RecordWrite::Delete {
            leaderboard_id: self.def.id.clone(),
            owner_id: uuid::Uuid::from_u128(owner).to_string(),
            expiry_time: state.period.expiry,
        };
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).push((row, outcome.clone()));
        Ok(Some(outcome))
    }

    /// Waits until the change behind `outcome` is durable (writing the queue in one batch
    /// if no one else is), and says how that went.
    pub fn persist(&self, store: &dyn Store, outcome: &Outcome) -> Result<(), ApiError> {
        let _turn = self.flush_turn.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(done) = outcome.get() {
            return done.clone().map_err(ApiError::from);
        }
        let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner));
        let (writes, outcomes): (Vec<RecordWrite>, Vec<Outcome>) = batch.into_iter().unzip();
        if writes.is_empty() {
            // A repeated join: nothing was queued for it.
            return outcome.get().cloned().unwrap_or(Ok(())).map_err(ApiError::from);
        }
        let result = store.write_records(&writes);
        if let Err(e) = &result {
            tracing::error!(board = %self.def.id, error = %e, "leaderboard write failed; the board will be reloaded");
            self.stale.store(true, Ordering::Release);
        }
        for o in &outcomes {
            let _ = o.set(result.clone());
        }
        // An empty outcome (a repeated join) is already durable.
        outcome.get().cloned().unwrap_or(Ok(())).map_err(ApiError::from)
    }
}
