//! The server, as a library: [`start`] opens the store, binds the client API port (REST
//! and the realtime WebSocket) and the realtime RUDP port, and serves them on threads of its own until
//! [`Running::shutdown`]. The `kaos-server` binary is this plus configuration and signal
//! handling; tests start it the same way, with their own RPC functions.

pub mod config;
mod console;
mod console_ui;
pub mod seed;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use kaos_http::{Cors, HttpConfig, HttpServer, ShutdownHandle, TlsConfig};
use kaosnet::realtime::{RealtimeConfig, RealtimeHandle, RudpSocketConfig};
use kaosnet::store::{MemoryStore, SqliteStore, Store};
use kaosnet::KaosNet;

use config::{Config, Database};

/// A started server.
#[derive(Debug)]
pub struct Running {
    /// The client API address (the port is the real one when 0 was asked for).
    pub addr: SocketAddr,
    /// The realtime socket's RUDP address, if it is on.
    pub rudp_addr: Option<SocketAddr>,
    /// The console's address (health, metrics), if it is on.
    pub console_addr: Option<SocketAddr>,
    /// The services, for registering RPC functions and such.
    pub kaos: Arc<KaosNet>,
    /// What the database is, for the start-up line.
    pub database: String,
    /// The Lua modules' runtime (reload it with [`Running::reload_modules`]).
    pub lua: Arc<kaos_lua::LuaRuntime>,
    /// The certificate the client API and the console serve, when TLS is on (reload it
    /// with [`Running::reload_tls`]).
    pub tls: Option<TlsConfig>,
    http: ShutdownHandle,
    console: Option<ShutdownHandle>,
    realtime: RealtimeHandle,
    threads: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Asks every part to stop (sockets get 1001, requests in flight finish).
    pub fn shutdown(&self) {
        self.http.shutdown();
        if let Some(c) = &self.console {
            c.shutdown();
        }
        self.realtime.shutdown();
    }

    /// Reads the module directory again and swaps in the new modules; connections stay.
    /// On an error the modules that ran go on running.
    pub fn reload_modules(&self) -> Result<(), kaos_lua::LuaError> {
        self.lua.reload()
    }

    /// Reads the TLS certificate and key files again: new connections get them, open
    /// ones keep their sessions; on an error the running certificate stays. `Ok(false)`
    /// when TLS is off.
    pub fn reload_tls(&self) -> Result<bool, String> {
        match &self.tls {
            Some(tls) => tls.reload().map(|()| true).map_err(|e| e.to_string()),
            None => Ok(false),
        }
    }

    /// Waits until the server has stopped.
    pub fn wait(mut self) -> std::io::Result<()> {
        let mut result = Ok(());
        for t in self.threads.drain(..) {
            match t.join() {
                Ok(Err(e)) if result.is_ok() => result = Err(e),
                Err(_) if result.is_ok() => result = Err(std::io::Error::other("a server thread panicked")),
                _ => {}
            }
        }
        result
    }
}

/// Opens the store and starts serving; `setup` runs before the port opens (register
/// RPC functions there). A start that fails leaves no new database behind.
pub fn start(config: &Config, setup: impl FnOnce(&KaosNet)) -> Result<Running, String> {
    let fresh = match &config.database {
        Database::Sqlite(path) => Some(Fresh::before(path)),
        _ => None,
    };
    serve(config, setup).inspect_err(|_| fresh.iter().for_each(Fresh::remove))
}

/// What a SQLite start would create: the database (and its journal files) if it is new,
/// and the directories that do not exist yet.
struct Fresh {
    files: Vec<std::path::PathBuf>,
    dirs: Vec<std::path::PathBuf>,
}

impl Fresh {
    fn before(path: &std::path::Path) -> Fresh {
        let files = if path.exists() {
            Vec::new()
        } else {
            ["", "-wal", "-shm", "-journal"].iter().map(|s| format!("{}{s}", path.display()).into()).collect()
        };
        let dirs = path.ancestors().skip(1).take_while(|d| !d.as_os_str().is_empty() && !d.exists());
        Fresh { files, dirs: dirs.map(std::path::Path::to_path_buf).collect() }
    }

