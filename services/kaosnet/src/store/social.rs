//! What the social services persist: the friend graph (`user_edges`, one row per
//! direction) and groups with their members (`group_edges`).
//!
//! Every change is one [`SocialWrite`], applied by [`SocialWrite::apply`] inside one store
//! transaction through the small [`SocialTx`] interface each backend implements: the rules
//! (who may do what, state transitions, member counts) are written once, here, and hold
//! identically on every backend; a refused operation changes nothing.

use super::StoreError;

/// Friend states, as on the wire.
pub mod friend_state {
    pub const MUTUAL: i32 = 0;
    pub const INVITE_SENT: i32 = 1;
    pub const INVITE_RECEIVED: i32 = 2;
    pub const BLOCKED: i32 = 3;
}

/// Group member states, as on the wire; `BANNED` never leaves the server.
pub mod group_state {
    pub const SUPERADMIN: i32 = 0;
    pub const ADMIN: i32 = 1;
    pub const MEMBER: i32 = 2;
    pub const JOIN_REQUEST: i32 = 3;
    pub const BANNED: i32 = 4;
}

use friend_state::{BLOCKED, INVITE_RECEIVED, INVITE_SENT, MUTUAL};
use group_state::{ADMIN, BANNED, JOIN_REQUEST, MEMBER, SUPERADMIN};

/// Why a social operation was refused (inside [`StoreError::Social`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// A user acted on themselves where that makes no sense (befriending oneself).
    Myself,
    /// A named user does not exist.
    UserNotFound,
    /// The other user blocked the caller.
    BlockedByUser,
    /// The caller blocked the other user (delete the block first).
    BlockedUser,
    /// No such group.
    GroupNotFound,
    /// The caller lacks the role (or the target outranks them).
    PermissionDenied,
    /// The group has `max_count` members.
    GroupFull,
    /// The group would be left without a superadmin.
    LastSuperadmin,
    /// The user is banned from the group.
    Banned,
    /// Another group has this name (case-insensitively).
    NameInUse,
}

/// One direction of a friendship, seen from its source user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Friend {
    /// The other user.
    pub user_id: String,
    pub state: i32,
    pub update_time: i64,
    /// Assigned by the store when the edge is created: the listing order and cursor.
    pub seq: i64,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    /// UUID, lower-case, hyphenated.
    pub id: String,
    pub creator_id: String,
    /// Unique, case-insensitively.
    pub name: String,
    pub description: String,
    pub avatar_url: String,
    pub lang_tag: String,
    /// A JSON object, as text.
    pub metadata: String,
    pub open: bool,
    /// Members (superadmins, admins, members; not join requests or bans).
    pub edge_count: i64,
    pub max_count: i64,
    pub create_time: i64,
    pub update_time: i64,
}

/// A user's place in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub group_id: String,
    pub user_id: String,
    pub state: i32,
    pub update_time: i64,
    /// Assigned by the store when the edge is created: the listing order and cursor.
    pub seq: i64,
}

/// Fields of a group to change (None = keep).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub avatar_url: Option<String>,
    pub lang_tag: Option<String>,
    pub metadata: Option<String>,
    pub open: Option<bool>,
    pub max_count: Option<i64>,
}

/// Filters of a group listing (all optional, combined with AND).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupFilter {
    /// Case-insensitive name; `%` matches any run of characters (`heroes%`).
    pub name: Option<String>,
    pub lang_tag: Option<String>,
    /// Groups with at least this many members.
    pub members: Option<i64>,
    pub open: Option<bool>,
}

/// What admins do to other users of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupUsersOp {
    Add,
    Kick,
    Ban,
    Promote,
    Demote,
}

/// A change to the social graph, applied atomically by a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocialWrite {
    AddFriends {
        user_id: String,
        ids: Vec<String>,
    },
    DeleteFriends {
        user_id: String,
        ids: Vec<String>,
    },
    BlockFriends {
        user_id: String,
        ids: Vec<String>,
    },
    /// The creator becomes its superadmin.
    CreateGroup(Group),
    /// `caller` None is the server (no role needed).
    UpdateGroup {
        caller: Option<String>,
        id: String,
        update: GroupUpdate,
    },
    DeleteGroup {
        caller: Option<String>,
        id: String,
    },
    JoinGroup {
        user_id: String,
        id: String,
    },
    LeaveGroup {
        user_id: String,
        id: String,
    },
    GroupUsers {
        caller: Option<String>,
        id: String,
        op: GroupUsersOp,
        user_ids: Vec<String>,
    },
}

