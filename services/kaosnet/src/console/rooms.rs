//! The console's match routes:
//!
//! | Route | Permission |
//! |---|---|
//! | `GET /v2/console/match?limit=&authoritative=&query=&label=` | ViewRooms |
//! | `GET /v2/console/match/{id}/state` (tick, presences, the handler's state) | ViewRooms |
//! | `POST /v2/console/match/{id}/signal` `{"data"}` → `{"data"}` | TerminateRooms |
//! | `DELETE /v2/console/match/{id}?grace_seconds=` (authoritative) | TerminateRooms |

use std::sync::Arc;

use kaos_http::Method::{Delete, Get, Post};
use kaos_http::Router;
use serde_json::{json, Value};

use super::auth::ConsoleAuth;
use super::guarded;
use super::roles::Permission;
use crate::error::ApiError;
use crate::matches::listing::{list, MatchFilter};
use crate::KaosNet;

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>, auth: &Arc<ConsoleAuth>) {
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/match", auth, Permission::ViewRooms, move |req, _| {
        let filter = MatchFilter {
            limit: req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(100),
            authoritative: req.query("authoritative").and_then(|a| a.parse().ok()),
            label: req.query("label").filter(|l| !l.is_empty()),
            query: req.query("query").filter(|q| !q.is_empty()),
            ..MatchFilter::default()
        };
        let matches: Vec<Value> = list(&k, &filter)?
            .into_iter()
            .map(|m| {
                json!({
                    "match_id": m.match_id, "authoritative": m.authoritative, "label": m.label,
                    "size": m.size, "tick_rate": m.tick_rate, "handler_name": m.handler_name,
                })
            })
            .collect();
        Ok(json!({ "matches": matches }))
    });
    let k = kaos.clone();
    guarded(r, Get, "/v2/console/match/{id}/state", auth, Permission::ViewRooms, move |req, _| {
        k.matches().state(req.param("id").unwrap_or_default())
    });
    let k = kaos.clone();
    guarded(r, Post, "/v2/console/match/{id}/signal", auth, Permission::TerminateRooms, move |req, _| {
        let body: Value = super::body(req)?;
        let data = body["data"].as_str().unwrap_or_default();
        Ok(json!({ "data": k.matches().signal(req.param("id").unwrap_or_default(), data)? }))
    });
    let k = kaos.clone();
    guarded(r, Delete, "/v2/console/match/{id}", auth, Permission::TerminateRooms, move |req, _| {
        let grace = req.query("grace_seconds").and_then(|g| g.parse().ok()).unwrap_or(0);
        if !k.matches().stop(req.param("id").unwrap_or_default(), grace) {
            return Err(ApiError::not_found("Match not found."));
        }
        Ok(json!({}))
    });
}
