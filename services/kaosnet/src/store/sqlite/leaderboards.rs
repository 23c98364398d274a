//! Leaderboard definitions and records in SQLite.

use rusqlite::{params, OptionalExtension, Row};

use super::{db, SqliteStore};
use crate::store::leaderboards::{
    LeaderboardStore, RecordTicket, RecordWrite, StoredBoard, StoredRecord, RECORD_COLUMNS,
};
use crate::store::StoreError;

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

fn board_row(r: &Row<'_>) -> rusqlite::Result<StoredBoard> {
    Ok(StoredBoard { id: r.get(0)?, config: r.get(1)?, create_time: r.get(2)? })
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
            tx.prepare_cached("DELETE FROM leaderboard_records WHERE leaderboard_id = ?1")
                .map_err(db)?
                .execute([&id])
                .map_err(db)?;
            let n =
                tx.prepare_cached("DELETE FROM leaderboards WHERE id = ?1").map_err(db)?.execute([&id]).map_err(db)?;
            Ok(n == 1)
        })
    }

    fn write_records(&self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        self.submit_records(writes.to_vec()).wait()
    }

    fn submit_records(&self, writes: Vec<RecordWrite>) -> RecordTicket {
        let queued = self.write_later(move |tx| {
            for w in &writes {
                match w {
                    RecordWrite::Put(r) => {
                        let sql = format!(
                            "INSERT OR REPLACE INTO leaderboard_records ({RECORD_COLUMNS}) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                        );
                        tx.prepare_cached(&sql)
                            .map_err(db)?
                            .execute(params![
                                r.leaderboard_id,
                                r.owner_id,
                                r.username,
                                r.score,
                                r.subscore,
                                r.num_score,
                                r.max_num_score,
                                r.metadata,
                                r.create_time,
                                r.update_time,
                                r.expiry_time
                            ])
                            .map_err(db)?;
                    }
                    RecordWrite::Delete { leaderboard_id, owner_id, expiry_time } => {
                        tx.prepare_cached(
                            "DELETE FROM leaderboard_records \
                             WHERE leaderboard_id = ?1 AND expiry_time = ?2 AND owner_id = ?3",
                        )
                        .map_err(db)?
                        .execute(params![leaderboard_id, expiry_time, owner_id])
                        .map_err(db)?;
                    }
                }
            }
            Ok(())
        });
        match queued {
            Ok(answer) => RecordTicket::waiting(answer),
            Err(e) => RecordTicket::done(Err(e)),
        }
    }

    fn records(&self, leaderboard_id: &str, expiry_time: i64) -> Result<Vec<StoredRecord>, StoreError> {
        self.read(|conn| {
            let sql = format!(
                "SELECT {RECORD_COLUMNS} FROM leaderboard_records WHERE leaderboard_id = ?1 AND expiry_time = ?2"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
            let rows = stmt.query_map(params![leaderboard_id, expiry_time], record_row).map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
    }
}
