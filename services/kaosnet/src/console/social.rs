//! The console's chat, notification, group and matchmaker routes, through the services'
//! own operations (as the server: no membership needed).
//!
//! | Route | Permission |
//! |---|---|
//! | `GET /v2/console/channel?cursor=` (channels someone is in now; channels with history) | ViewSocial |
//! | `GET /v2/console/channel/{channel_id}/message?limit=&forward=&cursor=` | ViewSocial |
//! | `DELETE /v2/console/channel/{channel_id}/message/{message_id}` | ManageSocial |
//! | `GET /v2/console/notification?user_id=&cursor=` | ViewSocial |
//! | `POST /v2/console/notification` `{"user_id"?, "subject", "content", "code", "persistent"}` | ManageSocial |
//! | `DELETE /v2/console/notification/{user_id}/{id}` | ManageSocial |
//! | `GET /v2/console/group?name=&cursor=` | ViewSocial |
//! | `GET /v2/console/group/{id}/member?cursor=` | ViewSocial |
//! | `POST /v2/console/group/{id}/{add,kick,promote,demote,ban}` `{"user_ids"}` | ManageSocial |
//! | `DELETE /v2/console/group/{id}` | ManageSocial |
//! | `GET /v2/console/matchmaker` (tickets, and the pool's counts) | ViewMatchmaker |
//!
//! A notification without `user_id` goes to everyone: every account when persistent
//! (stored for each, a page of users at a time), else every user online.

use std::sync::Arc;

use kaos_http::Method::{Delete, Get, Post};
use kaos_http::{Request, Router};
use serde_json::{json, Value};

use super::auth::ConsoleAuth;
use super::guarded;
use super::roles::Permission;
use crate::error::ApiError;
use crate::notifications::Outgoing;
use crate::store::GroupFilter;
use crate::KaosNet;

fn cursor(req: &Request) -> Option<String> {
    req.query("cursor").filter(|c| !c.is_empty())
}

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>, auth: &Arc<ConsoleAuth>) {
    chat_routes(r, kaos, auth);
    notification_routes(r, kaos, auth);
    group_routes(r, kaos, auth);
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/matchmaker", auth, Permission::ViewMatchmaker, move |req, _| {
        let limit = req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(100).min(1000);
        let (tickets, stats) = k.matchmaker().snapshot(limit);
        Ok(json!({ "tickets": tickets, "stats": stats }))
    });
}

fn chat_routes(r: &mut Router, kaos: &Arc<KaosNet>, auth: &Arc<ConsoleAuth>) {
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/channel", auth, Permission::ViewSocial, move |req, _| {
        let active: Vec<Value> =
            k.chat().active_channels().into_iter().map(|(id, n)| json!({"channel_id": id, "presences": n})).collect();
        let page = 100;
        let stored = k.chat().stored_channels(&cursor(req).unwrap_or_default(), page)?;
        let next = stored.last().filter(|_| stored.len() == page).map(|(id, _)| id.clone());
        let stored: Vec<Value> = stored.into_iter().map(|(id, n)| json!({"channel_id": id, "messages": n})).collect();
        Ok(json!({ "active": active, "stored": stored, "cursor": next }))
    });
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/channel/{channel_id}/message", auth, Permission::ViewSocial, move |req, _| {
        let limit = req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
        let forward = req.query("forward").is_some_and(|f| f == "true");
        let channel = req.param("channel_id").unwrap_or_default();
        let page = k.chat().history(None, channel, limit, forward, cursor(req).as_deref())?;
        Ok(json!({
            "messages": page.messages.iter().map(crate::protobuf::message_value).collect::<Vec<_>>(),
            "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor,
        }))
    });
    let k = kaos.clone();
    let path = "/v2/console/channel/{channel_id}/message/{message_id}";
    guarded(r, Delete, path, auth, Permission::ManageSocial, move |req, _| {
        let (channel, id) = (req.param("channel_id").unwrap_or_default(), req.param("message_id").unwrap_or_default());
        k.chat().remove_as_server(channel, id)?;
        Ok(json!({}))
    });
}

