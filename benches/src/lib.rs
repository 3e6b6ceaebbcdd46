//! Fixtures shared by the criterion benchmarks (`benches/*.rs`) and the `flow-bytes` helper
//! of `scripts/bench`: frames built with the generator's independent frame builder, flow
//! keys made from an index, filled flow tables, ClientHellos cut into a chosen number of
//! segments.

use appliance_core::config::Config;
use appliance_core::counters::WorkerCounters;
use appliance_core::flow::{FlowKey, FlowTable, HashKey, Insert, Timeouts};
use appliance_core::io::{Frame, PacketIo, Side, BURST};
use appliance_core::live::{Live, Shared};
use appliance_core::worker::{Worker, WorkerConfig};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::rc::Rc;
use std::sync::Arc;
use trafficgen::frame::{self, Ethernet, Ip, Ipv4, Ipv6, Tcp, TcpOption, ACK, PSH, SYN};
use trafficgen::hello::{self, HelloSpec};
use trafficgen::{paired, GenArgs};

/// A multiplier coprime with every table size used here (odd, not a multiple of 5), so
/// `i -> i * STRIDE mod n` visits all of `0..n` in a cache-unfriendly order.
pub const STRIDE: u64 = 2_654_435_761;

/// Client ports per client address in [`flow_key`].
const PORTS_PER_HOST: u64 = 60_000;

/// The flow key of flow number `i` (distinct for `i < 2^32`): client 198.18.0.0/15 with
/// 60000 ports per address, server 198.19.255.1..4 port 443, IPv4-mapped like the
/// appliance's parser makes them. The client sorts lower, so it is the key's `a` side.
pub fn flow_key(i: u64) -> FlowKey {
    let host = i / PORTS_PER_HOST;
    let client = Ipv4Addr::new(
        198,
        18 + (host >> 16) as u8 % 2,
        (host >> 8) as u8,
        host as u8,
    );
    let server = Ipv4Addr::new(198, 19, 255, 1 + (i % 4) as u8);
    let mut k = FlowKey::default();
    k.a = client.to_ipv6_mapped().octets();
    k.b = server.to_ipv6_mapped().octets();
    k.port_a = 1024 + (i % PORTS_PER_HOST) as u16;
    k.port_b = 443;
    k.vlan = 0;
    k.proto = 6;
    k
}

/// The flow tables' hash secret in the benchmarks: fixed, so that runs are repeatable (the
/// appliance draws one at random; any key spreads these flows alike).
pub fn hash_key() -> HashKey {
    HashKey::from_seed(0x0062_656e_6368)
}

/// A flow table of `capacity` with flows `0..n` inserted (keys from [`flow_key`]).
pub fn filled_table(n: u64, capacity: u32) -> FlowTable {
    let mut t = FlowTable::new(capacity, 0, Timeouts::default(), hash_key());
    for i in 0..n {
        let k = flow_key(i);
        match t.lookup_or_insert(&k, t.hash(&k), 0) {
            Insert::Created(_) => {}
            other => panic!("flow {i}: {other:?}"),
        }
    }
    t
}

/// Flow-table bytes per flow slot: `memory_bytes() / capacity` of an empty table.
pub fn flow_bytes_per_session(capacity: u32) -> f64 {
    let t = FlowTable::new(capacity, 0, Timeouts::default(), hash_key());
    t.memory_bytes() as f64 / f64::from(t.capacity)
}

/// An endless walk over `0..n` in [`STRIDE`] steps, without a division per step.
#[derive(Clone, Debug)]
pub struct Walk {
    n: u64,
    step: u64,
    at: u64,
}

impl Walk {
    pub fn new(n: u64) -> Walk {
        assert!(n > 0);
        Walk {
            n,
            step: STRIDE % n,
            at: 0,
        }
    }

    #[inline]
    pub fn next_index(&mut self) -> u64 {
        let i = self.at;
        self.at += self.step;
        if self.at >= self.n {
            self.at -= self.n;
        }
        i
    }
}

fn eth(vlan: Option<u16>) -> Ethernet {
    Ethernet {
        dst: [0x02, 0, 0, 2, 0, 1],
        src: [0x02, 0, 0, 1, 0, 1],
        vlan,
        pad: true,
    }
}

