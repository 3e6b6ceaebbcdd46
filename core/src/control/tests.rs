//! Socket tests: a [`Server`] with a mock [`Backend`] on a socket in the temp directory,
//! served from a thread, driven by real client connections.

use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::request::Request;
use super::server::{Backend, Server, ServerConfig};

/// Records every request it executes and answers predictably.
#[derive(Default)]
struct Mock {
    seen: Mutex<Vec<String>>,
}

impl Backend for Mock {
    fn handle(&self, req: Request) -> Result<Value, String> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(req.to_line());
        match req {
            Request::ShowSessions { limit, .. } => {
                let sessions: Vec<Value> = (0..limit)
                    .map(|i| json!({"id": i, "sni": format!("host-{i}.example"), "pad": "p".repeat(100)}))
                    .collect();
                Ok(json!({"count": limit, "sessions": sessions}))
            }
            Request::WhatIfPacketLimit(64) => Err("mock refuses 64".to_string()),
            Request::ShowMetrics => Ok(json!(42)),
            other => Ok(json!({"request": other.to_line(), "name": other.name()})),
        }
    }
}

/// A unique directory under the temp dir, mode 0755, removed on drop.
struct TestDir(PathBuf);

impl TestDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "appliance-ctl-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        TestDir(p)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A server running on its own thread until dropped.
struct Harness {
    server: Arc<Server>,
    mock: Arc<Mock>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    path: PathBuf,
    dir: TestDir,
}

impl Harness {
    fn start(tag: &str, tweak: impl FnOnce(&mut ServerConfig)) -> Harness {
        let dir = TestDir::new(tag);
        let path = dir.0.join("control.sock");
        let mut cfg = ServerConfig::new(&path);
        tweak(&mut cfg);
        let server = Arc::new(Server::bind(cfg).unwrap());
        let mock = Arc::new(Mock::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (server, mock, stop) = (server.clone(), mock.clone(), stop.clone());
            thread::spawn(move || server.serve(&*mock, &stop).unwrap())
        };
        Harness {
            server,
            mock,
            stop,
            thread: Some(thread),
            path,
            dir,
        }
    }

    fn client(&self) -> Client {
        Client::connect(&self.path)
    }

    fn seen(&self) -> Vec<String> {
        self.mock.seen.lock().unwrap().clone()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    fn connect(path: &Path) -> Client {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            writer: s.try_clone().unwrap(),
            reader: BufReader::new(s),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// One raw response line (without the newline); empty at end of stream.
    fn line(&mut self) -> String {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("read failed: {e}"),
        }
        let s = String::from_utf8(buf).expect("responses are UTF-8");
        s.strip_suffix('\n').unwrap_or(&s).to_string()
    }

    fn response(&mut self) -> Value {
        let l = self.line();
        assert!(!l.is_empty(), "connection closed without a response");
        assert!(!l.contains('\n'));
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON: {e}: {l}"))
    }

    fn ask(&mut self, req: &str) -> Value {
        self.send(format!("{req}\n").as_bytes());
        self.response()
    }

    /// True if the server closed the connection (EOF or reset) within the read timeout.
    fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.reader.read(&mut b) {
            Ok(0) => true,
            Err(e) => e.kind() == ErrorKind::ConnectionReset,
            Ok(_) => false,
        }
    }
}

fn error_of(v: &Value) -> &str {
    assert_eq!(v["ok"], json!(false), "{v}");
    v["error"].as_str().unwrap_or_default()
}

