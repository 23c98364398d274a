//! The game, apart from the network: ships that turn, thrust and shoot on a field that
//! wraps at its edges; asteroids that drift and split in two when shot (large to medium to
//! small, then gone); a ship that touches an asteroid is destroyed and comes back after two
//! seconds. Ten points for a large asteroid, twenty for a medium, fifty for a small.

use crate::wire::{AsteroidState, Input, ShipState, Snapshot, HEIGHT, MAX_ASTEROIDS, WIDTH};

pub const TICK_RATE: u32 = 60;
const DT: f32 = 1.0 / TICK_RATE as f32;
const TURN: f32 = 4.0; // radians a second
const THRUST: f32 = 220.0; // units a second squared
const MAX_SPEED: f32 = 320.0;
const DRAG: f32 = 0.6; // of the speed lost each second
const BULLET_SPEED: f32 = 480.0;
const BULLET_LIFE: u32 = TICK_RATE; // a second
const FIRE_EVERY: u32 = 12; // ticks between shots
const RESPAWN: u32 = 2 * TICK_RATE;
const SHIP_RADIUS: f32 = 8.0;

pub fn asteroid_radius(size: u8) -> f32 {
    f32::from(size) * 12.0
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ship {
    pub id: u8,
    pub name: String,
    pub x: f32,
    pub y: f32,
    pub vx: f32,
    pub vy: f32,
    pub angle: f32,
    pub input: Input,
    pub dead_for: u32,
    pub score: u16,
    cooldown: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Asteroid {
    pub x: f32,
    pub y: f32,
    pub vx: f32,
    pub vy: f32,
    pub size: u8,
}

#[derive(Debug, Clone, PartialEq)]
struct Bullet {
    x: f32,
    y: f32,
    vx: f32,
    vy: f32,
    life: u32,
    owner: u8,
}

/// A ship destroyed this step, with its score then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wreck {
    pub id: u8,
    pub score: u16,
}

#[derive(Debug, Clone)]
pub struct World {
    pub tick: u32,
    pub ships: Vec<Ship>,
    pub asteroids: Vec<Asteroid>,
    bullets: Vec<Bullet>,
    seed: u32,
}

fn wrap(v: f32, max: f32) -> f32 {
    v.rem_euclid(max)
}

impl World {
    /// A field with `asteroids` large ones placed from `seed`.
    pub fn new(asteroids: usize, seed: u32) -> World {
        let mut w = World { tick: 0, ships: Vec::new(), asteroids: Vec::new(), bullets: Vec::new(), seed: seed.max(1) };
        for _ in 0..asteroids {
            let (x, y, a) = (w.random() * WIDTH, w.random() * HEIGHT, w.random() * std::f32::consts::TAU);
            w.asteroids.push(Asteroid { x, y, vx: 40.0 * a.cos(), vy: 40.0 * a.sin(), size: 3 });
        }
        w
    }

    fn random(&mut self) -> f32 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 17;
        self.seed ^= self.seed << 5;
        (self.seed >> 8) as f32 / (1u32 << 24) as f32
    }

    /// A new ship (`id` is the caller's), on the left, facing right, one row per id.
    pub fn add_ship(&mut self, id: u8, name: &str) {
        let y = 60.0 + f32::from(id % 8) * 60.0;
        let ship = Ship {
            id,
            name: name.into(),
            x: 80.0,
            y,
            vx: 0.0,
            vy: 0.0,
            angle: 0.0,
            input: Input::default(),
            dead_for: 0,
            score: 0,
            cooldown: 0,
        };
        self.ships.push(ship);
    }

    pub fn remove_ship(&mut self, id: u8) -> Option<Ship> {
        let at = self.ships.iter().position(|s| s.id == id)?;
        Some(self.ships.remove(at))
    }

    pub fn set_input(&mut self, id: u8, input: Input) {
        if let Some(s) = self.ships.iter_mut().find(|s| s.id == id) {
            s.input = input;
        }
    }

    /// One tick: ships, bullets, asteroids, hits and crashes.
    pub fn step(&mut self) -> Vec<Wreck> {
        self.tick += 1;
        for s in &mut self.ships {
            if s.dead_for > 0 {
                s.dead_for -= 1;
                if s.dead_for == 0 {
                    (s.x, s.y, s.vx, s.vy, s.angle) = (80.0, 60.0 + f32::from(s.id % 8) * 60.0, 0.0, 0.0, 0.0);
                }
                continue;
            }
            let turn = f32::from(u8::from(s.input.right)) - f32::from(u8::from(s.input.left));
            s.angle = (s.angle + turn * TURN * DT).rem_euclid(std::f32::consts::TAU);
            if s.input.thrust {
                s.vx += s.angle.cos() * THRUST * DT;
                s.vy += s.angle.sin() * THRUST * DT;
            }
            let speed = (s.vx * s.vx + s.vy * s.vy).sqrt();
            if speed > MAX_SPEED {
                (s.vx, s.vy) = (s.vx / speed * MAX_SPEED, s.vy / speed * MAX_SPEED);
            }
            let keep = 1.0 - DRAG * DT;
            (s.vx, s.vy) = (s.vx * keep, s.vy * keep);
            s.x = wrap(s.x + s.vx * DT, WIDTH);
            s.y = wrap(s.y + s.vy * DT, HEIGHT);
            s.cooldown = s.cooldown.saturating_sub(1);
            if s.input.fire && s.cooldown == 0 {
                s.cooldown = FIRE_EVERY;
                let (c, n) = (s.angle.cos(), s.angle.sin());
                self.bullets.push(Bullet {
                    x: s.x + c * SHIP_RADIUS,
                    y: s.y + n * SHIP_RADIUS,
                    vx: c * BULLET_SPEED + s.vx,
                    vy: n * BULLET_SPEED + s.vy,
                    life: BULLET_LIFE,
                    owner: s.id,
                });
            }
        }
        for b in &mut self.bullets {
            b.x = wrap(b.x + b.vx * DT, WIDTH);
            b.y = wrap(b.y + b.vy * DT, HEIGHT);
            b.life -= 1;
        }
        self.bullets.retain(|b| b.life > 0);
        for a in &mut self.asteroids {
            a.x = wrap(a.x + a.vx * DT, WIDTH);
            a.y = wrap(a.y + a.vy * DT, HEIGHT);
        }
        self.hits();
        let wrecks = self.crashes();
        // A field shot clean starts again.
        if self.asteroids.is_empty() {
            *self = World { ships: std::mem::take(&mut self.ships), tick: self.tick, ..World::new(4, self.seed) };
        }
        wrecks
    }

    fn hits(&mut self) {
        let mut split = Vec::new();
        let mut bullets = std::mem::take(&mut self.bullets);
        bullets.retain(|b| {
            let Some(i) = self
                .asteroids
                .iter()
                .position(|a| (a.x - b.x).powi(2) + (a.y - b.y).powi(2) < asteroid_radius(a.size).powi(2))
            else {
                return true;
            };
            let a = self.asteroids.remove(i);
            if let Some(s) = self.ships.iter_mut().find(|s| s.id == b.owner) {
                s.score = s.score.saturating_add([0, 50, 20, 10][usize::from(a.size)]);
            }
            if a.size > 1 {
                // Two halves, away from each other across the bullet's path.
                let (px, py) = (-b.vy / BULLET_SPEED * 50.0, b.vx / BULLET_SPEED * 50.0);
                for sign in [1.0, -1.0] {
                    split.push(Asteroid {
                        x: a.x,
                        y: a.y,
                        vx: a.vx + sign * px,
                        vy: a.vy + sign * py,
                        size: a.size - 1,
                    });
                }
            }
            false
        });
        self.bullets = bullets;
        self.asteroids.extend(split);
        self.asteroids.truncate(MAX_ASTEROIDS);
    }

    fn crashes(&mut self) -> Vec<Wreck> {
        let mut wrecks = Vec::new();
        for s in self.ships.iter_mut().filter(|s| s.dead_for == 0) {
            let hit = self
                .asteroids
                .iter()
                .any(|a| (a.x - s.x).powi(2) + (a.y - s.y).powi(2) < (asteroid_radius(a.size) + SHIP_RADIUS).powi(2));
            if hit {
                wrecks.push(Wreck { id: s.id, score: s.score });
                s.dead_for = RESPAWN;
                s.score = 0;
            }
        }
        wrecks
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            tick: self.tick,
            ships: self
                .ships
                .iter()
                .map(|s| ShipState { id: s.id, x: s.x, y: s.y, angle: s.angle, alive: s.dead_for == 0, score: s.score })
                .collect(),
            asteroids: self.asteroids.iter().map(|a| AsteroidState { x: a.x, y: a.y, size: a.size }).collect(),
            bullets: self.bullets.iter().map(|b| (b.x, b.y)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shot_asteroid_splits_and_scores_and_a_crash_wrecks_the_ship() {
        let mut w = World::new(0, 1);
        w.add_ship(0, "a");
        w.asteroids.push(Asteroid { x: 200.0, y: 60.0, vx: 0.0, vy: 0.0, size: 3 });
        w.set_input(0, Input { fire: true, ..Input::default() });
        for _ in 0..30 {
            w.step();
            if w.asteroids.len() > 1 {
                break;
            }
        }
        assert_eq!(w.asteroids.iter().map(|a| a.size).collect::<Vec<_>>(), [2, 2]);
        assert_eq!(w.ships[0].score, 10);
        w.set_input(0, Input::default());
        w.asteroids = vec![Asteroid { x: 80.0, y: 60.0, vx: 0.0, vy: 0.0, size: 1 }];
        assert_eq!(w.step(), [Wreck { id: 0, score: 10 }]);
        assert_eq!(w.ships[0].dead_for, RESPAWN);
    }

    #[test]
    fn ships_turn_thrust_and_wrap_no_faster_than_the_top_speed() {
        let mut w = World::new(0, 1);
        w.add_ship(1, "b");
        w.asteroids.push(Asteroid { x: 700.0, y: 500.0, vx: 0.0, vy: 0.0, size: 1 });
        w.set_input(1, Input { thrust: true, ..Input::default() });
        for _ in 0..600 {
            w.step();
        }
        let s = &w.ships[0];
        assert!((s.vx * s.vx + s.vy * s.vy).sqrt() <= MAX_SPEED + 0.01);
        assert!(s.x >= 0.0 && s.x < WIDTH);
    }
}
