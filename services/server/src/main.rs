//! `kaos-server`: the KaosNet services on the client API port: REST under `/v2` and the
//! realtime socket at `/ws`. SQLite under `./data` by default.

mod config;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use kaos_http::{Cors, HttpConfig, HttpServer};
use kaosnet::store::{MemoryStore, SqliteStore, Store};
use kaosnet::KaosNet;

use config::{Args, Config, Database};

fn main() -> ExitCode {
    let config = match Config::load(Args::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kaos-server: {e}");
            return ExitCode::from(2);
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kaos-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Config) -> Result<(), String> {
    for w in config.warnings() {
        eprintln!("kaos-server: warning: {w}");
    }
    let (store, described): (Arc<dyn Store>, String) = match &config.database {
        Database::Memory => (Arc::new(MemoryStore::new()), "memory (nothing is kept)".into()),
        Database::Sqlite(path) => (
            Arc::new(SqliteStore::open(path).map_err(|e| format!("database {}: {e}", path.display()))?),
            format!("sqlite:{}", path.display()),
        ),
    };
    let kaos = KaosNet::new(store, config.api.clone(), config.session.clone());
    let addr = format!("{}:{}", config.address, config.port)
        .parse()
        .map_err(|e| format!("bad address {}:{}: {e}", config.address, config.port))?;
    let http_config = HttpConfig { cors: Some(Cors::default()), ..HttpConfig::default() };
    let mut http = HttpServer::bind(addr, kaosnet::api::router(&kaos), http_config)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let (realtime, realtime_thread) =
        kaosnet::realtime::spawn(kaos.clone(), kaosnet::realtime::RealtimeConfig::default())
            .map_err(|e| format!("cannot start the realtime socket: {e}"))?;
    let sink = realtime.clone();
    http.on_upgrade(move |upgrade| sink.submit(upgrade));
    let bound = http.local_addr().map_err(|e| e.to_string())?;
    println!(
        "kaos-server listening: client API http://{bound} (REST /v2, realtime socket /ws, /healthcheck); database {described}"
    );

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).map_err(|e| e.to_string())?;
    }
    let handle = http.shutdown_handle();
    let watcher = stop.clone();
    std::thread::spawn(move || {
        while !watcher.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        handle.shutdown();
    });
    let served = http.run().map_err(|e| e.to_string());
    realtime.shutdown();
    let _ = realtime_thread.join();
    served?;
    println!("kaos-server stopped");
    Ok(())
}
