//! Multicast on loopback: one sender, three receivers, real kernel drops.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use kaos_rudp::multicast::{McDecodeError, McPacket};
use kaos_rudp::{MulticastConfig, MulticastTransport};

/// A group on a port that is free now, so parallel tests do not hear each other.
fn group(last: u8) -> MulticastConfig {
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cfg = MulticastConfig::new(SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, last), port), Ipv4Addr::LOCALHOST);
    // Small kernel buffers: a burst the receivers do not read at once overflows them,
    // so gaps come from real drops.
    cfg.recv_buffer = 4096;
    cfg
}

fn payload(seq: u32) -> Vec<u8> {
    let mut m = seq.to_le_bytes().to_vec();
    m.extend((0..900).map(|k| (seq as usize + k) as u8));
    m
}

/// Sends `count` messages in one burst, then runs everyone until each receiver has
/// accounted for all of them (delivered or, if the sender no longer has them, lost).
fn burst_and_settle(cfg: MulticastConfig, count: u32) -> (MulticastTransport, Vec<MulticastTransport>, Vec<Vec<u32>>) {
    let mut sender = MulticastTransport::join(cfg.clone()).unwrap();
    let mut receivers: Vec<MulticastTransport> =
        (0..3).map(|_| MulticastTransport::join(cfg.clone()).unwrap()).collect();
    // A first message and a pause, so every receiver knows where the stream starts.
    sender.send(&payload(0)).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mut got: Vec<Vec<u32>> = vec![Vec::new(); 3];
    for (r, g) in receivers.iter_mut().zip(&mut got) {
        r.receive(|_, m| g.push(u32::from_le_bytes(m[..4].try_into().unwrap()))).unwrap();
    }
    for seq in 1..count {
        sender.send(&payload(seq)).unwrap();
    }
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        sender.process().unwrap();
        for (r, g) in receivers.iter_mut().zip(&mut got) {
            r.receive(|from, m| {
                assert_eq!(from, sender.id());
                let seq = u32::from_le_bytes(m[..4].try_into().unwrap());
                assert_eq!(m, payload(seq), "message {seq} damaged");
                g.push(seq);
            })
            .unwrap();
        }
        let settled = receivers.iter().zip(&got).all(|(r, g)| g.len() as u64 + r.stats().lost == u64::from(count));
        if settled {
            break;
        }
        assert!(Instant::now() < end, "receivers stuck at {:?}", got.iter().map(Vec::len).collect::<Vec<_>>());
        std::thread::sleep(Duration::from_millis(1));
    }
    (sender, receivers, got)
}

#[test]
fn three_receivers_get_every_message_in_order_after_repairs() {
    let count = 400;
    let (sender, receivers, got) = burst_and_settle(group(1), count);
    for (r, g) in receivers.iter().zip(&got) {
        assert_eq!(*g, (0..count).collect::<Vec<u32>>());
        assert_eq!(r.stats().lost, 0);
    }
    let gaps: u64 = receivers.iter().map(|r| r.stats().gaps).sum();
    assert!(gaps > 0, "no gap happened; the test proves nothing");
    assert!(sender.stats().repairs_sent > 0);
}

