//! The matchmaker through the realtime socket and its Rust API: mutual queries with
//! skill ranges, tokens that become a shared match, waiting for fuller groups, count
//! multiples, a hook that makes authoritative matches, tickets leaving with their
//! session, and a randomized pool where every formed group satisfies every query.

mod common;
use common::ListField;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{session, start_realtime, ws_call, ws_drain, ws_next, ws_open, Api, Ws};
use kaosnet::matchmaker::{pool::doc_of, TicketSpec};
use kaosnet::realtime::tracker::{Presence, PresenceMeta};
use kaosnet::realtime::{RealtimeConfig, SessionId};
use kaosnet::store::MemoryStore;
use kaosnet::KaosNet;
use serde_json::{json, Value};

/// A server whose matchmaker only runs when a test says so.
fn server() -> Api {
    let limits = kaosnet::hooks::OperationRateLimiter::default();
    let kaos = KaosNet::with_limits(Arc::new(MemoryStore::new()), Default::default(), Default::default(), limits);
    start_realtime(kaos, RealtimeConfig { matchmaker_interval: Duration::from_secs(3600), ..RealtimeConfig::default() })
}

fn player(api: &Api, name: &str) -> Ws {
    ws_open(api, &session(api, &format!("device-mm-{name}"), name), "")
}

fn add(ws: &mut Ws, ticket: Value) -> Value {
    ws_call(ws, "t", json!({ "matchmaker_add": ticket })).0
}

fn skill_ticket(region: &str, skill: f64, min: usize, max: usize) -> Value {
    json!({
        "min_count": min, "max_count": max,
        "query": format!("+properties.region:{region} +properties.skill:>={} +properties.skill:<={}", skill - 100.0, skill + 100.0),
        "string_properties": {"region": region},
        "numeric_properties": {"skill": skill},
    })
}

