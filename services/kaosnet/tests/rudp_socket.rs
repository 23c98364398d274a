//! The realtime socket over reliable UDP: the token handshake, envelopes as on the
//! WebSocket, refusals with their close codes, the single-socket policy across both
//! transports, sessions leaving the registry, and replies beyond the reliable window.

mod common;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{session, start_realtime, ws_next, Api, Ws};
use kaos_rudp::{DisconnectReason, RudpTransport, Transport};
use kaosnet::realtime::{close, RealtimeConfig, RudpSocketConfig};
use kaosnet::store::MemoryStore;
use kaosnet::{ApiConfig, KaosNet};
use serde_json::{json, Value};
use tungstenite::Message;

/// A server with the default rate limits.
fn start_with(single_socket: bool, tweak: impl FnOnce(&mut RudpSocketConfig)) -> Api {
    start_limited(kaosnet::hooks::OperationRateLimiter::default(), single_socket, tweak)
}

fn start_limited(
    limits: kaosnet::hooks::OperationRateLimiter,
    single_socket: bool,
    tweak: impl FnOnce(&mut RudpSocketConfig),
) -> Api {
    let kaos = KaosNet::with_limits(Arc::new(MemoryStore::new()), ApiConfig::default(), Default::default(), limits);
    let mut rudp = RudpSocketConfig::on("127.0.0.1:0".parse().unwrap());
    tweak(&mut rudp);
    start_realtime(kaos, RealtimeConfig { single_socket, rudp: Some(rudp), ..RealtimeConfig::default() })
}

struct Client {
    t: RudpTransport,
    got: VecDeque<Vec<u8>>,
}

impl Client {
    fn connect(api: &Api) -> Client {
        Client::connect_from(api, "127.0.0.1")
    }

    /// Connected from loopback address `ip` (any of 127.0.0.0/8 reaches the server).
    fn connect_from(api: &Api, ip: &str) -> Client {
        let c = Client::handshake_from(api, ip);
        assert!(c.t.disconnect_reason().is_none(), "no RUDP handshake");
        c
    }

    /// The handshake from `ip`, and whatever came right after it (a refusal may).
    fn handshake_from(api: &Api, ip: &str) -> Client {
        let local = format!("{ip}:0").parse().unwrap();
        let mut t = RudpTransport::new(local, api.rudp.unwrap(), 256).unwrap();
        let connected = t.wait_connected(Duration::from_secs(5)).unwrap();
        assert!(connected || t.disconnect_reason().is_some(), "no RUDP handshake");
        Client { t, got: VecDeque::new() }
    }

    fn send(&mut self, v: Value) {
        self.send_bytes(v.to_string().as_bytes());
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        self.t.send(bytes).unwrap();
        self.t.flush().unwrap();
    }

    /// The next message as JSON, or `{"closed": code}` once the server has disconnected.
    fn next(&mut self) -> Value {
        match self.next_bytes() {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Err(code) => json!({ "closed": code }),
        }
    }

    /// The next message's bytes, or the close code once the server has disconnected.
    fn next_bytes(&mut self) -> Result<Vec<u8>, u16> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(m) = self.got.pop_front() {
                return Ok(m);
            }
            self.t.poll(Some(Duration::from_millis(20))).unwrap();
            let got = &mut self.got;
            let _ = self.t.receive_messages(|_, m| got.push_back(m.to_vec()));
            if self.got.is_empty() {
                match self.t.disconnect_reason() {
                    Some(DisconnectReason::Remote(code)) => return Err(code),
                    Some(other) => panic!("disconnected: {other:?}"),
                    None => {}
                }
            }
        }
        panic!("nothing from the server in 10 s")
    }

    fn hello(api: &Api, token: &Value) -> (Client, Value) {
        Client::hello_from(api, "127.0.0.1", token)
    }

    fn hello_from(api: &Api, ip: &str, token: &Value) -> (Client, Value) {
        let mut c = Client::connect_from(api, ip);
        c.send(json!({"token": token, "status": true}));
        let connected = c.next();
        (c, connected)
    }
}

