//! Tournaments (Rust API and REST) and the leaderboard REST routes: joining, size and
//! attempt limits, active windows, listing with filters and cursors, brackets from
//! standings, and the refusals that leave records as they were.

mod common;
use common::ListField;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use common::{bearer, call, session, start, user_id};
use kaosnet::leaderboards::brackets::Bracket;
use kaosnet::leaderboards::tournaments::TournamentFilter;
use kaosnet::leaderboards::{
    LeaderboardConfig, Leaderboards, Operator, SortOrder, Submission, TournamentConfig, TournamentRules,
};
use kaosnet::store::MemoryStore;
use kaosnet::Code;
use serde_json::{json, Value};

fn owner(i: u32) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn score(score: i64) -> Submission {
    Submission { score, ..Default::default() }
}

/// Boards on a clock of their own (tests run in parallel), starting at 1,000,000.
fn boards() -> (Leaderboards, Arc<AtomicI64>) {
    let now = Arc::new(AtomicI64::new(1_000_000));
    let clock = now.clone();
    (Leaderboards::with_clock(Arc::new(MemoryStore::new()), Arc::new(move || clock.load(Ordering::SeqCst))), now)
}

fn tournament(id: &str, rules: TournamentRules) -> TournamentConfig {
    let board = LeaderboardConfig { id: id.into(), operator: Operator::Best, ..Default::default() };
    TournamentConfig { board, rules }
}

#[test]
fn a_tournament_takes_writes_only_in_its_window_from_joined_players_within_its_limits() {
    let (b, now) = boards();
    let t0 = now.load(Ordering::SeqCst);
    let rules = TournamentRules {
        title: "Cup".into(),
        start_time: t0 + 100,
        end_time: t0 + 10_000,
        duration: 1_000,
        max_size: 2,
        max_num_score: 2,
        join_required: true,
        ..Default::default()
    };
    assert!(b.create_tournament(tournament("cup", rules)).unwrap());
    // Not started.
    assert_eq!(b.join_tournament("cup", &owner(1), "a").unwrap_err().code, Code::InvalidArgument);
    now.store(t0 + 150, Ordering::SeqCst);
    // Join first.
    assert_eq!(b.submit_tournament("cup", &owner(1), "a", score(5)).unwrap_err().code, Code::InvalidArgument);
    let joined = b.join_tournament("cup", &owner(1), "a").unwrap();
    assert_eq!((joined.score, joined.num_score, joined.expiry_time), (0, 0, t0 + 10_000));
    b.join_tournament("cup", &owner(1), "a").unwrap(); // again: no change
    b.join_tournament("cup", &owner(2), "b").unwrap();
    // Full.
    assert_eq!(b.join_tournament("cup", &owner(3), "c").unwrap_err().code, Code::InvalidArgument);
    // Two attempts each.
    b.submit_tournament("cup", &owner(1), "a", score(5)).unwrap();
    b.submit_tournament("cup", &owner(1), "a", score(9)).unwrap();
    let err = b.submit_tournament("cup", &owner(1), "a", score(50)).unwrap_err();
    assert_eq!(err.code, Code::InvalidArgument);
    let r = b.get_record("cup", &owner(1)).unwrap().unwrap();
    assert_eq!((r.score, r.num_score, r.max_num_score, r.rank), (9, 2, 2, 1));
    // The window closes after `duration`.
    now.store(t0 + 100 + 1_000, Ordering::SeqCst);
    assert_eq!(b.submit_tournament("cup", &owner(2), "b", score(1)).unwrap_err().code, Code::InvalidArgument);
    // The standings stay visible after the end.
    now.store(t0 + 20_000, Ordering::SeqCst);
    assert_eq!(b.get_page("cup", 10, None).unwrap().records.len(), 2);
    let info = b.tournament("cup", None).unwrap();
    assert_eq!((info.title.as_str(), info.size, info.can_enter), ("Cup", 2, false));
}

