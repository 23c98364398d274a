//! The message rings through their public API: thread stress tests (every record arrives
//! once, intact, in per-producer order), counter wrap-around, full/empty, abandoned
//! claims and corrupted headers.

use kaos_core::ring::{
    CacheLine, Consumer, MpscRing, Ring, RingError, COUNTER_BITS, HEADER_LEN, HEAD_OFFSET, TAIL_OFFSET,
};

const SPSC_MESSAGES: u32 = 2_000_000;
const MPSC_PRODUCERS: u32 = 4;
const MPSC_MESSAGES: u32 = 500_000; // per producer

fn region(capacity: usize) -> Vec<CacheLine> {
    vec![CacheLine::ZERO; CacheLine::lines_for(capacity)]
}

/// Record `seq` of `producer`: 8 to 200 bytes, every byte derived from both.
fn encode(producer: u32, seq: u32, buf: &mut [u8; 256]) -> usize {
    let len = 8 + (seq.wrapping_mul(2_654_435_761) >> 24) as usize % 193;
    buf[..4].copy_from_slice(&producer.to_le_bytes());
    buf[4..8].copy_from_slice(&seq.to_le_bytes());
    let mut x = producer.wrapping_mul(31).wrapping_add(seq);
    for b in &mut buf[8..len] {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        *b = (x >> 16) as u8;
    }
    len
}

#[track_caller]
fn decode(m: &[u8]) -> (u32, u32) {
    assert!(m.len() >= 8, "short record");
    let producer = u32::from_le_bytes(m[..4].try_into().unwrap());
    let seq = u32::from_le_bytes(m[4..8].try_into().unwrap());
    let mut buf = [0; 256];
    let len = encode(producer, seq, &mut buf);
    assert!(m == &buf[..len], "record {seq} of producer {producer} damaged");
    (producer, seq)
}

/// Drains until `total` records arrived, checking per-producer order.
fn consume_all(rx: &mut Consumer<'_>, producers: usize, total: u64) {
    let mut next = vec![0u32; producers];
    let mut got = 0u64;
    while got < total {
        let n = rx
            .read_batch(usize::MAX, |m| {
                let (p, seq) = decode(m);
                assert_eq!(seq, next[p as usize], "producer {p} out of order");
                next[p as usize] += 1;
            })
            .unwrap();
        got += n as u64;
        if n == 0 {
            std::thread::yield_now();
        }
    }
    assert!(next.iter().all(|&n| u64::from(n) * producers as u64 == total));
    assert_eq!(rx.read_batch(usize::MAX, |_| ()).unwrap(), 0);
}

#[test]
fn spsc_stress() {
    let mut lines = region(64 * 1024);
    let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut buf = [0; 256];
            for seq in 0..SPSC_MESSAGES {
                let len = encode(0, seq, &mut buf);
                // Alternate push and in-place claims.
                loop {
                    let res = if seq % 2 == 0 {
                        tx.push(&buf[..len])
                    } else {
                        tx.claim(len).map(|mut c| {
                            c.copy_from_slice(&buf[..len]);
                            c.commit();
                        })
                    };
                    match res {
                        Ok(()) => break,
                        Err(RingError::Full) => std::thread::yield_now(),
                        Err(e) => panic!("producer: {e}"),
                    }
                }
            }
        });
        consume_all(&mut rx, 1, u64::from(SPSC_MESSAGES));
    });
}

#[test]
fn mpsc_stress() {
    let mut lines = region(64 * 1024);
    let (tx, mut rx) = MpscRing::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    std::thread::scope(|s| {
        for p in 0..MPSC_PRODUCERS {
            let mut tx = tx.clone();
            s.spawn(move || {
                let mut buf = [0; 256];
                for seq in 0..MPSC_MESSAGES {
                    let len = encode(p, seq, &mut buf);
                    // Every 16th record is preceded by an abandoned claim the consumer skips.
                    if seq % 16 == 0 {
                        if let Ok(mut c) = tx.claim(len) {
                            c.fill(0xEE);
                        }
                    }
                    loop {
                        match tx.push(&buf[..len]) {
                            Ok(()) => break,
                            Err(RingError::Full) => std::thread::yield_now(),
                            Err(e) => panic!("producer {p}: {e}"),
                        }
                    }
                }
            });
        }
        consume_all(&mut rx, MPSC_PRODUCERS as usize, u64::from(MPSC_PRODUCERS * MPSC_MESSAGES));
    });
}

/// Writes a counter at its documented offset, in the documented width.
fn set_counter(region: &mut [u8], offset: usize, value: u64) {
    let n = COUNTER_BITS as usize / 8;
    let bytes = if n == 8 { value.to_ne_bytes().to_vec() } else { (value as u32).to_ne_bytes().to_vec() };
    region[offset..offset + n].copy_from_slice(&bytes);
}

