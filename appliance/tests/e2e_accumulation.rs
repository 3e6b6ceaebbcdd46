//! ClientHello accumulation and its live control, end to end: Linux TCP, OpenSSL and scapy in
//! the testbed namespaces, a server that omits the MSS option (`--strip-mss`).

mod common;
use common::*;
use serde_json::Value;

fn records_for(log: &std::path::Path, sni: &str) -> Vec<Value> {
    traffic_log(log)
        .into_iter()
        .filter(|r| r["sni"] == sni || (r["server_port"] == 443 && sni.is_empty()))
        .collect()
}

fn stop_clean(app: Appliance) -> Stopped {
    let st = app.stop();
    assert!(st.success, "exit status; stderr:\n{}", st.stderr.join("\n"));
    assert_eq!(st.mbufs_not_returned(), 0, "mbufs leaked");
    let acc = st
        .line("final accumulation:")
        .expect("final accumulation line")
        .clone();
    assert!(acc.contains("slots_in_use 0 sessions 0"), "{acc}");
    st
}

#[test]
fn the_field_problem_and_both_fixes() {
    let bed = TlsBed::up("acc-field");
    let (dir, log) = (bed.dir.clone(), bed.log.clone());

    // packetlimit 12, no MSS fixup: a ~9 KB ClientHello in 536-byte segments is reset, and
    // the packets held for it are written to a capture.
    let caps = dir.join("captures");
    let app = bed.start(&format!(
        "[flow.timeouts]\ntime_wait = 1\n[diag]\ncaptures = \"{}\"\n",
        caps.display()
    ));
    assert!(
        !big_handshake("big.test", 9000),
        "handshake should fail at packetlimit 12"
    );
    assert!(
        wait_for_records(&log, 10, |r| r
            .iter()
            .any(|r| r["end_reason"] == "accumulation-limit")),
        "no accumulation-limit record"
    );
    let st = stop_clean(app);
    assert!(st.total("acc_limit_packets") >= 1);
    let recs: Vec<_> = traffic_log(&log)
        .into_iter()
        .filter(|r| r["server_port"] == 443)
        .collect();
    let r = recs
        .iter()
        .find(|r| r["end_reason"] == "accumulation-limit")
        .expect("an accumulation-limit record");
    assert_eq!(r["diag"], "accumulating too many packets 13 max 12", "{r}");
    // The same line in the appliance's own log, with the session id.
    let id = r["session_id"].as_u64().unwrap();
    assert!(
        st.stderr.iter().any(|l| l.contains("WARN")
            && l.contains("accumulating too many packets 13 max 12")
            && l.contains(&format!("session {id}"))),
        "diag line in the log: {:?}",
        st.stderr
    );
    let cap = r["capture"]
        .as_str()
        .expect("capture referenced from the record");
    assert!(cap.starts_with(caps.to_str().unwrap()));
    let o = sh(&format!(
        "tshark -r {cap} -T fields -e tcp.dstport -e tcp.len 2>/dev/null"
    ));
    let rows: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(rows.len(), 13, "12 held segments and the 13th: {rows:?}");
    assert!(rows.iter().all(|l| l.starts_with("443\t")), "{rows:?}");

    // packetlimit 24: the same handshake completes, and the log tells the ClientHello.
    std::fs::remove_file(&log).ok();
    let app = bed.start("[flow.timeouts]\ntime_wait = 1\n[accumulation]\npacketlimit = 24\n");
    assert!(
        big_handshake("big.test", 9000),
        "handshake at packetlimit 24"
    );
    assert!(
        wait_for_records(&log, 10, |r| r.iter().any(|r| r["sni"] == "big.test")),
        "the session was not logged"
    );
    let st = stop_clean(app);
    let r = records_for(&log, "big.test");
    assert_eq!(r.len(), 1, "{r:?}");
    let segs = r[0]["tcp_segments"].as_u64().unwrap();
    assert!((13..=24).contains(&segs), "segments {segs}");
    assert_eq!(r[0]["alpn"].as_array().unwrap().len(), 900);
    assert_eq!(r[0]["alpn"][0], "proto-000");
    assert_eq!(r[0]["verdict"], "allow");
    assert!(
        st.total("acc_acks_sent") >= 1,
        "the client was kept sending"
    );

    // MSS insertion on, packetlimit 12: full-size segments, it completes too.
    std::fs::remove_file(&log).ok();
    let app = bed.start("[flow.timeouts]\ntime_wait = 1\n[mss]\ninsert_missing = 1460\n");
    assert!(
        big_handshake("big.test", 9000),
        "handshake with MSS insertion"
    );
    assert!(
        wait_for_records(&log, 10, |r| r.iter().any(|r| r["sni"] == "big.test")),
        "the session was not logged"
    );
    stop_clean(app);
    let r = records_for(&log, "big.test");
    assert_eq!(r.len(), 1);
    assert!(r[0]["tcp_segments"].as_u64().unwrap() <= 12);
    assert_eq!(r[0]["mss_inserted"], serde_json::json!(["server"]));
}

