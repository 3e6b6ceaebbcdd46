//! Whole-generator tests: every frame re-parsed and checksummed by an independent naive
//! implementation, TCP streams reassembled, determinism, CLI defaults, pcap round trip,
//! and tshark decoding every ClientHello (when tshark is installed).

use super::*;
use clap::Parser;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::process::Command;

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: GenArgs,
}

fn cli(flags: &[&str]) -> Result<GenArgs, clap::Error> {
    let mut argv = vec!["gen"];
    argv.extend_from_slice(flags);
    Cli::try_parse_from(argv).map(|c| c.args)
}

/// Naive one's-complement sum: byte pairs, end-around carry at every step.
fn naive_sum(bytes: &[u8]) -> u16 {
    let mut s: u32 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let hi = u32::from(bytes[i]);
        let lo = u32::from(bytes.get(i + 1).copied().unwrap_or(0));
        s += (hi << 8) | lo;
        if s > 0xffff {
            s -= 0xffff;
        }
        i += 2;
    }
    s as u16
}

/// A frame taken apart by hand, checksums verified on the way.
#[derive(Debug, Clone)]
struct Parsed {
    vlan: Option<u16>,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    options: Vec<u8>,
    payload: Vec<u8>,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse(f: &[u8]) -> Parsed {
    assert!(f.len() >= 60, "frame shorter than the Ethernet minimum");
    let mut at = 12;
    let mut vlan = None;
    let mut ethertype = be16(f, at);
    if ethertype == 0x8100 {
        vlan = Some(be16(f, at + 2) & 0x0fff);
        at += 4;
        ethertype = be16(f, at);
    }
    at += 2;
    let (src, dst, proto, l4, pseudo): (IpAddr, IpAddr, u8, &[u8], Vec<u8>) = match ethertype {
        0x0800 => {
            assert_eq!(f[at], 0x45);
            let total = usize::from(be16(f, at + 2));
            assert!(at + total <= f.len());
            assert_eq!(naive_sum(&f[at..at + 20]), 0xffff, "IPv4 header checksum");
            let mut s = [0u8; 4];
            s.copy_from_slice(&f[at + 12..at + 16]);
            let mut d = [0u8; 4];
            d.copy_from_slice(&f[at + 16..at + 20]);
            let proto = f[at + 9];
            let l4 = &f[at + 20..at + total];
            let mut pseudo = f[at + 12..at + 20].to_vec();
            pseudo.extend_from_slice(&[0, proto]);
            pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            (IpAddr::from(s), IpAddr::from(d), proto, l4, pseudo)
        }
        0x86dd => {
            assert_eq!(f[at] >> 4, 6);
            let plen = usize::from(be16(f, at + 4));
            let proto = f[at + 6];
            let mut s = [0u8; 16];
            s.copy_from_slice(&f[at + 8..at + 24]);
            let mut d = [0u8; 16];
            d.copy_from_slice(&f[at + 24..at + 40]);
            let l4 = &f[at + 40..at + 40 + plen];
            let mut pseudo = f[at + 8..at + 40].to_vec();
            pseudo.extend_from_slice(&(l4.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, proto]);
            (IpAddr::from(s), IpAddr::from(d), proto, l4, pseudo)
        }
        other => panic!("unexpected ethertype {other:#x}"),
    };
    // Whatever follows the IP packet is Ethernet padding: zeros, only up to 60 bytes.
    let end = l4.as_ptr() as usize - f.as_ptr() as usize + l4.len();
    if end < f.len() {
        assert_eq!(f.len(), 60);
        assert!(f[end..].iter().all(|&b| b == 0));
    }
    let mut all = pseudo.clone();
    all.extend_from_slice(l4);
    assert_eq!(naive_sum(&all), 0xffff, "L4 checksum");
    let mut p = Parsed {
        vlan,
        dst_mac: f[0..6].try_into().unwrap(),
        src_mac: f[6..12].try_into().unwrap(),
        src,
        dst,
        proto,
        sport: be16(l4, 0),
        dport: be16(l4, 2),
        seq: 0,
        ack: 0,
        flags: 0,
        options: Vec::new(),
        payload: Vec::new(),
    };
    match proto {
        6 => {
            let off = usize::from(l4[12] >> 4) * 4;
            assert!((20..=60).contains(&off));
            p.seq = be32(l4, 4);
            p.ack = be32(l4, 8);
            p.flags = l4[13];
            p.options = l4[20..off].to_vec();
            p.payload = l4[off..].to_vec();
        }
        17 => {
            assert_eq!(usize::from(be16(l4, 4)), l4.len());
            assert_ne!(be16(l4, 6), 0, "UDP checksum must be set");
            p.payload = l4[8..].to_vec();
        }
        other => panic!("unexpected protocol {other}"),
    }
    p
}

/// TCP options as (kind, data).
fn options(b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            0 => break,
            1 => {
                out.push((1, Vec::new()));
                i += 1;
            }
            k => {
                let l = usize::from(b[i + 1]);
                assert!(l >= 2 && i + l <= b.len());
                out.push((k, b[i + 2..i + l].to_vec()));
                i += l;
            }
        }
    }
    out
}

