//! The storage API: batch read, write and delete, and collection listings, with
//! Nakama's versions and permissions (the store applies each batch whole or not at all).

use std::sync::Arc;

use kaos_http::{Method, Request, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{body, route, session, Answer};
use crate::error::ApiError;
use crate::store::{may_read, Caller, ObjectDelete, ObjectId, ObjectWrite, StorageObject, VersionCheck};
use crate::time::rfc3339;
use crate::KaosNet;

/// Most objects in one batch.
const MAX_BATCH: usize = 100;

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>) {
    route(r, kaos, Method::Post, "/v2/storage", "read_storage_objects", read);
    route(r, kaos, Method::Put, "/v2/storage", "write_storage_objects", write);
    route(r, kaos, Method::Put, "/v2/storage/delete", "delete_storage_objects", delete);
    route(r, kaos, Method::Get, "/v2/storage/{collection}", "list_storage_objects", list);
    route(r, kaos, Method::Get, "/v2/storage/{collection}/{user_id}", "list_storage_objects", list);
}

pub(super) fn object_json(o: &StorageObject) -> Value {
    json!({
        "collection": o.id.collection,
        "key": o.id.key,
        "user_id": o.id.user_id,
        "value": o.value,
        "version": o.version,
        "permission_read": o.permission_read,
        "permission_write": o.permission_write,
        "create_time": rfc3339(o.create_time),
        "update_time": rfc3339(o.update_time),
    })
}

fn check_name(what: &str, s: &str) -> Result<(), ApiError> {
    if s.is_empty() || s.len() > 128 {
        return Err(ApiError::invalid(format!("Invalid {what}, must be set and at most 128 characters.")));
    }
    Ok(())
}

fn check_batch<T>(items: &[T]) -> Result<(), ApiError> {
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::invalid(format!("Batches hold 1 to {MAX_BATCH} objects.")));
    }
    Ok(())
}

#[derive(Deserialize)]
struct ReadId {
    #[serde(default)]
    collection: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    user_id: String,
}

#[derive(Deserialize)]
struct ReadBody {
    #[serde(default)]
    object_ids: Vec<ReadId>,
}

fn read(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let b: ReadBody = body(req)?;
    check_batch(&b.object_ids)?;
    let mut ids = Vec::with_capacity(b.object_ids.len());
    for r in b.object_ids {
        check_name("collection", &r.collection)?;
        check_name("key", &r.key)?;
        ids.push(ObjectId { collection: r.collection, key: r.key, user_id: r.user_id });
    }
    let objects = kaos.accounts.store().read_objects(&ids)?;
    let caller = Caller::User(&me.uid);
    let visible: Vec<Value> = objects.iter().filter(|o| may_read(caller, o)).map(object_json).collect();
    Ok(json!({"objects": visible}))
}

#[derive(Deserialize)]
struct WriteObject {
    #[serde(default)]
    collection: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    version: String,
    permission_read: Option<i64>,
    permission_write: Option<i64>,
}

#[derive(Deserialize)]
struct WriteBody {
    #[serde(default)]
    objects: Vec<WriteObject>,
}

fn write(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let b: WriteBody = body(req)?;
    check_batch(&b.objects)?;
    let mut writes = Vec::with_capacity(b.objects.len());
    for o in b.objects {
        check_name("collection", &o.collection)?;
        check_name("key", &o.key)?;
        if serde_json::from_str::<serde_json::Map<String, Value>>(&o.value).is_err() {
            return Err(ApiError::invalid("Value must be a JSON object."));
        }
        let permission_read = match o.permission_read.unwrap_or(1) {
            p @ 0..=2 => p as u8,
            _ => return Err(ApiError::invalid("Invalid read permission, must be 0, 1 or 2.")),
        };
        let permission_write = match o.permission_write.unwrap_or(1) {
            p @ 0..=1 => p as u8,
            _ => return Err(ApiError::invalid("Invalid write permission, must be 0 or 1.")),
        };
        let version = match o.version.as_str() {
            "" => VersionCheck::Any,
            "*" => VersionCheck::Absent,
            v => VersionCheck::Is(v.to_string()),
        };
        let id = ObjectId { collection: o.collection, key: o.key, user_id: me.uid.clone() };
        writes.push(ObjectWrite { id, value: o.value, version, permission_read, permission_write });
    }
    let written = kaos.accounts.store().write_objects(Caller::User(&me.uid), &writes, kaos.accounts.now())?;
    let acks: Vec<Value> = written
        .iter()
        .map(|o| {
            json!({
                "collection": o.id.collection,
                "key": o.id.key,
                "version": o.version,
                "user_id": o.id.user_id,
                "create_time": rfc3339(o.create_time),
                "update_time": rfc3339(o.update_time),
            })
        })
        .collect();
    Ok(json!({"acks": acks}))
}

#[derive(Deserialize)]
struct DeleteId {
    #[serde(default)]
    collection: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    version: String,
}

#[derive(Deserialize)]
struct DeleteBody {
    #[serde(default)]
    object_ids: Vec<DeleteId>,
}

fn delete(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let b: DeleteBody = body(req)?;
    check_batch(&b.object_ids)?;
    let mut deletes = Vec::with_capacity(b.object_ids.len());
    for d in b.object_ids {
        check_name("collection", &d.collection)?;
        check_name("key", &d.key)?;
        let version = Some(d.version).filter(|v| !v.is_empty());
        deletes.push(ObjectDelete {
            id: ObjectId { collection: d.collection, key: d.key, user_id: me.uid.clone() },
            version,
        });
    }
    kaos.accounts.store().delete_objects(Caller::User(&me.uid), &deletes)?;
    Ok(json!({}))
}

fn list(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let collection = req.param("collection").unwrap_or_default();
    check_name("collection", collection)?;
    let owner = req.param("user_id").map(str::to_string).or_else(|| req.query("user_id")).filter(|u| !u.is_empty());
    if owner.as_deref().is_some_and(|u| uuid::Uuid::parse_str(u).is_err()) {
        return Err(ApiError::invalid("Invalid user ID - make sure user ID is a valid UUID."));
    }
    let limit = match req.query("limit").as_deref() {
        None | Some("") => 100,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| ApiError::invalid("Invalid limit - limit must be between 1 and 100."))?,
    };
    let cursor = req.query("cursor").filter(|c| !c.is_empty());
    let page = kaos.accounts.store().list_objects(
        Caller::User(&me.uid),
        collection,
        owner.as_deref(),
        limit,
        cursor.as_deref(),
    )?;
    let mut v = json!({"objects": page.objects.iter().map(object_json).collect::<Vec<_>>()});
    if let Some(c) = page.cursor {
        v["cursor"] = json!(c);
    }
    Ok(v)
}
