//! Processing incoming datagrams: handshake replies, acks, frames.

use super::transmit::NO_ACK;
use super::{DisconnectReason, Mem, Phase, Role, State, SENT_OUTSTANDING};
use crate::channel::{RecvCheck, ReliableFrame};
use crate::config::{ChannelKind, MAX_FRAGMENTS};
use crate::seq::{seq_diff, seq_newer};
use crate::time::Instant;
use crate::window::acked_iter;
use crate::wire::{
    parse_disconnect, DataHeader, Frame, FrameReader, HandshakeRepr, MessageFrame, Packet, PacketType, DATA_HEADER_LEN,
    HANDSHAKE_KEY,
};

impl State {
    pub(super) fn handle_datagram(&mut self, mem: &mut Mem<'_>, now: Instant, datagram: &[u8]) {
        let Ok(p) = Packet::new_checked(datagram) else {
            self.stats.invalid_dropped += 1;
            return;
        };
        match p.kind() {
            PacketType::Data => self.on_data(mem, now, &p),
            PacketType::Disconnect => {
                let live = matches!(self.phase, Phase::Connected | Phase::Closing { .. });
                match parse_disconnect(&p) {
                    Ok(code) if live && p.verify(self.salt).is_ok() => {
                        self.count_received(datagram.len());
                        self.set_closed(DisconnectReason::Remote(code));
                    }
                    _ => self.stats.invalid_dropped += 1,
                }
            }
            _ => self.on_handshake(now, &p),
        }
    }

    fn count_received(&mut self, len: usize) {
        self.stats.packets_received += 1;
        self.stats.bytes_received += len as u64;
    }

    fn on_handshake(&mut self, now: Instant, p: &Packet<&[u8]>) {
        let repr = match p.verify(HANDSHAKE_KEY).and_then(|()| HandshakeRepr::parse(p)) {
            Ok(r) => r,
            Err(_) => {
                self.stats.invalid_dropped += 1;
                return;
            }
        };
        let ours = |nonce: u64| nonce == self.nonce;
        match (self.role, self.phase, repr) {
            (Role::Client, Phase::Connecting, HandshakeRepr::Challenge { nonce, bucket, cookie }) if ours(nonce) => {
                self.challenge = Some((bucket, cookie));
                self.hs_next_send = now;
            }
            (Role::Client, Phase::Connecting, HandshakeRepr::Accept { nonce, salt })
                if ours(nonce) && self.challenge.is_some() =>
            {
                self.salt = salt;
                self.phase = Phase::Connected;
                self.connected_event = true;
                self.last_recv = now;
                self.last_send = now;
            }
            (Role::Client, Phase::Connecting, HandshakeRepr::Reject { nonce, reason }) if ours(nonce) => {
                self.set_closed(DisconnectReason::Rejected(reason));
            }
            (Role::Server, Phase::Connected, HandshakeRepr::ChallengeResponse { nonce, .. }) if ours(nonce) => {
                // Our accept was lost (the client has sent no data yet): send it again.
                // It is smaller than the padded response, so this never amplifies.
                if !self.recv_window.is_started() {
                    self.accept_pending = true;
                }
            }
            _ => {
                self.stats.invalid_dropped += 1;
                return;
            }
        }
        self.count_received(p.as_bytes().len());
    }

