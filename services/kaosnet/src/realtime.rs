//! The realtime socket: `/ws?token=<session>&format=json&status=true|false` on the client
//! API port, Nakama's envelope (`{"cid": "…", "<kind>": {…}}`), one thread of its own.
//!
//! kaos-http hands the upgrade over ([`RealtimeHandle::submit`]); the socket thread checks
//! the session token (401 if it is invalid, expired or revoked) before accepting, then
//! keeps a registry of sessions by connection and by user. Replies echo the request's
//! `cid`; errors are `error` envelopes with Nakama's socket codes.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use kaos_http::Upgrade;
use kaos_ws::{Adopter, ConnId, WsConfig, WsEvent, WsServer};
use serde_json::{json, Map, Value};

use crate::rpc::RpcContext;
use crate::KaosNet;

/// Socket error codes (Nakama's `Error.Code` in the realtime API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketError {
    RuntimeException = 0,
    UnrecognizedPayload = 1,
    MissingPayload = 2,
    BadInput = 3,
    MatchNotFound = 4,
    MatchJoinRejected = 5,
    RuntimeFunctionNotFound = 6,
    RuntimeFunctionException = 7,
}

/// Realtime settings.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// One socket per user: a new connection closes the user's older ones.
    pub single_socket: bool,
    /// WebSocket limits (message size, queues, pings).
    pub ws: WsConfig,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig { single_socket: false, ws: WsConfig { max_message_size: 4 << 20, ..WsConfig::default() } }
    }
}

/// One connected session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSession {
    pub user_id: String,
    pub username: String,
    pub vars: BTreeMap<String, String>,
    /// Whether the socket asked to appear online to followers (`status=true`).
    pub status: bool,
}

/// Hands upgrades to the socket thread and stops it.
#[derive(Debug, Clone)]
pub struct RealtimeHandle {
    pending: Arc<Mutex<Vec<Upgrade>>>,
    adopter: Adopter,
    stop: Arc<AtomicBool>,
}

impl RealtimeHandle {
    /// Queues an upgrade (call from kaos-http's upgrade sink).
    pub fn submit(&self, upgrade: Upgrade) {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).push(upgrade);
        self.adopter.wake();
    }

    /// Closes every socket with 1001 and ends the thread.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        self.adopter.wake();
    }
}

/// Starts the socket thread.
pub fn spawn(kaos: Arc<KaosNet>, cfg: RealtimeConfig) -> std::io::Result<(RealtimeHandle, JoinHandle<()>)> {
    let ws = WsServer::new(cfg.ws.clone())?;
    let handle =
        RealtimeHandle { pending: Arc::default(), adopter: ws.adopter(), stop: Arc::new(AtomicBool::new(false)) };
    let mut socket = Socket { kaos, cfg, ws, sessions: HashMap::new(), by_user: HashMap::new() };
    let h = handle.clone();
    let thread = std::thread::Builder::new().name("kaos-realtime".into()).spawn(move || socket.run(&h))?;
    Ok((handle, thread))
}

struct Socket {
    kaos: Arc<KaosNet>,
    cfg: RealtimeConfig,
    ws: WsServer,
    sessions: HashMap<ConnId, SocketSession>,
    by_user: HashMap<String, Vec<ConnId>>,
}

impl Socket {
    fn run(&mut self, handle: &RealtimeHandle) {
        let mut inbox = Vec::new();
        while !handle.stop.load(Ordering::Acquire) {
            if self.ws.poll(Some(Duration::from_millis(250))).is_err() {
                break;
            }
            let upgrades = std::mem::take(&mut *handle.pending.lock().unwrap_or_else(PoisonError::into_inner));
            for upgrade in upgrades {
                self.admit(upgrade);
            }
            while self.ws.accept().is_some() {}
            self.ws.receive_all(|conn, _, data| inbox.push((conn, data.to_vec())));
            for (conn, data) in inbox.drain(..) {
                self.handle(conn, &data);
            }
            while let Some(WsEvent::Closed { conn, .. }) = self.ws.poll_event() {
                self.forget(conn);
            }
        }
        let _ = self.ws.shutdown(Duration::from_secs(2));
    }

