//! `kaos-server seed`: the seed's sample data, written through the services (so on
//! SQLite, PostgreSQL or memory alike), and safe to run again: players sign in by device
//! (made once), boards and groups are made if absent, records and objects are replaced.
//!
//! - 10 players (ProGamer42, CasualPlayer, SpeedRunner, …), each with a device id
//!   `seed-device-<name>`, a wallet and a profile in storage;
//! - 3 groups (Elite Gamers, Casual Crew, Speed Run Masters) with members;
//! - records on `kaos_io_highscores`, `weekly_scores` (resets Mondays) and
//!   `asteroids_highscores`, and a tournament `weekend_cup`;
//! - friendships, and a welcome notification for each player.

use kaosnet::leaderboards::{Submission, TournamentConfig, TournamentRules};
use kaosnet::{ApiError, DeviceAuthRequest, KaosNet, LeaderboardConfig};
use serde_json::json;

pub const PLAYERS: [&str; 10] = [
    "ProGamer42",
    "CasualPlayer",
    "SpeedRunner",
    "NightOwl",
    "PixelQueen",
    "LagSlayer",
    "NoobMaster",
    "ComboKing",
    "StealthNinja",
    "RocketFuel",
];

pub const GROUPS: [(&str, &str); 3] =
    [("Elite Gamers", "Top players only."), ("Casual Crew", "Play for fun."), ("Speed Run Masters", "Faster, always.")];

/// The welcome notification's code (sent once per player).
const WELCOME: i32 = 100;

pub const BOARDS: [&str; 3] = ["kaos_io_highscores", "weekly_scores", "asteroids_highscores"];

/// What a seeding wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    pub players: usize,
    pub groups: usize,
    pub records: usize,
}

/// The games' boards are authoritative (only their servers write scores); the weekly
/// board takes clients' submissions.
fn board(id: &str, reset: Option<&str>) -> LeaderboardConfig {
    LeaderboardConfig {
        authoritative: id != "weekly_scores",
        reset_schedule: reset.map(str::to_string),
        ..LeaderboardConfig::high_scores(id)
    }
}

/// Writes the sample data (again, where it is there).
pub fn seed(kaos: &KaosNet) -> Result<Seeded, ApiError> {
    let mut ids = Vec::new();
    for (i, name) in PLAYERS.iter().enumerate() {
        let request = DeviceAuthRequest {
            device_id: format!("seed-device-{name}"),
            create: true,
            username: Some(name.to_string()),
        };
        let user = kaos.accounts().authenticate_device(request)?.user_id;
        let color = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4"][i % 5];
        let profile = json!({ "color": color, "high_score": 100 * (10 - i) });
        kaos.storage().set(&user, "profiles", "main", profile)?;
        kaos.storage().set(&user, "settings", "audio", json!({ "music": 0.6, "effects": 0.8 }))?;
        if kaos.accounts().account(&user)?.wallet == "{}" {
            let coins = [("coins".to_string(), 100 * (i as i64 + 1))].into();
            kaos.accounts().update_wallet(&user, &coins, &json!({ "reason": "seed" }), true)?;
        }
        ids.push((user, name.to_string()));
    }
    kaos.leaderboards().create(board(BOARDS[0], None))?;
    kaos.leaderboards().create(board(BOARDS[1], Some("0 0 * * 1")))?;
    kaos.leaderboards().create(board(BOARDS[2], None))?;
    let mut records = 0;
    for (i, (user, name)) in ids.iter().enumerate() {
        for (b, base) in [(BOARDS[0], 1000), (BOARDS[1], 500), (BOARDS[2], 20_000)] {
            let score = base - (i as i64) * base / 12;
            kaos.leaderboards().submit(b, user, name, Submission { score, ..Submission::default() })?;
            records += 1;
        }
    }
    let cup = TournamentConfig {
        board: board("weekend_cup", None),
        rules: TournamentRules {
            title: "Weekend Cup".into(),
            description: "Best score over the weekend.".into(),
            duration: 2 * 24 * 3600,
            ..TournamentRules::default()
        },
    };
    kaos.leaderboards().create_tournament(cup)?;
    let mut groups = 0;
    for (g, (name, description)) in GROUPS.iter().enumerate() {
        let (creator, _) = &ids[g];
        let existing = kaos.groups().list(
            &kaosnet::store::GroupFilter { name: Some(name.to_string()), ..Default::default() },
            1,
            None,
        )?;
        let id = match existing.items.first() {
            Some(group) => group.id.clone(),
            None => {
                let spec = kaosnet::groups::GroupSpec {
                    name: name.to_string(),
                    description: description.to_string(),
                    open: true,
                    ..Default::default()
                };
                kaos.groups().create(creator, spec)?.id
            }
        };
        // Every third player after the creator, in each group.
        let members: Vec<String> = ids.iter().skip(3 + g).step_by(3).map(|(u, _)| u.clone()).collect();
        kaos.groups().add(None, &id, &members)?;
        groups += 1;
    }
    // Friends: each player and the next, both ways (mutual).
    for pair in ids.windows(2) {
        let (a, b) = (&pair[0].0, &pair[1].0);
        kaos.friends().add(a, std::slice::from_ref(b), &[])?;
        kaos.friends().add(b, std::slice::from_ref(a), &[])?;
    }
    for (user, name) in &ids {
        if kaos.notifications().list(user, None, 100)?.iter().any(|n| n.code == WELCOME) {
            continue;
        }
        let welcome = kaosnet::notifications::Outgoing {
            user_id: user.clone(),
            subject: format!("Welcome, {name}!"),
            content: json!({ "message": "Thanks for trying KaosNet." }),
            code: WELCOME,
            sender_id: None,
            persistent: true,
        };
        kaos.notifications().send(welcome)?;
    }
    Ok(Seeded { players: ids.len(), groups, records })
}
