//! Authentication, sessions, the account and users.

use std::collections::BTreeMap;
use std::sync::Arc;

use kaos_http::{Method, Request, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{body, query_bool, route, server_key, session, Answer};
use crate::accounts::{AccountUpdate, Credential};
use crate::error::ApiError;
use crate::store::User;
use crate::time::rfc3339;
use crate::KaosNet;

pub(super) fn routes(r: &mut Router, kaos: &Arc<KaosNet>) {
    route(r, kaos, Method::Post, "/v2/account/authenticate/device", "authenticate_device", authenticate_device);
    route(r, kaos, Method::Post, "/v2/account/authenticate/email", "authenticate_email", authenticate_email);
    route(r, kaos, Method::Post, "/v2/account/authenticate/custom", "authenticate_custom", authenticate_custom);
    route(r, kaos, Method::Post, "/v2/account/session/refresh", "session_refresh", refresh);
    route(r, kaos, Method::Post, "/v2/session/logout", "session_logout", logout);
    route(r, kaos, Method::Get, "/v2/account", "get_account", get_account);
    route(r, kaos, Method::Put, "/v2/account", "update_account", update_account);
    route(r, kaos, Method::Delete, "/v2/account", "delete_account", delete_account);
    route(r, kaos, Method::Get, "/v2/user", "get_users", get_users);
    route(r, kaos, Method::Post, "/v2/account/link/device", "link_device", link_device);
    route(r, kaos, Method::Post, "/v2/account/link/email", "link_email", link_email);
    route(r, kaos, Method::Post, "/v2/account/link/custom", "link_custom", link_custom);
    route(r, kaos, Method::Post, "/v2/account/unlink/device", "unlink_device", unlink_device);
    route(r, kaos, Method::Post, "/v2/account/unlink/email", "unlink_email", unlink_email);
    route(r, kaos, Method::Post, "/v2/account/unlink/custom", "unlink_custom", unlink_custom);
}

#[derive(Deserialize)]
struct IdBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    vars: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct EmailBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    vars: BTreeMap<String, String>,
}

fn authenticate(kaos: &KaosNet, req: &Request, credential: Credential, vars: &BTreeMap<String, String>) -> Answer {
    let create = query_bool(req, "create", true)?;
    let username = req.query("username").filter(|u| !u.is_empty());
    let done = kaos.accounts.authenticate(credential, create, username.as_deref(), vars)?;
    Ok(json!({"created": done.created, "token": done.tokens.token, "refresh_token": done.tokens.refresh_token}))
}

fn authenticate_device(kaos: &KaosNet, req: &Request) -> Answer {
    server_key(kaos, req)?;
    let b: IdBody = body(req)?;
    authenticate(kaos, req, Credential::Device(b.id), &b.vars)
}

fn authenticate_custom(kaos: &KaosNet, req: &Request) -> Answer {
    server_key(kaos, req)?;
    let b: IdBody = body(req)?;
    authenticate(kaos, req, Credential::Custom(b.id), &b.vars)
}

fn authenticate_email(kaos: &KaosNet, req: &Request) -> Answer {
    server_key(kaos, req)?;
    let b: EmailBody = body(req)?;
    authenticate(kaos, req, Credential::Email { email: b.email, password: b.password }, &b.vars)
}

#[derive(Deserialize)]
struct RefreshBody {
    #[serde(default)]
    token: String,
    vars: Option<BTreeMap<String, String>>,
}

fn refresh(kaos: &KaosNet, req: &Request) -> Answer {
    server_key(kaos, req)?;
    let b: RefreshBody = body(req)?;
    if b.token.is_empty() {
        return Err(ApiError::invalid("Refresh token is required."));
    }
    let tokens = kaos.accounts.refresh(&b.token, b.vars.as_ref())?;
    Ok(json!({"created": false, "token": tokens.token, "refresh_token": tokens.refresh_token}))
}

#[derive(Deserialize)]
struct LogoutBody {
    #[serde(default)]
    token: String,
    #[serde(default)]
    refresh_token: String,
}

