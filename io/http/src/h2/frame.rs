//! HTTP/2 frames (RFC 9113 §4, §6): the 9-byte header, the type and error codes, and
//! writers for the frames the server sends. Reading is in `conn.rs`, frame by frame.

/// The 24 bytes a client sends first.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Frame header length.
pub(crate) const HEADER_LEN: usize = 9;
/// The frame size every peer must accept (SETTINGS_MAX_FRAME_SIZE's initial value); the
/// server never announces more.
pub(crate) const DEFAULT_MAX_FRAME: usize = 16_384;
/// The initial window of a connection and of a stream (RFC 9113 §6.9.2).
pub(crate) const DEFAULT_WINDOW: i64 = 65_535;
/// The largest window flow control allows.
pub(crate) const MAX_WINDOW: i64 = (1 << 31) - 1;

pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const PRIORITY: u8 = 0x2;
pub(crate) const RST_STREAM: u8 = 0x3;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PUSH_PROMISE: u8 = 0x5;
pub(crate) const PING: u8 = 0x6;
pub(crate) const GOAWAY: u8 = 0x7;
pub(crate) const WINDOW_UPDATE: u8 = 0x8;
pub(crate) const CONTINUATION: u8 = 0x9;

pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const ACK: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;
pub(crate) const PADDED: u8 = 0x8;
pub(crate) const PRIORITY_FLAG: u8 = 0x20;

pub(crate) const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub(crate) const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub(crate) const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub(crate) const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub(crate) const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
pub(crate) const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// Error codes (RFC 9113 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    NoError = 0x0,
    Protocol = 0x1,
    FlowControl = 0x3,
    StreamClosed = 0x5,
    FrameSize = 0x6,
    RefusedStream = 0x7,
    Compression = 0x9,
    EnhanceYourCalm = 0xb,
}

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) len: usize,
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
}

impl Head {
    /// The header at the start of `buf`, if 9 bytes are there.
    pub(crate) fn parse(buf: &[u8]) -> Option<Head> {
        let b: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Head {
            len: usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]),
            kind: b[3],
            flags: b[4],
            // The reserved high bit is ignored on receipt.
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        })
    }
}

/// Appends a frame header.
pub(crate) fn head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    debug_assert!(len < 1 << 24);
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
}

/// Appends a SETTINGS frame with `values`.
pub(crate) fn settings(out: &mut Vec<u8>, values: &[(u16, u32)]) {
    head(out, values.len() * 6, SETTINGS, 0, 0);
    for &(id, v) in values {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// Appends a SETTINGS acknowledgement.
pub(crate) fn settings_ack(out: &mut Vec<u8>) {
    head(out, 0, SETTINGS, ACK, 0);
}

/// Appends a WINDOW_UPDATE for `stream` (0: the connection).
pub(crate) fn window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    head(out, 4, WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&(increment & 0x7fff_ffff).to_be_bytes());
}

/// Appends a RST_STREAM.
pub(crate) fn rst_stream(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    head(out, 4, RST_STREAM, 0, stream);
    out.extend_from_slice(&(code as u32).to_be_bytes());
}

/// Appends a GOAWAY naming the last stream the server processed.
pub(crate) fn goaway(out: &mut Vec<u8>, last_stream: u32, code: ErrorCode, debug: &str) {
    head(out, 8 + debug.len(), GOAWAY, 0, 0);
    out.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&(code as u32).to_be_bytes());
    out.extend_from_slice(debug.as_bytes());
}

/// Appends a PING acknowledgement echoing `payload`.
pub(crate) fn ping_ack(out: &mut Vec<u8>, payload: &[u8; 8]) {
    head(out, 8, PING, ACK, 0);
    out.extend_from_slice(payload);
}

/// Appends a header block as HEADERS plus CONTINUATION frames of at most `max_frame`
/// bytes each.
pub(crate) fn header_block(out: &mut Vec<u8>, stream: u32, block: &[u8], end_stream: bool, max_frame: usize) {
    let mut chunks = block.chunks(max_frame.max(1));
    let first = chunks.next().unwrap_or(&[]);
    let rest = block.len() > first.len();
    let flags = if end_stream { END_STREAM } else { 0 } | if rest { 0 } else { END_HEADERS };
    head(out, first.len(), HEADERS, flags, stream);
    out.extend_from_slice(first);
    let mut chunks = chunks.peekable();
    while let Some(chunk) = chunks.next() {
        let flags = if chunks.peek().is_none() { END_HEADERS } else { 0 };
        head(out, chunk.len(), CONTINUATION, flags, stream);
        out.extend_from_slice(chunk);
    }
}

/// Appends one DATA frame.
pub(crate) fn data(out: &mut Vec<u8>, stream: u32, bytes: &[u8], end_stream: bool) {
    head(out, bytes.len(), DATA, if end_stream { END_STREAM } else { 0 }, stream);
    out.extend_from_slice(bytes);
}

/// A frame's payload without its padding (PADDED flag: a length byte first, then that
/// many bytes at the end). `None`: the padding is longer than the frame.
pub(crate) fn unpad(flags: u8, payload: &[u8]) -> Option<&[u8]> {
    if flags & PADDED == 0 {
        return Some(payload);
    }
    let (&pad, rest) = payload.split_first()?;
    rest.len().checked_sub(usize::from(pad)).map(|end| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let mut out = Vec::new();
        head(&mut out, 0x12_3456, HEADERS, END_HEADERS, 0x8000_0003);
        assert_eq!(Head::parse(&out), Some(Head { len: 0x12_3456, kind: HEADERS, flags: END_HEADERS, stream: 3 }));
        assert_eq!(Head::parse(&out[..8]), None);
    }

    #[test]
    fn header_blocks_split_into_continuations() {
        let mut out = Vec::new();
        header_block(&mut out, 1, &[7u8; 25], true, 10);
        let sizes: Vec<(usize, u8, u8)> = {
            let mut at = 0;
            let mut v = Vec::new();
            while let Some(h) = Head::parse(&out[at..]) {
                v.push((h.len, h.kind, h.flags));
                at += HEADER_LEN + h.len;
            }
            v
        };
        assert_eq!(sizes, vec![(10, HEADERS, END_STREAM), (10, CONTINUATION, 0), (5, CONTINUATION, END_HEADERS)]);
    }

    #[test]
    fn padding_is_checked() {
        assert_eq!(unpad(PADDED, &[2, b'a', b'b', 0, 0]), Some(&b"ab"[..]));
        assert_eq!(unpad(PADDED, &[5, b'a']), None);
        assert_eq!(unpad(PADDED, &[]), None);
        assert_eq!(unpad(0, b"x"), Some(&b"x"[..]));
    }
}
