//! Quantization and bit packing for game state.
//!
//! Game state is sent every tick, so it is packed to the bit: a position on a 1 km map
//! to the centimetre fits in 17 bits, a rotation in 29 (smallest three with 9 bits per
//! component), a flag in 1.
//!
//! - [`BoundedF32`]: a float in `[min, max]` mapped to `bits` bits, with the round-trip
//!   error bounded by half a [`resolution`](BoundedF32::resolution).
//! - [`BitWriter`] / [`BitReader`]: an LSB-first bit stream over a caller's byte slice,
//!   through a 64-bit scratch word.
//! - [`Quat`], [`compress_quat`], [`decompress_quat`], [`write_quat`], [`read_quat`]: the
//!   smallest-three quaternion encoding.
//!
//! ## Guarantees
//! No function here panics or allocates, whatever its input: a bit count outside its
//! range, a value too wide, a full buffer, a truncated stream or a garbage quaternion all
//! give a [`QuantError`] or a documented, finite value. A failed write or read leaves the
//! stream where it was.
//!
//! ## Bit order
//! Values are written least significant bit first and bytes are filled from bit 0, so a
//! stream of `write_bits(a, n)` then `write_bits(b, m)` is the integer `a | b << n` in
//! little-endian bytes. The last byte is padded with zero bits by
//! [`BitWriter::finish`] and [`BitWriter::align`].

use core::ops::Neg;

/// Why a quantization, write or read was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantError {
    /// A write would pass the end of the writer's buffer.
    Overflow,
    /// A read would pass the end of the reader's buffer.
    Underflow,
    /// A value lies outside its declared range: a written value wider than its bit count
    /// or outside `min..=max`, a decoded value above `max`, or a packed quaternion with
    /// bits set above its size.
    OutOfRange,
    /// A bit count outside `1..=32` (`1..=`[`QUAT_MAX_BITS`] for quaternion components).
    InvalidBits,
    /// An empty or non-finite range: `min > max`, or `min >= max` or a non-finite bound for
    /// [`BoundedF32`].
    InvalidRange,
    /// The padding bits skipped by [`BitReader::align`] were not zero.
    NonZeroPadding,
}

impl core::fmt::Display for QuantError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            QuantError::Overflow => "bit writer buffer full",
            QuantError::Underflow => "bit reader past end of buffer",
            QuantError::OutOfRange => "value outside its range",
            QuantError::InvalidBits => "bit count out of range",
            QuantError::InvalidRange => "empty or non-finite range",
            QuantError::NonZeroPadding => "non-zero padding bits",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for QuantError {}

/// `|x|` without libm.
#[inline]
fn abs(x: f32) -> f32 {
    f32::from_bits(x.to_bits() & 0x7fff_ffff)
}

/// Square root without libm: a bit-trick first guess refined by three Newton steps,
/// within about one ulp (relative error below 2e-7). Negative and NaN inputs give NaN;
/// `0`, `-0` and `+inf` give themselves.
pub(crate) fn sqrt_f32(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 || x == f32::INFINITY {
        return x;
    }
    // Subnormals: scale by 2^24 into the normal range, and the root back by 2^-12.
    let (x, post) = if x < f32::MIN_POSITIVE { (x * 16_777_216.0, 1.0 / 4096.0) } else { (x, 1.0) };
    // Halving the exponent in the bit pattern gives a first guess within 3.5 %; each
    // Newton step squares the relative error.
    let mut y = f32::from_bits((x.to_bits() >> 1) + 0x1fbd_1df5);
    y = 0.5 * (y + x / y);
    y = 0.5 * (y + x / y);
    y = 0.5 * (y + x / y);
    y * post
}

/// The number of bits needed to send any value of `min..=max`: `ceil(log2(max - min + 1))`,
/// 0 when `min == max`, 0 for an empty range (`min > max`).
pub const fn bits_required(min: u32, max: u32) -> u32 {
    if min >= max {
        0
    } else {
        32 - (max - min).leading_zeros()
    }
}

