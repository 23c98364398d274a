//! Configuration: defaults, then a TOML file (`--config`), then `KAOS_*` environment
//! variables and command-line flags (clap), each overriding the one before.

use std::path::PathBuf;

use clap::Parser;
use kaosnet::hooks::{Limit, RateLimits};
use serde::Deserialize;

/// The command line: the server's flags, and what to do (serve, when no command is
/// given).
#[derive(Debug, Parser)]
#[command(name = "kaos-server", version, about = "KaosNet game server (Nakama-compatible client API)")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub args: Args,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Creates the database's schema, or brings it up to date, and exits.
    Migrate,
    /// Writes the sample data (players, groups, leaderboards, a tournament, storage,
    /// friends, notifications) and exits; safe to run again.
    Seed,
    /// Reads the configuration, prints it (no secrets) and its warnings, and exits:
    /// 0 if it is valid, 2 if not.
    CheckConfig,
}

/// Command line and environment (`kaos-server --help`).
#[derive(Debug, Default, Parser)]
#[command(name = "kaos-server", version, about = "KaosNet game server (Nakama-compatible client API)")]
pub struct Args {
    /// A TOML configuration file.
    #[arg(long, env = "KAOS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 0.0.0.0).
    #[arg(long, env = "KAOS_ADDRESS")]
    pub address: Option<String>,
    /// Client API port (HTTP and WebSocket; default 7350); 0 picks a free one.
    #[arg(long, env = "KAOS_PORT")]
    pub port: Option<u16>,
    /// Console port (health, Prometheus metrics; default 7351): a port (0 picks a free
    /// one) or `off`.
    #[arg(long, env = "KAOS_CONSOLE_PORT")]
    pub console_port: Option<String>,
    /// Realtime socket over reliable UDP (default 7352): a port (0 picks a free one) or
    /// `off`.
    #[arg(long, env = "KAOS_RUDP_PORT")]
    pub rudp_port: Option<String>,
    /// Database: `sqlite:<path>` (default `sqlite:./data/kaos.db`), `memory`, or
    /// `postgres://…` (built with the `postgres` feature).
    #[arg(long, env = "KAOS_DATABASE")]
    pub database: Option<String>,
    /// PostgreSQL connections the server keeps at most (default 16).
    #[arg(long, env = "KAOS_DATABASE_POOL_SIZE")]
    pub database_pool_size: Option<u32>,
    /// Server key clients authenticate with (HTTP Basic user name; default `defaultkey`,
    /// which a production server must change).
    #[arg(long, env = "KAOS_SERVER_KEY")]
    pub server_key: Option<String>,
    /// Key for server-to-server RPC (`?http_key=`; default `defaulthttpkey`).
    #[arg(long, env = "KAOS_HTTP_KEY")]
    pub http_key: Option<String>,
    /// Key that signs session tokens.
    #[arg(long, env = "KAOS_SESSION_ENCRYPTION_KEY")]
    pub session_encryption_key: Option<String>,
    /// Key that signs refresh tokens.
    #[arg(long, env = "KAOS_SESSION_REFRESH_ENCRYPTION_KEY")]
    pub session_refresh_encryption_key: Option<String>,
    /// Session token lifetime, seconds (default 60).
    #[arg(long, env = "KAOS_SESSION_TOKEN_EXPIRY_SEC")]
    pub session_token_expiry_sec: Option<i64>,
    /// Refresh token lifetime, seconds (default 3600).
    #[arg(long, env = "KAOS_SESSION_REFRESH_TOKEN_EXPIRY_SEC")]
    pub session_refresh_token_expiry_sec: Option<i64>,
    /// Calls per second each client may make to each operation of the standard class
    /// (default 50, bursts of 100; this sets bursts of twice the rate); 0 turns every rate
    /// limit off. The file's `[rate_limits]` sets each class.
    #[arg(long, env = "KAOS_RATE_LIMIT")]
    pub rate_limit: Option<f64>,
    /// Milliseconds the WebSocket may hold messages to send them together (0, the
    /// default: every turn of its loop). A few cut the server's CPU in `send()` when each
    /// client gets many messages a second, for that much more latency.
    #[arg(long, env = "KAOS_SOCKET_FLUSH_MS")]
    pub socket_flush_ms: Option<u64>,
    /// WebSocket threads (1 to 15, default 1): more spread the sockets' `send()` work over
    /// cores when one thread is the bottleneck.
    #[arg(long, env = "KAOS_SOCKET_THREADS")]
    pub socket_threads: Option<usize>,
    /// Directory of Lua modules loaded at start (default `./data/modules`; none there is
    /// fine). SIGHUP reloads them.
    #[arg(long, env = "KAOS_RUNTIME_PATH")]
    pub runtime_path: Option<PathBuf>,
    /// What to log and trace, as `RUST_LOG` says it (default `RUST_LOG`, else `info`).
    #[arg(long, env = "KAOS_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Logs as `pretty` text (the default) or `json` lines.
    #[arg(long, env = "KAOS_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Export spans to this OpenTelemetry collector's OTLP/HTTP endpoint
    /// (`http://host:4318`; built with the `otlp` feature).
    #[arg(long, env = "KAOS_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Serve the client API and the console over TLS (HTTPS, `wss://`) with this PEM
    /// certificate chain (with `--tls-key`); SIGHUP reloads both files.
    #[arg(long, env = "KAOS_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(long, env = "KAOS_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

/// The file's shape; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    address: Option<String>,
    port: Option<u16>,
    rudp_port: Option<toml::Value>,
    console_port: Option<toml::Value>,
    database: Option<String>,
    database_pool_size: Option<u32>,
    server_key: Option<String>,
    http_key: Option<String>,
    rate_limit: Option<f64>,
    socket_flush_ms: Option<u64>,
    socket_threads: Option<usize>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    rate_limits: FileRateLimits,
    #[serde(default)]
    session: FileSession,
    #[serde(default)]
    runtime: FileRuntime,
    #[serde(default)]
    telemetry: FileTelemetry,
}

