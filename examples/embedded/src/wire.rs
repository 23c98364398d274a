//! What the example sends, bit-packed with kaos-core's [`quant`](kaos_core::quant) module.
//!
//! - [`Snapshot`] (server → client, unreliable-sequenced, every server tick): the tick,
//!   the newest input the server applied, and each entity's position in 16 bits per
//!   coordinate over ±64 m (2 mm steps). Four entities: 24 bytes instead of 43 raw.
//! - [`Input`] (client → server, unreliable-sequenced, every client tick): 5 bytes.
//! - Numbered messages (reliable-ordered, both ways): a counter and a checkable body of
//!   varying length, up to [`MAX_NUMBERED`] bytes, so some are fragmented.
//!
//! Decoders treat input as hostile: every error is a value, nothing panics.

use kaos_core::quant::{bits_required, BitReader, BitWriter, BoundedF32, QuantError};
use kaos_core::time::{Duration, Instant};

/// The server's tick: one snapshot every 50 ms (20 Hz). Both sides know it.
pub const TICK: Duration = Duration::from_millis(50);

/// The time of server tick `tick` on the server's clock.
pub fn tick_time(tick: u32) -> Instant {
    Instant::from_micros(u64::from(tick) * TICK.as_micros())
}

/// Entities in a snapshot; ids are `0..MAX_ENTITIES`.
pub const MAX_ENTITIES: usize = 4;
/// A coordinate: ±64 m in 16 bits, a step of 128 / 65535 m.
pub const POS: BoundedF32 = BoundedF32::new(-64.0, 64.0, 16);
/// A stick axis: ±1 in 8 bits.
pub const STICK: BoundedF32 = BoundedF32::new(-1.0, 1.0, 8);

const SNAPSHOT: u32 = 1;
const INPUT: u32 = 2;
const KIND_BITS: u32 = 2;
const COUNT_BITS: u32 = bits_required(0, MAX_ENTITIES as u32);
const ID_BITS: u32 = bits_required(0, MAX_ENTITIES as u32 - 1);
const SNAPSHOT_BITS: u32 = KIND_BITS + 32 + 16 + COUNT_BITS + MAX_ENTITIES as u32 * (ID_BITS + 2 * POS.bits());
/// The largest encoded snapshot: it must fit one datagram (no fragmentation).
pub const MAX_SNAPSHOT_BYTES: usize = SNAPSHOT_BITS.div_ceil(8) as usize;
/// An encoded input's length.
pub const INPUT_BYTES: usize = (KIND_BITS + 16 + 2 * STICK.bits() + 1).div_ceil(8) as usize;
/// The longest numbered message.
pub const MAX_NUMBERED: usize = 400;

/// Why bytes did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Truncated, or a field out of its range.
    Bits(QuantError),
    /// Another message kind.
    WrongKind,
    /// Bytes left after the message.
    Trailing,
}

impl From<QuantError> for DecodeError {
    fn from(e: QuantError) -> Self {
        DecodeError::Bits(e)
    }
}

/// One entity's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entity {
    /// `0..MAX_ENTITIES`.
    pub id: u8,
    /// Metres, within [`POS`]'s range (clamped to it when sent).
    pub pos: [f32; 2],
}

/// The world at one server tick.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Server tick; its time is `tick * TICK` on the server's clock.
    pub tick: u32,
    /// The newest input sequence number the server applied (for client prediction).
    pub last_input: u16,
    /// The entities.
    pub entities: heapless::Vec<Entity, MAX_ENTITIES>,
}

/// One client tick's controls.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Input {
    /// Wrapping sequence number.
    pub seq: u16,
    /// Stick, each axis in `[-1, 1]`.
    pub stick: [f32; 2],
    /// A button.
    pub fire: bool,
}

fn check_end(r: &mut BitReader<'_>) -> Result<(), DecodeError> {
    r.align()?;
    if r.bits_remaining() == 0 {
        Ok(())
    } else {
        Err(DecodeError::Trailing)
    }
}

fn read_kind(r: &mut BitReader<'_>, kind: u32) -> Result<(), DecodeError> {
    if r.read_bits(KIND_BITS)? == kind {
        Ok(())
    } else {
        Err(DecodeError::WrongKind)
    }
}

