//! RTT estimation, retransmission timeout and the AIMD congestion window.
//!
//! [`RttEstimator`] is RFC 6298 (SRTT, RTTVAR, RTO = SRTT + 4·RTTVAR, exponential backoff
//! on timeout) with configurable bounds, because games want a far smaller minimum RTO than
//! TCP's one second. [`Aimd`] is a byte-counted congestion window: slow start doubles it
//! per round trip, congestion avoidance adds one datagram per window, and a loss cuts it
//! at most once per round trip (losses of packets sent before the last reduction belong to
//! the same congestion event). How deep the cut goes follows TCP Veno: a loss while the
//! path queues little of the window (smoothed RTT near the minimum) is taken for a lossy
//! link, not a full queue, and cuts a fifth; otherwise the window halves.

use crate::time::{Duration, Instant};

/// RFC 6298 round-trip estimator.
#[derive(Debug, Clone, Copy)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    latest: Duration,
    /// The smallest sample: the path's delay without queueing.
    min: Option<Duration>,
    initial_rto: Duration,
    min_rto: Duration,
    max_rto: Duration,
    /// The peer may hold its ack this long: added to the timeout.
    max_ack_delay: Duration,
    backoff: u32,
}

impl RttEstimator {
    /// A fresh estimator: RTO is `initial_rto` until the first sample.
    pub const fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            latest: Duration::ZERO,
            min: None,
            initial_rto,
            min_rto,
            max_rto,
            max_ack_delay: Duration::ZERO,
            backoff: 0,
        }
    }

    /// The same, for a peer that may hold its acks up to `d` (added to the timeout once
    /// there is a sample).
    pub const fn with_max_ack_delay(mut self, d: Duration) -> Self {
        self.max_ack_delay = d;
        self
    }

    /// Feeds one round-trip sample (ack delay already subtracted).
    pub fn on_sample(&mut self, rtt: Duration) {
        let r = rtt.as_micros();
        self.latest = rtt;
        self.min = Some(self.min.map_or(rtt, |m| m.min(rtt)));
        self.backoff = 0;
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = Duration::from_micros(r / 2);
            }
            Some(srtt) => {
                let s = srtt.as_micros();
                // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|; SRTT = 7/8 SRTT + 1/8 R.
                let dev = s.abs_diff(r);
                self.rttvar = Duration::from_micros((3 * self.rttvar.as_micros() + dev) / 4);
                self.srtt = Some(Duration::from_micros((7 * s + r) / 8));
            }
        }
    }

    /// A retransmission timer fired: back off (RTO doubles, up to the maximum).
    pub fn on_timeout(&mut self) {
        self.backoff = (self.backoff + 1).min(16);
    }

    /// Smoothed RTT, or the initial RTO before any sample.
    pub fn smoothed(&self) -> Duration {
        self.srtt.unwrap_or(self.initial_rto)
    }

    /// Whether at least one sample arrived.
    pub fn has_sample(&self) -> bool {
        self.srtt.is_some()
    }

    /// RTT variance estimate.
    pub fn variance(&self) -> Duration {
        self.rttvar
    }

    /// Most recent sample.
    pub fn latest(&self) -> Duration {
        self.latest
    }

    /// Smallest sample so far, if any.
    pub fn min(&self) -> Option<Duration> {
        self.min
    }

    /// Bytes of a `window` the path holds in queues: `window · (SRTT − min) / SRTT`
    /// (TCP Veno's backlog); 0 before any sample.
    pub fn queued(&self, window: u32) -> u64 {
        match (self.srtt, self.min) {
            (Some(s), Some(m)) if s > m => (window as u64).saturating_mul((s - m).as_micros()) / s.as_micros(),
            _ => 0,
        }
    }

    /// Current retransmission timeout, backoff included, clamped to the bounds.
    pub fn rto(&self) -> Duration {
        let base = match self.srtt {
            None => self.initial_rto.as_micros(),
            Some(s) => s
                .as_micros()
                .saturating_add(4u64.saturating_mul(self.rttvar.as_micros()).max(1_000))
                .saturating_add(self.max_ack_delay.as_micros()),
        };
        let b = base.clamp(self.min_rto.as_micros(), self.max_rto.as_micros());
        Duration::from_micros(b.saturating_mul(1u64 << self.backoff).min(self.max_rto.as_micros()))
    }
}

/// Additive-increase / multiplicative-decrease congestion window, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Aimd {
    cwnd: u32,
    ssthresh: u32,
    mss: u32,
    min_cwnd: u32,
    max_cwnd: u32,
    in_flight: u32,
    /// Packets sent before this instant belong to the last congestion event.
    recovery_start: Option<Instant>,
    /// Bytes acked since the last additive increase (congestion avoidance).
    acked_accum: u32,
    /// Congestion events (window cuts), and of those the ones taken for random loss.
    pub(crate) cuts: u64,
    pub(crate) random_cuts: u64,
}

