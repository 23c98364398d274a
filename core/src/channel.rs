//! Per-channel send and receive state for the four delivery modes.
//!
//! Reliable channels number messages with wrapping 16-bit ids and keep them in a window
//! of `W` slots. The sender copies each message into a byte ring at its *stream offset*
//! and frees bytes only when the contiguous prefix of messages is acked, so everything
//! unacked spans at most the ring's capacity. The receiver mirrors that ring: a message
//! is stored at the same offset modulo the same capacity, which always fits. A message is
//! accepted only if it ends within one capacity of the receiver's delivered watermark;
//! otherwise the packet carrying it is dropped unacked and the sender resends later. That
//! is the per-channel memory cap: a full buffer yields `Full` at the sender and
//! backpressure on the wire, never growth. The sender's ring and slots start again at
//! byte 0 and slot 0 whenever everything is acked (a rotation of the same mapping), so
//! a channel that carries a message or two at a time keeps touching the same memory.
//!
//! A message larger than one datagram is split into consecutive ids (fragments), which
//! are therefore contiguous in the stream and reassemble in place in the mirror.
//!
//! Unreliable channels keep only a message id counter (fragment group ids; the
//! sequenced mode drops anything not newer than the last delivered id); their fragments
//! are reassembled by [`crate::fragment`].

use bytemuck::{Pod, Zeroable};

use crate::config::MAX_FRAGMENTS;
use crate::queue::ByteQueue;
use crate::seq::{pos_diff, seq_diff};
use crate::time::Instant;

/// Why `send` refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The connection is closing or closed.
    NotConnected,
    /// No channel with that index.
    UnknownChannel,
    /// Larger than `Config::max_message`.
    Oversize,
    /// The channel's window or buffer (or the unreliable outbox) is full; try again after
    /// acks arrive.
    Full,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SendError::NotConnected => "connection is not open",
            SendError::UnknownChannel => "unknown channel",
            SendError::Oversize => "message larger than max_message",
            SendError::Full => "channel buffer full",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SendError {}

/// Sender slot states.
pub(crate) const S_EMPTY: u8 = 0;
pub(crate) const S_UNSENT: u8 = 1;
pub(crate) const S_IN_FLIGHT: u8 = 2;
pub(crate) const S_RESEND: u8 = 3;
pub(crate) const S_ACKED: u8 = 4;

/// One reliable message (or fragment) awaiting its ack.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub(crate) struct SendSlot {
    pub(crate) last_sent: u64,
    pub(crate) offset: u32,
    pub(crate) id: u16,
    pub(crate) len: u16,
    pub(crate) frag_index: u8,
    pub(crate) frag_count: u8,
    pub(crate) state: u8,
    pub(crate) _pad: u8,
    /// Sequence number of the newest packet carrying it: only that packet's loss
    /// triggers a resend.
    pub(crate) last_seq: u16,
    pub(crate) sends: u16,
}

/// Receiver slot states.
pub(crate) const R_EMPTY: u8 = 0;
pub(crate) const R_RECEIVED: u8 = 1;
pub(crate) const R_DELIVERED: u8 = 2;

/// One reliable message (or fragment) received but not yet released.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub(crate) struct RecvSlot {
    pub(crate) offset: u32,
    pub(crate) id: u16,
    pub(crate) len: u16,
    pub(crate) frag_index: u8,
    pub(crate) frag_count: u8,
    pub(crate) state: u8,
    pub(crate) _pad: u8,
}

/// Copies `data` into the ring `ring` at stream position `pos`, wrapping.
pub(crate) fn ring_write(ring: &mut [u8], pos: u32, data: &[u8]) {
    let cap = ring.len();
    if cap == 0 || data.is_empty() {
        return;
    }
    let at = pos as usize & (cap - 1);
    let first = data.len().min(cap - at);
    ring[at..at + first].copy_from_slice(&data[..first]);
    ring[..data.len() - first].copy_from_slice(&data[first..]);
}

