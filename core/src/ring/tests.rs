//! Unit tests; small enough to run under Miri (`cargo +nightly miri test -p kaos-core --lib ring`).

extern crate std;

use std::vec;
use std::vec::Vec;

use super::*;

fn region(capacity: usize) -> Vec<CacheLine> {
    vec![CacheLine::ZERO; CacheLine::lines_for(capacity)]
}

/// Message `i` of producer `p`: length varies with `i`, content encodes both.
fn message(p: u8, i: u32, buf: &mut [u8; 64]) -> &[u8] {
    let len = 5 + (i as usize * 7) % 50;
    buf[0] = p;
    buf[1..5].copy_from_slice(&i.to_le_bytes());
    for (k, b) in buf[5..len].iter_mut().enumerate() {
        *b = (i as u8).wrapping_add(k as u8) ^ p;
    }
    &buf[..len]
}

#[track_caller]
fn check_message(m: &[u8]) -> (u8, u32) {
    let p = m[0];
    let i = u32::from_le_bytes(m[1..5].try_into().unwrap());
    let mut buf = [0; 64];
    assert_eq!(m, message(p, i, &mut buf), "record {i} of producer {p} damaged");
    (p, i)
}

fn drain(rx: &mut Consumer<'_>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while rx.read_batch(usize::MAX, |m| out.push(m.to_vec())).unwrap() > 0 {}
    out
}

fn counter_bytes(region: &mut [u8], offset: usize, value: u64) {
    let bytes = value.to_ne_bytes();
    let n = COUNTER_BITS as usize / 8;
    if cfg!(target_endian = "little") {
        region[offset..offset + n].copy_from_slice(&bytes[..n]);
    } else {
        region[offset..offset + n].copy_from_slice(&bytes[8 - n..]);
    }
}

#[test]
fn layout_constants() {
    assert_eq!(core::mem::size_of::<Header>(), HEADER_LEN);
    assert_eq!(record_len(0), 8);
    assert_eq!(record_len(1), 16);
    assert_eq!(record_len(8), 16);
    assert_eq!(record_len(9), 24);
    assert_eq!(record_len(64), 72);
    assert_eq!(max_payload(64), 24);
    assert_eq!(region_len(1024), 1216);
}

#[test]
fn init_checks_region() {
    let mut lines = region(1024);
    let bytes = CacheLine::as_bytes_mut(&mut lines);
    assert_eq!(Ring::init(&mut bytes[8..]).unwrap_err(), RingError::Misaligned);
    assert_eq!(Ring::init(&mut bytes[..HEADER_LEN + 63]).unwrap_err(), RingError::RegionTooSmall);
    // The data area is the largest power of two that fits.
    assert_eq!(Ring::init(&mut bytes[..HEADER_LEN + 1000]).unwrap().capacity(), 512);
    assert_eq!(MpscRing::init(bytes).unwrap().capacity(), 1024);
}

#[test]
fn fifo_and_empty() {
    let mut lines = region(1024);
    let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    assert!(rx.pop().unwrap().is_none());
    assert_eq!(rx.read_batch(10, |_| ()).unwrap(), 0);
    tx.push(b"").unwrap();
    tx.push(b"one").unwrap();
    tx.push(&[7; 100]).unwrap();
    assert_eq!(&*rx.pop().unwrap().unwrap(), b"");
    assert_eq!(rx.read(|m| m.to_vec()).unwrap().unwrap(), b"one");
    assert_eq!(drain(&mut rx), vec![vec![7; 100]]);
    assert!(rx.pop().unwrap().is_none());
}

#[test]
fn full_and_too_large() {
    let mut lines = region(256);
    let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    assert_eq!(tx.max_payload(), 120);
    assert_eq!(tx.push(&[0; 121]), Err(RingError::TooLarge));
    // 24-byte payloads take 32 bytes: eight fill 256.
    for i in 0..8 {
        tx.push(&[i; 24]).unwrap();
    }
    assert_eq!(tx.push(b""), Err(RingError::Full));
    assert_eq!(rx.read(|m| m[0]).unwrap(), Some(0));
    tx.push(&[8; 24]).unwrap();
    assert_eq!(tx.push(b""), Err(RingError::Full));
    let got: Vec<u8> = drain(&mut rx).iter().map(|m| m[0]).collect();
    assert_eq!(got, (1..9).collect::<Vec<u8>>());
}

