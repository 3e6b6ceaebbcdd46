//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz) and for the property tests in
//! `tests/prop_invariants.rs`.
//!
//! Every entry point takes arbitrary input and must not panic because of it: a panic is either
//! a bug in the code under test or an invariant that failed, and the message says which. The
//! invariants checked are the ones of issue 7:
//!
//! - [`packet_mss`]: [`packet::parse`] never panics and describes a frame it accepts
//!   consistently; [`mss::fixup`] keeps a valid TCP checksum valid, never raises an MSS
//!   option above the clamp, and leaves the frame parseable and described by its headers.
//! - [`accumulator`] / [`run_scenario`]: the real [`Worker`] on an in-memory port layer
//!   ([`VecIo`]) fed an arbitrary sequence of client segments, server ACKs, time steps and
//!   configuration changes. No panic; no buffer leak; capacity slots conserved; never more
//!   held packets than reserved slots; the server only ever receives the client's bytes at
//!   their offsets; bytes the appliance acknowledged on the server's behalf reach the server
//!   unless the session was reset; one log record per flow.
//! - [`tls_hello`]: the ClientHello deframer, copier, parser and JA4 on arbitrary streams
//!   cut arbitrarily; the verdict does not depend on the cut.
//! - [`control_request`]: the control request parser; a parsed request's `to_line()` parses
//!   back to the same request; errors are one line.
//!
//! Nothing here is used by the appliance itself.

use appliance_core::accumulate::Capacity;
use appliance_core::config::{Config, OnCapacity, OnLimit};
use appliance_core::control::parse_request;
use appliance_core::counters::WorkerCounters;
use appliance_core::flow::EndReason;
use appliance_core::io::{PacketIo, Side};
use appliance_core::live::{Live, Shared};
use appliance_core::mss::{self, MssOutcome, MssPolicy};
use appliance_core::packet::{self, checksum, Headers, TcpOptions, L3, L4};
use appliance_core::record::SessionRecord;
use appliance_core::tls;
use appliance_core::worker::{Worker, WorkerConfig};
use crossbeam::queue::ArrayQueue;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use trafficgen::frame::{self as gf, Ethernet, Ip, Ipv4, Ipv6, Tcp, TcpOption};
use trafficgen::hello::{self, HelloSpec};

// ---------------------------------------------------------------------------------------------
// Reading structure out of fuzzer bytes.
// ---------------------------------------------------------------------------------------------

/// A cursor over fuzzer input: every read succeeds, returning zeros once the input is used up,
/// so any byte string decodes to something.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u32) -> u32 {
        if n == 0 {
            0
        } else {
            self.u32() % n
        }
    }
    /// Up to `n` bytes (fewer at the end of the input).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }
}

// ---------------------------------------------------------------------------------------------
// Target 1: header views and MSS fixup on arbitrary frames.
// ---------------------------------------------------------------------------------------------

/// Fuzz target: `data[0..6]` choose an MSS policy, the tailroom, whether to repair the
/// frame's checksums first (so that "a valid checksum stays valid" is checked on arbitrary
/// header layouts, not only on the rare random frame with a right checksum) and whether to
/// tamper with the bytes between parsing and fixup; the rest is the frame.
pub fn packet_mss(data: &[u8]) {
    let mut input = Input::new(data);
    let sel = input.u8();
    let pick = |sel: u8, v: u16| -> Option<u16> {
        match sel & 3 {
            0 => None,
            1 => Some(v),
            2 => Some(536 + v % 8465),
            _ => Some(1460),
        }
    };
    let (a, b, c) = (input.u16(), input.u16(), input.u8());
    let policy = MssPolicy {
        clamp_v4: pick(sel, a),
        clamp_v6: pick(sel >> 2, b),
        insert_missing: pick(sel >> 4, a ^ b),
    };
    let tailroom = usize::from(c & 7) * 2;
    let tamper = sel & 0xc0 == 0xc0;
    let frame = input.rest();
    if c & 8 != 0 {
        let mut fixed = frame.to_vec();
        repair_checksums(&mut fixed);
        check_frame(&fixed, &policy, tailroom, tamper);
    } else {
        check_frame(frame, &policy, tailroom, tamper);
    }
}