/// The (up to two) pieces of `len` bytes at stream position `pos` in `ring`.
pub(crate) fn ring_read(ring: &[u8], pos: u32, len: usize) -> (&[u8], &[u8]) {
    let cap = ring.len();
    if cap == 0 || len == 0 {
        return (&[], &[]);
    }
    let at = pos as usize & (cap - 1);
    let first = len.min(cap - at);
    (&ring[at..at + first], &ring[..len - first])
}

/// Sending half of a reliable channel.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReliableSender {
    /// Id of the next message queued.
    pub(crate) next_id: u16,
    /// Oldest id not yet acked (== `next_id` when nothing is outstanding).
    pub(crate) oldest: u16,
    /// Oldest id never sent.
    pub(crate) next_unsent: u16,
    /// Stream position where the next message's bytes go.
    pub(crate) head: u32,
    /// Stream position of the oldest unacked byte.
    pub(crate) tail: u32,
    /// Slots in state `S_RESEND`.
    pub(crate) resend_pending: u32,
    /// The id in slot 0 and the stream position at ring byte 0, moved up to the next id
    /// and position whenever everything is acked. A channel sending a message or two per
    /// tick then reuses the same slot and the same few cache lines of its ring every
    /// tick, instead of walking the whole window and buffer (a cold line, and in the
    /// first pass a page fault, every few messages). Ids and positions on the wire are
    /// unchanged.
    base_id: u16,
    base_pos: u32,
}

impl ReliableSender {
    /// Index of message `id`'s slot among `w`.
    #[inline]
    pub(crate) fn slot_of(&self, id: u16, w: usize) -> usize {
        id.wrapping_sub(self.base_id) as usize & (w - 1)
    }

    /// Ring position of stream position `pos` (for [`ring_write`] and [`ring_read`]).
    #[inline]
    pub(crate) fn ring_pos(&self, pos: u32) -> u32 {
        pos.wrapping_sub(self.base_pos)
    }

    /// Queues `data`, split into fragments of at most `frag_payload` bytes if it is longer
    /// than `single_payload`.
    pub(crate) fn queue(
        &mut self,
        slots: &mut [SendSlot],
        ring: &mut [u8],
        data: &[u8],
        single_payload: usize,
        frag_payload: usize,
    ) -> Result<(), SendError> {
        let w = slots.len();
        let count = if data.len() <= single_payload { 1 } else { data.len().div_ceil(frag_payload) };
        if count > MAX_FRAGMENTS {
            return Err(SendError::Oversize);
        }
        let in_window = self.next_id.wrapping_sub(self.oldest) as usize;
        let in_ring = self.head.wrapping_sub(self.tail) as usize;
        if in_window + count > w || in_ring + data.len() > ring.len() {
            return Err(SendError::Full);
        }
        ring_write(ring, self.ring_pos(self.head), data);
        let mut offset = self.head;
        let mut rest = data.len();
        for i in 0..count {
            let len = if count == 1 { rest } else { rest.min(frag_payload) };
            let id = self.next_id;
            slots[self.slot_of(id, w)] = SendSlot {
                offset,
                id,
                len: len as u16,
                frag_index: if count == 1 { 0 } else { i as u8 },
                frag_count: if count == 1 { 0 } else { count as u8 },
                state: S_UNSENT,
                ..SendSlot::default()
            };
            self.next_id = id.wrapping_add(1);
            offset = offset.wrapping_add(len as u32);
            rest -= len;
        }
        self.head = offset;
        Ok(())
    }

    /// Marks the message `id` acked; returns whether it was outstanding.
    pub(crate) fn on_acked(&mut self, slots: &mut [SendSlot], id: u16) -> bool {
        let w = slots.len();
        let slot = &mut slots[self.slot_of(id, w)];
        if slot.id != id || !matches!(slot.state, S_IN_FLIGHT | S_RESEND) {
            return false;
        }
        if slot.state == S_RESEND {
            self.resend_pending -= 1;
        }
        slot.state = S_ACKED;
        true
    }

