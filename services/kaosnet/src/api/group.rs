//! Groups: `GET|POST /v2/group`, `PUT|DELETE /v2/group/{group_id}`,
//! `POST /v2/group/{group_id}/{add,ban,join,kick,leave,promote,demote}` (users in
//! `user_ids`), `GET /v2/group/{group_id}/user` and `GET /v2/user/{user_id}/group`.

use std::sync::Arc;

use kaos_http::{Method, Request, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::account::user_json;
use super::friend::paging;
use super::{body, query_bool, route, session, Answer};
use crate::error::ApiError;
use crate::groups::{group_json, GroupSpec, Groups};
use crate::store::{GroupFilter, GroupUpdate};
use crate::KaosNet;

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>) {
    route(r, kaos, Method::Get, "/v2/group", "list_groups", list);
    route(r, kaos, Method::Post, "/v2/group", "create_group", create);
    route(r, kaos, Method::Put, "/v2/group/{group_id}", "update_group", update);
    route(r, kaos, Method::Delete, "/v2/group/{group_id}", "delete_group", delete);
    route(r, kaos, Method::Post, "/v2/group/{group_id}/join", "join_group", join);
    route(r, kaos, Method::Post, "/v2/group/{group_id}/leave", "leave_group", leave);
    route(r, kaos, Method::Post, "/v2/group/{group_id}/add", "add_group_users", add);
    route(r, kaos, Method::Post, "/v2/group/{group_id}/kick", "kick_group_users", kick);
    route(r, kaos, Method::Post, "/v2/group/{group_id}/ban", "ban_group_users", ban);
    route(r, kaos, Method::Post, "/v2/group/{group_id}/promote", "promote_group_users", promote);
    route(r, kaos, Method::Post, "/v2/group/{group_id}/demote", "demote_group_users", demote);
    route(r, kaos, Method::Get, "/v2/group/{group_id}/user", "list_group_users", group_users);
    route(r, kaos, Method::Get, "/v2/user/{user_id}/group", "list_user_groups", user_groups);
}

fn group_id(req: &Request) -> &str {
    req.param("group_id").unwrap_or_default()
}

#[derive(Deserialize)]
struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    lang_tag: String,
    #[serde(default)]
    avatar_url: String,
    #[serde(default)]
    open: bool,
    #[serde(default)]
    max_count: i64,
}

fn create(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let b: CreateBody = body(req)?;
    let spec = GroupSpec {
        name: b.name,
        description: b.description,
        avatar_url: b.avatar_url,
        lang_tag: b.lang_tag,
        open: b.open,
        // Nakama: 0 (unset) means the default.
        max_count: if b.max_count == 0 { crate::groups::DEFAULT_MAX_COUNT } else { b.max_count },
        ..GroupSpec::default()
    };
    Ok(group_json(&kaos.groups.create(&me.uid, spec)?))
}

#[derive(Deserialize)]
struct UpdateBody {
    #[serde(default)]
    group_id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    lang_tag: Option<String>,
    avatar_url: Option<String>,
    open: Option<bool>,
}

fn update(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let b: UpdateBody = body(req)?;
    let id = group_id(req);
    if b.group_id.as_deref().is_some_and(|g| !g.is_empty() && g != id) {
        return Err(ApiError::invalid("The group ID in the body differs from the path."));
    }
    let u = GroupUpdate {
        name: b.name,
        description: b.description,
        avatar_url: b.avatar_url,
        lang_tag: b.lang_tag,
        open: b.open,
        ..GroupUpdate::default()
    };
    kaos.groups.update(Some(&me.uid), id, u).map(|_| json!({}))
}

fn delete(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    kaos.groups.delete(Some(&me.uid), group_id(req)).map(|()| json!({}))
}

fn join(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    kaos.groups.join(&me.uid, group_id(req)).map(|()| json!({}))
}

fn leave(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    kaos.groups.leave(&me.uid, group_id(req)).map(|()| json!({}))
}

/// The `user_ids` of a query.
fn user_ids(req: &Request) -> Result<Vec<String>, ApiError> {
    let mut ids = Vec::new();
    for (k, v) in req.query_pairs() {
        // Other parameters are ignored, as Nakama's gateway does.
        if k == "user_ids" {
            ids.push(v);
        }
    }
    Ok(ids)
}

type UsersOp = fn(&Groups, Option<&str>, &str, &[String]) -> Result<(), ApiError>;

fn users_op(kaos: &KaosNet, req: &Request, op: UsersOp) -> Answer {
    let me = session(kaos, req)?;
    let ids = user_ids(req)?;
    op(&kaos.groups, Some(&me.uid), group_id(req), &ids).map(|()| json!({}))
}

fn add(kaos: &KaosNet, req: &Request) -> Answer {
    users_op(kaos, req, Groups::add)
}

fn kick(kaos: &KaosNet, req: &Request) -> Answer {
    users_op(kaos, req, Groups::kick)
}

fn ban(kaos: &KaosNet, req: &Request) -> Answer {
    users_op(kaos, req, Groups::ban)
}

fn promote(kaos: &KaosNet, req: &Request) -> Answer {
    users_op(kaos, req, Groups::promote)
}

fn demote(kaos: &KaosNet, req: &Request) -> Answer {
    users_op(kaos, req, Groups::demote)
}

fn list(kaos: &KaosNet, req: &Request) -> Answer {
    session(kaos, req)?;
    // Nakama lists one group unless told otherwise.
    let p = paging(req, 1)?;
    let members = match req.query("members").filter(|m| !m.is_empty()) {
        Some(m) => Some(m.parse::<i64>().map_err(|_| ApiError::invalid(format!("Invalid members: {m}")))?),
        None => None,
    };
    let open = match req.query("open").filter(|o| !o.is_empty()) {
        Some(_) => Some(query_bool(req, "open", false)?),
        None => None,
    };
    let filter = GroupFilter {
        name: req.query("name").filter(|n| !n.is_empty()),
        lang_tag: req.query("lang_tag").filter(|l| !l.is_empty()),
        members,
        open,
    };
    let page = kaos.groups.list(&filter, p.limit, p.cursor.as_deref())?;
    let mut out = json!({ "groups": page.items.iter().map(group_json).collect::<Vec<_>>() });
    if let Some(c) = page.cursor {
        out["cursor"] = json!(c);
    }
    Ok(out)
}

fn group_users(kaos: &KaosNet, req: &Request) -> Answer {
    session(kaos, req)?;
    let p = paging(req, 100)?;
    let page = kaos.groups.users(group_id(req), p.state, p.limit, p.cursor.as_deref())?;
    let list: Vec<Value> =
        page.items.iter().map(|(u, m)| json!({"user": user_json(kaos, u), "state": m.state})).collect();
    let mut out = json!({ "group_users": list });
    if let Some(c) = page.cursor {
        out["cursor"] = json!(c);
    }
    Ok(out)
}

fn user_groups(kaos: &KaosNet, req: &Request) -> Answer {
    session(kaos, req)?;
    let p = paging(req, 100)?;
    let user = req.param("user_id").unwrap_or_default();
    let page = kaos.groups.user_groups(user, p.state, p.limit, p.cursor.as_deref())?;
    let list: Vec<Value> = page.items.iter().map(|(g, m)| json!({"group": group_json(g), "state": m.state})).collect();
    let mut out = json!({ "user_groups": list });
    if let Some(c) = page.cursor {
        out["cursor"] = json!(c);
    }
    Ok(out)
}
