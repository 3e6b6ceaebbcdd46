//! Hostile traffic and exhaustion through the running appliance on `net_pcap` devices: it must
//! not crash, must keep forwarding valid flows unchanged, must count every drop by reason, and
//! every counter and pool must return to idle once the sessions end.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;
use trafficgen::{self as gen, pcap, Direction, GenArgs};

/// The appliance reading one interleaved capture on its client-side port.
fn start_on_pcap(dir: &Path, input: &Path, extra: &str) -> (Appliance, PathBuf) {
    let prefix = file_prefix();
    let mut eal = eal_base(&prefix, "0");
    let empty = dir.join("empty.pcap");
    pcap::write_file(&empty, std::iter::empty()).unwrap();
    eal.push(format!(
        "--vdev=net_pcap0,rx_pcap={},tx_pcap={}",
        input.display(),
        dir.join("out_client.pcap").display()
    ));
    eal.push(format!(
        "--vdev=net_pcap1,rx_pcap={},tx_pcap={}",
        empty.display(),
        dir.join("out_server.pcap").display()
    ));
    let sock = dir.join("ctl.sock");
    let cfg = format!(
        "[eal]\nargs = {eal:?}\n[workers]\ncores = [1]\n[control]\nsocket = \"{}\"\nstats_interval_secs = 1\n[log]\ntraffic = \"{}\"\n{extra}\n",
        sock.display(),
        dir.join("traffic.jsonl").display()
    );
    (Appliance::start(dir, &cfg), sock)
}

fn frames(p: &Path) -> Vec<Vec<u8>> {
    pcap::read_file(p)
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.data)
        .collect()
}