fn mss_of(p: &Parsed) -> Option<u16> {
    options(&p.options)
        .into_iter()
        .find(|o| o.0 == 2)
        .map(|o| u16::from_be_bytes([o.1[0], o.1[1]]))
}

fn in_ranges(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => {
            let o = v.octets();
            o[0] == 198 && (o[1] == 18 || o[1] == 19)
        }
        IpAddr::V6(v) => {
            let s = v.segments();
            s[0] == 0x2001 && s[1] == 2 && s[2] == 0
        }
    }
}

/// Per session and direction: the byte stream rebuilt from payloads by sequence number.
struct Stream {
    isn: u32,
    data: BTreeMap<u32, Vec<u8>>,
    fin: bool,
    rst: bool,
    segments: usize,
}

impl Stream {
    fn bytes(&self) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        for (&off, d) in &self.data {
            let off = off as usize;
            assert!(off <= out.len(), "gap in stream at {off}");
            let end = off + d.len();
            if end > out.len() {
                // Overlap must agree (retransmissions carry the same bytes).
                let overlap = out.len() - off;
                assert_eq!(&out[off..], &d[..overlap]);
                out.extend_from_slice(&d[overlap..]);
            } else {
                assert_eq!(&out[off..end], &d[..]);
            }
        }
        out
    }
}

