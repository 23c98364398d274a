//! The game's rules, apart from any network: a square world of food and player cells. A
//! cell steers toward where its player points, slower the heavier it is; it grows by one
//! for each pellet it touches, and eats a cell it covers that is at least 15 % lighter.
//! Inputs are directions only, clamped to length 1: a client cannot move faster than the
//! rules allow, whatever it sends.

use std::collections::BTreeMap;

/// The world is `SIZE` × `SIZE` units.
pub const SIZE: f32 = 3000.0;
/// Pellets kept in the world.
pub const FOOD: usize = 300;
/// A new cell's mass.
pub const START_MASS: f32 = 10.0;
/// Units a second a cell of mass 10 moves at; heavier cells are slower (1/√mass).
pub const BASE_SPEED: f32 = 250.0;
/// How much heavier a cell must be to eat another.
pub const EAT_RATIO: f32 = 1.15;
/// Mass lost each second above this mass (so a big cell shrinks back slowly).
pub const DECAY_ABOVE: f32 = 100.0;

/// A cell's radius for its mass.
pub fn radius(mass: f32) -> f32 {
    4.0 * mass.sqrt() + 6.0
}

/// Its top speed, units a second.
pub fn speed(mass: f32) -> f32 {
    BASE_SPEED * (START_MASS / mass.max(START_MASS)).sqrt()
}

/// A small xorshift generator: positions need no more, and tests can seed it.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }

    fn point(&mut self) -> (f32, f32) {
        (self.next_f32() * SIZE, self.next_f32() * SIZE)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub name: String,
    pub color: String,
    pub x: f32,
    pub y: f32,
    pub mass: f32,
    /// The direction its player points, length at most 1.
    pub dir: (f32, f32),
    pub alive: bool,
    /// The heaviest it has been this life: the score when it dies or leaves.
    pub best: f32,
}

/// What happened in a step: who was eaten (their score, and who ate them).
#[derive(Debug, Clone, PartialEq)]
pub struct Death {
    pub id: String,
    pub score: u32,
    pub by: String,
}

#[derive(Debug, Clone)]
pub struct World {
    pub cells: BTreeMap<String, Cell>,
    pub food: Vec<(f32, f32)>,
    rng: Rng,
}

impl World {
    pub fn new(seed: u64) -> World {
        let mut rng = Rng::new(seed);
        let food = (0..FOOD).map(|_| rng.point()).collect();
        World { cells: BTreeMap::new(), food, rng }
    }

    /// A cell for player `id` somewhere random (again, if it had one).
    pub fn spawn(&mut self, id: &str, name: &str, color: &str) {
        let (x, y) = self.rng.point();
        let cell = Cell {
            name: name.into(),
            color: color.into(),
            x,
            y,
            mass: START_MASS,
            dir: (0.0, 0.0),
            alive: true,
            best: START_MASS,
        };
        self.cells.insert(id.into(), cell);
    }

    /// Player `id` points at (`dx`, `dy`): only the direction counts, clamped to length 1;
    /// anything not finite is ignored.
    pub fn steer(&mut self, id: &str, dx: f32, dy: f32) {
        let Some(c) = self.cells.get_mut(id) else { return };
        if !dx.is_finite() || !dy.is_finite() {
            return;
        }
        let len = (dx * dx + dy * dy).sqrt();
        c.dir = if len > 1.0 { (dx / len, dy / len) } else { (dx, dy) };
    }

