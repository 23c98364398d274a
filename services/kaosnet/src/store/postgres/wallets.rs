//! Wallets in PostgreSQL: the balance lives in the user's row, read `FOR UPDATE` so that
//! concurrent updates of one wallet take turns.

use std::collections::BTreeMap;

use super::{db, PostgresStore};
use crate::store::wallets::{apply, LedgerEntry, WalletChange, WalletStore};
use crate::store::StoreError;

impl WalletStore for PostgresStore {
    fn update_wallet(
        &self,
        user_id: &str,
        changes: &BTreeMap<String, i64>,
        ledger: Option<&LedgerEntry>,
    ) -> Result<WalletChange, StoreError> {
        // The row lock orders writers of one wallet; nothing else is read.
        self.write_at(postgres::IsolationLevel::ReadCommitted, |tx| {
            let row = tx.query_opt("SELECT wallet FROM users WHERE id = $1 FOR UPDATE", &[&user_id]).map_err(db)?;
            let previous: String = row.ok_or(StoreError::NotFound)?.get(0);
            let updated = apply(&previous, changes)?;
            tx.execute("UPDATE users SET wallet = $2 WHERE id = $1", &[&user_id, &updated]).map_err(db)?;
            if let Some(e) = ledger {
                tx.execute(
                    "INSERT INTO wallet_ledger (id, user_id, changeset, metadata, create_time) VALUES ($1, $2, $3, $4, $5)",
                    &[&e.id, &user_id, &e.changeset, &e.metadata, &e.create_time],
                )
                .map_err(db)?;
            }
            Ok(WalletChange { previous, updated })
        })
    }

    fn wallet_ledger(&self, user_id: &str, limit: usize) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut client = self.conn()?;
        let rows = client
            .query(
                "SELECT id, user_id, changeset, metadata, create_time FROM wallet_ledger
                 WHERE user_id = $1 ORDER BY seq DESC LIMIT $2",
                &[&user_id, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| LedgerEntry {
                id: r.get(0),
                user_id: r.get(1),
                changeset: r.get(2),
                metadata: r.get(3),
                create_time: r.get(4),
            })
            .collect())
    }
}