/// Checks everything frame-level and rebuilds the streams; returns them keyed by
/// (session, direction).
fn check_frames(
    args: &GenArgs,
    frames: &[Frame],
    summary: &GenSummary,
) -> HashMap<(u32, Direction), Stream> {
    assert_eq!(summary.frames as usize, frames.len());
    assert_eq!(
        summary.bytes,
        frames.iter().map(|f| f.bytes.len() as u64).sum::<u64>()
    );
    assert_eq!(summary.sessions, args.sessions as usize);
    let mut last_ts = 0;
    let mut streams: HashMap<(u32, Direction), Stream> = HashMap::new();
    let mut udp = 0;
    for f in frames {
        assert!(f.ts_us > last_ts, "timestamps must increase");
        last_ts = f.ts_us;
        let p = parse(&f.bytes);
        assert_eq!(p.vlan, args.vlan);
        assert!(in_ranges(p.src) && in_ranges(p.dst), "{p:?}");
        assert_eq!(p.src.is_ipv6(), args.ipv6);
        for m in [p.src_mac, p.dst_mac] {
            assert_eq!(m[0] & 0x03, 0x02, "locally administered unicast MAC");
        }
        let client_side = match p.src {
            IpAddr::V4(v) => v.octets()[1] == 18,
            IpAddr::V6(v) => v.segments()[3] == 1,
        };
        assert_eq!(client_side, f.direction == Direction::ClientToServer);
        let Some(session) = f.session else {
            assert_eq!(p.proto, 17);
            udp += 1;
            continue;
        };
        assert_eq!(p.proto, 6);
        let s = &summary.per_session[session as usize];
        let (c, sv) = match f.direction {
            Direction::ClientToServer => ((p.src, p.sport), (p.dst, p.dport)),
            Direction::ServerToClient => ((p.dst, p.dport), (p.src, p.sport)),
        };
        assert_eq!(c, (s.client.ip(), s.client.port()));
        assert_eq!(sv, (s.server.ip(), s.server.port()));
        assert_eq!(s.server.port(), args.dst_port);
        let key = (session, f.direction);
        if p.flags & frame::SYN != 0 {
            assert!(!streams.contains_key(&key), "one SYN per direction");
            let mss = mss_of(&p);
            if f.direction == Direction::ClientToServer {
                assert!(mss.is_some(), "client SYN carries MSS");
                assert_eq!(p.flags, frame::SYN);
            } else {
                assert_eq!(p.flags, frame::SYN | frame::ACK);
                assert_eq!(mss.is_some(), !args.no_server_mss);
                let peer = &streams[&(session, Direction::ClientToServer)];
                assert_eq!(p.ack, peer.isn.wrapping_add(1));
            }
            streams.insert(
                key,
                Stream {
                    isn: p.seq,
                    data: BTreeMap::new(),
                    fin: false,
                    rst: false,
                    segments: 0,
                },
            );
            continue;
        }
        assert!(mss_of(&p).is_none());
        let has_ts = options(&p.options).iter().any(|o| o.0 == 8);
        assert_eq!(has_ts, args.timestamps);
        let st = streams.get_mut(&key).expect("segment before SYN");
        assert!(!st.rst, "segment after RST");
        assert!(!st.fin || p.payload.is_empty(), "data after FIN");
        let off = p.seq.wrapping_sub(st.isn).wrapping_sub(1);
        if !p.payload.is_empty() {
            st.data.insert(off, p.payload.clone());
            st.segments += 1;
        }
        if p.flags & frame::FIN != 0 {
            st.fin = true;
        }
        if p.flags & frame::RST != 0 {
            st.rst = true;
        }
    }
    assert_eq!(udp, summary.udp_frames);
    streams
}

/// The TLS handshake message bytes (records unwrapped) at the start of a client stream,
/// and the number of record bytes they took.
fn unwrap_hello(stream: &[u8]) -> (Vec<u8>, usize) {
    let mut hs = Vec::new();
    let mut at = 0;
    loop {
        assert_eq!(stream[at], 22, "handshake record");
        let len = usize::from(be16(stream, at + 3));
        hs.extend_from_slice(&stream[at + 5..at + 5 + len]);
        at += 5 + len;
        if hs.len() >= 4 {
            let body = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
            if hs.len() >= 4 + body {
                assert_eq!(hs.len(), 4 + body, "hello ends on a record boundary");
                return (hs, at);
            }
        }
    }
}