fn user_id(api: &Api, s: &Value) -> Value {
    let (status, account) = common::call(api, "GET", "/v2/account", &common::bearer(&s["token"]), "");
    assert_eq!(status, 200);
    account["user"]["id"].clone()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_token_opens_a_session_that_speaks_envelopes() {
    let api = start_with(false, |_| {});
    api.kaos.rpcs().register("echo", |ctx, p| Ok(format!("{}:{p}", ctx.username.clone().unwrap_or_default())));
    let s = session(&api, "device-rudp-0001", "rudpuser");
    let (mut c, connected) = Client::hello(&api, &s["token"]);
    assert_eq!(connected["connected"]["username"], "rudpuser");
    assert_eq!(connected["connected"]["user_id"], user_id(&api, &s));
    assert_eq!(api.kaos.sessions().count(), 1);
    c.send(json!({"cid": "1", "ping": {}}));
    assert_eq!(c.next(), json!({"cid": "1", "pong": {}}));
    c.send(json!({"cid": "2", "rpc": {"id": "echo", "payload": "hi"}}));
    assert_eq!(c.next(), json!({"cid": "2", "rpc": {"id": "echo", "payload": "rudpuser:hi"}}));
    c.send(json!({"cid": "3", "rpc": {"id": "nope"}}));
    assert_eq!(c.next()["error"]["code"], 6);
    c.t.send(b"{not json").unwrap();
    assert_eq!(c.next()["error"]["code"], 1);
    c.send(json!({"ping": {}}));
    assert_eq!(c.next(), json!({"pong": {}}));
    c.t.disconnect(1000).unwrap();
    wait_for("the session left the registry", || api.kaos.sessions().count() == 0);
}

#[test]
fn bad_tokens_garbage_and_silence_are_sent_away_with_their_codes() {
    let api = start_with(false, |r| r.auth_timeout = Duration::from_millis(300));
    let s = session(&api, "device-rudp-0002", "rudp2");
    let (_, reply) = Client::hello(&api, &json!("not-a-token"));
    assert_eq!(reply, json!({"closed": close::UNAUTHORIZED}));
    let mut c = Client::connect(&api);
    c.send(json!({"cid": "1", "ping": {}}));
    assert_eq!(c.next(), json!({"closed": close::UNAUTHORIZED}));
    let mut c = Client::connect(&api);
    assert_eq!(c.next(), json!({"closed": close::AUTH_TIMEOUT}));
    // A revoked token is refused too.
    let logout = json!({"token": s["token"]}).to_string();
    assert_eq!(common::call(&api, "POST", "/v2/session/logout", &common::bearer(&s["token"]), &logout).0, 200);
    let (_, reply) = Client::hello(&api, &s["token"]);
    assert_eq!(reply, json!({"closed": close::UNAUTHORIZED}));
    assert_eq!(api.kaos.sessions().count(), 0);
}

/// How the server sent `c` away so far, polling it once.
fn sent_away(c: &mut Client) -> Option<u16> {
    c.t.poll(Some(Duration::from_millis(1))).unwrap();
    match c.t.disconnect_reason() {
        Some(DisconnectReason::Remote(code)) => Some(code),
        Some(other) => panic!("disconnected: {other:?}"),
        None => None,
    }
}

/// Handshakes that never send a token cannot fill the client table: one address holds at
/// most `max_pending_per_ip` of them (the rest are sent away at once with TRY_LATER), and
/// a client from another address signs in meanwhile.
#[test]
fn connections_owing_their_token_are_capped_per_address() {
    let api = start_with(false, |r| {
        r.max_pending_per_ip = 4;
        r.auth_timeout = Duration::from_secs(600);
    });
    let mut silent: Vec<Client> = (0..12).map(|_| Client::handshake_from(&api, "127.0.0.1")).collect();
    let refused = |silent: &mut Vec<Client>| silent.iter_mut().filter_map(sent_away).collect::<Vec<_>>();
    wait_for("eight sent away", || refused(&mut silent).len() == 8);
    assert_eq!(refused(&mut silent), vec![close::TRY_LATER; 8]);
    let s = session(&api, "device-rudp-0010", "rudp10");
    let (_, connected) = Client::hello_from(&api, "127.0.0.2", &s["token"]);
    assert_eq!(connected["connected"]["username"], "rudp10");
    let mut one_more = Client::handshake_from(&api, "127.0.0.1");
    assert_eq!(one_more.next(), json!({"closed": close::TRY_LATER}));
    assert_eq!(refused(&mut silent).len(), 8, "the four waiting keep their place");
}

/// Silent connections from many addresses fill only their share of the table; past it
/// the one that has waited longest makes room, so a client that signs in gets in.
#[test]
fn past_the_pending_share_the_longest_waiting_connection_makes_room() {
    let api = start_with(false, |r| {
        r.max_pending = 4;
        r.auth_timeout = Duration::from_secs(600);
    });
    let mut silent: Vec<Client> = (0..4).map(|i| Client::connect_from(&api, &format!("127.0.1.{}", i + 1))).collect();
    let s = session(&api, "device-rudp-0011", "rudp11");
    let (_, connected) = Client::hello_from(&api, "127.0.2.1", &s["token"]);
    assert_eq!(connected["connected"]["username"], "rudp11");
    let refused = |silent: &mut Vec<Client>| silent.iter_mut().filter_map(sent_away).collect::<Vec<_>>();
    wait_for("the oldest sent away", || !refused(&mut silent).is_empty());
    assert_eq!(refused(&mut silent), vec![close::TRY_LATER], "one made room");
    assert_eq!(sent_away(&mut silent[0]), Some(close::TRY_LATER), "the first to come waited longest");
}

fn ws_connect(api: &Api, token: &Value) -> Ws {
    let url = format!("ws://{}/ws?token={}", api.addr, token.as_str().unwrap());
    tungstenite::connect(url).unwrap().0
}

#[test]
fn the_single_socket_policy_spans_both_transports() {
    let api = start_with(true, |_| {});
    let s = session(&api, "device-rudp-0003", "rudp3");
    let mut ws = ws_connect(&api, &s["token"]);
    ws.send(Message::text(json!({"cid": "w", "ping": {}}).to_string())).unwrap();
    assert_eq!(ws_next(&mut ws)["cid"], "w");
    let (mut c, connected) = Client::hello(&api, &s["token"]);
    assert!(connected.get("connected").is_some(), "{connected}");
    assert_eq!(ws_next(&mut ws), json!({"closed": close::REPLACED}));
    c.send(json!({"cid": "r", "ping": {}}));
    assert_eq!(c.next()["cid"], "r");
    let mut ws = ws_connect(&api, &s["token"]);
    assert_eq!(c.next(), json!({"closed": close::REPLACED}));
    ws.send(Message::text(json!({"cid": "w2", "ping": {}}).to_string())).unwrap();
    assert_eq!(ws_next(&mut ws)["cid"], "w2");
    wait_for("one session left", || api.kaos.sessions().count() == 1);
    let user = user_id(&api, &s);
    assert_eq!(api.kaos.sessions().sessions_of(user.as_str().unwrap()).len(), 1);
}

#[test]
fn replies_beyond_the_window_wait_and_arrive_in_order() {
    // 2,000 RPCs at once is a flood the default limit refuses: this one lifts it for RPCs.
    let rpc = kaosnet::hooks::Limit { per_second: 1e9, burst: 1e9 };
    let api = start_limited(kaosnet::hooks::OperationRateLimiter::default().with("rpc", rpc), false, |_| {});
    api.kaos.rpcs().register("n", |_, p| Ok(p.to_string()));
    let s = session(&api, "device-rudp-0004", "rudp4");
    let (mut c, _) = Client::hello(&api, &s["token"]);
    // More requests than the reliable window holds, sent before reading any reply.
    const N: usize = 2000;
    let mut sent = 0;
    while sent < N {
        match c.t.send(
            json!({"cid": sent.to_string(), "rpc": {"id": "n", "payload": sent.to_string()}}).to_string().as_bytes(),
        ) {
            Ok(()) => sent += 1,
            Err(_) => {
                c.t.poll(Some(Duration::from_millis(5))).unwrap();
                let got = &mut c.got;
                let _ = c.t.receive_messages(|_, m| got.push_back(m.to_vec()));
            }
        }
        c.t.flush().unwrap();
    }
    for i in 0..N {
        let v = c.next();
        assert_eq!(v["cid"], i.to_string(), "{v}");
        assert_eq!(v["rpc"]["payload"], i.to_string());
    }
}

#[test]
fn a_client_that_never_reads_is_disconnected_as_a_slow_consumer() {
    let api = start_with(false, |r| r.max_backlog_bytes = 64 << 10);
    api.kaos.rpcs().register("big", |_, _| Ok("x".repeat(8000)));
    let s = session(&api, "device-rudp-0005", "rudp5");
    let (mut c, _) = Client::hello(&api, &s["token"]);
    // Requests keep going out; replies are never read, so the window and the backlog fill.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "never disconnected");
        let _ = c.t.send(json!({"rpc": {"id": "big"}}).to_string().as_bytes());
        c.t.flush().unwrap();
        std::thread::sleep(Duration::from_millis(1));
        // Drive the connection without draining the inbox (so the client cannot see the
        // disconnect either: it sits behind the unread messages).
        c.t.process().unwrap();
        if api.kaos.sessions().count() == 0 {
            break;
        }
    }
    // Reading now drains what arrived, then shows why the server hung up.
    let mut replies = 0;
    loop {
        let v = c.next();
        if v.get("closed").is_some() {
            assert_eq!(v, json!({"closed": close::SLOW_CONSUMER}));
            break;
        }
        assert_eq!(v["rpc"]["payload"].as_str().map(str::len), Some(8000));
        replies += 1;
    }
    assert!(replies > 0);
}

