//! The link a porter implements ([`Radio`], [`Clock`]) and an in-memory lossy pair of
//! radios with a simulated clock, so the whole example runs and is tested on a host.
//!
//! KaosNet needs very little from a link: send one datagram, receive one datagram, both
//! without blocking. Ordering, duplicates and loss are the protocol's job. Addresses are
//! [`SocketAddr`]s because the server's `Endpoint` keys connections by them; a radio or
//! UART without IP maps its node ids onto addresses (for example `10.0.0.<node>:0`).

use core::net::SocketAddr;

use kaos_core::time::{Duration, Instant};

/// Why a datagram was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// The transmitter is busy or its queue is full: try the same datagram again later.
    Busy,
    /// Longer than the link can carry: `Config::max_datagram` must not exceed the link's
    /// frame size.
    TooLong,
}

/// A datagram link: UDP socket, radio, UART framing, shared memory.
///
/// Both calls must return at once (no blocking): the client loop calls them every tick.
pub trait Radio {
    /// Queues `datagram` for `to`. Delivery is best effort; a datagram lost later is
    /// recovered by the protocol, so only report errors known now.
    fn send(&mut self, to: SocketAddr, datagram: &[u8]) -> Result<(), LinkError>;

    /// Copies the next received datagram into `buf` and returns its sender and length, or
    /// `None` when nothing is waiting. A datagram longer than `buf` is dropped, not cut.
    fn recv(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)>;
}

/// A monotonic clock. kaos-core never reads one: every call takes `now`.
pub trait Clock {
    /// Microseconds since an arbitrary epoch; must never go backwards.
    fn now(&self) -> Instant;
}

/// A clock that only moves when told to: deterministic tests, no wall time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimClock {
    now: Instant,
}

impl SimClock {
    /// Moves the clock forward by `d`.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }
}

impl Clock for SimClock {
    fn now(&self) -> Instant {
        self.now
    }
}

/// SplitMix64: a tiny deterministic generator for loss and jitter (not for nonces or
/// secrets: a device takes those from its hardware RNG).
#[derive(Debug, Clone)]
pub struct Prng(u64);

impl Prng {
    /// A generator; the same seed gives the same sequence.
    pub fn new(seed: u64) -> Self {
        Prng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// How the simulated air treats datagrams, the same both ways.
#[derive(Debug, Clone, Copy)]
pub struct AirParams {
    /// Percent of datagrams lost, `0..=100`.
    pub loss_percent: u64,
    /// One-way delay of every datagram.
    pub latency: Duration,
    /// Extra delay, uniform in `0..jitter`: datagrams may overtake each other.
    pub jitter: Duration,
}

/// Counters of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AirStats {
    /// Datagrams handed to `send`.
    pub sent: u32,
    /// Dropped on purpose (loss).
    pub lost: u32,
    /// Refused with [`LinkError::Busy`] because the queue was full.
    pub busy: u32,
    /// Taken by `recv`.
    pub delivered: u32,
}

/// Which radio of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first address (the client in the example).
    A,
    /// The second address (the server).
    B,
}

impl Side {
    fn index(self) -> usize {
        self as usize
    }
}

/// One datagram in the air.
#[derive(Debug, Clone, Copy)]
struct InFlight<const MTU: usize> {
    due: Instant,
    len: usize,
    data: [u8; MTU],
}

/// Two radios joined by a lossy, delaying, reordering medium: `Q` datagrams of at most
/// `MTU` bytes in flight per direction, all in fixed arrays.
#[derive(Debug)]
pub struct LossyPair<const MTU: usize, const Q: usize> {
    addrs: [SocketAddr; 2],
    /// `lanes[i]`: datagrams sent by side `i`, waiting for the other side.
    lanes: [heapless::Vec<InFlight<MTU>, Q>; 2],
    stats: [AirStats; 2],
    params: AirParams,
    rng: Prng,
}

impl<const MTU: usize, const Q: usize> LossyPair<MTU, Q> {
    /// A pair whose sides have addresses `a` and `b`; `seed` drives loss and jitter.
    pub fn new(a: SocketAddr, b: SocketAddr, params: AirParams, seed: u64) -> Self {
        LossyPair {
            addrs: [a, b],
            lanes: [heapless::Vec::new(), heapless::Vec::new()],
            stats: [AirStats::default(); 2],
            params,
            rng: Prng::new(seed),
        }
    }

    /// Side `side`'s radio at time `now` (the air has no clock of its own).
    pub fn port(&mut self, side: Side, now: Instant) -> Port<'_, MTU, Q> {
        Port { pair: self, side, now }
    }

    /// Counters of what `side` sent.
    pub fn stats(&self, side: Side) -> AirStats {
        self.stats[side.index()]
    }
}