    /// Advances the world `dt` seconds: moves, eats, decays, refills the food.
    pub fn step(&mut self, dt: f32) -> Vec<Death> {
        for c in self.cells.values_mut().filter(|c| c.alive) {
            let v = speed(c.mass) * dt;
            // Capped so the clamp below always has room, however heavy a cell gets.
            let r = radius(c.mass).min(SIZE / 4.0);
            c.x = (c.x + c.dir.0 * v).clamp(r, SIZE - r);
            c.y = (c.y + c.dir.1 * v).clamp(r, SIZE - r);
            if c.mass > DECAY_ABOVE {
                c.mass -= (c.mass - DECAY_ABOVE) * 0.01 * dt;
            }
        }
        // Food.
        for c in self.cells.values_mut().filter(|c| c.alive) {
            let r = radius(c.mass);
            let before = self.food.len();
            self.food.retain(|(fx, fy)| (fx - c.x).powi(2) + (fy - c.y).powi(2) > r * r);
            c.mass += (before - self.food.len()) as f32;
            c.best = c.best.max(c.mass);
        }
        while self.food.len() < FOOD {
            let p = self.rng.point();
            self.food.push(p);
        }
        // Cells: the heaviest eat first; a cell eaten this step eats no one.
        let mut order: Vec<String> = self.cells.iter().filter(|(_, c)| c.alive).map(|(id, _)| id.clone()).collect();
        order.sort_by(|a, b| self.cells[b].mass.total_cmp(&self.cells[a].mass));
        let mut deaths = Vec::new();
        for eater in &order {
            if !self.cells[eater].alive {
                continue;
            }
            for prey in &order {
                let (e, p) = (&self.cells[eater], &self.cells[prey]);
                if eater == prey || !p.alive || e.mass < p.mass * EAT_RATIO {
                    continue;
                }
                let d = ((e.x - p.x).powi(2) + (e.y - p.y).powi(2)).sqrt();
                if d < radius(e.mass) - radius(p.mass) * 0.5 {
                    let (gain, score) = (p.mass, p.best.max(p.mass) as u32);
                    let p = self.cells.get_mut(prey).expect("a listed cell");
                    p.alive = false;
                    let e = self.cells.get_mut(eater).expect("a listed cell");
                    e.mass += gain;
                    e.best = e.best.max(e.mass);
                    deaths.push(Death { id: prey.clone(), score, by: eater.clone() });
                }
            }
        }
        deaths
    }

    /// Removes player `id`: their score if their cell was alive.
    pub fn leave(&mut self, id: &str) -> Option<u32> {
        self.cells.remove(id).filter(|c| c.alive).map(|c| c.best.max(c.mass) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_moves_no_faster_than_its_mass_allows_whatever_it_sends() {
        let mut w = World::new(7);
        w.spawn("a", "a", "#fff");
        w.cells.get_mut("a").unwrap().x = 1000.0;
        w.cells.get_mut("a").unwrap().y = 1000.0;
        w.food.clear();
        w.steer("a", 1e9, 0.0);
        w.step(1.0);
        let a = &w.cells["a"];
        assert!((a.x - 1000.0 - BASE_SPEED).abs() < 0.01, "{}", a.x);
        w.steer("a", f32::NAN, 1.0);
        assert_eq!(w.cells["a"].dir, (1.0, 0.0), "NaN is ignored");
        w.steer("nobody", 1.0, 1.0);
    }

    #[test]
    fn cells_eat_food_and_lighter_cells_but_not_near_equals() {
        let mut w = World::new(3);
        w.spawn("big", "big", "#f00");
        w.spawn("small", "small", "#0f0");
        w.spawn("twin", "twin", "#00f");
        for (id, mass, x) in [("big", 40.0, 500.0), ("small", 20.0, 505.0), ("twin", 38.0, 2000.0)] {
            let c = w.cells.get_mut(id).unwrap();
            (c.mass, c.x, c.y, c.best) = (mass, x, 500.0, mass);
        }
        w.food = vec![(2000.0, 500.0)];
        let deaths = w.step(0.05);
        assert_eq!(deaths, [Death { id: "small".into(), score: 20, by: "big".into() }]);
        assert!(!w.cells["small"].alive && w.cells["big"].mass >= 60.0);
        assert_eq!(w.cells["twin"].mass, 39.0, "the pellet under it");
        assert_eq!(w.food.len(), FOOD, "food is refilled");
        // Near equals pass each other.
        let twin = w.cells.get_mut("twin").unwrap();
        (twin.x, twin.mass) = (500.0, 55.0);
        assert!(w.step(0.05).is_empty());
        assert_eq!(w.leave("small"), None, "a dead cell scores nothing on leaving");
        assert_eq!(w.leave("big"), Some(60));
    }
}
