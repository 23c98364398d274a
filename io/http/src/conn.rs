//! One client connection: its buffers, the requests parsed from them, and the responses
//! waiting their turn (pipelined requests are answered in order).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use crate::h2::{self, H2};
use crate::parse;
use crate::request::Request;
use crate::tls::Stream;
use crate::HttpConfig;

/// What parsing the buffered bytes gave.
// Returned once per request and matched at once (see `parse::Outcome`).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Parsed {
    /// A complete request: the request, its raw path (for routing), whether to keep the
    /// connection open after answering.
    Request(Request, String, bool),
    /// More bytes are needed.
    Incomplete,
    /// The request is broken: answer with this status and close.
    Error(u16),
}

/// A response slot, in request order.
pub(crate) struct Slot {
    pub(crate) seq: u64,
    /// The response bytes, once known.
    pub(crate) bytes: Option<Vec<u8>>,
    /// Close the connection after this response.
    pub(crate) close: bool,
    /// A HEAD request: the body is left out.
    pub(crate) head: bool,
    /// The request's `Origin`, for CORS headers on a response that comes later.
    pub(crate) origin: Option<String>,
}

pub(crate) struct Conn {
    pub(crate) stream: Stream,
    pub(crate) peer: SocketAddr,
    pub(crate) generation: u64,
    read: Vec<u8>,
    /// Bytes of `read` already parsed (pipelined requests are consumed from the front
    /// without moving the rest each time).
    read_pos: usize,
    out: Vec<u8>,
    sent: usize,
    pub(crate) slots: VecDeque<Slot>,
    pub(crate) next_seq: u64,
    /// No more requests are read; the connection closes once its responses are out.
    pub(crate) closing: bool,
    /// The peer closed its side (or reading failed).
    pub(crate) read_done: bool,
    /// Reading stopped at the buffer limit before the socket ran dry.
    read_paused: bool,
    /// When the request now arriving began (its head and body must complete in time).
    pub(crate) request_started: Option<Instant>,
    pub(crate) last_active: Instant,
    /// When the connection was accepted (a TLS handshake must finish in time).
    pub(crate) accepted: Instant,
    pub(crate) last_write_progress: Instant,
    continue_sent: bool,
    /// Bytes of the request being read so far (head and body), to enforce the limits.
    read_limit: usize,
    /// The HTTP/2 session, once the client chose HTTP/2 (ALPN `h2` or the h2c preface).
    pub(crate) h2: Option<Box<H2>>,
    /// HTTP/2: the session's window progress counter when last looked at, and when it
    /// last moved or nothing waited to be sent.
    data_seen: u64,
    pub(crate) window_progress: Instant,
}

impl Conn {
    pub(crate) fn new(stream: Stream, peer: SocketAddr, generation: u64, cfg: &HttpConfig, now: Instant) -> Conn {
        Conn {
            stream,
            peer,
            generation,
            read: Vec::new(),
            read_pos: 0,
            out: Vec::new(),
            sent: 0,
            slots: VecDeque::new(),
            next_seq: 0,
            closing: false,
            read_done: false,
            read_paused: false,
            request_started: None,
            last_active: now,
            accepted: now,
            last_write_progress: now,
            continue_sent: false,
            read_limit: cfg.max_header_bytes + cfg.max_body_bytes + 4096,
            h2: None,
            data_seen: 0,
            window_progress: now,
        }
    }

    /// Switches the connection to HTTP/2. Frames are consumed as they arrive (bodies
    /// collect per stream), so the read buffer needs to hold a few frames only.
    pub(crate) fn start_h2(&mut self, cfg: &HttpConfig) {
        self.h2 = Some(Box::new(H2::new(cfg)));
        self.read_limit = 4 * h2::OUTPUT_HIGH;
        self.request_started = None;
    }

