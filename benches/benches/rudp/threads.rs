//! The rudp workloads as users run them: client and server each on their own thread, each
//! sleeping on its socket (kaos-rudp's `poll(timeout)`, which busy-polls first as shipped,
//! and again with that off; the peers, which have no blocking wait, in `poll(2)` on their
//! socket) until a datagram or at most `WAIT` passes. Every socket asks for 8 MiB of
//! kernel buffers.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaos_rudp::{IoBackend, RudpConfig, RudpServer, RudpTransport, Stats, Transport, RELIABLE_ORDERED};

use super::{message, peers, percentile, seq_of, thread_cpu, BULK, PINGS};

/// The longest a loop sleeps without traffic (timers wake kaos-rudp sooner).
pub const WAIT: Duration = Duration::from_millis(1);
/// Kernel socket buffers every library asks for (the kernel may cap them).
pub const SOCKET_BUFFER: usize = 8 << 20;

/// One end of a connection, as the workloads drive it.
pub trait End: Send + 'static {
    /// Sleeps until a datagram arrives or `max` passes, then runs the library (receives,
    /// timers, sends what is due).
    fn wait(&mut self, max: Duration);
    /// Queues `m` reliably and in order; false when the library refuses it now.
    fn send(&mut self, m: &[u8]) -> bool;
    /// Sends what is queued.
    fn flush(&mut self);
    /// Hands each message received so far to `f`.
    fn receive(&mut self, f: &mut dyn FnMut(&[u8]));
    /// kaos-rudp's connection counters (the timeline); `None` for the peers.
    fn stats(&self) -> Option<Stats> {
        None
    }
}

/// Any library's end, so one workload runs every library.
impl End for Box<dyn End> {
    fn wait(&mut self, max: Duration) {
        (**self).wait(max)
    }
    fn send(&mut self, m: &[u8]) -> bool {
        (**self).send(m)
    }
    fn flush(&mut self) {
        (**self).flush()
    }
    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) {
        (**self).receive(f)
    }
    fn stats(&self) -> Option<Stats> {
        (**self).stats()
    }
}

/// Sleeps until `fd` is readable or `max` passes.
pub fn wait_readable(fd: RawFd, max: Duration) {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let ts = libc::timespec { tv_sec: max.as_secs() as _, tv_nsec: max.subsec_nanos() as _ };
    // SAFETY: `p` is one valid pollfd and `ts` a valid timespec for the duration of the
    // call; a null signal mask leaves the mask alone.
    unsafe { libc::ppoll(&mut p, 1, &ts, std::ptr::null()) };
}

/// Asks for `SOCKET_BUFFER` bytes of kernel buffers on `socket`.
pub fn big_buffers(socket: &UdpSocket) {
    let s = socket2::SockRef::from(socket);
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
}

/// The bulk workload's figures.
pub struct Bulk {
    pub per_sec: f64,
    /// Server thread CPU time for the whole run.
    pub server_cpu: Duration,
    /// Sends the client's library refused (a full window) before it took them.
    pub refused: u64,
}

/// `BULK` reliable-ordered 64-byte messages from the client thread (this one) to the
/// server thread, from the first send to the last receipt.
pub fn bulk<S: End, C: End>(mut server: S, mut client: C) -> Bulk {
    let done = Arc::new(AtomicBool::new(false));
    let server_done = done.clone();
    let start = Instant::now();
    let server_thread = std::thread::spawn(move || {
        let cpu = thread_cpu();
        let mut wakes = Timeline::default();
        receive_bulk(&mut server, &mut wakes);
        let end = Instant::now();
        server_done.store(true, Ordering::Release);
        (end, thread_cpu() - cpu, wakes)
    });
    let (mut sent, mut refused) = (0u64, 0u64);
    let mut wakes = Timeline::default();
    while !done.load(Ordering::Acquire) {
        push(&mut client, &mut sent, &mut refused);
        client.wait(WAIT);
        wakes.record(&client, sent);
    }
    let (end, server_cpu, server_wakes) = server_thread.join().unwrap();
    if std::env::var_os("KAOS_RUDP_TIMELINE").is_some() {
        print_timeline(start, &wakes, &server_wakes);
    }
    Bulk { per_sec: BULK as f64 / (end - start).as_secs_f64(), server_cpu, refused }
}