fn check_sessions(args: &GenArgs, frames: &[Frame], summary: &GenSummary) {
    let streams = check_frames(args, frames, summary);
    let mut ports = HashSet::new();
    for s in &summary.per_session {
        assert!(ports.insert(s.client.port()), "client ports distinct");
        let c = &streams[&(s.index, Direction::ClientToServer)];
        let sv = &streams[&(s.index, Direction::ServerToClient)];
        let cb = c.bytes();
        let (hs, hello_wire) = unwrap_hello(&cb);
        assert_eq!(hello_wire, s.hello_size);
        assert_eq!(hs.len() - 4, s.handshake_len);
        assert_eq!(hs[0], 1);
        assert!(hs.windows(s.sni.len()).any(|w| w == s.sni.as_bytes()));
        let expected_sni = args.sni_pattern.replace("{n}", &s.index.to_string());
        assert_eq!(s.sni, expected_sni);
        assert_eq!(s.segments, s.hello_size.div_ceil(s.segment_size));
        // Hello segments: payloads of the client stream within the hello, distinct by seq.
        let hello_segs: Vec<usize> = c
            .data
            .iter()
            .filter(|(&off, _)| (off as usize) < s.hello_size)
            .map(|(_, d)| d.len())
            .collect();
        assert_eq!(hello_segs.len(), s.segments);
        assert!(hello_segs.iter().all(|&l| l <= s.segment_size));
        let mss = args.mss.map_or(
            match (args.no_server_mss, args.ipv6) {
                (true, false) => 536,
                (true, true) => 1220,
                (false, false) => 1460,
                (false, true) => 1440,
            },
            usize::from,
        );
        let expected_seg = if args.timestamps { mss - 12 } else { mss };
        assert_eq!(s.segment_size, expected_seg);
        if let Some(size) = args.hello_size {
            assert_eq!(s.hello_size, size);
        }
        // The server flight begins with a ServerHello.
        let sb = sv.bytes();
        assert_eq!(sb[0], 22);
        assert_eq!(sb[5], 2);
        match s.close {
            Close::Fin => assert!(c.fin && sv.fin && !c.rst && !sv.rst),
            Close::RstFromClient => assert!(c.rst && !sv.rst),
            Close::RstFromServer => assert!(sv.rst && !c.rst),
        }
        let n_frames = frames.iter().filter(|f| f.session == Some(s.index)).count();
        assert_eq!(n_frames, s.frames);
    }
}

fn args(flags: &[&str]) -> GenArgs {
    let mut all = vec!["--out", "unused.pcap"];
    all.extend_from_slice(flags);
    cli(&all).unwrap()
}

#[test]
fn defaults_match_the_command_line() {
    assert_eq!(
        args(&[]),
        GenArgs {
            out: "unused.pcap".into(),
            ..GenArgs::default()
        }
    );
    assert!(cli(&[]).is_err(), "--out is required");
}

