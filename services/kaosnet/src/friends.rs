//! Friends: invites, acceptance, blocks and listings, with Nakama's states (0 mutual,
//! 1 invite sent, 2 invite received, 3 blocked).
//!
//! Adding a user sends an invite (notification -2 to them); adding a user who invited you
//! accepts (notification -3 to them), both sides then mutual. Deleting removes both sides,
//! except a block the other user holds. Blocking replaces the caller's side with a block
//! and removes the other side (unless it is a block too). Each call is one store
//! transaction: a refused target (oneself, an unknown user, a user who blocked you)
//! fails the whole call and changes nothing.

use base64::Engine;
use serde_json::json;

use std::sync::Arc;

use crate::error::{check_limit, ApiError};
use crate::notifications::{code, Notifications, Outgoing};
use crate::store::{
    friend_state, AccountStore, Friend, Refusal, SocialDone, SocialStore, SocialWrite, StoreError, User, UserKey,
};

/// Most users one call may name.
pub const MAX_TARGETS: usize = 1000;
/// Most friends one page may hold.
pub const MAX_PAGE: usize = 1000;

/// A page of a friend list.
#[derive(Debug, Clone, PartialEq)]
pub struct FriendPage {
    /// Each friend's account and the edge from the caller to them.
    pub friends: Vec<(User, Friend)>,
    /// Where the next page begins; None on the last page.
    pub cursor: Option<String>,
}

/// A page of friends of friends: (the friend who knows them, the user).
#[derive(Debug, Clone, PartialEq)]
pub struct FriendsOfFriendsPage {
    pub friends_of_friends: Vec<(String, User)>,
    pub cursor: Option<String>,
}

enum Act {
    Add,
    Delete,
    Block,
}

/// The friends service: it owns the accounts and social data it reads and writes, and
/// tells users of invites and acceptances.
pub struct Friends {
    pub(crate) accounts: Arc<dyn AccountStore + Send + Sync>,
    pub(crate) social: Arc<dyn SocialStore + Send + Sync>,
    pub(crate) notifications: Arc<Notifications>,
    pub(crate) clock: fn() -> i64,
}

crate::opaque_debug!(Friends);

fn encode(text: String) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode(cursor: &str) -> Result<String, ApiError> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| ApiError::invalid("Cursor is invalid."))?;
    String::from_utf8(raw).map_err(|_| ApiError::invalid("Cursor is invalid."))
}

impl Friends {
    /// The user ids named by `ids` and `usernames`; unknown usernames are an error unless
    /// `lenient`, as is naming oneself.
    fn resolve(&self, me: &User, ids: &[String], usernames: &[String], act: &Act) -> Result<Vec<String>, ApiError> {
        if ids.len() + usernames.len() > MAX_TARGETS {
            return Err(ApiError::invalid(format!("At most {MAX_TARGETS} users per call.")));
        }
        let myself = || {
            ApiError::invalid(match act {
                Act::Add => "Cannot add self as friend.",
                Act::Delete => "Cannot delete self.",
                Act::Block => "Cannot block self.",
            })
        };
        let mut out = Vec::with_capacity(ids.len() + usernames.len());
        for id in ids {
            match uuid::Uuid::parse_str(id) {
                Ok(u) if !u.is_nil() => out.push(u.to_string()),
                _ => return Err(ApiError::invalid(format!("Invalid user ID '{id}'."))),
            }
        }
        for name in usernames {
            if name.is_empty() {
                return Err(ApiError::invalid("Username must not be empty."));
            }
            match self.accounts.user(UserKey::Username(name))? {
                Some(u) => out.push(u.id),
                None if matches!(act, Act::Delete) => {}
                None => return Err(ApiError::not_found(format!("User '{name}' not found."))),
            }
        }
        if out.contains(&me.id) {
            return Err(myself());
        }
        Ok(out)
    }

    fn caller(&self, user_id: &str) -> Result<User, ApiError> {
        self.accounts.user(UserKey::Id(user_id))?.ok_or_else(|| ApiError::not_found("Account not found."))
    }

    fn apply(&self, write: SocialWrite) -> Result<SocialDone, ApiError> {
        self.social.social_write(write, (self.clock)()).map_err(|e| match e {
            StoreError::Social(Refusal::UserNotFound) => ApiError::not_found("User not found."),
            other => other.into(),
        })
    }

