//! Sockets and batched datagram I/O.
//!
//! On Linux a batch of datagrams moves with one `recvmmsg` or `sendmmsg` call; elsewhere
//! the same interface loops over `recv_from` / `send_to`.

use std::io;
use std::net::SocketAddr;

use mio::net::UdpSocket;
use socket2::{Domain, Protocol, Socket, Type};

/// Datagrams moved per system call.
pub(crate) const BATCH: usize = 32;
/// Most datagrams one `process` takes before it sends and returns, so a flood cannot
/// hold the loop (what is left waits in the socket for the next poll). Counted in
/// datagrams, not receive calls: one coalesced receive can carry dozens.
pub(crate) const MAX_DATAGRAMS_PER_PROCESS: usize = 64 * BATCH;
/// Bytes reserved per datagram: above any `max_datagram` a configuration may use, so a
/// larger datagram arrives truncated and fails its checksum instead of being split.
pub(crate) const SLOT: usize = 2048;

/// Socket options for a bound UDP socket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SocketOptions {
    pub(crate) recv_buffer: usize,
    pub(crate) send_buffer: usize,
    pub(crate) reuse_port: bool,
}

/// A non-blocking UDP socket bound to `addr`.
pub(crate) fn bind(addr: SocketAddr, opts: SocketOptions) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    // Buffer sizes are requests: the kernel caps them (net.core.rmem_max), which is fine.
    let _ = socket.set_recv_buffer_size(opts.recv_buffer);
    let _ = socket.set_send_buffer_size(opts.send_buffer);
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    if opts.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    Ok(UdpSocket::from_std(socket.into()))
}

/// Bytes per receive entry once the kernel coalesces datagrams (UDP GRO): the largest
/// coalesced message it builds.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const GRO_SLOT: usize = 64 * 1024;
/// Most datagrams taken from one coalesced entry (the kernel builds at most 64 on receive
/// and 128 from a local GSO send); the rest of an entry beyond it is dropped.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const MAX_GRO_SEGMENTS: usize = 128;

/// The datagrams in a receive of `len` bytes that the kernel coalesced from datagrams of
/// `seg` bytes (the last may be shorter), as (offset, length); one when not coalesced.
/// At most `MAX_GRO_SEGMENTS`: the rest is dropped.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn segments(len: usize, seg: Option<usize>) -> impl Iterator<Item = (usize, usize)> {
    let seg = seg.filter(|&s| s > 0 && s < len).unwrap_or(len.max(1));
    (0..len.div_ceil(seg).clamp(1, MAX_GRO_SEGMENTS)).map(move |i| (i * seg, seg.min(len - i * seg)))
}

/// `len` bytes of zeroed anonymous memory, backed only where written.
fn anon(len: usize) -> io::Result<memmap2::MmapMut> {
    memmap2::MmapMut::map_anon(len.max(1))
}

/// One datagram of the last receive: its entry (sender) and its bytes in `rx`, or in
/// `rx_spill` when its entry overflowed.
#[derive(Clone, Copy)]
struct Segment {
    entry: u8,
    spilled: bool,
    start: u32,
    len: u32,
}

/// Receive and send buffers for one socket, `BATCH` datagrams each way.
pub(crate) struct BatchIo {
    /// Receive entries of `slot` bytes each, side by side: a burst of small datagrams
    /// lands in a few contiguous pages.
    rx: memmap2::MmapMut,
    /// Once coalescing is on, each entry's overflow for a coalesced run: `GRO_SLOT` bytes
    /// per entry, in anonymous memory whose pages are backed only where a run is written.
    /// The kernel fills the entry and then its overflow; a run's head is then copied in
    /// front of the rest so its datagrams sit in one piece. (With the entries themselves
    /// 64 KiB apart, every small datagram took a page and a cache set of its own.)
    rx_spill: Option<memmap2::MmapMut>,
    rx_from: [Option<SocketAddr>; BATCH],
    /// The datagrams of the last receive, in order (several per entry when coalesced).
    rx_segments: Vec<Segment>,
    /// Whether the last receive filled every entry (more may be waiting).
    rx_full: bool,
    /// Whether the kernel coalesces received datagrams (Linux UDP GRO).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    gro: bool,
    /// Datagrams that arrived coalesced with others.
    pub(crate) gro_segments: u64,
    tx: Vec<u8>,
    tx_len: [usize; BATCH],
    tx_to: [Option<SocketAddr>; BATCH],
    tx_count: usize,
    /// Bytes per datagram buffer: `max_datagram` rounded up to 64 (at most `SLOT`).
    slot: usize,
    /// Datagrams per system call (at most `BATCH`).
    batch: usize,
    /// Datagrams the kernel refused to take (its buffer was full); the protocol resends
    /// what matters.
    pub(crate) send_dropped: u64,
    /// Whether to try UDP GSO (Linux); cleared for good when the kernel refuses it.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    gso: bool,
    /// Datagrams sent inside GSO messages.
    pub(crate) gso_segments: u64,
}

