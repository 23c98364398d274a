//! Leaderboards on a 1,000,000-record board: score submissions per second (first writes,
//! then updates of random owners, from one thread and then from one per core) and
//! `get_around` latency (10 records around a random
//! owner), through `Leaderboards` on the memory store and, durable, on SQLite (every
//! submission acknowledged only after its commit; 64 writer threads let batches form).
//!
//! Peers, in the same run:
//! - `indexset` (an order-statistic B-tree crate of the same design family): the bare
//!   index doing the same inserts, updates and rank-plus-range reads, beside our bare
//!   `RankIndex`; the service numbers above include records, JSON-ready fields and the
//!   store.
//! - Redis sorted sets, the usual leaderboard store, when `redis-server` is installed:
//!   ZADD pipelined 1,000 at a time, ZREVRANK + ZREVRANGE in one round trip per read, and,
//!   durable (`appendfsync always`), 64 clients each sending single ZADDs.
//!
//! `cargo bench -p kaos-benches --bench leaderboards` (about two minutes).
//! `KAOS_LB_MEMORY=1` stops after the memory-store row and `KAOS_LB_BARE=1` runs only the
//! bare indexes (for profiling one part).

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaosnet::leaderboards::{LeaderboardConfig, Leaderboards, Operator, RankIndex, Submission};
use kaosnet::store::leaderboards::{RecordWrite, StoredRecord};
use kaosnet::store::{MemoryStore, SqliteStore, Store};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS: usize = 1_000_000;
const READS: usize = 100_000;
/// Concurrent writers in the durable runs (kaos-server's HTTP worker pool is 64);
/// `KAOS_LB_WRITERS` sets another count.
fn writers() -> usize {
    std::env::var("KAOS_LB_WRITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}
const DURABLE_SECONDS: u64 = 5;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Owner ids, made when needed in a reused buffer: a request handler has the id in hand
/// (hot in cache), where a table of a million strings read at random would add two
/// cache misses of the benchmark's own to every submission, ours and Redis's alike.
struct OwnerId(String);

impl OwnerId {
    fn new() -> OwnerId {
        OwnerId(String::with_capacity(36))
    }

    /// The id of owner `i`.
    fn of(&mut self, i: usize) -> &str {
        use std::fmt::Write;
        self.0.clear();
        let _ = write!(self.0, "00000000-0000-4000-8000-{i:012}");
        &self.0
    }
}

fn percentile(samples: &mut [u64], p: f64) -> f64 {
    samples.sort_unstable();
    samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)] as f64 / 1_000.0
}

fn submission(score: u64) -> Submission {
    Submission { score: (score % 1_000_000) as i64, ..Default::default() }
}

/// `count` submissions of random scores for random owners of the full board.
fn random_updates(boards: &Leaderboards, rng: &mut Rng, count: usize) {
    let mut id = OwnerId::new();
    for _ in 0..count {
        let o = id.of(rng.next() as usize % RECORDS);
        boards.submit("b", o, "player", submission(rng.next())).unwrap();
    }
}

/// Fills, updates and reads a board, and prints the rates and latencies.
fn service(boards: &Leaderboards, label: &str) {
    boards.create(LeaderboardConfig { id: "b".into(), operator: Operator::Set, ..Default::default() }).unwrap();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut id = OwnerId::new();
    let started = Instant::now();
    for i in 0..RECORDS {
        boards.submit("b", id.of(i), "player", submission(rng.next())).unwrap();
    }
    let fill = RECORDS as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    random_updates(boards, &mut rng, RECORDS);
    let update = RECORDS as f64 / started.elapsed().as_secs_f64();
    // As a server submits: from several request threads at once (one per core here).
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            scope.spawn(move || {
                random_updates(boards, &mut Rng(0x2545_f491_4f6c_dd1d ^ (t as u64 + 7)), RECORDS / threads)
            });
        }
    });
    let shared = (RECORDS / threads * threads) as f64 / started.elapsed().as_secs_f64();
    let mut samples = around(boards, &mut rng);
    println!(
        "{label:<28} first writes {fill:>10.0}/s   updates {update:>10.0}/s   ({threads} threads: {shared:.0}/s)   get_around p50 {:>5.1} µs  p99 {:>5.1} µs",
        percentile(&mut samples, 0.50),
        percentile(&mut samples, 0.99)
    );
}

