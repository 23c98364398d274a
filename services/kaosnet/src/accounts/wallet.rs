//! A user's wallet, changed by server code (REST clients only read it, in their account):
//! the rules every caller (Rust, Lua, the console) goes through.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Accounts;
use crate::error::ApiError;
use crate::store::{LedgerEntry, WalletChange};

/// Most balances one update may change.
pub const MAX_CHANGES: usize = 100;
/// Longest balance name, bytes.
pub const MAX_NAME: usize = 128;

impl Accounts {
    /// Adds `changes` to `user_id`'s balances at once, none of which may go below zero
    /// (refused whole otherwise); with `ledger`, the change and `metadata` (a JSON object)
    /// are recorded. Answers the wallet before and after, as JSON objects.
    pub fn update_wallet(
        &self,
        user_id: &str,
        changes: &BTreeMap<String, i64>,
        metadata: &Value,
        ledger: bool,
    ) -> Result<WalletChange, ApiError> {
        if changes.len() > MAX_CHANGES {
            return Err(ApiError::invalid(format!("A wallet update changes at most {MAX_CHANGES} balances.")));
        }
        if changes.keys().any(|k| k.is_empty() || k.len() > MAX_NAME) {
            return Err(ApiError::invalid(format!("Balance names are 1 to {MAX_NAME} bytes.")));
        }
        if !metadata.is_object() && !metadata.is_null() {
            return Err(ApiError::invalid("Wallet metadata must be a JSON object."));
        }
        let entry = ledger.then(|| LedgerEntry {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.to_string(),
            changeset: serde_json::to_string(changes).unwrap_or_else(|_| "{}".into()),
            metadata: if metadata.is_null() { "{}".into() } else { metadata.to_string() },
            create_time: self.now(),
        });
        match self.store.update_wallet(user_id, changes, entry.as_ref()) {
            Err(crate::store::StoreError::NotFound) => Err(ApiError::not_found("User not found.")),
            other => Ok(other?),
        }
    }

    /// `user_id`'s recorded wallet changes, newest first.
    pub fn wallet_ledger(&self, user_id: &str, limit: usize) -> Result<Vec<LedgerEntry>, ApiError> {
        crate::error::check_limit(limit, 100)?;
        Ok(self.store.wallet_ledger(user_id, limit)?)
    }
}