/// `[telemetry]`: logs and span export.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTelemetry {
    log_level: Option<String>,
    log_format: Option<String>,
    otlp_endpoint: Option<String>,
    service_name: Option<String>,
}

/// `[runtime]`: the Lua modules.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRuntime {
    path: Option<PathBuf>,
    /// Lua states at most (calls beyond wait).
    max_states: Option<usize>,
    /// VM instructions one call may run.
    max_instructions: Option<u64>,
    /// Memory one state may use, MiB.
    memory_limit_mb: Option<usize>,
}

/// `[rate_limits]`: each class's limit per client and operation (`per_second = 0`: none).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRateLimits {
    auth: Option<Limit>,
    standard: Option<Limit>,
    realtime: Option<Limit>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSession {
    encryption_key: Option<String>,
    refresh_encryption_key: Option<String>,
    token_expiry_sec: Option<i64>,
    refresh_token_expiry_sec: Option<i64>,
    /// Failed password sign-ins to one account before it is locked for a while.
    failed_login_free_attempts: Option<u32>,
    /// The longest such lockout, seconds.
    failed_login_max_lockout_sec: Option<i64>,
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Memory,
    /// Connection parameters (`postgres://user@host/db` or `host=… user=…`).
    Postgres(String),
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub address: String,
    pub port: u16,
    /// The realtime socket over RUDP, if on.
    pub rudp_port: Option<u16>,
    /// The console (health, metrics), if on.
    pub console_port: Option<u16>,
    pub database: Database,
    /// PostgreSQL connections at most.
    pub database_pool_size: u32,
    pub api: kaosnet::ApiConfig,
    pub session: kaosnet::session::SessionConfig,
    /// Each operation class's limit per client and operation.
    pub rate_limits: RateLimits,
    /// How long the WebSocket may hold messages to send them together.
    pub socket_flush: std::time::Duration,
    /// WebSocket threads.
    pub socket_threads: usize,
    /// The Lua modules and their limits.
    pub runtime: kaos_lua::RuntimeConfig,
    /// The console's first `admin` password (`KAOS_ADMIN_PASSWORD`, read from the
    /// environment only); without it one is made on first start.
    pub admin_password: Option<String>,
    /// Logs and span export.
    pub telemetry: kaosnet::telemetry::TracingConfig,
    /// The TLS certificate chain and key files; `None` serves plain HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Config {
    /// Defaults, overridden by the file, then by the environment and flags.
    pub fn load(args: Args) -> Result<Config, String> {
        let file: File = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("invalid configuration {}: {e}", path.display()))?
            }
            None => File::default(),
        };
        let defaults = kaosnet::session::SessionConfig::default();
        let api = kaosnet::ApiConfig::default();
        let database = args.database.or(file.database).unwrap_or_else(|| "sqlite:./data/kaos.db".into());
        let session = kaosnet::session::SessionConfig {
            encryption_key: args
                .session_encryption_key
                .or(file.session.encryption_key)
                .unwrap_or(defaults.encryption_key),
            refresh_encryption_key: args
                .session_refresh_encryption_key
                .or(file.session.refresh_encryption_key)
                .unwrap_or(defaults.refresh_encryption_key),
            token_expiry_sec: args
                .session_token_expiry_sec
                .or(file.session.token_expiry_sec)
                .unwrap_or(defaults.token_expiry_sec),
            refresh_token_expiry_sec: args
                .session_refresh_token_expiry_sec
                .or(file.session.refresh_token_expiry_sec)
                .unwrap_or(defaults.refresh_token_expiry_sec),
            failed_logins: kaosnet::accounts::LoginLimits {
                free_failures: file.session.failed_login_free_attempts.unwrap_or(defaults.failed_logins.free_failures),
                max_lockout_sec: file
                    .session
                    .failed_login_max_lockout_sec
                    .unwrap_or(defaults.failed_logins.max_lockout_sec),
            },
        };
        if session.failed_logins.max_lockout_sec <= 0 {
            return Err("failed_login_max_lockout_sec must be positive".into());
        }
        if session.token_expiry_sec <= 0 || session.refresh_token_expiry_sec <= 0 {
            return Err("token lifetimes must be positive".into());
        }
        if session.encryption_key == session.refresh_encryption_key {
            return Err("the session and refresh encryption keys must differ".into());
        }
        Ok(Config {
            address: args.address.or(file.address).unwrap_or_else(|| "0.0.0.0".into()),
            port: args.port.or(file.port).unwrap_or(7350),
            rudp_port: optional_port("rudp_port", args.rudp_port, file.rudp_port, 7352)?,
            console_port: optional_port("console_port", args.console_port, file.console_port, 7351)?,
            database: parse_database(&database)?,
            database_pool_size: match args.database_pool_size.or(file.database_pool_size).unwrap_or(16) {
                0 => return Err("database_pool_size must be at least 1".into()),
                n => n,
            },
            api: kaosnet::ApiConfig {
                server_key: args.server_key.or(file.server_key).unwrap_or(api.server_key),
                http_key: args.http_key.or(file.http_key).unwrap_or(api.http_key),
            },
            session,
            rate_limits: rate_limits(args.rate_limit.or(file.rate_limit), &file.rate_limits)?,
            socket_flush: match args.socket_flush_ms.or(file.socket_flush_ms).unwrap_or(0) {
                ms @ 0..=1000 => std::time::Duration::from_millis(ms),
                _ => return Err("socket_flush_ms must be at most 1000".into()),
            },
            socket_threads: match args.socket_threads.or(file.socket_threads).unwrap_or(1) {
                n @ 1..=15 => n,
                _ => return Err("socket_threads must be 1 to 15".into()),
            },
            runtime: runtime(args.runtime_path, file.runtime)?,
            admin_password: std::env::var("KAOS_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty()),
            telemetry: telemetry(args.log_level, args.log_format, args.otlp_endpoint, file.telemetry)?,
            tls: match (args.tls_cert.or(file.tls_cert), args.tls_key.or(file.tls_key)) {
                (Some(cert), Some(key)) => Some((cert, key)),
                (None, None) => None,
                _ => return Err("tls_cert and tls_key go together: give both or neither".into()),
            },
        })
    }

    /// The configuration as `kaos-server check-config` prints it: every setting, keys and
    /// passwords shown only as set or default.
    pub fn summary(&self) -> String {
        let port = |p: Option<u16>| p.map_or_else(|| "off".to_string(), |p| p.to_string());
        let database = match &self.database {
            Database::Sqlite(path) => format!("sqlite:{}", path.display()),
            Database::Memory => "memory".into(),
            Database::Postgres(_) => format!("postgres ({} connections at most)", self.database_pool_size),
        };
        let api = kaosnet::ApiConfig::default();
        let set = |value: &str, default: &str| if value == default { "the public default" } else { "set" };
        [
            format!("address: {}", self.address),
            format!(
                "ports: client API {}, console {}, RUDP {}",
                self.port,
                port(self.console_port),
                port(self.rudp_port)
            ),
            format!("database: {database}"),
            match &self.tls {
                Some((cert, key)) => format!("TLS: certificate {}, key {}", cert.display(), key.display()),
                None => "TLS: off (plain HTTP)".into(),
            },
            format!("server key: {}", set(&self.api.server_key, &api.server_key)),
            format!("http key: {}", set(&self.api.http_key, &api.http_key)),
            format!(
                "sessions: tokens {} s, refresh tokens {} s",
                self.session.token_expiry_sec, self.session.refresh_token_expiry_sec
            ),
            format!("rate limits: {:?}", self.rate_limits),
            format!("Lua modules: {}", self.runtime.path.display()),
            format!(
                "logs: {} at {:?}{}",
                if self.telemetry.json { "JSON" } else { "pretty" },
                self.telemetry.level,
                self.telemetry.otlp_endpoint.as_ref().map_or(String::new(), |e| format!(", spans to {e}"))
            ),
            format!(
                "console admin password: {}",
                if self.admin_password.is_some() { "from KAOS_ADMIN_PASSWORD" } else { "made on first start" }
            ),
        ]
        .join("\n")
    }

    /// Warnings for settings that are fine in development only.
    pub fn warnings(&self) -> Vec<String> {
        let defaults = kaosnet::session::SessionConfig::default();
        let api = kaosnet::ApiConfig::default();
        let mut w = Vec::new();
        for (name, value, default) in [
            ("server key", &self.api.server_key, &api.server_key),
            ("http key", &self.api.http_key, &api.http_key),
            ("session encryption key", &self.session.encryption_key, &defaults.encryption_key),
            ("refresh encryption key", &self.session.refresh_encryption_key, &defaults.refresh_encryption_key),
        ] {
            if value == default {
                w.push(format!("the {name} is the public default: change it before production"));
            }
        }
        w
    }
}

