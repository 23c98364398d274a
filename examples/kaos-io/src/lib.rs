//! Kaos.io, an Agar.io-style game on KaosNet: the rules ([`game`]), an authoritative
//! match that runs them at 20 Hz ([`KaosIo`]), the RPC that finds a player a match, and
//! the web client's page (`web/index.html`, served on its own port; it speaks the
//! Nakama-compatible API itself).
//!
//! Match data (JSON in the data field):
//! - op 1, client to server: `{"x", "y"}`, the direction the player points (clamped);
//! - op 2, client to server: respawn after being eaten;
//! - op 10, server to everyone, each tick: `{"tick", "players": [[user_id, name, x, y,
//!   mass, color, alive]...], "food": [[x, y]...], "top": [[name, score]...]}` (the top is
//!   the all-time leaderboard `kaos_io_highscores`).
//!
//! A player's profile (`profiles`/`main`: color and high score) loads when they join and
//! is saved, with their score on the leaderboard, when they are eaten or leave.

pub mod game;

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use kaos_http::{Response, Router};
use kaosnet::leaderboards::Submission;
use kaosnet::matches::{Dispatcher, MatchContext, MatchInit, MatchMessage};
use kaosnet::realtime::tracker::Presence;
use kaosnet::{ApiError, KaosNet, LeaderboardConfig, MatchHandler};
use serde_json::{json, Value};

pub const LEADERBOARD: &str = "kaos_io_highscores";
pub const HANDLER: &str = "kaos_io";
pub const JOIN_RPC: &str = "kaos_io_join";
pub const TICK_RATE: u32 = 20;
/// Players one match takes before the join RPC starts another.
pub const MAX_PLAYERS: usize = 32;
const OP_INPUT: i64 = 1;
const OP_RESPAWN: i64 = 2;
pub const OP_STATE: i64 = 10;
const COLORS: [&str; 8] = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"];

/// Registers the match handler, the join RPC and the leaderboard on `kaos`.
pub fn register(kaos: &KaosNet) -> Result<(), ApiError> {
    // Only the match writes scores; a client cannot post one.
    kaos.leaderboards().create(LeaderboardConfig::high_scores(LEADERBOARD))?;
    let weak = kaos.weak();
    kaos.matches().register(HANDLER, move || Box::new(KaosIo::new(weak.clone())));
    let weak = kaos.weak();
    kaos.rpcs().register(JOIN_RPC, move |_, _| {
        let kaos = weak.upgrade().ok_or_else(|| ApiError::invalid("shutting down"))?;
        // The fullest match with room, so players meet rather than spread out.
        let open = kaos
            .matches()
            .list()
            .into_iter()
            .filter(|m| m.handler_name == HANDLER && m.size < MAX_PLAYERS)
            .max_by_key(|m| m.size);
        match open {
            Some(m) => Ok(m.match_id),
            None => kaos.matches().create(&kaos, HANDLER, &Value::Null),
        }
    });
    Ok(())
}

/// `kaos-io-server`'s command line: kaos-server's flags, the web client's port.
#[derive(Debug, clap::Parser)]
#[command(name = "kaos-io-server", version, about = "Kaos.io: an Agar.io-style game on KaosNet")]
pub struct Cli {
    /// The web client's port.
    #[arg(long, env = "KAOS_IO_WEB_PORT", default_value_t = 8080)]
    pub web_port: u16,
    /// Reads the configuration, prints it (no secrets) and exits.
    #[arg(long)]
    pub check_config: bool,
    #[command(flatten)]
    pub server: kaos_server::config::Args,
}

