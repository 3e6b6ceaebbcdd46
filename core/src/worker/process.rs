//! What happens to one frame: the established-flow fast path (`process_lite`), the general
//! path (`process`, `process_tcp`: malformed handling, L3/L4 accounting, MSS fixup, TCP state,
//! accumulation) and finding or creating its flow (`flow_for`), then forwarding it out of the
//! other side.
//!
//! Owns: the per-frame decisions and their counters. Must not reorder or batch frames (that
//! is `burst`), answer the control thread (`mailbox`), or build session records (`end`).
//! Everything here is on the per-packet path: no allocation, and the `#[inline]` attributes
//! are deliberate.

use super::burst::Pre;
use super::end::WhenFull;
use super::Worker;
use crate::config::{MalformedAction, OnTableFull};
use crate::flow::{self, flag, Dir, EndReason, FlowKey, Insert, TcpState};
use crate::io::{Frame, PacketIo, Side};
use crate::mss::{self, MssOutcome};
use crate::packet::fast::Lite;
use crate::packet::{self, L4};

/// Flags that send a segment to the general path (SYN, FIN, RST).
const CONTROL: u16 = packet::TcpFlags::SYN.0 | packet::TcpFlags::FIN.0 | packet::TcpFlags::RST.0;

impl<P: PacketIo> Worker<P> {
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
    pub(super) fn process(&mut self, from: Side, buf: P::Buf, pre: &Pre, now_ms: u64) {
        if !buf.is_contiguous() {
            // A frame chained over several buffers (jumbo frames with scattered RX): the
            // parse saw only its first buffer. Client data of a session whose hello is not
            // judged yet is dropped (it would reach the server unjudged); anything else is
            // forwarded as it came, uninspected. Both counted.
            if self.chained_unjudged(from, &buf, pre) {
                self.counters.base.multi_segment_dropped.inc();
                return;
            }
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
                if h.l4_proto == packet::ip_proto::TCP && self.live.drop_tcp_fragments {
                    c.fragments_dropped.inc();
                    return;
                }
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
        let found = self.flows.lookup(key, pre.hash);
        if l.flags.0 & CONTROL == 0 {
            if let Some(idx) = found {
                let f = self.flows.get_mut(idx);
                let dir = f.dir_of(src_is_a);
                // Not held: the accumulator is done with the session, or does not hold
                // this segment (from the server, or no payload).
                if f.state == TcpState::Established && !self.acc.wants(f, dir, l.payload_len) {
                    let ts_val = l.ts.map(|(val, _)| val);
                    let wire_len = buf.data().len();
                    let end = flow::tcp::seq_end(l.seq, l.payload_len, l.flags);
                    flow::tcp::account(f, dir, wire_len, l.window, ts_val, l.seq, end);
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

    /// Whether a chained frame from `from` is TCP to an accumulated port of a session whose
    /// ClientHello is not judged yet (or of no known session).
    #[cold]
    fn chained_unjudged(&self, from: Side, buf: &P::Buf, pre: &Pre) -> bool {
        if !self.live.accumulate || from != Side::Client {
            return false;
        }
        let Some(dst_port) = packet::parse(buf.data())
            .ok()
            .and_then(|h| h.tcp().map(|t| t.dst_port))
        else {
            return false;
        };
        if !self.live.ports.contains(dst_port) {
            return false;
        }
        match &pre.key {
            Some((key, _)) => self
                .flows
                .lookup(key, pre.hash)
                .map_or(true, |idx| !self.flows.get(idx).has(flag::ACC_DONE)),
            None => true,
        }
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
        if dir == Dir::FromClient {
            let f = self.flows.get(idx);
            // The guard: before its hello is judged, a client segment of an accumulated
            // session goes on only if the server would accept it (flow::guard).
            // A bare ACK is not screened: it moves no sequence number and reaches no
            // accumulator (and the established-flow path forwards it the same way).
            if self.live.accumulate
                && (t.payload_len > 0 || t.flags.0 & CONTROL != 0)
                && !f.has(flag::ACC_DONE)
                && !f.has(flag::MIDSTREAM)
                && self.live.ports.contains(t.dst_port)
            {
                if let Some(r) = flow::guard::screen(buf.data(), h, t, f) {
                    self.counters.refused[r.index()].inc();
                    return;
                }
            }
        }

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
        if !self.acc.wants(self.flows.get(idx), dir, t.payload_len) {
            return self.forward(from, buf);
        }
        if dir == Dir::FromClient {
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
        } else {
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
            self.end.end(
                &mut self.acc,
                idx,
                old,
                EndReason::AgedOut,
                now_ms,
                WhenFull::Drop,
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
}
