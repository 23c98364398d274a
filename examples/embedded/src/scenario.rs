//! The whole example on one simulated clock: a [`Client`] and a [`Server`] joined by a
//! [`LossyPair`] of radios, stepped one millisecond at a time, and the goals it must reach.
//!
//! No wall clock and no OS: the same run happens on a host and on the bare-metal target,
//! and the same seed always gives the same result.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use kaos_core::congestion::Stats;
use kaos_core::time::{Duration, Instant};

use crate::budget::{self, config, MTU, WORDS};
use crate::client::Client;
use crate::radio::{AirParams, AirStats, Clock, LossyPair, Side, SimClock};
use crate::server::{true_position, Server};
use crate::wire::{numbered, InOrder, Input, MAX_ENTITIES, MAX_NUMBERED, POS};

/// The client's frame: input sent and positions rendered at 50 Hz.
pub const FRAME: Duration = Duration::from_millis(20);
/// Datagrams in flight per direction in the simulated air.
const AIR_QUEUE: usize = 16;

/// The server's address (its radio's node id, as an address).
pub const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 7352);
/// The client's address.
pub const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 40_000);

/// What a run simulates.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Drives loss and jitter.
    pub seed: u64,
    /// The air, both ways.
    pub air: AirParams,
    /// Simulated time.
    pub duration: Duration,
    /// Numbered reliable messages each side sends.
    pub messages: u32,
}

impl Params {
    /// The run `cargo run -p kaos-embedded` makes: 20 % loss each way.
    pub const DEFAULT: Params = Params {
        seed: 0x6b61_6f73,
        air: AirParams { loss_percent: 20, latency: Duration::from_millis(20), jitter: Duration::from_millis(10) },
        duration: Duration::from_secs(6),
        messages: 16,
    };
}

/// What a run achieved.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    /// Handshake time, if it completed.
    pub connected_after: Option<Duration>,
    /// Snapshots the server queued.
    pub snapshots_sent: u32,
    /// Snapshots the client decoded.
    pub snapshots_received: u32,
    /// What the client's and the server's radios sent, lost and delivered.
    pub air: [AirStats; 2],
    /// Entity positions rendered.
    pub samples: u32,
    /// Of those, rendered between two snapshots (the others held the oldest or newest).
    pub interpolated: u32,
    /// Largest distance, per axis, of an interpolated position from the true path (m).
    pub max_error: f32,
    /// A quantization step of a coordinate (m).
    pub resolution: f32,
    /// Numbered messages each side sent.
    pub messages: u32,
    /// The client's messages as the server received them.
    pub to_server: InOrder,
    /// The server's messages as the client received them.
    pub to_client: InOrder,
    /// Inputs the client queued.
    pub inputs_sent: u32,
    /// Inputs the server decoded.
    pub inputs_received: u32,
    /// Undecodable messages, both sides.
    pub bad_messages: u32,
    /// The client connection's own statistics (RTT, resends, losses it detected).
    pub client_link: Stats,
    /// `Config::storage_words()` of the example's config.
    pub storage_words: usize,
    /// The sum of the budget's rows.
    pub budget_bytes: usize,
}