/// Writes the right IPv4 header and TCP checksums into a frame the parser accepts.
pub fn repair_checksums(frame: &mut [u8]) {
    let Ok(h) = packet::parse(frame) else { return };
    if h.l3 == L3::Ipv4 {
        let (l3, l4) = (usize::from(h.l3_offset), usize::from(h.l4_offset));
        let c = checksum::ipv4_header_checksum(&frame[l3..l4]);
        frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    if let Some(c) = packet::tcp_checksum(frame, &h) {
        let at = usize::from(h.l4_offset) + 16;
        frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
}

/// Checks [`packet::parse`] and [`mss::fixup`] on one frame (see [`packet_mss`]). With
/// `tamper`, the buffer is changed after parsing, so the headers no longer describe it: then
/// fixup must only not panic and not grow the frame past its buffer.
pub fn check_frame(frame: &[u8], policy: &MssPolicy, tailroom: usize, tamper: bool) {
    // The datapath's fast path declines or agrees with the general parser.
    let mut fast = packet::Headers::default();
    if let Some((src, dst)) = packet::fast::parse_common_into(frame, &mut fast) {
        assert_eq!(Ok(fast), packet::parse(frame), "fast path disagrees");
        assert_eq!((src.to_be_bytes(), dst.to_be_bytes()), (fast.src, fast.dst));
    }
    let Ok(h) = packet::parse(frame) else { return };
    check_headers(frame, &h);
    let mut buf = frame.to_vec();
    buf.resize(frame.len() + tailroom, 0xa5);
    let mut hdr = h;
    if tamper {
        // Flip bits in the TCP header area the parser read.
        let at = usize::from(h.l4_offset) + 12;
        if let Some(b) = buf.get_mut(at) {
            *b ^= 0xf0;
        }
        if let Some(b) = buf.get_mut(at + 9) {
            *b = b.wrapping_add(7);
        }
        let out = mss::fixup(&mut buf, frame.len(), &mut hdr, policy);
        assert!(out.frame_len <= buf.len(), "fixup grew past the buffer");
        return;
    }
    let tcp_ok = packet::verify_tcp_checksum(frame, &h);
    let ip_ok = packet::verify_ip_header(frame, &h);
    let out = mss::fixup(&mut buf, frame.len(), &mut hdr, policy);
    assert!(out.frame_len <= buf.len(), "fixup grew past the buffer");
    let new = &buf[..out.frame_len];
    if !out.outcome.changed() {
        assert_eq!(
            out.frame_len,
            frame.len(),
            "{:?} changed the length",
            out.outcome
        );
        assert_eq!(new, frame, "{:?} changed the bytes", out.outcome);
        assert_eq!(hdr, h, "{:?} changed the headers", out.outcome);
    }
    let applicable = h
        .tcp()
        .is_some_and(|t| t.flags.syn() && h.is_ip() && !h.is_fragment);
    if !applicable {
        assert_eq!(out.outcome, MssOutcome::NotApplicable);
        return;
    }
    // Headers fresh from the parser describe the buffer: fixup has no reason to refuse.
    assert_ne!(
        out.outcome,
        MssOutcome::Malformed,
        "fixup refused headers the parser produced for the same frame"
    );
    let fresh =
        packet::parse(new).unwrap_or_else(|e| panic!("{:?} broke the frame: {e:?}", out.outcome));
    assert_eq!(
        fresh, hdr,
        "headers returned by fixup do not describe the new frame"
    );
    if tcp_ok {
        assert!(
            packet::verify_tcp_checksum(new, &fresh),
            "{:?} broke the TCP checksum",
            out.outcome
        );
    }
    if ip_ok {
        assert!(
            packet::verify_ip_header(new, &fresh),
            "{:?} broke the IPv4 header checksum",
            out.outcome
        );
    }
    if let Some(limit) = policy.clamp_for(h.l3) {
        for v in mss_values(new, &fresh) {
            assert!(
                v <= limit,
                "MSS {v} above the clamp {limit} after {:?}",
                out.outcome
            );
        }
    }
    match out.outcome {
        MssOutcome::Inserted { value } => {
            assert!(h.tcp().is_some_and(|t| t.mss.is_none()));
            assert_eq!(
                fresh.tcp().and_then(|t| t.mss).map(|m| m.value),
                Some(value)
            );
            assert_eq!(out.frame_len, usize::from(h.ip_end) + 4);
        }
        MssOutcome::Clamped { from, to } => {
            assert!(from > to);
            assert_eq!(out.frame_len, frame.len());
        }
        _ => {}
    }
}

/// Consistency of what the parser says about a frame it accepted.
fn check_headers(frame: &[u8], h: &Headers) {
    let (l3, l4, end) = (
        usize::from(h.l3_offset),
        usize::from(h.l4_offset),
        usize::from(h.ip_end),
    );
    assert!(h.vlan_count <= 2);
    assert_eq!(l3, 14 + 4 * usize::from(h.vlan_count));
    assert!(
        l3 <= l4 && l4 <= end && end <= frame.len(),
        "offsets {l3} {l4} {end} of {}",
        frame.len()
    );
    if h.is_fragment {
        assert_eq!(h.l4, L4::Fragment);
    }
    if h.l3 == L3::NotIp {
        assert!(matches!(h.l4, L4::None));
        assert_eq!((l4, end), (l3, l3));
    }
    if let Some(t) = h.tcp() {
        assert!(t.header_len >= 20 && t.header_len <= 60);
        assert_eq!(
            usize::from(t.payload_offset),
            l4 + usize::from(t.header_len)
        );
        assert_eq!(
            usize::from(t.payload_offset) + usize::from(t.payload_len),
            end
        );
        assert_eq!(
            h.tcp_payload(frame).map(<[u8]>::len),
            Some(usize::from(t.payload_len))
        );
        if let Some(m) = t.mss {
            let at = usize::from(m.offset);
            assert_eq!(frame[at], 2);
            assert_eq!(u16::from_be_bytes([frame[at + 2], frame[at + 3]]), m.value);
        }
        if let Some(ts) = t.timestamps {
            assert_eq!(frame[usize::from(ts.offset)], 8);
        }
        // The two checksum helpers agree on frames the parser accepts.
        if h.l4_proto == packet::ip_proto::TCP {
            let stored = u16::from_be_bytes([frame[l4 + 16], frame[l4 + 17]]);
            if let Some(c) = packet::tcp_checksum(frame, h) {
                if packet::verify_tcp_checksum(frame, h) {
                    // 0 and 0xffff are the same one's-complement value.
                    assert!(c == stored || (c | stored) == 0xffff && (c & stored) == 0);
                } else {
                    assert_ne!(
                        c, stored,
                        "verify refused the checksum tcp_checksum computes"
                    );
                }
            }
        }
    }
}

/// Every MSS option value in the TCP header of a parsed frame.
pub fn mss_values(frame: &[u8], h: &Headers) -> Vec<u16> {
    let Some(t) = h.tcp() else { return Vec::new() };
    let from = usize::from(h.l4_offset) + 20;
    let to = usize::from(t.payload_offset);
    frame
        .get(from..to)
        .map(|area| {
            TcpOptions::new(area)
                .filter_map(|o| match o {
                    Ok((_, packet::TcpOption::MaxSegmentSize(v))) => Some(v),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Target 3: ClientHello framing, copying, parsing, JA4.
// ---------------------------------------------------------------------------------------------

thread_local! {
    /// One `ClientHelloInfo` reused across `tls_hello` inputs, as the worker recycles them.
    static REUSED: std::cell::RefCell<tls::ClientHelloInfo> = Default::default();
}

/// Fuzz target: `data[0]` chooses the chunk size, `data[1..3]` `max_bytes`, `data[3]` the
/// mode (the rest as a raw stream, wrapped in one handshake record, or as a bare ClientHello
/// body for the parser alone).
pub fn tls_hello(data: &[u8]) {
    let mut input = Input::new(data);
    let chunk = usize::from(input.u8()).max(1);
    let max_bytes = u32::from(input.u16()) * 2;
    let mode = input.u8();
    let body = input.rest();
    match mode % 3 {
        0 => check_stream(body, chunk, max_bytes),
        1 => {
            // One handshake record around a ClientHello with this body: reaches the parser.
            let mut s = vec![22, 3, 1];
            let len = body.len().min(0xffff - 4);
            s.extend_from_slice(&((len + 4) as u16).to_be_bytes());
            s.extend_from_slice(&[1, 0]);
            s.extend_from_slice(&(len as u16).to_be_bytes());
            s.extend_from_slice(&body[..len]);
            check_stream(&s, chunk, max_bytes);
        }
        _ => {
            let mut msg = vec![1];
            msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
            msg.extend_from_slice(body);
            let fresh = tls::parse_client_hello(&msg);
            if let Ok(info) = &fresh {
                check_hello_info(info, msg.len());
            }
            // The worker parses into recycled infos: whatever earlier inputs left in one, the
            // result must be the fresh parse's.
            REUSED.with(|r| {
                let mut r = r.borrow_mut();
                let got = tls::parse_client_hello_into(&msg, &mut r);
                match (&fresh, got) {
                    (Ok(f), Ok(())) => assert_eq!(*f, *r, "a recycled info parses differently"),
                    (Err(a), Err(b)) => assert_eq!(*a, b),
                    (a, b) => panic!("fresh parse {a:?}, recycled parse {b:?}"),
                }
            });
            let _ = tls::parse_client_hello(body);
        }
    }
}

/// The deframer's verdict on `stream` fed in `chunk`-byte pieces, the same fed byte by byte
/// and in one piece (they must agree), and on a complete hello: copy, parse, JA4.
pub fn check_stream(stream: &[u8], chunk: usize, max_bytes: u32) {
    let v = tls::fuzzing::pipeline(stream, chunk, max_bytes);
    let whole = tls::fuzzing::pipeline(stream, stream.len().max(1), max_bytes);
    assert_eq!(
        v, whole,
        "verdict depends on how the stream is cut ({chunk}-byte chunks)"
    );
    if stream.len() <= 4096 {
        let bytewise = tls::fuzzing::pipeline(stream, 1, max_bytes);
        assert_eq!(
            v, bytewise,
            "verdict depends on how the stream is cut (bytes)"
        );
    }
    let max = max_bytes.min(tls::framing::MAX_HANDSHAKE_LEN);
    if let tls::Verdict::Complete(span) = v {
        assert!(span.stream_bytes as usize <= stream.len());
        assert!(span.hello_len <= max);
        assert!(span.records >= 1);
        let mut scratch = vec![0u8; max as usize + 4];
        let n = tls::copy_hello(stream.chunks(chunk), &mut scratch)
            .unwrap_or_else(|e| panic!("deframer said complete, copy_hello said {e}"));
        assert_eq!(n, span.message_len());
        let msg = &scratch[..n];
        assert_eq!(msg[0], 1);
        assert_eq!(
            u32::from_be_bytes([0, msg[1], msg[2], msg[3]]),
            span.hello_len
        );
        if let Ok(info) = tls::parse_client_hello(msg) {
            check_hello_info(&info, n);
        }
    }
}

fn check_hello_info(info: &tls::ClientHelloInfo, len: usize) {
    assert_eq!(info.message_len, len);
    let j = tls::ja4(info);
    assert_eq!(j.as_str().len(), tls::ja4::JA4_LEN);
    let _ = (tls::ja4_o(info), tls::ja4_r(info), tls::ja4_ro(info));
    // The traffic-log fields of the hello (as the control thread writes them).
    let mut m = serde_json::Map::new();
    appliance_core::record::hello_fields(info, 1, 1, len as u32, &mut m);
    assert!(serde_json::to_string(&m).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Target 4: the control request parser.
// ---------------------------------------------------------------------------------------------

/// Fuzz target: the input as a request line (lossily decoded as UTF-8).
pub fn control_request(data: &[u8]) {
    check_request_line(&String::from_utf8_lossy(data));
}

/// `parse_request` never panics; a parsed request round-trips through `to_line()`; an error
/// is a single line of bounded length.
pub fn check_request_line(line: &str) {
    match parse_request(line) {
        Ok(r) => {
            let again = r.to_line();
            assert_eq!(
                parse_request(&again).as_ref(),
                Ok(&r),
                "{line:?} parsed as {r:?}, whose line {again:?} does not parse back"
            );
            assert_eq!(again, r.to_line());
            let _ = (r.name(), r.is_change());
        }
        Err(e) => {
            assert!(!e.contains(['\n', '\r']), "error is not one line: {e:?}");
            assert!(e.len() <= 1024, "error of {} bytes", e.len());
        }
    }
}

pub use appliance_core::testing::{VecBuf, VecIo, ROOM};

// ---------------------------------------------------------------------------------------------
// Target 2: the accumulator, through the worker.
// ---------------------------------------------------------------------------------------------

/// Configuration knobs of a scenario (all within what the config accepts).
#[derive(Clone, Debug)]
pub struct Knobs {
    /// 1..=64.
    pub packetlimit: u16,
    /// 512..=65536.
    pub max_bytes: u32,
    pub on_limit: OnLimit,
    pub on_capacity: OnCapacity,
    /// 64..; at least `packetlimit`.
    pub pool_packets: u32,
    /// 500..=600000.
    pub hold_timeout_ms: u32,
    /// 10..=60000.
    pub rto_ms: u32,
    /// 1..=16.
    pub tries: u8,
    /// Flow timeouts in ms (100..): established, time wait.
    pub established_ms: u32,
    pub time_wait_ms: u32,
    /// `[mss] clamp` (536..=9000) and `insert_missing`.
    pub mss_clamp: Option<u16>,
    pub mss_insert: Option<u16>,
    /// A policy rule denying `*.deny.test`.
    pub deny_rule: bool,
    /// Size of the port layer's buffer pool; None: unbounded.
    pub io_pool: Option<usize>,
    /// Frames per side per flush; None: unbounded.
    pub tx_capacity: Option<usize>,
    /// IPv6 instead of IPv4.
    pub v6: bool,
    /// An 802.1Q tag on every frame.
    pub vlan: bool,
    /// Timestamps option on every segment.
    pub timestamps: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            packetlimit: 12,
            max_bytes: 16384,
            on_limit: OnLimit::Reset,
            on_capacity: OnCapacity::Bypass,
            pool_packets: 64,
            hold_timeout_ms: 10_000,
            rto_ms: 300,
            tries: 5,
            established_ms: 3_600_000,
            time_wait_ms: 15_000,
            mss_clamp: None,
            mss_insert: None,
            deny_rule: false,
            io_pool: None,
            tx_capacity: None,
            v6: false,
            vlan: false,
            timestamps: false,
        }
    }
}

impl Knobs {
    /// The configuration file text for these knobs.
    pub fn config_text(&self) -> String {
        let on_limit = self.on_limit.as_str();
        let on_capacity = self.on_capacity.as_str();
        let mut s = format!(
            "[flow]\ncapacity = 1024\n[flow.timeouts]\nestablished = {}\ntime_wait = {}\n\
             [accumulation]\npacketlimit = {}\nmax_bytes = {}\non_limit = \"{on_limit}\"\n\
             on_capacity = \"{on_capacity}\"\npool_packets = {}\nhold_timeout_secs = {}\n\
             retransmit_timeout_ms = {}\nretransmit_tries = {}\n[mss]\n",
            f64::from(self.established_ms) / 1000.0,
            f64::from(self.time_wait_ms) / 1000.0,
            self.packetlimit,
            self.max_bytes,
            self.pool_packets.max(u32::from(self.packetlimit)),
            f64::from(self.hold_timeout_ms) / 1000.0,
            self.rto_ms,
            self.tries,
        );
        if let Some(c) = self.mss_clamp {
            s.push_str(&format!("clamp = {c}\n"));
        }
        if let Some(v) = self.mss_insert {
            s.push_str(&format!("insert_missing = {v}\n"));
        }
        if self.deny_rule {
            s.push_str("[[policy.rule]]\nsni_suffix = \"deny.test\"\naction = \"deny\"\n");
        }
        s
    }
}

/// One TCP session of a scenario: the client's byte stream and its endpoints.
#[derive(Clone, Debug)]
pub struct SessionSpec {
    /// Everything the client will ever send (segments are slices of it).
    pub stream: Vec<u8>,
    pub isn_client: u32,
    pub isn_server: u32,
    /// Server port (443 is inspected).
    pub server_port: u16,
    /// Do the three-way handshake before the operations.
    pub handshake: bool,
    /// The server's SYN-ACK carries an MSS option.
    pub server_mss: bool,
}

/// One step of a scenario. Frame-sending steps with `batch` set are received with the next
/// poll instead of their own (so several arrive in one burst).
#[derive(Clone, Debug)]
pub enum Op {
    /// A client segment with `stream[off..off + len]` (clipped to the stream).
    Client {
        session: u8,
        off: u32,
        len: u16,
        /// Extra TCP flags besides ACK (FIN, RST, PSH, URG, SYN).
        flags: u8,
        batch: bool,
    },
    /// A server segment acknowledging client stream offset `ack_off` with `len` bytes of
    /// server data.
    Server {
        session: u8,
        ack_off: u32,
        len: u16,
        flags: u8,
        batch: bool,
    },
    /// The handshake segment `step` (0 SYN, 1 SYN-ACK, 2 ACK) again.
    Handshake { session: u8, step: u8, batch: bool },
    /// Advance the clock and poll.
    Advance { ms: u32 },
    /// Publish a new live configuration.
    Reconfigure {
        packetlimit: u16,
        max_bytes: u32,
        on_limit: OnLimit,
    },
    /// A copy of a session frame with bytes changed (`at`, `xor` pairs), or arbitrary bytes
    /// if the list of changes is empty and `raw` is given.
    Mangled {
        session: u8,
        from_client: bool,
        off: u32,
        changes: Vec<(u16, u8)>,
        raw: Vec<u8>,
    },
}

/// A whole scenario: knobs, sessions, steps.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    pub knobs: Knobs,
    pub sessions: Vec<SessionSpec>,
    pub ops: Vec<Op>,
}

/// What a scenario did (for property tests to assert on).
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Per session: the client bytes the server received, by offset (None: never received).
    pub server_bytes: Vec<Vec<Option<u8>>>,
    /// Per session: whether it was reset (by us or a peer).
    pub reset: Vec<bool>,
    /// Per session: whether a flow of it left the flow table before shutdown (aged out, or
    /// replaced by a new SYN after it closed).
    pub removed_early: Vec<bool>,
    /// Per session: the data segment offsets the server received, in order.
    pub server_offsets: Vec<Vec<u32>>,
    /// Most packets held at once (per worker).
    pub max_held: u64,
    /// Accumulation sessions started, completed, reset.
    pub started: u64,
    pub completed: u64,
    pub resets: u64,
    /// Log records written.
    pub records: Vec<SessionRecord>,
    /// Every frame sent, per side (0: to the client, 1: to the server).
    pub sent: [Vec<Vec<u8>>; 2],
    /// The worker's counters at the end.
    pub counters: appliance_core::counters::Snapshot,
}

const WALL_EPOCH_MS: u64 = 1_700_000_000_000;
/// Above `[accumulation] min_ttl` (64), so released segments keep it and only the segments
/// the appliance makes itself carry TTL 64 (how the checks below tell them apart).
const CLIENT_TTL: u8 = 100;
const SERVER_TTL: u8 = 63;
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn client_v4(s: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, 10 + s as u8)
}
fn client_v6(s: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x10 + s as u16)
}
const SERVER_V4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const SERVER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);

fn client_port(s: usize) -> u16 {
    40000 + s as u16
}

/// Harness state of one session.
#[derive(Default, Clone)]
struct Track {
    /// Which stream bytes the client has sent.
    sent: Vec<bool>,
    /// Highest stream offset sent + 1.
    next: u32,
    /// Last data segment's offset (for retransmissions).
    last_off: u32,
    /// Server bytes sent so far.
    server_next: u32,
    /// Server bytes the worker had polled by the last poll: what a real client can have
    /// received and so acknowledge (the appliance's guard drops a client ACK of data the
    /// server never sent, as the server itself would).
    server_seen: u32,
    /// A peer sent RST, or a mangled frame hit this session: skip delivery checks.
    peer_reset: bool,
    tainted: bool,
}

struct Harness<'s> {
    sc: &'s Scenario,
    worker: Worker<VecIo>,
    counters: Arc<WorkerCounters>,
    shared: Arc<Shared>,
    capacity: Arc<Capacity>,
    log: Arc<ArrayQueue<SessionRecord>>,
    records: Vec<SessionRecord>,
    live_cfg: Config,
    tracks: Vec<Track>,
    now: u64,
    reconfigured: bool,
    max_held: u64,
    /// Records written before shutdown (flows aged out or replaced).
    early_records: usize,
}

impl<'s> Harness<'s> {
    /// `lite`: whether the worker's established-flow path is on (as in production).
    fn new(sc: &'s Scenario, lite: bool) -> Self {
        let k = &sc.knobs;
        let cfg = Config::parse(&k.config_text())
            .unwrap_or_else(|e| panic!("harness config refused: {e}\n{}", k.config_text()));
        let shared = Shared::new(Live::from_config(&cfg, [1500, 1500]));
        let counters = Arc::new(WorkerCounters::default());
        let log = Arc::new(ArrayQueue::new(4096));
        let capacity = Capacity::new(cfg.accumulation.pool_packets);
        let mut io = VecIo::default();
        io.pool = k.io_pool;
        io.tx_capacity = k.tx_capacity;
        let mut worker = Worker::new(
            WorkerConfig {
                id: 1,
                flow_capacity: cfg.flow.capacity,
                timeouts: cfg.flow.timeouts,
                on_table_full: cfg.flow.on_table_full,
                malformed: cfg.flow.malformed,
                wall_epoch_ms: WALL_EPOCH_MS,
                capacity: capacity.clone(),
                mailbox: Default::default(),
                // Fixed, so that a finding replays (and both paths hash alike).
                hash_key: appliance_core::flow::HashKey::from_seed(0x5eed),
            },
            io,
            counters.clone(),
            shared.clone(),
            Some((log.clone(), true)),
        );
        worker.set_established_path(lite);
        let tracks = sc
            .sessions
            .iter()
            .map(|s| Track {
                sent: vec![false; s.stream.len()],
                ..Track::default()
            })
            .collect();
        Harness {
            sc,
            worker,
            counters,
            shared,
            capacity,
            log,
            records: Vec::new(),
            live_cfg: cfg,
            tracks,
            now: 0,
            reconfigured: false,
            max_held: 0,
            early_records: 0,
        }
    }

    /// A TCP frame of session `s`.
    #[allow(clippy::too_many_arguments)]
    fn frame(
        &self,
        s: usize,
        from_client: bool,
        flags: u8,
        seq: u32,
        ack: u32,
        options: &[TcpOption],
        payload: &[u8],
    ) -> Vec<u8> {
        let k = &self.sc.knobs;
        let spec = &self.sc.sessions[s];
        let (src, dst) = if from_client {
            (CLIENT_MAC, SERVER_MAC)
        } else {
            (SERVER_MAC, CLIENT_MAC)
        };
        let eth = Ethernet {
            dst,
            src,
            vlan: k.vlan.then_some(100),
            pad: true,
        };
        let ttl = if from_client { CLIENT_TTL } else { SERVER_TTL };
        let ip = if k.v6 {
            let (c, sv) = (client_v6(s), SERVER_V6);
            let (src, dst) = if from_client { (c, sv) } else { (sv, c) };
            Ip::V6(Ipv6 {
                src,
                dst,
                hop_limit: ttl,
                flow_label: 0,
            })
        } else {
            let (c, sv) = (client_v4(s), SERVER_V4);
            let (src, dst) = if from_client { (c, sv) } else { (sv, c) };
            Ip::V4(Ipv4 {
                src,
                dst,
                id: 0x5151,
                ttl,
                dont_fragment: true,
            })
        };
        let (sp, dp) = if from_client {
            (client_port(s), spec.server_port)
        } else {
            (spec.server_port, client_port(s))
        };
        let mut opts: Vec<TcpOption> = options.to_vec();
        if k.timestamps {
            opts.push(TcpOption::Nop);
            opts.push(TcpOption::Nop);
            opts.push(TcpOption::Timestamps {
                val: self.now as u32,
                ecr: 7,
            });
        }
        gf::tcp_frame(
            &eth,
            &ip,
            &Tcp {
                src_port: sp,
                dst_port: dp,
                seq,
                ack,
                flags,
                window: 64240,
                options: &opts,
                payload,
            },
        )
        .expect("harness frame")
    }

    fn push(&mut self, from_client: bool, frame: Vec<u8>, batch: bool) {
        let side = if from_client { 0 } else { 1 };
        self.worker.io_mut().rx[side].push_back(frame);
        if !batch {
            self.poll();
        }
    }

    fn poll(&mut self) {
        self.worker.poll(self.now);
        for t in &mut self.tracks {
            t.server_seen = t.server_next;
        }
        self.after_poll();
    }

    /// Invariants that hold between polls.
    fn after_poll(&mut self) {
        while let Some(r) = self.log.pop() {
            self.records.push(r);
        }
        let acc = &self.counters.acc;
        let held = acc.held_packets.get();
        self.max_held = self.max_held.max(held);
        let live = self.worker.io_mut().live() as u64;
        assert_eq!(
            live, held,
            "buffers alive between polls ({live}) differ from packets held ({held})"
        );
        let slots = self.capacity.slots_in_use();
        let sessions = self.capacity.active_sessions();
        assert!(
            held <= u64::from(slots),
            "{held} packets held with {slots} slots reserved"
        );
        assert!(
            slots <= self.capacity.pool_packets,
            "slots {slots} beyond the pool"
        );
        assert_eq!(
            sessions as usize,
            self.worker.accumulating(),
            "capacity sessions vs. the worker's accumulating sessions"
        );
        assert_eq!(acc.sessions.get(), u64::from(sessions));
        if !self.reconfigured {
            let limit = u32::from(self.sc.knobs.packetlimit);
            assert_eq!(slots, sessions * limit, "slots not packetlimit per session");
            if sessions <= 1 {
                assert!(held <= u64::from(limit), "{held} held, packetlimit {limit}");
            }
        }
    }

    fn handshake_frame(&self, s: usize, step: u8) -> (bool, Vec<u8>) {
        let spec = &self.sc.sessions[s];
        let (c, sv) = (spec.isn_client, spec.isn_server);
        match step % 3 {
            0 => (
                true,
                self.frame(
                    s,
                    true,
                    gf::SYN,
                    c,
                    0,
                    &[
                        TcpOption::Mss(1460),
                        TcpOption::SackPermitted,
                        TcpOption::WindowScale(7),
                    ],
                    b"",
                ),
            ),
            1 => {
                let with: [TcpOption; 2] = [TcpOption::Mss(1460), TcpOption::WindowScale(7)];
                let without: [TcpOption; 1] = [TcpOption::WindowScale(7)];
                let opts: &[TcpOption] = if spec.server_mss { &with } else { &without };
                (
                    false,
                    self.frame(
                        s,
                        false,
                        gf::SYN | gf::ACK,
                        sv,
                        c.wrapping_add(1),
                        opts,
                        b"",
                    ),
                )
            }
            _ => (
                true,
                self.frame(
                    s,
                    true,
                    gf::ACK,
                    c.wrapping_add(1),
                    sv.wrapping_add(1),
                    &[],
                    b"",
                ),
            ),
        }
    }

    fn run(&mut self) {
        for s in 0..self.sc.sessions.len() {
            if self.sc.sessions[s].handshake {
                for step in 0..3 {
                    let (c, f) = self.handshake_frame(s, step);
                    self.push(c, f, false);
                }
            }
        }
        for op in &self.sc.ops {
            self.op(op);
        }
        // Deliver anything batched (a burst is at most BURST frames per side), then stop.
        self.poll();
        while self.worker.io_mut().rx.iter().any(|q| !q.is_empty()) {
            self.poll();
        }
        self.early_records = self.records.len();
        self.worker.shutdown(self.now);
        while let Some(r) = self.log.pop() {
            self.records.push(r);
        }
    }

    fn op(&mut self, op: &Op) {
        let n = self.sc.sessions.len();
        match *op {
            Op::Client {
                session,
                off,
                len,
                flags,
                batch,
            } if n > 0 => {
                let s = usize::from(session) % n;
                let spec = &self.sc.sessions[s];
                let slen = spec.stream.len() as u32;
                let off = off.min(slen);
                let end = off.saturating_add(u32::from(len)).min(slen);
                let payload = &spec.stream[off as usize..end as usize];
                let flags = gf::ACK | (flags & (gf::FIN | gf::RST | gf::PSH | gf::URG | gf::SYN));
                let seq = spec.isn_client.wrapping_add(1).wrapping_add(off);
                let ack = spec
                    .isn_server
                    .wrapping_add(1)
                    .wrapping_add(self.tracks[s].server_seen);
                let f = self.frame(s, true, flags, seq, ack, &[], payload);
                let t = &mut self.tracks[s];
                if flags & gf::RST != 0 {
                    t.peer_reset = true;
                }
                if flags & gf::SYN != 0 && !payload.is_empty() {
                    // A SYN with data: the seq of its data is seq + 1; keep the stream check
                    // honest by treating the session as tainted.
                    t.tainted = true;
                }
                for b in &mut t.sent[off as usize..end as usize] {
                    *b = true;
                }
                t.next = t.next.max(end);
                t.last_off = off;
                self.push(true, f, batch);
            }
            Op::Server {
                session,
                ack_off,
                len,
                flags,
                batch,
            } if n > 0 => {
                let s = usize::from(session) % n;
                let spec = &self.sc.sessions[s];
                let ack = spec.isn_client.wrapping_add(1).wrapping_add(ack_off);
                let seq = spec
                    .isn_server
                    .wrapping_add(1)
                    .wrapping_add(self.tracks[s].server_next);
                let payload = vec![0x5a; usize::from(len % 1400)];
                let flags = gf::ACK | (flags & (gf::FIN | gf::RST | gf::PSH));
                let f = self.frame(s, false, flags, seq, ack, &[], &payload);
                let t = &mut self.tracks[s];
                t.server_next = t.server_next.wrapping_add(payload.len() as u32);
                if flags & gf::RST != 0 {
                    t.peer_reset = true;
                }
                self.push(false, f, batch);
            }
            Op::Handshake {
                session,
                step,
                batch,
            } if n > 0 => {
                let s = usize::from(session) % n;
                let (c, f) = self.handshake_frame(s, step);
                self.push(c, f, batch);
            }
            Op::Advance { ms } => {
                self.now += u64::from(ms);
                self.poll();
            }
            Op::Reconfigure {
                packetlimit,
                max_bytes,
                on_limit,
            } => {
                let mut cfg = self.live_cfg.clone();
                cfg.accumulation.packetlimit = packetlimit.clamp(1, 64);
                cfg.accumulation.max_bytes = max_bytes.clamp(512, 65536);
                cfg.accumulation.on_limit = on_limit;
                self.shared.publish(Live::from_config(&cfg, [1500, 1500]));
                self.live_cfg = cfg;
                self.reconfigured = true;
            }
            Op::Mangled {
                session,
                from_client,
                off,
                ref changes,
                ref raw,
            } => {
                let mut f = if changes.is_empty() || n == 0 {
                    raw.clone()
                } else {
                    let s = usize::from(session) % n;
                    let spec = &self.sc.sessions[s];
                    let slen = spec.stream.len() as u32;
                    let off = off.min(slen);
                    let end = off.saturating_add(536).min(slen);
                    let payload = &spec.stream[off as usize..end as usize];
                    let seq = spec.isn_client.wrapping_add(1).wrapping_add(off);
                    let ack = spec.isn_server.wrapping_add(1);
                    self.frame(s, from_client, gf::ACK | gf::PSH, seq, ack, &[], payload)
                };
                if f.is_empty() {
                    return;
                }
                for &(at, x) in changes {
                    let i = usize::from(at) % f.len();
                    f[i] ^= x;
                }
                f.truncate(ROOM * 4);
                // A frame that still parses as one of our sessions may carry other bytes.
                if let Some(s) = self.session_of(&f) {
                    self.tracks[s].tainted = true;
                }
                self.push(from_client, f, false);
            }
            _ => {}
        }
    }

    /// The session a frame belongs to (by its 4-tuple), if any.
    fn session_of(&self, f: &[u8]) -> Option<usize> {
        let h = packet::parse(f).ok()?;
        let t = h.tcp()?;
        let ports = [t.src_port, t.dst_port];
        (0..self.sc.sessions.len()).find(|&s| {
            ports.contains(&client_port(s))
                && ports.contains(&self.sc.sessions[s].server_port)
                && h.l4_proto == packet::ip_proto::TCP
        })
    }

    /// Invariants at the end, after shutdown.
    fn finish(mut self) -> Report {
        let io = self.worker.io();
        assert_eq!(io.live(), 0, "buffers leaked after shutdown");
        assert_eq!(self.capacity.slots_in_use(), 0, "capacity slots leaked");
        assert_eq!(
            self.capacity.active_sessions(),
            0,
            "capacity sessions leaked"
        );
        assert_eq!(self.worker.accumulating(), 0);
        assert!(self.worker.flows().is_empty(), "flows left after shutdown");
        let c = &self.counters;
        assert_eq!(
            c.acc.held_packets.get(),
            0,
            "held_packets counter after shutdown"
        );
        assert_eq!(c.acc.sessions.get(), 0, "sessions counter after shutdown");
        let created = c.base.flows_created.get();
        let ended: u64 = EndReason::ALL
            .iter()
            .map(|r| c.ended[r.index()].get())
            .sum();
        assert_eq!(ended, created, "flows created vs. flows ended");
        assert_eq!(
            self.records.len() as u64 + c.base.log_queue_full.get(),
            created,
            "one record per flow"
        );

        // Frames lost to a full pool or TX queue, or RSTs we could not see because their buffer
        // allocation failed: delivery is not checked then.
        let env_loss = io.rx_nombuf > 0 || io.tx_dropped() != [0, 0] || io.alloc_failed > 0;
        let n = self.sc.sessions.len();
        if std::env::var_os("FUZZ_TRACE").is_some() {
            for (side, frames) in io.sent.iter().enumerate() {
                for f in frames {
                    eprintln!("sent to {}: {}", Side::BOTH[side].name(), describe_frame(f));
                }
            }
            for (name, v) in self.counters.snapshot() {
                if v != 0 {
                    eprintln!("counter {name} = {v}");
                }
            }
            for r in &self.records {
                eprintln!("record {}", r.to_json());
            }
        }
        let mut report = Report {
            server_bytes: self
                .sc
                .sessions
                .iter()
                .map(|s| vec![None; s.stream.len()])
                .collect(),
            reset: vec![false; n],
            removed_early: vec![false; n],
            server_offsets: vec![Vec::new(); n],
            max_held: self.max_held,
            started: c.acc.started.get(),
            completed: c.acc.completed.get(),
            resets: c.acc.reset.get(),
            records: Vec::new(),
            sent: Default::default(),
            counters: c.snapshot(),
        };
        // Who was reset: by a peer, by us (an RST we sent or a record saying so).
        for (s, t) in self.tracks.iter().enumerate() {
            report.reset[s] = t.peer_reset;
        }
        for (i, r) in self.records.iter().enumerate() {
            let early = i < self.early_records;
            let Some(s) = (0..n).find(|&s| {
                r.client_port == client_port(s) && r.server_port == self.sc.sessions[s].server_port
            }) else {
                continue;
            };
            let acc = r.tls.as_ref().and_then(|t| t.accumulation).unwrap_or("");
            if r.end_reason.is_ours() || acc.ends_with("reset") {
                report.reset[s] = true;
            }
            // Aging frees what the accumulator holds for the flow, acknowledged or not (see
            // `aging_drops_acknowledged_data` in tests/fuzz_findings.rs): no delivery check.
            if early {
                report.removed_early[s] = true;
            }
        }
        // What each side received, per session. `acked[s]`: the highest stream offset the
        // appliance acknowledged to the client on the server's behalf.
        let mut acked = vec![0u32; n];
        for (side, frames) in io.sent.iter().enumerate() {
            for f in frames {
                let h = packet::parse(f)
                    .unwrap_or_else(|e| panic!("sent a frame that does not parse: {e:?}"));
                let Some(t) = h.tcp() else { continue };
                let Some(s) = self.session_of(f) else {
                    continue;
                };
                let spec = &self.sc.sessions[s];
                let track = &self.tracks[s];
                if track.tainted {
                    continue;
                }
                assert!(
                    packet::verify_tcp_checksum(f, &h),
                    "sent a bad TCP checksum"
                );
                assert!(
                    packet::verify_ip_header(f, &h),
                    "sent a bad IPv4 header checksum"
                );
                if t.flags.syn() {
                    if let Some(limit) = self.sc.knobs.mss_clamp {
                        for v in mss_values(f, &h) {
                            assert!(v <= limit, "sent MSS {v} above the clamp {limit}");
                        }
                    }
                }
                let crafted = h.ttl == 64;
                let to_server = side == Side::Server.index();
                let from_client_addr = t.src_port == client_port(s);
                if to_server && from_client_addr && !t.flags.syn() && t.payload_len > 0 {
                    assert!(!crafted, "the appliance sent payload of its own");
                    let off = t.seq.wrapping_sub(spec.isn_client.wrapping_add(1));
                    let payload = h.tcp_payload(f).unwrap_or_default();
                    let end = off as u64 + payload.len() as u64;
                    assert!(
                        end <= spec.stream.len() as u64,
                        "server got bytes at {off}..{end}, beyond the client's {} bytes",
                        spec.stream.len()
                    );
                    report.server_offsets[s].push(off);
                    for (i, &b) in payload.iter().enumerate() {
                        let o = off as usize + i;
                        assert_eq!(
                            b, spec.stream[o],
                            "server got a byte the client did not send at offset {o}"
                        );
                        assert!(
                            track.sent[o],
                            "server got offset {o} before the client sent it"
                        );
                        report.server_bytes[s][o] = Some(b);
                    }
                }
                if crafted && t.flags.rst() {
                    report.reset[s] = true;
                }
                if crafted && !to_server && !t.flags.rst() && t.flags.ack() {
                    let off = t.ack.wrapping_sub(spec.isn_client.wrapping_add(1));
                    assert!(
                        (off as usize) <= spec.stream.len(),
                        "acknowledged to the client offset {off} beyond its {} bytes",
                        spec.stream.len()
                    );
                    acked[s] = acked[s].max(off);
                }
            }
        }
        for (s, t) in self.tracks.iter().enumerate() {
            if t.tainted {
                continue;
            }
            // Never acknowledge on the server's behalf what the client has not sent.
            let prefix = t.sent.iter().position(|b| !b).unwrap_or(t.sent.len());
            assert!(
                acked[s] as usize <= prefix,
                "session {s}: acknowledged {} bytes to the client, which sent only the first {prefix} without a gap",
                acked[s]
            );
            if report.reset[s] || report.removed_early[s] || env_loss {
                continue;
            }
            // What the appliance acknowledged, it delivers.
            if let Some(o) = (0..acked[s] as usize).find(|&o| report.server_bytes[s][o].is_none()) {
                panic!(
                    "session {s}: offset {o} acknowledged to the client (up to {}) never reached the server",
                    acked[s]
                );
            }
            // Without resets, every byte the client sent reaches the server.
            if let Some(o) =
                (0..t.sent.len()).find(|&o| t.sent[o] && report.server_bytes[s][o].is_none())
            {
                panic!("session {s}: client byte at offset {o} never reached the server");
            }
        }
        report.records = std::mem::take(&mut self.records);
        report.sent = std::mem::take(&mut self.worker.io_mut().sent);
        report
    }
}

/// Run a scenario through a real worker and check every invariant (see the module docs).
/// Panics on a violation; returns what happened.
/// The scenario also runs with the worker's established-flow path turned off, and both runs
/// must send the same frames and end with the same records and counters.
pub fn run_scenario(sc: &Scenario) -> Report {
    let run = |lite| {
        let mut h = Harness::new(sc, lite);
        h.run();
        h.finish()
    };
    let (fast, general) = (run(true), run(false));
    for side in 0..2 {
        if let Some(i) = (0..fast.sent[side].len().max(general.sent[side].len()))
            .find(|&i| fast.sent[side].get(i) != general.sent[side].get(i))
        {
            panic!(
                "the established-flow path sent another frame {i} to side {side}: {:02x?}, \
                 the general path {:02x?}",
                fast.sent[side].get(i),
                general.sent[side].get(i)
            );
        }
    }
    assert_eq!(
        format!("{:?}", fast.records),
        format!("{:?}", general.records),
        "records with and without the established-flow path"
    );
    assert_eq!(
        fast.counters, general.counters,
        "counters with and without the established-flow path"
    );
    fast
}

/// Fuzz target: decode `data` into a [`Scenario`] and run it.
pub fn accumulator(data: &[u8]) {
    let sc = decode_scenario(data);
    run_scenario(&sc);
}

/// SNIs a generated ClientHello may carry (one is denied by the `deny_rule` policy).
pub const SNIS: [&str; 4] = ["a.test", "www.example.com", "x.deny.test", "deny.test"];

/// A ClientHello from the generator, or None for specs it refuses.
pub fn client_hello(
    sni: &str,
    target: Option<usize>,
    pq: bool,
    ticket: usize,
    seed: u64,
) -> Option<Vec<u8>> {
    let mut spec = HelloSpec::new(sni);
    spec.target_size = target;
    spec.pq = pq;
    spec.ticket_len = ticket;
    spec.seed = seed;
    hello::build(&spec).ok().map(|h| h.bytes)
}

/// Decode fuzzer bytes into a scenario. Any input decodes.
pub fn decode_scenario(data: &[u8]) -> Scenario {
    let mut i = Input::new(data);
    let flags = i.u8();
    let flags2 = i.u8();
    let pl = i.u8();
    let packetlimit = if pl < 160 {
        1 + u16::from(pl % 16)
    } else {
        1 + u16::from(pl % 64)
    };
    let mb = i.u16();
    let max_bytes = if mb & 1 == 0 {
        512 + u32::from(mb >> 1) % 4096
    } else {
        512 + u32::from(mb) % (65536 - 512 + 1)
    };
    let pool_packets = 64 * (1 + u32::from(i.u8() % 4));
    let timeouts = i.u8();
    let hold_timeout_ms = [500, 2_000, 10_000, 30_000][usize::from(timeouts & 3)];
    // Mostly flow timeouts longer than the hold timeout (the defaults are); sometimes short.
    let (established_ms, time_wait_ms) = match (timeouts >> 2) & 7 {
        0 => (100, 100),
        1 => (5_000, 1_000),
        2 => (3_600_000, 100),
        _ => (3_600_000, 60_000),
    };
    let rto_ms = 10 + u32::from(i.u16()) % 2000;
    let tries = 1 + i.u8() % 16;
    let mss = i.u16();
    let knobs = Knobs {
        packetlimit,
        max_bytes,
        on_limit: if flags & 1 == 0 {
            OnLimit::Reset
        } else {
            OnLimit::Release
        },
        on_capacity: if flags & 2 == 0 {
            OnCapacity::Bypass
        } else {
            OnCapacity::Reset
        },
        pool_packets,
        hold_timeout_ms,
        rto_ms,
        tries,
        established_ms,
        time_wait_ms,
        mss_clamp: (flags2 & 1 != 0).then_some(536 + mss % 8465),
        mss_insert: (flags2 & 2 != 0).then_some(536 + (mss >> 3) % 8465),
        deny_rule: flags & 4 != 0,
        io_pool: (flags2 & 0x1c == 0x1c).then_some(8 + usize::from(i.u8())),
        tx_capacity: (flags2 & 0xe0 == 0xe0).then_some(1 + usize::from(i.u8() % 16)),
        v6: flags & 8 != 0,
        vlan: flags & 16 != 0,
        timestamps: flags & 32 != 0,
    };
    let nsessions = 1 + usize::from((flags >> 6) % 3);
    let mut sessions = Vec::with_capacity(nsessions);
    for _ in 0..nsessions {
        let kind = i.u8();
        let isn_client = if kind & 0x80 != 0 {
            u32::MAX - u32::from(i.u16())
        } else {
            i.u32()
        };
        let isn_server = i.u32();
        let server_port = if kind & 0x40 != 0 { 8443 } else { 443 };
        let handshake = kind & 0x20 == 0;
        let server_mss = kind & 0x10 == 0;
        let mut stream = match kind & 3 {
            // Raw bytes (maybe TLS-looking, maybe not).
            0 => {
                let n = usize::from(i.u16() % 4096);
                let mut v = i.take(n).to_vec();
                v.resize(n, 0x16);
                v
            }
            // A generated ClientHello, maybe with one byte changed.
            _ => {
                let sel = i.u8();
                let sni = SNIS[usize::from(sel & 3)];
                let target = match (sel >> 2) & 3 {
                    0 => None,
                    1 => Some(600 + usize::from(i.u16() % 2048)),
                    2 => Some(1500 + usize::from(i.u16() % 8192)),
                    _ => Some(4000 + usize::from(i.u16()) % 20000),
                };
                let seed = u64::from(i.u8());
                let mut h = client_hello(
                    sni,
                    target,
                    sel & 0x10 != 0,
                    usize::from(sel >> 5) * 64,
                    seed,
                )
                .or_else(|| client_hello(sni, None, true, 0, seed))
                .unwrap_or_default();
                if kind & 3 == 2 && !h.is_empty() {
                    let at = usize::from(i.u16()) % h.len();
                    h[at] ^= i.u8() | 1;
                }
                h
            }
        };
        // Application data after the hello.
        let extra = usize::from(i.u8() % 64);
        let tail = i.take(extra).to_vec();
        stream.extend_from_slice(&tail);
        sessions.push(SessionSpec {
            stream,
            isn_client,
            isn_server,
            server_port,
            handshake,
            server_mss,
        });
    }

    let mut ops = Vec::new();
    // Per session: next in-order offset, to make in-order sending likely.
    let mut next = vec![0u32; nsessions];
    let mut last = vec![0u32; nsessions];
    while !i.is_empty() && ops.len() < 400 {
        let b = i.u8();
        let session = i.u8() % nsessions as u8;
        let s = usize::from(session);
        let batch = b & 0x80 != 0;
        match b & 0x0f {
            0..=5 => {
                let mode = i.u8();
                let len = match mode & 3 {
                    0 => 536,
                    1 => 1 + i.u16() % 1460,
                    2 => 1 + u16::from(i.u8() % 64),
                    _ => 1460,
                };
                let off = match (mode >> 2) & 3 {
                    0 | 1 => next[s],
                    2 => last[s],
                    _ => i.u16().into(),
                };
                let flags = if mode & 0x30 == 0x30 { i.u8() } else { gf::PSH };
                ops.push(Op::Client {
                    session,
                    off,
                    len,
                    flags,
                    batch,
                });
                last[s] = off;
                next[s] = next[s].max(off.saturating_add(u32::from(len)));
            }
            6..=8 => {
                let mode = i.u8();
                let ack_off = match mode & 3 {
                    0 | 1 => next[s],
                    2 => last[s],
                    _ => u32::from(i.u16()),
                };
                let len = if mode & 4 != 0 { i.u16() } else { 0 };
                let flags = if mode & 0x18 == 0x18 { i.u8() } else { 0 };
                ops.push(Op::Server {
                    session,
                    ack_off,
                    len,
                    flags,
                    batch,
                });
            }
            9..=11 => {
                let ms = match i.u8() & 7 {
                    0 => 1,
                    1 => 50,
                    2 => 300,
                    3 => 1_000,
                    4 => 5_000,
                    5 => 20_000,
                    6 => 120_000,
                    _ => u32::from(i.u16()),
                };
                ops.push(Op::Advance { ms });
            }
            12 => ops.push(Op::Handshake {
                session,
                step: i.u8() % 3,
                batch,
            }),
            13 => {
                let pl = i.u8();
                ops.push(Op::Reconfigure {
                    packetlimit: 1 + u16::from(pl % 64),
                    max_bytes: 512 + u32::from(i.u16()),
                    on_limit: if pl & 0x80 != 0 {
                        OnLimit::Release
                    } else {
                        OnLimit::Reset
                    },
                });
            }
            _ => {
                let m = i.u8();
                let count = usize::from(m & 7);
                let changes: Vec<(u16, u8)> = (0..count).map(|_| (i.u16(), i.u8())).collect();
                let raw = if count == 0 {
                    let n = usize::from(i.u8());
                    i.take(n).to_vec()
                } else {
                    Vec::new()
                };
                ops.push(Op::Mangled {
                    session,
                    from_client: m & 8 == 0,
                    off: if m & 16 != 0 { last[s] } else { next[s] },
                    changes,
                    raw,
                });
            }
        }
    }
    Scenario {
        knobs,
        sessions,
        ops,
    }
}

/// A readable description of a scenario (streams summarised), for debugging a crash.
pub fn describe_scenario(sc: &Scenario) -> String {
    let mut s = format!("{:#?}\n", sc.knobs);
    for (i, sess) in sc.sessions.iter().enumerate() {
        s.push_str(&format!(
            "session {i}: {} bytes (starts {:02x?}), isn {} / {}, port {}, handshake {}, server mss {}\n",
            sess.stream.len(),
            &sess.stream[..sess.stream.len().min(12)],
            sess.isn_client,
            sess.isn_server,
            sess.server_port,
            sess.handshake,
            sess.server_mss
        ));
    }
    for op in &sc.ops {
        s.push_str(&format!("{op:?}\n"));
    }
    s
}

/// One line about a frame: addresses, ports, flags, seq, ack, payload length, TTL.
pub fn describe_frame(f: &[u8]) -> String {
    match packet::parse(f) {
        Ok(h) => match h.tcp() {
            Some(t) => format!(
                "{:?}:{} > {:?}:{} flags {:#04x} seq {} ack {} len {} ttl {}",
                h.src_addr(),
                t.src_port,
                h.dst_addr(),
                t.dst_port,
                t.flags.0,
                t.seq,
                t.ack,
                t.payload_len,
                h.ttl
            ),
            None => format!("{:?} {} bytes", h.l4, f.len()),
        },
        Err(e) => format!("unparsed ({e:?}) {} bytes", f.len()),
    }
}

// ---------------------------------------------------------------------------------------------
// Seed inputs.
// ---------------------------------------------------------------------------------------------

/// Seed inputs for the fuzz targets, as (target, file name, bytes): valid frames, real-looking
/// ClientHellos and every control command, in each target's input format. `fuzz/seeds/` holds
/// them; regenerate with `cargo test -p appliance --test fuzz_regressions -- --ignored
/// write_fuzz_seeds`.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    // packet_mss: policy bytes (clamp 1460 both, insert 1460; tailroom 8), then a frame.
    let frames = seed_frames();
    for (i, f) in frames.iter().enumerate() {
        for (j, sel) in [0b0011_1111u8, 0b0001_0101, 0b0010_1010].iter().enumerate() {
            let mut v = vec![*sel, 0x10, 0x05, 0xa0, 0x04, 4];
            v.extend_from_slice(f);
            out.push(("packet_mss", format!("frame-{i:02}-policy-{j}"), v));
        }
    }
    // tls_hello: chunk 200, max_bytes 16384, raw stream.
    let hellos = [
        client_hello("a.test", None, false, 0, 1),
        client_hello("www.example.com", None, true, 0, 2),
        client_hello("big.example", Some(9000), true, 512, 3),
        client_hello("two-records.example", Some(17000), true, 0, 4),
    ];
    for (i, h) in hellos.iter().flatten().enumerate() {
        let mut v = vec![200, 0x00, 0x20, 0];
        v.extend_from_slice(h);
        out.push(("tls_hello", format!("hello-{i}"), v.clone()));
        // The same as a bare body for the parser (mode 2): strip record and handshake headers.
        if h.len() > 9 {
            let mut b = vec![7, 0x00, 0x20, 2];
            b.extend_from_slice(&h[9..]);
            out.push(("tls_hello", format!("body-{i}"), b));
        }
    }
    // control_request: every command.
    let lines = [
        "show accumulation",
        "show counters",
        "show mss",
        "show ports",
        "show config",
        "show metrics",
        "show sessions",
        "show sessions --sni example.com --limit 5",
        "show sessions --limit=10000 --sni=Example.COM",
        "set packetlimit 24",
        "debug dataplane set ssl-decrypt accumulate-client-hello packetlimit 24",
        "set max-bytes 16384",
        "set on-limit reset",
        "set on-limit release",
        "set on-capacity bypass",
        "set on-capacity reset",
        "set mss insert-missing 1460",
        "set mss insert-missing off",
        "set mss clamp 1400",
        "set mss clamp auto",
        "set mss clamp off",
        "set log-level debug",
        "advise packetlimit",
        "advise packetlimit --target-percentile 99.9",
        "what-if packetlimit 30",
    ];
    for (i, l) in lines.iter().enumerate() {
        out.push((
            "control_request",
            format!("cmd-{i:02}"),
            l.as_bytes().to_vec(),
        ));
    }
    out
}

