// Quantization, bit packing and snapshot interpolation through the public API: round-trip
// error bounds, error cases, hostile bytes into the reader, a model-checked
// SnapshotBuffer, and one entity state from writer to interpolated sample.

use kaos_core::interp::{Interpolate, SnapshotBuffer};
use kaos_core::quant::{
    bits_required, compress_quat, decompress_quat, quat_bits, read_quat, write_quat, BitReader, BitWriter, BoundedF32,
    QuantError, Quat, QUAT_MAX_BITS,
};
use kaos_core::time::{Duration, Instant};

/// xorshift64*: deterministic test input without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn quat(&mut self) -> Quat {
        loop {
            let q = Quat::new(
                self.unit() * 2.0 - 1.0,
                self.unit() * 2.0 - 1.0,
                self.unit() * 2.0 - 1.0,
                self.unit() * 2.0 - 1.0,
            );
            let n = q.length_squared();
            if n > 0.01 && n <= 1.0 {
                return q.normalized();
            }
        }
    }
}

const HALF_SQRT2: f32 = std::f32::consts::FRAC_1_SQRT_2;

// ---- BoundedF32 ----

#[test]
fn bounded_round_trip_within_half_resolution() {
    let configs = [
        BoundedF32::new(0.0, 1.0, 1),
        BoundedF32::new(-1.0, 1.0, 8),
        BoundedF32::new(-512.0, 512.0, 17),
        BoundedF32::new(-1e6, 1e6, 24),
        BoundedF32::new(0.25, 0.75, 32),
        BoundedF32::new(-3.0, 1e-3, 31),
        BoundedF32::new(-f32::MAX, f32::MAX, 16),
    ];
    let mut rng = Rng(1);
    for b in configs {
        let half = b.resolution() as f64 / 2.0;
        let check = |x: f32| {
            let y = b.dequantize(b.quantize(x));
            // Plus the rounding of the result to f32.
            let slack = x.abs().max(b.min().abs()).max(b.max().abs()) as f64 * f32::EPSILON as f64;
            let err = (y as f64 - x as f64).abs();
            assert!(err <= half + slack, "{b:?}: {x} -> {y}, err {err}, half resolution {half}");
            assert!(y >= b.min() && y <= b.max());
        };
        check(b.min());
        check(b.max());
        check(0.0f32.clamp(b.min(), b.max()));
        let lerp = |t: f64| (b.min() as f64 + (b.max() as f64 - b.min() as f64) * t) as f32;
        for k in 0..=1000 {
            check(lerp(k as f64 / 1000.0));
        }
        for _ in 0..20_000 {
            check(lerp(rng.unit() as f64));
        }
        // Every code sits on the grid: quantize(dequantize(c)) == c for codes near both ends.
        for c in (0..64).chain(b.max_code().saturating_sub(64)..=b.max_code()) {
            if b.bits() <= 24 && c <= b.max_code() {
                assert_eq!(b.quantize(b.dequantize(c)), c, "{b:?} code {c}");
            }
        }
        assert_eq!(b.dequantize(0), b.min());
        assert_eq!(b.dequantize(b.max_code()), b.max());
        assert_eq!(b.dequantize(u32::MAX), b.max());
    }
    assert_eq!(BoundedF32::new(0.0, 1.0, 8).max_code(), 255);
    assert_eq!(BoundedF32::new(0.0, 255.0, 8).resolution(), 1.0);
    assert_eq!(BoundedF32::new(0.0, 1.0, 32).max_code(), u32::MAX);
}

