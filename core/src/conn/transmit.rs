//! Building outgoing datagrams, and the sent-packet bookkeeping (loss, retransmission).

use super::{DisconnectReason, Mem, Phase, Role, SentPacket, State, SENT_OUTSTANDING};
use crate::channel::ring_read;
use crate::seq::seq_diff;
use crate::time::{Duration, Instant};
use crate::wire::{
    emit_ack_now, emit_disconnect, emit_message_header, emit_ping, seal, DataHeader, FragmentInfo, HandshakeRepr,
    MessageFrame, ACK_NOW_LEN, DATA_HEADER_LEN, MIN_DATAGRAM,
};

/// `DataHeader::ack_delay` value meaning "no ack yet" (nothing received).
pub(crate) const NO_ACK: u16 = u16::MAX;
/// Timer resolution assumed for probes (RFC 9002's kGranularity): waits on epoll fire
/// with millisecond resolution.
pub(crate) const LOSS_GRANULARITY: Duration = Duration::from_millis(1);
/// Shortest time a packet overtaken by acked ones may still arrive before it counts as
/// lost. Acks, not timers, usually notice it, so this may be finer than the timers; it
/// stays above scheduling noise on a LAN or loopback.
const REORDER_FLOOR: Duration = Duration::from_micros(200);

impl State {
    pub(super) fn poll_transmit(&mut self, mem: &mut Mem<'_>, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let limit = buf.len().min(self.cfg.max_datagram as usize);
        if limit < MIN_DATAGRAM {
            return None;
        }
        let buf = &mut buf[..limit];
        let n = match self.phase {
            Phase::Closed => return None,
            Phase::Connecting => {
                if now < self.hs_next_send {
                    return None;
                }
                self.hs_next_send = now + self.cfg.handshake_resend;
                let fingerprint = self.cfg.fingerprint();
                let repr = match self.challenge {
                    None => HandshakeRepr::ConnectRequest { nonce: self.nonce, fingerprint },
                    Some((bucket, cookie)) => {
                        HandshakeRepr::ChallengeResponse { nonce: self.nonce, fingerprint, bucket, cookie }
                    }
                };
                repr.emit(buf).ok()?
            }
            Phase::Closing { code, sends_left } => {
                let n = emit_disconnect(buf, self.salt, code).ok()?;
                if sends_left <= 1 {
                    self.set_closed(DisconnectReason::Local(code));
                } else {
                    self.phase = Phase::Closing { code, sends_left: sends_left - 1 };
                }
                n
            }
            Phase::Connected => {
                if self.role == Role::Server && self.accept_pending {
                    self.accept_pending = false;
                    HandshakeRepr::Accept { nonce: self.nonce, salt: self.salt }.emit(buf).ok()?
                } else {
                    self.build_data(mem, now, buf)?
                }
            }
        };
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += n as u64;
        Some(n)
    }