/// SYNs and SYN-ACKs, IPv4 and IPv6, with and without VLAN and options, and a data segment.
fn seed_frames() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let opts_sets: [&[TcpOption]; 4] = [
        &[
            TcpOption::Mss(1460),
            TcpOption::SackPermitted,
            TcpOption::WindowScale(7),
        ],
        &[TcpOption::WindowScale(7)],
        &[],
        &[
            TcpOption::Mss(9000),
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::Timestamps { val: 1, ecr: 0 },
            TcpOption::Nop,
            TcpOption::WindowScale(14),
        ],
    ];
    for v6 in [false, true] {
        for vlan in [None, Some(42)] {
            for (k, opts) in opts_sets.iter().enumerate() {
                let flags = if k % 2 == 0 {
                    gf::SYN
                } else {
                    gf::SYN | gf::ACK
                };
                let eth = Ethernet {
                    dst: SERVER_MAC,
                    src: CLIENT_MAC,
                    vlan,
                    pad: true,
                };
                let ip = if v6 {
                    Ip::V6(Ipv6 {
                        src: client_v6(0),
                        dst: SERVER_V6,
                        hop_limit: 64,
                        flow_label: 1,
                    })
                } else {
                    Ip::V4(Ipv4 {
                        src: client_v4(0),
                        dst: SERVER_V4,
                        id: 1,
                        ttl: 64,
                        dont_fragment: true,
                    })
                };
                let tcp = Tcp {
                    src_port: 40000,
                    dst_port: 443,
                    seq: 1000,
                    ack: 0,
                    flags,
                    window: 64240,
                    options: opts,
                    payload: b"",
                };
                if let Ok(f) = gf::tcp_frame(&eth, &ip, &tcp) {
                    frames.push(f);
                }
                if k == 0 {
                    let data = Tcp {
                        flags: gf::ACK | gf::PSH,
                        payload: b"\x16\x03\x01\x02\x00\x01",
                        options: &[],
                        ..tcp
                    };
                    if let Ok(f) = gf::tcp_frame(&eth, &ip, &data) {
                        frames.push(f);
                    }
                }
            }
        }
    }
    frames
}
