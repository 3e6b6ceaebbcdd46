//! The poll loop of one worker core: receive a burst from each side, process each frame, send
//! it out of the other side, flush. Generic over `PacketIo` so it runs on DPDK ports in
//! production and on in-memory fakes in tests.

use crate::accumulate::{Accumulator, Capacity};
use crate::config::{MalformedAction, OnTableFull};
use crate::counters::WorkerCounters;
use crate::flow::{
    self, flag, Dir, EndReason, Flow, FlowKey, FlowTable, HashKey, Insert, TcpState, Timeouts,
};
use crate::io::{Frame, PacketIo, Side, BURST};
use crate::live::{Live, Shared};
use crate::mss::{self, MssOutcome};
use crate::packet::fast::Lite;
use crate::packet::{self, ParseError, L4};
use crate::record::SessionRecord;
use crossbeam::queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// How a worker is set up (by the runtime, or by a test).
pub struct WorkerConfig {
    pub id: u16,
    pub flow_capacity: u32,
    pub timeouts: Timeouts,
    pub on_table_full: OnTableFull,
    pub malformed: MalformedAction,
    /// Unix time in ms at the worker clock's zero (for record timestamps).
    pub wall_epoch_ms: u64,
    /// Hold slots shared by all workers.
    pub capacity: Arc<Capacity>,
    /// Control requests to this worker.
    pub mailbox: Arc<Mailbox>,
    /// The flow table's hash secret (`HashKey::random` in the appliance).
    pub hash_key: HashKey,
}

/// A control request a worker answers between bursts (`show sessions`).
#[derive(Clone, Debug)]
pub struct SessionQuery {
    /// Echoed with the reply, so a late answer to an earlier (timed-out) query is told apart.
    pub id: u64,
    /// Lower-case SNI (or suffix) to match; None: all sessions.
    pub sni: Option<String>,
    pub limit: usize,
}

/// Lock-free mailbox between the control thread and one worker.
pub struct Mailbox {
    pub queries: ArrayQueue<SessionQuery>,
    /// (query id, sessions).
    pub replies: ArrayQueue<(u64, Vec<serde_json::Value>)>,
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox {
            queries: ArrayQueue::new(4),
            replies: ArrayQueue::new(4),
        }
    }
}

/// Most flows expired per loop, so a mass expiry cannot stall RX for long.
const EXPIRE_BUDGET: usize = 1024;
/// Pipeline distance within a full burst (see `poll`): frames between parsing a frame and
/// requesting the first flow of its bucket's chain; as many again to the second flow, and
/// again to processing the frame. Shorter bursts use shorter distances (a third of the
/// burst), so a short burst costs no empty rounds.
const STAGE: usize = 8;
/// Flow-table slots a `show sessions` scan visits per loop.
const QUERY_SLOTS_PER_POLL: u32 = 16_384;

/// One worker: its queue on both ports and everything it owns.
pub struct Worker<P: PacketIo> {
    pub id: u16,
    pub(crate) io: P,
    counters: Arc<WorkerCounters>,
    shared: Arc<Shared>,
    live: Arc<Live>,
    live_version: u64,
    flows: FlowTable,
    acc: Accumulator<P::Buf>,
    /// Records to the control thread, and whether every session goes (a traffic log is
    /// configured) or only those with a diagnostic.
    log: Option<(Arc<ArrayQueue<SessionRecord>>, bool)>,
    mailbox: Arc<Mailbox>,
    /// A `show sessions` being answered: the query, the next slot to scan, what was found.
    query: Option<(SessionQuery, u32, Vec<serde_json::Value>)>,
    on_table_full: OnTableFull,
    malformed: MalformedAction,
    wall_epoch_ms: u64,
    rx: Vec<P::Buf>,
    /// What the first pass over a burst learnt about each frame (`BURST` entries, reused).
    pre: Box<[Pre]>,
    /// The burst's frames while the pipeline works on them (`BURST` capacity, reused).
    held: Vec<Option<P::Buf>>,
    /// Whether frames of the common shapes take the established-flow path (`process_lite`).
    /// Always on but in tests and fuzzing, which turn it off to hold the two paths equal.
    pub(crate) lite: bool,
    /// Frames the established-flow path forwarded (tests check that it was taken).
    #[cfg(test)]
    lite_taken: u64,
}

