//! The floor under every library's fan-out row: the same datagrams (one 200-byte state to
//! each client and one 16-byte input from each, per tick) on plain UDP sockets, with no
//! protocol at all. The server takes inputs with `recvmmsg(2)` and sends states with one
//! `sendmmsg(2)`, the fewest system calls Linux offers; what it costs is the kernel's
//! per-datagram work, which no library moving one datagram each way can go below.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::SockAddr;

use super::fanout::{fanout, FanClients, FanServer, Fanout, Wake, FAN_CLIENTS};
use super::threads::{big_buffers, wait_readable};

/// Datagrams one system call moves.
const BATCH: usize = 64;

struct RawFanServer {
    socket: UdpSocket,
    /// Every client's address, learned from its hello.
    clients: Vec<SockAddr>,
    inputs: usize,
}

impl RawFanServer {
    /// Receives until the socket is empty. Until every client has said hello it learns
    /// addresses one datagram at a time; after that it only counts inputs, reading no
    /// addresses at all.
    fn drain(&mut self) {
        let mut buf = [0u8; 64];
        while self.clients.len() < FAN_CLIENTS {
            let Ok((_, from)) = self.socket.recv_from(&mut buf) else { return };
            let from = SockAddr::from(from);
            if !self.clients.contains(&from) {
                self.clients.push(from);
            }
        }
        let mut bufs = [[0u8; 64]; BATCH];
        let mut iovs: Vec<libc::iovec> =
            bufs.iter_mut().map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() }).collect();
        // SAFETY: an all-zero mmsghdr is a valid value (null pointers, zero lengths).
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (m, iov) in msgs.iter_mut().zip(&mut iovs) {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        loop {
            // SAFETY: each of the BATCH headers points at its own live iovec and buffer,
            // which outlive the call, and asks for no address.
            let n = unsafe {
                libc::recvmmsg(
                    self.socket.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    BATCH as _,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n <= 0 {
                return;
            }
            self.inputs += n as usize;
        }
    }
}

impl FanServer for RawFanServer {
    fn wait(&mut self, max: Duration) {
        wait_readable(self.socket.as_raw_fd(), max);
    }
    fn take(&mut self) {
        self.drain();
    }
    fn pump(&mut self) -> usize {
        self.drain();
        std::mem::take(&mut self.inputs)
    }
    fn clients(&self) -> usize {
        self.clients.len()
    }
    fn broadcast(&mut self, state: &[u8]) {
        let mut iov = libc::iovec { iov_base: state.as_ptr() as *mut _, iov_len: state.len() };
        // SAFETY: an all-zero mmsghdr is a valid value (null pointers, zero lengths).
        let mut msgs: Vec<libc::mmsghdr> = self.clients.iter().map(|_| unsafe { std::mem::zeroed() }).collect();
        for (m, to) in msgs.iter_mut().zip(&self.clients) {
            m.msg_hdr.msg_iov = &mut iov;
            m.msg_hdr.msg_iovlen = 1;
            // The kernel only reads a send's address.
            m.msg_hdr.msg_name = to.as_ptr() as *mut _;
            m.msg_hdr.msg_namelen = to.len();
        }
        for chunk in msgs.chunks_mut(BATCH) {
            // SAFETY: every header points at the live `iov` and at its client's live
            // address, both only read by a send.
            unsafe { libc::sendmmsg(self.socket.as_raw_fd(), chunk.as_mut_ptr(), chunk.len() as _, 0) };
        }
    }
}

struct RawFanClients(Vec<UdpSocket>);

impl FanClients for RawFanClients {
    fn pump(&mut self, input: Option<&[u8]>, on_state: &mut dyn FnMut(&[u8])) {
        let mut buf = [0u8; 256];
        for s in &self.0 {
            if let Some(input) = input {
                let _ = s.send(input);
            }
            while let Ok(n) = s.recv(&mut buf) {
                on_state(&buf[..n]);
            }
        }
    }
}

/// The fan-out workload on plain UDP sockets.
pub(super) fn raw_fanout(wake: Wake) -> Fanout {
    fanout(
        wake,
        || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.set_nonblocking(true).unwrap();
            big_buffers(&socket);
            let addr = socket.local_addr().unwrap();
            (RawFanServer { socket, clients: Vec::new(), inputs: 0 }, addr)
        },
        |addr: SocketAddr| {
            let clients = (0..FAN_CLIENTS)
                .map(|_| {
                    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                    s.connect(addr).unwrap();
                    s.set_nonblocking(true).unwrap();
                    // Says hello so the server knows the client before its first tick.
                    s.send(b"hello").unwrap();
                    s
                })
                .collect();
            RawFanClients(clients)
        },
    )
}
