//! Test messages whose every byte depends on their sequence number: a damaged, mixed-up
//! or misordered message fails `check`.

/// A message: sequence number, then filler derived from it (length varies).
pub fn message(seq: u32, buf: &mut Vec<u8>) -> &[u8] {
    buf.clear();
    buf.extend_from_slice(&seq.to_le_bytes());
    let extra = (seq as usize * 13) % 200;
    buf.extend((0..extra).map(|k| (seq as usize + k) as u8));
    buf
}

#[track_caller]
pub fn check(data: &[u8]) -> u32 {
    let seq = u32::from_le_bytes(data[..4].try_into().unwrap());
    let mut buf = Vec::new();
    assert_eq!(data, message(seq, &mut buf), "message {seq} damaged");
    seq
}
