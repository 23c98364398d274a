//! A ring consumer attached to hostile shared memory.
//!
//! The input edits a properly initialized ring (so the fuzzer starts past the magic
//! checks): the first byte picks SPSC or MPSC, how many valid records to write first and
//! which header parts to overwrite; the following bytes overwrite the header fields, the
//! counters and the data area. Invariants checked:
//! - attaching and draining never panic and terminate;
//! - every payload handed out lies inside the data area;
//! - `pop` one by one, `read_batch` and `read_copy_batch` deliver the same records and
//!   end the same way;
//! - after `Corrupt` the consumer stays poisoned;
//! - an SPSC ring drained cleanly accepts a message and hands it back intact.
#![no_main]

use kaos_core::ring::{CacheLine, Consumer, MpscRing, Ring, RingError, HEADER_LEN, HEAD_OFFSET, TAIL_OFFSET};
use libfuzzer_sys::fuzz_target;

const CAPACITY: usize = 1024;

/// Builds the edited region described by `data`; `None` if the input is empty.
fn build(data: &[u8]) -> Option<(bool, Vec<CacheLine>)> {
    let (&mode, mut input) = data.split_first()?;
    let multi = mode & 1 != 0;
    let mut lines = vec![CacheLine::ZERO; CacheLine::lines_for(CAPACITY)];
    let region = CacheLine::as_bytes_mut(&mut lines);
    // Up to 15 valid records of assorted lengths, so the edits below land on real ones.
    let records = mode >> 4;
    let msg = |i: u8| vec![i.wrapping_mul(17); usize::from(i) * 7 % 41];
    if multi {
        let (mut tx, _) = MpscRing::init(&mut *region).ok()?.split();
        for i in 0..records {
            let _ = tx.push(&msg(i));
        }
    } else {
        let (mut tx, _) = Ring::init(&mut *region).ok()?.split();
        for i in 0..records {
            let _ = tx.push(&msg(i));
        }
    }
    let mut overwrite = |at: usize, len: usize| {
        let n = len.min(input.len());
        region[at..at + n].copy_from_slice(&input[..n]);
        input = &input[n..];
    };
    if mode & 2 != 0 {
        overwrite(0, 24); // magic, version, kind, counter width, capacity, data offset
    }
    if mode & 4 != 0 {
        overwrite(TAIL_OFFSET, 8);
    }
    if mode & 8 != 0 {
        overwrite(HEAD_OFFSET, 8);
    }
    overwrite(HEADER_LEN, CAPACITY);
    Some((multi, lines))
}

fn consumer(multi: bool, region: &mut [u8]) -> Option<Consumer<'_>> {
    if multi {
        MpscRing::attach(region).ok().map(|r| r.split().1)
    } else {
        Ring::attach(region).ok().map(|r| r.split().1)
    }
}

/// Drains with `pop`, recording payloads; checks bounds and poisoning.
fn drain_pop(rx: &mut Consumer<'_>, lo: usize, hi: usize) -> (Vec<Vec<u8>>, Option<RingError>) {
    let mut got = Vec::new();
    // Nothing is being produced and each record takes at least 8 bytes: the loop must end
    // well within this bound.
    for _ in 0..CAPACITY {
        let next = rx.pop().map(|rec| {
            rec.map(|m| {
                let p = m.as_ptr() as usize;
                assert!(p >= lo && p + m.len() <= hi, "payload outside the data area");
                m.to_vec()
            })
        });
        match next {
            Ok(Some(m)) => got.push(m),
            Ok(None) => return (got, None),
            Err(e) => {
                assert!(rx.is_poisoned());
                assert_eq!(rx.pop().err(), Some(RingError::Corrupt));
                return (got, Some(e));
            }
        }
    }
    panic!("consumer did not terminate");
}

fuzz_target!(|data: &[u8]| {
    let Some((multi, mut lines)) = build(data) else { return };
    let mut copy = lines.clone();
    let mut copied = lines.clone();

    let region = CacheLine::as_bytes_mut(&mut lines);
    let lo = region.as_ptr() as usize + HEADER_LEN;
    let hi = region.as_ptr() as usize + region.len();
    let Some(mut rx) = consumer(multi, region) else { return };
    let (popped, pop_end) = drain_pop(&mut rx, lo, hi);

    // The same memory drained in one batch gives the same records and the same ending.
    let region = CacheLine::as_bytes_mut(&mut copy);
    let (blo, bhi) = (region.as_ptr() as usize + HEADER_LEN, region.as_ptr() as usize + region.len());
    let mut batched = Vec::new();
    let mut rx = consumer(multi, region).expect("attach is deterministic");
    let batch_end = rx
        .read_batch(usize::MAX, |m| {
            let p = m.as_ptr() as usize;
            assert!(p >= blo && p + m.len() <= bhi, "payload outside the data area");
            batched.push(m.to_vec());
        })
        .err();
    let batch_end = batch_end.or_else(|| rx.read_batch(usize::MAX, |_| panic!("second batch")).err());
    assert_eq!(popped, batched);
    assert_eq!(pop_end, batch_end);

    // Copied out (the driver's way with an untrusted writer): the same records again.
    let mut rx = consumer(multi, CacheLine::as_bytes_mut(&mut copied)).expect("attach is deterministic");
    let mut buf = vec![0; CAPACITY];
    let mut out = Vec::new();
    let mut copy_end = None;
    for _ in 0..CAPACITY {
        match rx.read_copy_batch(&mut buf, 3, |m| {
            out.push(m.to_vec());
            true
        }) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                copy_end = Some(e);
                break;
            }
        }
    }
    assert_eq!(popped, out);
    assert_eq!(pop_end, copy_end);

    // A cleanly drained SPSC ring is empty: a new message goes in and comes out intact.
    if !multi && pop_end.is_none() {
        let (mut tx, mut rx) = Ring::attach(CacheLine::as_bytes_mut(&mut lines)).expect("attached before").split();
        assert_eq!(tx.push(b"after the storm"), Ok(()));
        let back = rx.read(|m| m.to_vec()).expect("consistent ring").expect("message");
        assert_eq!(back, b"after the storm");
    }
});
