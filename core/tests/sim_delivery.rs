//! Delivery guarantees of every channel mode over a lossy, duplicating, reordering,
//! jittery, bandwidth-capped simulated network: 1,000+ seeds per run.

mod sim;

use std::collections::HashSet;

use kaos_core::config::{ChannelKind, Config};
use kaos_core::conn::DisconnectReason;
use kaos_core::time::Duration;
use sim::{check_message, make_message, Link, Rng, Sim};

const CH_ORDERED: u8 = 0;
const CH_UNORDERED: u8 = 1;
const CH_SEQUENCED: u8 = 2;
const CH_UNRELIABLE: u8 = 3;

fn seeds(base: u64, n: u64) -> impl Iterator<Item = u64> {
    (0..n).map(move |i| base * 1_000_003 + i)
}

/// Both sides send `count` messages on `channel`, sizes up to `max_len` (some
/// fragmented). Returns the simulation after both backlogs drained.
fn exchange(seed: u64, channel: u8, count: u32, max_len: u64) -> Sim {
    let mut rng = Rng::new(seed);
    let up = Link::random(&mut rng);
    let down = Link::random(&mut rng);
    let mut s = Sim::new(seed, Config::default(), up, down);
    s.connect();
    for i in 0..count {
        let len = if rng.chance(0.05) { rng.range(1_200, max_len) } else { rng.range(8, 300) };
        s.client_backlog.push_back((channel, make_message(i, len as usize)));
        let len = if rng.chance(0.05) { rng.range(1_200, max_len) } else { rng.range(8, 300) };
        s.server_backlog.push_back((channel, make_message(i, len as usize)));
    }
    let cfg = s.cfg.clone();
    let reliable = cfg.channels[channel as usize].kind.is_reliable();
    let goal = count as usize;
    let r = s.run_until(3_000_000, Duration::from_secs(900), |s| {
        // Memory never exceeds the configured caps.
        for ch in 0..cfg.channels.len() as u8 {
            assert!(s.client.send_buffered(ch) <= cfg.channels[ch as usize].buffer_bytes as usize);
        }
        assert!(s.client.inbox_used() <= cfg.inbox_bytes as usize);
        if reliable {
            s.client_seen.messages.len() == goal && s.server_seen.messages.len() == goal
        } else {
            s.client_backlog.is_empty() && s.server_backlog.is_empty()
        }
    });
    if let Err(l) = r {
        panic!(
            "seed {seed}: livelock {l:?}: client got {}, server got {}, backlogs {} / {}, up {:?}, down {:?}, client {:?}",
            s.client_seen.messages.len(),
            s.server_seen.messages.len(),
            s.client_backlog.len(),
            s.server_backlog.len(),
            s.up,
            s.down,
            s.client.stats()
        );
    }
    if !reliable {
        // Let what is in flight land (or be lost).
        let _ = s.run_until(100_000, Duration::from_secs(3), |_| false);
    }
    assert!(s.client_seen.disconnected.is_none() && s.server_seen.disconnected.is_none(), "seed {seed}");
    s
}

/// A simulation stopped while both sides have `count` reliable messages per channel in
/// flight over a lossy link: the receivers hold messages stored out of order.
fn exchange_started(seed: u64, count: u32) -> Sim {
    let lossy = Link { loss: 0.3, ..Link::perfect() };
    let mut s = Sim::new(seed, Config::default(), lossy, lossy);
    s.connect();
    for i in 0..count {
        for ch in [CH_ORDERED, CH_UNORDERED] {
            s.client_backlog.push_back((ch, make_message(i, 100)));
            s.server_backlog.push_back((ch, make_message(i, 100)));
        }
    }
    let _ = s.run_until(u64::MAX, Duration::from_millis(20), |_| false);
    s
}

fn indices(msgs: &[(u8, Vec<u8>)], channel: u8) -> Vec<u32> {
    msgs.iter()
        .map(|(ch, m)| {
            assert_eq!(*ch, channel);
            check_message(m)
        })
        .collect()
}

#[test]
fn reliable_ordered_delivers_everything_once_in_order() {
    for seed in seeds(1, 300) {
        let s = exchange(seed, CH_ORDERED, 120, 16_000);
        let want: Vec<u32> = (0..120).collect();
        assert_eq!(indices(&s.server_seen.messages, CH_ORDERED), want, "seed {seed}");
        assert_eq!(indices(&s.client_seen.messages, CH_ORDERED), want, "seed {seed}");
    }
}

#[test]
fn reliable_unordered_delivers_everything_exactly_once() {
    for seed in seeds(2, 250) {
        let s = exchange(seed, CH_UNORDERED, 120, 16_000);
        for got in [indices(&s.server_seen.messages, CH_UNORDERED), indices(&s.client_seen.messages, CH_UNORDERED)] {
            let mut sorted = got.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..120).collect::<Vec<_>>(), "seed {seed}");
        }
    }
}

