//! Groups: creation, settings, membership and roles, with Nakama's states (0 superadmin,
//! 1 admin, 2 member, 3 join request; bans are kept internally and never listed).
//!
//! Open groups take members directly; closed ones take join requests, which their
//! superadmins and admins hear of (notification -5) and accept by adding or promoting
//! the user (who hears -4). Admins and superadmins add, kick, ban, promote and demote;
//! nobody acts on someone who outranks them or raises anyone above themselves, and a
//! group keeps at least one superadmin. `max_count` bounds the members. Server code acts
//! with `caller` None and needs no role. Each call is one store transaction.

use base64::Engine;
use serde_json::{json, Value};

use std::sync::Arc;

use crate::error::{check_limit, ApiError};
use crate::notifications::{code, Notifications, Outgoing};
use crate::presence::tracker::{Stream, StreamMode};
use crate::presence::Notifier;
use crate::store::{
    group_state, AccountStore, Group, GroupFilter, GroupUpdate, GroupUsersOp, Membership, Refusal, SocialDone,
    SocialStore, SocialWrite, StoreError, User, UserKey,
};
use crate::time::rfc3339;

/// The groups service: it owns the accounts and social data it reads and writes, tells
/// users of requests and additions, and takes those who leave off the group's channel.
pub struct Groups {
    pub(crate) accounts: Arc<dyn AccountStore + Send + Sync>,
    pub(crate) social: Arc<dyn SocialStore + Send + Sync>,
    pub(crate) notifications: Arc<Notifications>,
    pub(crate) notifier: Arc<Notifier>,
    pub(crate) clock: fn() -> i64,
}

crate::opaque_debug!(Groups);

/// Default `max_count` of a new group.
pub const DEFAULT_MAX_COUNT: i64 = 100;
/// Longest name, lang tag and avatar URL (characters).
pub const MAX_FIELD: usize = 255;
/// Longest description (characters).
pub const MAX_DESCRIPTION: usize = 2048;
/// Most users one call may name.
pub const MAX_TARGETS: usize = 1000;
/// Most groups or members one page may hold.
pub const MAX_PAGE: usize = 100;

/// A new group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    pub name: String,
    pub description: String,
    pub avatar_url: String,
    pub lang_tag: String,
    /// A JSON object.
    pub metadata: Value,
    pub open: bool,
    pub max_count: i64,
}

impl Default for GroupSpec {
    fn default() -> Self {
        GroupSpec {
            name: String::new(),
            description: String::new(),
            avatar_url: String::new(),
            lang_tag: String::new(),
            metadata: json!({}),
            open: false,
            max_count: DEFAULT_MAX_COUNT,
        }
    }
}

/// The API's `ApiGroup`; empty text fields are left out.
pub fn group_json(g: &Group) -> Value {
    let mut v = json!({
        "id": g.id,
        "creator_id": g.creator_id,
        "name": g.name,
        "metadata": g.metadata,
        "open": g.open,
        "edge_count": g.edge_count,
        "max_count": g.max_count,
        "create_time": rfc3339(g.create_time),
        "update_time": rfc3339(g.update_time),
    });
    for (name, value) in [("description", &g.description), ("lang_tag", &g.lang_tag), ("avatar_url", &g.avatar_url)] {
        if !value.is_empty() {
            v[name] = json!(value);
        }
    }
    v
}

fn check_len(what: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::invalid(format!("Group {what} must be at most {max} characters.")));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid("Group name must be set."));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::invalid("Group name must not contain control characters."));
    }
    check_len("name", name, MAX_FIELD)
}

fn check_metadata(metadata: &Value) -> Result<String, ApiError> {
    if !metadata.is_object() {
        return Err(ApiError::invalid("Group metadata must be a JSON object."));
    }
    let text = metadata.to_string();
    if text.len() > 16 * 1024 {
        return Err(ApiError::invalid("Group metadata must be at most 16 KiB."));
    }
    Ok(text)
}

/// A group id sent by a client, normalized.
pub fn parse_id(id: &str) -> Result<String, ApiError> {
    if id.is_empty() {
        return Err(ApiError::invalid("Group ID must be set."));
    }
    uuid::Uuid::parse_str(id).map(|u| u.to_string()).map_err(|_| ApiError::invalid("Group ID must be a valid ID."))
}