impl std::fmt::Debug for BatchIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchIo").field("queued", &self.tx_count).finish()
    }
}

impl BatchIo {
    /// Buffers for `batch` datagrams (clamped to 1..=BATCH) of up to `max_datagram`
    /// bytes each way.
    pub(crate) fn new(max_datagram: usize, batch: usize) -> io::Result<Self> {
        let slot = max_datagram.div_ceil(64).clamp(1, SLOT / 64) * 64;
        let batch = batch.clamp(1, BATCH);
        Ok(BatchIo {
            slot,
            batch,
            rx: anon(batch * slot)?,
            rx_spill: None,
            rx_from: [None; BATCH],
            rx_segments: Vec::with_capacity(batch),
            rx_full: false,
            gro: false,
            gro_segments: 0,
            tx: vec![0; batch * slot],
            tx_len: [0; BATCH],
            tx_to: [None; BATCH],
            tx_count: 0,
            send_dropped: 0,
            gso: true,
            gso_segments: 0,
        })
    }

    /// Datagram `k` of the last [`recv`](Self::recv).
    pub(crate) fn received(&self, k: usize) -> Option<(SocketAddr, &[u8])> {
        let seg = self.rx_segments.get(k)?;
        let from = self.rx_from[seg.entry as usize]?;
        let bytes = match (&self.rx_spill, seg.spilled) {
            (Some(spill), true) => &spill[..],
            _ => &self.rx[..],
        };
        let start = seg.start as usize;
        Some((from, &bytes[start..start + seg.len as usize]))
    }

    /// Whether the last receive filled every entry, so more may be waiting.
    pub(crate) fn more_waiting(&self) -> bool {
        self.rx_full
    }

    /// Records entry `k` of the last receive: `len` bytes from `from`, made of datagrams
    /// of `seg` bytes (the last may be shorter) when the kernel coalesced them.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn record_entry(&mut self, k: usize, from: Option<SocketAddr>, len: usize, seg: Option<usize>) {
        self.rx_from[k] = from;
        let (entry, slot) = (k * self.slot, self.slot);
        let (base, len, spilled) = match &mut self.rx_spill {
            Some(spill) if len > slot => {
                let base = k * GRO_SLOT;
                spill[base..base + slot].copy_from_slice(&self.rx[entry..entry + slot]);
                (base, len.min(GRO_SLOT), true)
            }
            _ => (entry, len.min(slot), false),
        };
        let before = self.rx_segments.len();
        for (at, l) in segments(len, seg) {
            self.rx_segments.push(Segment { entry: k as u8, spilled, start: (base + at) as u32, len: l as u32 });
        }
        let n = self.rx_segments.len() - before;
        if n > 1 {
            self.gro_segments += n as u64;
        }
    }

    /// The buffer for the next datagram to send; [`commit`](Self::commit) queues it.
    pub(crate) fn send_buf(&mut self) -> &mut [u8] {
        let k = self.tx_count;
        &mut self.tx[k * self.slot..(k + 1) * self.slot]
    }

    /// Queues the first `len` bytes of [`send_buf`](Self::send_buf) for `to`.
    pub(crate) fn commit(&mut self, to: SocketAddr, len: usize) {
        let k = self.tx_count;
        self.tx_len[k] = len.min(self.slot);
        self.tx_to[k] = Some(to);
        self.tx_count += 1;
    }

    /// Whether the send batch is full (flush before queueing more).
    pub(crate) fn send_full(&self) -> bool {
        self.tx_count == self.batch
    }

    /// Whether datagrams wait to be sent.
    pub(crate) fn has_queued(&self) -> bool {
        self.tx_count > 0
    }
}