/// A frame's headers and flow key, from the first pass over a burst.
#[derive(Default)]
pub(crate) struct Pre {
    /// The segment, for a frame of the common shapes (`packet::fast`): then `headers` is not
    /// filled, and only a frame that leaves the established-flow path builds them.
    lite: Option<Lite>,
    /// The general parser's headers, when `lite` is None.
    headers: packet::Headers,
    /// Why the frame did not parse (then `headers` is partial).
    error: Option<ParseError>,
    /// The flow key and whether the frame's source is its `a` side (None: no flow: not IP, a
    /// fragment, malformed).
    key: Option<(FlowKey, bool)>,
    hash: u64,
    /// The flow table's bucket of `hash` (set when the pipeline first requests it).
    bucket: u32,
}

impl Pre {
    /// Fill in place (no `Headers` moved through the stack: the datapath's hottest copy).
    /// Without `lite`, every frame goes through the general parser (the tests' reference).
    #[inline]
    fn fill(&mut self, frame: &[u8], lite: bool, hk: &HashKey) {
        let fast = if lite {
            packet::fast::parse_lite(frame)
        } else {
            None
        };
        let keyed = match fast {
            // The common shapes (TCP over IPv4 or IPv6): the key from the addresses as
            // parsed, not loaded back from stored headers.
            Some((l, src, dst)) => {
                self.lite = Some(l);
                self.error = None;
                Some(FlowKey::from_parts_hashed(
                    hk,
                    src,
                    dst,
                    l.src_port,
                    l.dst_port,
                    l.vlan_outer,
                    packet::ip_proto::TCP,
                ))
            }
            None => {
                self.lite = None;
                self.error = packet::parse_into(frame, &mut self.headers).err();
                match self.error {
                    None => FlowKey::from_headers_hashed(&self.headers, hk),
                    Some(_) => None,
                }
            }
        };
        match keyed {
            Some((k, src_is_a, hash)) => {
                self.key = Some((k, src_is_a));
                self.hash = hash;
            }
            None => {
                self.key = None;
                self.hash = 0;
            }
        }
    }
}

impl<P: PacketIo> Worker<P> {
    pub fn new(
        cfg: WorkerConfig,
        io: P,
        counters: Arc<WorkerCounters>,
        shared: Arc<Shared>,
        log: Option<(Arc<ArrayQueue<SessionRecord>>, bool)>,
    ) -> Self {
        let live_version = shared.version();
        let pool = cfg.capacity.pool_packets;
        let acc = Accumulator::new(pool, pool, cfg.capacity.clone(), counters.clone());
        Worker {
            acc,
            id: cfg.id,
            io,
            counters,
            live: shared.load(),
            live_version,
            shared,
            flows: FlowTable::new(cfg.flow_capacity, cfg.id, cfg.timeouts, cfg.hash_key),
            log,
            mailbox: cfg.mailbox.clone(),
            query: None,
            on_table_full: cfg.on_table_full,
            malformed: cfg.malformed,
            wall_epoch_ms: cfg.wall_epoch_ms,
            rx: Vec::with_capacity(BURST),
            pre: (0..BURST).map(|_| Pre::default()).collect(),
            held: Vec::with_capacity(BURST),
            lite: true,
            #[cfg(test)]
            lite_taken: 0,
        }
    }

