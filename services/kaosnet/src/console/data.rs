//! The console's storage and leaderboard routes, through the same operations as the
//! client API and server code (as the server: every object is visible and writable).
//!
//! | Route | Permission |
//! |---|---|
//! | `GET /v2/console/storage/collection?user_id=` (collections that hold objects) | ViewStorage |
//! | `GET /v2/console/storage?collection=&user_id=&key=&limit=&cursor=` | ViewStorage |
//! | `GET /v2/console/storage/{collection}/{key}/{user_id}` | ViewStorage |
//! | `PUT /v2/console/storage/{collection}/{key}/{user_id}` `{"value", "version", "permission_read", "permission_write"}` | ManageStorage |
//! | `DELETE /v2/console/storage/{collection}/{key}/{user_id}?version=` | ManageStorage |
//! | `GET /v2/console/leaderboard` (boards and tournaments, with their record counts) | ViewLeaderboards |
//! | `GET /v2/console/leaderboard/{id}/record?limit=&cursor=` | ViewLeaderboards |
//! | `DELETE /v2/console/leaderboard/{id}/record/{owner_id}` | ManageLeaderboards |
//! | `POST /v2/console/leaderboard/{id}/reset` (the current period's records go) | ManageLeaderboards |
//! | `DELETE /v2/console/leaderboard/{id}` (the board and all its records) | ManageLeaderboards |
//!
//! A `version` on a write or delete applies it only if the object is unchanged since
//! (`*` on a write: only if absent); a mismatch is 400 "version check failed", as Nakama
//! answers. A search by key without an owner reads at most `MAX_KEY_SCAN` objects of the
//! collection (the answer says if it stopped there); with an owner it reads one.

use std::sync::Arc;

use kaos_http::Method::{Delete, Get, Post, Put};
use kaos_http::{Request, Router};
use serde_json::{json, Value};

use super::auth::ConsoleAuth;
use super::guarded;
use super::roles::Permission;
use crate::error::ApiError;
use crate::storage::ops::{version, Delete as ObjectDelete, Write, MAX_SERVER_PAGE};
use crate::store::{Caller, ObjectId};
use crate::KaosNet;

/// Most objects a search by key (without an owner) reads.
const MAX_KEY_SCAN: usize = 20_000;

fn limit(req: &Request, default: usize, max: usize) -> usize {
    req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(default).clamp(1, max)
}

fn object_id(req: &Request) -> ObjectId {
    let p = |name| req.param(name).unwrap_or_default().to_string();
    ObjectId { collection: p("collection"), key: p("key"), user_id: p("user_id") }
}

/// An object as the console shows it: its value as JSON, not text.
fn object(o: &crate::store::StorageObject) -> Value {
    let mut v = crate::api::object_json(o);
    v["value"] = serde_json::from_str(&o.value).unwrap_or(Value::Null);
    v
}

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>, auth: &Arc<ConsoleAuth>) {
    storage_routes(r, kaos, auth);
    leaderboard_routes(r, kaos, auth);
}