#[test]
fn every_command_over_the_socket() {
    let h = Harness::start("all", |_| {});
    let mut c = h.client();
    let cases = [
        ("show accumulation", "show accumulation"),
        ("show counters", "show counters"),
        ("show mss", "show mss"),
        ("show ports", "show ports"),
        ("show config", "show config"),
        ("set packetlimit 24", "set packetlimit 24"),
        (
            "debug dataplane set ssl-decrypt accumulate-client-hello packetlimit 12",
            "set packetlimit 12",
        ),
        ("set max-bytes 32768", "set max-bytes 32768"),
        ("set on-limit release", "set on-limit release"),
        ("set on-capacity bypass", "set on-capacity bypass"),
        ("set mss insert-missing 1460", "set mss insert-missing 1460"),
        ("set mss insert-missing off", "set mss insert-missing off"),
        ("set mss clamp 1400", "set mss clamp 1400"),
        ("set mss clamp auto", "set mss clamp auto"),
        ("set mss clamp off", "set mss clamp off"),
        ("set log-level debug", "set log-level debug"),
        (
            "advise packetlimit",
            "advise packetlimit --target-percentile 99.9",
        ),
        (
            "advise packetlimit --target-percentile 95",
            "advise packetlimit --target-percentile 95",
        ),
        ("what-if packetlimit 48", "what-if packetlimit 48"),
    ];
    for (line, canonical) in cases {
        let v = c.ask(line);
        assert_eq!(v["ok"], json!(true), "{line}: {v}");
        assert_eq!(v["request"], json!(canonical), "{line}: {v}");
    }
    let v = c.ask("show sessions --sni host-1.example --limit 3");
    assert_eq!(v["count"], json!(3));
    assert_eq!(v["sessions"].as_array().map(Vec::len), Some(3));
    // `show metrics`: the mock returns a bare number, wrapped as `result`.
    assert_eq!(c.ask("show metrics"), json!({"ok": true, "result": 42}));
    assert_eq!(h.seen().len(), cases.len() + 2);
}

#[test]
fn response_framing() {
    let h = Harness::start("framing", |_| {});
    let mut c = h.client();
    // Five pipelined requests in one write, CRLF and LF mixed: five lines, in order.
    c.send(b"show counters\r\nwhat-if packetlimit 64\nshow metrics\r\nbogus\nshow mss\n");
    let lines: Vec<String> = (0..5).map(|_| c.line()).collect();
    for l in &lines {
        assert!(l.starts_with("{\"ok\":"), "ok comes first: {l}");
    }
    let v: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v[0]["request"], json!("show counters"));
    assert_eq!(
        v[1],
        json!({"ok": false, "error": "mock refuses 64"}),
        "backend errors"
    );
    assert_eq!(v[2], json!({"ok": true, "result": 42}));
    assert!(error_of(&v[3]).starts_with("unknown command \"bogus\""));
    assert_eq!(v[4]["request"], json!("show mss"));
    // An empty line is answered too (one response per line).
    assert!(error_of(&c.ask("")).contains("empty request"));
}

#[test]
fn bad_input_gets_clear_errors_and_the_connection_survives() {
    let h = Harness::start("bad", |_| {});
    let mut c = h.client();
    let cases = [
        (
            "frobnicate now",
            "unknown command \"frobnicate\"; commands: show accumulation",
        ),
        ("set packetlimit", "missing argument"),
        (
            "set packetlimit many",
            "packetlimit must be a number between 1 and 64, got \"many\"",
        ),
        (
            "set packetlimit 65",
            "packetlimit 65 is out of range: must be between 1 and 64",
        ),
        ("set packetlimit 0", "out of range"),
        ("set max-bytes 100", "out of range"),
        ("set mss clamp 100000", "out of range"),
        ("show sessions --limit 20000", "out of range"),
        ("advise packetlimit --target-percentile 101", "out of range"),
        ("set on-limit maybe", "on-limit must be reset or release"),
    ];
    for (line, want) in cases {
        let v = c.ask(line);
        assert!(error_of(&v).contains(want), "{line}: {v}");
    }
    assert_eq!(c.ask("show counters")["ok"], json!(true));
    assert!(
        h.seen().iter().all(|r| r == "show counters"),
        "nothing bad executed"
    );
}

#[test]
fn eight_kib_line_is_refused_and_closed() {
    let h = Harness::start("long", |_| {});
    let mut c = h.client();
    let mut line = vec![b'a'; 8192];
    line.push(b'\n');
    c.send(&line);
    let v = c.response();
    assert_eq!(error_of(&v), "request too long (max 4096 bytes)");
    assert!(c.closed());

    // The same without a newline: refused as soon as 4 KiB are exceeded.
    let mut c = h.client();
    c.send(&[b'x'; 5000]);
    assert_eq!(error_of(&c.response()), "request too long (max 4096 bytes)");
    assert!(c.closed());

    // Exactly 4096 bytes (plus CRLF) is still a request.
    let mut c = h.client();
    let mut line = b"show counters".to_vec();
    line.resize(4096, b' ');
    line.extend_from_slice(b"\r\n");
    c.send(&line);
    assert_eq!(c.response()["request"], json!("show counters"));
    assert_eq!(h.server.stats().too_long, 2);
}

