//! Helpers for end-to-end tests: run the `appliance` binary as a child process (one EAL per
//! process), bring the testbed namespaces up and down, run commands inside them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_appliance"))
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("acp-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique EAL file prefix for one appliance process.
pub fn file_prefix() -> String {
    format!(
        "acpt{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// EAL arguments common to all tests: no hugepages, no shared files, quiet.
pub fn eal_base(prefix: &str, cores: &str) -> Vec<String> {
    [
        "--no-huge",
        "-m",
        "512",
        "--no-shconf",
        &format!("--file-prefix={prefix}"),
        "-l",
        cores,
        "--no-pci",
        "--log-level=lib.eal:error",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A running appliance.
pub struct Appliance {
    child: Option<Child>,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
    pub config: PathBuf,
    prefix: String,
}

/// What a stopped appliance said.
pub struct Stopped {
    pub success: bool,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Stopped {
    /// The `final total:` counters as name -> value.
    pub fn total(&self, name: &str) -> u64 {
        counter_in(&self.stdout, "final total:", name)
    }
    pub fn worker(&self, w: usize, name: &str) -> u64 {
        counter_in(&self.stdout, &format!("final worker {w}:"), name)
    }
    pub fn line(&self, prefix: &str) -> Option<&String> {
        self.stdout.iter().find(|l| l.starts_with(prefix))
    }
    /// Mbufs not back in the pool at shutdown (leak check).
    pub fn mbufs_not_returned(&self) -> u64 {
        let l = self.line("final mbufs:").expect("no final mbufs line");
        l.split_whitespace()
            .skip_while(|w| *w != "not_returned")
            .nth(1)
            .and_then(|v| v.parse().ok())
            .expect("not_returned value")
    }
}

/// Value of `name=` in the last line starting with `prefix`.
pub fn counter_in(lines: &[String], prefix: &str, name: &str) -> u64 {
    let key = format!("{name}=");
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(&key).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

impl Appliance {
    /// Write `config` to a file in `dir` and start `appliance run` on it; wait for `ready`.
    pub fn start(dir: &Path, config: &str) -> Appliance {
        let path = dir.join("appliance.toml");
        std::fs::write(&path, config).unwrap();
        Self::start_file(&path)
    }

    pub fn start_file(path: &Path) -> Appliance {
        let prefix = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| {
                t.split("--file-prefix=")
                    .nth(1)
                    .map(|r| r.split('"').next().unwrap_or("").to_string())
            })
            .unwrap_or_default();
        let mut child = Command::new(bin())
            .args(["run", "--config"])
            .arg(path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning appliance");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (o, e) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let so = stdout.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(o).lines().map_while(Result::ok) {
                so.lock().unwrap().push(l);
            }
        });
        let se = stderr.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(e).lines().map_while(Result::ok) {
                se.lock().unwrap().push(l);
            }
        });
        let mut a = Appliance {
            child: Some(child),
            stdout,
            stderr,
            config: path.to_path_buf(),
            prefix,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if a.stdout.lock().unwrap().iter().any(|l| l.contains("ready")) {
                break;
            }
            if let Some(st) = a.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "appliance exited ({st}) before ready:\n{}\n{}",
                    a.stdout.lock().unwrap().join("\n"),
                    a.stderr.lock().unwrap().join("\n")
                );
            }
            assert!(Instant::now() < deadline, "appliance not ready in 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        a
    }

    /// Wait until some stdout line satisfies `f` (e.g. a stats line), up to `secs`.
    pub fn wait_for(&self, secs: u64, f: impl Fn(&[String]) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if f(&self.stdout.lock().unwrap()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, wait (30 s at most) and collect the output.
    pub fn stop(mut self) -> Stopped {
        let mut child = self.child.take().unwrap();
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("appliance did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(100)); // let the reader threads finish
        let stdout = self.stdout.lock().unwrap().clone();
        let stderr = self.stderr.lock().unwrap().clone();
        self.cleanup();
        Stopped {
            success: status.success(),
            stdout,
            stderr,
        }
    }

    fn cleanup(&self) {
        if !self.prefix.is_empty() {
            let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{}", self.prefix));
        }
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            self.cleanup();
        }
    }
}

/// Run a command, returning its output (never panics on failure: callers assert).
pub fn sh(cmd: &str) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("bash")
}

/// Run a command inside a namespace.
pub fn netns(ns: &str, cmd: &str) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns, "bash", "-c", cmd])
        .output()
        .expect("ip netns exec")
}

