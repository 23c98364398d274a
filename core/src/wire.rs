//! Datagram and frame formats: typed views over byte slices.
//!
//! Every datagram starts with the same 8-byte header:
//!
//! ```text
//! 0      2        3      4             8
//! +------+--------+------+-------------+----------------------
//! | 0x4B4E (LE)   | ver  | type | crc32 (LE)  | body ...
//! +------+--------+------+-------------+----------------------
//! ```
//!
//! The checksum is CRC-32 over an 8-byte key, the first four header bytes and the body.
//! Handshake packets use the fixed [`HANDSHAKE_KEY`]; data and disconnect packets use the
//! connection's salt, agreed during the handshake, so a datagram for another connection
//! (or a forged one from someone who never saw the handshake) fails the check.
//!
//! A data packet's body is a [`DataHeader`] (22 bytes with the common header) followed by
//! frames ([`Frame`]): self-describing, so they decode without knowing the channel
//! configuration.
//!
//! Parsing follows smoltcp: [`Packet::new_checked`] validates lengths once, accessors then
//! read fields; `*Repr` types parse from and emit into buffers. Every decoder returns a
//! [`WireError`]; none panics on any input.

use core::fmt;

/// Protocol identifier, the first two bytes of every datagram (`"NK"` little-endian).
pub const PROTOCOL_ID: u16 = 0x4B4E;
/// Wire version; a peer with another version is rejected at the first packet.
/// Version 2 added the ack-now frame.
pub const VERSION: u8 = 2;
/// Length of the common header.
pub const HEADER_LEN: usize = 8;
/// Length of a data packet's header, common header included.
pub const DATA_HEADER_LEN: usize = HEADER_LEN + 14;
/// Connect requests (and challenge responses) are padded to this length, so the server's
/// stateless challenge is never larger than what the unproven client sent.
pub const HANDSHAKE_PADDED_LEN: usize = 64;
/// Checksum key of handshake packets, which precede the per-connection salt.
pub const HANDSHAKE_KEY: u64 = 0x6b61_6f73_6e65_7421;
/// Smallest datagram payload the protocol works with.
pub const MIN_DATAGRAM: usize = HANDSHAKE_PADDED_LEN;

/// Why a datagram or frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its fixed fields.
    Truncated,
    /// Not a KaosNet datagram.
    BadProtocol,
    /// A KaosNet datagram of another wire version.
    BadVersion(u8),
    /// Checksum mismatch: corrupted, or keyed for another connection.
    BadChecksum,
    /// Unknown packet type byte.
    UnknownType(u8),
    /// Unknown frame kind byte.
    UnknownFrame(u8),
    /// A field holds an impossible value (fragment index beyond count, zero count...).
    Malformed,
    /// The output buffer is too small for what was to be emitted.
    BufferTooSmall,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => f.write_str("datagram truncated"),
            WireError::BadProtocol => f.write_str("not a KaosNet datagram"),
            WireError::BadVersion(v) => write!(f, "unsupported wire version {v}"),
            WireError::BadChecksum => f.write_str("checksum mismatch"),
            WireError::UnknownType(t) => write!(f, "unknown packet type {t}"),
            WireError::UnknownFrame(k) => write!(f, "unknown frame kind {k:#04x}"),
            WireError::Malformed => f.write_str("malformed field"),
            WireError::BufferTooSmall => f.write_str("output buffer too small"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WireError {}

/// Packet type, byte 3 of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
    /// Client → server: open a connection.
    ConnectRequest = 1,
    /// Server → client: prove your address by echoing this cookie.
    Challenge = 2,
    /// Client → server: the echoed cookie.
    ChallengeResponse = 3,
    /// Server → client: connection accepted, here is the salt.
    Accept = 4,
    /// Server → client: connection refused.
    Reject = 5,
    /// Either way: acks and frames.
    Data = 6,
    /// Either way: the connection is closed, with a reason.
    Disconnect = 7,
}

impl PacketType {
    /// Decodes the type byte.
    pub const fn from_u8(b: u8) -> Result<Self, WireError> {
        Ok(match b {
            1 => PacketType::ConnectRequest,
            2 => PacketType::Challenge,
            3 => PacketType::ChallengeResponse,
            4 => PacketType::Accept,
            5 => PacketType::Reject,
            6 => PacketType::Data,
            7 => PacketType::Disconnect,
            other => return Err(WireError::UnknownType(other)),
        })
    }