/// A float in `[min, max]` quantized to `bits` bits, `1..=32`.
///
/// The `2^bits` codes are spread evenly over the range, `0` is `min` and the largest code
/// is `max`, both exact. For every `x` in range,
/// `|dequantize(quantize(x)) - x| <= resolution() / 2`, plus the rounding of the result to
/// `f32`. The arithmetic is done in `f64`, so ranges as wide as `[-f32::MAX, f32::MAX]`
/// and 32-bit codes keep that bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundedF32 {
    min: f32,
    max: f32,
    bits: u32,
}

impl BoundedF32 {
    /// A bounded float, or [`QuantError::InvalidRange`] unless `min < max` and both are
    /// finite, or [`QuantError::InvalidBits`] unless `bits` is in `1..=32`.
    pub const fn try_new(min: f32, max: f32, bits: u32) -> Result<Self, QuantError> {
        if bits == 0 || bits > 32 {
            Err(QuantError::InvalidBits)
        } else if !min.is_finite() || !max.is_finite() || min >= max {
            Err(QuantError::InvalidRange)
        } else {
            Ok(BoundedF32 { min, max, bits })
        }
    }

    /// A bounded float, meant for `const` items, where an invalid description is a compile
    /// error.
    ///
    /// # Panics
    /// When [`try_new`](Self::try_new) would fail. Use `try_new` for run-time values.
    pub const fn new(min: f32, max: f32, bits: u32) -> Self {
        match Self::try_new(min, max, bits) {
            Ok(b) => b,
            Err(_) => panic!("BoundedF32 needs finite min < max and bits in 1..=32"),
        }
    }

    /// The lower bound.
    pub const fn min(&self) -> f32 {
        self.min
    }

    /// The upper bound.
    pub const fn max(&self) -> f32 {
        self.max
    }

    /// The number of bits per value.
    pub const fn bits(&self) -> u32 {
        self.bits
    }

    /// The largest code, `2^bits - 1`: the code of `max`.
    pub const fn max_code(&self) -> u32 {
        ((1u64 << self.bits) - 1) as u32
    }

    /// The distance between two neighbouring values, `(max - min) / (2^bits - 1)`.
    pub fn resolution(&self) -> f32 {
        ((self.max as f64 - self.min as f64) / self.max_code() as f64) as f32
    }

    /// The code of the value nearest `x`. Values outside the range are clamped to it
    /// (`-inf` to `min`, `+inf` to `max`); NaN maps to the code of `min`, `0`.
    pub fn quantize(&self, x: f32) -> u32 {
        let steps = self.max_code();
        if x.is_nan() || x <= self.min {
            return 0;
        }
        if x >= self.max {
            return steps;
        }
        let t = (x as f64 - self.min as f64) / (self.max as f64 - self.min as f64) * steps as f64;
        // `t` is in (0, steps): adding a half and truncating rounds to nearest.
        let q = (t + 0.5) as u64;
        if q > steps as u64 {
            steps
        } else {
            q as u32
        }
    }

    /// The value of `code`. Codes above [`max_code`](Self::max_code) (which only a caller
    /// can produce, never a [`BitReader`]) are clamped to it. The result always lies in
    /// `[min, max]`.
    pub fn dequantize(&self, code: u32) -> f32 {
        let steps = self.max_code();
        let t = code.min(steps) as f64 / steps as f64;
        let v = (self.min as f64 + (self.max as f64 - self.min as f64) * t) as f32;
        v.clamp(self.min, self.max)
    }
}

/// An LSB-first bit stream written into a caller's byte slice.
///
/// Call the `write_*` methods in the order the reader will call the matching `read_*`,
/// then [`finish`](Self::finish) to flush the last bits and learn the length to send.
/// Until `finish`, the tail of the buffer is not up to date.
///
/// Every write is all or nothing: on error nothing is written and the writer can go on.
#[derive(Debug)]
pub struct BitWriter<'a> {
    buf: &'a mut [u8],
    /// Bits not yet stored in `buf`, the oldest in bit 0. Fewer than 32 between calls.
    scratch: u64,
    scratch_bits: u32,
    /// Bytes of `buf` already stored; `scratch` continues at this byte.
    byte_pos: usize,
    bits_written: usize,
    capacity_bits: usize,
}