#[test]
fn a_match_spans_both_transports() {
    let api = start_with(false, |_| {});
    let udp_user = session(&api, "device-rudp-0006", "udpplayer");
    let ws_user = session(&api, "device-rudp-0007", "wsplayer");
    let (mut u, _) = Client::hello(&api, &udp_user["token"]);
    u.send(json!({"cid": "1", "match_create": {}}));
    let m = u.next();
    let id = m["match"]["match_id"].clone();
    assert_eq!(u.next()["match_presence_event"]["joins"][0]["username"], "udpplayer");
    let mut w = common::ws_open(&api, &ws_user, "");
    let (joined, _) = common::ws_call(&mut w, "j", json!({"match_join": {"match_id": id}}));
    assert_eq!(joined["match"]["presences"][0]["username"], "udpplayer");
    common::own_join(&mut w, "match", "wsplayer");
    assert_eq!(u.next()["match_presence_event"]["joins"][0]["username"], "wsplayer");
    // RUDP to WebSocket and back, in order.
    for i in 0..50 {
        u.send(json!({"match_data_send": {"match_id": id, "op_code": i.to_string(), "data": ""}}));
    }
    for i in 0..50 {
        let d = ws_next(&mut w);
        assert_eq!(d["match_data"]["op_code"], i.to_string(), "{d}");
        assert_eq!(d["match_data"]["presence"]["username"], "udpplayer");
    }
    common::ws_send(&mut w, json!({"match_data_send": {"match_id": id, "op_code": "99", "data": "AQID"}}));
    let d = u.next();
    assert_eq!((d["match_data"]["op_code"].clone(), d["match_data"]["data"].clone()), (json!("99"), json!("AQID")));
    // The WebSocket player goes; the RUDP player hears it.
    w.close(None).unwrap();
    while w.read().is_ok() {}
    assert_eq!(u.next()["match_presence_event"]["leaves"][0]["username"], "wsplayer");
}