    /// Whether packets of this type are checksummed with the connection salt.
    pub const fn uses_salt(self) -> bool {
        matches!(self, PacketType::Data | PacketType::Disconnect)
    }
}

#[inline]
fn rd_u16(b: &[u8], at: usize) -> Result<u16, WireError> {
    match b.get(at..at + 2) {
        Some(s) => Ok(u16::from_le_bytes([s[0], s[1]])),
        None => Err(WireError::Truncated),
    }
}

#[inline]
fn rd_u32(b: &[u8], at: usize) -> Result<u32, WireError> {
    match b.get(at..at + 4) {
        Some(s) => Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]])),
        None => Err(WireError::Truncated),
    }
}

#[inline]
fn rd_u64(b: &[u8], at: usize) -> Result<u64, WireError> {
    match b.get(at..at + 8) {
        Some(s) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            Ok(u64::from_le_bytes(a))
        }
        None => Err(WireError::Truncated),
    }
}

/// Checksum of `datagram` (whose bytes 4..8 are ignored) under `key`.
pub fn checksum(key: u64, datagram: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&key.to_le_bytes());
    h.update(&datagram[..datagram.len().min(4)]);
    if datagram.len() > HEADER_LEN {
        h.update(&datagram[HEADER_LEN..]);
    }
    h.finalize()
}

/// Writes the common header (checksum zero) into `buf`.
pub fn emit_header(buf: &mut [u8], kind: PacketType) -> Result<(), WireError> {
    let head = buf.get_mut(..HEADER_LEN).ok_or(WireError::BufferTooSmall)?;
    head[0..2].copy_from_slice(&PROTOCOL_ID.to_le_bytes());
    head[2] = VERSION;
    head[3] = kind as u8;
    head[4..8].fill(0);
    Ok(())
}

/// Fills in the checksum of a complete datagram.
pub fn seal(datagram: &mut [u8], key: u64) -> Result<(), WireError> {
    if datagram.len() < HEADER_LEN {
        return Err(WireError::BufferTooSmall);
    }
    let sum = checksum(key, datagram);
    datagram[4..8].copy_from_slice(&sum.to_le_bytes());
    Ok(())
}

/// A checked view of a datagram's common header.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    kind: PacketType,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates length, protocol id, version and type. The checksum is checked separately
    /// by [`verify`](Self::verify), because its key depends on the receiver's state.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if rd_u16(b, 0)? != PROTOCOL_ID {
            return Err(WireError::BadProtocol);
        }
        if b[2] != VERSION {
            return Err(WireError::BadVersion(b[2]));
        }
        let kind = PacketType::from_u8(b[3])?;
        Ok(Packet { buffer, kind })
    }

    /// The packet type.
    pub fn kind(&self) -> PacketType {
        self.kind
    }

    /// The checksum field.
    pub fn checksum_field(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_le_bytes([b[4], b[5], b[6], b[7]])
    }

    /// Checks the checksum under `key`.
    pub fn verify(&self, key: u64) -> Result<(), WireError> {
        if checksum(key, self.buffer.as_ref()) == self.checksum_field() {
            Ok(())
        } else {
            Err(WireError::BadChecksum)
        }
    }

    /// Bytes after the common header.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Length of the stateless cookie.
pub const COOKIE_LEN: usize = 16;

/// The handshake packets, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeRepr {
    /// Client → server. Padded to [`HANDSHAKE_PADDED_LEN`].
    ConnectRequest {
        /// The client's random connection nonce.
        nonce: u64,
        /// Fingerprint of the client's connection configuration.
        fingerprint: u32,
    },
    /// Server → client, stateless.
    Challenge {
        /// Echo of the client's nonce.
        nonce: u64,
        /// Time bucket the cookie was minted in.
        bucket: u32,
        /// Keyed hash over (client address, bucket, nonce).
        cookie: [u8; COOKIE_LEN],
    },
    /// Client → server. Padded to [`HANDSHAKE_PADDED_LEN`].
    ChallengeResponse {
        /// The client's nonce.
        nonce: u64,
        /// Fingerprint of the client's connection configuration.
        fingerprint: u32,
        /// Echo of the challenge's bucket.
        bucket: u32,
        /// Echo of the challenge's cookie.
        cookie: [u8; COOKIE_LEN],
    },
    /// Server → client: accepted.
    Accept {
        /// Echo of the client's nonce.
        nonce: u64,
        /// Checksum key of every later data packet, both ways.
        salt: u64,
    },
    /// Server → client: refused.
    Reject {
        /// Echo of the client's nonce.
        nonce: u64,
        /// Why.
        reason: RejectReason,
    },
}

