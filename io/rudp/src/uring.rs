//! The io_uring backend (Linux): `BATCH` receives always in flight, sends submitted as
//! one batch, and waiting done on the ring instead of epoll.
//!
//! Every buffer, `iovec`, `msghdr` and socket address an operation points at lives in a
//! boxed slot array that does not move while the ring exists; on drop the backend cancels
//! its receives and waits for them before the memory goes.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use io_uring::{opcode, types, IoUring};
use socket2::SockAddr;

use crate::sys::batched::to_socket_addr;
use crate::sys::{BATCH, SLOT};

/// `user_data` of sends: the slot index plus this bit.
const SEND: u64 = 1 << 32;

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
    rx: Slots,
    /// Receives completed and not yet handed out, then handed out by the last `recv`:
    /// (slot, source).
    ready: Vec<(usize, SocketAddr)>,
    /// How many entries at the front of `ready` the last `recv` handed out.
    handed_out: usize,
    /// Receive slots whose operation is not in flight (to submit again).
    idle: Vec<usize>,
    tx: Slots,
    tx_count: usize,
    pub(crate) send_dropped: u64,
}

impl UringIo {
    /// A ring for `socket`, with every receive slot armed. Fails where io_uring is not
    /// available (old kernel, disabled, forbidden by a sandbox).
    pub(crate) fn new(socket: &impl AsRawFd) -> io::Result<Self> {
        let ring = IoUring::new(4 * BATCH as u32)?;
        let mut io = UringIo {
            ring,
            fd: socket.as_raw_fd(),
            rx: Slots::new(),
            ready: Vec::with_capacity(BATCH),
            handed_out: 0,
            idle: (0..BATCH).collect(),
            tx: Slots::new(),
            tx_count: 0,
            send_dropped: 0,
        };
        io.arm()?;
        io.ring.submit()?;
        Ok(io)
    }

    /// Queues a receive for every idle slot.
    fn arm(&mut self) -> io::Result<()> {
        while let Some(k) = self.idle.pop() {
            let s = &mut self.rx.0[k];
            s.iov = libc::iovec { iov_base: s.buf.as_mut_ptr().cast(), iov_len: SLOT };
            // SAFETY: msghdr is plain C data, valid when zeroed.
            s.msg = unsafe { MaybeUninit::zeroed().assume_init() };
            s.msg.msg_name = (&mut s.addr as *mut libc::sockaddr_storage).cast();
            s.msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            s.msg.msg_iov = &mut s.iov;
            s.msg.msg_iovlen = 1;
            let entry = opcode::RecvMsg::new(types::Fd(self.fd), &mut s.msg).build().user_data(k as u64);
            // SAFETY: the entry points at slot k's msghdr, iovec, buffer and address, all
            // inside the boxed slot array, which stays put until `drop` has collected
            // every receive.
            if unsafe { self.ring.submission().push(&entry) }.is_err() {
                self.idle.push(k);
                self.ring.submit()?;
                return Ok(());
            }
        }
        Ok(())
    }

    /// Files every completion waiting on the ring: receives into `ready`, sends counted.
    /// Returns how many sends completed.
    fn reap(&mut self) -> usize {
        let mut sends = 0;
        for cqe in self.ring.completion() {
            let data = cqe.user_data();
            if data & SEND != 0 {
                sends += 1;
                if cqe.result() < 0 {
                    self.send_dropped += 1;
                }
                continue;
            }
            let k = data as usize;
            let res = cqe.result();
            let s = &mut self.rx.0[k];
            let truncated = s.msg.msg_flags & libc::MSG_TRUNC != 0;
            match to_socket_addr(&s.addr, s.msg.msg_namelen) {
                Some(from) if res >= 0 && !truncated => {
                    s.len = res as usize;
                    self.ready.push((k, from));
                }
                // Errors (an ICMP report, cancellation) and truncated datagrams: drop.
                _ => self.idle.push(k),
            }
        }
        sends
    }

