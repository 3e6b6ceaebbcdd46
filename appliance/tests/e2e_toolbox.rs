//! The running appliance in DPDK's and Prometheus's tools: `dpdk-telemetry.py` next to
//! DPDK's own `/ethdev/stats`, `GET /metrics` with curl, and a live capture with
//! `dpdk-dumpcap` (a DPDK secondary process: hugepages and shared config) read with tshark.

mod common;
use common::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use trafficgen::{self as gen, pcap, Direction, GenArgs};

/// Run `dpdk-telemetry.py -f PREFIX` with one command per line; one JSON value per command.
fn telemetry(prefix: &str, cmds: &[&str]) -> Vec<Value> {
    use std::io::Write;
    let mut child = Command::new("dpdk-telemetry.py")
        .args(["-f", prefix])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dpdk-telemetry.py (package dpdk)");
    let input = cmds.join("\n") + "\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let values: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("telemetry {l:?}: {e}")))
        .collect();
    assert_eq!(
        values.len(),
        cmds.len(),
        "dpdk-telemetry.py answered:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    values
        .into_iter()
        .zip(cmds)
        .map(|(v, c)| v[c.split(',').next().unwrap()].clone())
        .collect()
}

/// `curl -si URL`: (status, headers lowercased, body).
fn curl(url: &str, extra: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "10"])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// Check the Prometheus text format (0.0.4) and naming conventions; returns the samples
/// (`name{labels}` → value).
fn lint_prometheus(text: &str) -> HashMap<String, f64> {
    let name_ok = |n: &str| {
        let mut c = n.chars();
        matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
            && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
    };
    let mut types: HashMap<String, String> = HashMap::new();
    let mut seen_samples: HashSet<String> = HashSet::new();
    let mut samples = HashMap::new();
    assert!(text.ends_with('\n'), "exposition must end with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut w = rest.splitn(3, ' ');
            let (kind, name) = (w.next().unwrap(), w.next().unwrap_or(""));
            assert!(name_ok(name), "bad metric name in {line:?}");
            if kind == "TYPE" {
                let t = w.next().unwrap_or("");
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                    "{line:?}"
                );
                assert!(
                    types.insert(name.to_string(), t.to_string()).is_none(),
                    "TYPE twice for {name}"
                );
                assert!(
                    !seen_samples.contains(name),
                    "TYPE for {name} after its samples"
                );
                match t {
                    "counter" => assert!(name.ends_with("_total"), "counter {name} without _total"),
                    "gauge" => assert!(!name.ends_with("_total"), "gauge {name} ends in _total"),
                    _ => {}
                }
            }
            continue;
        }
        assert!(!line.starts_with('#'), "comment without a space: {line:?}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, Some(l.strip_suffix('}').expect("unclosed labels"))),
            None => (series, None),
        };
        assert!(name_ok(name), "bad metric name in {line:?}");
        if let Some(labels) = labels {
            for pair in labels.split(',') {
                let (k, v) = pair.split_once('=').expect("label without =");
                assert!(name_ok(k) && !k.starts_with("__"), "bad label {k:?}");
                assert!(
                    v.len() >= 2 && v.starts_with('"') && v.ends_with('"'),
                    "unquoted {v:?}"
                );
            }
        }
        assert!(
            types.contains_key(name),
            "sample {name} without a TYPE line"
        );
        seen_samples.insert(name.to_string());
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "series {series} twice"
        );
    }
    samples
}

/// The generated sessions split into the two ports' RX pcaps; frames per side.
fn pcaps(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, u64, u64) {
    let args = GenArgs {
        out: dir.join("unused.pcap"),
        sessions: 40,
        hello_sizes: Some("600,2000".parse().unwrap()),
        rst_ratio: 0.25,
        seed: 11,
        ..GenArgs::default()
    };
    let (all, _) = gen::build(&args).unwrap();
    let side = |d: Direction| {
        all.iter()
            .filter(move |f| f.direction == d)
            .map(|f| (f.ts_us, f.bytes.as_slice()))
    };
    let (c_in, s_in) = (dir.join("in_client.pcap"), dir.join("in_server.pcap"));
    pcap::write_file(&c_in, side(Direction::ClientToServer)).unwrap();
    pcap::write_file(&s_in, side(Direction::ServerToClient)).unwrap();
    let n_c = side(Direction::ClientToServer).count() as u64;
    let n_s = side(Direction::ServerToClient).count() as u64;
    (c_in, s_in, n_c, n_s)
}