#[test]
fn bounded_clamps_and_handles_nan() {
    let b = BoundedF32::new(-10.0, 10.0, 10);
    assert_eq!(b.quantize(f32::NAN), 0);
    assert_eq!(b.quantize(-1e30), 0);
    assert_eq!(b.quantize(f32::NEG_INFINITY), 0);
    assert_eq!(b.quantize(f32::INFINITY), 1023);
    assert_eq!(b.quantize(11.0), 1023);
    assert_eq!(BoundedF32::try_new(1.0, 1.0, 8), Err(QuantError::InvalidRange));
    assert_eq!(BoundedF32::try_new(2.0, 1.0, 8), Err(QuantError::InvalidRange));
    assert_eq!(BoundedF32::try_new(0.0, f32::INFINITY, 8), Err(QuantError::InvalidRange));
    assert_eq!(BoundedF32::try_new(f32::NAN, 1.0, 8), Err(QuantError::InvalidRange));
    assert_eq!(BoundedF32::try_new(0.0, 1.0, 0), Err(QuantError::InvalidBits));
    assert_eq!(BoundedF32::try_new(0.0, 1.0, 33), Err(QuantError::InvalidBits));
    const POS: BoundedF32 = BoundedF32::new(-1024.0, 1024.0, 18);
    assert_eq!(POS.bits(), 18);
}

// ---- BitWriter / BitReader ----

#[test]
fn bits_round_trip() {
    let mut buf = [0u8; 16];
    let mut w = BitWriter::new(&mut buf);
    w.write_bits(0b101, 3).unwrap();
    w.write_bool(true).unwrap();
    w.write_bits(0xdead_beef, 32).unwrap();
    w.write_range(70, 10, 100).unwrap(); // 7 bits
    w.write_range(5, 5, 5).unwrap(); // 0 bits
    w.write_f32(-1.5).unwrap();
    assert_eq!(w.bits_written(), 3 + 1 + 32 + 7 + 32);
    w.align().unwrap();
    assert_eq!(w.bits_written(), 80);
    w.align().unwrap();
    assert_eq!(w.bits_written(), 80);
    w.write_bits(0xab, 8).unwrap();
    assert_eq!(w.bytes_written(), 11);
    assert_eq!(w.finish(), 11);

    let mut r = BitReader::new(&buf[..11]);
    assert_eq!(r.read_bits(3), Ok(0b101));
    assert_eq!(r.read_bool(), Ok(true));
    assert_eq!(r.read_bits(32), Ok(0xdead_beef));
    assert_eq!(r.read_range(10, 100), Ok(70));
    assert_eq!(r.read_range(5, 5), Ok(5));
    assert_eq!(r.read_f32(), Ok(-1.5));
    assert_eq!(r.align(), Ok(()));
    assert_eq!(r.read_bits(8), Ok(0xab));
    assert_eq!(r.read_bits(1), Err(QuantError::Underflow));
    assert_eq!(r.bytes_read(), 11);
    assert_eq!(r.bits_remaining(), 0);
}

#[test]
fn writer_errors_leave_state_unchanged() {
    let mut buf = [0u8; 2];
    let mut w = BitWriter::new(&mut buf);
    assert_eq!(w.write_bits(1, 0), Err(QuantError::InvalidBits));
    assert_eq!(w.write_bits(1, 33), Err(QuantError::InvalidBits));
    assert_eq!(w.write_bits(4, 2), Err(QuantError::OutOfRange));
    assert_eq!(w.write_range(3, 5, 9), Err(QuantError::OutOfRange));
    assert_eq!(w.write_range(3, 9, 5), Err(QuantError::InvalidRange));
    w.write_bits(0x3ff, 10).unwrap();
    assert_eq!(w.write_bits(0, 7), Err(QuantError::Overflow));
    assert_eq!(w.bits_written(), 10);
    w.write_bits(0x2a, 6).unwrap();
    assert_eq!(w.write_bool(false), Err(QuantError::Overflow));
    assert_eq!(w.bits_remaining(), 0);
    assert_eq!(w.finish(), 2);
    assert_eq!(buf, [0xff, 0xab]);

    let mut empty: [u8; 0] = [];
    let mut w = BitWriter::new(&mut empty);
    assert_eq!(w.write_bool(true), Err(QuantError::Overflow));
    assert_eq!(w.align(), Ok(()));
    assert_eq!(w.finish(), 0);
}

