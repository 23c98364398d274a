//! HTTP/2 (RFC 9113) on the server's mio loop: a sans-IO session per connection that
//! turns bytes into requests and responses into frames.
//!
//! Why our own frame layer: the well-kept implementation, the `h2` crate, is written
//! against tokio's I/O traits and drives itself from a tokio task; this project keeps
//! tokio out of `io/` (cargo deny checks it). Responses are header-compressed by
//! `loona-hpack`'s encoder; requests are decoded by `hpack.rs` (why: see there). The
//! session is pure (no sockets, no clock reads), so the fuzz target in `fuzz/` runs it
//! directly.
//!
//! Limits, each answering a known attack:
//! - streams open at once (`max_streams`, announced as SETTINGS_MAX_CONCURRENT_STREAMS):
//!   a stream counts until its handler has returned, even after the client resets it, so
//!   a rapid reset (CVE-2023-44487) cannot run more handlers at once than the limit;
//!   streams refused or reset before their response cost budget, and a connection that
//!   wastes more than it completes is closed with ENHANCE_YOUR_CALM;
//! - a header block (HEADERS and CONTINUATIONs) at most `max_header_bytes` encoded (the
//!   CONTINUATION flood), and a decoded list over it, or over `max_headers` fields, is
//!   answered 431;
//! - request bodies at most `max_body_bytes` (413), received within flow-control windows
//!   the server grants as it consumes;
//! - frames that do no work (empty DATA, PRIORITY, unknown types) are budgeted;
//! - control replies (PING and SETTINGS acknowledgements) and responses wait in a
//!   bounded output: past it the server stops reading, and a client that does not read
//!   is closed by the write timeout.

mod frame;
mod hpack;
mod message;
mod recv;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use loona_hpack::Encoder;

use crate::request::Request;
use crate::response::Response;
use crate::HttpConfig;
pub(crate) use frame::PREFACE;
use frame::{ErrorCode, DEFAULT_MAX_FRAME, DEFAULT_WINDOW, MAX_WINDOW};

/// Streams a connection may have open at once.
pub(crate) const MAX_STREAMS: usize = 100;
/// The window the server grants per stream and for the connection.
const WINDOW: u32 = 1 << 20;
/// Output a session queues before it stops taking input or adding DATA.
pub(crate) const OUTPUT_HIGH: usize = 64 * 1024;
/// The HPACK dynamic table the server keeps for a client (the protocol default).
const TABLE_SIZE: usize = 4096;
/// Streams a client may refuse or reset before the server looks at its ratio.
const WASTE_ALLOWANCE: u64 = 100;
/// Frames that do no work a connection may send beyond those its requests need.
const IDLE_FRAME_ALLOWANCE: u64 = 10_000;

/// A request ready for the router.
pub(crate) struct Ready {
    pub(crate) stream: u32,
    pub(crate) request: Request,
    pub(crate) raw_path: String,
}

/// A request still arriving: its headers are in, its body is not.
struct Incoming {
    request: Request,
    raw_path: String,
    content_length: Option<u64>,
}

struct Stream {
    /// Set while the request's body arrives.
    incoming: Option<Incoming>,
    /// The client ended its side (END_STREAM).
    remote_closed: bool,
    /// A handler holds the request: the stream counts against the limit until it answers.
    handler_running: bool,
    /// The client reset it: the answer, when it comes, is dropped.
    reset: bool,
    /// Response body bytes not yet sent, and how far they went.
    body: Vec<u8>,
    sent: usize,
    /// A response was queued (the headers are out).
    answered: bool,
    /// The response went out whole.
    finished: bool,
    send_window: i64,
    /// What the client may still send before the server grants more.
    recv_window: i64,
    /// Bytes received on the stream not yet granted back.
    recv_unacked: u32,
    started: Instant,
    head: bool,
    origin: Option<String>,
}

/// Why the session ended the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure(pub(crate) ErrorCode);

