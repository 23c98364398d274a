//! The client loop: one [`Connection`] over fixed buffers and a [`Radio`].
//!
//! Each [`tick`](Client::tick): datagrams in, timers, events, input out, datagrams out.
//! Snapshots land in one [`SnapshotBuffer`] per entity, and [`render`](Client::render)
//! samples them [`INTERP_DELAY`] in the past, between two snapshots.
//!
//! Nothing here allocates: the connection's storage `S` (`[u64; WORDS]` in the example,
//! or a `&'static mut [u64]` placed by the linker) and two datagram buffers are all the
//! memory the network needs.

use core::net::SocketAddr;

use kaos_core::channel::SendError;
use kaos_core::config::{Config, ConfigError};
use kaos_core::conn::{Connection, DisconnectReason, Event};
use kaos_core::interp::SnapshotBuffer;
use kaos_core::time::{Duration, Instant};

use crate::budget::{MTU, RELIABLE, STATE};
use crate::radio::{LinkError, Radio};
use crate::wire::{tick_time, InOrder, Input, Snapshot, INPUT_BYTES, MAX_ENTITIES};

/// Snapshots kept per entity: the delay spans about three, losses widen the gaps.
pub const HISTORY: usize = 8;
/// How far behind the newest server time the client renders: two ticks plus jitter, so
/// one lost snapshot still leaves one to interpolate towards.
pub const INTERP_DELAY: Duration = Duration::from_millis(120);

/// What the client saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// When the handshake completed.
    pub connected_at: Option<Instant>,
    /// Why the connection ended, if it did.
    pub disconnected: Option<DisconnectReason>,
    /// Snapshots decoded.
    pub snapshots: u32,
    /// Messages that did not decode, or on an unknown channel.
    pub bad_messages: u32,
    /// Inputs queued for sending.
    pub inputs_sent: u32,
    /// Inputs not queued: the unreliable outbox was full.
    pub inputs_dropped: u32,
    /// The newest input the server says it applied.
    pub last_input_acked: u16,
    /// Times the radio was busy (the datagram waits for the next tick).
    pub radio_busy: u32,
    /// Datagrams longer than the radio's frame: `Config::max_datagram` is too large.
    pub radio_too_long: u32,
    /// Numbered reliable messages from the server.
    pub reliable: InOrder,
}

/// Everything but the connection, so that an event (which borrows the connection) can
/// update it.
#[derive(Debug)]
struct View {
    entities: [SnapshotBuffer<[f32; 2], HISTORY>; MAX_ENTITIES],
    /// The smallest `local receive time - server tick time` seen, in µs: the offset
    /// between the clocks plus the fastest one-way delay.
    offset: Option<i64>,
    stats: ClientStats,
}

impl View {
    fn on_event(&mut self, event: Event<'_>, now: Instant) {
        match event {
            Event::Connected => self.stats.connected_at = Some(now),
            Event::Disconnected(reason) => self.stats.disconnected = Some(reason),
            Event::Message { channel: RELIABLE, data } => self.stats.reliable.accept(data),
            Event::Message { channel: STATE, data } => match Snapshot::decode(data) {
                Ok(s) => self.on_snapshot(&s, now),
                Err(_) => self.stats.bad_messages += 1,
            },
            Event::Message { .. } => self.stats.bad_messages += 1,
        }
    }

    fn on_snapshot(&mut self, s: &Snapshot, now: Instant) {
        self.stats.snapshots += 1;
        self.stats.last_input_acked = s.last_input;
        // Stamped with the server's time, so jitter does not bend the motion. A long-lived
        // client would also let `offset` creep up slowly, to follow clock drift.
        let sent = tick_time(s.tick);
        let seen = now.as_micros() as i64 - sent.as_micros() as i64;
        self.offset = Some(self.offset.map_or(seen, |o| o.min(seen)));
        for e in &s.entities {
            if let Some(history) = self.entities.get_mut(e.id as usize) {
                history.push(sent, e.pos);
            }
        }
    }
}

