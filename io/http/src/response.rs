//! Responses: status, headers, body, and their bytes on the wire.

use std::borrow::Cow;

/// A response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers besides `Content-Length`, `Connection` and `Date`-free framing, which the
    /// server writes.
    pub headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// `status` with a body of `content_type`.
    pub fn with_body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response::new(status).header("Content-Type", content_type).body(body)
    }

    /// 200 with `value` as JSON.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Self {
        Response::json_status(200, value)
    }

    /// `status` with `value` as JSON.
    pub fn json_status<T: serde::Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response::new(status).static_header("Content-Type", "application/json").body(body),
            Err(_) => Response::text(500, "response did not serialize"),
        }
    }

    /// `status` with a plain-text body.
    pub fn text(status: u16, text: &str) -> Self {
        Response::new(status).static_header("Content-Type", "text/plain; charset=utf-8").body(text.as_bytes())
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((Cow::Owned(name.to_string()), Cow::Owned(value.to_string())));
        self
    }

    /// A header known at compile time (no allocation).
    pub fn static_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((Cow::Borrowed(name), Cow::Borrowed(value)));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Appends the response to `out`. `head` leaves the body out (a HEAD request) but
    /// keeps its length; `close` announces the connection closes after it.
    pub(crate) fn write(&self, out: &mut Vec<u8>, head: bool, close: bool) {
        // Plain byte pushes: this runs for every response, and `fmt` costs more.
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, u64::from(self.status));
        out.push(b' ');
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &self.headers {
            // A header value with a line break would split the response: drop it.
            if n.bytes().chain(v.bytes()).any(|b| b == b'\r' || b == b'\n') {
                continue;
            }
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let bodyless = self.status < 200 || self.status == 204 || self.status == 304;
        if !bodyless {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, self.body.len() as u64);
            out.extend_from_slice(b"\r\n");
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head && !bodyless {
            out.extend_from_slice(&self.body);
        }
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
