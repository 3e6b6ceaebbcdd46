//! The held-segment list of an accumulating session: which client segments are new (not a
//! retransmission of bytes already in order or held, not an overlap that disagrees with
//! what is held), their insertion in sequence order, and the ACKs sent to the client on the
//! server's behalf for in-order bytes.
//!
//! Owns the node pool's list operations while holding. It makes no decision about the
//! ClientHello or the budgets (that is `verdict`'s) and sends nothing to the server (that is
//! `release`'s).

use super::craft::{self, emit_segment};
use super::session::NIL;
use super::Accumulator;
use crate::counters::WorkerCounters;
use crate::flow::{Dir, Flow, FlowTable};
use crate::io::{Frame, PacketIo, Side};
use crate::packet::{Headers, TcpInfo};

/// One held segment (a node of a session's list, sorted by sequence).
pub(super) struct Node<B> {
    pub(super) buf: Option<B>,
    /// Offset of the first payload byte in the session's stream.
    pub(super) off: u32,
    pub(super) len: u16,
    /// Offset of the payload in the frame.
    pub(super) pay: u16,
    pub(super) next: u32,
}

impl<B> Node<B> {
    /// An unused node.
    pub(super) fn empty() -> Node<B> {
        Node {
            buf: None,
            off: 0,
            len: 0,
            pay: 0,
            next: NIL,
        }
    }
}

/// Where a new client segment goes in its session's stream.
#[derive(Clone, Copy)]
pub(super) struct Seg {
    /// Stream offset of its first payload byte.
    pub(super) off: u32,
    /// Payload length.
    pub(super) len: u32,
    /// Offset of the payload in the frame.
    pub(super) pay: u16,
}

/// What a client segment of an existing session is, before the budgets.
pub(super) enum Screen {
    /// New bytes: hold it (budgets permitting).
    New(Seg),
    /// Not the accumulator's (after release, or before the stream start): forward it.
    Forward,
    /// A duplicate (re-ACKed if needed) or a mismatching overlap: drop it.
    Drop,
}

impl<B: Frame> Accumulator<B> {
    /// Classify a client segment of session `sidx`: new bytes, not ours, or to drop.
    #[inline]
    pub(super) fn screen<P: PacketIo<Buf = B>>(
        &self,
        io: &mut P,
        flows: &FlowTable,
        sidx: u32,
        h: &Headers,
        t: &TcpInfo,
        buf: &B,
    ) -> Screen {
        let sess = &self.sessions.0[sidx as usize];
        let Some(a) = sess.accumulating() else {
            return Screen::Forward; // new data after the ClientHello: not ours to hold
        };
        let off = t.seq.wrapping_sub(sess.base);
        let len = t.payload_len as u32;
        if off > u32::MAX / 2 {
            return Screen::Forward; // before the stream start: not ours
        }
        let end = off.wrapping_add(len);
        // A retransmission of bytes already in order or already held: free it, re-ACK.
        if end <= a.contiguous || self.covered(sess.head, off, end) {
            self.counters.acc.duplicates_freed.inc();
            if a.acked > 0 && end <= a.acked {
                // The client did not get our ACK: say it again.
                let ack = sess.base.wrapping_add(a.acked);
                let f = flows.get(sess.flow);
                let room = a.room();
                let (tpl, side) = (buf.data(), sess.client_side);
                send_ack(io, f, side, ack, room, tpl, h, &self.counters);
            }
            return Screen::Drop;
        }
        // Overlapping bytes must match what is held: otherwise what we inspect and what the
        // server reassembles could differ (an evasion). The held copy wins; this one is dropped.
        // The TCP payload only: a short frame's Ethernet padding is not the client's data.
        if self.overlap_mismatch(sess.head, off, h.tcp_payload(buf.data()).unwrap_or(&[])) {
            self.counters.acc.overlap_mismatch.inc();
            return Screen::Drop;
        }
        Screen::New(Seg {
            off,
            len,
            pay: t.payload_offset,
        })
    }

    /// Hold `buf` (screened as `seg`) in session `sidx`, in sequence order. Returns its node,
    /// or the frame back when no node is free.
    #[inline]
    pub(super) fn hold(&mut self, sidx: u32, seg: Seg, buf: B) -> Result<u32, B> {
        let Some(n) = self.free_nodes.pop() else {
            // Cannot happen: nodes = pool_packets ≥ slots reserved. Pass rather than lose.
            return Err(buf);
        };
        self.nodes[n as usize] = Node {
            buf: Some(buf),
            off: seg.off,
            len: seg.len as u16,
            pay: seg.pay,
            next: NIL,
        };
        self.link_sorted(sidx, n);
        let sess = &mut self.sessions.0[sidx as usize];
        sess.held += 1;
        if let Some(a) = sess.accumulating_mut() {
            a.held_bytes += seg.len;
            a.seg_size = a.seg_size.max(seg.len as u16);
        }
        self.counters.acc.held_packets.add(1);
        Ok(n)
    }

