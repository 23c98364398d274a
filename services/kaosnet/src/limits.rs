//! Rate limits per client and operation: token buckets ([`RateLimiter`]) by key, and
//! [`OperationRateLimiter`], which every caller (REST, the socket) asks before running an
//! operation: each operation's class ([`LimitClass`]) sets its limit ([`RateLimits`]),
//! and an operation may have one of its own. Refusals are 429 on REST and an error
//! envelope on the socket.
//!
//! ```
//! use kaosnet::{OperationRateLimiter, RateLimitConfig, RateLimitPresets, RateLimiter};
//!
//! // Basic rate limiter (100 req/sec, burst of 20)
//! let limiter = RateLimiter::new(RateLimitConfig::new(100).with_burst(20));
//! if limiter.check("client_123") {
//!     // Request allowed
//! }
//! assert!((0..19).all(|_| limiter.check("client_123")), "the burst, less the first");
//! assert!(!limiter.check("client_123"), "then the rate");
//!
//! // Per-operation rate limiting
//! let mut op_limiter = OperationRateLimiter::new(RateLimitPresets::standard());
//! op_limiter.add_operation("login", RateLimitPresets::strict()); // 5 req/sec
//! op_limiter.add_operation("game_update", RateLimitPresets::realtime()); // 200 req/sec
//!
//! if op_limiter.check("client_123", "login") {
//!     // Login allowed
//! }
//! assert_eq!((0..20).filter(|_| op_limiter.check("client_123", "login")).count(), 9, "a burst of 10");
//! assert!((0..300).all(|_| op_limiter.check("client_123", "game_update")), "a 60 Hz client never waits");
//! ```
//!
//! (The seed's `realtime()` preset allowed 60 a second: a 60 Hz game client sends
//! exactly that and is throttled by the first late frame, so it allows 200.)

/// Maps keyed by clients and operations: foldhash, seeded per process (a key is looked up
/// on every call, where SipHash cost more than the bucket's arithmetic).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use crate::error::{ApiError, Code};

/// A token bucket's settings: `per_second` sustained, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
pub struct Limit {
    pub per_second: f64,
    pub burst: f64,
}

/// The seed's name for a bucket's settings.
pub type RateLimitConfig = Limit;

impl Limit {
    /// `per_second` sustained, in bursts of as many.
    pub fn new(per_second: impl Into<f64>) -> Limit {
        let per_second = per_second.into();
        Limit { per_second, burst: per_second.max(1.0) }
    }

    /// The same rate in bursts of `burst`.
    pub fn with_burst(self, burst: impl Into<f64>) -> Limit {
        Limit { burst: burst.into().max(1.0), ..self }
    }
}

/// Limits for common kinds of operations.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitPresets;

impl RateLimitPresets {
    /// 5 a second, bursts of 10: sign-ins, purchases.
    pub fn strict() -> Limit {
        Limit::new(5).with_burst(10)
    }

    /// 50 a second, bursts of 100: what the standard class ships with.
    pub fn standard() -> Limit {
        Limit::new(50).with_burst(100)
    }

    /// 200 a second, bursts of 400: game data at any frame rate (the realtime class).
    pub fn realtime() -> Limit {
        Limit::new(200).with_burst(400)
    }
}

/// One limit for every class.
impl From<Limit> for RateLimits {
    fn from(limit: Limit) -> RateLimits {
        RateLimits { auth: Some(limit), standard: Some(limit), realtime: Some(limit) }
    }
}

/// How strictly an operation is limited; each has its own [`Limit`] in [`RateLimits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitClass {
    /// Sign-in and account creation (`authenticate_*`, `session_refresh`): guessing
    /// passwords and minting accounts should be slow.
    Auth,
    /// Everything else a client asks for: storage, social, chat, RPCs, matchmaking…
    Standard,
    /// The data of a running game (`match_data_send`, `party_data_send`): a client sends
    /// it every frame.
    Realtime,
}

