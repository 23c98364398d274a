//! Wrapping 16-bit sequence-number arithmetic.
//!
//! Sequence numbers wrap at 2^16; comparisons treat the half-space ahead of `b` as newer
//! than `b` (RFC 1982 serial-number arithmetic), so they stay correct across the wrap as
//! long as live numbers are within 32,767 of each other.

/// Signed distance from `b` to `a`: positive when `a` is newer than `b`.
#[inline]
pub const fn seq_diff(a: u16, b: u16) -> i16 {
    a.wrapping_sub(b) as i16
}

/// Whether `a` is strictly newer than `b`.
#[inline]
pub const fn seq_newer(a: u16, b: u16) -> bool {
    seq_diff(a, b) > 0
}

/// Signed distance from `b` to `a` for 32-bit stream positions.
#[inline]
pub const fn pos_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_across_wrap() {
        assert!(seq_newer(1, 0));
        assert!(!seq_newer(0, 1));
        assert!(!seq_newer(5, 5));
        assert!(seq_newer(0, u16::MAX));
        assert!(seq_newer(10, 65530));
        assert_eq!(seq_diff(3, 65533), 6);
        assert_eq!(seq_diff(65533, 3), -6);
        assert!(seq_newer(32767, 0));
        assert!(!seq_newer(32768, 0));
        assert_eq!(pos_diff(2, u32::MAX), 3);
    }
}
