//! The opening handshake (RFC 6455 section 4): checking an upgrade request and writing
//! the 101 (or the error that says what was wrong), and the client's side of it.

use tungstenite::handshake::derive_accept_key;

/// Most headers read in a handshake.
const MAX_HEADERS: usize = 32;

/// What a server makes of an upgrade request.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// The 101 response to send (the connection is a WebSocket after it), and what it
    /// agreed to.
    Accept(Vec<u8>, Negotiated),
    /// The error response to send before closing.
    Refuse(Vec<u8>),
}

/// What a handshake agreed to beyond RFC 6455 itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Negotiated {
    /// The subprotocol chosen.
    pub protocol: Option<String>,
    /// permessage-deflate is on (RFC 7692).
    pub deflate: bool,
}

/// Checks an upgrade request given its method and a header lookup; `protocols` are the
/// server's subprotocols in its order of preference; `deflate` allows permessage-deflate.
pub(crate) fn verdict<'a>(
    method: &str,
    header: impl Fn(&str) -> Option<&'a str>,
    protocols: &[String],
    deflate: bool,
) -> Verdict {
    if method != "GET" {
        return refuse(405, "WebSocket upgrades use GET", "Allow: GET\r\n");
    }
    let has_token = |name: &str, token: &str| {
        header(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has_token("upgrade", "websocket") || !has_token("connection", "upgrade") {
        return refuse(400, "not a WebSocket upgrade", "");
    }
    if header("sec-websocket-version").map(str::trim) != Some("13") {
        return refuse(426, "unsupported WebSocket version", "Sec-WebSocket-Version: 13\r\n");
    }
    let Some(key) = header("sec-websocket-key").map(str::trim).filter(|k| valid_key(k)) else {
        return refuse(400, "missing or malformed Sec-WebSocket-Key", "");
    };
    let accept = derive_accept_key(key.as_bytes());
    let chosen = choose_protocol(header("sec-websocket-protocol"), protocols);
    let protocol_line = chosen.as_ref().map_or(String::new(), |p| format!("Sec-WebSocket-Protocol: {p}\r\n"));
    let deflate = deflate && crate::deflate::accepts(header("sec-websocket-extensions"));
    let deflate_line =
        if deflate { format!("Sec-WebSocket-Extensions: {}\r\n", crate::deflate::RESPONSE) } else { String::new() };
    Verdict::Accept(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{protocol_line}{deflate_line}\r\n"
        )
        .into_bytes(),
        Negotiated { protocol: chosen, deflate },
    )
}

/// The server's most preferred subprotocol among those the client offered
/// (`Sec-WebSocket-Protocol`, comma-separated). None when the client offered none or
/// none is supported: the 101 then names none, and a client that insists closes.
fn choose_protocol(offered: Option<&str>, supported: &[String]) -> Option<String> {
    let offered: Vec<&str> = offered?.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    supported.iter().find(|s| offered.iter().any(|o| o == s)).cloned()
}

/// A key is 16 bytes in base64: 22 characters of the alphabet and "==".
fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 24 && b[22..] == *b"==" && b[..22].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

pub(crate) fn refuse(status: u16, why: &str, extra: &str) -> Verdict {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    Verdict::Refuse(
        format!(
            "HTTP/1.1 {status} {reason}\r\n{extra}Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{why}",
            why.len()
        )
        .into_bytes(),
    )
}

/// A parsed upgrade request read straight from a socket.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The request target (path and query).
    pub target: String,
    /// Bytes the request took; anything after is early WebSocket data.
    pub len: usize,
    pub verdict: Verdict,
}

/// Parses a request from the bytes read so far: `Ok(None)` until the head is complete,
/// 431 once more than `max_bytes` have come without completing it.
pub(crate) fn parse_request(
    buf: &[u8],
    max_bytes: usize,
    protocols: &[String],
    deflate: bool,
) -> Result<Option<Parsed>, Verdict> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) if buf.len() > max_bytes => Err(refuse(431, "upgrade request too large", "")),
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(len)) => {
            if req.version != Some(1) {
                return Err(refuse(400, "WebSocket needs HTTP/1.1", ""));
            }
            let headers = &*req.headers;
            let lookup = |name: &str| {
                headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
            };
            let verdict = verdict(req.method.unwrap_or(""), lookup, protocols, deflate);
            Ok(Some(Parsed { target: req.path.unwrap_or("/").to_string(), len, verdict }))
        }
        Err(httparse::Error::TooManyHeaders) => Err(refuse(431, "too many headers", "")),
        Err(_) => Err(refuse(400, "malformed request", "")),
    }
}

/// The client's upgrade request and the key it must see answered.
pub(crate) fn client_request(host: &str, target: &str) -> (Vec<u8>, String) {
    let key = tungstenite::handshake::client::generate_key();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    );
    (request.into_bytes(), key)
}

