//! Property tests of issue 7's invariants, on generated inputs (proptest):
//!
//! - MSS fixup keeps checksums valid and never raises an MSS above the clamp, on SYNs and
//!   SYN-ACKs over IPv4 and IPv6, with and without a VLAN tag, with and without options.
//! - The accumulator releases exactly the client's bytes, in order, or resets; it never holds
//!   more packets than its budget.
//! - Capacity slots are conserved: after any sequence of sessions and a shutdown, none is in
//!   use, and no buffer is left.
//!
//! The accumulator properties run the real worker on an in-memory port layer through
//! `testkit::run_scenario`, which also asserts the invariants checked after every
//! poll and at shutdown (see its docs). Case counts are kept moderate: the file runs in well
//! under a minute.

use appliance_core::config::{OnCapacity, OnLimit};
use appliance_core::mss::{self, MssOutcome, MssPolicy};
use appliance_core::packet;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};
use testkit::{self as fuzzing, Knobs, Op, Report, Scenario, SessionSpec};
use trafficgen::frame::{self as gf, Ethernet, Ip, Ipv4, Ipv6, Tcp, TcpOption};

// ---- MSS fixup -----------------------------------------------------------------------------

fn option_strategy() -> impl Strategy<Value = TcpOption> {
    prop_oneof![
        Just(TcpOption::Nop),
        any::<u16>().prop_map(TcpOption::Mss),
        (0u8..15).prop_map(TcpOption::WindowScale),
        Just(TcpOption::SackPermitted),
        (any::<u32>(), any::<u32>()).prop_map(|(val, ecr)| TcpOption::Timestamps { val, ecr }),
        (any::<[(u32, u32); 4]>(), 1u8..=3)
            .prop_map(|(blocks, count)| TcpOption::Sack { blocks, count }),
    ]
}

/// Option lists that fit in a TCP header (≤ 40 bytes once encoded).
fn options_strategy() -> impl Strategy<Value = Vec<TcpOption>> {
    proptest::collection::vec(option_strategy(), 0..8).prop_map(|mut v| {
        while gf::encode_tcp_options(&v).is_err() {
            v.pop();
        }
        v
    })
}

#[derive(Clone, Debug)]
struct SynSpec {
    v6: bool,
    vlan: Option<u16>,
    synack: bool,
    options: Vec<TcpOption>,
    payload: Vec<u8>,
    pad: bool,
}

fn syn_strategy() -> impl Strategy<Value = SynSpec> {
    (
        any::<bool>(),
        prop_oneof![Just(None), (1u16..4095).prop_map(Some)],
        any::<bool>(),
        options_strategy(),
        prop_oneof![6 => Just(Vec::new()), 1 => proptest::collection::vec(any::<u8>(), 1..8)],
        any::<bool>(),
    )
        .prop_map(|(v6, vlan, synack, options, payload, pad)| SynSpec {
            v6,
            vlan,
            synack,
            options,
            payload,
            pad,
        })
}

fn build_syn(s: &SynSpec) -> Vec<u8> {
    let ip = if s.v6 {
        Ip::V6(Ipv6 {
            src: Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1),
            dst: Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1),
            hop_limit: 64,
            flow_label: 0x12345,
        })
    } else {
        Ip::V4(Ipv4 {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 19, 0, 1),
            id: 7,
            ttl: 64,
            dont_fragment: true,
        })
    };
    let flags = if s.synack { gf::SYN | gf::ACK } else { gf::SYN };
    gf::tcp_frame(
        &Ethernet {
            dst: [2, 0, 0, 0, 0, 2],
            src: [2, 0, 0, 0, 0, 1],
            vlan: s.vlan,
            pad: s.pad,
        },
        &ip,
        &Tcp {
            src_port: 40000,
            dst_port: 443,
            seq: 1000,
            ack: if s.synack { 5001 } else { 0 },
            flags,
            window: 64240,
            options: &s.options,
            payload: &s.payload,
        },
    )
    .unwrap()
}

