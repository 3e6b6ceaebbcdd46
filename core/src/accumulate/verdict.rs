//! Judging an accumulating session: feeding its in-order bytes to the TLS deframer, parsing
//! the complete ClientHello and applying the policy, and the budgets (`packetlimit`,
//! `max_bytes`, the hold timeout) with what `on_limit` says to do when one is exceeded.
//!
//! Owns the decision only: the held list is `hold`'s, and the decision is carried out by
//! `release` (release in order, or reset both ways).

use super::release::reset_both;
use super::session::{HOLD_SLACK, NIL};
use super::Accumulator;
use crate::config::{OnLimit, OnUnparsable, PACKETLIMIT_MAX};
use crate::flow::{flag, EndReason, FlowTable};
use crate::io::{Frame, PacketIo};
use crate::live::Live;
use crate::packet::Headers;
use crate::policy::Action;
use crate::record::hello_summary;
use crate::tls::{self, Verdict};

/// Why a session stops accumulating without a normal verdict.
#[derive(Clone, Copy, Debug)]
pub(super) enum Budget {
    Packets(u32),
    Bytes(u32),
    Timeout,
}

impl<B: Frame> Accumulator<B> {
    /// Whether holding `len` more payload bytes in session `sidx` exceeds its budgets:
    /// distinct held segments, and bytes (counted).
    #[inline]
    pub(super) fn exceeds_budget(&self, sidx: u32, len: u32) -> Option<Budget> {
        let sess = &self.sessions.0[sidx as usize];
        let a = sess.accumulating()?;
        if sess.held >= sess.slots {
            self.counters.acc.limit_packets.inc();
            return Some(Budget::Packets(sess.held as u32 + 1));
        }
        // The session's own limit (`max_bytes` may have changed since it started).
        if a.held_bytes + len > a.deframer.max_bytes() + HOLD_SLACK {
            self.counters.acc.limit_bytes.inc();
            return Some(Budget::Bytes(a.held_bytes + len));
        }
        None
    }