/// A loss with less than this many datagrams of the window queued in the path is taken
/// for random (TCP Veno's β).
const RANDOM_LOSS_BACKLOG: u32 = 3;

impl Aimd {
    /// `mss` is the datagram size; the window starts at `initial_packets` datagrams and
    /// never leaves `[2, max_cwnd / mss]` datagrams.
    pub fn new(mss: u32, initial_packets: u32, max_cwnd: u32) -> Self {
        let mss = mss.max(1);
        let min_cwnd = 2 * mss;
        let max_cwnd = max_cwnd.max(min_cwnd);
        Aimd {
            cwnd: (initial_packets.saturating_mul(mss)).clamp(min_cwnd, max_cwnd),
            ssthresh: max_cwnd,
            mss,
            min_cwnd,
            max_cwnd,
            in_flight: 0,
            recovery_start: None,
            acked_accum: 0,
            cuts: 0,
            random_cuts: 0,
        }
    }

    /// Whether a datagram of `bytes` may be sent now.
    pub fn can_send(&self, bytes: u32) -> bool {
        self.in_flight.saturating_add(bytes) <= self.cwnd
    }

    /// Records a sent, congestion-controlled datagram.
    pub fn on_sent(&mut self, bytes: u32) {
        self.in_flight = self.in_flight.saturating_add(bytes);
    }

    /// A datagram sent at `sent` was acked.
    pub fn on_acked(&mut self, bytes: u32, sent: Instant) {
        self.in_flight = self.in_flight.saturating_sub(bytes);
        if self.recovery_start.is_some_and(|r| sent <= r) {
            return;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(bytes).min(self.max_cwnd);
        } else {
            self.acked_accum = self.acked_accum.saturating_add(bytes);
            if self.acked_accum >= self.cwnd {
                self.acked_accum -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss).min(self.max_cwnd);
            }
        }
    }

    /// A datagram sent at `sent` was declared lost at `now`; `rtt` tells how much of the
    /// window the path queues.
    pub fn on_lost(&mut self, bytes: u32, sent: Instant, now: Instant, rtt: &RttEstimator) {
        self.in_flight = self.in_flight.saturating_sub(bytes);
        if self.recovery_start.is_some_and(|r| sent <= r) {
            return;
        }
        self.recovery_start = Some(now);
        self.cuts += 1;
        // Halving on a random loss starves a lossy link (Wi-Fi, mobile) that has room;
        // a queue that holds several datagrams says the loss is congestion.
        let random = rtt.has_sample() && rtt.queued(self.cwnd) < (RANDOM_LOSS_BACKLOG * self.mss) as u64;
        if random {
            self.random_cuts += 1;
        }
        let kept = if random { self.cwnd / 5 * 4 } else { self.cwnd / 2 };
        self.cwnd = kept.max(self.min_cwnd);
        self.ssthresh = self.cwnd;
        self.acked_accum = 0;
    }

    /// A datagram stopped counting as in flight without telling anything about the path.
    pub fn on_forgotten(&mut self, bytes: u32) {
        self.in_flight = self.in_flight.saturating_sub(bytes);
    }

    /// Congestion window, bytes.
    pub fn window(&self) -> u32 {
        self.cwnd
    }

    /// Bytes in flight.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }
}

/// Connection statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Round-trip variance.
    pub rtt_var: Duration,
    /// Congestion window, bytes.
    pub cwnd: u32,
    /// Datagrams sent (all types).
    pub packets_sent: u64,
    /// Valid datagrams received.
    pub packets_received: u64,
    /// Sent data packets acked by the peer.
    pub packets_acked: u64,
    /// Sent data packets declared lost.
    pub packets_lost: u64,
    /// Bytes sent (all datagrams).
    pub bytes_sent: u64,
    /// Bytes of valid datagrams received.
    pub bytes_received: u64,
    /// Bytes of acked data packets.
    pub bytes_acked: u64,
    /// Reliable messages sent again after a loss or timeout.
    pub messages_resent: u64,
    /// Payload bytes of those resends.
    pub bytes_resent: u64,
    /// Retransmission timeouts that fired (losses no ack revealed).
    pub timeouts: u64,
    /// Congestion events: times losses cut the congestion window.
    pub window_cuts: u64,
    /// Of those, the cuts by a fifth for a loss taken for random (little of the window
    /// queued in the path); the others halved it.
    pub random_loss_cuts: u64,
    /// Messages delivered to the application.
    pub messages_delivered: u64,
    /// Datagrams dropped as invalid (bad checksum, malformed, out of window, duplicate).
    pub invalid_dropped: u64,
    /// Valid packets dropped because a receive buffer was full (the peer resends).
    pub dropped_full: u64,
}