#[test]
fn telemetry_and_metrics_show_the_running_appliance() {
    let dir = scratch("toolbox-telemetry");
    let (c_in, s_in, n_c, n_s) = pcaps(&dir);
    let prefix = file_prefix();
    // --no-shconf (as in every test config) keeps DPDK telemetry: its socket is in
    // /var/run/dpdk/<prefix>/ all the same.
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
    let sock = dir.join("ctl.sock");
    let cfg = format!(
        "[eal]\nargs = {eal:?}\n[workers]\ncores = [1]\n[mempool]\nmbufs = 8191\n\
         [accumulation]\npacketlimit = 16\npool_packets = 4096\n\
         [control]\nsocket = \"{}\"\nstats_interval_secs = 1\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n",
        sock.display()
    );
    let app = Appliance::start(&dir, &cfg);
    assert!(
        app.wait_for(60, |l| {
            counter_in(l, "stats total:", "rx_from_client") >= n_c
                && counter_in(l, "stats total:", "rx_from_server") >= n_s
        }),
        "appliance did not read the pcaps"
    );
    let url = {
        let lines = app.stdout.lock().unwrap();
        let l = lines
            .iter()
            .find(|l| l.starts_with("metrics on http://"))
            .expect("no `metrics on` line");
        l.trim_start_matches("metrics on ").to_string()
    };
    let base = url.trim_end_matches("/metrics").to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{url}");

    // DPDK telemetry: our commands next to DPDK's own.
    let t = telemetry(
        &prefix,
        &[
            "/",
            "/appliance/accumulation",
            "/appliance/counters",
            "/appliance/mss",
            "/appliance/counters,0",
            "/appliance/accumulation,0",
            "/appliance/counters,7",
            "/ethdev/stats,0",
            "/ethdev/stats,1",
        ],
    );
    let cmds: Vec<&str> = t[0]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for c in [
        "/appliance/accumulation",
        "/appliance/counters",
        "/appliance/mss",
        "/ethdev/stats",
    ] {
        assert!(cmds.contains(&c), "{c} not listed: {cmds:?}");
    }
    let (acc, counters, mss) = (&t[1], &t[2], &t[3]);
    let (w0, acc_w0, missing, eth0, eth1) = (&t[4], &t[5], &t[6], &t[7], &t[8]);
    assert_eq!(acc["packetlimit"], 16, "{acc}");
    assert_eq!(acc["pool_packets"], 4096);
    assert_eq!(acc["capacity_sessions"], 4096 / 16);
    assert_eq!(acc["enabled"], 1);
    assert_eq!(acc["on_limit"], "reset");
    assert_eq!(acc["ports"], serde_json::json!([443]));
    assert_eq!(acc["workers"], serde_json::json!([0]));
    assert!(acc["usage_percent"].is_string(), "{acc}");
    assert!(acc["counters"]["started"].is_u64(), "{acc}");
    assert_eq!(counters["total"]["rx_from_client"], n_c, "{counters}");
    assert_eq!(counters["total"]["rx_from_server"], n_s);
    assert_eq!(counters["mbufs"]["pool"], 8191);
    assert_eq!(w0["rx_from_client"], n_c, "worker 0: {w0}");
    assert_eq!(acc_w0["worker"], 0, "{acc_w0}");
    assert!(missing.is_null(), "no worker 7: {missing}");
    assert_eq!(mss["clamp"], "off", "{mss}");
    assert!(
        mss["counters"]["mss_unchanged_from_client"].is_u64(),
        "{mss}"
    );
    assert_eq!(eth0["ipackets"], n_c, "port 0: {eth0}");
    assert_eq!(eth1["ipackets"], n_s, "port 1: {eth1}");

    // The same numbers through the control socket.
    let (code, c) = ctl(&sock, "show accumulation");
    assert_eq!(code, 0);
    for k in [
        "packetlimit",
        "pool_packets",
        "capacity_sessions",
        "peak_sessions",
    ] {
        assert_eq!(c[k], acc[k], "{k}: control {c} telemetry {acc}");
    }
    // Counters that no longer move once the pcaps are read (aging may still end flows).
    let (_, c) = ctl(&sock, "show counters");
    let total = c["total"].as_object().unwrap().clone();
    for k in [
        "rx_from_client",
        "rx_from_server",
        "tx_to_client",
        "tx_to_server",
        "flows_created",
        "tcp",
        "ipv4",
    ] {
        assert_eq!(counters["total"][k], total[k], "counter {k}");
    }

    // Prometheus over HTTP.
    let (status, head, body) = curl(&url, &[]);
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let m = lint_prometheus(&body);
    assert_eq!(m["appliance_accumulation_capacity_sessions"], 256.0);
    assert_eq!(m["appliance_accumulation_packetlimit"], 16.0);
    assert_eq!(m["appliance_rx_packets_total{side=\"client\"}"], n_c as f64);
    for (k, v) in total {
        if let Some(reason) = k.strip_prefix("ended_") {
            let series = format!(
                "appliance_sessions_ended_total{{reason=\"{}\"}}",
                reason.replace('_', "-")
            );
            assert_eq!(
                m.get(&series),
                Some(&(v.as_u64().unwrap() as f64)),
                "{series}"
            );
        }
    }
    assert!(m.contains_key("appliance_sessions_ended_total{reason=\"tcp-rst-from-client\"}"));
    // promtool, when installed, must find nothing but missing help texts.
    if let Ok(out) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(body.as_bytes())?;
            c.wait_with_output()
        })
    {
        let report = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        for l in report.lines().filter(|l| !l.trim().is_empty()) {
            assert!(l.ends_with("no help text"), "promtool: {l}");
        }
    }
    // The control socket's `show metrics` carries the same series.
    let (_, sm) = ctl(&sock, "show metrics");
    let from_ctl = lint_prometheus(sm["metrics"].as_str().expect("metrics text"));
    let names = |m: &HashMap<String, f64>| m.keys().cloned().collect::<HashSet<_>>();
    assert_eq!(names(&from_ctl), names(&m));
    let (status, _, _) = curl(&format!("{base}/"), &[]);
    assert_eq!(status, 404);
    let (status, _, _) = curl(&url, &["-X", "POST"]);
    assert_eq!(status, 405);

    // A change made on the control socket shows in all three at once.
    let (code, _) = ctl(&sock, "set packetlimit 32");
    assert_eq!(code, 0);
    let t = telemetry(&prefix, &["/appliance/accumulation"]);
    assert_eq!(t[0]["packetlimit"], 32);
    assert_eq!(t[0]["capacity_sessions"], 4096 / 32);
    let (_, _, body) = curl(&url, &[]);
    let m = lint_prometheus(&body);
    assert_eq!(m["appliance_accumulation_capacity_sessions"], 128.0);

    let st = app.stop();
    assert!(st.success, "exit status; stderr:\n{}", st.stderr.join("\n"));
    assert_eq!(st.mbufs_not_returned(), 0, "mbuf leak");
    let (status, _, _) = curl(&url, &["--max-time", "2"]);
    assert_eq!(status, 0, "metrics still served after stop");
}

