//! HTTP/2 messages: a decoded header list becomes a [`Request`] (with the checks RFC
//! 9113 §8 asks for), and a [`Response`] becomes a header block.

use loona_hpack::Encoder;

use crate::request::{decode_component, Headers, Method, Request};
use crate::response::Response;

/// Why a header list does not make a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not a well-formed HTTP/2 request: the stream is reset with PROTOCOL_ERROR.
    Malformed,
    /// Well-formed but refused with this status (431 too many headers, 501 method).
    Status(u16),
}

/// A request from the header list, its raw path (for routing) and its announced body
/// length.
pub(crate) struct Parts {
    pub(crate) request: Request,
    pub(crate) raw_path: String,
    pub(crate) content_length: Option<u64>,
}

/// Headers that belong to one HTTP/1.1 connection and are malformed in HTTP/2.
const CONNECTION_SPECIFIC: [&[u8]; 5] =
    [b"connection", b"proxy-connection", b"keep-alive", b"transfer-encoding", b"upgrade"];

/// Builds the request from `fields` (name, value) in block order; `max_headers` bounds
/// the regular fields.
pub(crate) fn request(fields: &[(Vec<u8>, Vec<u8>)], max_headers: usize) -> Result<Parts, Refusal> {
    let (mut method, mut scheme, mut path, mut authority) = (None, None, None, None);
    let mut regular: Vec<(&str, &[u8])> = Vec::with_capacity(fields.len());
    let mut cookies: Vec<&[u8]> = Vec::new();
    let mut content_length = None;
    for (name, value) in fields {
        if value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n')
            || value.first().is_some_and(|b| b.is_ascii_whitespace())
            || value.last().is_some_and(|b| b.is_ascii_whitespace())
        {
            return Err(Refusal::Malformed);
        }
        if let Some(pseudo) = name.strip_prefix(b":") {
            // Pseudo-headers come first, once each.
            if !regular.is_empty() || !cookies.is_empty() {
                return Err(Refusal::Malformed);
            }
            let slot = match pseudo {
                b"method" => &mut method,
                b"scheme" => &mut scheme,
                b"path" => &mut path,
                b"authority" => &mut authority,
                _ => return Err(Refusal::Malformed),
            };
            if slot.replace(value.as_slice()).is_some() {
                return Err(Refusal::Malformed);
            }
            continue;
        }
        let Ok(name) = std::str::from_utf8(name) else { return Err(Refusal::Malformed) };
        if name.is_empty() || !name.bytes().all(is_lower_token) || CONNECTION_SPECIFIC.contains(&name.as_bytes()) {
            return Err(Refusal::Malformed);
        }
        match name {
            "te" if value.as_slice() != b"trailers" => return Err(Refusal::Malformed),
            "cookie" => {
                cookies.push(value);
                continue;
            }
            "content-length" => {
                let n = std::str::from_utf8(value).ok().filter(|v| v.bytes().all(|b| b.is_ascii_digit()));
                let n = n.and_then(|v| v.parse::<u64>().ok()).ok_or(Refusal::Malformed)?;
                if content_length.replace(n).is_some_and(|old| old != n) {
                    return Err(Refusal::Malformed);
                }
            }
            _ => {}
        }
        regular.push((name, value));
    }
    let method = method.ok_or(Refusal::Malformed)?;
    if method == b"CONNECT" {
        return Err(Refusal::Status(501));
    }
    let (Some(_), Some(target)) = (scheme, path) else { return Err(Refusal::Malformed) };
    let target = std::str::from_utf8(target).map_err(|_| Refusal::Malformed)?;
    if !(target.starts_with('/') || (target == "*" && method == b"OPTIONS")) {
        return Err(Refusal::Malformed);
    }
    if regular.len() + usize::from(!cookies.is_empty()) > max_headers {
        return Err(Refusal::Status(431));
    }
    let method = std::str::from_utf8(method).ok().and_then(Method::parse).ok_or(Refusal::Status(501))?;
    // Handlers read the host from `Host`, as in HTTP/1.1.
    let host = authority.filter(|_| !regular.iter().any(|(n, _)| *n == "host"));
    let cookie = cookies.join(&b"; "[..]);
    let headers = Headers::from_pairs(
        host.map(|h| ("host", h))
            .into_iter()
            .chain(regular.iter().copied())
            .chain((!cookies.is_empty()).then_some(("cookie", cookie.as_slice()))),
    );
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let request = Request {
        method,
        path: decode_component(raw_path, false),
        raw_query: raw_query.to_string(),
        headers,
        body: Vec::new(),
        params: Default::default(),
        http10: false,
        peer: None,
    };
    Ok(Parts { request, raw_path: raw_path.to_string(), content_length })
}