impl Stats {
    /// Fraction of acked-or-lost data packets that were lost, in `[0, 1]`.
    pub fn loss_fraction(&self) -> f32 {
        let total = self.packets_acked + self.packets_lost;
        if total == 0 {
            0.0
        } else {
            self.packets_lost as f32 / total as f32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn rfc6298_first_and_later_samples() {
        let mut e = RttEstimator::new(ms(1000), ms(50), ms(10_000));
        assert_eq!(e.rto(), ms(1000));
        e.on_sample(ms(100));
        assert_eq!(e.smoothed(), ms(100));
        assert_eq!(e.variance(), ms(50));
        assert_eq!(e.rto(), ms(300));
        e.on_sample(ms(200));
        // RTTVAR = 3/4*50 + 1/4*100 = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5.
        assert_eq!(e.variance(), Duration::from_micros(62_500));
        assert_eq!(e.smoothed(), Duration::from_micros(112_500));
    }

    #[test]
    fn rto_bounds_and_backoff() {
        let mut e = RttEstimator::new(ms(1000), ms(50), ms(2_000));
        e.on_sample(Duration::from_micros(100));
        assert_eq!(e.rto(), ms(50));
        e.on_timeout();
        assert_eq!(e.rto(), ms(100));
        for _ in 0..40 {
            e.on_timeout();
        }
        assert_eq!(e.rto(), ms(2_000));
        e.on_sample(Duration::from_micros(100));
        assert_eq!(e.rto(), ms(50));
    }

    /// An estimator with no sample: losses say nothing about queues and halve.
    fn unsampled() -> RttEstimator {
        RttEstimator::new(ms(100), ms(10), ms(1000))
    }

    #[test]
    fn slow_start_then_halving_once_per_event() {
        let t0 = Instant::from_millis(0);
        let mut a = Aimd::new(1000, 4, 1_000_000);
        assert_eq!(a.window(), 4000);
        for _ in 0..4 {
            assert!(a.can_send(1000));
            a.on_sent(1000);
        }
        assert!(!a.can_send(1000));
        for _ in 0..4 {
            a.on_acked(1000, t0);
        }
        assert_eq!(a.window(), 8000);
        assert_eq!(a.in_flight(), 0);
        for _ in 0..4 {
            a.on_sent(1000);
        }
        let now = Instant::from_millis(10);
        a.on_lost(1000, t0, now, &unsampled());
        assert_eq!(a.window(), 4000);
        // Same congestion event: no second halving.
        a.on_lost(1000, t0, now, &unsampled());
        assert_eq!(a.window(), 4000);
        // Congestion avoidance: +1 MSS per window of acks sent after the event.
        a.on_acked(1000, Instant::from_millis(20));
        a.on_acked(1000, Instant::from_millis(20));
        a.on_acked(1000, Instant::from_millis(20));
        assert_eq!(a.window(), 4000);
        a.on_acked(1000, Instant::from_millis(20));
        assert_eq!(a.window(), 5000);
    }

    #[test]
    fn window_has_a_floor() {
        let mut a = Aimd::new(1000, 4, 1_000_000);
        for i in 0..20 {
            a.on_lost(0, Instant::from_millis(i * 10 + 5), Instant::from_millis(i * 10 + 6), &unsampled());
        }
        assert_eq!(a.window(), 2000);
    }

    #[test]
    fn a_loss_without_a_queue_cuts_a_fifth_and_one_behind_a_queue_halves() {
        let mut rtt = RttEstimator::new(ms(100), ms(10), ms(1000));
        rtt.on_sample(ms(20));
        // SRTT at the minimum: nothing queued, so the loss is taken for random.
        let mut a = Aimd::new(1000, 100, 1_000_000);
        a.on_lost(1000, Instant::from_millis(0), Instant::from_millis(1), &rtt);
        assert_eq!(a.window(), 80_000);
        assert_eq!((a.cuts, a.random_cuts), (1, 1));
        // SRTT rises to about twice the minimum: half of a 64-datagram window is queued.
        for _ in 0..40 {
            rtt.on_sample(ms(40));
        }
        assert_eq!(rtt.min(), Some(ms(20)));
        assert!(rtt.queued(64_000) > 30_000, "{}", rtt.queued(64_000));
        let mut b = Aimd::new(1000, 64, 1_000_000);
        b.on_lost(1000, Instant::from_millis(0), Instant::from_millis(1), &rtt);
        assert_eq!(b.window(), 32_000);
        assert_eq!((b.cuts, b.random_cuts), (1, 0));
        // A small window queues under 3 datagrams even so: random again.
        let mut c = Aimd::new(1000, 4, 1_000_000);
        c.on_lost(1000, Instant::from_millis(0), Instant::from_millis(1), &rtt);
        assert_eq!(c.window(), 3_200);
    }

    #[test]
    fn loss_fraction() {
        let s = Stats { packets_acked: 75, packets_lost: 25, ..Stats::default() };
        assert!((s.loss_fraction() - 0.25).abs() < 1e-6);
        assert_eq!(Stats::default().loss_fraction(), 0.0);
    }
}