#[cfg(target_os = "linux")]
pub(crate) mod batched {
    use std::io;
    use std::mem::MaybeUninit;
    use std::net::SocketAddr;
    use std::os::fd::AsRawFd;

    use mio::net::UdpSocket;
    use socket2::SockAddr;

    use super::{BatchIo, BATCH, GRO_SLOT};

    impl BatchIo {
        /// Receives up to `batch` datagrams with one `recvmmsg`; 0 when none is waiting.
        pub(crate) fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
            // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs for which
            // all-zero bytes are valid values.
            let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { MaybeUninit::zeroed().assume_init() };
            // SAFETY: as above.
            let mut iovs: [[libc::iovec; 2]; BATCH] = unsafe { MaybeUninit::zeroed().assume_init() };
            // SAFETY: as above.
            let mut msgs: [libc::mmsghdr; BATCH] = unsafe { MaybeUninit::zeroed().assume_init() };
            // Control buffers for the coalescing message, u64-aligned as cmsghdr needs.
            let mut controls = [[0u64; 4]; BATCH];
            let base = self.rx.as_mut_ptr();
            let spill = self.rx_spill.as_mut().map(|s| s.as_mut_ptr());
            let (slot, batch) = (self.slot, self.batch);
            for k in 0..batch {
                // SAFETY: `rx` holds batch * slot bytes, so entry k starts in bounds.
                iovs[k][0] = libc::iovec { iov_base: unsafe { base.add(k * slot) }.cast(), iov_len: slot };
                if let Some(spill) = spill {
                    // SAFETY: `rx_spill` holds batch * GRO_SLOT bytes and slot < GRO_SLOT,
                    // so entry k's overflow, after room for its head, is in bounds.
                    let at = unsafe { spill.add(k * GRO_SLOT + slot) };
                    iovs[k][1] = libc::iovec { iov_base: at.cast(), iov_len: GRO_SLOT - slot };
                }
                let h = &mut msgs[k].msg_hdr;
                h.msg_name = (&mut addrs[k] as *mut libc::sockaddr_storage).cast();
                h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = iovs[k].as_mut_ptr();
                h.msg_iovlen = if spill.is_some() { 2 } else { 1 };
                if self.gro {
                    h.msg_control = controls[k].as_mut_ptr().cast();
                    h.msg_controllen = size_of::<[u64; 4]>() as _;
                }
            }
            // SAFETY: every header up to `batch` points at its live iovecs (`slot` writable
            // bytes inside `rx`, and with GRO the overflow inside `rx_spill`), at a
            // sockaddr_storage with its true size and (with GRO) at a control buffer of its
            // true size; all outlive the call.
            let n = unsafe {
                libc::recvmmsg(
                    sock.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    batch as _,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            self.rx_segments.clear();
            self.rx_full = false;
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                    _ => Err(e),
                };
            }
            let n = n as usize;
            for k in 0..n {
                let from = to_socket_addr(&addrs[k], msgs[k].msg_hdr.msg_namelen);
                // A `usize` here, a `socklen_t` on some other targets.
                #[allow(clippy::unnecessary_cast)]
                let written = (msgs[k].msg_hdr.msg_controllen as usize).min(size_of::<[u64; 4]>());
                let seg = if self.gro { gro_size(&bytemuck::bytes_of(&controls[k])[..written]) } else { None };
                self.record_entry(k, from, msgs[k].msg_len as usize, seg);
            }
            self.rx_full = n == batch;
            Ok(self.rx_segments.len())
        }

        /// Asks the kernel to coalesce datagrams from one sender into one receive (UDP
        /// GRO): a GSO train then costs one receive instead of one per datagram. Each
        /// receive entry gains an overflow, to `GRO_SLOT` bytes in all (pages the kernel
        /// never writes stay unused). Nothing changes where the kernel refuses.
        pub(crate) fn enable_gro(&mut self, sock: &UdpSocket) {
            // Without the room the kernel must not coalesce (it would truncate).
            let Ok(spill) = super::anon(self.batch * GRO_SLOT) else { return };
            if enable_gro(sock.as_raw_fd()) {
                self.gro = true;
                self.rx_spill = Some(spill);
            }
        }