impl LimitClass {
    /// The class of a REST operation or socket message kind (the operation table's; a
    /// name it does not know is standard).
    pub fn of(operation: &str) -> LimitClass {
        crate::hooks::HookOperation::named(operation).map_or(LimitClass::Standard, |o| o.limit_class())
    }
}

/// The limit of each class, per client and operation; `None` leaves a class unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    pub auth: Option<Limit>,
    pub standard: Option<Limit>,
    pub realtime: Option<Limit>,
}

impl RateLimits {
    /// No limit at all (benchmarks, tests of other things).
    pub const NONE: RateLimits = RateLimits { auth: None, standard: None, realtime: None };

    fn of(&self, class: LimitClass) -> Option<Limit> {
        match class {
            LimitClass::Auth => self.auth,
            LimitClass::Standard => self.standard,
            LimitClass::Realtime => self.realtime,
        }
    }
}

impl Default for RateLimits {
    /// Per client and operation: sign-ins 10 a second (bursts of 100, so a page of
    /// players behind one address can still start at once); other calls 50 a second
    /// (bursts of 100), far above what a game client asks, well below a flood; game data
    /// 200 a second (bursts of 400), so a client may send at 60 Hz or 128 Hz for as long
    /// as it plays.
    fn default() -> Self {
        RateLimits {
            auth: Some(Limit { per_second: 10.0, burst: 100.0 }),
            standard: Some(Limit { per_second: 50.0, burst: 100.0 }),
            realtime: Some(Limit { per_second: 200.0, burst: 400.0 }),
        }
    }
}

/// Token buckets by key, with a bound on how many keys it remembers. Buckets that have
/// refilled are indistinguishable from new ones and are dropped now and then, so the
/// state of a client that has gone is freed.
#[derive(Debug)]
pub struct RateLimiter {
    limit: Limit,
    state: Mutex<Buckets>,
    max_keys: usize,
}

#[derive(Debug)]
struct Buckets {
    by_key: HashMap<String, (f64, Instant)>,
    swept: Option<Instant>,
}

/// How often full buckets are dropped.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl RateLimiter {
    pub fn new(limit: Limit) -> RateLimiter {
        let state = Buckets { by_key: HashMap::default(), swept: None };
        RateLimiter { limit, state: Mutex::new(state), max_keys: 100_000 }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops the buckets that are full again at `now`.
    fn sweep(&self, b: &mut Buckets, now: Instant) {
        let (rate, burst) = (self.limit.per_second, self.limit.burst);
        b.by_key.retain(|_, (tokens, at)| *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst);
        b.swept = Some(now);
    }

    /// Takes a token for `key` now; false when its bucket is empty.
    pub fn check(&self, key: &str) -> bool {
        self.allow(key, self.now())
    }

    /// The time for this limiter's buckets: the coarse clock, unless a tick's refill
    /// could pass the burst (the limit would then be capped at a burst per tick).
    fn now(&self) -> Instant {
        if self.limit.burst >= self.limit.per_second * COARSE_TICK_SECS {
            coarse_now()
        } else {
            Instant::now()
        }
    }

    /// Takes a token for `key` at `now`; false when its bucket is empty.
    pub fn allow(&self, key: &str, now: Instant) -> bool {
        let mut b = self.lock();
        let due = b.swept.is_none_or(|at| now.saturating_duration_since(at) >= SWEEP_EVERY);
        if due || (b.by_key.len() >= self.max_keys && !b.by_key.contains_key(key)) {
            self.sweep(&mut b, now);
            if b.by_key.len() >= self.max_keys && !b.by_key.contains_key(key) {
                // Every remembered bucket is still draining: refuse rather than grow.
                return false;
            }
        }
        // One lookup for a known key; a new one is allocated once, not per call.
        if let Some(bucket) = b.by_key.get_mut(key) {
            return self.take(bucket, now);
        }
        let bucket = b.by_key.entry(key.to_string()).or_insert((self.limit.burst, now));
        self.take(bucket, now)
    }

    /// Refills `bucket` to `now` and takes a token from it if there is one.
    fn take(&self, (tokens, at): &mut (f64, Instant), now: Instant) -> bool {
        let refill = now.saturating_duration_since(*at).as_secs_f64() * self.limit.per_second;
        *tokens = (*tokens + refill).min(self.limit.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How many buckets it remembers.
    pub fn tracked(&self) -> usize {
        self.lock().by_key.len()
    }
}

/// The time for a bucket: the fine clock plus the coarse clock's advance since the first
/// call. The coarse clock (its tick is a few milliseconds, far below a limit's period)
/// reads no hardware counter, which on virtual machines costs about 20 ns, a twentieth of
/// a game message's whole path. Where it cannot be read, the fine clock serves.
fn coarse_now() -> Instant {
    static START: std::sync::OnceLock<Option<(Instant, std::time::Duration)>> = std::sync::OnceLock::new();
    let start = START.get_or_init(|| coarse_clock().map(|at| (Instant::now(), at)));
    match (start, coarse_clock()) {
        (Some((fine, at)), Some(now)) => *fine + now.saturating_sub(*at),
        _ => Instant::now(),
    }
}

#[cfg(target_os = "linux")]
fn coarse_clock() -> Option<std::time::Duration> {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec the call may write, and lives across the call; the
    // clock id is a constant Linux has had since 2.6.32.
    let read = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) } == 0;
    read.then(|| std::time::Duration::new(u64::try_from(t.tv_sec).unwrap_or(0), u32::try_from(t.tv_nsec).unwrap_or(0)))
}