/// Receives the `BULK` messages, checking their order; returns when the first came.
pub fn receive_bulk(server: &mut dyn End, wakes: &mut Timeline) -> Instant {
    let (mut got, mut first) = (0u64, None);
    while got < BULK {
        server.wait(WAIT);
        server.receive(&mut |m| {
            assert_eq!(seq_of(m), got, "out of order");
            first.get_or_insert_with(Instant::now);
            got += 1;
        });
        // Acks go out (renet sends them only here).
        server.flush();
        wakes.record(server, got);
    }
    first.unwrap_or_else(Instant::now)
}

/// One side's wake-ups in a bulk run (kaos-rudp only): when, messages queued or
/// delivered so far, and the connection's datagram counters after the wake.
#[derive(Default)]
pub struct Timeline(Vec<(Instant, u64, Stats)>);

impl Timeline {
    pub fn record(&mut self, end: &dyn End, messages: u64) {
        if let Some(s) = end.stats() {
            self.0.push((Instant::now(), messages, s));
        }
    }

    /// Per-wake averages: datagrams sent and received, messages moved.
    pub fn summary(&self) -> String {
        let (Some(first), Some(last)) = (self.0.first(), self.0.last()) else { return String::new() };
        let n = self.0.len() as f64;
        let per = |f: fn(&Stats) -> u64| (f(&last.2) - f(&first.2)) as f64 / n;
        format!(
            "{} wakes, per wake: {:.1} messages, {:.2} datagrams sent, {:.2} received; {} lost, {} timeouts, {} window cuts ({} for random loss), {} dropped for a full inbox, cwnd {} B",
            self.0.len(),
            (last.1 - first.1) as f64 / n,
            per(|s| s.packets_sent),
            per(|s| s.packets_received),
            last.2.packets_lost,
            last.2.timeouts,
            last.2.window_cuts,
            last.2.random_loss_cuts,
            last.2.dropped_full,
            last.2.cwnd,
        )
    }
}

/// The run's timeline (`KAOS_RUDP_TIMELINE=1`): both sides' per-wake averages, then
/// 2 ms of wakes from the middle of the run, merged in time order.
fn print_timeline(start: Instant, client: &Timeline, server: &Timeline) {
    eprintln!("client: {}", client.summary());
    eprintln!("server: {}", server.summary());
    let Some(mid) = client.0.get(client.0.len() / 2).map(|w| w.0) else { return };
    let window = |t: &Instant| *t >= mid && *t < mid + Duration::from_millis(2);
    let mut rows: Vec<(Instant, String)> = Vec::new();
    for (side, tl) in [("client", client), ("server", server)] {
        for pair in tl.0.windows(2) {
            let ((_, m0, s0), (t, m1, s1)) = (&pair[0], &pair[1]);
            if window(t) {
                let line = format!(
                    "{side} {:>4} msgs, {:>3} datagrams out, {:>3} in, cwnd {:>7} B",
                    m1 - m0,
                    s1.packets_sent - s0.packets_sent,
                    s1.packets_received - s0.packets_received,
                    s1.cwnd
                );
                rows.push((*t, line));
            }
        }
    }
    rows.sort_by_key(|r| r.0);
    for (t, line) in rows {
        eprintln!("{:>9.1} µs  {line}", (t - start).as_secs_f64() * 1e6);
    }
}

/// Queues the next bulk messages until the library refuses one (counted) or all are
/// queued, then sends.
pub fn push(client: &mut dyn End, sent: &mut u64, refused: &mut u64) {
    while *sent < BULK {
        if !client.send(&message(*sent)) {
            *refused += 1;
            break;
        }
        *sent += 1;
    }
    client.flush();
}

