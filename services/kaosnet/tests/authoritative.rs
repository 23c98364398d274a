//! Authoritative matches through the realtime socket: join attempts, joins and leaves
//! reaching the handler and the players, inputs processed in order tick by tick at the
//! tick rate, broadcasts, signals, listings with label queries, and a panicking or slow
//! handler ending only its own match.

mod common;
use common::ListField;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{bearer, call, session, start_with, ws_call, ws_next, ws_open, ws_send, Api, Ws};
use kaosnet::matches::{Dispatcher, MatchContext, MatchHandler, MatchInit, MatchMessage};
use kaosnet::realtime::tracker::Presence;
use kaosnet::store::MemoryStore;
use kaosnet::KaosNet;
use serde_json::{json, Value};

#[derive(Default)]
struct Log {
    ticks: Vec<(u64, Instant)>,
    joined: Vec<String>,
    left: Vec<String>,
}

struct Arena {
    log: Arc<Mutex<Log>>,
    /// A sluggish handler: once someone has joined, its tick waits until the test
    /// releases this (so its input queue certainly fills, however fast the machine).
    slow: Option<Arc<Release>>,
}

#[derive(Default)]
struct Release {
    done: Mutex<bool>,
    wake: std::sync::Condvar,
}

impl Release {
    fn wait(&self) {
        let mut done = self.done.lock().unwrap();
        while !*done {
            done = self.wake.wait(done).unwrap();
        }
    }

    fn release(&self) {
        *self.done.lock().unwrap() = true;
        self.wake.notify_all();
    }
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

impl MatchHandler for Arena {
    fn init(&mut self, _: &MatchContext, params: &Value) -> Result<MatchInit, String> {
        let tick_rate = params["tick_rate"].as_u64().unwrap_or(20) as u32;
        Ok(MatchInit { tick_rate, label: json!({"mode": params["mode"], "open": true}).to_string() })
    }

    fn join_attempt(
        &mut self,
        _: &MatchContext,
        d: &mut Dispatcher<'_>,
        _: u64,
        _: &Presence,
        metadata: &HashMap<String, String>,
    ) -> Result<(), String> {
        if metadata.get("password").map(String::as_str) != Some("sesame") {
            return Err("wrong password".into());
        }
        if d.presences().len() >= 3 {
            return Err("full".into());
        }
        Ok(())
    }

    fn join(&mut self, _: &MatchContext, d: &mut Dispatcher<'_>, _: u64, joined: &[Presence]) {
        self.log.lock().unwrap().joined.extend(joined.iter().map(|p| p.username.clone()));
        d.broadcast(100, b"welcome", Some(joined), None, true);
    }

    fn leave(&mut self, _: &MatchContext, d: &mut Dispatcher<'_>, _: u64, left: &[Presence]) {
        self.log.lock().unwrap().left.extend(left.iter().map(|p| p.username.clone()));
        for p in left {
            d.broadcast(101, p.username.as_bytes(), None, None, true);
        }
    }

    fn tick(&mut self, _: &MatchContext, d: &mut Dispatcher<'_>, tick: u64, messages: Vec<MatchMessage>) -> bool {
        self.log.lock().unwrap().ticks.push((tick, Instant::now()));
        if let Some(release) = self.slow.as_ref().filter(|_| !self.log.lock().unwrap().joined.is_empty()) {
            release.wait();
        }
        for m in messages {
            match m.op_code {
                99 => return false,
                66 => panic!("op 66 breaks this handler"),
                77 => {
                    let _ = d.label_update(&json!({"mode": "closed", "open": false}).to_string());
                }
                _ => {
                    let echo = format!("{tick}:{}", String::from_utf8_lossy(&m.data));
                    d.broadcast(200, echo.as_bytes(), None, Some(&m.sender), m.reliable);
                }
            }
        }
        true
    }

