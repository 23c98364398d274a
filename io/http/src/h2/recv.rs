//! Frames from the client, one at a time, with the checks RFC 9113 §5-6 asks for: a
//! connection error ends the connection with GOAWAY, a stream error resets the stream.

use std::time::Instant;

use super::frame::{self, ErrorCode, Head, HEADER_LEN, PREFACE};
use super::message::{self, Refusal};
use super::{shift_window, Incoming, Ready, H2, OUTPUT_HIGH, TABLE_SIZE};

pub(super) fn receive(h2: &mut H2, input: &[u8], now: Instant) -> usize {
    let mut at = 0;
    if !h2.preface_seen {
        let n = input.len().min(PREFACE.len());
        if input[..n] != PREFACE[..n] {
            h2.fail(ErrorCode::Protocol, "not the HTTP/2 preface");
            return input.len();
        }
        if n < PREFACE.len() {
            return 0;
        }
        h2.preface_seen = true;
        at = PREFACE.len();
    }
    while h2.failed.is_none() && h2.control.len() < OUTPUT_HIGH {
        let Some(head) = Head::parse(&input[at..]) else { break };
        if head.len > frame::DEFAULT_MAX_FRAME {
            h2.fail(ErrorCode::FrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE");
            break;
        }
        let end = at + HEADER_LEN + head.len;
        if input.len() < end {
            break;
        }
        on_frame(h2, head, &input[at + HEADER_LEN..end], now);
        at = end;
    }
    if h2.failed.is_some() {
        return input.len();
    }
    at
}

fn on_frame(h2: &mut H2, head: Head, payload: &[u8], now: Instant) {
    if !h2.settings_seen {
        if head.kind != frame::SETTINGS || head.flags & frame::ACK != 0 {
            return h2.fail(ErrorCode::Protocol, "the preface must be followed by SETTINGS");
        }
        h2.settings_seen = true;
    }
    if let Some((stream, _, _)) = &h2.block {
        if head.kind != frame::CONTINUATION || head.stream != *stream {
            return h2.fail(ErrorCode::Protocol, "a header block was interrupted");
        }
    }
    match head.kind {
        frame::DATA => on_data(h2, head, payload),
        frame::HEADERS => on_headers(h2, head, payload, now),
        frame::PRIORITY => {
            if head.stream == 0 {
                return h2.fail(ErrorCode::Protocol, "PRIORITY on stream 0");
            }
            if payload.len() != 5 {
                return reset(h2, head.stream, ErrorCode::FrameSize);
            }
            h2.idle_frame();
        }
        frame::RST_STREAM => on_reset(h2, head, payload),
        frame::SETTINGS => on_settings(h2, head, payload),
        frame::PUSH_PROMISE => h2.fail(ErrorCode::Protocol, "clients do not push"),
        frame::PING => {
            if head.stream != 0 {
                return h2.fail(ErrorCode::Protocol, "PING on a stream");
            }
            let Ok(data) = <&[u8; 8]>::try_from(payload) else {
                return h2.fail(ErrorCode::FrameSize, "PING is 8 bytes");
            };
            if head.flags & frame::ACK == 0 {
                frame::ping_ack(&mut h2.control, data);
            }
        }
        frame::GOAWAY => {
            if head.stream != 0 {
                return h2.fail(ErrorCode::Protocol, "GOAWAY on a stream");
            }
            if payload.len() < 8 {
                return h2.fail(ErrorCode::FrameSize, "GOAWAY is at least 8 bytes");
            }
            h2.goaway_received = true;
        }
        frame::WINDOW_UPDATE => on_window_update(h2, head, payload),
        frame::CONTINUATION => on_continuation(h2, head, payload, now),
        // Unknown frame types are ignored (RFC 9113 §4.1), within the idle budget.
        _ => h2.idle_frame(),
    }
}

/// A stream the client has not opened yet (streams open in increasing order).
fn is_idle(h2: &H2, stream: u32) -> bool {
    stream > h2.last_stream
}

/// Resets `stream` from the server's side. A stream whose answer had not gone out counts
/// as wasted: a client that provokes resets after its requests were dispatched
/// ("MadeYouReset") gets no more handlers than one that resets them itself.
fn reset(h2: &mut H2, stream: u32, code: ErrorCode) {
    frame::rst_stream(&mut h2.control, stream, code);
    h2.drop_incoming(stream);
    if let Some(s) = h2.streams.get_mut(&stream) {
        s.reset = true;
        if !s.finished {
            h2.wasted += 1;
        }
        h2.release(stream);
        h2.check_waste();
    }
}

fn on_data(h2: &mut H2, head: Head, payload: &[u8]) {
    if head.stream == 0 || is_idle(h2, head.stream) {
        return h2.fail(ErrorCode::Protocol, "DATA on a stream not open");
    }
    // Flow control counts the whole payload, padding too.
    let len = payload.len() as i64;
    h2.recv_window -= len;
    if h2.recv_window < 0 {
        return h2.fail(ErrorCode::FlowControl, "DATA beyond the connection window");
    }
    h2.recv_unacked += payload.len() as u32;
    let Some(data) = frame::unpad(head.flags, payload) else {
        return h2.fail(ErrorCode::Protocol, "padding longer than the frame");
    };
    let end_stream = head.flags & frame::END_STREAM != 0;
    if data.is_empty() && !end_stream {
        h2.idle_frame();
    }
    let id = head.stream;
    let max_body = h2.max_body_bytes;
    let Some(s) = h2.streams.get_mut(&id) else {
        // A stream already closed here (answered or reset): its bytes still count.
        return h2.grant(id);
    };
    if s.remote_closed {
        h2.idle_frame();
        return reset(h2, id, ErrorCode::StreamClosed);
    }
    s.recv_window -= len;
    if s.recv_window < 0 {
        return reset(h2, id, ErrorCode::FlowControl);
    }
    s.recv_unacked += payload.len() as u32;
    s.remote_closed = end_stream;
    let mut verdict = None;
    if let Some(incoming) = &mut s.incoming {
        let total = incoming.request.body.len() + data.len();
        if total > max_body {
            verdict = Some(Err(413));
        } else if h2.body_bytes + data.len() > max_body.max(super::WINDOW as usize) {
            // Bodies arriving on several streams at once may hold no more than one
            // largest body: this one is refused, to be sent again later.
            verdict = Some(Err(503));
        } else if incoming.content_length.is_some_and(|n| total as u64 > n || (end_stream && total as u64 != n)) {
            verdict = Some(Ok(ErrorCode::Protocol));
        } else {
            incoming.request.body.extend_from_slice(data);
            h2.body_bytes += data.len();
        }
    }
    match verdict {
        Some(Err(status)) => h2.answer(id, status),
        Some(Ok(code)) => reset(h2, id, code),
        None if end_stream => dispatch(h2, id),
        None => {}
    }
    h2.grant(id);
}

/// The request on `stream` is whole: hand it to the router.
fn dispatch(h2: &mut H2, stream: u32) {
    let Some(s) = h2.streams.get_mut(&stream) else { return };
    let Some(incoming) = s.incoming.take() else { return };
    h2.body_bytes -= incoming.request.body.len();
    s.handler_running = true;
    h2.ready.push(Ready { stream, request: incoming.request, raw_path: incoming.raw_path });
}

fn on_headers(h2: &mut H2, head: Head, payload: &[u8], now: Instant) {
    if head.stream == 0 {
        return h2.fail(ErrorCode::Protocol, "HEADERS on stream 0");
    }
    let Some(mut fragment) = frame::unpad(head.flags, payload) else {
        return h2.fail(ErrorCode::Protocol, "padding longer than the frame");
    };
    if head.flags & frame::PRIORITY_FLAG != 0 {
        let Some(rest) = fragment.get(5..) else {
            return h2.fail(ErrorCode::FrameSize, "HEADERS too short for its priority");
        };
        fragment = rest;
    }
    let end_stream = head.flags & frame::END_STREAM != 0;
    if head.flags & frame::END_HEADERS != 0 {
        on_header_block(h2, head.stream, end_stream, fragment, now);
    } else {
        if fragment.len() > h2.max_header_bytes {
            return h2.fail(ErrorCode::EnhanceYourCalm, "header block too large");
        }
        h2.block = Some((head.stream, end_stream, fragment.to_vec()));
    }
}

fn on_continuation(h2: &mut H2, head: Head, payload: &[u8], now: Instant) {
    let Some((stream, end_stream, mut block)) = h2.block.take() else {
        return h2.fail(ErrorCode::Protocol, "CONTINUATION without HEADERS");
    };
    if block.len() + payload.len() > h2.max_header_bytes {
        return h2.fail(ErrorCode::EnhanceYourCalm, "header block too large");
    }
    block.extend_from_slice(payload);
    if head.flags & frame::END_HEADERS != 0 {
        on_header_block(h2, stream, end_stream, &block, now);
    } else {
        h2.block = Some((stream, end_stream, block));
    }
}

/// A whole header block: decoded always (the compression state is shared by every
/// stream), then a new request, trailers, or a refusal.
fn on_header_block(h2: &mut H2, id: u32, end_stream: bool, block: &[u8], now: Instant) {
    let mut fields = Vec::new();
    let mut size = 0usize;
    let limit = h2.max_header_bytes;
    let decoded = h2.decoder.decode(block, |name, value| {
        // RFC 9113 §6.5.2 counts 32 bytes per field besides its name and value.
        size += name.len() + value.len() + 32;
        if size <= limit {
            fields.push((name.to_vec(), value.to_vec()));
        }
    });
    if decoded.is_err() {
        return h2.fail(ErrorCode::Compression, "header block does not decode");
    }
    if let Some(s) = h2.streams.get(&id) {
        // Trailers: they end the request; their fields are not passed on.
        if s.remote_closed || s.incoming.is_none() || !end_stream {
            return reset(h2, id, ErrorCode::Protocol);
        }
        if s.incoming.as_ref().is_some_and(|i| i.content_length.is_some_and(|n| n != i.request.body.len() as u64)) {
            return reset(h2, id, ErrorCode::Protocol);
        }
        if let Some(s) = h2.streams.get_mut(&id) {
            s.remote_closed = true;
        }
        return dispatch(h2, id);
    }
    if id % 2 == 0 {
        return h2.fail(ErrorCode::Protocol, "HEADERS on a server stream");
    }
    if !is_idle(h2, id) {
        // A stream closed here (reset or answered): late trailers are dropped, now that
        // their block has updated the decoder.
        return h2.idle_frame();
    }
    h2.last_stream = id;
    if h2.goaway_sent {
        return; // streams after GOAWAY are ignored
    }
    if h2.streams.len() >= super::MAX_STREAMS {
        frame::rst_stream(&mut h2.control, id, ErrorCode::RefusedStream);
        h2.wasted += 1;
        return h2.check_waste();
    }
    let mut stream = h2.new_stream(now);
    stream.remote_closed = end_stream;
    h2.streams.insert(id, stream);
    let parts = if size > limit { Err(Refusal::Status(431)) } else { message::request(&fields, h2.max_headers) };
    let parts = match parts {
        Ok(parts) => parts,
        Err(Refusal::Status(status)) => return h2.answer(id, status),
        Err(Refusal::Malformed) => return reset(h2, id, ErrorCode::Protocol),
    };
    if parts.content_length.is_some_and(|n| n > h2.max_body_bytes as u64) {
        return h2.answer(id, 413);
    }
    if end_stream && parts.content_length.is_some_and(|n| n != 0) {
        return reset(h2, id, ErrorCode::Protocol);
    }
    if let Some(s) = h2.streams.get_mut(&id) {
        s.head = parts.request.method == crate::request::Method::Head;
        s.origin = parts.request.header("origin").map(str::to_string);
        s.incoming =
            Some(Incoming { request: parts.request, raw_path: parts.raw_path, content_length: parts.content_length });
    }
    if end_stream {
        dispatch(h2, id);
    }
}

fn on_reset(h2: &mut H2, head: Head, payload: &[u8]) {
    if payload.len() != 4 {
        return h2.fail(ErrorCode::FrameSize, "RST_STREAM is 4 bytes");
    }
    if head.stream == 0 || is_idle(h2, head.stream) {
        return h2.fail(ErrorCode::Protocol, "RST_STREAM on a stream not open");
    }
    h2.drop_incoming(head.stream);
    let Some(s) = h2.streams.get_mut(&head.stream) else { return };
    s.reset = true;
    // Reset before its answer went out whole: work the client asked for and threw away.
    if !s.finished {
        h2.wasted += 1;
    }
    h2.release(head.stream);
    h2.check_waste();
}

fn on_settings(h2: &mut H2, head: Head, payload: &[u8]) {
    if head.stream != 0 {
        return h2.fail(ErrorCode::Protocol, "SETTINGS on a stream");
    }
    if head.flags & frame::ACK != 0 {
        if !payload.is_empty() {
            h2.fail(ErrorCode::FrameSize, "SETTINGS acknowledgement with a payload");
        }
        return;
    }
    if payload.len() % 6 != 0 {
        return h2.fail(ErrorCode::FrameSize, "SETTINGS is a multiple of 6 bytes");
    }
    for entry in payload.chunks_exact(6) {
        let id = u16::from_be_bytes([entry[0], entry[1]]);
        let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
        match id {
            frame::SETTINGS_HEADER_TABLE_SIZE => {
                let size = (value as usize).min(TABLE_SIZE);
                h2.encoder.set_max_table_size(size);
                let smallest = h2.table_update.map_or(size, |(s, _)| s.min(size));
                h2.table_update = Some((smallest, size));
            }
            frame::SETTINGS_ENABLE_PUSH if value > 1 => {
                return h2.fail(ErrorCode::Protocol, "SETTINGS_ENABLE_PUSH is 0 or 1");
            }
            frame::SETTINGS_INITIAL_WINDOW_SIZE => {
                let value = i64::from(value);
                if value > frame::MAX_WINDOW {
                    return h2.fail(ErrorCode::FlowControl, "SETTINGS_INITIAL_WINDOW_SIZE too large");
                }
                let delta = value - h2.peer_initial_window;
                h2.peer_initial_window = value;
                for s in h2.streams.values_mut() {
                    match shift_window(s.send_window, delta) {
                        Some(w) => s.send_window = w,
                        None => return h2.fail(ErrorCode::FlowControl, "a stream window overflowed"),
                    }
                }
            }
            // The server sends frames of at most 16 KiB whatever the client allows.
            frame::SETTINGS_MAX_FRAME_SIZE if !(frame::DEFAULT_MAX_FRAME as u32..(1 << 24)).contains(&value) => {
                return h2.fail(ErrorCode::Protocol, "SETTINGS_MAX_FRAME_SIZE out of range");
            }
            // The server pushes nothing and bounds its own header lists; unknown
            // settings are ignored.
            _ => {}
        }
    }
    frame::settings_ack(&mut h2.control);
}

fn on_window_update(h2: &mut H2, head: Head, payload: &[u8]) {
    let Ok(bytes) = <[u8; 4]>::try_from(payload) else {
        return h2.fail(ErrorCode::FrameSize, "WINDOW_UPDATE is 4 bytes");
    };
    let increment = i64::from(u32::from_be_bytes(bytes) & 0x7fff_ffff);
    if head.stream == 0 {
        if increment == 0 {
            return h2.fail(ErrorCode::Protocol, "WINDOW_UPDATE of 0");
        }
        h2.send_window += increment;
        if h2.send_window > frame::MAX_WINDOW {
            h2.fail(ErrorCode::FlowControl, "connection window overflowed");
        }
        return;
    }
    if is_idle(h2, head.stream) {
        return h2.fail(ErrorCode::Protocol, "WINDOW_UPDATE on a stream not open");
    }
    let Some(s) = h2.streams.get_mut(&head.stream) else { return };
    if increment == 0 {
        return reset(h2, head.stream, ErrorCode::Protocol);
    }
    s.send_window += increment;
    if s.send_window > frame::MAX_WINDOW {
        reset(h2, head.stream, ErrorCode::FlowControl);
    }
}