    /// Fills a data packet: resends, new reliable messages, unreliable messages, a ping
    /// if a keep-alive is due; or an ack-only packet if an ack is due; or nothing.
    fn build_data(&mut self, mem: &mut Mem<'_>, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let p = mem.sent.len();
        // The sent table is a ring: with a full lap outstanding no packet carrying
        // messages may go out (small packets would otherwise evict, resend and evict
        // again without end); only the ack timer or the RTO frees room.
        // (A parked connection has no table, and nothing outstanding.)
        let lap_full = self.next_seq != self.oldest_seq && self.next_seq.wrapping_sub(self.oldest_seq) as usize >= p;
        let seq = self.next_seq;
        let refs_start = self.refs_head;
        let mut at = DATA_HEADER_LEN;
        // `tracked`: the packet carries messages and waits for its ack in the sent table.
        let mut tracked = false;
        let resent_before = self.stats.messages_resent;
        if !lap_full && self.cc.can_send(buf.len() as u32) {
            // Room stays for an ack-now frame (message sizes count it, see `Config`).
            let room = buf.len() - ACK_NOW_LEN;
            tracked |= self.fill_reliable(mem, now, seq, &mut buf[..room], &mut at);
            tracked |= self.fill_unreliable(mem, &mut buf[..room], &mut at);
        }
        // A keep-alive ping or a probe asks for an ack but needs no resend: it is not
        // tracked, so a parked connection can send it without storage.
        let ping = (self.ping_pending || self.probe_pending) && !tracked;
        if ping {
            at += emit_ping(&mut buf[at..]).ok()?;
        }
        self.ping_pending = false;
        // Ask for the ack at once when waiting for it: a probe, a resend, or the last
        // two datagrams the windows let out (either may be lost and leave the other
        // alone, and a lone packet's ack would be held).
        let ack_now = self.probe_pending
            || (tracked && (self.stats.messages_resent != resent_before || self.blocked_after(mem, at, 2 * buf.len())));
        if ack_now {
            at += emit_ack_now(&mut buf[at..]).ok()?;
            if self.probe_pending {
                self.probes = self.probes.saturating_add(1);
                self.last_probe = Some(now);
            }
            self.probe_at = Some(now + self.probe_timeout());
        }
        self.probe_pending = false;
        let ack_due = self.ack_deadline.is_some_and(|d| now >= d);
        if !tracked && !ping && !ack_due {
            return None;
        }
        // An ack or ping still takes a sequence number, so its slot must be free: the
        // oldest packet, unresolved after a full lap, is lost. Acks and pings follow
        // the peer's packets and the keep-alive timer, so this cannot spin.
        while self.next_seq != self.oldest_seq && self.next_seq.wrapping_sub(self.oldest_seq) as usize >= p {
            let oldest = self.oldest_seq;
            self.lose_packet(mem, oldest, now);
            self.advance_oldest(mem);
        }
        let (ack, ack_bits, ack_delay) = if self.recv_window.is_started() {
            let held = (now - self.latest_recv_time).as_micros() / 8;
            (self.recv_window.latest(), self.recv_window.bits(), held.min(NO_ACK as u64 - 1) as u16)
        } else {
            (0, 0, NO_ACK)
        };
        DataHeader { seq, ack, ack_bits, ack_delay }.emit(buf).ok()?;
        seal(&mut buf[..at], self.salt).ok()?;
        if tracked {
            mem.sent[seq as usize & (p - 1)] = SentPacket {
                sent_time: now.as_micros(),
                refs_start,
                refs_count: self.refs_head.wrapping_sub(refs_start) as u16,
                size: at as u16,
                seq,
                flags: SENT_OUTSTANDING,
                _pad: 0,
            };
            self.cc.on_sent(at as u32);
            if self.rto_base.is_none() {
                self.rto_base = Some(now);
            }
        } else if self.oldest_seq == seq {
            self.oldest_seq = seq.wrapping_add(1);
            self.refs_tail = self.refs_head;
        } else {
            // Inside the outstanding range: mark the entry resolved.
            mem.sent[seq as usize & (p - 1)] = SentPacket { seq, ..SentPacket::default() };
        }
        self.next_seq = seq.wrapping_add(1);
        self.last_send = now;
        self.ack_deadline = None;
        self.unacked_eliciting = 0;
        Some(at)
    }

    /// Whether, once a packet of `size` bytes goes out, `next` more bytes cannot until an
    /// ack comes: the congestion window or the sent table is full, or a reliable channel's
    /// window is (its messages or its bytes: a message of a datagram's size would be
    /// refused). Such a packet asks for its ack at once.
    fn blocked_after(&self, mem: &Mem<'_>, size: usize, next: usize) -> bool {
        let p = mem.sent.len();
        let single = self.cfg.single_payload(true);
        !self.cc.can_send((size + next) as u32)
            || self.next_seq.wrapping_add(2).wrapping_sub(self.oldest_seq) as usize >= p
            || (0..self.cfg.channels.len()).any(|ch| {
                self.cfg.channels[ch].kind.is_reliable()
                    && self.rel_send[ch].window_full(mem.chans[ch].send_slots, mem.chans[ch].send_bytes, single)
            })
    }