        /// Sends every queued datagram, `sendmmsg` at a time. Runs of datagrams to one
        /// destination go out as one UDP GSO message (the kernel splits them) until the
        /// kernel refuses GSO, after which this socket sends them one by one. Datagrams
        /// the kernel will not take now are dropped and counted (UDP semantics; the
        /// protocol resends).
        pub(crate) fn flush(&mut self, sock: &UdpSocket) -> io::Result<()> {
            let count = self.tx_count;
            self.tx_count = 0;
            let mut from = 0;
            while from < count {
                match self.send_from(sock, from, count) {
                    Ok(()) => return Ok(()),
                    Err(Failure::Gso { first, segs }) => {
                        // The same errors also mean "bad destination": GSO is to blame only
                        // if the first datagram of the run goes through on its own.
                        self.gso = false;
                        let dropped = self.send_dropped;
                        if let Err(Failure::Io(e)) = self.send_from(sock, first, first + 1) {
                            return Err(e);
                        }
                        if self.send_dropped == dropped {
                            from = first + 1;
                        } else {
                            self.gso = true;
                            self.send_dropped += segs as u64 - 1;
                            from = first + segs;
                        }
                    }
                    Err(Failure::Io(e)) => return Err(e),
                }
            }
            Ok(())
        }

        /// Sends datagrams `from..count`; stops where the kernel refuses a GSO message.
        /// Datagrams the kernel does not take are dropped and counted; only an error that
        /// says the socket itself is unusable is returned.
        fn send_from(&mut self, sock: &UdpSocket, from: usize, count: usize) -> Result<(), Failure> {
            let addrs: Vec<SockAddr> = self.tx_to[from..count]
                .iter()
                .map(|a| SockAddr::from(a.expect("queued datagram has an address")))
                .collect();
            // SAFETY: plain C structs, valid when zeroed.
            let mut iovs: [libc::iovec; BATCH] = unsafe { MaybeUninit::zeroed().assume_init() };
            // SAFETY: as above.
            let mut msgs: [libc::mmsghdr; BATCH] = unsafe { MaybeUninit::zeroed().assume_init() };
            // Control buffers, u64-aligned as cmsghdr needs.
            let mut controls = [[0u64; 4]; BATCH];
            // Per message: first datagram and how many it carries.
            let mut spans = [(0usize, 0usize); BATCH];
            let base = self.tx.as_mut_ptr();
            for (k, (iov, &len)) in iovs.iter_mut().zip(&self.tx_len).enumerate().take(count).skip(from) {
                // SAFETY: slot k of `tx` is in bounds (k < batch) and holds len <= slot bytes.
                iov.iov_base = unsafe { base.add(k * self.slot) }.cast();
                iov.iov_len = len;
            }
            let mut m = 0;
            let mut k = from;
            while k < count {
                let n = if self.gso { gso_run(&self.tx_to[..count], &self.tx_len, k) } else { 1 };
                let h = &mut msgs[m].msg_hdr;
                h.msg_name = addrs[k - from].as_ptr() as *mut libc::c_void;
                h.msg_namelen = addrs[k - from].len();
                h.msg_iov = &mut iovs[k];
                h.msg_iovlen = n as _;
                if n > 1 {
                    // SAFETY: `controls[m]` outlives the send below.
                    unsafe { set_gso(h, &mut controls[m], self.tx_len[k] as u16) };
                }
                spans[m] = (k, n);
                m += 1;
                k += n;
            }
            let mut sent = 0;
            loop {
                if sent == m {
                    return Ok(());
                }
                // SAFETY: headers sent..m point at live iovecs over `tx`, socket addresses
                // in `addrs` and control buffers in `controls`, all alive for the call; the
                // kernel only reads them.
                let n = unsafe {
                    libc::sendmmsg(sock.as_raw_fd(), msgs[sent..].as_mut_ptr(), (m - sent) as _, libc::MSG_DONTWAIT)
                };
                if n > 0 {
                    for &(_, segs) in &spans[sent..sent + n as usize] {
                        if segs > 1 {
                            self.gso_segments += segs as u64;
                        }
                    }
                    sent += n as usize;
                    continue;
                }
                let e = io::Error::last_os_error();
                let (first, segs) = spans[sent];
                if segs > 1 && gso_refused(&e) {
                    return Err(Failure::Gso { first, segs });
                }
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => {
                        self.send_dropped += spans[sent..m].iter().map(|s| s.1 as u64).sum::<u64>();
                        return Ok(());
                    }
                    _ if socket_unusable(&e) => {
                        self.send_dropped += spans[sent..m].iter().map(|s| s.1 as u64).sum::<u64>();
                        return Err(Failure::Io(e));
                    }
                    // One bad destination (port 0, unreachable, refused) must not stall the
                    // rest or stop the server.
                    _ => {
                        self.send_dropped += segs as u64;
                        sent += 1;
                    }
                }
            }
        }
    }

    /// `UDP_SEGMENT` from linux/udp.h (libc does not define it for every Linux target).
    const UDP_SEGMENT: libc::c_int = 103;
    /// `UDP_GRO` from linux/udp.h: the socket option, and the control message carrying
    /// the size of the datagrams a receive coalesced.
    pub(crate) const UDP_GRO: libc::c_int = 104;

    /// Asks the kernel to coalesce datagrams from one sender into one receive on socket
    /// `fd`; whether it agreed. Receive buffers must then hold `GRO_SLOT` bytes.
    pub(crate) fn enable_gro(fd: std::os::fd::RawFd) -> bool {
        let on: libc::c_int = 1;
        // SAFETY: `on` is a valid int option value, passed with its true size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_UDP,
                UDP_GRO,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        r == 0
    }

    /// The datagram size of a coalesced receive, from the `UDP_GRO` control message among
    /// the control bytes the kernel wrote (`cmsghdr`: length, level, type, then an int).
    pub(crate) fn gro_size(control: &[u8]) -> Option<usize> {
        const HEADER: usize = size_of::<libc::cmsghdr>();
        const WORD: usize = size_of::<usize>();
        let mut rest = control;
        while rest.len() >= HEADER + size_of::<libc::c_int>() {
            let len = usize::from_ne_bytes(rest[..WORD].try_into().ok()?);
            let level = i32::from_ne_bytes(rest[WORD..WORD + 4].try_into().ok()?);
            let kind = i32::from_ne_bytes(rest[WORD + 4..WORD + 8].try_into().ok()?);
            if level == libc::SOL_UDP && kind == UDP_GRO {
                let size = i32::from_ne_bytes(rest[HEADER..HEADER + 4].try_into().ok()?);
                return usize::try_from(size).ok();
            }
            // Control messages are padded to the word size.
            let step = len.div_ceil(WORD) * WORD;
            if step < HEADER || step > rest.len() {
                return None;
            }
            rest = &rest[step..];
        }
        None
    }
    /// Most payload bytes in one GSO message.
    const MAX_GSO_BYTES: usize = 60_000;

    /// How many datagrams from `k` can leave as one GSO message: same destination, equal
    /// sizes, only the last shorter.
    pub(crate) fn gso_run(to: &[Option<SocketAddr>], len: &[usize], k: usize) -> usize {
        let seg = len[k];
        let mut n = 1;
        while k + n < to.len()
            && to[k + n] == to[k]
            && len[k + n - 1] == seg
            && len[k + n] <= seg
            && (n + 1) * seg <= MAX_GSO_BYTES
        {
            n += 1;
        }
        n
    }

    /// Points `h` at a `UDP_SEGMENT` control message for `seg`-byte segments, written into
    /// `control`.
    ///
    /// # Safety
    /// `control` must stay alive and unmoved while the kernel may read `h`.
    pub(crate) unsafe fn set_gso(h: &mut libc::msghdr, control: &mut [u64; 4], seg: u16) {
        // SAFETY: the control buffer (32 bytes, u64-aligned) holds one cmsghdr with a u16
        // (CMSG_SPACE(2) = 24 bytes on 64-bit, 16 on 32-bit); the CMSG macros only compute
        // addresses inside it.
        unsafe {
            h.msg_control = control.as_mut_ptr().cast();
            h.msg_controllen = libc::CMSG_SPACE(size_of::<u16>() as u32) as _;
            let c = libc::CMSG_FIRSTHDR(h);
            (*c).cmsg_level = libc::SOL_UDP;
            (*c).cmsg_type = UDP_SEGMENT;
            (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
            libc::CMSG_DATA(c).cast::<u16>().write_unaligned(seg);
        }
    }

    /// Why [`BatchIo::send_from`] stopped.
    enum Failure {
        /// The kernel refused the GSO message of `segs` datagrams from `first`.
        Gso {
            first: usize,
            segs: usize,
        },
        Io(io::Error),
    }

    /// Errors by which a kernel or device says it cannot do UDP GSO.
    pub(crate) fn gso_refused(e: &io::Error) -> bool {
        matches!(e.raw_os_error(), Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP))
    }

    /// The address the kernel wrote into `ss` (`len` bytes), if it is IPv4 or IPv6.
    pub(crate) fn to_socket_addr(ss: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
        match i32::from(ss.ss_family) {
            libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in, and
                // sockaddr_storage is aligned for every socket address type.
                let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
            }
            libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for sockaddr_in6.
                let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                    ip,
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// Errors that say the socket itself cannot send (a bug or a closed descriptor), as
    /// opposed to one destination or datagram being refused.
    pub(crate) fn socket_unusable(e: &io::Error) -> bool {
        matches!(e.raw_os_error(), Some(libc::EBADF | libc::ENOTSOCK | libc::EFAULT))
    }
}

