//! Revoked tokens in memory: every authenticated request asks whether its token was
//! revoked, and a read through the store's one connection cost more than the rest of a
//! small request. The set is read from the store on first use and written through on
//! each revocation, so it agrees with the store for a server that is the store's only
//! writer (kaos-server runs one node per database). Revocations of tokens that have
//! expired are dropped from both now and then: such a token fails on its expiry alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{PoisonError, RwLock};

use crate::store::{Store, StoreError};

/// How often expired revocations are dropped, seconds.
const PRUNE_EVERY: i64 = 60;

#[derive(Debug, Default)]
pub(super) struct Revocations {
    /// Token id to its expiry; None until read from the store.
    tokens: RwLock<Option<HashMap<String, i64>>>,
    next_prune: AtomicI64,
}

impl Revocations {
    /// Whether token `tid` was revoked.
    pub fn is_revoked(&self, store: &dyn Store, tid: &str, now: i64) -> Result<bool, StoreError> {
        loop {
            if let Some(tokens) = &*self.tokens.read().unwrap_or_else(PoisonError::into_inner) {
                return Ok(tokens.contains_key(tid));
            }
            self.load(store, now)?;
        }
    }

    /// Revokes token `tid` of `user_id`, valid until `exp`: in the store, then here.
    pub fn revoke(&self, store: &dyn Store, tid: &str, user_id: &str, exp: i64, now: i64) -> Result<(), StoreError> {
        store.revoke_token(tid, user_id, exp)?;
        self.load(store, now)?;
        let mut tokens = self.tokens.write().unwrap_or_else(PoisonError::into_inner);
        let tokens = tokens.get_or_insert_with(HashMap::new);
        tokens.insert(tid.to_string(), exp);
        if self.next_prune.load(Ordering::Relaxed) <= now {
            self.next_prune.store(now + PRUNE_EVERY, Ordering::Relaxed);
            tokens.retain(|_, e| *e > now);
            if let Err(e) = store.prune_revoked(now) {
                tracing::warn!("dropping expired token revocations failed (they stay, harmless): {e}");
            }
        }
        Ok(())
    }

    /// Reads the set from the store unless it was already.
    fn load(&self, store: &dyn Store, now: i64) -> Result<(), StoreError> {
        let mut tokens = self.tokens.write().unwrap_or_else(PoisonError::into_inner);
        if tokens.is_none() {
            *tokens = Some(store.revoked_tokens(now)?.into_iter().collect());
        }
        Ok(())
    }
}