/// A running game: KaosNet's services (as kaos-server runs them) and the web client.
#[derive(Debug)]
pub struct Running {
    pub server: kaos_server::Running,
    /// Where the web client is served.
    pub web_addr: std::net::SocketAddr,
    web_stop: kaos_http::ShutdownHandle,
    web_thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops both and waits for them; the matches first, so every life in play is scored.
    pub fn stop(self) -> std::io::Result<()> {
        let matches = self.server.kaos.matches();
        for m in matches.list() {
            matches.stop(&m.match_id, 0);
        }
        for _ in 0..200 {
            if matches.list().is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        self.web_stop.shutdown();
        self.server.shutdown();
        let _ = self.web_thread.join();
        self.server.wait()
    }
}

/// Starts the services with Kaos.io registered, and the web client on `web_port` (0: a
/// free one) at the same address.
pub fn serve(config: &kaos_server::config::Config, web_port: u16) -> Result<Running, String> {
    let mut registered = Ok(());
    let server = kaos_server::start(config, |kaos| registered = register(kaos))?;
    if let Err(e) = registered {
        server.shutdown();
        return Err(e.message);
    }
    let web_addr = std::net::SocketAddr::new(server.addr.ip(), web_port);
    let routes = web_routes(server.addr.port(), &config.api.server_key);
    let mut web = match kaos_http::HttpServer::bind(web_addr, routes, kaos_http::HttpConfig::default()) {
        Ok(w) => w,
        Err(e) => {
            server.shutdown();
            return Err(format!("cannot listen on {web_addr}: {e}"));
        }
    };
    let web_addr = web.local_addr().map_err(|e| e.to_string())?;
    let web_stop = web.shutdown_handle();
    let web_thread = std::thread::spawn(move || web.run());
    Ok(Running { server, web_addr, web_stop, web_thread })
}

/// The web client: `/` and `/config.js` (where the client API is).
pub fn web_routes(api_port: u16, server_key: &str) -> Router {
    let mut r = Router::new();
    r.get("/", |_| {
        Response::with_body(200, "text/html; charset=utf-8", include_str!("../web/index.html"))
            .static_header("Cache-Control", "no-cache")
    });
    let config = format!(
        "window.KAOS_IO_CONFIG = {};\n",
        json!({ "apiPort": api_port, "serverKey": server_key, "joinRpc": JOIN_RPC })
    );
    r.get("/config.js", move |_| {
        Response::with_body(200, "text/javascript; charset=utf-8", config.clone())
            .static_header("Cache-Control", "no-cache")
    });
    r
}

struct Profile {
    color: String,
    high_score: u32,
}

/// The authoritative match: the world, and each player's profile while they play.
pub struct KaosIo {
    kaos: Weak<KaosNet>,
    world: game::World,
    profiles: HashMap<String, Profile>,
    /// The one session each player plays from (a second tab is refused).
    sessions: HashMap<String, kaosnet::realtime::SessionId>,
    top: Value,
    /// Ticks in a row with nobody in the match: after `EMPTY_TICKS` it ends.
    empty_for: u64,
}

/// An empty match ends after this many ticks (30 s).
const EMPTY_TICKS: u64 = 30 * TICK_RATE as u64;

impl std::fmt::Debug for KaosIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KaosIo").field("players", &self.world.cells.len()).finish()
    }
}

fn seed() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

impl KaosIo {
    pub fn new(kaos: Weak<KaosNet>) -> KaosIo {
        KaosIo {
            kaos,
            world: game::World::new(seed()),
            profiles: HashMap::new(),
            sessions: HashMap::new(),
            top: json!([]),
            empty_for: 0,
        }
    }

    fn services(&self) -> Option<Arc<KaosNet>> {
        self.kaos.upgrade()
    }

    /// The player's profile from storage, or a new one with a color of their own.
    fn load_profile(&self, user_id: &str) -> Profile {
        let stored = self.services().and_then(|k| k.storage().get(user_id, "profiles", "main").ok().flatten());
        let value: Value = stored.and_then(|o| serde_json::from_str(&o.value).ok()).unwrap_or(Value::Null);
        let fallback = COLORS[user_id.bytes().map(usize::from).sum::<usize>() % COLORS.len()];
        Profile {
            color: value["color"].as_str().filter(|c| COLORS.contains(c)).unwrap_or(fallback).to_string(),
            high_score: value["high_score"].as_u64().unwrap_or(0) as u32,
        }
    }

    /// A life ended with `score`: on the leaderboard, and in the profile.
    fn record(&mut self, user_id: &str, name: &str, score: u32) {
        let Some(kaos) = self.services() else { return };
        let submission = Submission { score: i64::from(score), ..Submission::default() };
        if let Err(e) = kaos.leaderboards().submit(LEADERBOARD, user_id, name, submission) {
            tracing::warn!("kaos-io: score not recorded: {}", e.message);
        }
        if let Some(p) = self.profiles.get_mut(user_id) {
            p.high_score = p.high_score.max(score);
            // Readable by its owner, written by the server only.
            let profile = json!({ "color": p.color, "high_score": p.high_score }).to_string();
            let write = kaosnet::storage::ops::Write {
                collection: "profiles".into(),
                key: "main".into(),
                value: profile,
                version: kaosnet::store::VersionCheck::Any,
                permission_read: 1,
                permission_write: 0,
            };
            if let Err(e) = kaos.storage().write_objects(kaosnet::store::Caller::Server, user_id, vec![write]) {
                tracing::warn!("kaos-io: profile not saved: {}", e.message);
            }
        }
    }