#[cfg(not(target_os = "linux"))]
fn coarse_clock() -> Option<std::time::Duration> {
    None
}

/// Longest tick of the coarse clock this limiter allows for (Linux's is 1 to 10 ms).
const COARSE_TICK_SECS: f64 = 0.010;

thread_local! {
    /// The bucket key being looked up, kept between calls so a check allocates nothing.
    static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// `client` and `operation` as one bucket key, written into `key`.
fn bucket_key<'a>(key: &'a mut String, client: &str, operation: &str) -> &'a str {
    key.clear();
    key.push_str(client);
    key.push('\n');
    key.push_str(operation);
    key
}

/// Rate limits per client and operation: each operation's class sets its limit, and an
/// operation may have one of its own. Callers pass operations they know (a REST route's
/// or a message kind's own name), never a client's string, so the state per client is
/// bounded by the number of operations.
#[derive(Debug)]
pub struct OperationRateLimiter {
    auth: Option<RateLimiter>,
    standard: Option<RateLimiter>,
    realtime: Option<RateLimiter>,
    per_operation: HashMap<String, RateLimiter>,
}

impl OperationRateLimiter {
    /// `limits` by class (one [`Limit`] sets every class).
    pub fn new(limits: impl Into<RateLimits>) -> OperationRateLimiter {
        let limits = limits.into();
        let make = |class| limits.of(class).map(RateLimiter::new);
        OperationRateLimiter {
            auth: make(LimitClass::Auth),
            standard: make(LimitClass::Standard),
            realtime: make(LimitClass::Realtime),
            per_operation: HashMap::default(),
        }
    }

    /// A limit of its own for `operation`.
    pub fn with(mut self, operation: &str, limit: Limit) -> OperationRateLimiter {
        self.add_operation(operation, limit);
        self
    }

    /// Gives `operation` a limit of its own.
    pub fn add_operation(&mut self, operation: &str, limit: Limit) {
        self.per_operation.insert(operation.to_string(), RateLimiter::new(limit));
    }

    /// Whether `client` may run `operation` now (a token is taken if so).
    pub fn check(&self, client: &str, operation: &str) -> bool {
        self.admit(client, operation).is_ok()
    }

    fn limiter(&self, operation: &str, class: impl FnOnce() -> LimitClass) -> Option<&RateLimiter> {
        let own = if self.per_operation.is_empty() { None } else { self.per_operation.get(operation) };
        own.or(match class() {
            LimitClass::Auth => self.auth.as_ref(),
            LimitClass::Standard => self.standard.as_ref(),
            LimitClass::Realtime => self.realtime.as_ref(),
        })
    }