#[test]
fn max_payload_fits_once_empty_at_any_offset() {
    let mut lines = region(256);
    let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    for step in 0..40 {
        tx.push(&[step; 120]).unwrap();
        assert_eq!(rx.read(|m| (m.len(), m[0])).unwrap(), Some((120, step)));
        tx.push(b"").unwrap(); // shift the offset by 8
        rx.read(|_| ()).unwrap();
    }
}

#[test]
fn wraps_with_pad_and_payload_stays_contiguous() {
    let mut lines = region(128);
    let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    tx.push(&[1; 44]).unwrap(); // 48 bytes
    tx.push(&[2; 44]).unwrap(); // 96
    rx.read(|_| ()).unwrap();
    rx.read(|_| ()).unwrap();
    // 32 bytes left before the end: a 44-byte message wraps behind a 32-byte pad.
    tx.push(&[3; 44]).unwrap();
    assert_eq!(rx.read(|m| m.to_vec()).unwrap().unwrap(), vec![3; 44]);
    assert!(rx.pop().unwrap().is_none());
}

#[test]
fn claim_drop_publishes_nothing_spsc() {
    let mut lines = region(256);
    let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    {
        let mut c = tx.claim(10).unwrap();
        c.copy_from_slice(b"abandoned!");
    }
    assert!(rx.pop().unwrap().is_none());
    let mut c = tx.claim(10).unwrap();
    c[..4].copy_from_slice(b"kept");
    c.commit_len(4);
    tx.push(b"next").unwrap();
    assert_eq!(drain(&mut rx), vec![b"kept".to_vec(), b"next".to_vec()]);
}

#[test]
fn claim_drop_becomes_padding_mpsc() {
    let mut lines = region(256);
    let (mut tx, mut rx) = MpscRing::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    let mut other = tx.clone();
    let held = tx.claim(20).unwrap();
    other.push(b"after").unwrap();
    // The consumer waits at the uncommitted claim.
    assert_eq!(rx.read_batch(usize::MAX, |_| ()).unwrap(), 0);
    drop(held);
    let mut c = tx.claim(30).unwrap();
    c[..3].copy_from_slice(b"cut");
    c.commit_len(3);
    tx.push(b"last").unwrap();
    assert_eq!(drain(&mut rx), vec![b"after".to_vec(), b"cut".to_vec(), b"last".to_vec()]);
}

#[test]
fn pop_guard_frees_on_drop() {
    let mut lines = region(64);
    let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    tx.push(&[1; 24]).unwrap();
    tx.push(&[2; 24]).unwrap();
    assert_eq!(tx.push(b""), Err(RingError::Full));
    let rec = rx.pop().unwrap().unwrap();
    assert_eq!(rec.len(), 24);
    core::mem::forget(rec); // not freed
    assert_eq!(tx.push(b""), Err(RingError::Full));
    assert_eq!(rx.pop().unwrap().unwrap()[0], 1);
    tx.push(b"").unwrap();
}

#[test]
fn read_batch_limit() {
    let mut lines = region(1024);
    let (mut tx, mut rx) = MpscRing::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    for i in 0..10u8 {
        tx.push(&[i]).unwrap();
    }
    let mut seen = Vec::new();
    assert_eq!(rx.read_batch(4, |m| seen.push(m[0])).unwrap(), 4);
    assert_eq!(rx.read_batch(100, |m| seen.push(m[0])).unwrap(), 6);
    assert_eq!(seen, (0..10).collect::<Vec<u8>>());
}

fn pass_200(mut push: impl FnMut(&[u8]) -> Result<(), RingError>, rx: &mut Consumer<'_>) {
    let mut buf = [0; 64];
    let (mut sent, mut got) = (0u32, 0u32);
    while got < 200 {
        while sent < 200 && push(message(0, sent, &mut buf)).is_ok() {
            sent += 1;
        }
        rx.read_batch(usize::MAX, |m| {
            assert_eq!(check_message(m), (0, got));
            got += 1;
        })
        .unwrap();
    }
}

/// Both rings, counters starting just below the wrap of the counter type.
#[test]
fn counters_wrap() {
    let start = Pos::MAX - 300;
    let mut lines = region(256);
    {
        let (mut tx, mut rx) = Ring::init_at(CacheLine::as_bytes_mut(&mut lines), start).unwrap().split();
        pass_200(|m| tx.push(m), &mut rx);
    }
    let (mut tx, mut rx) = MpscRing::init_at(CacheLine::as_bytes_mut(&mut lines), start).unwrap().split();
    pass_200(|m| tx.push(m), &mut rx);
}