#[test]
fn reader_rejects_out_of_range_and_bad_padding() {
    let mut r = BitReader::new(&[0xff, 0x01]);
    assert_eq!(r.read_bits(0), Err(QuantError::InvalidBits));
    assert_eq!(r.read_bits(40), Err(QuantError::InvalidBits));
    assert_eq!(r.read_bits(17), Err(QuantError::Underflow));
    assert_eq!(r.bits_read(), 0);
    assert_eq!(r.read_range(0, 5), Err(QuantError::OutOfRange)); // 3 bits = 7
    assert_eq!(r.read_range(5, 0), Err(QuantError::InvalidRange));
    assert_eq!(r.align(), Err(QuantError::NonZeroPadding));
    assert_eq!(r.bits_read(), 8);
    assert_eq!(r.read_range(u32::MAX - 1, u32::MAX), Ok(u32::MAX));
    let mut r = BitReader::new(&[0xff; 8]);
    assert_eq!(r.read_range(u32::MAX - 2, u32::MAX), Err(QuantError::OutOfRange));
    assert_eq!(bits_required(0, u32::MAX), 32);
    assert_eq!(bits_required(7, 8), 1);
    assert_eq!(bits_required(0, 4), 3);
    assert_eq!(bits_required(0, 3), 2);
    assert_eq!(bits_required(9, 9), 0);
}

/// One field of a randomly generated message.
#[derive(Debug, Clone, Copy)]
enum Field {
    Bits(u32, u32),
    Bool(bool),
    Range(u32, u32, u32),
    F32(u32),
    Bounded(BoundedF32, f32),
    Quat(Quat, u32),
    Align,
}

fn random_field(rng: &mut Rng) -> Field {
    match rng.below(7) {
        0 => {
            let bits = 1 + rng.below(32) as u32;
            let v = (rng.next() as u32) & (u32::MAX >> (32 - bits));
            Field::Bits(v, bits)
        }
        1 => Field::Bool(rng.below(2) == 1),
        2 => {
            let a = rng.next() as u32 >> rng.below(32);
            let b = a.saturating_add(rng.next() as u32 >> rng.below(32));
            let v = a + (rng.next() as u32) % (b - a).saturating_add(1).max(1);
            Field::Range(v.min(b), a, b)
        }
        3 => Field::F32(rng.next() as u32),
        4 => {
            let b = BoundedF32::new(-100.0, 50.0, 1 + rng.below(32) as u32);
            Field::Bounded(b, rng.unit() * 150.0 - 100.0)
        }
        5 => Field::Quat(rng.quat(), 1 + rng.below(QUAT_MAX_BITS as u64) as u32),
        _ => Field::Align,
    }
}

#[test]
fn random_messages_round_trip_bit_exact() {
    let mut rng = Rng(0x5eed);
    for _ in 0..2_000 {
        let n = 1 + rng.below(40) as usize;
        let fields: Vec<Field> = (0..n).map(|_| random_field(&mut rng)).collect();
        let mut buf = [0u8; 512];
        let mut w = BitWriter::new(&mut buf);
        for f in &fields {
            match *f {
                Field::Bits(v, b) => w.write_bits(v, b).unwrap(),
                Field::Bool(v) => w.write_bool(v).unwrap(),
                Field::Range(v, lo, hi) => w.write_range(v, lo, hi).unwrap(),
                Field::F32(v) => w.write_f32(f32::from_bits(v)).unwrap(),
                Field::Bounded(b, v) => w.write_bounded(&b, v).unwrap(),
                Field::Quat(q, b) => write_quat(&mut w, q, b).unwrap(),
                Field::Align => w.align().unwrap(),
            }
        }
        let bits = w.bits_written();
        let len = w.finish();
        assert_eq!(len, bits.div_ceil(8));
        let mut r = BitReader::new(&buf[..len]);
        for f in &fields {
            match *f {
                Field::Bits(v, b) => assert_eq!(r.read_bits(b), Ok(v)),
                Field::Bool(v) => assert_eq!(r.read_bool(), Ok(v)),
                Field::Range(v, lo, hi) => assert_eq!(r.read_range(lo, hi), Ok(v), "{f:?} in {fields:?}"),
                Field::F32(v) => assert_eq!(r.read_f32().map(f32::to_bits), Ok(v)),
                Field::Bounded(b, v) => assert_eq!(r.read_bounded(&b), Ok(b.dequantize(b.quantize(v)))),
                Field::Quat(q, b) => {
                    let sent = decompress_quat(compress_quat(q, b).unwrap(), b);
                    assert_eq!(read_quat(&mut r, b), sent);
                }
                Field::Align => assert_eq!(r.align(), Ok(())),
            }
        }
        assert_eq!(r.bits_read(), bits);
        assert!(r.bits_remaining() < 8);
    }
}

