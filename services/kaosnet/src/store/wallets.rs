//! Wallets: a user's named balances (whole numbers), changed only in atomic updates that
//! may never leave a balance below zero, with an optional ledger of each change. The
//! rule of an update lives in [`apply`], which every store runs inside its transaction.

use std::collections::BTreeMap;

use super::StoreError;

/// One recorded change of a wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: String,
    pub user_id: String,
    /// The change, as a JSON object of names to amounts.
    pub changeset: String,
    /// A JSON object the caller gave with the change.
    pub metadata: String,
    pub create_time: i64,
}

/// A wallet before and after an update, as JSON objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletChange {
    pub previous: String,
    pub updated: String,
}

/// Wallets, kept with their users (a user's wallet goes with the user).
pub trait WalletStore {
    /// Adds `changes` to `user_id`'s wallet in one transaction (see [`apply`]); with
    /// `ledger`, records the change under that entry's id and metadata. `NotFound` if
    /// there is no such user.
    fn update_wallet(
        &self,
        user_id: &str,
        changes: &BTreeMap<String, i64>,
        ledger: Option<&LedgerEntry>,
    ) -> Result<WalletChange, StoreError>;
    /// `user_id`'s ledger, newest first, at most `limit`.
    fn wallet_ledger(&self, user_id: &str, limit: usize) -> Result<Vec<LedgerEntry>, StoreError>;
}

/// `current` (a JSON object of names to whole numbers; anything else counts as empty)
/// with `changes` added: refused whole if a balance would go below zero or overflow.
pub fn apply(current: &str, changes: &BTreeMap<String, i64>) -> Result<String, StoreError> {
    let mut wallet: BTreeMap<String, i64> = serde_json::from_str(current).unwrap_or_default();
    for (name, amount) in changes {
        let balance = wallet.get(name).copied().unwrap_or(0);
        let Some(next) = balance.checked_add(*amount) else {
            return Err(StoreError::Wallet(format!("wallet update overflows at path '{name}'")));
        };
        if next < 0 {
            return Err(StoreError::Wallet(format!("wallet update rejected negative value at path '{name}'")));
        }
        wallet.insert(name.clone(), next);
    }
    Ok(serde_json::to_string(&wallet).unwrap_or_else(|_| "{}".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_add_and_never_go_below_zero() {
        let changes = |pairs: &[(&str, i64)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        assert_eq!(apply("{}", &changes(&[("gold", 10)])).unwrap(), r#"{"gold":10}"#);
        assert_eq!(apply(r#"{"gold":10,"gems":1}"#, &changes(&[("gold", -4)])).unwrap(), r#"{"gems":1,"gold":6}"#);
        let e = apply(r#"{"gold":3}"#, &changes(&[("gems", 1), ("gold", -4)])).unwrap_err();
        assert_eq!(e.to_string(), "wallet update rejected negative value at path 'gold'");
        assert!(apply(r#"{"gold":9223372036854775807}"#, &changes(&[("gold", 1)])).is_err());
    }
}