/// One HTTP/2 connection's protocol state.
pub(crate) struct H2 {
    max_header_bytes: usize,
    max_headers: usize,
    max_body_bytes: usize,
    decoder: hpack::Decoder,
    encoder: Encoder<'static>,
    /// Dynamic table size changes the client asked for since the last header block: the
    /// smallest and the last, both announced in the next block (RFC 7541 §4.2).
    table_update: Option<(usize, usize)>,
    preface_seen: bool,
    settings_seen: bool,
    peer_initial_window: i64,
    send_window: i64,
    recv_window: i64,
    recv_unacked: u32,
    streams: HashMap<u32, Stream>,
    last_stream: u32,
    /// A header block arriving in CONTINUATION frames: stream, END_STREAM, bytes.
    block: Option<(u32, bool, Vec<u8>)>,
    /// Frames to send ahead of DATA.
    control: Vec<u8>,
    /// Streams with body bytes to send, in turn.
    sending: VecDeque<u32>,
    ready: Vec<Ready>,
    /// Bytes of request bodies held while they arrive (across streams).
    body_bytes: usize,
    goaway_sent: bool,
    goaway_received: bool,
    failed: Option<Failure>,
    completed: u64,
    wasted: u64,
    idle_frames: u64,
    /// Moves whenever DATA goes out or answers start waiting for the window: the server
    /// times flow-control stalls from its last move.
    window_progress: u64,
    /// The last stream announced in a GOAWAY: a later one may not name a higher one.
    goaway_last: Option<u32>,
}

impl H2 {
    /// A session for a client that chose HTTP/2; the server's SETTINGS go out first.
    pub(crate) fn new(cfg: &HttpConfig) -> H2 {
        let decoder = hpack::Decoder::new(TABLE_SIZE);
        let mut h2 = H2 {
            max_header_bytes: cfg.max_header_bytes,
            max_headers: cfg.max_headers,
            max_body_bytes: cfg.max_body_bytes,
            decoder,
            encoder: Encoder::new(),
            table_update: None,
            preface_seen: false,
            settings_seen: false,
            peer_initial_window: DEFAULT_WINDOW,
            send_window: DEFAULT_WINDOW,
            recv_window: i64::from(WINDOW),
            recv_unacked: 0,
            streams: HashMap::new(),
            last_stream: 0,
            block: None,
            control: Vec::with_capacity(256),
            sending: VecDeque::new(),
            ready: Vec::new(),
            body_bytes: 0,
            goaway_sent: false,
            goaway_received: false,
            failed: None,
            completed: 0,
            wasted: 0,
            idle_frames: 0,
            window_progress: 0,
            goaway_last: None,
        };
        frame::settings(
            &mut h2.control,
            &[
                (frame::SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS as u32),
                (frame::SETTINGS_INITIAL_WINDOW_SIZE, WINDOW),
                (frame::SETTINGS_MAX_HEADER_LIST_SIZE, cfg.max_header_bytes as u32),
                (frame::SETTINGS_ENABLE_PUSH, 0),
            ],
        );
        frame::window_update(&mut h2.control, 0, WINDOW - DEFAULT_WINDOW as u32);
        h2
    }

    /// Takes frames from `input`; returns the bytes used (whole frames only). Stops
    /// early once enough output waits (`OUTPUT_HIGH`) or the connection failed.
    pub(crate) fn receive(&mut self, input: &[u8], now: Instant) -> usize {
        recv::receive(self, input, now)
    }

    /// The requests that arrived whole, for the router.
    pub(crate) fn take_requests(&mut self) -> Vec<Ready> {
        let mut ready = std::mem::take(&mut self.ready);
        // Streams the client reset in the same read are not worth a handler.
        ready.retain(|r| {
            let live = self.streams.get(&r.stream).is_some_and(|s| !s.reset);
            if !live {
                if let Some(s) = self.streams.get_mut(&r.stream) {
                    s.handler_running = false;
                }
                self.release(r.stream);
            }
            live
        });
        ready
    }

    /// The `Origin` of the request on `stream` (for CORS on its answer).
    pub(crate) fn origin(&self, stream: u32) -> Option<&str> {
        self.streams.get(&stream).and_then(|s| s.origin.as_deref())
    }