    /// One iteration at worker time `now_ms`: a burst from each side, processed and flushed,
    /// then aging. Returns frames received.
    #[inline]
    pub fn poll(&mut self, now_ms: u64) -> usize {
        let v = self.shared.version();
        if v != self.live_version {
            self.live = self.shared.load();
            self.live_version = v;
        }
        let mut total = 0;
        for side in Side::BOTH {
            self.io.rx_burst(side, &mut self.rx);
            let n = self.rx.len();
            if n == 0 {
                continue;
            }
            total += n;
            let mut bytes = 0u64;
            // A software pipeline over the burst, so that the flow lookups' cache misses
            // overlap each other and the work on earlier frames instead of stalling each frame
            // in turn: frame i is parsed and the first line of its bucket's slot requested
            // (the chain head); the chain's first flow is requested `step` frames later, the
            // second `2 * step` frames later; the frame is processed `3 * step` frames later.
            let step = (n / 3).clamp(1, STAGE);
            let hk = *self.flows.hash_key();
            let mut held = std::mem::take(&mut self.held);
            held.clear();
            held.extend(self.rx.drain(..).map(Some));
            let mut pre = std::mem::take(&mut self.pre);
            let pre_n = &mut pre[..n];
            // Round i parses frame i, requests the first flow of frame i - step's chain and
            // the second of frame i - 2 step's, and processes frame i - 3 step (a wrapped
            // subtraction is out of range too).
            for i in 0..n + 3 * step {
                if let (Some(Some(buf)), Some(p)) = (held.get(i), pre_n.get_mut(i)) {
                    let data = buf.data();
                    bytes += data.len() as u64;
                    p.fill(data, self.lite, &hk);
                    if p.key.is_some() {
                        p.bucket = self.flows.prefetch_bucket(p.hash);
                    }
                }
                if let Some(p) = pre_n.get(i.wrapping_sub(step)) {
                    if p.key.is_some() {
                        self.flows.prefetch_flow(p.bucket);
                    }
                }
                if let Some(p) = pre_n.get(i.wrapping_sub(2 * step)) {
                    if p.key.is_some() {
                        self.flows.prefetch_next(p.bucket);
                    }
                }
                let j = i.wrapping_sub(3 * step);
                if let (Some(slot), Some(p)) = (held.get_mut(j), pre_n.get(j)) {
                    if let Some(buf) = slot.take() {
                        self.process(side, buf, p, now_ms);
                    }
                }
            }
            self.held = held;
            self.pre = pre;
            let c = &self.counters.base;
            match side {
                Side::Client => {
                    c.rx_from_client.add(n as u64);
                    c.rx_bytes_from_client.add(bytes);
                }
                Side::Server => {
                    c.rx_from_server.add(n as u64);
                    c.rx_bytes_from_server.add(bytes);
                }
            }
        }
        self.acc
            .poll_timers(&mut self.io, &self.live, &mut self.flows, now_ms);
        self.answer_queries(now_ms);
        self.io.flush();
        self.expire(now_ms);
        let c = &self.counters.base;
        c.polls.inc();
        if total > 0 {
            c.busy_polls.inc();
        }
        let [dc, ds] = self.io.tx_dropped();
        c.tx_dropped_to_client.set(dc);
        c.tx_dropped_to_server.set(ds);
        c.flows_active.set(self.flows.len() as u64);
        if self.flows.len() as u64 > c.flows_peak.get() {
            c.flows_peak.set(self.flows.len() as u64);
        }
        total
    }

    #[inline]
    fn forward(&mut self, from: Side, buf: P::Buf) {
        let c = &self.counters.base;
        match from {
            Side::Client => c.tx_to_server.inc(),
            Side::Server => c.tx_to_client.inc(),
        }
        self.io.tx(from.other(), buf);
    }

