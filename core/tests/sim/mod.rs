//! A deterministic simulated network driving a client `Connection` and a server
//! `Endpoint` on a virtual clock. Every run is a pure function of its seed.
#![allow(dead_code)]

use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;

use kaos_core::config::Config;
use kaos_core::conn::{Connection, DisconnectReason, Event, ParkedConnection};
use kaos_core::endpoint::{ConnectionHandle, Endpoint};
use kaos_core::time::{Duration, Instant};

/// xorshift64*: small, fast, deterministic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// One direction's impairments.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub loss: f64,
    pub duplicate: f64,
    /// Chance a datagram is held back by an extra random delay (reordering).
    pub reorder: f64,
    pub latency: Duration,
    pub jitter: Duration,
    /// Bytes per second; 0 = unlimited.
    pub bandwidth: u64,
    /// With a bandwidth cap: the most queueing delay the bottleneck buffers before it
    /// drops what arrives (drop-tail); zero = unbounded.
    pub queue: Duration,
    /// Everything is dropped (a dead link).
    pub cut: bool,
}

impl Link {
    pub fn perfect() -> Self {
        Link {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            latency: Duration::from_millis(1),
            jitter: Duration::ZERO,
            bandwidth: 0,
            queue: Duration::ZERO,
            cut: false,
        }
    }

