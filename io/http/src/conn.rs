//! One client connection: its buffers, the requests parsed from them, and the responses
//! waiting their turn (pipelined requests are answered in order).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Instant;

use httparse::Status;
use mio::net::TcpStream;

use crate::request::{decode_component, Method, Request};
use crate::HttpConfig;

/// What parsing the buffered bytes gave.
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
    pub(crate) stream: TcpStream,
    pub(crate) generation: u64,
    read: Vec<u8>,
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
    pub(crate) last_write_progress: Instant,
    continue_sent: bool,
    /// Bytes of the request being read so far (head and body), to enforce the limits.
    read_limit: usize,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream, generation: u64, cfg: &HttpConfig, now: Instant) -> Conn {
        Conn {
            stream,
            generation,
            read: Vec::new(),
            out: Vec::new(),
            sent: 0,
            slots: VecDeque::new(),
            next_seq: 0,
            closing: false,
            read_done: false,
            read_paused: false,
            request_started: None,
            last_active: now,
            last_write_progress: now,
            continue_sent: false,
            read_limit: cfg.max_header_bytes + cfg.max_body_bytes + 4096,
        }
    }

    /// Reads what the socket has, up to the buffer limit. Returns whether bytes came.
    pub(crate) fn fill(&mut self, now: Instant) -> bool {
        let mut got = false;
        let mut chunk = [0u8; 16 * 1024];
        self.read_paused = false;
        while !self.read_done {
            if self.read.len() >= self.read_limit {
                self.read_paused = true;
                break;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => self.read_done = true,
                Ok(n) => {
                    if self.read.is_empty() && self.request_started.is_none() {
                        self.request_started = Some(now);
                    }
                    self.read.extend_from_slice(&chunk[..n]);
                    got = true;
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

    /// Whether reading stopped early and should resume once the buffer drained.
    pub(crate) fn read_paused(&self) -> bool {
        self.read_paused
    }

    /// Bytes received and not yet parsed.
    pub(crate) fn buffered(&self) -> usize {
        self.read.len()
    }

    /// Takes the bytes received after an upgrade request.
    pub(crate) fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.read)
    }

    /// Parses the next request from the buffer.
    pub(crate) fn parse(&mut self, cfg: &HttpConfig) -> Parsed {
        if self.read.is_empty() {
            return Parsed::Incomplete;
        }
        let mut headers = vec![httparse::EMPTY_HEADER; cfg.max_headers];
        let mut req = httparse::Request::new(&mut headers);
        let head_len = match req.parse(&self.read) {
            Ok(Status::Complete(n)) if n > cfg.max_header_bytes => return Parsed::Error(431),
            Ok(Status::Complete(n)) => n,
            Ok(Status::Partial) if self.read.len() > cfg.max_header_bytes => return Parsed::Error(431),
            Ok(Status::Partial) => return Parsed::Incomplete,
            Err(httparse::Error::TooManyHeaders) => return Parsed::Error(431),
            Err(_) => return Parsed::Error(400),
        };
        let http10 = req.version == Some(0);
        let Some(method) = req.method.and_then(Method::parse) else { return Parsed::Error(501) };
        let raw_target = req.path.unwrap_or("");
        if !raw_target.starts_with('/') {
            return Parsed::Error(400);
        }
        let (raw_path, raw_query) = raw_target.split_once('?').unwrap_or((raw_target, ""));
        let headers: Vec<(String, Vec<u8>)> =
            req.headers.iter().map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec())).collect();
        fn named<'a>(headers: &'a [(String, Vec<u8>)], name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
            headers.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_slice())
        }
        let header = |name: &'static str| named(&headers, name);
        // Framing: one agreed Content-Length, or chunked, never both (request smuggling).
        let length = {
            let mut lengths = header("content-length");
            match lengths.next() {
                None => None,
                Some(v) => match parse_length(v) {
                    Some(n) if lengths.all(|o| parse_length(o) == Some(n)) => Some(n),
                    _ => return Parsed::Error(400),
                },
            }
        };
        let chunked = {
            let mut te = header("transfer-encoding");
            match (te.next(), te.next()) {
                (None, _) => false,
                (Some(v), None) if v.trim_ascii().eq_ignore_ascii_case(b"chunked") => true,
                _ => return Parsed::Error(501),
            }
        };
        if chunked && length.is_some() {
            return Parsed::Error(400);
        }
        let (body, consumed) = if chunked {
            match decode_chunked(&self.read[head_len..], cfg.max_body_bytes) {
                Ok(Some((body, n))) => (body, head_len + n),
                Ok(None) => {
                    self.maybe_continue(&headers, http10);
                    return Parsed::Incomplete;
                }
                Err(status) => return Parsed::Error(status),
            }
        } else {
            let n = length.unwrap_or(0);
            if n > cfg.max_body_bytes as u64 {
                return Parsed::Error(413);
            }
            let end = head_len + n as usize;
            if self.read.len() < end {
                self.maybe_continue(&headers, http10);
                return Parsed::Incomplete;
            }
            (self.read[head_len..end].to_vec(), end)
        };
        let connection = headers.iter().find(|(n, _)| n == "connection").map(|(_, v)| v.to_ascii_lowercase());
        let keep_alive = match connection {
            Some(v) if contains_token(&v, b"close") => false,
            Some(v) if contains_token(&v, b"keep-alive") => true,
            _ => !http10,
        };
        let request = Request {
            method,
            path: decode_component(raw_path, false),
            raw_query: raw_query.to_string(),
            headers,
            body,
            params: Default::default(),
            http10,
        };
        let raw_path = raw_path.to_string();
        self.read.drain(..consumed);
        self.continue_sent = false;
        self.request_started = None;
        Parsed::Request(request, raw_path, keep_alive)
    }

    /// Answers `Expect: 100-continue` once, so the client sends its body.
    fn maybe_continue(&mut self, headers: &[(String, Vec<u8>)], http10: bool) {
        let expects = headers.iter().any(|(n, v)| n == "expect" && v.eq_ignore_ascii_case(b"100-continue"));
        if expects && !http10 && !self.continue_sent && self.slots.is_empty() {
            self.continue_sent = true;
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
    }

    /// Moves finished responses, in order, to the output, then writes what the socket
    /// takes. Returns an error once the connection is broken.
    pub(crate) fn flush(&mut self, now: Instant) -> io::Result<()> {
        while self.slots.front().is_some_and(|s| s.bytes.is_some()) {
            let Some(slot) = self.slots.pop_front() else { break };
            self.out.extend_from_slice(&slot.bytes.unwrap_or_default());
            if slot.close {
                self.closing = true;
                self.slots.clear();
                break;
            }
        }
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    self.last_write_progress = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        }
        Ok(())
    }

    /// Whether bytes wait to be written.
    pub(crate) fn has_output(&self) -> bool {
        self.sent < self.out.len()
    }

    /// Whether the connection has nothing in progress: no request arriving, no response
    /// owed or unsent.
    pub(crate) fn is_idle(&self) -> bool {
        self.read.is_empty() && self.slots.is_empty() && !self.has_output()
    }
}

fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|t| t.trim_ascii() == token)
}

/// Decodes a chunked body at the start of `buf`: `Ok(Some((body, bytes used)))`, or
/// `Ok(None)` while incomplete; an error status if it is malformed (400) or too large
/// (413).
fn decode_chunked(buf: &[u8], max: usize) -> Result<Option<(Vec<u8>, usize)>, u16> {
    let mut at = 0;
    let mut body = Vec::new();
    loop {
        let (n, size) = match httparse::parse_chunk_size(&buf[at..]) {
            Ok(Status::Complete(c)) => c,
            Ok(Status::Partial) => return Ok(None),
            Err(_) => return Err(400),
        };
        at += n;
        if size == 0 {
            // Trailers (ignored) up to an empty line.
            loop {
                let Some(end) = buf[at..].windows(2).position(|w| w == b"\r\n") else { return Ok(None) };
                at += end + 2;
                if end == 0 {
                    return Ok(Some((body, at)));
                }
            }
        }
        if size > (max - body.len().min(max)) as u64 {
            return Err(413);
        }
        let size = size as usize;
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size;
        if &buf[at..at + 2] != b"\r\n" {
            return Err(400);
        }
        at += 2;
    }
}
