//! The worker pool for handlers that may block: a bounded job queue drained by threads
//! that come and go with the load. `resting` threads are always there; while every one
//! is busy and a job waits, another starts, up to `max`; one that has had nothing to do
//! for `idle_timeout` ends, down to `resting` again. Each result goes back to the loop,
//! which a `mio::Waker` wakes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::request::Request;
use crate::response::Response;
use crate::router::Handler;

/// Builds the responses the server makes itself (see `HttpConfig::error_response`).
type ErrorResponse = fn(u16, &str) -> Response;

/// Identifies a request: its connection token, generation and position on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JobId {
    pub(crate) token: usize,
    pub(crate) generation: u64,
    pub(crate) seq: u64,
}

struct Job {
    id: JobId,
    handler: Handler,
    request: Request,
}

/// What the workers share.
struct Shared {
    jobs: Mutex<Receiver<Job>>,
    done: Sender<(JobId, Response)>,
    waker: Arc<mio::Waker>,
    error_response: Option<fn(u16, &str) -> Response>,
    on_rest: Option<fn()>,
    /// Threads alive; of those, the ones waiting for a job (or starting); and jobs
    /// queued that no thread has taken yet.
    alive: AtomicUsize,
    idle: AtomicUsize,
    queued: AtomicUsize,
    resting: usize,
    idle_timeout: Duration,
}

/// Worker threads for blocking handlers, with a bounded queue.
pub(crate) struct Pool {
    jobs: Option<SyncSender<Job>>,
    shared: Arc<Shared>,
    max: usize,
    threads: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) done: Receiver<(JobId, Response)>,
}

impl Pool {
    pub(crate) fn new(
        (resting, max, idle_timeout): (usize, usize, Duration),
        queue: usize,
        waker: Arc<mio::Waker>,
        (error_response, on_rest): (Option<ErrorResponse>, Option<fn()>),
    ) -> Pool {
        let (jobs, rx) = mpsc::sync_channel::<Job>(queue);
        let (done_tx, done) = mpsc::channel();
        let max = max.max(1);
        let shared = Arc::new(Shared {
            jobs: Mutex::new(rx),
            done: done_tx,
            waker,
            error_response,
            on_rest,
            alive: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            resting: resting.clamp(1, max),
            idle_timeout,
        });
        let pool = Pool { jobs: Some(jobs), shared, max, threads: Mutex::default(), done };
        for _ in 0..pool.shared.resting {
            pool.spawn();
        }
        pool
    }

    /// Queues a job; gives the request back if the queue is full.
    pub(crate) fn submit(&self, id: JobId, handler: Handler, request: Request) -> Result<(), ()> {
        let Some(jobs) = &self.jobs else { return Err(()) };
        // Counted before it is sent: a worker may take it (and count it out) at once.
        let queued = self.shared.queued.fetch_add(1, Ordering::AcqRel) + 1;
        match jobs.try_send(Job { id, handler, request }) {
            Ok(()) => {
                // More jobs waiting than threads free to take them: one more thread, while
                // there is room (a burst can arrive before an idle thread wakes for it).
                if queued > self.shared.idle.load(Ordering::Acquire)
                    && self.shared.alive.load(Ordering::Acquire) < self.max
                {
                    self.spawn();
                }
                Ok(())
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.queued.fetch_sub(1, Ordering::AcqRel);
                Err(())
            }
        }
    }

    /// Worker threads alive now.
    pub(crate) fn threads(&self) -> usize {
        self.shared.alive.load(Ordering::Acquire)
    }