impl<'a> BitWriter<'a> {
    /// A writer at the start of `buf`. The writer overwrites the bytes it reaches.
    pub fn new(buf: &'a mut [u8]) -> Self {
        let capacity_bits = buf.len().checked_mul(8).unwrap_or(usize::MAX & !7);
        BitWriter { buf, scratch: 0, scratch_bits: 0, byte_pos: 0, bits_written: 0, capacity_bits }
    }

    /// Bits written so far, padding included.
    pub fn bits_written(&self) -> usize {
        self.bits_written
    }

    /// The bytes [`finish`](Self::finish) would report now: `bits_written` rounded up.
    pub fn bytes_written(&self) -> usize {
        self.bits_written.div_ceil(8)
    }

    /// Bits that still fit in the buffer.
    pub fn bits_remaining(&self) -> usize {
        self.capacity_bits - self.bits_written
    }

    /// Writes the low `bits` bits of `value`.
    ///
    /// Errors: [`QuantError::InvalidBits`] unless `bits` is in `1..=32`,
    /// [`QuantError::OutOfRange`] if `value` has bits set at or above `bits`,
    /// [`QuantError::Overflow`] if the buffer has fewer than `bits` bits left.
    pub fn write_bits(&mut self, value: u32, bits: u32) -> Result<(), QuantError> {
        if bits == 0 || bits > 32 {
            return Err(QuantError::InvalidBits);
        }
        if bits < 32 && value >> bits != 0 {
            return Err(QuantError::OutOfRange);
        }
        if self.bits_remaining() < bits as usize {
            return Err(QuantError::Overflow);
        }
        self.push(value, bits)
    }

    /// Appends checked bits to the scratch word and stores a full 32-bit word.
    fn push(&mut self, value: u32, bits: u32) -> Result<(), QuantError> {
        // scratch_bits < 32 and bits <= 32: the result fits in 64 bits.
        self.scratch |= u64::from(value) << self.scratch_bits;
        self.scratch_bits += bits;
        self.bits_written += bits as usize;
        if self.scratch_bits >= 32 {
            // The 32 bits were counted in bits_written <= capacity_bits, so the 4 bytes lie
            // inside the buffer; `get_mut` only guards the invariant.
            let end = self.byte_pos + 4;
            let dst = self.buf.get_mut(self.byte_pos..end).ok_or(QuantError::Overflow)?;
            dst.copy_from_slice(&(self.scratch as u32).to_le_bytes());
            self.scratch >>= 32;
            self.scratch_bits -= 32;
            self.byte_pos = end;
        }
        Ok(())
    }

    /// Writes one bit, 1 for `true`.
    pub fn write_bool(&mut self, value: bool) -> Result<(), QuantError> {
        self.write_bits(u32::from(value), 1)
    }

    /// Writes `value` in [`bits_required`]`(min, max)` bits, as `value - min`; nothing when
    /// `min == max`.
    ///
    /// Errors: [`QuantError::InvalidRange`] if `min > max`, [`QuantError::OutOfRange`]
    /// unless `min <= value <= max`, [`QuantError::Overflow`].
    pub fn write_range(&mut self, value: u32, min: u32, max: u32) -> Result<(), QuantError> {
        if min > max {
            return Err(QuantError::InvalidRange);
        }
        if value < min || value > max {
            return Err(QuantError::OutOfRange);
        }
        let bits = bits_required(min, max);
        if bits == 0 {
            return Ok(());
        }
        self.write_bits(value - min, bits)
    }

    /// Writes the 32 raw bits of `value` (any float, NaN payloads included).
    pub fn write_f32(&mut self, value: f32) -> Result<(), QuantError> {
        self.write_bits(value.to_bits(), 32)
    }

