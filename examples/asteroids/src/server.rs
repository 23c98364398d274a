//! The game server: a `RudpServer` stepping the world at 60 Hz. A client says `Hello`
//! with its name (reliable) and gets `Welcome` with its ship's id; from then its `Input`s
//! steer its ship and every tick it gets a `Snapshot` (unreliable, sequenced: a late one is
//! dropped, the next replaces it). A wrecked ship's score goes to `asteroids_highscores`,
//! through the KaosNet services, for the pilot's account (device `asteroids-<name>`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaos_rudp::{RudpServer, ServerEvent, RELIABLE_ORDERED, UNRELIABLE_SEQUENCED};
use kaosnet::leaderboards::Submission;
use kaosnet::{DeviceAuthRequest, KaosNet, LeaderboardConfig};

use crate::wire::{self, Message, MAX_SHIPS};
use crate::world::{World, TICK_RATE};

pub const LEADERBOARD: &str = "asteroids_highscores";

struct Pilot {
    id: u8,
    user_id: Option<String>,
    name: String,
}

/// The server and its world.
pub struct GameServer {
    rudp: RudpServer,
    world: World,
    pilots: HashMap<SocketAddr, Pilot>,
    kaos: Option<Arc<KaosNet>>,
}

impl std::fmt::Debug for GameServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GameServer").field("pilots", &self.pilots.len()).finish()
    }
}

impl GameServer {
    /// Listens on `addr` with `world`; scores go to `kaos`'s leaderboard when given.
    pub fn bind(addr: SocketAddr, world: World, kaos: Option<Arc<KaosNet>>) -> std::io::Result<GameServer> {
        if let Some(k) = &kaos {
            // Only this server writes scores; a client cannot post one.
            let board = LeaderboardConfig::high_scores(LEADERBOARD);
            k.leaderboards().create(board).map_err(|e| std::io::Error::other(e.message))?;
        }
        Ok(GameServer { rudp: RudpServer::bind(addr, 256)?, world, pilots: HashMap::new(), kaos })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.rudp.local_addr()
    }

    /// Runs until `stop` is set: a tick every 1/60 s, the socket read between ticks.
    pub fn run(&mut self, stop: &AtomicBool) -> std::io::Result<()> {
        let interval = Duration::from_secs(1) / TICK_RATE;
        let mut next = Instant::now() + interval;
        while !stop.load(Ordering::Relaxed) {
            let wait = next.saturating_duration_since(Instant::now());
            self.rudp.poll(Some(wait))?;
            self.receive();
            if Instant::now() >= next {
                self.tick();
                next += interval;
                if Instant::now() > next + interval * 10 {
                    next = Instant::now() + interval;
                }
            }
        }
        Ok(())
    }

    fn receive(&mut self) {
        while self.rudp.accept().is_some() {}
        // Messages first, then departures: a Hello that came just before its sender left
        // must not leave a pilot behind.
        let mut inbox = Vec::new();
        self.rudp.receive_all(|addr, _, data| inbox.push((addr, wire::decode(data))));
        for (addr, message) in inbox {
            match message {
                Ok(Message::Hello { name }) => self.hello(addr, &name),
                Ok(Message::Input(input)) => {
                    if let Some(p) = self.pilots.get(&addr) {
                        self.world.set_input(p.id, input);
                    }
                }
                // Anything else from a client, or nothing readable, is dropped.
                _ => {}
            }
        }
        while let Some(event) = self.rudp.poll_event() {
            if let ServerEvent::Disconnected(addr, _) = event {
                self.depart(&addr);
            }
        }
        // And any pilot whose connection is gone without an event said so.
        let live: std::collections::HashSet<SocketAddr> = self.rudp.clients().collect();
        let gone: Vec<SocketAddr> = self.pilots.keys().filter(|a| !live.contains(a)).copied().collect();
        for addr in gone {
            self.depart(&addr);
        }
    }

    fn depart(&mut self, addr: &SocketAddr) {
        if let Some(p) = self.pilots.remove(addr) {
            if let Some(ship) = self.world.remove_ship(p.id) {
                self.record(p.user_id.as_deref(), &p.name, ship.score);
            }
        }
    }

    fn hello(&mut self, addr: SocketAddr, name: &str) {
        if self.pilots.contains_key(&addr) {
            return;
        }
        let Some(id) = (0..MAX_SHIPS as u8).find(|id| self.pilots.values().all(|p| p.id != *id)) else {
            let _ = self.rudp.disconnect(&addr, 4000);
            return;
        };
        let name: String = name.chars().filter(|c| !c.is_control() && !c.is_whitespace()).take(16).collect();
        let name = if name.is_empty() { format!("Pilot{id}") } else { name };
        let user_id = self.kaos.as_ref().and_then(|k| {
            let request = DeviceAuthRequest {
                device_id: format!("asteroids-{name}"),
                create: true,
                username: Some(name.clone()),
            };
            k.accounts().authenticate_device(request).ok().map(|a| a.user_id)
        });
        self.world.add_ship(id, &name);
        self.pilots.insert(addr, Pilot { id, user_id, name });
        let mut buf = [0u8; 8];
        if let Ok(n) = wire::encode(&Message::Welcome { id }, &mut buf) {
            let _ = self.rudp.send_on(&addr, RELIABLE_ORDERED, &buf[..n]);
        }
    }

    fn record(&self, user_id: Option<&str>, name: &str, score: u16) {
        if let (Some(k), Some(user), true) = (&self.kaos, user_id, score > 0) {
            let s = Submission { score: i64::from(score), ..Submission::default() };
            let _ = k.leaderboards().submit(LEADERBOARD, user, name, s);
        }
    }

    fn tick(&mut self) {
        for wreck in self.world.step() {
            if let Some(p) = self.pilots.values().find(|p| p.id == wreck.id) {
                self.record(p.user_id.as_deref(), &p.name, wreck.score);
            }
        }
        let mut buf = [0u8; 1200];
        let Ok(n) = wire::encode(&Message::Snapshot(self.world.snapshot()), &mut buf) else { return };
        for addr in self.pilots.keys() {
            let _ = self.rudp.send_on(addr, UNRELIABLE_SEQUENCED, &buf[..n]);
        }
        let _ = self.rudp.flush();
    }
}
