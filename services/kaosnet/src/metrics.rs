//! Prometheus metrics, served as text by the console port's `GET /metrics`. Names follow
//! Prometheus' conventions: prefix `kaos_`, base units (`_seconds`, `_bytes`), `_total` on
//! counters. What they count:
//!
//! - the server: `kaos_uptime_seconds`; the process's own `process_*` (memory, threads,
//!   CPU, open files) on Linux;
//! - REST calls by operation and result, with latency (`kaos_api_requests_total`,
//!   `kaos_api_request_seconds`); realtime messages the same way
//!   (`kaos_socket_messages_total`, `kaos_socket_message_seconds`);
//! - sessions by transport, presences, matches by kind and players per match
//!   (`kaos_match_players`, a match-seconds histogram: each match observed once a second),
//!   handler tick time (`kaos_match_tick_seconds`);
//! - storage operations and leaderboard writes by result, matchmaker tickets and matches;
//! - the RUDP server: clients, datagrams, retransmits, invalid datagrams, RTT;
//! - Lua RPC and hook calls by result, with their time;
//! - what other parts register on [`Metrics::registry`].

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::hooks::HookOperation;
use crate::presence::tracker::StreamMode;
use crate::presence::Transport;
use crate::KaosNet;

/// Latency buckets, seconds: 100 µs to 2.5 s.
const LATENCY: [f64; 14] =
    [0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// The storage operations counted.
const STORAGE_OPS: [&str; 4] = ["read", "write", "delete", "list"];

/// One realtime message in this many is timed for `kaos_socket_message_seconds`.
pub const SAMPLE_EVERY: u32 = 16;

/// Whether this thread's next realtime message is one to time.
pub fn sample_socket_latency() -> bool {
    thread_local!(static SEEN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
    SEEN.with(|n| {
        let next = n.get().wrapping_add(1);
        n.set(next);
        next % SAMPLE_EVERY == 0
    })
}

/// One realtime message kind's counters (ok, error) and latency, made on first use.
#[derive(Debug)]
struct SocketKind {
    ok: IntCounter,
    error: IntCounter,
    seconds: Histogram,
}

/// The RUDP server's metrics, fed by its socket thread.
#[derive(Debug, Clone)]
pub struct RudpMetrics {
    pub clients: IntGauge,
    pub datagrams_received: IntCounter,
    pub datagrams_sent: IntCounter,
    pub retransmits: IntCounter,
    pub invalid: IntCounter,
    pub rtt: Histogram,
}

/// The server's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// The process's own, unprefixed as Prometheus names them.
    process: Registry,
    started: Instant,
    uptime: IntGauge,
    api_requests: IntCounterVec,
    api_seconds: HistogramVec,
    socket_messages: IntCounterVec,
    socket_seconds: HistogramVec,
    /// Each socket message kind's handles once it has counted one, by its operation's
    /// place in [`HookOperation::ALL`]: found without the vectors' locks and label
    /// hashing. Only kinds the socket serves are counted, so clients cannot grow the
    /// label set.
    socket_kinds: Arc<[OnceLock<SocketKind>]>,
    sessions: IntGaugeVec,
    presences: IntGauge,
    matches: IntGaugeVec,
    match_players: Histogram,
    match_tick: Histogram,
    /// (read, write, delete, list) × (ok, error), made once.
    storage_ops: Arc<[[IntCounter; 2]; 4]>,
    leaderboard_writes: IntCounterVec,
    matchmaker_tickets: IntGauge,
    matchmaker_matched: IntCounter,
    rudp: RudpMetrics,
    lua_calls: IntCounterVec,
    lua_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("distinct names");
    c
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    r.register(Box::new(c.clone())).expect("distinct names");
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(g.clone())).expect("distinct names");
    g
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())).expect("valid metric");
    r.register(Box::new(h.clone())).expect("distinct names");
    h
}