#[test]
fn binary_garbage_is_an_error_and_the_connection_stays_usable() {
    let h = Harness::start("garbage", |_| {});
    let mut c = h.client();
    c.send(b"\xff\xfe\x00\x01\x80garbage\n");
    assert_eq!(error_of(&c.response()), "request is not valid UTF-8");
    c.send(b"\x00\x1b[2J\x7f\n");
    let v = c.response();
    assert!(error_of(&v).contains("unknown command"), "{v}");
    assert!(
        error_of(&v).contains("\\u{1b}"),
        "echoed control chars are escaped: {v}"
    );
    assert_eq!(c.ask("show ports")["request"], json!("show ports"));
}

#[test]
fn half_line_then_disconnect_is_not_executed() {
    let h = Harness::start("half", |_| {});
    {
        let mut c = h.client();
        // A cut-off `set packetlimit 24` must not become `set packetlimit 2`.
        c.send(b"set packetlimit 2");
    }
    {
        // Disconnect while a response is being written.
        let mut c = h.client();
        c.send(b"show sessions --limit 10000\n");
        let mut buf = [0u8; 1000];
        c.reader.read_exact(&mut buf).unwrap();
    }
    let mut c = h.client();
    assert_eq!(c.ask("show counters")["ok"], json!(true));
    let seen = h.seen();
    assert!(
        !seen.iter().any(|r| r.starts_with("set packetlimit")),
        "{seen:?}"
    );
}