#[test]
fn hello_in_two_halves_and_reordered_segments_complete() {
    let dir = scratch("acc-halves");
    let _tb = Testbed::up("");
    let _srv = tls_server(&dir);
    let (sock, log) = (dir.join("ctl.sock"), dir.join("traffic.jsonl"));
    let app = Appliance::start(
        &dir,
        &testbed_config_full(1, &sock, &log, "[flow.timeouts]\ntime_wait = 1\n"),
    );
    let peer = repo().join("appliance/tests/data/tls_peer.py");
    let o = netns(
        "acp-client",
        &format!(
            "/usr/bin/python3 {} halves 198.18.0.2 443 halves.test",
            peer.display()
        ),
    );
    assert!(
        o.status.success(),
        "halves: {} {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // Raw segments from scapy: keep the client kernel from resetting what it did not open.
    netns(
        "acp-client",
        "iptables -A OUTPUT -p tcp --tcp-flags RST RST --sport 47000:47999 -j DROP",
    );
    let o = netns(
        "acp-client",
        &format!(
            "/usr/bin/python3 {} reorder 198.18.0.2 443 reorder.test",
            peer.display()
        ),
    );
    assert!(
        o.status.success(),
        "reorder: {} {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        wait_for_records(&log, 10, |r| ["halves.test", "reorder.test"]
            .iter()
            .all(|sni| r.iter().any(|r| r["sni"] == *sni))),
        "the sessions were not logged"
    );
    let st = stop_clean(app);
    assert!(st.total("acc_completed") >= 2);
    let h = records_for(&log, "halves.test");
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["tcp_segments"], 2);
    let r = records_for(&log, "reorder.test");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["tcp_segments"], 3);
    assert_eq!(r[0]["verdict"], "allow");
}

#[test]
fn the_limit_is_raised_live_and_survives_a_restart() {
    let bed = TlsBed::up("acc-live");
    let (dir, sock, log) = (bed.dir.clone(), bed.sock.clone(), bed.log.clone());
    let app = Appliance::start(
        &dir,
        &testbed_config_full(1, &sock, &log, "[flow.timeouts]\ntime_wait = 1\n"),
    );
    let (code, before) = ctl(&sock, "show accumulation");
    assert_eq!(code, 0);
    assert_eq!(before["packetlimit"], 12);
    assert!(!big_handshake("live.test", 9000), "fails at 12");

    let (code, v) = ctl(
        &sock,
        "debug dataplane set ssl-decrypt accumulate-client-hello packetlimit 24",
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!((v["old"].as_u64(), v["new"].as_u64()), (Some(12), Some(24)));
    let (c12, c24) = (
        v["capacity_sessions_before"].as_u64().unwrap(),
        v["capacity_sessions_after"].as_u64().unwrap(),
    );
    assert_eq!(c24 * 2, c12, "capacity halves against the pool");
    let (_, after) = ctl(&sock, "show accumulation");
    assert_eq!(after["packetlimit"], 24);
    assert_eq!(
        after["capacity_sessions"].as_u64().unwrap() * 2,
        before["capacity_sessions"].as_u64().unwrap()
    );
    assert!(
        big_handshake("live.test", 9000),
        "passes at 24 without a restart"
    );

    // The log level changes at run time too, and is saved.
    let (code, v) = ctl(&sock, "set log-level debug");
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (v["old"].as_str(), v["new"].as_str()),
        (Some("info"), Some("debug"))
    );

    // Refused values change nothing.
    let (code, v) = ctl(&sock, "set packetlimit 65");
    assert_ne!(code, 0, "{v}");
    let (_, v) = ctl(&sock, "show accumulation");
    assert_eq!(v["packetlimit"], 24);
    let st = stop_clean(app);
    assert!(st.total("acc_limit_packets") >= 1 && st.total("acc_completed") >= 1);

    // The file holds 24, comments and all, and a restarted appliance uses it.
    let text = std::fs::read_to_string(dir.join("appliance.toml")).unwrap();
    assert!(text.contains("packetlimit = 24"), "{text}");
    assert!(text.contains("level = \"debug\""), "{text}");
    let app = Appliance::start_file(&dir.join("appliance.toml"));
    let (_, v) = ctl(&sock, "show accumulation");
    assert_eq!(v["packetlimit"], 24);
    assert!(big_handshake("live.test", 9000), "passes after the restart");
    stop_clean(app);
}

