//! Frames from pcap files through the running appliance on DPDK's `net_pcap` devices.

mod common;
use common::*;
use std::path::Path;
use trafficgen::{self as gen, pcap, Direction, GenArgs};

/// Start the appliance with each side's RX read from a pcap and TX written to one.
fn run_pcaps(dir: &Path, c_in: &Path, s_in: &Path, extra: &str) -> Stopped {
    let prefix = file_prefix();
    let mut eal = eal_base(&prefix, "0");
    eal.push(format!(
        "--vdev=net_pcap0,rx_pcap={},tx_pcap={}",
        c_in.display(),
        dir.join("out_client.pcap").display()
    ));
    eal.push(format!(
        "--vdev=net_pcap1,rx_pcap={},tx_pcap={}",
        s_in.display(),
        dir.join("out_server.pcap").display()
    ));
    let cfg = format!(
        "[eal]\nargs = {eal:?}\n[workers]\ncores = [1]\n[control]\nstats_interval_secs = 1\n[log]\ntraffic = \"{}\"\n{extra}\n",
        dir.join("traffic.jsonl").display()
    );
    let n_c = pcap::read_file(c_in).unwrap().records.len() as u64;
    let n_s = pcap::read_file(s_in).unwrap().records.len() as u64;
    let app = Appliance::start(dir, &cfg);
    let done = app.wait_for(60, |lines| {
        counter_in(lines, "stats total:", "rx_from_client") >= n_c
            && counter_in(lines, "stats total:", "rx_from_server") >= n_s
    });
    let st = app.stop();
    assert!(
        done,
        "appliance did not read all frames:\n{}",
        st.stdout.join("\n")
    );
    assert!(st.success, "exit status; stderr:\n{}", st.stderr.join("\n"));
    assert_eq!(st.mbufs_not_returned(), 0, "mbuf leak");
    st
}

fn frames(p: &Path) -> Vec<Vec<u8>> {
    pcap::read_file(p)
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.data)
        .collect()
}

#[test]
fn every_frame_comes_out_unchanged_in_order() {
    let dir = scratch("pcap-unchanged");
    let args = GenArgs {
        out: dir.join("unused.pcap"),
        sessions: 200,
        hello_sizes: Some("600,2000,7000".parse().unwrap()),
        interleave: 8,
        udp_ratio: 0.1,
        rst_ratio: 0.2,
        seed: 7,
        ..GenArgs::default()
    };
    let (all, _) = gen::build(&args).unwrap();
    let c2s: Vec<_> = all
        .iter()
        .filter(|f| f.direction == Direction::ClientToServer)
        .collect();
    let s2c: Vec<_> = all
        .iter()
        .filter(|f| f.direction == Direction::ServerToClient)
        .collect();
    let (c_in, s_in) = (dir.join("in_client.pcap"), dir.join("in_server.pcap"));
    pcap::write_file(&c_in, c2s.iter().map(|f| (f.ts_us, f.bytes.as_slice()))).unwrap();
    pcap::write_file(&s_in, s2c.iter().map(|f| (f.ts_us, f.bytes.as_slice()))).unwrap();

    // The plain virtual wire: accumulation (which adds its own ACKs) off.
    let st = run_pcaps(&dir, &c_in, &s_in, "[accumulation]\nenabled = false\n");
    let out_s = frames(&dir.join("out_server.pcap"));
    let out_c = frames(&dir.join("out_client.pcap"));
    assert_eq!(out_s.len(), c2s.len());
    assert_eq!(out_c.len(), s2c.len());
    for (i, (a, b)) in c2s.iter().zip(&out_s).enumerate() {
        assert_eq!(&a.bytes, b, "client->server frame {i} changed");
    }
    for (i, (a, b)) in s2c.iter().zip(&out_c).enumerate() {
        assert_eq!(&a.bytes, b, "server->client frame {i} changed");
    }
    // Every TCP session of the pcap was tracked and ended (FIN/RST or at shutdown).
    assert_eq!(st.total("flows_created"), st.total("log_records"));
    assert!(st.total("flows_created") >= 200);
}

#[test]
fn mixed_and_malformed_traffic_is_counted_by_reason() {
    let dir = scratch("pcap-mixed");
    let c_in = dir.join("mixed.pcap");
    let kinds = generate_pcap("mixed.py", &c_in);
    let k = |n: &str| kinds[n].as_u64().unwrap();
    let s_in = dir.join("empty.pcap");
    pcap::write_file(&s_in, std::iter::empty()).unwrap();

    let st = run_pcaps(&dir, &c_in, &s_in, "");
    let bad = k("malformed") + k("garbage");
    let input = frames(&c_in);
    let out_s = frames(&dir.join("out_server.pcap"));
    assert_eq!(
        out_s.len() as u64,
        input.len() as u64 - bad,
        "valid frames forwarded"
    );
    // Valid frames come out unchanged and in order (malformed ones are simply missing).
    let valid: Vec<_> = input
        .iter()
        .filter(|f| appliance_core::packet::parse(f).is_ok())
        .cloned()
        .collect();
    assert_eq!(valid, out_s);

    assert_eq!(st.total("malformed_dropped"), bad);
    assert_eq!(st.total("malformed_eth_truncated"), k("garbage"));
    assert!(st.total("malformed_ipv4_truncated") >= 40, "truncations");
    assert_eq!(st.total("malformed_ipv4_bad_ihl"), 1);
    assert_eq!(st.total("malformed_tcp_bad_data_offset"), 2);
    assert_eq!(st.total("malformed_tcp_bad_option"), 3);
    assert_eq!(
        st.total("fragments"),
        k("ipv4_fragments") + k("ipv6_fragments")
    );
    assert_eq!(st.total("vlan_tagged"), k("vlan_tcp") + k("qinq_tcp"));
    assert_eq!(st.total("non_ip"), k("arp"));
    assert_eq!(st.total("icmp"), k("icmp") + k("icmpv6"));
    assert_eq!(st.total("udp"), k("udp"));
    assert_eq!(
        st.total("ipv6"),
        k("ipv6_tcp") + k("ipv6_ext") + k("icmpv6") + k("ipv6_fragments")
    );
    let tcp = k("ipv6_tcp") + k("ipv6_ext") + k("vlan_tcp") + k("qinq_tcp");
    assert_eq!(st.total("tcp"), tcp);
    // The truncated frames never reached the MSS code; the valid SYNs did.
    assert_eq!(st.total("mss_unchanged_from_client"), k("vlan_tcp"));
    assert_eq!(st.total("mss_absent_from_client"), tcp - k("vlan_tcp"));
}
