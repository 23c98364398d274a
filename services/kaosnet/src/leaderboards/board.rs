//! One board: its definition, the records of its current period in memory (a hash map by
//! owner and the rank index), and the write path that makes submissions durable in
//! batches.
//!
//! Durability: a submission changes memory under the board's lock and queues its row in
//! the same critical section, so the queue is in the order of memory. Then whoever holds
//! the flush turn writes the whole queue in one store transaction: under load one commit
//! carries many submissions. If a batch fails, the board is marked stale and reloaded
//! from the store on its next use, so memory never keeps what the database refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::rank::RankIndex;
use super::{BoardDef, Operator, Record, SortOrder, Submission};
use crate::error::ApiError;
use crate::small_text::SmallText;
use crate::store::leaderboards::{owner_text, RecordWrite, StoredRecord};
use crate::store::{Store, StoreError};

/// Orders records best first: the score and subscore mapped to unsigned order (flipped for
/// descending boards), then the entry's slot, which is handed out in the order records
/// first appear in a period: on equal scores, the earlier record ranks first.
pub(super) type Key = (u64, u64, u32);

fn order(v: i64, sort: SortOrder) -> u64 {
    let up = (v as u64) ^ (1 << 63);
    match sort {
        SortOrder::Ascending => up,
        SortOrder::Descending => !up,
    }
}

/// A record in memory (the board and expiry are implied).
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub owner: u128,
    pub username: SmallText,
    pub score: i64,
    pub subscore: i64,
    pub num_score: i32,
    /// Submissions this record may take (0: no limit); a tournament's own at first,
    /// raised by server code (`tournament_add_attempt`).
    pub max_num_score: i32,
    pub metadata: SmallText,
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

/// The records of the period in memory: entries in a slab (a page of ranks reads one
/// entry per record, no hashing), owners to slots, and the rank index.
pub(super) struct State {
    pub period: Period,
    pub index: RankIndex<Key>,
    slots: foldhash::HashMap<u128, u32>,
    slab: Vec<Option<Entry>>,
}

impl State {
    fn new(period: Period) -> State {
        State { period, index: RankIndex::default(), slots: foldhash::HashMap::default(), slab: Vec::new() }
    }

    fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.slab.clear();
    }

    /// `owner`'s slot and entry.
    pub fn entry(&self, owner: u128) -> Option<(u32, &Entry)> {
        let slot = *self.slots.get(&owner)?;
        self.slab.get(slot as usize)?.as_ref().map(|e| (slot, e))
    }

    /// The slot `owner` has, or a new one.
    fn slot_for(&mut self, owner: u128) -> u32 {
        let next = self.slab.len() as u32;
        *self.slots.entry(owner).or_insert_with(|| {
            self.slab.push(None);
            next
        })
    }

    /// The slot of `owner` for a cursor: theirs, or past every slot if they are gone.
    pub fn cursor_slot(&self, owner: u128) -> u32 {
        self.slots.get(&owner).copied().unwrap_or(u32::MAX)
    }
}

/// A change waiting to be written: as memory has it, made into the store's row by the
/// flush (outside the board's lock).
pub(super) enum Queued {
    Put(Entry, i64),
    Delete(u128, i64),
}

/// Whether a queued change is durable yet, for the caller waiting on it.
#[derive(Default)]
pub(super) struct Outcome {
    state: Mutex<Settled>,
    ready: Condvar,
}

#[derive(Default)]
struct Settled {
    result: Option<Result<(), StoreError>>,
    /// Someone sleeps on `ready`: only then is a wake-up (a system call) worth making.
    waiting: bool,
}

impl Outcome {
    /// An outcome with nothing to wait for.
    fn done() -> Arc<Outcome> {
        let settled = Settled { result: Some(Ok(())), waiting: false };
        Arc::new(Outcome { state: Mutex::new(settled), ready: Condvar::new() })
    }

    fn set(&self, result: Result<(), StoreError>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.result = Some(result);
        if state.waiting {
            self.ready.notify_all();
        }
    }

    fn wait(&self) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(r) = &state.result {
                return r.clone();
            }
            state.waiting = true;
            state = self.ready.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

pub(super) struct Board {
    pub def: BoardDef,
    pub create_time: i64,
    state: RwLock<State>,
    queue: Mutex<Vec<(Queued, Arc<Outcome>)>>,
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
            state: RwLock::new(State::new(period)),
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
        state.clear();
        let mut rows: Vec<(u128, StoredRecord)> = store
            .records(&self.def.config.id, state.period.expiry)?
            .into_iter()
            .filter_map(|r| owner_key(&r.owner_id).ok().map(|o| (o, r)))
            .collect();
        // Slots in the order records appeared, as they were handed out live.
        rows.sort_by_key(|(o, r)| (r.create_time, *o));
        for (owner, r) in rows {
            let slot = state.slot_for(owner);
            state.index.insert(self.key(r.score, r.subscore, slot));
            state.slab[slot as usize] = Some(Entry {
                owner,
                username: r.username.as_str().into(),
                score: r.score,
                subscore: r.subscore,
                num_score: r.num_score,
                max_num_score: r.max_num_score,
                metadata: r.metadata.as_str().into(),
                create_time: r.create_time,
                update_time: r.update_time,
            });
        }
        Ok(())
    }