/// One side of a [`LossyPair`], borrowed for one tick.
#[derive(Debug)]
pub struct Port<'a, const MTU: usize, const Q: usize> {
    pair: &'a mut LossyPair<MTU, Q>,
    side: Side,
    now: Instant,
}

impl<const MTU: usize, const Q: usize> Radio for Port<'_, MTU, Q> {
    fn send(&mut self, to: SocketAddr, datagram: &[u8]) -> Result<(), LinkError> {
        let me = self.side.index();
        let p = &mut *self.pair;
        if datagram.len() > MTU {
            return Err(LinkError::TooLong);
        }
        if p.lanes[me].is_full() {
            p.stats[me].busy += 1;
            return Err(LinkError::Busy);
        }
        p.stats[me].sent += 1;
        // Datagrams to an address nobody has vanish, like on a real network.
        if to != p.addrs[1 - me] || p.rng.below(100) < p.params.loss_percent {
            p.stats[me].lost += 1;
            return Ok(());
        }
        let jitter = Duration::from_micros(p.rng.below(p.params.jitter.as_micros()));
        let mut d = InFlight { due: self.now + p.params.latency + jitter, len: datagram.len(), data: [0; MTU] };
        d.data[..datagram.len()].copy_from_slice(datagram);
        // Not full: checked above.
        let _ = p.lanes[me].push(d);
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let other = 1 - self.side.index();
        let p = &mut *self.pair;
        loop {
            let lane = &mut p.lanes[other];
            // The earliest datagram that has arrived by now.
            let (i, _) = lane.iter().enumerate().filter(|(_, d)| d.due <= self.now).min_by_key(|(_, d)| d.due)?;
            let d = lane.remove(i);
            if let Some(dst) = buf.get_mut(..d.len) {
                dst.copy_from_slice(&d.data[..d.len]);
                p.stats[other].delivered += 1;
                return Some((p.addrs[other], d.len));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr};

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)), 0)
    }

    #[test]
    fn delays_loses_and_keeps_bytes() {
        let params = AirParams { loss_percent: 30, latency: Duration::from_millis(5), jitter: Duration::ZERO };
        let mut air = LossyPair::<16, 4>::new(addr(1), addr(2), params, 7);
        let t0 = Instant::from_millis(1);
        let mut buf = [0u8; 16];
        let mut got = 0;
        for k in 0..200u8 {
            air.port(Side::A, t0).send(addr(2), &[k, 1, 2]).unwrap();
            assert_eq!(air.port(Side::B, t0).recv(&mut buf), None, "nothing arrives before the latency");
            let at = t0 + Duration::from_millis(5);
            if let Some((from, n)) = air.port(Side::B, at).recv(&mut buf) {
                assert_eq!((from, &buf[..n]), (addr(1), &[k, 1, 2][..]));
                got += 1;
            }
            assert_eq!(air.port(Side::A, at).recv(&mut buf), None, "nothing flows back");
        }
        let s = air.stats(Side::A);
        assert_eq!((s.sent, s.delivered, s.lost), (200, got, 200 - got));
        assert!((40..=80).contains(&s.lost), "about 30 % lost: {s:?}");
    }

    #[test]
    fn full_queue_is_busy_and_wrong_address_vanishes() {
        let params = AirParams { loss_percent: 0, latency: Duration::ZERO, jitter: Duration::ZERO };
        let mut air = LossyPair::<8, 2>::new(addr(1), addr(2), params, 1);
        let now = Instant::ZERO;
        let mut a = air.port(Side::A, now);
        assert_eq!(a.send(addr(2), &[0; 9]), Err(LinkError::TooLong));
        assert_eq!(a.send(addr(9), &[1]), Ok(()));
        assert_eq!(a.send(addr(2), &[2]), Ok(()));
        assert_eq!(a.send(addr(2), &[3]), Ok(()));
        assert_eq!(a.send(addr(2), &[4]), Err(LinkError::Busy));
        let mut buf = [0u8; 8];
        let mut b = air.port(Side::B, now);
        assert_eq!(b.recv(&mut buf).map(|(_, n)| buf[..n].to_vec()), Some(vec![2]));
        assert_eq!(b.recv(&mut buf).map(|(_, n)| buf[..n].to_vec()), Some(vec![3]));
        assert_eq!(b.recv(&mut buf), None);
        assert_eq!(air.stats(Side::A), AirStats { sent: 3, lost: 1, busy: 1, delivered: 2 });
    }
}
