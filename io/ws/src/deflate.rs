//! permessage-deflate (RFC 7692), server side, without context takeover either way: each
//! message is compressed and decompressed on its own, so an idle connection keeps no
//! compression state (the compressor is one per thread) and a message can never inflate
//! past `max_message_size` (the decompression stops there and the connection closes with
//! 1009).
//!
//! tungstenite refuses frames with RSV1 set, so compressed messages from the client are
//! inflated here, on their way from the socket to tungstenite, and re-framed as plain
//! masked frames ([`Inflating`]).

use std::cell::RefCell;
use std::io::{self, Read};

use miniz_oxide::deflate::core::{create_comp_flags_from_zip_params, CompressorOxide};
use miniz_oxide::deflate::stream::deflate;
use miniz_oxide::{MZFlush, MZStatus};

/// The `Sec-WebSocket-Extensions` value of an accepted negotiation.
pub(crate) const RESPONSE: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// Messages shorter than this go out uncompressed (RSV1 is per message). Compressing
/// costs about 4 µs per small message (a 218-byte match-data envelope: 175 bytes), paid
/// again for every connection a broadcast reaches; below this size the bytes saved are
/// not worth it.
const MIN_COMPRESS: usize = 512;

/// Whether one of the client's offers (`Sec-WebSocket-Extensions`) is permessage-deflate
/// with parameters this server honours: it may ask for no context takeover either way,
/// and cap the client's window (we inflate any window); a cap on our window below 15 is
/// declined (the compressor always uses 32 KiB), as are unknown parameters.
pub(crate) fn accepts(offers: Option<&str>) -> bool {
    offers.is_some_and(|offers| {
        offers.split(',').any(|offer| {
            let mut parts = offer.split(';').map(str::trim);
            parts.next() == Some("permessage-deflate")
                && parts.all(|p| match p.split_once('=') {
                    None => matches!(
                        p,
                        "server_no_context_takeover" | "client_no_context_takeover" | "client_max_window_bits"
                    ),
                    Some((name, value)) => {
                        let value = value.trim().trim_matches('"');
                        match name.trim() {
                            "client_max_window_bits" => value.parse::<u8>().is_ok_and(|b| (8..=15).contains(&b)),
                            "server_max_window_bits" => value == "15",
                            _ => false,
                        }
                    }
                })
        })
    })
}

thread_local! {
    /// One compressor per thread (each message starts from a reset state).
    static COMPRESSOR: RefCell<Option<Box<CompressorOxide>>> = const { RefCell::new(None) };
}

/// The message compressed for a frame with RSV1 (the sync-flush tail removed), or None
/// when it is short or would not shrink.
pub(crate) fn compress(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < MIN_COMPRESS {
        return None;
    }
    COMPRESSOR.with(|c| {
        let mut slot = c.borrow_mut();
        // Level 1 (fast), raw deflate (negative window bits), default strategy.
        let flags = create_comp_flags_from_zip_params(1, -15, 0);
        let comp = slot.get_or_insert_with(|| Box::new(CompressorOxide::new(flags)));
        comp.reset();
        let mut out = vec![0u8; data.len() + data.len() / 8 + 64];
        let mut written = 0;
        let mut input = data;
        loop {
            let r = deflate(comp, input, &mut out[written..], MZFlush::Sync);
            written += r.bytes_written;
            input = &input[r.bytes_consumed..];
            match r.status {
                Ok(MZStatus::Ok) if input.is_empty() && written < out.len() => break,
                Ok(_) => out.resize(out.len() * 2, 0),
                Err(_) => return None,
            }
        }
        out.truncate(written);
        // A sync flush ends with an empty stored block: 00 00 ff ff, left off the wire.
        if out.ends_with(&[0, 0, 0xff, 0xff]) {
            out.truncate(out.len() - 4);
        } else {
            return None;
        }
        (out.len() < data.len()).then_some(out)
    })
}

/// Inflates a message's payload (the frames' payloads joined), refusing to produce more
/// than `max` bytes.
fn inflate(payload: &[u8], max: usize) -> Result<Vec<u8>, Refusal> {
    // The tail the sender removed, then an empty final block so the stream ends here.
    let mut input = Vec::with_capacity(payload.len() + 9);
    input.extend_from_slice(payload);
    input.extend_from_slice(&[0, 0, 0xff, 0xff, 0x01, 0, 0, 0xff, 0xff]);
    match miniz_oxide::inflate::decompress_to_vec_with_limit(&input, max) {
        Ok(out) => Ok(out),
        Err(e) if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput => Err(Refusal::TooBig),
        Err(_) => Err(Refusal::Corrupt),
    }
}