    fn refresh_top(&mut self) {
        let Some(kaos) = self.services() else { return };
        if let Ok(records) = kaos.leaderboards().get_top(LEADERBOARD, 10) {
            self.top = records.iter().map(|r| json!([r.username, r.score])).collect();
        }
    }

    fn snapshot(&self, tick: u64) -> Value {
        let players: Vec<Value> = self
            .world
            .cells
            .iter()
            .map(|(id, c)| json!([id, c.name, c.x.round(), c.y.round(), c.mass.round(), c.color, c.alive]))
            .collect();
        let food: Vec<Value> = self.world.food.iter().map(|(x, y)| json!([x.round(), y.round()])).collect();
        json!({ "tick": tick, "players": players, "food": food, "top": self.top })
    }
}

impl MatchHandler for KaosIo {
    fn init(&mut self, _: &MatchContext, _: &Value) -> Result<MatchInit, String> {
        self.refresh_top();
        Ok(MatchInit { tick_rate: TICK_RATE, label: json!({ "game": "kaos.io" }).to_string() })
    }

    fn join_attempt(
        &mut self,
        _: &MatchContext,
        _: &mut Dispatcher<'_>,
        _: u64,
        presence: &Presence,
        _: &HashMap<String, String>,
    ) -> Result<(), String> {
        if self.sessions.len() >= MAX_PLAYERS {
            return Err("this match is full".into());
        }
        if self.sessions.get(&presence.user_id).is_some_and(|s| *s != presence.session) {
            return Err("you are already playing (in another tab?)".into());
        }
        self.sessions.insert(presence.user_id.clone(), presence.session);
        Ok(())
    }

    fn join(&mut self, _: &MatchContext, _: &mut Dispatcher<'_>, _: u64, joined: &[Presence]) {
        for p in joined {
            let profile = self.load_profile(&p.user_id);
            self.world.spawn(&p.user_id, &p.username, &profile.color);
            self.profiles.insert(p.user_id.clone(), profile);
        }
    }

    fn leave(&mut self, _: &MatchContext, _: &mut Dispatcher<'_>, _: u64, left: &[Presence]) {
        for p in left {
            // Only the session that plays: not a refused second tab's.
            if self.sessions.get(&p.user_id) != Some(&p.session) {
                continue;
            }
            self.sessions.remove(&p.user_id);
            if let Some(score) = self.world.leave(&p.user_id) {
                self.record(&p.user_id, &p.username, score);
            }
            self.profiles.remove(&p.user_id);
        }
    }

    fn tick(&mut self, _: &MatchContext, d: &mut Dispatcher<'_>, tick: u64, messages: Vec<MatchMessage>) -> bool {
        for m in messages {
            let id = &m.sender.user_id;
            match m.op_code {
                OP_INPUT => {
                    // Anything that is not two numbers is ignored.
                    let Ok(v) = serde_json::from_slice::<Value>(&m.data) else { continue };
                    if let (Some(x), Some(y)) = (v["x"].as_f64(), v["y"].as_f64()) {
                        self.world.steer(id, x as f32, y as f32);
                    }
                }
                OP_RESPAWN => {
                    let dead = self.world.cells.get(id).is_some_and(|c| !c.alive);
                    if let (true, Some(p)) = (dead, self.profiles.get(id)) {
                        let color = p.color.clone();
                        self.world.spawn(id, &m.sender.username, &color);
                    }
                }
                _ => {}
            }
        }
        for death in self.world.step(1.0 / TICK_RATE as f32) {
            let name = self.world.cells.get(&death.id).map(|c| c.name.clone()).unwrap_or_default();
            self.record(&death.id, &name, death.score);
        }
        if tick % u64::from(TICK_RATE) == 0 {
            self.refresh_top();
        }
        self.empty_for = if self.sessions.is_empty() { self.empty_for + 1 } else { 0 };
        if self.empty_for > EMPTY_TICKS {
            return false;
        }
        let state = self.snapshot(tick).to_string();
        d.broadcast(OP_STATE, state.as_bytes(), None, None, false);
        true
    }

    fn terminate(&mut self, _: &MatchContext, _: &mut Dispatcher<'_>, _: u64, _: u32) {
        // The server is stopping: every life in play is scored.
        let alive: Vec<(String, String)> =
            self.world.cells.iter().filter(|(_, c)| c.alive).map(|(id, c)| (id.clone(), c.name.clone())).collect();
        for (id, name) in alive {
            if let Some(score) = self.world.leave(&id) {
                self.record(&id, &name, score);
            }
        }
    }

    fn state(&mut self, _: &MatchContext) -> Value {
        json!({ "players": self.world.cells.len(), "food": self.world.food.len(), "top": self.top })
    }
}
