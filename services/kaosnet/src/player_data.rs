//! What spans every service for one player: deleting them with all their data, and
//! exporting it. The client's `DELETE /v2/account`, server code and the console all
//! delete through [`KaosNet::delete_player`].

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::store::Caller;
use crate::KaosNet;

/// The WebSocket close code of sessions whose account was deleted or banned.
pub const ACCOUNT_CLOSED: u16 = 4001;

/// Most items of one kind an export holds (storage objects per collection, friends,
/// groups, notifications, wallet changes).
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
            loop {
                let page = self.storage().list_objects(
                    Caller::Server,
                    &collection,
                    Some(user_id),
                    crate::storage::ops::MAX_SERVER_PAGE,
                    cursor.as_deref(),
                )?;
                storage.extend(page.objects.iter().map(crate::api::object_json));
                match page.cursor {
                    Some(c) if storage.len() < MAX_EXPORT => cursor = Some(c),
                    _ => break,
                }
            }
        }
        let mut records = Vec::new();
        for def in self.leaderboards().defs()? {
            if let Some(r) = self.leaderboards().get_record(&def.config.id, user_id)? {
                records.push(crate::api::record_json(&r));
            }
        }
        let friends = self.friends().list(user_id, None, crate::friends::MAX_PAGE, None)?;
        let friends: Vec<Value> =
            friends.friends.iter().map(|(u, e)| json!({"user_id": u.id, "state": e.state})).collect();
        let groups = self.groups().user_groups(user_id, None, crate::groups::MAX_PAGE, None)?;
        let groups: Vec<Value> =
            groups.items.iter().map(|(g, m)| json!({"group_id": g.id, "name": g.name, "state": m.state})).collect();
        let notifications: Vec<Value> = self
            .notifications()
            .list(user_id, None, crate::notifications::MAX_PAGE)?
            .iter()
            .map(|n| crate::notifications::notification_json(n, true))
            .collect();
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
        Ok(json!({
            "account": crate::console::players::player(self, &user),
            "storage": storage,
            "leaderboard_records": records,
            "friends": friends,
            "groups": groups,
            "notifications": notifications,
            "wallet_ledger": ledger,
        }))
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({}))
}
