//! Friends: `GET /v2/friend?limit&state&cursor`, `POST /v2/friend?ids&usernames`,
//! `DELETE /v2/friend?ids&usernames`, `POST /v2/friend/block?ids&usernames` and
//! `GET /v2/friend/friends?limit&cursor` (friends of friends).

use std::sync::Arc;

use kaos_http::{Method, Request, Router};
use serde_json::{json, Value};

use super::account::user_json;
use super::{route, session, Answer};
use crate::error::ApiError;
use crate::time::rfc3339;
use crate::KaosNet;

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>) {
    route(r, kaos, Method::Get, "/v2/friend", "list_friends", list);
    route(r, kaos, Method::Post, "/v2/friend", "add_friends", add);
    route(r, kaos, Method::Delete, "/v2/friend", "delete_friends", delete);
    route(r, kaos, Method::Post, "/v2/friend/block", "block_friends", block);
    route(r, kaos, Method::Get, "/v2/friend/friends", "list_friends_of_friends", friends_of_friends);
}

/// A query's `limit` (`default` when absent; the operation checks its range), `state` and
/// `cursor`; other parameters are ignored.
pub(super) struct Paging {
    pub limit: usize,
    pub state: Option<i32>,
    pub cursor: Option<String>,
}

pub(super) fn paging(req: &Request, default: usize) -> Result<Paging, ApiError> {
    let mut p = Paging { limit: default, state: None, cursor: None };
    for (k, v) in req.query_pairs() {
        match k.as_str() {
            "limit" if v.is_empty() => {}
            // Out of range, or no number: the operation refuses it.
            "limit" => p.limit = v.parse().unwrap_or(0),
            "state" if v.is_empty() => {}
            "state" => p.state = Some(v.parse().map_err(|_| ApiError::invalid(format!("Invalid state: {v}")))?),
            "cursor" if v.is_empty() => {}
            "cursor" => p.cursor = Some(v),
            // Unknown query parameters are ignored, as Nakama's gateway does.
            _ => {}
        }
    }
    Ok(p)
}

/// The `ids` and `usernames` of a query.
fn targets(req: &Request) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let (mut ids, mut usernames) = (Vec::new(), Vec::new());
    for (k, v) in req.query_pairs() {
        match k.as_str() {
            "ids" => ids.push(v),
            "usernames" => usernames.push(v),
            // Unknown query parameters are ignored, as Nakama's gateway does.
            _ => {}
        }
    }
    Ok((ids, usernames))
}

fn list(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let p = paging(req, 1000)?;
    let page = kaos.friends.list(&me.uid, p.state, p.limit, p.cursor.as_deref())?;
    let list: Vec<Value> = page
        .friends
        .iter()
        .map(|(u, f)| json!({"user": user_json(kaos, u), "state": f.state, "update_time": rfc3339(f.update_time)}))
        .collect();
    let mut out = json!({ "friends": list });
    if let Some(c) = page.cursor {
        out["cursor"] = json!(c);
    }
    Ok(out)
}

fn add(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let (ids, usernames) = targets(req)?;
    kaos.friends.add(&me.uid, &ids, &usernames).map(|()| json!({}))
}

fn delete(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let (ids, usernames) = targets(req)?;
    kaos.friends.delete(&me.uid, &ids, &usernames).map(|()| json!({}))
}

fn block(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let (ids, usernames) = targets(req)?;
    kaos.friends.block(&me.uid, &ids, &usernames).map(|()| json!({}))
}

fn friends_of_friends(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let p = paging(req, 100)?;
    let page = kaos.friends.friends_of_friends(&me.uid, p.limit, p.cursor.as_deref())?;
    let list: Vec<Value> = page
        .friends_of_friends
        .iter()
        .map(|(referrer, u)| json!({"referrer": referrer, "user": user_json(kaos, u)}))
        .collect();
    let mut out = json!({ "friends_of_friends": list });
    if let Some(c) = page.cursor {
        out["cursor"] = json!(c);
    }
    Ok(out)
}