fn around(boards: &Leaderboards, rng: &mut Rng) -> Vec<u64> {
    let mut id = OwnerId::new();
    (0..READS)
        .map(|_| {
            let o = id.of(rng.next() as usize % RECORDS);
            let t = Instant::now();
            let got = boards.get_around("b", o, 10).unwrap();
            let ns = t.elapsed().as_nanos() as u64;
            assert_eq!(got.len(), 10);
            ns
        })
        .collect()
}

/// The bare index: ours and indexset's, same keys, same operations.
fn bare_indexes() {
    type Key = (u64, u64, u128);
    fn run<I>(
        label: &str,
        mut index: I,
        insert: fn(&mut I, Key),
        remove: fn(&mut I, &Key),
        read: fn(&I, &Key) -> usize,
    ) {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut scores = vec![0u64; RECORDS];
        let started = Instant::now();
        for (i, s) in scores.iter_mut().enumerate() {
            *s = rng.next() % 1_000_000;
            insert(&mut index, (!*s, 0, i as u128));
        }
        let fill = RECORDS as f64 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        for _ in 0..RECORDS {
            let i = rng.next() as usize % RECORDS;
            remove(&mut index, &(!scores[i], 0, i as u128));
            scores[i] = rng.next() % 1_000_000;
            insert(&mut index, (!scores[i], 0, i as u128));
        }
        let update = RECORDS as f64 / started.elapsed().as_secs_f64();
        let mut samples: Vec<u64> = (0..READS)
            .map(|_| {
                let i = rng.next() as usize % RECORDS;
                let t = Instant::now();
                let n = read(&index, &(!scores[i], 0, i as u128));
                let ns = t.elapsed().as_nanos() as u64;
                assert_eq!(n, 10);
                ns
            })
            .collect();
        println!(
            "{label:<28} inserts      {fill:>10.0}/s   updates {update:>10.0}/s   rank + 10 around p50 {:>5.2} µs  p99 {:>5.2} µs",
            percentile(&mut samples, 0.50),
            percentile(&mut samples, 0.99)
        );
    }
    run(
        "ours: RankIndex (bare)",
        RankIndex::<Key>::default(),
        |i, k| {
            i.insert(k);
        },
        |i, k| {
            i.remove(k);
        },
        |i, k| {
            let r = i.rank(k);
            i.range(r.saturating_sub(4).min(RECORDS - 10), 10).count()
        },
    );
    run(
        "peer: indexset::BTreeSet",
        indexset::BTreeSet::<Key>::new(),
        |i, k| {
            i.insert(k);
        },
        |i, k| {
            i.remove(k);
        },
        |i, k| {
            let r = i.rank(k);
            let from = r.saturating_sub(4).min(RECORDS - 10);
            i.range_idx(from..from + 10).count()
        },
    );
}