#[test]
fn sequenced_never_delivers_older_after_newer() {
    let mut delivered = 0usize;
    for seed in seeds(3, 250) {
        let s = exchange(seed, CH_SEQUENCED, 150, 8_000);
        for got in [indices(&s.server_seen.messages, CH_SEQUENCED), indices(&s.client_seen.messages, CH_SEQUENCED)] {
            assert!(got.windows(2).all(|w| w[0] < w[1]), "seed {seed}: {got:?}");
            delivered += got.len();
        }
    }
    // Sanity: the lossy links still deliver a good share. About a third arrive: links lose
    // up to 30 %, and a message that lands after a newer one is dropped, so the more are
    // in flight over a link that reorders, the fewer arrive (35 % when every loss halved
    // the window, 33 % now that random losses cut it by a fifth).
    assert!(delivered > 250 * 2 * 150 / 4, "only {delivered} sequenced messages delivered");
}

#[test]
fn unreliable_never_duplicates_and_fragments_arrive_whole() {
    let mut delivered = 0usize;
    for seed in seeds(4, 250) {
        let s = exchange(seed, CH_UNRELIABLE, 150, 8_000);
        for got in [indices(&s.server_seen.messages, CH_UNRELIABLE), indices(&s.client_seen.messages, CH_UNRELIABLE)] {
            let set: HashSet<u32> = got.iter().copied().collect();
            assert_eq!(set.len(), got.len(), "seed {seed}: duplicate delivered");
            delivered += got.len();
        }
    }
    assert!(delivered > 250 * 2 * 150 / 3, "only {delivered} unreliable messages delivered");
}

#[test]
fn large_fragmented_reliable_messages_reassemble() {
    for seed in seeds(5, 60) {
        let mut rng = Rng::new(seed);
        let up = Link::random(&mut rng);
        let down = Link::random(&mut rng);
        let mut s = Sim::new(seed, Config::default(), up, down);
        s.connect();
        for i in 0..12 {
            let len = rng.range(10_000, 16 * 1024 + 1) as usize;
            s.client_backlog.push_back((CH_ORDERED, make_message(i, len)));
        }
        s.run_until(2_000_000, Duration::from_secs(600), |s| s.server_seen.messages.len() == 12)
            .unwrap_or_else(|l| panic!("seed {seed}: {l:?}"));
        assert_eq!(indices(&s.server_seen.messages, CH_ORDERED), (0..12).collect::<Vec<_>>());
    }
}

/// Messages trickle in on all four channels with idle gaps, so the client goes quiescent
/// often; every time it does, it is parked and unparked on dirty storage: random words,
/// or (every other seed) the storage of another connection taken mid-flight, whose live
/// slots carry the same message ids. Nothing may be lost (reliable), duplicated or
/// reordered (per the channel's mode).
#[test]
fn parking_on_dirty_storage_keeps_every_guarantee() {
    let (mut parks, mut parked_io) = (0, 0);
    for seed in seeds(11, 40) {
        let mut rng = Rng::new(seed);
        let up = Link::random(&mut rng);
        let down = Link::random(&mut rng);
        let mut s = Sim::new(seed, Config::default(), up, down);
        s.park_client = true;
        if seed % 2 == 0 {
            let mut donor = exchange_started(seed ^ 0x5A5A, 150);
            s.dirt = Some(donor.take_client_storage());
        }
        s.connect();
        let mut sent = Vec::new();
        for i in 0..200u32 {
            let ch = rng.range(0, 4) as u8;
            let len = if rng.chance(0.05) { rng.range(1_200, 5_000) } else { rng.range(8, 300) } as usize;
            s.client_backlog.push_back((ch, make_message(i, len)));
            s.server_backlog.push_back((ch, make_message(i, len)));
            sent.push((ch, i));
            let gap = Duration::from_millis(rng.range(0, 400));
            let _ = s.run_until(u64::MAX, gap, |_| false);
        }
        let reliable = |msgs: &[(u8, Vec<u8>)]| msgs.iter().filter(|(ch, _)| *ch <= CH_UNORDERED).count();
        let reliable_sent = sent.iter().filter(|(ch, _)| *ch <= CH_UNORDERED).count();
        s.run_until(3_000_000, Duration::from_secs(900), |s| {
            reliable(&s.server_seen.messages) == reliable_sent && reliable(&s.client_seen.messages) == reliable_sent
        })
        .unwrap_or_else(|l| panic!("seed {seed}: {l:?}"));
        for seen in [&s.server_seen.messages, &s.client_seen.messages] {
            for ch in 0..4u8 {
                let got: Vec<u32> = seen.iter().filter(|(c, _)| *c == ch).map(|(_, m)| check_message(m)).collect();
                let expected: Vec<u32> = sent.iter().filter(|(c, _)| *c == ch).map(|&(_, i)| i).collect();
                match ch {
                    CH_ORDERED => assert_eq!(got, expected, "seed {seed}: ordered"),
                    CH_UNORDERED => {
                        let mut sorted = got.clone();
                        sorted.sort_unstable();
                        assert_eq!(sorted, expected, "seed {seed}: unordered");
                    }
                    CH_SEQUENCED => assert!(got.windows(2).all(|w| w[0] < w[1]), "seed {seed}: sequenced {got:?}"),
                    _ => {
                        let set: HashSet<u32> = got.iter().copied().collect();
                        assert_eq!(set.len(), got.len(), "seed {seed}: unreliable duplicate");
                    }
                }
            }
        }
        assert!(s.client_seen.disconnected.is_none(), "seed {seed}");
        parks += s.parks;
        parked_io += s.parked_received.min(s.parked_sent);
    }
    assert!(parks > 40 * 50, "the client was parked only {parks} times");
    assert!(parked_io > 40, "the parked client rarely handled acks and pings itself ({parked_io})");
}