#[test]
fn messages_the_sender_no_longer_holds_are_counted_lost_and_the_stream_goes_on() {
    let mut cfg = group(2);
    cfg.history = 16;
    let count = 400;
    let (_sender, receivers, got) = burst_and_settle(cfg, count);
    let mut some_lost = false;
    for (r, g) in receivers.iter().zip(&got) {
        // In order, no duplicates, ending with the last message.
        assert!(g.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(g.last(), Some(&(count - 1)));
        some_lost |= r.stats().lost > 0;
    }
    assert!(some_lost, "no receiver lost anything; the test proves nothing");
}

#[test]
fn packets_round_trip_and_garbage_is_refused() {
    let mut buf = [0u8; 2048];
    for p in [
        McPacket::Data { sender: 7, seq: 9, payload: b"hi" },
        McPacket::Nak { sender: 7, first: 3, count: 4 },
        McPacket::Heartbeat { sender: 7, next: 10 },
        McPacket::Gone { sender: 7, oldest: 2 },
    ] {
        let n = p.encode(&mut buf).unwrap();
        assert_eq!(McPacket::decode(&buf[..n]), Ok(p));
        buf[n - 1] ^= 1;
        assert_eq!(McPacket::decode(&buf[..n]), Err(McDecodeError::Checksum));
    }
    assert_eq!(McPacket::decode(b"KM"), Err(McDecodeError::Truncated));
    assert_eq!(McPacket::decode(&[0; 20]), Err(McDecodeError::Foreign));
    assert!(McPacket::Data { sender: 1, seq: 0, payload: &[0; 1401] }.encode(&mut buf).is_none());
}

#[test]
fn hostile_datagrams_change_nothing() {
    let mut cfg = group(3);
    cfg.recv_buffer = 4 << 20;
    let mut member = MulticastTransport::join(cfg.clone()).unwrap();
    let mut sender = MulticastTransport::join(cfg.clone()).unwrap();
    sender.send(&payload(0)).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mut got = Vec::new();
    member.receive(|_, m| got.push(m.to_vec())).unwrap();
    assert_eq!(got.len(), 1);
    let raw = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0u8; 2048];
    let mut send = |p: McPacket<'_>| {
        let n = p.encode(&mut buf).unwrap();
        raw.send_to(&buf[..n], std::net::SocketAddr::V4(cfg.group)).unwrap();
    };
    // A forged "gone" and forged data for the real sender's id, from another address.
    send(McPacket::Gone { sender: sender.id(), oldest: 1_000_000 });
    send(McPacket::Data { sender: sender.id(), seq: 1, payload: b"forged" });
    // The last sequence number, a NAK reaching past the end, and many made-up senders.
    send(McPacket::Data { sender: 77, seq: u64::MAX, payload: b"x" });
    send(McPacket::Nak { sender: sender.id(), first: u64::MAX - 3, count: 256 });
    for id in 1000..3000 {
        send(McPacket::Heartbeat { sender: id, next: 5 });
        if id % 100 == 0 {
            member.process().unwrap();
        }
    }
    std::thread::sleep(Duration::from_millis(20));
    sender.process().unwrap();
    member.receive(|_, m| got.push(m.to_vec())).unwrap();
    assert_eq!(member.stats().lost, 0);
    // The forged "data", the last sequence number and the senders past the table's 1,024
    // (the real sender and 2,000 made-up ones: at least 977 refused).
    assert!(member.stats().invalid >= 2 + 977, "{:?}", member.stats());
    // The real stream goes on.
    sender.send(&payload(1)).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while got.len() < 2 {
        assert!(Instant::now() < end);
        sender.process().unwrap();
        member.receive(|_, m| got.push(m.to_vec())).unwrap();
    }
    assert_eq!(got[1], payload(1));
}

#[test]
fn a_nak_flood_gets_each_message_repaired_once_per_interval() {
    let mut cfg = group(4);
    cfg.recv_buffer = 4 << 20;
    cfg.nak_interval = Duration::from_secs(10);
    let mut sender = MulticastTransport::join(cfg.clone()).unwrap();
    for seq in 0..10 {
        sender.send(&payload(seq)).unwrap();
    }
    // NAKs go to the sender's own (unicast) address.
    let sender_addr = sender.local_addr().unwrap();
    let raw = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0u8; 64];
    let n = McPacket::Nak { sender: sender.id(), first: 0, count: 10 }.encode(&mut buf).unwrap();
    for _ in 0..500 {
        raw.send_to(&buf[..n], sender_addr).unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    sender.process().unwrap();
    let stats = sender.stats();
    // 500 NAKs for 10 messages: each message goes out again once, the rest are refused.
    assert_eq!(stats.repairs_sent, 10, "{stats:?}");
    assert_eq!(stats.repairs_suppressed, 499 * 10, "{stats:?}");
}

#[test]
fn forged_senders_hold_bounded_memory_and_are_forgotten_when_silent() {
    let mut cfg = group(5);
    cfg.recv_buffer = 4 << 20;
    cfg.max_pending_bytes = 64 * 1024;
    cfg.peer_timeout = Duration::from_millis(300);
    let mut member = MulticastTransport::join(cfg.clone()).unwrap();
    let raw = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0u8; 2048];
    let big = [7u8; 1400];
    // 50 made-up senders, each starting a stream and then sending far ahead of it: every
    // message past the first waits for a repair that never comes.
    for id in 0..50u32 {
        for seq in [0u64, 2, 3, 4, 5, 6] {
            let n = McPacket::Data { sender: 10_000 + id, seq, payload: &big }.encode(&mut buf).unwrap();
            raw.send_to(&buf[..n], std::net::SocketAddr::V4(cfg.group)).unwrap();
        }
        member.process().unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    member.process().unwrap();
    let stats = member.stats();
    // 250 held messages would be 350 KB; the budget holds 46 of them.
    assert_eq!(stats.pending_dropped, 250 - (64 * 1024 / 1400) as u64, "{stats:?}");
    let end = Instant::now() + Duration::from_secs(5);
    while member.stats().peers_expired < 50 {
        assert!(Instant::now() < end, "{:?}", member.stats());
        std::thread::sleep(Duration::from_millis(50));
        member.process().unwrap();
    }
    // With them gone, the budget is free again for a new sender.
    for seq in [0u64, 2, 3] {
        let n = McPacket::Data { sender: 99, seq, payload: &big }.encode(&mut buf).unwrap();
        raw.send_to(&buf[..n], std::net::SocketAddr::V4(cfg.group)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    member.process().unwrap();
    assert_eq!(member.stats().pending_dropped, stats.pending_dropped);
}
