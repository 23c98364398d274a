//! A parsed request: method, path, query, headers, body and the router's path
//! parameters.

use std::collections::HashMap;

/// An HTTP request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl Method {
    /// The method for `name`, if it is one the server serves.
    pub fn parse(name: &str) -> Option<Method> {
        Some(match name {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => return None,
        })
    }

    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }
}

/// A request's headers: names lower-cased, in arrival order, all in one buffer (one
/// allocation however many headers a browser sends).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    bytes: Vec<u8>,
    /// Per header: where its name ends and its value ends in `bytes`.
    ends: Vec<(u32, u32)>,
}

impl Headers {
    /// Headers from `(name, value)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])> + Clone) -> Headers {
        let size = pairs.clone().into_iter().map(|(n, v)| n.len() + v.len()).sum();
        let mut h = Headers { bytes: Vec::with_capacity(size), ends: Vec::new() };
        for (name, value) in pairs {
            h.bytes.extend(name.bytes().map(|b| b.to_ascii_lowercase()));
            let name_end = h.bytes.len() as u32;
            h.bytes.extend_from_slice(value);
            h.ends.push((name_end, h.bytes.len() as u32));
        }
        h
    }

    /// Every header as (lower-case name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&(name_end, value_end)| {
            let name = &self.bytes[start..name_end as usize];
            let value = &self.bytes[name_end as usize..value_end as usize];
            start = value_end as usize;
            // Names are httparse tokens: ASCII.
            (std::str::from_utf8(name).unwrap_or(""), value)
        })
    }

    /// The first value of `name` (any case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// How many headers.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// A complete request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The path, percent-decoded, without the query.
    pub path: String,
    /// The raw query string (after `?`), undecoded.
    pub raw_query: String,
    /// The headers, in arrival order.
    pub headers: Headers,
    /// The body (`Content-Length` or chunked, decoded).
    pub body: Vec<u8>,
    /// Path parameters the route captured (`/v2/rpc/{id}` gives `id`).
    pub params: HashMap<String, String>,
    /// HTTP/1.0 (no keep-alive unless asked for) rather than HTTP/1.1.
    pub http10: bool,
    /// The client's address (for per-client limits), when the server knows it.
    pub peer: Option<std::net::SocketAddr>,
}

impl Request {
    /// The first header named `name` (case-insensitive), if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| std::str::from_utf8(v).ok()).map(str::trim)
    }

    /// The path parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The first query parameter `name`, percent-decoded (`+` is a space).
    pub fn query(&self, name: &str) -> Option<String> {
        self.query_pairs().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Every query parameter, percent-decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.raw_query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode_component(k, true), decode_component(v, true))
            })
            .collect()
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// Percent-decodes `s` (and `+` as a space when `plus` is set). Invalid escapes are kept
/// as written; invalid UTF-8 becomes U+FFFD.
pub fn decode_component(s: &str, plus: bool) -> String {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || (plus && b == b'+')) {
        return s.to_string();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: Option<&u8>) -> Option<u8> {
    match b? {
        c @ b'0'..=b'9' => Some(c - b'0'),
        c @ b'a'..=b'f' => Some(c - b'a' + 10),
        c @ b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
