//! `GET /v2/match?limit&authoritative&label&min_size&max_size&query`: running matches.
//! Relayed matches have no label, so a label or query lists authoritative ones only;
//! with a query, the best scores come first.

use std::sync::Arc;

use kaos_http::{Method, Request, Router};
use serde_json::{json, Value};

use super::{query_bool, route, session, Answer};
use crate::error::ApiError;
use crate::matches::listing::MatchFilter;
use crate::KaosNet;

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>) {
    route(r, kaos, Method::Get, "/v2/match", "list_matches", list);
}

fn number(req: &Request, name: &str) -> Result<Option<usize>, ApiError> {
    match req.query(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ApiError::invalid(format!("Invalid {name}."))),
    }
}

fn list(kaos: &KaosNet, req: &Request) -> Answer {
    session(kaos, req)?;
    let defaults = MatchFilter::default();
    let filter = MatchFilter {
        // Out of range, or no number: the operation refuses it.
        limit: req.query("limit").map_or(defaults.limit, |l| l.parse().unwrap_or(0)),
        authoritative: match req.query("authoritative") {
            None => None,
            Some(_) => Some(query_bool(req, "authoritative", false)?),
        },
        label: req.query("label"),
        query: req.query("query"),
        min_size: number(req, "min_size")?.unwrap_or(defaults.min_size),
        max_size: number(req, "max_size")?.unwrap_or(defaults.max_size),
    };
    let matches: Vec<Value> = crate::matches::listing::list(kaos, &filter)?
        .into_iter()
        .map(|m| {
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