    #[inline]
    fn process(&mut self, from: Side, buf: P::Buf, pre: &Pre, now_ms: u64) {
        if !buf.is_contiguous() {
            // A frame chained over several buffers (jumbo frames with scattered RX): the
            // parse saw only its first buffer. Forwarded as it came, uninspected, counted.
            self.counters.base.multi_segment_passed.inc();
            return self.forward(from, buf);
        }
        if let (Some(lite), Some((key, src_is_a))) = (&pre.lite, &pre.key) {
            return self.process_lite(from, buf, pre, lite, key, *src_is_a, now_ms);
        }
        let h = match pre.error {
            None => &pre.headers,
            Some(e) => {
                self.counters.malformed[e.index()].inc();
                match self.malformed {
                    MalformedAction::Drop => {
                        self.counters.base.malformed_dropped.inc();
                        return; // buf dropped: back to its pool
                    }
                    MalformedAction::Pass => {
                        self.counters.base.malformed_passed.inc();
                        return self.forward(from, buf);
                    }
                }
            }
        };
        let c = &self.counters.base;
        c.count_l3(h.vlan_count, h.l3);
        if h.l3 == packet::L3::NotIp {
            return self.forward(from, buf);
        }
        let tcp = match &h.l4 {
            L4::Tcp(t) => {
                c.tcp.inc();
                Some(t)
            }
            L4::Udp { .. } => {
                c.udp.inc();
                None
            }
            L4::Icmp { .. } => {
                c.icmp.inc();
                None
            }
            L4::Fragment => {
                c.fragments.inc();
                return self.forward(from, buf);
            }
            L4::None | L4::Other => {
                c.other_l4.inc();
                None
            }
        };
        let Some((key, src_is_a)) = &pre.key else {
            return self.forward(from, buf);
        };
        let src_is_a = *src_is_a;
        let hash = pre.hash;
        let wire_len = buf.data().len();

        let Some(t) = tcp else {
            // Non-TCP: one flow per 5-tuple, aged by the non-TCP timeout.
            let found = self.flows.lookup(key, hash);
            match self.flow_for(found, key, hash, now_ms, from, src_is_a, None) {
                Some(idx) => {
                    let f = self.flows.get_mut(idx);
                    let d = f.dir_of(src_is_a).index();
                    f.dir[d].pkts = f.dir[d].pkts.wrapping_add(1);
                    f.dir[d].bytes = f.dir[d].bytes.wrapping_add(wire_len as u64);
                    self.flows.touch(idx, now_ms);
                }
                None if self.on_table_full == OnTableFull::Drop => return,
                None => {}
            }
            return self.forward(from, buf);
        };
        let found = self.flows.lookup(key, hash);
        self.process_tcp(from, buf, h, t, found, key, src_is_a, hash, now_ms)
    }