#[test]
fn hostile_bytes_never_panic_and_keep_invariants() {
    let mut rng = Rng(0xbad);
    let bounds = BoundedF32::new(-5.0, 5.0, 13);
    for _ in 0..20_000 {
        let len = rng.below(24) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut r = BitReader::new(&bytes);
        for _ in 0..16 {
            let before = r.bits_read();
            let result = match rng.below(8) {
                0 => r.read_bits(rng.below(40) as u32).map(drop),
                1 => r.read_bool().map(drop),
                2 => {
                    let (lo, hi) = (rng.next() as u32, rng.next() as u32);
                    r.read_range(lo, hi).map(|v| assert!(lo <= v && v <= hi))
                }
                3 => r.read_f32().map(drop),
                4 => r.read_bounded(&bounds).map(|v| assert!((-5.0..=5.0).contains(&v))),
                5 => read_quat(&mut r, rng.below(24) as u32).map(|q| {
                    assert!(q.to_array().iter().all(|c| c.is_finite()));
                    assert!((q.length_squared() - 1.0).abs() < 1e-5);
                }),
                6 => r.align(),
                _ => decompress_quat(rng.next(), 1 + rng.below(QUAT_MAX_BITS as u64) as u32).map(drop),
            };
            if let Err(QuantError::Underflow | QuantError::InvalidBits | QuantError::InvalidRange) = result {
                assert_eq!(r.bits_read(), before, "failed read consumed bits");
            }
            assert!(r.bits_read() <= len * 8);
            assert_eq!(r.bits_read() + r.bits_remaining(), len * 8);
        }
    }
}

// ---- Quaternions ----

#[test]
fn quat_round_trip_error_bound() {
    let mut rng = Rng(42);
    for bits in [2, 4, 6, 9, 12, 16, QUAT_MAX_BITS] {
        // e: the largest error of one sent component. The rebuilt component (>= 1/2) moves
        // by at most ~3.5 times their combined error, so |q - q'| <= ~6.3 e and
        // 1 - |q . q'| = |q - q'|^2 / 2 <= 20 e^2.
        let e = HALF_SQRT2 as f64 / ((1u64 << bits) - 1) as f64;
        let bound = 20.0 * e * e + 1e-6;
        let mut worst = 0.0f64;
        for _ in 0..5_000 {
            let q = rng.quat();
            let packed = compress_quat(q, bits).unwrap();
            assert_eq!(packed >> quat_bits(bits), 0);
            let p = decompress_quat(packed, bits).unwrap();
            let d = q.dot(p).abs() as f64;
            worst = worst.max(1.0 - d);
            assert!(1.0 - d <= bound, "bits {bits}: {q:?} -> {p:?}, dot {d}");
            assert!((p.length_squared() - 1.0).abs() < 1e-5);
            if bits == 9 {
                assert!(d > 0.9995, "{q:?} -> {p:?}");
            }
            assert_eq!(compress_quat(-q, bits), Ok(packed), "q and -q pack the same");
        }
        println!("{bits} bits per component: worst 1 - |q.q'| = {worst:e} (bound {bound:e})");
    }
}