#[test]
fn attach_validates_header() {
    let mut lines = region(512);
    let bytes = CacheLine::as_bytes_mut(&mut lines);
    {
        let (mut tx, _) = Ring::init(bytes).unwrap().split();
        tx.push(b"persisted").unwrap();
    }
    assert_eq!(MpscRing::attach(bytes).unwrap_err(), RingError::WrongKind);
    {
        let (_, mut rx) = Ring::attach(bytes).unwrap().split();
        assert_eq!(drain(&mut rx), vec![b"persisted".to_vec()]);
    }
    assert_eq!(Ring::attach(&mut bytes[..HEADER_LEN + 256]).unwrap_err(), RingError::RegionTooSmall);
    let cases: [(usize, u32, RingError); 6] = [
        (0, 0xdead_beef, RingError::BadHeader),
        (4, VERSION + 1, RingError::BadHeader),
        (8, 7, RingError::BadHeader),
        (12, 16, RingError::BadHeader),
        (16, 300, RingError::BadHeader),
        (16, 1 << 31, RingError::BadHeader),
    ];
    for (offset, value, err) in cases {
        let saved: [u8; 4] = bytes[offset..offset + 4].try_into().unwrap();
        bytes[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
        assert_eq!(Ring::attach(bytes).unwrap_err(), err, "field at {offset}");
        bytes[offset..offset + 4].copy_from_slice(&saved);
    }
    counter_bytes(bytes, HEAD_OFFSET, 4);
    assert_eq!(Ring::attach(bytes).unwrap_err(), RingError::Corrupt);
}

/// Builds an SPSC ring with two records, lets `corrupt` edit the region, then drains.
fn drain_corrupted(corrupt: impl FnOnce(&mut [u8])) -> (Vec<Vec<u8>>, RingError) {
    let mut lines = region(256);
    let bytes = CacheLine::as_bytes_mut(&mut lines);
    {
        let (mut tx, _) = Ring::init(bytes).unwrap().split();
        tx.push(b"first").unwrap();
        tx.push(b"second").unwrap();
    }
    corrupt(bytes);
    let (_, mut rx) = Ring::attach(bytes).unwrap().split();
    let mut got = Vec::new();
    let err = rx.read_batch(usize::MAX, |m| got.push(m.to_vec())).unwrap_err();
    assert!(rx.is_poisoned());
    assert_eq!(rx.pop().unwrap_err(), RingError::Corrupt);
    (got, err)
}

#[test]
fn consumer_rejects_corruption() {
    let word = |bytes: &mut [u8], off: usize, w: u32| {
        bytes[HEADER_LEN + off..HEADER_LEN + off + 4].copy_from_slice(&w.to_ne_bytes());
    };
    // Length beyond the producer counter (16 + 16 bytes published).
    let (got, err) = drain_corrupted(|b| word(b, 16, RECORD_COMMIT | 20));
    assert_eq!((got, err), (vec![b"first".to_vec()], RingError::Corrupt));
    // Length larger than the whole ring.
    assert_eq!(drain_corrupted(|b| word(b, 0, RECORD_COMMIT | LEN_MASK)).1, RingError::Corrupt);
    // Missing commit flag in an SPSC ring, unknown length bits.
    let (got, err) = drain_corrupted(|b| word(b, 16, 6));
    assert_eq!((got, err), (vec![b"first".to_vec()], RingError::Corrupt));
    // Pads: zero, unaligned, past the end, past the producer counter.
    for pad in [0, 12, 512, 64] {
        assert_eq!(drain_corrupted(|b| word(b, 0, RECORD_COMMIT | RECORD_PAD | pad)).1, RingError::Corrupt);
    }
    // Producer counter more than a capacity ahead, or inside a record.
    assert_eq!(drain_corrupted(|b| counter_bytes(b, TAIL_OFFSET, 1000)).1, RingError::Corrupt);
    let (got, err) = drain_corrupted(|b| counter_bytes(b, TAIL_OFFSET, 24));
    assert_eq!((got, err), (vec![b"first".to_vec()], RingError::Corrupt));
}

#[test]
fn producers_reject_impossible_head() {
    let mut lines = region(256);
    let bytes = CacheLine::as_bytes_mut(&mut lines);
    Ring::init(bytes).unwrap();
    counter_bytes(bytes, HEAD_OFFSET, 1024); // consumer "ahead" of the producer
    {
        let (mut tx, _) = Ring::attach(bytes).unwrap().split();
        assert_eq!(tx.push(b"x"), Err(RingError::Corrupt));
    }
    MpscRing::init(bytes).unwrap();
    counter_bytes(bytes, HEAD_OFFSET, 1024);
    let (mut tx, _) = MpscRing::attach(bytes).unwrap().split();
    assert_eq!(tx.push(b"x"), Err(RingError::Corrupt));
}

const THREAD_MESSAGES: u32 = if cfg!(miri) { 300 } else { 20_000 };

#[test]
fn spsc_threads() {
    let mut lines = region(512);
    let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut buf = [0; 64];
            for i in 0..THREAD_MESSAGES {
                while tx.push(message(9, i, &mut buf)).is_err() {
                    std::thread::yield_now();
                }
            }
        });
        let mut next = 0;
        while next < THREAD_MESSAGES {
            let n = rx
                .read_batch(usize::MAX, |m| {
                    assert_eq!(check_message(m), (9, next));
                    next += 1;
                })
                .unwrap();
            if n == 0 {
                std::thread::yield_now();
            }
        }
    });
}