#[test]
fn tournaments_list_by_category_and_time_with_a_cursor() {
    let (b, now) = boards();
    let t0 = now.load(Ordering::SeqCst);
    for i in 0..9u32 {
        let rules = TournamentRules {
            category: i % 3,
            start_time: t0 + i64::from(i) * 10,
            end_time: if i == 8 { 0 } else { t0 + 100_000 },
            duration: 50,
            ..Default::default()
        };
        b.create_tournament(tournament(&format!("t{i}"), rules)).unwrap();
    }
    b.create(LeaderboardConfig { id: "plain".into(), ..Default::default() }).unwrap();
    let ids = |f: &TournamentFilter| -> (Vec<String>, Option<String>) {
        let (list, cursor) = b.list_tournaments(f, None).unwrap();
        (list.iter().map(|t| t.id.clone()).collect(), cursor)
    };
    let all = TournamentFilter { limit: 4, ..Default::default() };
    let (first, cursor) = ids(&all);
    assert_eq!(first, ["t0", "t1", "t2", "t3"]);
    let (second, cursor) = ids(&TournamentFilter { cursor, ..all.clone() });
    assert_eq!(second, ["t4", "t5", "t6", "t7"]);
    let (third, cursor) = ids(&TournamentFilter { cursor, ..all.clone() });
    assert_eq!((third, cursor), (vec!["t8".to_string()], None));
    let cat1 = TournamentFilter { category_start: 1, category_end: 1, ..Default::default() };
    assert_eq!(ids(&cat1).0, ["t1", "t4", "t7"]);
    let later = TournamentFilter { start_time: Some(t0 + 55), end_time: Some(t0 + 100_000), ..Default::default() };
    assert_eq!(ids(&later).0, ["t6", "t7"]);
    assert_eq!(b.tournament("plain", None).unwrap_err().code, Code::NotFound);
    let bad = tournament("bad", TournamentRules { duration: 0, ..Default::default() });
    assert_eq!(b.create_tournament(bad).unwrap_err().code, Code::InvalidArgument);
}

#[test]
fn a_bracket_from_the_standings_seeds_the_leader_against_the_last() {
    let (b, _) = boards();
    b.create(LeaderboardConfig { id: "ladder".into(), sort_order: SortOrder::Descending, ..Default::default() })
        .unwrap();
    for i in 1..=6 {
        b.submit("ladder", &owner(i), "p", score(100 - i64::from(i))).unwrap();
    }
    let bracket: Bracket = b.bracket("ladder", 4).unwrap();
    let first = &bracket.rounds[0];
    assert_eq!((first[0].a.clone(), first[0].b.clone()), (Some(owner(1)), Some(owner(4))));
    assert_eq!((first[1].a.clone(), first[1].b.clone()), (Some(owner(2)), Some(owner(3))));
    let mut bracket = bracket;
    bracket.report(0, 0, &owner(4)).unwrap();
    bracket.report(0, 1, &owner(2)).unwrap();
    bracket.report(1, 0, &owner(4)).unwrap();
    assert_eq!(bracket.champion(), Some(owner(4).as_str()));
}

