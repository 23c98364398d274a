//! `GET /v2/match?limit&authoritative&label&min_size&max_size&query`: running matches.
//! Relayed matches have no label, so a label or query lists authoritative ones only;
//! with a query, the best scores come first.

use std::sync::Arc;

use kaos_http::{Method, Request, Router};
use serde_json::{json, Value};

use super::{query_bool, route, session, Answer};
use crate::error::ApiError;
use crate::matches::MatchInfo;
use crate::presence::router::match_id;
use crate::presence::tracker::StreamMode;
use crate::query::{flatten, Doc, Query};
use crate::KaosNet;

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>) {
    route(r, kaos, Method::Get, "/v2/match", "list_matches", list);
}

fn number(req: &Request, name: &str, range: std::ops::RangeInclusive<usize>) -> Result<Option<usize>, ApiError> {
    match req.query(name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| range.contains(n))
            .map(Some)
            .ok_or_else(|| ApiError::invalid(format!("Invalid {name}."))),
    }
}

fn list(kaos: &KaosNet, req: &Request) -> Answer {
    session(kaos, req)?;
    let limit = number(req, "limit", 1..=100)?.unwrap_or(10);
    let min_size = number(req, "min_size", 0..=usize::MAX)?.unwrap_or(0);
    let max_size = number(req, "max_size", 0..=usize::MAX)?.unwrap_or(usize::MAX);
    let label = req.query("label");
    let query = match req.query("query").filter(|q| !q.is_empty()) {
        Some(q) => Some(Query::parse(&q).map_err(|e| ApiError::invalid(e.to_string()))?),
        None => None,
    };
    let authoritative = match req.query("authoritative") {
        None => None,
        Some(_) => Some(query_bool(req, "authoritative", false)?),
    };
    let mut found: Vec<(f64, MatchInfo)> = Vec::new();
    if authoritative != Some(false) {
        for m in kaos.matches.list() {
            if m.size < min_size || m.size > max_size || label.as_ref().is_some_and(|l| *l != m.label) {
                continue;
            }
            let score = match &query {
                None => 0.0,
                Some(q) => {
                    let mut doc = Doc::new();
                    if let Ok(v) = serde_json::from_str::<Value>(&m.label) {
                        flatten("label", &v, &mut doc);
                    }
                    match q.score(&doc) {
                        Some(s) => s,
                        None => continue,
                    }
                }
            };
            found.push((score, m));
        }
    }
    if authoritative != Some(true) && label.is_none() && query.is_none() {
        for (stream, size) in kaos.tracker().streams(StreamMode::MatchRelayed) {
            if size >= min_size && size <= max_size {
                let info = MatchInfo {
                    match_id: match_id(&stream),
                    authoritative: false,
                    label: String::new(),
                    size,
                    tick_rate: 0,
                    handler_name: String::new(),
                };
                found.push((0.0, info));
            }
        }
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.match_id.cmp(&b.1.match_id)));
    let matches: Vec<Value> = found
        .into_iter()
        .take(limit)
        .map(|(_, m)| {
            let mut v = json!({"match_id": m.match_id, "authoritative": m.authoritative, "size": m.size});
            if m.authoritative {
                v["label"] = json!(m.label);
                v["tick_rate"] = json!(m.tick_rate);
                v["handler_name"] = json!(m.handler_name);
            }
            v
        })
        .collect();
    Ok(json!({ "matches": matches }))
}