    /// Frees the acked prefix of the window.
    pub(crate) fn release_acked(&mut self, slots: &mut [SendSlot]) {
        let w = slots.len();
        'messages: while self.oldest != self.next_id {
            // Whole messages only: the receiver frees a fragmented message's slots and
            // bytes once it is complete, so a window moved past an acked first fragment
            // would reach past the receiver's, and a packet carrying the missing fragment
            // beside a message beyond that window would be refused whole, forever.
            let first = slots[self.slot_of(self.oldest, w)];
            let count =
                if first.frag_count == 0 { 1 } else { first.frag_count.saturating_sub(first.frag_index).max(1) };
            for i in 0..count as u16 {
                if slots[self.slot_of(self.oldest.wrapping_add(i), w)].state != S_ACKED {
                    break 'messages;
                }
            }
            for _ in 0..count {
                let slot = &mut slots[self.slot_of(self.oldest, w)];
                slot.state = S_EMPTY;
                self.tail = slot.offset.wrapping_add(slot.len as u32);
                self.oldest = self.oldest.wrapping_add(1);
            }
        }
        if self.oldest == self.next_id {
            self.tail = self.head;
            (self.base_id, self.base_pos) = (self.next_id, self.head);
        }
    }

    /// The packet `seq` carrying message `id` was lost: schedule a resend if that packet
    /// was its newest transmission and it is still unacked.
    pub(crate) fn on_lost(&mut self, slots: &mut [SendSlot], id: u16, seq: u16) {
        let w = slots.len();
        let slot = &mut slots[self.slot_of(id, w)];
        if slot.id == id && slot.state == S_IN_FLIGHT && slot.last_seq == seq {
            slot.state = S_RESEND;
            self.resend_pending += 1;
        }
    }

    /// Next message to transmit: the oldest resend, else the oldest never-sent message.
    pub(crate) fn next_to_send(&self, slots: &[SendSlot]) -> Option<u16> {
        let w = slots.len();
        if self.resend_pending > 0 {
            let mut id = self.oldest;
            while id != self.next_unsent {
                if slots[self.slot_of(id, w)].state == S_RESEND {
                    return Some(id);
                }
                id = id.wrapping_add(1);
            }
        }
        (self.next_unsent != self.next_id).then_some(self.next_unsent)
    }

    /// Records that `id` went out in packet `seq`; returns whether it was a resend.
    pub(crate) fn on_sent(&mut self, slots: &mut [SendSlot], id: u16, seq: u16, now: Instant) -> bool {
        let w = slots.len();
        let slot = &mut slots[self.slot_of(id, w)];
        let resend = slot.state == S_RESEND;
        if resend {
            self.resend_pending -= 1;
        }
        slot.state = S_IN_FLIGHT;
        slot.last_seq = seq;
        slot.last_sent = now.as_micros();
        slot.sends = slot.sends.saturating_add(1);
        if id == self.next_unsent {
            self.next_unsent = id.wrapping_add(1);
        }
        resend
    }

    /// Whether the window is full: another message of `single` bytes would be refused.
    pub(crate) fn window_full(&self, slots: &[SendSlot], ring: &[u8], single: usize) -> bool {
        self.next_id.wrapping_sub(self.oldest) as usize >= slots.len()
            || self.head.wrapping_sub(self.tail) as usize + single > ring.len()
    }

    /// Whether anything waits to be sent.
    pub(crate) fn has_pending(&self) -> bool {
        self.resend_pending > 0 || self.next_unsent != self.next_id
    }

    /// Whether every queued message was acked.
    pub(crate) fn is_idle(&self) -> bool {
        self.oldest == self.next_id
    }
}

/// Why a received reliable frame cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvCheck {
    /// New and storable.
    Store,
    /// Already received: ignore it, but the packet is fine.
    Duplicate,
    /// Beyond the window or the buffer: drop the packet unacked; the sender resends.
    NoRoom,
    /// Impossible for an honest sender.
    Violation,
}

/// Receiving half of a reliable channel.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReliableReceiver {
    /// Oldest id not yet delivered (ordered), or not yet released (unordered).
    pub(crate) next: u16,
    /// Stream position before which no bytes are needed any more.
    pub(crate) watermark: u32,
    /// Newest id stored.
    pub(crate) highest: u16,
    /// Slots in state `R_RECEIVED`.
    pub(crate) pending: u32,
    /// Slots in state `R_DELIVERED` (unordered messages delivered ahead of a gap wait
    /// there until `next` reaches them).
    pub(crate) unreleased: u32,
}

