//! KaosNet on a microcontroller: a game client over a small radio trait, fixed buffers,
//! quantized snapshots and interpolation, against a simulated server. README.md is the
//! guide; this file holds the two entry points.
//!
//! Built for `thumbv7em-none-eabihf` this is a `#![no_std]`, `#![no_main]` binary with its
//! own panic handler, `panic = "abort"` and **no global allocator**: it links only if
//! nothing in kaos-core or its dependencies reaches for `alloc`. On a host it is an
//! ordinary program running the same scenario, printing what it achieved and the memory
//! budget, and exiting nonzero if a goal was missed.
//!
//! - [`radio`]: the [`Radio`](radio::Radio) and [`Clock`](radio::Clock) traits a porter
//!   implements, and an in-memory lossy pair of radios.
//! - [`client`]: the client loop. [`server`]: the simulated server.
//! - [`wire`]: quantized snapshots and inputs. [`budget`]: the `Config` and its memory.
//! - [`scenario`]: both sides on one simulated clock, and the goals.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

mod budget;
mod client;
mod radio;
mod scenario;
mod server;
mod wire;

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// Bare-metal entry point (the linker's default entry symbol). A real board's runtime
/// (cortex-m-rt, embassy…) provides its own and calls the client loop from it.
#[cfg(target_os = "none")]
#[no_mangle]
pub extern "C" fn _start() -> ! {
    let ok = scenario::run(&scenario::Params::DEFAULT).succeeded();
    loop {
        core::hint::black_box(ok);
        core::hint::spin_loop();
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    let p = scenario::Params::DEFAULT;
    let o = scenario::run(&p);
    print_summary(&p, &o);
    print_budget();
    if !o.succeeded() {
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "none"))]
fn print_summary(p: &scenario::Params, o: &scenario::Outcome) {
    let a = &p.air;
    println!(
        "kaos-embedded: {} s simulated, {} % loss each way, {} ms + 0..{} ms one-way delay, seed {:#x}",
        p.duration.as_millis() / 1000,
        a.loss_percent,
        a.latency.as_millis(),
        a.jitter.as_millis(),
        p.seed
    );
    match o.connected_after {
        Some(d) => println!("  connected after {} ms", d.as_millis()),
        None => println!("  never connected"),
    }
    for (who, s) in [("client -> server", &o.air[0]), ("server -> client", &o.air[1])] {
        println!("  air {who}: {} datagrams, {} lost, {} delivered, {} busy", s.sent, s.lost, s.delivered, s.busy);
    }
    println!(
        "  snapshots: {} sent at 20 Hz ({} B max each), {} received",
        o.snapshots_sent,
        wire::MAX_SNAPSHOT_BYTES,
        o.snapshots_received
    );
    println!(
        "  rendering: {} of {} entity positions interpolated, max error {:.6} m (step {:.6} m)",
        o.interpolated, o.samples, o.max_error, o.resolution
    );
    println!(
        "  reliable: {}/{} to the server, {}/{} to the client, {} out of order or corrupt",
        o.to_server.next,
        o.messages,
        o.to_client.next,
        o.messages,
        o.to_server.wrong + o.to_client.wrong
    );
    println!("  inputs: {} sent, {} received", o.inputs_sent, o.inputs_received);
    let l = &o.client_link;
    println!(
        "  client connection: rtt {} ms, {} data packets declared lost, {} reliable messages resent",
        l.rtt.as_millis(),
        l.packets_lost,
        l.messages_resent
    );
    for (goal, ok) in o.goals() {
        println!("  [{}] {goal}", if ok { "ok" } else { "FAILED" });
    }
}

/// The memory budget table README.md quotes.
#[cfg(not(target_os = "none"))]
fn print_budget() {
    use core::mem::size_of;
    use kaos_core::conn::Connection;
    use kaos_core::interp::SnapshotBuffer;

    let cfg = budget::config();
    println!(
        "memory per connection: Config::storage_words() = {} words = {} B",
        cfg.storage_words(),
        cfg.storage_words() * 8
    );
    for row in budget::breakdown(&cfg) {
        println!("  {row}");
    }
    println!("  {:<37}{:>23} B", "sum", budget::storage_bytes(&cfg));
    println!("RAM beyond the storage ({}-bit host; see README for thumbv7em):", usize::BITS);
    let history = size_of::<[SnapshotBuffer<[f32; 2], { client::HISTORY }>; wire::MAX_ENTITIES]>();
    let rows = [
        ("Connection state (Connection<[u64; 0]>)", size_of::<Connection<[u64; 0]>>()),
        ("datagram buffers (rx + tx)", 2 * budget::MTU),
        ("snapshot history (4 entities x 8)", history),
        ("Client<[u64; WORDS]> in all", size_of::<client::Client<[u64; budget::WORDS]>>()),
        ("Server (endpoint, 3 buffers; storage apart)", size_of::<server::Server<'static>>()),
    ];
    for (what, bytes) in rows {
        println!("  {what:<45}{bytes:>15} B");
    }
}
