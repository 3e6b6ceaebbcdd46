//! Worker tests on the in-memory fake: the datapath without DPDK.

use super::*;
use crate::config::Config;
use crate::mss::MssOutcome;
use crate::packet::{self, ParseError};
use crate::testing::VecIo;
use std::net::{Ipv4Addr, Ipv6Addr};
use trafficgen::frame::{self as gf, Ethernet, Ip, Ipv4, Ipv6, Tcp, TcpOption};

pub(crate) const C: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub(crate) const S: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// A TCP frame of the test session 198.18.0.1:40000 <-> 198.18.0.2:443 (or IPv6).
pub(crate) fn seg(
    from_client: bool,
    v6: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    opts: &[TcpOption],
    payload: &[u8],
) -> Vec<u8> {
    let (src_mac, dst_mac) = if from_client { (C, S) } else { (S, C) };
    let eth = Ethernet {
        dst: dst_mac,
        src: src_mac,
        vlan: None,
        pad: true,
    };
    let (c4, s4) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
    let (c6, s6): (Ipv6Addr, Ipv6Addr) =
        ("2001:2::1".parse().unwrap(), "2001:2::2".parse().unwrap());
    let ip = match (v6, from_client) {
        (false, true) => Ip::V4(Ipv4 {
            src: c4,
            dst: s4,
            id: 1,
            ttl: 64,
            dont_fragment: true,
        }),
        (false, false) => Ip::V4(Ipv4 {
            src: s4,
            dst: c4,
            id: 1,
            ttl: 64,
            dont_fragment: true,
        }),
        (true, true) => Ip::V6(Ipv6 {
            src: c6,
            dst: s6,
            hop_limit: 64,
            flow_label: 0,
        }),
        (true, false) => Ip::V6(Ipv6 {
            src: s6,
            dst: c6,
            hop_limit: 64,
            flow_label: 0,
        }),
    };
    let (sp, dp) = if from_client {
        (40000, 443)
    } else {
        (443, 40000)
    };
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
            options: opts,
            payload,
        },
    )
    .unwrap()
}

pub(crate) fn worker_with(
    cfg_text: &str,
    io: VecIo,
) -> (
    Worker<VecIo>,
    Arc<WorkerCounters>,
    Arc<ArrayQueue<SessionRecord>>,
) {
    let cfg = Config::parse(cfg_text).unwrap();
    let shared = Shared::new(Live::from_config(&cfg, [1500, 1500]));
    let counters = Arc::new(WorkerCounters::default());
    let log = Arc::new(ArrayQueue::new(1024));
    let w = Worker::new(
        WorkerConfig {
            id: 3,
            flow_capacity: cfg.flow.capacity,
            timeouts: cfg.flow.timeouts,
            on_table_full: cfg.flow.on_table_full,
            malformed: cfg.flow.malformed,
            wall_epoch_ms: 1_700_000_000_000,
            capacity: crate::accumulate::Capacity::new(cfg.accumulation.pool_packets),
            mailbox: Default::default(),
            hash_key: crate::flow::HashKey::from_seed(3),
        },
        io,
        counters.clone(),
        shared,
        Some((log.clone(), true)),
    );
    (w, counters, log)
}

fn run(w: &mut Worker<VecIo>, frames: &[(bool, Vec<u8>)], now_ms: u64) {
    for (from_client, f) in frames {
        let side = if *from_client { 0 } else { 1 };
        w.io.rx[side].push_back(f.clone());
        w.poll(now_ms);
    }
}

fn records(q: &ArrayQueue<SessionRecord>) -> Vec<SessionRecord> {
    std::iter::from_fn(|| q.pop()).collect()
}

const SYN: u8 = gf::SYN;
const SA: u8 = gf::SYN | gf::ACK;
const A: u8 = gf::ACK;
const FA: u8 = gf::FIN | gf::ACK;

