//! One WebSocket connection's protocol state over any byte stream: tungstenite parses
//! frames, checks masking and UTF-8, answers pings and closes; this layer owns the
//! outbound queue (with its cap), the inbox and the close bookkeeping.
//!
//! tungstenite writes into [`Io`], an adapter whose writes land in our own queue and
//! never block, so tungstenite's internal buffer is always empty after a call and the
//! queue's length is exactly what waits for the socket.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use tungstenite::error::{CapacityError, Error, ProtocolError};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Bytes, Message};

use crate::deflate::{self, Inflating, Refusal};
use crate::{CloseReason, Kind, WsConfig};

/// Room kept past the queue cap for the close frame that tells a slow consumer why.
const CLOSE_HEADROOM: usize = 256;
/// A drained queue keeps at most this much capacity for the next burst.
const KEEP_CAPACITY: usize = 64 * 1024;

/// Reads go to the stream; writes go to the outbound queue.
struct Io<'a, S> {
    stream: &'a mut S,
    out: &'a mut Vec<u8>,
}

impl<S: Read> Read for Io<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl<S> Write for Io<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reader that reports `WouldBlock` after a short read instead of asking the socket
/// again: under edge-triggered polling a short read drained the socket, and the next
/// arrival is a new event. `full` keeps reading to `WouldBlock` (no event will come for
/// bytes already waiting, or for an end of stream).
struct EdgeReader<'a, S> {
    inner: &'a mut S,
    drained: bool,
    full: bool,
}

impl<S: Read> Read for EdgeReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.drained {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.inner.read(buf)?;
        if n > 0 && n < buf.len() && !self.full {
            self.drained = true;
        }
        Ok(n)
    }
}

/// What a read pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadState {
    /// The socket has nothing more for now.
    Drained,
    /// The pass stopped at its message budget; more may be waiting.
    More,
    /// The inbox is at its cap, or half the outbound cap waits: reading resumes once
    /// the application drains the one or the socket takes the other.
    Paused,
    /// The connection is over (see [`Session::reason`]); flush, then drop it.
    Done,
}

/// Why a send was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendRefused {
    /// Closing or closed.
    Closed,
    /// Larger than the configured maximum message.
    TooLarge,
    /// The queue cap was hit: the connection is now closing as a slow consumer.
    Full,
}

pub(crate) struct Session {
    ctx: WebSocketContext,
    role: Role,
    out: Vec<u8>,
    /// Bytes of `out` already written to the socket.
    out_pos: usize,
    max_out: usize,
    max_message: usize,
    max_frame: usize,
    /// permessage-deflate was negotiated (server side): incoming compressed messages
    /// are inflated on their way to tungstenite, outgoing ones compressed.
    inflating: Option<Box<Inflating>>,
    inbox: VecDeque<(Kind, Bytes)>,
    inbox_bytes: usize,
    max_inbox: usize,
    /// Set once the connection is closing or over; the first reason wins.
    reason: Option<CloseReason>,
    /// Both close frames have crossed, or the stream ended: nothing more to read.
    finished: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("queued", &self.queued())
            .field("inbox_bytes", &self.inbox_bytes)
            .field("reason", &self.reason)
            .finish()
    }
}

impl Session {
    /// A session whose handshake is done; `early` holds bytes read past the handshake,
    /// `preface` bytes to send before any frame (the 101 response).
    pub(crate) fn new(role: Role, cfg: &WsConfig, early: Vec<u8>, preface: Vec<u8>, deflate: bool) -> Session {
        let ws_cfg = WebSocketConfig::default()
            .read_buffer_size(cfg.read_buffer_size)
            .write_buffer_size(0)
            .max_write_buffer_size(usize::MAX)
            .max_message_size(Some(cfg.max_message_size))
            .max_frame_size(Some(cfg.max_frame_size));
        // With deflate, early bytes may hold compressed frames: they go through the inflater.
        let (early, inflating) = if deflate && role == Role::Server {
            (Vec::new(), Some(Box::new(Inflating::new(early))))
        } else {
            (early, None)
        };
        Session {
            ctx: WebSocketContext::from_partially_read(early, role, Some(ws_cfg)),
            role,
            out: preface,
            out_pos: 0,
            max_out: cfg.max_outbound_bytes,
            max_message: cfg.max_message_size,
            max_frame: cfg.max_frame_size,
            inflating,
            inbox: VecDeque::new(),
            inbox_bytes: 0,
            max_inbox: cfg.max_inbox_bytes,
            reason: None,
            finished: false,
        }
    }

    /// Bytes waiting for the socket.
    pub(crate) fn queued(&self) -> usize {
        self.out.len() - self.out_pos
    }

    pub(crate) fn reason(&self) -> Option<CloseReason> {
        self.reason
    }

    /// Whether messages can still be sent.
    pub(crate) fn is_open(&self) -> bool {
        self.reason.is_none()
    }