/// Why a server refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Every connection slot is taken.
    ServerFull,
    /// The client's channel configuration differs from the server's.
    ConfigMismatch,
    /// Any other code (forward compatibility).
    Other(u8),
}

impl RejectReason {
    fn to_u8(self) -> u8 {
        match self {
            RejectReason::ServerFull => 1,
            RejectReason::ConfigMismatch => 2,
            RejectReason::Other(b) => b,
        }
    }
    fn from_u8(b: u8) -> Self {
        match b {
            1 => RejectReason::ServerFull,
            2 => RejectReason::ConfigMismatch,
            other => RejectReason::Other(other),
        }
    }
}

impl HandshakeRepr {
    /// Parses a handshake packet whose checksum the caller verified (or will verify).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self, WireError> {
        let b = packet.as_bytes();
        let nonce = rd_u64(b, 8)?;
        let cookie_at = |at: usize| -> Result<[u8; COOKIE_LEN], WireError> {
            let s = b.get(at..at + COOKIE_LEN).ok_or(WireError::Truncated)?;
            let mut c = [0u8; COOKIE_LEN];
            c.copy_from_slice(s);
            Ok(c)
        };
        match packet.kind() {
            PacketType::ConnectRequest => {
                if b.len() < HANDSHAKE_PADDED_LEN {
                    return Err(WireError::Truncated);
                }
                Ok(HandshakeRepr::ConnectRequest { nonce, fingerprint: rd_u32(b, 16)? })
            }
            PacketType::Challenge => {
                Ok(HandshakeRepr::Challenge { nonce, bucket: rd_u32(b, 16)?, cookie: cookie_at(20)? })
            }
            PacketType::ChallengeResponse => {
                if b.len() < HANDSHAKE_PADDED_LEN {
                    return Err(WireError::Truncated);
                }
                Ok(HandshakeRepr::ChallengeResponse {
                    nonce,
                    fingerprint: rd_u32(b, 16)?,
                    bucket: rd_u32(b, 20)?,
                    cookie: cookie_at(24)?,
                })
            }
            PacketType::Accept => Ok(HandshakeRepr::Accept { nonce, salt: rd_u64(b, 16)? }),
            PacketType::Reject => Ok(HandshakeRepr::Reject {
                nonce,
                reason: RejectReason::from_u8(*b.get(16).ok_or(WireError::Truncated)?),
            }),
            PacketType::Data | PacketType::Disconnect => Err(WireError::UnknownType(packet.kind() as u8)),
        }
    }

    /// Emits the complete, checksummed datagram; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let (kind, len) = match self {
            HandshakeRepr::ConnectRequest { .. } => (PacketType::ConnectRequest, HANDSHAKE_PADDED_LEN),
            HandshakeRepr::Challenge { .. } => (PacketType::Challenge, 20 + COOKIE_LEN),
            HandshakeRepr::ChallengeResponse { .. } => (PacketType::ChallengeResponse, HANDSHAKE_PADDED_LEN),
            HandshakeRepr::Accept { .. } => (PacketType::Accept, 24),
            HandshakeRepr::Reject { .. } => (PacketType::Reject, 17),
        };
        let out = buf.get_mut(..len).ok_or(WireError::BufferTooSmall)?;
        out.fill(0);
        emit_header(out, kind)?;
        match *self {
            HandshakeRepr::ConnectRequest { nonce, fingerprint } => {
                out[8..16].copy_from_slice(&nonce.to_le_bytes());
                out[16..20].copy_from_slice(&fingerprint.to_le_bytes());
            }
            HandshakeRepr::Challenge { nonce, bucket, cookie } => {
                out[8..16].copy_from_slice(&nonce.to_le_bytes());
                out[16..20].copy_from_slice(&bucket.to_le_bytes());
                out[20..36].copy_from_slice(&cookie);
            }
            HandshakeRepr::ChallengeResponse { nonce, fingerprint, bucket, cookie } => {
                out[8..16].copy_from_slice(&nonce.to_le_bytes());
                out[16..20].copy_from_slice(&fingerprint.to_le_bytes());
                out[20..24].copy_from_slice(&bucket.to_le_bytes());
                out[24..40].copy_from_slice(&cookie);
            }
            HandshakeRepr::Accept { nonce, salt } => {
                out[8..16].copy_from_slice(&nonce.to_le_bytes());
                out[16..24].copy_from_slice(&salt.to_le_bytes());
            }
            HandshakeRepr::Reject { nonce, reason } => {
                out[8..16].copy_from_slice(&nonce.to_le_bytes());
                out[16] = reason.to_u8();
            }
        }
        seal(out, HANDSHAKE_KEY)?;
        Ok(len)
    }
}