    /// Answers `stream`. The answer to a stream the client reset is dropped.
    pub(crate) fn respond(&mut self, stream: u32, response: Response) {
        let Some(s) = self.streams.get_mut(&stream) else { return };
        s.handler_running = false;
        if s.reset || s.answered || self.failed.is_some() {
            self.release(stream);
            return;
        }
        s.answered = true;
        let head = s.head;
        let block = message::response_block(&mut self.encoder, self.table_update.take(), &response);
        let empty = head || message::bodyless(response.status) || response.body.is_empty();
        frame::header_block(&mut self.control, stream, &block, empty, DEFAULT_MAX_FRAME);
        if empty {
            self.sent_all(stream);
        } else if let Some(s) = self.streams.get_mut(&stream) {
            s.body = response.body;
            if self.sending.is_empty() {
                self.window_progress += 1;
            }
            self.sending.push_back(stream);
        }
    }

    /// Answers `stream` with `status` from the server itself (not a handler).
    fn answer(&mut self, stream: u32, status: u16) {
        let response = Response::text(status, crate::response::reason(status));
        self.drop_incoming(stream);
        if let Some(s) = self.streams.get_mut(&stream) {
            s.handler_running = true;
        }
        self.respond(stream, response);
    }

    /// Moves queued frames to `out`, then DATA within the flow-control windows, in turn
    /// across streams, until `out` holds `OUTPUT_HIGH` bytes.
    pub(crate) fn write(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.control);
        let mut stalled = 0;
        while out.len() < OUTPUT_HIGH && self.send_window > 0 && stalled < self.sending.len() {
            let Some(id) = self.sending.pop_front() else { break };
            let Some(s) = self.streams.get_mut(&id) else { continue };
            if s.send_window <= 0 {
                self.sending.push_back(id);
                stalled += 1;
                continue;
            }
            stalled = 0;
            let window = s.send_window.min(self.send_window) as usize;
            // Frames of 16 KiB whatever the client allows: one write stays bounded.
            let n = (s.body.len() - s.sent).min(window).min(DEFAULT_MAX_FRAME);
            let end = s.sent + n == s.body.len();
            frame::data(out, id, &s.body[s.sent..s.sent + n], end);
            s.sent += n;
            s.send_window -= n as i64;
            self.send_window -= n as i64;
            self.window_progress += n as u64;
            if end {
                self.sent_all(id);
            } else {
                self.sending.push_back(id);
            }
        }
        // An error or a GOAWAY queued while sending goes out too.
        out.append(&mut self.control);
    }

    /// A response went out whole.
    fn sent_all(&mut self, stream: u32) {
        self.completed += 1;
        self.drop_incoming(stream);
        let Some(s) = self.streams.get_mut(&stream) else { return };
        s.body = Vec::new();
        s.finished = true;
        if !s.remote_closed {
            // Answered before the request ended (an error): the rest is not wanted.
            s.remote_closed = true;
            frame::rst_stream(&mut self.control, stream, ErrorCode::NoError);
        }
        self.release(stream);
    }

    /// Lets go of the request a stream was collecting (its body counts no more).
    fn drop_incoming(&mut self, stream: u32) {
        if let Some(incoming) = self.streams.get_mut(&stream).and_then(|s| s.incoming.take()) {
            self.body_bytes -= incoming.request.body.len();
        }
    }

    /// Forgets `stream` once nothing refers to it.
    fn release(&mut self, stream: u32) {
        let Some(s) = self.streams.get(&stream) else { return };
        let done = !s.handler_running && (s.reset || s.finished);
        if done {
            if let Some(s) = self.streams.remove(&stream) {
                if let Some(i) = s.incoming {
                    self.body_bytes -= i.request.body.len();
                }
            }
            self.sending.retain(|&id| id != stream);
        }
    }

    /// Whether frames wait to be written (DATA waiting for the client's window aside).
    pub(crate) fn has_output(&self) -> bool {
        !self.control.is_empty()
    }

    /// Whether answers wait to be sent (for the socket or the client's window), and a
    /// counter that moves with every DATA sent or new wait (the server's stall clock
    /// restarts when it moves).
    pub(crate) fn window_wait(&self) -> (bool, u64) {
        (!self.sending.is_empty(), self.window_progress)
    }

    /// Whether enough output waits that input is held back (`receive` stops).
    pub(crate) fn output_high(&self) -> bool {
        self.control.len() >= OUTPUT_HIGH
    }

    /// Ends a connection whose answers waited for the client's window too long.
    pub(crate) fn fail_stalled(&mut self) {
        self.fail(ErrorCode::EnhanceYourCalm, "flow-control window held closed");
    }

    /// Whether the connection is over: it failed, or both sides are done with it and no
    /// stream is left.
    pub(crate) fn is_finished(&self) -> bool {
        self.failed.is_some() || ((self.goaway_sent || self.goaway_received) && self.streams.is_empty())
    }

    /// Whether no stream is open.
    pub(crate) fn is_idle(&self) -> bool {
        self.streams.is_empty() && self.control.is_empty()
    }

    /// The client closed its side: requests still arriving never will.
    pub(crate) fn peer_closed(&mut self) {
        let arriving: Vec<u32> = self.streams.iter().filter(|(_, s)| s.incoming.is_some()).map(|(&id, _)| id).collect();
        for id in arriving {
            self.drop_incoming(id);
            if let Some(s) = self.streams.get_mut(&id) {
                s.reset = true;
            }
            self.release(id);
        }
    }

    /// Stops taking new streams (server shutdown); the open ones are finished.
    pub(crate) fn go_away(&mut self) {
        if !self.goaway_sent && self.failed.is_none() {
            self.goaway_sent = true;
            self.goaway_last = Some(self.last_stream);
            frame::goaway(&mut self.control, self.last_stream, ErrorCode::NoError, "");
        }
    }

    /// Answers 408 on streams whose request has not arrived whole within `timeout`;
    /// returns how many.
    pub(crate) fn expire(&mut self, now: Instant, timeout: Duration) -> usize {
        let late: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, s)| s.incoming.is_some() && now.duration_since(s.started) >= timeout)
            .map(|(&id, _)| id)
            .collect();
        for &id in &late {
            self.answer(id, 408);
        }
        late.len()
    }

    /// Ends the connection with `code`.
    fn fail(&mut self, code: ErrorCode, why: &str) {
        if self.failed.is_none() {
            self.failed = Some(Failure(code));
            let last = self.goaway_last.unwrap_or(self.last_stream);
            frame::goaway(&mut self.control, last, code, why);
            self.streams.clear();
            self.sending.clear();
            self.ready.clear();
            self.body_bytes = 0;
        }
    }

    /// How the connection failed, if it did.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn failure(&self) -> Option<Failure> {
        self.failed
    }

    /// Closes the connection if it wastes more streams than it completes.
    fn check_waste(&mut self) {
        if self.wasted > WASTE_ALLOWANCE && self.wasted > self.completed {
            self.fail(ErrorCode::EnhanceYourCalm, "too many streams refused or reset");
        }
    }

    /// Counts a frame that did no work.
    fn idle_frame(&mut self) {
        self.idle_frames += 1;
        if self.idle_frames > IDLE_FRAME_ALLOWANCE + self.completed.saturating_mul(4) {
            self.fail(ErrorCode::EnhanceYourCalm, "too many frames that do nothing");
        }
    }

    /// Grants back the window the client used, once half of it is used: for the
    /// connection always (bodies held are bounded where DATA arrives), for a stream while
    /// its request still arrives.
    fn grant(&mut self, stream: u32) {
        let half = WINDOW / 2;
        if let Some(s) = self.streams.get_mut(&stream) {
            if s.incoming.is_some() && s.recv_unacked >= half {
                frame::window_update(&mut self.control, stream, s.recv_unacked);
                s.recv_window += i64::from(s.recv_unacked);
                s.recv_unacked = 0;
            }
        }
        if self.recv_unacked >= half {
            frame::window_update(&mut self.control, 0, self.recv_unacked);
            self.recv_window += i64::from(self.recv_unacked);
            self.recv_unacked = 0;
        }
    }

    fn new_stream(&self, now: Instant) -> Stream {
        Stream {
            incoming: None,
            remote_closed: false,
            handler_running: false,
            reset: false,
            body: Vec::new(),
            sent: 0,
            answered: false,
            finished: false,
            send_window: self.peer_initial_window,
            recv_window: i64::from(WINDOW),
            recv_unacked: 0,
            started: now,
            head: false,
            origin: None,
        }
    }
}

/// The window change a SETTINGS_INITIAL_WINDOW_SIZE brings to every stream, checked
/// against the largest window.
fn shift_window(window: i64, delta: i64) -> Option<i64> {
    let w = window + delta;
    (w <= MAX_WINDOW).then_some(w)
}