/// The defaults, then the file's classes, then `rate_limit` (the flag's, else the
/// file's): 0 turns every limit off, another number sets the standard class.
fn rate_limits(rate_limit: Option<f64>, file: &FileRateLimits) -> Result<RateLimits, String> {
    let mut limits = RateLimits::default();
    for (name, given, slot) in [
        ("auth", file.auth, &mut limits.auth),
        ("standard", file.standard, &mut limits.standard),
        ("realtime", file.realtime, &mut limits.realtime),
    ] {
        if let Some(l) = given {
            if !(l.per_second >= 0.0 && l.burst >= 1.0) {
                return Err(format!("rate_limits.{name}: per_second must be >= 0 and burst >= 1"));
            }
            *slot = (l.per_second > 0.0).then_some(l);
        }
    }
    match rate_limit {
        Some(r) if r.is_nan() || r < 0.0 => Err(format!("bad rate limit {r}: use a number >= 0")),
        Some(0.0) => Ok(RateLimits::NONE),
        Some(r) => Ok(RateLimits { standard: Some(Limit { per_second: r, burst: r * 2.0 }), ..limits }),
        None => Ok(limits),
    }
}

/// `[telemetry]` and its flags: the level from the flag, the file, `RUST_LOG`, or `info`.
fn telemetry(
    level: Option<String>,
    format: Option<String>,
    otlp: Option<String>,
    file: FileTelemetry,
) -> Result<kaosnet::telemetry::TracingConfig, String> {
    let mut t = kaosnet::telemetry::TracingConfig::new(file.service_name.as_deref().unwrap_or("kaosnet"));
    t.level = level.or(file.log_level).or_else(|| std::env::var("RUST_LOG").ok()).unwrap_or_else(|| "info".into());
    t.json = match format.or(file.log_format).as_deref() {
        None | Some("pretty") => false,
        Some("json") => true,
        Some(other) => return Err(format!("log_format must be pretty or json, not {other:?}")),
    };
    t.otlp_endpoint = otlp.or(file.otlp_endpoint).filter(|e| !e.is_empty());
    Ok(t)
}