    /// Writes `value` quantized by `bounds` in `bounds.bits()` bits. Out-of-range values are
    /// clamped and NaN is sent as `min` (see [`BoundedF32::quantize`]).
    pub fn write_bounded(&mut self, bounds: &BoundedF32, value: f32) -> Result<(), QuantError> {
        self.write_bits(bounds.quantize(value), bounds.bits)
    }

    /// Pads with zero bits to the next byte boundary (nothing if already there). Never
    /// overflows: the buffer is a whole number of bytes.
    pub fn align(&mut self) -> Result<(), QuantError> {
        let pad = (8 - (self.bits_written % 8) as u32) % 8;
        if pad == 0 {
            return Ok(());
        }
        if self.bits_remaining() < pad as usize {
            return Err(QuantError::Overflow);
        }
        self.push(0, pad)
    }

    /// Stores the last bits, zero-padded to a byte, and returns the number of bytes of the
    /// buffer that hold the stream: the length to send.
    #[must_use]
    pub fn finish(mut self) -> usize {
        let len = self.bytes_written();
        let bytes = self.scratch.to_le_bytes();
        // At most 4 bytes: fewer than 32 bits wait in the scratch word.
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.byte_pos..len), bytes.get(..len - self.byte_pos)) {
            dst.copy_from_slice(src);
        }
        self.byte_pos = len;
        len
    }
}

/// An LSB-first bit stream read from a byte slice, the mirror of [`BitWriter`].
///
/// Every read is all or nothing: on error nothing is consumed. The reader never looks
/// outside the slice; input is untrusted and any byte string is safe to read.
#[derive(Debug)]
pub struct BitReader<'a> {
    buf: &'a [u8],
    /// Bits loaded from `buf` but not yet returned, the next in bit 0. Fewer than 32
    /// between calls.
    scratch: u64,
    scratch_bits: u32,
    /// Bytes of `buf` loaded into `scratch`.
    byte_pos: usize,
    bits_read: usize,
    total_bits: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        let total_bits = buf.len().checked_mul(8).unwrap_or(usize::MAX & !7);
        BitReader { buf, scratch: 0, scratch_bits: 0, byte_pos: 0, bits_read: 0, total_bits }
    }

    /// Bits consumed so far, padding included.
    pub fn bits_read(&self) -> usize {
        self.bits_read
    }

    /// Bytes touched so far: `bits_read` rounded up.
    pub fn bytes_read(&self) -> usize {
        self.bits_read.div_ceil(8)
    }

    /// Bits left in the buffer.
    pub fn bits_remaining(&self) -> usize {
        self.total_bits - self.bits_read
    }

    /// Reads `bits` bits written by [`BitWriter::write_bits`].
    ///
    /// Errors: [`QuantError::InvalidBits`] unless `bits` is in `1..=32`,
    /// [`QuantError::Underflow`] if fewer than `bits` bits are left.
    pub fn read_bits(&mut self, bits: u32) -> Result<u32, QuantError> {
        if bits == 0 || bits > 32 {
            return Err(QuantError::InvalidBits);
        }
        if self.bits_remaining() < bits as usize {
            return Err(QuantError::Underflow);
        }
        if self.scratch_bits < bits {
            // Load up to 4 bytes above the bits held: scratch_bits < 32, so they fit, and
            // the length check above means enough bytes are left to cover `bits`.
            let end = self.buf.len().min(self.byte_pos.saturating_add(4));
            let chunk = self.buf.get(self.byte_pos..end).unwrap_or(&[]);
            let mut word = [0u8; 4];
            if let Some(dst) = word.get_mut(..chunk.len()) {
                dst.copy_from_slice(chunk);
            }
            self.scratch |= u64::from(u32::from_le_bytes(word)) << self.scratch_bits;
            self.scratch_bits += 8 * chunk.len() as u32;
            self.byte_pos = end;
            if self.scratch_bits < bits {
                return Err(QuantError::Underflow);
            }
        }
        let value = (self.scratch & ((1u64 << bits) - 1)) as u32;
        self.scratch >>= bits;
        self.scratch_bits -= bits;
        self.bits_read += bits as usize;
        Ok(value)
    }

    /// Reads one bit written by [`BitWriter::write_bool`].
    pub fn read_bool(&mut self) -> Result<bool, QuantError> {
        Ok(self.read_bits(1)? != 0)
    }

    /// Reads a value written by [`BitWriter::write_range`] with the same `min` and `max`.
    ///
    /// Errors: [`QuantError::InvalidRange`] if `min > max`, [`QuantError::Underflow`], and
    /// [`QuantError::OutOfRange`] if the decoded value is above `max` (possible whenever
    /// `max - min + 1` is not a power of two); the bits are consumed in that case.
    pub fn read_range(&mut self, min: u32, max: u32) -> Result<u32, QuantError> {
        if min > max {
            return Err(QuantError::InvalidRange);
        }
        let bits = bits_required(min, max);
        if bits == 0 {
            return Ok(min);
        }
        let offset = self.read_bits(bits)?;
        match min.checked_add(offset) {
            Some(v) if v <= max => Ok(v),
            _ => Err(QuantError::OutOfRange),
        }
    }

    /// Reads 32 raw bits written by [`BitWriter::write_f32`]. The result may be NaN or
    /// infinite: validate it if it came from the network.
    pub fn read_f32(&mut self) -> Result<f32, QuantError> {
        Ok(f32::from_bits(self.read_bits(32)?))
    }

    /// Reads a value written by [`BitWriter::write_bounded`] with the same `bounds`. The
    /// result is always finite and within `[min, max]`.
    pub fn read_bounded(&mut self, bounds: &BoundedF32) -> Result<f32, QuantError> {
        Ok(bounds.dequantize(self.read_bits(bounds.bits)?))
    }

    /// Skips to the next byte boundary, the mirror of [`BitWriter::align`].
    ///
    /// Errors: [`QuantError::NonZeroPadding`] if a skipped bit is set (the bits are
    /// consumed anyway). Never underflows: the buffer is a whole number of bytes.
    pub fn align(&mut self) -> Result<(), QuantError> {
        let pad = (8 - (self.bits_read % 8) as u32) % 8;
        if pad == 0 {
            return Ok(());
        }
        if self.read_bits(pad)? != 0 {
            return Err(QuantError::NonZeroPadding);
        }
        Ok(())
    }
}