impl Metrics {
    /// Fresh metrics in a registry of their own (prefix `kaos_`), with the process's.
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("kaos".into()), None).expect("a valid prefix");
        let r = &registry;
        let api_seconds = HistogramVec::new(
            HistogramOpts::new("api_request_seconds", "REST call latency by operation, seconds")
                .buckets(LATENCY.to_vec()),
            &["operation"],
        )
        .expect("valid metric");
        let socket_seconds = HistogramVec::new(
            HistogramOpts::new(
                "socket_message_seconds",
                "Realtime message handling time by kind, seconds (one message in 16 is timed)",
            )
            .buckets(LATENCY.to_vec()),
            &["kind"],
        )
        .expect("valid metric");
        let sessions =
            IntGaugeVec::new(Opts::new("sessions", "Connected realtime sessions, by transport"), &["transport"])
                .expect("valid metric");
        let matches =
            IntGaugeVec::new(Opts::new("matches", "Running matches, by kind"), &["kind"]).expect("valid metric");
        for c in [
            Box::new(api_seconds.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(socket_seconds.clone()),
            Box::new(sessions.clone()),
            Box::new(matches.clone()),
        ] {
            registry.register(c).expect("distinct names");
        }
        let process = Registry::new();
        #[cfg(target_os = "linux")]
        {
            // The process's memory, threads, CPU and files, as `process_*`.
            let collector = prometheus::process_collector::ProcessCollector::for_self();
            process.register(Box::new(collector)).expect("distinct names");
        }
        let rudp = RudpMetrics {
            clients: gauge(r, "rudp_clients", "RUDP clients connected"),
            datagrams_received: counter(r, "rudp_datagrams_received_total", "RUDP datagrams received"),
            datagrams_sent: counter(r, "rudp_datagrams_sent_total", "RUDP datagrams sent"),
            retransmits: counter(r, "rudp_retransmits_total", "Reliable RUDP messages sent again after a loss"),
            invalid: counter(r, "rudp_invalid_datagrams_total", "RUDP datagrams dropped as invalid"),
            rtt: histogram(
                r,
                "rudp_rtt_seconds",
                "RUDP clients' smoothed round-trip times, sampled each second",
                &[0.000_5, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0],
            ),
        };
        let socket_kinds = HookOperation::ALL.iter().map(|_| OnceLock::new()).collect();
        Metrics {
            uptime: gauge(r, "uptime_seconds", "Seconds since the server started"),
            api_requests: counter_vec(
                r,
                "api_requests_total",
                "REST calls by operation and result (ok or the gRPC code name)",
                &["operation", "result"],
            ),
            api_seconds,
            socket_messages: counter_vec(
                r,
                "socket_messages_total",
                "Realtime messages received, by kind and result (ok or error)",
                &["kind", "result"],
            ),
            socket_seconds,
            socket_kinds,
            sessions,
            presences: gauge(r, "presences", "Presences on every stream (channels, matches, parties, status)"),
            matches,
            match_players: histogram(
                r,
                "match_players",
                "Players per authoritative match, each match observed once a second",
                &[0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0],
            ),
            match_tick: histogram(r, "match_tick_seconds", "Authoritative match handler tick time, seconds", &LATENCY),
            storage_ops: {
                let ops = counter_vec(
                    r,
                    "storage_operations_total",
                    "Storage operations by kind (read, write, delete, list) and result",
                    &["operation", "result"],
                );
                let pair = |op| [ops.with_label_values(&[op, "ok"]), ops.with_label_values(&[op, "error"])];
                Arc::new(STORAGE_OPS.map(pair))
            },
            leaderboard_writes: counter_vec(
                r,
                "leaderboard_writes_total",
                "Leaderboard and tournament record writes, by result",
                &["result"],
            ),
            matchmaker_tickets: gauge(r, "matchmaker_tickets", "Matchmaker tickets waiting"),
            matchmaker_matched: counter(r, "matchmaker_matched_players_total", "Players the matchmaker matched"),
            rudp,
            lua_calls: counter_vec(r, "lua_calls_total", "Lua RPC and hook calls, by result", &["result"]),
            lua_seconds: histogram(r, "lua_call_seconds", "Lua RPC and hook call time, seconds", &LATENCY),
            started: Instant::now(),
            registry,
            process,
        }
    }

    /// The registry, for other parts of the server to add their own metrics to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// One REST call of `operation` that took `took`; `result` is `ok` or the code name.
    pub fn api_call(&self, operation: &str, result: &str, took: Duration) {
        self.api_requests.with_label_values(&[operation, result]).inc();
        self.api_seconds.with_label_values(&[operation]).observe(took.as_secs_f64());
    }

    /// One realtime message of the kind `op` names, answered with an error or not, and
    /// how long it took when it was one of those timed.
    pub fn socket_message(&self, op: HookOperation, error: bool, took: Option<Duration>) {
        let kind = self.socket_kinds[op as usize].get_or_init(|| SocketKind {
            ok: self.socket_messages.with_label_values(&[op.name(), "ok"]),
            error: self.socket_messages.with_label_values(&[op.name(), "error"]),
            seconds: self.socket_seconds.with_label_values(&[op.name()]),
        });
        if error { &kind.error } else { &kind.ok }.inc();
        if let Some(took) = took {
            kind.seconds.observe(took.as_secs_f64());
        }
    }

    /// One authoritative match tick that took `took`.
    pub fn match_tick(&self, took: Duration) {
        self.match_tick.observe(took.as_secs_f64());
    }

    /// A match's player count, once a second.
    pub fn match_players(&self, players: usize) {
        self.match_players.observe(players as f64);
    }

    /// One storage operation (`read`, `write`, `delete`, `list`), `ok` or not.
    pub fn storage_op(&self, operation: &str, ok: bool) {
        if let Some(i) = STORAGE_OPS.iter().position(|o| *o == operation) {
            self.storage_ops[i][usize::from(!ok)].inc();
        }
    }

    /// One leaderboard or tournament record write, `ok` or not.
    pub fn leaderboard_write(&self, ok: bool) {
        self.leaderboard_writes.with_label_values(&[if ok { "ok" } else { "error" }]).inc();
    }

    /// Players matched by one matchmaker pass.
    pub fn matchmaker_matched(&self, players: usize) {
        self.matchmaker_matched.inc_by(players as u64);
    }

    /// One Lua RPC or hook call, `ok` or not.
    pub fn lua_call(&self, ok: bool, took: Duration) {
        self.lua_calls.with_label_values(&[if ok { "ok" } else { "error" }]).inc();
        self.lua_seconds.observe(took.as_secs_f64());
    }

    /// The RUDP server's metrics.
    pub fn rudp(&self) -> &RudpMetrics {
        &self.rudp
    }

    /// Everything, in Prometheus' text format, with the gauges read from `kaos` now.
    pub fn render(&self, kaos: &KaosNet) -> String {
        self.uptime.set(self.started.elapsed().as_secs() as i64);
        let sessions = kaos.sessions();
        for (transport, name) in [(Transport::WebSocket, "websocket"), (Transport::Rudp, "rudp")] {
            self.sessions.with_label_values(&[name]).set(sessions.count_on(transport) as i64);
        }
        let tracker = kaos.tracker();
        self.presences.set(tracker.count_all() as i64);
        self.matches.with_label_values(&["authoritative"]).set(kaos.matches().list().len() as i64);
        self.matches.with_label_values(&["relayed"]).set(tracker.streams(StreamMode::MatchRelayed).len() as i64);
        self.matchmaker_tickets.set(kaos.matchmaker().ticket_count() as i64);
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for text.
        let mut families = self.registry.gather();
        families.extend(self.process.gather());
        let _ = TextEncoder::new().encode(&families, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
