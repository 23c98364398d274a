//! The two datagram backends behind one interface: mio (epoll/kqueue readiness plus
//! batched system calls) and io_uring (Linux).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use crate::sys::BatchIo;
#[cfg(target_os = "linux")]
use crate::uring::UringIo;

/// Which I/O backend runs a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoBackend {
    /// `KAOS_IO=uring` or `KAOS_IO=mio` from the environment; mio otherwise.
    #[default]
    Auto,
    /// mio readiness with `recvmmsg` / `sendmmsg` batches (portable).
    Mio,
    /// io_uring (Linux); falls back to mio where the kernel or a sandbox refuses it.
    Uring,
}

impl IoBackend {
    /// The backend `Auto` stands for now.
    pub fn resolve(self) -> IoBackend {
        self.resolve_with(std::env::var("KAOS_IO").ok().as_deref())
    }

    /// [`resolve`](Self::resolve) with `KAOS_IO` given.
    fn resolve_with(self, kaos_io: Option<&str>) -> IoBackend {
        match (self, kaos_io) {
            (IoBackend::Auto, Some("uring")) => IoBackend::Uring,
            (IoBackend::Auto, _) => IoBackend::Mio,
            (other, _) => other,
        }
    }
}

/// Wakes a [`RudpServer`](crate::RudpServer) or [`RudpTransport`](crate::RudpTransport)
/// blocked in `poll` from another thread (after queueing work for its thread, say).
/// Waking one that is not waiting makes its next `poll` return at once.
#[derive(Debug, Clone)]
pub struct RudpWaker(Arc<WakeSource>);

#[derive(Debug)]
enum WakeSource {
    Mio(mio::Waker),
    #[cfg(target_os = "linux")]
    EventFd(std::os::fd::OwnedFd),
}

impl RudpWaker {
    /// Makes the server's current or next `poll` return.
    pub fn wake(&self) -> io::Result<()> {
        match &*self.0 {
            WakeSource::Mio(w) => w.wake(),
            #[cfg(target_os = "linux")]
            WakeSource::EventFd(fd) => {
                use std::os::fd::AsRawFd;
                let one: u64 = 1;
                // SAFETY: writes 8 bytes from a live u64 to an eventfd this value owns.
                let n = unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
                // EAGAIN: the counter is saturated, so a wake-up is pending anyway.
                if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            }
        }
    }
}

/// Registers `socket` with `poll` unless it is. Registering reports a datagram that is
/// already waiting, so none that came before is missed.
fn register_once(poll: &Poll, registered: &mut bool, socket: &mut UdpSocket) -> io::Result<()> {
    if !*registered {
        poll.registry().register(socket, Token(0), Interest::READABLE)?;
        *registered = true;
    }
    Ok(())
}

/// Waits on `poll`'s epoll instance for at most `t`, to the nanosecond.
#[cfg(target_os = "linux")]
fn precise_wait(poll: &Poll, t: Duration) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let ts = libc::timespec { tv_sec: t.as_secs() as _, tv_nsec: t.subsec_nanos() as _ };
    // SAFETY: epoll_event is plain C data, valid when zeroed.
    let mut ready: [libc::epoll_event; 4] = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is the live epoll instance `poll` owns; `ready` has room for
    // the 4 events passed as the maximum and `ts` is a valid timespec, both outliving the
    // call; a null signal mask (with its size) leaves the mask alone.
    let r = unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait2,
            poll.as_raw_fd(),
            ready.as_mut_ptr(),
            ready.len() as libc::c_int,
            &ts as *const libc::timespec,
            std::ptr::null::<libc::sigset_t>(),
            size_of::<libc::sigset_t>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A socket's datagram I/O.
pub(crate) enum Io {
    Mio {
        io: Box<BatchIo>,
        poll: Poll,
        /// Whether the socket is registered with `poll`: at the first wait, not before. A
        /// loop that never waits in this crate (a fixed-rate game loop, a client read
        /// once per frame) then has no epoll entry on the socket, which the kernel would
        /// visit for every datagram that arrives and every one sent.
        registered: bool,
        events: Events,
        waker: Option<RudpWaker>,
        /// Waits that took the exact timeout (`epoll_pwait2`); none once the kernel
        /// refused it.
        precise_waits: u64,
        precise: bool,
    },
    #[cfg(target_os = "linux")]
    Uring(Box<UringIo>),
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Io::Mio { .. } => "Io::Mio",
            #[cfg(target_os = "linux")]
            Io::Uring(_) => "Io::Uring",
        })
    }
}