    fn spawn(&self) {
        // Counted idle from the start, so the next job does not start another.
        self.shared.idle.fetch_add(1, Ordering::AcqRel);
        let n = self.shared.alive.fetch_add(1, Ordering::AcqRel);
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new().name(format!("kaos-http-worker-{n}")).spawn(move || work(&shared));
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        threads.retain(|t| !t.is_finished());
        match spawned {
            Ok(t) => threads.push(t),
            // Out of threads: those alive serve the queue.
            Err(_) => {
                self.shared.alive.fetch_sub(1, Ordering::AcqRel);
                self.shared.idle.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// A worker: jobs until the pool goes, or until it has idled long enough beyond the
/// resting threads.
fn work(shared: &Shared) {
    // Counted idle by `spawn`; idle again after each job.
    let mut idle_since = Instant::now();
    loop {
        // Idle time counts from the last job, not from getting the lock: the others wait
        // for the lock while one waits for a job, and must not each wait a whole timeout
        // again once they get it (the pool took minutes to shrink so).
        let job = {
            let jobs = shared.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            jobs.recv_timeout(shared.idle_timeout.saturating_sub(idle_since.elapsed()))
        };
        let job = match job {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                // Leave if others will still rest; the count decides it once.
                let alive = shared.alive.load(Ordering::Acquire);
                if alive > shared.resting
                    && shared.alive.compare_exchange(alive, alive - 1, Ordering::AcqRel, Ordering::Acquire).is_ok()
                {
                    shared.idle.fetch_sub(1, Ordering::AcqRel);
                    if alive - 1 == shared.resting {
                        if let Some(on_rest) = shared.on_rest {
                            on_rest();
                        }
                    }
                    return;
                }
                idle_since = Instant::now();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                shared.idle.fetch_sub(1, Ordering::AcqRel);
                shared.alive.fetch_sub(1, Ordering::AcqRel);
                return;
            }
        };
        shared.idle.fetch_sub(1, Ordering::AcqRel);
        shared.queued.fetch_sub(1, Ordering::AcqRel);
        // A panicking handler answers 500 instead of taking the worker down.
        let response = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (job.handler)(&job.request)))
            .unwrap_or_else(|_| match shared.error_response {
                Some(f) => f(500, "handler panicked"),
                None => Response::text(500, "handler panicked"),
            });
        if shared.done.send((job.id, response)).is_err() {
            shared.alive.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let _ = shared.waker.wake();
        shared.idle.fetch_add(1, Ordering::AcqRel);
        idle_since = Instant::now();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for t in threads {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static RESTED: AtomicUsize = AtomicUsize::new(0);
    const TIMEOUT: Duration = Duration::from_secs(1);

    /// Busy, the pool grows to its most; idle again, it shrinks to its resting threads
    /// and says so once.
    #[test]
    fn workers_come_with_the_load_and_go_after_it() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let on_rest: fn() = || {
            RESTED.fetch_add(1, Ordering::AcqRel);
        };
        let pool = Pool::new((1, 6, TIMEOUT), 64, waker, (None, Some(on_rest)));
        assert_eq!(pool.threads(), 1);
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let handler: Handler = Arc::new(move |_| {
            let _ = gate.lock().unwrap().recv();
            Response::text(200, "done")
        });
        for seq in 0..10 {
            let id = JobId { token: 1, generation: 1, seq };
            let request = Request {
                method: crate::Method::Get,
                path: "/".into(),
                raw_query: String::new(),
                headers: Default::default(),
                body: Vec::new(),
                params: Default::default(),
                http10: false,
                peer: None,
            };
            pool.submit(id, handler.clone(), request).unwrap();
        }
        // At most six at once, whatever is queued.
        let until = |what: &str, done: &dyn Fn() -> bool| {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !done() {
                assert!(std::time::Instant::now() < deadline, "{what}");
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        until("six workers", &|| pool.threads() == 6);
        assert_eq!(RESTED.load(Ordering::Acquire), 0, "not at rest while busy");
        for _ in 0..10 {
            release.send(()).unwrap();
        }
        let answered: Vec<u64> = (0..10).map(|_| pool.done.recv().unwrap().0.seq).collect();
        assert_eq!(answered.len(), 10);
        let idle = std::time::Instant::now();
        until("back to one resting worker", &|| pool.threads() == 1);
        // Each spare thread's idle time runs at once, not one timeout after another as
        // they take turns at the queue's lock (five turns: at least 5 timeouts).
        assert!(idle.elapsed() < 5 * TIMEOUT, "the pool shrank in {:?}", idle.elapsed());
        until("told once it rests", &|| RESTED.load(Ordering::Acquire) == 1);
        std::thread::sleep(TIMEOUT + TIMEOUT / 2);
        assert_eq!(RESTED.load(Ordering::Acquire), 1, "resting threads do not call it again");
    }
}
