//! Wallets in SQLite: the balance lives in the user's row; an update is one write of the
//! group-committing writer.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};

use super::{db, SqliteStore};
use crate::store::wallets::{apply, LedgerEntry, WalletChange, WalletStore};
use crate::store::StoreError;

impl WalletStore for SqliteStore {
    fn update_wallet(
        &self,
        user_id: &str,
        changes: &BTreeMap<String, i64>,
        ledger: Option<&LedgerEntry>,
    ) -> Result<WalletChange, StoreError> {
        let (user_id, changes, ledger) = (user_id.to_string(), changes.clone(), ledger.cloned());
        self.write(move |tx| {
            let previous: String = tx
                .prepare_cached("SELECT wallet FROM users WHERE id = ?1")
                .map_err(db)?
                .query_row([&user_id], |r| r.get(0))
                .optional()
                .map_err(db)?
                .ok_or(StoreError::NotFound)?;
            let updated = apply(&previous, &changes)?;
            tx.prepare_cached("UPDATE users SET wallet = ?2 WHERE id = ?1")
                .map_err(db)?
                .execute(params![user_id, updated])
                .map_err(db)?;
            if let Some(e) = ledger {
                tx.prepare_cached(
                    "INSERT INTO wallet_ledger (id, user_id, changeset, metadata, create_time) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(db)?
                .execute(params![e.id, user_id, e.changeset, e.metadata, e.create_time])
                .map_err(db)?;
            }
            Ok(WalletChange { previous, updated })
        })
    }

    fn wallet_ledger(&self, user_id: &str, limit: usize) -> Result<Vec<LedgerEntry>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, user_id, changeset, metadata, create_time FROM wallet_ledger
                     WHERE user_id = ?1 ORDER BY seq DESC LIMIT ?2",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![user_id, i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok(LedgerEntry {
                        id: r.get(0)?,
                        user_id: r.get(1)?,
                        changeset: r.get(2)?,
                        metadata: r.get(3)?,
                        create_time: r.get(4)?,
                    })
                })
                .map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
    }
}
