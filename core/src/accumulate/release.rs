//! Carrying out a decision: release the held segments to the server in order and, when the
//! client was acknowledged on the server's behalf, own their delivery (free what the server
//! acknowledges, retransmit on three duplicate ACKs or the retransmission timeout with
//! backoff, reset after `tries`); or end the session with RSTs both ways, capturing what was
//! held first.
//!
//! Owns the release phase ([`State::Releasing`]). It decides nothing about the ClientHello
//! (that is `verdict`'s).

use super::craft::{self, emit_segment};
use super::session::{Releasing, State, NIL};
use super::Accumulator;
use crate::capture::CaptureJob;
use crate::counters::WorkerCounters;
use crate::flow::{tcp::seq_after, tick_of, Dir, EndReason, Flow, FlowTable, TcpState};
use crate::io::{Frame, PacketIo, Side};
use crate::live::Live;
use crate::packet::{self, Headers, TcpInfo};
use crossbeam::queue::ArrayQueue;
use std::sync::Arc;

/// Where failed-session captures go: the queue to the writer, its directory, and the wall
/// clock (Unix ms) at worker time 0.
pub(super) struct CaptureSink<B> {
    pub(super) queue: Arc<ArrayQueue<CaptureJob<B>>>,
    pub(super) dir: std::path::PathBuf,
    pub(super) wall_epoch_ms: u64,
}

