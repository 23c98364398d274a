//! Leaderboards through the Rust API on every store: order, operators, ranks, pages and
//! cursors, records around an owner, cron resets on an injected clock, persistence across
//! a restart, and bad input that leaves records as they were.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use kaosnet::leaderboards::{LeaderboardConfig, Leaderboards, Operator, SortOrder, Submission};
use kaosnet::store::{MemoryStore, SqliteStore, Store};
use kaosnet::Code;

fn owner(i: u32) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn score(score: i64) -> Submission {
    Submission { score, ..Default::default() }
}

fn stores() -> Vec<Arc<dyn Store>> {
    vec![Arc::new(MemoryStore::new()), Arc::new(SqliteStore::in_memory().unwrap())]
}

fn board(boards: &Leaderboards, id: &str, sort_order: SortOrder, operator: Operator) {
    let config = LeaderboardConfig { id: id.into(), sort_order, operator, ..Default::default() };
    assert!(boards.create(config).unwrap());
}

fn top(boards: &Leaderboards, id: &str, n: usize) -> Vec<(String, i64, u64)> {
    boards.get_page(id, n, None).unwrap().records.into_iter().map(|r| (r.owner_id, r.score, r.rank)).collect()
}

#[test]
fn records_rank_by_score_then_subscore_in_the_board_order() {
    for store in stores() {
        let boards = Leaderboards::with_store(store);
        board(&boards, "desc", SortOrder::Descending, Operator::Set);
        board(&boards, "asc", SortOrder::Ascending, Operator::Set);
        for (i, s, sub) in [(1, 50, 0), (2, 70, 0), (3, 50, 9), (4, 10, 0)] {
            let sub = Submission { score: s, subscore: sub, ..Default::default() };
            boards.submit("desc", &owner(i), &format!("u{i}"), sub.clone()).unwrap();
            boards.submit("asc", &owner(i), &format!("u{i}"), sub).unwrap();
        }
        assert_eq!(
            top(&boards, "desc", 10),
            [(owner(2), 70, 1), (owner(3), 50, 2), (owner(1), 50, 3), (owner(4), 10, 4)]
        );
        assert_eq!(
            top(&boards, "asc", 10),
            [(owner(4), 10, 1), (owner(1), 50, 2), (owner(3), 50, 3), (owner(2), 70, 4)]
        );
        let r = boards.get_record("desc", &owner(3)).unwrap().unwrap();
        assert_eq!((r.rank, r.subscore, r.username.as_str(), r.num_score, r.expiry_time), (2, 9, "u3", 1, 0));
        assert_eq!(boards.rank_count("desc").unwrap(), 4);
        assert_eq!(boards.get_record("desc", &owner(9)).unwrap(), None);
    }
}