fn names(users: &Value) -> Vec<String> {
    let mut v: Vec<String> =
        users.list().iter().map(|u| u["presence"]["username"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

#[test]
fn mutual_skill_queries_pair_players_and_the_token_joins_them() {
    let api = server();
    let (mut a, mut b, mut c, mut d) =
        (player(&api, "al"), player(&api, "bee"), player(&api, "cal"), player(&api, "dee"));
    let t = add(&mut a, skill_ticket("eu", 1000.0, 2, 2));
    let ticket_a = t["matchmaker_ticket"]["ticket"].as_str().unwrap().to_string();
    add(&mut c, skill_ticket("us", 1000.0, 2, 2));
    add(&mut d, skill_ticket("eu", 2000.0, 2, 2));
    add(&mut b, skill_ticket("eu", 1050.0, 2, 2));
    assert_eq!(api.kaos.matchmaker().run(&api.kaos).len(), 1);
    assert_eq!(api.kaos.matchmaker().ticket_count(), 2);
    let ma = ws_next(&mut a);
    let mb = ws_next(&mut b);
    let (ma, mb) = (&ma["matchmaker_matched"], &mb["matchmaker_matched"]);
    assert_eq!(ma["ticket"], ticket_a.as_str());
    assert_eq!(names(&ma["users"]), ["al", "bee"]);
    assert_eq!(ma["self"]["presence"]["username"], "al");
    assert_eq!(ma["self"]["numeric_properties"]["skill"], 1000.0);
    assert_eq!(ma["token"], mb["token"]);
    assert_eq!((ws_drain(&mut c), ws_drain(&mut d)), (vec![], vec![]));
    // The token makes one relayed match for both.
    let ja = ws_call(&mut a, "j", json!({"match_join": {"token": ma["token"]}})).0;
    let jb = ws_call(&mut b, "j", json!({"match_join": {"token": mb["token"]}})).0;
    assert_eq!(ja["match"]["match_id"], jb["match"]["match_id"]);
    assert_eq!(jb["match"]["presences"][0]["username"], "al");
    assert_eq!(jb["match"]["presences"].list().len(), 1, "{jb}");
    assert_eq!(ws_call(&mut c, "j", json!({"match_join": {"token": "forged"}})).0["error"]["code"], 3);
}

#[test]
fn groups_wait_a_pass_to_fill_then_settle_for_what_suits_everyone() {
    let api = server();
    let mut ws: Vec<Ws> = ["e1", "e2", "e3"].iter().map(|n| player(&api, n)).collect();
    for w in &mut ws {
        add(w, json!({"min_count": 3, "max_count": 4, "query": "*"}));
    }
    // Not full: the first pass waits for a fourth player.
    assert!(api.kaos.matchmaker().run(&api.kaos).is_empty());
    let groups = api.kaos.matchmaker().run(&api.kaos);
    assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [3]);
    for w in &mut ws {
        assert_eq!(names(&ws_next(w)["matchmaker_matched"]["users"]).len(), 3);
    }
    // Multiples of 2 from 3 candidates: a group of 2, the third waits.
    let mut ws: Vec<Ws> = ["f1", "f2", "f3"].iter().map(|n| player(&api, n)).collect();
    for w in &mut ws {
        add(w, json!({"min_count": 2, "max_count": 4, "count_multiple": 2, "query": "*"}));
    }
    api.kaos.matchmaker().run(&api.kaos);
    let groups = api.kaos.matchmaker().run(&api.kaos);
    assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [2]);
    assert_eq!(api.kaos.matchmaker().ticket_count(), 1);
}

#[test]
fn a_hook_makes_the_match_and_tickets_leave_with_their_session() {
    let api = server();
    struct Game;
    impl kaosnet::matches::MatchHandler for Game {
        fn init(
            &mut self,
            _: &kaosnet::matches::MatchContext,
            p: &Value,
        ) -> Result<kaosnet::matches::MatchInit, String> {
            Ok(kaosnet::matches::MatchInit { tick_rate: 5, label: p.to_string() })
        }
        fn tick(
            &mut self,
            _: &kaosnet::matches::MatchContext,
            _: &mut kaosnet::matches::Dispatcher<'_>,
            _: u64,
            _: Vec<kaosnet::matches::MatchMessage>,
        ) -> bool {
            true
        }
    }
    api.kaos.matches().register("game", || Box::new(Game));
    api.kaos
        .matchmaker()
        .on_matched(|kaos, users| kaos.matches().create(kaos, "game", &json!({"players": users.len()})).ok());
    let (mut a, mut b) = (player(&api, "gil"), player(&api, "hap"));
    add(&mut a, json!({"min_count": 2, "max_count": 2, "query": "*"}));
    add(&mut b, json!({"min_count": 2, "max_count": 2, "query": "*"}));
    api.kaos.matchmaker().run(&api.kaos);
    let m = ws_next(&mut a);
    let id = m["matchmaker_matched"]["match_id"].as_str().unwrap().to_string();
    assert!(id.ends_with(".kaos") && m["matchmaker_matched"].get("token").is_none(), "{m}");
    assert_eq!(api.kaos.matches().get(&id).unwrap().label, r#"{"players":2}"#);
    assert_eq!(ws_call(&mut a, "j", json!({"match_join": {"match_id": id}})).0["match"]["authoritative"], true);

    // Tickets: at most three, removable by their owner only, gone with the session.
    let (mut c, mut d) = (player(&api, "ike"), player(&api, "jo"));
    let mut tickets = Vec::new();
    for _ in 0..3 {
        tickets.push(
            add(&mut c, json!({"min_count": 2, "max_count": 2, "query": "+properties.x:never"}))["matchmaker_ticket"]
                ["ticket"]
                .clone(),
        );
    }
    assert_eq!(add(&mut c, json!({"min_count": 2, "max_count": 2}))["error"]["code"], 3);
    assert_eq!(ws_call(&mut d, "r", json!({"matchmaker_remove": {"ticket": tickets[0]}})).0["error"]["code"], 3);
    assert_eq!(ws_call(&mut c, "r", json!({"matchmaker_remove": {"ticket": tickets[0]}})).0, json!({"cid": "r"}));
    assert_eq!(api.kaos.matchmaker().ticket_count(), 2);
    c.close(None).unwrap();
    while c.read().is_ok() {}
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while api.kaos.matchmaker().ticket_count() > 0 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    for bad in [
        json!({"min_count": 1, "max_count": 2}),
        json!({"min_count": 3, "max_count": 2}),
        json!({"min_count": 2, "max_count": 2, "query": "+properties.a:\"open"}),
        json!({"min_count": 2, "max_count": 2, "numeric_properties": {"s": "high"}}),
        json!({"min_count": 2, "max_count": 300}),
    ] {
        assert_eq!(add(&mut d, bad.clone())["error"]["code"], 3, "{bad}");
    }
}

#[test]
fn every_formed_group_satisfies_every_query() {
    let kaos = KaosNet::new(Arc::new(MemoryStore::new()), Default::default(), Default::default());
    // A small deterministic generator (xorshift).
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let regions = ["eu", "us", "asia"];
    let modes = ["ranked", "casual"];
    for i in 0..600u64 {
        let region = regions[next(3) as usize];
        let mode = modes[next(2) as usize];
        let skill = 800.0 + next(800) as f64;
        let window = 50.0 + next(300) as f64;
        let min = 2 + next(3) as usize;
        let max = min + next(3) as usize;
        let query = match next(4) {
            0 => format!(
                "+properties.region:{region} +properties.skill:>={} +properties.skill:<={}",
                skill - window,
                skill + window
            ),
            1 => format!("+properties.mode:{mode} -properties.region:asia properties.region:{region}^2"),
            2 => format!("+properties.region:{region} +properties.mode:{mode}"),
            _ => "*".to_string(),
        };
        let spec = TicketSpec {
            min_count: min,
            max_count: max,
            count_multiple: if next(5) == 0 { 2 } else { 1 },
            query,
            string_properties: BTreeMap::from([("region".into(), region.into()), ("mode".into(), mode.into())]),
            numeric_properties: BTreeMap::from([("skill".into(), skill)]),
        };
        let p = Presence {
            session: SessionId::from_raw(1_000_000 + i),
            user_id: format!("user-{i}"),
            username: format!("u{i}"),
            meta: PresenceMeta::default(),
        };
        kaos.matchmaker().add_ticket(vec![p], None, spec).unwrap();
    }
    let mut formed = 0;
    for _ in 0..4 {
        for group in kaos.matchmaker().run(&kaos) {
            formed += 1;
            let n = group.len();
            for t in &group {
                assert!(t.min_count <= n && n <= t.max_count && n % t.count_multiple == 0, "{n} players for {t:?}");
                for other in &group {
                    if other.id != t.id {
                        let doc = doc_of(&other.string_properties, &other.numeric_properties);
                        assert!(t.query.matches(&doc), "{:?} does not suit {:?}", other.string_properties, t.query);
                    }
                }
            }
        }
    }
    assert!(formed > 50, "only {formed} groups from 600 tickets");
}

#[test]
fn tickets_with_many_properties_are_still_found() {
    let kaos = KaosNet::new(Arc::new(MemoryStore::new()), Default::default(), Default::default());
    let props: BTreeMap<String, String> =
        ["a", "b", "c", "d", "e", "f"].iter().map(|k| (k.to_string(), format!("{k}1"))).collect();
    let p = |i: u64| Presence {
        session: SessionId::from_raw(i),
        user_id: format!("wide-{i}"),
        username: format!("w{i}"),
        meta: PresenceMeta::default(),
    };
    let spec = |query: &str| TicketSpec {
        min_count: 2,
        max_count: 2,
        count_multiple: 1,
        query: query.into(),
        string_properties: props.clone(),
        numeric_properties: BTreeMap::from([("level".into(), 5.0)]),
    };
    // The required property is the sixth: past the bucketed ones.
    kaos.matchmaker().add_ticket(vec![p(1)], None, spec("+properties.f:f1 +properties.level:5")).unwrap();
    kaos.matchmaker().add_ticket(vec![p(2)], None, spec("+properties.f:f1 +properties.level:>=4")).unwrap();
    assert_eq!(kaos.matchmaker().run(&kaos).len(), 1);
}
