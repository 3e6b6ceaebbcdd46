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

pub mod craft;
mod summary;

pub use summary::{group_name, hello_fields, hello_summary};

use crate::capture::CaptureJob;
use crate::config::{OnCapacity, OnLimit, PACKETLIMIT_MAX};
use crate::counters::WorkerCounters;
use crate::flow::wheel::{HasLinks, Links, Wheel};
use crate::flow::{flag, tcp::seq_after, tick_of, Dir, EndReason, Flow, FlowTable, TcpState};
use crate::io::{Frame, PacketIo, Side};
use crate::live::Live;
use crate::packet::{self, Headers};
use crate::policy::Action;
use crate::record::TlsSummary;
use crate::tls::{self, Deframer, Verdict};
use crossbeam::queue::ArrayQueue;
use hashbrown::{HashMap, HashTable};

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

const NIL: u32 = u32::MAX;

/// The hold slots shared by all workers: one atomic counter, no lock.
#[derive(Debug)]
pub struct Capacity {
    pub pool_packets: u32,
    slots: AtomicU32,
    sessions: AtomicU32,
    peak_sessions: AtomicU32,
    peak_slots: AtomicU32,
}

impl Capacity {
    pub fn new(pool_packets: u32) -> Arc<Capacity> {
        Arc::new(Capacity {
            pool_packets,
            slots: AtomicU32::new(0),
            sessions: AtomicU32::new(0),
            peak_sessions: AtomicU32::new(0),
            peak_slots: AtomicU32::new(0),
        })
    }

