//! Responses: status, headers, body, and their bytes on the wire.

/// A response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers besides `Content-Length`, `Connection` and `Date`-free framing, which the
    /// server writes.
    pub headers: Vec<(String, String)>,
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
            Ok(body) => Response::with_body(status, "application/json", body),
            Err(_) => Response::text(500, "response did not serialize"),
        }
    }

    /// `status` with a plain-text body.
    pub fn text(status: u16, text: &str) -> Self {
        Response::with_body(status, "text/plain; charset=utf-8", text.as_bytes())
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
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
        use std::io::Write;
        let _ = write!(out, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (n, v) in &self.headers {
            // A header value with a line break would split the response: drop it.
            if n.bytes().chain(v.bytes()).any(|b| b == b'\r' || b == b'\n') {
                continue;
            }
            let _ = write!(out, "{n}: {v}\r\n");
        }
        let bodyless = self.status < 200 || self.status == 204 || self.status == 304;
        if !bodyless {
            let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
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

/// The reason phrase of `status`.
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
