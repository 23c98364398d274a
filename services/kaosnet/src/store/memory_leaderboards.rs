//! Leaderboards in memory. Records are kept by board, then period, then owner, with the
//! owner id as a number when it is a canonical UUID (it always is when written through
//! `Leaderboards`) and short text inline: replacing a record then hashes two integers and
//! touches no heap, so the memory store keeps pace with the boards in front of it.

use std::collections::BTreeMap;
use std::sync::PoisonError;

use super::leaderboards::{owner_text, LeaderboardStore, RecordWrite, StoredBoard, StoredRecord};
use super::memory::MemoryStore;
use super::StoreError;
use crate::small_text::SmallText;

/// Board definitions, and records by board, then period (expiry), then owner.
#[derive(Default)]
pub(super) struct Boards {
    defs: BTreeMap<String, StoredBoard>,
    records: foldhash::HashMap<String, foldhash::HashMap<i64, foldhash::HashMap<Owner, Kept>>>,
}

impl Boards {
    /// Removes `owner_id`'s records of every board and period (their account is gone).
    pub(super) fn forget_owner(&mut self, owner_id: &str) {
        let owner = Owner::of(owner_id);
        for periods in self.records.values_mut() {
            for records in periods.values_mut() {
                records.remove(&owner);
            }
        }
    }
}

/// An owner id: a canonical (lowercase, hyphenated) UUID as its number, anything else as
/// text, so that every id reads back exactly as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Owner {
    Uuid(u128),
    Text(Box<str>),
}

impl Owner {
    fn of(id: &str) -> Owner {
        let canonical = id.len() == 36 && !id.bytes().any(|b| b.is_ascii_uppercase());
        match uuid::Uuid::try_parse(id) {
            Ok(u) if canonical => Owner::Uuid(u.as_u128()),
            _ => Owner::Text(id.into()),
        }
    }

    fn to_text(&self) -> String {
        match self {
            Owner::Uuid(u) => owner_text(*u),
            Owner::Text(t) => t.to_string(),
        }
    }
}

/// A record without what its place in the maps says (board, period, owner).
struct Kept {
    username: SmallText,
    metadata: SmallText,
    score: i64,
    subscore: i64,
    num_score: i32,
    max_num_score: i32,
    create_time: i64,
    update_time: i64,
}

impl Kept {
    fn of(r: &StoredRecord) -> Kept {
        Kept {
            username: r.username.as_str().into(),
            metadata: r.metadata.as_str().into(),
            score: r.score,
            subscore: r.subscore,
            num_score: r.num_score,
            max_num_score: r.max_num_score,
            create_time: r.create_time,
            update_time: r.update_time,
        }
    }

    fn record(&self, leaderboard_id: &str, owner: &Owner, expiry_time: i64) -> StoredRecord {
        StoredRecord {
            leaderboard_id: leaderboard_id.to_string(),
            owner_id: owner.to_text(),
            username: self.username.as_str().to_string(),
            score: self.score,
            subscore: self.subscore,
            num_score: self.num_score,
            max_num_score: self.max_num_score,
            metadata: self.metadata.as_str().to_string(),
            create_time: self.create_time,
            update_time: self.update_time,
            expiry_time,
        }
    }
}

impl LeaderboardStore for MemoryStore {
    fn create_board(&self, board: &StoredBoard) -> Result<bool, StoreError> {
        let mut b = self.boards.write().unwrap_or_else(PoisonError::into_inner);
        if b.defs.contains_key(&board.id) {
            return Ok(false);
        }
        b.defs.insert(board.id.clone(), board.clone());
        Ok(true)
    }

    fn board(&self, id: &str) -> Result<Option<StoredBoard>, StoreError> {
        Ok(self.boards.read().unwrap_or_else(PoisonError::into_inner).defs.get(id).cloned())
    }

    fn boards(&self) -> Result<Vec<StoredBoard>, StoreError> {
        Ok(self.boards.read().unwrap_or_else(PoisonError::into_inner).defs.values().cloned().collect())
    }

    fn delete_board(&self, id: &str) -> Result<bool, StoreError> {
        let mut b = self.boards.write().unwrap_or_else(PoisonError::into_inner);
        b.records.remove(id);
        Ok(b.defs.remove(id).is_some())
    }

    fn write_records(&self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        let mut b = self.boards.write().unwrap_or_else(PoisonError::into_inner);
        for w in writes {
            match w {
                RecordWrite::Put(r) => {
                    let periods = match b.records.get_mut(&r.leaderboard_id) {
                        Some(periods) => periods,
                        None => b.records.entry(r.leaderboard_id.clone()).or_default(),
                    };
                    periods.entry(r.expiry_time).or_default().insert(Owner::of(&r.owner_id), Kept::of(r));
                }
                RecordWrite::Delete { leaderboard_id, owner_id, expiry_time } => {
                    let period = b.records.get_mut(leaderboard_id).and_then(|p| p.get_mut(expiry_time));
                    if let Some(period) = period {
                        period.remove(&Owner::of(owner_id));
                    }
                }
            }
        }
        Ok(())
    }

    fn records(&self, leaderboard_id: &str, expiry_time: i64) -> Result<Vec<StoredRecord>, StoreError> {
        let b = self.boards.read().unwrap_or_else(PoisonError::into_inner);
        let Some(period) = b.records.get(leaderboard_id).and_then(|p| p.get(&expiry_time)) else {
            return Ok(Vec::new());
        };
        Ok(period.iter().map(|(owner, kept)| kept.record(leaderboard_id, owner, expiry_time)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::Owner;

    #[test]
    fn owner_ids_read_back_as_written() {
        for id in [
            "5f1c6d2e-8b7a-4c3d-9e0f-112233445566",
            "5F1C6D2E-8B7A-4C3D-9E0F-112233445566",
            "5f1c6d2e8b7a4c3d9e0f112233445566",
            "{5f1c6d2e-8b7a-4c3d-9e0f-112233445566}",
            "player-1",
            "",
        ] {
            assert_eq!(Owner::of(id).to_text(), id);
        }
        assert!(matches!(Owner::of("5f1c6d2e-8b7a-4c3d-9e0f-112233445566"), Owner::Uuid(_)));
    }
}