fn done_group(done: SocialDone) -> Result<(Group, Vec<String>, Vec<String>), ApiError> {
    match done {
        SocialDone::Group { group, added, requested } => Ok((*group, added, requested)),
        _ => Err(ApiError::new(crate::Code::Internal, "Internal error.")),
    }
}

/// A page of a listing and where the next begins (None on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub cursor: Option<String>,
}

fn encode(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode(cursor: &str, prefix: char) -> Result<String, ApiError> {
    let bad = || ApiError::invalid("Cursor is invalid.");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    text.strip_prefix(prefix).map(str::to_string).ok_or_else(bad)
}

fn decode_seq(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    cursor.map(|c| decode(c, 's')?.parse().map_err(|_| ApiError::invalid("Cursor is invalid."))).transpose()
}

fn check_state(state: Option<i32>) -> Result<(), ApiError> {
    if state.is_some_and(|s| !(group_state::SUPERADMIN..=group_state::JOIN_REQUEST).contains(&s)) {
        return Err(ApiError::invalid("Invalid state - state must be between 0 and 3."));
    }
    Ok(())
}

impl Groups {
    /// Takes users who are no longer members off the group's chat channel (all of its
    /// presences when `users` is None), telling those who stay.
    fn leave_chat(&self, group_id: &str, users: Option<&[String]>) {
        let stream = Stream::new(StreamMode::ChannelGroup, group_id.to_string());
        let gone: Vec<_> = self
            .notifier
            .tracker()
            .list(&stream)
            .into_iter()
            .filter(|p| users.is_none_or(|u| u.contains(&p.user_id)))
            .filter_map(|p| self.notifier.tracker().untrack(&stream, p.session))
            .collect();
        if !gone.is_empty() && users.is_some() {
            self.notifier.announce(&stream, &[], &gone, None);
        }
    }

    fn apply(&self, write: SocialWrite) -> Result<SocialDone, StoreError> {
        self.social.social_write(write, (self.clock)())
    }

    /// Creates a group with `creator` as its superadmin.
    pub fn create(&self, creator: &str, spec: GroupSpec) -> Result<Group, ApiError> {
        check_name(&spec.name)?;
        check_len("description", &spec.description, MAX_DESCRIPTION)?;
        check_len("avatar URL", &spec.avatar_url, MAX_FIELD)?;
        check_len("lang tag", &spec.lang_tag, MAX_FIELD)?;
        if spec.max_count < 1 {
            return Err(ApiError::invalid("Group max count must be >= 1 when set."));
        }
        let metadata = check_metadata(&spec.metadata)?;
        if self.accounts.user(UserKey::Id(creator))?.is_none() {
            return Err(ApiError::not_found("Account not found."));
        }
        let now = (self.clock)();
        let group = Group {
            id: uuid::Uuid::new_v4().to_string(),
            creator_id: creator.to_string(),
            name: spec.name,
            description: spec.description,
            avatar_url: spec.avatar_url,
            lang_tag: if spec.lang_tag.is_empty() { crate::accounts::DEFAULT_LANG_TAG.into() } else { spec.lang_tag },
            metadata,
            open: spec.open,
            edge_count: 1,
            max_count: spec.max_count,
            create_time: now,
            update_time: now,
        };
        Ok(done_group(self.apply(SocialWrite::CreateGroup(group))?)?.0)
    }

    /// Changes a group's settings (admins and superadmins). `metadata` must be a JSON object.
    pub fn update(&self, caller: Option<&str>, group_id: &str, update: GroupUpdate) -> Result<Group, ApiError> {
        let id = parse_id(group_id)?;
        if let Some(name) = &update.name {
            check_name(name).map_err(|_| ApiError::invalid("Group name cannot be empty."))?;
        }
        if update.lang_tag.as_deref() == Some("") {
            return Err(ApiError::invalid("Group language cannot be empty."));
        }
        for (what, value, max) in [
            ("description", &update.description, MAX_DESCRIPTION),
            ("avatar URL", &update.avatar_url, MAX_FIELD),
            ("lang tag", &update.lang_tag, MAX_FIELD),
        ] {
            if let Some(v) = value {
                check_len(what, v, max)?;
            }
        }
        if let Some(m) = &update.metadata {
            let v: Value = serde_json::from_str(m).map_err(|_| ApiError::invalid("Group metadata must be JSON."))?;
            check_metadata(&v)?;
        }
        if update.max_count.is_some_and(|m| m < 1) {
            return Err(ApiError::invalid("Group max count must be >= 1."));
        }
        if update == GroupUpdate::default() {
            return Err(ApiError::invalid("Specify at least one field to update."));
        }
        let write = SocialWrite::UpdateGroup { caller: caller.map(str::to_string), id, update };
        match self.apply(write) {
            Err(StoreError::Social(Refusal::PermissionDenied | Refusal::GroupNotFound)) => {
                Err(ApiError::not_found("Group not found or you're not allowed to update."))
            }
            Err(StoreError::Social(Refusal::NameInUse)) => Err(ApiError::invalid("Group name is in use.")),
            other => Ok(done_group(other?)?.0),
        }
    }

    /// Deletes a group (superadmins).
    pub fn delete(&self, caller: Option<&str>, group_id: &str) -> Result<(), ApiError> {
        let id = parse_id(group_id)?;
        match self.apply(SocialWrite::DeleteGroup { caller: caller.map(str::to_string), id: id.clone() }) {
            Err(StoreError::Social(Refusal::PermissionDenied | Refusal::GroupNotFound)) => {
                Err(ApiError::invalid("Group not found or you're not allowed to delete."))
            }
            other => {
                other?;
                self.leave_chat(&id, None);
                Ok(())
            }
        }
    }

    /// Joins an open group, or asks to join a closed one (its admins are told). Already a
    /// member or asking: nothing changes. Banned users are refused.
    pub fn join(&self, user_id: &str, group_id: &str) -> Result<(), ApiError> {
        let id = parse_id(group_id)?;
        let me = self.accounts.user(UserKey::Id(user_id))?.ok_or_else(|| ApiError::not_found("Account not found."))?;
        let (group, _, requested) = done_group(self.apply(SocialWrite::JoinGroup { user_id: me.id.clone(), id })?)?;
        let list = requested
            .into_iter()
            .map(|admin| Outgoing {
                user_id: admin,
                subject: format!("User {} wants to join your group", me.username),
                content: json!({"username": me.username, "group_id": group.id, "name": group.name}),
                code: code::GROUP_JOIN_REQUEST,
                sender_id: Some(me.id.clone()),
                persistent: true,
            })
            .collect();
        self.notifications.send_after(list);
        Ok(())
    }

    /// Leaves a group (or withdraws a join request). The last superadmin cannot leave.
    pub fn leave(&self, user_id: &str, group_id: &str) -> Result<(), ApiError> {
        let id = parse_id(group_id)?;
        self.apply(SocialWrite::LeaveGroup { user_id: user_id.to_string(), id: id.clone() })?;
        self.leave_chat(&id, Some(&[user_id.to_string()]));
        Ok(())
    }

    fn users_op(
        &self,
        caller: Option<&str>,
        group_id: &str,
        op: GroupUsersOp,
        user_ids: &[String],
    ) -> Result<(), ApiError> {
        let id = parse_id(group_id)?;
        if user_ids.len() > MAX_TARGETS {
            return Err(ApiError::invalid(format!("At most {MAX_TARGETS} users per call.")));
        }
        let mut ids = Vec::with_capacity(user_ids.len());
        for u in user_ids {
            match uuid::Uuid::parse_str(u) {
                Ok(id) if !id.is_nil() => ids.push(id.to_string()),
                _ => return Err(ApiError::invalid("User ID must be a valid ID.")),
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        let write =
            SocialWrite::GroupUsers { caller: caller.map(str::to_string), id: id.clone(), op, user_ids: ids.clone() };
        let (group, added, _) = match self.apply(write) {
            Err(StoreError::Social(Refusal::UserNotFound)) => {
                return Err(ApiError::invalid("One or more users not found."))
            }
            Err(StoreError::Social(Refusal::GroupNotFound)) => {
                return Err(ApiError::not_found("Group not found or permission denied."))
            }
            Err(StoreError::Social(Refusal::LastSuperadmin)) => {
                return Err(ApiError::invalid("A group must keep at least one superadmin."))
            }
            other => done_group(other?)?,
        };
        if matches!(op, GroupUsersOp::Kick | GroupUsersOp::Ban) {
            // The caller is never acted on (see `SocialWrite::GroupUsers`).
            ids.retain(|u| Some(u.as_str()) != caller);
            self.leave_chat(&id, Some(&ids));
        }
        let list = added
            .into_iter()
            .map(|user_id| Outgoing {
                user_id,
                subject: format!("You've been added to group {}", group.name),
                content: json!({"group_id": group.id, "name": group.name}),
                code: code::GROUP_ADD,
                sender_id: caller.map(str::to_string),
                persistent: true,
            })
            .collect();
        self.notifications.send_after(list);
        Ok(())
    }

    /// Adds users as members (accepting their join requests, lifting bans); each is told.
    pub fn add(&self, caller: Option<&str>, group_id: &str, user_ids: &[String]) -> Result<(), ApiError> {
        self.users_op(caller, group_id, GroupUsersOp::Add, user_ids)
    }

    /// Removes users (members or join requests) from a group.
    pub fn kick(&self, caller: Option<&str>, group_id: &str, user_ids: &[String]) -> Result<(), ApiError> {
        self.users_op(caller, group_id, GroupUsersOp::Kick, user_ids)
    }

    /// Removes users and keeps them from joining again (until an admin adds them).
    pub fn ban(&self, caller: Option<&str>, group_id: &str, user_ids: &[String]) -> Result<(), ApiError> {
        self.users_op(caller, group_id, GroupUsersOp::Ban, user_ids)
    }

    /// Raises users one rank (a join request becomes a member, who is told).
    pub fn promote(&self, caller: Option<&str>, group_id: &str, user_ids: &[String]) -> Result<(), ApiError> {
        self.users_op(caller, group_id, GroupUsersOp::Promote, user_ids)
    }

    /// Lowers users one rank (superadmin to admin to member).
    pub fn demote(&self, caller: Option<&str>, group_id: &str, user_ids: &[String]) -> Result<(), ApiError> {
        self.users_op(caller, group_id, GroupUsersOp::Demote, user_ids)
    }

    /// Whether `user_id` is a member of `group_id` (superadmin, admin or member).
    pub fn is_member(&self, group_id: &str, user_id: &str) -> Result<bool, ApiError> {
        let state = self.social.member_state(group_id, user_id)?;
        Ok(state.is_some_and(|s| s <= group_state::MEMBER))
    }

    /// Groups that pass `filter`, by name, `limit` per page.
    pub fn list(&self, filter: &GroupFilter, limit: usize, cursor: Option<&str>) -> Result<Page<Group>, ApiError> {
        check_limit(limit, MAX_PAGE)?;
        let after = cursor.map(|c| decode(c, 'g')).transpose()?;
        let mut groups = self.social.list_groups(filter, after.as_deref(), limit.saturating_add(1))?;
        let more = groups.len() > limit;
        groups.truncate(limit);
        let cursor = groups.last().filter(|_| more).map(|g| encode(&format!("g{}", g.name.to_lowercase())));
        Ok(Page { items: groups, cursor })
    }

    /// A group's users (in `state`, or all but the banned), in joining order.
    pub fn users(
        &self,
        group_id: &str,
        state: Option<i32>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<(User, Membership)>, ApiError> {
        check_limit(limit, MAX_PAGE)?;
        let id = parse_id(group_id)?;
        check_state(state)?;
        if self.social.group(&id)?.is_none() {
            return Err(ApiError::not_found("Group not found."));
        }
        let mut edges = self.social.list_group_users(&id, state, decode_seq(cursor)?, limit.saturating_add(1))?;
        let more = edges.len() > limit;
        edges.truncate(limit);
        let cursor = edges.last().filter(|_| more).map(|e| encode(&format!("s{}", e.seq)));
        let ids: Vec<String> = edges.iter().map(|e| e.user_id.clone()).collect();
        let found = self.accounts.users(&ids, &[])?;
        let list = edges.into_iter().filter_map(|e| found.iter().find(|u| u.id == e.user_id).map(|u| (u.clone(), e)));
        Ok(Page { items: list.collect(), cursor })
    }

    /// A user's groups (in `state`, or all but bans), in joining order.
    pub fn user_groups(
        &self,
        user_id: &str,
        state: Option<i32>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<(Group, Membership)>, ApiError> {
        check_limit(limit, MAX_PAGE)?;
        let id =
            uuid::Uuid::parse_str(user_id).map_err(|_| ApiError::invalid("User ID must be a valid ID."))?.to_string();
        check_state(state)?;
        let mut list = self.social.list_user_groups(&id, state, decode_seq(cursor)?, limit.saturating_add(1))?;
        let more = list.len() > limit;
        list.truncate(limit);
        let cursor = list.last().filter(|_| more).map(|(_, m)| encode(&format!("s{}", m.seq)));
        Ok(Page { items: list, cursor })
    }
}
