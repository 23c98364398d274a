//! The one socket loop both transports run: sessions opened once their token checks out,
//! every inbound frame through [`receive`](super::inbound::receive), replies and queued
//! deliveries in each session's wire format, and sessions closed once, whichever side
//! ends them. A transport ([`SocketTransport`]) supplies only what differs: how it
//! waits, how a client proves who it is, and how bytes reach a connection.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use super::lanes::Lanes;
use super::{Format, Frame, RealtimeHandle, SessionId, SessionRegistry, SocketSession};
use crate::presence::{Command, MailboxId, Transport, MAX_SOCKET_THREADS};
use crate::session::Claims;
use crate::KaosNet;

/// The error of a socket thread past the registry's [`MAX_SOCKET_THREADS`] mailboxes.
pub(super) fn too_many_threads() -> std::io::Error {
    std::io::Error::other(format!("at most {MAX_SOCKET_THREADS} socket threads"))
}

/// What a transport saw in one turn, in order.
pub(super) enum Event<C> {
    /// A client proved who it is.
    Opened { conn: C, claims: Claims, status: bool, format: Format },
    /// A frame from an open connection.
    Message(C, Vec<u8>),
    /// A connection has ended.
    Gone(C),
}

/// A transport under the socket loop.
pub(super) trait SocketTransport {
    /// A connection.
    type Conn: Copy + Eq + Hash;
    /// Which transport this is, for the session registry.
    const TRANSPORT: Transport;

    /// This thread's mailbox in the session registry.
    fn mailbox(&self) -> MailboxId;

    /// Waits for work (a short while at most), then reports what happened.
    fn turn(&mut self, kaos: &KaosNet, handle: &RealtimeHandle, events: &mut Vec<Event<Self::Conn>>) -> bool;
    /// A session has opened on `conn` (before anything is sent to it).
    fn opened(&mut self, _conn: Self::Conn, _session: &SocketSession) {}
    /// Sends `frame` in `format`; false if the connection is gone (a slow consumer).
    fn send(&mut self, conn: Self::Conn, format: Format, frame: &Frame) -> bool;
    /// Closes `conn` with `code`; true if it is gone at once (no `Gone` event follows).
    fn close(&mut self, conn: Self::Conn, code: u16, reason: &str) -> bool;
    /// Forgets what it kept for `conn`.
    fn forget(&mut self, _conn: Self::Conn) {}
    /// After each turn's work: writes what is queued.
    fn end_turn(&mut self) {}
    /// Says goodbye to every client.
    fn shutdown(&mut self);
}

/// The loop, its sessions, and the transport.
pub(super) struct SocketLoop<T: SocketTransport> {
    kaos: Arc<KaosNet>,
    lanes: Arc<Lanes>,
    transport: T,
    single_socket: bool,
    sessions: HashMap<T::Conn, SocketSession>,
    /// Each session's connection and wire format.
    conns: HashMap<SessionId, (T::Conn, Format)>,
}

impl<T: SocketTransport> SocketLoop<T> {
    pub(super) fn new(kaos: Arc<KaosNet>, lanes: Arc<Lanes>, transport: T, single_socket: bool) -> SocketLoop<T> {
        SocketLoop { kaos, lanes, transport, single_socket, sessions: HashMap::new(), conns: HashMap::new() }
    }

    pub(super) fn transport(&self) -> &T {
        &self.transport
    }

    /// Serves until `handle` stops it, then closes every session.
    pub(super) fn run(&mut self, handle: &RealtimeHandle) {
        SessionRegistry::serve_on_this_thread(self.transport.mailbox());
        let mut events = Vec::new();
        while !handle.stopped() {
            if !self.transport.turn(&self.kaos, handle, &mut events) {
                break;
            }
            // What other threads queued before this turn goes out before its answers.
            for command in self.kaos.sessions().take(self.transport.mailbox()) {
                self.command(command);
            }
            for event in events.drain(..) {
                match event {
                    Event::Opened { conn, claims, status, format } => self.open(conn, claims, status, format),
                    Event::Message(conn, data) => self.message(conn, &data),
                    Event::Gone(conn) => self.forget(conn),
                }
            }
            // Last: replies and events queued by everything above go out in this turn.
            for command in self.kaos.sessions().take(self.transport.mailbox()) {
                self.command(command);
            }
            self.transport.end_turn();
        }
        self.transport.shutdown();
        for (_, session) in self.sessions.drain() {
            super::closed(&self.kaos, &self.lanes, &session);
        }
    }

    fn open(&mut self, conn: T::Conn, claims: Claims, status: bool, format: Format) {
        let id = self.kaos.sessions().register(T::TRANSPORT, self.transport.mailbox(), &claims.uid, self.single_socket);
        self.conns.insert(id, (conn, format));
        let session = SocketSession { id, user_id: claims.uid, username: claims.usn, vars: claims.vrs, status, format };
        self.transport.opened(conn, &session);
        super::opened(&self.kaos, &session);
        self.sessions.insert(conn, session);
    }

    fn message(&mut self, conn: T::Conn, data: &[u8]) {
        let Some(session) = self.sessions.get(&conn) else { return };
        let format = session.format;
        for reply in super::inbound::receive(&self.kaos, Some(&self.lanes), session, data) {
            if !self.transport.send(conn, format, &reply) {
                return self.forget(conn);
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Send { session, frame } => {
                if let Some(&(conn, format)) = self.conns.get(&session) {
                    if !self.transport.send(conn, format, &frame) {
                        self.forget(conn);
                    }
                }
            }
            Command::Close { session, code, reason } => {
                if let Some(&(conn, _)) = self.conns.get(&session) {
                    if self.transport.close(conn, code, &reason) {
                        self.forget(conn);
                    }
                }
            }
        }
    }

    /// A connection has ended: its session closes, once.
    fn forget(&mut self, conn: T::Conn) {
        self.transport.forget(conn);
        if let Some(s) = self.sessions.remove(&conn) {
            self.conns.remove(&s.id);
            super::closed(&self.kaos, &self.lanes, &s);
        }
    }
}