#[test]
fn fifty_clients_at_once_while_one_holds_a_half_line() {
    let h = Harness::start("fifty", |_| {});
    let mut holder = h.client();
    holder.send(b"show coun");
    let barrier = Arc::new(Barrier::new(50));
    let threads: Vec<_> = (1..=50u32)
        .map(|i| {
            let path = h.path.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                let mut c = Client::connect(&path);
                barrier.wait();
                let n = (i % 63) + 1;
                let v = c.ask(&format!("what-if packetlimit {n}"));
                assert_eq!(v["ok"], json!(true), "{v}");
                assert_eq!(v["request"], json!(format!("what-if packetlimit {n}")));
                let v = c.ask(&format!("set max-bytes {}", 1000 + i));
                assert_eq!(v["request"], json!(format!("set max-bytes {}", 1000 + i)));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // The holder's partial line survived all of that.
    holder.send(b"ters\n");
    assert_eq!(holder.response()["request"], json!("show counters"));
    assert_eq!(h.seen().len(), 101);
    assert_eq!(h.server.stats().accepted, 51);
}

#[test]
fn more_than_max_clients_are_refused() {
    let h = Harness::start("busy", |c| c.max_clients = 3);
    let mut kept: Vec<Client> = (0..3).map(|_| h.client()).collect();
    for c in &mut kept {
        assert_eq!(c.ask("show mss")["ok"], json!(true));
    }
    let mut extra = h.client();
    let v = extra.response();
    assert!(error_of(&v).contains("too many clients (max 3)"), "{v}");
    assert!(extra.closed());
    drop(kept.pop());
    // A slot is free again once the server notices the disconnect.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = h.client();
        c.send(b"show mss\n");
        let v = c.response();
        if v["ok"] == json!(true) {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed: {v}");
        thread::sleep(Duration::from_millis(20));
    }
    assert!(h.server.stats().rejected_busy >= 1);
}

#[test]
fn rate_limit_refuses_without_executing() {
    let h = Harness::start("rate", |c| c.max_requests_per_sec_per_client = 5);
    let mut c = h.client();
    c.send("show counters\n".repeat(20).as_bytes());
    let replies: Vec<Value> = (0..20).map(|_| c.response()).collect();
    let ok = replies.iter().filter(|v| v["ok"] == json!(true)).count();
    let limited = replies
        .iter()
        .filter(|v| v["error"] == json!("rate limit exceeded"))
        .count();
    assert!((5..=6).contains(&ok), "{ok} executed");
    assert_eq!(ok + limited, 20);
    assert_eq!(h.seen().len(), ok, "refused requests are not executed");
    // Other clients have their own budget.
    assert_eq!(h.client().ask("show counters")["ok"], json!(true));
    // And the bucket refills.
    thread::sleep(Duration::from_millis(1100));
    assert_eq!(c.ask("show counters")["ok"], json!(true));
    assert!(h.server.stats().rate_limited >= 14);
}

#[test]
fn large_responses_do_not_block_other_clients() {
    let h = Harness::start("large", |_| {});
    let mut big = h.client();
    big.send(b"show sessions --limit 10000\n");
    // The big client reads nothing yet; another is still served promptly.
    thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    assert_eq!(h.client().ask("show ports")["ok"], json!(true));
    assert!(t.elapsed() < Duration::from_secs(2));
    let line = big.line();
    assert!(line.len() > 1_000_000, "{}", line.len());
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["sessions"].as_array().map(Vec::len), Some(10000));
    assert_eq!(v["sessions"][9999]["sni"], json!("host-9999.example"));
}

#[test]
fn oversized_response_is_replaced_by_an_error() {
    let h = Harness::start("oversize", |c| c.max_output_bytes = 100 << 10);
    let mut c = h.client();
    let v = c.ask("show sessions --limit 10000");
    assert!(error_of(&v).starts_with("response too large"), "{v}");
    assert_eq!(c.ask("show sessions --limit 10")["count"], json!(10));
}

#[test]
fn idle_clients_time_out() {
    let h = Harness::start("idle", |c| c.idle_timeout = Duration::from_millis(300));
    let mut half = h.client();
    half.send(b"show acc");
    // A client that does not read a large response is dropped too.
    let mut stalled = h.client();
    stalled.send(b"show sessions --limit 10000\n");
    thread::sleep(Duration::from_millis(800));
    let v = half.response();
    assert!(error_of(&v).starts_with("idle timeout"), "{v}");
    assert!(half.closed());
    // The stalled client gets a truncated stream, then end of stream.
    let mut rest = Vec::new();
    let _ = stalled.reader.read_to_end(&mut rest);
    assert!(!rest.ends_with(b"\n"), "the response was cut off");
    assert!(h.server.stats().timed_out >= 2);
    assert_eq!(h.server.stats().clients, 0);
    assert_eq!(h.client().ask("show mss")["ok"], json!(true));
}

#[test]
fn socket_permissions_and_group() {
    let h = Harness::start("perm", |_| {});
    let meta = fs::symlink_metadata(&h.path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    drop(h);

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped the group part: chown to another group needs root");
        return;
    }
    let h = Harness::start("group", |c| c.group = Some(65534));
    let meta = fs::symlink_metadata(&h.path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), 65534);
}

