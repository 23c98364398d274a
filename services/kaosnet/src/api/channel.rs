//! `GET /v2/channel/{channel_id}?limit&forward&cursor`: a channel's stored messages.

use std::sync::Arc;

use kaos_http::{Method, Request, Router};

use super::{query_bool, route, session, Answer};
use crate::error::ApiError;
use crate::KaosNet;

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>) {
    route(r, kaos, Method::Get, "/v2/channel/{channel_id}", "list_channel_messages", list);
}

fn list(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let limit = match req.query("limit") {
        None => 10,
        Some(l) => l
            .parse()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::invalid("Invalid limit - limit must be between 1 and 100."))?,
    };
    let forward = query_bool(req, "forward", true)?;
    let cursor = req.query("cursor").filter(|c| !c.is_empty());
    let channel = req.param("channel_id").unwrap_or_default();
    kaos.chat.history(&me.uid, channel, limit, forward, cursor.as_deref())
}