fn session(v6: bool, server_mss: bool) -> Vec<(bool, Vec<u8>)> {
    let syn_opts = [
        TcpOption::Mss(1460),
        TcpOption::SackPermitted,
        TcpOption::WindowScale(7),
    ];
    let sa_opts: &[TcpOption] = if server_mss {
        &[TcpOption::Mss(1460), TcpOption::WindowScale(7)]
    } else {
        &[TcpOption::WindowScale(7)]
    };
    vec![
        (true, seg(true, v6, SYN, 1000, 0, &syn_opts, b"")),
        (false, seg(false, v6, SA, 5000, 1001, sa_opts, b"")),
        (true, seg(true, v6, A, 1001, 5001, &[], b"")),
        (true, seg(true, v6, A, 1001, 5001, &[], b"hello")),
        (false, seg(false, v6, A, 5001, 1006, &[], b"world!")),
        (true, seg(true, v6, FA, 1006, 5007, &[], b"")),
        (false, seg(false, v6, FA, 5007, 1007, &[], b"")),
        (true, seg(true, v6, A, 1007, 5008, &[], b"")),
    ]
}

#[test]
fn forwards_everything_unchanged_without_fixup() {
    let (mut w, c, _) = worker_with("", VecIo::default());
    let frames = session(false, false);
    run(&mut w, &frames, 0);
    let to_server: Vec<_> = frames.iter().filter(|f| f.0).map(|f| f.1.clone()).collect();
    let to_client: Vec<_> = frames
        .iter()
        .filter(|f| !f.0)
        .map(|f| f.1.clone())
        .collect();
    assert_eq!(w.io.sent[1], to_server);
    assert_eq!(w.io.sent[0], to_client);
    assert_eq!(c.base.tcp.get(), 8);
    assert_eq!(c.base.flows_created.get(), 1);
    assert_eq!(w.io.live(), 0, "every frame freed");
}

#[test]
fn fin_close_gives_one_tcp_fin_record_after_time_wait() {
    let (mut w, c, log) = worker_with("[flow.timeouts]\ntime_wait = 2\n", VecIo::default());
    run(&mut w, &session(false, true), 1000);
    assert_eq!(w.flows().len(), 1, "kept in time-wait");
    w.poll(2900);
    assert!(records(&log).is_empty());
    w.poll(3000);
    let r = records(&log);
    assert_eq!(r.len(), 1);
    let j = r[0].to_json();
    assert_eq!(j["end_reason"], "tcp-fin");
    assert_eq!(j["client"], "198.18.0.1");
    assert_eq!(j["server_port"], 443);
    assert_eq!(j["packets_c2s"], 5);
    assert_eq!(j["packets_s2c"], 3);
    assert_eq!(j["mss_client"], 1460);
    assert_eq!(j["mss_server"], 1460);
    assert_eq!(j["handshake_seen"], true);
    assert_eq!(j["session_id"].as_u64().unwrap() >> 48, 3);
    assert_eq!(c.ended[EndReason::TcpFin.index()].get(), 1);
    assert!(w.flows().is_empty());
}

#[test]
fn rst_is_attributed_and_idle_sessions_age_out() {
    let (mut w, _c, log) = worker_with(
        "[flow.timeouts]\ntime_wait = 1\nestablished = 5\n",
        VecIo::default(),
    );
    let mut f = session(false, true);
    f.truncate(5);
    f.push((false, seg(false, false, gf::RST, 5007, 0, &[], b"")));
    run(&mut w, &f, 0);
    w.poll(1000);
    let r = records(&log);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].to_json()["end_reason"], "tcp-rst-from-server");

    // An idle established session ages out after `established` seconds of silence.
    let mut f = session(true, true);
    f.truncate(4);
    run(&mut w, &f, 10_000);
    w.poll(14_900);
    assert!(records(&log).is_empty());
    w.poll(15_000);
    let r = records(&log);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].to_json()["end_reason"], "aged-out");
    assert_eq!(r[0].to_json()["client"], "2001:2::1");
}