    /// Whether the bytes so far open the HTTP/2 preface (all of it: `Some(true)`; a
    /// part of it: `None`, wait for more).
    pub(crate) fn h2c_preface(&self) -> Option<bool> {
        let got = &self.read[self.read_pos..];
        let n = got.len().min(h2::PREFACE.len());
        if got[..n] != h2::PREFACE[..n] {
            Some(false)
        } else if n == h2::PREFACE.len() {
            Some(true)
        } else {
            None
        }
    }

    /// Feeds the received bytes to the HTTP/2 session. Returns how many it took, and
    /// whether it held input back because output is high (it takes more once output
    /// drains, with no event to say so).
    pub(crate) fn receive_h2(&mut self, now: Instant) -> (usize, bool) {
        let Some(h2) = self.h2.as_mut() else { return (0, false) };
        // A client that does not read its answers gets no more of its frames read.
        if self.out.len() - self.sent >= h2::OUTPUT_HIGH {
            return (0, self.buffered() > 0);
        }
        let used = h2.receive(&self.read[self.read_pos..], now);
        self.read_pos += used;
        if self.read_pos == self.read.len() {
            self.read.clear();
            self.read_pos = 0;
        }
        let held_back = h2.output_high() && self.buffered() > 0;
        // A frame that stays incomplete must complete in time, as a request does.
        if self.buffered() == 0 || held_back {
            self.request_started = None;
        } else if self.request_started.is_none() {
            self.request_started = Some(now);
        }
        (used, held_back)
    }

    /// Whether the HTTP/2 session may take input now (output is below the mark).
    pub(crate) fn h2_can_receive(&self) -> bool {
        self.out.len() - self.sent < h2::OUTPUT_HIGH && self.h2.as_ref().is_some_and(|h| !h.output_high())
    }

    /// Reads what the socket has, up to the buffer limit. Returns whether bytes came.
    ///
    /// A read that leaves room in the chunk has drained the socket: the next arrival is
    /// a new edge, so no second read is spent to hear `WouldBlock`. Unless the peer has
    /// closed (`read_closed`): its end of stream is no new edge, so read on to find it.
    /// `chunk` is the loop's scratch buffer (one for all connections, so nothing is
    /// zeroed per read).
    pub(crate) fn fill(&mut self, now: Instant, read_closed: bool, chunk: &mut [u8]) -> bool {
        let mut got = false;
        self.read_paused = false;
        if self.read_pos > 0 {
            self.read.drain(..self.read_pos);
            self.read_pos = 0;
        }
        while !self.read_done {
            if self.read.len() >= self.read_limit {
                self.read_paused = true;
                break;
            }
            match self.stream.read(chunk) {
                Ok(0) => self.read_done = true,
                Ok(n) => {
                    if self.read.is_empty() && self.request_started.is_none() && self.h2.is_none() {
                        self.request_started = Some(now);
                    }
                    self.read.extend_from_slice(&chunk[..n]);
                    got = true;
                    if n < chunk.len() && !read_closed && !self.stream.is_tls() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.read_done = true,
            }
        }
        if got {
            self.last_active = now;
        }
        got
    }

    /// Queues a response in request order: straight to the output when no earlier
    /// response is pending, else in its slot.
    pub(crate) fn respond(&mut self, close: bool, head: bool, write: impl FnOnce(&mut Vec<u8>)) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.slots.is_empty() && !self.closing {
            write(&mut self.out);
            self.closing = close;
        } else {
            let mut bytes = Vec::new();
            write(&mut bytes);
            self.slots.push_back(Slot { seq, bytes: Some(bytes), close, head, origin: None });
        }
    }

    /// Whether reading stopped at the buffer limit and there is room again.
    pub(crate) fn can_read_more(&self) -> bool {
        self.read_paused && self.buffered() < self.read_limit
    }

    /// Whether reading stopped early and should resume once the buffer drained.
    pub(crate) fn read_paused(&self) -> bool {
        self.read_paused
    }