fn policy_strategy() -> impl Strategy<Value = MssPolicy> {
    let v = prop_oneof![
        Just(None),
        (536u16..=9000).prop_map(Some),
        any::<u16>().prop_map(Some)
    ];
    (v.clone(), v.clone(), v).prop_map(|(clamp_v4, clamp_v6, insert_missing)| MssPolicy {
        clamp_v4,
        clamp_v6,
        insert_missing,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn mss_fixup_keeps_checksums_valid_and_never_raises_an_mss_above_the_clamp(
        spec in syn_strategy(),
        policy in policy_strategy(),
        tailroom in prop_oneof![Just(0usize), Just(4), 0usize..64],
    ) {
        let frame = build_syn(&spec);
        let h = packet::parse(&frame).unwrap();
        prop_assert!(packet::verify_tcp_checksum(&frame, &h));
        let mss_before = fuzzing::mss_values(&frame, &h);

        // The shared checker: parse consistency, checksums, clamp, headers after fixup.
        fuzzing::check_frame(&frame, &policy, tailroom, false);

        // And the outcome, explicitly.
        let mut buf = frame.clone();
        buf.resize(frame.len() + tailroom, 0);
        let mut hdr = h;
        let out = mss::fixup(&mut buf, frame.len(), &mut hdr, &policy);
        let new = &buf[..out.frame_len];
        let fresh = packet::parse(new).unwrap();
        prop_assert!(packet::verify_tcp_checksum(new, &fresh), "{:?}", out.outcome);
        prop_assert!(packet::verify_ip_header(new, &fresh));
        let clamp = if spec.v6 { policy.clamp_v6 } else { policy.clamp_v4 };
        let after = fuzzing::mss_values(new, &fresh);
        if let Some(c) = clamp {
            prop_assert!(after.iter().all(|&v| v <= c), "{:?} > {}", after, c);
        }
        // Never raised: each option is the old value or the clamp below it.
        if !mss_before.is_empty() {
            prop_assert_eq!(after.len(), mss_before.len());
            for (a, b) in after.iter().zip(&mss_before) {
                prop_assert!(a <= b);
            }
        }
        let room = tailroom + (frame.len() - usize::from(h.ip_end)) >= 4;
        let options_len = gf::encode_tcp_options(&spec.options).unwrap().len();
        match out.outcome {
            MssOutcome::Inserted { value } => {
                prop_assert!(mss_before.is_empty() && spec.payload.is_empty());
                prop_assert_eq!(after, vec![value]);
            }
            MssOutcome::Absent => prop_assert!(policy.insert_missing.is_none()),
            MssOutcome::NoRoom => prop_assert!(options_len > 36),
            MssOutcome::NoTailroom => prop_assert!(!room),
            MssOutcome::PayloadOnSyn => prop_assert!(!spec.payload.is_empty()),
            MssOutcome::Clamped { .. } | MssOutcome::Unchanged { .. } => {
                prop_assert!(!mss_before.is_empty())
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
        // Inserted whenever it can be.
        if mss_before.is_empty() && policy.insert_missing.is_some() && spec.payload.is_empty()
            && options_len <= 36 && room
        {
            let inserted = matches!(out.outcome, MssOutcome::Inserted { .. });
            prop_assert!(inserted, "{:?}", out.outcome);
        }
    }

    #[test]
    fn parse_and_fixup_never_panic_on_mutated_frames(
        spec in syn_strategy(),
        policy in policy_strategy(),
        changes in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6),
        cut in 0usize..8,
    ) {
        let mut frame = build_syn(&spec);
        for (at, x) in changes {
            let i = usize::from(at) % frame.len();
            frame[i] ^= x;
        }
        frame.truncate(frame.len().saturating_sub(cut));
        fuzzing::check_frame(&frame, &policy, 4, false);
        fuzzing::check_frame(&frame, &policy, 4, true);
    }
}

// ---- the accumulator -----------------------------------------------------------------------

const PSH: u8 = 0x08;

/// A ClientHello of about `size` bytes (the generator's natural size when it cannot pad to it).
fn hello(size: usize, seed: u64) -> Vec<u8> {
    fuzzing::client_hello("prop.test", Some(size), size >= 1600, 0, seed)
        .or_else(|| fuzzing::client_hello("prop.test", None, true, 0, seed))
        .unwrap()
}

fn session(stream: Vec<u8>, isn_client: u32) -> SessionSpec {
    SessionSpec {
        stream,
        isn_client,
        isn_server: 77_000,
        server_port: 443,
        handshake: true,
        server_mss: false,
    }
}

/// The hello cut into `seg`-byte segments, sent in the order `order` gives (a permutation
/// key per segment), with the segments listed in `dups` sent twice.
fn segment_ops(len: usize, seg: usize, order: &[u32], dups: &[usize], batch: bool) -> Vec<Op> {
    let mut parts: Vec<(u32, u32, u32)> = (0..len)
        .step_by(seg)
        .enumerate()
        .map(|(i, o)| {
            (
                order.get(i).copied().unwrap_or(i as u32),
                o as u32,
                seg.min(len - o) as u32,
            )
        })
        .collect();
    parts.sort_by_key(|p| p.0);
    let mut ops = Vec::new();
    for (i, &(_, off, l)) in parts.iter().enumerate() {
        let op = Op::Client {
            session: 0,
            off,
            len: l as u16,
            flags: PSH,
            batch: batch && i % 3 != 2,
        };
        if dups.contains(&i) {
            ops.push(op.clone());
        }
        ops.push(op);
    }
    ops
}

/// Whether the server got exactly `stream`, and the data frames up to the one that completed
/// it came in stream order.
fn delivered_in_order(r: &Report, stream: &[u8]) -> Result<(), String> {
    let got: Vec<Option<u8>> = r.server_bytes[0].clone();
    if let Some(o) = got.iter().position(Option::is_none) {
        return Err(format!(
            "offset {o} of {} never reached the server",
            stream.len()
        ));
    }
    let got: Vec<u8> = got.into_iter().map(Option::unwrap).collect();
    if got != stream {
        return Err("the server got other bytes".into());
    }
    Ok(())
}

fn knobs_strategy() -> impl Strategy<Value = Knobs> {
    (
        1u16..=64,
        prop_oneof![Just(16384u32), 512u32..=65536],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(packetlimit, max_bytes, release, v6, vlan, ts)| Knobs {
            packetlimit,
            max_bytes,
            on_limit: if release {
                OnLimit::Release
            } else {
                OnLimit::Reset
            },
            pool_packets: 256,
            v6,
            vlan,
            timestamps: ts,
            ..Knobs::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    /// One session: a ClientHello in segments, reordered, some duplicated, some in one burst.
    #[test]
    fn accumulator_releases_exactly_the_clients_bytes_in_order_or_resets(
        knobs in knobs_strategy(),
        size in 300usize..9000,
        seg in prop_oneof![Just(536usize), Just(1460), 1usize..1460],
        order in proptest::collection::vec(any::<u32>(), 0..40),
        dups in proptest::collection::vec(0usize..40, 0..4),
        isn in prop_oneof![any::<u32>(), (0u32..4096).prop_map(|d| u32::MAX - d)],
        batch in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let h = hello(size, seed);
        let ops = segment_ops(h.len(), seg, &order, &dups, batch);
        let distinct = h.len().div_ceil(seg);
        let limit = usize::from(knobs.packetlimit);
        // The deframer's byte budget is on the ClientHello body (its handshake length field).
        let hello_len = u32::from_be_bytes([0, h[6], h[7], h[8]]);
        let fits = distinct <= limit && hello_len <= knobs.max_bytes;
        let on_limit = knobs.on_limit;
        let sc = Scenario { knobs, sessions: vec![session(h.clone(), isn)], ops };
        let r = fuzzing::run_scenario(&sc);

        // Never more held than the budget.
        prop_assert!(r.max_held <= limit as u64, "held {} > packetlimit {}", r.max_held, limit);
        if fits {
            // Within budget: inspected, released whole and in order, nothing reset.
            prop_assert_eq!(r.completed, 1);
            prop_assert!(!r.reset[0]);
            if let Err(e) = delivered_in_order(&r, &h) {
                prop_assert!(false, "{}", e);
            }
            // Released in stream order: the data frames up to the one that completed the
            // stream have increasing offsets (retransmissions after it may pass unordered).
            let offs = &r.server_offsets[0];
            let mut covered = vec![false; h.len()];
            let mut last = 0u32;
            for &o in offs {
                prop_assert!(o >= last, "released out of order: {:?}", offs);
                last = o;
                let l = seg.min(h.len() - o as usize);
                for c in &mut covered[o as usize..o as usize + l] { *c = true; }
                if covered.iter().all(|&c| c) { break; }
            }
        } else {
            // Over budget: reset, or released uninspected with every byte delivered.
            match on_limit {
                OnLimit::Reset => prop_assert!(r.reset[0], "over budget but not reset"),
                OnLimit::Release => {
                    prop_assert!(!r.reset[0]);
                    if let Err(e) = delivered_in_order(&r, &h) {
                        prop_assert!(false, "{}", e);
                    }
                }
            }
        }
    }

    /// Several sessions competing for a small pool, with server ACKs, time passing and a
    /// shutdown in the middle of things: slots and buffers all come back.
    #[test]
    fn capacity_slots_are_conserved(
        packetlimit in 1u16..=64,
        pool in prop_oneof![Just(64u32), Just(128), 64u32..512],
        on_limit_release in any::<bool>(),
        on_capacity_reset in any::<bool>(),
        sizes in proptest::collection::vec(300usize..6000, 1..6),
        steps in proptest::collection::vec((0u8..6, 0u8..8, any::<u16>()), 0..80),
    ) {
        let knobs = Knobs {
            packetlimit,
            pool_packets: pool.max(u32::from(packetlimit)),
            on_limit: if on_limit_release { OnLimit::Release } else { OnLimit::Reset },
            on_capacity: if on_capacity_reset { OnCapacity::Reset } else { OnCapacity::Bypass },
            hold_timeout_ms: 2_000,
            ..Knobs::default()
        };
        let sessions: Vec<SessionSpec> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| session(hello(n, i as u64), 1000 * i as u32))
            .collect();
        let mut next = vec![0u32; sessions.len()];
        let mut ops = Vec::new();
        for (s, kind, x) in steps {
            let i = usize::from(s) % sessions.len();
            match kind {
                0..=4 => {
                    let len = [536u32, 1460, 100][usize::from(x % 3)];
                    ops.push(Op::Client { session: i as u8, off: next[i], len: len as u16, flags: PSH, batch: x & 8 != 0 });
                    next[i] += len;
                }
                5 => ops.push(Op::Server { session: i as u8, ack_off: next[i], len: 0, flags: 0, batch: false }),
                6 => ops.push(Op::Advance { ms: u32::from(x % 3000) }),
                _ => ops.push(Op::Reconfigure {
                    packetlimit: 1 + x % 64,
                    max_bytes: 16384,
                    on_limit: if x & 0x100 != 0 { OnLimit::Release } else { OnLimit::Reset },
                }),
            }
        }
        let sc = Scenario { knobs, sessions, ops };
        // run_scenario asserts slots/sessions/buffers after every poll and 0 at shutdown.
        let r = fuzzing::run_scenario(&sc);
        prop_assert!(r.started >= r.completed);
    }

    /// Arbitrary bytes decoded as a scenario (what the `accumulator` fuzz target does).
    #[test]
    fn decoded_scenarios_keep_every_invariant(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzzing::accumulator(&bytes);
    }
}

// ---- TLS framing and the control parser ----------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hello_verdict_does_not_depend_on_segmentation(
        size in 300usize..20000,
        chunk in 1usize..2000,
        max in 512u32..=65536,
        flip in proptest::option::of((any::<usize>(), 1u8..=255)),
    ) {
        let mut h = hello(size, 3);
        if let Some((at, x)) = flip {
            let i = at % h.len();
            h[i] ^= x;
        }
        fuzzing::check_stream(&h, chunk, max);
    }

    #[test]
    fn control_requests_round_trip(
        line in prop_oneof![
            "[ -~]{0,80}",
            "(show|set|advise|what-if|debug) [a-z-]{0,20}( [-a-z0-9=.]{0,20}){0,4}",
            "set (packetlimit|max-bytes|mss clamp|mss insert-missing) [0-9]{1,6}",
            "show sessions( --sni[ =][a-zA-Z0-9.=-]{0,30})?( --limit[ =][0-9]{1,5})?",
            "advise packetlimit( --target-percentile[ =][0-9.]{1,12})?",
        ],
    ) {
        fuzzing::check_request_line(&line);
    }
}