/// Why a compressed message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// It inflates past the maximum message size (1009).
    TooBig,
    /// Not valid deflate data, or a frame that breaks the extension's rules (1002).
    Corrupt,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::TooBig => "a compressed message inflates past the maximum message size",
            Refusal::Corrupt => "a compressed message is not valid permessage-deflate",
        })
    }
}

impl std::error::Error for Refusal {}

/// The read side of a connection that negotiated permessage-deflate: frames from the
/// client pass through unchanged, except compressed messages, which are inflated and
/// handed on as ordinary masked frames (mask key zero) of at most `max_frame` bytes.
#[derive(Debug, Default)]
pub(crate) struct Inflating {
    /// Bytes from the socket not yet framed.
    raw: Vec<u8>,
    /// Bytes ready for tungstenite.
    cooked: Vec<u8>,
    cooked_pos: usize,
    /// A compressed message being assembled: its opcode and payload so far.
    message: Option<(u8, Vec<u8>)>,
    /// Set once a message was refused; reads fail from then on.
    pub(crate) refused: Option<Refusal>,
}

impl Inflating {
    pub(crate) fn new(early: Vec<u8>) -> Inflating {
        Inflating { raw: early, ..Inflating::default() }
    }

    /// A reader over `inner` giving tungstenite the transformed stream.
    pub(crate) fn reader<'a, R: Read>(
        &'a mut self,
        inner: &'a mut R,
        max_message: usize,
        max_frame: usize,
    ) -> Reader<'a, R> {
        Reader { state: self, inner, max_message, max_frame }
    }

    /// Frames what `raw` holds whole into `cooked`.
    fn cook(&mut self, max_message: usize, max_frame: usize) -> Result<(), Refusal> {
        let mut at = 0;
        while let Some((header, len, mask)) = parse_header(&self.raw[at..]) {
            // `len` comes from the peer (up to 2^64 - 1): compare without adding to it.
            if self.raw.len() - at - header < len {
                break;
            }
            let frame = &self.raw[at..at + header + len];
            let (b0, opcode) = (frame[0], frame[0] & 0x0f);
            let rsv1 = b0 & 0x40 != 0;
            let control = opcode >= 8;
            if control || (self.message.is_none() && !rsv1) {
                // Control frames (never compressed), and frames of uncompressed messages,
                // pass as they are.
                if rsv1 {
                    return Err(Refusal::Corrupt);
                }
                self.cooked.extend_from_slice(frame);
            } else if self.message.is_some() {
                // Only continuations follow, and RSV1 is set on the first frame alone.
                if opcode != 0 || rsv1 {
                    return Err(Refusal::Corrupt);
                }
            } else {
                if opcode == 0 {
                    return Err(Refusal::Corrupt);
                }
                self.message = Some((opcode, Vec::new()));
            }
            if let Some((_, payload)) = self.message.as_mut().filter(|_| !control) {
                if payload.len() + len > max_message {
                    return Err(Refusal::TooBig);
                }
                let start = payload.len();
                payload.extend_from_slice(&frame[header..]);
                if let Some(key) = mask {
                    for (i, b) in payload[start..].iter_mut().enumerate() {
                        *b ^= key[i % 4];
                    }
                }
                if b0 & 0x80 != 0 {
                    let (opcode, payload) = self.message.take().expect("a message in progress");
                    let plain = inflate(&payload, max_message)?;
                    write_frames(&mut self.cooked, opcode, &plain, max_frame.max(1));
                }
            }
            at += header + len;
        }
        self.raw.drain(..at);
        Ok(())
    }
}

/// Header length, payload length and mask key of the frame starting `buf`, once its
/// header is whole.
fn parse_header(buf: &[u8]) -> Option<(usize, usize, Option<[u8; 4]>)> {
    if buf.len() < 2 {
        return None;
    }
    let masked = buf[1] & 0x80 != 0;
    let (mut header, len) = match buf[1] & 0x7f {
        126 => (4, u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize),
        127 => (10, usize::try_from(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)).ok()?),
        n => (2, n as usize),
    };
    let mask = if masked {
        let key = buf.get(header..header + 4)?.try_into().ok()?;
        header += 4;
        Some(key)
    } else {
        None
    };
    Some((header, len, mask))
}