impl<B: Frame> Accumulator<B> {
    /// Send the held segments to the server in order. If the client was acknowledged on the
    /// server's behalf (and not `drop_duty`, at shutdown), keep references until the server
    /// acknowledges them: the session enters [`State::Releasing`]. Otherwise it is finished.
    /// `inspected`: the ClientHello was parsed and allowed (which counter counts it).
    pub(super) fn release<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        flows: &mut FlowTable,
        sidx: u32,
        live: &Live,
        drop_duty: bool,
        inspected: bool,
    ) {
        let now_ms = self.now_ms;
        let sess = &self.sessions.0[sidx as usize];
        // Only accumulating sessions are released.
        let acked = sess.accumulating().is_some_and(|a| a.acked > 0);
        let keep = acked && !drop_duty;
        let server_side = sess.client_side.other();
        let mut n = sess.head;
        let mut end = 0;
        let mut sent = 0u64;
        while n != NIL {
            let node = &mut self.nodes[n as usize];
            end = end.max(node.off + node.len as u32);
            if let Some(b) = node.buf.take() {
                if keep {
                    io.tx(server_side, b.share());
                    node.buf = Some(b);
                } else {
                    io.tx(server_side, b);
                }
                sent += 1;
            }
            n = node.next;
        }
        if inspected {
            self.counters.acc.released.inc();
        } else {
            self.counters.acc.released_uninspected.inc();
        }
        let c = &self.counters.base;
        match server_side {
            Side::Server => c.tx_to_server.add(sent),
            Side::Client => c.tx_to_client.add(sent),
        }
        if keep {
            let sess = &mut self.sessions.0[sidx as usize];
            sess.state = State::Releasing(Releasing {
                released_end: end,
                last_ack: sess.base,
                dupacks: 0,
                tries: 0,
                rto_ms: live.rto_ms,
            });
            self.wheel.arm(
                &mut self.sessions,
                sidx,
                tick_of(now_ms + live.rto_ms as u64),
            );
        } else {
            self.finish(flows, sidx);
        }
    }

    /// A server segment `t` of session `sidx`: in the release phase, its ACK frees what the
    /// server has, ends the session when it has everything, or counts as a duplicate.
    pub(super) fn on_server_ack<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        live: &Live,
        flows: &mut FlowTable,
        sidx: u32,
        t: &TcpInfo,
    ) {
        let sess = &mut self.sessions.0[sidx as usize];
        let base = sess.base;
        let State::Releasing(r) = &mut sess.state else {
            return;
        };
        if !t.flags.ack() {
            return;
        }
        let acked_off = t.ack.wrapping_sub(base);
        if acked_off > u32::MAX / 2 {
            return; // below the stream start
        }
        if acked_off >= r.released_end {
            self.finish(flows, sidx);
            return;
        }
        if seq_after(t.ack, r.last_ack) {
            r.last_ack = t.ack;
            r.dupacks = 0;
            r.tries = 0;
            r.rto_ms = live.rto_ms;
            self.free_acked(sidx, acked_off);
            self.wheel.arm(
                &mut self.sessions,
                sidx,
                tick_of(self.now_ms + live.rto_ms as u64),
            );
        } else if t.ack == r.last_ack && t.payload_len == 0 && !t.flags.fin() {
            r.dupacks = r.dupacks.saturating_add(1);
            if r.dupacks == 3 {
                self.retransmit(io, sidx);
            }
        }
    }

    /// The retransmission timer of a releasing session fired: retransmit with backoff, or
    /// after `tries` reset both ways.
    pub(super) fn on_release_timeout<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        live: &Live,
        flows: &mut FlowTable,
        sidx: u32,
    ) {
        let sess = &self.sessions.0[sidx as usize];
        let State::Releasing(r) = &sess.state else {
            return;
        };
        if r.tries >= live.tries {
            self.counters.acc.release_timeouts.inc();
            let (fidx, last_ack) = (sess.flow, r.last_ack);
            self.capture(flows, sidx, None, EndReason::ReleaseTimeout);
            self.reset_held(io, flows, sidx, last_ack, EndReason::ReleaseTimeout);
            self.note(fidx, "release-timeout", None);
            self.finish(flows, sidx);
        } else {
            self.retransmit(io, sidx);
            let State::Releasing(r) = &mut self.sessions.0[sidx as usize].state else {
                return;
            };
            r.tries += 1;
            r.rto_ms = r.rto_ms.saturating_mul(2);
            let at = self.now_ms + r.rto_ms as u64;
            self.wheel.arm(&mut self.sessions, sidx, tick_of(at));
        }
    }

    /// Drop held nodes the server has acknowledged.
    fn free_acked(&mut self, sidx: u32, acked_off: u32) {
        loop {
            let head = self.sessions.0[sidx as usize].head;
            if head == NIL {
                return;
            }
            let node = &mut self.nodes[head as usize];
            if node.off + node.len as u32 > acked_off {
                return;
            }
            node.buf = None;
            let next = node.next;
            self.free_nodes.push(head);
            let sess = &mut self.sessions.0[sidx as usize];
            sess.head = next;
            sess.held -= 1;
            self.counters
                .acc
                .held_packets
                .set(self.counters.acc.held_packets.get().saturating_sub(1));
        }
    }

    /// Retransmit the first unacknowledged held segment.
    fn retransmit<P: PacketIo<Buf = B>>(&mut self, io: &mut P, sidx: u32) {
        let sess = &self.sessions.0[sidx as usize];
        let head = sess.head;
        let side = sess.client_side.other();
        if head == NIL {
            return;
        }
        if let Some(b) = &self.nodes[head as usize].buf {
            io.tx(side, b.share());
            self.counters.acc.retransmits.inc();
        }
    }

    /// RST both ways for a session, with its first held frame as the template; the server is
    /// reset at `server_expects` (its next expected client sequence number).
    pub(super) fn reset_held<P: PacketIo<Buf = B>>(
        &self,
        io: &mut P,
        flows: &mut FlowTable,
        sidx: u32,
        server_expects: u32,
        reason: EndReason,
    ) {
        let sess = &self.sessions.0[sidx as usize];
        if let Some((tb, th)) = self.template(sidx) {
            let f = flows.get_mut(sess.flow);
            reset_both(
                io,
                f,
                sess.client_side,
                tb,
                &th,
                server_expects,
                reason,
                &self.counters,
            );
        }
    }

    /// The first held frame and its headers (template for crafted segments); no copy.
    fn template(&self, sidx: u32) -> Option<(&[u8], Headers)> {
        let head = self.sessions.0[sidx as usize].head;
        let b = self.nodes.get(head as usize)?.buf.as_ref()?;
        let h = packet::parse(b.data()).ok()?;
        Some((b.data(), h))
    }

    /// Hand references to the session's held packets (and `extra`, the segment in hand) to
    /// the capture writer, and note the file in the session's record.
    pub(super) fn capture(
        &mut self,
        flows: &FlowTable,
        sidx: u32,
        extra: Option<&B>,
        reason: EndReason,
    ) {
        let Some(CaptureSink {
            queue: q,
            dir,
            wall_epoch_ms: epoch,
        }) = &self.captures
        else {
            return;
        };
        let sess = &self.sessions.0[sidx as usize];
        let fidx = sess.flow;
        let id = flows.session_id(fidx);
        let mut job = CaptureJob::new(id, reason.name(), epoch + self.now_ms);
        let mut n = sess.head;
        while n != NIL {
            let node = &self.nodes[n as usize];
            if let Some(b) = &node.buf {
                job.push(b.share());
            }
            n = node.next;
        }
        if let Some(b) = extra {
            job.push(b.share());
        }
        let path = crate::capture::file_name(dir, id);
        if q.push(job).is_ok() {
            self.counters.acc.captures.inc();
            let s = crate::record::TlsSummary {
                capture: Some(path.display().to_string()),
                ..Default::default()
            };
            self.store_info(fidx, s);
        } else {
            self.counters.acc.captures_dropped.inc();
        }
    }
}

/// End a session the appliance decided to stop: RST to the client (as the server, at the
/// server's next sequence number) and to the server (as the client, at `server_expects`).
#[allow(clippy::too_many_arguments)]
pub(super) fn reset_both<P: PacketIo>(
    io: &mut P,
    f: &mut Flow,
    client_side: Side,
    tpl: &[u8],
    h: &Headers,
    server_expects: u32,
    reason: EndReason,
    counters: &WorkerCounters,
) {
    let server = f.dir[Dir::FromServer.index()];
    let client = f.dir[Dir::FromClient.index()];
    // The template is a client→server frame: reverse for the client's RST.
    let to_client = craft::Segment {
        reverse: true,
        seq: server.next_seq,
        ack: client.next_seq,
        flags: craft::RST | craft::ACK,
        window: 0,
        timestamps: None,
    };
    let to_server = craft::Segment {
        reverse: false,
        seq: server_expects,
        ack: server.next_seq,
        flags: craft::RST | craft::ACK,
        window: 0,
        timestamps: None,
    };
    emit_segment(io, client_side, tpl, h, &to_client, counters);
    emit_segment(io, client_side.other(), tpl, h, &to_server, counters);
    counters.acc.reset.inc();
    f.end_with(reason);
    f.state = TcpState::Closed;
}