/// A lower-case token character (RFC 9110 §5.6.2).
fn is_lower_token(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// Whether a response with `status` has no body.
pub(crate) fn bodyless(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

/// Encodes the response's header block: `:status`, its headers in lower case (less the
/// HTTP/1.1 connection headers and any with a line break) and `content-length`. A
/// pending dynamic table size change (`table_update`: the smallest size since the last
/// block, then the last) is announced first.
pub(crate) fn response_block(
    encoder: &mut Encoder<'static>,
    table_update: Option<(usize, usize)>,
    response: &Response,
) -> Vec<u8> {
    let mut block = Vec::with_capacity(64);
    if let Some((smallest, last)) = table_update {
        // Dynamic table size updates: `001` and a 5-bit-prefix integer (RFC 7541 §6.3).
        if smallest < last {
            let _ = loona_hpack::encoder::encode_integer_into(smallest, 5, 0x20, &mut block);
        }
        let _ = loona_hpack::encoder::encode_integer_into(last, 5, 0x20, &mut block);
    }
    let status = response.status.to_string();
    let _ = encoder.encode_header_into((b":status", status.as_bytes()), &mut block);
    let mut name = Vec::new();
    for (n, v) in &response.headers {
        if n.bytes().chain(v.bytes()).any(|b| b == b'\r' || b == b'\n' || b == 0) {
            continue;
        }
        name.clear();
        name.extend(n.bytes().map(|b| b.to_ascii_lowercase()));
        if name == b"content-length" || CONNECTION_SPECIFIC.contains(&name.as_slice()) {
            continue;
        }
        let _ = encoder.encode_header_into((&name, v.as_bytes()), &mut block);
    }
    if !bodyless(response.status) {
        let length = response.body.len().to_string();
        let _ = encoder.encode_header_into((b"content-length", length.as_bytes()), &mut block);
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![(":method", "POST"), (":scheme", "https"), (":path", "/v2/rpc/a%20b?x=1"), (":authority", "game.example")]
    }

    #[test]
    fn a_request_from_its_fields() {
        let mut list = base();
        list.extend([("cookie", "a=1"), ("content-length", "3"), ("cookie", "b=2"), ("x-id", "7")]);
        let parts = request(&fields(&list), 64).ok().unwrap();
        assert_eq!(parts.request.method, Method::Post);
        assert_eq!(parts.request.path, "/v2/rpc/a b");
        assert_eq!(parts.raw_path, "/v2/rpc/a%20b");
        assert_eq!(parts.request.raw_query, "x=1");
        assert_eq!(parts.request.header("host"), Some("game.example"));
        assert_eq!(parts.request.header("cookie"), Some("a=1; b=2"));
        assert_eq!(parts.content_length, Some(3));
    }

    #[test]
    fn malformed_requests_are_refused() {
        let cases: Vec<Vec<(&str, &str)>> = vec![
            vec![(":method", "GET"), (":path", "/")], // no scheme
            vec![(":method", "GET"), (":scheme", "http"), (":path", "/"), (":path", "/")], // twice
            vec![(":scheme", "http"), (":path", "/"), ("x", "1"), (":method", "GET")], // pseudo after regular
            vec![(":method", "GET"), (":scheme", "http"), (":path", "/"), ("X-Up", "1")], // upper case
            vec![(":method", "GET"), (":scheme", "http"), (":path", "/"), ("connection", "close")],
            vec![(":method", "GET"), (":scheme", "http"), (":path", "/"), ("te", "gzip")],
            vec![(":method", "GET"), (":scheme", "http"), (":path", "/"), (":status", "200")],
            vec![(":method", "GET"), (":scheme", "http"), (":path", "relative")],
            vec![(":method", "GET"), (":scheme", "http"), (":path", "/"), ("a", " padded")],
            vec![
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("content-length", "1"),
                ("content-length", "2"),
            ],
        ];
        for case in cases {
            assert_eq!(request(&fields(&case), 64).err(), Some(Refusal::Malformed), "{case:?}");
        }
        let connect = [(":method", "CONNECT"), (":authority", "a:1")];
        assert_eq!(request(&fields(&connect), 64).err(), Some(Refusal::Status(501)));
        let mut many = base();
        many.extend([("a", "1"), ("b", "2"), ("c", "3")]);
        assert_eq!(request(&fields(&many), 2).err(), Some(Refusal::Status(431)));
    }

    #[test]
    fn responses_encode_and_decode() {
        let mut encoder = Encoder::new();
        let response =
            Response::json(&serde_json::json!({"a": 1})).header("Connection", "close").header("X-Trace", "t");
        let block = response_block(&mut encoder, Some((0, 0)), &response);
        let mut decoder = loona_hpack::Decoder::new();
        let got = decoder.decode(&block).unwrap();
        let got: Vec<(String, String)> =
            got.into_iter().map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap())).collect();
        let want =
            [(":status", "200"), ("content-type", "application/json"), ("x-trace", "t"), ("content-length", "7")];
        assert_eq!(got, want.map(|(n, v)| (n.to_string(), v.to_string())));
    }
}