#[test]
fn dead_link_times_out_on_both_sides() {
    for seed in seeds(6, 20) {
        let mut rng = Rng::new(seed);
        let mut s = Sim::new(seed, Config::default(), Link::random(&mut rng), Link::random(&mut rng));
        s.connect();
        s.client_backlog.push_back((CH_ORDERED, make_message(0, 100)));
        s.run_until(100_000, Duration::from_secs(60), |s| s.server_seen.messages.len() == 1).unwrap();
        s.up.cut = true;
        s.down.cut = true;
        let cut_at = s.now;
        s.run_until(1_000_000, Duration::from_secs(60), |s| {
            s.client_seen.disconnected.is_some() && s.server_seen.disconnected.is_some()
        })
        .unwrap_or_else(|l| panic!("seed {seed}: {l:?}"));
        assert_eq!(s.client_seen.disconnected, Some(DisconnectReason::TimedOut));
        assert_eq!(s.server_seen.disconnected, Some(DisconnectReason::TimedOut));
        let idle = s.cfg.idle_timeout;
        assert!(s.now - cut_at >= idle - Duration::from_secs(1) && s.now - cut_at <= idle + Duration::from_secs(1));
        // The server freed the slot.
        s.collect_events();
        assert!(s.server.is_empty());
    }
}

#[test]
fn graceful_close_reaches_the_peer_with_its_reason() {
    let mut s = Sim::new(77, Config::default(), Link::perfect(), Link::perfect());
    s.connect();
    s.client.close(s.now, 4242);
    s.run_until(10_000, Duration::from_secs(5), |s| s.server_seen.disconnected.is_some()).unwrap();
    assert_eq!(s.server_seen.disconnected, Some(DisconnectReason::Remote(4242)));
    s.run_until(10_000, Duration::from_secs(5), |s| s.client_seen.disconnected.is_some()).unwrap();
    assert_eq!(s.client_seen.disconnected, Some(DisconnectReason::Local(4242)));
}

#[test]
fn a_livelock_fails_instead_of_hanging() {
    // Waiting for a message nobody sends: the harness gives up on its budget.
    let mut s = Sim::new(5, Config::default(), Link::perfect(), Link::perfect());
    s.connect();
    let r = s.run_until(1_000, Duration::from_secs(3600), |s| !s.server_seen.messages.is_empty());
    assert!(r.is_err());
    let r = s.run_until(u64::MAX, Duration::from_secs(5), |s| !s.server_seen.messages.is_empty());
    assert!(r.is_err());
}

#[test]
fn handshake_survives_loss_and_rejects_mismatched_config() {
    let mut s = Sim::new(9, Config::default(), Link { loss: 0.5, ..Link::perfect() }, Link::perfect());
    s.connect();
    // A client with another channel layout is refused.
    let mut other = Config::default();
    other.channels[1].kind = ChannelKind::ReliableOrdered;
    let mut s2 = Sim::new(10, Config::default(), Link::perfect(), Link::perfect());
    s2.client = kaos_core::conn::Connection::connect(
        &other,
        vec![0u64; other.storage_words()],
        s2.now,
        sim::SERVER.parse().unwrap(),
        1,
    )
    .unwrap();
    s2.run_until(10_000, Duration::from_secs(5), |s| s.client_seen.disconnected.is_some()).unwrap();
    assert_eq!(
        s2.client_seen.disconnected,
        Some(DisconnectReason::Rejected(kaos_core::wire::RejectReason::ConfigMismatch))
    );
    assert!(s2.server.is_empty());
}