    /// After the deframer took the new in-order bytes and wants more: acknowledge them to
    /// the client on the server's behalf, with the segment just held (node `n`, headers `h`)
    /// as the template.
    #[inline]
    pub(super) fn ack_in_order<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        flows: &FlowTable,
        sidx: u32,
        n: u32,
        h: &Headers,
    ) {
        let sess = &mut self.sessions.0[sidx as usize];
        let (base, client_side, fidx) = (sess.base, sess.client_side, sess.flow);
        let Some(a) = sess.accumulating_mut() else {
            return;
        };
        if a.contiguous > a.acked {
            a.acked = a.contiguous;
            let ack = base.wrapping_add(a.acked);
            let room = a.room();
            if let Some(b) = self.nodes[n as usize].buf.as_ref() {
                let f = flows.get(fidx);
                send_ack(io, f, client_side, ack, room, b.data(), h, &self.counters);
            }
        }
    }

    /// Whether [off, end) is entirely inside one held segment of the list at `head`.
    fn covered(&self, head: u32, off: u32, end: u32) -> bool {
        let mut n = head;
        while n != NIL {
            let node = &self.nodes[n as usize];
            if node.off <= off && node.off + node.len as u32 >= end {
                return true;
            }
            if node.off > off {
                return false;
            }
            n = node.next;
        }
        false
    }

    /// Whether `payload` at stream offset `off` disagrees with any held byte it overlaps in
    /// the list at `head`.
    fn overlap_mismatch(&self, head: u32, off: u32, payload: &[u8]) -> bool {
        let end = off + payload.len() as u32;
        let mut n = head;
        while n != NIL {
            let node = &self.nodes[n as usize];
            let (a, b) = (node.off.max(off), (node.off + node.len as u32).min(end));
            if a < b {
                if let Some(held) = node.buf.as_ref().and_then(|h| {
                    let p = node.pay as usize + (a - node.off) as usize;
                    h.data().get(p..p + (b - a) as usize)
                }) {
                    let new = &payload[(a - off) as usize..(b - off) as usize];
                    if held != new {
                        return true;
                    }
                }
            }
            if node.off >= end {
                break;
            }
            n = node.next;
        }
        false
    }

    /// Insert node `n` into session `sidx`'s list, after the held segments that start at or
    /// before it.
    fn link_sorted(&mut self, sidx: u32, n: u32) {
        let off = self.nodes[n as usize].off;
        let head = self.sessions.0[sidx as usize].head;
        if head == NIL || self.nodes[head as usize].off > off {
            self.nodes[n as usize].next = head;
            self.sessions.0[sidx as usize].head = n;
            return;
        }
        let mut p = head;
        loop {
            let next = self.nodes[p as usize].next;
            if next == NIL || self.nodes[next as usize].off > off {
                self.nodes[n as usize].next = next;
                self.nodes[p as usize].next = n;
                return;
            }
            p = next;
        }
    }
}

/// The window field of an ACK sent on the server's behalf, so that the client may send no more
/// than `room` bytes (what the session will still accept) nor more than the server offered.
/// The server's last window field may be its SYN-ACK's, which is not scaled, or a later one,
/// which is: the field itself is the smaller reading of the two, so it is the bound taken.
/// The client scales what it reads by the server's shift when both SYNs announced scaling
/// (RFC 7323), so the field is the bytes shifted down by it.
pub(super) fn ack_window(f: &Flow, room: u32) -> u16 {
    let server = &f.dir[Dir::FromServer.index()];
    let bytes = room.min(u32::from(server.window));
    let shift = crate::flow::tcp::wscale_shift(f, Dir::FromServer);
    (bytes >> shift).min(u32::from(u16::MAX)) as u16
}

/// ACK stream bytes up to `ack` (a client sequence number) to the client on the server's
/// behalf: the server's sequence number and timestamp as last seen, and a window of at most
/// `room` bytes ([`ack_window`]). `tpl` is a client→server frame, `client_side` the port the
/// client is on.
#[allow(clippy::too_many_arguments)]
fn send_ack<P: PacketIo>(
    io: &mut P,
    f: &Flow,
    client_side: Side,
    ack: u32,
    room: u32,
    tpl: &[u8],
    h: &Headers,
    counters: &WorkerCounters,
) {
    let server = &f.dir[Dir::FromServer.index()];
    let client = &f.dir[Dir::FromClient.index()];
    let uses_ts = h.tcp().is_some_and(|t| t.timestamps.is_some());
    let seg = craft::Segment {
        reverse: true,
        seq: server.next_seq,
        ack,
        flags: craft::ACK,
        window: ack_window(f, room),
        timestamps: uses_ts.then_some((server.ts_val, client.ts_val)),
    };
    if emit_segment(io, client_side, tpl, h, &seg, counters) {
        counters.acc.acks_sent.inc();
    }
}