/// The fixed fields of a data packet after the common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataHeader {
    /// This packet's sequence number.
    pub seq: u16,
    /// Newest packet sequence number received from the peer.
    pub ack: u16,
    /// Bit `i`: packet `ack - 1 - i` was received.
    pub ack_bits: u64,
    /// How long the sender held the ack before sending it, in units of 8 µs.
    pub ack_delay: u16,
}

impl DataHeader {
    /// Parses the data header of a data packet.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self, WireError> {
        let b = packet.as_bytes();
        if b.len() < DATA_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(DataHeader { seq: rd_u16(b, 8)?, ack: rd_u16(b, 10)?, ack_bits: rd_u64(b, 12)?, ack_delay: rd_u16(b, 20)? })
    }

    /// Writes the common header and this data header; frames follow at
    /// [`DATA_HEADER_LEN`], then [`seal`] the whole datagram with the salt.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let out = buf.get_mut(..DATA_HEADER_LEN).ok_or(WireError::BufferTooSmall)?;
        emit_header(out, PacketType::Data)?;
        out[8..10].copy_from_slice(&self.seq.to_le_bytes());
        out[10..12].copy_from_slice(&self.ack.to_le_bytes());
        out[12..20].copy_from_slice(&self.ack_bits.to_le_bytes());
        out[20..22].copy_from_slice(&self.ack_delay.to_le_bytes());
        Ok(())
    }
}

/// Emits a complete disconnect datagram with `reason`, sealed with `salt`.
pub fn emit_disconnect(buf: &mut [u8], salt: u64, reason: u16) -> Result<usize, WireError> {
    let out = buf.get_mut(..HEADER_LEN + 2).ok_or(WireError::BufferTooSmall)?;
    emit_header(out, PacketType::Disconnect)?;
    out[8..10].copy_from_slice(&reason.to_le_bytes());
    seal(out, salt)?;
    Ok(HEADER_LEN + 2)
}

/// Parses the reason of a disconnect datagram.
pub fn parse_disconnect<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<u16, WireError> {
    rd_u16(packet.as_bytes(), 8)
}

/// Frame kind: an application message (or a fragment of one).
const FRAME_MESSAGE: u8 = 0x01;
/// Frame kind: ack-eliciting keep-alive, no payload.
const FRAME_PING: u8 = 0x02;
/// Frame kind: the sender waits for this packet's ack (its window is full, or the packet
/// repairs a loss): ack at once instead of holding the ack. No payload.
const FRAME_ACK_NOW: u8 = 0x03;
/// Message flag: a 32-bit stream offset follows (reliable channels).
const FLAG_OFFSET: u8 = 0x10;
/// Message flag: fragment index and count follow.
const FLAG_FRAGMENT: u8 = 0x20;

/// Fragment position of a message frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentInfo {
    /// Index of this fragment, `< count`.
    pub index: u8,
    /// Number of fragments of the whole message, `>= 2`.
    pub count: u8,
}

/// One message (or fragment) frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageFrame<'a> {
    /// Channel index.
    pub channel: u8,
    /// Message id within the channel (fragment group id on unreliable channels).
    pub id: u16,
    /// Stream offset of the payload on reliable channels.
    pub offset: Option<u32>,
    /// Fragment position, if the message was split.
    pub fragment: Option<FragmentInfo>,
    /// Payload bytes.
    pub data: &'a [u8],
}

impl MessageFrame<'_> {
    /// Encoded header length for a frame with these options.
    pub const fn header_len(reliable: bool, fragment: bool) -> usize {
        6 + if reliable { 4 } else { 0 } + if fragment { 2 } else { 0 }
    }

    /// Encoded length of this frame.
    pub fn encoded_len(&self) -> usize {
        Self::header_len(self.offset.is_some(), self.fragment.is_some()) + self.data.len()
    }

    /// Writes the frame at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let at = emit_message_header(buf, self.channel, self.id, self.offset, self.fragment, self.data.len())?;
        let out = buf.get_mut(at..at + self.data.len()).ok_or(WireError::BufferTooSmall)?;
        out.copy_from_slice(self.data);
        Ok(at + self.data.len())
    }
}

