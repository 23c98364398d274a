//! What clients and configs hand the leaderboards as text: list cursors (decoded on every
//! page request) and 5-field cron schedules. Neither may panic; a cursor either pages or
//! is refused as invalid, and a schedule that parses finds its next time after the one
//! given, or none.
#![no_main]

use std::sync::{Arc, OnceLock};

use kaosnet::leaderboards::cron::Cron;
use kaosnet::leaderboards::{LeaderboardConfig, Leaderboards, Submission};
use kaosnet::store::MemoryStore;
use libfuzzer_sys::fuzz_target;

fn boards() -> &'static Leaderboards {
    static B: OnceLock<Leaderboards> = OnceLock::new();
    B.get_or_init(|| {
        let boards = Leaderboards::with_store(Arc::new(MemoryStore::new()));
        boards.create(LeaderboardConfig { id: "b".into(), ..Default::default() }).unwrap();
        for i in 0..20u32 {
            let owner = format!("00000000-0000-4000-8000-{i:012}");
            boards.submit("b", &owner, "p", Submission { score: i64::from(i % 7), ..Default::default() }).unwrap();
        }
        boards
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(page) = boards().get_page("b", 5, Some(text)) {
        assert!(page.records.len() <= 5);
        assert!(page.records.windows(2).all(|w| w[0].rank + 1 == w[1].rank));
    }
    if let Ok(cron) = Cron::parse(text) {
        let after = i64::from(data.len() as u32) * 86_400 * 37;
        if let Some(next) = cron.next_after(after) {
            assert!(next > after && next % 60 == 0);
        }
    }
});