impl Snapshot {
    /// Writes the snapshot into `buf` (at least [`MAX_SNAPSHOT_BYTES`]); its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, QuantError> {
        let mut w = BitWriter::new(buf);
        w.write_bits(SNAPSHOT, KIND_BITS)?;
        w.write_bits(self.tick, 32)?;
        w.write_bits(u32::from(self.last_input), 16)?;
        w.write_range(self.entities.len() as u32, 0, MAX_ENTITIES as u32)?;
        for e in &self.entities {
            w.write_range(u32::from(e.id), 0, MAX_ENTITIES as u32 - 1)?;
            w.write_bounded(&POS, e.pos[0])?;
            w.write_bounded(&POS, e.pos[1])?;
        }
        Ok(w.finish())
    }

    /// Reads a snapshot written by [`encode`](Self::encode).
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = BitReader::new(buf);
        read_kind(&mut r, SNAPSHOT)?;
        let mut s = Snapshot { tick: r.read_bits(32)?, last_input: r.read_bits(16)? as u16, ..Snapshot::default() };
        let count = r.read_range(0, MAX_ENTITIES as u32)?;
        for _ in 0..count {
            let id = r.read_range(0, MAX_ENTITIES as u32 - 1)? as u8;
            let pos = [r.read_bounded(&POS)?, r.read_bounded(&POS)?];
            // `count <= MAX_ENTITIES`: never full.
            let _ = s.entities.push(Entity { id, pos });
        }
        check_end(&mut r)?;
        Ok(s)
    }
}

impl Input {
    /// Writes the input into `buf` (at least [`INPUT_BYTES`]); its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, QuantError> {
        let mut w = BitWriter::new(buf);
        w.write_bits(INPUT, KIND_BITS)?;
        w.write_bits(u32::from(self.seq), 16)?;
        w.write_bounded(&STICK, self.stick[0])?;
        w.write_bounded(&STICK, self.stick[1])?;
        w.write_bool(self.fire)?;
        Ok(w.finish())
    }

    /// Reads an input written by [`encode`](Self::encode).
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = BitReader::new(buf);
        read_kind(&mut r, INPUT)?;
        let seq = r.read_bits(16)? as u16;
        let stick = [r.read_bounded(&STICK)?, r.read_bounded(&STICK)?];
        let fire = r.read_bool()?;
        check_end(&mut r)?;
        Ok(Input { seq, stick, fire })
    }
}

/// The length of numbered message `k`: 4 to [`MAX_NUMBERED`] bytes.
pub fn numbered_len(k: u32) -> usize {
    4 + (u64::from(k) * 97 % (MAX_NUMBERED as u64 - 3)) as usize
}

fn body_byte(k: u32, i: usize) -> u8 {
    (k as u8).wrapping_mul(31) ^ (i as u8)
}

/// Writes numbered message `k` into `buf` (at least [`MAX_NUMBERED`]) and returns it.
pub fn numbered(k: u32, buf: &mut [u8]) -> &[u8] {
    let len = numbered_len(k).min(buf.len());
    let out = &mut buf[..len];
    for (i, b) in out.iter_mut().enumerate() {
        *b = body_byte(k, i);
    }
    if let Some(head) = out.get_mut(..4) {
        head.copy_from_slice(&k.to_le_bytes());
    }
    out
}

/// The number of an intact numbered message, `None` if any byte is wrong.
pub fn parse_numbered(data: &[u8]) -> Option<u32> {
    let k = u32::from_le_bytes(data.get(..4)?.try_into().ok()?);
    let intact = data.len() == numbered_len(k) && data.iter().enumerate().skip(4).all(|(i, &b)| b == body_byte(k, i));
    intact.then_some(k)
}

/// Checks that numbered messages arrive whole, each once, in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InOrder {
    /// The number expected next (= messages accepted so far).
    pub next: u32,
    /// Messages that were corrupt, repeated or out of order.
    pub wrong: u32,
}

