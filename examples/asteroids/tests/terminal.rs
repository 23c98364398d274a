//! The terminal client as a player runs it: `asteroids-client NAME` in a tmux pane of
//! 100×30 against a server in this test. The pane shows the field (the asteroid, the
//! pilot's ship) and the score line; Space fires (the score goes up); Q quits cleanly.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kaos_asteroids::server::GameServer;
use kaos_asteroids::world::{Asteroid, World};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The pane's text once `done` holds for it (checked every 50 ms, at most 400 times).
fn pane_until(session: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
    for _ in 0..400 {
        let text = tmux(&["capture-pane", "-p", "-t", session]);
        if done(&text) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("never: {what}\n{}", tmux(&["capture-pane", "-p", "-t", session]));
}

#[test]
fn the_terminal_client_draws_the_field_and_takes_keys_under_tmux() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var_os("KAOS_REQUIRE_TMUX").is_none(), "tmux is missing");
        eprintln!("skipped: tmux is missing");
        return;
    }
    let mut world = World::new(0, 1);
    world.asteroids.push(Asteroid { x: 400.0, y: 60.0, vx: 0.0, vy: 0.0, size: 3 });
    let mut server = GameServer::bind("127.0.0.1:0".parse().unwrap(), world, None).unwrap();
    let addr = server.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let running = stop.clone();
    let thread = std::thread::spawn(move || server.run(&running));

    let session = format!("kaos-asteroids-{}", std::process::id());
    let client = format!("{} TmuxPilot --server {addr}", env!("CARGO_BIN_EXE_asteroids-client"));
    tmux(&["new-session", "-d", "-s", &session, "-x", "100", "-y", "30", &client]);
    let field =
        pane_until(&session, "the field is drawn", |t| t.contains("#0:0") && t.contains('@') && t.contains('>'));
    assert!(field.contains("Space fire"), "{field}");
    // Space, held (as a terminal repeats it): bullets fly and the asteroid splits.
    for _ in 0..40 {
        tmux(&["send-keys", "-t", &session, "Space"]);
        std::thread::sleep(Duration::from_millis(40));
    }
    // The large one (@) is gone, split into smaller ones (O, o), and the score shows it.
    let scored = |t: &str| t.lines().any(|l| l.contains("#0:") && !l.contains("#0:0 "));
    let hit = pane_until(&session, "the shot asteroid splits and scores", |t| scored(t) && !t.contains('@'));
    assert!(hit.contains('O') || hit.contains('o'), "smaller asteroids:\n{hit}");
    tmux(&["send-keys", "-t", &session, "q"]);
    for _ in 0..100 {
        if !tmux(&["list-sessions"]).contains(&session) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = !tmux(&["list-sessions"]).contains(&session);
    tmux(&["kill-session", "-t", &session]);
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap().unwrap();
    assert!(left, "Q quits the client (its pane closes)");
}