    /// Checks the token and options of an upgrade, then accepts or refuses it.
    fn admit(&mut self, upgrade: Upgrade) {
        let request = &upgrade.request;
        if request.query("format").is_some_and(|f| f != "json") {
            return self.ws.refuse(upgrade, 400, "only format=json is supported");
        }
        let status = request.query("status").is_some_and(|s| s == "true");
        let Some(token) = request.query("token").filter(|t| !t.is_empty()) else {
            return self.ws.refuse(upgrade, 401, "Missing or invalid token");
        };
        let claims = match self.kaos.accounts.verify(&token) {
            Ok(c) => c,
            Err(_) => return self.ws.refuse(upgrade, 401, "Missing or invalid token"),
        };
        let Some(conn) = self.ws.adopt(upgrade) else { return };
        if self.cfg.single_socket {
            for old in self.by_user.get(&claims.uid).cloned().unwrap_or_default() {
                self.ws.close(old, 4000, "replaced by a newer connection");
            }
        }
        self.by_user.entry(claims.uid.clone()).or_default().push(conn);
        self.sessions
            .insert(conn, SocketSession { user_id: claims.uid, username: claims.usn, vars: claims.vrs, status });
    }

    fn forget(&mut self, conn: ConnId) {
        if let Some(s) = self.sessions.remove(&conn) {
            if let Some(list) = self.by_user.get_mut(&s.user_id) {
                list.retain(|c| *c != conn);
                if list.is_empty() {
                    self.by_user.remove(&s.user_id);
                }
            }
        }
    }

    fn handle(&mut self, conn: ConnId, data: &[u8]) {
        let Some(session) = self.sessions.get(&conn) else { return };
        for reply in envelope(&self.kaos, session, data) {
            // A full queue closes the socket as a slow consumer; nothing else to do.
            let _ = self.ws.send_text(conn, &reply.to_string());
        }
    }
}

fn error(cid: Option<&Value>, code: SocketError, message: &str) -> Value {
    let mut v = json!({"error": {"code": code as i32, "message": message}});
    if let Some(cid) = cid {
        v["cid"] = cid.clone();
    }
    v
}

/// The replies to one envelope from `session`.
pub fn envelope(kaos: &KaosNet, session: &SocketSession, data: &[u8]) -> Vec<Value> {
    let Ok(Value::Object(mut msg)) = serde_json::from_slice::<Value>(data) else {
        return vec![error(None, SocketError::UnrecognizedPayload, "Could not parse message")];
    };
    let cid = msg.remove("cid");
    let cid = cid.as_ref().filter(|c| !c.is_null());
    if msg.len() != 1 {
        let why = if msg.is_empty() { "Missing message payload" } else { "Only one message payload allowed" };
        let code = if msg.is_empty() { SocketError::MissingPayload } else { SocketError::UnrecognizedPayload };
        return vec![error(cid, code, why)];
    }
    let Some((kind, payload)) = msg.into_iter().next() else { return Vec::new() };
    if kaos.limits.check(&session.user_id, &kind).is_err() {
        return vec![error(cid, SocketError::BadInput, "Too many requests, slow down.")];
    }
    let ctx = crate::hooks::HookContext {
        operation: kind.clone(),
        user_id: Some(session.user_id.clone()),
        username: Some(session.username.clone()),
    };
    let payload = match kaos.hooks.run_before(&ctx, payload) {
        Ok(p) => p,
        Err(e) => return vec![error(cid, SocketError::BadInput, &e.message)],
    };
    let replies = dispatch(kaos, session, &kind, &payload, cid);
    if kaos.hooks.has_after(&kind) {
        for r in &replies {
            kaos.hooks.run_after(&ctx, &payload, r);
        }
    }
    replies
}

/// The replies to one message of `kind`.
fn dispatch(kaos: &KaosNet, session: &SocketSession, kind: &str, payload: &Value, cid: Option<&Value>) -> Vec<Value> {
    let reply = |kind: &str, body: Value| {
        let mut v = Map::new();
        if let Some(cid) = cid {
            v.insert("cid".into(), cid.clone());
        }
        v.insert(kind.into(), body);
        Value::Object(v)
    };
    match kind {
        "ping" => vec![reply("pong", json!({}))],
        "rpc" => {
            let id = payload.get("id").and_then(Value::as_str).unwrap_or_default();
            if id.is_empty() {
                return vec![error(cid, SocketError::BadInput, "RPC ID must be set")];
            }
            let input = payload.get("payload").and_then(Value::as_str).unwrap_or_default();
            let ctx = RpcContext {
                user_id: Some(session.user_id.clone()),
                username: Some(session.username.clone()),
                vars: session.vars.clone(),
            };
            match kaos.rpcs.call(id, &ctx, input) {
                Ok(out) => vec![reply("rpc", json!({"id": id, "payload": out}))],
                Err(e) if e.code == crate::Code::NotFound => {
                    vec![error(cid, SocketError::RuntimeFunctionNotFound, "RPC function not found")]
                }
                Err(e) => vec![error(cid, SocketError::RuntimeFunctionException, &e.message)],
            }
        }
        _ => vec![error(cid, SocketError::UnrecognizedPayload, "Unrecognized message")],
    }
}
