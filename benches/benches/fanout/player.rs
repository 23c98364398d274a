//! A load generator process: its share of the players, each a WebSocket to kaos-server
//! that joins its group's relayed match (`match_create` with the group's name) and then
//! sends `match_data_send` at the given rate. The send time (Unix nanoseconds, one clock
//! for every process on the machine) rides in `op_code`, so each receiver measures the
//! fan-out latency of every message it gets.

use std::io::{self, BufRead, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kaosnet::realtime::protobuf::realtime::{envelope::Message, Envelope, MatchCreate, MatchDataSend};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use prost::Message as _;
use socket2::{Domain, Socket, Type};

/// Latency histogram: 50 µs buckets up to 1 s, then one overflow bucket.
pub const BUCKET_NS: u64 = 50_000;
pub const BUCKETS: usize = 20_001;
/// Handshakes in flight at once while connecting.
const CONNECTING_AT_ONCE: usize = 128;

#[derive(PartialEq, Eq)]
enum State {
    Connecting,
    Handshake,
    Joining,
    Ready,
    Dead,
}

struct Player {
    stream: Option<TcpStream>,
    state: State,
    group: usize,
    token: String,
    rbuf: Vec<u8>,
    out: Vec<u8>,
    match_id: String,
}

pub fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// A client frame, text (JSON) or binary (protobuf), masked with a zero key (the payload
/// is unchanged).
fn client_frame(payload: &[u8], protobuf: bool, out: &mut Vec<u8>) {
    out.push(if protobuf { 0x82 } else { 0x81 });
    if payload.len() < 126 {
        out.push(0x80 | payload.len() as u8);
    } else {
        out.push(0x80 | 126);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
}

/// The payload of the complete server frame at the start of `buf`, and its total length.
fn frame(buf: &[u8]) -> Option<(usize, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (len, header) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        126 => return None,
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
        127 => return None,
        n => (n as usize, 2),
    };
    (buf.len() >= header + len).then_some((header, header + len))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The digits after `"op_code":"` in a match_data envelope.
fn op_code(payload: &[u8]) -> Option<u64> {
    let at = find(payload, b"\"op_code\":\"")? + 11;
    let mut n = 0u64;
    for &b in &payload[at..] {
        match b {
            b'0'..=b'9' => n = n * 10 + u64::from(b - b'0'),
            _ => break,
        }
    }
    Some(n)
}

pub struct Load {
    poll: Poll,
    players: Vec<Player>,
    server: SocketAddr,
    source: IpAddr,
    pub ready: usize,
    pub dead: usize,
    pub sent: u64,
    pub received: u64,
    pub histogram: Vec<u64>,
    measuring: bool,
    /// The players speak protobuf (`KAOS_FANOUT_FORMAT=protobuf`), not JSON.
    protobuf: bool,
}

impl Load {
    pub fn new(server: SocketAddr, source: IpAddr, players: Vec<(usize, String)>) -> io::Result<Load> {
        let poll = Poll::new()?;
        let mut load = Load {
            poll,
            players: Vec::with_capacity(players.len()),
            server,
            source,
            ready: 0,
            dead: 0,
            sent: 0,
            received: 0,
            histogram: vec![0; BUCKETS],
            measuring: false,
            protobuf: std::env::var("KAOS_FANOUT_FORMAT").is_ok_and(|f| f == "protobuf"),
        };
        for (group, token) in players {
            load.players.push(Player {
                stream: None,
                state: State::Connecting,
                group,
                token,
                rbuf: Vec::new(),
                out: Vec::new(),
                match_id: String::new(),
            });
        }
        Ok(load)
    }

    fn start(&mut self, i: usize) -> io::Result<()> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        socket.bind(&SocketAddr::new(self.source, 0).into())?;
        match socket.connect(&self.server.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let mut stream = TcpStream::from_std(socket.into());
        self.poll.registry().register(&mut stream, Token(i), Interest::READABLE | Interest::WRITABLE)?;
        let p = &mut self.players[i];
        p.stream = Some(stream);
        p.state = State::Handshake;
        let upgrade = format!(
            "GET /ws?token={}&format={} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            p.token,
            if self.protobuf { "protobuf" } else { "json" }
        );
        p.out.extend_from_slice(upgrade.as_bytes());
        Ok(())
    }

    /// Connects every player and joins its match; true when all are ready.
    pub fn connect_all(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut next = 0;
        while self.ready + self.dead < self.players.len() && Instant::now() < deadline {
            let in_flight = next - self.ready - self.dead;
            for _ in in_flight..CONNECTING_AT_ONCE {
                if next >= self.players.len() {
                    break;
                }
                if self.start(next).is_err() {
                    self.players[next].state = State::Dead;
                    self.dead += 1;
                }
                next += 1;
            }
            self.turn(Duration::from_millis(5));
        }
        self.dead == 0 && self.ready == self.players.len()
    }

    /// The first `active` players send at `rate` per second for `duration`, spread
    /// evenly; the rest stay connected and receive.
    pub fn run(&mut self, rate: u32, duration: Duration, active: usize) {
        self.measuring = true;
        let period_ms = (1000 / rate) as u64;
        let start = Instant::now();
        let mut done_ms = 0u64;
        let mut payload = Vec::with_capacity(160);
        while start.elapsed() < duration {
            let now_ms = start.elapsed().as_millis() as u64;
            while done_ms <= now_ms {
                let slot = done_ms % period_ms;
                let mut i = slot as usize;
                while i < self.players.len().min(active) {
                    if self.players[i].state == State::Ready {
                        payload.clear();
                        let p = &self.players[i];
                        if self.protobuf {
                            let send = MatchDataSend {
                                match_id: p.match_id.clone(),
                                op_code: unix_nanos() as i64,
                                ..Default::default()
                            };
                            let envelope = Envelope { cid: String::new(), message: Some(Message::MatchDataSend(send)) };
                            envelope.encode(&mut payload).unwrap();
                        } else {
                            write!(
                                payload,
                                "{{\"match_data_send\":{{\"match_id\":\"{}\",\"op_code\":\"{}\",\"data\":\"\"}}}}",
                                p.match_id,
                                unix_nanos()
                            )
                            .unwrap();
                        }
                        client_frame(&payload, self.protobuf, &mut self.players[i].out);
                        self.write(i);
                        self.sent += 1;
                    }
                    i += period_ms as usize;
                }
                done_ms += 1;
            }
            self.turn(Duration::from_millis(1));
        }
        // Let the last messages arrive.
        let drain = Instant::now();
        while drain.elapsed() < Duration::from_millis(500) {
            self.turn(Duration::from_millis(5));
        }
        self.measuring = false;
    }

    fn turn(&mut self, timeout: Duration) {
        let mut events = Events::with_capacity(1024);
        if self.poll.poll(&mut events, Some(timeout)).is_err() {
            return;
        }
        for e in events.iter() {
            let i = e.token().0;
            if e.is_writable() {
                self.write(i);
            }
            if e.is_readable() || e.is_read_closed() || e.is_error() {
                self.read(i);
            }
        }
    }

    fn kill(&mut self, i: usize) {
        let p = &mut self.players[i];
        if p.state != State::Dead {
            if p.state == State::Ready {
                self.ready -= 1;
            }
            p.state = State::Dead;
            self.dead += 1;
            if let Some(s) = p.stream.as_mut() {
                let _ = self.poll.registry().deregister(s);
            }
        }
    }

    fn write(&mut self, i: usize) {
        let p = &mut self.players[i];
        let Some(stream) = p.stream.as_mut().filter(|_| !p.out.is_empty() && p.state != State::Dead) else { return };
        match stream.write(&p.out) {
            Ok(n) => {
                p.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => self.kill(i),
        }
    }

    fn read(&mut self, i: usize) {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let p = &mut self.players[i];
            let Some(stream) = p.stream.as_mut().filter(|_| p.state != State::Dead) else { return };
            match stream.read(&mut chunk) {
                Ok(0) => return self.kill(i),
                Ok(n) => p.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.kill(i),
            }
        }
        let now = unix_nanos();
        let mut consumed = 0;
        let mut join = false;
        if self.players[i].state == State::Handshake {
            let p = &mut self.players[i];
            let Some(end) = find(&p.rbuf, b"\r\n\r\n") else { return };
            if !p.rbuf.starts_with(b"HTTP/1.1 101") {
                return self.kill(i);
            }
            consumed = end + 4;
            p.state = State::Joining;
            join = true;
        }
        {
            let p = &mut self.players[i];
            while let Some((header, total)) = frame(&p.rbuf[consumed..]) {
                let body = &p.rbuf[consumed + header..consumed + total];
                if self.protobuf {
                    match Envelope::decode(body).ok().and_then(|e| e.message.map(|m| (e.cid, m))) {
                        Some((cid, Message::Match(m))) if p.state == State::Joining && cid == "j" => {
                            p.match_id = m.match_id;
                            p.state = State::Ready;
                            self.ready += 1;
                        }
                        Some((_, Message::MatchData(d))) if self.measuring => {
                            let ns = now.saturating_sub(d.op_code as u64);
                            self.histogram[((ns / BUCKET_NS) as usize).min(BUCKETS - 1)] += 1;
                            self.received += 1;
                        }
                        _ => {}
                    }
                } else if p.state == State::Joining && find(body, b"\"cid\":\"j\"").is_some() {
                    let at = find(body, b"\"match_id\":\"").map(|a| a + 12);
                    if let Some(at) = at {
                        let end = body[at..].iter().position(|&b| b == b'"').unwrap_or(0);
                        p.match_id = String::from_utf8_lossy(&body[at..at + end]).into_owned();
                        p.state = State::Ready;
                        self.ready += 1;
                    }
                } else if self.measuring && find(&body[..body.len().min(16)], b"match_data").is_some() {
                    if let Some(sent) = op_code(body) {
                        let ns = now.saturating_sub(sent);
                        self.histogram[((ns / BUCKET_NS) as usize).min(BUCKETS - 1)] += 1;
                        self.received += 1;
                    }
                }
                consumed += total;
            }
            p.rbuf.drain(..consumed);
        }
        if join {
            let group = self.players[i].group;
            let name = format!("bench-{group}");
            let msg = if self.protobuf {
                let create = Message::MatchCreate(MatchCreate { name });
                Envelope { cid: "j".into(), message: Some(create) }.encode_to_vec()
            } else {
                format!("{{\"cid\":\"j\",\"match_create\":{{\"name\":\"{name}\"}}}}").into_bytes()
            };
            client_frame(&msg, self.protobuf, &mut self.players[i].out);
            self.write(i);
        }
    }
}

/// The child's whole life: connect, say "ready", wait for "go <rate> <seconds> <active>"
/// (how many of this child's players send), run,
/// print "result <sent> <received> <bucket>:<count>,...".
pub fn child(server: SocketAddr, source: IpAddr, players: Vec<(usize, String)>) {
    let mut load = Load::new(server, source, players).expect("sockets");
    let ok = load.connect_all(Duration::from_secs(120));
    println!("ready {} {}", load.ready, load.dead);
    std::io::stdout().flush().unwrap();
    if !ok {
        return;
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace().skip(1);
    let rate: u32 = parts.next().unwrap().parse().unwrap();
    let seconds: u64 = parts.next().unwrap().parse().unwrap();
    let active: usize = parts.next().unwrap().parse().unwrap();
    load.run(rate, Duration::from_secs(seconds), active);
    let hist: Vec<String> =
        load.histogram.iter().enumerate().filter(|(_, c)| **c > 0).map(|(b, c)| format!("{b}:{c}")).collect();
    println!("result {} {} {}", load.sent, load.received, hist.join(","));
    std::io::stdout().flush().unwrap();
}