/// A game client over a [`Radio`]: connection, buffers and interpolation, no heap.
#[derive(Debug)]
pub struct Client<S> {
    conn: Connection<S>,
    rx: [u8; MTU],
    tx: [u8; MTU],
    /// Length of a datagram in `tx` the radio refused as busy; it goes first next tick.
    held: Option<usize>,
    next_input: u16,
    view: View,
}

impl<S: AsMut<[u64]>> Client<S> {
    /// Starts connecting to `server`. `storage` must hold `cfg.storage_words()` words;
    /// `nonce` must come from a hardware RNG on a device.
    pub fn new(cfg: &Config, storage: S, server: SocketAddr, now: Instant, nonce: u64) -> Result<Self, ConfigError> {
        Ok(Client {
            conn: Connection::connect(cfg, storage, now, server, nonce)?,
            rx: [0; MTU],
            tx: [0; MTU],
            held: None,
            next_input: 0,
            view: View { entities: Default::default(), offset: None, stats: ClientStats::default() },
        })
    }

    /// One pass of the loop. Call it every frame with that frame's `input` (sent once
    /// connected; its `seq` is set here), and with `None` when
    /// [`poll_timeout`](Self::poll_timeout) passes or the radio has data before then (a
    /// sleeping device wakes for either).
    pub fn tick<R: Radio>(&mut self, radio: &mut R, now: Instant, input: Option<Input>) {
        // 1. Datagrams in. Anything not from the server is noise.
        let server = self.conn.remote();
        while let Some((from, n)) = radio.recv(&mut self.rx) {
            if from == server {
                self.conn.handle_datagram(now, &self.rx[..n]);
            }
        }
        // 2. Timers: resends, acks, keep-alives, timeouts.
        if self.conn.poll_timeout().is_some_and(|t| t <= now) {
            self.conn.handle_timeout(now);
        }
        // 3. Events. A message borrows the connection until the next poll.
        while let Some(event) = self.conn.poll_event() {
            self.view.on_event(event, now);
        }
        // 4. Input, on the unreliable-sequenced channel: a newer one replaces a lost one.
        if let Some(input) = input.filter(|_| self.conn.is_connected()) {
            let mut buf = [0u8; INPUT_BYTES];
            let input = Input { seq: self.next_input, ..input };
            let queued = input.encode(&mut buf).is_ok_and(|n| self.conn.send(STATE, &buf[..n]).is_ok());
            if queued {
                self.next_input = self.next_input.wrapping_add(1);
                self.view.stats.inputs_sent += 1;
            } else {
                self.view.stats.inputs_dropped += 1;
            }
        }
        // 5. Datagrams out.
        self.flush(radio, now);
    }

    fn flush<R: Radio>(&mut self, radio: &mut R, now: Instant) {
        let server = self.conn.remote();
        let mut next = self.held.take();
        loop {
            let Some(n) = next.or_else(|| self.conn.poll_transmit(now, &mut self.tx)) else { return };
            match radio.send(server, &self.tx[..n]) {
                Ok(()) => {}
                Err(LinkError::Busy) => {
                    self.view.stats.radio_busy += 1;
                    self.held = Some(n);
                    return;
                }
                // A configuration error: the datagram is lost (reliable data is resent,
                // and fails again). Fix `max_datagram`.
                Err(LinkError::TooLong) => self.view.stats.radio_too_long += 1,
            }
            next = None;
        }
    }

    /// Queues a message on the reliable-ordered channel.
    pub fn send_reliable(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.conn.send(RELIABLE, data)
    }

    /// When [`tick`](Self::tick) must run at the latest for the protocol's timers.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }
}

impl<S> Client<S> {
    /// Whether the handshake completed (and the connection is open).
    pub fn is_connected(&self) -> bool {
        self.conn.is_connected()
    }