/// A rotation quaternion `x i + y j + z k + w`. `q` and `-q` are the same rotation.
///
/// A plain value: nothing keeps it normalized. [`Default`] is [`Quat::IDENTITY`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quat {
    /// The `i` component.
    pub x: f32,
    /// The `j` component.
    pub y: f32,
    /// The `k` component.
    pub z: f32,
    /// The real component.
    pub w: f32,
}

impl Default for Quat {
    fn default() -> Self {
        Quat::IDENTITY
    }
}

impl Neg for Quat {
    type Output = Quat;
    fn neg(self) -> Quat {
        Quat::new(-self.x, -self.y, -self.z, -self.w)
    }
}

impl Quat {
    /// No rotation.
    pub const IDENTITY: Quat = Quat::new(0.0, 0.0, 0.0, 1.0);

    /// A quaternion from its components, not normalized.
    pub const fn new(x: f32, y: f32, z: f32, w: f32) -> Self {
        Quat { x, y, z, w }
    }

    /// The components in `[x, y, z, w]` order.
    pub const fn to_array(self) -> [f32; 4] {
        [self.x, self.y, self.z, self.w]
    }

    /// A quaternion from `[x, y, z, w]`.
    pub const fn from_array(c: [f32; 4]) -> Self {
        Quat::new(c[0], c[1], c[2], c[3])
    }

    /// The 4-dimensional dot product; `|a.dot(b)|` is `cos(angle / 2)` between two unit
    /// rotations.
    pub fn dot(self, other: Quat) -> f32 {
        self.x * other.x + self.y * other.y + self.z * other.z + self.w * other.w
    }

