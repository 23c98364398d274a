//! The worker pool for handlers that may block: a bounded job queue drained by a fixed
//! set of threads; each result goes back to the loop, which a `mio::Waker` wakes.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::request::Request;
use crate::response::Response;
use crate::router::Handler;

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

/// A fixed set of worker threads with a bounded queue.
pub(crate) struct Pool {
    jobs: Option<SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
    pub(crate) done: Receiver<(JobId, Response)>,
}

impl Pool {
    pub(crate) fn new(
        threads: usize,
        queue: usize,
        waker: Arc<mio::Waker>,
        error_response: Option<fn(u16, &str) -> Response>,
    ) -> Pool {
        let (jobs, rx) = mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let (done_tx, done) = mpsc::channel();
        let threads = (0..threads.max(1))
            .map(|i| {
                let rx = rx.clone();
                let done_tx: Sender<(JobId, Response)> = done_tx.clone();
                let waker = waker.clone();
                std::thread::Builder::new()
                    .name(format!("kaos-http-worker-{i}"))
                    .spawn(move || loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        // A panicking handler answers 500 instead of taking the worker down.
                        let response =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (job.handler)(&job.request)))
                                .unwrap_or_else(|_| match error_response {
                                    Some(f) => f(500, "handler panicked"),
                                    None => Response::text(500, "handler panicked"),
                                });
                        if done_tx.send((job.id, response)).is_err() {
                            return;
                        }
                        let _ = waker.wake();
                    })
                    .expect("spawn worker thread")
            })
            .collect();
        Pool { jobs: Some(jobs), threads, done }
    }

    /// Queues a job; gives the request back if the queue is full.
    pub(crate) fn submit(&self, id: JobId, handler: Handler, request: Request) -> Result<(), ()> {
        let Some(jobs) = &self.jobs else { return Err(()) };
        match jobs.try_send(Job { id, handler, request }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(()),
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