#[test]
fn mpsc_threads() {
    const PRODUCERS: u8 = 3;
    let mut lines = region(512);
    let (tx, mut rx) = MpscRing::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    std::thread::scope(|s| {
        for p in 0..PRODUCERS {
            let mut tx = tx.clone();
            s.spawn(move || {
                let mut buf = [0; 64];
                for i in 0..THREAD_MESSAGES {
                    loop {
                        let len = message(p, i, &mut buf).len();
                        match tx.claim(len) {
                            Ok(mut c) => {
                                c.copy_from_slice(&buf[..len]);
                                c.commit();
                                break;
                            }
                            Err(RingError::Full) => std::thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
        let mut next = [0u32; PRODUCERS as usize];
        let total = THREAD_MESSAGES * u32::from(PRODUCERS);
        let mut got = 0;
        while got < total {
            let mut pop = || rx.pop().unwrap().map(|m| check_message(&m));
            match pop() {
                Some((p, i)) => {
                    assert_eq!(i, next[p as usize]);
                    next[p as usize] += 1;
                    got += 1;
                }
                None => std::thread::yield_now(),
            }
        }
    });
}

#[test]
fn staged_messages_wait_for_publish() {
    let mut lines = region(128);
    let bytes = CacheLine::as_bytes_mut(&mut lines);
    {
        let (mut tx, mut rx) = Ring::init(&mut *bytes).unwrap().split();
        tx.stage(b"a").unwrap();
        let mut c = tx.claim(2).unwrap();
        c.copy_from_slice(b"bc");
        c.stage();
        assert!(rx.pop().unwrap().is_none());
        tx.publish();
        assert_eq!(drain(&mut rx), vec![b"a".to_vec(), b"bc".to_vec()]);
        // A push publishes what was staged before it.
        tx.stage(b"d").unwrap();
        tx.push(b"e").unwrap();
        assert_eq!(drain(&mut rx), vec![b"d".to_vec(), b"e".to_vec()]);
        // Staging into a full ring publishes, so the consumer can make room.
        let mut staged = 0;
        while tx.stage(&[7; 20]) == Ok(()) {
            staged += 1;
        }
        assert_eq!(staged, 128 / 32);
        assert_eq!(drain(&mut rx).len(), staged);
        tx.stage(b"last").unwrap();
    }
    // Dropping the producer published the last staged message.
    let (_, mut rx) = Ring::attach(bytes).unwrap().split();
    assert_eq!(drain(&mut rx), vec![b"last".to_vec()]);
}

/// A batch runs into a full ring, publishes what it holds, goes on once the consumer
/// has made room, wraps behind pads, and publishes nothing until it ends otherwise.
#[test]
fn batch_full_wrap_and_publish() {
    let mut lines = region(256);
    let (mut tx, mut rx) = Ring::init_at(CacheLine::as_bytes_mut(&mut lines), Pos::MAX - 500).unwrap().split();
    let mut buf = [0; 64];
    let (mut sent, got) = (0u32, std::cell::Cell::new(0u32));
    let check = |m: &[u8]| {
        assert_eq!(check_message(m), (4, got.get()));
        got.set(got.get() + 1);
    };
    for _ in 0..60 {
        let mut batch = tx.batch();
        let before = sent;
        // Fill until full: the ring then holds exactly what the batch pushed.
        while batch.push(message(4, sent, &mut buf)) == Ok(()) {
            sent += 1;
        }
        assert!(sent > before);
        // Full published the batch so far; the consumer sees all of it.
        rx.read_batch(usize::MAX, check).unwrap();
        assert_eq!(got.get(), sent);
        // The same batch goes on into the freed space, unpublished until it ends.
        batch.push(message(4, sent, &mut buf)).unwrap();
        sent += 1;
        assert_eq!(rx.read_batch(usize::MAX, check).unwrap(), 0);
        batch.publish();
        assert_eq!(rx.read_batch(usize::MAX, check).unwrap(), 1);
    }
    assert_eq!(got.get(), sent);
    // An empty batch publishes nothing and leaves the producer where it was.
    tx.batch().publish();
    tx.push(message(4, sent, &mut buf)).unwrap();
    assert_eq!(rx.read_batch(usize::MAX, check).unwrap(), 1);
    assert_eq!(tx.batch().push(&[0; 121]), Err(RingError::TooLarge));
}

#[test]
fn read_copy_hands_out_a_private_copy_and_keeps_what_is_refused() {
    let mut lines = region(256);
    let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    let mut buf = [0; 64];
    let mut out = [0u8; 64];
    for i in 0..40u32 {
        tx.push(message(1, i, &mut buf)).unwrap();
        // Refused once: the same record comes back.
        assert_eq!(rx.read_copy(&mut out, |m| (false, check_message(m).1)), Ok(Some(i)));
        // Too small a buffer: an error that leaves the record and does not poison.
        let len = message(1, i, &mut buf).len();
        assert_eq!(rx.read_copy(&mut out[..len - 1], |_| (true, ())), Err(RingError::TooLarge));
        assert!(!rx.is_poisoned());
        assert_eq!(rx.read_copy(&mut out, |m| (true, check_message(m).1)), Ok(Some(i)));
        assert_eq!(rx.read_copy(&mut out, |_| (true, ())), Ok(None));
    }
}

#[test]
fn read_copy_refuses_a_corrupted_length() {
    let mut lines = region(256);
    let bytes = CacheLine::as_bytes_mut(&mut lines);
    {
        let (mut tx, _) = Ring::init(&mut *bytes).unwrap().split();
        tx.push(b"hello").unwrap();
    }
    // The record word claims more bytes than were published.
    bytes[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&(RECORD_COMMIT | 100).to_ne_bytes());
    let (_, mut rx) = Ring::attach(bytes).unwrap().split();
    let mut out = [0u8; 256];
    assert_eq!(rx.read_copy(&mut out, |_| (true, ())), Err(RingError::Corrupt));
    assert!(rx.is_poisoned());
}

#[test]
fn read_copy_batch_stops_at_the_first_refusal_and_frees_the_rest_once() {
    let mut lines = region(1024);
    let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    let mut buf = [0; 64];
    for i in 0..10u32 {
        tx.push(message(2, i, &mut buf)).unwrap();
    }
    let mut out = [0u8; 64];
    let mut seen = Vec::new();
    // Accept four, refuse the fifth.
    let n = rx
        .read_copy_batch(&mut out, usize::MAX, |m| {
            let i = check_message(m).1;
            seen.push(i);
            i < 4
        })
        .unwrap();
    assert_eq!((n, seen.as_slice()), (4, &[0, 1, 2, 3, 4][..]));
    // The refused one comes first next time; a limit is honoured.
    seen.clear();
    assert_eq!(
        rx.read_copy_batch(&mut out, 3, |m| {
            seen.push(check_message(m).1);
            true
        }),
        Ok(3)
    );
    assert_eq!(seen, [4, 5, 6]);
    assert_eq!(rx.read_copy_batch(&mut out[..4], usize::MAX, |_| true), Err(RingError::TooLarge));
    assert_eq!(rx.read_copy_batch(&mut out, usize::MAX, |m| check_message(m).1 >= 7), Ok(3));
    assert_eq!(rx.read_copy_batch(&mut out, usize::MAX, |_| true), Ok(0));
}
