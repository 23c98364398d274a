//! Snapshot interpolation: show remote state a little in the past, smoothly.
//!
//! A client receives snapshots of remote entities at the sender's tick rate, late and
//! with jitter, sometimes out of order. Rendering the newest snapshot makes entities jump;
//! rendering at `now - delay` (a delay of two or three snapshot intervals plus the expected
//! jitter) means there is nearly always a snapshot on each side of the render time, and
//! [`SnapshotBuffer::sample_delayed`] blends between them with [`Interpolate::lerp`].
//!
//! The buffer is a fixed-capacity ring of `(Instant, T)` kept in time order; it never
//! allocates and never panics.

use crate::quant::Quat;
use crate::time::{Duration, Instant};

/// A value that can be blended with another of its kind.
pub trait Interpolate {
    /// The value a fraction `t` of the way from `self` to `other`: `self` at `t = 0`,
    /// `other` at `t = 1`. [`SnapshotBuffer`] calls it with `t` in `[0, 1)` to interpolate
    /// and with `t > 1` to extrapolate (when enabled), so implementations should continue
    /// the motion linearly past `other`.
    fn lerp(&self, other: &Self, t: f32) -> Self;
}

impl Interpolate for f32 {
    /// `self + (other - self) * t`: exact at `t = 0` and when `self == other`.
    fn lerp(&self, other: &Self, t: f32) -> Self {
        self + (other - self) * t
    }
}

/// Component-wise, for positions and velocities (`[f32; 2]`, `[f32; 3]`, …).
impl<const N: usize> Interpolate for [f32; N] {
    fn lerp(&self, other: &Self, t: f32) -> Self {
        let mut out = *self;
        for (o, b) in out.iter_mut().zip(other) {
            *o = o.lerp(b, t);
        }
        out
    }
}

/// Normalized lerp along the shorter arc: `other` is negated first when `self · other < 0`
/// (`q` and `-q` are the same rotation), and the result is normalized (a degenerate result
/// gives [`Quat::IDENTITY`], see [`Quat::normalized`]). Cheaper than slerp and close to it
/// for the small angles between consecutive snapshots; its angular speed is not constant
/// over large angles.
impl Interpolate for Quat {
    fn lerp(&self, other: &Self, t: f32) -> Self {
        let b = if self.dot(*other) < 0.0 { -*other } else { *other };
        Quat::new(self.x.lerp(&b.x, t), self.y.lerp(&b.y, t), self.z.lerp(&b.z, t), self.w.lerp(&b.w, t)).normalized()
    }
}

/// A time-ordered ring of at most `N` snapshots, sampled at any instant by interpolation.
///
/// Call [`push`](Self::push) with each snapshot as it arrives, stamped with its send time
/// on the clock you will sample with (for example the server tick time mapped to the local
/// clock), then once per frame [`sample_delayed`](Self::sample_delayed)`(now, delay)`.
///
/// Rules:
/// - Snapshots are kept sorted by time whatever order they arrive in.
/// - A snapshot with the same time as a stored one replaces its value.
/// - When full, the oldest snapshot is evicted to make room, and a snapshot older than
///   every stored one is refused.
/// - Before the oldest snapshot, [`sample`](Self::sample) holds the oldest value; after the
///   latest it holds the latest value, or extrapolates for at most
///   [`with_extrapolation`](Self::with_extrapolation)'s limit and then holds.
///
/// `N` must be at least 1 (checked at compile time).
#[derive(Debug, Clone)]
pub struct SnapshotBuffer<T: Interpolate + Copy, const N: usize> {
    /// Logical index `i` (0 = oldest) lives at `entries[(head + i) % N]`; slots outside
    /// `head..head + len` are `None`.
    entries: [Option<(Instant, T)>; N],
    head: usize,
    len: usize,
    max_extrapolation: Duration,
}

