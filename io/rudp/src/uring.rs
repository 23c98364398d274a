//! The io_uring backend (Linux 6.0+): one multishot `recvmsg` receives every datagram
//! into a ring of provided buffers, sends go out as one batch of `sendmsg`s, and waiting
//! is done on the ring instead of epoll.
//!
//! Every buffer, `iovec`, `msghdr` and socket address an operation points at lives in
//! boxed memory that does not move while the ring exists; on drop the backend cancels the
//! receive and waits for it before the memory goes.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use io_uring::{opcode, types, IoUring};
use socket2::SockAddr;

use crate::sys::batched::{enable_gro, gro_size, gso_refused, gso_run, set_gso, to_socket_addr};
use crate::sys::{segments, BATCH, GRO_SLOT, SLOT};

/// `user_data` of sends: the slot index plus this bit.
const SEND: u64 = 1 << 32;
/// `user_data` of the multishot receive.
const RECV: u64 = 1 << 33;
/// `user_data` of the cancel issued on drop.
const CANCEL: u64 = 1 << 34;
/// `user_data` of the poll on the waker's eventfd.
const WAKE: u64 = 1 << 35;
/// Provided receive buffers (a power of two).
const BUFFERS: usize = 128;
/// Room for the `UDP_GRO` control message (CMSG_SPACE of an int, rounded up).
const CONTROL_LEN: usize = 32;
/// Bytes per provided buffer: the kernel's recvmsg header, the source address, the
/// control message and up to `GRO_SLOT` bytes of datagrams coalesced by the kernel (UDP
/// GRO). Pages the kernel never writes stay unused.
const BUFFER_LEN: usize = 16 + size_of::<libc::sockaddr_storage>() + CONTROL_LEN + GRO_SLOT;
/// Buffer group id of the provided buffers.
const GROUP: u16 = 7;

/// The provided buffers and the ring that hands them to the kernel, page-aligned as the
/// kernel requires.
struct BufRing {
    entries: *mut types::BufRingEntry,
    /// `BUFFERS * BUFFER_LEN` bytes of `_mapping`, held as a raw pointer: the kernel
    /// writes into the buffers it holds, so no reference may cover them, only the one
    /// being read.
    memory: *mut u8,
    /// Anonymous memory, backed only where the kernel wrote: most of each 64 KiB buffer
    /// stays unbacked while datagrams are small.
    _mapping: memmap2::MmapMut,
    tail: u16,
}

impl BufRing {
    const ENTRIES_LAYOUT: std::alloc::Layout = match std::alloc::Layout::from_size_align(BUFFERS * 16, 4096) {
        Ok(l) => l,
        Err(_) => panic!("valid layout"),
    };

    fn new() -> io::Result<Self> {
        let mut mapping = memmap2::MmapMut::map_anon(BUFFERS * BUFFER_LEN)?;
        // SAFETY: the layout is non-zero; the memory is zeroed, which is a valid array of
        // BufRingEntry (plain integers).
        let entries = unsafe { std::alloc::alloc_zeroed(Self::ENTRIES_LAYOUT) }.cast::<types::BufRingEntry>();
        if entries.is_null() {
            std::alloc::handle_alloc_error(Self::ENTRIES_LAYOUT);
        }
        let memory = mapping.as_mut_ptr();
        let mut ring = BufRing { entries, memory, _mapping: mapping, tail: 0 };
        for bid in 0..BUFFERS as u16 {
            ring.give(bid);
        }
        Ok(ring)
    }

    /// Buffer `bid`'s bytes; only for a buffer the kernel has handed back.
    fn buffer(&self, bid: u16) -> &[u8] {
        let at = bid as usize % BUFFERS * BUFFER_LEN;
        // SAFETY: the range is inside the allocation; the kernel completed a receive into
        // this buffer and does not touch it until `give` hands it back.
        unsafe { &*std::ptr::slice_from_raw_parts(self.memory.add(at), BUFFER_LEN) }
    }

