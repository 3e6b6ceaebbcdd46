//! A session's state and the table of sessions: the per-session record, its phase
//! ([`State`]), the index from flow to session, and the end of a session (`finish`,
//! `free_session`), which gives back its held segments, timer and hold slots.
//!
//! Owns no per-packet decision: starting a session is `admit`'s, what a phase does with a
//! segment is `hold`'s, `verdict`'s and `release`'s.

use super::Accumulator;
use crate::flow::wheel::{HasLinks, Links};
use crate::flow::{flag, FlowTable};
use crate::io::{Frame, Side};
use crate::tls::Deframer;

/// Bytes a session holds beyond `max_bytes`: record headers and the rest of the client's
/// first flight after the ClientHello.
pub(super) const HOLD_SLACK: u32 = 1024;

/// "No index": the end of a held-segment list, a free session's flow.
pub(super) const NIL: u32 = u32::MAX;

/// The hash of a flow index in the flow → session index.
#[inline]
pub(super) fn fhash(flow: u32) -> u64 {
    (flow as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// One accumulation session: a flow whose ClientHello is held, then released.
///
/// A free session (in `free_sessions`) has `flow == NIL`; its other fields are stale until
/// `admit` overwrites the whole record.
pub(super) struct Session {
    pub(super) flow: u32,
    /// Client sequence number of stream offset 0.
    pub(super) base: u32,
    /// First held segment (stream order), or NIL.
    pub(super) head: u32,
    /// Held segments in the list.
    pub(super) held: u16,
    /// Hold slots reserved from [`super::Capacity`] (the packet limit at the start).
    pub(super) slots: u16,
    /// Port the client is on.
    pub(super) client_side: Side,
    /// The client's address (IPv4 in the first 4 bytes), for the per-source count.
    pub(super) source: [u8; 16],
    /// The phase, with the fields only it uses.
    pub(super) state: State,
    pub(super) links: Links,
}

/// The phase of a session, with the fields meaningful in it.
pub(super) enum State {
    /// Holding the client's segments until the ClientHello is complete (or a budget, the
    /// hold timeout or shutdown ends it). The timer is the hold timeout.
    Accumulating(Accumulating),
    /// Released after the client was acknowledged on the server's behalf: the held
    /// segments stay referenced until the server acknowledges them, and are retransmitted
    /// on three duplicate ACKs or the timer (the retransmission timeout, with backoff).
    Releasing(Releasing),
}

/// What a session tracks while it holds: stream progress, budgets, the deframer.
pub(super) struct Accumulating {
    /// Bytes in order from `base`.
    pub(super) contiguous: u32,
    /// Stream bytes acknowledged to the client on the server's behalf.
    pub(super) acked: u32,
    /// Payload bytes of the held segments.
    pub(super) held_bytes: u32,
    /// Largest payload of a held segment (the client's segment size, for estimates).
    pub(super) seg_size: u16,
    /// TLS record deframing of the in-order bytes; its `max_bytes` is the session's byte
    /// budget (fixed at the start).
    pub(super) deframer: Deframer,
}

/// What a session tracks after release until the server has everything.
pub(super) struct Releasing {
    /// End of the released data (stream offset): an ACK at or past it ends the session.
    pub(super) released_end: u32,
    /// Last server ACK number seen.
    pub(super) last_ack: u32,
    /// Duplicate ACKs at `last_ack`.
    pub(super) dupacks: u8,
    /// Timer retransmissions since the last progress.
    pub(super) tries: u8,
    /// Current retransmission timeout (doubled per try).
    pub(super) rto_ms: u32,
}

impl Session {
    /// A never-used session slot.
    pub(super) fn empty() -> Session {
        Session {
            flow: NIL,
            base: 0,
            head: NIL,
            held: 0,
            slots: 0,
            client_side: Side::Client,
            source: [0; 16],
            state: State::Accumulating(Accumulating::new(0)),
            links: Links::default(),
        }
    }

    /// The accumulating phase's fields; None once released.
    #[inline]
    pub(super) fn accumulating(&self) -> Option<&Accumulating> {
        match &self.state {
            State::Accumulating(a) => Some(a),
            State::Releasing(_) => None,
        }
    }

    #[inline]
    pub(super) fn accumulating_mut(&mut self) -> Option<&mut Accumulating> {
        match &mut self.state {
            State::Accumulating(a) => Some(a),
            State::Releasing(_) => None,
        }
    }
}

impl Accumulating {
    /// Nothing held yet, a ClientHello of at most `max_bytes`.
    /// Stream bytes past what was acknowledged that the session will still hold: the byte
    /// budget (`max_bytes` and 1 KiB for record headers and the rest of the flight).
    pub(super) fn room(&self) -> u32 {
        (self.deframer.max_bytes() + HOLD_SLACK).saturating_sub(self.acked)
    }

    pub(super) fn new(max_bytes: u32) -> Accumulating {
        Accumulating {
            contiguous: 0,
            acked: 0,
            held_bytes: 0,
            seg_size: 0,
            deframer: Deframer::new(max_bytes),
        }
    }
}

/// The preallocated sessions (the timer wheel links through them).
pub(super) struct Sessions(pub(super) Vec<Session>);

impl HasLinks for Sessions {
    fn links(&mut self, idx: u32) -> &mut Links {
        &mut self.0[idx as usize].links
    }
}

impl<B: Frame> Accumulator<B> {
    /// The session of flow `flow`, if it has one.
    #[inline]
    pub(super) fn session_of(&self, flow: u32) -> Option<u32> {
        self.by_flow.find(fhash(flow), |e| e.0 == flow).map(|e| e.1)
    }

    /// The session is over (released and acknowledged, reset, or its flow ended).
    pub(super) fn finish(&mut self, flows: &mut FlowTable, sidx: u32) {
        let fidx = self.sessions.0[sidx as usize].flow;
        if fidx != NIL {
            let f = flows.get_mut(fidx);
            f.flags &= !flag::ACCUMULATING;
            // A decision was made: later client data of the session is never held again.
            f.set(flag::ACC_DONE);
            // A reset closed the session: age it by the closed state's timeout from now.
            flows.touch(fidx, self.now_ms);
        }
        self.free_session(sidx);
    }

    /// Give back a session's held segments, timer, index entry and hold slots.
    pub(super) fn free_session(&mut self, sidx: u32) {
        let sess = &mut self.sessions.0[sidx as usize];
        if sess.flow == NIL {
            return;
        }
        let fidx = sess.flow;
        let mut n = sess.head;
        let mut freed = 0;
        while n != NIL {
            let node = &mut self.nodes[n as usize];
            node.buf = None; // drops the mbuf reference
            let next = node.next;
            self.free_nodes.push(n);
            freed += 1;
            n = next;
        }
        let slots = sess.slots as u32;
        sess.head = NIL;
        sess.held = 0;
        sess.flow = NIL;
        self.wheel.unlink(&mut self.sessions, sidx);
        if let Ok(e) = self.by_flow.find_entry(fhash(fidx), |e| e.0 == fidx) {
            e.remove();
        }
        self.free_sessions.push(sidx);
        self.capacity.release(slots);
        let source = self.sessions.0[sidx as usize].source;
        if let Some(n) = self.by_source.get_mut(&source) {
            *n -= 1;
            if *n == 0 {
                self.by_source.remove(&source);
            }
        }
        let a = &self.counters.acc;
        a.held_packets
            .set(a.held_packets.get().saturating_sub(freed));
        a.sessions.set(a.sessions.get().saturating_sub(1));
    }
}