    fn on_data(&mut self, mem: &mut Mem<'_>, now: Instant, p: &Packet<&[u8]>) {
        if !matches!(self.phase, Phase::Connected) || p.verify(self.salt).is_err() {
            self.stats.invalid_dropped += 1;
            return;
        }
        let Ok(h) = DataHeader::parse(p) else {
            self.stats.invalid_dropped += 1;
            return;
        };
        if self.recv_window.check(h.seq).is_err() {
            self.stats.invalid_dropped += 1;
            return;
        }
        if h.ack_delay != NO_ACK {
            self.on_ack(mem, now, &h);
        }
        let frames = &p.as_bytes()[DATA_HEADER_LEN..];
        // Pass 1: validate every frame; any failure drops the whole packet unacked, so
        // the peer resends and nothing is half-applied.
        let (mut eliciting, mut ack_now) = (false, false);
        for f in FrameReader::new(frames) {
            match f {
                Err(_) => {
                    self.stats.invalid_dropped += 1;
                    return;
                }
                Ok(Frame::Ping) => eliciting = true,
                Ok(Frame::AckNow) => {
                    eliciting = true;
                    ack_now = true;
                }
                Ok(Frame::Message(m)) => {
                    eliciting = true;
                    match self.precheck(mem, &m) {
                        RecvCheck::Store | RecvCheck::Duplicate => {}
                        RecvCheck::NoRoom => {
                            self.stats.dropped_full += 1;
                            return;
                        }
                        RecvCheck::Violation => {
                            self.stats.invalid_dropped += 1;
                            return;
                        }
                    }
                }
            }
        }
        // Accepted.
        let in_order = !self.recv_window.is_started() || h.seq == self.recv_window.latest().wrapping_add(1);
        let _ = self.recv_window.insert(h.seq);
        if self.recv_window.latest() == h.seq {
            self.latest_recv_time = now;
        }
        self.count_received(p.as_bytes().len());
        self.last_recv = now;
        for f in FrameReader::new(frames).flatten() {
            if let Frame::Message(m) = f {
                self.apply(mem, now, &m);
            }
        }
        if eliciting {
            self.unacked_eliciting += 1;
            // Ack at once every second packet, when asked to (the sender waits for it),
            // and after a gap or a late packet (the sender's loss detection needs it,
            // RFC 9000 §13.2.1); otherwise hold the ack hoping to piggyback it.
            let at_once = self.unacked_eliciting >= 2 || ack_now || !in_order;
            let deadline = if at_once { now } else { now + self.cfg.max_ack_delay };
            self.ack_deadline = Some(self.ack_deadline.map_or(deadline, |d| d.min(deadline)));
        }
    }

    /// Whether frame `m` is acceptable, without changing anything.
    fn precheck(&self, mem: &Mem<'_>, m: &MessageFrame<'_>) -> RecvCheck {
        let Some(cc) = self.cfg.channels.get(m.channel as usize) else { return RecvCheck::Violation };
        if let Some(f) = m.fragment {
            // Only fragments pay for the division.
            let max_count = (self.cfg.max_message as usize).div_ceil(self.cfg.fragment_payload()).min(MAX_FRAGMENTS);
            if f.count as usize > max_count {
                return RecvCheck::Violation;
            }
        }
        match (cc.kind.is_reliable(), m.offset) {
            (true, Some(offset)) => {
                let ch = m.channel as usize;
                let c = &mem.chans[ch];
                let rf = reliable_frame(m, offset);
                let max_frame = self.cfg.single_payload(true);
                self.rel_recv[ch].check(c.recv_slots, c.recv_bytes.len(), &rf, max_frame)
            }
            (false, None) => RecvCheck::Store,
            _ => RecvCheck::Violation,
        }
    }

