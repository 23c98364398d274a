//! Parking: a quiescent connection hands its storage back and keeps only its state.
//!
//! A server with many idle clients would otherwise hold every client's whole buffer
//! arena. Once nothing is in flight, queued, undelivered or half-reassembled, the
//! storage holds nothing the connection needs: [`Connection::park`] returns it, and
//! [`ParkedConnection::unpark`] takes any storage of the right size back, because the
//! only region read before being written (the reliable receivers' slot tables) is
//! cleared on the way in.

use core::net::SocketAddr;

use super::{Connection, Phase, State};
use crate::config::{Config, Layout};
use crate::congestion::Stats;
use crate::time::Instant;

/// A connection without storage: only its state (about 1.5 KiB). Everything that needs
/// the buffers requires [`unpark`](Self::unpark) first.
#[derive(Debug)]
pub struct ParkedConnection {
    st: State,
}

impl<S: AsMut<[u64]>> Connection<S> {
    /// Whether the storage holds nothing the connection still needs: it is connected,
    /// every packet it sent is resolved, every reliable message acked, nothing waits to
    /// be sent or read, and no fragment set is partial. Only then can it be
    /// [`park`](Self::park)ed.
    pub fn is_quiescent(&self) -> bool {
        self.st.is_quiescent()
    }

    /// Takes the storage out of a quiescent connection; gives the connection back
    /// unchanged if it is not quiescent.
    #[allow(clippy::result_large_err)] // no_std has no Box; the state moves either way
    pub fn park(self) -> Result<(ParkedConnection, S), Self> {
        if !self.st.is_quiescent() {
            return Err(self);
        }
        Ok((ParkedConnection { st: self.st }, self.storage))
    }

    /// Sends a pending ack at the next [`poll_transmit`](Self::poll_transmit) instead of
    /// holding it hoping to piggyback it (for example before parking).
    pub fn expedite_ack(&mut self, now: Instant) {
        if self.st.ack_deadline.is_some() {
            self.st.ack_deadline = Some(now);
        }
    }
}

impl ParkedConnection {
    /// Gives the connection `storage` (at least `Config::storage_words` words, any
    /// content) and makes it usable again; hands both back if the storage is too small.
    #[allow(clippy::result_large_err)] // as `park`
    pub fn unpark<S: AsMut<[u64]>>(self, mut storage: S) -> Result<Connection<S>, (Self, S)> {
        let words = storage.as_mut();
        if words.len() < self.st.layout.total_words {
            return Err((self, storage));
        }
        clear_tables(&self.st.layout, words);
        Ok(Connection { storage, st: self.st })
    }

    /// The peer's address.
    pub fn remote(&self) -> SocketAddr {
        self.st.remote
    }

    /// When the connection next needs [`Connection::handle_timeout`] (unpark it then).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.st.poll_timeout()
    }

    /// Current statistics.
    pub fn stats(&self) -> Stats {
        self.st.stats()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.st.cfg
    }

    /// Bytes of storage needed to unpark.
    pub fn storage_words(&self) -> usize {
        self.st.layout.total_words
    }
}

/// Zeroes the one region a connection reads before writing: the reliable receivers'
/// slot tables, looked up by any message id in the window. Everything else is read only
/// where the state says it was written: sent packets between `oldest_seq` and
/// `next_seq`, their message references, send slots between a sender's `oldest` and
/// `next_id`, and the bytes the queues and fragment sets account for.
pub(crate) fn clear_tables(layout: &Layout, words: &mut [u64]) {
    for c in &layout.channels {
        words[c.recv_slots.range()].fill(0);
    }
}

impl State {
    pub(crate) fn is_quiescent(&self) -> bool {
        self.phase == Phase::Connected
            && !self.accept_pending
            && !self.ping_pending
            && !self.connected_event
            && !self.pending_pop
            && self.oldest_seq == self.next_seq
            && self.outbox_q.is_empty()
            && self.inbox_q.is_empty()
            && self.reasm.in_use() == 0
            && self.rel_send.iter().all(|s| s.is_idle())
            && self.rel_recv.iter().all(|r| r.is_idle())
    }
}