impl<T: Interpolate + Copy, const N: usize> Default for SnapshotBuffer<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Interpolate + Copy, const N: usize> SnapshotBuffer<T, N> {
    /// An empty buffer that holds the latest value past its end (no extrapolation).
    pub const fn new() -> Self {
        const { assert!(N > 0, "SnapshotBuffer needs a capacity of at least 1") };
        SnapshotBuffer { entries: [None; N], head: 0, len: 0, max_extrapolation: Duration::ZERO }
    }

    /// The same buffer extrapolating up to `limit` past the latest snapshot, along the
    /// motion between the last two; beyond `limit` the extrapolated value is held.
    /// `Duration::ZERO` (the default) disables extrapolation.
    pub const fn with_extrapolation(mut self, limit: Duration) -> Self {
        self.max_extrapolation = limit;
        self
    }

    /// The extrapolation limit set by [`with_extrapolation`](Self::with_extrapolation).
    pub const fn max_extrapolation(&self) -> Duration {
        self.max_extrapolation
    }

    /// The number of snapshots it can hold, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The number of snapshots held.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no snapshot is held.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops every snapshot (for example after a teleport or a reconnect).
    pub fn clear(&mut self) {
        self.entries = [None; N];
        self.head = 0;
        self.len = 0;
    }

    /// The `i`-th snapshot in time order, 0 being the oldest.
    pub fn get(&self, i: usize) -> Option<(Instant, T)> {
        if i >= self.len {
            return None;
        }
        self.entries.get(self.slot(i)).copied().flatten()
    }

    /// The oldest snapshot.
    pub fn oldest(&self) -> Option<(Instant, T)> {
        self.get(0)
    }

    /// The newest snapshot.
    pub fn latest(&self) -> Option<(Instant, T)> {
        self.get(self.len.checked_sub(1)?)
    }

    /// The snapshots in time order, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (Instant, T)> + '_ {
        (0..self.len).filter_map(move |i| self.get(i))
    }

    /// Stores a snapshot taken at `time`, in time order. Returns `false` only when the
    /// buffer is full and `time` is older than every stored snapshot; a `time` already
    /// stored replaces that snapshot's value and returns `true`. When full, the oldest
    /// snapshot is evicted to make room.
    pub fn push(&mut self, time: Instant, value: T) -> bool {
        let mut pos = self.lower_bound(time);
        if let Some((t, _)) = self.get(pos) {
            if t == time {
                return self.set(pos, Some((time, value)));
            }
        }
        if self.len >= N {
            if pos == 0 {
                return false;
            }
            self.set(0, None);
            self.head = self.slot(1);
            self.len -= 1;
            pos -= 1;
        }
        // Shift `pos..len` up one slot, newest first, into the free slot at `len`.
        let mut i = self.len;
        while i > pos {
            let moved = self.get(i - 1);
            self.set(i, moved);
            i -= 1;
        }
        self.set(pos, Some((time, value)));
        self.len += 1;
        true
    }

    /// The value at `time`: interpolated between the two snapshots around it, the stored
    /// value when `time` is a snapshot's time, the oldest value before the oldest snapshot,
    /// and the latest value (or a limited extrapolation) after the latest. `None` only when
    /// empty.
    pub fn sample(&self, time: Instant) -> Option<T> {
        let (first_t, first) = self.oldest()?;
        if time <= first_t {
            return Some(first);
        }
        let (last_t, last) = self.latest()?;
        if time >= last_t {
            return Some(self.extrapolate(time, last_t, last));
        }
        // first_t < time < last_t: the snapshot at `pos` is the first at or after `time`,
        // and 1 <= pos < len.
        let pos = self.lower_bound(time);
        let (b_t, b) = self.get(pos)?;
        if b_t == time {
            return Some(b);
        }
        let (a_t, a) = self.get(pos.checked_sub(1)?)?;
        Some(a.lerp(&b, fraction(time - a_t, b_t - a_t)))
    }

    /// The value `delay` before `now`: [`sample`](Self::sample)`(now - delay)`, saturating
    /// at the epoch. This is the call to make once per rendered frame.
    pub fn sample_delayed(&self, now: Instant, delay: Duration) -> Option<T> {
        self.sample(Instant::from_micros(now.as_micros().saturating_sub(delay.as_micros())))
    }

    /// The value after the latest snapshot (`time >= last_t`).
    fn extrapolate(&self, time: Instant, last_t: Instant, last: T) -> T {
        let ahead = (time - last_t).as_micros().min(self.max_extrapolation.as_micros());
        if ahead == 0 {
            return last;
        }
        match self.len.checked_sub(2).and_then(|i| self.get(i)) {
            Some((prev_t, prev)) => {
                let span = last_t - prev_t;
                prev.lerp(&last, 1.0 + fraction(Duration::from_micros(ahead), span))
            }
            None => last,
        }
    }

    /// The physical slot of logical index `i`, for `i < N`.
    fn slot(&self, i: usize) -> usize {
        let p = self.head + i;
        if p >= N {
            p - N
        } else {
            p
        }
    }

    /// Writes the slot of logical index `i`; always `true`, for `push`'s tail calls.
    fn set(&mut self, i: usize, entry: Option<(Instant, T)>) -> bool {
        let slot = self.slot(i);
        if let Some(e) = self.entries.get_mut(slot) {
            *e = entry;
        }
        true
    }

    /// The logical index of the first snapshot at or after `time` (`len` if none).
    fn lower_bound(&self, time: Instant) -> usize {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid).is_some_and(|(t, _)| t < time) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// `part / whole` as an `f32`; `whole` is never zero for distinct snapshot times.