#[test]
fn only_a_quiescent_connection_parks_and_only_on_enough_storage() {
    let mut s = Sim::new(7, Config::default(), Link::perfect(), Link::perfect());
    s.connect();
    let _ = s.run_until(u64::MAX, Duration::from_millis(50), |_| false);
    assert!(s.client.is_quiescent());
    s.client.send(CH_ORDERED, &make_message(0, 40)).unwrap();
    assert!(!s.client.is_quiescent(), "a queued message must keep the storage");
    let mut client = s.take_client();
    client = client.park().map(|_| ()).expect_err("parked with a message queued");
    s.client = client;
    let _ = s.run_until(u64::MAX, Duration::from_millis(50), |_| false);
    assert_eq!(s.server_seen.messages.len(), 1);
    assert!(s.client.is_quiescent(), "acked and idle again");
    let words = s.cfg.storage_words();
    let (parked, _) = s.take_client().park().unwrap_or_else(|_| panic!("refused to park"));
    assert_eq!(parked.storage_words(), words);
    let (parked, _) = parked.unpark(vec![0u64; words - 1]).map(|_| ()).expect_err("unparked on too little storage");
    s.client = parked.unpark(vec![u64::MAX; words]).unwrap_or_else(|_| panic!("refused storage of the right size"));
    s.client.send(CH_UNORDERED, &make_message(1, 40)).unwrap();
    let _ = s.run_until(u64::MAX, Duration::from_millis(50), |_| false);
    assert_eq!(indices(&s.server_seen.messages[1..], CH_UNORDERED), vec![1]);
}

/// Tiny packets never fill the congestion window, so a full lap of the sent table is
/// the only limit: it must stop new packets, not evict and resend without end.
#[test]
fn a_full_window_of_empty_messages_neither_spins_nor_loses_anything() {
    let mut s = Sim::new(11, Config::default(), Link::perfect(), Link::perfect());
    s.connect();
    let mut buf = [0u8; 1500];
    let mut queued = 0;
    while s.client.send(0, &[]).is_ok() {
        queued += 1;
        let mut packets = 0;
        while s.client.poll_transmit(s.now, &mut buf).is_some() {
            packets += 1;
            assert!(packets <= 2, "poll_transmit keeps producing packets after {queued} sends");
        }
    }
    assert!(queued >= 64, "the window filled after {queued}");
    assert_eq!(s.client.stats().packets_lost, 0);
    s.run_until(100_000, Duration::from_secs(30), |s| s.server_seen.messages.len() == queued)
        .expect("the empty messages did not all arrive");
    assert!(s.server_seen.messages.iter().all(|(ch, m)| *ch == 0 && m.is_empty()));
}

/// A parked connection asks for storage only for an authentic, fresh data packet: a
/// corrupted or replayed one is counted and dropped while parked, so forged traffic
/// cannot make a server unpark its idle clients.
#[test]
fn only_authentic_fresh_data_wakes_a_parked_connection() {
    let mut s = Sim::new(11, Config::default(), Link::perfect(), Link::perfect());
    s.connect();
    let _ = s.run_until(u64::MAX, Duration::from_millis(50), |_| false);
    // The server sends a message; capture its datagrams instead of delivering them.
    let h = s.server_conn.unwrap();
    s.server.connection(h).unwrap().send(CH_ORDERED, &make_message(5, 60)).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut datagrams = Vec::new();
    while let Some((_, _, n)) = s.server.poll_transmit(s.now, &mut buf) {
        datagrams.push(buf[..n].to_vec());
    }
    assert!(!datagrams.is_empty());
    let (mut parked, storage) = s.take_client().park().unwrap_or_else(|_| panic!("refused to park"));
    let invalid = parked.stats().invalid_dropped;
    for d in &datagrams {
        let mut forged = d.clone();
        let last = forged.len() - 1;
        forged[last] ^= 0x40;
        assert!(parked.handle_datagram(s.now, &forged), "a corrupted datagram asked for storage");
    }
    assert_eq!(parked.stats().invalid_dropped, invalid + datagrams.len() as u64);
    assert!(parked.is_quiescent());
    let needs: Vec<&Vec<u8>> = datagrams.iter().filter(|d| !parked.handle_datagram(s.now, d)).collect();
    assert_eq!(needs.len(), 1, "the message-bearing datagram must ask for storage");
    let mut client = parked.unpark(storage).unwrap_or_else(|_| panic!("unpark"));
    client.handle_datagram(s.now, needs[0]);
    s.client = client;
    let _ = s.run_until(u64::MAX, Duration::from_millis(50), |_| false);
    assert_eq!(s.client_seen.messages.len(), 1);
    // Acked and idle again: the same datagram replayed is refused while parked.
    let (mut parked, _) = s.take_client().park().unwrap_or_else(|_| panic!("refused to park"));
    let invalid = parked.stats().invalid_dropped;
    assert!(parked.handle_datagram(s.now, needs[0]), "a replayed datagram asked for storage");
    assert_eq!(parked.stats().invalid_dropped, invalid + 1);
}
