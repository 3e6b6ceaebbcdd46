//! ClientHello accumulation: hold the client's first segments of an inspected TLS session until
//! the complete ClientHello is in order, parse it, decide, and release or reset — within a
//! bounded budget of packets and bytes per session and a shared pool of hold slots.
//!
//! While it holds data it acknowledges in-order bytes to the client on the server's behalf
//! (so a ClientHello larger than the client's initial window completes); from then on it owns
//! delivery of those bytes: after release it keeps references until the server acknowledges
//! them, and retransmits on duplicate ACKs or a timeout with backoff.
//!
//! Per worker; no locks; no allocation per packet (sessions, held-segment nodes and the hash
//! index are preallocated). Per *session*, the ClientHello summary: recycled when no record
//! takes it (no traffic log), else allocated and handed to the control thread with the record;
//! tls-parser allocates short-lived vectors while parsing.
//!
//! This file is the facade: the [`Accumulator`] and the entry points the worker calls. The
//! work is in one file per phase of a session, each an `impl Accumulator` block over the
//! fields below:
//!
//! - `capacity`: the hold slots shared by all workers ([`Capacity`]);
//! - `session`: a session's record and phase ([`session::State`]), the flow → session index,
//!   the end of a session;
//! - `admit`: whether a flow is held, starting a session, `on_capacity`;
//! - `hold`: the held-segment list (sequence order, duplicates, overlaps) and the ACKs sent
//!   to the client on the server's behalf;
//! - `verdict`: deframing, parsing, the policy, the budgets and `on_limit`;
//! - `release`: release in order, retransmission, release timeouts, resets, captures;
//! - `craft`: building and sending the appliance's own segments;
//! - `summary`: the ClientHello summary as log fields, and its per-worker store.

mod admit;
mod capacity;
mod craft;
mod hold;
mod release;
mod session;
mod summary;
mod verdict;

pub use capacity::Capacity;

use crate::capture::CaptureJob;
use crate::config::OnLimit;
use crate::counters::WorkerCounters;
use crate::flow::wheel::Wheel;
use crate::flow::{flag, tick_of, Dir, EndReason, Flow, FlowTable};
use crate::io::{Frame, PacketIo, Side};
use crate::live::Live;
use crate::packet::{self, Headers};
use crate::record::TlsSummary;
use crate::tls;
use admit::Admit;
use crossbeam::queue::ArrayQueue;
use hashbrown::{HashMap, HashTable};
use hold::{Node, Screen};
use release::CaptureSink;
use session::{Session, Sessions, State, NIL};
use std::sync::Arc;
use summary::SPARE_SUMMARIES;
use verdict::Budget;

/// A worker's accumulator.
pub struct Accumulator<B: Frame> {
    sessions: Sessions,
    free_sessions: Vec<u32>,
    /// Held segments of all sessions (each session's list starts at its `head`).
    nodes: Vec<Node<B>>,
    free_nodes: Vec<u32>,
    /// Flow index -> session index.
    by_flow: HashTable<(u32, u32)>,
    /// Client address -> its sessions accumulating now (`[accumulation] per_source`).
    /// Preallocated for as many addresses as sessions: inserting never allocates.
    by_source: HashMap<[u8; 16], u16>,
    /// Hold timeouts (accumulating) and retransmission timeouts (releasing).
    wheel: Wheel,
    capacity: Arc<Capacity>,
    counters: Arc<WorkerCounters>,
    /// ClientHello summaries by flow index, until the flow's record is written.
    info: HashMap<u32, Box<TlsSummary>>,
    /// Recycled summaries and parsed hellos (see `recycle`), at most `SPARE_SUMMARIES` each.
    /// Boxed on purpose: the boxes themselves are what is recycled.
    #[allow(clippy::vec_box)]
    spare_summaries: Vec<Box<TlsSummary>>,
    #[allow(clippy::vec_box)]
    spare_hellos: Vec<Box<tls::ClientHelloInfo>>,
    /// The ClientHello copied in one piece for parsing.
    scratch: Vec<u8>,
    /// Worker time of the call in progress (for re-arming a flow's timeout).
    now_ms: u64,
    /// Failed-session captures.
    captures: Option<CaptureSink<B>>,
}

