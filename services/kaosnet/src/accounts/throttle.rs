//! Failed password sign-ins, counted per account whatever address they come from: after
//! a few free failures each one locks the account's password sign-in for twice as long as
//! the last (1 s, 2 s, 4 s … up to a cap), and while locked even the right password is
//! refused without being checked (a guesser learns nothing, and costs no hashing).
//! A success clears the count. Other ways to sign in (device, custom id) are not locked.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::error::{ApiError, Code};

/// How failed password sign-ins are slowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures allowed before the first lockout.
    pub free_failures: u32,
    /// Longest lockout, seconds.
    pub max_lockout_sec: i64,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits { free_failures: 5, max_lockout_sec: 900 }
    }
}

/// Accounts with failures, and until when each is locked.
#[derive(Debug, Default)]
pub(crate) struct LoginThrottle {
    limits: LoginLimits,
    failing: Mutex<HashMap<String, (u32, i64)>>,
}

/// Accounts remembered before the ones whose lockout is long over are dropped.
const SWEEP_AT: usize = 100_000;

impl LoginThrottle {
    pub fn new(limits: LoginLimits) -> LoginThrottle {
        LoginThrottle { limits, failing: Mutex::default() }
    }

    /// Refuses while `user_id`'s password sign-in is locked at `now`.
    pub fn check(&self, user_id: &str, now: i64) -> Result<(), ApiError> {
        match self.lock().get(user_id) {
            Some(&(_, until)) if now < until => {
                Err(ApiError::new(Code::ResourceExhausted, "Too many failed sign-in attempts, try again later."))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failure at `now`, locking the account once the free ones are spent.
    pub fn failed(&self, user_id: &str, now: i64) {
        let mut failing = self.lock();
        if failing.len() >= SWEEP_AT {
            let forgotten = now - self.limits.max_lockout_sec;
            failing.retain(|_, (_, until)| *until > forgotten);
        }
        let (failures, until) = failing.entry(user_id.to_string()).or_insert((0, 0));
        *failures += 1;
        if let Some(over) = failures.checked_sub(self.limits.free_failures + 1) {
            let lockout = 1i64.checked_shl(over.min(62)).unwrap_or(i64::MAX).min(self.limits.max_lockout_sec);
            *until = now.saturating_add(lockout);
        }
    }

    /// Clears `user_id`'s failures.
    pub fn succeeded(&self, user_id: &str) {
        self.lock().remove(user_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, i64)>> {
        self.failing.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