/// Writes a message frame's header for a payload of `len` bytes that the caller copies
/// right after it (possibly in pieces); returns the header length. The whole frame must
/// fit in `buf`.
pub fn emit_message_header(
    buf: &mut [u8],
    channel: u8,
    id: u16,
    offset: Option<u32>,
    fragment: Option<FragmentInfo>,
    len: usize,
) -> Result<usize, WireError> {
    if len > u16::MAX as usize {
        return Err(WireError::Malformed);
    }
    let head = MessageFrame::header_len(offset.is_some(), fragment.is_some());
    if buf.len() < head + len {
        return Err(WireError::BufferTooSmall);
    }
    let mut kind = FRAME_MESSAGE;
    if offset.is_some() {
        kind |= FLAG_OFFSET;
    }
    if fragment.is_some() {
        kind |= FLAG_FRAGMENT;
    }
    buf[0] = kind;
    buf[1] = channel;
    buf[2..4].copy_from_slice(&id.to_le_bytes());
    buf[4..6].copy_from_slice(&(len as u16).to_le_bytes());
    let mut at = 6;
    if let Some(off) = offset {
        buf[at..at + 4].copy_from_slice(&off.to_le_bytes());
        at += 4;
    }
    if let Some(f) = fragment {
        buf[at] = f.index;
        buf[at + 1] = f.count;
        at += 2;
    }
    Ok(at)
}

/// A decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Keep-alive: asks for an ack, carries nothing.
    Ping,
    /// Asks for the ack without the usual delay, carries nothing.
    AckNow,
    /// An application message or fragment.
    Message(MessageFrame<'a>),
}

/// Writes a ping frame; returns its length.
pub fn emit_ping(buf: &mut [u8]) -> Result<usize, WireError> {
    *buf.first_mut().ok_or(WireError::BufferTooSmall)? = FRAME_PING;
    Ok(1)
}

/// Length of an ack-now frame: every data packet keeps this much room for one.
pub const ACK_NOW_LEN: usize = 1;

/// Writes an ack-now frame; returns its length.
pub fn emit_ack_now(buf: &mut [u8]) -> Result<usize, WireError> {
    *buf.first_mut().ok_or(WireError::BufferTooSmall)? = FRAME_ACK_NOW;
    Ok(ACK_NOW_LEN)
}

/// Iterator over the frames of a data packet's body. Yields an error at most once, then
/// stops: a packet with any bad frame must be dropped whole.
#[derive(Debug, Clone)]
pub struct FrameReader<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> FrameReader<'a> {
    /// Reads frames from `frames` (the bytes after [`DATA_HEADER_LEN`]).
    pub fn new(frames: &'a [u8]) -> Self {
        FrameReader { rest: frames, failed: false }
    }

    fn next_frame(&mut self) -> Result<Frame<'a>, WireError> {
        let b = self.rest;
        let kind = b[0];
        if kind == FRAME_PING {
            self.rest = &b[1..];
            return Ok(Frame::Ping);
        }
        if kind == FRAME_ACK_NOW {
            self.rest = &b[1..];
            return Ok(Frame::AckNow);
        }
        if kind & 0x0F != FRAME_MESSAGE || kind & !(0x0F | FLAG_OFFSET | FLAG_FRAGMENT) != 0 {
            return Err(WireError::UnknownFrame(kind));
        }
        let channel = *b.get(1).ok_or(WireError::Truncated)?;
        let id = rd_u16(b, 2)?;
        let len = rd_u16(b, 4)? as usize;
        let mut at = 6;
        let offset = if kind & FLAG_OFFSET != 0 {
            at += 4;
            Some(rd_u32(b, 6)?)
        } else {
            None
        };
        let fragment = if kind & FLAG_FRAGMENT != 0 {
            let f = b.get(at..at + 2).ok_or(WireError::Truncated)?;
            at += 2;
            if f[1] < 2 || f[0] >= f[1] {
                return Err(WireError::Malformed);
            }
            Some(FragmentInfo { index: f[0], count: f[1] })
        } else {
            None
        };
        let data = b.get(at..at + len).ok_or(WireError::Truncated)?;
        self.rest = &b[at + len..];
        Ok(Frame::Message(MessageFrame { channel, id, offset, fragment, data }))
    }
}

