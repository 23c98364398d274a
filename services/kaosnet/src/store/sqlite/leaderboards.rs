//! Leaderboard definitions and records in SQLite.
//!
//! Record writes are appended to a journal (`leaderboard_journal`, rowid order): a commit
//! of many submissions then writes a few sequential pages, where updating the records
//! table in place would dirty one random page per record. The writer thread folds the
//! journal into `leaderboard_records` in sorted chunks when it is idle (and after each
//! commit once the journal is long), keeping only the latest write of each record. Reads
//! merge the two tables in one snapshot.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::{db, SqliteStore};
use crate::store::leaderboards::{
    LeaderboardStore, RecordTicket, RecordWrite, StoredBoard, StoredRecord, RECORD_COLUMNS,
};
use crate::store::StoreError;

/// The writer folds when no write arrived for this long.
pub(super) const FOLD_WHEN_IDLE: Duration = Duration::from_millis(50);
/// Past this many journal rows the writer also folds under load.
pub(super) const JOURNAL_HIGH_WATER: i64 = 200_000;
/// Journal rows folded per transaction.
const FOLD_CHUNK: i64 = 20_000;

fn record_row(r: &Row<'_>) -> rusqlite::Result<StoredRecord> {
    Ok(StoredRecord {
        leaderboard_id: r.get(0)?,
        owner_id: r.get(1)?,
        username: r.get(2)?,
        score: r.get(3)?,
        subscore: r.get(4)?,
        num_score: r.get(5)?,
        max_num_score: r.get(6)?,
        metadata: r.get(7)?,
        create_time: r.get(8)?,
        update_time: r.get(9)?,
        expiry_time: r.get(10)?,
    })
}

/// A journal row: its sequence, whether it deletes, and the record (only the key fields
/// are meaningful for a delete).
fn journal_row(r: &Row<'_>) -> rusqlite::Result<(i64, bool, StoredRecord)> {
    Ok((r.get(11)?, r.get(12)?, record_row(r)?))
}

fn board_row(r: &Row<'_>) -> rusqlite::Result<StoredBoard> {
    Ok(StoredBoard { id: r.get(0)?, config: r.get(1)?, create_time: r.get(2)? })
}

/// A record's values in [`RECORD_COLUMNS`] order.
fn values(r: &StoredRecord) -> [&dyn rusqlite::ToSql; 11] {
    [
        &r.leaderboard_id,
        &r.owner_id,
        &r.username,
        &r.score,
        &r.subscore,
        &r.num_score,
        &r.max_num_score,
        &r.metadata,
        &r.create_time,
        &r.update_time,
        &r.expiry_time,
    ]
}