impl<B: Frame> Accumulator<B> {
    /// `max_sessions`: sessions this worker can hold at once (pool_packets / the smallest
    /// packet limit), `max_nodes`: held segments (pool_packets).
    pub fn new(
        max_sessions: u32,
        max_nodes: u32,
        capacity: Arc<Capacity>,
        counters: Arc<WorkerCounters>,
    ) -> Self {
        Accumulator {
            sessions: Sessions((0..max_sessions).map(|_| Session::empty()).collect()),
            free_sessions: (0..max_sessions).rev().collect(),
            nodes: (0..max_nodes).map(|_| Node::empty()).collect(),
            free_nodes: (0..max_nodes).rev().collect(),
            by_flow: HashTable::with_capacity(max_sessions as usize),
            by_source: HashMap::with_capacity(max_sessions as usize),
            wheel: Wheel::new(0),
            capacity,
            counters,
            info: HashMap::with_capacity(1024),
            spare_summaries: Vec::with_capacity(SPARE_SUMMARIES),
            spare_hellos: Vec::with_capacity(SPARE_SUMMARIES),
            scratch: vec![0; crate::config::MAX_BYTES_MAX as usize + 4],
            now_ms: 0,
            captures: None,
        }
    }

    /// Write the held packets of sessions the appliance ends itself to `dir` (through `queue`).
    pub fn set_captures(
        &mut self,
        queue: Arc<ArrayQueue<CaptureJob<B>>>,
        dir: std::path::PathBuf,
        wall_epoch_ms: u64,
    ) {
        self.captures = Some(CaptureSink {
            queue,
            dir,
            wall_epoch_ms,
        });
    }

    /// Whether the accumulator wants a segment of flow `f` going `dir` with `payload_len`
    /// bytes of payload: any segment of a flow with a session (client data to hold, server
    /// ACKs to watch), and client data of a flow not yet decided. For the others the worker
    /// need not call [`Self::on_client`] or [`Self::on_server`]: they would return the frame
    /// untouched.
    #[inline(always)]
    pub fn wants(&self, f: &Flow, dir: Dir, payload_len: u16) -> bool {
        f.has(flag::ACCUMULATING)
            || (dir == Dir::FromClient && payload_len > 0 && !f.has(flag::ACC_DONE))
    }