/// A reliable frame's fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReliableFrame<'a> {
    pub(crate) id: u16,
    pub(crate) offset: u32,
    pub(crate) frag_index: u8,
    pub(crate) frag_count: u8,
    pub(crate) data: &'a [u8],
}

impl ReliableReceiver {
    pub(crate) fn check(&self, slots: &[RecvSlot], cap: usize, f: &ReliableFrame<'_>, max_frame: usize) -> RecvCheck {
        let w = slots.len();
        let rel = seq_diff(f.id, self.next);
        if rel < 0 {
            return RecvCheck::Duplicate;
        }
        if f.data.len() > max_frame {
            return RecvCheck::Violation;
        }
        if rel as usize >= w {
            return RecvCheck::NoRoom;
        }
        // An idle receiver's slots are all empty: only a busy one can hold a duplicate
        // (and a message a tick needs no read of a slot gone cold since the last).
        if !self.is_idle() {
            let slot = &slots[f.id as usize & (w - 1)];
            if slot.id == f.id && slot.state != R_EMPTY {
                return RecvCheck::Duplicate;
            }
        }
        let start = pos_diff(f.offset, self.watermark);
        if start < 0 {
            return RecvCheck::Violation;
        }
        if start as usize + f.data.len() > cap {
            return RecvCheck::NoRoom;
        }
        RecvCheck::Store
    }

    pub(crate) fn store(&mut self, slots: &mut [RecvSlot], ring: &mut [u8], f: &ReliableFrame<'_>) {
        let w = slots.len();
        ring_write(ring, f.offset, f.data);
        slots[f.id as usize & (w - 1)] = RecvSlot {
            offset: f.offset,
            id: f.id,
            len: f.data.len() as u16,
            frag_index: f.frag_index,
            frag_count: f.frag_count,
            state: R_RECEIVED,
            _pad: 0,
        };
        if self.pending == 0 || seq_diff(f.id, self.highest) > 0 {
            self.highest = f.id;
        }
        self.pending += 1;
    }

    /// Total length of the complete message starting at `first`, if all its fragments
    /// arrived. `Err` if the stored fragments contradict each other.
    fn complete_len(&self, slots: &[RecvSlot], first: u16, max_message: usize) -> Result<Option<usize>, ()> {
        let w = slots.len();
        let s0 = slots[first as usize & (w - 1)];
        if s0.id != first || s0.state != R_RECEIVED {
            return Ok(None);
        }
        if s0.frag_count == 0 {
            return Ok(Some(s0.len as usize));
        }
        if s0.frag_index != 0 {
            return Err(());
        }
        let count = s0.frag_count as usize;
        let mut total = 0usize;
        let mut expect = s0.offset;
        for i in 0..count {
            let id = first.wrapping_add(i as u16);
            if seq_diff(id, self.next) as usize >= w {
                return Err(());
            }
            let s = slots[id as usize & (w - 1)];
            if s.id != id || s.state != R_RECEIVED {
                return Ok(None);
            }
            if s.frag_count as usize != count || s.frag_index as usize != i || s.offset != expect {
                return Err(());
            }
            total += s.len as usize;
            expect = expect.wrapping_add(s.len as u32);
        }
        if total > max_message {
            return Err(());
        }
        Ok(Some(total))
    }

