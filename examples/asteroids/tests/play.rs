//! Two pilots over real RUDP sockets, driven through the client library the terminal
//! client uses: each sees both ships; one fires at the asteroid in front of it and both see
//! it split in two; one thrusts and the other sees it move; its score reaches the
//! leaderboard when it leaves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kaos_asteroids::client::Pilot;
use kaos_asteroids::server::{GameServer, LEADERBOARD};
use kaos_asteroids::wire::Input;
use kaos_asteroids::world::{Asteroid, World};

/// Updates both pilots until `done` holds (at most `rounds` rounds of 10 ms).
fn until(pilots: &mut [&mut Pilot], rounds: usize, what: &str, mut done: impl FnMut(&[&mut Pilot]) -> bool) {
    for _ in 0..rounds {
        for p in pilots.iter_mut() {
            p.update(Duration::from_millis(10)).unwrap();
        }
        if done(pilots) {
            return;
        }
    }
    panic!("never: {what}");
}

#[test]
fn two_pilots_see_each_other_and_a_shot_asteroid_splits() {
    let kaos =
        kaosnet::KaosNet::new(Arc::new(kaosnet::store::MemoryStore::new()), Default::default(), Default::default());
    let mut world = World::new(0, 1);
    // One large asteroid in front of ship 0 (it starts at (80, 60) facing right), still.
    world.asteroids.push(Asteroid { x: 260.0, y: 60.0, vx: 0.0, vy: 0.0, size: 3 });
    let mut server = GameServer::bind("127.0.0.1:0".parse().unwrap(), world, Some(kaos.clone())).unwrap();
    let addr = server.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let running = stop.clone();
    let thread = std::thread::spawn(move || server.run(&running));

    let mut a = Pilot::connect(addr, "Ace").unwrap();
    until(&mut [&mut a], 500, "Ace is welcomed", |p| p[0].id.is_some());
    let mut b = Pilot::connect(addr, "Bee").unwrap();
    until(&mut [&mut a, &mut b], 500, "both see two ships", |p| {
        p.iter().all(|p| p.latest.as_ref().is_some_and(|s| s.ships.len() == 2))
    });
    assert_eq!((a.id, b.id), (Some(0), Some(1)));

    // Ace fires: both see the large asteroid split (gone, and smaller ones in its place;
    // further shots may split those too).
    let split =
        |p: &Pilot| p.latest.as_ref().is_some_and(|s| s.asteroids.len() >= 2 && s.asteroids.iter().all(|x| x.size < 3));
    for _ in 0..1000 {
        a.send(Input { fire: true, ..Input::default() }).unwrap();
        a.update(Duration::from_millis(5)).unwrap();
        b.update(Duration::from_millis(5)).unwrap();
        if split(&a) && split(&b) {
            break;
        }
    }
    assert!(split(&a) && split(&b), "both see the asteroid split in two");
    a.send(Input::default()).unwrap();
    // Ace thrusts; Bee sees Ace's ship move.
    let start = b.latest.as_ref().unwrap().ships.iter().find(|s| s.id == 0).unwrap().x;
    let thrust = Input { thrust: true, ..Input::default() };
    for _ in 0..1000 {
        a.send(thrust).unwrap();
        a.update(Duration::from_millis(5)).unwrap();
        b.update(Duration::from_millis(5)).unwrap();
        let now = b.latest.as_ref().unwrap().ships.iter().find(|s| s.id == 0).unwrap().x;
        if (now - start).abs() > 20.0 {
            break;
        }
    }
    let moved = b.latest.as_ref().unwrap().ships.iter().find(|s| s.id == 0).unwrap().x;
    assert!((moved - start).abs() > 20.0, "Bee sees Ace move: {start} to {moved}");
    assert!(b.ship_position(0).is_some(), "and can draw it interpolated");
    let score = a.latest.as_ref().unwrap().ships.iter().find(|s| s.id == 0).unwrap().score;
    assert!(score >= 10, "a large asteroid scores 10 (more if the halves were hit too): {score}");

    // Ace leaves: the score is on the leaderboard.
    a.leave().unwrap();
    let mut found = false;
    for _ in 0..1000 {
        b.update(Duration::from_millis(10)).unwrap();
        let top = kaos.leaderboards().get_top(LEADERBOARD, 10).unwrap();
        if top.iter().any(|r| r.username == "Ace" && r.score >= 10) {
            found = true;
            break;
        }
    }
    assert!(found, "Ace's points reached {LEADERBOARD}");
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap().unwrap();
}
