//! Flow tracking and MSS fixup end to end: Linux TCP and OpenSSL in the testbed namespaces.

mod common;
use common::*;
use std::path::Path;

/// Payload sizes of the client's TCP segments in a capture.
fn client_payload_sizes(cap: &Path) -> Vec<u64> {
    let o = sh(&format!(
        "tshark -r {} -Y 'ip.src==198.18.0.1 && tcp.len>0' -T fields -e tcp.len 2>/dev/null",
        cap.display()
    ));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// A ~3 KB ClientHello: a long ALPN list.
fn long_alpn() -> String {
    (0..150)
        .map(|i| format!("proto-{i:03}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether every client port in `ports` has a record of its connection to port 8080.
fn logged_all(recs: &[serde_json::Value], ports: &[u64]) -> bool {
    ports.iter().all(|&p| {
        recs.iter()
            .any(|r| r["client_port"] == p && r["server_port"] == 8080)
    })
}

fn handshake_with_capture(dir: &Path, name: &str) -> (bool, Vec<u64>) {
    let cap = dir.join(format!("{name}.pcap"));
    let _dump = netns_bg(
        "acp-client",
        &format!(
            "tcpdump -i eth0 -U -w {} 'tcp port 443' 2>/dev/null",
            cap.display()
        ),
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let o = netns(
        "acp-client",
        &format!(
            "echo Q | timeout 10 openssl s_client -connect 198.18.0.2:443 -servername big.test -alpn {} 2>&1",
            long_alpn()
        ),
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(_dump);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let ok = String::from_utf8_lossy(&o.stdout).contains("Cipher is TLS_");
    (ok, client_payload_sizes(&cap))
}

#[test]
fn missing_server_mss_is_repaired_on_the_wire() {
    let dir = scratch("mss-repair");
    let (cert, key) = cert(&dir);
    let _tb = Testbed::up("--strip-mss");
    let _tls = netns_bg(
        "acp-server",
        &format!(
            "openssl s_server -accept 443 -cert {} -key {} -quiet",
            cert.display(),
            key.display()
        ),
    );
    wait_listen("acp-server", 443);

    // Without fixup the client falls back to 536-byte segments.
    let app = Appliance::start(&dir, &testbed_config(1, ""));
    let (ok, sizes) = handshake_with_capture(&dir, "nofix");
    let st = app.stop();
    assert!(ok, "handshake without fixup");
    assert!(!sizes.is_empty());
    assert!(
        sizes.iter().all(|&s| s <= 536),
        "segments without fixup: {sizes:?}"
    );
    assert!(st.total("mss_absent_from_server") >= 1);

    // With insert_missing = 1460 the same client sends full-size segments.
    let log = dir.join("traffic.jsonl");
    let app = Appliance::start(
        &dir,
        &testbed_config(
            1,
            &format!(
                "[mss]\ninsert_missing = 1460\n[log]\ntraffic = \"{}\"\n[flow.timeouts]\ntime_wait = 1\n",
                log.display()
            ),
        ),
    );
    let (ok, sizes) = handshake_with_capture(&dir, "fix");
    assert!(
        wait_for_records(&log, 10, |r| r.iter().any(|r| r["server_port"] == 443)),
        "the session was not logged"
    );
    let st = app.stop();
    assert!(ok, "handshake with fixup");
    assert!(
        sizes.iter().any(|&s| s > 536),
        "segments with fixup: {sizes:?}"
    );
    assert_eq!(st.total("mss_inserted_from_server"), 1);
    let recs: Vec<_> = traffic_log(&log)
        .into_iter()
        .filter(|r| r["server_port"] == 443)
        .collect();
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["mss_inserted"], serde_json::json!(["server"]));
    assert_eq!(recs[0]["mss_server"], 1460);
    assert_eq!(recs[0]["end_reason"], "tcp-fin");
}

#[test]
fn end_reasons_are_observed_for_real() {
    let dir = scratch("end-reasons");
    let _tb = Testbed::up("");
    let _srv = netns_bg(
        "acp-server",
        &format!("/usr/bin/python3 {} server 8080", peer()),
    );
    wait_listen("acp-server", 8080);
    let log = dir.join("traffic.jsonl");
    let app = Appliance::start(
        &dir,
        &testbed_config(
            1,
            &format!(
                "[log]\ntraffic = \"{}\"\n[flow.timeouts]\ntime_wait = 1\nestablished = 2\n",
                log.display()
            ),
        ),
    );
    let client = |mode: &str, extra: &str| {
        ports_of(&netns(
            "acp-client",
            &format!(
                "/usr/bin/python3 {} client 198.18.0.2 8080 {mode} 3 {extra}",
                peer()
            ),
        ))
    };
    let fin = client("fin", "");
    let abort = client("abort", "");
    let reset = client("server-reset", "");
    let idle = ports_of(&netns(
        "acp-client",
        &format!(
            "/usr/bin/python3 {} client 198.18.0.2 8080 idle 1 3.5",
            peer()
        ),
    ));
    let all: Vec<u64> = [&fin, &abort, &reset, &idle]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    assert!(
        wait_for_records(&log, 15, |r| logged_all(r, &all)),
        "not every connection was logged"
    );
    let st = app.stop();
    assert!(st.success);
    let recs = traffic_log(&log);
    let reason_of = |port: u64| -> Vec<String> {
        recs.iter()
            .filter(|r| r["client_port"] == port && r["server_port"] == 8080)
            .map(|r| r["end_reason"].as_str().unwrap().to_string())
            .collect()
    };
    for (ports, want) in [
        (&fin, "tcp-fin"),
        (&abort, "tcp-rst-from-client"),
        (&reset, "tcp-rst-from-server"),
        (&idle, "aged-out"),
    ] {
        for p in ports {
            assert_eq!(reason_of(*p), vec![want.to_string()], "client port {p}");
        }
    }
    assert_eq!(
        st.total("rst_without_flow"),
        1,
        "the idle client's late RST"
    );
}

#[test]
fn two_workers_keep_both_directions_of_each_flow_together() {
    let dir = scratch("two-workers");
    let _tb = Testbed::up("");
    let _srv = netns_bg(
        "acp-server",
        &format!("/usr/bin/python3 {} server 8080", peer()),
    );
    wait_listen("acp-server", 8080);
    let log = dir.join("traffic.jsonl");
    let app = Appliance::start(
        &dir,
        &testbed_config(
            2,
            &format!(
                "[log]\ntraffic = \"{}\"\n[flow.timeouts]\ntime_wait = 1\n",
                log.display()
            ),
        ),
    );
    let ports = ports_of(&netns(
        "acp-client",
        &format!("/usr/bin/python3 {} client 198.18.0.2 8080 fin 40", peer()),
    ));
    assert!(
        wait_for_records(&log, 15, |r| logged_all(r, &ports)),
        "not every connection was logged"
    );
    let st = app.stop();
    assert!(st.success);
    let recs: Vec<_> = traffic_log(&log)
        .into_iter()
        .filter(|r| r["server_port"] == 8080)
        .collect();
    assert_eq!(recs.len(), ports.len(), "one record per connection");
    let mut per_worker = [0; 2];
    for r in &recs {
        // One worker saw SYN, SYN-ACK and the final ACK, and both FINs: both directions.
        assert_eq!(r["handshake_seen"], true, "{r}");
        assert_eq!(r["end_reason"], "tcp-fin", "{r}");
        assert!(r["packets_s2c"].as_u64().unwrap() >= 3, "{r}");
        per_worker[r["worker"].as_u64().unwrap() as usize] += 1;
    }
    for w in 0..2 {
        println!(
            "worker {w}: sessions {} rx_from_client {} rx_from_server {}",
            per_worker[w],
            st.worker(w, "rx_from_client"),
            st.worker(w, "rx_from_server")
        );
        assert!(per_worker[w] > 0, "worker {w} got no flows: {per_worker:?}");
        assert!(st.worker(w, "rx_from_client") > 0 && st.worker(w, "rx_from_server") > 0);
    }
}