    /// Moves deliverable messages into the inbox. Stops when the inbox is full.
    /// `Err` on a protocol violation.
    #[allow(clippy::too_many_arguments)] // disjoint borrows of one connection's regions
    pub(crate) fn deliver(
        &mut self,
        ordered: bool,
        channel: u8,
        slots: &mut [RecvSlot],
        ring: &[u8],
        inbox_q: &mut ByteQueue,
        inbox: &mut [u8],
        max_message: usize,
        delivered: &mut u64,
    ) -> Result<(), ()> {
        let w = slots.len();
        if self.pending == 0 {
            return Ok(());
        }
        let mut id = self.next;
        let end = self.highest.wrapping_add(1);
        // `<` rather than `!=`: a fragment group's span can step past `end`.
        while seq_diff(id, end) < 0 && self.pending > 0 {
            let s0 = slots[id as usize & (w - 1)];
            let here = s0.id == id && s0.state == R_RECEIVED;
            let span = if !here || s0.frag_count == 0 { 1 } else { s0.frag_count as u16 };
            let ready = if here {
                if s0.frag_count != 0 && s0.frag_index != 0 {
                    // A middle fragment: its group starts earlier and was handled there.
                    if ordered {
                        self.release(slots);
                        return Ok(());
                    }
                    id = id.wrapping_add(1);
                    continue;
                }
                self.complete_len(slots, id, max_message)?
            } else {
                None
            };
            match ready {
                Some(total) => {
                    let Some(body) = inbox_q.push(inbox, total + 1) else {
                        // What was delivered before the inbox filled frees its slots now,
                        // not at the next delivery (which would find them first and stop).
                        self.release(slots);
                        return Ok(());
                    };
                    body[0] = channel;
                    let (a, b) = ring_read(ring, s0.offset, total);
                    body[1..1 + a.len()].copy_from_slice(a);
                    body[1 + a.len()..].copy_from_slice(b);
                    *delivered += 1;
                    for i in 0..span {
                        slots[id.wrapping_add(i) as usize & (w - 1)].state = R_DELIVERED;
                    }
                    self.pending -= span as u32;
                    self.unreleased += span as u32;
                }
                None if ordered => break,
                None => {}
            }
            id = id.wrapping_add(span);
        }
        self.release(slots);
        Ok(())
    }

    /// Advances `next` over delivered slots, moving the watermark.
    fn release(&mut self, slots: &mut [RecvSlot]) {
        let w = slots.len();
        loop {
            let s = &mut slots[self.next as usize & (w - 1)];
            if s.id != self.next || s.state != R_DELIVERED {
                break;
            }
            s.state = R_EMPTY;
            self.unreleased -= 1;
            self.watermark = s.offset.wrapping_add(s.len as u32);
            self.next = self.next.wrapping_add(1);
        }
    }

    /// Whether nothing is stored: every slot is empty.
    pub(crate) fn is_idle(&self) -> bool {
        self.pending == 0 && self.unreleased == 0
    }

    /// Fast path: if `f` is exactly the next message, unfragmented, and the receiver is
    /// idle, delivers it straight into the inbox. Returns false where it does not apply
    /// or the inbox is full; the caller then stores it. Only an idle receiver may skip
    /// the slots: an unordered one with messages delivered ahead of this one must release
    /// them as the window moves.
    pub(crate) fn deliver_direct(
        &mut self,
        channel: u8,
        f: &ReliableFrame<'_>,
        inbox_q: &mut ByteQueue,
        inbox: &mut [u8],
    ) -> bool {
        if f.frag_count != 0 || f.id != self.next || !self.is_idle() {
            return false;
        }
        let Some(body) = inbox_q.push(inbox, f.data.len() + 1) else { return false };
        body[0] = channel;
        body[1..].copy_from_slice(f.data);
        self.next = f.id.wrapping_add(1);
        self.watermark = f.offset.wrapping_add(f.data.len() as u32);
        true
    }
}

