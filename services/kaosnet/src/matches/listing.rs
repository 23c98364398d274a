//! Listing matches as a client does (`GET /v2/match`), with the rules every caller (REST,
//! Lua's `match_list`, the console) goes through: authoritative matches by label or by a
//! query on their label (best scores first), relayed ones by size.

use serde_json::Value;

use super::authoritative::MatchInfo;
use crate::error::{check_limit, ApiError};
use crate::presence::router::match_id;
use crate::presence::tracker::StreamMode;
use crate::query::{flatten, Doc, Query};
use crate::KaosNet;

/// Most matches one listing may hold.
pub const MAX_LIMIT: usize = 100;

/// Which matches to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchFilter {
    /// 1 to [`MAX_LIMIT`].
    pub limit: usize,
    /// Only authoritative (true) or relayed (false) ones; None: both.
    pub authoritative: Option<bool>,
    /// Authoritative matches with exactly this label.
    pub label: Option<String>,
    /// A query on the label (`+label.mode:ffa`), authoritative matches only.
    pub query: Option<String>,
    pub min_size: usize,
    pub max_size: usize,
}

impl Default for MatchFilter {
    fn default() -> Self {
        MatchFilter { limit: 10, authoritative: None, label: None, query: None, min_size: 0, max_size: usize::MAX }
    }
}

/// The matches that pass `filter`: best query scores first, then by id.
pub fn list(kaos: &KaosNet, filter: &MatchFilter) -> Result<Vec<MatchInfo>, ApiError> {
    check_limit(filter.limit, MAX_LIMIT)?;
    let query = match filter.query.as_deref().filter(|q| !q.is_empty()) {
        Some(q) => Some(Query::parse(q).map_err(|e| ApiError::invalid(e.to_string()))?),
        None => None,
    };
    let sized = |size: usize| size >= filter.min_size && size <= filter.max_size;
    let mut found: Vec<(f64, MatchInfo)> = Vec::new();
    if filter.authoritative != Some(false) {
        for m in kaos.matches.list() {
            if !sized(m.size) || filter.label.as_ref().is_some_and(|l| *l != m.label) {
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
    // Relayed matches have no label to filter on.
    if filter.authoritative != Some(true) && filter.label.is_none() && query.is_none() {
        for (stream, size) in kaos.tracker().streams(StreamMode::MatchRelayed) {
            if sized(size) {
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
    Ok(found.into_iter().take(filter.limit).map(|(_, m)| m).collect())
}