fn storage_routes(r: &mut Router, kaos: &Arc<KaosNet>, auth: &Arc<ConsoleAuth>) {
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/storage/collection", auth, Permission::ViewStorage, move |req, _| {
        let owner = req.query("user_id").filter(|u| !u.is_empty());
        Ok(json!({ "collections": k.storage().collections(owner.as_deref())? }))
    });
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/storage", auth, Permission::ViewStorage, move |req, _| {
        let collection = req.query("collection").unwrap_or_default();
        let owner = req.query("user_id").filter(|u| !u.is_empty());
        if let Some(key) = req.query("key").filter(|k| !k.is_empty()) {
            if let Some(owner) = &owner {
                let id = ObjectId { collection: collection.clone(), key, user_id: owner.clone() };
                let found = k.storage().read_objects(Caller::Server, vec![id])?;
                return Ok(json!({ "objects": found.iter().map(object).collect::<Vec<_>>() }));
            }
            // One key, every owner: read through the collection, to a bound.
            let (mut found, mut scanned) = (Vec::new(), 0);
            let mut cursor = None;
            loop {
                let page = k.storage().list_objects(
                    Caller::Server,
                    &collection,
                    owner.as_deref(),
                    MAX_SERVER_PAGE,
                    cursor.as_deref(),
                )?;
                scanned += page.objects.len();
                found.extend(page.objects.iter().filter(|o| o.id.key == key).map(object));
                match page.cursor {
                    Some(c) if scanned < MAX_KEY_SCAN && found.len() < MAX_SERVER_PAGE => cursor = Some(c),
                    Some(_) => return Ok(json!({ "objects": found, "truncated": true })),
                    None => break,
                }
            }
            return Ok(json!({ "objects": found, "truncated": false }));
        }
        let cursor = req.query("cursor").filter(|c| !c.is_empty());
        let page = k.storage().list_objects(
            Caller::Server,
            &collection,
            owner.as_deref(),
            limit(req, 100, MAX_SERVER_PAGE),
            cursor.as_deref(),
        )?;
        Ok(json!({ "objects": page.objects.iter().map(object).collect::<Vec<_>>(), "cursor": page.cursor }))
    });
    let k = kaos.clone();
    guarded(
        r,
        Get,
        "/v2/console/storage/{collection}/{key}/{user_id}",
        auth,
        Permission::ViewStorage,
        move |req, _| match k.storage().read_objects(Caller::Server, vec![object_id(req)])?.first() {
            Some(o) => Ok(object(o)),
            None => Err(ApiError::not_found("Storage object not found.")),
        },
    );
    let k = kaos.clone();
    guarded(
        r,
        Put,
        "/v2/console/storage/{collection}/{key}/{user_id}",
        auth,
        Permission::ManageStorage,
        move |req, _| {
            #[derive(serde::Deserialize)]
            struct Edit {
                value: Value,
                #[serde(default)]
                version: String,
                permission_read: Option<i64>,
                permission_write: Option<i64>,
            }
            let edit: Edit = super::body(req)?;
            let id = object_id(req);
            // Permissions left out keep the object's (or Nakama's defaults for a new one).
            let existing = k.storage().read_objects(Caller::Server, vec![id.clone()])?.pop();
            let (read, write) =
                existing.map_or((1, 1), |o| (i64::from(o.permission_read), i64::from(o.permission_write)));
            let w = Write {
                collection: id.collection,
                key: id.key,
                value: edit.value.to_string(),
                version: version(&edit.version),
                permission_read: edit.permission_read.unwrap_or(read),
                permission_write: edit.permission_write.unwrap_or(write),
            };
            let written = k.storage().write_objects(Caller::Server, &id.user_id, vec![w])?;
            written.first().map(object).ok_or_else(|| ApiError::not_found("Storage object not found."))
        },
    );
    let k = kaos.clone();
    guarded(
        r,
        Delete,
        "/v2/console/storage/{collection}/{key}/{user_id}",
        auth,
        Permission::ManageStorage,
        move |req, _| {
            let id = object_id(req);
            let d = ObjectDelete { collection: id.collection, key: id.key, version: req.query("version") };
            k.storage().delete_objects(Caller::Server, &id.user_id, vec![d])?;
            Ok(json!({}))
        },
    );
}

fn leaderboard_routes(r: &mut Router, kaos: &Arc<KaosNet>, auth: &Arc<ConsoleAuth>) {
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/leaderboard", auth, Permission::ViewLeaderboards, move |_, _| {
        let boards = k.leaderboards();
        let mut list = boards.definitions()?;
        for b in &mut list {
            let id = b["id"].as_str().unwrap_or_default().to_string();
            b["rank_count"] = json!(boards.rank_count(&id)?);
            b["current_expiry"] = json!(boards.current_expiry(&id)?);
        }
        Ok(json!({ "leaderboards": list }))
    });
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/leaderboard/{id}/record", auth, Permission::ViewLeaderboards, move |req, _| {
        let cursor = req.query("cursor").filter(|c| !c.is_empty());
        let page =
            k.leaderboards().get_page(req.param("id").unwrap_or_default(), limit(req, 100, 1000), cursor.as_deref())?;
        Ok(json!({
            "records": page.records.iter().map(crate::api::record_json).collect::<Vec<_>>(),
            "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor, "rank_count": page.rank_count,
        }))
    });
    let k = kaos.clone();
    let path = "/v2/console/leaderboard/{id}/record/{owner_id}";
    guarded(r, Delete, path, auth, Permission::ManageLeaderboards, move |req, _| {
        let (id, owner) = (req.param("id").unwrap_or_default(), req.param("owner_id").unwrap_or_default());
        if !k.leaderboards().delete_record(id, owner)? {
            return Err(ApiError::not_found("Record not found."));
        }
        Ok(json!({}))
    });
    let k = kaos.clone();
    guarded(r, Post, "/v2/console/leaderboard/{id}/reset", auth, Permission::ManageLeaderboards, move |req, _| {
        Ok(json!({ "removed": k.leaderboards().clear_period(req.param("id").unwrap_or_default())? }))
    });
    let k = kaos.clone();
    guarded(r, Delete, "/v2/console/leaderboard/{id}", auth, Permission::ManageLeaderboards, move |req, _| {
        if !k.leaderboards().delete(req.param("id").unwrap_or_default())? {
            return Err(ApiError::not_found("Leaderboard not found."));
        }
        Ok(json!({}))
    });
}
