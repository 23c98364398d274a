//! What a [`WsServer`](super::WsServer) hands out: connection ids, events, counters, and
//! the [`Adopter`] other threads pass upgraded connections through.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use kaos_http::Upgrade;
use mio::Waker;

use crate::CloseReason;

/// A connection's handle: its slot and the slot's generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub(super) index: u32,
    pub(super) generation: u32,
}

impl ConnId {
    /// The id as one number (for maps and logs).
    pub fn as_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.index, self.generation)
    }
}

/// What happened to a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// The connection is gone (every message it delivered was handed out first); its id
    /// is dead from now on.
    Closed {
        /// Which connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
}

/// Server counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WsStats {
    /// Handshakes completed.
    pub accepted: u64,
    /// Connections refused: over `max_connections`, or a bad upgrade request.
    pub refused: u64,
    /// Handshakes that did not complete in time.
    pub handshake_timeouts: u64,
    /// Connections closed, for any reason.
    pub closed: u64,
    /// Closed as slow consumers.
    pub slow_consumers: u64,
    /// Closed for breaking the protocol.
    pub violations: u64,
    /// Closed for silence or a close that never completed.
    pub timeouts: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Messages queued for sending.
    pub messages_out: u64,
    /// Handshakes that agreed to permessage-deflate.
    pub deflate: u64,
    /// Connections open now (handshakes in progress not included).
    pub connections: usize,
}

/// Hands connections upgraded by `kaos-http` to a [`WsServer`](super::WsServer) on another thread.
#[derive(Clone)]
pub struct Adopter {
    pub(super) queue: Arc<Mutex<Vec<Upgrade>>>,
    pub(super) waker: Arc<Waker>,
}

impl fmt::Debug for Adopter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adopter").finish_non_exhaustive()
    }
}

impl Adopter {
    /// Queues the connection; the server answers its handshake on its next poll.
    pub fn adopt(&self, upgrade: Upgrade) {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).push(upgrade);
        let _ = self.waker.wake();
    }

    /// Wakes the server's `poll` (for work queued by other means, such as upgrades the
    /// application checks before adopting them).
    pub fn wake(&self) {
        let _ = self.waker.wake();
    }
}
