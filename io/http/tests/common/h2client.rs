//! A raw HTTP/2 client for tests: it writes exactly the frames a test asks for (well
//! formed or not) and reads the server's frames back.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const PING: u8 = 6;
pub const GOAWAY: u8 = 7;
pub const WINDOW_UPDATE: u8 = 8;
pub const CONTINUATION: u8 = 9;
pub const END_STREAM: u8 = 1;
pub const END_HEADERS: u8 = 4;

pub const PROTOCOL_ERROR: u32 = 1;
pub const FLOW_CONTROL_ERROR: u32 = 3;
pub const FRAME_SIZE_ERROR: u32 = 6;
pub const REFUSED_STREAM: u32 = 7;
pub const COMPRESSION_ERROR: u32 = 9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

/// A response: status, headers, body.
#[derive(Debug, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What came back on a stream.
#[derive(Debug)]
pub enum Outcome {
    Reply(Reply),
    Reset(u32),
    GoAway(u32),
    Closed,
}

pub struct H2Client {
    pub sock: TcpStream,
    pub encoder: loona_hpack::Encoder<'static>,
    decoder: loona_hpack::Decoder<'static>,
    buf: Vec<u8>,
    /// Frames read but not yet asked for.
    pub backlog: Vec<Frame>,
    partial: std::collections::HashMap<u32, Reply>,
}

impl H2Client {
    /// A client over a connected socket that has sent nothing yet.
    pub fn over(sock: TcpStream) -> H2Client {
        sock.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        H2Client {
            sock,
            encoder: loona_hpack::Encoder::new(),
            decoder: loona_hpack::Decoder::new(),
            buf: Vec::new(),
            backlog: Vec::new(),
            partial: Default::default(),
        }
    }

    /// Connects, sends the preface and `settings`.
    pub fn connect(addr: SocketAddr, settings: &[(u16, u32)]) -> H2Client {
        let mut c = H2Client::over(TcpStream::connect(addr).unwrap());
        c.raw(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let payload: Vec<u8> =
            settings.iter().flat_map(|(id, v)| id.to_be_bytes().into_iter().chain(v.to_be_bytes())).collect();
        c.frame(SETTINGS, 0, 0, &payload);
        c
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        let _ = self.sock.write_all(bytes);
    }

    pub fn frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        self.raw(&f);
    }

    /// A header block for a request.
    pub fn block(&mut self, method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut fields: Vec<(&[u8], &[u8])> = vec![
            (b":method", method.as_bytes()),
            (b":scheme", b"http"),
            (b":path", path.as_bytes()),
            (b":authority", b"localhost"),
        ];
        fields.extend(extra.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        self.encoder.encode(fields)
    }

    /// Sends a request on `stream`, with `body` in one DATA frame if given.
    pub fn request(&mut self, stream: u32, method: &str, path: &str, extra: &[(&str, &str)], body: Option<&[u8]>) {
        let block = self.block(method, path, extra);
        let flags = END_HEADERS | if body.is_none() { END_STREAM } else { 0 };
        self.frame(HEADERS, flags, stream, &block);
        if let Some(body) = body {
            self.frame(DATA, END_STREAM, stream, body);
        }
    }

    /// The next frame, answering the server's SETTINGS and PINGs; `None` once closed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if self.buf.len() >= 9 {
                let len = usize::from(self.buf[0]) << 16 | usize::from(self.buf[1]) << 8 | usize::from(self.buf[2]);
                if self.buf.len() >= 9 + len {
                    let f = Frame {
                        kind: self.buf[3],
                        flags: self.buf[4],
                        stream: u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]]) & 0x7fff_ffff,
                        payload: self.buf[9..9 + len].to_vec(),
                    };
                    self.buf.drain(..9 + len);
                    if f.kind == SETTINGS && f.flags & 1 == 0 {
                        self.frame(SETTINGS, 1, 0, &[]);
                    }
                    return Some(f);
                }
            }
            let mut chunk = [0u8; 16384];
            match self.sock.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads until `stream` ends (a whole reply or a reset), or the connection goes.
    pub fn outcome(&mut self, stream: u32) -> Outcome {
        while let Some(i) = self.backlog.iter().position(|f| f.stream == stream) {
            let f = self.backlog.remove(i);
            if let Some(o) = self.apply(f) {
                return o;
            }
        }
        loop {
            let Some(f) = self.next_frame() else { return Outcome::Closed };
            if f.kind == GOAWAY {
                return Outcome::GoAway(u32::from_be_bytes(f.payload[4..8].try_into().unwrap()));
            }
            if f.stream != stream {
                if f.stream != 0 {
                    self.backlog.push(f);
                }
                continue;
            }
            if let Some(o) = self.apply(f) {
                return o;
            }
        }
    }

    fn apply(&mut self, f: Frame) -> Option<Outcome> {
        let reply = self.partial.entry(f.stream).or_default();
        match f.kind {
            HEADERS => {
                let fields = self.decoder.decode(&f.payload).expect("server header block decodes");
                for (n, v) in fields {
                    let (n, v) = (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap());
                    if n == ":status" {
                        reply.status = v.parse().unwrap();
                    } else {
                        reply.headers.push((n, v));
                    }
                }
            }
            DATA => reply.body.extend_from_slice(&f.payload),
            RST_STREAM => {
                self.partial.remove(&f.stream);
                return Some(Outcome::Reset(u32::from_be_bytes(f.payload[..4].try_into().unwrap())));
            }
            _ => {}
        }
        if f.flags & END_STREAM != 0 && (f.kind == HEADERS || f.kind == DATA) {
            return self.partial.remove(&f.stream).map(Outcome::Reply);
        }
        None
    }

    /// The reply on `stream`, which must come.
    pub fn reply(&mut self, stream: u32) -> Reply {
        match self.outcome(stream) {
            Outcome::Reply(r) => r,
            other => panic!("stream {stream}: {other:?}"),
        }
    }

    /// Reads until the server's GOAWAY and returns its error code (`None`: closed without).
    pub fn goaway(&mut self) -> Option<u32> {
        loop {
            let f = self.next_frame()?;
            if f.kind == GOAWAY {
                return Some(u32::from_be_bytes(f.payload[4..8].try_into().unwrap()));
            }
        }
    }

    /// Whether the server closed the connection (reads to the end).
    pub fn closed(&mut self) -> bool {
        while self.next_frame().is_some() {}
        true
    }
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}