impl Io {
    /// I/O for `socket` on `backend` (resolved), falling back to mio if io_uring fails.
    /// `max_datagram` and `batch` size the mio backend's buffers (io_uring keeps fixed
    /// 2 KiB slots).
    pub(crate) fn new(socket: &mut UdpSocket, backend: IoBackend, max_datagram: usize, batch: usize) -> io::Result<Io> {
        #[cfg(target_os = "linux")]
        if backend.resolve() == IoBackend::Uring {
            if let Ok(u) = UringIo::new(socket) {
                return Ok(Io::Uring(Box::new(u)));
            }
        }
        let poll = Poll::new()?;
        #[allow(unused_mut)]
        let mut io = Box::new(BatchIo::new(max_datagram, batch)?);
        #[cfg(target_os = "linux")]
        io.enable_gro(socket);
        Ok(Io::Mio {
            io,
            poll,
            registered: false,
            events: Events::with_capacity(4),
            waker: None,
            precise_waits: 0,
            precise: true,
        })
    }

    /// The backend in use.
    pub(crate) fn backend(&self) -> IoBackend {
        match self {
            Io::Mio { .. } => IoBackend::Mio,
            #[cfg(target_os = "linux")]
            Io::Uring(_) => IoBackend::Uring,
        }
    }

    /// The waker of this I/O, made on first use.
    pub(crate) fn waker(&mut self) -> io::Result<RudpWaker> {
        match self {
            Io::Mio { poll, waker, .. } => {
                if waker.is_none() {
                    let w = mio::Waker::new(poll.registry(), Token(1))?;
                    *waker = Some(RudpWaker(Arc::new(WakeSource::Mio(w))));
                }
                Ok(waker.clone().expect("made above"))
            }
            #[cfg(target_os = "linux")]
            Io::Uring(u) => {
                let fd = u.wake_fd()?;
                Ok(RudpWaker(Arc::new(WakeSource::EventFd(fd))))
            }
        }
    }