fn records(v: &Value, field: &str) -> Vec<(String, String, String)> {
    v[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["owner_id"].as_str().unwrap().into(),
                r["score"].as_str().unwrap().into(),
                r["rank"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn leaderboards_over_rest() {
    let api = start();
    api.kaos.leaderboards().create(LeaderboardConfig { id: "weekly".into(), ..Default::default() }).unwrap();
    let authoritative = LeaderboardConfig { id: "server".into(), authoritative: true, ..Default::default() };
    api.kaos.leaderboards().create(authoritative).unwrap();
    let players: Vec<Value> = (0..5).map(|i| session(&api, &format!("device-lb-{i}"), &format!("lb{i}"))).collect();
    for (i, p) in players.iter().enumerate() {
        // Scores as a string (the API's int64) and as a number (what nakama-js sends).
        let body =
            if i % 2 == 0 { json!({"score": (i * 10).to_string(), "subscore": "1"}) } else { json!({"score": i * 10}) };
        let (status, r) = call(&api, "POST", "/v2/leaderboard/weekly", &bearer(&p["token"]), &body.to_string());
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["username"], json!(format!("lb{i}")));
    }
    let me = &players[0];
    let (status, list) = call(
        &api,
        "GET",
        &format!("/v2/leaderboard/weekly?limit=2&owner_ids={}", user_id(me)),
        &bearer(&me["token"]),
        "",
    );
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        records(&list, "records"),
        [(user_id(&players[4]), "40".into(), "1".into()), (user_id(&players[3]), "30".into(), "2".into())]
    );
    assert_eq!(records(&list, "owner_records"), [(user_id(me), "0".into(), "5".into())]);
    assert_eq!(list["rank_count"], json!("5"));
    let cursor = list["next_cursor"].as_str().unwrap();
    let (_, next) =
        call(&api, "GET", &format!("/v2/leaderboard/weekly?limit=2&cursor={cursor}"), &bearer(&me["token"]), "");
    assert_eq!(records(&next, "records").iter().map(|r| r.2.as_str()).collect::<Vec<_>>(), ["3", "4"]);

    let (_, around) = call(
        &api,
        "GET",
        &format!("/v2/leaderboard/weekly/owner/{}?limit=3", user_id(&players[2])),
        &bearer(&me["token"]),
        "",
    );
    assert_eq!(records(&around, "records").iter().map(|r| r.2.as_str()).collect::<Vec<_>>(), ["2", "3", "4"]);

    // An operator override (incr) from the client, then the record is deleted.
    let incr = json!({"score": "5", "operator": "INCREMENT"}).to_string();
    let (_, r) = call(&api, "POST", "/v2/leaderboard/weekly", &bearer(&me["token"]), &incr);
    assert_eq!(r["score"], json!("5"));
    let (status, _) = call(&api, "DELETE", "/v2/leaderboard/weekly", &bearer(&me["token"]), "");
    assert_eq!(status, 200);
    assert_eq!(api.kaos.leaderboards().rank_count("weekly").unwrap(), 4);

    // Refusals.
    let auth = bearer(&me["token"]);
    let refused = [
        ("/v2/leaderboard/server", json!({"score": "1"}), 403),
        ("/v2/leaderboard/nope", json!({"score": "1"}), 404),
        ("/v2/leaderboard/weekly", json!({"score": "99999999999999999999"}), 400),
        ("/v2/leaderboard/weekly", json!({"score": "1", "operator": 9}), 400),
        ("/v2/leaderboard/weekly", json!({"score": "1", "metadata": "not json"}), 400),
    ];
    for (path, body, want) in refused {
        let (status, err) = call(&api, "POST", path, &auth, &body.to_string());
        assert_eq!(status, want, "{path} {body}: {err}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(api.kaos.leaderboards().rank_count("weekly").unwrap(), 4, "a refused write was kept");
    assert_eq!(call(&api, "GET", "/v2/leaderboard/weekly?limit=0", &auth, "").0, 400);
    assert_eq!(call(&api, "GET", "/v2/leaderboard/weekly?cursor=xyz", &auth, "").0, 400);
    assert_eq!(call(&api, "GET", "/v2/leaderboard/weekly", "", "").0, 401);
}

#[test]
fn tournaments_over_rest() {
    let api = start();
    let now = api.kaos.accounts().now();
    let rules = TournamentRules {
        title: "Open".into(),
        category: 7,
        start_time: now - 10,
        end_time: now + 3_600,
        duration: 3_600,
        max_size: 10,
        join_required: true,
        ..Default::default()
    };
    api.kaos.leaderboards().create_tournament(tournament("open", rules)).unwrap();
    let p = session(&api, "device-tour-1", "tour1");
    let auth = bearer(&p["token"]);
    let (status, list) = call(&api, "GET", "/v2/tournament?category_start=7&category_end=7", &auth, "");
    assert_eq!(status, 200, "{list}");
    let t = &list["tournaments"][0];
    assert_eq!((t["id"].clone(), t["can_enter"].clone(), t["size"].clone()), (json!("open"), json!(true), json!(0)));
    assert_eq!(call(&api, "POST", "/v2/tournament/open", &auth, r#"{"score":"3"}"#).0, 400, "wrote before joining");
    assert_eq!(call(&api, "POST", "/v2/tournament/open/join", &auth, "").0, 200);
    let (status, r) = call(&api, "PUT", "/v2/tournament/open", &auth, r#"{"score":"3"}"#);
    assert_eq!((status, r["score"].clone(), r["num_score"].clone()), (200, json!("3"), json!(1)));
    let (_, list) = call(&api, "GET", "/v2/tournament/open?limit=5", &auth, "");
    assert_eq!(records(&list, "records"), [(user_id(&p), "3".into(), "1".into())]);
    assert!(list["records"][0]["expiry_time"].is_string());
    let (_, around) = call(&api, "GET", &format!("/v2/tournament/open/owner/{}", user_id(&p)), &auth, "");
    assert_eq!(around["records"].list().len(), 1);
    assert_eq!(call(&api, "POST", "/v2/tournament/nope/join", &auth, "").0, 404);
    // A tournament is not written through the leaderboard route.
    assert_eq!(call(&api, "POST", "/v2/leaderboard/open", &auth, r#"{"score":"3"}"#).0, 400);
}