#[test]
fn counters_wrap_around() {
    let max = if COUNTER_BITS == 64 { u64::MAX } else { u64::from(u32::MAX) };
    let start = (max - 4000) & !7;
    for multi in [false, true] {
        let mut lines = region(1024);
        let bytes = CacheLine::as_bytes_mut(&mut lines);
        if multi {
            MpscRing::init(bytes).unwrap();
        } else {
            Ring::init(bytes).unwrap();
        }
        set_counter(bytes, TAIL_OFFSET, start);
        set_counter(bytes, HEAD_OFFSET, start);
        let mut buf = [0; 256];
        let mut next = 0;
        let mut check = |m: &[u8]| {
            assert_eq!(decode(m), (0, next));
            next += 1;
        };
        if multi {
            let (mut tx, mut rx) = MpscRing::attach(bytes).unwrap().split();
            for seq in 0..500 {
                let len = encode(0, seq, &mut buf);
                tx.push(&buf[..len]).unwrap();
                rx.read(&mut check).unwrap().unwrap();
            }
        } else {
            let (mut tx, mut rx) = Ring::attach(bytes).unwrap().split();
            for seq in 0..500 {
                let len = encode(0, seq, &mut buf);
                tx.push(&buf[..len]).unwrap();
                rx.read(&mut check).unwrap().unwrap();
            }
        }
        assert_eq!(next, 500);
    }
}

#[test]
fn full_then_empty() {
    let mut lines = region(4096);
    let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    assert_eq!(tx.push(&vec![0; tx.max_payload() + 1]), Err(RingError::TooLarge));
    let mut pushed = 0u32;
    while tx.push(&pushed.to_le_bytes()).is_ok() {
        pushed += 1;
    }
    // A 4-byte message takes 16 bytes: the 8-byte header and its payload padded to 8.
    assert_eq!(pushed, 4096 / 16);
    assert_eq!(tx.push(b""), Err(RingError::Full));
    let mut seen = 0u32;
    rx.read_batch(usize::MAX, |m| {
        assert_eq!(m, seen.to_le_bytes());
        seen += 1;
    })
    .unwrap();
    assert_eq!(seen, pushed);
    assert!(rx.pop().unwrap().is_none());
    tx.push(&[1; 2040]).unwrap(); // max payload, now at offset 0 again
    assert_eq!(rx.pop().unwrap().unwrap().len(), 2040);
}

#[test]
fn dropped_claims_are_never_delivered() {
    let mut lines = region(1024);
    let (mut tx, mut rx) = Ring::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    for _ in 0..1000 {
        let mut c = tx.claim(100).unwrap();
        c.fill(0xAB);
    }
    assert!(rx.pop().unwrap().is_none());

    let mut lines = region(1024);
    let (mut tx, mut rx) = MpscRing::init(CacheLine::as_bytes_mut(&mut lines)).unwrap().split();
    for i in 0..1000u32 {
        let mut c = tx.claim(100).unwrap();
        c.fill(0xAB);
        drop(c);
        tx.push(&i.to_le_bytes()).unwrap();
        assert_eq!(rx.read(|m| m.to_vec()).unwrap().unwrap(), i.to_le_bytes());
    }
    assert!(rx.pop().unwrap().is_none());
}

#[test]
fn corrupted_headers_are_refused() {
    let mut lines = region(1024);
    let bytes = CacheLine::as_bytes_mut(&mut lines);
    assert_eq!(Ring::attach(bytes).unwrap_err(), RingError::BadHeader); // never initialized
    Ring::init(bytes).unwrap();
    assert_eq!(MpscRing::attach(bytes).unwrap_err(), RingError::WrongKind);
    for offset in 0..24 {
        let mut copy = region(1024);
        let c = CacheLine::as_bytes_mut(&mut copy);
        c.copy_from_slice(bytes);
        c[offset] ^= 0x40;
        let err = Ring::attach(c).unwrap_err();
        assert!(matches!(err, RingError::BadHeader | RingError::WrongKind | RingError::RegionTooSmall), "{err}");
    }
    // Consumer counter behind the producer counter by more than the capacity.
    set_counter(bytes, TAIL_OFFSET, 1 << 20);
    {
        let (mut tx, mut rx) = Ring::attach(bytes).unwrap().split();
        assert_eq!(rx.pop().unwrap_err(), RingError::Corrupt);
        assert_eq!(rx.read_batch(1, |_| ()).unwrap_err(), RingError::Corrupt);
        assert_eq!(tx.push(b"x"), Err(RingError::Corrupt));
    }
    // Garbage records: the consumer stops with Corrupt, inside the region.
    Ring::init(bytes).unwrap();
    bytes[HEADER_LEN..].fill(0xFF);
    set_counter(bytes, TAIL_OFFSET, 512);
    let (_, mut rx) = Ring::attach(bytes).unwrap().split();
    assert_eq!(rx.read_batch(usize::MAX, |_| panic!("garbage delivered")).unwrap_err(), RingError::Corrupt);
}