/// `PINGS` round trips: the client thread (this one) sends, the server thread echoes;
/// RTT p50 and p99, and the server thread's CPU time over them.
pub fn ping_pong<S: End, C: End>(mut server: S, mut client: C) -> (Duration, Duration, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let server_stop = stop.clone();
    let server_thread = std::thread::spawn(move || {
        let mut echo = Vec::new();
        let cpu0 = thread_cpu();
        while !server_stop.load(Ordering::Acquire) {
            server.wait(WAIT);
            server.receive(&mut |m| echo.push(m.to_vec()));
            for m in echo.drain(..) {
                assert!(server.send(&m), "the echo was refused");
            }
            server.flush();
        }
        (server, thread_cpu() - cpu0)
    });
    let mut rtts = Vec::with_capacity(PINGS);
    for i in 0..PINGS as u64 {
        let t = Instant::now();
        assert!(client.send(&message(i)), "the ping was refused");
        client.flush();
        let mut back = false;
        while !back {
            client.wait(WAIT);
            client.receive(&mut |m| {
                assert_eq!(seq_of(m), i);
                back = true;
            });
        }
        rtts.push(t.elapsed());
    }
    stop.store(true, Ordering::Release);
    let (_server, server_cpu) = server_thread.join().unwrap();
    rtts.sort();
    (percentile(&rtts, 0.5), percentile(&rtts, 0.99), server_cpu)
}

/// kaos-rudp's server side, bound to its one client.
pub struct KaosServerEnd {
    pub server: RudpServer,
    pub client: SocketAddr,
}

impl End for KaosServerEnd {
    fn wait(&mut self, max: Duration) {
        self.server.poll(Some(max)).unwrap();
    }
    fn send(&mut self, m: &[u8]) -> bool {
        self.server.send_on(&self.client, RELIABLE_ORDERED, m).is_ok()
    }
    fn flush(&mut self) {
        self.server.flush().unwrap();
    }
    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) {
        self.server.receive(&self.client, f);
    }
    fn stats(&self) -> Option<Stats> {
        self.server.client_stats(&self.client)
    }
}

/// kaos-rudp's client side.
pub struct KaosClientEnd(pub RudpTransport);

impl End for KaosClientEnd {
    fn wait(&mut self, max: Duration) {
        self.0.poll(Some(max)).unwrap();
    }
    fn send(&mut self, m: &[u8]) -> bool {
        self.0.queue_on(RELIABLE_ORDERED, m).is_ok()
    }
    fn flush(&mut self) {
        self.0.flush().unwrap();
    }
    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) {
        self.0.take_messages(|_, m| f(m));
    }
    fn stats(&self) -> Option<Stats> {
        Some(self.0.stats())
    }
}

/// kaos-rudp's settings here: a window of 4096 messages and 256 KiB of unacked bytes per
/// channel (renet's cap here), an inbox for nearly four windows of these 64-byte messages
/// (the default 64 KiB holds less than one, and a full inbox drops what arrives, which
/// the sender takes for loss), big socket buffers. A library name ending in "-sleep"
/// turns busy polling off (`RudpConfig::busy_poll`): every wait sleeps at once.
fn kaos_config(lib: &str) -> RudpConfig {
    let mut cfg = RudpConfig::with_window(4096);
    for c in cfg.protocol.channels.iter_mut() {
        c.buffer_bytes = 256 * 1024;
    }
    cfg.protocol.inbox_bytes = 1024 * 1024;
    cfg.io = backend(lib);
    if lib.ends_with("-sleep") {
        cfg.busy_poll = Duration::ZERO;
    }
    cfg.recv_buffer = SOCKET_BUFFER;
    cfg.send_buffer = SOCKET_BUFFER;
    cfg
}

/// A kaos-rudp server waiting for one client (the process workload), and its port.
fn kaos_listen(lib: &str) -> (RudpServer, u16) {
    let server = RudpServer::with_config("127.0.0.1:0".parse().unwrap(), kaos_config(lib)).unwrap();
    let port = server.local_addr().unwrap().port();
    (server, port)
}