/// Writes `data` as a message of `opcode` in masked frames (mask key zero) of at most
/// `max_frame` bytes each.
fn write_frames(out: &mut Vec<u8>, opcode: u8, data: &[u8], max_frame: usize) {
    let mut chunks = data.chunks(max_frame).peekable();
    let mut first = true;
    if data.is_empty() {
        out.extend_from_slice(&[0x80 | opcode, 0x80, 0, 0, 0, 0]);
        return;
    }
    while let Some(chunk) = chunks.next() {
        let fin = if chunks.peek().is_none() { 0x80 } else { 0 };
        out.push(fin | if first { opcode } else { 0 });
        first = false;
        match chunk.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(chunk);
    }
}

/// [`Inflating`] over a socket, as tungstenite's input.
pub(crate) struct Reader<'a, R> {
    state: &'a mut Inflating,
    inner: &'a mut R,
    max_message: usize,
    max_frame: usize,
}

impl<R: Read> Read for Reader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let s = &mut *self.state;
            if let Some(refusal) = s.refused {
                return Err(io::Error::new(io::ErrorKind::InvalidData, refusal));
            }
            if s.cooked_pos < s.cooked.len() {
                let n = buf.len().min(s.cooked.len() - s.cooked_pos);
                buf[..n].copy_from_slice(&s.cooked[s.cooked_pos..s.cooked_pos + n]);
                s.cooked_pos += n;
                if s.cooked_pos == s.cooked.len() {
                    s.cooked.clear();
                    s.cooked_pos = 0;
                }
                return Ok(n);
            }
            let mut chunk = [0u8; 4096];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                return Ok(0);
            }
            s.raw.extend_from_slice(&chunk[..n]);
            // A frame larger than a message can be is refused before it is buffered whole.
            if s.raw.len() > self.max_message + self.max_frame + 14 {
                s.refused = Some(Refusal::TooBig);
                continue;
            }
            if let Err(r) = s.cook(self.max_message, self.max_frame) {
                s.refused = Some(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_are_accepted_only_with_parameters_we_honour() {
        assert!(accepts(Some("permessage-deflate; client_max_window_bits")));
        assert!(accepts(Some("x-webkit-deflate-frame, permessage-deflate")));
        assert!(accepts(Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=10")));
        assert!(!accepts(Some("permessage-deflate; server_max_window_bits=10")));
        assert!(!accepts(Some("permessage-deflate; unknown")));
        assert!(!accepts(Some("x-webkit-deflate-frame")));
        assert!(!accepts(None));
    }

    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![first, 0x80 | payload.len() as u8, 1, 2, 3, 4];
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]));
        f
    }

    #[test]
    fn a_compressed_message_is_inflated_and_others_pass() {
        let text = b"hello hello hello hello hello hello hello hello hello hello hello hello".to_vec();
        assert_eq!(compress(&text), None, "too short to be worth it");
        let compressed = compress(&text.repeat(8)).unwrap();
        assert!(compressed.len() < 100, "{}", compressed.len());
        let text = text.repeat(8);
        let mut raw = client_frame(0x80 | 0x40 | 0x1, &compressed);
        raw.extend(client_frame(0x89, b"ping"));
        raw.extend(client_frame(0x82, b"plain"));
        let mut state = Inflating::new(raw);
        state.cook(1 << 20, 1 << 20).unwrap();
        // Text frame, inflated, mask key zero; then the ping and the plain frame unchanged.
        let len = (text.len() as u16).to_be_bytes();
        assert_eq!(&state.cooked[..4], &[0x81, 0x80 | 126, len[0], len[1]]);
        assert_eq!(&state.cooked[8..8 + text.len()], &text[..]);
        let rest = &state.cooked[8 + text.len()..];
        assert_eq!(rest, [client_frame(0x89, b"ping"), client_frame(0x82, b"plain")].concat());
    }

    #[test]
    fn a_bomb_is_refused_at_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        let compressed = compress(&zeros).unwrap();
        assert!(compressed.len() < 16 * 1024, "{}", compressed.len());
        let mut frame = vec![0x82 | 0x40, 0x80 | 126];
        frame.extend_from_slice(&(compressed.len() as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(&compressed);
        let mut state = Inflating::new(frame);
        assert_eq!(state.cook(64 * 1024, 64 * 1024), Err(Refusal::TooBig));
        // A length near 2^64 (found by the fuzzer): waits for bytes, no overflow.
        let mut huge = Inflating::new([&[0xC2u8, 0xFF][..], &[0xFF; 8], &[1, 2, 3, 4]].concat());
        assert_eq!(huge.cook(1 << 20, 1 << 20), Ok(()));
        let mut garbage = Inflating::new(client_frame(0xC2, b"\xff\xff\xff\xff not deflate"));
        assert_eq!(garbage.cook(1 << 20, 1 << 20), Err(Refusal::Corrupt));
    }
}