    /// Adds reliable messages (resends first) round-robin over channels. Returns whether
    /// any was added.
    fn fill_reliable(&mut self, mem: &mut Mem<'_>, now: Instant, seq: u16, buf: &mut [u8], at: &mut usize) -> bool {
        let n = self.cfg.channels.len();
        let refs_cap = mem.refs.len();
        let mut added = false;
        let start = self.rr_channel;
        self.rr_channel = (start + 1) % n;
        for k in 0..n {
            let ch = (start + k) % n;
            if !self.cfg.channels[ch].kind.is_reliable() || !self.rel_send[ch].has_pending() {
                continue;
            }
            let c = &mut mem.chans[ch];
            let tx = &mut self.rel_send[ch];
            let w = c.send_slots.len();
            while let Some(id) = tx.next_to_send(c.send_slots) {
                let slot = c.send_slots[tx.slot_of(id, w)];
                let frag =
                    (slot.frag_count != 0).then_some(FragmentInfo { index: slot.frag_index, count: slot.frag_count });
                let len = slot.len as usize;
                let need = MessageFrame::header_len(true, frag.is_some()) + len;
                if *at + need > buf.len() || self.refs_head.wrapping_sub(self.refs_tail) as usize >= refs_cap {
                    break;
                }
                let h = match emit_message_header(&mut buf[*at..], ch as u8, id, Some(slot.offset), frag, len) {
                    Ok(h) => h,
                    Err(_) => break,
                };
                let (a, b) = ring_read(c.send_bytes, tx.ring_pos(slot.offset), len);
                let body = *at + h;
                buf[body..body + a.len()].copy_from_slice(a);
                buf[body + a.len()..body + len].copy_from_slice(b);
                *at += need;
                mem.refs[self.refs_head as usize & (refs_cap - 1)] = ((ch as u32) << 16) | id as u32;
                self.refs_head = self.refs_head.wrapping_add(1);
                if tx.on_sent(c.send_slots, id, seq, now) {
                    self.stats.messages_resent += 1;
                    self.stats.bytes_resent += len as u64;
                }
                added = true;
            }
        }
        added
    }

    /// Adds queued unreliable messages (and fragments of them). Returns whether any was
    /// added.
    fn fill_unreliable(&mut self, mem: &mut Mem<'_>, buf: &mut [u8], at: &mut usize) -> bool {
        let single = self.cfg.single_payload(false);
        let fp = self.cfg.fragment_payload();
        let mut added = false;
        while let Some(rec) = self.outbox_q.front(mem.outbox) {
            let (channel, id, data) = (rec[0], u16::from_le_bytes([rec[1], rec[2]]), &rec[3..]);
            if data.len() <= single {
                let f = MessageFrame { channel, id, offset: None, fragment: None, data };
                if *at + f.encoded_len() > buf.len() {
                    break;
                }
                *at += f.emit(&mut buf[*at..]).unwrap_or(0);
                added = true;
            } else {
                let count = data.len().div_ceil(fp);
                let mut i = self.outbox_frag_next as usize;
                while i < count {
                    let piece = &data[i * fp..((i + 1) * fp).min(data.len())];
                    let fragment = Some(FragmentInfo { index: i as u8, count: count as u8 });
                    let f = MessageFrame { channel, id, offset: None, fragment, data: piece };
                    if *at + f.encoded_len() > buf.len() {
                        break;
                    }
                    *at += f.emit(&mut buf[*at..]).unwrap_or(0);
                    added = true;
                    i += 1;
                }
                if i < count {
                    self.outbox_frag_next = i as u8;
                    break;
                }
                self.outbox_frag_next = 0;
            }
            self.outbox_q.pop(mem.outbox);
        }
        added
    }

    /// Declares lost every outstanding packet sent before the largest acked one by three
    /// packets or by 9/8 of the RTT (RFC 9002 §6.1), and arms `loss_time` for the oldest
    /// one that is not lost yet but may be by time.
    pub(super) fn detect_lost(&mut self, mem: &mut Mem<'_>, now: Instant) {
        self.loss_time = None;
        let Some(la) = self.largest_acked else { return };
        let rtt = self.rtt.smoothed().max(self.rtt.latest()).as_micros();
        let delay = Duration::from_micros(rtt + rtt / 8).max(REORDER_FLOOR);
        let p = mem.sent.len();
        let mut s = self.oldest_seq;
        while s != self.next_seq && seq_diff(la, s) > 0 {
            let pkt = mem.sent[s as usize & (p - 1)];
            if pkt.flags & SENT_OUTSTANDING != 0 && pkt.seq == s {
                let lost_at = Instant::from_micros(pkt.sent_time) + delay;
                if seq_diff(la, s) < 3 && lost_at > now {
                    // Newer packets were sent later and have fewer acked after them.
                    self.loss_time = Some(lost_at);
                    return;
                }
                self.lose_packet(mem, s, now);
            }
            s = s.wrapping_add(1);
        }
    }