#[test]
fn inserts_missing_mss_on_syn_ack_with_valid_checksums() {
    for v6 in [false, true] {
        let (mut w, c, log) = worker_with(
            "[mss]\ninsert_missing = 1460\n[flow.timeouts]\ntime_wait = 1\n",
            VecIo::default(),
        );
        run(&mut w, &session(v6, false), 0);
        let synack = &w.io.sent[0][0];
        let h = packet::parse(synack).unwrap();
        let t = h.tcp().unwrap();
        assert_eq!(t.mss.map(|m| m.value), Some(1460), "v6={v6}");
        assert!(
            packet::verify_tcp_checksum(synack, &h),
            "TCP checksum v6={v6}"
        );
        assert!(packet::verify_ip_header(synack, &h), "IP header v6={v6}");
        // Independent check: the kernel-style full sum over the segment must be 0xffff.
        assert_eq!(independent_tcp_sum(synack, &h), 0xffff, "v6={v6}");
        assert_eq!(c.mss[1][MssOutcome::Inserted { value: 0 }.index()].get(), 1);
        assert_eq!(
            c.mss[0][MssOutcome::Unchanged { value: 0 }.index()].get(),
            1
        );
        w.poll(2000);
        let j = records(&log)[0].to_json();
        assert_eq!(j["mss_server"], 1460);
        assert_eq!(j["mss_inserted"], serde_json::json!(["server"]));
        assert_eq!(w.io.live(), 0);
    }
}

/// One's-complement sum of pseudo-header + TCP segment, written here from the RFCs rather than
/// with the checksum module.
fn independent_tcp_sum(f: &[u8], h: &packet::Headers) -> u16 {
    let seg = &f[h.l4_offset as usize..h.ip_end as usize];
    let mut words: Vec<u32> = Vec::new();
    if h.l3 == packet::L3::Ipv4 {
        let ip = &f[h.l3_offset as usize..];
        words.extend(
            ip[12..20]
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32),
        );
        words.push(6);
    } else {
        let ip = &f[h.l3_offset as usize..];
        words.extend(
            ip[8..40]
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32),
        );
        words.push(6);
    }
    words.push(seg.len() as u32);
    for c in seg.chunks(2) {
        words.push(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32);
    }
    let mut s: u32 = words.iter().sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

#[test]
fn clamps_to_auto_mtu() {
    let (mut w, _c, _) = worker_with("[mss]\nclamp = \"auto\"\n", VecIo::default());
    let f = vec![(
        true,
        seg(true, true, SYN, 1, 0, &[TcpOption::Mss(8960)], b""),
    )];
    run(&mut w, &f, 0);
    let out = &w.io.sent[1][0];
    let h = packet::parse(out).unwrap();
    assert_eq!(h.tcp().unwrap().mss.unwrap().value, 1440);
    assert_eq!(independent_tcp_sum(out, &h), 0xffff);
}

#[test]
fn malformed_frames_are_dropped_or_passed_by_rule_and_counted() {
    let mut bad = seg(true, false, A, 1, 1, &[], b"x");
    bad[14] = 0x43; // IHL 3
    for (cfg, passed) in [("", 0usize), ("[flow]\nmalformed = \"pass\"\n", 1)] {
        let (mut w, c, _) = worker_with(cfg, VecIo::default());
        run(&mut w, &[(true, bad.clone())], 0);
        assert_eq!(w.io.sent[1].len(), passed);
        assert_eq!(c.malformed[ParseError::Ipv4BadIhl.index()].get(), 1);
        assert_eq!(w.io.live(), 0);
    }
}

#[test]
fn full_table_passes_or_drops() {
    for (policy, forwarded) in [("pass", 3usize), ("drop", 0)] {
        let (mut w, c, _) = worker_with(
            &format!("[flow]\ncapacity = 1024\non_table_full = \"{policy}\"\n"),
            VecIo::default(),
        );
        // Fill the table with 1024 UDP flows, then one TCP SYN and a UDP packet more.
        for i in 0..1024u16 {
            let eth = Ethernet {
                dst: S,
                src: C,
                vlan: None,
                pad: true,
            };
            let ip = Ip::V4(Ipv4 {
                src: Ipv4Addr::new(198, 18, 1, 1),
                dst: Ipv4Addr::new(198, 18, 0, 2),
                id: 0,
                ttl: 64,
                dont_fragment: false,
            });
            let u = gf::udp_frame(
                &eth,
                &ip,
                &gf::Udp {
                    src_port: 1000 + i,
                    dst_port: 53,
                    payload: b"q",
                },
            )
            .unwrap();
            w.io.rx[0].push_back(u);
        }
        while w.poll(0) > 0 {}
        let before = w.io.sent[1].len();
        assert_eq!(before, 1024);
        run(&mut w, &session(false, true)[..3], 0);
        assert_eq!(
            w.io.sent[1].len() - before + w.io.sent[0].len(),
            forwarded,
            "{policy}"
        );
        let full = c.base.flow_table_full_passed.get() + c.base.flow_table_full_dropped.get();
        assert_eq!(full, 3, "{policy}");
        assert_eq!(w.io.live(), 0);
    }
}

