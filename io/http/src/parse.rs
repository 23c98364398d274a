//! Request framing: the head (httparse), then the body by Content-Length or chunked
//! encoding, with the limits that answer 400, 413, 431 and 501. Pure, so fuzzable.

use httparse::Status;

use crate::request::{decode_component, Headers, Method, Request};
use crate::HttpConfig;

/// What the bytes at the start of a buffer hold.
// Returned once per request and taken apart at once: boxing the request would cost an
// allocation per request to save a move of some 200 bytes.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Outcome {
    /// A complete request of `consumed` bytes, its raw path (for routing), and whether
    /// to keep the connection open after answering.
    Request { request: Request, raw_path: String, keep_alive: bool, consumed: usize },
    /// More bytes are needed; the head asked for `100 Continue` before its body.
    Incomplete { expects_continue: bool },
    /// The request is broken: answer with this status and close.
    Error(u16),
}

/// Parses the request at the start of `buf`.
pub(crate) fn parse_request(buf: &[u8], cfg: &HttpConfig) -> Outcome {
    if buf.is_empty() {
        return Outcome::Incomplete { expects_continue: false };
    }
    // On the stack for the usual limit; a larger configured limit takes the heap.
    let mut stack = [httparse::EMPTY_HEADER; 64];
    let mut heap = Vec::new();
    let headers: &mut [httparse::Header<'_>] = if cfg.max_headers <= stack.len() {
        &mut stack[..cfg.max_headers]
    } else {
        heap.resize(cfg.max_headers, httparse::EMPTY_HEADER);
        &mut heap
    };
    let mut req = httparse::Request::new(headers);
    let head_len = match req.parse(buf) {
        Ok(Status::Complete(n)) if n > cfg.max_header_bytes => return Outcome::Error(431),
        Ok(Status::Complete(n)) => n,
        Ok(Status::Partial) if buf.len() > cfg.max_header_bytes => return Outcome::Error(431),
        Ok(Status::Partial) => return Outcome::Incomplete { expects_continue: false },
        Err(httparse::Error::TooManyHeaders) => return Outcome::Error(431),
        Err(_) => return Outcome::Error(400),
    };
    let http10 = req.version == Some(0);
    let Some(method) = req.method.and_then(Method::parse) else { return Outcome::Error(501) };
    let raw_target = req.path.unwrap_or("");
    if !raw_target.starts_with('/') {
        return Outcome::Error(400);
    }
    let (raw_path, raw_query) = raw_target.split_once('?').unwrap_or((raw_target, ""));
    let headers = Headers::from_pairs(req.headers.iter().map(|h| (h.name, h.value)));
    let header = |name: &'static str| headers.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v);
    // Framing: one agreed Content-Length, or chunked, never both (request smuggling).
    let length = {
        let mut lengths = header("content-length");
        match lengths.next() {
            None => None,
            Some(v) => match parse_length(v) {
                Some(n) if lengths.all(|o| parse_length(o) == Some(n)) => Some(n),
                _ => return Outcome::Error(400),
            },
        }
    };
    let chunked = {
        let mut te = header("transfer-encoding");
        match (te.next(), te.next()) {
            (None, _) => false,
            (Some(v), None) if v.trim_ascii().eq_ignore_ascii_case(b"chunked") => true,
            _ => return Outcome::Error(501),
        }
    };
    if chunked && length.is_some() {
        return Outcome::Error(400);
    }
    let (body, consumed) = if chunked {
        match decode_chunked(&buf[head_len..], cfg.max_body_bytes, cfg.max_header_bytes) {
            Ok(Some((body, n))) => (body, head_len + n),
            Ok(None) => return Outcome::Incomplete { expects_continue: expects_continue(&headers, http10) },
            Err(status) => return Outcome::Error(status),
        }
    } else {
        let n = length.unwrap_or(0);
        if n > cfg.max_body_bytes as u64 {
            return Outcome::Error(413);
        }
        let end = head_len + n as usize;
        if buf.len() < end {
            return Outcome::Incomplete { expects_continue: expects_continue(&headers, http10) };
        }
        (buf[head_len..end].to_vec(), end)
    };
    let connection = headers.get("connection").map(<[u8]>::to_ascii_lowercase);
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
        peer: None,
    };
    Outcome::Request { request, raw_path: raw_path.to_string(), keep_alive, consumed }
}

/// Whether the client waits for `100 Continue` before sending its body.
fn expects_continue(headers: &Headers, http10: bool) -> bool {
    !http10 && headers.iter().any(|(n, v)| n == "expect" && v.eq_ignore_ascii_case(b"100-continue"))
}

fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Longest chunk-size line (the size and its extensions, which nobody needs long).
const MAX_CHUNK_LINE: usize = 1024;

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|t| t.trim_ascii() == token)
}

/// Decodes a chunked body at the start of `buf`: `Ok(Some((body, bytes used)))`, or
/// `Ok(None)` while incomplete; an error status if it is malformed (400), too large
/// (413), or its chunk-size lines or trailers outgrow what a head may be (400, 431):
/// those are capped by size, not only by the request timeout.
fn decode_chunked(buf: &[u8], max: usize, max_head: usize) -> Result<Option<(Vec<u8>, usize)>, u16> {
    let mut at = 0;
    let mut body = Vec::new();
    loop {
        let (n, size) = match httparse::parse_chunk_size(&buf[at..]) {
            Ok(Status::Complete(c)) if c.0 <= MAX_CHUNK_LINE => c,
            Ok(Status::Partial) if buf.len() - at <= MAX_CHUNK_LINE => return Ok(None),
            _ => return Err(400),
        };
        at += n;
        if size == 0 {
            // Trailers (ignored) up to an empty line, no larger than a head.
            let trailers = at;
            loop {
                let Some(end) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
                    return if buf.len() - trailers > max_head { Err(431) } else { Ok(None) };
                };
                at += end + 2;
                if at - trailers > max_head {
                    return Err(431);
                }
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
