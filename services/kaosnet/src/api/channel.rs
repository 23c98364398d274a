//! `GET /v2/channel/{channel_id}?limit&forward&cursor`: a channel's stored messages.

use std::sync::Arc;

use kaos_http::{Method, Request, Router};

use super::{query_bool, route, session, Answer};
use crate::KaosNet;
use serde_json::{json, Value};

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>) {
    route(r, kaos, Method::Get, "/v2/channel/{channel_id}", "list_channel_messages", list);
}

fn list(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    // Out of range, or no number: the operation refuses it.
    let limit = req.query("limit").map_or(10, |l| l.parse().unwrap_or(0));
    let forward = query_bool(req, "forward", true)?;
    let cursor = req.query("cursor").filter(|c| !c.is_empty());
    let channel = req.param("channel_id").unwrap_or_default();
    let page = kaos.chat.history(Some(&me.uid), channel, limit, forward, cursor.as_deref())?;
    let messages: Vec<Value> = page.messages.iter().map(crate::protobuf::message_value).collect();
    let mut out = json!({ "messages": messages });
    for (key, cursor) in [
        ("next_cursor", page.next_cursor),
        ("prev_cursor", page.prev_cursor),
        ("cacheable_cursor", page.cacheable_cursor),
    ] {
        if let Some(c) = cursor {
            out[key] = json!(c);
        }
    }
    Ok(out)
}
