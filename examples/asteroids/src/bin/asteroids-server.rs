//! `asteroids-server`: Asteroids over RUDP on port 7352 at 60 Hz, with scores on the
//! KaosNet leaderboard `asteroids_highscores` (the database kaos-server's flags name,
//! `./data/kaos.db` by default).
//!
//!   cargo run -p kaos-asteroids --bin asteroids-server [-- --game-port 7352]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "asteroids-server", version, about = "Asteroids over kaos-rudp")]
struct Cli {
    /// The game's UDP port.
    #[arg(long, env = "KAOS_ASTEROIDS_PORT", default_value_t = 7352)]
    game_port: u16,
    #[command(flatten)]
    server: kaos_server::config::Args,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match kaos_server::config::Config::load(cli.server) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("asteroids-server: {e}");
            return ExitCode::from(2);
        }
    };
    let kaos = match kaos_server::services(&config) {
        Ok((kaos, _)) => kaos,
        Err(e) => {
            eprintln!("asteroids-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = SocketAddr::new(config.address.parse().unwrap_or([0, 0, 0, 0].into()), cli.game_port);
    let world = kaos_asteroids::world::World::new(5, 0x5eed);
    let mut server = match kaos_asteroids::server::GameServer::bind(addr, world, Some(kaos)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("asteroids-server: cannot listen on udp://{addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(signal, stop.clone());
    }
    println!(
        "asteroids-server: udp://{} at 60 Hz; join with `asteroids-client NAME`",
        server.local_addr().unwrap_or(addr)
    );
    match server.run(&stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("asteroids-server: {e}");
            ExitCode::FAILURE
        }
    }
}