fn logout(kaos: &KaosNet, req: &Request) -> Answer {
    session(kaos, req)?;
    let b: LogoutBody = body(req)?;
    let refresh = Some(b.refresh_token.as_str()).filter(|r| !r.is_empty());
    kaos.accounts.logout(&b.token, refresh)?;
    Ok(json!({}))
}

/// A user as the API shows it (Nakama's `ApiUser`); empty fields are left out, and
/// `online` is there when the user has a realtime session.
pub(super) fn user_json(kaos: &KaosNet, u: &User) -> Value {
    let mut v = json!({
        "id": u.id,
        "username": u.username,
        "metadata": u.metadata,
        "create_time": rfc3339(u.create_time),
        "update_time": rfc3339(u.update_time),
    });
    for (name, value) in [
        ("display_name", &u.display_name),
        ("avatar_url", &u.avatar_url),
        ("lang_tag", &u.lang_tag),
        ("location", &u.location),
        ("timezone", &u.timezone),
    ] {
        if !value.is_empty() {
            v[name] = json!(value);
        }
    }
    if !kaos.sessions().sessions_of(&u.id).is_empty() {
        v["online"] = json!(true);
    }
    v
}

fn me(kaos: &KaosNet, req: &Request) -> Result<User, ApiError> {
    let claims = session(kaos, req)?;
    kaos.accounts.account(&claims.uid)
}

fn get_account(kaos: &KaosNet, req: &Request) -> Answer {
    let u = me(kaos, req)?;
    let mut v = json!({
        "user": user_json(kaos, &u),
        "wallet": if u.wallet.is_empty() { "{}" } else { u.wallet.as_str() },
        "devices": u.devices.iter().map(|d| json!({"id": d})).collect::<Vec<_>>(),
    });
    if let Some(e) = &u.email {
        v["email"] = json!(e);
    }
    if let Some(c) = &u.custom_id {
        v["custom_id"] = json!(c);
    }
    Ok(v)
}

fn update_account(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    let update: AccountUpdate = body(req)?;
    kaos.accounts.update_account(&me.uid, update).map(|()| json!({}))
}

fn delete_account(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    kaos.delete_player(&me.uid).map(|()| json!({}))
}

fn get_users(kaos: &KaosNet, req: &Request) -> Answer {
    session(kaos, req)?;
    let mut ids = Vec::new();
    let mut usernames = Vec::new();
    for (k, v) in req.query_pairs() {
        match k.as_str() {
            "ids" => ids.push(v),
            "usernames" => usernames.push(v),
            // Unknown query parameters are ignored, as Nakama's gateway does.
            _ => {}
        }
    }
    let users = kaos.accounts.users(&ids, &usernames)?;
    Ok(json!({"users": users.iter().map(|u| user_json(kaos, u)).collect::<Vec<_>>()}))
}

fn id_credential(req: &Request, device: bool) -> Result<Credential, ApiError> {
    let b: IdBody = body(req)?;
    Ok(if device { Credential::Device(b.id) } else { Credential::Custom(b.id) })
}

fn email_credential(req: &Request) -> Result<Credential, ApiError> {
    let b: EmailBody = body(req)?;
    Ok(Credential::Email { email: b.email, password: b.password })
}

fn link_device(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    kaos.accounts.link(&me.uid, id_credential(req, true)?).map(|()| json!({}))
}

fn link_custom(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    kaos.accounts.link(&me.uid, id_credential(req, false)?).map(|()| json!({}))
}

fn link_email(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    kaos.accounts.link(&me.uid, email_credential(req)?).map(|()| json!({}))
}

fn unlink_device(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    kaos.accounts.unlink(&me.uid, id_credential(req, true)?).map(|()| json!({}))
}

fn unlink_custom(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    kaos.accounts.unlink(&me.uid, id_credential(req, false)?).map(|()| json!({}))
}

fn unlink_email(kaos: &KaosNet, req: &Request) -> Answer {
    let me = session(kaos, req)?;
    kaos.accounts.unlink(&me.uid, email_credential(req)?).map(|()| json!({}))
}
