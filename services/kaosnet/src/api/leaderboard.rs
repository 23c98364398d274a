//! Leaderboard and tournament routes:
//! - `GET /v2/leaderboard/{id}?owner_ids&limit&cursor&expiry`, `POST /v2/leaderboard/{id}`
//!   (write the caller's record), `DELETE /v2/leaderboard/{id}` (delete it),
//!   `GET /v2/leaderboard/{id}/owner/{owner_id}?limit&expiry` (records around an owner);
//! - `GET /v2/tournament?category_start&category_end&start_time&end_time&limit&cursor`,
//!   the same four record routes under `/v2/tournament/{id}` (writes by POST or PUT), and
//!   `POST /v2/tournament/{id}/join`.

use std::sync::Arc;

use kaos_http::{Method, Request, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{body, route, session, Answer};
use crate::error::ApiError;
use crate::leaderboards::tournaments::{Tournament, TournamentFilter};
use crate::leaderboards::{Operator, Record, RecordsRequest, Submission};
use crate::time::rfc3339;
use crate::KaosNet;

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>) {
    route(r, kaos, Method::Get, "/v2/leaderboard/{id}", "list_leaderboard_records", list);
    route(r, kaos, Method::Post, "/v2/leaderboard/{id}", "write_leaderboard_record", write_leaderboard);
    route(r, kaos, Method::Delete, "/v2/leaderboard/{id}", "delete_leaderboard_record", delete_leaderboard);
    route(
        r,
        kaos,
        Method::Get,
        "/v2/leaderboard/{id}/owner/{owner_id}",
        "list_leaderboard_records_around_owner",
        around,
    );
    route(r, kaos, Method::Get, "/v2/tournament", "list_tournaments", list_tournaments);
    route(r, kaos, Method::Get, "/v2/tournament/{id}", "list_tournament_records", list);
    route(r, kaos, Method::Post, "/v2/tournament/{id}", "write_tournament_record", write_tournament);
    route(r, kaos, Method::Put, "/v2/tournament/{id}", "write_tournament_record", write_tournament);
    route(r, kaos, Method::Delete, "/v2/tournament/{id}", "delete_tournament_record", delete_leaderboard);
    route(r, kaos, Method::Post, "/v2/tournament/{id}/join", "join_tournament", join);
    route(r, kaos, Method::Get, "/v2/tournament/{id}/owner/{owner_id}", "list_tournament_records_around_owner", around);
}

/// The API's `ApiLeaderboardRecord`.
pub(crate) fn record_json(r: &Record) -> Value {
    let mut v = json!({
        "leaderboard_id": r.leaderboard_id,
        "owner_id": r.owner_id,
        "score": r.score.to_string(),
        "subscore": r.subscore.to_string(),
        "num_score": r.num_score,
        "max_num_score": r.max_num_score,
        "metadata": r.metadata,
        "create_time": rfc3339(r.create_time),
        "update_time": rfc3339(r.update_time),
        "rank": r.rank.to_string(),
    });
    if !r.username.is_empty() {
        v["username"] = json!(r.username);
    }
    if r.expiry_time > 0 {
        v["expiry_time"] = json!(rfc3339(r.expiry_time));
    }
    v
}

/// The API's `Tournament`.
fn tournament_json(t: &Tournament) -> Value {
    let mut v = json!({
        "id": t.id,
        "title": t.title,
        "description": t.description,
        "category": t.category,
        "sort_order": t.sort_order,
        "operator": t.operator,
        "size": t.size,
        "max_size": t.max_size,
        "max_num_score": t.max_num_score,
        "can_enter": t.can_enter,
        "duration": t.duration,
        "start_active": t.start_active,
        "end_active": t.end_active,
        "metadata": t.metadata,
        "create_time": rfc3339(t.create_time),
        "start_time": rfc3339(t.start_time),
        "authoritative": t.authoritative,
    });
    if let Some(end) = t.end_time {
        v["end_time"] = json!(rfc3339(end));
    }
    if let Some(next) = t.next_reset {
        v["next_reset"] = json!(next);
    }
    if let Some(prev) = t.prev_reset {
        v["prev_reset"] = json!(prev);
    }
    v
}

/// An int64 as JSON carries it: a string, or a number from clients that send one.
fn int64(v: &Value, name: &str) -> Result<i64, ApiError> {
    match v {
        Value::Null => Ok(0),
        Value::String(s) if s.is_empty() => Ok(0),
        Value::String(s) => {
            s.parse().map_err(|_| ApiError::invalid(format!("Invalid {name}: out of range or not an integer.")))
        }
        Value::Number(n) => {
            n.as_i64().ok_or_else(|| ApiError::invalid(format!("Invalid {name}: out of range or not an integer.")))
        }
        _ => Err(ApiError::invalid(format!("Invalid {name}."))),
    }
}

#[derive(Deserialize)]
struct WriteBody {
    #[serde(default)]
    score: Value,
    #[serde(default)]
    subscore: Value,
    metadata: Option<String>,
    #[serde(default)]
    operator: Value,
}