    /// Whether the connection can be dropped: over, and nothing left to write.
    pub(crate) fn is_done(&self) -> bool {
        self.finished && self.queued() == 0
    }

    pub(crate) fn inbox_len(&self) -> usize {
        self.inbox.len()
    }

    pub(crate) fn has_mail(&self) -> bool {
        !self.inbox.is_empty()
    }

    pub(crate) fn inbox_full(&self) -> bool {
        self.inbox_bytes >= self.max_inbox
    }

    /// Whether to take more from the socket: not while the application has a full
    /// inbox, nor while unread messages and queued replies reach half the outbound cap.
    /// A client that sends faster than it reads its replies is then slowed by TCP
    /// instead of being cut off as a slow consumer, even by a server that answers every
    /// message with one as large.
    pub(crate) fn wants_input(&self) -> bool {
        !self.inbox_full() && self.inbox_bytes + self.queued() <= self.max_out / 2
    }

    /// Reads and parses up to `budget` messages into the inbox; `full` reads the
    /// socket to `WouldBlock` even after a short read (see [`EdgeReader`]).
    pub(crate) fn read<S: Read>(&mut self, stream: &mut S, budget: usize, full: bool) -> ReadState {
        if self.finished {
            return ReadState::Done;
        }
        let mut reader = EdgeReader { inner: stream, drained: false, full };
        let state = match self.inflating.take() {
            Some(mut inflating) => {
                let mut inflated = inflating.reader(&mut reader, self.max_message, self.max_frame);
                let state = self.read_messages(&mut inflated, budget);
                self.inflating = Some(inflating);
                state
            }
            None => self.read_messages(&mut reader, budget),
        };
        // Pongs and close replies tungstenite queued while reading go to our queue now.
        let mut io = Io { stream: &mut io::empty(), out: &mut self.out };
        let _ = self.ctx.flush(&mut io);
        state
    }