impl InOrder {
    /// Records one received message.
    pub fn accept(&mut self, data: &[u8]) {
        match parse_numbered(data) {
            Some(k) if k == self.next => self.next += 1,
            _ => self.wrong += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radio::Prng;

    fn unit(rng: &mut Prng) -> f32 {
        (rng.below(1 << 24) as f32) / (1u32 << 24) as f32
    }

    #[test]
    fn snapshot_round_trip_within_resolution() {
        let mut rng = Prng::new(42);
        let half = POS.resolution() / 2.0 + 1e-5;
        let mut buf = [0u8; MAX_SNAPSHOT_BYTES];
        for round in 0..500u32 {
            let mut s = Snapshot { tick: rng.next_u64() as u32, last_input: round as u16, ..Default::default() };
            for id in 0..(round as usize % (MAX_ENTITIES + 1)) {
                let pos = [unit(&mut rng) * 128.0 - 64.0, unit(&mut rng) * 128.0 - 64.0];
                s.entities.push(Entity { id: id as u8, pos }).unwrap();
            }
            let n = s.encode(&mut buf).unwrap();
            let d = Snapshot::decode(&buf[..n]).unwrap();
            assert_eq!((d.tick, d.last_input, d.entities.len()), (s.tick, s.last_input, s.entities.len()));
            for (a, b) in s.entities.iter().zip(&d.entities) {
                assert_eq!(a.id, b.id);
                for axis in 0..2 {
                    let err = a.pos[axis] - b.pos[axis];
                    assert!(err < half && -err < half, "{a:?} came back as {b:?}");
                }
            }
        }
        assert_eq!(MAX_SNAPSHOT_BYTES, 24, "4 entities: 2 + 32 + 16 + 3 + 4 * (2 + 32) = 189 bits");
    }

    #[test]
    fn snapshot_decoding_refuses_bad_bytes() {
        let mut s = Snapshot { tick: 9, last_input: 3, ..Default::default() };
        s.entities.push(Entity { id: 1, pos: [1.0, -2.0] }).unwrap();
        let mut buf = [0u8; 64];
        let n = s.encode(&mut buf).unwrap();
        for cut in 0..n {
            assert!(Snapshot::decode(&buf[..cut]).is_err(), "truncated to {cut}");
        }
        assert_eq!(Snapshot::decode(&buf[..n + 1]), Err(DecodeError::Trailing));
        let mut small = [0u8; 4];
        assert_eq!(s.encode(&mut small), Err(QuantError::Overflow));
        s.entities[0].id = MAX_ENTITIES as u8;
        assert_eq!(s.encode(&mut buf), Err(QuantError::OutOfRange));
        let i = Input { seq: 1, stick: [0.5, -0.5], fire: true };
        let n = i.encode(&mut buf).unwrap();
        assert_eq!(Snapshot::decode(&buf[..n]), Err(DecodeError::WrongKind));
    }

    #[test]
    fn input_round_trip() {
        let mut buf = [0u8; INPUT_BYTES];
        for (seq, stick, fire) in [(0, [0.0, 0.0], false), (65535, [1.0, -1.0], true), (7, [0.3, -0.71], true)] {
            let i = Input { seq, stick, fire };
            let n = i.encode(&mut buf).unwrap();
            assert_eq!(n, INPUT_BYTES);
            let d = Input::decode(&buf[..n]).unwrap();
            assert_eq!((d.seq, d.fire), (seq, fire));
            for (got, sent) in d.stick.iter().zip(stick) {
                assert!((got - sent).abs() <= STICK.resolution() / 2.0 + 1e-6, "{d:?}");
            }
        }
    }

    #[test]
    fn numbered_messages_are_checked() {
        let mut buf = [0u8; MAX_NUMBERED];
        let mut order = InOrder::default();
        for k in 0..40 {
            let m = numbered(k, &mut buf);
            assert_eq!(m.len(), numbered_len(k));
            assert_eq!(parse_numbered(m), Some(k));
            order.accept(m);
        }
        assert_eq!(order, InOrder { next: 40, wrong: 0 });
        assert!((0..40).any(|k| numbered_len(k) > 300), "some need two fragments");
        let m = numbered(40, &mut buf).len();
        buf[m - 1] ^= 1;
        assert_eq!(parse_numbered(&buf[..m]), None);
        order.accept(&buf[..m]);
        let m = numbered(39, &mut buf);
        order.accept(m);
        assert_eq!(order, InOrder { next: 40, wrong: 2 });
    }
}