/// Start a background command inside a namespace; killed when the guard drops.
pub struct Bg(Child);
impl Drop for Bg {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group we created for the child.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGTERM) };
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
pub fn netns_bg(ns: &str, cmd: &str) -> Bg {
    use std::os::unix::process::CommandExt;
    let c = Command::new("ip")
        .args(["netns", "exec", ns, "bash", "-c", cmd])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn in netns");
    Bg(c)
}

static TESTBED: Mutex<()> = Mutex::new(());

/// The testbed, up for the life of the guard (tests that use it run one at a time).
pub struct Testbed {
    _lock: MutexGuard<'static, ()>,
}

impl Testbed {
    pub fn up(args: &str) -> Testbed {
        let lock = TESTBED.lock().unwrap_or_else(|p| p.into_inner());
        let out = sh(&format!("{}/scripts/testbed up {args}", repo().display()));
        assert!(
            out.status.success(),
            "testbed up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Testbed { _lock: lock }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let _ = sh(&format!("{}/scripts/testbed down", repo().display()));
    }
}

/// The testbed config with this test's EAL prefix and extra TOML appended.
pub fn testbed_config(queues: u16, extra: &str) -> String {
    let prefix = file_prefix();
    let cores = if queues == 1 {
        "[1]".to_string()
    } else {
        "[0, 1]".to_string()
    };
    let mut eal = eal_base(&prefix, "0");
    eal.push(format!("--vdev=net_af_packet0,iface=acp-c,qpairs={queues}"));
    eal.push(format!("--vdev=net_af_packet1,iface=acp-s,qpairs={queues}"));
    format!(
        "[eal]\nargs = {eal:?}\n\n[ports]\nrx_desc = 512\ntx_desc = 512\n\n[workers]\ncores = {cores}\nqueues = {queues}\n\n[control]\nstats_interval_secs = 1\n\n{extra}\n"
    )
}

/// A self-signed certificate for openssl s_server, made once per test process.
pub fn cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=server.test",
            "-keyout",
        ])
        .arg(&k)
        .arg("-out")
        .arg(&c)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (c, k)
}

/// Wait until a TCP port is listening inside a namespace.
pub fn wait_listen(ns: &str, port: u16) {
    for _ in 0..100 {
        let o = netns(ns, &format!("ss -Hltn 'sport = :{port}' | grep -q LISTEN"));
        if o.status.success() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listening on {ns}:{port}");
}

/// The test peer script (`tests/data/peer.py`).
pub fn peer() -> String {
    repo()
        .join("appliance/tests/data/peer.py")
        .display()
        .to_string()
}

/// The traffic log's records.
pub fn traffic_log(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line {l:?}: {e}")))
        .collect()
}

/// Waits (up to `secs`) until the traffic log's records satisfy `f`; true if they did. Sessions
/// are logged when they end (a closed one after `time_wait`), so a test waits for what it
/// expects instead of sleeping for a fixed time. A last line still being written is skipped.
pub fn wait_for_records(path: &Path, secs: u64, f: impl Fn(&[serde_json::Value]) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let recs: Vec<serde_json::Value> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if f(&recs) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Client ports printed by `peer.py client`.
pub fn ports_of(out: &Output) -> Vec<u64> {
    assert!(
        out.status.success(),
        "peer client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["port"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// `appliancectl`, a binary of its own crate, built beside `appliance` in the same target
/// directory (`scripts/test` builds every binary first). When it is missing (a bare
/// `cargo test -p appliance`), it is built once here.
pub fn ctl_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let app = PathBuf::from(env!("CARGO_BIN_EXE_appliance"));
            let ctl = app.with_file_name("appliancectl");
            if !ctl.exists() {
                let release = app.parent().is_some_and(|d| d.ends_with("release"));
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let mut cmd = Command::new(cargo);
                cmd.args(["build", "-p", "appliancectl"]);
                if release {
                    cmd.arg("--release");
                }
                let st = cmd.status().expect("cargo build -p appliancectl");
                assert!(
                    st.success() && ctl.exists(),
                    "appliancectl not built at {ctl:?}"
                );
            }
            ctl
        })
        .clone()
}

/// Run `appliancectl --socket SOCK --json ARGS`, returning (exit code, parsed JSON).
pub fn ctl(sock: &Path, args: &str) -> (i32, serde_json::Value) {
    let o = Command::new(ctl_bin())
        .arg("--socket")
        .arg(sock)
        .arg("--json")
        .args(args.split_whitespace())
        .output()
        .unwrap();
    let v = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim())
        .unwrap_or(serde_json::Value::Null);
    (o.status.code().unwrap_or(-1), v)
}