    /// What the client saw.
    pub fn stats(&self) -> ClientStats {
        self.view.stats
    }

    /// The connection, for its statistics.
    pub fn connection(&self) -> &Connection<S> {
        &self.conn
    }

    /// The server time shown at local time `now`, [`INTERP_DELAY`] behind the newest
    /// server time the client can know of; `None` before the first snapshot.
    pub fn render_time(&self, now: Instant) -> Option<Instant> {
        let offset = self.view.offset?;
        let t = now.as_micros() as i64 - offset - INTERP_DELAY.as_micros() as i64;
        Some(Instant::from_micros(t.max(0) as u64))
    }

    /// Each entity's position to draw at `now`: interpolated between the snapshots around
    /// [`render_time`](Self::render_time), `None` for an entity never seen.
    pub fn render(&self, now: Instant) -> [Option<[f32; 2]>; MAX_ENTITIES] {
        match self.render_time(now) {
            Some(t) => core::array::from_fn(|id| self.view.entities[id].sample(t)),
            None => [None; MAX_ENTITIES],
        }
    }

    /// Entity `id`'s snapshots.
    pub fn history(&self, id: usize) -> Option<&SnapshotBuffer<[f32; 2], HISTORY>> {
        self.view.entities.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::{config, WORDS};
    use crate::wire::{Entity, POS};
    use core::net::{IpAddr, Ipv4Addr};

    fn client() -> Client<[u64; WORDS]> {
        let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 7352);
        Client::new(&config(), [0; WORDS], server, Instant::ZERO, 1).unwrap()
    }

    fn snapshot(tick: u32, pos: [f32; 2]) -> Snapshot {
        let mut s = Snapshot { tick, ..Default::default() };
        s.entities.push(Entity { id: 2, pos }).unwrap();
        s
    }

    #[test]
    fn renders_between_two_snapshots() {
        let mut c = client();
        assert_eq!(c.render(Instant::from_millis(500)), [None; MAX_ENTITIES]);
        // Decoded snapshots of ticks 10 and 11 (server times 500 and 550 ms), received
        // 30 ms and 45 ms after they were sent.
        let (a, b) = ([-10.0, 4.0], [-7.5, 3.0]);
        let mut buf = [0u8; 64];
        for (s, at) in [(snapshot(10, a), 530), (snapshot(11, b), 595)] {
            let n = s.encode(&mut buf).unwrap();
            c.view.on_event(Event::Message { channel: STATE, data: &buf[..n] }, Instant::from_millis(at));
        }
        assert_eq!(c.stats().snapshots, 2);
        let tol = POS.resolution();
        for k in 0..=10u64 {
            // Local time whose render time is 500 ms + 5k ms: the offset is 30 ms.
            let now = Instant::from_millis(500 + 5 * k + 30) + INTERP_DELAY;
            assert_eq!(c.render_time(now), Some(Instant::from_millis(500 + 5 * k)));
            let f = k as f32 / 10.0;
            let want = [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f];
            let got = c.render(now)[2].unwrap();
            assert!((got[0] - want[0]).abs() <= tol && (got[1] - want[1]).abs() <= tol, "{k}: {got:?} vs {want:?}");
            assert_eq!(c.render(now)[0], None, "entity 0 was never sent");
        }
        // Past the newest snapshot the newest position is held.
        let late = Instant::from_millis(2_000);
        let held = c.render(late)[2].unwrap();
        assert!((held[0] - b[0]).abs() <= tol && (held[1] - b[1]).abs() <= tol);
    }

    #[test]
    fn bad_messages_are_counted_not_fatal() {
        let mut c = client();
        c.view.on_event(Event::Message { channel: STATE, data: &[0xff, 1] }, Instant::ZERO);
        c.view.on_event(Event::Message { channel: 7, data: &[] }, Instant::ZERO);
        assert_eq!((c.stats().bad_messages, c.stats().snapshots), (2, 0));
    }
}
