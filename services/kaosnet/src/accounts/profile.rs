//! A user's own account: read, change and delete it, and look users up, with the rules
//! every caller (REST, server code, Lua, the console) goes through.

use serde::Deserialize;

use super::Accounts;
use crate::error::{ApiError, Code};
use crate::store::{StoreError, User, UserKey};

/// Most users one lookup may name.
pub const MAX_LOOKUP: usize = 100;
/// Longest username (bytes).
pub const MAX_USERNAME: usize = 128;
/// Longest display name, avatar URL, lang tag, location and timezone (bytes).
pub const MAX_FIELD: usize = 255;

/// What a user may change of their account (`PUT /v2/account`); a field left None, or
/// an empty username, stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AccountUpdate {
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub lang_tag: Option<String>,
    pub location: Option<String>,
    pub timezone: Option<String>,
    /// A JSON object; server code's to set (a client's request never carries it).
    #[serde(skip)]
    pub metadata: Option<serde_json::Value>,
}

impl Accounts {
    /// The account of `user_id`.
    pub fn account(&self, user_id: &str) -> Result<User, ApiError> {
        self.store.user(UserKey::Id(user_id))?.ok_or_else(|| ApiError::not_found("Account not found."))
    }

    /// Applies `update` to `user_id`'s account.
    pub fn update_account(&self, user_id: &str, update: AccountUpdate) -> Result<(), ApiError> {
        let mut u = self.account(user_id)?;
        if let Some(name) = update.username.filter(|n| !n.is_empty()) {
            super::check_username(&name)?;
            u.username = name;
        }
        for (field, value) in [
            (&mut u.display_name, update.display_name),
            (&mut u.avatar_url, update.avatar_url),
            (&mut u.lang_tag, update.lang_tag),
            (&mut u.location, update.location),
            (&mut u.timezone, update.timezone),
        ] {
            if let Some(v) = value {
                if v.len() > MAX_FIELD {
                    return Err(ApiError::invalid("Account fields must be at most 255 characters."));
                }
                *field = v;
            }
        }
        if let Some(metadata) = update.metadata {
            if !metadata.is_object() {
                return Err(ApiError::invalid("Metadata must be a JSON object."));
            }
            u.metadata = metadata.to_string();
        }
        u.update_time = self.now();
        match self.store.update_user(&u) {
            Err(StoreError::Conflict("username")) => {
                Err(ApiError::new(Code::AlreadyExists, "Username is already in use."))
            }
            other => Ok(other?),
        }
    }

    /// Deletes `user_id`'s account and everything it owns.
    pub fn delete_account(&self, user_id: &str) -> Result<(), ApiError> {
        match self.store.delete_user(user_id)? {
            true => Ok(()),
            false => Err(ApiError::not_found("Account not found.")),
        }
    }

    /// The users named by id or username (each once; unknown ones are skipped).
    pub fn users(&self, ids: &[String], usernames: &[String]) -> Result<Vec<User>, ApiError> {
        if ids.len() + usernames.len() > MAX_LOOKUP {
            return Err(ApiError::invalid("At most 100 users may be requested at once."));
        }
        Ok(self.store.users(ids, usernames)?)
    }
}