#[test]
fn advise_covers_the_client_hellos_seen() {
    let bed = TlsBed::up("acc-advise");
    let (sock, log) = (bed.sock.clone(), bed.log.clone());
    let app = bed.start("[flow.timeouts]\ntime_wait = 1\n[accumulation]\npacketlimit = 32\n");
    for (i, size) in [0usize, 0, 2000, 4000, 7000].iter().enumerate() {
        assert!(big_handshake(&format!("a{i}.test"), *size), "handshake {i}");
    }
    assert!(
        wait_for_records(&log, 15, |r| r
            .iter()
            .filter(|r| r["server_port"] == 443)
            .count()
            >= 5),
        "not every session was logged"
    );
    let (code, v) = ctl(&sock, "advise packetlimit --target-percentile 100");
    assert_eq!(code, 0, "{v}");
    let seen: Vec<u64> = traffic_log(&log)
        .iter()
        .filter_map(|r| r["tcp_segments"].as_u64())
        .collect();
    assert_eq!(v["client_hellos_seen"].as_u64().unwrap(), seen.len() as u64);
    let max = *seen.iter().max().unwrap();
    assert_eq!(v["recommended_packetlimit"].as_u64().unwrap(), max, "{v}");
    let largest = v["largest_client_hello_bytes"].as_u64().unwrap();
    assert_eq!(
        v["rule_590_packetlimit"].as_u64().unwrap(),
        largest.div_ceil(590)
    );
    // Linux clients use timestamps: 524 bytes per 590-byte frame, so the rule falls short and
    // advise says so.
    assert!(v["rule_590_packetlimit"].as_u64().unwrap() < max, "{v}");
    assert!(v["note"].as_str().unwrap().contains("590 rule"), "{v}");
    let (_, a) = ctl(&sock, "show accumulation");
    let (_, w) = ctl(&sock, "what-if packetlimit 16");
    assert_eq!(
        w["capacity_sessions"].as_u64().unwrap(),
        w["memory_bytes"].as_u64().unwrap() / w["memory_per_session_bytes"].as_u64().unwrap()
    );
    // The pool divided by the asked limit, not by the one in force (32), which what-if
    // leaves unchanged.
    assert_eq!(
        w["capacity_sessions"].as_u64().unwrap(),
        a["pool_packets"].as_u64().unwrap() / 16,
        "{w} {a}"
    );
    let (_, after) = ctl(&sock, "show accumulation");
    assert_eq!(after["packetlimit"], 32);
    stop_clean(app);
}