    /// The squared length.
    pub fn length_squared(self) -> f32 {
        self.dot(self)
    }

    /// The same rotation with unit length. A quaternion with a non-finite component or of
    /// zero length has no direction and gives [`Quat::IDENTITY`].
    pub fn normalized(self) -> Quat {
        let c = self.to_array();
        if c.iter().any(|v| !v.is_finite()) {
            return Quat::IDENTITY;
        }
        let n2 = self.length_squared();
        if n2.is_finite() && n2 >= 1e-30 {
            let inv = 1.0 / sqrt_f32(n2);
            return Quat::from_array(c.map(|v| v * inv));
        }
        // Too small or too large to square in f32: scale by the largest component first.
        let m = c.iter().fold(0.0f32, |m, &v| m.max(abs(v)));
        if m == 0.0 {
            return Quat::IDENTITY;
        }
        let s = Quat::from_array(c.map(|v| v / m));
        let inv = 1.0 / sqrt_f32(s.length_squared());
        Quat::from_array(s.to_array().map(|v| v * inv))
    }
}

/// The largest bits per component [`compress_quat`] accepts: `2 + 3 * 20 = 62` bits fit
/// a `u64`.
pub const QUAT_MAX_BITS: u32 = 20;

/// The size in bits of a quaternion packed with `bits_per_component` bits:
/// `2 + 3 * bits_per_component`.
pub const fn quat_bits(bits_per_component: u32) -> u32 {
    2 + 3 * bits_per_component
}

/// The range of the three smallest components of a unit quaternion.
const SMALLEST_THREE: f32 = core::f32::consts::FRAC_1_SQRT_2;

const fn component_bounds(bits: u32) -> Result<BoundedF32, QuantError> {
    if bits == 0 || bits > QUAT_MAX_BITS {
        return Err(QuantError::InvalidBits);
    }
    BoundedF32::try_new(-SMALLEST_THREE, SMALLEST_THREE, bits)
}

/// Packs a rotation with the smallest-three encoding, in [`quat_bits`]`(bits)` bits.
///
/// `q` is normalized first (a degenerate `q` is sent as the identity, see
/// [`Quat::normalized`]). The component of largest magnitude is dropped and its index
/// stored in bits 0..2 (0 = x … 3 = w); the quaternion is negated if needed so the dropped
/// component is positive, which makes `q` and `-q` pack identically. The other three, in
/// `x, y, z, w` order, lie in `[-1/√2, 1/√2]` and follow as [`BoundedF32`] codes of
/// `bits` bits each.
///
/// With `b` bits the error of each sent component is at most `√2 / (2^b - 1) / 2`; for
/// `b = 9` the round-trip `|q · q'|` stays above 0.99996.
///
/// Errors: [`QuantError::InvalidBits`] unless `bits` is in `1..=`[`QUAT_MAX_BITS`].
pub fn compress_quat(q: Quat, bits: u32) -> Result<u64, QuantError> {
    let bounds = component_bounds(bits)?;
    let c = q.normalized().to_array();
    let mut largest = 0;
    for (i, v) in c.iter().enumerate() {
        if abs(*v) > abs(c[largest]) {
            largest = i;
        }
    }
    let sign = if c[largest] < 0.0 { -1.0 } else { 1.0 };
    let mut packed = largest as u64;
    let mut shift = 2;
    for (i, v) in c.iter().enumerate() {
        if i != largest {
            packed |= u64::from(bounds.quantize(v * sign)) << shift;
            shift += bits;
        }
    }
    Ok(packed)
}