    /// Sends invites to (or accepts the invites of) the users named; tells each of them.
    pub fn add(&self, user_id: &str, ids: &[String], usernames: &[String]) -> Result<(), ApiError> {
        let me = self.caller(user_id)?;
        let targets = self.resolve(&me, ids, usernames, &Act::Add)?;
        if targets.is_empty() {
            return Ok(());
        }
        let SocialDone::Friends { invited, accepted } =
            self.apply(SocialWrite::AddFriends { user_id: me.id.clone(), ids: targets })?
        else {
            return Ok(());
        };
        let note = |to: String, subject: String, code: i32| Outgoing {
            user_id: to,
            subject,
            content: json!({ "username": me.username }),
            code,
            sender_id: Some(me.id.clone()),
            persistent: true,
        };
        let mut list: Vec<Outgoing> = invited
            .into_iter()
            .map(|to| note(to, format!("{} wants to add you as a friend", me.username), code::FRIEND_REQUEST))
            .collect();
        list.extend(
            accepted
                .into_iter()
                .map(|to| note(to, format!("{} accepted your friend request", me.username), code::FRIEND_ACCEPT)),
        );
        self.notifications.send_after(list);
        Ok(())
    }

    /// Removes the users named from the caller's list (and the caller from theirs); unknown
    /// users are skipped.
    pub fn delete(&self, user_id: &str, ids: &[String], usernames: &[String]) -> Result<(), ApiError> {
        let me = self.caller(user_id)?;
        let targets = self.resolve(&me, ids, usernames, &Act::Delete)?;
        if !targets.is_empty() {
            self.apply(SocialWrite::DeleteFriends { user_id: me.id, ids: targets })?;
        }
        Ok(())
    }

    /// Blocks the users named.
    pub fn block(&self, user_id: &str, ids: &[String], usernames: &[String]) -> Result<(), ApiError> {
        let me = self.caller(user_id)?;
        let targets = self.resolve(&me, ids, usernames, &Act::Block)?;
        if !targets.is_empty() {
            self.apply(SocialWrite::BlockFriends { user_id: me.id, ids: targets })?;
        }
        Ok(())
    }

    /// `user_id`'s friends (in `state`, or all), `limit` per page, in the order the edges
    /// were made.
    pub fn list(
        &self,
        user_id: &str,
        state: Option<i32>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<FriendPage, ApiError> {
        check_limit(limit, MAX_PAGE)?;
        if state.is_some_and(|s| !(friend_state::MUTUAL..=friend_state::BLOCKED).contains(&s)) {
            return Err(ApiError::invalid("Invalid state - state must be between 0 and 3."));
        }
        let after = match cursor {
            Some(c) => Some(
                decode(c)?
                    .strip_prefix('f')
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(|| ApiError::invalid("Cursor is invalid."))?,
            ),
            None => None,
        };
        let mut edges = self.social.list_friends(user_id, state, after, limit.saturating_add(1))?;
        let more = edges.len() > limit;
        edges.truncate(limit);
        let ids: Vec<String> = edges.iter().map(|e| e.user_id.clone()).collect();
        let users = self.accounts.users(&ids, &[])?;
        let cursor = edges.last().filter(|_| more).map(|e| encode(format!("f{}", e.seq)));
        let friends = edges
            .into_iter()
            .filter_map(|e| users.iter().find(|u| u.id == e.user_id).map(|u| (u.clone(), e)))
            .collect();
        Ok(FriendPage { friends, cursor })
    }

    /// Users who are mutual friends of `user_id`'s mutual friends but not of `user_id`,
    /// ordered by (friend, user); a user known through two friends appears twice, once per
    /// referrer, as in Nakama.
    pub fn friends_of_friends(
        &self,
        user_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<FriendsOfFriendsPage, ApiError> {
        check_limit(limit, MAX_PAGE)?;
        let after = match cursor {
            Some(c) => {
                let text = decode(c)?;
                let (a, b) = text.split_once('\n').ok_or_else(|| ApiError::invalid("Cursor is invalid."))?;
                Some((a.to_string(), b.to_string()))
            }
            None => None,
        };
        let after = after.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
        // One more than asked tells whether there is a next page.
        let mut pairs = self.social.friends_of_friends(user_id, after, limit.saturating_add(1))?;
        let more = pairs.len() > limit;
        pairs.truncate(limit);
        let cursor = pairs.last().filter(|_| more).map(|(a, b)| encode(format!("{a}\n{b}")));
        let ids: Vec<String> = pairs.iter().map(|(_, u)| u.clone()).collect();
        let users = self.accounts.users(&ids, &[])?;
        let friends_of_friends = pairs
            .into_iter()
            .filter_map(|(referrer, id)| users.iter().find(|u| u.id == id).map(|u| (referrer, u.clone())))
            .collect();
        Ok(FriendsOfFriendsPage { friends_of_friends, cursor })
    }
}
