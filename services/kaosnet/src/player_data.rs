//! What spans every service for one player: deleting them with all their data, and
//! exporting it. The client's `DELETE /v2/account`, server code and the console all
//! delete through [`KaosNet::delete_player`].

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::store::Caller;
use crate::KaosNet;

/// The WebSocket close code of sessions whose account was deleted or banned.
pub const ACCOUNT_CLOSED: u16 = 4001;

/// Most items of one kind an export holds (storage objects, friends,
/// groups, notifications); wallet changes are the latest 100.
pub const MAX_EXPORT: usize = 10_000;

impl KaosNet {
    /// Deletes `user_id` and everything of theirs: storage objects, leaderboard and
    /// tournament records, notifications, wallet history, friends (both ways) and group
    /// memberships. Their sockets close (4001).
    pub fn delete_player(&self, user_id: &str) -> Result<(), ApiError> {
        self.accounts().account(user_id)?;
        // The boards keep the current period in memory: remove it there first (the
        // store then drops every period's rows with the account).
        for def in self.leaderboards().defs()? {
            self.leaderboards().delete_record(&def.config.id, user_id)?;
        }
        self.accounts().delete_account(user_id)?;
        for session in self.sessions().sessions_of(user_id) {
            self.sessions().close(session, ACCOUNT_CLOSED, "Account deleted.");
        }
        Ok(())
    }

    /// Everything kept about `user_id`, as one JSON document (the account without any
    /// credential, storage, records, friends, groups, notifications, wallet history).
    pub fn export_player(&self, user_id: &str) -> Result<Value, ApiError> {
        let user = self.accounts().account(user_id)?;
        let mut storage = Vec::new();
        for collection in self.storage().collections(Some(user_id))? {
            let mut cursor = None;
            while storage.len() < MAX_EXPORT {
                let page = self.storage().list_objects(
                    Caller::Server,
                    &collection,
                    Some(user_id),
                    crate::storage::ops::MAX_SERVER_PAGE,
                    cursor.as_deref(),
                )?;
                let room = MAX_EXPORT - storage.len();
                storage.extend(page.objects.iter().take(room).map(crate::api::object_json));
                match page.cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        let mut records = Vec::new();
        for def in self.leaderboards().defs()? {
            if let Some(r) = self.leaderboards().get_record(&def.config.id, user_id)? {
                records.push(crate::api::record_json(&r));
            }
        }
        let (mut friends, mut cursor) = (Vec::new(), None);
        loop {
            let page = self.friends().list(user_id, None, crate::friends::MAX_PAGE, cursor.as_deref())?;
            friends.extend(page.friends.iter().map(|(u, e)| json!({"user_id": u.id, "state": e.state})));
            match page.cursor {
                Some(c) if friends.len() < MAX_EXPORT => cursor = Some(c),
                _ => break,
            }
        }
        let (mut groups, mut cursor) = (Vec::new(), None);
        loop {
            let page = self.groups().user_groups(user_id, None, crate::groups::MAX_PAGE, cursor.as_deref())?;
            groups.extend(page.items.iter().map(|(g, m)| json!({"group_id": g.id, "name": g.name, "state": m.state})));
            match page.cursor {
                Some(c) if groups.len() < MAX_EXPORT => cursor = Some(c),
                _ => break,
            }
        }
        let (mut notifications, mut after) = (Vec::new(), None);
        loop {
            let page = self.notifications().list(user_id, after, crate::notifications::MAX_PAGE)?;
            notifications.extend(page.iter().map(|n| crate::notifications::notification_json(n, true)));
            match page.last() {
                Some(last) if page.len() == crate::notifications::MAX_PAGE && notifications.len() < MAX_EXPORT => {
                    after = Some(last.seq)
                }
                _ => break,
            }
        }
        // The ledger is read newest first, its latest changes only.
        let ledger: Vec<Value> = self
            .accounts()
            .wallet_ledger(user_id, 100)?
            .iter()
            .map(|e| {
                json!({
                    "id": e.id, "changeset": parse(&e.changeset), "metadata": parse(&e.metadata),
                    "create_time": e.create_time,
                })
            })
            .collect();
        // Some list reached MAX_EXPORT: the export holds the first that many.
        let truncated =
            [storage.len(), friends.len(), groups.len(), notifications.len()].iter().any(|n| *n >= MAX_EXPORT);
        for list in [&mut friends, &mut groups, &mut notifications] {
            list.truncate(MAX_EXPORT);
        }
        Ok(json!({
            "account": player_json(self, &user),
            "storage": storage,
            "leaderboard_records": records,
            "friends": friends,
            "groups": groups,
            "notifications": notifications,
            "wallet_ledger": ledger,
            "truncated": truncated,
        }))
    }
}

/// A player as operators see them: profile, devices, wallet, metadata, ban, whether
/// online (never a password hash).
pub fn player_json(kaos: &KaosNet, u: &crate::store::User) -> Value {
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!({}));
    json!({
        "user_id": u.id, "username": u.username, "display_name": u.display_name,
        "avatar_url": u.avatar_url, "lang_tag": u.lang_tag, "location": u.location, "timezone": u.timezone,
        "email": u.email, "custom_id": u.custom_id, "devices": u.devices,
        "metadata": parse(&u.metadata), "wallet": parse(&u.wallet),
        "create_time": u.create_time, "update_time": u.update_time, "ban_until": u.ban_until,
        "online": !kaos.sessions().sessions_of(&u.id).is_empty(),
    })
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({}))
}
