//! `GET /v2/notification` (the caller's stored notifications, oldest first, with a
//! cacheable cursor that later calls pass to get only newer ones) and
//! `DELETE /v2/notification?ids=…`.

use std::sync::Arc;

use base64::Engine;
use kaos_http::{Method, Request, Router};
use serde_json::{json, Value};

use super::{route, session, Answer};
use crate::error::ApiError;
use crate::notifications::notification_json;
use crate::KaosNet;

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>) {
    route(r, kaos, Method::Get, "/v2/notification", "list_notifications", list);
    route(r, kaos, Method::Delete, "/v2/notification", "delete_notifications", delete);
}

fn encode(seq: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("n{seq}"))
}

fn decode(cursor: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::invalid("Invalid cacheable cursor.");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    std::str::from_utf8(&raw).ok().and_then(|s| s.strip_prefix('n')).and_then(|s| s.parse().ok()).ok_or_else(bad)
}

fn list(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let mut limit = 100;
    let mut after = None;
    for (k, v) in req.query_pairs() {
        match k.as_str() {
            // Out of range, or no number: the operation refuses it.
            "limit" => limit = v.parse().unwrap_or(0),
            "cacheable_cursor" if !v.is_empty() => after = Some(decode(&v)?),
            "cacheable_cursor" => {}
            // Unknown query parameters are ignored, as Nakama's gateway does.
            _ => {}
        }
    }
    let found = kaos.notifications.list(&me.uid, after, limit)?;
    let cursor = found.last().map(|n| n.seq).or(after);
    let list: Vec<Value> = found.iter().map(|n| notification_json(n, true)).collect();
    let mut out = json!({ "notifications": list });
    if let Some(seq) = cursor {
        out["cacheable_cursor"] = json!(encode(seq));
    }
    Ok(out)
}

fn delete(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let mut ids = Vec::new();
    for (k, v) in req.query_pairs() {
        // Other parameters are ignored, as Nakama's gateway does.
        if k == "ids" {
            ids.push(v);
        }
    }
    kaos.notifications.delete(&me.uid, &ids)?;
    Ok(json!({}))
}
