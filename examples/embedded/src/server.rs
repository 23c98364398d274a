//! The simulated server: kaos-core's [`Endpoint`] on the other radio, sending quantized
//! snapshots of entities on known straight paths every [`TICK`].
//!
//! Straight paths at constant speed make the check exact: interpolating between any two
//! snapshots of a straight path gives the path itself, so every interpolated position
//! must lie within a quantization step of [`true_position`].
//!
//! The endpoint's storage is borrowed (`&mut [u64]`), the pattern for storage placed in a
//! `static` or a linker section; the client shows the owned `[u64; N]` one.

use kaos_core::channel::SendError;
use kaos_core::config::{Config, ConfigError};
use kaos_core::conn::Event;
use kaos_core::endpoint::{ConnectionHandle, Endpoint};
use kaos_core::time::Instant;

use crate::budget::{MTU, RELIABLE, STATE};
use crate::radio::Radio;
use crate::wire::{tick_time, Entity, InOrder, Input, Snapshot, MAX_ENTITIES, MAX_SNAPSHOT_BYTES, TICK};

/// Each entity's start position (m) and velocity (m/s): inside ±64 m for 17 s.
const PATHS: [([f32; 2], [f32; 2]); MAX_ENTITIES] =
    [([-30.0, -20.0], [5.0, 3.0]), ([30.0, 10.0], [-4.0, 2.5]), ([0.0, 40.0], [1.5, -6.0]), ([-10.0, 0.0], [0.0, 0.0])];

/// Where entity `id` is at server time `t`.
pub fn true_position(id: usize, t: Instant) -> [f32; 2] {
    let (p, v) = PATHS[id % MAX_ENTITIES];
    let s = t.as_micros() as f32 / 1e6;
    [p[0] + v[0] * s, p[1] + v[1] * s]
}

/// Storage for the endpoint's one connection.
pub type Pool<'a> = heapless::Vec<&'a mut [u64], 1>;

/// What the server saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Snapshots queued for the client.
    pub snapshots_sent: u32,
    /// Inputs decoded.
    pub inputs: u32,
    /// The newest input's sequence number.
    pub last_input: Option<u16>,
    /// Numbered reliable messages from the client.
    pub reliable: InOrder,
    /// Messages that did not decode, or on an unknown channel.
    pub bad_messages: u32,
    /// Datagrams the radio refused (dropped, as a UDP socket would).
    pub radio_errors: u32,
}

/// A one-client game server over a [`Radio`].
#[derive(Debug)]
pub struct Server<'a> {
    endpoint: Endpoint<&'a mut [u64], Pool<'a>, 2>,
    rx: [u8; MTU],
    tx: [u8; MTU],
    reply: [u8; MTU],
    client: Option<ConnectionHandle>,
    next_tick: u32,
    stats: ServerStats,
}

impl<'a> Server<'a> {
    /// A server for `cfg`; `storage` (`cfg.storage_words()` words) serves its connection.
    /// `secret` keys the handshake cookies: random and private on a real server.
    pub fn new(cfg: Config, secret: [u8; 16], storage: &'a mut [u64]) -> Result<Self, ConfigError> {
        let mut pool = Pool::new();
        let _ = pool.push(storage);
        Ok(Server {
            endpoint: Endpoint::new(cfg, secret, pool)?,
            rx: [0; MTU],
            tx: [0; MTU],
            reply: [0; MTU],
            client: None,
            next_tick: 0,
            stats: ServerStats::default(),
        })
    }

    /// One pass: datagrams in, timers, events, the snapshot when a tick is due,
    /// datagrams out.
    pub fn tick<R: Radio>(&mut self, radio: &mut R, now: Instant) {
        while let Some((from, n)) = radio.recv(&mut self.rx) {
            // Unknown addresses get a stateless handshake reply, never larger than
            // their datagram.
            if let Some(r) = self.endpoint.handle_datagram(now, from, &self.rx[..n], &mut self.reply) {
                if radio.send(from, &self.reply[..r]).is_err() {
                    self.stats.radio_errors += 1;
                }
            }
        }
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        while let Some((handle, event)) = self.endpoint.poll_event() {
            match event {
                Event::Connected => self.client = Some(handle),
                Event::Disconnected(_) if self.client == Some(handle) => self.client = None,
                Event::Disconnected(_) => {}
                Event::Message { channel: RELIABLE, data } => self.stats.reliable.accept(data),
                Event::Message { channel: STATE, data } => match Input::decode(data) {
                    Ok(input) => {
                        self.stats.inputs += 1;
                        self.stats.last_input = Some(input.seq);
                    }
                    Err(_) => self.stats.bad_messages += 1,
                },
                Event::Message { .. } => self.stats.bad_messages += 1,
            }
        }
        if now >= tick_time(self.next_tick) {
            // The newest due tick: a late call skips ticks rather than bursting.
            let tick = (now.as_micros() / TICK.as_micros()) as u32;
            self.next_tick = tick + 1;
            self.send_snapshot(tick);
        }
        while let Some((_, to, n)) = self.endpoint.poll_transmit(now, &mut self.tx) {
            if radio.send(to, &self.tx[..n]).is_err() {
                self.stats.radio_errors += 1;
            }
        }
    }

    fn send_snapshot(&mut self, tick: u32) {
        let Some(conn) = self.client.and_then(|h| self.endpoint.connection(h)) else { return };
        let mut s = Snapshot { tick, last_input: self.stats.last_input.unwrap_or(0), ..Default::default() };
        for id in 0..MAX_ENTITIES {
            // MAX_ENTITIES entries: never full.
            let _ = s.entities.push(Entity { id: id as u8, pos: true_position(id, tick_time(tick)) });
        }
        let mut buf = [0u8; MAX_SNAPSHOT_BYTES];
        if s.encode(&mut buf).is_ok_and(|n| conn.send(STATE, &buf[..n]).is_ok()) {
            self.stats.snapshots_sent += 1;
        }
    }

    /// Queues a message to the client on the reliable-ordered channel.
    pub fn send_reliable(&mut self, data: &[u8]) -> Result<(), SendError> {
        match self.client.and_then(|h| self.endpoint.connection(h)) {
            Some(conn) => conn.send(RELIABLE, data),
            None => Err(SendError::NotConnected),
        }
    }

    /// Whether a client is connected.
    pub fn is_connected(&self) -> bool {
        self.client.is_some()
    }

    /// What the server saw.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }
}
