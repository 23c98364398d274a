//! A server with the console on, signed-in console users of each role, and a match the
//! console can signal and inspect.

use kaos_server::config::{Config, Database};
use serde_json::{json, Value};

use super::{bearer, call_at};

pub const ADMIN_PASSWORD: &str = "console-test-admin-pw";

/// Free loopback ports, the console on with `admin`'s password set, memory storage.
pub fn config() -> Config {
    Config {
        address: "127.0.0.1".into(),
        port: 0,
        rudp_port: None,
        console_port: Some(0),
        database: Database::Memory,
        admin_password: Some(ADMIN_PASSWORD.into()),
        ..Config::default()
    }
}

pub fn serve() -> kaos_server::Running {
    kaos_server::start(&config(), |kaos| kaos.matches().register("console_room", || Box::new(Room))).unwrap()
}

/// A match that answers signals.
pub struct Room;

impl kaosnet::MatchHandler for Room {
    fn init(&mut self, _: &kaosnet::matches::MatchContext, _: &Value) -> Result<kaosnet::matches::MatchInit, String> {
        Ok(kaosnet::matches::MatchInit { tick_rate: 1, label: r#"{"kind":"console"}"#.into() })
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

    fn signal(
        &mut self,
        _: &kaosnet::matches::MatchContext,
        _: &mut kaosnet::matches::Dispatcher<'_>,
        _: u64,
        data: &str,
    ) -> Result<String, String> {
        Ok(format!("pong:{data}"))
    }

    fn state(&mut self, _: &kaosnet::matches::MatchContext) -> Value {
        json!({"round": 3})
    }
}

/// A developer and a readonly console user, made by `admin`, signed in: their tokens.
pub fn team(console: std::net::SocketAddr, admin: &str, dev: &str, viewer: &str) -> (String, String) {
    for (name, role) in [(dev, "developer"), (viewer, "readonly")] {
        let user = json!({"username": name, "password": "long-enough-pw", "role": role}).to_string();
        assert_eq!(call_at(console, "POST", "/v2/console/user", admin, &user).0, 200);
    }
    let token = |name: &str| bearer(&login(console, name, "long-enough-pw").1["token"]);
    (token(dev), token(viewer))
}

pub fn login(console: std::net::SocketAddr, user: &str, password: &str) -> (u16, Value) {
    call_at(
        console,
        "POST",
        "/v2/console/authenticate",
        "",
        &json!({"username": user, "password": password}).to_string(),
    )
}