    /// Reserve `n` slots for a starting session; false when the pool cannot hold them.
    pub fn reserve(&self, n: u32) -> bool {
        let ok = self
            .slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur + n <= self.pool_packets).then_some(cur + n)
            });
        match ok {
            Ok(prev) => {
                self.peak_slots.fetch_max(prev + n, Ordering::Relaxed);
                let s = self.sessions.fetch_add(1, Ordering::AcqRel) + 1;
                self.peak_sessions.fetch_max(s, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Return a session's `n` slots.
    pub fn release(&self, n: u32) {
        self.slots.fetch_sub(n, Ordering::AcqRel);
        self.sessions.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn slots_in_use(&self) -> u32 {
        self.slots.load(Ordering::Acquire)
    }
    pub fn active_sessions(&self) -> u32 {
        self.sessions.load(Ordering::Acquire)
    }
    pub fn peak_sessions(&self) -> u32 {
        self.peak_sessions.load(Ordering::Relaxed)
    }
    pub fn peak_slots(&self) -> u32 {
        self.peak_slots.load(Ordering::Relaxed)
    }
    /// Sessions that can accumulate at once at a packet limit.
    pub fn sessions_at(&self, packetlimit: u16) -> u32 {
        self.pool_packets / packetlimit.max(1) as u32
    }
}

/// One held segment (a node of a session's list, sorted by sequence).
struct Node<B> {
    buf: Option<B>,
    /// Offset of the first payload byte in the session's stream.
    off: u32,
    len: u16,
    /// Offset of the payload in the frame.
    pay: u16,
    next: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Holding until the ClientHello is complete.
    Accumulating,
    /// Released; keeping acknowledged data until the server acknowledges it.
    Releasing,
}

struct Session {
    flow: u32,
    phase: Phase,
    /// Client sequence number of stream offset 0.
    base: u32,
    /// Bytes in order from `base`.
    contiguous: u32,
    /// Stream bytes acknowledged to the client on the server's behalf.
    acked: u32,
    head: u32,
    held: u16,
    slots: u16,
    /// Payload bytes of the held segments.
    held_bytes: u32,
    /// Largest payload of a held segment (the client's segment size, for estimates).
    seg_size: u16,
    deframer: Deframer,
    /// Release phase: end of the released data (stream offset), last server ACK, dup ACKs.
    released_end: u32,
    last_ack: u32,
    dupacks: u8,
    tries: u8,
    rto_ms: u32,
    /// Port the client is on.
    client_side: Side,
    links: Links,
}

struct Sessions(Vec<Session>);

impl HasLinks for Sessions {
    fn links(&mut self, idx: u32) -> &mut Links {
        &mut self.0[idx as usize].links
    }
}

/// Where failed-session captures go: the queue to the writer, its directory, and the wall
/// clock (Unix ms) at worker time 0.
struct CaptureSink<B> {
    queue: Arc<ArrayQueue<CaptureJob<B>>>,
    dir: std::path::PathBuf,
    wall_epoch_ms: u64,
}

/// Most sessions whose ClientHello summary a worker keeps until the session ends; beyond it
/// the traffic log record goes without the summary (counted).
const MAX_INFO: usize = 1 << 18;
/// Recycled summaries kept per worker.
const SPARE_SUMMARIES: usize = 1024;

/// A worker's accumulator.
pub struct Accumulator<B: Frame> {
    sessions: Sessions,
    free_sessions: Vec<u32>,
    nodes: Vec<Node<B>>,
    free_nodes: Vec<u32>,
    /// Flow index -> session index.
    by_flow: HashTable<(u32, u32)>,
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
    scratch: Vec<u8>,
    /// Worker time of the call in progress (for re-arming a flow's timeout).
    now_ms: u64,
    /// Failed-session captures.
    captures: Option<CaptureSink<B>>,
}

#[inline]
fn fhash(flow: u32) -> u64 {
    (flow as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Why a session stops accumulating without a normal verdict.
#[derive(Clone, Copy, Debug)]
enum Budget {
    Packets(u32),
    Bytes(u32),
    Timeout,
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
        let sessions = (0..max_sessions)
            .map(|_| Session {
                flow: NIL,
                phase: Phase::Accumulating,
                base: 0,
                contiguous: 0,
                acked: 0,
                head: NIL,
                held: 0,
                slots: 0,
                held_bytes: 0,
                seg_size: 0,
                deframer: Deframer::new(0),
                released_end: 0,
                last_ack: 0,
                dupacks: 0,
                tries: 0,
                rto_ms: 0,
                client_side: Side::Client,
                links: Links::default(),
            })
            .collect();
        let nodes = (0..max_nodes)
            .map(|_| Node {
                buf: None,
                off: 0,
                len: 0,
                pay: 0,
                next: NIL,
            })
            .collect();
        Accumulator {
            sessions: Sessions(sessions),
            free_sessions: (0..max_sessions).rev().collect(),
            nodes,
            free_nodes: (0..max_nodes).rev().collect(),
            by_flow: HashTable::with_capacity(max_sessions as usize),
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

    /// Hand references to the session's held packets (and `extra`, the segment in hand) to
    /// the capture writer, and note the file in the session's record.
    fn capture(&mut self, flows: &FlowTable, sidx: u32, extra: Option<&B>, reason: EndReason) {
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
            let s = TlsSummary {
                capture: Some(path.display().to_string()),
                ..TlsSummary::default()
            };
            self.store_info(fidx, s);
        } else {
            self.counters.acc.captures_dropped.inc();
        }
    }

    fn session_of(&self, flow: u32) -> Option<u32> {
        self.by_flow.find(fhash(flow), |e| e.0 == flow).map(|e| e.1)
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
        let f = flows.get_mut(fidx);
        // The flow's flag says whether a session exists: no lookup for the others.
        let existing = if f.has(flag::ACCUMULATING) {
            self.session_of(fidx)
        } else {
            None
        };
        let sidx = match existing {
            Some(s) => s,
            None => {
                if f.has(flag::ACC_DONE) || !live.accumulate {
                    return Some(buf);
                }
                if !live.ports.contains(t.dst_port) {
                    // Not an inspected port (the set changes only with a restart): decided.
                    f.set(flag::ACC_DONE);
                    return Some(buf);
                }
                if !f.has(flag::HANDSHAKE_BOTH) {
                    // Acknowledging for a server we cannot see would cause ACK storms.
                    f.set(flag::ACC_DONE);
                    self.counters.acc.one_sided.inc();
                    self.note(fidx, "one-sided", None);
                    return Some(buf);
                }
                if !self.capacity.reserve(live.packetlimit as u32) || self.free_sessions.is_empty()
                {
                    match live.on_capacity {
                        OnCapacity::Bypass => {
                            self.counters.acc.capacity_bypassed.inc();
                            f.set(flag::ACC_DONE);
                            self.note(fidx, "capacity-bypass", None);
                            return Some(buf);
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
                            return None;
                        }
                    }
                }
                let Some(s) = self.free_sessions.pop() else {
                    return Some(buf);
                };
                let sess = &mut self.sessions.0[s as usize];
                *sess = Session {
                    flow: fidx,
                    phase: Phase::Accumulating,
                    base,
                    contiguous: 0,
                    acked: 0,
                    head: NIL,
                    held: 0,
                    slots: live.packetlimit,
                    held_bytes: 0,
                    seg_size: 0,
                    deframer: Deframer::new(live.max_bytes),
                    released_end: 0,
                    last_ack: base,
                    dupacks: 0,
                    tries: 0,
                    rto_ms: live.rto_ms,
                    client_side: from,
                    links: Links::default(),
                };
                self.by_flow
                    .insert_unique(fhash(fidx), (fidx, s), |e| fhash(e.0));
                f.set(flag::ACCUMULATING);
                self.wheel.arm(
                    &mut self.sessions,
                    s,
                    tick_of(now_ms + live.hold_timeout_ms as u64),
                );
                self.counters.acc.started.inc();
                self.counters.acc.sessions.add(1);
                s
            }
        };
        if self.sessions.0[sidx as usize].phase == Phase::Releasing {
            return Some(buf); // new data after the ClientHello: not ours to hold
        }

        let sess = &self.sessions.0[sidx as usize];
        let off = t.seq.wrapping_sub(sess.base);
        let len = t.payload_len as u32;
        if off > u32::MAX / 2 {
            return Some(buf); // before the stream start: not ours
        }
        let end = off.wrapping_add(len);
        // A retransmission of bytes already in order or already held: free it, re-ACK.
        if end <= sess.contiguous || self.covered(sidx, off, end) {
            self.counters.acc.duplicates_freed.inc();
            if sess.acked > 0 && end <= sess.acked {
                // The client did not get our ACK: say it again.
                send_ack(io, flows.get(fidx), sess, buf.data(), h, &self.counters);
            }
            return None;
        }
        // Overlapping bytes must match what is held: otherwise what we inspect and what the
        // server reassembles could differ (an evasion). The held copy wins; this one is dropped.
        // The TCP payload only: a short frame's Ethernet padding is not the client's data.
        if self.overlap_mismatch(sidx, off, h.tcp_payload(buf.data()).unwrap_or(&[])) {
            self.counters.acc.overlap_mismatch.inc();
            return None;
        }
        let sess = &self.sessions.0[sidx as usize];
        // Budgets: distinct held segments, and bytes.
        if sess.held >= sess.slots {
            let n = sess.held as u32 + 1;
            self.counters.acc.limit_packets.inc();
            return self.over_budget(io, live, flows, sidx, buf, h, Budget::Packets(n));
        }
        // The session's own limit (`max_bytes` may have changed since it started).
        if sess.held_bytes + len > sess.deframer.max_bytes() + 1024 {
            self.counters.acc.limit_bytes.inc();
            return self.over_budget(
                io,
                live,
                flows,
                sidx,
                buf,
                h,
                Budget::Bytes(sess.held_bytes + len),
            );
        }
        let Some(n) = self.free_nodes.pop() else {
            // Cannot happen: nodes = pool_packets ≥ slots reserved. Pass rather than lose.
            return Some(buf);
        };
        self.nodes[n as usize] = Node {
            buf: Some(buf),
            off,
            len: len as u16,
            pay: t.payload_offset,
            next: NIL,
        };
        self.link_sorted(sidx, n);
        let sess = &mut self.sessions.0[sidx as usize];
        sess.held += 1;
        sess.held_bytes += len;
        sess.seg_size = sess.seg_size.max(len as u16);
        self.counters.acc.held_packets.add(1);

        let verdict = self.advance(sidx);
        match verdict {
            Verdict::NeedMore => {
                let sess = &mut self.sessions.0[sidx as usize];
                if sess.contiguous > sess.acked {
                    sess.acked = sess.contiguous;
                    // The segment just held is the template (same headers as `h`).
                    if let Some(b) = self.nodes[n as usize].buf.as_ref() {
                        send_ack(io, flows.get(fidx), sess, b.data(), h, &self.counters);
                    }
                }
                None
            }
            Verdict::Complete(span) => {
                self.complete(io, live, flows, sidx, span);
                None
            }
            Verdict::NotTls | Verdict::Sslv2 => {
                self.counters.acc.non_tls.inc();
                self.note(
                    fidx,
                    if matches!(verdict, Verdict::Sslv2) {
                        "sslv2"
                    } else {
                        "non-tls"
                    },
                    None,
                );
                flows.get_mut(fidx).set(flag::ACC_DONE);
                self.release(io, flows, sidx, live, false, false);
                None
            }
            Verdict::Malformed(m) => {
                self.counters.acc.parse_errors.inc();
                self.note(
                    fidx,
                    "malformed",
                    Some(format!("TLS framing: {}", m.name())),
                );
                flows.get_mut(fidx).set(flag::ACC_DONE);
                self.release(io, flows, sidx, live, false, false);
                None
            }
            Verdict::TooLarge { hello_len, .. } => {
                self.counters.acc.limit_bytes.inc();
                self.budget_action(io, live, flows, sidx, Budget::Bytes(hello_len));
                None
            }
        }
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
        let sess = &mut self.sessions.0[sidx as usize];
        if sess.phase != Phase::Releasing || !t.flags.ack() {
            return;
        }
        let acked_off = t.ack.wrapping_sub(sess.base);
        if acked_off > u32::MAX / 2 {
            return; // below the stream start
        }
        if acked_off >= sess.released_end {
            self.finish(flows, sidx);
            return;
        }
        if seq_after(t.ack, sess.last_ack) {
            sess.last_ack = t.ack;
            sess.dupacks = 0;
            sess.tries = 0;
            sess.rto_ms = live.rto_ms;
            self.free_acked(sidx, acked_off);
            self.wheel.arm(
                &mut self.sessions,
                sidx,
                tick_of(now_ms + live.rto_ms as u64),
            );
        } else if t.ack == sess.last_ack && t.payload_len == 0 && !t.flags.fin() {
            sess.dupacks = sess.dupacks.saturating_add(1);
            if sess.dupacks == 3 {
                self.retransmit(io, sidx);
            }
        }
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
            match sess.phase {
                Phase::Accumulating => {
                    self.counters.acc.hold_timeouts.inc();
                    self.budget_action(io, live, flows, s, Budget::Timeout);
                }
                Phase::Releasing => {
                    if sess.tries >= live.tries {
                        self.counters.acc.release_timeouts.inc();
                        let fidx = sess.flow;
                        self.capture(flows, s, None, EndReason::ReleaseTimeout);
                        self.reset_held(
                            io,
                            flows,
                            s,
                            self.sessions.0[s as usize].last_ack,
                            EndReason::ReleaseTimeout,
                        );
                        self.note(fidx, "release-timeout", None);
                        self.finish(flows, s);
                    } else {
                        self.retransmit(io, s);
                        let sess = &mut self.sessions.0[s as usize];
                        sess.tries += 1;
                        sess.rto_ms = sess.rto_ms.saturating_mul(2);
                        let at = now_ms + sess.rto_ms as u64;
                        self.wheel.arm(&mut self.sessions, s, tick_of(at));
                    }
                }
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
            if sess.flow == NIL {
                continue;
            }
            match sess.phase {
                Phase::Accumulating => match live.on_limit {
                    OnLimit::Release => {
                        let fidx = sess.flow;
                        flows.get_mut(fidx).set(flag::ACC_DONE);
                        self.note(fidx, "shutdown-release", None);
                        self.release(io, flows, s, live, true, false);
                        self.finish(flows, s);
                    }
                    OnLimit::Reset => {
                        let fidx = sess.flow;
                        self.reset_held(
                            io,
                            flows,
                            s,
                            self.sessions.0[s as usize].base,
                            EndReason::Shutdown,
                        );
                        self.note(fidx, "shutdown-reset", None);
                        self.finish(flows, s);
                    }
                },
                Phase::Releasing => self.finish(flows, s),
            }
        }
    }

    pub fn capacity(&self) -> &Capacity {
        &self.capacity
    }

    /// Sessions and held packets of this worker right now.
    pub fn active(&self) -> usize {
        self.by_flow.len()
    }

    // ---- internals ----

    /// Whether [off, end) is entirely inside one held segment.
    fn covered(&self, sidx: u32, off: u32, end: u32) -> bool {
        let mut n = self.sessions.0[sidx as usize].head;
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

    /// Whether `payload` at stream offset `off` disagrees with any held byte it overlaps.
    fn overlap_mismatch(&self, sidx: u32, off: u32, payload: &[u8]) -> bool {
        let end = off + payload.len() as u32;
        let mut n = self.sessions.0[sidx as usize].head;
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

    /// Feed newly in-order bytes to the deframer.
    fn advance(&mut self, sidx: u32) -> Verdict {
        let sess = &mut self.sessions.0[sidx as usize];
        let mut n = sess.head;
        let mut v = sess.deframer.verdict();
        while n != NIL && !v.is_final() {
            let node = &self.nodes[n as usize];
            let end = node.off + node.len as u32;
            if node.off > sess.contiguous {
                break; // a gap
            }
            if end > sess.contiguous {
                if let Some(b) = &node.buf {
                    let p = b.data();
                    let from = node.pay as usize + (sess.contiguous - node.off) as usize;
                    let to = node.pay as usize + node.len as usize;
                    if let Some(bytes) = p.get(from..to) {
                        v = sess.deframer.feed(bytes);
                    }
                }
                sess.contiguous = end;
            }
            n = node.next;
        }
        // Keep walking to extend contiguity even after a final verdict (for release).
        while n != NIL {
            let node = &self.nodes[n as usize];
            if node.off > sess.contiguous {
                break;
            }
            sess.contiguous = sess.contiguous.max(node.off + node.len as u32);
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
        // The limit the session's deframer accepted (a later `set max-bytes` lower than this
        // must not turn a hello already accepted into a parse error).
        let limit = sess.deframer.max_bytes() as usize + 4;
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
            flows.get_mut(fidx).set(flag::ACC_DONE);
            self.note(fidx, "parse-error", Some(format!("ClientHello: {why}")));
            self.release(io, flows, sidx, live, false, false);
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
                self.reset_held(
                    io,
                    flows,
                    sidx,
                    self.sessions.0[sidx as usize].base,
                    EndReason::PolicyDeny,
                );
                self.finish(flows, sidx);
            }
        }
    }

    /// Over budget with `buf` in hand (not held).
    #[allow(clippy::too_many_arguments)]
    fn over_budget<P: PacketIo<Buf = B>>(
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
                let fidx = self.sessions.0[sidx as usize].flow;
                let sess = &self.sessions.0[sidx as usize];
                let (client_side, base) = (sess.client_side, sess.base);
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
    fn budget_action<P: PacketIo<Buf = B>>(
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
                self.reset_held(
                    io,
                    flows,
                    sidx,
                    self.sessions.0[sidx as usize].base,
                    EndReason::AccumulationLimit,
                );
                self.finish(flows, sidx);
            }
        }
    }

    /// The diagnostic line and histogram entry of an over-budget session.
    fn diag_limit(&mut self, sidx: u32, why: Budget) {
        let sess = &self.sessions.0[sidx as usize];
        let fidx = sess.flow;
        let diag = match why {
            Budget::Packets(n) => format!("accumulating too many packets {n} max {}", sess.slots),
            Budget::Bytes(b) => format!(
                "accumulating too many bytes {b} max {}",
                sess.deframer.max_bytes()
            ),
            Budget::Timeout => format!(
                "client hello incomplete after {} packets and {} bytes",
                sess.held, sess.held_bytes
            ),
        };
        // What the ClientHello would have needed, when its header told its length.
        if let Some(len) = sess.deframer.declared_len() {
            let wire = len + 4 + 5 * (len / 16384 + 1);
            let seg = sess.seg_size.max(1) as u32;
            self.counters.hist.record(wire.div_ceil(seg), wire);
        } else if let Budget::Packets(n) = why {
            self.counters.hist.record(n, sess.held_bytes);
        }
        let result = match why {
            Budget::Timeout => "hold-timeout",
            _ => "limit",
        };
        self.note(fidx, result, Some(diag));
    }

    /// Record a one-line outcome for the session's log record.
    fn note(&mut self, fidx: u32, result: &'static str, diag: Option<String>) {
        let s = TlsSummary {
            accumulation: Some(result),
            diag,
            ..TlsSummary::default()
        };
        self.store_info(fidx, s);
    }

    fn store_info(&mut self, fidx: u32, s: TlsSummary) {
        if self.info.len() >= MAX_INFO && !self.info.contains_key(&fidx) {
            self.counters.acc.tls_info_dropped.inc();
            return;
        }
        match self.info.get_mut(&fidx) {
            Some(old) => old.merge(s),
            None => {
                let mut b = self.spare_summaries.pop().unwrap_or_default();
                *b = s;
                self.info.insert(fidx, b);
            }
        }
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

    /// Send the held segments to the server in order. If the client was acknowledged on the
    /// server's behalf, keep references until the server acknowledges them.
    fn release<P: PacketIo<Buf = B>>(
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
        let keep = sess.acked > 0 && !drop_duty;
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
            sess.phase = Phase::Releasing;
            sess.released_end = end;
            sess.rto_ms = live.rto_ms;
            self.wheel.arm(
                &mut self.sessions,
                sidx,
                tick_of(now_ms + live.rto_ms as u64),
            );
        } else {
            self.finish(flows, sidx);
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
    fn reset_held<P: PacketIo<Buf = B>>(
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

    /// The session is over (released and acknowledged, reset, or its flow ended).
    fn finish(&mut self, flows: &mut FlowTable, sidx: u32) {
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

    fn free_session(&mut self, sidx: u32) {
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
        let a = &self.counters.acc;
        a.held_packets
            .set(a.held_packets.get().saturating_sub(freed));
        a.sessions.set(a.sessions.get().saturating_sub(1));
    }
}

/// ACK the session's acknowledged bytes to the client on the server's behalf: the server's
/// sequence number, window and timestamp as last seen. `tpl` is a client→server frame.
fn send_ack<P: PacketIo>(
    io: &mut P,
    f: &Flow,
    sess: &Session,
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
        ack: sess.base.wrapping_add(sess.acked),
        flags: craft::ACK,
        window: server.window,
        timestamps: uses_ts.then_some((server.ts_val, client.ts_val)),
    };
    if emit_segment(io, sess.client_side, tpl, h, &seg, counters) {
        counters.acc.acks_sent.inc();
    }
}

/// Build a segment from a template and send it; counts allocation failures.
fn emit_segment<P: PacketIo>(
    io: &mut P,
    side: Side,
    tpl: &[u8],
    h: &Headers,
    seg: &craft::Segment,
    counters: &WorkerCounters,
) -> bool {
    let Some(mut b) = io.alloc() else {
        counters.acc.alloc_failed.inc();
        return false;
    };
    match craft::build(b.with_tailroom(), tpl, h, seg) {
        Some(n) if b.set_len(n) => {
            io.tx(side, b);
            true
        }
        _ => false,
    }
}

/// End a session the appliance decided to stop: RST to the client (as the server, at the
/// server's next sequence number) and to the server (as the client, at `server_expects`).
#[allow(clippy::too_many_arguments)]
fn reset_both<P: PacketIo>(
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

#[cfg(test)]
mod tests;
