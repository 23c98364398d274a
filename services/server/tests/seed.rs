//! `kaos-server seed`, `migrate`, `check-config` and `--version`; after seeding, the
//! REST API and the console show the sample data, on SQLite and (with the `postgres`
//! feature and `KAOS_TEST_POSTGRES`) on PostgreSQL.

mod common;

use std::process::Command;

use common::console::{login, ADMIN_PASSWORD};
use common::{basic, bearer, call_at};
use kaos_server::config::{Config, Database};
use serde_json::{json, Value};

fn kaos_server(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kaos-server")).args(args).env_remove("KAOS_CONFIG").output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Seeds `database` twice (the second run changes nothing), then checks what a client and
/// an operator see.
fn seeded_data_shows_in_the_api_and_the_console(database: Database) {
    let config = Config { database, ..common::console::config() };
    for _ in 0..2 {
        let (kaos, _) = kaos_server::services(&config).unwrap();
        let seeded = kaos_server::seed::seed(&kaos).unwrap();
        assert_eq!((seeded.players, seeded.groups, seeded.records), (10, 3, 30));
    }
    let server = kaos_server::start(&config, |_| {}).unwrap();
    // A client: ProGamer42 signs in with the seeded device and reads the boards.
    let path = "/v2/account/authenticate/device?create=false";
    let body = json!({"id": "seed-device-ProGamer42"}).to_string();
    let (status, session) = call_at(server.addr, "POST", path, &basic("defaultkey"), &body);
    assert_eq!(status, 200, "{session}");
    let me = bearer(&session["token"]);
    for board in kaos_server::seed::BOARDS {
        let (status, records) = call_at(server.addr, "GET", &format!("/v2/leaderboard/{board}?limit=20"), &me, "");
        let records = records["records"].as_array().unwrap().clone();
        assert_eq!((status, records.len()), (200, 10), "{board}");
        assert_eq!(records[0]["username"], "ProGamer42");
    }
    let (_, friends) = call_at(server.addr, "GET", "/v2/friend", &me, "");
    assert_eq!(friends["friends"].as_array().unwrap().len(), 1, "{friends}");
    let (_, notes) = call_at(server.addr, "GET", "/v2/notification?limit=100", &me, "");
    let welcomes = notes["notifications"].as_array().unwrap().iter().filter(|n| n["code"] == 100).count();
    assert_eq!(welcomes, 1, "seeding twice sends one welcome: {notes}");
    let (_, groups) = call_at(server.addr, "GET", "/v2/group?name=Elite%25&limit=10", &me, "");
    assert_eq!(groups["groups"][0]["name"], "Elite Gamers", "{groups}");
    let (_, tournaments) = call_at(server.addr, "GET", "/v2/tournament", &me, "");
    assert!(tournaments.to_string().contains("weekend_cup"), "{tournaments}");
    // An operator: the players, boards and storage in the console.
    let console = server.console_addr.unwrap();
    let admin = bearer(&login(console, "admin", ADMIN_PASSWORD).1["token"]);
    let (_, found) = call_at(console, "GET", "/v2/console/account?q=SpeedRunner", &admin, "");
    let player: Value = found["accounts"][0].clone();
    assert_eq!(player["username"], "SpeedRunner");
    assert!(player["wallet"]["coins"].as_i64().unwrap() > 0, "{player}");
    let (_, page) = call_at(console, "GET", "/v2/console/account?limit=6", &admin, "");
    let cursor = page["cursor"].as_str().unwrap();
    let (_, rest) = call_at(console, "GET", &format!("/v2/console/account?limit=6&cursor={cursor}"), &admin, "");
    let listed = page["accounts"].as_array().unwrap().len() + rest["accounts"].as_array().unwrap().len();
    assert_eq!((listed, &rest["cursor"]), (10, &Value::Null), "every account, paged: {rest}");
    let (_, boards) = call_at(console, "GET", "/v2/console/leaderboard", &admin, "");
    assert_eq!(boards["leaderboards"].as_array().unwrap().len(), 4, "3 boards and the tournament: {boards}");
    let (_, profiles) = call_at(console, "GET", "/v2/console/storage?collection=profiles", &admin, "");
    assert_eq!(profiles["objects"].as_array().unwrap().len(), 10);
    server.shutdown();
    server.wait().unwrap();
}

#[test]
fn seeding_sqlite_shows_in_the_api_and_the_console() {
    let dir = std::env::temp_dir().join(format!("kaos-seed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    seeded_data_shows_in_the_api_and_the_console(Database::Sqlite(dir.join("kaos.db")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "postgres")]
#[test]
fn seeding_postgresql_shows_in_the_api_and_the_console() {
    let Ok(base) = std::env::var("KAOS_TEST_POSTGRES") else {
        assert!(std::env::var_os("KAOS_REQUIRE_POSTGRES").is_none(), "KAOS_TEST_POSTGRES is not set");
        eprintln!("skipped: KAOS_TEST_POSTGRES is not set");
        return;
    };
    let schema = common::postgres::Schema::create(&base, &format!("kaos_seed_{}", std::process::id()));
    seeded_data_shows_in_the_api_and_the_console(Database::Postgres(format!(
        "{base} options='-c search_path={}'",
        schema.name
    )));
}

#[test]
fn the_binary_migrates_seeds_checks_its_configuration_and_says_its_version() {
    let dir = std::env::temp_dir().join(format!("kaos-seed-bin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let database = format!("sqlite:{}", dir.join("kaos.db").display());
    let (ok, out) = kaos_server(&["--database", &database, "migrate"]);
    assert!(ok && out.contains("up to date"), "{out}");
    let (ok, out) = kaos_server(&["--database", &database, "seed"]);
    assert!(ok && out.contains("10 players, 3 groups, 30 leaderboard records"), "{out}");
    let (ok, out) = kaos_server(&["--database", &database, "--server-key", "s3cret", "check-config"]);
    assert!(ok && out.contains("server key: set") && !out.contains("s3cret"), "{out}");
    assert!(out.contains("http key: the public default"), "{out}");
    let (ok, out) = kaos_server(&["--socket-threads", "99", "check-config"]);
    assert!(!ok && out.contains("socket_threads must be 1 to 15"), "{out}");
    let (ok, out) = kaos_server(&["--version"]);
    assert!(ok && out.contains(env!("CARGO_PKG_VERSION")), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