    /// A segment was just held (node `n`, headers `h`): feed the new in-order bytes to the
    /// deframer and act on its verdict (acknowledge and wait, judge, or give up).
    pub(super) fn judge<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        live: &Live,
        flows: &mut FlowTable,
        sidx: u32,
        n: u32,
        h: &Headers,
    ) {
        let fidx = self.sessions.0[sidx as usize].flow;
        let verdict = self.advance(sidx);
        match verdict {
            Verdict::NeedMore => self.ack_in_order(io, flows, sidx, n, h),
            Verdict::Complete(span) => self.complete(io, live, flows, sidx, span),
            Verdict::NotTls | Verdict::Sslv2 => {
                self.counters.acc.non_tls.inc();
                let result = if matches!(verdict, Verdict::Sslv2) {
                    "sslv2"
                } else {
                    "non-tls"
                };
                self.note(fidx, result, None);
                flows.get_mut(fidx).set(flag::ACC_DONE);
                self.release(io, flows, sidx, live, false, false);
            }
            Verdict::Malformed(m) => {
                self.counters.acc.parse_errors.inc();
                let diag = format!("TLS framing: {}", m.name());
                self.note(fidx, "malformed", Some(diag));
                self.unparsable(io, live, flows, sidx);
            }
            Verdict::TooLarge { hello_len, .. } => {
                self.counters.acc.limit_bytes.inc();
                self.budget_action(io, live, flows, sidx, Budget::Bytes(hello_len));
            }
        }
    }

    /// Feed newly in-order bytes to the deframer.
    fn advance(&mut self, sidx: u32) -> Verdict {
        let sess = &mut self.sessions.0[sidx as usize];
        let mut n = sess.head;
        let Some(a) = sess.accumulating_mut() else {
            return Verdict::NeedMore; // not reached: only accumulating sessions hold
        };
        let mut v = a.deframer.verdict();
        while n != NIL && !v.is_final() {
            let node = &self.nodes[n as usize];
            let end = node.off + node.len as u32;
            if node.off > a.contiguous {
                break; // a gap
            }
            if end > a.contiguous {
                if let Some(b) = &node.buf {
                    let p = b.data();
                    let from = node.pay as usize + (a.contiguous - node.off) as usize;
                    let to = node.pay as usize + node.len as usize;
                    if let Some(bytes) = p.get(from..to) {
                        v = a.deframer.feed(bytes);
                    }
                }
                a.contiguous = end;
            }
            n = node.next;
        }
        // Keep walking to extend contiguity even after a final verdict (for release).
        while n != NIL {
            let node = &self.nodes[n as usize];
            if node.off > a.contiguous {
                break;
            }
            a.contiguous = a.contiguous.max(node.off + node.len as u32);
            n = node.next;
        }
        v
    }

    /// The ClientHello is complete: parse, summarise, decide.
    fn complete<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        live: &Live,
        flows: &mut FlowTable,
        sidx: u32,
        span: tls::HelloSpan,
    ) {
        let sess = &self.sessions.0[sidx as usize];
        let fidx = sess.flow;
        // The limit the session's deframer accepted (a later `set max-bytes` lower than this
        // must not turn a hello already accepted into a parse error).
        let Some(limit) = sess
            .accumulating()
            .map(|a| a.deframer.max_bytes() as usize + 4)
        else {
            return; // not reached: only an accumulating session completes
        };
        // Copy the stream's bytes (each once, in order) into the scratch buffer.
        let mut chunks: [&[u8]; PACKETLIMIT_MAX as usize] = [&[]; PACKETLIMIT_MAX as usize];
        let mut k = 0;
        let mut cursor = 0u32;
        let mut n = sess.head;
        while n != NIL && k < chunks.len() && cursor < span.stream_bytes {
            let node = &self.nodes[n as usize];
            let end = node.off + node.len as u32;
            if end > cursor && node.off <= cursor {
                if let Some(b) = &node.buf {
                    let from = node.pay as usize + (cursor - node.off) as usize;
                    let to = node.pay as usize + node.len as usize;
                    if let Some(s) = b.data().get(from..to) {
                        chunks[k] = s;
                        k += 1;
                    }
                }
                cursor = end;
            }
            n = node.next;
        }
        let segments = sess.held as u32;
        // Into a recycled summary (tls-parser still allocates temporaries while parsing).
        let mut hello = self.spare_hellos.pop().unwrap_or_default();
        // Why it failed (the record's diag), or None: parsed.
        let failed = match tls::copy_hello(chunks[..k].iter().copied(), &mut self.scratch[..limit])
        {
            Ok(len) => tls::parse_client_hello_into(&self.scratch[..len], &mut hello)
                .err()
                .map(|e| e.name()),
            Err(e) => Some(e.name()),
        };
        let wire = span.stream_bytes;
        self.counters.hist.record(segments, wire);
        if wire as u64 > self.counters.acc.hello_bytes_max.get() {
            self.counters.acc.hello_bytes_max.set(wire as u64);
        }
        self.counters.acc.completed.inc();
        if let Some(why) = failed {
            self.spare_hellos.push(hello);
            self.counters.acc.parse_errors.inc();
            self.note(fidx, "parse-error", Some(format!("ClientHello: {why}")));
            self.unparsable(io, live, flows, sidx);
            return;
        };
        let action = live.policy.decide(hello.sni.as_deref());

        let mut summary = hello_summary(hello, span.records, segments, wire);
        match action {
            Action::Allow => {
                self.counters.acc.policy_allowed.inc();
                summary.verdict = Some("allow");
                self.store_info(fidx, summary);
                self.release(io, flows, sidx, live, false, true);
            }
            Action::Deny => {
                self.counters.acc.policy_denied.inc();
                summary.verdict = Some("deny");
                self.store_info(fidx, summary);
                self.capture(flows, sidx, None, EndReason::PolicyDeny);
                let base = self.sessions.0[sidx as usize].base;
                self.reset_held(io, flows, sidx, base, EndReason::PolicyDeny);
                self.finish(flows, sidx);
            }
        }
    }

    /// A hello that cannot be parsed: reset (what cannot be judged does not reach the
    /// server) or release uninspected, per `on_unparsable`.
    fn unparsable<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        live: &Live,
        flows: &mut FlowTable,
        sidx: u32,
    ) {
        let fidx = self.sessions.0[sidx as usize].flow;
        flows.get_mut(fidx).set(flag::ACC_DONE);
        match live.on_unparsable {
            OnUnparsable::Release => self.release(io, flows, sidx, live, false, false),
            OnUnparsable::Reset => {
                self.counters.acc.unparsable_reset.inc();
                self.capture(flows, sidx, None, EndReason::Unparsable);
                let base = self.sessions.0[sidx as usize].base;
                self.reset_held(io, flows, sidx, base, EndReason::Unparsable);
                self.finish(flows, sidx);
            }
        }
    }

    /// Over budget with `buf` in hand (not held): reset or release per `on_limit`. Returns
    /// the frame when the caller should forward it (after the held ones).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn over_budget<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        live: &Live,
        flows: &mut FlowTable,
        sidx: u32,
        buf: B,
        h: &Headers,
        why: Budget,
    ) -> Option<B> {
        match live.on_limit {
            OnLimit::Release => {
                self.budget_action(io, live, flows, sidx, why);
                Some(buf) // after the held ones, which budget_action sent in order
            }
            OnLimit::Reset => {
                // The over-budget segment is a fine template for the RSTs.
                let sess = &self.sessions.0[sidx as usize];
                let (fidx, client_side, base) = (sess.flow, sess.client_side, sess.base);
                self.diag_limit(sidx, why);
                self.capture(flows, sidx, Some(&buf), EndReason::AccumulationLimit);
                reset_both(
                    io,
                    flows.get_mut(fidx),
                    client_side,
                    buf.data(),
                    h,
                    base,
                    EndReason::AccumulationLimit,
                    &self.counters,
                );
                self.finish(flows, sidx);
                None
            }
        }
    }

    /// Over budget (held segments only): reset or release per `on_limit`.
    pub(super) fn budget_action<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        live: &Live,
        flows: &mut FlowTable,
        sidx: u32,
        why: Budget,
    ) {
        self.diag_limit(sidx, why);
        let fidx = self.sessions.0[sidx as usize].flow;
        match live.on_limit {
            OnLimit::Release => {
                flows.get_mut(fidx).set(flag::ACC_DONE);
                self.release(io, flows, sidx, live, false, false);
            }
            OnLimit::Reset => {
                self.capture(flows, sidx, None, EndReason::AccumulationLimit);
                let base = self.sessions.0[sidx as usize].base;
                self.reset_held(io, flows, sidx, base, EndReason::AccumulationLimit);
                self.finish(flows, sidx);
            }
        }
    }

    /// The diagnostic line and histogram entry of an over-budget session.
    fn diag_limit(&mut self, sidx: u32, why: Budget) {
        let sess = &self.sessions.0[sidx as usize];
        let fidx = sess.flow;
        let Some(a) = sess.accumulating() else {
            return; // not reached: budgets apply while accumulating
        };
        let diag = match why {
            Budget::Packets(n) => format!("accumulating too many packets {n} max {}", sess.slots),
            Budget::Bytes(b) => format!(
                "accumulating too many bytes {b} max {}",
                a.deframer.max_bytes()
            ),
            Budget::Timeout => format!(
                "client hello incomplete after {} packets and {} bytes",
                sess.held, a.held_bytes
            ),
        };
        // What the ClientHello would have needed, when its header told its length.
        if let Some(len) = a.deframer.declared_len() {
            let wire = len + 4 + 5 * (len / 16384 + 1);
            let seg = a.seg_size.max(1) as u32;
            self.counters.hist.record(wire.div_ceil(seg), wire);
        } else if let Budget::Packets(n) = why {
            self.counters.hist.record(n, a.held_bytes);
        }
        let result = match why {
            Budget::Timeout => "hold-timeout",
            _ => "limit",
        };
        self.note(fidx, result, Some(diag));
    }
}