/// Checks the server's answer: `Ok(None)` until complete, then the bytes it took.
pub(crate) fn check_response(buf: &[u8], key: &str) -> Result<Option<usize>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    match res.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(len)) => {
            if res.code != Some(101) {
                return Err(format!("server answered {} instead of 101", res.code.unwrap_or(0)));
            }
            let expected = derive_accept_key(key.as_bytes());
            let accept =
                res.headers.iter().find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept")).map(|h| h.value);
            if accept != Some(expected.as_bytes()) {
                return Err("wrong Sec-WebSocket-Accept".into());
            }
            Ok(Some(len))
        }
        Err(e) => Err(format!("malformed handshake response: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: &str) -> String {
        format!("GET /ws?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n")
    }

    #[test]
    fn the_rfc_example_key_gets_the_rfc_accept_value() {
        let parsed =
            parse_request(request("Sec-WebSocket-Version: 13\r\n").as_bytes(), 8192, &[], false).unwrap().unwrap();
        assert_eq!(parsed.target, "/ws?x=1");
        let Verdict::Accept(resp, _) = parsed.verdict else { panic!("refused") };
        let text = String::from_utf8(resp).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 "), "{text}");
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{text}");
    }

    #[test]
    fn wrong_versions_methods_and_keys_are_refused_with_the_right_status() {
        let status = |raw: &str| match parse_request(raw.as_bytes(), 8192, &[], false) {
            Ok(Some(Parsed { verdict: Verdict::Refuse(r), .. })) | Err(Verdict::Refuse(r)) => {
                String::from_utf8(r).unwrap()[9..12].to_string()
            }
            other => panic!("not refused: {other:?}"),
        };
        assert_eq!(status(&request("Sec-WebSocket-Version: 8\r\n")), "426");
        assert_eq!(status(&request("")), "426");
        let post = request("Sec-WebSocket-Version: 13\r\n").replacen("GET", "POST", 1);
        assert_eq!(status(&post), "405");
        let bad_key = request("Sec-WebSocket-Version: 13\r\n").replace("dGhlIHNhbXBsZSBub25jZQ==", "short");
        assert_eq!(status(&bad_key), "400");
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), "400");
        assert_eq!(status("\x00\x01garbage\r\n\r\n"), "400");
    }

    #[test]
    fn the_servers_preferred_offered_subprotocol_is_chosen() {
        let supported = ["v2.kaos".to_string(), "v1.kaos".to_string()];
        let accept = |offer: &str| {
            let req = request(&format!("Sec-WebSocket-Version: 13\r\n{offer}"));
            match parse_request(req.as_bytes(), 8192, &supported, false).unwrap().unwrap().verdict {
                Verdict::Accept(resp, agreed) => (String::from_utf8(resp).unwrap(), agreed.protocol),
                Verdict::Refuse(r) => panic!("refused: {}", String::from_utf8_lossy(&r)),
            }
        };
        let (resp, chosen) = accept("Sec-WebSocket-Protocol: chat, v1.kaos, v2.kaos\r\n");
        assert_eq!(chosen.as_deref(), Some("v2.kaos"));
        assert!(resp.contains("\r\nSec-WebSocket-Protocol: v2.kaos\r\n"), "{resp}");
        let (resp, chosen) = accept("Sec-WebSocket-Protocol: chat\r\n");
        assert_eq!(chosen, None);
        assert!(!resp.contains("Sec-WebSocket-Protocol"), "{resp}");
        assert_eq!(accept("").1, None);
    }

    #[test]
    fn a_partial_request_waits() {
        let full = request("Sec-WebSocket-Version: 13\r\n");
        assert!(matches!(parse_request(&full.as_bytes()[..full.len() - 3], 8192, &[], false), Ok(None)));
        let partial = b"GET / HTTP/1.1\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        assert!(
            matches!(parse_request(partial, 16, &[], false), Err(Verdict::Refuse(r)) if r.starts_with(b"HTTP/1.1 431"))
        );
    }

    #[test]
    fn the_client_checks_the_accept_value() {
        let (_, key) = client_request("h", "/");
        let headers = |n: &str| match n {
            "upgrade" => Some("websocket"),
            "connection" => Some("Upgrade"),
            "sec-websocket-version" => Some("13"),
            "sec-websocket-key" => Some(key.as_str()),
            _ => None,
        };
        let Verdict::Accept(good, _) = verdict("GET", headers, &[], true) else { panic!("refused") };
        assert_eq!(check_response(&good, &key), Ok(Some(good.len())));
        let (_, other) = client_request("h", "/");
        assert!(check_response(&good, &other).is_err());
        assert_eq!(check_response(&good[..10], &key), Ok(None));
        assert!(check_response(b"HTTP/1.1 400 Bad Request\r\n\r\n", &key).is_err());
    }
}