/// The Lua runtime: the flag's path, else the file's, else the default; the file's limits.
fn runtime(flag: Option<PathBuf>, file: FileRuntime) -> Result<kaos_lua::RuntimeConfig, String> {
    let defaults = kaos_lua::RuntimeConfig::default();
    let memory_limit = match file.memory_limit_mb {
        None => defaults.memory_limit,
        Some(mb @ 1..=65_536) => mb << 20,
        Some(_) => return Err("runtime.memory_limit_mb must be 1 to 65536".into()),
    };
    Ok(kaos_lua::RuntimeConfig {
        path: flag.or(file.path).unwrap_or(defaults.path),
        max_states: match file.max_states.unwrap_or(defaults.max_states) {
            n @ 1..=1024 => n,
            _ => return Err("runtime.max_states must be 1 to 1024".into()),
        },
        max_instructions: match file.max_instructions.unwrap_or(defaults.max_instructions) {
            0 => return Err("runtime.max_instructions must be at least 1".into()),
            n => n,
        },
        memory_limit,
    })
}

/// A port that may be `off`: the flag, else the file, else `default`.
fn optional_port(
    name: &str,
    flag: Option<String>,
    file: Option<toml::Value>,
    default: u16,
) -> Result<Option<u16>, String> {
    match (flag, file) {
        (Some(flag), _) => parse_port(&flag),
        (None, Some(toml::Value::Integer(p))) => parse_port(&p.to_string()),
        (None, Some(toml::Value::String(s))) => parse_port(&s),
        (None, Some(other)) => Err(format!("{name}: expected a port or \"off\", got {other}")),
        (None, None) => Ok(Some(default)),
    }
}

