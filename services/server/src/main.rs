//! `kaos-server`: the KaosNet services on the client API port: REST under `/v2` and the
//! realtime socket at `/ws`. SQLite under `./data` by default.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use kaos_server::config::{Cli, Command, Config};

// Leaderboard updates run about half again as fast on mimalloc as on glibc's allocator
// (benches/README.md, leaderboards); the benchmarks of server code use it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command;
    let config = match Config::load(cli.args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kaos-server: {e}");
            return ExitCode::from(2);
        }
    };
    // Service logs (a match that failed, say) on stderr, and spans to a collector if
    // one is set; the guard flushes them at exit.
    let _tracing = match kaosnet::telemetry::init_tracing(config.telemetry.clone()) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("kaos-server: {e}");
            return ExitCode::from(2);
        }
    };
    for w in config.warnings() {
        eprintln!("kaos-server: warning: {w}");
    }
    match command {
        None => {}
        Some(Command::CheckConfig) => {
            println!("{}", config.summary());
            return ExitCode::SUCCESS;
        }
        Some(Command::Migrate) => {
            return match kaos_server::open_store(&config) {
                Ok((_, database)) => {
                    println!("kaos-server: the schema of {database} is up to date");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("kaos-server: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::Seed) => {
            let seeded =
                kaos_server::services(&config).and_then(|(kaos, database)| Ok((kaosnet_seed(&kaos)?, database)));
            return match seeded {
                Ok((s, database)) => {
                    println!(
                        "kaos-server: seeded {database}: {} players, {} groups, {} leaderboard records",
                        s.players, s.groups, s.records
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("kaos-server: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, stop.clone()) {
            eprintln!("kaos-server: cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    }
    let reload = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone()) {
        eprintln!("kaos-server: cannot handle signals: {e}");
        return ExitCode::FAILURE;
    }
    let server = match kaos_server::start(&config, |_| {}) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kaos-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scheme = if server.tls.is_some() { "https" } else { "http" };
    let rudp = match server.rudp_addr {
        Some(a) => format!("realtime RUDP udp://{a}"),
        None => "realtime RUDP off".into(),
    };
    let console = match server.console_addr {
        Some(a) => format!("console {scheme}://{a} (/v2/console, /metrics, /healthcheck)"),
        None => "console off".into(),
    };
    println!(
        "kaos-server listening: client API {scheme}://{} (REST /v2, realtime socket /ws, /healthcheck); {rudp}; {console}; database {}",
        server.addr, server.database
    );
    let rpcs = server.lua.rpc_ids();
    println!("Lua modules from {}: {} RPC functions {rpcs:?}", config.runtime.path.display(), rpcs.len());
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if reload.swap(false, Ordering::Relaxed) {
            match server.reload_modules() {
                Ok(()) => println!("Lua modules reloaded: RPC functions {:?}", server.lua.rpc_ids()),
                Err(e) => eprintln!("kaos-server: reload refused, the modules before it go on: {e}"),
            }
            match server.reload_tls() {
                Ok(true) => println!("TLS certificate reloaded: new connections use it"),
                Ok(false) => {}
                Err(e) => eprintln!("kaos-server: TLS reload refused, the certificate before it goes on: {e}"),
            }
        }
    }
    server.shutdown();
    match server.wait() {
        Ok(()) => {
            println!("kaos-server stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kaos-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn kaosnet_seed(kaos: &kaosnet::KaosNet) -> Result<kaos_server::seed::Seeded, String> {
    kaos_server::seed::seed(kaos).map_err(|e| format!("seeding failed: {}", e.message))
}