#[test]
fn shutdown_ends_open_sessions_once() {
    let (mut w, c, log) = worker_with("", VecIo::default());
    run(&mut w, &session(false, true)[..4], 0);
    let mut done = session(false, true);
    for f in done.iter_mut() {
        // A second, completed session on another port.
        let h = packet::parse(&f.1).unwrap();
        let t = h.tcp().unwrap();
        let (sp, dp) = (t.src_port, t.dst_port);
        let l4 = h.l4_offset as usize;
        let (nsp, ndp) = if sp == 40000 {
            (40001, dp)
        } else {
            (sp, 40001)
        };
        f.1[l4..l4 + 2].copy_from_slice(&nsp.to_be_bytes());
        f.1[l4 + 2..l4 + 4].copy_from_slice(&ndp.to_be_bytes());
        let cs = packet::tcp_checksum(&f.1, &packet::parse(&f.1).unwrap()).unwrap();
        let off = l4 + 16;
        f.1[off..off + 2].copy_from_slice(&cs.to_be_bytes());
    }
    run(&mut w, &done, 0);
    w.shutdown(100);
    let r = records(&log);
    let reasons: Vec<_> = r
        .iter()
        .map(|r| r.to_json()["end_reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(r.len(), 2, "{reasons:?}");
    assert!(reasons.contains(&"shutdown".to_string()));
    assert!(reasons.contains(&"tcp-fin".to_string()));
    assert_eq!(c.ended[EndReason::Shutdown.index()].get(), 1);
    assert!(w.flows().is_empty());
}

/// A frame chained over several buffers is forwarded as it came and counted: its first
/// buffer is not the whole frame, so it is neither parsed into a flow nor edited (no MSS fixup).
#[test]
fn chained_frames_pass_uninspected() {
    // Not to an accumulated port: forwarded as it came.
    let (mut w, c, _) = worker_with(
        "[mss]\nclamp = 1200\n[accumulation]\nports = [8443]\n",
        VecIo::default(),
    );
    w.io.rx_chained = true;
    let syn = session(false, true)[0].1.clone();
    run(&mut w, &[(true, syn.clone())], 0);
    assert_eq!(w.io.sent[1], vec![syn], "forwarded unchanged");
    assert_eq!(c.base.multi_segment_passed.get(), 1);
    assert_eq!(c.base.flows_created.get(), 0);
    assert_eq!(w.io.live(), 0);
}

/// A chained frame from the client to an accumulated port, before the hello is judged, is
/// dropped: only its first buffer could be inspected (issue 20). From the server it passes.
#[test]
fn chained_client_frames_to_an_accumulated_port_are_dropped() {
    let (mut w, c, _) = worker_with("", VecIo::default());
    let s = session(false, true);
    run(&mut w, &s[..3], 0); // the handshake, contiguous
    w.io.sent = Default::default();
    w.io.rx_chained = true;
    let data = seg(true, false, A | gf::PSH, 1001, 5001, &[], &[0x16; 100]);
    let server = seg(false, false, A, 5001, 1001, &[], b"");
    run(&mut w, &[(true, data), (false, server.clone())], 0);
    assert!(w.io.sent[1].is_empty(), "nothing reached the server");
    assert_eq!(w.io.sent[0], vec![server]);
    assert_eq!(c.base.multi_segment_dropped.get(), 1);
    assert_eq!(c.base.multi_segment_passed.get(), 1);
    assert_eq!(w.io.live(), 0);
}

/// Frames that depend on each other in one burst (a SYN creating the flow its data segments
/// need, a RST then a new SYN on the same 4-tuple, more frames than the pipeline's distance)
/// come out and are counted exactly as when each frame is polled alone.
#[test]
fn a_burst_of_dependent_frames_matches_frame_by_frame() {
    const S: u8 = 0x02;
    const R: u8 = 0x04;
    let syn = [TcpOption::Mss(1460)];
    let mut frames = Vec::new();
    for v6 in [false, true] {
        frames.push(seg(true, v6, S, 100, 0, &syn, b""));
    }
    for i in 0..14u32 {
        for v6 in [false, true] {
            frames.push(seg(true, v6, A, 101 + i * 10, 1, &[], &[i as u8; 10]));
        }
    }
    frames.push(seg(true, true, R | A, 241, 1, &[], b""));
    frames.push(seg(true, true, S, 9000, 0, &syn, b""));
    frames.push(seg(true, true, A, 9001, 1, &[], b"again"));
    assert!(frames.len() > BURST);

    let cfg = "[mss]\nclamp = 1200\n";
    let (mut one, c_one, _) = worker_with(cfg, VecIo::default());
    run(
        &mut one,
        &frames.iter().map(|f| (true, f.clone())).collect::<Vec<_>>(),
        0,
    );
    let (mut burst, c_burst, _) = worker_with(cfg, VecIo::default());
    burst.io.rx[0].extend(frames.iter().cloned());
    while burst.poll(0) > 0 {}

    assert_eq!(burst.io.sent[1], one.io.sent[1]);
    assert_eq!(one.io.sent[1].len(), frames.len());
    let counts = |c: &WorkerCounters| {
        let mut v = c.snapshot();
        v.retain(|(n, _)| n != "polls" && n != "busy_polls");
        v
    };
    assert_eq!(counts(&c_burst), counts(&c_one));
    // Every burst size: the pipeline's distances follow the burst (a third of it), so each
    // size runs a different schedule of the same stages.
    for k in 2..=BURST {
        let (mut w, c, _) = worker_with(cfg, VecIo::default());
        for chunk in frames.chunks(k) {
            w.io.rx[0].extend(chunk.iter().cloned());
            assert_eq!(w.poll(0), chunk.len());
        }
        assert_eq!(w.io.sent[1], one.io.sent[1], "bursts of {k}");
        assert_eq!(counts(&c), counts(&c_one), "bursts of {k}");
    }
    assert_eq!(c_one.base.flows_created.get(), 3);
    assert_eq!(c_one.base.port_reuse.get(), 1);
    assert_eq!(
        c_one.mss[0][MssOutcome::Clamped { from: 0, to: 0 }.index()].get(),
        3
    );
}

/// The established-flow path (`process_lite`) does exactly what the general path does: the
/// same traffic through a worker with it and one without gives the same frames out, the same
/// counters, the same session records, and the same state in every flow at every step. The
/// traffic has every shape the generator makes (IPv4 and IPv6, a VLAN tag, timestamps, SYN-ACKs
/// with and without MSS, resets, background UDP, reordering, retransmissions, whole TLS
/// sessions held and released by the accumulator), flows picked up mid-stream, and copies whose
/// flags and sequence numbers were changed at random, so that sessions pass through every state
/// with data segments in between.
#[test]
fn the_established_flow_path_matches_the_general_path() {
    use trafficgen::{build, paired, Direction, GenArgs};
    let mut traffic: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut mid_frames = 0;
    for (i, (ipv6, vlan, timestamps, no_server_mss)) in [
        (false, None, false, false),
        (false, None, true, true),
        (true, None, true, false),
        (false, Some(7), true, false),
        (true, Some(4094), false, true),
    ]
    .into_iter()
    .enumerate()
    {
        let args = GenArgs {
            sessions: 16,
            seed: i as u64 + 1,
            ipv6,
            vlan,
            timestamps,
            no_server_mss,
            rst_ratio: 0.25,
            udp_ratio: 0.1,
            reorder_ratio: 0.1,
            retransmit_ratio: 0.1,
            // Over the packet limit below at 536-byte segments, within it at 1460.
            hello_size: Some(3000),
            ..GenArgs::default()
        };
        let (frames, _) = build(&args).unwrap();
        traffic.extend(
            frames
                .into_iter()
                .map(|f| (f.direction == Direction::ClientToServer, f.bytes)),
        );
        let mid = GenArgs {
            sessions: 6,
            seed: 100 + i as u64,
            ..args
        };
        for [c, s] in paired::established_frames(&mid).unwrap() {
            for _ in 0..4 {
                traffic.extend([(true, c.clone()), (false, s.clone())]);
            }
            mid_frames += 8;
        }
    }
    // Copies with the TCP flags byte or the sequence number of some segments changed.
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut mutated = traffic.clone();
    for (_, f) in mutated.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let Some(Some((lite, _, _))) = (x % 3 == 0).then(|| packet::fast::parse_lite(f)) else {
            continue;
        };
        let at = lite.l4_offset();
        if x & 8 == 0 {
            // Any combination of FIN, SYN, RST, PSH, ACK, URG.
            f[at + 13] = (x >> 8) as u8 & 0x3f;
        } else {
            let seq = lite
                .seq
                .wrapping_add((x >> 16) as u32 % 4000)
                .wrapping_sub(2000);
            f[at + 4..at + 8].copy_from_slice(&seq.to_be_bytes());
        }
    }
    traffic.extend(mutated);

    let cfg = "[mss]\nclamp = 1300\n[accumulation]\npacketlimit = 4\n";
    let dump = |w: &Worker<VecIo>| {
        let mut v: Vec<String> = w
            .flows()
            .indices()
            .into_iter()
            .map(|i| format!("{i}: {:?}", w.flows().get(i)))
            .collect();
        v.sort();
        v
    };
    let (mut fast, c_fast, log_fast) = worker_with(cfg, VecIo::default());
    let (mut general, c_general, log_general) = worker_with(cfg, VecIo::default());
    general.lite = false;
    let mut now = 1_000;
    let mut rest = &traffic[..];
    let mut k = 1;
    while !rest.is_empty() {
        // Bursts of every size, both sides, time moving on (timers, hold expiry, aging).
        let (burst, tail) = rest.split_at(k.min(rest.len()));
        rest = tail;
        k = k % BURST + 1;
        for w in [&mut fast, &mut general] {
            for (from_client, f) in burst {
                w.io.rx[usize::from(!from_client)].push_back(f.clone());
            }
            while w.poll(now) > 0 {}
        }
        let (a, b) = (dump(&fast), dump(&general));
        if let Some((x, y)) = a.iter().zip(&b).find(|(x, y)| x != y) {
            panic!("at {now} ms, with the established-flow path:\n{x}\nwithout:\n{y}");
        }
        assert_eq!(a.len(), b.len(), "flows at {now} ms");
        now += 37;
    }
    for w in [&mut fast, &mut general] {
        w.poll(now + 200_000);
        w.shutdown(now + 200_000);
    }
    assert_eq!(fast.io.sent, general.io.sent);
    assert_eq!(c_fast.snapshot(), c_general.snapshot());
    let (r_fast, r_general) = (records(&log_fast), records(&log_general));
    assert_eq!(format!("{r_fast:?}"), format!("{r_general:?}"));
    assert_eq!(fast.io.live(), 0);
    // The traffic exercised both paths and both outcomes of the established-flow path.
    assert_eq!(general.lite_taken, 0);
    // At least every frame of the flows picked up mid-stream but the first of each, which
    // creates the flow (the mutated copies take it less often).
    assert!(
        fast.lite_taken >= mid_frames / 8 * 7,
        "{} of {}",
        fast.lite_taken,
        traffic.len()
    );
    assert!(c_fast.acc.completed.get() > 0 && c_fast.acc.limit_packets.get() > 0);
    assert!(c_fast.base.port_reuse.get() + c_fast.base.rst_out_of_window.get() > 0);
}