#[test]
fn quat_special_values() {
    for bits in [2, 9, QUAT_MAX_BITS] {
        for q in [
            Quat::IDENTITY,
            Quat::new(1.0, 0.0, 0.0, 0.0),
            Quat::new(0.0, -1.0, 0.0, 0.0),
            Quat::new(HALF_SQRT2, HALF_SQRT2, 0.0, 0.0),
            Quat::new(0.5, -0.5, 0.5, -0.5),
        ] {
            let p = decompress_quat(compress_quat(q, bits).unwrap(), bits).unwrap();
            assert!(q.dot(p).abs() > if bits == 2 { 0.5 } else { 0.999 }, "{bits}: {q:?} -> {p:?}");
        }
    }
    // A degenerate input is sent as the identity.
    let id = compress_quat(Quat::IDENTITY, 9);
    for q in
        [Quat::new(f32::NAN, 0.0, 0.0, 0.0), Quat::new(0.0, 0.0, 0.0, 0.0), Quat::new(f32::INFINITY, 0.0, 0.0, 1.0)]
    {
        assert_eq!(compress_quat(q, 9), id, "{q:?}");
    }
    // Lengths far from 1 normalize without overflow or underflow.
    let tiny = Quat::new(1e-30, 0.0, 0.0, -1e-30).normalized();
    assert!((tiny.length_squared() - 1.0).abs() < 1e-6);
    let huge = Quat::new(1e30, 1e30, 0.0, 0.0).normalized();
    assert!((huge.x - HALF_SQRT2).abs() < 1e-6);
    assert_eq!(Quat::default(), Quat::IDENTITY);
}

#[test]
fn quat_garbage_is_a_finite_unit_quaternion() {
    let mut rng = Rng(3);
    for bits in 1..=QUAT_MAX_BITS {
        let all_ones = (1u64 << quat_bits(bits)) - 1; // sum of squares 3/2 > 1
        let q = decompress_quat(all_ones, bits).unwrap();
        assert!((q.length_squared() - 1.0).abs() < 1e-5, "{q:?}");
        for _ in 0..500 {
            let packed = rng.next() & all_ones;
            let q = decompress_quat(packed, bits).unwrap();
            assert!(q.to_array().iter().all(|v| v.is_finite()));
            assert!((q.length_squared() - 1.0).abs() < 1e-5);
        }
    }
    assert_eq!(decompress_quat(u64::MAX, 9), Err(QuantError::OutOfRange));
    assert_eq!(decompress_quat(0, 0), Err(QuantError::InvalidBits));
    assert_eq!(compress_quat(Quat::IDENTITY, 0), Err(QuantError::InvalidBits));
    assert_eq!(compress_quat(Quat::IDENTITY, QUAT_MAX_BITS + 1), Err(QuantError::InvalidBits));
}

#[test]
fn quat_stream_round_trip_and_overflow() {
    let mut rng = Rng(9);
    let mut buf = [0u8; 40];
    let qs: Vec<Quat> = (0..10).map(|_| rng.quat()).collect();
    let mut w = BitWriter::new(&mut buf);
    for &q in &qs {
        write_quat(&mut w, q, 9).unwrap();
    }
    assert_eq!(w.bits_written(), 10 * quat_bits(9) as usize);
    assert_eq!(write_quat(&mut w, Quat::IDENTITY, 20), Err(QuantError::Overflow));
    assert_eq!(write_quat(&mut w, Quat::IDENTITY, 0), Err(QuantError::InvalidBits));
    assert_eq!(w.bits_written(), 290, "a failed write writes nothing");
    let n = w.finish();
    let mut r = BitReader::new(&buf[..n]);
    for &q in &qs {
        assert_eq!(read_quat(&mut r, 9), decompress_quat(compress_quat(q, 9).unwrap(), 9));
    }
    assert_eq!(read_quat(&mut r, 9), Err(QuantError::Underflow));
    assert_eq!(r.bits_read(), 290, "a failed read consumes nothing");
}

// ---- SnapshotBuffer ----

/// The rules of `SnapshotBuffer::push`, on a sorted Vec.
fn model_push(model: &mut Vec<(u64, f32)>, cap: usize, t: u64, v: f32) -> bool {
    match model.binary_search_by_key(&t, |e| e.0) {
        Ok(i) => {
            model[i].1 = v;
            true
        }
        Err(i) => {
            if model.len() == cap {
                if i == 0 {
                    return false;
                }
                model.remove(0);
                model.insert(i - 1, (t, v));
            } else {
                model.insert(i, (t, v));
            }
            true
        }
    }
}