/// State of an unreliable channel.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UnreliableState {
    /// Next message id to send.
    pub(crate) next_id: u16,
    /// Newest id delivered (sequenced mode).
    pub(crate) last_delivered: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: u16, offset: u32, data: &[u8]) -> ReliableFrame<'_> {
        ReliableFrame { id, offset, frag_index: 0, frag_count: 0, data }
    }

    #[test]
    fn sender_window_and_buffer_caps() {
        let mut slots = [SendSlot::default(); 4];
        let mut ring = [0u8; 16];
        let mut s = ReliableSender::default();
        assert_eq!(s.queue(&mut slots, &mut ring, &[1; 10], 100, 100), Ok(()));
        assert_eq!(s.queue(&mut slots, &mut ring, &[2; 7], 100, 100), Err(SendError::Full));
        for _ in 0..3 {
            s.queue(&mut slots, &mut ring, &[9], 100, 100).unwrap();
        }
        assert_eq!(s.queue(&mut slots, &mut ring, &[], 100, 100), Err(SendError::Full));
        // Ack out of order: only the contiguous prefix frees.
        for id in 0..4 {
            assert_eq!(s.next_to_send(&slots), Some(id));
            s.on_sent(&mut slots, id, id, Instant::ZERO);
        }
        assert_eq!(s.next_to_send(&slots), None);
        assert!(s.on_acked(&mut slots, 1));
        s.release_acked(&mut slots);
        assert_eq!(s.oldest, 0);
        assert!(s.on_acked(&mut slots, 0));
        assert!(!s.on_acked(&mut slots, 0));
        s.release_acked(&mut slots);
        assert_eq!((s.oldest, s.tail), (2, 11));
        // Messages 2 and 3 still hold two bytes of the ring.
        assert_eq!(s.queue(&mut slots, &mut ring, &[3; 15], 100, 100), Err(SendError::Full));
        s.on_acked(&mut slots, 2);
        s.on_acked(&mut slots, 3);
        s.release_acked(&mut slots);
        assert_eq!(s.queue(&mut slots, &mut ring, &[3; 16], 100, 100), Ok(()));
    }

    /// Once everything is acked the next message goes to slot 0 and ring byte 0 again
    /// (while anything is outstanding, messages keep following each other).
    #[test]
    fn an_idle_sender_starts_again_at_its_first_slot_and_byte() {
        let mut slots = [SendSlot::default(); 4];
        let mut ring = [0u8; 16];
        let mut s = ReliableSender::default();
        s.queue(&mut slots, &mut ring, b"ab", 100, 100).unwrap();
        s.queue(&mut slots, &mut ring, b"c", 100, 100).unwrap();
        for id in 0..2 {
            s.on_sent(&mut slots, id, id, Instant::ZERO);
        }
        assert!(s.on_acked(&mut slots, 0));
        s.release_acked(&mut slots);
        // Message 1 is outstanding: the next one follows it.
        assert_eq!((s.slot_of(2, 4), s.ring_pos(s.head)), (2, 3));
        assert!(s.on_acked(&mut slots, 1));
        s.release_acked(&mut slots);
        s.queue(&mut slots, &mut ring, b"xyz", 100, 100).unwrap();
        assert_eq!((s.next_to_send(&slots), slots[0].id, slots[0].offset), (Some(2), 2, 3));
        assert_eq!(&ring[..3], b"xyz");
        s.on_sent(&mut slots, 2, 2, Instant::ZERO);
        // A stale ack for an id released earlier finds another id in its slot.
        assert!(!s.on_acked(&mut slots, 0));
        assert!(s.on_acked(&mut slots, 2));
    }

    #[test]
    fn only_the_newest_transmission_counts_as_lost() {
        let mut slots = [SendSlot::default(); 4];
        let mut ring = [0u8; 16];
        let mut s = ReliableSender::default();
        s.queue(&mut slots, &mut ring, b"x", 100, 100).unwrap();
        s.on_sent(&mut slots, 0, 10, Instant::ZERO);
        s.on_lost(&mut slots, 0, 10);
        assert_eq!(s.next_to_send(&slots), Some(0));
        assert!(s.on_sent(&mut slots, 0, 11, Instant::ZERO));
        s.on_lost(&mut slots, 0, 10);
        assert_eq!(s.resend_pending, 0);
        s.on_lost(&mut slots, 0, 11);
        assert_eq!(s.resend_pending, 1);
        assert!(s.on_acked(&mut slots, 0));
        assert_eq!(s.resend_pending, 0);
    }

    #[test]
    fn fragments_are_consecutive_and_contiguous() {
        let mut slots = [SendSlot::default(); 8];
        let mut ring = [0u8; 64];
        let mut s = ReliableSender::default();
        let data: [u8; 25] = core::array::from_fn(|i| i as u8);
        s.queue(&mut slots, &mut ring, &data, 8, 10).unwrap();
        let got: heapless::Vec<(u32, u16, u8, u8), 4> =
            slots[..3].iter().map(|x| (x.offset, x.len, x.frag_index, x.frag_count)).collect();
        assert_eq!(&got[..], &[(0, 10, 0, 3), (10, 10, 1, 3), (20, 5, 2, 3)]);
        let big = [0u8; 10 * 65];
        assert_eq!(s.queue(&mut slots, &mut [0u8; 1024], &big, 8, 10), Err(SendError::Oversize));
    }

    #[test]
    fn receiver_orders_and_caps() {
        let mut slots = [RecvSlot::default(); 4];
        let mut ring = [0u8; 16];
        let mut inbox = [0u8; 64];
        let mut q = ByteQueue::new();
        let mut r = ReliableReceiver::default();
        let mut n = 0;
        let f1 = frame(1, 4, b"bbbb");
        assert_eq!(r.check(&slots, 16, &f1, 100), RecvCheck::Store);
        r.store(&mut slots, &mut ring, &f1);
        assert_eq!(r.check(&slots, 16, &f1, 100), RecvCheck::Duplicate);
        r.deliver(true, 0, &mut slots, &ring, &mut q, &mut inbox, 1000, &mut n).unwrap();
        assert_eq!(n, 0);
        // Beyond the window, beyond the buffer.
        assert_eq!(r.check(&slots, 16, &frame(4, 8, b""), 100), RecvCheck::NoRoom);
        assert_eq!(r.check(&slots, 16, &frame(2, 8, &[0; 9]), 100), RecvCheck::NoRoom);
        let f0 = frame(0, 0, b"aaaa");
        r.store(&mut slots, &mut ring, &f0);
        r.deliver(true, 7, &mut slots, &ring, &mut q, &mut inbox, 1000, &mut n).unwrap();
        assert_eq!(n, 2);
        assert_eq!(q.front(&inbox), Some(&b"\x07aaaa"[..]));
        q.pop(&inbox);
        assert_eq!(q.front(&inbox), Some(&b"\x07bbbb"[..]));
        assert_eq!((r.next, r.watermark), (2, 8));
        assert_eq!(r.check(&slots, 16, &f0, 100), RecvCheck::Duplicate);
        // An offset behind the watermark for a new id is impossible.
        assert_eq!(r.check(&slots, 16, &frame(2, 3, b"x"), 100), RecvCheck::Violation);
    }

    /// A fragmented message leaves the window only once every fragment is acked: the
    /// receiver frees its slots only then, and a window that ran ahead of the receiver's
    /// could send what the receiver must refuse.
    #[test]
    fn a_fragmented_message_leaves_the_window_whole() {
        let mut slots = [SendSlot::default(); 4];
        let mut ring = [0u8; 64];
        let mut s = ReliableSender::default();
        // Three fragments of at most 4 bytes, then a small message.
        s.queue(&mut slots, &mut ring, &[1; 10], 4, 4).unwrap();
        s.queue(&mut slots, &mut ring, &[2], 4, 4).unwrap();
        for id in 0..4 {
            s.on_sent(&mut slots, id, id, Instant::ZERO);
        }
        assert!(s.on_acked(&mut slots, 0));
        s.release_acked(&mut slots);
        assert_eq!((s.oldest, s.tail), (0, 0), "released the first fragment alone");
        assert_eq!(s.queue(&mut slots, &mut ring, &[3], 4, 4), Err(SendError::Full));
        assert!(s.on_acked(&mut slots, 2));
        assert!(s.on_acked(&mut slots, 1));
        s.release_acked(&mut slots);
        assert_eq!((s.oldest, s.tail), (3, 10));
        assert_eq!(s.queue(&mut slots, &mut ring, &[3], 4, 4), Ok(()));
    }

    /// An idle receiver (nothing stored, nothing held) reads no slot to find duplicates:
    /// none can be stored, and the slot is a cold line on a connection's every message.
    /// So slot contents it never wrote (here, a stale record for the very id) do not
    /// make a new message a duplicate; a busy receiver still finds its stored ones.
    #[test]
    fn an_idle_receiver_takes_the_next_message_without_reading_its_slot() {
        let stale = RecvSlot { id: 3, state: R_RECEIVED, ..RecvSlot::default() };
        let mut slots = [stale; 4];
        let mut ring = [0u8; 16];
        let mut r = ReliableReceiver { next: 3, watermark: 12, ..ReliableReceiver::default() };
        assert!(r.is_idle());
        let f3 = frame(3, 12, b"x");
        assert_eq!(r.check(&slots, 16, &f3, 100), RecvCheck::Store);
        let f4 = frame(4, 13, b"y");
        r.store(&mut slots, &mut ring, &f4);
        assert_eq!(r.check(&slots, 16, &f4, 100), RecvCheck::Duplicate);
        assert_eq!(r.check(&slots, 16, &frame(2, 11, b"z"), 100), RecvCheck::Duplicate);
    }

    /// An ordered delivery stopped by a full inbox releases what it delivered: the window
    /// moves on at once, and the next delivery starts at the first undelivered message.
    #[test]
    fn a_delivery_stopped_by_a_full_inbox_releases_what_it_delivered() {
        let mut slots = [RecvSlot::default(); 4];
        let mut ring = [0u8; 16];
        // Room for one record of a channel byte and four bytes (and its prefix).
        let mut inbox = [0u8; 10];
        let mut q = ByteQueue::new();
        let mut r = ReliableReceiver::default();
        let mut n = 0;
        let f1 = frame(1, 4, b"bbbb");
        r.store(&mut slots, &mut ring, &f1);
        r.store(&mut slots, &mut ring, &frame(0, 0, b"aaaa"));
        r.deliver(true, 0, &mut slots, &ring, &mut q, &mut inbox, 1000, &mut n).unwrap();
        assert_eq!((n, r.next, r.pending, r.unreleased), (1, 1, 1, 0));
        // Message 4 fits the window counted from the released position.
        assert_eq!(r.check(&slots, 16, &frame(4, 8, b""), 100), RecvCheck::Store);
        q.pop(&inbox);
        r.deliver(true, 0, &mut slots, &ring, &mut q, &mut inbox, 1000, &mut n).unwrap();
        assert_eq!((n, r.next, r.pending, r.unreleased), (2, 2, 0, 0));
        assert_eq!(q.front(&inbox), Some(&b"\x00bbbb"[..]));
    }

    #[test]
    fn unordered_delivers_gaps_and_reassembles_fragments() {
        let mut slots = [RecvSlot::default(); 8];
        let mut ring = [0u8; 32];
        let mut inbox = [0u8; 128];
        let mut q = ByteQueue::new();
        let mut r = ReliableReceiver::default();
        let mut n = 0;
        // Message 0 missing; fragments 1..=2 form one message; 3 single.
        let fr = |id, off, idx, data| ReliableFrame { id, offset: off, frag_index: idx, frag_count: 2, data };
        r.store(&mut slots, &mut ring, &fr(2, 5, 1, &b"cd"[..]));
        r.store(&mut slots, &mut ring, &frame(3, 7, b"e"));
        r.deliver(false, 1, &mut slots, &ring, &mut q, &mut inbox, 1000, &mut n).unwrap();
        assert_eq!(n, 1);
        r.store(&mut slots, &mut ring, &fr(1, 3, 0, &b"ab"[..]));
        r.deliver(false, 1, &mut slots, &ring, &mut q, &mut inbox, 1000, &mut n).unwrap();
        assert_eq!(n, 2);
        q.pop(&inbox);
        assert_eq!(q.front(&inbox), Some(&b"\x01abcd"[..]));
        assert_eq!(r.next, 0);
        r.store(&mut slots, &mut ring, &frame(0, 0, b"zzz"));
        r.deliver(false, 1, &mut slots, &ring, &mut q, &mut inbox, 1000, &mut n).unwrap();
        assert_eq!((n, r.next, r.watermark, r.pending), (3, 4, 8, 0));
    }
}