/// What a [`SocialWrite`] did, for the notifications that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocialDone {
    /// Friend invites sent and invites accepted, by the other user's id.
    Friends {
        invited: Vec<String>,
        accepted: Vec<String>,
    },
    /// The group as it is now, with the users that became members by an admin's hand
    /// (added or their join request accepted) and, for a join request, the admins to tell.
    Group {
        group: Box<Group>,
        added: Vec<String>,
        requested: Vec<String>,
    },
    Nothing,
}

/// The primitive reads and writes of one transaction that [`SocialWrite::apply`] needs.
pub(crate) trait SocialTx {
    fn user_exists(&mut self, id: &str) -> Result<bool, StoreError>;
    fn friend_state(&mut self, from: &str, to: &str) -> Result<Option<i32>, StoreError>;
    /// Creates the edge (with a new sequence number) or changes its state.
    fn set_friend(&mut self, from: &str, to: &str, state: i32, now: i64) -> Result<(), StoreError>;
    fn delete_friend(&mut self, from: &str, to: &str) -> Result<(), StoreError>;
    /// Deletes every edge from or to `user`.
    fn delete_friends_of(&mut self, user: &str) -> Result<(), StoreError>;
    fn group(&mut self, id: &str) -> Result<Option<Group>, StoreError>;
    /// The id of the group called `name` (any case), if any.
    fn group_named(&mut self, name: &str) -> Result<Option<String>, StoreError>;
    fn put_group(&mut self, group: &Group, insert: bool) -> Result<(), StoreError>;
    /// Deletes the group and its edges.
    fn delete_group(&mut self, id: &str) -> Result<(), StoreError>;
    fn member_state(&mut self, group: &str, user: &str) -> Result<Option<i32>, StoreError>;
    /// Creates the edge (with a new sequence number) or changes its state.
    fn set_member(&mut self, group: &str, user: &str, state: i32, now: i64) -> Result<(), StoreError>;
    fn delete_member(&mut self, group: &str, user: &str) -> Result<(), StoreError>;
    /// The users of `group` in one of `states`.
    fn members_in(&mut self, group: &str, states: &[i32]) -> Result<Vec<String>, StoreError>;
    /// Every group edge of `user`: (group id, state).
    fn groups_of(&mut self, user: &str) -> Result<Vec<(String, i32)>, StoreError>;
}

fn refuse<T>(r: Refusal) -> Result<T, StoreError> {
    Err(StoreError::Social(r))
}

