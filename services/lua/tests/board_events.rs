//! Board resets and tournament ends reach the Lua functions registered for them, with
//! Nakama's arguments.

use std::sync::Arc;

use kaos_lua::{LuaRuntime, RuntimeConfig};
use kaosnet::leaderboards::{LeaderboardConfig, TournamentConfig, TournamentRules};
use kaosnet::store::MemoryStore;
use kaosnet::{ApiConfig, KaosNet};

const MODULE: &str = r#"
local nk = require("nakama")
local SYSTEM = "00000000-0000-0000-0000-000000000000"
local function note(key, value)
    local seen = kaos.storage_get(SYSTEM, "board_events", key) or { list = {} }
    seen.list[#seen.list + 1] = value
    kaos.storage_set(SYSTEM, "board_events", key, seen)
end
nk.register_leaderboard_reset(function(ctx, leaderboard, reset)
    note("leaderboard_reset", { id = leaderboard.id, reset = reset, mode = ctx.execution_mode, sort = leaderboard.sort_order })
end)
nk.register_tournament_reset(function(ctx, tournament, end_time, reset)
    note("tournament_reset", { id = tournament.id, title = tournament.title, end_time = end_time, reset = reset })
end)
nk.register_tournament_end(function(ctx, tournament, end_time, reset)
    note("tournament_end", { id = tournament.id, end_time = end_time, reset = reset })
end)
"#;

#[test]
fn resets_and_ends_reach_the_registered_functions() {
    let dir = std::env::temp_dir().join(format!("kaos-lua-boards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("boards.lua"), MODULE).unwrap();
    let kaos = KaosNet::new(Arc::new(MemoryStore::new()), ApiConfig::default(), Default::default());
    let runtime = LuaRuntime::start(&kaos, RuntimeConfig { path: dir.clone(), ..RuntimeConfig::default() }).unwrap();
    let now = kaos.accounts().now();
    let daily = Some("0 0 * * *".to_string());
    kaos.leaderboards()
        .create(LeaderboardConfig { id: "daily".into(), reset_schedule: daily.clone(), ..Default::default() })
        .unwrap();
    let rules = TournamentRules {
        title: "Cup".into(),
        start_time: now,
        end_time: now + 86_400 + 3_600,
        duration: 3_600,
        ..Default::default()
    };
    let cup = LeaderboardConfig { id: "cup".into(), reset_schedule: daily, ..Default::default() };
    kaos.leaderboards().create_tournament(TournamentConfig { board: cup, rules }).unwrap();

    // A little over a day: one or two midnights, then the cup's end.
    let events = kaos.leaderboards().events_between(now, now + 86_400 + 3_600).unwrap();
    runtime.dispatch_board_events(&events);
    let read = |key: &str| -> serde_json::Value {
        let o = kaos.storage().get("00000000-0000-0000-0000-000000000000", "board_events", key).unwrap();
        serde_json::from_str::<serde_json::Value>(&o.expect(key).value).unwrap()["list"].clone()
    };
    let resets = read("leaderboard_reset");
    let midnights = resets.as_array().unwrap().len();
    assert!((1..=2).contains(&midnights), "{resets}");
    assert_eq!(resets[0]["id"], "daily");
    assert_eq!(resets[0]["mode"], "leaderboard_reset");
    assert_eq!(resets[0]["sort"], "desc");
    assert_eq!(resets[0]["reset"].as_i64().unwrap() % 86_400, 0, "a midnight");
    let cup_resets = read("tournament_reset");
    assert_eq!(cup_resets[0]["title"], "Cup");
    assert_eq!(cup_resets[0]["end_time"], now + 86_400 + 3_600);
    let ended = read("tournament_end");
    assert_eq!(ended.as_array().unwrap().len(), 1);
    assert_eq!(ended[0]["reset"], now + 86_400 + 3_600);
    let _ = std::fs::remove_dir_all(&dir);
}