    /// Waits until datagrams may be waiting on `socket` or `timeout` passes.
    pub(crate) fn wait(&mut self, socket: &mut UdpSocket, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Io::Mio { poll, registered, events, precise_waits, precise, .. } => {
                register_once(poll, registered, socket)?;
                // mio waits in whole milliseconds, so a core timer due in 300 µs (a loss
                // found by time on a fast path) would fire at 1 ms; Linux 5.11's
                // epoll_pwait2 takes the exact time. Nothing reads mio's events: after a
                // wait the caller receives until the socket is empty.
                #[cfg(target_os = "linux")]
                if let Some(t) = timeout.filter(|t| *precise && t.subsec_nanos() % 1_000_000 != 0) {
                    match precise_wait(poll, t) {
                        // Not in this kernel, or forbidden by a sandbox: mio's wait serves.
                        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => *precise = false,
                        Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
                        _ => {
                            *precise_waits += 1;
                            return Ok(());
                        }
                    }
                }
                #[cfg(not(target_os = "linux"))]
                let _ = (&precise_waits, &precise);
                match poll.poll(events, timeout) {
                    Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
                    _ => Ok(()),
                }
            }
            #[cfg(target_os = "linux")]
            Io::Uring(u) => u.wait(timeout),
        }
    }

    /// Whether datagrams or a wake may be waiting, without sleeping (for a busy poll).
    pub(crate) fn ready(&mut self, socket: &mut UdpSocket) -> io::Result<bool> {
        match self {
            Io::Mio { poll, registered, events, .. } => {
                register_once(poll, registered, socket)?;
                match poll.poll(events, Some(Duration::ZERO)) {
                    Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
                    _ => Ok(!events.is_empty()),
                }
            }
            #[cfg(target_os = "linux")]
            Io::Uring(u) => u.ready(),
        }
    }

    /// Receives a batch; 0 when nothing is waiting.
    pub(crate) fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        match self {
            Io::Mio { io, .. } => io.recv(socket),
            #[cfg(target_os = "linux")]
            Io::Uring(u) => u.recv(),
        }
    }

    /// Datagram `k` of the last `recv`.
    pub(crate) fn received(&self, k: usize) -> Option<(SocketAddr, &[u8])> {
        match self {
            Io::Mio { io, .. } => io.received(k),
            #[cfg(target_os = "linux")]
            Io::Uring(u) => u.received(k),
        }
    }

    /// The buffer for the next datagram to send.
    pub(crate) fn send_buf(&mut self) -> &mut [u8] {
        match self {
            Io::Mio { io, .. } => io.send_buf(),
            #[cfg(target_os = "linux")]
            Io::Uring(u) => u.send_buf(),
        }
    }

    /// Queues the first `len` bytes of the send buffer for `to`.
    pub(crate) fn commit(&mut self, to: SocketAddr, len: usize) {
        match self {
            Io::Mio { io, .. } => io.commit(to, len),
            #[cfg(target_os = "linux")]
            Io::Uring(u) => u.commit(to, len),
        }
    }

    /// Queues a copy of `data` for `to`.
    pub(crate) fn queue(&mut self, to: SocketAddr, data: &[u8]) {
        let buf = self.send_buf();
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        self.commit(to, n);
    }

    /// Whether the last receive may have left datagrams waiting: it filled every entry
    /// (mio) or handed out a full batch (io_uring).
    pub(crate) fn more_waiting(&self) -> bool {
        match self {
            Io::Mio { io, .. } => io.more_waiting(),
            #[cfg(target_os = "linux")]
            Io::Uring(u) => u.more_waiting(),
        }
    }

    /// Datagrams that arrived coalesced with others (UDP GRO).
    pub(crate) fn gro_segments(&self) -> u64 {
        match self {
            Io::Mio { io, .. } => io.gro_segments,
            #[cfg(target_os = "linux")]
            Io::Uring(u) => u.gro_segments,
        }
    }

    /// Whether the send batch is full.
    pub(crate) fn send_full(&self) -> bool {
        match self {
            Io::Mio { io, .. } => io.send_full(),
            #[cfg(target_os = "linux")]
            Io::Uring(u) => u.send_full(),
        }
    }

    /// Sends everything queued.
    pub(crate) fn flush(&mut self, socket: &UdpSocket) -> io::Result<()> {
        match self {
            Io::Mio { io, .. } => {
                if io.has_queued() {
                    io.flush(socket)?;
                }
                Ok(())
            }
            #[cfg(target_os = "linux")]
            Io::Uring(u) => {
                if u.has_queued() {
                    u.flush()?;
                }
                Ok(())
            }
        }
    }

    /// Datagrams sent inside UDP GSO messages.
    pub(crate) fn gso_segments(&self) -> u64 {
        match self {
            Io::Mio { io, .. } => io.gso_segments,
            #[cfg(target_os = "linux")]
            Io::Uring(u) => u.gso_segments,
        }
    }

    /// Datagrams the kernel would not take.
    pub(crate) fn send_dropped(&self) -> u64 {
        match self {
            Io::Mio { io, .. } => io.send_dropped,
            #[cfg(target_os = "linux")]
            Io::Uring(u) => u.send_dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Io, IoBackend};

    /// A socket on a free loopback port with 1 MiB kernel buffers.
    fn loopback() -> mio::net::UdpSocket {
        let opts = crate::sys::SocketOptions { recv_buffer: 1 << 20, send_buffer: 1 << 20, reuse_port: false };
        crate::sys::bind("127.0.0.1:0".parse().unwrap(), opts).unwrap()
    }

    #[test]
    fn auto_follows_kaos_io_and_explicit_choices_win() {
        assert_eq!(IoBackend::Auto.resolve_with(Some("uring")), IoBackend::Uring);
        assert_eq!(IoBackend::Auto.resolve_with(Some("mio")), IoBackend::Mio);
        assert_eq!(IoBackend::Auto.resolve_with(Some("other")), IoBackend::Mio);
        assert_eq!(IoBackend::Auto.resolve_with(None), IoBackend::Mio);
        assert_eq!(IoBackend::Mio.resolve_with(Some("uring")), IoBackend::Mio);
        assert_eq!(IoBackend::Uring.resolve_with(Some("mio")), IoBackend::Uring);
    }

    /// A mio wait of a fraction of a millisecond takes that time (epoll_pwait2), not the
    /// whole millisecond epoll_wait would round it up to; a datagram ends it early all
    /// the same.
    #[cfg(target_os = "linux")]
    #[test]
    fn mio_waits_the_exact_time_and_a_datagram_ends_the_wait() {
        use std::time::{Duration, Instant};
        let mut socket = loopback();
        let mut io = Io::new(&mut socket, IoBackend::Mio, 1200, crate::sys::BATCH).unwrap();
        let started = Instant::now();
        io.wait(&mut socket, Some(Duration::from_micros(300))).unwrap();
        assert!(started.elapsed() >= Duration::from_micros(300));
        let Io::Mio { precise_waits, precise, .. } = &io else { panic!("mio") };
        // Kernels before 5.11 lack epoll_pwait2: then mio's wait serves.
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut v = release.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u32>().ok());
        let has_pwait2 = (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (5, 11);
        assert_eq!((*precise, *precise_waits), (has_pwait2, u64::from(has_pwait2)), "kernel {release}");
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"x", socket.local_addr().unwrap()).unwrap();
        // A long wait returns once the datagram is readable.
        io.wait(&mut socket, Some(Duration::from_micros(3_600_000_500))).unwrap();
        assert_eq!(io.recv(&socket).unwrap(), 1);
    }

    /// mio: the socket joins the epoll instance at the first wait, not before (the kernel
    /// visits every epoll entry of a socket for each datagram in and out), and a datagram
    /// that arrived before that wait still ends it at once.
    #[cfg(target_os = "linux")]
    #[test]
    fn mio_registers_the_socket_at_the_first_wait() {
        use std::os::fd::AsRawFd;
        use std::time::Duration;
        let mut socket = loopback();
        let mut io = Io::new(&mut socket, IoBackend::Mio, 1200, crate::sys::BATCH).unwrap();
        let watched = |io: &Io| {
            let Io::Mio { poll, .. } = io else { panic!("mio") };
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", poll.as_raw_fd())).unwrap();
            // One "tfd: <fd> events: ..." line per registered descriptor.
            info.lines()
                .filter_map(|l| l.strip_prefix("tfd:"))
                .map(|l| l.split_whitespace().next().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"x", socket.local_addr().unwrap()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut got = 0;
        while got == 0 && std::time::Instant::now() < deadline {
            got = io.recv(&socket).unwrap();
        }
        assert_eq!((got, watched(&io)), (1, vec![]), "registered before any wait");
        peer.send_to(b"y", socket.local_addr().unwrap()).unwrap();
        // Arrived before the first wait: registering reports it, so this returns at once.
        io.wait(&mut socket, Some(Duration::from_secs(30))).unwrap();
        let Io::Mio { events, .. } = &io else { panic!("mio") };
        assert!(events.iter().any(|e| e.token() == mio::Token(0) && e.is_readable()), "the wait timed out");
        assert_eq!(watched(&io), vec![socket.as_raw_fd().to_string()]);
        assert_eq!(io.recv(&socket).unwrap(), 1);
    }

    /// Datagrams to an address the kernel refuses (port 0, as a forged source would
    /// have it) are dropped and counted, wherever they sit in the batch; the rest go
    /// out, and GSO stays on because the refusal was not GSO's fault.
    fn refused_destinations_are_dropped_not_fatal(backend: IoBackend) {
        use std::net::{SocketAddr, UdpSocket as StdSocket};
        let mut socket = loopback();
        let mut io = Io::new(&mut socket, backend, 1200, crate::sys::BATCH).unwrap();
        let peer = StdSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let to = peer.local_addr().unwrap();
        let forged: SocketAddr = "127.0.0.1:0".parse().unwrap();
        for _ in 0..4 {
            io.queue(forged, &[1; 100]); // one GSO run
        }
        io.queue(to, &[2; 100]);
        io.queue(forged, &[3; 100]); // last in the batch
        io.flush(&socket).unwrap();
        assert_eq!(io.send_dropped(), 5);
        let mut buf = [0u8; 256];
        assert_eq!(peer.recv(&mut buf).unwrap(), 100);
        assert_eq!(buf[0], 2);
        for _ in 0..4 {
            io.queue(to, &[4; 100]);
        }
        io.flush(&socket).unwrap();
        assert_eq!(io.gso_segments(), 4, "GSO was turned off by a bad destination");
        for _ in 0..4 {
            assert_eq!(peer.recv(&mut buf).unwrap(), 100);
            assert_eq!(buf[0], 4);
        }
    }

    #[test]
    fn refused_destinations_are_dropped_not_fatal_on_mio() {
        refused_destinations_are_dropped_not_fatal(IoBackend::Mio);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn refused_destinations_are_dropped_not_fatal_on_uring() {
        let mut probe = loopback();
        if Io::new(&mut probe, IoBackend::Uring, 1200, crate::sys::BATCH).unwrap().backend() != IoBackend::Uring {
            eprintln!("io_uring unavailable here: the mio run covers the logic");
            return;
        }
        refused_destinations_are_dropped_not_fatal(IoBackend::Uring);
    }

    /// A GSO train from one sender arrives as one coalesced receive (UDP GRO) and is
    /// handed out as the datagrams that were sent, the shorter last one included.
    #[cfg(target_os = "linux")]
    fn a_coalesced_receive_is_split_into_the_datagrams_sent(backend: IoBackend) {
        let (mut tx_socket, mut rx_socket) = (loopback(), loopback());
        let mut tx = Io::new(&mut tx_socket, IoBackend::Mio, 1200, crate::sys::BATCH).unwrap();
        let mut rx = Io::new(&mut rx_socket, backend, 1200, crate::sys::BATCH).unwrap();
        if rx.backend() != backend {
            eprintln!("io_uring unavailable here: the mio run covers the logic");
            return;
        }
        let to = rx_socket.local_addr().unwrap();
        let sizes = [1100, 1100, 1100, 1100, 300];
        for (k, &len) in sizes.iter().enumerate() {
            tx.queue(to, &vec![k as u8; len]);
        }
        tx.flush(&tx_socket).unwrap();
        assert_eq!(tx.gso_segments(), 5, "the train did not leave as one GSO message");
        let mut got: Vec<Vec<u8>> = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < sizes.len() && std::time::Instant::now() < deadline {
            rx.wait(&mut rx_socket, Some(std::time::Duration::from_millis(10))).unwrap();
            let n = rx.recv(&rx_socket).unwrap();
            for k in 0..n {
                let (from, data) = rx.received(k).unwrap();
                assert_eq!(from, tx_socket.local_addr().unwrap());
                got.push(data.to_vec());
            }
        }
        let want: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(k, &len)| vec![k as u8; len]).collect();
        assert_eq!(got, want);
        assert_eq!(rx.gro_segments(), 5, "the kernel did not coalesce the train");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_coalesced_receive_is_split_into_the_datagrams_sent_on_mio() {
        a_coalesced_receive_is_split_into_the_datagrams_sent(IoBackend::Mio);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_coalesced_receive_is_split_into_the_datagrams_sent_on_uring() {
        a_coalesced_receive_is_split_into_the_datagrams_sent(IoBackend::Uring);
    }

    /// With coalescing on, small datagrams still land side by side, one entry of
    /// `max_datagram` bytes each, not one 64 KiB coalescing entry (a page) each.
    #[cfg(target_os = "linux")]
    #[test]
    fn small_datagrams_land_side_by_side_while_coalescing_is_on() {
        let (tx_socket, mut rx_socket) = (loopback(), loopback());
        let mut rx = Io::new(&mut rx_socket, IoBackend::Mio, 1200, crate::sys::BATCH).unwrap();
        let to = rx_socket.local_addr().unwrap();
        // Loopback queues a datagram before its send returns, so the three nearly always
        // arrive in one receive; a delayed one only costs another round, never a hang.
        let mut together = false;
        for _ in 0..100 {
            for k in 0..3u8 {
                tx_socket.send_to(&[k; 40], to).unwrap();
            }
            let mut got = 0;
            while got < 3 {
                rx.wait(&mut rx_socket, Some(std::time::Duration::from_millis(10))).unwrap();
                let n = rx.recv(&rx_socket).unwrap();
                if n == 3 {
                    let at = |k: usize| rx.received(k).unwrap().1.as_ptr() as usize;
                    assert_eq!(rx.received(2).unwrap().1, &[2u8; 40]);
                    assert_eq!((at(1) - at(0), at(2) - at(1)), (1216, 1216));
                    together = true;
                }
                got += n;
            }
            if together {
                break;
            }
        }
        assert!(together, "three datagrams never arrived in one receive");
    }

    /// A full receive says more may wait; the receive that finds the socket empty says
    /// nothing does (a stale answer would spin the loop on empty receives).
    #[test]
    fn an_empty_receive_after_a_full_one_says_nothing_waits() {
        let mut rx_socket = loopback();
        let mut rx = Io::new(&mut rx_socket, IoBackend::Mio, 1200, 4).unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for k in 0..4u8 {
            peer.send_to(&[k; 10], rx_socket.local_addr().unwrap()).unwrap();
        }
        let mut got = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got < 4 && std::time::Instant::now() < deadline {
            rx.wait(&mut rx_socket, Some(std::time::Duration::from_millis(10))).unwrap();
            got += rx.recv(&rx_socket).unwrap();
        }
        assert_eq!(got, 4);
        assert!(rx.more_waiting(), "a full batch may leave more");
        assert_eq!(rx.recv(&rx_socket).unwrap(), 0);
        assert!(!rx.more_waiting(), "an empty receive left the full flag set");
    }

    /// io_uring: a receive that hands out a full batch says more may wait, one that hands
    /// out less says none does; a train longer than a batch comes out whole, in order.
    #[cfg(target_os = "linux")]
    #[test]
    fn uring_says_more_may_wait_after_a_full_batch() {
        use crate::sys::BATCH;
        use std::time::{Duration, Instant};
        let (mut tx_socket, mut rx_socket) = (loopback(), loopback());
        let mut tx = Io::new(&mut tx_socket, IoBackend::Mio, 1200, BATCH).unwrap();
        let mut rx = Io::new(&mut rx_socket, IoBackend::Uring, 1200, BATCH).unwrap();
        if rx.backend() != IoBackend::Uring {
            eprintln!("io_uring unavailable here");
            return;
        }
        let to = rx_socket.local_addr().unwrap();
        for first in [0, BATCH] {
            let n = if first == 0 { BATCH } else { 8 };
            for k in first..first + n {
                tx.queue(to, &[k as u8; 100]);
            }
            tx.flush(&tx_socket).unwrap();
        }
        let (mut got, mut said) = (Vec::new(), Vec::new());
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < BATCH + 8 && Instant::now() < deadline {
            rx.wait(&mut rx_socket, Some(Duration::from_millis(100))).unwrap();
            let n = rx.recv(&rx_socket).unwrap();
            got.extend((0..n).map(|k| rx.received(k).unwrap().1[0] as usize));
            said.push((n, rx.more_waiting()));
        }
        assert_eq!(got, (0..BATCH + 8).collect::<Vec<_>>());
        assert!(said.iter().all(|&(n, more)| more == (n == BATCH)), "{said:?}");
        assert!(said.iter().any(|&(n, _)| n == BATCH), "no receive filled a batch: {said:?}");
    }

    /// `ready` (the busy poll's check): false on an idle socket, after a drained receive
    /// and after sends; true once a datagram or a wake-up arrives.
    fn ready_sees_datagrams_and_wakes(backend: IoBackend) {
        use std::time::{Duration, Instant};
        let mut socket = loopback();
        let mut io = Io::new(&mut socket, backend, 1200, crate::sys::BATCH).unwrap();
        if io.backend() != backend {
            eprintln!("{backend:?} unavailable here");
            return;
        }
        let waker = io.waker().unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let until_ready = |io: &mut Io, socket: &mut mio::net::UdpSocket, what: &str| {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !io.ready(socket).unwrap() {
                assert!(Instant::now() < deadline, "{what} never made it ready");
            }
        };
        assert!(!io.ready(&mut socket).unwrap(), "ready on an idle socket");
        peer.send_to(b"x", socket.local_addr().unwrap()).unwrap();
        until_ready(&mut io, &mut socket, "a datagram");
        assert_eq!(io.recv(&socket).unwrap(), 1);
        io.queue(peer.local_addr().unwrap(), &[1; 100]);
        io.flush(&socket).unwrap();
        assert!(!io.ready(&mut socket).unwrap(), "ready after a drained receive and a send");
        waker.wake().unwrap();
        until_ready(&mut io, &mut socket, "a wake-up");
    }

    #[test]
    fn mio_ready_sees_datagrams_and_wakes() {
        ready_sees_datagrams_and_wakes(IoBackend::Mio);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn uring_ready_sees_datagrams_and_wakes() {
        ready_sees_datagrams_and_wakes(IoBackend::Uring);
    }

    #[test]
    fn only_answerable_sources_are_answered() {
        use crate::sys::answerable;
        assert!(answerable(&"127.0.0.1:9".parse().unwrap()));
        assert!(answerable(&"[::1]:9".parse().unwrap()));
        assert!(!answerable(&"127.0.0.1:0".parse().unwrap()));
        assert!(!answerable(&"0.0.0.0:9".parse().unwrap()));
        assert!(!answerable(&"[::]:9".parse().unwrap()));
        assert!(!answerable(&"239.1.2.3:9".parse().unwrap()));
    }
}
