//! Busy polling: a wait checks the socket without sleeping before it sleeps, for as long
//! as recent waits say it pays. The rule is Linux's haltpoll cpuidle governor's: a wait
//! that ended within the longest spin grows the spin, one that outlasted it shrinks it.
//! So a loop in a fast exchange (a round trip every few tens of microseconds) keeps
//! spinning and skips the cost of waking a sleeping thread, and a loop that waits for
//! its next tick or an idle socket soon stops spinning.

use std::io;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;

use crate::backend::Io;

/// How long the next wait spins, within the configured most.
#[derive(Debug)]
pub(crate) struct BusyPoll {
    max: Duration,
    limit: Duration,
}

impl BusyPoll {
    /// Spinning for at most `max` (zero: never).
    pub(crate) fn new(max: Duration) -> Self {
        BusyPoll { max, limit: grow_start(max) }
    }

    /// How long the next wait spins.
    #[cfg(test)]
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }

    /// Waits like [`Io::wait`], first checking the socket without sleeping for up to the
    /// current spin, then adapts the spin to how long the whole wait took.
    pub(crate) fn wait(&mut self, io: &mut Io, socket: &mut UdpSocket, wait: Option<Duration>) -> io::Result<()> {
        if self.max.is_zero() || wait.is_some_and(|w| w.is_zero()) {
            return io.wait(socket, wait);
        }
        let start = Instant::now();
        let result = spin_then_sleep(io, socket, wait, self.limit, start);
        self.limit = adapt(self.limit, start.elapsed(), self.max);
        result
    }
}

fn spin_then_sleep(
    io: &mut Io,
    socket: &mut UdpSocket,
    wait: Option<Duration>,
    limit: Duration,
    start: Instant,
) -> io::Result<()> {
    let spin = wait.map_or(limit, |w| w.min(limit));
    if spin.is_zero() {
        return io.wait(socket, wait);
    }
    while !io.ready(socket)? {
        let spun = start.elapsed();
        if spun >= spin {
            return match wait.map(|w| w.saturating_sub(spun)) {
                // Spun the whole wait: a zero-timeout wait could still sleep (io_uring).
                Some(left) if left.is_zero() => Ok(()),
                left => io.wait(socket, left),
            };
        }
        // A thread that shares this CPU (the peer of a loopback exchange, say) runs
        // now instead of waiting out the spin.
        std::thread::yield_now();
    }
    Ok(())
}

/// The spin a wait starts from, and the least a growing spin takes.
fn grow_start(max: Duration) -> Duration {
    max / 4
}

/// The spin after a wait that took `block` with `limit`: kept when the spin covered the
/// wait, doubled (from at least a quarter of `max`, to at most `max`) when a longer spin
/// would have, halved when not even `max` would have (and dropped below a sixteenth).
fn adapt(limit: Duration, block: Duration, max: Duration) -> Duration {
    if block <= limit {
        limit
    } else if block <= max {
        (limit * 2).max(grow_start(max)).min(max)
    } else if limit / 2 < max / 16 {
        Duration::ZERO
    } else {
        limit / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_micros(200);

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn a_wait_the_spin_covered_keeps_it() {
        assert_eq!(adapt(us(50), us(16), MAX), us(50));
        assert_eq!(adapt(us(50), us(50), MAX), us(50));
    }

    #[test]
    fn a_wait_a_longer_spin_would_have_covered_grows_it() {
        assert_eq!(adapt(Duration::ZERO, us(80), MAX), us(50), "from a stop, to a quarter of the most");
        assert_eq!(adapt(us(50), us(80), MAX), us(100));
        assert_eq!(adapt(us(150), us(190), MAX), MAX, "capped");
    }

    #[test]
    fn a_wait_beyond_the_most_halves_it_then_stops_it() {
        assert_eq!(adapt(MAX, us(16_000), MAX), us(100));
        assert_eq!(adapt(us(100), us(16_000), MAX), us(50));
        assert_eq!(adapt(us(50), us(16_000), MAX), us(25));
        assert_eq!(adapt(us(25), us(16_000), MAX), us(12) + Duration::from_nanos(500));
        assert_eq!(adapt(us(12) + Duration::from_nanos(500), us(16_000), MAX), Duration::ZERO, "below a sixteenth");
        assert_eq!(adapt(Duration::ZERO, us(16_000), MAX), Duration::ZERO);
    }

    #[test]
    fn a_loop_waiting_for_its_tick_stops_spinning_and_a_fast_exchange_keeps_it() {
        let mut limit = grow_start(MAX);
        for _ in 0..4 {
            limit = adapt(limit, us(16_667), MAX);
        }
        assert_eq!(limit, Duration::ZERO);
        // Sleeping, a round trip takes longer than spinning would; one grows the spin.
        limit = adapt(limit, us(85), MAX);
        for _ in 0..100 {
            limit = adapt(limit, us(16), MAX);
        }
        assert_eq!(limit, us(50));
    }

    /// On a real socket: waits that outlast the most stop the spin, and a wait a
    /// datagram ends at once starts it again.
    #[test]
    fn waits_adapt_the_spin_on_a_socket() {
        let mut socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut io = Io::new(&mut socket, crate::IoBackend::Mio, 1200, crate::sys::BATCH).unwrap();
        let mut busy = BusyPoll::new(Duration::from_millis(10));
        assert_eq!(busy.limit(), Duration::from_micros(2_500));
        for _ in 0..4 {
            busy.wait(&mut io, &mut socket, Some(Duration::from_millis(30))).unwrap();
        }
        assert_eq!(busy.limit(), Duration::ZERO, "idle waits kept the spin");
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // A wait a loaded machine stalls past the most counts as long: try again.
        for _ in 0..100 {
            peer.send_to(b"x", socket.local_addr().unwrap()).unwrap();
            busy.wait(&mut io, &mut socket, Some(Duration::from_secs(30))).unwrap();
            assert_eq!(io.recv(&socket).unwrap(), 1);
            if !busy.limit().is_zero() {
                break;
            }
        }
        assert_eq!(busy.limit(), Duration::from_micros(2_500), "waits that ended at once did not restart it");
    }

    #[test]
    fn no_most_never_spins() {
        assert_eq!(BusyPoll::new(Duration::ZERO).limit(), Duration::ZERO);
        assert_eq!(adapt(Duration::ZERO, us(5), Duration::ZERO), Duration::ZERO);
    }
}