    fn apply(&mut self, mem: &mut Mem<'_>, now: Instant, m: &MessageFrame<'_>) {
        let ch = m.channel as usize;
        let kind = self.cfg.channels[ch].kind;
        if kind.is_reliable() {
            let rf = reliable_frame(m, m.offset.unwrap_or(0));
            let c = &mut mem.chans[ch];
            let rx = &mut self.rel_recv[ch];
            let max_frame = self.cfg.single_payload(true);
            if rx.check(c.recv_slots, c.recv_bytes.len(), &rf, max_frame) != RecvCheck::Store {
                return;
            }
            if rx.deliver_direct(m.channel, &rf, &mut self.inbox_q, mem.inbox) {
                self.stats.messages_delivered += 1;
                return;
            }
            rx.store(c.recv_slots, c.recv_bytes, &rf);
            let ordered = kind == ChannelKind::ReliableOrdered;
            let r = rx.deliver(
                ordered,
                m.channel,
                c.recv_slots,
                c.recv_bytes,
                &mut self.inbox_q,
                mem.inbox,
                self.cfg.max_message as usize,
                &mut self.stats.messages_delivered,
            );
            if r.is_err() {
                self.set_closed(DisconnectReason::ProtocolViolation);
            }
            return;
        }
        let sequenced = kind == ChannelKind::UnreliableSequenced;
        if sequenced && self.unrel[ch].last_delivered.is_some_and(|l| !seq_newer(m.id, l)) {
            return;
        }
        let delivered = match m.fragment {
            None => push_message(&mut self.inbox_q, mem.inbox, m.channel, m.data),
            Some(fi) => match self.reasm.insert(now, mem.reasm, m.channel, m.id, fi.index, fi.count, m.data) {
                Ok(Some((set, len))) => {
                    let msg = self.reasm.message(mem.reasm, set, len);
                    let ok = push_message(&mut self.inbox_q, mem.inbox, m.channel, msg);
                    self.reasm.free(set);
                    ok
                }
                Ok(None) => return,
                Err(_) => {
                    self.stats.invalid_dropped += 1;
                    return;
                }
            },
        };
        if !delivered {
            self.stats.dropped_full += 1;
            return;
        }
        self.stats.messages_delivered += 1;
        if sequenced {
            self.unrel[ch].last_delivered = Some(m.id);
            self.reasm.drop_older(m.channel, m.id);
        }
    }

    /// Processes the peer's ack of our packets: RTT, congestion, message acks, losses.
    fn on_ack(&mut self, mem: &mut Mem<'_>, now: Instant, h: &DataHeader) {
        // An ack for a packet we never sent is a lie; ignore the whole ack.
        if seq_diff(h.ack, self.next_seq) >= 0 {
            return;
        }
        let p = mem.sent.len();
        let mut touched = 0u32;
        let acked_before = self.stats.packets_acked;
        for s in acked_iter(h.ack, h.ack_bits) {
            if seq_diff(s, self.oldest_seq) < 0 {
                break;
            }
            let idx = s as usize & (p - 1);
            let pkt = mem.sent[idx];
            if pkt.flags & SENT_OUTSTANDING == 0 || pkt.seq != s {
                continue;
            }
            mem.sent[idx].flags = 0;
            let sent = Instant::from_micros(pkt.sent_time);
            if s == h.ack {
                let raw = now - sent;
                let delay = Self::ack_delay_of(h.ack_delay);
                self.rtt.on_sample(if raw > delay { raw - delay } else { raw });
            }
            self.cc.on_acked(pkt.size as u32, sent);
            self.stats.packets_acked += 1;
            self.stats.bytes_acked += pkt.size as u64;
            self.for_each_ref(mem, &pkt, |st, mem, ch, id| {
                if st.rel_send[ch].on_acked(mem.chans[ch].send_slots, id) {
                    touched |= 1 << ch;
                }
            });
        }
        let newest = self.largest_acked.is_none_or(|l| seq_newer(h.ack, l));
        if newest {
            self.largest_acked = Some(h.ack);
        }
        if self.stats.packets_acked != acked_before || newest {
            // The path answers: probing starts over.
            self.probes = 0;
            self.last_probe = None;
        }
        self.detect_lost(mem, now);
        self.advance_oldest(mem);
        if self.oldest_seq == self.next_seq {
            self.probe_at = None;
        }
        self.release_channels(mem, touched);
    }
}

fn reliable_frame<'a>(m: &MessageFrame<'a>, offset: u32) -> ReliableFrame<'a> {
    let (frag_index, frag_count) = m.fragment.map_or((0, 0), |f| (f.index, f.count));
    ReliableFrame { id: m.id, offset, frag_index, frag_count, data: m.data }
}

/// Appends a message to the inbox as `[channel][data]`; false if it does not fit.
fn push_message(q: &mut crate::queue::ByteQueue, inbox: &mut [u8], channel: u8, data: &[u8]) -> bool {
    match q.push(inbox, data.len() + 1) {
        Some(body) => {
            body[0] = channel;
            body[1..].copy_from_slice(data);
            true
        }
        None => false,
    }
}