#[test]
fn pdump_needs_multiprocess_eal_arguments() {
    let dir = scratch("toolbox-pdump-refused");
    let cfg = format!(
        "[eal]\nargs = {:?}\n[diag]\npdump = true\n",
        eal_base(&file_prefix(), "0")
    );
    let path = dir.join("appliance.toml");
    std::fs::write(&path, cfg).unwrap();
    let out = Command::new(bin())
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("diag.pdump") && err.contains("--no-huge"),
        "{err}"
    );
}

/// A background `dpdk-dumpcap`, interrupted when dropped.
struct Dumpcap {
    child: std::process::Child,
    out: std::path::PathBuf,
}

impl Dumpcap {
    fn start(prefix: &str, iface: &str, file: &Path, log: &Path) -> Dumpcap {
        let f = std::fs::File::create(log).unwrap();
        let child = Command::new("dpdk-dumpcap")
            .arg(format!("--file-prefix={prefix}"))
            // The capture filter runs in the appliance's workers (BPF), as an operator uses it.
            .args(["-i", iface, "-f", "tcp port 443", "-c", "1000", "-w"])
            .arg(file)
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .expect("dpdk-dumpcap (package dpdk)");
        let d = Dumpcap {
            child,
            out: log.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        // "Packets captured:" goes to stderr (unbuffered) once the capture runs.
        while !d.log().contains("Packets captured:") {
            assert!(
                Instant::now() < deadline,
                "dpdk-dumpcap did not start:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Ctrl-C, as an operator stops it; waits for the file to be complete.
    fn stop(mut self) -> String {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "dpdk-dumpcap ignored SIGINT");
            std::thread::sleep(Duration::from_millis(100));
        }
        self.log()
    }
}

impl Drop for Dumpcap {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn dumpcap_captures_a_tls_handshake_through_the_appliance() {
    let dir = scratch("toolbox-dumpcap");
    // Order matters for cleanup: dropped last, after the appliance and the testbed.
    let huge = Hugepages::setup(512);
    let _tb = Testbed::up("");
    let _srv = tls_server(&dir);
    let prefix = file_prefix();
    // Multi-process EAL: hugepages (our private mount) and shared config, no --no-shconf.
    let eal: Vec<String> = [
        format!("--file-prefix={prefix}"),
        format!("--huge-dir={}", huge.dir.display()),
        "-l".into(),
        "0".into(),
        "--no-pci".into(),
        "--vdev=net_af_packet0,iface=acp-c,qpairs=1".into(),
        "--vdev=net_af_packet1,iface=acp-s,qpairs=1".into(),
        "--log-level=lib.eal:error".into(),
    ]
    .into();
    let cfg = format!(
        "[eal]\nargs = {eal:?}\n[ports]\nrx_desc = 512\ntx_desc = 512\n[workers]\ncores = [1]\n\
         [mempool]\nmbufs = 8191\n[accumulation]\npool_packets = 1024\n\
         [control]\nstats_interval_secs = 1\n[diag]\npdump = true\n"
    );
    let app = Appliance::start(&dir, &cfg);
    assert!(app
        .stdout
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with("pdump: capture server running")));

    let cap = dir.join("client-side.pcapng");
    let dc = Dumpcap::start(&prefix, "net_af_packet0", &cap, &dir.join("dumpcap.log"));
    // A ClientHello of about 3 KB: three segments, accumulated and released by the appliance.
    assert!(
        big_handshake("dumpcap.test", 3000),
        "TLS handshake through the appliance"
    );
    std::thread::sleep(Duration::from_millis(500));
    let log = dc.stop();
    assert!(
        log.contains("Packets received/dropped on interface 'net_af_packet0'"),
        "{log}"
    );

    let tshark = |filter: &str, fields: &[&str]| -> Vec<String> {
        let mut c = Command::new("tshark");
        c.arg("-r").arg(&cap).args(["-Y", filter, "-T", "fields"]);
        for f in fields {
            c.args(["-e", f]);
        }
        let o = c.output().expect("tshark (package tshark)");
        assert!(
            o.status.success(),
            "tshark: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(String::from)
            .collect()
    };
    let hellos = tshark(
        "tls.handshake.type == 1",
        &["tls.handshake.extensions_server_name"],
    );
    assert!(
        hellos.iter().any(|l| l.trim() == "dumpcap.test"),
        "no ClientHello for dumpcap.test in the capture: {hellos:?}\n{log}"
    );
    // Both directions of the client-side port: the client's SYN (RX) and the server's
    // SYN-ACK the appliance sent out of it (TX).
    assert!(!tshark("tcp.flags.syn == 1 && tcp.flags.ack == 0", &["tcp.srcport"]).is_empty());
    assert!(!tshark("tcp.flags.syn == 1 && tcp.flags.ack == 1", &["tcp.srcport"]).is_empty());
    assert!(!tshark("tls.handshake.type == 2", &["tcp.srcport"]).is_empty());
    // The filter held back everything else (the namespaces' IPv6 chatter, for one).
    assert_eq!(
        tshark("!(tcp.port == 443)", &["frame.number"]),
        Vec::<String>::new()
    );

    let st = app.stop();
    assert!(st.success, "exit status; stderr:\n{}", st.stderr.join("\n"));
    assert_eq!(st.mbufs_not_returned(), 0, "mbuf leak");
}
