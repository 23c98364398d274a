//! `kaos-driver`: runs the media driver until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kaos_driver::{Driver, DriverConfig};

/// The KaosNet media driver: applications send and receive through shared memory, the
/// driver owns the reliable-UDP sockets.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The driver's name; its directory is /dev/shm/kaos-driver-<name>.
    #[arg(long, default_value = "default")]
    name: String,
    /// The directory instead (overrides --name and KAOS_DRIVER_DIR).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Client slots (each client transport or server takes one).
    #[arg(long, default_value_t = 64)]
    slots: u32,
    /// Data bytes of each message ring (a power of two).
    #[arg(long, default_value_t = 1 << 20)]
    ring_bytes: u32,
    /// Longest sleep when idle, microseconds: the most an idle driver adds to the
    /// latency of a message an application writes.
    #[arg(long, default_value_t = 1000)]
    idle_max_us: u64,
}

fn main() {
    let cli = Cli::parse();
    let dir = cli.dir.unwrap_or_else(|| kaos_rudp::driver::default_dir(&cli.name));
    let cfg = DriverConfig {
        slots: cli.slots,
        data_bytes: cli.ring_bytes,
        idle_max: Duration::from_micros(cli.idle_max_us),
        ..DriverConfig::new(dir)
    };
    let mut driver = match Driver::start(cfg) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("kaos-driver: {e}");
            std::process::exit(1);
        }
    };
    let stop = kaos_driver::stop_on_signals();
    println!("kaos-driver: serving {} ({} stale files reclaimed)", driver.dir().display(), driver.reclaimed());
    if let Err(e) = driver.run(stop) {
        eprintln!("kaos-driver: {e}");
        std::process::exit(1);
    }
}
