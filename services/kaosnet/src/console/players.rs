//! The console's player and session routes:
//!
//! | Route | Permission |
//! |---|---|
//! | `GET /v2/console/session?user_id=&transport=&limit=` | ViewSessions |
//! | `DELETE /v2/console/session/{session_id}` (kick) | KickSessions |
//! | `GET /v2/console/account?q=` (an id, username, device id, email or custom id; no `q`: every account, `cursor`, `limit`) | ViewPlayers |
//! | `GET /v2/console/account/{id}` (with devices, wallet and metadata) | ViewPlayers |
//! | `PUT /v2/console/account/{id}` (profile fields, metadata; wallet changes) | ManagePlayers |
//! | `GET /v2/console/account/{id}/export` (everything kept about them, as JSON) | ViewPlayers |
//! | `DELETE /v2/console/account/{id}` (the player, their data, their sessions) | ManagePlayers |
//! | `POST /v2/console/account/{id}/ban` `{"until"}` (Unix seconds; none: for good) | ManagePlayers |
//! | `POST /v2/console/account/{id}/unban` | ManagePlayers |
//! | `GET /v2/console/account/{id}/friend` | ViewPlayers |
//! | `DELETE /v2/console/account/{id}/friend/{friend_id}` (both ways) | ManagePlayers |
//! | `GET /v2/console/account/{id}/group` | ViewPlayers |

use std::sync::Arc;

use kaos_http::Method::{Delete, Get, Post, Put};
use kaos_http::Router;
use serde_json::{json, Value};

use super::auth::ConsoleAuth;
use super::guarded;
use super::roles::Permission;
use crate::error::ApiError;
use crate::player_data::player_json;
use crate::presence::{SessionId, Transport};
use crate::store::{User, UserKey};
use crate::KaosNet;