#[test]
fn a_client_may_choose_protobuf_envelopes_in_its_hello() {
    use kaosnet::realtime::protobuf::realtime::{envelope::Message, Envelope, Ping};
    use prost::Message as _;
    let api = start_with(false, |_| {});
    let s = session(&api, "device-rudp-0008", "rudppb");
    let mut c = Client::connect(&api);
    // The hello and its answer stay JSON; the envelopes after them are protobuf.
    c.send(json!({"token": s["token"], "format": "protobuf"}));
    assert_eq!(c.next()["connected"]["username"], "rudppb");
    let ping = Envelope { cid: "p".into(), message: Some(Message::Ping(Ping {})) };
    c.send_bytes(&ping.encode_to_vec());
    let pong = Envelope::decode(&c.next_bytes().unwrap()[..]).unwrap();
    assert_eq!((pong.cid.as_str(), pong.message), ("p", Some(Message::Pong(Default::default()))));
    // Garbage gets an error, in protobuf too.
    c.send_bytes(&[0xff, 0x01]);
    let e = Envelope::decode(&c.next_bytes().unwrap()[..]).unwrap();
    assert!(matches!(e.message, Some(Message::Error(ref err)) if err.code == 1), "{e:?}");
    // An unknown format is refused at the hello.
    let mut d = Client::connect(&api);
    d.send(json!({"token": s["token"], "format": "xml"}));
    assert_eq!(d.next(), json!({"closed": kaosnet::realtime::close::UNAUTHORIZED}));
}

