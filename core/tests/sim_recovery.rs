//! How fast a connection recovers from losses, in simulated time over a link of known
//! latency: acks asked for at once, losses found by time instead of the retransmission
//! timer, tail probes, and bulk over a lossy link.

mod sim;

use kaos_core::config::{ChannelConfig, ChannelKind, Config};
use kaos_core::time::Duration;
use sim::{make_message, Link, Sim};

const LATENCY_MS: u64 = 10;

fn link() -> Link {
    Link { latency: Duration::from_millis(LATENCY_MS), ..Link::perfect() }
}

/// The default config, its reliable-ordered channel 0 holding `window` messages.
fn config(window: u16) -> Config {
    let mut cfg = Config::default();
    cfg.channels[0] = ChannelConfig { window, ..ChannelConfig::new(ChannelKind::ReliableOrdered) };
    cfg
}

/// A connected pair whose client has a settled RTT estimate: ten messages one after the
/// other, each acked before the next.
fn warmed(cfg: Config, up: Link, down: Link) -> Sim {
    let mut s = Sim::new(7, cfg, up, down);
    s.connect();
    for i in 0..10 {
        s.client.send(1, &make_message(i, 40)).unwrap();
        s.run_until(100_000, Duration::from_secs(30), |s| !s.client.has_unacked(1)).expect("warm-up");
    }
    s
}

/// Simulated milliseconds until every message the client sent on channel 0 is acked.
fn ms_until_acked(s: &mut Sim) -> u64 {
    let start = s.now;
    s.run_until(100_000, Duration::from_secs(30), |s| !s.client.has_unacked(0)).expect("never acked");
    (s.now - start).as_millis()
}

/// A sender that fills its window asks for the ack at once; one that can go on sending
/// lets the peer hold its ack (`max_ack_delay`) to piggyback it.
#[test]
fn a_sender_with_a_full_window_gets_its_ack_without_delay() {
    let cfg = config(2);
    let delay = cfg.max_ack_delay.as_millis();
    let mut s = warmed(cfg, link(), link());
    s.client.send(0, &make_message(0, 40)).unwrap();
    let lone = ms_until_acked(&mut s);
    assert!(lone >= 2 * LATENCY_MS + delay, "a lone packet's ack came after {lone} ms: it was not held");
    s.client.send(0, &make_message(1, 40)).unwrap();
    s.client.send(0, &make_message(2, 40)).unwrap();
    let full = ms_until_acked(&mut s);
    assert!(full <= 2 * LATENCY_MS + 1, "the window-filling packet's ack came after {full} ms");
    assert_eq!(s.server_seen.messages.iter().filter(|(ch, _)| *ch == 0).count(), 3);
}

/// A packet overtaken by a newer one that was acked is lost once 9/8 of the RTT passed
/// (RFC 9002 §6.1.2), and sent again well before the retransmission timer (which waits
/// at least `min_rto` plus the peer's ack delay).
#[test]
fn a_lost_packet_followed_by_an_acked_one_is_resent_before_the_timer() {
    let mut s = warmed(config(256), link(), link());
    let rto_floor = (s.cfg.min_rto + s.cfg.max_ack_delay).as_millis();
    let start = s.now;
    s.up.cut = true;
    s.client.send(0, &make_message(0, 40)).unwrap();
    s.step();
    s.up.cut = false;
    s.client.send(0, &make_message(1, 40)).unwrap();
    s.run_until(100_000, Duration::from_secs(30), |s| {
        s.server_seen.messages.iter().filter(|(ch, _)| *ch == 0).count() == 2
    })
    .expect("delivery");
    let took = (s.now - start).as_millis();
    // Sent at 0; the second one's ack at 2 latencies; lost at 9/8 RTT; there at + latency.
    assert!(took <= 2 * LATENCY_MS + LATENCY_MS / 4 + LATENCY_MS + 1, "the lost message arrived after {took} ms");
    assert!(took < rto_floor + LATENCY_MS);
    let st = s.client.stats();
    assert_eq!((st.timeouts, st.messages_resent), (0, 1), "{st:?}");
}

