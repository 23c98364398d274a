//! A pilot's connection: `Hello`, inputs, and the snapshots it receives, with each
//! ship's and asteroid's position interpolated by kaos-core's `SnapshotBuffer` 100 ms
//! behind the newest. The terminal client draws from it; the tests drive it.

use std::net::SocketAddr;
use std::time::Duration;

use kaos_core::interp::SnapshotBuffer;
use kaos_core::time::{Duration as CoreDuration, Instant as CoreInstant};
use kaos_rudp::{RudpTransport, RELIABLE_ORDERED, UNRELIABLE_SEQUENCED};

use crate::wire::{self, Input, Message, Snapshot, MAX_SHIPS};

/// How far behind the newest snapshot ships are drawn.
pub const DELAY: Duration = Duration::from_millis(100);

pub struct Pilot {
    transport: RudpTransport,
    started: std::time::Instant,
    /// The id the server gave this pilot's ship.
    pub id: Option<u8>,
    /// The newest snapshot.
    pub latest: Option<Snapshot>,
    /// Each ship's position over time, for interpolation.
    ships: Vec<SnapshotBuffer<[f32; 2], 16>>,
}

impl std::fmt::Debug for Pilot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pilot").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Pilot {
    /// Connects to `server` and says hello as `name`.
    pub fn connect(server: SocketAddr, name: &str) -> std::io::Result<Pilot> {
        let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("an address");
        let mut transport = RudpTransport::new(bind, server, 256)?;
        if !transport.wait_connected(Duration::from_secs(5))? {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer from the server"));
        }
        let mut buf = [0u8; 32];
        let n = wire::encode(&Message::Hello { name: name.into() }, &mut buf)
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        transport.send_on(RELIABLE_ORDERED, &buf[..n]).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        transport.flush()?;
        let ships = (0..MAX_SHIPS).map(|_| SnapshotBuffer::new()).collect();
        Ok(Pilot { transport, started: std::time::Instant::now(), id: None, latest: None, ships })
    }

    fn now(&self) -> CoreInstant {
        CoreInstant::from_micros(self.started.elapsed().as_micros() as u64)
    }

    /// Sends this frame's input.
    pub fn send(&mut self, input: Input) -> std::io::Result<()> {
        let mut buf = [0u8; 4];
        let n = wire::encode(&Message::Input(input), &mut buf).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        let _ = self.transport.send_on(UNRELIABLE_SEQUENCED, &buf[..n]);
        self.transport.flush()
    }

    /// Waits up to `timeout` for the socket, then takes in what arrived.
    pub fn update(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.transport.poll(Some(timeout))?;
        let mut got = Vec::new();
        let _ = self.transport.receive_messages(|_, data| got.push(wire::decode(data)));
        let now = self.now();
        for m in got {
            match m {
                Ok(Message::Welcome { id }) => self.id = Some(id),
                Ok(Message::Snapshot(s)) => {
                    for ship in &s.ships {
                        if let Some(buffer) = self.ships.get_mut(usize::from(ship.id)) {
                            buffer.push(now, [ship.x, ship.y]);
                        }
                    }
                    self.latest = Some(s);
                }
                _ => {}
            }
        }
        if let Some(reason) = self.transport.disconnect_reason() {
            return Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, format!("{reason:?}")));
        }
        Ok(())
    }

    /// Leaves the game (the server records the ship's score).
    pub fn leave(mut self) -> std::io::Result<()> {
        self.transport.disconnect(1000)
    }

    /// Where ship `id` is to be drawn now (100 ms behind), if it has been seen.
    pub fn ship_position(&self, id: u8) -> Option<[f32; 2]> {
        let delay = CoreDuration::from_micros(DELAY.as_micros() as u64);
        self.ships.get(usize::from(id))?.sample_delayed(self.now(), delay)
    }
}
