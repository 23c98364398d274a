//! Messages that may block (they reach the database, or run server code: RPCs) are
//! handled on worker threads, never on a socket thread, so one slow call stalls no other
//! session. Each session has a lane: its messages run one at a time in arrival order,
//! and once a session has work in its lane its later messages queue behind it, so
//! replies keep the order of requests.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};

use super::envelope::handle;
use super::request::Request;
use super::{SessionId, SocketSession};
use crate::KaosNet;

struct Lane {
    session: Arc<SocketSession>,
    queue: VecDeque<Request>,
    /// A worker is running this lane's front message.
    running: bool,
    /// The session has gone: what it left behind is undone once the lane is idle.
    closed: bool,
}

#[derive(Default)]
struct State {
    lanes: HashMap<SessionId, Lane>,
    ready: VecDeque<SessionId>,
    stop: bool,
}

/// The lanes and their workers.
#[derive(Default)]
pub struct Lanes {
    state: Mutex<State>,
    work: Condvar,
}

impl std::fmt::Debug for Lanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lanes").field("lanes", &self.lock().lanes.len()).finish()
    }
}

impl Lanes {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the message if it belongs in `session`'s lane (it may block, or the lane is
    /// busy); gives it back if the socket thread should handle it now.
    pub(crate) fn offer(&self, session: &SocketSession, request: Request) -> Option<Request> {
        let mut s = self.lock();
        if let Some(lane) = s.lanes.get_mut(&session.id) {
            lane.queue.push_back(request);
            return None;
        }
        if !request.blocks() {
            return Some(request);
        }
        let lane = Lane {
            session: Arc::new(session.clone()),
            queue: VecDeque::from([request]),
            running: false,
            closed: false,
        };
        s.lanes.insert(session.id, lane);
        s.ready.push_back(session.id);
        drop(s);
        self.work.notify_one();
        None
    }

    /// The session has gone: its queued messages are dropped; one running finishes,
    /// then whatever it joined is left.
    pub(crate) fn close(&self, session: SessionId) -> bool {
        let mut s = self.lock();
        match s.lanes.get_mut(&session) {
            Some(lane) if lane.running => {
                lane.queue.clear();
                lane.closed = true;
                true
            }
            Some(_) => {
                s.lanes.remove(&session);
                s.ready.retain(|r| *r != session);
                false
            }
            None => false,
        }
    }

    /// Ends the workers once their current message is done.
    pub(crate) fn stop(&self) {
        self.lock().stop = true;
        self.work.notify_all();
    }

    /// Starts `n` workers for `kaos`'s lanes.
    pub(crate) fn start(kaos: &Arc<KaosNet>, lanes: &Arc<Lanes>, n: usize) -> std::io::Result<()> {
        for i in 0..n {
            let (weak, lanes) = (Arc::downgrade(kaos), lanes.clone());
            std::thread::Builder::new().name(format!("kaos-lane-{i}")).spawn(move || worker(weak, &lanes))?;
        }
        Ok(())
    }
}

/// A worker: waits on the lanes alone (holding no services), runs one message at a time.
fn worker(kaos: Weak<KaosNet>, lanes: &Lanes) {
    loop {
        let (session, request) = {
            let mut s = lanes.lock();
            loop {
                if s.stop || kaos.strong_count() == 0 {
                    return;
                }
                if let Some(id) = s.ready.pop_front() {
                    let Some(lane) = s.lanes.get_mut(&id) else { continue };
                    if let Some(request) = lane.queue.pop_front() {
                        lane.running = true;
                        break (lane.session.clone(), request);
                    }
                    s.lanes.remove(&id);
                    continue;
                }
                // Wake now and then to notice the services have gone.
                s = lanes
                    .work
                    .wait_timeout(s, std::time::Duration::from_secs(1))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        };
        let Some(k) = kaos.upgrade() else { return };
        // The replies go out together: no event from elsewhere comes between an answer
        // and the one that follows it.
        let replies = handle(&k, &session, request);
        k.sessions().send_all(session.id, replies.into_iter().map(Arc::new));
        let mut s = lanes.lock();
        let Some(lane) = s.lanes.get_mut(&session.id) else { continue };
        lane.running = false;
        if lane.closed {
            s.lanes.remove(&session.id);
            drop(s);
            // Whatever the last message joined, the gone session leaves again.
            super::closed(&k, lanes, &session);
        } else if lane.queue.is_empty() {
            s.lanes.remove(&session.id);
        } else {
            s.ready.push_back(session.id);
            drop(s);
            lanes.work.notify_one();
        }
    }
}