    /// Declares packet `seq` lost if it is still outstanding.
    pub(super) fn lose_packet(&mut self, mem: &mut Mem<'_>, seq: u16, now: Instant) {
        let p = mem.sent.len();
        let pkt = mem.sent[seq as usize & (p - 1)];
        if pkt.flags & SENT_OUTSTANDING == 0 || pkt.seq != seq {
            return;
        }
        mem.sent[seq as usize & (p - 1)].flags = 0;
        self.cc.on_lost(pkt.size as u32, Instant::from_micros(pkt.sent_time), now, &self.rtt);
        self.stats.packets_lost += 1;
        self.for_each_ref(mem, &pkt, |st, mem, ch, id| {
            st.rel_send[ch].on_lost(mem.chans[ch].send_slots, id, seq);
        });
    }

    /// Calls `f(state, mem, channel, message id)` for every message reference of `pkt`.
    pub(super) fn for_each_ref(
        &mut self,
        mem: &mut Mem<'_>,
        pkt: &SentPacket,
        mut f: impl FnMut(&mut State, &mut Mem<'_>, usize, u16),
    ) {
        let cap = mem.refs.len();
        for i in 0..pkt.refs_count as u32 {
            let r = mem.refs[pkt.refs_start.wrapping_add(i) as usize & (cap - 1)];
            let ch = (r >> 16) as usize;
            if ch < self.cfg.channels.len() && self.cfg.channels[ch].kind.is_reliable() {
                f(self, mem, ch, r as u16);
            }
        }
    }

    /// Moves `oldest_seq` past resolved packets and frees their message references.
    pub(super) fn advance_oldest(&mut self, mem: &mut Mem<'_>) {
        let p = mem.sent.len();
        while self.oldest_seq != self.next_seq {
            let pkt = &mem.sent[self.oldest_seq as usize & (p - 1)];
            if pkt.flags & SENT_OUTSTANDING != 0 && pkt.seq == self.oldest_seq {
                break;
            }
            self.oldest_seq = self.oldest_seq.wrapping_add(1);
        }
        self.refs_tail = if self.oldest_seq == self.next_seq {
            self.refs_head
        } else {
            mem.sent[self.oldest_seq as usize & (p - 1)].refs_start
        };
        self.update_rto_base(mem.sent);
    }

    /// The retransmission timer fired: every packet older than one RTO is lost.
    pub(super) fn on_rto(&mut self, mem: &mut Mem<'_>, now: Instant) {
        let rto = self.rtt.rto();
        let p = mem.sent.len();
        let mut seq = self.oldest_seq;
        while seq != self.next_seq {
            let pkt = mem.sent[seq as usize & (p - 1)];
            if pkt.flags & SENT_OUTSTANDING != 0 && pkt.seq == seq {
                if Instant::from_micros(pkt.sent_time) + rto > now {
                    break;
                }
                self.lose_packet(mem, seq, now);
            }
            seq = seq.wrapping_add(1);
        }
        self.rtt.on_timeout();
        self.stats.timeouts += 1;
        self.advance_oldest(mem);
        self.release_channels(mem, u32::MAX);
    }

    /// Frees acked prefixes of the reliable channels in `mask`.
    pub(super) fn release_channels(&mut self, mem: &mut Mem<'_>, mask: u32) {
        for ch in 0..self.cfg.channels.len() {
            if mask & (1 << ch) != 0 && self.cfg.channels[ch].kind.is_reliable() {
                self.rel_send[ch].release_acked(mem.chans[ch].send_slots);
            }
        }
    }
}