fn v4() -> Ip {
    Ip::V4(Ipv4 {
        src: Ipv4Addr::new(198, 18, 0, 1),
        dst: Ipv4Addr::new(198, 19, 0, 1),
        id: 0x1234,
        ttl: 128,
        dont_fragment: true,
    })
}

fn v6() -> Ip {
    Ip::V6(Ipv6 {
        src: Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1),
        dst: Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 1),
        hop_limit: 64,
        flow_label: 0x12345,
    })
}

fn tcp_frame(
    vlan: Option<u16>,
    ip: Ip,
    flags: u8,
    options: &[TcpOption],
    payload: &[u8],
) -> Vec<u8> {
    let tcp = Tcp {
        src_port: 50_000,
        dst_port: 443,
        seq: 0x1000_0000,
        ack: if flags & ACK != 0 { 0x2000_0000 } else { 0 },
        flags,
        window: 64_240,
        options,
        payload,
    };
    frame::tcp_frame(&eth(vlan), &ip, &tcp).expect("fixture frame")
}

/// Linux-style SYN options: MSS 1460, SACK permitted, timestamps, window scale 7.
pub const LINUX_SYN_OPTIONS: [TcpOption; 5] = [
    TcpOption::Mss(1460),
    TcpOption::SackPermitted,
    TcpOption::Timestamps { val: 1, ecr: 0 },
    TcpOption::Nop,
    TcpOption::WindowScale(7),
];

/// IPv4 TCP SYN with Linux options (74 bytes).
pub fn syn_v4() -> Vec<u8> {
    tcp_frame(None, v4(), SYN, &LINUX_SYN_OPTIONS, &[])
}

/// IPv6 TCP data segment with timestamps and 100 bytes of payload.
pub fn data_v6() -> Vec<u8> {
    let ts = [
        TcpOption::Nop,
        TcpOption::Nop,
        TcpOption::Timestamps { val: 5, ecr: 6 },
    ];
    tcp_frame(None, v6(), ACK | PSH, &ts, &[0x17; 100])
}

/// 802.1Q-tagged (VLAN 100) IPv4 TCP SYN with Linux options.
pub fn syn_vlan_v4() -> Vec<u8> {
    tcp_frame(Some(100), v4(), SYN, &LINUX_SYN_OPTIONS, &[])
}

/// A SYN-ACK without an MSS option (Windows-style other options: NOP, WS, NOP, NOP,
/// SACK-permitted): what a server that leaves MSS out sends.
pub fn synack_without_mss_v4() -> Vec<u8> {
    let opts = [
        TcpOption::Nop,
        TcpOption::WindowScale(8),
        TcpOption::Nop,
        TcpOption::Nop,
        TcpOption::SackPermitted,
    ];
    tcp_frame(None, v4(), SYN | ACK, &opts, &[])
}

/// A ClientHello stream (all TLS records) of the natural or `target` size, cut in chunks
/// of `segment` bytes; asserts it makes `segments` chunks.
pub fn hello_segments(segments: usize) -> (Vec<u8>, usize) {
    // (post-quantum share, wire size, segment size) giving each segment count.
    let (pq, target, seg) = match segments {
        1 => (false, None, 1460),
        2 => (true, None, 1460),
        13 => (true, Some(6_900), 536),
        18 => (true, Some(9_500), 536),
        n => panic!("no hello fixture for {n} segments"),
    };
    let spec = HelloSpec {
        pq,
        target_size: target,
        ticket_len: 0,
        ..HelloSpec::new("www.example.test")
    };
    let ch = hello::build(&spec).expect("fixture hello");
    assert_eq!(ch.bytes.len().div_ceil(seg), segments, "hello fixture size");
    (ch.bytes, seg)
}

// ---- the worker on a replay device (benches/worker.rs, src/bin/worker-count.rs)

/// A buffer of the replay device. `share` takes a reference, as an mbuf's refcount does
/// (the accumulator shares the segments it holds).
pub struct Buf {
    bytes: Rc<[u8]>,
    len: usize,
}