fn fraction(part: Duration, whole: Duration) -> f32 {
    if whole == Duration::ZERO {
        return 0.0;
    }
    part.as_micros() as f32 / whole.as_micros() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn linear_motion_is_exact_between_snapshots() {
        // 64 ms apart, sampled every millisecond: fractions k/64 and dyadic velocities are
        // exact in f32.
        let mut buf = SnapshotBuffer::<[f32; 3], 8>::new();
        let pos = |ms: u64| [ms as f32 * 0.5, ms as f32 * -2.0, 100.0 + ms as f32 * 0.25];
        for k in 0..6 {
            assert!(buf.push(at(k * 64), pos(k * 64)));
        }
        for ms in 0..=5 * 64 {
            assert_eq!(buf.sample(at(ms)), Some(pos(ms)), "at {ms} ms");
        }
        let mut b2 = SnapshotBuffer::<[f32; 2], 4>::new();
        b2.push(at(0), [0.0, 10.0]);
        b2.push(at(100), [10.0, 0.0]);
        assert_eq!(b2.sample(at(25)), Some([2.5, 7.5]));
        assert_eq!(b2.sample_delayed(at(150), Duration::from_millis(100)), Some([5.0, 5.0]));
    }

    #[test]
    fn edges_hold_and_empty_is_none() {
        let mut buf = SnapshotBuffer::<f32, 4>::new();
        assert_eq!(buf.sample(at(5)), None);
        assert_eq!(buf.latest(), None);
        buf.push(at(100), 1.0);
        assert_eq!(buf.sample(at(0)), Some(1.0));
        assert_eq!(buf.sample(at(500)), Some(1.0));
        buf.push(at(200), 3.0);
        assert_eq!(buf.sample(at(50)), Some(1.0));
        assert_eq!(buf.sample(at(300)), Some(3.0));
        assert_eq!(buf.sample_delayed(at(10), Duration::from_secs(1)), Some(1.0));
        buf.clear();
        assert!(buf.is_empty());
        assert_eq!(buf.sample(at(150)), None);
    }

    #[test]
    fn extrapolation_is_limited() {
        let mut buf = SnapshotBuffer::<f32, 4>::new().with_extrapolation(Duration::from_millis(50));
        buf.push(at(0), 0.0);
        assert_eq!(buf.sample(at(40)), Some(0.0)); // one snapshot: nothing to extrapolate from
        buf.push(at(100), 10.0);
        assert_eq!(buf.sample(at(125)), Some(12.5));
        assert_eq!(buf.sample(at(150)), Some(15.0));
        assert_eq!(buf.sample(at(400)), Some(15.0));
    }

    #[test]
    fn out_of_order_and_duplicates() {
        let mut buf = SnapshotBuffer::<f32, 8>::new();
        assert!(buf.push(at(200), 20.0));
        assert!(buf.push(at(0), 0.0));
        assert!(buf.push(at(100), 10.0));
        assert!(buf.push(at(300), 30.0));
        assert!(buf.push(at(50), 5.0));
        let times: [u64; 5] = core::array::from_fn(|i| buf.get(i).unwrap().0.as_micros() / 1000);
        assert_eq!(times, [0, 50, 100, 200, 300]);
        assert_eq!(buf.sample(at(150)), Some(15.0));
        assert!(buf.push(at(100), 12.0));
        assert_eq!(buf.len(), 5);
        assert_eq!(buf.sample(at(100)), Some(12.0));
        assert_eq!(buf.oldest(), Some((at(0), 0.0)));
        assert_eq!(buf.latest(), Some((at(300), 30.0)));
    }

    #[test]
    fn full_buffer_evicts_oldest() {
        let mut buf = SnapshotBuffer::<f32, 4>::new();
        for k in 0..7 {
            assert!(buf.push(at(k * 10), k as f32));
        }
        assert_eq!(buf.len(), 4);
        assert_eq!(buf.oldest(), Some((at(30), 3.0)));
        assert!(!buf.push(at(20), 2.0), "older than the oldest kept");
        assert!(buf.push(at(35), 3.5), "inside the window: the oldest goes");
        let got: [(u64, f32); 4] = core::array::from_fn(|i| {
            let (t, v) = buf.get(i).unwrap();
            (t.as_micros() / 1000, v)
        });
        assert_eq!(got, [(35, 3.5), (40, 4.0), (50, 5.0), (60, 6.0)]);
        assert!(buf.push(at(60), 6.5), "duplicate replaces even when full");
        assert!(buf.push(at(45), 4.5));
        assert_eq!(buf.iter().count(), 4);
        assert_eq!(buf.oldest(), Some((at(40), 4.0)));

        let mut one = SnapshotBuffer::<f32, 1>::new();
        assert!(one.push(at(5), 1.0));
        assert!(one.push(at(9), 2.0));
        assert!(!one.push(at(1), 0.0));
        assert_eq!(one.sample(at(0)), Some(2.0));
    }

    #[test]
    fn quaternions_stay_normalized_and_take_the_short_arc() {
        let h = core::f32::consts::FRAC_1_SQRT_2;
        let a = Quat::IDENTITY;
        let b = -Quat::new(0.0, 0.0, h, h); // 90° about z, stored with the far sign
        let mut buf = SnapshotBuffer::<Quat, 4>::new();
        buf.push(at(0), a);
        buf.push(at(100), b);
        for ms in 0..100 {
            let q = buf.sample(at(ms)).unwrap();
            assert!((q.length_squared() - 1.0).abs() < 1e-6, "{q:?}");
            assert!(q.w > 0.7, "short arc from identity: {q:?}");
            assert!(q.z >= 0.0);
        }
        assert_eq!(buf.sample(at(100)), Some(b), "a snapshot's own time gives it unchanged");
        let mid = buf.sample(at(50)).unwrap();
        // Halfway is 45° about z: (0, 0, sin 22.5°, cos 22.5°).
        assert!((mid.z - 0.382_683_43).abs() < 1e-6 && (mid.w - 0.923_879_5).abs() < 1e-6);
    }
}