#[test]
fn sigterm_with_held_packets_resets_and_logs_each_session_once() {
    let dir = scratch("acc-shutdown");
    let _tb = Testbed::up("");
    let _srv = tls_server(&dir);
    let (sock, log) = (dir.join("ctl.sock"), dir.join("traffic.jsonl"));
    let app = Appliance::start(
        &dir,
        &testbed_config_full(1, &sock, &log, "[accumulation]\nhold_timeout_secs = 60\n"),
    );
    let peer = repo().join("appliance/tests/data/tls_peer.py");
    // Three clients each send half a ClientHello and wait.
    let clients: Vec<_> = (0..3)
        .map(|i| {
            std::process::Command::new("ip")
                .args(["netns", "exec", "acp-client", common::PYTHON])
                .arg(&peer)
                .args(["half", "198.18.0.2", "443", &format!("held{i}.test")])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut held = false;
    for _ in 0..50 {
        let (_, v) = ctl(&sock, "show accumulation");
        if v["active_sessions"] == 3 {
            held = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(held, "three sessions accumulating");
    let st = stop_clean(app); // SIGTERM: exit 0, no mbuf or slot left
    for c in clients {
        let out = c.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().last(),
            Some("reset"),
            "on_limit reset: the client is reset"
        );
    }
    let recs: Vec<_> = traffic_log(&log)
        .into_iter()
        .filter(|r| r["server_port"] == 443)
        .collect();
    assert_eq!(recs.len(), 3, "exactly one record per session: {recs:?}");
    for r in &recs {
        assert_eq!(r["end_reason"], "shutdown", "{r}");
        assert_eq!(r["accumulation"], "shutdown-reset", "{r}");
    }
    assert!(st.total("ended_shutdown") >= 3, "counted by reason too");
}

/// `set ...` over the socket: succeeds and reports the old and the new value.
fn set(sock: &std::path::Path, cmd: &str, old: Value, new: Value) {
    let (code, v) = ctl(sock, cmd);
    assert_eq!(code, 0, "{cmd}: {v}");
    assert_eq!((&v["old"], &v["new"]), (&old, &new), "{cmd}: {v}");
    assert!(v.get("warning").is_none(), "{cmd}: {v}");
}

#[test]
fn every_live_setting_acts_on_the_wire_and_is_saved() {
    use serde_json::json;
    let bed = TlsBed::up("acc-settings");
    let (dir, sock, log) = (bed.dir.clone(), bed.sock.clone(), bed.log.clone());
    let app = Appliance::start(
        &dir,
        &testbed_config_full(1, &sock, &log, "[flow.timeouts]\ntime_wait = 1\n"),
    );
    let (code, ports) = ctl(&sock, "show ports");
    assert_eq!(code, 0, "{ports}");
    let mut sides: Vec<&str> = ports["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["side"].as_str().unwrap())
        .collect();
    sides.sort_unstable();
    assert_eq!(sides, ["client", "server"], "{ports}");
    let (_, cfg) = ctl(&sock, "show config");
    assert_eq!(cfg["accumulation"]["packetlimit"], 12, "{cfg}");
    let (_, mss) = ctl(&sock, "show mss");
    assert_eq!(mss["insert_missing"], "off", "{mss}");

    // At packetlimit 12 a 9 KB hello in 536-byte segments is reset ...
    assert!(!big_handshake("reset.test", 9000), "reset at 12");
    assert!(counter(&sock, "acc_limit_packets") >= 1);
    // ... and with on-limit release it passes uninspected.
    set(
        &sock,
        "set on-limit release",
        json!("reset"),
        json!("release"),
    );
    assert!(big_handshake("release.test", 9000), "released at 12");
    assert!(counter(&sock, "acc_released_uninspected") >= 1);
    set(
        &sock,
        "set on-limit reset",
        json!("release"),
        json!("reset"),
    );

    // Inserting the MSS the server left out: full-size segments, within 12 packets.
    set(
        &sock,
        "set mss insert-missing 1460",
        json!("off"),
        json!(1460),
    );
    let (_, mss) = ctl(&sock, "show mss");
    assert_eq!(mss["towards_client"]["insert_missing"], 1460, "{mss}");
    let inserted = counter(&sock, "mss_inserted_from_server");
    assert!(big_handshake("insert.test", 9000), "passes with insertion");
    assert!(counter(&sock, "mss_inserted_from_server") > inserted);

    // A byte budget below the hello resets it whatever its packet count.
    let max = cfg["accumulation"]["max_bytes"].clone();
    set(&sock, "set max-bytes 4096", max, json!(4096));
    let limited = counter(&sock, "acc_limit_bytes");
    assert!(!big_handshake("bytes.test", 9000), "reset over 4096 bytes");
    assert!(counter(&sock, "acc_limit_bytes") > limited);

    // Clamping: the client's SYN (MSS 1460 from Linux) is rewritten.
    let clamp = mss["clamp"].clone();
    set(&sock, "set mss clamp 1200", clamp, json!(1200));
    let clamped = counter(&sock, "mss_clamped_from_client");
    assert!(big_handshake("clamp.test", 0), "a small hello passes");
    assert!(counter(&sock, "mss_clamped_from_client") > clamped);

    let on_capacity = cfg["accumulation"]["on_capacity"].clone();
    assert_eq!(on_capacity, "bypass", "{cfg}");
    set(&sock, "set on-capacity reset", on_capacity, json!("reset"));

    // Refused values change nothing.
    let (code, v) = ctl(&sock, "set mss clamp 100");
    assert_ne!(code, 0, "{v}");
    let (code, v) = ctl(&sock, "set on-limit sometimes");
    assert_ne!(code, 0, "{v}");
    let (_, mss) = ctl(&sock, "show mss");
    assert_eq!(mss["clamp"], 1200, "{mss}");
    stop_clean(app);

    // Every change is in the file, and a restarted appliance runs with it.
    let text = std::fs::read_to_string(dir.join("appliance.toml")).unwrap();
    for line in [
        "on_limit = \"reset\"",
        "insert_missing = 1460",
        "max_bytes = 4096",
        "clamp = 1200",
        "on_capacity = \"reset\"",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    let app = Appliance::start_file(&dir.join("appliance.toml"));
    let (_, mss) = ctl(&sock, "show mss");
    assert_eq!(
        (&mss["clamp"], &mss["insert_missing"]),
        (&json!(1200), &json!(1460))
    );
    let (_, cfg) = ctl(&sock, "show config");
    assert_eq!(cfg["accumulation"]["max_bytes"], 4096, "{cfg}");
    assert_eq!(cfg["accumulation"]["on_capacity"], "reset", "{cfg}");
    stop_clean(app);
}
