//! `kaos-io-server`: KaosNet's services (as kaos-server runs them, with its flags) with the
//! Kaos.io match and join RPC registered, and the web client on its own port (8080).
//!
//!   cargo run -p kaos-io --bin kaos-io-server      # then open http://localhost:8080

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use kaos_io::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match kaos_server::config::Config::load(cli.server) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kaos-io-server: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        println!("web client: port {}\n{}", cli.web_port, config.summary());
        return ExitCode::SUCCESS;
    }
    let _tracing = match kaosnet::telemetry::init_tracing(config.telemetry.clone()) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("kaos-io-server: {e}");
            return ExitCode::from(2);
        }
    };
    let game = match kaos_io::serve(&config, cli.web_port) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("kaos-io-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "kaos-io-server: play at http://{} (game API http://{}, database {})",
        game.web_addr, game.server.addr, game.server.database
    );
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, stop.clone()) {
            eprintln!("kaos-io-server: cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
    match game.stop() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kaos-io-server: {e}");
            ExitCode::FAILURE
        }
    }
}