    /// Random impairments: loss 0-30 %, duplication, reordering, 1-80 ms latency, jitter,
    /// sometimes a bandwidth cap.
    pub fn random(rng: &mut Rng) -> Self {
        Link {
            loss: rng.unit() * 0.30,
            duplicate: rng.unit() * 0.05,
            reorder: rng.unit() * 0.10,
            latency: Duration::from_micros(rng.range(1_000, 80_000)),
            jitter: Duration::from_micros(rng.range(0, 10_000)),
            bandwidth: if rng.chance(0.3) { rng.range(200_000, 2_000_000) } else { 0 },
            queue: Duration::ZERO,
            cut: false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct InFlight {
    at: u64,
    order: u64,
    to_server: bool,
    data: Vec<u8>,
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Min-heap on (time, insertion order).
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The server endpoint, its connection storages pooled in a `Vec`.
pub type ServerEp = Endpoint<Vec<u64>, Vec<Vec<u64>>, 4>;

pub const CLIENT: &str = "127.0.0.1:40000";
pub const SERVER: &str = "127.0.0.1:7352";

/// What the harness saw on one side.
#[derive(Debug, Default)]
pub struct Seen {
    pub connected: bool,
    pub messages: Vec<(u8, Vec<u8>)>,
    pub disconnected: Option<DisconnectReason>,
}

/// A client and a server over a simulated network.
pub struct Sim {
    pub now: Instant,
    pub rng: Rng,
    pub up: Link,
    pub down: Link,
    heap: BinaryHeap<InFlight>,
    order: u64,
    busy_until: [u64; 2],
    pub client: Connection<Vec<u64>>,
    pub server: ServerEp,
    pub server_conn: Option<ConnectionHandle>,
    pub client_seen: Seen,
    pub server_seen: Seen,
    /// Messages the application still has to hand to `send` (retried on `Full`).
    pub client_backlog: VecDeque<(u8, Vec<u8>)>,
    pub server_backlog: VecDeque<(u8, Vec<u8>)>,
    pub datagrams: u64,
    pub cfg: Config,
    /// Park the client whenever it is quiescent and unpark it on storage filled with
    /// garbage (its previous storage, overwritten).
    pub park_client: bool,
    /// What the client's storage is overwritten with before unparking (random words
    /// when `None`).
    pub dirt: Option<Vec<u64>>,
    /// Times the client was parked.
    pub parks: u64,
    /// Datagrams the parked client handled, and sent, without storage.
    pub parked_received: u64,
    pub parked_sent: u64,
    /// Stands in for the client while it is parked.
    spare: Option<Connection<Vec<u64>>>,
}

/// The simulation did not reach its goal within its step and time budget.
#[derive(Debug)]
pub struct Livelock {
    pub steps: u64,
    pub now: Instant,
}

impl Sim {
    pub fn new(seed: u64, cfg: Config, up: Link, down: Link) -> Self {
        let words = cfg.storage_words();
        let now = Instant::from_millis(1000);
        let client = Connection::connect(&cfg, vec![0u64; words], now, SERVER.parse().unwrap(), seed ^ 0xABCD)
            .expect("client config");
        let pool = vec![vec![0u64; words]; 2];
        let mut secret = [0u8; 16];
        secret[..8].copy_from_slice(&seed.to_le_bytes());
        let server = Endpoint::new(cfg.clone(), secret, pool).expect("server config");
        Sim {
            now,
            rng: Rng::new(seed),
            up,
            down,
            heap: BinaryHeap::new(),
            order: 0,
            busy_until: [0; 2],
            client,
            server,
            server_conn: None,
            client_seen: Seen::default(),
            server_seen: Seen::default(),
            client_backlog: VecDeque::new(),
            server_backlog: VecDeque::new(),
            datagrams: 0,
            spare: None,
            park_client: false,
            dirt: None,
            parks: 0,
            parked_received: 0,
            parked_sent: 0,
            cfg,
        }
    }

    /// Parks the client if it is quiescent (and parking is on), runs `f` on the parked
    /// connection, and unparks it on dirty storage; `None` if it was not parked.
    fn parked_client<R>(&mut self, f: impl FnOnce(&mut ParkedConnection, Instant) -> R) -> Option<R> {
        if !self.park_client || !self.client.is_quiescent() {
            return None;
        }
        let spare = match self.spare.take() {
            Some(c) => c,
            None => Connection::connect(
                &self.cfg,
                vec![0u64; self.cfg.storage_words()],
                self.now,
                CLIENT.parse().unwrap(),
                1,
            )
            .expect("spare"),
        };
        let conn = std::mem::replace(&mut self.client, spare);
        let (mut parked, mut storage) = conn.park().unwrap_or_else(|_| panic!("quiescent connection refused to park"));
        self.parks += 1;
        let r = f(&mut parked, self.now);
        match &self.dirt {
            Some(d) => storage.copy_from_slice(d),
            None => storage.iter_mut().for_each(|w| *w = self.rng.next_u64()),
        }
        let conn = parked.unpark(storage).unwrap_or_else(|_| panic!("storage too small"));
        self.spare = Some(std::mem::replace(&mut self.client, conn));
        Some(r)
    }

    fn transmit(&mut self, to_server: bool, data: &[u8]) {
        self.datagrams += 1;
        let link = if to_server { self.up } else { self.down };
        if link.cut || self.rng.chance(link.loss) {
            return;
        }
        let copies = if self.rng.chance(link.duplicate) { 2 } else { 1 };
        let dir = to_server as usize;
        let mut depart = self.now.as_micros();
        if let Some(delay) = (data.len() as u64 * 1_000_000).checked_div(link.bandwidth) {
            // Serialization delay on a shared bottleneck (bandwidth 0 means uncapped).
            let queued = self.busy_until[dir].saturating_sub(depart);
            if link.queue > Duration::ZERO && queued > link.queue.as_micros() {
                return;
            }
            depart = depart.max(self.busy_until[dir]) + delay;
            self.busy_until[dir] = depart;
        }
        for _ in 0..copies {
            let mut at = depart + link.latency.as_micros() + self.rng.range(0, link.jitter.as_micros() + 1);
            if self.rng.chance(link.reorder) {
                at += self.rng.range(0, 30_000);
            }
            self.order += 1;
            self.heap.push(InFlight { at, order: self.order, to_server, data: data.to_vec() });
        }
    }

    /// Hands backlog messages to the connections while they accept them.
    fn feed(&mut self) {
        while let Some((ch, msg)) = self.client_backlog.front() {
            match self.client.send(*ch, msg) {
                Ok(()) => {
                    self.client_backlog.pop_front();
                }
                Err(kaos_core::channel::SendError::Full) => break,
                Err(e) => panic!("client send: {e:?}"),
            }
        }
        let Some(h) = self.server_conn else { return };
        let Some(conn) = self.server.connection(h) else { return };
        while let Some((ch, msg)) = self.server_backlog.front() {
            match conn.send(*ch, msg) {
                Ok(()) => {
                    self.server_backlog.pop_front();
                }
                Err(kaos_core::channel::SendError::Full) => break,
                Err(e) => panic!("server send: {e:?}"),
            }
        }
    }

    /// One round: feed, transmit everything, deliver what is due, collect events, and
    /// feed and transmit again (what the deliveries released goes out at once, as an
    /// I/O loop sends after it receives).
    pub fn step(&mut self) {
        self.feed();
        self.transmit_all();
        let mut reply = vec![0u8; 2048];
        while self.heap.peek().is_some_and(|d| d.at <= self.now.as_micros()) {
            let d = self.heap.pop().unwrap();
            if d.to_server {
                if let Some(n) = self.server.handle_datagram(self.now, CLIENT.parse().unwrap(), &d.data, &mut reply) {
                    assert!(n <= d.data.len(), "server amplified a stateless reply");
                    let r = reply[..n].to_vec();
                    self.transmit(false, &r);
                }
            } else if self.parked_client(|p, now| p.handle_datagram(now, &d.data)) == Some(true) {
                self.parked_received += 1;
            } else {
                self.client.handle_datagram(self.now, &d.data);
            }
        }
        self.collect_events();
        self.parked_client(|p, now| p.handle_timeout(now));
        self.feed();
        self.transmit_all();
    }

    /// Sends everything both sides have to send now.
    fn transmit_all(&mut self) {
        let mut buf = vec![0u8; 2048];
        // A parked client sends its keep-alives and acks without storage.
        let parked_out = self.parked_client(|p, now| {
            let mut out = Vec::new();
            while let Some(n) = p.poll_transmit(now, &mut buf) {
                out.push(buf[..n].to_vec());
            }
            out
        });
        for d in parked_out.unwrap_or_default() {
            self.parked_sent += 1;
            self.transmit(true, &d);
        }
        while let Some(n) = self.client.poll_transmit(self.now, &mut buf) {
            let d = buf[..n].to_vec();
            self.transmit(true, &d);
        }
        while let Some((_, to, n)) = self.server.poll_transmit(self.now, &mut buf) {
            assert_eq!(to, CLIENT.parse::<SocketAddr>().unwrap());
            let d = buf[..n].to_vec();
            self.transmit(false, &d);
        }
    }

    pub fn collect_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            record(&mut self.client_seen, e);
        }
        while let Some((h, e)) = self.server.poll_event() {
            if e == Event::Connected {
                self.server_conn = Some(h);
            }
            record(&mut self.server_seen, e);
        }
    }

    /// The next instant something happens.
    fn next_time(&self) -> Instant {
        let mut t = Instant::from_micros(u64::MAX);
        if let Some(d) = self.heap.peek() {
            t = t.min(Instant::from_micros(d.at));
        }
        if let Some(c) = self.client.poll_timeout() {
            t = t.min(c);
        }
        if let Some(s) = self.server.poll_timeout() {
            t = t.min(s);
        }
        t
    }

    /// Runs until `done` holds; fails (instead of hanging) after `max_steps` rounds or
    /// `max_time` of virtual time.
    pub fn run_until(
        &mut self,
        max_steps: u64,
        max_time: Duration,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> Result<u64, Livelock> {
        let deadline = self.now + max_time;
        for steps in 0..max_steps {
            self.step();
            if done(self) {
                return Ok(steps);
            }
            let next = self.next_time();
            // Time always moves forward: a component asking to be woken in the past
            // cannot spin the loop without bound.
            self.now = next.max(self.now + Duration::from_micros(1));
            if self.now > deadline {
                return Err(Livelock { steps, now: self.now });
            }
        }
        Err(Livelock { steps: max_steps, now: self.now })
    }

    /// Takes the client's storage out as it is now (mid-flight: live slots, buffers).
    pub fn take_client_storage(&mut self) -> Vec<u64> {
        self.take_client().into_storage()
    }

    /// Takes the client out, leaving an unconnected stand-in.
    pub fn take_client(&mut self) -> Connection<Vec<u64>> {
        let words = self.cfg.storage_words();
        let stand_in =
            Connection::connect(&self.cfg, vec![0u64; words], self.now, SERVER.parse().unwrap(), 2).expect("stand-in");
        std::mem::replace(&mut self.client, stand_in)
    }

    pub fn connect(&mut self) {
        self.run_until(100_000, Duration::from_secs(30), |s| s.client_seen.connected && s.server_conn.is_some())
            .expect("handshake did not complete");
    }
}

fn record(seen: &mut Seen, e: Event<'_>) {
    match e {
        Event::Connected => {
            assert!(!seen.connected, "Connected twice");
            seen.connected = true;
        }
        Event::Message { channel, data } => {
            assert!(seen.disconnected.is_none(), "message after Disconnected");
            seen.messages.push((channel, data.to_vec()));
        }
        Event::Disconnected(r) => {
            assert!(seen.disconnected.is_none(), "Disconnected twice");
            seen.disconnected = Some(r);
        }
    }
}

/// A self-checking message: `[index u32][len u32][pattern...]`.
pub fn make_message(index: u32, len: usize) -> Vec<u8> {
    let len = len.max(8);
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&index.to_le_bytes());
    m.extend_from_slice(&(len as u32).to_le_bytes());
    for i in 8..len {
        m.push((index as usize).wrapping_mul(31).wrapping_add(i) as u8);
    }
    m
}

/// Checks a message's integrity and returns its index.
pub fn check_message(m: &[u8]) -> u32 {
    assert!(m.len() >= 8, "short message");
    let index = u32::from_le_bytes(m[..4].try_into().unwrap());
    let len = u32::from_le_bytes(m[4..8].try_into().unwrap()) as usize;
    assert_eq!(len, m.len(), "message {index} truncated or padded");
    for (i, &b) in m.iter().enumerate().skip(8) {
        assert_eq!(b, (index as usize).wrapping_mul(31).wrapping_add(i) as u8, "message {index} corrupted");
    }
    index
}
