//! Leaderboard definitions and records in PostgreSQL.

use postgres::Row;

use super::{db, PostgresStore};
use crate::store::leaderboards::{LeaderboardStore, RecordWrite, StoredBoard, StoredRecord, RECORD_COLUMNS};
use crate::store::StoreError;

fn record_row(r: &Row) -> StoredRecord {
    StoredRecord {
        leaderboard_id: r.get(0),
        owner_id: r.get(1),
        username: r.get(2),
        score: r.get(3),
        subscore: r.get(4),
        num_score: r.get(5),
        max_num_score: r.get(6),
        metadata: r.get(7),
        create_time: r.get(8),
        update_time: r.get(9),
        expiry_time: r.get(10),
    }
}

fn board_row(r: &Row) -> StoredBoard {
    StoredBoard { id: r.get(0), config: r.get(1), create_time: r.get(2) }
}

impl LeaderboardStore for PostgresStore {
    fn create_board(&self, b: &StoredBoard) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx
                .execute(
                    "INSERT INTO leaderboards (id, config, create_time) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                    &[&b.id, &b.config, &b.create_time],
                )
                .map_err(db)?;
            Ok(n == 1)
        })
    }

    fn board(&self, id: &str) -> Result<Option<StoredBoard>, StoreError> {
        let mut client = self.conn()?;
        let row =
            client.query_opt("SELECT id, config, create_time FROM leaderboards WHERE id = $1", &[&id]).map_err(db)?;
        Ok(row.as_ref().map(board_row))
    }

    fn boards(&self) -> Result<Vec<StoredBoard>, StoreError> {
        let mut client = self.conn()?;
        let rows = client.query("SELECT id, config, create_time FROM leaderboards ORDER BY id", &[]).map_err(db)?;
        Ok(rows.iter().map(board_row).collect())
    }

    fn delete_board(&self, id: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            tx.execute("DELETE FROM leaderboard_records WHERE leaderboard_id = $1", &[&id]).map_err(db)?;
            Ok(tx.execute("DELETE FROM leaderboards WHERE id = $1", &[&id]).map_err(db)? == 1)
        })
    }

    fn write_records(&self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        let put = format!(
            "INSERT INTO leaderboard_records ({RECORD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (leaderboard_id, expiry_time, owner_id) DO UPDATE SET username = EXCLUDED.username, \
             score = EXCLUDED.score, subscore = EXCLUDED.subscore, num_score = EXCLUDED.num_score, \
             max_num_score = EXCLUDED.max_num_score, metadata = EXCLUDED.metadata, \
             create_time = EXCLUDED.create_time, update_time = EXCLUDED.update_time"
        );
        self.write(|tx| {
            let put = tx.prepare(&put).map_err(db)?;
            for w in writes {
                match w {
                    RecordWrite::Put(r) => {
                        tx.execute(
                            &put,
                            &[
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
                            ],
                        )
                        .map_err(db)?;
                    }
                    RecordWrite::Delete { leaderboard_id, owner_id, expiry_time } => {
                        tx.execute(
                            "DELETE FROM leaderboard_records \
                             WHERE leaderboard_id = $1 AND expiry_time = $2 AND owner_id = $3",
                            &[leaderboard_id, expiry_time, owner_id],
                        )
                        .map_err(db)?;
                    }
                }
            }
            Ok(())
        })
    }

    fn records(&self, leaderboard_id: &str, expiry_time: i64) -> Result<Vec<StoredRecord>, StoreError> {
        let sql =
            format!("SELECT {RECORD_COLUMNS} FROM leaderboard_records WHERE leaderboard_id = $1 AND expiry_time = $2");
        let mut client = self.conn()?;
        let rows = client.query(&sql, &[&leaderboard_id, &expiry_time]).map_err(db)?;
        Ok(rows.iter().map(record_row).collect())
    }
}