/// The value of the series `name` (with its labels, as rendered) in `text`.
fn series(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

#[test]
fn metrics_count_the_rudp_server_socket_messages_storage_and_the_process() {
    let api = start_with(false, |_| {});
    api.kaos.rpcs().register("echo", |_, p| Ok(p.to_string()));
    let s = session(&api, "device-rudp-metrics", "rudpmetrics");
    let (mut c, connected) = Client::hello(&api, &s["token"]);
    assert!(connected.get("connected").is_some(), "{connected}");
    c.send(json!({"cid": "1", "rpc": {"id": "echo", "payload": "x"}}));
    assert_eq!(c.next()["rpc"]["payload"], "x");
    c.send(json!({"cid": "2", "rpc": {"id": "nope"}}));
    assert!(c.next().get("error").is_some());
    // One message in 16 is timed: enough of them that some are (within the default
    // limit's burst of 100).
    for i in 0..80 {
        c.send(json!({"cid": format!("p{i}"), "ping": {}}));
        assert!(c.next().get("pong").is_some());
    }
    let user = user_id(&api, &s);
    api.kaos.storage().set(user.as_str().unwrap(), "saves", "k", json!({"a": 1})).unwrap();
    let lb = kaosnet::LeaderboardConfig { id: "metrics".into(), ..Default::default() };
    api.kaos.leaderboards().create(lb).unwrap();
    let score = kaosnet::leaderboards::Submission { score: 5, ..Default::default() };
    api.kaos.leaderboards().submit("metrics", user.as_str().unwrap(), "m", score).unwrap();

    // The RUDP figures are sampled once a second by the socket's thread: keep the client
    // talking until a sample with its round trips has been taken.
    let mut text = String::new();
    wait_for("an RUDP sample with an RTT", || {
        c.send(json!({"cid": "p", "ping": {}}));
        let _ = c.next();
        text = api.kaos.metrics().render(&api.kaos);
        series(&text, "kaos_rudp_rtt_seconds_count").is_some_and(|n| n > 0.0)
    });
    for (name, at_least) in [
        ("kaos_rudp_clients", 1.0),
        ("kaos_rudp_datagrams_received_total", 3.0),
        ("kaos_rudp_datagrams_sent_total", 3.0),
        ("kaos_sessions{transport=\"rudp\"}", 1.0),
        ("kaos_socket_messages_total{kind=\"rpc\",result=\"ok\"}", 1.0),
        ("kaos_socket_messages_total{kind=\"rpc\",result=\"error\"}", 1.0),
        ("kaos_socket_message_seconds_count{kind=\"ping\"}", 1.0),
        ("kaos_storage_operations_total{operation=\"write\",result=\"ok\"}", 1.0),
        ("kaos_leaderboard_writes_total{result=\"ok\"}", 1.0),
        ("kaos_uptime_seconds", 0.0),
        ("kaos_matchmaker_tickets", 0.0),
        ("kaos_matches{kind=\"authoritative\"}", 0.0),
    ] {
        let value = series(&text, name).unwrap_or_else(|| panic!("no {name} in:\n{text}"));
        assert!(value >= at_least, "{name} = {value}, expected at least {at_least}");
    }
    #[cfg(target_os = "linux")]
    for name in ["process_resident_memory_bytes", "process_threads", "process_open_fds"] {
        assert!(series(&text, name).is_some_and(|v| v > 0.0), "no {name} in:\n{text}");
    }
}