#[test]
fn operators_combine_submissions_and_overflow_changes_nothing() {
    for store in stores() {
        let boards = Leaderboards::with_store(store);
        board(&boards, "best", SortOrder::Descending, Operator::Best);
        board(&boards, "best-asc", SortOrder::Ascending, Operator::Best);
        board(&boards, "incr", SortOrder::Descending, Operator::Increment);
        board(&boards, "decr", SortOrder::Descending, Operator::Decrement);
        let me = owner(1);
        for s in [40, 90, 60] {
            boards.submit("best", &me, "me", score(s)).unwrap();
            boards.submit("best-asc", &me, "me", score(s)).unwrap();
            boards.submit("incr", &me, "me", score(s)).unwrap();
            boards.submit("decr", &me, "me", score(s)).unwrap();
        }
        let get = |id: &str| boards.get_record(id, &me).unwrap().unwrap();
        assert_eq!((get("best").score, get("best").num_score), (90, 3));
        assert_eq!(get("best-asc").score, 40);
        assert_eq!(get("incr").score, 190);
        // The first submission sets; the later ones subtract.
        assert_eq!(get("decr").score, 40 - 90 - 60);
        // An override for one submission.
        let set = Submission { score: 5, operator: Some(Operator::Set), ..Default::default() };
        assert_eq!(boards.submit("best", &me, "me", set).unwrap().score, 5);

        let before = get("incr");
        let err = boards.submit("incr", &me, "me", score(i64::MAX)).unwrap_err();
        assert_eq!(err.code, Code::InvalidArgument);
        assert_eq!(get("incr"), before, "a refused submission changed the record");
        // Metadata: a JSON object or nothing; kept when a submission has none.
        let with_meta = Submission { score: 1, metadata: Some(r#"{"car":"red"}"#.into()), ..Default::default() };
        boards.submit("incr", &me, "me", with_meta).unwrap();
        boards.submit("incr", &me, "me", score(1)).unwrap();
        assert_eq!(get("incr").metadata, r#"{"car":"red"}"#);
        let bad_meta = Submission { score: 1, metadata: Some("[1]".into()), ..Default::default() };
        assert_eq!(boards.submit("incr", &me, "me", bad_meta).unwrap_err().code, Code::InvalidArgument);
    }
}

#[test]
fn bad_writes_get_clear_errors() {
    let boards = Leaderboards::with_store(Arc::new(MemoryStore::new()));
    board(&boards, "b", SortOrder::Descending, Operator::Best);
    assert_eq!(boards.submit("nope", &owner(1), "x", score(1)).unwrap_err().code, Code::NotFound);
    assert_eq!(boards.submit("b", "not-a-uuid", "x", score(1)).unwrap_err().code, Code::InvalidArgument);
    assert!(!boards.create(LeaderboardConfig { id: "b".into(), ..Default::default() }).unwrap());
    let bad_cron =
        LeaderboardConfig { id: "c".into(), reset_schedule: Some("61 * * * *".into()), ..Default::default() };
    assert_eq!(boards.create(bad_cron).unwrap_err().code, Code::InvalidArgument);
    assert_eq!(boards.get_page("b", 5, Some("garbage")).unwrap_err().code, Code::InvalidArgument);
    assert!(boards.delete("b").unwrap());
    assert_eq!(boards.get_page("b", 5, None).unwrap_err().code, Code::NotFound);
}

#[test]
fn pages_and_cursors_visit_every_record_once_in_order() {
    let boards = Leaderboards::with_store(Arc::new(MemoryStore::new()));
    board(&boards, "b", SortOrder::Descending, Operator::Set);
    for i in 0..50 {
        // Some ties, broken by owner.
        boards.submit("b", &owner(i), "u", score(i64::from(i / 3))).unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = Vec::new();
    loop {
        let page = boards.get_page("b", 7, cursor.as_deref()).unwrap();
        assert_eq!(page.rank_count, 50);
        seen.extend(page.records.iter().map(|r| (r.rank, r.owner_id.clone())));
        pages.push(page.clone());
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 50);
    assert_eq!(seen.iter().map(|(rank, _)| *rank).collect::<Vec<_>>(), (1..=50).collect::<Vec<_>>());
    let mut owners: Vec<_> = seen.iter().map(|(_, o)| o.clone()).collect();
    owners.sort();
    owners.dedup();
    assert_eq!(owners.len(), 50);
    // The third page's previous cursor leads back to the second page.
    let back = boards.get_page("b", 7, pages[2].prev_cursor.as_deref()).unwrap();
    assert_eq!(back.records, pages[1].records);
    assert!(pages[0].prev_cursor.is_none());
}

#[test]
fn records_around_an_owner_center_on_them_within_the_board() {
    let boards = Leaderboards::with_store(Arc::new(MemoryStore::new()));
    board(&boards, "b", SortOrder::Descending, Operator::Set);
    for i in 1..=100 {
        // Owner i has rank i.
        boards.submit("b", &owner(i), "u", score(1_000 - i64::from(i))).unwrap();
    }
    let ranks = |o: u32, n: usize| -> Vec<u64> {
        boards.get_around("b", &owner(o), n).unwrap().iter().map(|r| r.rank).collect()
    };
    assert_eq!(ranks(50, 5), [48, 49, 50, 51, 52]);
    assert_eq!(ranks(2, 5), [1, 2, 3, 4, 5]);
    assert_eq!(ranks(100, 5), [96, 97, 98, 99, 100]);
    assert_eq!(ranks(50, 1), [50]);
    assert_eq!(ranks(7, 500).len(), 100);
    assert!(boards.get_around("b", &owner(777), 5).unwrap().is_empty());
}

static NOW: AtomicI64 = AtomicI64::new(0);

#[test]
fn a_daily_board_resets_at_midnight_and_keeps_the_old_period_in_the_store() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let day = 20_000 * 86_400; // a midnight, UTC
    NOW.store(day + 86_400 - 60, Ordering::SeqCst); // 23:59
    let boards = Leaderboards::with_clock(store.clone(), Arc::new(|| NOW.load(Ordering::SeqCst)));
    let daily =
        LeaderboardConfig { id: "daily".into(), reset_schedule: Some("0 0 * * *".into()), ..Default::default() };
    boards.create(daily).unwrap();
    let r = boards.submit("daily", &owner(1), "ana", score(10)).unwrap();
    assert_eq!(r.expiry_time, day + 86_400);
    boards.submit("daily", &owner(2), "bo", score(20)).unwrap();
    assert_eq!(boards.rank_count("daily").unwrap(), 2);

    NOW.store(day + 86_400 - 1, Ordering::SeqCst);
    assert_eq!(boards.rank_count("daily").unwrap(), 2, "reset before the boundary");
    NOW.store(day + 86_400, Ordering::SeqCst);
    assert_eq!(boards.rank_count("daily").unwrap(), 0, "no reset at the boundary");
    assert!(boards.get_record("daily", &owner(1)).unwrap().is_none());
    let fresh = boards.submit("daily", &owner(1), "ana", score(3)).unwrap();
    assert_eq!((fresh.score, fresh.num_score, fresh.rank, fresh.expiry_time), (3, 1, 1, day + 2 * 86_400));
    let old = boards.get_period("daily", day + 86_400, 10, 0).unwrap();
    assert_eq!(
        old.iter().map(|r| (r.owner_id.clone(), r.score, r.rank)).collect::<Vec<_>>(),
        [(owner(2), 20, 1), (owner(1), 10, 2)]
    );

    // A server started later (a new Leaderboards on the same store) sees the same.
    let again = Leaderboards::with_clock(store, Arc::new(|| NOW.load(Ordering::SeqCst)));
    assert_eq!(again.get_record("daily", &owner(1)).unwrap().unwrap().score, 3);
    assert_eq!(again.rank_count("daily").unwrap(), 1);
}

#[test]
fn records_survive_a_restart_of_the_server_and_the_database() {
    let path = std::env::temp_dir().join(format!("kaos-lb-{}.db", std::process::id()));
    {
        let boards = Leaderboards::with_store(Arc::new(SqliteStore::open(&path).unwrap()));
        board(&boards, "b", SortOrder::Ascending, Operator::Best);
        for i in 0..30 {
            boards.submit("b", &owner(i), &format!("u{i}"), score(i64::from(i * 7 % 30))).unwrap();
        }
        assert!(boards.delete_record("b", &owner(3)).unwrap());
    }
    let boards = Leaderboards::with_store(Arc::new(SqliteStore::open(&path).unwrap()));
    let page = boards.get_page("b", 100, None).unwrap();
    assert_eq!(page.rank_count, 29);
    let scores: Vec<i64> = page.records.iter().map(|r| r.score).collect();
    let mut sorted = scores.clone();
    sorted.sort();
    assert_eq!(scores, sorted);
    assert!(boards.get_record("b", &owner(3)).unwrap().is_none());
    assert_eq!(boards.get_record("b", &owner(4)).unwrap().unwrap().username, "u4");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[test]
fn concurrent_submissions_all_land_in_memory_and_in_the_store() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let boards = Arc::new(Leaderboards::with_store(store.clone()));
    board(&boards, "b", SortOrder::Descending, Operator::Increment);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let boards = boards.clone();
            std::thread::spawn(move || {
                for i in 0..200u32 {
                    boards.submit("b", &owner(i % 20), "u", score(i64::from(t + 1))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Each owner got 10 submissions from each thread: 10 * (1 + ... + 8) = 360.
    let page = boards.get_page("b", 100, None).unwrap();
    assert_eq!(page.records.len(), 20);
    assert!(page.records.iter().all(|r| r.score == 360 && r.num_score == 80));
    let reloaded = Leaderboards::with_store(store);
    assert_eq!(reloaded.get_page("b", 100, None).unwrap().records, page.records);
}

#[test]
fn a_client_listing_has_its_rules_in_the_service_for_every_caller() {
    use kaosnet::leaderboards::RecordsRequest;
    for store in stores() {
        let boards = Leaderboards::with_store(store);
        board(&boards, "l", SortOrder::Descending, Operator::Best);
        for i in 1..=15 {
            boards.submit("l", &owner(i), &format!("p{i}"), score(i64::from(i))).unwrap();
        }
        // No limit and no owners: the default page of 10, with a cursor to the rest.
        let list = boards.list_records("l", RecordsRequest::default()).unwrap();
        assert_eq!((list.records.len(), list.rank_count, list.next_cursor.is_some()), (10, 15, true));
        assert_eq!(list.records[0].owner_id, owner(15));
        // Owners only: their records, no page.
        let mine = RecordsRequest { owner_ids: vec![owner(3), owner(9)], ..Default::default() };
        let list = boards.list_records("l", mine).unwrap();
        assert!(list.records.is_empty());
        assert_eq!(list.owner_records.iter().map(|r| r.score).collect::<Vec<_>>(), vec![3, 9], "as named");
        // What no caller may ask.
        let too_many = RecordsRequest { owner_ids: (0..101).map(owner).collect(), ..Default::default() };
        assert_eq!(boards.list_records("l", too_many).unwrap_err().code, Code::InvalidArgument);
        for limit in [0, 10_001] {
            let bad = RecordsRequest { limit: Some(limit), ..Default::default() };
            assert_eq!(boards.list_records("l", bad).unwrap_err().code, Code::InvalidArgument, "limit {limit}");
            assert!(boards.list_records_around("l", &owner(1), Some(limit), None).is_err());
        }
        let (around, count) = boards.list_records_around("l", &owner(8), Some(3), None).unwrap();
        assert_eq!((around.iter().map(|r| r.score).collect::<Vec<_>>(), count), (vec![9, 8, 7], 15));
    }
}

#[test]
fn added_tournament_attempts_hold_and_are_kept() {
    use kaosnet::leaderboards::{TournamentConfig, TournamentRules};
    for store in stores() {
        let boards = Leaderboards::with_store(store.clone());
        let rules = TournamentRules { duration: 3600, max_num_score: 1, ..Default::default() };
        let cup = LeaderboardConfig { id: "cup".into(), ..Default::default() };
        boards.create_tournament(TournamentConfig { board: cup, rules }).unwrap();
        assert_eq!(boards.add_tournament_attempts("cup", &owner(1), 1).unwrap(), None, "no record yet");
        boards.submit_tournament("cup", &owner(1), "one", score(5)).unwrap();
        let refused = boards.submit_tournament("cup", &owner(1), "one", score(6)).unwrap_err();
        assert_eq!(refused.message, "Maximum number of score attempts reached.");
        let record = boards.add_tournament_attempts("cup", &owner(1), 2).unwrap().unwrap();
        assert_eq!((record.max_num_score, record.num_score), (3, 1));
        assert_eq!(boards.add_tournament_attempts("cup", &owner(1), 0).unwrap_err().code, Code::InvalidArgument);
        boards.submit_tournament("cup", &owner(1), "one", score(7)).unwrap();
        // Read back from the store by boards that start afresh.
        let again = Leaderboards::with_store(store);
        let kept = again.get_record("cup", &owner(1)).unwrap().unwrap();
        assert_eq!((kept.max_num_score, kept.num_score, kept.score), (3, 2, 7));
        again.submit_tournament("cup", &owner(1), "one", score(8)).unwrap();
        assert!(again.submit_tournament("cup", &owner(1), "one", score(9)).is_err());
    }
}