/// The total of counter `name` from `show counters` on the control socket `sock`.
pub fn counter(sock: &Path, name: &str) -> u64 {
    let (_, v) = ctl(sock, "show counters");
    v["total"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name}: {v}"))
}

/// The testbed without server MSS options and `openssl s_server` on 443 in it: a scratch
/// directory `name` with the paths of its control socket and traffic log.
pub struct TlsBed {
    pub dir: PathBuf,
    pub sock: PathBuf,
    pub log: PathBuf,
    _srv: Bg,
    _tb: Testbed,
}

impl TlsBed {
    pub fn up(name: &str) -> TlsBed {
        let dir = scratch(name);
        let _tb = Testbed::up("--strip-mss");
        let _srv = tls_server(&dir);
        TlsBed {
            sock: dir.join("ctl.sock"),
            log: dir.join("traffic.jsonl"),
            dir,
            _srv,
            _tb,
        }
    }

    /// The appliance on it: the testbed config with the socket, the log and `extra`.
    pub fn start(&self, extra: &str) -> Appliance {
        Appliance::start(
            &self.dir,
            &testbed_config_full(1, &self.sock, &self.log, extra),
        )
    }
}

/// The testbed config with a control socket at `sock` and a traffic log at `log`.
pub fn testbed_config_full(queues: u16, sock: &Path, log: &Path, extra: &str) -> String {
    testbed_config(queues, extra).replace(
        "[control]\n",
        &format!(
            "[log]\ntraffic = \"{}\"\n\n[control]\nsocket = \"{}\"\n",
            log.display(),
            sock.display()
        ),
    )
}

/// A TLS handshake from acp-client with a ClientHello of about `alpn_bytes` of ALPN list.
pub fn big_handshake(sni: &str, alpn_bytes: usize) -> bool {
    let n = alpn_bytes / 10;
    let alpn = (0..n)
        .map(|i| format!("proto-{i:03}"))
        .collect::<Vec<_>>()
        .join(",");
    let alpn = if n == 0 {
        String::new()
    } else {
        format!("-alpn {alpn}")
    };
    let o = netns(
        "acp-client",
        &format!(
            "echo Q | timeout 10 openssl s_client -connect 198.18.0.2:443 -servername {sni} {alpn} 2>&1"
        ),
    );
    String::from_utf8_lossy(&o.stdout).contains("Cipher is TLS_")
}

/// `openssl s_server` in acp-server on 443.
pub fn tls_server(dir: &Path) -> Bg {
    let (cert, key) = cert(dir);
    let bg = netns_bg(
        "acp-server",
        &format!(
            "openssl s_server -accept 443 -cert {} -key {} -quiet",
            cert.display(),
            key.display()
        ),
    );
    wait_listen("acp-server", 443);
    bg
}