/// Unpacks a rotation packed by [`compress_quat`] with the same `bits`.
///
/// The dropped component is rebuilt as `sqrt(1 - a² - b² - c²)`, clamped to zero when the
/// three sent components are too large (garbage input), and the result is normalized: it
/// is always a finite unit quaternion.
///
/// Errors: [`QuantError::InvalidBits`] unless `bits` is in `1..=`[`QUAT_MAX_BITS`];
/// [`QuantError::OutOfRange`] if `packed` has bits set above [`quat_bits`]`(bits)`.
pub fn decompress_quat(packed: u64, bits: u32) -> Result<Quat, QuantError> {
    let bounds = component_bounds(bits)?;
    if packed >> quat_bits(bits) != 0 {
        return Err(QuantError::OutOfRange);
    }
    let largest = (packed & 3) as usize;
    let mask = (1u64 << bits) - 1;
    let mut c = [0.0f32; 4];
    let mut shift = 2;
    let mut sum = 0.0f32;
    for (i, v) in c.iter_mut().enumerate() {
        if i != largest {
            *v = bounds.dequantize(((packed >> shift) & mask) as u32);
            sum += *v * *v;
            shift += bits;
        }
    }
    let rest = 1.0 - sum;
    if let Some(v) = c.get_mut(largest) {
        *v = if rest > 0.0 { sqrt_f32(rest) } else { 0.0 };
    }
    Ok(Quat::from_array(c).normalized())
}

/// Writes `q` packed by [`compress_quat`]: [`quat_bits`]`(bits)` bits, all or nothing.
///
/// Errors: [`QuantError::InvalidBits`], [`QuantError::Overflow`].
pub fn write_quat(w: &mut BitWriter<'_>, q: Quat, bits: u32) -> Result<(), QuantError> {
    let packed = compress_quat(q, bits)?;
    if w.bits_remaining() < quat_bits(bits) as usize {
        return Err(QuantError::Overflow);
    }
    let mask = (1u64 << bits) - 1;
    w.write_bits((packed & 3) as u32, 2)?;
    for k in 0..3 {
        w.write_bits(((packed >> (2 + k * bits)) & mask) as u32, bits)?;
    }
    Ok(())
}

/// Reads a rotation written by [`write_quat`] with the same `bits`. Any bit pattern gives
/// a finite unit quaternion.
///
/// Errors: [`QuantError::InvalidBits`], [`QuantError::Underflow`] (nothing consumed).
pub fn read_quat(r: &mut BitReader<'_>, bits: u32) -> Result<Quat, QuantError> {
    component_bounds(bits)?;
    if r.bits_remaining() < quat_bits(bits) as usize {
        return Err(QuantError::Underflow);
    }
    let mut packed = u64::from(r.read_bits(2)?);
    for k in 0..3 {
        packed |= u64::from(r.read_bits(bits)?) << (2 + k * bits);
    }
    decompress_quat(packed, bits)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn sqrt_matches_within_an_ulp() {
        // xorshift64*
        let mut state = 7u64;
        for _ in 0..100_000 {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let x = f32::from_bits((state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as u32);
            let got = sqrt_f32(x);
            if x.is_nan() || x == 0.0 {
                assert!(got.is_nan() == x.is_nan() && (x.is_nan() || got == 0.0));
                continue;
            }
            let want = (x as f64).sqrt();
            let err = ((got as f64 - want) / want).abs();
            assert!(err < 2e-7 || (x.is_infinite() && got.is_infinite()), "sqrt({x}) = {got}, want {want}");
        }
        assert_eq!(sqrt_f32(0.0), 0.0);
        assert_eq!(sqrt_f32(4.0), 2.0);
        assert_eq!(sqrt_f32(f32::MIN_POSITIVE / 4.0), 0.5 * sqrt_f32(f32::MIN_POSITIVE));
        assert!(sqrt_f32(-1.0).is_nan());
        assert_eq!(sqrt_f32(f32::INFINITY), f32::INFINITY);
    }

    #[test]
    fn bit_layout_is_lsb_first() {
        let mut buf = [0u8; 4];
        let mut w = BitWriter::new(&mut buf);
        w.write_bits(0b101, 3).unwrap();
        w.write_bool(true).unwrap();
        w.write_bits(0xabc, 12).unwrap();
        w.write_bits(1, 2).unwrap();
        assert_eq!(w.bytes_written(), 3);
        assert_eq!(w.finish(), 3);
        assert_eq!(buf, [0xcd, 0xab, 0x01, 0x00]);
    }
}