/// The WebSocket close code a kicked session gets.
pub const KICKED: u16 = crate::player_data::ACCOUNT_CLOSED;

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>, auth: &Arc<ConsoleAuth>) {
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/session", auth, Permission::ViewSessions, move |req, _| {
        let limit = req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(100).min(1000);
        let user = req.query("user_id").filter(|u| !u.is_empty());
        let only = match req.query("transport").as_deref() {
            None | Some("") => None,
            Some("websocket") => Some(Transport::WebSocket),
            Some("rudp") => Some(Transport::Rudp),
            Some(_) => return Err(ApiError::invalid("Transports are websocket and rudp.")),
        };
        let sessions: Vec<Value> = k
            .sessions()
            .list(user.as_deref(), usize::MAX)
            .into_iter()
            .filter(|(_, _, t)| only.is_none_or(|o| o == *t))
            .take(limit)
            .map(|(id, user_id, transport)| {
                let transport = if transport == Transport::Rudp { "rudp" } else { "websocket" };
                json!({ "session_id": id.text(), "user_id": user_id, "transport": transport })
            })
            .collect();
        Ok(json!({ "sessions": sessions }))
    });
    let k = kaos.clone();
    guarded(r, Delete, "/v2/console/session/{id}", auth, Permission::KickSessions, move |req, _| {
        let id = req.param("id").and_then(SessionId::parse).ok_or_else(|| ApiError::invalid("Invalid session ID."))?;
        if !k.sessions().close(id, KICKED, "Session kicked.") {
            return Err(ApiError::not_found("Session not found."));
        }
        Ok(json!({}))
    });
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/account", auth, Permission::ViewPlayers, move |req, _| {
        let q = req.query("q").unwrap_or_default();
        let store = k.accounts().store();
        let mut found: Vec<User> = Vec::new();
        if q.is_empty() {
            // No search: every account, a page at a time in id order.
            let after = req.query("cursor").unwrap_or_default();
            let limit = req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(100).clamp(1, 100);
            let ids = store.user_ids(&after, limit)?;
            let cursor = ids.last().filter(|_| ids.len() == limit).cloned();
            let mut users = store.users(&ids, &[])?;
            users.sort_by(|a, b| a.id.cmp(&b.id));
            let accounts: Vec<Value> = users.iter().map(|u| player_json(&k, u)).collect();
            return Ok(json!({ "accounts": accounts, "cursor": cursor }));
        }
        {
            let keys =
                [UserKey::Id(&q), UserKey::Username(&q), UserKey::Device(&q), UserKey::Email(&q), UserKey::Custom(&q)];
            for key in keys {
                if let Some(u) = store.user(key)? {
                    if !found.iter().any(|f| f.id == u.id) {
                        found.push(u);
                    }
                }
            }
        }
        Ok(json!({ "accounts": found.iter().map(|u| player_json(&k, u)).collect::<Vec<_>>() }))
    });
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/account/{id}", auth, Permission::ViewPlayers, move |req, _| {
        let u = k.accounts().account(req.param("id").unwrap_or_default())?;
        Ok(player_json(&k, &u))
    });
    let k = kaos.clone();
    guarded(r, Delete, "/v2/console/account/{id}", auth, Permission::ManagePlayers, move |req, _| {
        k.delete_player(req.param("id").unwrap_or_default())?;
        Ok(json!({}))
    });
    let k = kaos.clone();
    guarded(r, Post, "/v2/console/account/{id}/ban", auth, Permission::ManagePlayers, move |req, _| {
        let id = req.param("id").unwrap_or_default();
        let body: Value = super::body(req)?;
        let until = match &body["until"] {
            Value::Null => i64::MAX,
            v => v.as_i64().ok_or_else(|| ApiError::invalid("`until` is Unix seconds."))?,
        };
        k.accounts().ban(id, until)?;
        for session in k.sessions().sessions_of(id) {
            k.sessions().close(session, KICKED, "Account banned.");
        }
        Ok(json!({}))
    });
    let k = kaos.clone();
    guarded(r, Post, "/v2/console/account/{id}/unban", auth, Permission::ManagePlayers, move |req, _| {
        k.accounts().unban(req.param("id").unwrap_or_default())?;
        Ok(json!({}))
    });
    let k = kaos.clone();
    guarded(r, Put, "/v2/console/account/{id}", auth, Permission::ManagePlayers, move |req, _| {
        let id = req.param("id").unwrap_or_default();
        let edit: Edit = super::body(req)?;
        // The profile first: a refused edit changes nothing, and the wallet's change (the
        // one part that is not idempotent) comes last.
        let mut update = edit.account;
        update.metadata = edit.metadata;
        k.accounts().update_account(id, update)?;
        if let Some(changes) = edit.wallet.filter(|c| !c.is_empty()) {
            k.accounts().update_wallet(id, &changes, &json!({"console": true}), true)?;
        }
        Ok(player_json(&k, &k.accounts().account(id)?))
    });
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/account/{id}/export", auth, Permission::ViewPlayers, move |req, _| {
        k.export_player(req.param("id").unwrap_or_default())
    });
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/account/{id}/friend", auth, Permission::ViewPlayers, move |req, _| {
        let cursor = req.query("cursor").filter(|c| !c.is_empty());
        let page = k.friends().list(req.param("id").unwrap_or_default(), None, 100, cursor.as_deref())?;
        let friends: Vec<Value> = page
            .friends
            .iter()
            .map(|(u, e)| json!({"user_id": u.id, "username": u.username, "state": e.state, "update_time": e.update_time}))
            .collect();
        Ok(json!({ "friends": friends, "cursor": page.cursor }))
    });
    let k = kaos.clone();
    guarded(
        r,
        Delete,
        "/v2/console/account/{id}/friend/{friend_id}",
        auth,
        Permission::ManagePlayers,
        move |req, _| {
            let friend = req.param("friend_id").unwrap_or_default().to_string();
            k.friends().delete(req.param("id").unwrap_or_default(), &[friend], &[])?;
            Ok(json!({}))
        },
    );
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/account/{id}/group", auth, Permission::ViewPlayers, move |req, _| {
        let cursor = req.query("cursor").filter(|c| !c.is_empty());
        let page = k.groups().user_groups(req.param("id").unwrap_or_default(), None, 100, cursor.as_deref())?;
        let groups: Vec<Value> =
            page.items.iter().map(|(g, m)| json!({"group": crate::groups::group_json(g), "state": m.state})).collect();
        Ok(json!({ "groups": groups, "cursor": page.cursor }))
    });
}

/// A player's edit: profile fields as clients send them, and what only operators set.
#[derive(serde::Deserialize)]
struct Edit {
    #[serde(flatten)]
    account: crate::accounts::AccountUpdate,
    /// A JSON object that replaces the metadata.
    metadata: Option<Value>,
    /// Amounts to add to the wallet's balances (recorded in the ledger).
    wallet: Option<std::collections::BTreeMap<String, i64>>,
}