#[test]
fn stale_live_and_foreign_socket_paths() {
    let dir = TestDir::new("stale");
    let path = dir.0.join("sub/dir/control.sock");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    // A stale socket (its listener is gone) is replaced.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let server = Server::bind(ServerConfig::new(&path)).unwrap();
    // A live one is not.
    let e = Server::bind(ServerConfig::new(&path)).err().unwrap();
    assert!(
        e.to_string().contains("in use by another running process"),
        "{e}"
    );
    assert!(path.exists(), "the live socket was left alone");
    // Dropping the server removes its socket file.
    drop(server);
    assert!(!path.exists());
    // A regular file is never replaced.
    fs::write(&path, "not a socket").unwrap();
    let e = Server::bind(ServerConfig::new(&path)).err().unwrap();
    assert!(e.to_string().contains("is not a socket"), "{e}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "not a socket");
    // Missing parent directories are created.
    let deep = dir.0.join("new/run/control.sock");
    let server = Server::bind(ServerConfig::new(&deep)).unwrap();
    assert!(deep.exists());
    drop(server);
}

#[test]
fn poll_once_integrates_with_a_caller_loop() {
    let dir = TestDir::new("pollonce");
    let path = dir.0.join("c.sock");
    let server = Server::bind(ServerConfig::new(&path)).unwrap();
    let mock = Mock::default();
    let client = {
        let path = path.clone();
        thread::spawn(move || {
            let mut c = Client::connect(&path);
            (0..3)
                .map(|i| c.ask(&format!("set packetlimit {}", i + 1)))
                .collect::<Vec<_>>()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut executed = 0;
    while executed < 3 && Instant::now() < deadline {
        // The caller's own periodic work would go here.
        executed += server.poll_once(&mock, 20).unwrap();
    }
    // Let the last response go out.
    for _ in 0..5 {
        server.poll_once(&mock, 10).unwrap();
    }
    let replies = client.join().unwrap();
    assert_eq!(executed, 3);
    assert_eq!(replies[2]["request"], json!("set packetlimit 3"));
    // A closure is a Backend too.
    let echo = |r: Request| Ok::<Value, String>(json!({"name": r.name()}));
    let t = thread::spawn(move || Client::connect(&path).ask("show mss"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !t.is_finished() && Instant::now() < deadline {
        server.poll_once(&echo, 10).unwrap();
    }
    assert_eq!(t.join().unwrap()["name"], json!("show mss"));
}

// ---- peer credentials, checked from another uid --------------------------------------

/// Environment variable that turns [`uid_child_client`] into a client of this socket.
const CHILD_SOCKET_ENV: &str = "APPLIANCE_CTL_TEST_CHILD_SOCKET";

/// Runs only in a child process started by [`run_as_nobody`]: connects, asks once,
/// reports the response line.
#[test]
fn uid_child_client() {
    let Some(path) = std::env::var_os(CHILD_SOCKET_ENV) else {
        return;
    };
    match UnixStream::connect(&path) {
        Ok(s) => {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = (&s).write_all(b"show counters\n");
            let mut line = String::new();
            let _ = BufReader::new(&s).read_line(&mut line);
            println!("CHILD-RESPONSE: {}", line.trim_end());
        }
        Err(e) => println!("CHILD-CONNECT-ERROR: {e}"),
    }
}

/// This test binary, somewhere uid 65534 can execute it.
fn exe_for_nobody(dir: &Path) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let reachable = exe
        .ancestors()
        .skip(1)
        .all(|d| fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
        && fs::metadata(&exe).is_ok_and(|m| m.permissions().mode() & 0o005 == 0o005);
    if reachable {
        return exe;
    }
    let copy = dir.join("test-exe");
    fs::copy(&exe, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// Run [`uid_child_client`] as uid/gid 65534 against `socket`; returns its report line.
fn run_as_nobody(dir: &Path, socket: &Path) -> String {
    // Make sure file permissions let the child reach the socket, so that whatever
    // refuses it is the peer-credential check.
    fs::set_permissions(socket, fs::Permissions::from_mode(0o666)).unwrap();
    let name = format!(
        "{}::uid_child_client",
        module_path!().split_once("::").map_or("", |(_, rest)| rest)
    );
    let out = Command::new(exe_for_nobody(dir))
        .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_SOCKET_ENV, socket)
        .uid(65534)
        .gid(65534)
        .current_dir("/")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.find("CHILD-").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("child did not report: {out:?}"))
        .to_string()
}

#[test]
fn peer_credentials_are_checked() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: switching to uid 65534 needs root");
        return;
    }
    let h = Harness::start("denied", |_| {});
    let report = run_as_nobody(&h.dir.0, &h.path);
    assert_eq!(
        report,
        "CHILD-RESPONSE: {\"ok\":false,\"error\":\"permission denied: uid 65534 is not allowed\"}"
    );
    assert_eq!(h.server.stats().denied, 1);
    assert!(h.seen().is_empty());
    drop(h);

    let h = Harness::start("allowed-uid", |c| c.allowed_uids = vec![65534]);
    let report = run_as_nobody(&h.dir.0, &h.path);
    assert!(
        report.starts_with("CHILD-RESPONSE: {\"ok\":true,"),
        "{report}"
    );
    drop(h);

    let h = Harness::start("allowed-gid", |c| c.allowed_gids = vec![65534]);
    let report = run_as_nobody(&h.dir.0, &h.path);
    assert!(
        report.starts_with("CHILD-RESPONSE: {\"ok\":true,"),
        "{report}"
    );
    drop(h);

    // The socket's own group is allowed as well.
    let h = Harness::start("group-gid", |c| c.group = Some(65534));
    let report = run_as_nobody(&h.dir.0, &h.path);
    assert!(
        report.starts_with("CHILD-RESPONSE: {\"ok\":true,"),
        "{report}"
    );
}
