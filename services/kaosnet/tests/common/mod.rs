#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use kaos_http::{HttpConfig, HttpServer, ShutdownHandle};
use kaosnet::session::SessionConfig;
use kaosnet::store::MemoryStore;
use kaosnet::{ApiConfig, KaosNet};
use serde_json::{json, Value};

/// The REST API of `kaos` on a free loopback port, served by a thread until dropped.
pub struct Api {
    pub addr: SocketAddr,
    /// The realtime socket over RUDP, when the config asked for one.
    pub rudp: Option<SocketAddr>,
    pub kaos: Arc<KaosNet>,
    stop: ShutdownHandle,
    realtime: kaosnet::realtime::RealtimeHandle,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop.shutdown();
        self.realtime.shutdown();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

pub fn start() -> Api {
    let kaos = KaosNet::new(Arc::new(MemoryStore::new()), ApiConfig::default(), SessionConfig::default());
    start_with(kaos)
}

pub fn start_with(kaos: Arc<KaosNet>) -> Api {
    start_realtime(kaos, kaosnet::realtime::RealtimeConfig::default())
}

/// REST and the realtime socket on one port.
pub fn start_realtime(kaos: Arc<KaosNet>, cfg: kaosnet::realtime::RealtimeConfig) -> Api {
    let mut http =
        HttpServer::bind("127.0.0.1:0".parse().unwrap(), kaosnet::api::router(&kaos), HttpConfig::default()).unwrap();
    let (realtime, socket_thread) = kaosnet::realtime::spawn(kaos.clone(), cfg).unwrap();
    let sink = realtime.clone();
    http.on_upgrade(move |u| sink.submit(u));
    let addr = http.local_addr().unwrap();
    let stop = http.shutdown_handle();
    let thread = std::thread::spawn(move || http.run().unwrap());
    Api { addr, rudp: realtime.rudp_addr(), kaos, stop, realtime, threads: vec![thread, socket_thread] }
}

/// One request: (status, body as JSON, or as a string if it is not JSON).
pub fn call(api: &Api, method: &str, path: &str, auth: &str, body: &str) -> (u16, Value) {
    let mut c = TcpStream::connect(api.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = if auth.is_empty() { String::new() } else { format!("Authorization: {auth}\r\n") };
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head[9..12].parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::String(body.to_string())))
}

pub fn basic(key: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{key}:")))
}

pub fn bearer(token: &Value) -> String {
    format!("Bearer {}", token.as_str().unwrap())
}

/// A new device account's session.
pub fn session(api: &Api, device: &str, username: &str) -> Value {
    let path = format!("/v2/account/authenticate/device?username={username}");
    let (status, body) = call(api, "POST", &path, &basic("defaultkey"), &json!({"id": device}).to_string());
    assert_eq!(status, 200, "{body}");
    body
}

/// A signed-in user: the authenticate answer and the user id.
pub struct SignedIn {
    pub s: Value,
    pub id: String,
}

/// A new device account named `name` (device `device-user-{name}`), signed in.
pub fn sign_in(api: &Api, name: &str) -> SignedIn {
    let s = session(api, &format!("device-user-{name}"), name);
    let id = user_id(&s);
    SignedIn { s, id }
}

/// A REST call as `u`.
pub fn call_as(api: &Api, u: &SignedIn, method: &str, path: &str, body: &str) -> (u16, Value) {
    call(api, method, path, &bearer(&u.s["token"]), body)
}

pub type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

/// The next text message as JSON, or `{"closed": code}` for a close frame.
pub fn ws_next(ws: &mut Ws) -> Value {
    loop {
        match ws.read().unwrap() {
            tungstenite::Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            tungstenite::Message::Close(f) => return json!({"closed": f.map(|f| u16::from(f.code))}),
            _ => {}
        }
    }
}

/// A socket for `session` (an authenticate answer), with extra query parameters.
pub fn ws_open(api: &Api, session: &Value, query: &str) -> Ws {
    let url = format!("ws://{}/ws?token={}&{query}", api.addr, session["token"].as_str().unwrap());
    let (ws, _) = tungstenite::connect(url).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    ws
}

/// Sends an envelope.
pub fn ws_send(ws: &mut Ws, v: Value) {
    ws.send(tungstenite::Message::text(v.to_string())).unwrap();
}

/// Sends `v` with `cid` and returns the answer with that cid; pushed messages that come
/// first are returned too, in order.
pub fn ws_call(ws: &mut Ws, cid: &str, mut v: Value) -> (Value, Vec<Value>) {
    v["cid"] = json!(cid);
    ws_send(ws, v);
    let mut pushed = Vec::new();
    loop {
        let m = ws_next(ws);
        if m["cid"] == json!(cid) {
            return (m, pushed);
        }
        pushed.push(m);
    }
}

/// Everything pushed to `ws` until now (a ping's pong marks the end).
pub fn ws_drain(ws: &mut Ws) -> Vec<Value> {
    ws_call(ws, "drain", json!({"ping": {}})).1
}

/// The claims of an authenticate answer's token.
pub fn claims(session: &Value) -> Value {
    let token = session["token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The user id in an authenticate answer's token.
pub fn user_id(session: &Value) -> String {
    claims(session)["uid"].as_str().unwrap().to_string()
}

/// What an answer's list field holds: protojson leaves an empty list out, so a missing
/// field is an empty list.
pub trait ListField {
    fn list(&self) -> &[Value];
}

impl ListField for Value {
    fn list(&self) -> &[Value] {
        self.as_array().map_or(&[], Vec::as_slice)
    }
}

/// The next message on `ws` is the presence event of its own join (`party`, `match`,
/// `channel`): Nakama tells a joiner of its own join, after the answer.
#[track_caller]
pub fn own_join(ws: &mut Ws, kind: &str, username: &str) {
    let m = ws_next(ws);
    let joins = &m[format!("{kind}_presence_event")]["joins"];
    assert_eq!((joins.list().len(), &joins[0]["username"]), (1, &json!(username)), "{m}");
}