/// A port, or `off`.
fn parse_port(s: &str) -> Result<Option<u16>, String> {
    match s {
        "off" => Ok(None),
        _ => s.parse().map(Some).map_err(|_| format!("bad port {s:?}: use 0-65535 or off")),
    }
}

impl Default for Config {
    /// What `kaos-server` with no settings runs: every address, ports 7350, 7351 and 7352,
    /// SQLite under `./data`, the development keys, the default rate limits.
    fn default() -> Self {
        Config::load(Args::default()).expect("the defaults are valid")
    }
}

fn parse_database(s: &str) -> Result<Database, String> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        return Ok(Database::Postgres(s.to_string()));
    }
    if let Some(params) = s.strip_prefix("postgres:") {
        return Ok(Database::Postgres(params.to_string()));
    }
    match s {
        "memory" => Ok(Database::Memory),
        _ => match s.strip_prefix("sqlite:") {
            Some(path) if !path.is_empty() => Ok(Database::Sqlite(PathBuf::from(path))),
            _ => Err(format!("unknown database {s:?}: use sqlite:<path>, memory or postgres://…")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        Args::parse_from(std::iter::once("kaos-server").chain(extra.iter().copied()))
    }

    #[test]
    fn telemetry_comes_from_the_file_and_the_flags() {
        let dir = std::env::temp_dir().join(format!("kaos-config-telemetry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("kaos.toml");
        let text =
            "[telemetry]\nlog_format = \"json\"\notlp_endpoint = \"http://collector:4318\"\nservice_name = \"game\"\n";
        std::fs::write(&file, text).unwrap();
        let c = Config::load(args(&["--config", file.to_str().unwrap(), "--log-level", "warn,kaosnet=debug"])).unwrap();
        let t = &c.telemetry;
        assert_eq!((t.json, t.service_name.as_str(), t.level.as_str()), (true, "game", "warn,kaosnet=debug"));
        assert_eq!(t.otlp_endpoint.as_deref(), Some("http://collector:4318"));
        let pretty = Config::load(args(&["--config", file.to_str().unwrap(), "--log-format", "pretty"])).unwrap();
        assert!(!pretty.telemetry.json);
        let e = Config::load(args(&["--log-format", "xml"])).unwrap_err();
        assert!(e.contains("pretty or json"), "{e}");
        assert_eq!(Config::load(args(&[])).unwrap().telemetry.otlp_endpoint, None);
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("kaos-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("kaos.toml");
        let text = "port = 9000\nserver_key = \"filekey\"\n[session]\ntoken_expiry_sec = 120\nfailed_login_free_attempts = 3\n";
        std::fs::write(&file, text).unwrap();
        let c = Config::load(args(&["--config", file.to_str().unwrap(), "--port", "9100"])).unwrap();
        assert_eq!((c.port, c.api.server_key.as_str(), c.session.token_expiry_sec), (9100, "filekey", 120));
        let lockout = kaosnet::accounts::LoginLimits { free_failures: 3, max_lockout_sec: 900 };
        assert_eq!(c.session.failed_logins, lockout);
        assert_eq!(c.database, Database::Sqlite("./data/kaos.db".into()));
        assert_eq!(c.api.http_key, "defaulthttpkey");
        assert_eq!(c.warnings().len(), 3);
        std::fs::write(&file, "prot = 1\n").unwrap();
        let e = Config::load(args(&["--config", file.to_str().unwrap()])).unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        assert!(Config::load(args(&["--database", "mysql://x"])).is_err());
        assert_eq!(Config::load(args(&["--database", "memory"])).unwrap().database, Database::Memory);
        assert_eq!((c.rudp_port, c.console_port), (Some(7352), Some(7351)));
        assert_eq!(Config::load(args(&["--console-port", "0"])).unwrap().console_port, Some(0));
        assert_eq!(Config::load(args(&["--rudp-port", "off"])).unwrap().rudp_port, None);
        assert!(Config::load(args(&["--rudp-port", "70000"])).is_err());
        std::fs::write(&file, "rudp_port = \"off\"\n").unwrap();
        assert_eq!(Config::load(args(&["--config", file.to_str().unwrap()])).unwrap().rudp_port, None);
        std::fs::write(&file, "rudp_port = 9001\n").unwrap();
        assert_eq!(Config::load(args(&["--config", file.to_str().unwrap()])).unwrap().rudp_port, Some(9001));
        // Rate limits: the defaults, a class from the file, a class turned off, all off.
        assert_eq!(c.rate_limits, RateLimits::default());
        let text =
            "[rate_limits]\nrealtime = { per_second = 500, burst = 1000 }\nauth = { per_second = 0, burst = 1 }\n";
        std::fs::write(&file, text).unwrap();
        let limits = Config::load(args(&["--config", file.to_str().unwrap()])).unwrap().rate_limits;
        assert_eq!(limits.realtime, Some(Limit { per_second: 500.0, burst: 1000.0 }));
        assert_eq!((limits.auth, limits.standard), (None, RateLimits::default().standard));
        let off = Config::load(args(&["--config", file.to_str().unwrap(), "--rate-limit", "0"])).unwrap();
        assert_eq!(off.rate_limits, RateLimits::NONE);
        std::fs::write(&file, "[rate_limits]\nrealtime = { per_second = 5 }\n").unwrap();
        assert!(Config::load(args(&["--config", file.to_str().unwrap()])).is_err());
        // The socket's flush interval: none by default, from the file, the flag wins.
        assert_eq!(c.socket_flush, std::time::Duration::ZERO);
        std::fs::write(&file, "socket_flush_ms = 4\n").unwrap();
        let flush = |extra: &[&str]| {
            Config::load(args(&[&["--config", file.to_str().unwrap()], extra].concat())).map(|c| c.socket_flush)
        };
        assert_eq!(flush(&[]), Ok(std::time::Duration::from_millis(4)));
        assert_eq!(flush(&["--socket-flush-ms", "0"]), Ok(std::time::Duration::ZERO));
        assert!(flush(&["--socket-flush-ms", "5000"]).is_err());
        assert_eq!(c.socket_threads, 1);
        assert_eq!(Config::load(args(&["--socket-threads", "4"])).unwrap().socket_threads, 4);
        assert!(Config::load(args(&["--socket-threads", "0"])).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