/// SQLite, durable: a board of 1,000,000 records loaded in bulk, then 64 threads
/// submitting for a few seconds.
fn sqlite_durable() {
    let path = std::env::temp_dir().join(format!("kaos-bench-lb-{}.db", std::process::id()));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let boards = Arc::new(Leaderboards::with_store(store.clone()));
    boards.create(LeaderboardConfig { id: "b".into(), operator: Operator::Set, ..Default::default() }).unwrap();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let started = Instant::now();
    let mut id = OwnerId::new();
    for chunk in (0..RECORDS).collect::<Vec<_>>().chunks(20_000) {
        let writes: Vec<RecordWrite> = chunk
            .iter()
            .map(|&i| {
                RecordWrite::Put(StoredRecord {
                    leaderboard_id: "b".into(),
                    owner_id: id.of(i).to_string(),
                    username: "player".into(),
                    score: (rng.next() % 1_000_000) as i64,
                    num_score: 1,
                    metadata: "{}".into(),
                    ..Default::default()
                })
            })
            .collect();
        store.write_records(&writes).unwrap();
    }
    let bulk = started.elapsed().as_secs_f64();
    let started = Instant::now();
    assert_eq!(boards.rank_count("b").unwrap(), RECORDS);
    let load = started.elapsed().as_secs_f64();
    let writer = boards.clone();
    let rate = durable_rate(
        || (),
        move |_, owner, score| {
            writer.submit("b", owner, "player", submission(score)).unwrap();
        },
    );
    let mut samples = around(&boards, &mut rng);
    println!(
        "{:<28} durable      {rate:>10.0}/s   ({} writers; bulk load {bulk:.1} s, board load {load:.1} s)   get_around p99 {:>5.1} µs",
        "ours: SQLite (synchronous)",
        writers(),
        percentile(&mut samples, 0.99)
    );
    drop(boards);
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Writes per second from `writers()` threads for `DURABLE_SECONDS`: each connects, then
/// writes random scores for random owners until told to stop.
fn durable_rate<C>(
    connect: impl Fn() -> C + Send + Sync + 'static,
    write: impl Fn(&mut C, &str, u64) + Send + Sync + 'static,
) -> f64 {
    let (connect, write) = (Arc::new(connect), Arc::new(write));
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let threads: Vec<_> = (0..writers())
        .map(|t| {
            let (connect, write) = (connect.clone(), write.clone());
            let (done, stop) = (done.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut con = connect();
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
                let mut id = OwnerId::new();
                while !stop.load(Ordering::Relaxed) {
                    let owner = id.of(rng.next() as usize % RECORDS);
                    write(&mut con, owner, rng.next());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(DURABLE_SECONDS));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis(durable: bool) -> Option<(Redis, redis::Client)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let dir = std::env::temp_dir().join(format!("kaos-bench-redis-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let mut args = vec![
        "--port".to_string(),
        port.to_string(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--save".into(),
        String::new(),
    ];
    args.extend(["--dir".into(), dir.display().to_string()]);
    if durable {
        args.extend(["--appendonly", "yes", "--appendfsync", "always"].map(String::from));
    } else {
        args.extend(["--appendonly", "no"].map(String::from));
    }
    let child = Command::new("redis-server").args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().ok()?;
    let server = Redis(child);
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.get_connection().is_err() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((server, client))
}

fn redis_peer() {
    let Some((_server, client)) = redis(false) else {
        println!("peer: Redis                  skipped: redis-server is not installed");
        return;
    };
    let mut con = client.get_connection().unwrap();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut id = OwnerId::new();
    let started = Instant::now();
    for from in (0..RECORDS).step_by(1_000) {
        let mut pipe = redis::pipe();
        for i in from..from + 1_000 {
            pipe.cmd("ZADD").arg("b").arg(rng.next() % 1_000_000).arg(id.of(i)).ignore();
        }
        pipe.query::<()>(&mut con).unwrap();
    }
    let fill = RECORDS as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for _ in 0..RECORDS / 1_000 {
        let mut pipe = redis::pipe();
        for _ in 0..1_000 {
            let o = id.of(rng.next() as usize % RECORDS);
            pipe.cmd("ZADD").arg("b").arg(rng.next() % 1_000_000).arg(o).ignore();
        }
        pipe.query::<()>(&mut con).unwrap();
    }
    let update = RECORDS as f64 / started.elapsed().as_secs_f64();
    // The around read a Redis leaderboard does: the owner's rank, then the range around it
    // (a Lua script keeps it to one round trip).
    let script = redis::Script::new(
        "local r = redis.call('ZREVRANK', KEYS[1], ARGV[1]) \
         local from = math.max(0, r - 4) \
         return redis.call('ZREVRANGE', KEYS[1], from, from + 9, 'WITHSCORES')",
    );
    let mut samples: Vec<u64> = (0..READS)
        .map(|_| {
            let o = id.of(rng.next() as usize % RECORDS);
            let t = Instant::now();
            let got: Vec<String> = script.key("b").arg(o).invoke(&mut con).unwrap();
            let ns = t.elapsed().as_nanos() as u64;
            assert!(got.len() >= 2);
            ns
        })
        .collect();
    println!(
        "{:<28} first writes {fill:>10.0}/s   updates {update:>10.0}/s   around p50 {:>5.1} µs  p99 {:>5.1} µs (pipelined writes; reads over loopback)",
        "peer: Redis sorted set",
        percentile(&mut samples, 0.50),
        percentile(&mut samples, 0.99)
    );
    drop(con);
    let Some((_server, client)) = redis(true) else { return };
    let rate = durable_rate(
        move || client.get_connection().unwrap(),
        |con, owner, score| redis::cmd("ZADD").arg("b").arg(score % 1_000_000).arg(owner).query::<()>(con).unwrap(),
    );
    println!("{:<28} durable      {rate:>10.0}/s   ({} clients, appendfsync always)", "peer: Redis AOF", writers());
}

fn main() {
    if std::env::var_os("KAOS_LB_BARE").is_some() {
        bare_indexes();
        return;
    }
    println!("leaderboards: a board of {RECORDS} records, get_around of 10 records, {READS} reads");
    service(&Leaderboards::with_store(Arc::new(MemoryStore::new())), "ours: Leaderboards (memory)");
    if std::env::var_os("KAOS_LB_MEMORY").is_some() {
        return;
    }
    sqlite_durable();
    bare_indexes();
    redis_peer();
}