/// `ids` without repeats, in their first order.
fn unique(ids: &[String]) -> Vec<&String> {
    let mut out: Vec<&String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn counts(state: i32) -> bool {
    state <= MEMBER
}

impl SocialWrite {
    /// Applies the change in `tx`; on an error the caller rolls the transaction back.
    pub(crate) fn apply(&self, tx: &mut dyn SocialTx, now: i64) -> Result<SocialDone, StoreError> {
        match self {
            SocialWrite::AddFriends { user_id, ids } => add_friends(tx, user_id, ids, now),
            SocialWrite::DeleteFriends { user_id, ids } => {
                for id in unique(ids) {
                    if id == user_id {
                        return refuse(Refusal::Myself);
                    }
                    tx.delete_friend(user_id, id)?;
                    // A block the other user holds stays.
                    if tx.friend_state(id, user_id)?.is_some_and(|s| s != BLOCKED) {
                        tx.delete_friend(id, user_id)?;
                    }
                }
                Ok(SocialDone::Nothing)
            }
            SocialWrite::BlockFriends { user_id, ids } => {
                for id in unique(ids) {
                    if id == user_id {
                        return refuse(Refusal::Myself);
                    }
                    if !tx.user_exists(id)? {
                        return refuse(Refusal::UserNotFound);
                    }
                    tx.set_friend(user_id, id, BLOCKED, now)?;
                    if tx.friend_state(id, user_id)?.is_some_and(|s| s != BLOCKED) {
                        tx.delete_friend(id, user_id)?;
                    }
                }
                Ok(SocialDone::Nothing)
            }
            SocialWrite::CreateGroup(group) => {
                if tx.group_named(&group.name)?.is_some() {
                    return refuse(Refusal::NameInUse);
                }
                let group = Group { edge_count: 1, ..group.clone() };
                tx.put_group(&group, true)?;
                tx.set_member(&group.id, &group.creator_id, SUPERADMIN, now)?;
                Ok(SocialDone::Group { group: Box::new(group), added: Vec::new(), requested: Vec::new() })
            }
            SocialWrite::UpdateGroup { caller, id, update } => update_group(tx, caller.as_deref(), id, update, now),
            SocialWrite::DeleteGroup { caller, id } => {
                let Some(_) = tx.group(id)? else { return refuse(Refusal::GroupNotFound) };
                if let Some(c) = caller {
                    if tx.member_state(id, c)? != Some(SUPERADMIN) {
                        return refuse(Refusal::PermissionDenied);
                    }
                }
                tx.delete_group(id)?;
                Ok(SocialDone::Nothing)
            }
            SocialWrite::JoinGroup { user_id, id } => join_group(tx, user_id, id, now),
            SocialWrite::LeaveGroup { user_id, id } => {
                let Some(mut group) = tx.group(id)? else { return refuse(Refusal::GroupNotFound) };
                match tx.member_state(id, user_id)? {
                    // Not there, or banned: a ban is not left by leaving.
                    None | Some(BANNED) => {}
                    Some(state) => {
                        if state == SUPERADMIN && tx.members_in(id, &[SUPERADMIN])?.len() <= 1 {
                            return refuse(Refusal::LastSuperadmin);
                        }
                        tx.delete_member(id, user_id)?;
                        if counts(state) {
                            group.edge_count -= 1;
                            tx.put_group(&group, false)?;
                        }
                    }
                }
                Ok(SocialDone::Group { group: Box::new(group), added: Vec::new(), requested: Vec::new() })
            }
            SocialWrite::GroupUsers { caller, id, op, user_ids } => {
                group_users(tx, caller.as_deref(), id, *op, user_ids, now)
            }
        }
    }
}

fn add_friends(tx: &mut dyn SocialTx, me: &str, ids: &[String], now: i64) -> Result<SocialDone, StoreError> {
    let (mut invited, mut accepted) = (Vec::new(), Vec::new());
    for id in unique(ids) {
        if id == me {
            return refuse(Refusal::Myself);
        }
        if !tx.user_exists(id)? {
            return refuse(Refusal::UserNotFound);
        }
        if tx.friend_state(id, me)? == Some(BLOCKED) {
            return refuse(Refusal::BlockedByUser);
        }
        match tx.friend_state(me, id)? {
            Some(BLOCKED) => return refuse(Refusal::BlockedUser),
            // Already friends, or already invited: nothing new, nobody to tell.
            Some(MUTUAL) | Some(INVITE_SENT) => {}
            Some(INVITE_RECEIVED) => {
                tx.set_friend(me, id, MUTUAL, now)?;
                tx.set_friend(id, me, MUTUAL, now)?;
                accepted.push(id.clone());
            }
            _ => {
                tx.set_friend(me, id, INVITE_SENT, now)?;
                tx.set_friend(id, me, INVITE_RECEIVED, now)?;
                invited.push(id.clone());
            }
        }
    }
    Ok(SocialDone::Friends { invited, accepted })
}

fn update_group(
    tx: &mut dyn SocialTx,
    caller: Option<&str>,
    id: &str,
    u: &GroupUpdate,
    now: i64,
) -> Result<SocialDone, StoreError> {
    let Some(mut group) = tx.group(id)? else { return refuse(Refusal::GroupNotFound) };
    if let Some(c) = caller {
        if tx.member_state(id, c)?.is_none_or(|s| s > ADMIN) {
            return refuse(Refusal::PermissionDenied);
        }
    }
    if let Some(name) = &u.name {
        if tx.group_named(name)?.is_some_and(|other| other != id) {
            return refuse(Refusal::NameInUse);
        }
        group.name.clone_from(name);
    }
    for (field, value) in [
        (&mut group.description, &u.description),
        (&mut group.avatar_url, &u.avatar_url),
        (&mut group.lang_tag, &u.lang_tag),
        (&mut group.metadata, &u.metadata),
    ] {
        if let Some(v) = value {
            field.clone_from(v);
        }
    }
    if let Some(open) = u.open {
        group.open = open;
    }
    if let Some(max) = u.max_count {
        group.max_count = max;
    }
    group.update_time = now;
    tx.put_group(&group, false)?;
    Ok(SocialDone::Group { group: Box::new(group), added: Vec::new(), requested: Vec::new() })
}

fn join_group(tx: &mut dyn SocialTx, user: &str, id: &str, now: i64) -> Result<SocialDone, StoreError> {
    let Some(mut group) = tx.group(id)? else { return refuse(Refusal::GroupNotFound) };
    let mut requested = Vec::new();
    match tx.member_state(id, user)? {
        Some(BANNED) => return refuse(Refusal::Banned),
        // Already a member or already asking.
        Some(_) => {}
        None if group.open => {
            if group.edge_count >= group.max_count {
                return refuse(Refusal::GroupFull);
            }
            tx.set_member(id, user, MEMBER, now)?;
            group.edge_count += 1;
            tx.put_group(&group, false)?;
        }
        None => {
            tx.set_member(id, user, JOIN_REQUEST, now)?;
            requested = tx.members_in(id, &[SUPERADMIN, ADMIN])?;
        }
    }
    Ok(SocialDone::Group { group: Box::new(group), added: Vec::new(), requested })
}

fn group_users(
    tx: &mut dyn SocialTx,
    caller: Option<&str>,
    id: &str,
    op: GroupUsersOp,
    user_ids: &[String],
    now: i64,
) -> Result<SocialDone, StoreError> {
    let Some(mut group) = tx.group(id)? else { return refuse(Refusal::GroupNotFound) };
    // The caller's rank: lower is higher; the server outranks everyone.
    let rank = match caller {
        None => -1,
        Some(c) => match tx.member_state(id, c)? {
            Some(s) if s <= ADMIN => s,
            _ => return refuse(Refusal::PermissionDenied),
        },
    };
    let mut added = Vec::new();
    for user in unique(user_ids) {
        // Acting on oneself goes through join, leave and the other users' hands.
        if caller == Some(user.as_str()) {
            continue;
        }
        let state = tx.member_state(id, user)?;
        if state.is_some_and(|s| s < rank) {
            return refuse(Refusal::PermissionDenied);
        }
        let last_superadmin = |tx: &mut dyn SocialTx| -> Result<bool, StoreError> {
            Ok(state == Some(SUPERADMIN) && tx.members_in(id, &[SUPERADMIN])?.len() <= 1)
        };
        match (op, state) {
            (GroupUsersOp::Add, None | Some(BANNED | JOIN_REQUEST)) | (GroupUsersOp::Promote, Some(JOIN_REQUEST)) => {
                if !tx.user_exists(user)? {
                    return refuse(Refusal::UserNotFound);
                }
                if group.edge_count >= group.max_count {
                    return refuse(Refusal::GroupFull);
                }
                tx.set_member(id, user, MEMBER, now)?;
                group.edge_count += 1;
                added.push(user.clone());
            }
            (GroupUsersOp::Kick, Some(s)) if s != BANNED => {
                if last_superadmin(tx)? {
                    return refuse(Refusal::LastSuperadmin);
                }
                tx.delete_member(id, user)?;
                if counts(s) {
                    group.edge_count -= 1;
                }
            }
            (GroupUsersOp::Ban, s) if s != Some(BANNED) => {
                if !tx.user_exists(user)? {
                    return refuse(Refusal::UserNotFound);
                }
                if last_superadmin(tx)? {
                    return refuse(Refusal::LastSuperadmin);
                }
                tx.set_member(id, user, BANNED, now)?;
                if s.is_some_and(counts) {
                    group.edge_count -= 1;
                }
            }
            (GroupUsersOp::Promote, Some(s @ (ADMIN | MEMBER))) => {
                // Nobody makes someone outrank themselves.
                if s - 1 < rank {
                    return refuse(Refusal::PermissionDenied);
                }
                tx.set_member(id, user, s - 1, now)?;
            }
            (GroupUsersOp::Demote, Some(s @ (SUPERADMIN | ADMIN))) => {
                if last_superadmin(tx)? {
                    return refuse(Refusal::LastSuperadmin);
                }
                tx.set_member(id, user, s + 1, now)?;
            }
            // Nothing to do: not a member, already banned, already at the top or bottom.
            _ => {}
        }
    }
    tx.put_group(&group, false)?;
    Ok(SocialDone::Group { group: Box::new(group), added, requested: Vec::new() })
}

/// Removes a deleted user from the social graph: their friend edges both ways and their
/// group edges (member counts follow). A group whose last superadmin this was passes to
/// its longest-standing admin, else member; a group with no one left is deleted.
pub(crate) fn forget_user(tx: &mut dyn SocialTx, user: &str) -> Result<(), StoreError> {
    tx.delete_friends_of(user)?;
    for (group_id, state) in tx.groups_of(user)? {
        tx.delete_member(&group_id, user)?;
        if counts(state) {
            if let Some(mut g) = tx.group(&group_id)? {
                g.edge_count -= 1;
                tx.put_group(&g, false)?;
            }
        }
        if state == SUPERADMIN && tx.members_in(&group_id, &[SUPERADMIN])?.is_empty() {
            let heir = match tx.members_in(&group_id, &[ADMIN])?.first() {
                Some(admin) => Some(admin.clone()),
                None => tx.members_in(&group_id, &[MEMBER])?.first().cloned(),
            };
            match heir {
                Some(heir) => tx.set_member(&group_id, &heir, SUPERADMIN, crate::accounts::unix_now())?,
                None => tx.delete_group(&group_id)?,
            }
        }
    }
    Ok(())
}

/// Whether `name` (any case) matches `pattern` (any case; `%` = any run of characters).
pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.to_lowercase(), name.to_lowercase());
    let parts: Vec<&str> = p.split('%').collect();
    if parts.len() == 1 {
        return p == n;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !n.starts_with(first) || n.len() < first.len() + last.len() || !n.ends_with(last) {
        return false;
    }
    let mut rest = &n[first.len()..n.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// A SQL `LIKE` pattern (escape `\`) for a name filter: only `%` stays a wildcard.
pub(crate) fn like_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.to_lowercase().chars() {
        if matches!(c, '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The social graph: friends and groups.
pub trait SocialStore {
    /// Applies `write` in one transaction: all of it, or nothing and the reason.
    fn social_write(&self, write: SocialWrite, now: i64) -> Result<SocialDone, StoreError>;
    /// Up to `limit` of `user_id`'s edges (in `state`, or any), in creation order after
    /// sequence `after`.
    fn list_friends(
        &self,
        user_id: &str,
        state: Option<i32>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Friend>, StoreError>;
    /// Up to `limit` (friend, user) pairs after `after`, in that (byte) order, in one
    /// query: `user_id`'s mutual friends' mutual friends who are neither `user_id` nor
    /// already its mutual friends. A user known through two friends comes once per friend.
    fn friends_of_friends(
        &self,
        user_id: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError>;
    fn group(&self, id: &str) -> Result<Option<Group>, StoreError>;
    /// `user_id`'s state in `group_id` (banned included), if any.
    fn member_state(&self, group_id: &str, user_id: &str) -> Result<Option<i32>, StoreError>;
    /// Up to `limit` groups that pass `filter`, ordered by lower-case name, after the
    /// lower-case name `after`.
    fn list_groups(&self, filter: &GroupFilter, after: Option<&str>, limit: usize) -> Result<Vec<Group>, StoreError>;
    /// Up to `limit` members of a group (in `state`, or any but banned), in joining order
    /// after sequence `after`.
    fn list_group_users(
        &self,
        group_id: &str,
        state: Option<i32>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError>;
    /// Up to `limit` of a user's groups (in `state`, or any but banned), in joining
    /// order after sequence `after`.
    fn list_user_groups(
        &self,
        user_id: &str,
        state: Option<i32>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(Group, Membership)>, StoreError>;
}

/// The columns the SQL stores read, in their row mappers' order.
pub(crate) const GROUP_COLUMNS: &str = "id, creator_id, name, description, avatar_url, lang_tag, metadata, open, \
                                        edge_count, max_count, create_time, update_time";

#[cfg(test)]
mod tests {
    use super::{like_pattern, name_matches};

    #[test]
    fn name_patterns() {
        assert!(name_matches("Heroes", "heroes"));
        assert!(!name_matches("Heroes", "heroes2"));
        assert!(name_matches("hero%", "Heroes of old"));
        assert!(name_matches("%old", "Heroes of old"));
        assert!(name_matches("h%o%d", "Heroes of old"));
        assert!(!name_matches("h%x%d", "Heroes of old"));
        assert!(!name_matches("ab%ba", "aba"));
        assert_eq!(like_pattern("A_b\\%"), "a\\_b\\\\%");
    }
}