    /// Bytes received and not yet parsed.
    pub(crate) fn buffered(&self) -> usize {
        self.read.len() - self.read_pos
    }

    /// Takes the bytes received after an upgrade request.
    pub(crate) fn take_buffered(&mut self) -> Vec<u8> {
        self.read.drain(..self.read_pos);
        self.read_pos = 0;
        std::mem::take(&mut self.read)
    }

    /// Parses the next request from the buffer.
    pub(crate) fn parse(&mut self, cfg: &HttpConfig) -> Parsed {
        match parse::parse_request(&self.read[self.read_pos..], cfg) {
            parse::Outcome::Request { mut request, raw_path, keep_alive, consumed } => {
                request.peer = Some(self.peer);
                self.read_pos += consumed;
                if self.read_pos == self.read.len() {
                    self.read.clear();
                    self.read_pos = 0;
                }
                self.continue_sent = false;
                self.request_started = None;
                Parsed::Request(request, raw_path, keep_alive)
            }
            parse::Outcome::Incomplete { expects_continue } => {
                // Answer `Expect: 100-continue` once, so the client sends its body.
                if expects_continue && !self.continue_sent && self.slots.is_empty() {
                    self.continue_sent = true;
                    self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
                Parsed::Incomplete
            }
            parse::Outcome::Error(status) => Parsed::Error(status),
        }
    }

    /// Moves finished responses, in order, to the output, then writes what the socket
    /// takes. Returns an error once the connection is broken.
    pub(crate) fn flush(&mut self, now: Instant) -> io::Result<()> {
        if self.h2.is_some() {
            return self.flush_h2(now);
        }
        while self.slots.front().is_some_and(|s| s.bytes.is_some()) {
            let Some(slot) = self.slots.pop_front() else { break };
            self.out.extend_from_slice(&slot.bytes.unwrap_or_default());
            if slot.close {
                self.closing = true;
                self.slots.clear();
                break;
            }
        }
        self.write_out(now)?;
        // TLS records (handshake messages too) that the socket did not take yet.
        self.stream.flush_pending()
    }

    /// Writes the output until the socket would block. Returns whether all of it went.
    fn write_out(&mut self, now: Instant) -> io::Result<bool> {
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    self.last_write_progress = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.sent = 0;
        Ok(true)
    }

    /// The HTTP/2 session's frames, a window's worth at a time, while the socket takes
    /// them.
    fn flush_h2(&mut self, now: Instant) -> io::Result<()> {
        while let Some(h2) = self.h2.as_mut() {
            if self.out.len() - self.sent < h2::OUTPUT_HIGH {
                let before = self.out.len();
                h2.write(&mut self.out);
                if self.out.len() == before && self.sent == self.out.len() {
                    break;
                }
            }
            if !self.write_out(now)? {
                break;
            }
        }
        if let Some(h2) = self.h2.as_ref() {
            let (waiting, progress) = h2.window_wait();
            if !waiting || progress != self.data_seen {
                self.data_seen = progress;
                self.window_progress = now;
            }
        }
        self.stream.flush_pending()
    }

    /// Whether response bytes wait to be handed to the stream (TLS records it holds
    /// apart: they travel with the stream when it is handed off).
    pub(crate) fn has_unsent_responses(&self) -> bool {
        self.sent < self.out.len()
    }

    /// Whether bytes wait to be written.
    pub(crate) fn has_output(&self) -> bool {
        self.sent < self.out.len()
            || self.stream.has_pending_output()
            || self.h2.as_ref().is_some_and(|h| h.has_output())
    }

    /// Whether the connection has nothing in progress: no request arriving, no response
    /// owed or unsent.
    pub(crate) fn is_idle(&self) -> bool {
        self.buffered() == 0
            && self.slots.is_empty()
            && !self.has_output()
            && self.h2.as_ref().is_none_or(|h| h.is_idle())
    }
}