    fn read_messages<S: Read>(&mut self, stream: &mut S, budget: usize) -> ReadState {
        for _ in 0..budget {
            if !self.wants_input() {
                return ReadState::Paused;
            }
            let mut io = Io { stream: &mut *stream, out: &mut self.out };
            match self.ctx.read(&mut io) {
                Ok(Message::Text(text)) => self.deliver(Kind::Text, text.into()),
                Ok(Message::Binary(data)) => self.deliver(Kind::Binary, data),
                // tungstenite has queued the pong; any traffic proves the peer alive.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Close(frame)) => {
                    // tungstenite has queued the echo (or this answers our own close).
                    let code = frame.map_or(1005, |f| u16::from(f.code));
                    self.reason.get_or_insert(CloseReason::Peer(code));
                    self.finished = true;
                    return ReadState::Done;
                }
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return ReadState::Drained,
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(e);
                    return ReadState::Done;
                }
            }
        }
        ReadState::More
    }

    fn deliver(&mut self, kind: Kind, data: Bytes) {
        if self.reason.is_some() {
            // Data arriving after a close is discarded, as RFC 6455 allows.
            return;
        }
        self.inbox_bytes += data.len();
        self.inbox.push_back((kind, data));
    }

    /// Maps a read error to the close the protocol asks for.
    fn fail(&mut self, e: Error) {
        let (reason, send) = match e {
            Error::ConnectionClosed | Error::AlreadyClosed => (CloseReason::Reset, None),
            Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => (CloseReason::Reset, None),
            // A compressed message the inflater refused (see `deflate::Reader`).
            Error::Io(e) if e.get_ref().and_then(|e| e.downcast_ref::<Refusal>()) == Some(&Refusal::TooBig) => {
                (CloseReason::Violation(1009), Some((CloseCode::Size, "message too big")))
            }
            Error::Io(e) if e.get_ref().and_then(|e| e.downcast_ref::<Refusal>()) == Some(&Refusal::Corrupt) => {
                (CloseReason::Violation(1002), Some((CloseCode::Protocol, "bad compressed message")))
            }
            Error::Io(_) => (CloseReason::Reset, None),
            Error::Capacity(CapacityError::MessageTooLong { .. }) => {
                (CloseReason::Violation(1009), Some((CloseCode::Size, "message too big")))
            }
            Error::Capacity(_) => (CloseReason::Violation(1009), Some((CloseCode::Size, "too big"))),
            Error::Utf8(_) => (CloseReason::Violation(1007), Some((CloseCode::Invalid, "invalid UTF-8"))),
            Error::Protocol(ProtocolError::UnmaskedFrameFromClient) => {
                (CloseReason::Violation(1002), Some((CloseCode::Protocol, "unmasked frame")))
            }
            Error::Protocol(ProtocolError::MaskedFrameFromServer) => {
                (CloseReason::Violation(1002), Some((CloseCode::Protocol, "masked frame")))
            }
            _ => (CloseReason::Violation(1002), Some((CloseCode::Protocol, "protocol error"))),
        };
        if let Some((code, why)) = send {
            if self.reason.is_none() {
                self.queue_close(code, why);
            }
        }
        self.reason.get_or_insert(reason);
        self.finished = true;
    }

    /// Hands queued messages to `f`, oldest first; returns how many.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(Kind, &[u8])) -> usize {
        let n = self.inbox.len();
        while let Some((kind, data)) = self.inbox.pop_front() {
            self.inbox_bytes -= data.len();
            f(kind, &data);
        }
        n
    }

    /// Queues one message.
    pub(crate) fn send(&mut self, kind: Kind, data: &[u8]) -> Result<(), SendRefused> {
        if self.reason.is_some() {
            return Err(SendRefused::Closed);
        }
        if data.len() > self.max_message {
            return Err(SendRefused::TooLarge);
        }
        let opcode = OpCode::Data(match kind {
            Kind::Text => Data::Text,
            Kind::Binary => Data::Binary,
        });
        let header = FrameHeader { opcode, ..FrameHeader::default() };
        if self.queued() + header.len(data.len() as u64) + data.len() > self.max_out {
            self.queue_close(CloseCode::Policy, "slow consumer: outbound queue full");
            self.reason = Some(CloseReason::SlowConsumer);
            // No reply is awaited: the peer is not reading.
            self.finished = true;
            return Err(SendRefused::Full);
        }
        self.compact();
        if self.role == Role::Server {
            // Server frames are unmasked: header then payload, no allocation (but for a
            // compressed copy when permessage-deflate is on and it pays).
            match self.inflating.as_ref().and_then(|_| deflate::compress(data)) {
                Some(packed) => {
                    let header = FrameHeader { rsv1: true, ..header };
                    header.format(packed.len() as u64, &mut self.out).map_err(|_| SendRefused::Closed)?;
                    self.out.extend_from_slice(&packed);
                }
                None => {
                    header.format(data.len() as u64, &mut self.out).map_err(|_| SendRefused::Closed)?;
                    self.out.extend_from_slice(data);
                }
            }
        } else {
            let message = match kind {
                // Text reaches here only from `&str`, so this never replaces anything.
                Kind::Text => Message::text(String::from_utf8_lossy(data).into_owned()),
                Kind::Binary => Message::binary(Bytes::copy_from_slice(data)),
            };
            let mut sink = io::empty();
            let mut io = Io { stream: &mut sink, out: &mut self.out };
            self.ctx.write(&mut io, message).map_err(|_| SendRefused::Closed)?;
        }
        Ok(())
    }

    /// Starts a graceful close with `code`; the peer's reply (or a timeout) ends it.
    pub(crate) fn close(&mut self, code: u16, why: &str) {
        if self.reason.is_none() {
            self.queue_close(CloseCode::from(code), why);
            self.reason = Some(CloseReason::Local(code));
        }
    }

    /// Ends the connection now without a handshake (timeouts, shutdown deadline).
    pub(crate) fn abort(&mut self, reason: CloseReason) {
        self.reason.get_or_insert(reason);
        self.finished = true;
        self.out_pos = self.out.len();
    }

    fn queue_close(&mut self, code: CloseCode, why: &str) {
        // The close frame may pass the cap by at most the headroom.
        if self.queued() > self.max_out + CLOSE_HEADROOM {
            return;
        }
        self.compact();
        let mut sink = io::empty();
        let mut io = Io { stream: &mut sink, out: &mut self.out };
        let frame = CloseFrame { code, reason: why.into() };
        let _ = self.ctx.close(&mut io, Some(frame));
    }

    /// Sends a ping (keep-alive probe).
    pub(crate) fn ping(&mut self) {
        if self.reason.is_none() && self.queued() < self.max_out {
            let mut sink = io::empty();
            let mut io = Io { stream: &mut sink, out: &mut self.out };
            let _ = self.ctx.write(&mut io, Message::Ping(Bytes::new()));
        }
    }

    /// Writes queued bytes until the socket refuses more. `Ok(true)` when nothing is
    /// left; an error means the connection is lost.
    pub(crate) fn flush<S: Write>(&mut self, stream: &mut S) -> io::Result<bool> {
        while self.out_pos < self.out.len() {
            match stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.abort(CloseReason::Reset);
                    return Err(e);
                }
            }
        }
        self.out.clear();
        self.out_pos = 0;
        if self.out.capacity() > KEEP_CAPACITY {
            self.out.shrink_to(KEEP_CAPACITY);
        }
        Ok(true)
    }

    /// Returns idle buffers to the allocator.
    pub(crate) fn trim(&mut self) {
        if self.queued() == 0 {
            self.out = Vec::new();
            self.out_pos = 0;
        }
        if self.inbox.is_empty() && self.inbox.capacity() > 0 {
            self.inbox = VecDeque::new();
        }
    }

    /// Drops sent bytes from the front once they outweigh what is left.
    fn compact(&mut self) {
        if self.out_pos > 0 && self.out_pos >= self.out.len() / 2 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
    }
}
