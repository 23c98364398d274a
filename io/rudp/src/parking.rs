//! Connection storage for the server: page-mapped arenas, a bounded pool of spares, and
//! parking of idle clients.
//!
//! A connection's storage (its windows and buffers) is most of its memory. A client that
//! has been quiescent for `RudpConfig::park_after` hands it back and keeps only its
//! state (about 1.5 KiB). Keep-alives and acks need no storage; the next message either
//! way takes an arena again.
//! Arenas are anonymous mappings, not heap blocks: returning one gives its pages back to
//! the OS even when long-lived client records sit around it.

use std::io;
use std::net::SocketAddr;

use kaos_core::config::Config;
use kaos_core::congestion::Stats;
use kaos_core::conn::{Connection, ParkedConnection};
use kaos_core::time::Instant;
use memmap2::MmapMut;

/// One connection's storage: zero-filled anonymous pages.
#[derive(Debug)]
pub(crate) struct Arena(MmapMut);

impl Arena {
    fn map(words: usize) -> io::Result<Self> {
        MmapMut::map_anon(words * 8).map(Arena)
    }
}

impl AsMut<[u64]> for Arena {
    fn as_mut(&mut self) -> &mut [u64] {
        // A mapping is page-aligned and `words * 8` long, so the cast cannot fail.
        bytemuck::cast_slice_mut(&mut self.0[..])
    }
}

/// Spare arenas, at most `max` of them (the rest are unmapped), and parking counters.
#[derive(Debug)]
pub(crate) struct ArenaPool {
    spare: Vec<Arena>,
    words: usize,
    max: usize,
    /// Connections parked now.
    pub(crate) parked: usize,
    /// Unparks that failed for want of memory.
    pub(crate) failures: u64,
    /// Unparks.
    pub(crate) unparks: u64,
}

impl ArenaPool {
    pub(crate) fn new(protocol: &Config, spare_bytes: usize) -> Self {
        let words = protocol.storage_words();
        ArenaPool {
            spare: Vec::new(),
            words,
            max: spare_bytes / (words * 8).max(1),
            parked: 0,
            failures: 0,
            unparks: 0,
        }
    }

    pub(crate) fn take(&mut self) -> io::Result<Arena> {
        match self.spare.pop() {
            Some(a) => Ok(a),
            None => Arena::map(self.words),
        }
    }

    pub(crate) fn give(&mut self, arena: Arena) {
        if self.spare.len() < self.max {
            self.spare.push(arena);
        }
    }
}

/// A client's connection, with or without its storage.
#[derive(Debug)]
enum Link {
    Active(Connection<Arena>),
    Parked(ParkedConnection),
}

/// A client's connection; parks and unparks its storage.
#[derive(Debug)]
pub(crate) struct Conn {
    /// `None` only inside `park` and `active`.
    link: Option<Link>,
}

impl Conn {
    pub(crate) fn new(conn: Connection<Arena>) -> Self {
        Conn { link: Some(Link::Active(conn)) }
    }

    /// The connection, unparked if it was parked.
    pub(crate) fn active(&mut self, pool: &mut ArenaPool) -> io::Result<&mut Connection<Arena>> {
        if let Some(Link::Parked(_)) = self.link {
            let arena = pool.take().inspect_err(|_| pool.failures += 1)?;
            let Some(Link::Parked(p)) = self.link.take() else { unreachable!("checked above") };
            self.link = Some(match p.unpark(arena) {
                Ok(c) => {
                    pool.parked -= 1;
                    pool.unparks += 1;
                    Link::Active(c)
                }
                // The pool's arenas are sized for this configuration.
                Err((p, arena)) => {
                    pool.give(arena);
                    self.link = Some(Link::Parked(p));
                    return Err(io::Error::other("arena smaller than the connection's storage"));
                }
            });
        }
        match &mut self.link {
            Some(Link::Active(c)) => Ok(c),
            _ => Err(io::Error::other("connection record lost its link")),
        }
    }

    /// Hands a datagram to the connection, unparking it only for messages or when the
    /// datagram ended its quiescence (a disconnect, a handshake repeat).
    pub(crate) fn handle_datagram(&mut self, pool: &mut ArenaPool, now: Instant, data: &[u8]) -> io::Result<()> {
        if let Some(Link::Parked(p)) = &mut self.link {
            if p.handle_datagram(now, data) {
                if !p.is_quiescent() {
                    self.active(pool)?;
                }
                return Ok(());
            }
        }
        self.active(pool)?.handle_datagram(now, data);
        Ok(())
    }

    /// Runs the connection's timers, unparking it only if they ended its quiescence.
    pub(crate) fn handle_timeout(&mut self, pool: &mut ArenaPool, now: Instant) -> io::Result<()> {
        if let Some(Link::Parked(p)) = &mut self.link {
            p.handle_timeout(now);
            if p.is_quiescent() {
                return Ok(());
            }
        }
        self.active(pool)?.handle_timeout(now);
        Ok(())
    }

    /// The next datagram to send; a parked connection sends keep-alives and acks
    /// itself, and is unparked if its timers ended its quiescence.
    pub(crate) fn poll_transmit(
        &mut self,
        pool: &mut ArenaPool,
        now: Instant,
        buf: &mut [u8],
    ) -> io::Result<Option<usize>> {
        if let Some(Link::Parked(p)) = &mut self.link {
            if let Some(n) = p.poll_transmit(now, buf) {
                return Ok(Some(n));
            }
            if p.is_quiescent() {
                return Ok(None);
            }
        }
        Ok(self.active(pool)?.poll_transmit(now, buf))
    }

    /// The connection if it holds its storage.
    pub(crate) fn if_active(&mut self) -> Option<&mut Connection<Arena>> {
        match &mut self.link {
            Some(Link::Active(c)) => Some(c),
            _ => None,
        }
    }

    /// Parks the connection if it is quiescent; returns whether it is parked.
    pub(crate) fn park(&mut self, pool: &mut ArenaPool) -> bool {
        match self.link.take() {
            Some(Link::Active(c)) => match c.park() {
                Ok((p, arena)) => {
                    pool.give(arena);
                    pool.parked += 1;
                    self.link = Some(Link::Parked(p));
                    true
                }
                Err(c) => {
                    self.link = Some(Link::Active(c));
                    false
                }
            },
            other => {
                let parked = matches!(other, Some(Link::Parked(_)));
                self.link = other;
                parked
            }
        }
    }

    /// Gives the storage of a finished connection back.
    pub(crate) fn release(self, pool: &mut ArenaPool) {
        match self.link {
            Some(Link::Active(c)) => pool.give(c.into_storage()),
            Some(Link::Parked(_)) => pool.parked -= 1,
            None => {}
        }
    }

    pub(crate) fn remote(&self) -> SocketAddr {
        match &self.link {
            Some(Link::Active(c)) => c.remote(),
            Some(Link::Parked(p)) => p.remote(),
            None => SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        match &self.link {
            Some(Link::Active(c)) => c.stats(),
            Some(Link::Parked(p)) => p.stats(),
            None => Stats::default(),
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match &self.link {
            Some(Link::Active(c)) => c.poll_timeout(),
            Some(Link::Parked(p)) => p.poll_timeout(),
            None => None,
        }
    }

    /// Whether the connection is closed and its last event was taken (a parked one is
    /// connected).
    pub(crate) fn is_drained(&self) -> bool {
        matches!(&self.link, Some(Link::Active(c)) if c.is_drained())
    }
}