    fn signal(&mut self, _: &MatchContext, _: &mut Dispatcher<'_>, _: u64, data: &str) -> Result<String, String> {
        Ok(format!("pong:{data}"))
    }
}

/// A server with the default rate limits, as shipped.
fn server() -> (Api, Arc<Mutex<Log>>) {
    server_with(kaosnet::hooks::OperationRateLimiter::default())
}

fn server_with(limits: kaosnet::hooks::OperationRateLimiter) -> (Api, Arc<Mutex<Log>>) {
    server_releasing(limits, Arc::default())
}

fn server_releasing(limits: kaosnet::hooks::OperationRateLimiter, release: Arc<Release>) -> (Api, Arc<Mutex<Log>>) {
    let kaos = KaosNet::with_limits(Arc::new(MemoryStore::new()), Default::default(), Default::default(), limits);
    let log = Arc::new(Mutex::new(Log::default()));
    let l = log.clone();
    kaos.matches().register("arena", move || Box::new(Arena { log: l.clone(), slow: None }));
    kaos.matches().register("sluggish", move || Box::new(Arena { log: Arc::default(), slow: Some(release.clone()) }));
    (start_with(kaos), log)
}

fn player(api: &Api, name: &str) -> (Ws, Value) {
    let s = session(api, &format!("device-auth-{name}"), name);
    (ws_open(api, &s, ""), s)
}

fn join(ws: &mut Ws, id: &str, password: &str) -> Value {
    ws_call(ws, "join", json!({"match_join": {"match_id": id, "metadata": {"password": password}}})).0
}

fn data(ws: &mut Ws, id: &str, op: i64, text: &str) {
    ws_send(ws, json!({"match_data_send": {"match_id": id, "op_code": op.to_string(), "data": b64(text.as_bytes())}}));
}

fn decoded(m: &Value) -> (i64, String) {
    let d = &m["match_data"];
    let bytes = base64::engine::general_purpose::STANDARD.decode(d["data"].as_str().unwrap()).unwrap();
    (d["op_code"].as_str().unwrap().parse().unwrap(), String::from_utf8(bytes).unwrap())
}

#[test]
fn players_join_play_in_order_and_leave() {
    let (api, log) = server();
    let id = api.kaos.matches().create(&api.kaos, "arena", &json!({"mode": "ffa", "tick_rate": 20})).unwrap();
    assert!(id.ends_with(".kaos"), "{id}");
    let (mut a, sa) = player(&api, "ava");
    let (mut b, _) = player(&api, "bea");

    assert_eq!(join(&mut a, &id, "nope")["error"], json!({"code": 5, "message": "wrong password"}));
    let m = join(&mut a, &id, "sesame");
    assert_eq!((m["match"]["authoritative"].clone(), m["match"]["size"].clone()), (json!(true), json!(1)), "{m}");
    assert_eq!(serde_json::from_str::<Value>(m["match"]["label"].as_str().unwrap()).unwrap()["mode"], "ffa");
    // A new joiner is not in `presences`, and hears of its own join after the answer.
    assert_eq!(m["match"].get("presences"), None, "{m}");
    assert_eq!(ws_next(&mut a)["match_presence_event"]["joins"][0]["username"], "ava");
    assert_eq!(decoded(&ws_next(&mut a)), (100, "welcome".into()));
    let m = join(&mut b, &id, "sesame");
    assert_eq!(m["match"]["presences"], json!([m["match"]["presences"][0]]), "only Ava: {m}");
    assert_eq!(m["match"]["presences"][0]["username"], "ava");
    assert_eq!(ws_next(&mut a)["match_presence_event"]["joins"][0]["username"], "bea");
    assert_eq!(ws_next(&mut b)["match_presence_event"]["joins"][0]["username"], "bea");
    assert_eq!(decoded(&ws_next(&mut b)), (100, "welcome".into()));
    // Joining again: no new event, and Bea finds herself listed beside Ava.
    let again = join(&mut b, &id, "sesame");
    let mut names: Vec<&str> =
        again["match"]["presences"].list().iter().map(|p| p["username"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["ava", "bea"], "{again}");

    // Inputs reach the handler in order, tick by tick, and its echoes reach both.
    for i in 0..30 {
        data(&mut a, &id, 1, &format!("a{i}"));
    }
    for ws in [&mut a, &mut b] {
        let mut last_tick = 0;
        for i in 0..30 {
            let m = ws_next(ws);
            let (op, text) = decoded(&m);
            let (tick, payload) = text.split_once(':').unwrap();
            let tick: u64 = tick.parse().unwrap();
            assert_eq!((op, payload), (200, format!("a{i}").as_str()), "{m}");
            assert!(tick >= last_tick);
            last_tick = tick;
            assert_eq!(m["match_data"]["presence"]["username"], "ava");
        }
    }

    // The tick rate holds: never ahead of the schedule, not far behind it.
    let (first, now) = {
        let l = log.lock().unwrap();
        (l.ticks[0], *l.ticks.last().unwrap())
    };
    let elapsed = now.1.duration_since(first.1).as_secs_f64();
    let ticks = (now.0 - first.0) as f64;
    assert!(ticks <= elapsed * 20.0 + 2.0 && ticks >= elapsed * 20.0 * 0.5 - 2.0, "{ticks} ticks in {elapsed:.3} s");
    assert!(log.lock().unwrap().ticks.windows(2).all(|w| w[1].0 == w[0].0 + 1));

    // Signals and listings.
    assert_eq!(api.kaos.matches().signal(&id, "hi").unwrap(), "pong:hi");
    let list = |q: &str| call(&api, "GET", &format!("/v2/match?{q}"), &bearer(&sa["token"]), "").1;
    let found = list("query=%2Blabel.mode:ffa");
    assert_eq!(found["matches"][0]["match_id"], id.as_str(), "{found}");
    assert_eq!((found["matches"][0]["size"].clone(), found["matches"][0]["tick_rate"].clone()), (json!(2), json!(20)));
    assert_eq!(found["matches"][0]["handler_name"], "arena");
    // No match: protojson leaves the empty list out.
    assert_eq!(list("query=%2Blabel.mode:ctf"), json!({}));
    assert_eq!(list("authoritative=false"), json!({}));
    assert_eq!(list("min_size=3"), json!({}));
    // A label update shows in the listing.
    data(&mut a, &id, 77, "");
    let deadline = Instant::now() + Duration::from_secs(10);
    while list("query=%2Blabel.open:false").get("matches").is_none() {
        assert!(Instant::now() < deadline, "label never changed");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Bea leaves: Ava hears the presence event and the handler's goodbye.
    let (ack, _) = ws_call(&mut b, "l", json!({"match_leave": {"match_id": id}}));
    assert_eq!(ack, json!({"cid": "l"}));
    assert_eq!(ws_next(&mut a)["match_presence_event"]["leaves"][0]["username"], "bea");
    assert_eq!(decoded(&ws_next(&mut a)), (101, "bea".into()));
    // Ava's socket closes: the handler hears that too.
    a.close(None).unwrap();
    while a.read().is_ok() {}
    let deadline = Instant::now() + Duration::from_secs(10);
    while log.lock().unwrap().left.len() < 2 {
        assert!(Instant::now() < deadline, "the handler never heard Ava leave");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(log.lock().unwrap().joined, ["ava", "bea"]);
    assert_eq!(log.lock().unwrap().left, ["bea", "ava"]);
}

#[test]
fn a_handler_that_ends_panics_or_lags_ends_only_its_own_match() {
    // The flood below must outrun a match's input queue, which the default limit on
    // match data (200/s) would never let a client do: this test turns limits off.
    let release = Arc::new(Release::default());
    let no_limits = kaosnet::hooks::OperationRateLimiter::new(kaosnet::hooks::RateLimits::NONE);
    let (api, _) = server_releasing(no_limits, release.clone());
    let healthy = api.kaos.matches().create(&api.kaos, "arena", &json!({"mode": "a"})).unwrap();
    let ending = api.kaos.matches().create(&api.kaos, "arena", &json!({"mode": "b"})).unwrap();
    let broken = api.kaos.matches().create(&api.kaos, "arena", &json!({"mode": "c"})).unwrap();
    let slow = api.kaos.matches().create(&api.kaos, "sluggish", &json!({"mode": "d"})).unwrap();
    let (mut p, _) = player(&api, "pat");
    for id in [&healthy, &ending, &broken, &slow] {
        assert_eq!(join(&mut p, id, "sesame")["match"]["match_id"], id.as_str());
        assert!(ws_next(&mut p).get("match_presence_event").is_some());
        assert_eq!(decoded(&ws_next(&mut p)).0, 100);
    }
    data(&mut p, &ending, 99, "");
    data(&mut p, &broken, 66, "");
    // The slow match's queue overflows (its tick waits): it is ended, the sender told.
    let mut refused = false;
    for _ in 0..6000 {
        ws_send(&mut p, json!({"cid": "s", "match_data_send": {"match_id": slow, "op_code": "1", "data": ""}}));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while api.kaos.matches().list().len() > 1 {
        assert!(Instant::now() < deadline, "still running: {:?}", api.kaos.matches().list());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(api.kaos.matches().list().iter().map(|m| m.match_id.as_str()).collect::<Vec<_>>(), [healthy.as_str()]);
    release.release();
    // The healthy match still plays.
    data(&mut p, &healthy, 1, "still here");
    loop {
        let m = ws_next(&mut p);
        if m.get("error").is_some() {
            refused = true;
            continue;
        }
        if m.get("match_data").is_some() && decoded(&m).0 == 200 {
            assert!(decoded(&m).1.ends_with(":still here"));
            break;
        }
    }
    assert!(refused, "the flood into the slow match was never refused");
    // The ended matches are gone for joins and data.
    for id in [&ending, &broken, &slow] {
        assert_eq!(join(&mut p, id, "sesame")["error"]["code"], 4, "{id}");
    }
    assert_eq!(api.kaos.matches().signal(&broken, "x").unwrap_err().code, kaosnet::Code::NotFound);
    assert!(api.kaos.matches().create(&api.kaos, "nonexistent", &json!({})).is_err());
    assert!(api.kaos.matches().create(&api.kaos, "arena", &json!({"tick_rate": 61})).is_err());
}