    /// A frame of the common shapes (`packet::fast`): a TCP segment over IPv4 or IPv6. A data
    /// or pure ACK segment of an established session that the accumulator has no business
    /// with (nearly every frame) is accounted and forwarded here, doing exactly what
    /// `process_tcp` would do with it; anything else gets its full headers and goes there.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn process_lite(
        &mut self,
        from: Side,
        buf: P::Buf,
        pre: &Pre,
        l: &Lite,
        key: &FlowKey,
        src_is_a: bool,
        now_ms: u64,
    ) {
        let c = &self.counters.base;
        c.count_l3(l.vlan_count, l.l3);
        c.tcp.inc();
        const CONTROL: u16 =
            packet::TcpFlags::SYN.0 | packet::TcpFlags::FIN.0 | packet::TcpFlags::RST.0;
        let found = self.flows.lookup(key, pre.hash);
        if l.flags.0 & CONTROL == 0 {
            if let Some(idx) = found {
                let f = self.flows.get_mut(idx);
                let dir = f.dir_of(src_is_a);
                // Not held: the accumulator is done with the session, or does not hold
                // this segment (from the server, or no payload).
                if f.state == TcpState::Established
                    && !f.has(flag::ACCUMULATING)
                    && (f.has(flag::ACC_DONE) || dir == Dir::FromServer || l.payload_len == 0)
                {
                    let ts_val = l.ts.map(|(val, _)| val);
                    let wire_len = buf.data().len();
                    let end = flow::tcp::seq_end(l.seq, l.payload_len, l.flags);
                    flow::tcp::account(f, dir, wire_len, l.window, ts_val, end);
                    self.flows.touch(idx, now_ms);
                    #[cfg(test)]
                    {
                        self.lite_taken += 1;
                    }
                    return self.forward(from, buf);
                }
            }
        }
        self.process_lite_slow(from, buf, pre, found, now_ms)
    }

    /// `process_lite` for a segment that needs the general path: its headers built from the
    /// segment, then `process_tcp`.
    #[inline(never)]
    fn process_lite_slow(
        &mut self,
        from: Side,
        buf: P::Buf,
        pre: &Pre,
        found: Option<u32>,
        now_ms: u64,
    ) {
        let (Some(l), Some((key, src_is_a))) = (&pre.lite, &pre.key) else {
            // Not a frame of the common shapes after all (the caller checked): pass it.
            return self.forward(from, buf);
        };
        let (a, b) = (u128::from_be_bytes(key.a), u128::from_be_bytes(key.b));
        let (src, dst) = if *src_is_a { (a, b) } else { (b, a) };
        let h = l.headers(src, dst);
        let t = l.tcp();
        self.process_tcp(from, buf, &h, &t, found, key, *src_is_a, pre.hash, now_ms)
    }

    /// A TCP segment on the general path (`found`: the flow table's lookup of `key`): the flow
    /// found or created, MSS fixup on SYNs, TCP state, accumulation, forwarding.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn process_tcp(
        &mut self,
        from: Side,
        mut buf: P::Buf,
        h: &packet::Headers,
        t: &packet::TcpInfo,
        found: Option<u32>,
        key: &FlowKey,
        src_is_a: bool,
        hash: u64,
        now_ms: u64,
    ) {
        let mut h = h;
        let Some(idx) = self.flow_for(found, key, hash, now_ms, from, src_is_a, Some(t)) else {
            if t.flags.rst() || self.on_table_full == OnTableFull::Pass {
                return self.forward(from, buf);
            }
            return; // table full, drop
        };
        let dir = self.flows.get(idx).dir_of(src_is_a);

        // A SYN's headers are copied: MSS fixup may grow its TCP header.
        let mut syn_headers;
        if t.flags.syn() {
            syn_headers = *h;
            let policy = self.live.mss[from.other().index()];
            let len = buf.data().len();
            let fx = mss::fixup(buf.with_tailroom(), len, &mut syn_headers, &policy);
            h = &syn_headers;
            if fx.frame_len != len && !buf.set_len(fx.frame_len) {
                // Cannot happen (fixup only grows within the tailroom it was given); keep the
                // frame consistent by dropping it rather than sending a half-edited packet.
                return;
            }
            self.counters.mss[dir.index()][fx.outcome.index()].inc();
            let f = self.flows.get_mut(idx);
            let (ins, clamp) = match dir {
                Dir::FromClient => (flag::MSS_INSERTED_CLIENT, flag::MSS_CLAMPED_CLIENT),
                Dir::FromServer => (flag::MSS_INSERTED_SERVER, flag::MSS_CLAMPED_SERVER),
            };
            match fx.outcome {
                MssOutcome::Inserted { value } => {
                    f.set(ins);
                    f.dir[dir.index()].mss = value;
                }
                MssOutcome::Clamped { to, .. } => {
                    f.set(clamp);
                    f.dir[dir.index()].mss = to;
                }
                MssOutcome::Unchanged { value } => f.dir[dir.index()].mss = value,
                _ => {}
            }
        }
        // After an MSS insertion `h` describes the grown header.
        let t = h.tcp().unwrap_or(t);
        let wire_len = buf.data().len();
        let f = self.flows.get_mut(idx);
        let client_next = f.dir[Dir::FromClient.index()].next_seq;
        if dir == Dir::FromClient && t.payload_len > 0 && f.state == TcpState::Closed {
            if let Some(r) = f.end_reason() {
                if r.is_ours() {
                    // The appliance reset this session: nothing more reaches the server.
                    self.counters.base.dropped_after_reset.inc();
                    return;
                }
            }
        }
        if !flow::tcp::on_segment(f, dir, t, wire_len) {
            self.counters.base.rst_out_of_window.inc();
        }
        self.flows.touch(idx, now_ms);
        let f = self.flows.get(idx);
        if dir == Dir::FromClient {
            if t.payload_len > 0 && (f.has(flag::ACCUMULATING) || !f.has(flag::ACC_DONE)) {
                match self.acc.on_client(
                    &mut self.io,
                    &self.live,
                    &mut self.flows,
                    idx,
                    from,
                    h,
                    buf,
                    client_next,
                    now_ms,
                ) {
                    Some(b) => return self.forward(from, b),
                    None => return,
                }
            }
        } else if f.has(flag::ACCUMULATING) {
            self.acc
                .on_server(&mut self.io, &self.live, &mut self.flows, idx, h, now_ms);
        }
        self.forward(from, buf)
    }

    /// The flow of a packet, created if new (roles from the SYN / SYN-ACK, or from the port
    /// the packet arrived on when picked up mid-stream). None: no flow (table full, or a RST
    /// for an unknown session, which is not worth a flow).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn flow_for(
        &mut self,
        found: Option<u32>,
        key: &FlowKey,
        hash: u64,
        now_ms: u64,
        from: Side,
        src_is_a: bool,
        tcp: Option<&packet::TcpInfo>,
    ) -> Option<u32> {
        // The hit, inline (nearly every packet); the rest out of line, so the per-packet
        // path carries no call and none of the creation code's register pressure.
        if let Some(idx) = found {
            let new_syn = tcp.is_some_and(|t| t.flags.syn() && !t.flags.ack());
            if !new_syn || self.flows.get(idx).state != TcpState::Closed {
                return Some(idx);
            }
        }
        self.flow_slow(found, key, hash, now_ms, from, src_is_a, tcp)
    }

    /// `flow_for` when the flow is not found, or a SYN reuses a closed session's 4-tuple.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn flow_slow(
        &mut self,
        found: Option<u32>,
        key: &FlowKey,
        hash: u64,
        now_ms: u64,
        from: Side,
        src_is_a: bool,
        tcp: Option<&packet::TcpInfo>,
    ) -> Option<u32> {
        if let Some(idx) = found {
            // A new SYN on a closed session's 4-tuple: end the old one, start afresh.
            self.counters.base.port_reuse.inc();
            let old = self.flows.remove(idx);
            end_session(
                &mut self.acc,
                &self.counters,
                &self.log,
                (self.id, self.wall_epoch_ms),
                idx,
                old,
                EndReason::AgedOut,
                now_ms,
                false,
            );
        }
        if tcp.is_some_and(|t| t.flags.rst()) {
            self.counters.base.rst_without_flow.inc();
            return None;
        }
        match self.flows.insert(key, hash, now_ms) {
            Insert::Found(idx) => Some(idx),
            Insert::Created(idx) => {
                self.counters.base.flows_created.inc();
                let f = self.flows.get_mut(idx);
                // Who is the client: the SYN's sender, the SYN-ACK's receiver, or else the
                // host on the client-side port.
                let sender_is_client = match tcp {
                    Some(t) if t.flags.syn() => !t.flags.ack(),
                    _ => from == Side::Client,
                };
                if sender_is_client == src_is_a {
                    f.set(flag::CLIENT_IS_A);
                }
                if let Some(t) = tcp {
                    if !t.flags.syn() {
                        f.set(flag::MIDSTREAM);
                        f.state = TcpState::Established;
                        self.counters.base.midstream_pickups.inc();
                    }
                }
                Some(idx)
            }
            Insert::Full => {
                let c = &self.counters.base;
                match self.on_table_full {
                    OnTableFull::Pass => c.flow_table_full_passed.inc(),
                    OnTableFull::Drop => c.flow_table_full_dropped.inc(),
                }
                None
            }
        }
    }

    fn expire(&mut self, now_ms: u64) {
        let (flows, acc, counters, log, id, epoch) = (
            &mut self.flows,
            &mut self.acc,
            &self.counters,
            &self.log,
            self.id,
            self.wall_epoch_ms,
        );
        flows.expire(now_ms, EXPIRE_BUDGET, |idx, f| {
            end_session(
                acc,
                counters,
                log,
                (id, epoch),
                idx,
                f,
                EndReason::AgedOut,
                now_ms,
                false,
            )
        });
    }

    /// Poll until `stop` is set, then drain: keep polling until both sides are quiet for a
    /// while (bounded), so frames already received are forwarded, not dropped; then end every
    /// session with reason `shutdown` (unless it had already ended).
    pub fn run(&mut self, stop: &AtomicBool, clock: Instant) {
        let now = || clock.elapsed().as_millis() as u64;
        while !stop.load(Ordering::Relaxed) {
            self.poll(now());
        }
        let mut quiet = 0;
        for _ in 0..100_000 {
            if self.poll(now()) == 0 {
                quiet += 1;
                if quiet >= 64 {
                    break;
                }
            } else {
                quiet = 0;
            }
        }
        self.io.flush();
        self.shutdown(now());
    }

    /// End every session (reason `shutdown` unless it had already ended): sessions still
    /// accumulating are released or reset per `on_limit` first. Records are handed over even
    /// if the log queue is momentarily full (the control thread is draining it).
    pub fn shutdown(&mut self, now_ms: u64) {
        let live = self.live.clone();
        self.acc
            .shutdown(&mut self.io, &live, &mut self.flows, now_ms);
        self.io.flush();
        let (flows, acc, counters, log, id, epoch) = (
            &mut self.flows,
            &mut self.acc,
            &self.counters,
            &self.log,
            self.id,
            self.wall_epoch_ms,
        );
        flows.drain(|idx, f| {
            end_session(
                acc,
                counters,
                log,
                (id, epoch),
                idx,
                f,
                EndReason::Shutdown,
                now_ms,
                true,
            )
        });
        self.counters.base.flows_active.set(0);
    }

    /// Work on `show sessions`: a slice of the flow table per poll, so a large table is
    /// scanned without stalling the packet path; the reply goes out when the scan is done.
    fn answer_queries(&mut self, now_ms: u64) {
        if self.query.is_none() {
            match self.mailbox.queries.pop() {
                Some(q) => self.query = Some((q, 0, Vec::new())),
                None => return,
            }
        }
        let Some((q, from, mut out)) = self.query.take() else {
            return;
        };
        let next = self.sessions(&q, from, &mut out, now_ms);
        match next {
            Some(n) if out.len() < q.limit => self.query = Some((q, n, out)),
            _ => {
                let _ = self.mailbox.replies.push((q.id, out));
            }
        }
    }

    /// The live sessions among one slice of slots for `show sessions`; where the next slice
    /// starts.
    fn sessions(
        &self,
        q: &SessionQuery,
        from: u32,
        out: &mut Vec<serde_json::Value>,
        now_ms: u64,
    ) -> Option<u32> {
        let (it, next) = self.flows.scan(from, QUERY_SLOTS_PER_POLL);
        for (idx, f) in it {
            if out.len() >= q.limit {
                break;
            }
            let sni = self.acc.sni_of(idx);
            if let Some(want) = &q.sni {
                // `want` is lower case; an exact name or a subdomain of it, without allocating.
                let hit = sni.is_some_and(|s| {
                    let (s, w) = (s.as_bytes(), want.as_bytes());
                    s.eq_ignore_ascii_case(w)
                        || (s.len() > w.len()
                            && s[s.len() - w.len()..].eq_ignore_ascii_case(w)
                            && s[s.len() - w.len() - 1] == b'.')
                });
                if !hit {
                    continue;
                }
            }
            let rec = SessionRecord::from_flow(f, self.id, 0);
            let age = (now_ms as u32).wrapping_sub(f.start_ms);
            out.push(serde_json::json!({
                "session_id": f.session_id(self.id),
                "worker": self.id,
                "proto": rec.proto,
                "client": std::net::SocketAddr::new(rec.client, rec.client_port).to_string(),
                "server": std::net::SocketAddr::new(rec.server, rec.server_port).to_string(),
                "state": format!("{:?}", f.state),
                "packets_c2s": f.dir[0].pkts,
                "packets_s2c": f.dir[1].pkts,
                "bytes_c2s": f.dir[0].bytes,
                "bytes_s2c": f.dir[1].bytes,
                "age_ms": age,
                "idle_ms": age.saturating_sub(f.last_ms),
                "accumulating": f.has(flag::ACCUMULATING),
                "sni": sni,
            }));
        }
        next
    }

    /// Send the held packets of sessions the appliance ends itself to a capture writer.
    pub fn set_captures(
        &mut self,
        queue: Arc<ArrayQueue<crate::capture::CaptureJob<P::Buf>>>,
        dir: std::path::PathBuf,
    ) {
        self.acc.set_captures(queue, dir, self.wall_epoch_ms);
    }

    /// The accumulator itself (tests reach into its pools).
    #[cfg(test)]
    pub(crate) fn acc_mut(&mut self) -> &mut Accumulator<P::Buf> {
        &mut self.acc
    }

    /// Sessions the accumulator holds state for.
    pub fn accumulating(&self) -> usize {
        self.acc.active()
    }

    pub fn io(&self) -> &P {
        &self.io
    }

    /// The port layer, writable: tests feed frames to a `VecIo` and take what it sent.
    pub fn io_mut(&mut self) -> &mut P {
        &mut self.io
    }

    /// Turn the established-flow path off or on. Tests and fuzzing run the same traffic both
    /// ways and require the same results; the appliance always runs with it on.
    #[cfg(any(test, feature = "testing"))]
    pub fn set_established_path(&mut self, on: bool) {
        self.lite = on;
    }

    pub fn flows(&self) -> &FlowTable {
        &self.flows
    }

    pub fn counters(&self) -> &WorkerCounters {
        &self.counters
    }

    pub fn capacity(&self) -> &Capacity {
        self.acc.capacity()
    }
}