/// The acks of a full window are all lost: the sender probes for them before its
/// retransmission timer, and the probe's ack shows that nothing needs sending again.
#[test]
fn lost_acks_of_a_waiting_sender_are_recovered_by_a_probe_without_resending() {
    let mut s = warmed(config(2), link(), link());
    let start = s.now;
    s.client.send(0, &make_message(0, 40)).unwrap();
    s.client.send(0, &make_message(1, 40)).unwrap();
    s.down.cut = true;
    s.run_until(100_000, Duration::from_secs(30), |s| {
        s.server_seen.messages.iter().filter(|(ch, _)| *ch == 0).count() == 2
    })
    .expect("delivery");
    // Let the server's immediate ack go out into the cut link.
    s.step();
    s.down.cut = false;
    s.run_until(100_000, Duration::from_secs(30), |s| !s.client.has_unacked(0)).expect("never acked");
    let took = (s.now - start).as_millis();
    let st = s.client.stats();
    assert_eq!((st.timeouts, st.messages_resent), (0, 0), "{st:?}");
    // The probe goes out a probe timeout (SRTT + 4 RTTVAR) after the packet, and its
    // ack comes back a round trip later.
    let pto = (st.rtt + Duration::from_micros((4 * st.rtt_var.as_micros()).max(1_000))).as_millis();
    assert!(took <= pto + 2 * LATENCY_MS + 1, "acked after {took} ms (probe timeout {pto} ms)");
}

/// 3,000 reliable messages through 5 % loss each way: losses are found by acks and
/// probes, not by the retransmission timer, and the transfer takes a bounded number of
/// round trips.
#[test]
fn bulk_over_a_lossy_link_recovers_without_timeouts() {
    const N: u32 = 3_000;
    let lossy = Link { loss: 0.05, ..link() };
    for seed in 0..8u64 {
        let (st, rtts) = bulk(&mut Sim::new(seed, Config::default(), lossy, lossy), N, 64);
        assert!(st.timeouts <= 2, "seed {seed}: {} timeouts: {st:?}", st.timeouts);
        // 14-22 round trips; halving the window on each of these random losses took 22-45.
        assert!(rtts <= 30, "seed {seed}: {rtts} round trips: {st:?}");
    }
}

/// Sends `n` reliable messages of `len` bytes from the client; returns the client's stats
/// once all arrived and the simulated round trips it took.
fn bulk(s: &mut Sim, n: u32, len: usize) -> (kaos_core::congestion::Stats, u64) {
    s.connect();
    for i in 0..n {
        s.client_backlog.push_back((0, make_message(i, len)));
    }
    let start = s.now;
    s.run_until(10_000_000, Duration::from_secs(600), |s| s.server_seen.messages.len() == n as usize)
        .expect("delivery");
    (s.client.stats(), (s.now - start).as_millis() / (2 * LATENCY_MS))
}

/// Random losses on a link that queues nothing cut the congestion window by a fifth
/// (TCP Veno), not by half.
#[test]
fn random_losses_cut_the_window_by_a_fifth() {
    let lossy = Link { loss: 0.05, ..link() };
    for seed in 0..4u64 {
        let (st, _) = bulk(&mut Sim::new(seed, Config::default(), lossy, lossy), 3_000, 64);
        assert!(st.window_cuts > 0, "seed {seed}: {st:?}");
        assert_eq!(st.random_loss_cuts, st.window_cuts, "seed {seed}: {st:?}");
    }
}

