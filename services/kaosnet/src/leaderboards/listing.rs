//! Reading a board as a client does (`GET /v2/leaderboard/{id}`, `…/owner/{owner_id}`),
//! with the rules every caller (REST, Lua, the console) goes through: how many owners and
//! records one call may ask for, the default page, and reading a past period by its
//! expiry time.

use std::collections::HashSet;

use super::{Leaderboards, Record};
use crate::error::ApiError;

/// Most owners one listing may name.
pub const MAX_OWNERS: usize = 100;
/// Most records one page may hold.
pub const MAX_LIMIT: usize = 10_000;
/// The page a listing gets when it names no limit (and no owners).
pub const DEFAULT_LIMIT: usize = 10;

/// What a client asks of a board's records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordsRequest {
    /// Owners whose own records come back too (`owner_records`).
    pub owner_ids: Vec<String>,
    /// Records per page; None: 10 (`DEFAULT_LIMIT`), or only the owners' records when
    /// owners are named.
    pub limit: Option<usize>,
    pub cursor: Option<String>,
    /// A period other than the current one, by its expiry time (Unix seconds); None or
    /// 0 is the current one.
    pub expiry: Option<i64>,
}

/// A page of a board's records and the named owners' own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordList {
    pub records: Vec<Record>,
    pub owner_records: Vec<Record>,
    /// Records in the period.
    pub rank_count: u64,
    pub next_cursor: Option<String>,
    pub prev_cursor: Option<String>,
}

pub(super) fn check_limit(limit: Option<usize>) -> Result<(), ApiError> {
    limit.map_or(Ok(()), |n| crate::error::check_limit(n, MAX_LIMIT))
}

impl Leaderboards {
    /// `expiry` if it names a period other than the current one.
    fn past(&self, id: &str, expiry: Option<i64>) -> Result<Option<i64>, ApiError> {
        match expiry.filter(|e| *e != 0) {
            None => Ok(None),
            Some(e) => Ok(Some(e).filter(|e| *e != self.current_expiry(id).unwrap_or(0))),
        }
    }

    /// A page of `id`'s records as a client asks for it.
    pub fn list_records(&self, id: &str, request: RecordsRequest) -> Result<RecordList, ApiError> {
        let RecordsRequest { owner_ids, limit, cursor, expiry } = request;
        if owner_ids.len() > MAX_OWNERS {
            return Err(ApiError::invalid(format!("At most {MAX_OWNERS} owner IDs may be given.")));
        }
        check_limit(limit)?;
        let limit = limit.or((owner_ids.is_empty()).then_some(DEFAULT_LIMIT));
        let cursor = cursor.filter(|c| !c.is_empty());
        if let Some(expiry) = self.past(id, expiry)? {
            // A past period is read whole once: the page, the owners' records, the count.
            let offset = match cursor {
                Some(c) => c
                    .strip_prefix('o')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| ApiError::invalid("Invalid cursor."))?,
                None => 0,
            };
            let n = limit.unwrap_or(DEFAULT_LIMIT);
            let all = self.get_period(id, expiry, usize::MAX, 0)?;
            let owners: HashSet<&String> = owner_ids.iter().collect();
            return Ok(RecordList {
                owner_records: all.iter().filter(|r| owners.contains(&r.owner_id)).cloned().collect(),
                records: all.iter().skip(offset).take(n).cloned().collect(),
                rank_count: all.len() as u64,
                next_cursor: (all.len() > offset.saturating_add(n)).then(|| format!("o{}", offset + n)),
                prev_cursor: (offset > 0).then(|| format!("o{}", offset.saturating_sub(n))),
            });
        }
        let owner_records = self.get_records(id, &owner_ids)?;
        let page = match limit {
            Some(n) => self.get_page(id, n, cursor.as_deref())?,
            None => super::RecordPage { rank_count: self.rank_count(id)? as u64, ..Default::default() },
        };
        Ok(RecordList {
            records: page.records,
            owner_records,
            rank_count: page.rank_count,
            next_cursor: page.next_cursor,
            prev_cursor: page.prev_cursor,
        })
    }

    /// `limit` records around `owner_id`'s (in the current period, or the past one that
    /// `expiry` names), and the period's record count.
    pub fn list_records_around(
        &self,
        id: &str,
        owner_id: &str,
        limit: Option<usize>,
        expiry: Option<i64>,
    ) -> Result<(Vec<Record>, u64), ApiError> {
        check_limit(limit)?;
        let n = limit.unwrap_or(DEFAULT_LIMIT);
        let records = match self.past(id, expiry)? {
            Some(expiry) => {
                let all = self.get_period(id, expiry, usize::MAX, 0)?;
                match all.iter().position(|r| r.owner_id == owner_id) {
                    Some(at) => {
                        let from = at.saturating_sub(n.saturating_sub(1) / 2).min(all.len().saturating_sub(n));
                        all[from..(from + n).min(all.len())].to_vec()
                    }
                    None => Vec::new(),
                }
            }
            None => self.get_around(id, owner_id, n)?,
        };
        Ok((records, self.rank_count(id)? as u64))
    }
}
