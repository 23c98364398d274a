//! The RUDP server's statistics, copied into the Prometheus metrics once a second by its
//! socket thread (the server is that thread's alone).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaos_rudp::{RudpServer, ServerStats};

use crate::metrics::RudpMetrics;

const EVERY: Duration = Duration::from_secs(1);

pub(super) struct RudpSampler {
    metrics: RudpMetrics,
    next: Instant,
    last: ServerStats,
    /// Each client's resent messages at the last sample, for the counter's increments.
    resent: HashMap<SocketAddr, u64>,
}

impl RudpSampler {
    pub(super) fn new(metrics: RudpMetrics) -> RudpSampler {
        RudpSampler { metrics, next: Instant::now(), last: ServerStats::default(), resent: HashMap::new() }
    }

    /// Copies the server's counters in, if a second has passed since the last time.
    pub(super) fn sample(&mut self, server: &RudpServer) {
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + EVERY;
        let stats = server.stats();
        let m = &self.metrics;
        m.clients.set(stats.clients as i64);
        m.datagrams_received.inc_by(stats.datagrams_received.saturating_sub(self.last.datagrams_received));
        m.datagrams_sent.inc_by(stats.datagrams_sent.saturating_sub(self.last.datagrams_sent));
        m.invalid.inc_by(stats.invalid_dropped.saturating_sub(self.last.invalid_dropped));
        self.last = stats;
        for addr in server.clients() {
            let Some(client) = server.client_stats(&addr) else { continue };
            let before = self.resent.insert(addr, client.messages_resent).unwrap_or(0);
            m.retransmits.inc_by(client.messages_resent.saturating_sub(before));
            // Zero until the first round trip is measured.
            let rtt = client.rtt.as_micros();
            if rtt > 0 {
                m.rtt.observe(rtt as f64 / 1e6);
            }
        }
    }

    /// A client has gone.
    pub(super) fn forget(&mut self, addr: &SocketAddr) {
        self.resent.remove(addr);
    }
}
