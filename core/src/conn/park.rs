//! Parking: a quiescent connection hands its storage back and keeps only its state.
//!
//! A server with many idle clients would otherwise hold every client's whole buffer
//! arena. Once nothing is in flight, queued, undelivered or half-reassembled, the
//! storage holds nothing the connection needs: [`Connection::park`] returns it, and
//! [`ParkedConnection::unpark`] takes any storage of the right size back, because the
//! only region read before being written (the reliable receivers' slot tables) is
//! cleared on the way in.
//!
//! An idle connection still exchanges keep-alive pings and acks. Those touch no storage
//! when nothing is outstanding (pings are not tracked for resending), so a parked
//! connection handles them itself and needs its storage again only for messages.

use core::net::SocketAddr;

use super::{Connection, Mem, Phase, State};
use crate::config::{Config, Layout};
use crate::congestion::Stats;
use crate::time::Instant;
use crate::wire::{DataHeader, Frame, FrameReader, Packet, PacketType, DATA_HEADER_LEN};

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
    /// unchanged if it is not quiescent. A pending ack or keep-alive stays pending: the
    /// parked connection sends it.
    #[allow(clippy::result_large_err)] // no_std has no Box; the state moves either way
    pub fn park(self) -> Result<(ParkedConnection, S), Self> {
        if !self.st.is_quiescent() {
            return Err(self);
        }
        Ok((ParkedConnection { st: self.st }, self.storage))
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
        clear_tables(&self.st.cfg, &self.st.layout, words);
        Ok(Connection { storage, st: self.st })
    }

    /// Whether the connection is still quiescent. Once a datagram or timeout changed that
    /// (the peer closed, the connection timed out), the parked connection does nothing
    /// more: unpark it and carry on there.
    pub fn is_quiescent(&self) -> bool {
        self.st.is_quiescent()
    }

    /// Processes a datagram that carries no messages (acks, pings, a disconnect,
    /// handshake repeats, invalid ones) and returns true. Returns false, having done
    /// nothing, for a datagram with messages or when not quiescent: unpark, then hand it
    /// to the connection.
    ///
    /// Only an authentic, fresh data packet can ask for storage: a forged, corrupt or
    /// replayed one is counted and dropped here, so it cannot make a server unpark.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> bool {
        if !self.st.is_quiescent() {
            return false;
        }
        match self.st.storage_need(datagram) {
            Need::Messages => false,
            Need::Invalid => {
                self.st.stats.invalid_dropped += 1;
                true
            }
            Need::None => {
                self.st.handle_datagram(&mut Mem::empty(), now, datagram);
                true
            }
        }
    }

    /// Processes timers (keep-alive, idle timeout) as [`Connection::handle_timeout`];
    /// nothing when not quiescent.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.st.is_quiescent() {
            self.st.handle_timeout(&mut Mem::empty(), now);
        }
    }

    /// The next keep-alive or ack to send, as [`Connection::poll_transmit`]; `None` when
    /// not quiescent.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if !self.st.is_quiescent() {
            return None;
        }
        let mut mem = Mem::empty();
        self.st.handle_timeout(&mut mem, now);
        if !self.st.is_quiescent() {
            return None;
        }
        self.st.poll_transmit(&mut mem, now, buf)
    }

    /// The peer's address.
    pub fn remote(&self) -> SocketAddr {
        self.st.remote
    }

    /// When the connection next needs [`handle_timeout`](Self::handle_timeout).
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
pub(crate) fn clear_tables(cfg: &Config, layout: &Layout, words: &mut [u64]) {
    for i in 0..cfg.channels.len() {
        words[layout.channel(cfg, i).recv_slots.range()].fill(0);
    }
}

/// What a parked connection needs to process a datagram.
enum Need {
    /// Nothing: not a data packet, or one with pings, ack requests and acks only.
    None,
    /// Storage: an authentic, fresh data packet with messages (or frames that do not
    /// parse, which the connection counts and drops).
    Messages,
    /// Nothing, as the datagram is dropped: a data packet failing its checksum, header
    /// or replay check.
    Invalid,
}

impl State {
    fn storage_need(&self, datagram: &[u8]) -> Need {
        let Ok(p) = Packet::new_checked(datagram) else { return Need::None };
        if p.kind() != PacketType::Data {
            return Need::None;
        }
        if p.verify(self.salt).is_err() {
            return Need::Invalid;
        }
        let Ok(h) = DataHeader::parse(&p) else { return Need::Invalid };
        if self.recv_window.check(h.seq).is_err() {
            return Need::Invalid;
        }
        if FrameReader::new(&datagram[DATA_HEADER_LEN..]).any(|f| !matches!(f, Ok(Frame::Ping | Frame::AckNow))) {
            Need::Messages
        } else {
            Need::None
        }
    }
}

impl Mem<'static> {
    /// No regions: for a quiescent connection's storage-free work.
    fn empty() -> Self {
        Mem { sent: &mut [], refs: &mut [], inbox: &mut [], outbox: &mut [], reasm: &mut [], chans: Default::default() }
    }
}

impl State {
    /// Nothing outstanding, queued, unread or partial (a pending ack or ping is fine:
    /// neither needs storage).
    pub(crate) fn is_quiescent(&self) -> bool {
        self.phase == Phase::Connected
            && !self.accept_pending
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