fn notification_routes(r: &mut Router, kaos: &Arc<KaosNet>, auth: &Arc<ConsoleAuth>) {
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/notification", auth, Permission::ViewSocial, move |req, _| {
        let user = req.query("user_id").filter(|u| !u.is_empty());
        let user = user.ok_or_else(|| ApiError::invalid("Whose notifications? Give user_id."))?;
        let after = match cursor(req) {
            Some(c) => Some(c.parse::<i64>().map_err(|_| ApiError::invalid("Cursor is invalid."))?),
            None => None,
        };
        let list = k.notifications().list(&user, after, crate::notifications::MAX_PAGE)?;
        let next = list.last().filter(|_| list.len() == crate::notifications::MAX_PAGE).map(|n| n.seq.to_string());
        let notifications: Vec<Value> = list.iter().map(|n| crate::notifications::notification_json(n, true)).collect();
        Ok(json!({ "notifications": notifications, "cursor": next }))
    });
    let k = kaos.clone();
    guarded(r, Post, "/v2/console/notification", auth, Permission::ManageSocial, move |req, _| {
        #[derive(serde::Deserialize)]
        struct Send {
            user_id: Option<String>,
            subject: String,
            content: Value,
            code: i32,
            #[serde(default)]
            persistent: bool,
        }
        let s: Send = super::body(req)?;
        let one = |user_id: String| Outgoing {
            user_id,
            subject: s.subject.clone(),
            content: s.content.clone(),
            code: s.code,
            sender_id: None,
            persistent: s.persistent,
        };
        if let Some(user) = s.user_id.filter(|u| !u.is_empty()) {
            k.accounts().account(&user)?;
            k.notifications().send(one(user))?;
            return Ok(json!({ "sent": 1 }));
        }
        let mut sent = 0;
        if s.persistent {
            let mut after = String::new();
            loop {
                let ids = k.accounts().store().user_ids(&after, 1000)?;
                let Some(last) = ids.last() else { break };
                after.clone_from(last);
                sent += ids.len();
                k.notifications().send_all(ids.into_iter().map(one).collect())?;
            }
        } else {
            let online = k.sessions().online_users();
            sent = online.len();
            k.notifications().send_all(online.into_iter().map(one).collect())?;
        }
        Ok(json!({ "sent": sent }))
    });
    let k = kaos.clone();
    guarded(r, Delete, "/v2/console/notification/{user_id}/{id}", auth, Permission::ManageSocial, move |req, _| {
        let id = req.param("id").unwrap_or_default().to_string();
        k.notifications().delete(req.param("user_id").unwrap_or_default(), &[id])?;
        Ok(json!({}))
    });
}

fn group_routes(r: &mut Router, kaos: &Arc<KaosNet>, auth: &Arc<ConsoleAuth>) {
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/group", auth, Permission::ViewSocial, move |req, _| {
        let filter = GroupFilter { name: req.query("name").filter(|n| !n.is_empty()), ..GroupFilter::default() };
        let page = k.groups().list(&filter, crate::groups::MAX_PAGE, cursor(req).as_deref())?;
        let groups: Vec<Value> = page.items.iter().map(crate::groups::group_json).collect();
        Ok(json!({ "groups": groups, "cursor": page.cursor }))
    });
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/group/{id}/member", auth, Permission::ViewSocial, move |req, _| {
        let id = req.param("id").unwrap_or_default();
        let page = k.groups().users(id, None, crate::groups::MAX_PAGE, cursor(req).as_deref())?;
        let members: Vec<Value> = page
            .items
            .iter()
            .map(|(u, m)| json!({"user_id": u.id, "username": u.username, "state": m.state}))
            .collect();
        Ok(json!({ "members": members, "cursor": page.cursor }))
    });
    let k = kaos.clone();
    guarded(r, Post, "/v2/console/group/{id}/{op}", auth, Permission::ManageSocial, move |req, _| {
        #[derive(serde::Deserialize)]
        struct Users {
            user_ids: Vec<String>,
        }
        let users: Users = super::body(req)?;
        let (id, groups) = (req.param("id").unwrap_or_default(), k.groups());
        match req.param("op").unwrap_or_default() {
            "add" => groups.add(None, id, &users.user_ids),
            "kick" => groups.kick(None, id, &users.user_ids),
            "promote" => groups.promote(None, id, &users.user_ids),
            "demote" => groups.demote(None, id, &users.user_ids),
            "ban" => groups.ban(None, id, &users.user_ids),
            _ => Err(ApiError::not_found("Group operations are add, kick, promote, demote and ban.")),
        }?;
        Ok(json!({}))
    });
    let k = kaos.clone();
    guarded(r, Delete, "/v2/console/group/{id}", auth, Permission::ManageSocial, move |req, _| {
        k.groups().delete(None, req.param("id").unwrap_or_default())?;
        Ok(json!({}))
    });
}
