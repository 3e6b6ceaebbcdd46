//! Adversarial evasion end to end: raw TCP/IP from scapy in acp-client (`tests/data/evasion.py`)
//! tries to get a ClientHello with a denied SNI (`x.blocked.test`, rule `sni_suffix =
//! ".blocked.test"`) to a real `openssl s_server` in acp-server through the appliance: decoys
//! (insertion: segments the server discards but a monitor may believe), teardown and desync
//! packets, segmentation at every SNI byte, overlapping / reordered segments, IP fragments (v4
//! and the v6 fragment header), TCP Fast Open, and TLS-level tricks (duplicate unknown
//! extensions, empty records, a hello over many records).
//!
//! The appliance's promise: the server receives exactly the ClientHello bytes that were
//! judged, or nothing. So for every technique, on IPv4 and IPv6, the server must never see the
//! denied SNI (s_server runs with `-servername`, which makes it print every SNI it parses), and
//! the same technique with an allowed SNI must still complete wherever the attack leaves the
//! server a valid stream (`control_expected` in the script).

mod common;
use common::*;
use serde_json::Value;
use std::time::Instant;

const POLICY: &str = "[flow.timeouts]\ntime_wait = 1\n\n[[policy.rule]]\nsni_suffix = \".blocked.test\"\naction = \"deny\"\n";

/// Runs the evasion script for one address family; one JSON object per technique.
fn run_family(family: &str, server_log: &std::path::Path) -> (Vec<Value>, String) {
    let script = repo().join("appliance/tests/data/evasion.py");
    let o = netns(
        "acp-client",
        &format!(
            "timeout 150 {PYTHON} {} --family {family} --server-log {} --wait 2",
            script.display(),
            server_log.display()
        ),
    );
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        o.status.success(),
        "evasion.py --family {family} failed ({}):\n{out}\n{err}",
        o.status
    );
    let rows = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect();
    (rows, err)
}

fn yn(v: &Value) -> &'static str {
    match v.as_bool() {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    }
}

#[test]
fn denied_sni_never_reaches_the_server_whatever_the_evasion() {
    let t0 = Instant::now();
    let dir = scratch("evasion");
    let _tb = Testbed::up("");
    // TCP Fast Open on the server, in its namespace only: server on (0x2), no cookie needed
    // (0x200), on every listener without the socket option (0x400).
    let o = netns("acp-server", "sysctl -qw net.ipv4.tcp_fastopen=1538");
    assert!(o.status.success(), "sysctl tcp_fastopen in acp-server");
    // openssl s_server on 443 (v4 and v6), printing the SNI of every hello it parses
    // (`-servername` installs the callback that prints it; a mismatch is only a warning).
    let (c, k) = cert(&dir);
    let slog = dir.join("s_server.log");
    let _srv = netns_bg(
        "acp-server",
        &format!(
            "sleep infinity | stdbuf -oL openssl s_server -accept 443 -cert {c} -key {k} \
             -cert2 {c} -key2 {k} -servername ok.allowed.test > {l} 2>&1",
            c = c.display(),
            k = k.display(),
            l = slog.display()
        ),
    );
    wait_listen("acp-server", 443);
    // A capture of what reached the server, for diagnosis (tshark -r it -Y tls.handshake.type==1).
    let pcap = dir.join("server.pcap");
    let _dump = netns_bg(
        "acp-server",
        &format!("tcpdump -i eth0 -U -s 0 -w {} tcp port 443", pcap.display()),
    );
    let (sock, log) = (dir.join("ctl.sock"), dir.join("traffic.jsonl"));
    let app = Appliance::start(&dir, &testbed_config_full(1, &sock, &log, POLICY));

    // The bed works: an ordinary allowed handshake completes, a denied one does not.
    assert!(big_handshake("ok.allowed.test", 0), "allowed handshake");
    assert!(!big_handshake("x.blocked.test", 0), "denied handshake");

    let mut rows = Vec::new();
    let mut stderr = String::new();
    for fam in ["v4", "v6"] {
        let (r, e) = run_family(fam, &slog);
        rows.extend(r);
        stderr.push_str(&e);
    }
    let (_, counters) = ctl(&sock, "show counters");
    let st = app.stop();

    println!(
        "\n{:<46} {:<13} {:<4} {:<9} {:<8} {:<8} {:<8} server SNIs",
        "technique", "class", "fam", "DELIVERED", "answered", "control", "expected"
    );
    let mut failures = Vec::new();
    for r in &rows {
        let name = r["name"].as_str().unwrap_or("?");
        let fam = r["family"].as_str().unwrap_or("?");
        println!(
            "{:<46} {:<13} {:<4} {:<9} {:<8} {:<8} {:<8} {} {}",
            name,
            r["cls"].as_str().unwrap_or(""),
            fam,
            if r["denied_delivered"] == true {
                "DELIVERED"
            } else {
                "no"
            },
            yn(&r["server_answered"]),
            yn(&r["allowed_control_ok"]),
            yn(&r["control_expected"]),
            r["server_snis"],
            r["note"].as_str().unwrap_or("")
        );
        if r["denied_delivered"] != false {
            failures.push(format!(
                "{fam} {name}: the server received a hello with the denied SNI ({})",
                r["server_snis"]
            ));
        }
        if r["control_expected"] == true && r["allowed_control_ok"] != true {
            failures.push(format!(
                "{fam} {name}: the allowed control did not complete ({})",
                r["control_snis"]
            ));
        }
        if r["handshake_failed"].as_u64() != Some(0) {
            failures.push(format!(
                "{fam} {name}: harness: {} TCP handshake(s) got no SYN-ACK",
                r["handshake_failed"]
            ));
        }
    }
    let t = &counters["total"];
    let interesting: Vec<String> = t
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, v)| {
                    v.as_u64().unwrap_or(0) > 0
                        && (k.starts_with("acc_")
                            || k.starts_with("dropped_")
                            || k.starts_with("malformed")
                            || k.starts_with("ended_")
                            || k.contains("rst")
                            || k.contains("fragment"))
                })
                .map(|(k, v)| format!("{k}={v}"))
                .collect()
        })
        .unwrap_or_default();
    println!("\nappliance counters: {}", interesting.join(" "));
    println!("elapsed {:.0} s", t0.elapsed().as_secs_f64());
    if !stderr.trim().is_empty() {
        println!("evasion.py stderr:\n{stderr}");
    }

    // The defences did the work, each counted by reason: the worker's guard refused the
    // decoys, teardown and desync segments the server would discard, and TCP fragments.
    for name in [
        "dropped_bad_checksum",
        "dropped_tcp_md5_option",
        "dropped_no_ack_flag",
        "dropped_syn_with_data",
        "dropped_syn_in_session",
        "dropped_synack_from_client",
        "dropped_bad_ack",
        "dropped_rst_not_exact",
        "fragments_dropped",
    ] {
        if t[name].as_u64().unwrap_or(0) == 0 {
            failures.push(format!("counter {name} did not move"));
        }
    }

    // Every technique ran on both families (none skipped).
    for fam in ["v4", "v6"] {
        let n = rows.iter().filter(|r| r["family"] == fam).count();
        assert!(n >= 25, "{fam}: only {n} techniques reported");
    }
    assert!(
        st.success,
        "appliance exit status:\n{}",
        st.stderr.join("\n")
    );
    assert_eq!(st.mbufs_not_returned(), 0, "mbufs leaked");
    assert!(
        failures.is_empty(),
        "{} evasion failure(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
