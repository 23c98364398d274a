//! The WebSocket transport of the realtime socket: upgrades handed over by kaos-http
//! (the token checked before the upgrade is accepted), one kaos-ws server on a thread of
//! its own, JSON in text frames and protobuf in binary ones.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kaos_http::Upgrade;
use kaos_ws::{Adopter, ConnId, WsEvent, WsServer};

use super::socket_loop::{Event, SocketTransport};
use super::{Format, Frame, RealtimeConfig, RealtimeHandle};
use crate::presence::{MailboxId, Transport};

use crate::KaosNet;

/// Upgrades handed to one WebSocket thread, waiting for it.
pub(super) type Pending = Arc<Mutex<Vec<Upgrade>>>;

pub(super) struct WsSocket {
    ws: WsServer,
    mailbox: MailboxId,
    pending: Pending,
}

impl WsSocket {
    pub(super) fn new(kaos: &KaosNet, cfg: &RealtimeConfig) -> std::io::Result<WsSocket> {
        let ws = WsServer::new(cfg.ws.clone())?;
        let adopter = ws.adopter();
        let mailbox =
            kaos.sessions().attach(move || adopter.wake()).ok_or_else(super::socket_loop::too_many_threads)?;
        Ok(WsSocket { ws, mailbox, pending: Pending::default() })
    }

    pub(super) fn adopter(&self) -> Adopter {
        self.ws.adopter()
    }

    pub(super) fn pending(&self) -> Pending {
        self.pending.clone()
    }

    /// Checks the token and options of an upgrade, then accepts or refuses it.
    fn admit(&mut self, kaos: &KaosNet, upgrade: Upgrade, events: &mut Vec<Event<ConnId>>) {
        let request = &upgrade.request;
        let Some(format) = Format::parse(request.query("format").as_deref()) else {
            return self.ws.refuse(upgrade, 400, "format must be json or protobuf");
        };
        let status = request.query("status").is_some_and(|s| s == "true");
        let Some(token) = request.query("token").filter(|t| !t.is_empty()) else {
            return self.ws.refuse(upgrade, 401, "Missing or invalid token");
        };
        let claims = match kaos.accounts.verify(&token) {
            Ok(c) => c,
            Err(_) => return self.ws.refuse(upgrade, 401, "Missing or invalid token"),
        };
        if let Some(conn) = self.ws.adopt(upgrade) {
            events.push(Event::Opened { conn, claims, status, format });
        }
    }
}

impl SocketTransport for WsSocket {
    type Conn = ConnId;
    const TRANSPORT: Transport = Transport::WebSocket;

    fn mailbox(&self) -> MailboxId {
        self.mailbox
    }

    fn turn(&mut self, kaos: &KaosNet, _handle: &RealtimeHandle, events: &mut Vec<Event<ConnId>>) -> bool {
        if self.ws.poll(Some(Duration::from_millis(250))).is_err() {
            return false;
        }
        let upgrades = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        for upgrade in upgrades {
            self.admit(kaos, upgrade, events);
        }
        while self.ws.accept().is_some() {}
        self.ws.receive_all(|conn, _, data| events.push(Event::Message(conn, data.to_vec())));
        while let Some(WsEvent::Closed { conn, .. }) = self.ws.poll_event() {
            events.push(Event::Gone(conn));
        }
        true
    }

    /// A text frame of JSON or a binary frame of protobuf. Over its outbound cap a
    /// connection is closed with 1008 by kaos-ws, and its `Gone` event follows.
    fn send(&mut self, conn: ConnId, format: Format, frame: &Frame) -> bool {
        let sent = match format {
            Format::Json => self.ws.send_text(conn, frame.json()),
            Format::Protobuf => frame.protobuf().map_or(Ok(()), |bytes| self.ws.send(conn, bytes)),
        };
        sent.is_ok() || self.ws.is_open(conn)
    }

    fn close(&mut self, conn: ConnId, code: u16, reason: &str) -> bool {
        self.ws.close(conn, code, reason);
        false
    }

    fn shutdown(&mut self) {
        let _ = self.ws.shutdown(Duration::from_secs(2));
    }
}