/// Waits for the client of `kaos_listen`'s server.
fn kaos_accept(mut server: RudpServer) -> KaosServerEnd {
    loop {
        server.poll(Some(WAIT)).unwrap();
        if let Some(client) = server.accept() {
            return KaosServerEnd { server, client };
        }
    }
}

/// A kaos-rudp client connected to `addr`.
fn kaos_connect(lib: &str, addr: SocketAddr) -> KaosClientEnd {
    let mut client = RudpTransport::with_config("127.0.0.1:0".parse().unwrap(), addr, kaos_config(lib)).unwrap();
    assert!(client.wait_connected(Duration::from_secs(5)).unwrap(), "kaos-rudp connect timeout");
    KaosClientEnd(client)
}

/// The backend a library name ("kaos-mio", "kaos-uring", either with "-sleep") asks for.
fn backend(lib: &str) -> IoBackend {
    if lib.starts_with("kaos-uring") {
        IoBackend::Uring
    } else {
        IoBackend::Mio
    }
}

/// Accepts a server's one client, on the thread that will serve it.
pub type Accept = Box<dyn FnOnce() -> Box<dyn End> + Send>;

/// A server of `lib` ("kaos-mio", "kaos-uring", "renet", "rusty_enet") waiting for one
/// client: its port and what accepts the client. `also` is another address clients may
/// dial it by (a relay in front of it).
pub fn listen(lib: &str, also: Option<SocketAddr>) -> (u16, Accept) {
    match lib {
        _ if lib.starts_with("kaos-") => {
            let (server, port) = kaos_listen(lib);
            (port, Box::new(move || Box::new(kaos_accept(server)) as Box<dyn End>))
        }
        "renet" => {
            let (server, port) = peers::renet_listen(also);
            (port, Box::new(move || Box::new(peers::renet_accept(server)) as Box<dyn End>))
        }
        "rusty_enet" => {
            let listener = peers::enet_listen();
            (listener.2, Box::new(move || Box::new(peers::enet_accept(listener)) as Box<dyn End>))
        }
        other => panic!("unknown library {other}"),
    }
}

/// A client of `lib` connected to `addr`.
pub fn connect(lib: &str, addr: SocketAddr) -> Box<dyn End> {
    match lib {
        _ if lib.starts_with("kaos-") => Box::new(kaos_connect(lib, addr)),
        "renet" => Box::new(peers::renet_connect(addr)),
        "rusty_enet" => Box::new(peers::enet_connect(addr)),
        other => panic!("unknown library {other}"),
    }
}

/// A connected (server, client) pair of `lib` ("kaos-mio", "kaos-uring", "renet",
/// "rusty_enet"), made in this thread.
pub fn ends(lib: &str) -> (Box<dyn End>, Box<dyn End>) {
    fn boxed(pair: (impl End, impl End)) -> (Box<dyn End>, Box<dyn End>) {
        (Box::new(pair.0), Box::new(pair.1))
    }
    match lib {
        _ if lib.starts_with("kaos-") => boxed(kaos_ends(lib)),
        "renet" => boxed(peers::renet_ends()),
        "rusty_enet" => boxed(peers::enet_ends()),
        other => panic!("unknown library {other}"),
    }
}

/// A connected kaos-rudp pair of `lib` ("kaos-mio", ...), made in this thread.
pub fn kaos_ends(lib: &str) -> (KaosServerEnd, KaosClientEnd) {
    let cfg = kaos_config(lib);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut server = RudpServer::with_config(any, cfg.clone()).unwrap();
    let mut client = RudpTransport::with_config(any, server.local_addr().unwrap(), cfg).unwrap();
    while !client.is_connected() {
        server.process().unwrap();
        client.process().unwrap();
    }
    let addr = client.local_addr().unwrap();
    while server.accept().is_none() {
        server.process().unwrap();
    }
    (KaosServerEnd { server, client: addr }, KaosClientEnd(client))
}