impl Outcome {
    /// Each goal and whether it was reached.
    pub fn goals(&self) -> [(&'static str, bool); 6] {
        let lost = self.air[0].lost > 0 && self.air[1].lost > 0;
        let all = |o: &InOrder| o.next == self.messages && o.wrong == 0;
        [
            ("connected", self.connected_after.is_some()),
            ("snapshots received despite loss", lost && self.snapshots_received * 2 >= self.snapshots_sent),
            (
                "interpolated within a quantization step of the true path",
                self.interpolated > 0
                    && self.interpolated * 10 >= self.samples * 9
                    && self.max_error <= self.resolution,
            ),
            (
                "reliable messages delivered in order both ways",
                self.messages > 0 && all(&self.to_server) && all(&self.to_client),
            ),
            (
                "inputs received, nothing undecodable",
                self.inputs_received * 2 >= self.inputs_sent && self.bad_messages == 0,
            ),
            (
                "memory budget = Config::storage_words()",
                self.budget_bytes == self.storage_words * 8 && self.storage_words == WORDS,
            ),
        ]
    }

    /// Whether every goal was reached.
    pub fn succeeded(&self) -> bool {
        self.goals().iter().all(|(_, ok)| *ok)
    }
}

/// A stick that sweeps back and forth, without floating-point functions (no libm).
fn stick(frame: u32) -> [f32; 2] {
    let x = (frame % 50) as f32 / 25.0 - 1.0;
    [x, -x]
}

/// Runs the example: connect, exchange, render and check.
pub fn run(p: &Params) -> Outcome {
    let cfg = config();
    let mut out = Outcome {
        resolution: POS.resolution(),
        messages: p.messages,
        storage_words: cfg.storage_words(),
        budget_bytes: budget::storage_bytes(&cfg),
        ..Outcome::default()
    };
    if cfg.storage_words() > WORDS {
        return out;
    }
    let mut server_storage = [0u64; WORDS];
    let Ok(mut server) = Server::new(cfg.clone(), *b"embedded-secret!", &mut server_storage) else { return out };
    let mut clock = SimClock::default();
    let start = clock.now();
    // A device takes the nonce from its hardware RNG.
    let Ok(mut client) = Client::new(&cfg, [0u64; WORDS], SERVER, start, p.seed ^ 0x5eed) else { return out };
    let mut air = LossyPair::<MTU, AIR_QUEUE>::new(CLIENT, SERVER, p.air, p.seed);
    let (mut frame, mut next_frame) = (0u32, start);
    let (mut from_client, mut from_server) = (0u32, 0u32);
    let mut msg = [0u8; MAX_NUMBERED];
    while clock.now() < start + p.duration {
        let now = clock.now();
        server.tick(&mut air.port(Side::B, now), now);
        if now >= next_frame {
            next_frame += FRAME;
            // One numbered message each way per frame; `Full` means retry next frame.
            if client.is_connected()
                && from_client < p.messages
                && client.send_reliable(numbered(from_client, &mut msg)).is_ok()
            {
                from_client += 1;
            }
            if server.is_connected()
                && from_server < p.messages
                && server.send_reliable(numbered(from_server, &mut msg)).is_ok()
            {
                from_server += 1;
            }
            let input = Input { seq: 0, stick: stick(frame), fire: frame % 10 == 0 };
            client.tick(&mut air.port(Side::A, now), now, Some(input));
            check_frame(&client, now, &mut out);
            frame += 1;
        } else if client.poll_timeout().is_some_and(|t| t <= now) {
            // A protocol timer (resend, ack, keep-alive) between frames.
            client.tick(&mut air.port(Side::A, now), now, None);
        }
        clock.advance(Duration::from_millis(1));
    }
    let (c, s) = (client.stats(), server.stats());
    out.connected_after = c.connected_at.map(|t| t - start);
    out.snapshots_sent = s.snapshots_sent;
    out.snapshots_received = c.snapshots;
    out.air = [air.stats(Side::A), air.stats(Side::B)];
    out.to_server = s.reliable;
    out.to_client = c.reliable;
    out.inputs_sent = c.inputs_sent;
    out.inputs_received = s.inputs;
    out.bad_messages = c.bad_messages + s.bad_messages;
    out.client_link = client.connection().stats();
    out
}

/// Compares what the client renders at `now` with the true path.
fn check_frame<S>(client: &Client<S>, now: Instant, out: &mut Outcome) {
    let Some(t) = client.render_time(now) else { return };
    let shown = client.render(now);
    for (id, pos) in shown.iter().enumerate().take(MAX_ENTITIES) {
        let (Some(pos), Some(history)) = (pos, client.history(id)) else { continue };
        out.samples += 1;
        let (Some((first, _)), Some((last, _))) = (history.oldest(), history.latest()) else { continue };
        // Outside the snapshots the buffer holds a value (no extrapolation): not a path.
        if t < first || t > last {
            continue;
        }
        out.interpolated += 1;
        let truth = true_position(id, t);
        for axis in 0..2 {
            let err = pos[axis] - truth[axis];
            out.max_error = out.max_error.max(err.max(-err));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(seed: u64, loss_percent: u64) -> Params {
        let mut p = Params::DEFAULT;
        p.seed = seed;
        p.air.loss_percent = loss_percent;
        p
    }

    #[test]
    fn default_run_reaches_every_goal() {
        let o = run(&Params::DEFAULT);
        assert!(o.succeeded(), "{:?}\n{o:?}", o.goals());
        // The loss was real, and the protocol worked through it.
        assert!(o.air[0].lost > 10 && o.air[1].lost > 10, "{:?}", o.air);
        assert!(o.snapshots_received < o.snapshots_sent);
        assert!(o.snapshots_sent >= 100, "20 Hz for about 6 s: {}", o.snapshots_sent);
    }

    #[test]
    fn lossy_radio_connects_and_streams_for_other_seeds() {
        for seed in [1, 2, 3] {
            let o = run(&with(seed, 25));
            assert!(o.connected_after.is_some(), "seed {seed}: {o:?}");
            assert!(o.snapshots_received * 2 >= o.snapshots_sent, "seed {seed}: {o:?}");
            assert!(o.max_error <= o.resolution && o.interpolated > 500, "seed {seed}: {o:?}");
            assert_eq!((o.to_client.next, o.to_server.next), (o.messages, o.messages), "seed {seed}");
        }
    }

    #[test]
    fn a_dead_link_fails_the_goals() {
        let o = run(&with(9, 100));
        assert_eq!(o.connected_after, None);
        assert_eq!((o.snapshots_received, o.samples), (0, 0));
        assert!(!o.succeeded());
    }

    #[test]
    fn the_true_path_is_inside_the_quantized_range() {
        for id in 0..MAX_ENTITIES {
            for ms in (0..=17_000).step_by(100) {
                let p = true_position(id, Instant::from_millis(ms));
                assert!(p.iter().all(|c| (POS.min()..=POS.max()).contains(c)), "{id} at {ms} ms: {p:?}");
            }
        }
    }
}