    /// Hands buffer `bid` (back) to the kernel.
    fn give(&mut self, bid: u16) {
        let bid = bid % BUFFERS as u16;
        // SAFETY: the offset is inside the allocation.
        let addr = unsafe { self.memory.add(bid as usize * BUFFER_LEN) } as u64;
        // SAFETY: `entries` points at BUFFERS entries; the slot at `tail` is free because
        // the kernel consumed it (or it was never filled). The tail is published with a
        // release store after the entry is written, as the kernel reads it.
        unsafe {
            let e = &mut *self.entries.add(self.tail as usize % BUFFERS);
            e.set_addr(addr);
            e.set_len(BUFFER_LEN as u32);
            e.set_bid(bid);
            self.tail = self.tail.wrapping_add(1);
            let tail = types::BufRingEntry::tail(self.entries).cast_mut();
            std::sync::atomic::AtomicU16::from_ptr(tail).store(self.tail, std::sync::atomic::Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the kernel is done with it (see
        // UringIo's Drop). The buffers' mapping is unmapped after this, as a field.
        unsafe { std::alloc::dealloc(self.entries.cast(), Self::ENTRIES_LAYOUT) };
    }
}

/// A datagram received into a provided buffer (one of several when the kernel coalesced
/// them); `last` marks the buffer's last one, which gives the buffer back.
struct Received {
    bid: u16,
    offset: usize,
    len: usize,
    from: SocketAddr,
    last: bool,
}

/// One datagram's worth of memory for an operation.
#[repr(C)]
struct Slot {
    buf: [u8; SLOT],
    addr: libc::sockaddr_storage,
    iov: libc::iovec,
    msg: libc::msghdr,
    len: usize,
}

/// `BATCH` slots, boxed so their addresses stay fixed.
struct Slots(Box<[Slot; BATCH]>);

impl Slots {
    fn new() -> Self {
        let layout = std::alloc::Layout::new::<[Slot; BATCH]>();
        // SAFETY: the layout is not zero-sized. The allocation is zeroed, and every field
        // of Slot is a plain C type or an integer, valid when zeroed; a pointer from the
        // global allocator with this layout may be owned by a Box.
        unsafe {
            let p = std::alloc::alloc_zeroed(layout).cast::<[Slot; BATCH]>();
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            Slots(Box::from_raw(p))
        }
    }
}

/// The io_uring datagram backend.
pub(crate) struct UringIo {
    ring: IoUring,
    fd: RawFd,
    /// Dropped by hand, and only once the kernel is done with the buffers (see Drop).
    bufs: std::mem::ManuallyDrop<BufRing>,
    /// The header of the multishot receive: only its name and control lengths matter.
    recv_msg: Box<libc::msghdr>,
    /// Whether the multishot receive is in flight (the kernel ends it when it runs out
    /// of buffers).
    armed: bool,
    /// Datagrams received and not yet handed out, then handed out by the last `recv`.
    ready: Vec<Received>,
    /// How many entries at the front of `ready` the last `recv` handed out.
    handed_out: usize,
    tx: Slots,
    tx_to: [Option<SocketAddr>; BATCH],
    tx_count: usize,
    /// The iovecs and GSO control messages of a send batch.
    tx_iovs: Box<[libc::iovec; BATCH]>,
    tx_controls: Box<[[u64; 4]; BATCH]>,
    /// Result of each message of the batch in flight (bytes or -errno).
    tx_results: [i32; BATCH],
    /// Whether to send runs to one destination as UDP GSO messages.
    gso: bool,
    pub(crate) gso_segments: u64,
    /// Datagrams that arrived coalesced with others (UDP GRO).
    pub(crate) gro_segments: u64,
    pub(crate) send_dropped: u64,
    /// The eventfd wakers write to, once one was asked for, and whether a poll on it is
    /// in flight.
    wake: Option<OwnedFd>,
    wake_armed: bool,
}

impl UringIo {
    /// A ring for `socket` with its receive armed. Fails where io_uring, provided buffer
    /// rings or multishot `recvmsg` are not available (old kernel, disabled, forbidden by a
    /// sandbox).
    pub(crate) fn new(socket: &impl AsRawFd) -> io::Result<Self> {
        // A completion that arrives while this thread runs waits for its next entry into
        // the kernel instead of interrupting it (kernels before 5.19 lack the flags).
        let ring = IoUring::builder()
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .build(4 * BATCH as u32)
            .or_else(|_| IoUring::new(4 * BATCH as u32))?;
        let bufs = BufRing::new()?;
        // SAFETY: the entries stay allocated, at this address, until the ring is dropped
        // (`bufs` is dropped, in Drop, only once the receive is collected).
        unsafe { ring.submitter().register_buf_ring_with_flags(bufs.entries as u64, BUFFERS as u16, GROUP, 0)? };
        // SAFETY: msghdr is plain C data, valid when zeroed.
        let mut recv_msg: Box<libc::msghdr> = Box::new(unsafe { MaybeUninit::zeroed().assume_init() });
        recv_msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        recv_msg.msg_controllen = CONTROL_LEN as _;
        // Buffers hold a whole coalesced receive, so coalescing can be asked for.
        let _ = enable_gro(socket.as_raw_fd());
        let mut io = UringIo {
            ring,
            fd: socket.as_raw_fd(),
            bufs: std::mem::ManuallyDrop::new(bufs),
            recv_msg,
            armed: false,
            ready: Vec::with_capacity(BUFFERS),
            handed_out: 0,
            tx: Slots::new(),
            tx_to: [None; BATCH],
            tx_count: 0,
            // SAFETY: iovec is plain C data, valid when zeroed.
            tx_iovs: Box::new(unsafe { MaybeUninit::zeroed().assume_init() }),
            tx_controls: Box::new([[0; 4]; BATCH]),
            tx_results: [0; BATCH],
            gso: true,
            gso_segments: 0,
            gro_segments: 0,
            send_dropped: 0,
            wake: None,
            wake_armed: false,
        };
        io.arm()?;
        io.ring.submit()?;
        Ok(io)
    }

    /// Queues the multishot receive if it is not in flight.
    fn arm(&mut self) -> io::Result<()> {
        if self.armed {
            return Ok(());
        }
        let entry = opcode::RecvMsgMulti::new(types::Fd(self.fd), &*self.recv_msg, GROUP).build().user_data(RECV);
        // SAFETY: the entry points at the boxed msghdr, which lives as long as the ring;
        // buffers come from the registered group.
        if unsafe { self.ring.submission().push(&entry) }.is_ok() {
            self.armed = true;
        } else {
            self.ring.submit()?;
        }
        Ok(())
    }

    /// A descriptor of the eventfd that wakes [`wait`](Self::wait), made on first use.
    pub(crate) fn wake_fd(&mut self) -> io::Result<OwnedFd> {
        if self.wake.is_none() {
            // SAFETY: eventfd takes no pointers; the result is checked before use.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` was just opened and nothing else owns it.
            self.wake = Some(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        self.wake.as_ref().expect("made above").try_clone()
    }

    /// Queues a one-shot poll on the waker's eventfd if there is one and none is queued.
    fn arm_wake(&mut self) {
        let Some(fd) = &self.wake else { return };
        if self.wake_armed {
            return;
        }
        let entry = opcode::PollAdd::new(types::Fd(fd.as_raw_fd()), libc::POLLIN as u32).build().user_data(WAKE);
        // SAFETY: a poll request points at no memory of ours.
        if unsafe { self.ring.submission().push(&entry) }.is_ok() {
            self.wake_armed = true;
        }
    }

    /// Files every completion waiting on the ring: datagrams into `ready`, sends counted.
    /// Returns how many sends completed.
    fn reap(&mut self) -> usize {
        let mut sends = 0;
        let completions: Vec<(u64, i32, u32)> =
            self.ring.completion().map(|c| (c.user_data(), c.result(), c.flags())).collect();
        for (data, res, flags) in completions {
            if data & SEND != 0 {
                sends += 1;
                if let Some(r) = self.tx_results.get_mut((data & 0xffff) as usize) {
                    *r = res;
                }
                continue;
            }
            if data == WAKE {
                self.wake_armed = false;
                if let Some(fd) = &self.wake {
                    let mut count = 0u64;
                    // SAFETY: reads 8 bytes into a live u64; the eventfd is non-blocking.
                    // Reading resets the counter, so the next poll waits for a new wake.
                    let _ = unsafe { libc::read(fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
                }
                continue;
            }
            if data != RECV {
                continue;
            }
            if !io_uring::cqueue::more(flags) {
                // Out of buffers or an error: arm again once some come back.
                self.armed = false;
            }
            let Some(bid) = io_uring::cqueue::buffer_select(flags) else { continue };
            let parsed = (res > 0)
                .then(|| types::RecvMsgOut::parse(&self.bufs.buffer(bid)[..res as usize], &self.recv_msg).ok())
                .flatten()
                .and_then(|out| {
                    if out.is_payload_truncated() || out.is_name_data_truncated() {
                        return None;
                    }
                    let mut ss: libc::sockaddr_storage =
                        // SAFETY: plain C data, valid when zeroed.
                        unsafe { MaybeUninit::zeroed().assume_init() };
                    let name = out.name_data();
                    let n = name.len().min(size_of::<libc::sockaddr_storage>());
                    // SAFETY: copies at most the storage's size into it.
                    unsafe {
                        std::ptr::copy_nonoverlapping(name.as_ptr(), (&mut ss as *mut libc::sockaddr_storage).cast(), n)
                    };
                    let from = to_socket_addr(&ss, out.incoming_name_len())?;
                    let payload = out.payload_data();
                    let offset = payload.as_ptr() as usize - self.bufs.buffer(bid).as_ptr() as usize;
                    Some((offset, payload.len(), from, gro_size(out.control_data())))
                });
            match parsed {
                Some((offset, len, from, seg)) => {
                    let before = self.ready.len();
                    for (at, l) in segments(len, seg) {
                        self.ready.push(Received { bid, offset: offset + at, len: l, from, last: false });
                    }
                    let n = self.ready.len() - before;
                    if n > 1 {
                        self.gro_segments += n as u64;
                    }
                    // `segments` yields at least one datagram, which gives the buffer back.
                    if let Some(r) = self.ready.last_mut() {
                        r.last = true;
                    }
                }
                // Truncated, unparsable or from an unknown family: drop, buffer back.
                None => self.bufs.give(bid),
            }
        }
        sends
    }

    /// Hands out what has arrived: up to `BATCH` datagrams; 0 when none is waiting.
    pub(crate) fn recv(&mut self) -> io::Result<usize> {
        for r in self.ready.drain(..self.handed_out) {
            // A coalesced receive goes back once its last datagram was handed out.
            if r.last {
                self.bufs.give(r.bid);
            }
        }
        self.arm()?;
        // Enter the kernel only to hand it a new receive or when nothing has completed
        // (entering also runs pending completion work); completions are read from shared
        // memory.
        if !self.ring.submission().is_empty() || self.ring.completion().is_empty() {
            self.ring.submit()?;
        }
        self.reap();
        self.handed_out = self.ready.len().min(BATCH);
        Ok(self.handed_out)
    }

    /// Whether the last [`recv`](Self::recv) may have left datagrams waiting: it handed
    /// out a full batch. Not only the ones already reaped behind it: the ring runs
    /// completions cooperatively, so some that arrived are posted only when the next
    /// receive enters the kernel, and a multishot receive posts about a batch per pass.
    pub(crate) fn more_waiting(&self) -> bool {
        self.handed_out >= BATCH
    }

    /// Datagram `k` of the last [`recv`](Self::recv).
    pub(crate) fn received(&self, k: usize) -> Option<(SocketAddr, &[u8])> {
        if k >= self.handed_out {
            return None;
        }
        let r = self.ready.get(k)?;
        Some((r.from, &self.bufs.buffer(r.bid)[r.offset..r.offset + r.len]))
    }

    /// True if datagrams already reaped wait beyond those handed out; otherwise queues
    /// the receive and the waker's poll that a wait needs, and returns false.
    fn reaped_or_arm(&mut self) -> io::Result<bool> {
        if self.ready.len() > self.handed_out {
            return Ok(true);
        }
        self.arm()?;
        self.arm_wake();
        Ok(false)
    }

    /// Whether a completion (a datagram, a wake) is waiting, without sleeping. Entering
    /// the kernel runs the completion work the ring defers until then.
    pub(crate) fn ready(&mut self) -> io::Result<bool> {
        if self.reaped_or_arm()? {
            return Ok(true);
        }
        match self.ring.submit() {
            // The completion queue is full: there is something to reap.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => return Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => return Ok(false),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        Ok(!self.ring.completion().is_empty())
    }

    /// Waits until a completion arrives or `timeout` passes.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if self.reaped_or_arm()? {
            return Ok(());
        }
        let result = match timeout {
            Some(t) => {
                let ts = types::Timespec::new().sec(t.as_secs()).nsec(t.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The buffer for the next datagram to send.
    pub(crate) fn send_buf(&mut self) -> &mut [u8] {
        &mut self.tx.0[self.tx_count].buf
    }

    /// Queues the first `len` bytes of [`send_buf`](Self::send_buf) for `to`.
    pub(crate) fn commit(&mut self, to: SocketAddr, len: usize) {
        let k = self.tx_count;
        let s = &mut self.tx.0[k];
        let addr = SockAddr::from(to);
        // SAFETY: `addr.len()` bytes are readable at `as_ptr()` and fit a sockaddr_storage.
        unsafe {
            std::ptr::copy_nonoverlapping(
                addr.as_ptr().cast::<u8>(),
                (&mut s.addr as *mut libc::sockaddr_storage).cast::<u8>(),
                addr.len() as usize,
            )
        };
        s.len = len.min(SLOT);
        // SAFETY: msghdr is plain C data, valid when zeroed.
        s.msg = unsafe { MaybeUninit::zeroed().assume_init() };
        s.msg.msg_namelen = addr.len();
        self.tx_to[k] = Some(to);
        self.tx_count += 1;
    }

    /// Whether the send batch is full.
    pub(crate) fn send_full(&self) -> bool {
        self.tx_count == BATCH
    }

    /// Whether datagrams wait to be sent.
    pub(crate) fn has_queued(&self) -> bool {
        self.tx_count > 0
    }

    /// Submits every queued datagram as one batch (runs to one destination as UDP GSO
    /// messages) and waits until the kernel has taken them all (UDP sends complete at
    /// once), so their buffers can be reused. A refused GSO message goes again one datagram
    /// at a time; if that gets through, the kernel cannot do GSO and it stays off (the same
    /// errors also mean a bad destination, which does not turn it off).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        let count = self.tx_count;
        self.tx_count = 0;
        let mut refused: Vec<(usize, usize)> = Vec::new();
        let spans = self.submit_sends((0..count).collect(), self.gso)?;
        for (m, &(k, n)) in spans.iter().enumerate() {
            let res = self.tx_results[m];
            if res >= 0 {
                if n > 1 {
                    self.gso_segments += n as u64;
                }
            } else if n > 1 && gso_refused(&io::Error::from_raw_os_error(-res)) {
                refused.push((k, n));
            } else {
                self.send_dropped += n as u64;
            }
        }
        if !refused.is_empty() {
            let retry: Vec<usize> = refused.iter().flat_map(|&(k, n)| k..k + n).collect();
            // Without GSO every message is one datagram, so results line up with `retry`.
            self.submit_sends(retry, false)?;
            let mut at = 0;
            for &(_, n) in &refused {
                let sent = self.tx_results[at..at + n].iter().filter(|&&r| r >= 0).count();
                if sent > 0 {
                    self.gso = false;
                }
                self.send_dropped += (n - sent) as u64;
                at += n;
            }
        }
        Ok(())
    }

    /// Sends the queued datagrams `slots` (in order), grouped into GSO runs if `gso`;
    /// waits for every completion. Returns the messages as (first slot, datagrams). If the
    /// ring fails midway, sends may still be in flight: their memory is leaked rather than
    /// reused or freed under the kernel.
    fn submit_sends(&mut self, slots: Vec<usize>, gso: bool) -> io::Result<Vec<(usize, usize)>> {
        let mut spans = Vec::new();
        let result = self.push_and_wait(&slots, gso, &mut spans);
        if result.is_err() && !spans.is_empty() {
            std::mem::forget(std::mem::replace(&mut self.tx, Slots::new()));
            // SAFETY: iovec is plain C data, valid when zeroed.
            let iovs = Box::new(unsafe { MaybeUninit::zeroed().assume_init() });
            std::mem::forget(std::mem::replace(&mut self.tx_iovs, iovs));
            std::mem::forget(std::mem::replace(&mut self.tx_controls, Box::new([[0; 4]; BATCH])));
        }
        result.map(|()| spans)
    }

    fn push_and_wait(&mut self, slots: &[usize], gso: bool, spans: &mut Vec<(usize, usize)>) -> io::Result<()> {
        let lens: [usize; BATCH] = std::array::from_fn(|k| self.tx.0[k].len);
        let end = slots.last().map_or(0, |&k| k + 1);
        let mut i = 0;
        while i < slots.len() {
            let k = slots[i];
            // Runs are of consecutive slots: the first pass sends 0..count in order, and a
            // retry (without GSO) sends one datagram per message.
            let n = if gso { gso_run(&self.tx_to[..end], &lens, k).min(slots.len() - i) } else { 1 };
            let m = spans.len();
            for j in 0..n {
                let s = &mut self.tx.0[k + j];
                self.tx_iovs[k + j] = libc::iovec { iov_base: s.buf.as_mut_ptr().cast(), iov_len: s.len };
            }
            let s = &mut self.tx.0[k];
            s.msg.msg_name = (&mut s.addr as *mut libc::sockaddr_storage).cast();
            s.msg.msg_iov = &mut self.tx_iovs[k];
            s.msg.msg_iovlen = n as _;
            s.msg.msg_control = std::ptr::null_mut();
            s.msg.msg_controllen = 0;
            if n > 1 {
                // SAFETY: the boxed control buffers outlive the send (we wait below, or
                // leak them if waiting fails).
                unsafe { set_gso(&mut s.msg, &mut self.tx_controls[m], s.len as u16) };
            }
            // MSG_DONTWAIT: a full socket buffer fails the send at once (dropped and counted,
            // as under mio) instead of parking it in the kernel until the buffer drains,
            // which would hold this loop in the wait below.
            let entry = opcode::SendMsg::new(types::Fd(self.fd), &s.msg)
                .flags(libc::MSG_DONTWAIT as u32)
                .build()
                .user_data(SEND | m as u64);
            // SAFETY: the entry points into the boxed send slots, iovecs and controls, which
            // are not touched again until every send of this batch has completed (below),
            // and are leaked if that cannot be known.
            while unsafe { self.ring.submission().push(&entry) }.is_err() {
                self.ring.submit()?;
            }
            self.tx_results[m] = 0;
            spans.push((k, n));
            i += n;
        }
        let mut done = 0;
        while done < spans.len() {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) || e.raw_os_error() == Some(libc::EBUSY) => {}
                Err(e) => return Err(e),
            }
            done += self.reap();
        }
        Ok(())
    }
}

impl Drop for UringIo {
    fn drop(&mut self) {
        // Cancel the receive and collect its last completion, so the kernel is done with
        // the buffers and the msghdr before they are freed.
        if self.armed {
            let entry = opcode::AsyncCancel::new(RECV).build().user_data(CANCEL);
            // SAFETY: a cancel request points at no memory.
            let _ = unsafe { self.ring.submission().push(&entry) };
            let mut spins = 0;
            while self.armed && spins < 1000 {
                spins += 1;
                let ts = types::Timespec::new().nsec(1_000_000);
                let _ = self.ring.submitter().submit_with_args(1, &types::SubmitArgs::new().timespec(&ts));
                for cqe in self.ring.completion() {
                    if cqe.user_data() == RECV && !io_uring::cqueue::more(cqe.flags()) {
                        self.armed = false;
                    }
                }
            }
        }
        if self.armed {
            // The kernel never answered: leak the memory rather than free what it may
            // still write to.
            std::mem::forget(std::mem::replace(&mut self.recv_msg, Box::new(unsafe_zeroed_msghdr())));
        } else {
            // SAFETY: the receive is collected, so the kernel no longer writes to the
            // buffers, and `bufs` is not used after this.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.bufs) };
        }
    }
}

/// A zeroed msghdr.
fn unsafe_zeroed_msghdr() -> libc::msghdr {
    // SAFETY: msghdr is plain C data, valid when zeroed.
    unsafe { MaybeUninit::zeroed().assume_init() }
}

// SAFETY: the raw pointers inside the slots and the buffer ring point into memory the
// backend owns, which does not move when the backend does; the ring is an owned file
// descriptor. Nothing is shared with another thread.
unsafe impl Send for UringIo {}

impl std::fmt::Debug for UringIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringIo").field("ready", &self.ready.len()).field("queued", &self.tx_count).finish()
    }
}