impl Buf {
    fn empty() -> Buf {
        Buf {
            bytes: Rc::from(vec![0u8; 2048]),
            len: 0,
        }
    }

    fn fill(&mut self, frame: &[u8]) {
        self.writable()[..frame.len()].copy_from_slice(frame);
        self.len = frame.len();
    }

    fn writable(&mut self) -> &mut [u8] {
        Rc::get_mut(&mut self.bytes).expect("Frame contract: a shared buffer is not written")
    }
}

impl Frame for Buf {
    fn data(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut self.writable()[..len]
    }
    fn with_tailroom(&mut self) -> &mut [u8] {
        self.writable()
    }
    fn set_len(&mut self, len: usize) -> bool {
        if len > self.bytes.len() {
            return false;
        }
        self.len = len;
        true
    }
    fn rss_hash(&self) -> Option<u32> {
        None
    }
    fn share(&self) -> Self {
        Buf {
            bytes: self.bytes.clone(),
            len: self.len,
        }
    }
    fn is_contiguous(&self) -> bool {
        true
    }
}

/// Stored frames replayed in a loop into reused buffers, as `net_pcap` with `infinite_rx`
/// does: each RX copies a stored frame into a free buffer; TX queues it; flush frees it
/// (`net_null`). [`Replay::new`] replays frames on the client side only; [`Replay::rounds`]
/// replays rounds of frames, each for one side, one round per side's RX call, so that the
/// worker (which reads the client side, then the server side, every poll) sees both
/// directions of each session in order.
pub struct Replay {
    rounds: Vec<(Side, Vec<Vec<u8>>)>,
    round: usize,
    next: usize,
    free: Vec<Buf>,
    pending: Vec<Buf>,
}

/// Buffers kept free between flushes (more come back when held frames are released).
const REPLAY_BUFFERS: usize = 4 * BURST;

impl Replay {
    pub fn new(frames: Vec<Vec<u8>>) -> Replay {
        Self::rounds(vec![(Side::Client, frames)])
    }

    pub fn rounds(rounds: Vec<(Side, Vec<Vec<u8>>)>) -> Replay {
        assert!(rounds.iter().all(|(_, f)| !f.is_empty()), "empty round");
        let free = (0..REPLAY_BUFFERS).map(|_| Buf::empty()).collect();
        Replay {
            rounds,
            round: 0,
            next: 0,
            free,
            pending: Vec::with_capacity(BURST),
        }
    }
}

impl PacketIo for Replay {
    type Buf = Buf;
    fn rx_burst(&mut self, side: Side, out: &mut Vec<Buf>) {
        out.clear();
        let (round_side, frames) = &self.rounds[self.round];
        if *round_side != side {
            return;
        }
        while out.len() < BURST {
            let mut b = self.free.pop().unwrap_or_else(Buf::empty);
            b.fill(&frames[self.next]);
            out.push(b);
            self.next += 1;
            if self.next == frames.len() {
                self.next = 0;
                if self.rounds.len() > 1 {
                    self.round = (self.round + 1) % self.rounds.len();
                    break;
                }
            }
        }
    }
    fn tx(&mut self, _side: Side, buf: Buf) {
        self.pending.push(buf);
    }
    fn flush(&mut self) {
        // A buffer still shared (held by the accumulator) comes back when its last
        // reference is sent.
        for b in self.pending.drain(..) {
            if Rc::strong_count(&b.bytes) == 1 && self.free.len() < REPLAY_BUFFERS {
                self.free.push(b);
            }
        }
    }
    fn alloc(&mut self) -> Option<Buf> {
        Some(self.free.pop().unwrap_or_else(Buf::empty))
    }
    fn tx_dropped(&self) -> [u64; 2] {
        [0, 0]
    }
}