fn submission(req: &Request) -> Result<Submission, ApiError> {
    let b: WriteBody = body(req)?;
    let operator = match &b.operator {
        Value::Null => None,
        Value::String(s) => match s.as_str() {
            "NO_OVERRIDE" | "" => None,
            "BEST" => Some(Operator::Best),
            "SET" => Some(Operator::Set),
            "INCREMENT" => Some(Operator::Increment),
            "DECREMENT" => Some(Operator::Decrement),
            other => Operator::from_code(
                other.parse().map_err(|_| ApiError::invalid(format!("Invalid operator {other}.")))?,
            )?,
        },
        other => Operator::from_code(int64(other, "operator")?)?,
    };
    Ok(Submission {
        score: int64(&b.score, "score")?,
        subscore: int64(&b.subscore, "subscore")?,
        metadata: b.metadata.filter(|m| !m.is_empty()),
        operator,
    })
}

fn write_leaderboard(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let id = req.param("id").unwrap_or_default();
    let s = submission(req)?;
    Ok(record_json(&kaos.leaderboards.submit_as_client(id, &me.uid, &me.usn, s)?))
}

fn write_tournament(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let id = req.param("id").unwrap_or_default();
    let s = submission(req)?;
    Ok(record_json(&kaos.leaderboards.submit_tournament_as_client(id, &me.uid, &me.usn, s)?))
}

fn delete_leaderboard(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    kaos.leaderboards.delete_record_as_client(req.param("id").unwrap_or_default(), &me.uid)?;
    Ok(json!({}))
}

fn join(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    kaos.leaderboards.join_tournament(req.param("id").unwrap_or_default(), &me.uid, &me.usn)?;
    Ok(json!({}))
}

/// `?limit=`: a number, or none; its range is the operation's to check.
fn limit(req: &Request) -> Option<usize> {
    // Out of range, or no number: the operation refuses it.
    req.query("limit").filter(|l| !l.is_empty()).map(|l| l.parse().unwrap_or(0))
}

/// `?expiry=`: a period's expiry time, or none.
fn expiry(req: &Request) -> Result<Option<i64>, ApiError> {
    req.query("expiry")
        .filter(|e| !e.is_empty())
        .map(|e| e.parse().map_err(|_| ApiError::invalid("Invalid expiry.")))
        .transpose()
}

fn list(kaos: &KaosNet, req: &Request) -> Answer {
    session(kaos, req)?;
    let request = RecordsRequest {
        owner_ids: req.query_pairs().into_iter().filter(|(k, _)| k == "owner_ids").map(|(_, v)| v).collect(),
        limit: limit(req),
        cursor: req.query("cursor"),
        expiry: expiry(req)?,
    };
    let list = kaos.leaderboards.list_records(req.param("id").unwrap_or_default(), request)?;
    let mut out = json!({
        "records": list.records.iter().map(record_json).collect::<Vec<_>>(),
        "owner_records": list.owner_records.iter().map(record_json).collect::<Vec<_>>(),
        "rank_count": list.rank_count.to_string(),
    });
    if let Some(c) = list.next_cursor {
        out["next_cursor"] = json!(c);
    }
    if let Some(c) = list.prev_cursor {
        out["prev_cursor"] = json!(c);
    }
    Ok(out)
}

fn around(kaos: &KaosNet, req: &Request) -> Answer {
    session(kaos, req)?;
    let (id, owner) = (req.param("id").unwrap_or_default(), req.param("owner_id").unwrap_or_default());
    let (records, rank_count) = kaos.leaderboards.list_records_around(id, owner, limit(req), expiry(req)?)?;
    Ok(json!({
        "records": records.iter().map(record_json).collect::<Vec<_>>(),
        "rank_count": rank_count.to_string(),
    }))
}

fn list_tournaments(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let number = |name: &str| -> Result<Option<i64>, ApiError> {
        req.query(name)
            .filter(|v| !v.is_empty())
            .map(|v| v.parse::<i64>().map_err(|_| ApiError::invalid(format!("Invalid {name}."))))
            .transpose()
    };
    let category = |name: &str, default: u32| -> Result<u32, ApiError> {
        number(name)?
            .map_or(Ok(default), |c| u32::try_from(c).map_err(|_| ApiError::invalid(format!("Invalid {name}."))))
    };
    let filter = TournamentFilter {
        category_start: category("category_start", 0)?,
        category_end: category("category_end", u32::MAX)?,
        start_time: number("start_time")?,
        end_time: number("end_time")?,
        limit: limit(req).unwrap_or(100),
        cursor: req.query("cursor").filter(|c| !c.is_empty()),
    };
    let (tournaments, cursor) = kaos.leaderboards.list_tournaments(&filter, Some(&me.uid))?;
    let mut out = json!({ "tournaments": tournaments.iter().map(tournament_json).collect::<Vec<_>>() });
    if let Some(c) = cursor {
        out["cursor"] = json!(c);
    }
    Ok(out)
}