    pub fn key(&self, score: i64, subscore: i64, slot: u32) -> Key {
        (order(score, self.def.config.sort_order), order(subscore, self.def.config.sort_order), slot)
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
                if let Err(e) = self.fill(&mut state, store) {
                    // Half a period in memory must not stand: load the board again next time.
                    self.stale.store(true, Ordering::Release);
                    return Err(e);
                }
            } else {
                state.period = period;
            }
        }
        Ok(state)
    }

    /// The API form of an entry at 1-based `rank`.
    pub fn record(&self, state: &State, entry: &Entry, rank: usize) -> Record {
        self.record_in(state.period.expiry, entry, rank)
    }

    /// The API form of an entry of the period ending at `expiry`, at 1-based `rank`.
    fn record_in(&self, expiry: i64, entry: &Entry, rank: usize) -> Record {
        Record {
            leaderboard_id: self.def.config.id.clone(),
            owner_id: owner_text(entry.owner),
            username: entry.username.as_str().to_string(),
            score: entry.score,
            subscore: entry.subscore,
            num_score: entry.num_score,
            max_num_score: entry.max_num_score,
            metadata: entry.metadata.as_str().to_string(),
            create_time: entry.create_time,
            update_time: entry.update_time,
            expiry_time: expiry,
            rank: rank as u64,
        }
    }

    /// The records at 0-based ranks `from..from + count`.
    pub fn page(&self, state: &State, from: usize, count: usize) -> Vec<Record> {
        state
            .index
            .range(from, count)
            .enumerate()
            .filter_map(|(i, key)| {
                let entry = state.slab.get(key.2 as usize)?.as_ref()?;
                Some(self.record(state, entry, from + i + 1))
            })
            .collect()
    }

    /// `owner`'s record with its rank.
    pub fn owner_record(&self, state: &State, owner: u128) -> Option<Record> {
        let (slot, entry) = state.entry(owner)?;
        let rank = state.index.rank(&self.key(entry.score, entry.subscore, slot)) + 1;
        Some(self.record(state, entry, rank))
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
    ) -> Result<(Record, Arc<Outcome>), ApiError> {
        // The cache misses of finding the owner's record and its place in the index are
        // taken under the shared lock, beside other writers' work; the exclusive section
        // below then finds them in cache.
        {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((slot, e)) = state.entry(owner) {
                state.index.prefetch(&self.key(e.score, e.subscore, slot));
            }
        }
        let mut state = self.write(store, now)?;
        let period = state.period;
        if now < period.active_from || now >= period.active_until {
            return Err(ApiError::invalid(format!("Tournament {} is not active.", self.def.config.id)));
        }
        if joining {
            if let Some(existing) = self.owner_record(&state, owner) {
                return Ok((existing, Outcome::done()));
            }
        }
        let old = state.entry(owner).map(|(slot, e)| (slot, self.key(e.score, e.subscore, slot)));
        let rules = self.def.tournament.as_ref();
        if old.is_none() {
            if rules.is_some_and(|t| t.join_required) && !joining {
                return Err(ApiError::invalid("The tournament must be joined before a record is written."));
            }
            if rules.is_some_and(|t| t.max_size > 0 && state.index.len() >= t.max_size as usize) {
                return Err(ApiError::invalid(format!("Tournament {} is full.", self.def.config.id)));
            }
        }
        let entry = if joining {
            Entry {
                owner,
                username: username.into(),
                score: 0,
                subscore: 0,
                num_score: 0,
                max_num_score: self.def.max_num_score(),
                metadata: "{}".into(),
                create_time: now,
                update_time: now,
            }
        } else {
            self.apply(old.and_then(|(slot, _)| state.slab[slot as usize].as_ref()), owner, now, username, s)?
        };
        let slot = match old {
            Some((slot, _)) => slot,
            None => state.slot_for(owner),
        };
        let key = self.key(entry.score, entry.subscore, slot);
        // A submission that does not move the record (a worse score on a best board)
        // leaves the index alone.
        let rank = match old {
            Some((_, old_key)) if old_key == key => state.index.rank(&key),
            Some((_, old_key)) => state.index.replace(&old_key, key).unwrap_or_else(|at| at),
            None => state.index.insert_ranked(key).unwrap_or_else(|at| at),
        } + 1;
        state.slab[slot as usize] = Some(entry.clone());
        let outcome = Arc::new(Outcome::default());
        let row = Queued::Put(entry.clone(), period.expiry);
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).push((row, outcome.clone()));
        drop(state);
        // The API's strings are made after the lock is let go.
        Ok((self.record_in(period.expiry, &entry, rank), outcome))
    }

    /// Gives `owner`'s record of the current period `count` more submissions (fewer if
    /// negative, never below none); None if the owner has no record. The caller then
    /// calls [`Board::persist`].
    pub fn add_attempts(
        &self,
        store: &dyn Store,
        now: i64,
        owner: u128,
        count: i32,
    ) -> Result<Option<(Record, Arc<Outcome>)>, ApiError> {
        let mut state = self.write(store, now)?;
        let expiry = state.period.expiry;
        let Some((slot, entry)) = state.entry(owner) else { return Ok(None) };
        let rank = state.index.rank(&self.key(entry.score, entry.subscore, slot)) + 1;
        let Some(entry) = state.slab[slot as usize].as_mut() else { return Ok(None) };
        entry.max_num_score = entry.max_num_score.saturating_add(count).max(0);
        let entry = entry.clone();
        let outcome = Arc::new(Outcome::default());
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Queued::Put(entry.clone(), expiry), outcome.clone()));
        drop(state);
        Ok(Some((self.record_in(expiry, &entry, rank), outcome)))
    }

    /// The entry a submission makes of `old`.
    fn apply(
        &self,
        old: Option<&Entry>,
        owner: u128,
        now: i64,
        username: &str,
        s: &Submission,
    ) -> Result<Entry, ApiError> {
        let max = old.map_or(self.def.max_num_score(), |o| o.max_num_score);
        if let Some(o) = old {
            if max > 0 && o.num_score >= max {
                return Err(ApiError::invalid("Maximum number of score attempts reached."));
            }
        }
        let out_of_range = || ApiError::invalid("Score or subscore out of range.");
        let operator = s.operator.unwrap_or(self.def.config.operator);
        let (score, subscore) = match (operator, old) {
            (_, None) | (Operator::Set, Some(_)) => (s.score, s.subscore),
            (Operator::Best, Some(o)) => {
                let better = match self.def.config.sort_order {
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
            owner,
            username: username.into(),
            score,
            subscore,
            num_score: old.map_or(0, |o| o.num_score).saturating_add(1),
            max_num_score: max,
            metadata,
            create_time: old.map_or(now, |o| o.create_time),
            update_time: now,
        })
    }

    /// Deletes `owner`'s record of the current period; whether there was one. The caller
    /// then calls [`Board::persist`].
    pub fn remove(&self, store: &dyn Store, now: i64, owner: u128) -> Result<Option<Arc<Outcome>>, ApiError> {
        let mut state = self.write(store, now)?;
        let Some(slot) = state.slots.remove(&owner) else { return Ok(None) };
        let Some(old) = state.slab[slot as usize].take() else { return Ok(None) };
        state.index.remove(&self.key(old.score, old.subscore, slot));
        let outcome = Arc::new(Outcome::default());
        let row = Queued::Delete(owner, state.period.expiry);
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).push((row, outcome.clone()));
        Ok(Some(outcome))
    }

    /// The store's form of a queued change.
    fn row(&self, queued: Queued) -> RecordWrite {
        match queued {
            Queued::Put(entry, expiry) => RecordWrite::Put(self.record_in(expiry, &entry, 0).into_stored()),
            Queued::Delete(owner, expiry) => RecordWrite::Delete {
                leaderboard_id: self.def.config.id.clone(),
                owner_id: owner_text(owner),
                expiry_time: expiry,
            },
        }
    }

    /// Waits until the change behind `outcome` is durable, and says how that went.
    /// Whoever gets the turn hands everything queued to the store as one batch, in queue
    /// order, then waits for it outside the turn: the SQLite store commits the batches
    /// waiting in its writer together, so under load one commit carries many.
    pub fn persist(&self, store: &dyn Store, outcome: &Outcome) -> Result<(), ApiError> {
        let handed = {
            let _turn = self.flush_turn.lock().unwrap_or_else(PoisonError::into_inner);
            let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner));
            if batch.is_empty() {
                None
            } else {
                let mut writes = Vec::with_capacity(batch.len());
                let mut outcomes = Vec::with_capacity(batch.len());
                for (row, outcome) in batch {
                    writes.push(self.row(row));
                    outcomes.push(outcome);
                }
                Some((store.submit_records(writes), outcomes))
            }
        };
        if let Some((ticket, outcomes)) = handed {
            let result = ticket.wait();
            if let Err(e) = &result {
                tracing::error!(board = %self.def.config.id, error = %e, "leaderboard write failed; the board will be reloaded");
                self.stale.store(true, Ordering::Release);
            }
            for o in &outcomes {
                o.set(result.clone());
            }
        }
        outcome.wait().map_err(ApiError::from)
    }
}