/// Losses at a full bottleneck queue (1 MB/s, 20 ms of drop-tail buffer, no random loss)
/// come with a queue in the RTT, so they halve the window.
#[test]
fn losses_at_a_full_queue_halve_the_window() {
    let narrow = Link { bandwidth: 1_000_000, queue: Duration::from_millis(20), ..link() };
    let (st, _) = bulk(&mut Sim::new(3, Config::default(), narrow, link()), 3_000, 1_000);
    assert!(st.packets_lost > 0 && st.window_cuts > 0, "the queue never overflowed: {st:?}");
    assert!(st.random_loss_cuts * 4 <= st.window_cuts, "{st:?}");
}

/// A receiver handling a long burst before it sends learns when an ack must go out:
/// after 32 packets, half of what one ack can report.
#[test]
fn a_long_burst_makes_the_ack_overdue_at_half_the_ack_range() {
    let mut s = warmed(config(256), link(), link());
    let mut datagrams = Vec::new();
    let mut buf = [0u8; 1500];
    for i in 0..40 {
        s.client.send(0, &make_message(i, 40)).unwrap();
        while let Some(n) = s.client.poll_transmit(s.now, &mut buf) {
            datagrams.push(buf[..n].to_vec());
        }
    }
    assert_eq!(datagrams.len(), 40, "one packet per message");
    let h = s.server_conn.unwrap();
    let from = sim::CLIENT.parse().unwrap();
    let mut reply = [0u8; 1500];
    for (k, d) in datagrams.iter().enumerate() {
        assert_eq!(s.server.handle_datagram(s.now, from, d, &mut reply), None);
        let overdue = s.server.connection(h).unwrap().ack_overdue();
        assert_eq!(overdue, k + 1 >= 32, "after {} packets", k + 1);
    }
    let conn = s.server.connection(h).unwrap();
    assert!(conn.poll_transmit(s.now, &mut buf).is_some(), "no ack went out");
    assert!(!conn.ack_overdue());
}

/// A reliable-unordered message that fills the gap in front of messages already
/// delivered out of order releases them too: the window moves past all of them. Before,
/// the gap's message took the direct path, which moved the window by one only, so a
/// packet reaching a window past the stuck position was refused whole, and resent whole,
/// forever (found by the `channel_model` fuzz target).
#[test]
fn an_unordered_gap_filled_last_moves_the_window_past_what_was_delivered_ahead() {
    let mut cfg = Config::default();
    cfg.channels[1] = ChannelConfig { window: 8, ..ChannelConfig::new(ChannelKind::ReliableUnordered) };
    let mut s = warmed(cfg, link(), link());
    let delivered = |s: &Sim| s.server_seen.messages.iter().filter(|(ch, _)| *ch == 1).count();
    let before = delivered(&s);
    // Four messages, a datagram each; the last three reach the server first.
    let mut datagrams = Vec::new();
    let mut buf = [0u8; 1500];
    for i in 0..4 {
        s.client.send(1, &make_message(100 + i, 40)).unwrap();
        while let Some(n) = s.client.poll_transmit(s.now, &mut buf) {
            datagrams.push(buf[..n].to_vec());
        }
    }
    assert_eq!(datagrams.len(), 4, "one packet per message");
    let from = sim::CLIENT.parse().unwrap();
    let mut reply = [0u8; 1500];
    for d in datagrams[1..].iter().chain(&datagrams[..1]) {
        assert_eq!(s.server.handle_datagram(s.now, from, d, &mut reply), None);
    }
    s.run_until(100_000, Duration::from_secs(30), |s| !s.client.has_unacked(1)).expect("never acked");
    assert_eq!(delivered(&s), before + 4);
    // A full window at once, in one packet: it reaches a window's length past the gap.
    for i in 4..12 {
        s.client_backlog.push_back((1, make_message(100 + i, 40)));
    }
    s.run_until(100_000, Duration::from_secs(30), |s| delivered(s) == before + 12).expect("the window never moved");
    assert_eq!(s.server.connection(s.server_conn.unwrap()).unwrap().stats().dropped_full, 0);
}
