//! Prometheus metrics: REST calls by operation and outcome with their latency, realtime
//! messages by kind, connected sessions by transport. Served as text by the console
//! port's `GET /metrics`.

use std::time::Duration;

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::hooks::HookOperation;
use crate::presence::{SessionRegistry, Transport};

/// The server's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    api_requests: IntCounterVec,
    api_seconds: HistogramVec,
    socket_messages: IntCounterVec,
    /// The counter of each socket message kind once it has counted one, by its
    /// operation's place in [`HookOperation::ALL`]: found without the vector's lock and
    /// label hashing. Only kinds the socket serves are counted, so clients cannot grow
    /// the label set.
    socket_counters: std::sync::Arc<[std::sync::OnceLock<prometheus::IntCounter>]>,
    sessions: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh counters in a registry of their own (prefix `kaos_`).
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("kaos".into()), None).expect("a valid prefix");
        let api_requests = IntCounterVec::new(
            Opts::new("api_requests_total", "REST calls by operation and result (ok or the gRPC code name)"),
            &["operation", "result"],
        )
        .expect("valid metric");
        let api_seconds = HistogramVec::new(
            HistogramOpts::new("api_request_seconds", "REST call latency by operation, seconds").buckets(vec![
                0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["operation"],
        )
        .expect("valid metric");
        let socket_messages =
            IntCounterVec::new(Opts::new("socket_messages_total", "Realtime messages received, by kind"), &["kind"])
                .expect("valid metric");
        let sessions =
            IntGaugeVec::new(Opts::new("sessions", "Connected realtime sessions, by transport"), &["transport"])
                .expect("valid metric");
        for c in [
            Box::new(api_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(api_seconds.clone()),
            Box::new(socket_messages.clone()),
            Box::new(sessions.clone()),
        ] {
            registry.register(c).expect("distinct names");
        }
        let socket_counters = HookOperation::ALL.iter().map(|_| std::sync::OnceLock::new()).collect();
        Metrics { registry, api_requests, api_seconds, socket_messages, socket_counters, sessions }
    }

    /// One REST call of `operation` that took `took`; `result` is `ok` or the code name.
    pub fn api_call(&self, operation: &str, result: &str, took: Duration) {
        self.api_requests.with_label_values(&[operation, result]).inc();
        self.api_seconds.with_label_values(&[operation]).observe(took.as_secs_f64());
    }

    /// One realtime message of the kind `op` names.
    pub fn socket_message(&self, op: HookOperation) {
        let counter = &self.socket_counters[op as usize];
        counter.get_or_init(|| self.socket_messages.with_label_values(&[op.name()])).inc();
    }

    /// Everything, in Prometheus' text format, with session gauges read from `sessions`.
    pub fn render(&self, sessions: &SessionRegistry) -> String {
        for (transport, name) in [(Transport::WebSocket, "websocket"), (Transport::Rudp, "rudp")] {
            self.sessions.with_label_values(&[name]).set(sessions.count_on(transport) as i64);
        }
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for text.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