    /// A client→server segment with payload on flow `fidx`. Returns the frame when the caller
    /// should forward it; None when the accumulator took it (held, or dropped as duplicate).
    /// `base` is the client's next sequence number before this segment.
    #[allow(clippy::too_many_arguments)]
    pub fn on_client<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        live: &Live,
        flows: &mut FlowTable,
        fidx: u32,
        from: Side,
        h: &Headers,
        buf: B,
        base: u32,
        now_ms: u64,
    ) -> Option<B> {
        // Timers armed and captures stamped below (release, finish) read `self.now_ms`.
        self.now_ms = now_ms;
        let Some(t) = h.tcp().copied() else {
            return Some(buf);
        };
        if t.payload_len == 0 || t.flags.syn() || t.flags.rst() {
            return Some(buf);
        }
        let sidx = match self.admit(io, live, flows, fidx, from, h, &t, &buf, base) {
            Admit::Session(s) => s,
            Admit::Forward => return Some(buf),
            Admit::Taken => return None,
        };
        let seg = match self.screen(io, flows, sidx, h, &t, &buf) {
            Screen::New(seg) => seg,
            Screen::Forward => return Some(buf),
            Screen::Drop => return None,
        };
        if let Some(why) = self.exceeds_budget(sidx, seg.len) {
            return self.over_budget(io, live, flows, sidx, buf, h, why);
        }
        // What is held is what will be released: raise its TTL now, while the buffer is ours
        // alone (`Frame::share` forbids writing once it is shared for retransmission).
        let mut buf = buf;
        if packet::raise_ttl(buf.data_mut(), h, live.min_ttl) {
            self.counters.acc.ttl_raised.inc();
        }
        match self.hold(sidx, seg, buf) {
            Ok(n) => self.judge(io, live, flows, sidx, n, h),
            Err(buf) => return Some(buf),
        }
        None
    }

    /// A server→client segment of a flow with accumulation state: watch its ACKs.
    pub fn on_server<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        live: &Live,
        flows: &mut FlowTable,
        fidx: u32,
        h: &Headers,
        now_ms: u64,
    ) {
        self.now_ms = now_ms;
        let Some(t) = h.tcp() else { return };
        let Some(sidx) = self.session_of(fidx) else {
            return;
        };
        self.on_server_ack(io, live, flows, sidx, t);
    }

    /// Timers: hold timeouts and retransmissions. O(expired) per call.
    pub fn poll_timers<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        live: &Live,
        flows: &mut FlowTable,
        now_ms: u64,
    ) {
        self.now_ms = now_ms;
        let mut due = [NIL; 64];
        let mut n = 0;
        self.wheel
            .advance(&mut self.sessions, tick_of(now_ms), due.len(), |_, s| {
                due[n] = s;
                n += 1;
            });
        for &s in &due[..n] {
            let sess = &self.sessions.0[s as usize];
            if sess.flow == NIL {
                continue;
            }
            match sess.state {
                State::Accumulating(_) => {
                    self.counters.acc.hold_timeouts.inc();
                    self.budget_action(io, live, flows, s, Budget::Timeout);
                }
                State::Releasing(_) => self.on_release_timeout(io, live, flows, s),
            }
        }
    }

    /// The flow is leaving the table: free whatever the accumulator holds for it.
    pub fn on_flow_removed(&mut self, fidx: u32) {
        if let Some(s) = self.session_of(fidx) {
            self.free_session(s);
        }
    }

    /// The SNI of a flow's ClientHello, when it was inspected.
    pub fn sni_of(&self, fidx: u32) -> Option<&str> {
        self.info.get(&fidx)?.sni()
    }

    /// The ClientHello summary of a flow, taken for its log record.
    pub fn take_info(&mut self, fidx: u32) -> Option<Box<TlsSummary>> {
        self.info.remove(&fidx)
    }

    /// Take back a summary nobody needed (no traffic log, no diagnostic): its boxes and the
    /// hello's vectors serve the next sessions instead of going back to the allocator.
    pub fn recycle(&mut self, s: Option<Box<TlsSummary>>) {
        let Some(mut s) = s else { return };
        if let Some(h) = s.hello.take() {
            if self.spare_hellos.len() < SPARE_SUMMARIES {
                self.spare_hellos.push(h);
            }
        }
        if self.spare_summaries.len() < SPARE_SUMMARIES {
            *s = TlsSummary::default();
            self.spare_summaries.push(s);
        }
    }

    /// Shutdown with sessions accumulating: release or reset each one per `on_limit`.
    pub fn shutdown<P: PacketIo<Buf = B>>(
        &mut self,
        io: &mut P,
        live: &Live,
        flows: &mut FlowTable,
        now_ms: u64,
    ) {
        self.now_ms = now_ms;
        let active: Vec<u32> = self.by_flow.iter().map(|e| e.1).collect();
        for s in active {
            let sess = &self.sessions.0[s as usize];
            let (fidx, base) = (sess.flow, sess.base);
            if fidx == NIL {
                continue;
            }
            match (&sess.state, live.on_limit) {
                (State::Accumulating(_), OnLimit::Release) => {
                    flows.get_mut(fidx).set(flag::ACC_DONE);
                    self.note(fidx, "shutdown-release", None);
                    self.release(io, flows, s, live, true, false);
                }
                (State::Accumulating(_), OnLimit::Reset) => {
                    self.reset_held(io, flows, s, base, EndReason::Shutdown);
                    self.note(fidx, "shutdown-reset", None);
                }
                (State::Releasing(_), _) => {}
            }
            self.finish(flows, s);
        }
    }

    pub fn capacity(&self) -> &Capacity {
        &self.capacity
    }

    /// Sessions and held packets of this worker right now.
    pub fn active(&self) -> usize {
        self.by_flow.len()
    }
}

#[cfg(test)]
mod tests;