fn append(tx: &Transaction<'_>, w: &RecordWrite) -> Result<(), StoreError> {
    let gone;
    let (r, deleted) = match w {
        RecordWrite::Put(r) => (r, false),
        RecordWrite::Delete { leaderboard_id, owner_id, expiry_time } => {
            gone = StoredRecord {
                leaderboard_id: leaderboard_id.clone(),
                owner_id: owner_id.clone(),
                expiry_time: *expiry_time,
                ..StoredRecord::default()
            };
            (&gone, true)
        }
    };
    let mut row = values(r).to_vec();
    row.push(&deleted);
    tx.prepare_cached(&format!(
        "INSERT INTO leaderboard_journal ({RECORD_COLUMNS}, deleted) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))
    .map_err(db)?
    .execute(row.as_slice())
    .map_err(db)?;
    Ok(())
}

/// Folds up to a chunk of the oldest journal rows into the records table: the latest
/// write of each record, applied in key order, in one transaction. Failures are logged
/// and left for the next try.
pub(super) fn fold_some(conn: &mut Connection, journal: &AtomicI64) {
    if journal.load(Ordering::Relaxed) <= 0 {
        return;
    }
    match fold(conn, FOLD_CHUNK) {
        Ok(folded) if folded < FOLD_CHUNK => journal.store(0, Ordering::Relaxed),
        Ok(folded) => {
            journal.fetch_sub(folded, Ordering::Relaxed);
        }
        Err(e) => tracing::error!(error = %e, "folding the leaderboard journal failed; it will be tried again"),
    }
}

/// Folds up to `limit` journal rows in a transaction of its own; how many it folded.
fn fold(conn: &mut Connection, limit: i64) -> Result<i64, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
    let folded = fold_in(&tx, limit)?;
    tx.commit().map_err(db)?;
    Ok(folded)
}

/// Folds up to `limit` journal rows inside the caller's transaction.
fn fold_in(tx: &Connection, limit: i64) -> Result<i64, StoreError> {
    let sql = format!("SELECT {RECORD_COLUMNS}, seq, deleted FROM leaderboard_journal ORDER BY seq LIMIT ?1");
    let rows: Vec<(i64, bool, StoredRecord)> = {
        let mut stmt = tx.prepare_cached(&sql).map_err(db)?;
        let rows = stmt.query_map([limit], journal_row).map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    let Some(last) = rows.last().map(|(seq, _, _)| *seq) else { return Ok(0) };
    let folded = rows.len() as i64;
    let mut latest: BTreeMap<(String, i64, String), (bool, StoredRecord)> = BTreeMap::new();
    for (_, deleted, r) in rows {
        latest.insert((r.leaderboard_id.clone(), r.expiry_time, r.owner_id.clone()), (deleted, r));
    }
    for ((board, expiry, owner), (deleted, r)) in &latest {
        if *deleted {
            tx.prepare_cached(
                "DELETE FROM leaderboard_records WHERE leaderboard_id = ?1 AND expiry_time = ?2 AND owner_id = ?3",
            )
            .map_err(db)?
            .execute(params![board, expiry, owner])
            .map_err(db)?;
        } else {
            tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO leaderboard_records ({RECORD_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))
            .map_err(db)?
            .execute(values(r).as_slice())
            .map_err(db)?;
        }
    }
    tx.prepare_cached("DELETE FROM leaderboard_journal WHERE seq <= ?1").map_err(db)?.execute([last]).map_err(db)?;
    Ok(folded)
}

impl SqliteStore {
    /// Folds the whole leaderboard journal into the records table now (the writer does
    /// it by itself when idle; this is for maintenance and tests).
    pub fn fold_leaderboard_journal(&self) -> Result<(), StoreError> {
        while self.write(|tx| fold_in(tx, FOLD_CHUNK))? == FOLD_CHUNK {}
        self.journal.store(0, Ordering::Relaxed);
        Ok(())
    }
}

impl LeaderboardStore for SqliteStore {
    fn create_board(&self, board: &StoredBoard) -> Result<bool, StoreError> {
        let b = board.clone();
        self.write(move |tx| {
            let n = tx
                .prepare_cached("INSERT OR IGNORE INTO leaderboards (id, config, create_time) VALUES (?1, ?2, ?3)")
                .map_err(db)?
                .execute(params![b.id, b.config, b.create_time])
                .map_err(db)?;
            Ok(n == 1)
        })
    }

    fn board(&self, id: &str) -> Result<Option<StoredBoard>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT id, config, create_time FROM leaderboards WHERE id = ?1")
                .map_err(db)?
                .query_row([id], board_row)
                .optional()
                .map_err(db)
        })
    }

    fn boards(&self) -> Result<Vec<StoredBoard>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT id, config, create_time FROM leaderboards ORDER BY id").map_err(db)?;
            let rows = stmt.query_map([], board_row).map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
    }

    fn delete_board(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            for table in ["leaderboard_records", "leaderboard_journal"] {
                tx.prepare_cached(&format!("DELETE FROM {table} WHERE leaderboard_id = ?1"))
                    .map_err(db)?
                    .execute([&id])
                    .map_err(db)?;
            }
            let n =
                tx.prepare_cached("DELETE FROM leaderboards WHERE id = ?1").map_err(db)?.execute([&id]).map_err(db)?;
            Ok(n == 1)
        })
    }

    fn write_records(&self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        self.submit_records(writes.to_vec()).wait()
    }

    fn submit_records(&self, writes: Vec<RecordWrite>) -> RecordTicket {
        let count = writes.len() as i64;
        let queued = self.write_later(move |tx| {
            for w in &writes {
                append(tx, w)?;
            }
            Ok(())
        });
        match queued {
            Ok(answer) => {
                self.journal.fetch_add(count, Ordering::Relaxed);
                RecordTicket::waiting(answer)
            }
            Err(e) => RecordTicket::done(Err(e)),
        }
    }

    fn records(&self, leaderboard_id: &str, expiry_time: i64) -> Result<Vec<StoredRecord>, StoreError> {
        self.read(|conn| {
            // One snapshot: a fold committing between the two reads must not hide a record.
            let tx = conn.unchecked_transaction().map_err(db)?;
            let mut merged: HashMap<String, StoredRecord> = HashMap::new();
            let sql = format!(
                "SELECT {RECORD_COLUMNS} FROM leaderboard_records WHERE leaderboard_id = ?1 AND expiry_time = ?2"
            );
            let mut stmt = tx.prepare_cached(&sql).map_err(db)?;
            for r in stmt.query_map(params![leaderboard_id, expiry_time], record_row).map_err(db)? {
                let r = r.map_err(db)?;
                merged.insert(r.owner_id.clone(), r);
            }
            let sql = format!(
                "SELECT {RECORD_COLUMNS}, seq, deleted FROM leaderboard_journal \
                 WHERE leaderboard_id = ?1 AND expiry_time = ?2 ORDER BY seq"
            );
            let mut stmt = tx.prepare_cached(&sql).map_err(db)?;
            for row in stmt.query_map(params![leaderboard_id, expiry_time], journal_row).map_err(db)? {
                let (_, deleted, r) = row.map_err(db)?;
                if deleted {
                    merged.remove(&r.owner_id);
                } else {
                    merged.insert(r.owner_id.clone(), r);
                }
            }
            Ok(merged.into_values().collect())
        })
    }
}