#[test]
fn snapshot_buffer_matches_a_sorted_model() {
    const CAP: usize = 6;
    let mut rng = Rng(77);
    for _ in 0..300 {
        let mut buf = SnapshotBuffer::<f32, CAP>::new();
        let mut model: Vec<(u64, f32)> = Vec::new();
        for _ in 0..60 {
            // Mostly advancing, sometimes late or duplicated.
            let t = rng.below(400);
            let v = rng.below(1000) as f32;
            assert_eq!(buf.push(Instant::from_micros(t), v), model_push(&mut model, CAP, t, v), "push {t}");
            let got: Vec<(u64, f32)> = buf.iter().map(|(t, v)| (t.as_micros(), v)).collect();
            assert_eq!(got, model);
            assert_eq!(buf.len(), model.len());
            for _ in 0..4 {
                let s = rng.below(420);
                let want = if s <= model[0].0 {
                    model[0].1
                } else if s >= model[model.len() - 1].0 {
                    model[model.len() - 1].1
                } else if let Some(e) = model.iter().find(|e| e.0 == s) {
                    e.1
                } else {
                    let i = model.iter().position(|e| e.0 > s).unwrap();
                    let ((t0, a), (t1, b)) = (model[i - 1], model[i]);
                    a.lerp(&b, (s - t0) as f32 / (t1 - t0) as f32)
                };
                assert_eq!(buf.sample(Instant::from_micros(s)), Some(want), "sample {s} in {model:?}");
            }
        }
    }
}

#[test]
fn entity_state_from_wire_to_render() {
    // The server sends position (1 cm on a 1 km map) and rotation every 50 ms; the client
    // decodes, buffers and renders 100 ms behind.
    const POS: BoundedF32 = BoundedF32::new(-512.0, 512.0, 17);
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct State {
        pos: [f32; 3],
        rot: Quat,
    }
    impl Interpolate for State {
        fn lerp(&self, other: &Self, t: f32) -> Self {
            State { pos: self.pos.lerp(&other.pos, t), rot: self.rot.lerp(&other.rot, t) }
        }
    }
    let truth = |ms: u64| {
        let s = ms as f32 / 1000.0;
        let half = 0.25 * s; // rotating about y at 0.5 rad/s
        State { pos: [10.0 + 3.0 * s, 1.5, -20.0 - 1.0 * s], rot: Quat::new(0.0, (half).sin(), 0.0, (half).cos()) }
    };
    let mut client = SnapshotBuffer::<State, 16>::new();
    // Arrival order shuffled: 0, 100, 50, 150, 200, ...
    let order = [0u64, 100, 50, 150, 250, 200, 300, 350, 400];
    for &ms in &order {
        let s = truth(ms);
        let mut packet = [0u8; 32];
        let mut w = BitWriter::new(&mut packet);
        for p in s.pos {
            w.write_bounded(&POS, p).unwrap();
        }
        write_quat(&mut w, s.rot, 10).unwrap();
        let n = w.finish();
        assert_eq!(n, (3 * 17 + quat_bits(10) as usize).div_ceil(8));

        let mut r = BitReader::new(&packet[..n]);
        let pos = [r.read_bounded(&POS).unwrap(), r.read_bounded(&POS).unwrap(), r.read_bounded(&POS).unwrap()];
        let rot = read_quat(&mut r, 10).unwrap();
        assert!(client.push(Instant::from_millis(ms), State { pos, rot }));
    }
    for now_ms in 100..=500 {
        let got = client.sample_delayed(Instant::from_millis(now_ms), Duration::from_millis(100)).unwrap();
        let want = truth((now_ms - 100).min(400));
        for (g, w) in got.pos.iter().zip(want.pos) {
            assert!((g - w).abs() <= POS.resolution(), "{now_ms}: {got:?} vs {want:?}");
        }
        assert!(got.rot.dot(want.rot).abs() > 0.9999, "{now_ms}: {got:?} vs {want:?}");
    }
}
