//! The matchmaker: 100,000 tickets, each asking for its region and mode and a skill
//! window around its own (`+properties.region:eu +properties.mode:ranked
//! +properties.skill:>=950 +properties.skill:<=1050`), groups of 2 to 8. Measures adding
//! the tickets and the passes that match them, through `Matchmaker::add` and
//! `Matchmaker::process` (no sockets: deliveries go to sessions that do not exist).
//!
//! Peer: Nakama publishes no matchmaker throughput, and its matchmaker (Go, Bleve) does
//! not run here. Beside ours, the same run measures the obvious matcher, which checks
//! each ticket against every other with the same query evaluation, on a tenth of the
//! tickets (it is quadratic).
//!
//! `cargo bench -p kaos-benches --bench matchmaker` (about 20 s).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use kaosnet::matchmaker::{pool::doc_of, TicketSpec};
use kaosnet::query::Query;
use kaosnet::realtime::tracker::{Presence, PresenceMeta};
use kaosnet::realtime::SessionId;
use kaosnet::store::MemoryStore;
use kaosnet::KaosNet;

/// kaos-server's allocator, so the figures are those of the server as it ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TICKETS: u64 = 100_000;
const REGIONS: [&str; 5] = ["eu", "us", "asia", "sa", "oc"];
const MODES: [&str; 3] = ["ranked", "casual", "arena"];

struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn spec(rng: &mut Rng) -> TicketSpec {
    let region = REGIONS[rng.next(5) as usize];
    let mode = MODES[rng.next(3) as usize];
    let skill = 500.0 + rng.next(1000) as f64;
    let min = 2 + rng.next(3) as usize;
    TicketSpec {
        min_count: min,
        max_count: min + rng.next(5) as usize,
        count_multiple: 1,
        query: format!(
            "+properties.region:{region} +properties.mode:{mode} +properties.skill:>={} +properties.skill:<={}",
            skill - 50.0,
            skill + 50.0
        ),
        string_properties: BTreeMap::from([("region".into(), region.into()), ("mode".into(), mode.into())]),
        numeric_properties: BTreeMap::from([("skill".into(), skill)]),
    }
}

fn presence(i: u64) -> Presence {
    Presence {
        session: SessionId::from_raw(i + 1),
        user_id: format!("user-{i}"),
        username: format!("u{i}"),
        meta: PresenceMeta::default(),
    }
}

/// Ours: add every ticket, then passes until one matches nothing more.
fn ours(n: u64) -> (f64, f64, u64, u64) {
    let kaos = KaosNet::new(Arc::new(MemoryStore::new()), Default::default(), Default::default());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    for i in 0..n {
        kaos.matchmaker().add_ticket(vec![presence(i)], None, spec(&mut rng)).unwrap();
    }
    let added = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let (mut matched, mut groups) = (0, 0);
    for _ in 0..4 {
        let formed = kaos.matchmaker().run(&kaos);
        if formed.is_empty() {
            break;
        }
        groups += formed.len() as u64;
        matched += formed.iter().map(|g| g.len() as u64).sum::<u64>();
    }
    (added, started.elapsed().as_secs_f64(), matched, groups)
}

/// The obvious matcher: for each waiting ticket, every other waiting ticket, both
/// queries evaluated, greedily up to the smallest max_count (full groups only, then
/// any group meeting the minimums).
fn naive(n: u64) -> (f64, u64) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let tickets: Vec<(TicketSpec, Query, kaosnet::query::Doc)> = (0..n)
        .map(|_| {
            let s = spec(&mut rng);
            let q = Query::parse(&s.query).unwrap();
            let d = doc_of(&s.string_properties, &s.numeric_properties);
            (s, q, d)
        })
        .collect();
    let started = Instant::now();
    let mut taken = vec![false; tickets.len()];
    let mut matched = 0;
    for i in 0..tickets.len() {
        if taken[i] {
            continue;
        }
        let mut group = vec![i];
        let (mut min, mut max) = (tickets[i].0.min_count, tickets[i].0.max_count);
        for j in 0..tickets.len() {
            if j == i || taken[j] || group.len() >= max {
                continue;
            }
            let ok = group.iter().all(|&g| tickets[g].1.matches(&tickets[j].2) && tickets[j].1.matches(&tickets[g].2));
            if ok && group.len() < tickets[j].0.max_count {
                group.push(j);
                min = min.max(tickets[j].0.min_count);
                max = max.min(tickets[j].0.max_count);
            }
        }
        if group.len() >= min && group.len() <= max {
            for &g in &group {
                taken[g] = true;
            }
            matched += group.len() as u64;
        }
    }
    (started.elapsed().as_secs_f64(), matched)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (added, processed, matched, groups) = ours(TICKETS);
    println!("kaos matchmaker, {TICKETS} tickets (region + mode + skill window, groups of 2-8):");
    println!("  add:       {:>10.0} tickets/s ({added:.2} s)", TICKETS as f64 / added);
    println!(
        "  match:     {:>10.0} tickets/s ({processed:.2} s for the passes; {matched} matched in {groups} groups)",
        TICKETS as f64 / processed
    );
    println!("  end to end {:>10.0} tickets/s", TICKETS as f64 / (added + processed));
    let small = TICKETS / 10;
    let (naive_time, naive_matched) = naive(small);
    let (a2, p2, m2, _) = ours(small);
    println!("the obvious all-pairs matcher, {small} tickets (quadratic: a tenth of the pool):");
    println!("  match:     {:>10.0} tickets/s ({naive_time:.2} s; {naive_matched} matched)", small as f64 / naive_time);
    println!("  kaos on the same {small}: {:>10.0} tickets/s end to end ({m2} matched)", small as f64 / (a2 + p2));
}