#[cfg(not(target_os = "linux"))]
mod looped {
    use std::io;

    use mio::net::UdpSocket;

    use super::{BatchIo, BATCH};

    impl BatchIo {
        /// Receives up to `batch` datagrams, one call each; 0 when none is waiting.
        pub(crate) fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
            let mut n = 0;
            self.rx_segments.clear();
            self.rx_full = false;
            while n < self.batch {
                match sock.recv_from(&mut self.rx[n * self.slot..(n + 1) * self.slot]) {
                    Ok((len, from)) => {
                        self.rx_from[n] = Some(from);
                        self.rx_segments.push(super::Segment {
                            entry: n as u8,
                            spilled: false,
                            start: (n * self.slot) as u32,
                            len: len.min(self.slot) as u32,
                        });
                        n += 1;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if n > 0 => {
                        let _ = e;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            self.rx_full = n == self.batch;
            Ok(n)
        }

        /// Sends every queued datagram; the ones the kernel will not take are dropped.
        pub(crate) fn flush(&mut self, sock: &UdpSocket) -> io::Result<()> {
            for k in 0..self.tx_count {
                let to = self.tx_to[k].expect("queued datagram has an address");
                if sock.send_to(&self.tx[k * self.slot..k * self.slot + self.tx_len[k]], to).is_err() {
                    self.send_dropped += 1;
                }
            }
            self.tx_count = 0;
            Ok(())
        }
    }
}

/// Whether a datagram from `from` may be answered: a source port of 0 or an unspecified
/// or multicast address is forged (the kernel cannot send to it).
pub(crate) fn answerable(from: &SocketAddr) -> bool {
    from.port() != 0 && !from.ip().is_unspecified() && !from.ip().is_multicast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_follow_the_datagram_size_and_batch() {
        let io = BatchIo::new(1200, 4).unwrap();
        assert_eq!((io.slot, io.batch, io.rx.len() + io.tx.len()), (1216, 4, 2 * 4 * 1216));
        let io = BatchIo::new(1200, 32).unwrap();
        assert_eq!(io.rx.len() + io.tx.len(), 77_824);
        // Clamped: never past the 2 KiB slot or 32 datagrams, never empty.
        let io = BatchIo::new(9000, 99).unwrap();
        assert_eq!((io.slot, io.batch), (SLOT, BATCH));
        assert_eq!(BatchIo::new(0, 0).unwrap().batch, 1);
    }
}