impl<'a> Iterator for FrameReader<'a> {
    type Item = Result<Frame<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let r = self.next_frame();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_round_trips_and_checks() {
        let reprs = [
            HandshakeRepr::ConnectRequest { nonce: 7, fingerprint: 0xdead_beef },
            HandshakeRepr::Challenge { nonce: 7, bucket: 3, cookie: [9; 16] },
            HandshakeRepr::ChallengeResponse { nonce: 7, fingerprint: 1, bucket: 3, cookie: [9; 16] },
            HandshakeRepr::Accept { nonce: 7, salt: 0x1234_5678_9abc },
            HandshakeRepr::Reject { nonce: 7, reason: RejectReason::ServerFull },
        ];
        for r in reprs {
            let mut buf = [0u8; 128];
            let n = r.emit(&mut buf).unwrap();
            let p = Packet::new_checked(&buf[..n]).unwrap();
            p.verify(HANDSHAKE_KEY).unwrap();
            assert_eq!(HandshakeRepr::parse(&p).unwrap(), r);
            assert_eq!(p.verify(HANDSHAKE_KEY ^ 1), Err(WireError::BadChecksum));
            // Every truncation is an error, never a panic.
            for cut in 0..n {
                if let Ok(p) = Packet::new_checked(&buf[..cut]) {
                    assert!(HandshakeRepr::parse(&p).is_err() || p.verify(HANDSHAKE_KEY).is_err());
                }
            }
        }
    }

    #[test]
    fn challenge_is_never_larger_than_request() {
        let mut a = [0u8; 128];
        let mut b = [0u8; 128];
        let req = HandshakeRepr::ConnectRequest { nonce: 1, fingerprint: 2 }.emit(&mut a).unwrap();
        let ch = HandshakeRepr::Challenge { nonce: 1, bucket: 2, cookie: [0; 16] }.emit(&mut b).unwrap();
        assert!(ch <= req);
    }

    #[test]
    fn header_errors_are_typed() {
        assert_eq!(Packet::new_checked(&[0u8; 3][..]).unwrap_err(), WireError::Truncated);
        assert_eq!(Packet::new_checked(&[0u8; 8][..]).unwrap_err(), WireError::BadProtocol);
        let mut b = [0x4E, 0x4B, 9, 6, 0, 0, 0, 0];
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::BadVersion(9));
        b[2] = VERSION;
        b[3] = 99;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::UnknownType(99));
    }

    #[test]
    fn data_packet_with_frames() {
        let mut buf = [0u8; 256];
        let h = DataHeader { seq: 5, ack: 4, ack_bits: 0b101, ack_delay: 12 };
        h.emit(&mut buf).unwrap();
        let mut at = DATA_HEADER_LEN;
        let f1 = MessageFrame { channel: 1, id: 9, offset: Some(640), fragment: None, data: b"hello" };
        let f2 = MessageFrame {
            channel: 0,
            id: 3,
            offset: None,
            fragment: Some(FragmentInfo { index: 1, count: 3 }),
            data: b"xyz",
        };
        at += f1.emit(&mut buf[at..]).unwrap();
        at += emit_ping(&mut buf[at..]).unwrap();
        at += f2.emit(&mut buf[at..]).unwrap();
        at += emit_ack_now(&mut buf[at..]).unwrap();
        seal(&mut buf[..at], 42).unwrap();
        let p = Packet::new_checked(&buf[..at]).unwrap();
        p.verify(42).unwrap();
        assert_eq!(DataHeader::parse(&p).unwrap(), h);
        let frames: heapless::Vec<_, 4> = FrameReader::new(&buf[DATA_HEADER_LEN..at]).collect();
        assert_eq!(&frames[..], &[Ok(Frame::Message(f1)), Ok(Frame::Ping), Ok(Frame::Message(f2)), Ok(Frame::AckNow)]);
    }

    #[test]
    fn bad_frames_stop_the_reader() {
        let bad_kind = [0x7Fu8, 0, 0];
        let mut r = FrameReader::new(&bad_kind);
        assert_eq!(r.next(), Some(Err(WireError::UnknownFrame(0x7F))));
        assert_eq!(r.next(), None);
        // Length running past the end.
        let long = [FRAME_MESSAGE, 0, 0, 0, 200, 0, 1, 2];
        assert_eq!(FrameReader::new(&long).next(), Some(Err(WireError::Truncated)));
        // Fragment index beyond count.
        let frag = [FRAME_MESSAGE | FLAG_FRAGMENT, 0, 0, 0, 0, 0, 3, 3];
        assert_eq!(FrameReader::new(&frag).next(), Some(Err(WireError::Malformed)));
    }
}