/// 2 MiB hugepages for a multi-process (hugepage) run, reserved with `dpdk-hugepages.py` and
/// mounted on a private hugetlbfs directory (`--huge-dir`) for the life of the guard.
///
/// It takes only what is missing: pages already reserved and free are used as they are. On
/// drop it removes the files in its directory, unmounts it and puts the reservation back to
/// what it found (`dpdk-hugepages.py --clear` when that was nothing), so a test never leaves
/// hugepages behind.
pub struct Hugepages {
    pub dir: PathBuf,
    restore_pages: Option<u64>,
}

const HUGE_2M: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB";

fn huge_count(file: &str) -> u64 {
    std::fs::read_to_string(format!("{HUGE_2M}/{file}"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn hugepages_py(args: &str) {
    let out = sh(&format!("dpdk-hugepages.py {args}"));
    assert!(
        out.status.success(),
        "dpdk-hugepages.py {args}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Hugepages {
    /// At least `mb` MiB of free 2 MiB pages, and a private mount for them.
    pub fn setup(mb: u64) -> Hugepages {
        let need = mb.div_ceil(2);
        let (total, free) = (huge_count("nr_hugepages"), huge_count("free_hugepages"));
        let mut restore_pages = None;
        if free < need {
            // Free and defragment memory first: after big builds the page cache leaves too
            // few contiguous 2 MiB blocks, and the reservation falls short.
            sh("sync; echo 3 > /proc/sys/vm/drop_caches; echo 1 > /proc/sys/vm/compact_memory");
            let want = total + (need - free);
            // dpdk-hugepages.py fails when it gets fewer pages than asked but keeps those it
            // got: give them back before failing.
            let out = sh(&format!("dpdk-hugepages.py -p 2M --reserve {}M", want * 2));
            restore_pages = Some(total);
            let got = huge_count("nr_hugepages");
            if !out.status.success() && got >= want {
                Hugepages::restore(total);
                panic!(
                    "dpdk-hugepages.py --reserve: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            if got < want {
                Hugepages::restore(total);
                panic!("could reserve only {got} of {want} 2 MiB hugepages (memory fragmented?)");
            }
        }
        let dir = std::env::temp_dir().join(format!(
            "acp-huge-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let g = Hugepages { dir, restore_pages };
        hugepages_py(&format!("-p 2M -d {} --mount", g.dir.display()));
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        assert!(
            mounts
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(&*g.dir.to_string_lossy())),
            "hugetlbfs not mounted on {}",
            g.dir.display()
        );
        g
    }

    fn restore(pages: u64) {
        let gig =
            std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages")
                .map_or(0, |s| s.trim().parse::<u64>().unwrap_or(0));
        // `--clear` empties every page size: only when nothing else is reserved.
        if pages == 0 && gig == 0 {
            let _ = sh("dpdk-hugepages.py -p 2M --clear");
        } else {
            let _ = sh(&format!("dpdk-hugepages.py -p 2M --reserve {}M", pages * 2));
        }
    }
}

impl Drop for Hugepages {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let _ = sh(&format!(
            "dpdk-hugepages.py -d {} --unmount",
            self.dir.display()
        ));
        let _ = std::fs::remove_dir(&self.dir);
        if let Some(pages) = self.restore_pages {
            Hugepages::restore(pages);
        }
    }
}

/// The Debian interpreter, which has the modules `scripts/install-deps` installs
/// (`python3-scapy`): a `python3` earlier in PATH (pyenv, a venv) may not have them. The
/// tests' shell commands spell the same path.
pub const PYTHON: &str = "/usr/bin/python3";

/// Run a pcap generator script of `tests/data` writing `out`; returns the JSON summary it
/// prints on its last line.
pub fn generate_pcap(script: &str, out: &Path) -> serde_json::Value {
    let o = Command::new(PYTHON)
        .arg(repo().join("appliance/tests/data").join(script))
        .arg(out)
        .output()
        .expect(PYTHON);
    assert!(
        o.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).expect("JSON summary")
}
