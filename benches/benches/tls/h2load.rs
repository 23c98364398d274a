//! The HTTP/2 side of the TLS load generator: a fixed request header block (static-table
//! and literal fields only, so no compression state is needed), and a frame reader that
//! counts finished responses and answers what HTTP/2 requires of a client.

/// The connection preface, SETTINGS (a large stream window) and a connection window
/// large enough that the server never waits for the client.
pub fn preface() -> Vec<u8> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    frame(&mut out, 4, 0, 0, &[0, 4, 0x7f, 0xff, 0xff, 0xff]);
    frame(&mut out, 8, 0, 0, &(0x7fff_ffffu32 - 65_535).to_be_bytes());
    out
}

/// `GET /json` on `stream`: `:method GET` and `:scheme https` indexed, `:path` and
/// `:authority` literal without indexing.
pub fn request(out: &mut Vec<u8>, stream: u32) {
    let block = [0x82, 0x87, 0x04, 5, b'/', b'j', b's', b'o', b'n', 0x01, 1, b'x'];
    frame(out, 1, 0x5, stream, &block); // END_STREAM | END_HEADERS
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len();
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Takes whole frames from `buf`: returns how many responses finished, and appends to
/// `reply` the SETTINGS and PING acknowledgements and the window the DATA used.
pub fn progress(buf: &mut Vec<u8>, reply: &mut Vec<u8>) -> u64 {
    let (mut at, mut done, mut data) = (0, 0, 0u32);
    while buf.len() >= at + 9 {
        let len = usize::from(buf[at]) << 16 | usize::from(buf[at + 1]) << 8 | usize::from(buf[at + 2]);
        if buf.len() < at + 9 + len {
            break;
        }
        let (kind, flags) = (buf[at + 3], buf[at + 4]);
        let payload = &buf[at + 9..at + 9 + len];
        match kind {
            0 | 1 if flags & 1 != 0 => done += 1,
            4 if flags & 1 == 0 => frame(reply, 4, 1, 0, &[]),
            6 if flags & 1 == 0 => frame(reply, 6, 1, 0, payload),
            7 => panic!("the server sent GOAWAY: {payload:?}"),
            _ => {}
        }
        if kind == 0 {
            data += len as u32;
        }
        at += 9 + len;
    }
    if data > 0 {
        frame(reply, 8, 0, 0, &data.to_be_bytes());
    }
    buf.drain(..at);
    done
}