/// A session removed from the flow table (`f`, which was in slot `idx`): drop the
/// accumulator's state for it, count it by end reason (its own, or `default_reason`) and hand
/// its record to the control thread when a traffic log or a diagnostic wants it; a ClientHello
/// summary no record takes goes back to the accumulator's pools. `wait`: retry a full log
/// queue for up to a second (shutdown).
#[allow(clippy::too_many_arguments)]
fn end_session<B: Frame>(
    acc: &mut Accumulator<B>,
    counters: &WorkerCounters,
    log: &Option<(Arc<ArrayQueue<SessionRecord>>, bool)>,
    (worker, wall_epoch_ms): (u16, u64),
    idx: u32,
    f: Flow,
    default_reason: EndReason,
    now_ms: u64,
    wait: bool,
) {
    if f.has(flag::ACCUMULATING) {
        acc.on_flow_removed(idx);
    }
    let tls = acc.take_info(idx);
    let mut f = f;
    if f.has(flag::LOGGED) {
        acc.recycle(tls);
        return;
    }
    f.end_with(default_reason);
    let reason = f.end_reason().unwrap_or(default_reason);
    counters.ended[reason.index()].inc();
    // Without a traffic log only the sessions with a diagnostic go to the control thread.
    let wanted = log
        .as_ref()
        .filter(|(_, every)| *every || tls.as_ref().is_some_and(|t| t.diag.is_some()));
    let Some((q, _)) = wanted else {
        acc.recycle(tls);
        return;
    };
    let mut rec = SessionRecord::from_flow(&f, worker, wall_epoch_ms + now_ms);
    rec.tls = tls;
    for attempt in 0..1000 {
        match q.push(rec) {
            Ok(()) => {
                counters.base.log_records.inc();
                return;
            }
            Err(r) if wait && attempt < 999 => {
                rec = r;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(mut r) => {
                counters.base.log_queue_full.inc();
                acc.recycle(r.tls.take());
                return;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
