//! The storage API: batch read, write and delete, and collection listings, with
//! Nakama's versions and permissions (the store applies each batch whole or not at all).

use std::sync::Arc;

use kaos_http::{Method, Request, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{body, route, session, Answer};
use crate::storage::ops;
use crate::store::{Caller, ObjectId, StorageObject};
use crate::time::rfc3339;
use crate::KaosNet;

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>) {
    route(r, kaos, Method::Post, "/v2/storage", "read_storage_objects", read);
    route(r, kaos, Method::Put, "/v2/storage", "write_storage_objects", write);
    route(r, kaos, Method::Put, "/v2/storage/delete", "delete_storage_objects", delete);
    route(r, kaos, Method::Get, "/v2/storage/{collection}", "list_storage_objects", list);
    route(r, kaos, Method::Get, "/v2/storage/{collection}/{user_id}", "list_storage_objects", list);
}

pub(crate) fn object_json(o: &StorageObject) -> Value {
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
    let ids = b.object_ids.into_iter().map(|r| ObjectId { collection: r.collection, key: r.key, user_id: r.user_id });
    let objects = kaos.storage.read_objects(Caller::User(&me.uid), ids.collect())?;
    Ok(json!({"objects": objects.iter().map(object_json).collect::<Vec<_>>()}))
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
    let writes = b.objects.into_iter().map(|o| ops::Write {
        version: ops::version(&o.version),
        collection: o.collection,
        key: o.key,
        value: o.value,
        permission_read: o.permission_read.unwrap_or(1),
        permission_write: o.permission_write.unwrap_or(1),
    });
    let written = kaos.storage.write_objects(Caller::User(&me.uid), &me.uid, writes.collect())?;
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
    let deletes = b.object_ids.into_iter().map(|d| ops::Delete {
        collection: d.collection,
        key: d.key,
        version: Some(d.version),
    });
    kaos.storage.delete_objects(Caller::User(&me.uid), &me.uid, deletes.collect())?;
    Ok(json!({}))
}

fn list(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let collection = req.param("collection").unwrap_or_default();
    let owner = req.param("user_id").map(str::to_string).or_else(|| req.query("user_id")).filter(|u| !u.is_empty());
    let limit = match req.query("limit").as_deref() {
        None | Some("") => ops::MAX_PAGE,
        // Out of range, or no number: the operation refuses it.
        Some(l) => l.parse::<usize>().unwrap_or(0),
    };
    let cursor = req.query("cursor").filter(|c| !c.is_empty());
    let page =
        kaos.storage.list_objects(Caller::User(&me.uid), collection, owner.as_deref(), limit, cursor.as_deref())?;
    let mut v = json!({"objects": page.objects.iter().map(object_json).collect::<Vec<_>>()});
    if let Some(c) = page.cursor {
        v["cursor"] = json!(c);
    }
    Ok(v)
}