    fn remove(&self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        // Deepest first; a directory something else has put a file in stays.
        for d in &self.dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Opens `config`'s database (creating its schema, or bringing it up to date): the store,
/// and what it is, for the start-up line.
pub fn open_store(config: &Config) -> Result<(Arc<dyn Store>, String), String> {
    Ok(match &config.database {
        Database::Memory => (Arc::new(MemoryStore::new()), "memory (nothing is kept)".into()),
        Database::Sqlite(path) => (
            Arc::new(SqliteStore::open(path).map_err(|e| format!("database {}: {e}", path.display()))?),
            format!("sqlite:{}", path.display()),
        ),
        #[cfg(feature = "postgres")]
        Database::Postgres(params) => (
            Arc::new(
                kaosnet::store::PostgresStore::open_with_pool(params, config.database_pool_size)
                    .map_err(|e| format!("database postgres: {e}"))?,
            ),
            "postgres".to_string(),
        ),
        #[cfg(not(feature = "postgres"))]
        Database::Postgres(_) => {
            return Err("this kaos-server was built without PostgreSQL (cargo feature `postgres`)".into())
        }
    })
}

/// The services over `config`'s database with no port open (for `kaos-server seed` and
/// tools), and what the database is.
pub fn services(config: &Config) -> Result<(Arc<KaosNet>, String), String> {
    let (store, database) = open_store(config)?;
    let limits = kaosnet::hooks::OperationRateLimiter::new(config.rate_limits);
    Ok((KaosNet::with_limits(store, config.api.clone(), config.session.clone(), limits), database))
}

fn serve(config: &Config, setup: impl FnOnce(&KaosNet)) -> Result<Running, String> {
    let (kaos, database) = services(config)?;
    setup(&kaos);
    // A module that fails to load stops the start, before any port opens.
    let lua = kaos_lua::LuaRuntime::start(&kaos, config.runtime.clone()).map_err(|e| e.to_string())?;
    let addr: SocketAddr = format!("{}:{}", config.address, config.port)
        .parse()
        .map_err(|e| format!("bad address {}:{}: {e}", config.address, config.port))?;
    // A certificate that cannot be used stops the start, naming its file.
    let tls = match &config.tls {
        Some((cert, key)) => Some(TlsConfig::load(cert, key).map_err(|e| format!("TLS: {e}"))?),
        None => None,
    };
    let http_config = HttpConfig {
        tls: tls.clone(),
        cors: Some(Cors::default()),
        error_response: Some(kaosnet::api::error_response),
        // Handlers wait on the database; with many in flight, SQLite commits them together.
        workers: 64,
        on_rest: Some(release_memory),
        ..HttpConfig::default()
    };
    let mut http = HttpServer::bind(addr, kaosnet::api::router(&kaos), http_config)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    // The ports are bound before any thread starts, so a failure leaves nothing running.
    let console = match config.console_port {
        Some(port) => {
            let console_addr = SocketAddr::new(addr.ip(), port);
            let routes = console::routes(&kaos, &lua, config, &database)?;
            let console_config = HttpConfig { tls: tls.clone(), ..HttpConfig::default() };
            let server = HttpServer::bind(console_addr, routes, console_config)
                .map_err(|e| format!("cannot listen on {console_addr} (console): {e}"))?;
            Some(server)
        }
        None => None,
    };
    let rudp = match config.rudp_port {
        Some(port) => {
            let rudp_addr = SocketAddr::new(addr.ip(), port);
            Some(RudpSocketConfig::on(rudp_addr))
        }
        None => None,
    };
    let mut realtime_config = RealtimeConfig { rudp, ..RealtimeConfig::default() };
    realtime_config.ws.flush_interval = config.socket_flush;
    realtime_config.ws_threads = config.socket_threads;
    let rudp_on = realtime_config.rudp.as_ref().map_or(String::new(), |r| format!(" (RUDP on udp://{})", r.addr));
    let (realtime, realtime_thread) = kaosnet::realtime::spawn(kaos.clone(), realtime_config)
        .map_err(|e| format!("cannot start the realtime socket{rudp_on}: {e}"))?;
    let rudp_addr = realtime.rudp_addr();
    let sink = realtime.clone();
    http.on_upgrade(move |upgrade| sink.submit(upgrade));
    let addr = http.local_addr().map_err(|e| e.to_string())?;
    let http_handle = http.shutdown_handle();
    let stop_realtime = realtime.clone();
    let http_thread = std::thread::Builder::new()
        .name("kaos-http".into())
        .spawn(move || {
            let served = http.run();
            // The socket thread goes down with the API.
            stop_realtime.shutdown();
            served
        })
        .map_err(|e| e.to_string())?;
    let realtime_thread = std::thread::spawn(move || {
        realtime_thread.join().map_err(|_| std::io::Error::other("the realtime thread panicked"))
    });
    let mut threads = vec![http_thread, realtime_thread];
    let (console, console_addr) = match console {
        Some(mut server) => {
            let console_addr = server.local_addr().map_err(|e| e.to_string())?;
            let handle = server.shutdown_handle();
            let thread = std::thread::Builder::new().name("kaos-console".into()).spawn(move || server.run());
            threads.push(thread.map_err(|e| e.to_string())?);
            (Some(handle), Some(console_addr))
        }
        None => (None, None),
    };
    Ok(Running {
        addr,
        rudp_addr,
        console_addr,
        kaos,
        database,
        lua,
        tls,
        http: http_handle,
        console,
        realtime,
        threads,
    })
}

/// Gives back to the system the memory a load spike left free in the allocators: Rust's
/// (mimalloc, in the shipped binary) and C's (glibc, where SQLite keeps its own).
fn release_memory() {
    // SAFETY: mi_collect takes no pointers; it frees mimalloc's empty pages and purges
    // its arenas under mimalloc's own synchronisation.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it walks glibc's own heaps under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