/// Whole TLS sessions from `appliance gen` (`sessions` of them, default profile: 2-segment
/// ClientHellos, server flight, data, FIN), as rounds for [`Replay::rounds`]: each run of
/// consecutive frames in one direction, at most `BURST`, is a round on its side.
pub fn session_rounds(sessions: u32) -> Vec<(Side, Vec<Vec<u8>>)> {
    let args = GenArgs {
        sessions,
        ..GenArgs::default()
    };
    let (frames, _) = trafficgen::build(&args).expect("sessions");
    let mut rounds: Vec<(Side, Vec<Vec<u8>>)> = Vec::new();
    for f in frames {
        let side = match f.direction {
            trafficgen::Direction::ClientToServer => Side::Client,
            trafficgen::Direction::ServerToClient => Side::Server,
        };
        match rounds.last_mut() {
            Some((s, run)) if *s == side && run.len() < BURST => run.push(f.bytes),
            _ => rounds.push((side, vec![f.bytes])),
        }
    }
    rounds
}

/// A worker (flow table of `capacity`) on a [`Replay`] of `frames`, its flows not created yet.
pub fn replay_worker(frames: Vec<Vec<u8>>, capacity: u32) -> Worker<Replay> {
    replay_worker_on(Replay::new(frames), capacity)
}

/// A worker (flow table of `capacity`) on `io`.
pub fn replay_worker_on(io: Replay, capacity: u32) -> Worker<Replay> {
    let cfg = Config::parse(&format!("[flow]\ncapacity = {capacity}\n")).expect("config");
    let shared = Shared::new(Live::from_config(&cfg, [1500, 1500]));
    Worker::new(
        WorkerConfig {
            id: 0,
            flow_capacity: cfg.flow.capacity,
            timeouts: cfg.flow.timeouts,
            on_table_full: cfg.flow.on_table_full,
            malformed: cfg.flow.malformed,
            wall_epoch_ms: 0,
            capacity: appliance_core::accumulate::Capacity::new(cfg.accumulation.pool_packets),
            mailbox: Default::default(),
            hash_key: hash_key(),
        },
        io,
        Arc::new(WorkerCounters::default()),
        shared,
        None,
    )
}

/// One client data segment for each of `n` established flows (`appliance gen --established`,
/// 64 client addresses), as `scripts/bench` replays them.
pub fn established_frames(n: u32) -> Vec<Vec<u8>> {
    let args = GenArgs {
        sessions: n,
        clients: 64,
        ..GenArgs::default()
    };
    paired::established_frames(&args)
        .expect("established frames")
        .into_iter()
        .map(|[c, _]| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use appliance_core::packet;
    use appliance_core::tls;

    #[test]
    fn keys_are_distinct_canonical_and_parse_like_frames() {
        let mut seen = std::collections::HashSet::new();
        for i in (0..2_000_000u64)
            .step_by(997)
            .chain([19_999_999, 20_000_000])
        {
            let k = flow_key(i);
            assert!((k.a, k.port_a) < (k.b, k.port_b));
            assert!(k.is_v4());
            assert!(seen.insert((k.a, k.port_a, k.b)));
        }
        // A key built here equals the parser's key for the same 5-tuple.
        let f = syn_v4();
        let h = packet::parse(&f).unwrap();
        let (k, src_is_a) = FlowKey::from_headers(&h).unwrap();
        assert!(src_is_a);
        assert_eq!(k.proto, 6);
    }

    #[test]
    fn walk_visits_everything_once() {
        for n in [1u64, 7, 10_000] {
            let mut w = Walk::new(n);
            let mut seen = vec![false; n as usize];
            for _ in 0..n {
                let i = w.next_index() as usize;
                assert!(!seen[i]);
                seen[i] = true;
            }
        }
    }

    #[test]
    fn fixtures_parse_and_tables_fill() {
        for f in [syn_v4(), data_v6(), syn_vlan_v4(), synack_without_mss_v4()] {
            assert!(packet::parse(&f).unwrap().tcp().is_some());
        }
        let t = filled_table(1000, 2048);
        assert_eq!(t.len(), 1000);
        let k = flow_key(999);
        assert!(t.lookup(&k, t.hash(&k)).is_some());
        let k = flow_key(1000);
        assert!(t.lookup(&k, t.hash(&k)).is_none());
        assert!(flow_bytes_per_session(1 << 16) > 0.0);
        for n in [1, 2, 13, 18] {
            let (stream, seg) = hello_segments(n);
            assert_eq!(
                tls::fuzzing::pipeline(&stream, seg, 16_384).name(),
                "complete"
            );
        }
    }
}