    fn take(&self, client: &str, operation: &str, limiter: Option<&RateLimiter>) -> bool {
        limiter.is_none_or(|l| KEY.with_borrow_mut(|key| l.allow(bucket_key(key, client, operation), l.now())))
    }

    /// Whether `client` may run `operation` now; 429's error otherwise.
    pub fn admit(&self, client: &str, operation: &str) -> Result<(), ApiError> {
        if self.take(client, operation, self.limiter(operation, || LimitClass::of(operation))) {
            return Ok(());
        }
        Err(ApiError::new(Code::ResourceExhausted, "Too many requests, slow down."))
    }

    /// [`check`](Self::check) for an operation already known (no lookup by name).
    pub fn check_operation(&self, client: &str, operation: crate::hooks::HookOperation) -> bool {
        let name = operation.name();
        self.take(client, name, self.limiter(name, || operation.limit_class()))
    }

    /// How many buckets it remembers, over every class (what its memory grows with).
    pub fn tracked(&self) -> usize {
        let classes = [&self.auth, &self.standard, &self.realtime];
        classes.iter().filter_map(|l| l.as_ref()).chain(self.per_operation.values()).map(RateLimiter::tracked).sum()
    }
}

impl Default for OperationRateLimiter {
    /// [`RateLimits::default`].
    fn default() -> Self {
        OperationRateLimiter::new(RateLimits::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn buckets_refill_at_their_rate() {
        let l = RateLimiter::new(Limit { per_second: 10.0, burst: 3.0 });
        let t = Instant::now();
        assert!((0..3).all(|_| l.allow("a", t)));
        assert!(!l.allow("a", t));
        assert!(l.allow("b", t), "keys are independent");
        assert!(!l.allow("a", t + Duration::from_millis(50)));
        assert!(l.allow("a", t + Duration::from_millis(150)));
    }

    #[test]
    fn a_full_table_forgets_refilled_keys_and_never_grows_past_its_bound() {
        let mut l = RateLimiter::new(Limit { per_second: 1.0, burst: 1.0 });
        l.max_keys = 4;
        let t = Instant::now();
        for k in 0..4 {
            assert!(l.allow(&k.to_string(), t));
        }
        assert!(!l.allow("new", t), "all four still draining");
        assert!(l.allow("new", t + Duration::from_secs(2)));
        assert!(l.tracked() <= 4);
    }

    #[test]
    fn buckets_of_clients_that_have_gone_are_freed() {
        let l = RateLimiter::new(Limit { per_second: 10.0, burst: 2.0 });
        let t = Instant::now();
        for k in 0..1000 {
            assert!(l.allow(&format!("client-{k}"), t));
        }
        assert_eq!(l.tracked(), 1000);
        // Once their buckets refill and a sweep is due, only the caller's own is left.
        assert!(l.allow("still-here", t + SWEEP_EVERY));
        assert_eq!(l.tracked(), 1);
    }

    #[test]
    fn each_class_has_its_limit_and_an_operation_may_have_its_own() {
        assert_eq!(LimitClass::of("authenticate_device"), LimitClass::Auth);
        assert_eq!(LimitClass::of("match_data_send"), LimitClass::Realtime);
        assert_eq!(LimitClass::of("write_storage_objects"), LimitClass::Standard);
        let one = Limit { per_second: 0.001, burst: 1.0 };
        let limits = RateLimits { auth: Some(one), standard: None, realtime: None };
        let l = OperationRateLimiter::new(limits).with("get_account", one);
        assert!(l.admit("a", "authenticate_email").is_ok());
        assert_eq!(l.admit("a", "authenticate_email").unwrap_err().code, Code::ResourceExhausted);
        assert!(l.check("a", "authenticate_device"), "per operation");
        assert!((0..1000).all(|_| l.check("a", "match_data_send")));
        assert!(l.check("a", "get_account"));
        assert!(!l.check("a", "get_account"));
    }
}
