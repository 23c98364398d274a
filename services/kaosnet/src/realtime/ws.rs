//! The WebSocket transport of the realtime socket: upgrades handed over by kaos-http,
//! one kaos-ws server on a thread of its own.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use kaos_http::Upgrade;
use kaos_ws::{Adopter, ConnId, WsEvent, WsServer};

use super::{Format, Frame, RealtimeConfig, RealtimeHandle, SessionId, SessionRegistry, SocketSession};
use crate::presence::{Command, Transport};
use crate::KaosNet;

pub(super) struct WsSocket {
    kaos: Arc<KaosNet>,
    single_socket: bool,
    ws: WsServer,
    sessions: HashMap<ConnId, SocketSession>,
    /// Each session's connection and wire format.
    conns: HashMap<SessionId, (ConnId, Format)>,
}

impl WsSocket {
    pub(super) fn new(kaos: Arc<KaosNet>, cfg: &RealtimeConfig) -> std::io::Result<WsSocket> {
        let ws = WsServer::new(cfg.ws.clone())?;
        let adopter = ws.adopter();
        kaos.sessions.attach(Transport::WebSocket, move || adopter.wake());
        Ok(WsSocket { kaos, single_socket: cfg.single_socket, ws, sessions: HashMap::new(), conns: HashMap::new() })
    }

    pub(super) fn adopter(&self) -> Adopter {
        self.ws.adopter()
    }

    pub(super) fn run(&mut self, handle: &RealtimeHandle) {
        SessionRegistry::serve_on_this_thread(Transport::WebSocket);
        let mut inbox = Vec::new();
        while !handle.stopped() {
            if self.ws.poll(Some(Duration::from_millis(250))).is_err() {
                break;
            }
            let upgrades = std::mem::take(&mut *handle.pending.lock().unwrap_or_else(PoisonError::into_inner));
            for upgrade in upgrades {
                self.admit(upgrade);
            }
            while self.ws.accept().is_some() {}
            self.ws.receive_all(|conn, _, data| inbox.push((conn, data.to_vec())));
            for (conn, data) in inbox.drain(..) {
                self.handle(conn, &data);
            }
            while let Some(WsEvent::Closed { conn, .. }) = self.ws.poll_event() {
                self.forget(conn);
            }
            // Last: replies and events queued by everything above go out in this round.
            for command in self.kaos.sessions.take(Transport::WebSocket) {
                self.run_command(command);
            }
        }
        let _ = self.ws.shutdown(Duration::from_secs(2));
        for (_, session) in self.sessions.drain() {
            super::closed(&self.kaos, &session);
        }
    }

    /// Checks the token and options of an upgrade, then accepts or refuses it.
    fn admit(&mut self, upgrade: Upgrade) {
        let request = &upgrade.request;
        let Some(format) = Format::parse(request.query("format").as_deref()) else {
            return self.ws.refuse(upgrade, 400, "format must be json or protobuf");
        };
        let status = request.query("status").is_some_and(|s| s == "true");
        let Some(token) = request.query("token").filter(|t| !t.is_empty()) else {
            return self.ws.refuse(upgrade, 401, "Missing or invalid token");
        };
        let claims = match self.kaos.accounts.verify(&token) {
            Ok(c) => c,
            Err(_) => return self.ws.refuse(upgrade, 401, "Missing or invalid token"),
        };
        let Some(conn) = self.ws.adopt(upgrade) else { return };
        let id = self.kaos.sessions.register(Transport::WebSocket, &claims.uid, self.single_socket);
        self.conns.insert(id, (conn, format));
        let session = SocketSession { id, user_id: claims.uid, username: claims.usn, vars: claims.vrs, status, format };
        super::opened(&self.kaos, &session);
        self.sessions.insert(conn, session);
    }

    fn run_command(&mut self, command: Command) {
        match command {
            Command::Send { session, frame } => {
                if let Some(&(conn, format)) = self.conns.get(&session) {
                    // A full queue closes the socket as a slow consumer.
                    let _ = self.deliver(conn, format, &frame);
                }
            }
            Command::Close { session, code, reason } => {
                if let Some(&(conn, _)) = self.conns.get(&session) {
                    self.ws.close(conn, code, &reason);
                }
            }
        }
    }

    fn forget(&mut self, conn: ConnId) {
        if let Some(s) = self.sessions.remove(&conn) {
            self.conns.remove(&s.id);
            super::closed(&self.kaos, &s);
        }
    }

    fn handle(&mut self, conn: ConnId, data: &[u8]) {
        let Some(session) = self.sessions.get(&conn) else { return };
        let format = session.format;
        let replies = super::inbound::receive(&self.kaos, session, data);
        for reply in replies {
            if self.deliver(conn, format, &Frame::from_value(&reply)).is_err() {
                // Over its outbound cap: kaos-ws has closed it with 1008.
                break;
            }
        }
    }

    /// Sends `frame` in the connection's format: a text frame of JSON or a binary frame
    /// of protobuf.
    fn deliver(&mut self, conn: ConnId, format: Format, frame: &Frame) -> Result<(), kaos_ws::TransportError> {
        match format {
            Format::Json => self.ws.send_text(conn, frame.json()),
            Format::Protobuf => frame.protobuf().map_or(Ok(()), |bytes| self.ws.send(conn, bytes)),
        }
    }
}