/// Wait until `f` holds (polling the control socket), up to `secs`.
fn eventually(secs: u64, f: impl Fn() -> bool) -> bool {
    for _ in 0..secs * 10 {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn hostile_traffic_is_counted_and_valid_flows_pass_unchanged() {
    let dir = scratch("hostile");
    let input = dir.join("hostile.pcap");
    let exp = generate_pcap("hostile.py", &input);
    let n = exp["frames"].as_u64().unwrap();
    let (app, sock) = start_on_pcap(
        &dir,
        &input,
        "[flow.timeouts]\nhandshake = 1\ntime_wait = 1\nestablished = 2\nhalf_closed = 2\nnon_tcp = 1\n[accumulation]\nhold_timeout_secs = 1\nretransmit_timeout_ms = 100\nretransmit_tries = 2\n",
    );
    assert!(
        eventually(30, || counter(&sock, "rx_from_client") >= n),
        "not all frames read"
    );
    // Everything ends and ages out: back to idle while still running.
    assert!(
        eventually(15, || counter(&sock, "flows_active") == 0),
        "flow table not empty after aging: {}",
        ctl(&sock, "show sessions").1
    );
    let (_, acc) = ctl(&sock, "show accumulation");
    assert_eq!(acc["slots_in_use"], 0, "{acc}");
    assert_eq!(acc["active_sessions"], 0, "{acc}");
    let (_, c) = ctl(&sock, "show counters");
    let st = app.stop();
    assert!(st.success, "exit status; stderr:\n{}", st.stderr.join("\n"));
    assert_eq!(st.mbufs_not_returned(), 0, "mbuf leak");
    let t = &c["total"];
    let g = |k: &str| t[k].as_u64().unwrap_or_else(|| panic!("no counter {k}"));

    assert_eq!(g("malformed_dropped"), exp["malformed"].as_u64().unwrap());
    assert!(g("malformed_ipv4_truncated") > 0 && g("malformed_tcp_bad_option") == 3);
    assert_eq!(g("acc_parse_errors"), 1, "record length 0");
    assert_eq!(
        g("acc_limit_bytes"),
        2,
        "handshake length 2^24-1 and beyond max_bytes"
    );
    assert_eq!(g("acc_non_tls"), 2, "HTTP and SSLv2 on 443");
    assert_eq!(g("acc_overlap_mismatch"), 1);
    // That session was acknowledged on the server's behalf and released; the capture has no
    // server ACK for it: retransmitted, then reset both ways (it never just vanished).
    assert_eq!(g("acc_release_timeouts"), 1);
    assert_eq!(g("rst_out_of_window"), 1);
    assert_eq!(
        g("mss_absent_from_client"),
        150,
        "half the SYN flood has no MSS"
    );
    assert!(g("ended_aged_out") >= 300, "the SYN flood aged out");

    // Valid frames left the server-side port unchanged and in order.
    let input_frames = frames(&input);
    let out_s = frames(&dir.join("out_server.pcap"));
    let mut it = out_s.iter();
    for i in exp["valid"].as_array().unwrap() {
        let want = &input_frames[i.as_u64().unwrap() as usize];
        assert!(
            it.any(|f| f == want),
            "valid frame {i} missing or reordered"
        );
    }
    // The spoofed RST did not end its session: it closed with FIN.
    let log = traffic_log(&dir.join("traffic.jsonl"));
    let r = log.iter().find(|r| r["client_port"] == 35000).unwrap();
    assert_eq!(r["end_reason"], "tcp-fin", "{r}");
    assert_eq!(log.iter().filter(|r| r["client_port"] == 35000).count(), 1);
}

/// Sessions cut after their first ClientHello segment (the second never comes).
fn cut_sessions(sessions: u32, seed: u64) -> Vec<gen::Frame> {
    let args = GenArgs {
        out: "unused".into(),
        sessions,
        hello_size: Some(2000),
        mss: Some(1460),
        interleave: sessions,
        seed,
        ..GenArgs::default()
    };
    let (all, _) = gen::build(&args).unwrap();
    let mut done = std::collections::HashSet::new();
    all.into_iter()
        .filter(|f| {
            let Some(s) = f.session else { return false };
            if done.contains(&s) {
                return false;
            }
            let h = appliance_core::packet::parse(&f.bytes).unwrap();
            if f.direction == Direction::ClientToServer
                && h.tcp().is_some_and(|t| t.payload_len > 0)
            {
                done.insert(s);
            }
            true
        })
        .collect()
}

#[test]
fn capacity_exhaustion_bypasses_and_every_slot_comes_back() {
    let dir = scratch("exhaust");
    let input = dir.join("cut.pcap");
    let f = cut_sessions(20, 3);
    pcap::write_file(&input, f.iter().map(|f| (f.ts_us, f.bytes.as_slice()))).unwrap();
    // 64 slots at 12 per session: 5 sessions can accumulate at once.
    let (app, sock) = start_on_pcap(
        &dir,
        &input,
        "[accumulation]\npool_packets = 64\nhold_timeout_secs = 2\n[flow.timeouts]\ntime_wait = 1\nestablished = 3\n",
    );
    assert!(eventually(20, || counter(&sock, "acc_started")
        + counter(&sock, "acc_capacity_bypassed")
        == 20));
    let (_, acc) = ctl(&sock, "show accumulation");
    assert_eq!(acc["capacity_sessions"], 5);
    assert_eq!(acc["active_sessions"], 5, "{acc}");
    assert_eq!(acc["slots_in_use"], 60);
    assert_eq!(counter(&sock, "acc_capacity_bypassed"), 15);
    // The held ones time out (reset per on_limit) and give their slots back.
    assert!(eventually(10, || {
        let (_, a) = ctl(&sock, "show accumulation");
        a["slots_in_use"] == 0 && a["active_sessions"] == 0
    }));
    assert_eq!(counter(&sock, "acc_hold_timeouts"), 5);
    assert!(eventually(15, || counter(&sock, "flows_active") == 0));
    let (_, acc) = ctl(&sock, "show accumulation");
    assert_eq!(acc["peak_sessions"], 5);
    let st = app.stop();
    assert!(st.success);
    assert_eq!(st.mbufs_not_returned(), 0);
    assert!(st
        .line("final accumulation:")
        .unwrap()
        .contains("slots_in_use 0 sessions 0"));
}

#[test]
fn a_full_flow_table_passes_by_rule_and_drains() {
    let dir = scratch("table-full");
    let input = dir.join("syns.pcap");
    let args = GenArgs {
        out: "unused".into(),
        sessions: 1100,
        interleave: 1100,
        seed: 9,
        ..GenArgs::default()
    };
    let (all, _) = gen::build(&args).unwrap();
    // Only the SYNs: 1100 half-open sessions against a table of 1024 (one worker).
    let syns: Vec<_> = all
        .iter()
        .filter(|f| {
            let h = appliance_core::packet::parse(&f.bytes).unwrap();
            h.tcp().is_some_and(|t| t.flags.syn() && !t.flags.ack())
        })
        .collect();
    assert_eq!(syns.len(), 1100);
    pcap::write_file(&input, syns.iter().map(|f| (f.ts_us, f.bytes.as_slice()))).unwrap();
    let (app, sock) = start_on_pcap(
        &dir,
        &input,
        "[flow]\ncapacity = 1024\n[flow.timeouts]\nhandshake = 1\n",
    );
    assert!(eventually(20, || counter(&sock, "rx_from_client") >= 1100));
    assert_eq!(counter(&sock, "flow_table_full_passed"), 76);
    assert!(
        eventually(15, || counter(&sock, "flows_active") == 0),
        "aged out"
    );
    let st = app.stop();
    assert!(st.success);
    assert_eq!(st.mbufs_not_returned(), 0);
    assert_eq!(
        frames(&dir.join("out_server.pcap")).len(),
        1100,
        "all passed (on_table_full = pass)"
    );
}
