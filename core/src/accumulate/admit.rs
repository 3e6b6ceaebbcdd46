//! Starting a session: whether a client segment's flow is held at all (accumulation on, an
//! inspected port, both handshake directions seen), reserving its hold slots from the shared
//! [`super::Capacity`], and what happens when none are left (`on_capacity`: bypass or reset)
//! or when the client already holds `per_source` sessions (reset).
//!
//! Owns the session's first state and its hold timer; it does not look at the segment's
//! payload (that is `hold`'s).

use super::release::reset_both;
use super::session::{Accumulating, Session, State, NIL};
use super::{session::fhash, Accumulator};
use crate::config::OnCapacity;
use crate::flow::wheel::Links;
use crate::flow::{flag, tick_of, EndReason, FlowTable};
use crate::io::{Frame, PacketIo, Side};
use crate::live::Live;
use crate::packet::{Headers, TcpInfo};

/// What to do with a client segment before it is held.
pub(super) enum Admit {
    /// Hold it in this session (existing or just started).
    Session(u32),
    /// Not the accumulator's: forward it.
    Forward,
    /// Taken (the session was reset on it): drop it.
    Taken,
}

impl<B: Frame> Accumulator<B> {
    /// The session for a client segment with payload on flow `fidx`, started if the flow
    /// qualifies and capacity allows. `base` is the client's next sequence number before
    /// this segment (the session's stream offset 0).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn admit<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        live: &Live,
        flows: &mut FlowTable,
        fidx: u32,
        from: Side,
        h: &Headers,
        t: &TcpInfo,
        buf: &B,
        base: u32,
    ) -> Admit {
        let f = flows.get_mut(fidx);
        // The flow's flag says whether a session exists: no lookup for the others.
        if f.has(flag::ACCUMULATING) {
            if let Some(s) = self.session_of(fidx) {
                return Admit::Session(s);
            }
        }
        if f.has(flag::ACC_DONE) || !live.accumulate {
            return Admit::Forward;
        }
        if !live.ports.contains(t.dst_port) {
            // Not an inspected port (the set changes only with a restart): decided.
            f.set(flag::ACC_DONE);
            return Admit::Forward;
        }
        if !f.has(flag::HANDSHAKE_BOTH) {
            // Acknowledging for a server we cannot see would cause ACK storms.
            f.set(flag::ACC_DONE);
            self.counters.acc.one_sided.inc();
            self.note(fidx, "one-sided", None);
            return Admit::Forward;
        }
        let source = h.src;
        if live.per_source > 0
            && self
                .by_source
                .get(&source)
                .is_some_and(|&n| n >= live.per_source)
        {
            // One client holding many sessions at once (a slowloris on the hold slots): its
            // new ones are reset, never bypassed, so the cap cannot buy uninspected hellos.
            self.counters.acc.per_source_refused.inc();
            reset_both(
                io,
                f,
                from,
                buf.data(),
                h,
                base,
                EndReason::AccumulationCapacity,
                &self.counters,
            );
            self.note(fidx, "per-source-limit", None);
            return Admit::Taken;
        }
        // A free session first: slots reserved without one would never be returned.
        if self.free_sessions.is_empty() || !self.capacity.reserve(live.packetlimit as u32) {
            match live.on_capacity {
                OnCapacity::Bypass => {
                    self.counters.acc.capacity_bypassed.inc();
                    f.set(flag::ACC_DONE);
                    self.note(fidx, "capacity-bypass", None);
                    return Admit::Forward;
                }
                OnCapacity::Reset => {
                    self.counters.acc.capacity_reset.inc();
                    reset_both(
                        io,
                        f,
                        from,
                        buf.data(),
                        h,
                        base,
                        EndReason::AccumulationCapacity,
                        &self.counters,
                    );
                    self.note(fidx, "capacity-reset", None);
                    return Admit::Taken;
                }
            }
        }
        let Some(s) = self.free_sessions.pop() else {
            return Admit::Forward;
        };
        self.sessions.0[s as usize] = Session {
            flow: fidx,
            base,
            head: NIL,
            held: 0,
            slots: live.packetlimit,
            client_side: from,
            source,
            state: State::Accumulating(Accumulating::new(live.max_bytes)),
            links: Links::default(),
        };
        self.by_flow
            .insert_unique(fhash(fidx), (fidx, s), |e| fhash(e.0));
        f.set(flag::ACCUMULATING);
        *self.by_source.entry(source).or_insert(0) += 1;
        self.wheel.arm(
            &mut self.sessions,
            s,
            tick_of(self.now_ms + live.hold_timeout_ms as u64),
        );
        self.counters.acc.started.inc();
        self.counters.acc.sessions.add(1);
        Admit::Session(s)
    }
}