    /// Hands out what has arrived: up to `BATCH` datagrams; 0 when none is waiting.
    pub(crate) fn recv(&mut self) -> io::Result<usize> {
        for (k, _) in self.ready.drain(..self.handed_out) {
            self.idle.push(k);
        }
        self.arm()?;
        // Enter the kernel only to hand it new receives or when nothing has completed
        // (entering also runs pending completion work); completions are read from shared
        // memory.
        if !self.ring.submission().is_empty() || self.ring.completion().is_empty() {
            self.ring.submit()?;
        }
        self.reap();
        self.handed_out = self.ready.len();
        Ok(self.handed_out)
    }

    /// Datagram `k` of the last [`recv`](Self::recv).
    pub(crate) fn received(&self, k: usize) -> Option<(SocketAddr, &[u8])> {
        let &(slot, from) = self.ready.get(k)?;
        let s = &self.rx.0[slot];
        Some((from, &s.buf[..s.len]))
    }

    /// Waits until a completion arrives or `timeout` passes.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if self.ready.len() > self.handed_out {
            return Ok(());
        }
        self.arm()?;
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
        let s = &mut self.tx.0[self.tx_count];
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

    /// Submits every queued datagram as one batch and waits until the kernel has taken
    /// them all (UDP sends complete at once), so their buffers can be reused.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        let count = self.tx_count;
        if count == 0 {
            return Ok(());
        }
        self.tx_count = 0;
        for k in 0..count {
            let s = &mut self.tx.0[k];
            s.iov = libc::iovec { iov_base: s.buf.as_mut_ptr().cast(), iov_len: s.len };
            s.msg.msg_name = (&mut s.addr as *mut libc::sockaddr_storage).cast();
            s.msg.msg_iov = &mut s.iov;
            s.msg.msg_iovlen = 1;
            let entry = opcode::SendMsg::new(types::Fd(self.fd), &s.msg).build().user_data(SEND | k as u64);
            // SAFETY: the entry points into the boxed send slots, which are not touched
            // again until every send of this batch has completed (below).
            while unsafe { self.ring.submission().push(&entry) }.is_err() {
                self.ring.submit()?;
            }
        }
        let mut done = 0;
        while done < count {
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
        // Cancel the receives in flight and collect them, so the kernel is done with the
        // slots before they are freed.
        let in_flight: Vec<usize> =
            (0..BATCH).filter(|k| !self.idle.contains(k) && !self.ready.iter().any(|(s, _)| s == k)).collect();
        for &k in &in_flight {
            let entry = opcode::AsyncCancel::new(k as u64).build().user_data(SEND | (1 << 31));
            // SAFETY: a cancel request points at no memory.
            while unsafe { self.ring.submission().push(&entry) }.is_err() {
                if self.ring.submit().is_err() {
                    break;
                }
            }
        }
        let mut left = in_flight.len();
        let mut spins = 0;
        while left > 0 && spins < 1000 {
            spins += 1;
            let ts = types::Timespec::new().nsec(1_000_000);
            let _ = self.ring.submitter().submit_with_args(1, &types::SubmitArgs::new().timespec(&ts));
            for cqe in self.ring.completion() {
                if cqe.user_data() & SEND == 0 {
                    left = left.saturating_sub(1);
                }
            }
        }
        if left > 0 {
            // The kernel never answered: leak the buffers rather than free memory it may
            // still write to.
            std::mem::forget(std::mem::replace(&mut self.rx, Slots::new()));
        }
    }
}

// SAFETY: the raw pointers inside the slots point into the slots' own boxed memory,
// which moves with the backend as a whole; the ring is an owned file descriptor. Nothing
// is shared with another thread.
unsafe impl Send for UringIo {}

impl std::fmt::Debug for UringIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringIo").field("ready", &self.ready.len()).field("queued", &self.tx_count).finish()
    }
}