#[test]
fn command_line_parsing() {
    let a = args(&[
        "-n",
        "5",
        "--hello-sizes",
        "600,2000:3",
        "--vlan",
        "7",
        "--pq",
        "off",
    ]);
    assert_eq!(a.sessions, 5);
    assert_eq!(a.hello_sizes.unwrap().entries, vec![(600, 1), (2000, 3)]);
    assert_eq!(a.vlan, Some(7));
    assert_eq!(a.pq, PqMode::Off);
    for bad in [
        &["--hello-size", "600", "--hello-sizes", "700"][..],
        &["--vlan", "4095"],
        &["--mss", "10"],
        &["--mss", "9001"],
        &["--rst-ratio", "1.5"],
        &["--udp-ratio", "nan"],
        &["--sessions", "0"],
        &["--hello-sizes", "600:0"],
        &["--hello-sizes", ","],
        &["--dst-port", "0"],
        &["--interleave", "0"],
    ] {
        let mut all = vec!["--out", "x"];
        all.extend_from_slice(bad);
        assert!(cli(&all).is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn hello_sizes_cycle_and_weights() {
    let d = HelloSizes::parse("600, 2000,7000,9000").unwrap();
    assert!(!d.weighted);
    let mut rng = rng::Rng::new(0);
    let picks: Vec<usize> = (0..5).map(|i| d.pick(i, &mut rng)).collect();
    assert_eq!(picks, vec![600, 2000, 7000, 9000, 600]);
    assert_eq!(d.to_string(), "600,2000,7000,9000");
    let w = HelloSizes::parse("600:1,7000:3").unwrap();
    let n7 = (0..4000).filter(|&i| w.pick(i, &mut rng) == 7000).count();
    assert!((2_800..3_200).contains(&n7), "{n7}");
    assert_eq!(w.to_string(), "600:1,7000:3");
    assert!(HelloSizes::parse("x").is_err());
}

#[test]
fn default_run_is_consistent() {
    let a = args(&["-n", "20"]);
    let (frames, summary) = build(&a).unwrap();
    check_sessions(&a, &frames, &summary);
    for s in &summary.per_session {
        assert!(s.pq);
        assert_eq!(s.segment_size, 1460);
        assert_eq!(
            s.segments, 2,
            "a post-quantum hello takes two 1460-byte segments"
        );
        assert_eq!(s.close, Close::Fin);
    }
}

#[test]
fn the_thirteen_segment_case() {
    // The field case: no MSS in the SYN-ACK, 536-byte segments, a 7 KB ClientHello.
    let a = args(&[
        "-n",
        "3",
        "--no-server-mss",
        "--hello-size",
        "7000",
        "--ticket-len",
        "1800",
    ]);
    let (frames, summary) = build(&a).unwrap();
    check_sessions(&a, &frames, &summary);
    for s in &summary.per_session {
        assert_eq!((s.hello_size, s.segment_size, s.segments), (7000, 536, 14));
        assert!(!s.server_mss);
    }
    // 536-byte segments make 590-byte frames.
    let biggest = frames
        .iter()
        .filter(|f| f.direction == Direction::ClientToServer)
        .map(|f| f.bytes.len())
        .max();
    assert_eq!(biggest, Some(590));
}

#[test]
fn size_distribution_with_auto_pq() {
    let a = args(&[
        "-n",
        "8",
        "--hello-sizes",
        "600,2000,7000,9000",
        "--mss",
        "1000",
    ]);
    let (frames, summary) = build(&a).unwrap();
    check_sessions(&a, &frames, &summary);
    let sizes: Vec<(usize, bool, usize)> = summary
        .per_session
        .iter()
        .map(|s| (s.hello_size, s.pq, s.segments))
        .collect();
    assert_eq!(
        sizes,
        vec![
            (600, false, 1),
            (2000, true, 2),
            (7000, true, 7),
            (9000, true, 9),
            (600, false, 1),
            (2000, true, 2),
            (7000, true, 7),
            (9000, true, 9)
        ]
    );
    // --pq on makes 600 impossible: an error, not a panic.
    let a = args(&["-n", "1", "--hello-size", "600", "--pq", "on"]);
    let e = build(&a).unwrap_err();
    assert!(e.contains("below the minimum"), "{e}");
}

#[test]
fn ipv6_vlan_timestamps_variant() {
    let a = args(&[
        "-n",
        "6",
        "--ipv6",
        "--vlan",
        "100",
        "--timestamps",
        "--hello-size",
        "3000",
        "--no-server-mss",
    ]);
    let (frames, summary) = build(&a).unwrap();
    check_sessions(&a, &frames, &summary);
    for s in &summary.per_session {
        assert!(s.client.is_ipv6());
        assert_eq!(s.segment_size, 1220 - 12);
        assert_eq!(s.segments, 3);
    }
}

#[test]
fn big_hello_spans_records_and_many_segments() {
    let a = args(&[
        "-n",
        "2",
        "--hello-size",
        "40000",
        "--mss",
        "536",
        "--psk-identity-len",
        "200",
        "--ech-len",
        "200",
        "--alpn",
        "h2,http/1.1,h3,spdy/3.1,acme-tls/1",
    ]);
    let (frames, summary) = build(&a).unwrap();
    check_sessions(&a, &frames, &summary);
    for s in &summary.per_session {
        assert_eq!(s.hello_records, 3);
        assert_eq!(s.segments, 40000usize.div_ceil(536));
    }
}

#[test]
fn reorder_retransmit_rst_udp() {
    let a = args(&[
        "-n",
        "30",
        "--hello-size",
        "6000",
        "--mss",
        "536",
        "--reorder-ratio",
        "1",
        "--retransmit-ratio",
        "1",
        "--rst-ratio",
        "1",
        "--udp-ratio",
        "0.2",
    ]);
    let (frames, summary) = build(&a).unwrap();
    check_sessions(&a, &frames, &summary);
    assert!(summary.udp_frames > 0);
    let udp_share = summary.udp_frames as f64 / summary.frames as f64;
    assert!((0.1..0.3).contains(&udp_share), "{udp_share}");
    let closes: HashSet<Close> = summary.per_session.iter().map(|s| s.close).collect();
    assert!(closes.contains(&Close::RstFromClient) && closes.contains(&Close::RstFromServer));
    assert!(!closes.contains(&Close::Fin));
    for s in &summary.per_session {
        assert!(s.reordered && s.retransmitted);
        // Hello segments as sent: one duplicate, and one place where seq goes backwards
        // other than the duplicate.
        let seqs: Vec<u32> = frames
            .iter()
            .filter(|f| f.session == Some(s.index) && f.direction == Direction::ClientToServer)
            .map(|f| parse(&f.bytes))
            .filter(|p| !p.payload.is_empty())
            .map(|p| p.seq)
            .take(s.segments + 1)
            .collect();
        let distinct: HashSet<u32> = seqs.iter().copied().collect();
        assert_eq!(distinct.len(), s.segments);
        let backwards = seqs
            .windows(2)
            .filter(|w| w[1].wrapping_sub(w[0]) > u32::MAX / 2)
            .count();
        assert!(backwards >= 1);
    }
    // Default ratios give none of these.
    let (_, plain) = build(&args(&["-n", "30"])).unwrap();
    assert!(plain
        .per_session
        .iter()
        .all(|s| !s.reordered && !s.retransmitted));
    assert_eq!(plain.udp_frames, 0);
}

#[test]
fn deterministic_and_seed_sensitive() {
    let a = args(&[
        "-n",
        "12",
        "--interleave",
        "4",
        "--udp-ratio",
        "0.1",
        "--hello-sizes",
        "900:1,5000:2",
    ]);
    let (f1, s1) = build(&a).unwrap();
    let (f2, s2) = build(&a).unwrap();
    assert_eq!(f1, f2);
    assert_eq!(s1, s2);
    let b = GenArgs { seed: 2, ..a };
    let (f3, _) = build(&b).unwrap();
    assert_ne!(f1, f3);
}

#[test]
fn interleaving_changes_order_not_sessions() {
    let a = args(&["-n", "10", "--hello-size", "4000", "--mss", "536"]);
    let (seq, _) = build(&a).unwrap();
    let b = GenArgs {
        interleave: 5,
        udp_ratio: 0.1,
        ..a.clone()
    };
    let (mixed, summary) = build(&b).unwrap();
    check_sessions(&b, &mixed, &summary);
    let per = |frames: &[Frame]| {
        let mut m: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
        for f in frames {
            if let Some(s) = f.session {
                m.entry(s).or_default().push(f.bytes.clone());
            }
        }
        m
    };
    assert_eq!(per(&seq), per(&mixed));
    // Sequential run: sessions do not overlap. Interleaved run: they do.
    let switches = |frames: &[Frame]| {
        let ids: Vec<u32> = frames.iter().filter_map(|f| f.session).collect();
        ids.windows(2).filter(|w| w[0] != w[1]).count()
    };
    assert_eq!(switches(&seq), 9);
    assert!(switches(&mixed) > 50);
}

#[test]
fn many_sessions_spread_over_clients_with_distinct_ports() {
    let a = args(&[
        "-n",
        "2000",
        "--clients",
        "7",
        "--servers",
        "3",
        "--hello-size",
        "700",
        "--pq",
        "off",
    ]);
    let (frames, summary) = build(&a).unwrap();
    assert_eq!(frames.len() as u64, summary.frames);
    let ports: HashSet<u16> = summary
        .per_session
        .iter()
        .map(|s| s.client.port())
        .collect();
    assert_eq!(ports.len(), 2000);
    let clients: HashSet<IpAddr> = summary.per_session.iter().map(|s| s.client.ip()).collect();
    let servers: HashSet<IpAddr> = summary.per_session.iter().map(|s| s.server.ip()).collect();
    assert_eq!((clients.len(), servers.len()), (7, 3));
    assert!(summary.per_session.iter().all(|s| s.client.port() >= 1024));
}

#[test]
fn address_plan_stays_in_range_at_the_edges() {
    for host in [1, 255, 256, 65_534] {
        for v6 in [false, true] {
            for client in [false, true] {
                assert!(in_ranges(session::address(v6, client, host)));
            }
        }
    }
    assert_eq!(session::address(false, true, 258).to_string(), "198.18.1.2");
    assert_eq!(
        session::address(true, false, 5).to_string(),
        "2001:2:0:2::5"
    );
    // Too many client addresses for the /16 is an error.
    let a = GenArgs {
        sessions: MAX_SESSIONS,
        clients: 4096,
        ..GenArgs::default()
    };
    assert!(Generator::new(&a).is_err());
}

#[test]
fn invalid_arguments_from_code_are_errors() {
    let base = GenArgs::default();
    let cases = [
        GenArgs {
            sessions: 0,
            ..base.clone()
        },
        GenArgs {
            mss: Some(5),
            ..base.clone()
        },
        GenArgs {
            vlan: Some(5000),
            ..base.clone()
        },
        GenArgs {
            udp_ratio: 1.0,
            ..base.clone()
        },
        GenArgs {
            rst_ratio: f64::NAN,
            ..base.clone()
        },
        GenArgs {
            reorder_ratio: -0.1,
            ..base.clone()
        },
        GenArgs {
            interleave: 0,
            ..base.clone()
        },
        GenArgs {
            clients: 0,
            ..base.clone()
        },
        GenArgs {
            servers: 70_000,
            ..base.clone()
        },
        GenArgs {
            dst_port: 0,
            ..base.clone()
        },
        GenArgs {
            sni_pattern: String::new(),
            ..base.clone()
        },
        GenArgs {
            hello_size: Some(1000),
            hello_sizes: HelloSizes::parse("1000").ok(),
            ..base.clone()
        },
        GenArgs {
            hello_sizes: Some(HelloSizes {
                entries: vec![],
                weighted: false,
            }),
            ..base.clone()
        },
    ];
    for a in cases {
        assert!(Generator::new(&a).is_err(), "{a:?}");
    }
    // Errors that only show when a session is built.
    for a in [
        GenArgs {
            sni_pattern: "bad name {n}".into(),
            ..base.clone()
        },
        GenArgs {
            hello_size: Some(100),
            ..base.clone()
        },
        GenArgs {
            hello_size: Some(usize::MAX),
            ..base.clone()
        },
        GenArgs {
            ticket_len: usize::MAX,
            ..base.clone()
        },
        GenArgs {
            alpn: "x".repeat(300),
            ..base.clone()
        },
    ] {
        assert!(build(&a).is_err(), "{a:?}");
    }
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gen-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn run_writes_the_same_frames_as_build() {
    let dir = scratch_dir("run");
    let path = dir.join("out.pcap");
    let a = GenArgs {
        out: path.clone(),
        ..args(&[
            "-n",
            "5",
            "--interleave",
            "3",
            "--udp-ratio",
            "0.1",
            "--vlan",
            "9",
        ])
    };
    let summary = run(&a).unwrap();
    let (frames, built) = build(&a).unwrap();
    assert_eq!(summary, built);
    let file = pcap::read_file(&path).unwrap();
    assert_eq!(file.linktype, pcap::LINKTYPE_ETHERNET);
    assert_eq!(file.records.len(), frames.len());
    for (r, f) in file.records.iter().zip(&frames) {
        assert_eq!(r.data, f.bytes);
        assert_eq!(r.ts_us(), f.ts_us);
    }
    assert!(summary.to_string().contains("5 sessions"));
    // Unwritable path: an error, and a failing run leaves no file behind.
    let bad = GenArgs {
        out: dir.join("missing/dir/x.pcap"),
        ..a.clone()
    };
    assert!(run(&bad).is_err());
    let failing = GenArgs {
        out: dir.join("fail.pcap"),
        hello_size: Some(10),
        ..a
    };
    assert!(run(&failing).is_err());
    assert!(!dir.join("fail.pcap").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// tshark decodes every ClientHello with the intended SNI and handshake length.
fn tshark_check(flags: &[&str], name: &str) -> Option<usize> {
    if Command::new("tshark").arg("--version").output().is_err() {
        eprintln!("tshark not installed; skipping");
        return None;
    }
    let dir = scratch_dir(name);
    let path = dir.join("t.pcap");
    let mut all = vec!["--out", path.to_str().unwrap()];
    all.extend_from_slice(flags);
    let a = cli(&all).unwrap();
    let summary = run(&a).unwrap();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args([
            "-o",
            "tcp.desegment_tcp_streams:TRUE",
            "-o",
            "tcp.reassemble_out_of_order:TRUE",
            "-o",
            "tls.desegment_ssl_records:TRUE",
            "-o",
            "tls.desegment_ssl_application_data:TRUE",
            "-Y",
            "tls.handshake.type==1",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "tls.handshake.extensions_server_name",
            "-e",
            "tls.handshake.length",
            "-e",
            "tcp.srcport",
        ])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut seen: HashMap<u16, (String, usize)> = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('|').collect();
        assert_eq!(cols.len(), 3, "{line}");
        let port: u16 = cols[2].parse().unwrap();
        let len: usize = cols[1]
            .parse()
            .unwrap_or_else(|_| panic!("length in {line:?}"));
        assert!(
            seen.insert(port, (cols[0].to_string(), len)).is_none(),
            "hello twice: {line}"
        );
    }
    assert_eq!(seen.len(), summary.sessions, "tshark output:\n{text}");
    for s in &summary.per_session {
        let (sni, len) = &seen[&s.client.port()];
        assert_eq!(sni, &s.sni);
        assert_eq!(*len, s.handshake_len);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Some(seen.len())
}

#[test]
fn tshark_decodes_every_client_hello() {
    tshark_check(
        &[
            "-n",
            "12",
            "--no-server-mss",
            "--hello-sizes",
            "600,2000,7000,9000",
            "--interleave",
            "4",
            "--udp-ratio",
            "0.05",
        ],
        "v4",
    );
}

#[test]
fn tshark_decodes_ipv6_vlan_reordered_retransmitted() {
    tshark_check(
        &[
            "-n",
            "8",
            "--ipv6",
            "--vlan",
            "42",
            "--hello-sizes",
            "1500,7000,20000",
            "--mss",
            "536",
            "--reorder-ratio",
            "0.5",
            "--retransmit-ratio",
            "0.5",
            "--timestamps",
            "--rst-ratio",
            "0.5",
            "--interleave",
            "3",
        ],
        "v6",
    );
}

#[test]
fn tshark_decodes_psk_ech_and_big_tickets() {
    tshark_check(
        &[
            "-n",
            "4",
            "--psk-identity-len",
            "180",
            "--ech-len",
            "220",
            "--ticket-len",
            "3000",
            "--alpn",
            "h2,http/1.1,h3",
            "--sni-pattern",
            "svc-{n}.long-name.example.test",
        ],
        "psk",
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // No regression file: a failure prints its minimal input instead of writing into
        // the source tree.
        #![proptest_config(ProptestConfig {
            cases: 24,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Any combination of options builds consistent sessions or returns an error.
        #[test]
        fn random_arguments_are_consistent(
            sessions in 1u32..6,
            size in prop::option::of(300usize..12_000),
            mss in prop::option::of(64u16..2_000),
            no_server_mss: bool,
            timestamps: bool,
            ipv6: bool,
            vlan in prop::option::of(0u16..4095),
            seed: u64,
            reorder in 0.0f64..=1.0,
            retx in 0.0f64..=1.0,
            rst in 0.0f64..=1.0,
            udp in 0.0f64..0.5,
            interleave in 1u32..4,
            ticket in 0usize..3000,
        ) {
            let a = GenArgs {
                sessions, hello_size: size, mss, no_server_mss, timestamps, ipv6, vlan, seed,
                reorder_ratio: reorder, retransmit_ratio: retx, rst_ratio: rst, udp_ratio: udp,
                interleave, ticket_len: ticket, ..GenArgs::default()
            };
            match build(&a) {
                Ok((frames, summary)) => check_sessions(&a, &frames, &summary),
                Err(e) => prop_assert!(e.contains("ClientHello size"), "{}", e),
            }
        }
    }
}
