//! `appliancectl`: the operator's client of the appliance's control socket.
//!
//! `appliancectl [--socket PATH] [--json] [--timeout SECS] COMMAND...` checks the command
//! locally, sends it as one request line, waits for the one-line JSON response and prints
//! it as tables (or raw with `--json`).
//!
//! Exit status: 0 the command succeeded; 1 the appliance answered `"ok": false` (the error
//! goes to stderr); 2 usage error (nothing was sent); 3 the appliance could not be reached
//! or did not answer properly.

mod render;

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use appliance_core::control::{
    parse_request, COMMANDS_HELP, DEFAULT_SOCKET, MAX_REQUEST, SOCKET_ENV,
};
use clap::{CommandFactory, Parser};
use render::{render_human, sanitize};
use serde_json::Value;

/// The command succeeded.
const EXIT_OK: u8 = 0;
/// The appliance refused the command (`"ok": false`).
const EXIT_REFUSED: u8 = 1;
/// Bad command line; nothing was sent.
const EXIT_USAGE: u8 = 2;
/// The appliance could not be reached or did not answer properly.
const EXIT_UNREACHABLE: u8 = 3;
/// Longest response line accepted (the server caps its responses at 4 MiB by default).
const MAX_RESPONSE: usize = 64 << 20;

fn after_help() -> String {
    format!(
        "{COMMANDS_HELP}

Options may also follow the command words (e.g. `show counters --json`).

Examples:
  appliancectl show accumulation
  appliancectl what-if packetlimit 24
  appliancectl set packetlimit 24
  appliancectl --json show sessions --sni example.com --limit 20

Socket: --socket PATH, else ${SOCKET_ENV}, else {DEFAULT_SOCKET}.
Exit status: 0 ok; 1 the appliance refused the command; 2 usage error;
3 the appliance could not be reached or did not answer."
    )
}

/// Control a running accumulation-proxy appliance through its control socket.
#[derive(Parser, Debug)]
#[command(
    name = "appliancectl",
    version,
    after_help = after_help(),
    arg_required_else_help = true
)]
struct Cli {
    /// Control socket [default: $APPLIANCE_SOCKET, else /run/appliance/control.sock]
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Print the raw JSON response line instead of tables
    #[arg(long)]
    json: bool,
    /// Seconds to wait for the connection and for the response
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_timeout)]
    timeout: Duration,
    /// The command and its arguments (see the list below)
    #[arg(
        value_name = "COMMAND",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<String>,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!(
            "expected a number of seconds greater than 0 (at most 86400), got {s:?}"
        )),
    }
}

/// Global options found among the command words.
#[derive(Debug, Default, PartialEq)]
struct Trailing {
    json: bool,
    help: bool,
    socket: Option<PathBuf>,
    timeout: Option<Duration>,
}

/// Separate `--json`, `--socket P`, `--timeout S` and `-h`/`--help` written after the
/// command words from the words themselves. Values of the commands' own options
/// (`--sni S`, ...) are never taken for global options.
fn split_trailing(words: &[String]) -> Result<(Vec<String>, Trailing), String> {
    let mut out = Vec::new();
    let mut t = Trailing::default();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let (name, inline) = match w.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (w.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        match name {
            "--json" if inline.is_none() => t.json = true,
            "-h" | "--help" if inline.is_none() => t.help = true,
            "--socket" => t.socket = Some(PathBuf::from(value("a PATH")?)),
            "--timeout" => t.timeout = Some(parse_timeout(&value("SECS")?)?),
            "--sni" | "--limit" | "--target-percentile" => {
                out.push(w.clone());
                if inline.is_none() {
                    if let Some(v) = it.next() {
                        out.push(v.clone());
                    }
                }
            }
            _ => out.push(w.clone()),
        }
    }
    Ok((out, t))
}

/// `--socket`, else the environment variable, else the built-in default.
fn socket_path(flag: Option<PathBuf>, env: Option<OsString>) -> PathBuf {
    flag.or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

fn main() -> ExitCode {
    // Help, version and usage errors exit here (0 or 2), with colours on a terminal.
    let cli = Cli::parse();
    let code = run(
        cli,
        std::env::var_os(SOCKET_ENV),
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    );
    ExitCode::from(code)
}

/// Everything after argument parsing; returns the exit status. Output errors (a closed
/// pipe) are ignored.
fn run(cli: Cli, env_socket: Option<OsString>, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let (words, trailing) = match split_trailing(&cli.command) {
        Ok(v) => v,
        Err(e) => return usage(err, &e),
    };
    if trailing.help {
        let _ = write!(out, "{}", Cli::command().render_help());
        return EXIT_OK;
    }
    let json = cli.json || trailing.json;
    let socket = socket_path(trailing.socket.or(cli.socket), env_socket);
    let timeout = trailing.timeout.unwrap_or(cli.timeout);

    // One line, single spaces: a newline inside an argument cannot smuggle in a second
    // request.
    let line = words
        .iter()
        .flat_map(|w| w.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ");
    if line.len() > MAX_REQUEST {
        return usage(err, &format!("command too long (max {MAX_REQUEST} bytes)"));
    }
    let req = match parse_request(&line) {
        Ok(r) => r,
        Err(e) => return usage(err, &e),
    };

    let response = match exchange(&socket, &line, timeout) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "appliancectl: {e}");
            return EXIT_UNREACHABLE;
        }
    };
    let value: Value = match serde_json::from_str(&response) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(
                err,
                "appliancectl: invalid response from {}: {e}",
                socket.display()
            );
            return EXIT_UNREACHABLE;
        }
    };
    let ok = value.get("ok") == Some(&Value::Bool(true));
    if json {
        let _ = writeln!(out, "{response}");
    } else if ok {
        let _ = write!(out, "{}", render_human(&req, &value));
    }
    if ok {
        return EXIT_OK;
    }
    let msg = value
        .get("error")
        .and_then(Value::as_str)
        .map_or_else(|| "the appliance refused the command".to_string(), sanitize);
    let _ = writeln!(err, "appliancectl: {msg}");
    EXIT_REFUSED
}

fn usage(err: &mut dyn Write, msg: &str) -> u8 {
    let _ = writeln!(
        err,
        "appliancectl: {msg}\nRun `appliancectl --help` for the list of commands."
    );
    EXIT_USAGE
}

/// Connect, send `line`, and return the response line (without its terminator).
fn exchange(socket: &Path, line: &str, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let mut stream = connect(socket, timeout)?;
    let remaining = |what: &str| {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                format!(
                    "timed out after {} s waiting for {what} from {}",
                    timeout.as_secs_f64(),
                    socket.display()
                )
            })
    };
    stream
        .set_write_timeout(Some(remaining("the request to be accepted")?))
        .map_err(|e| e.to_string())?;
    // If the write fails (the appliance refused us and closed), its reply may still be
    // waiting to be read; report the write error only if there is none.
    let write_error = stream
        .write_all(format!("{line}\n").as_bytes())
        .err()
        .map(|e| format!("cannot send the request to {}: {e}", socket.display()));

    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let wait = remaining("a response")?;
        stream
            .set_read_timeout(Some(wait))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(write_error.unwrap_or_else(|| {
                    if buf.is_empty() {
                        format!(
                            "{} closed the connection without answering",
                            socket.display()
                        )
                    } else {
                        format!("{} closed the connection in mid-response", socket.display())
                    }
                }))
            }
            Ok(n) => {
                let start = buf.len();
                buf.extend_from_slice(&chunk[..n]);
                if let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
                    buf.truncate(start + pos);
                    break;
                }
                if buf.len() > MAX_RESPONSE {
                    return Err(format!(
                        "response from {} exceeds {MAX_RESPONSE} bytes",
                        socket.display()
                    ));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                return Err(format!(
                    "timed out after {} s waiting for a response from {}",
                    timeout.as_secs_f64(),
                    socket.display()
                ))
            }
            Err(e) => {
                return Err(write_error.unwrap_or_else(|| {
                    format!("error reading the response from {}: {e}", socket.display())
                }))
            }
        }
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| format!("response from {} is not UTF-8", socket.display()))
}

/// `UnixStream::connect` with a timeout (a connect can block while the appliance's
/// listen backlog is full).
fn connect(socket: &Path, timeout: Duration) -> Result<UnixStream, String> {
    let (tx, rx) = mpsc::channel();
    let path = socket.to_path_buf();
    thread::spawn(move || {
        let _ = tx.send(UnixStream::connect(path));
    });
    let e = match rx.recv_timeout(timeout) {
        Ok(Ok(stream)) => return Ok(stream),
        Ok(Err(e)) => e,
        Err(_) => {
            return Err(format!(
                "timed out after {} s connecting to the control socket {}",
                timeout.as_secs_f64(),
                socket.display()
            ))
        }
    };
    let hint = match e.kind() {
        io::ErrorKind::NotFound => {
            format!(
                "no such socket (is the appliance running? use --socket PATH or set {SOCKET_ENV})"
            )
        }
        io::ErrorKind::PermissionDenied => {
            "permission denied (run as root or as a member of the socket's group)".to_string()
        }
        io::ErrorKind::ConnectionRefused => {
            "connection refused (the appliance is not running; the socket file is stale)"
                .to_string()
        }
        _ => e.to_string(),
    };
    Err(format!(
        "cannot connect to the control socket {}: {hint}",
        socket.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use appliance_core::control::{Request, Server, ServerConfig};
    use serde_json::json;
    use std::os::unix::net::UnixListener;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            static N: AtomicU64 = AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "appliancectl-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn backend(req: Request) -> Result<Value, String> {
        match req {
            Request::SetPacketLimit(64) => Err("capacity would drop below the peak".into()),
            Request::ShowAccumulation => Ok(json!({
                // Keys in sorted order: the output is the same with or without
                // serde_json's `preserve_order`.
                "capacity_sessions": 5461,
                "packetlimit": 12,
                "workers": [{"active_sessions": 3, "worker": 0}, {"active_sessions": 4, "worker": 1}],
            })),
            other => Ok(json!({"request": other.to_line()})),
        }
    }

    /// A served socket for the duration of `f`.
    fn with_server(f: impl FnOnce(&Path)) {
        let dir = Dir::new("srv");
        let path = dir.0.join("c.sock");
        let server = Arc::new(Server::bind(ServerConfig::new(&path)).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let t = {
            let (server, stop) = (server.clone(), stop.clone());
            thread::spawn(move || server.serve(&backend, &stop).unwrap())
        };
        f(&path);
        stop.store(true, Ordering::Release);
        t.join().unwrap();
    }

    /// Run the CLI with `args` (after the program name); returns (status, stdout, stderr).
    fn ctl(args: &[&str]) -> (u8, String, String) {
        let cli = Cli::try_parse_from(std::iter::once("appliancectl").chain(args.iter().copied()))
            .unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(cli, None, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn human_output() {
        with_server(|p| {
            let s = p.to_str().unwrap();
            let (code, out, err) = ctl(&["--socket", s, "show", "accumulation"]);
            assert_eq!(code, 0, "{err}");
            assert!(
                out.contains("capacity_sessions  5461\npacketlimit        12\n"),
                "{out}"
            );
            assert!(
                out.contains("workers:\n  active_sessions  worker\n                3       0\n"),
                "{out}"
            );
            assert!(!out.contains("ok"), "{out}");
        });
    }

    #[test]
    fn json_output_and_trailing_options() {
        with_server(|p| {
            let s = p.to_str().unwrap();
            let (code, out, _) = ctl(&["--json", "--socket", s, "set", "packetlimit", "24"]);
            assert_eq!(code, 0);
            assert_eq!(out, "{\"ok\":true,\"request\":\"set packetlimit 24\"}\n");
            // Options after the words, and command options kept for the command.
            let (code, out, _) = ctl(&[
                "show",
                "sessions",
                "--sni",
                "--json",
                "--limit=5",
                "--socket",
                s,
                "--json",
            ]);
            assert_eq!(code, 0);
            assert_eq!(
                out,
                "{\"ok\":true,\"request\":\"show sessions --sni --json --limit 5\"}\n"
            );
            // The long form.
            let (code, out, _) = ctl(&[
                "--socket",
                s,
                "debug",
                "dataplane",
                "set",
                "ssl-decrypt",
                "accumulate-client-hello",
                "packetlimit",
                "24",
            ]);
            assert_eq!(code, 0);
            assert_eq!(out, "request  set packetlimit 24\n");
        });
    }

    #[test]
    fn refused_command_exits_1() {
        with_server(|p| {
            let s = p.to_str().unwrap();
            let (code, out, err) = ctl(&["--socket", s, "set", "packetlimit", "64"]);
            assert_eq!(code, 1);
            assert_eq!(out, "");
            assert_eq!(err, "appliancectl: capacity would drop below the peak\n");
            let (code, out, err) = ctl(&["--socket", s, "--json", "set", "packetlimit", "64"]);
            assert_eq!(code, 1);
            assert!(out.starts_with("{\"ok\":false,"), "{out}");
            assert!(err.contains("below the peak"));
        });
    }

    #[test]
    fn usage_errors_exit_2_without_connecting() {
        let missing = "/nonexistent/appliance.sock";
        for args in [
            vec!["--socket", missing, "frobnicate"],
            vec!["--socket", missing, "set", "packetlimit", "65"],
            vec!["--socket", missing, "set", "packetlimit"],
            vec!["--socket", missing, "show", "counters", "--timeout"],
        ] {
            let (code, _, err) = ctl(&args);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(err.starts_with("appliancectl: "), "{err}");
            assert!(err.contains("--help"), "{err}");
        }
        let (_, _, err) = ctl(&["--socket", missing, "set", "packetlimit", "65"]);
        assert!(err.contains("out of range"), "{err}");
        assert!(Cli::try_parse_from(["appliancectl", "--timeout", "0", "show", "mss"]).is_err());
        assert!(Cli::try_parse_from(["appliancectl", "--json"]).is_err());
    }

    #[test]
    fn help_lists_every_command() {
        let help = Cli::command().render_help().to_string();
        assert!(help.contains("set mss clamp N|auto|off"), "{help}");
        assert!(
            help.contains("accumulate-client-hello packetlimit N"),
            "{help}"
        );
        assert!(help.contains("APPLIANCE_SOCKET"), "{help}");
        let (code, out, _) = ctl(&["show", "--help"]);
        assert_eq!(code, 0);
        assert!(out.contains("what-if packetlimit N"));
    }

    #[test]
    fn unreachable_socket_exits_3_naming_the_path() {
        let dir = Dir::new("unreach");
        let path = dir.0.join("none.sock");
        let s = path.to_str().unwrap();
        let (code, _, err) = ctl(&["--socket", s, "show", "counters"]);
        assert_eq!(code, 3);
        assert!(err.contains(s) && err.contains("no such socket"), "{err}");

        // A stale socket file.
        drop(UnixListener::bind(&path).unwrap());
        let (code, _, err) = ctl(&["--socket", s, "show", "counters"]);
        assert_eq!(code, 3);
        assert!(err.contains("connection refused"), "{err}");

        // A listener that never answers.
        let _l = UnixListener::bind(dir.0.join("mute.sock")).unwrap();
        let mute = dir.0.join("mute.sock");
        let t = Instant::now();
        let (code, _, err) = ctl(&[
            "--timeout",
            "0.3",
            "--socket",
            mute.to_str().unwrap(),
            "show",
            "mss",
        ]);
        assert_eq!(code, 3);
        assert!(err.contains("timed out"), "{err}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn socket_precedence() {
        let env = Some(OsString::from("/env.sock"));
        assert_eq!(socket_path(None, None), PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(socket_path(None, env.clone()), PathBuf::from("/env.sock"));
        assert_eq!(
            socket_path(None, Some(OsString::new())),
            PathBuf::from(DEFAULT_SOCKET)
        );
        assert_eq!(
            socket_path(Some(PathBuf::from("/flag.sock")), env),
            PathBuf::from("/flag.sock")
        );
    }

    #[test]
    fn trailing_split() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (words, t) = split_trailing(&w(&[
            "show",
            "sessions",
            "--limit",
            "3",
            "--json",
            "--timeout=2",
        ]))
        .unwrap();
        assert_eq!(words, w(&["show", "sessions", "--limit", "3"]));
        assert!(t.json);
        assert_eq!(t.timeout, Some(Duration::from_secs(2)));
        assert!(split_trailing(&w(&["show", "mss", "--socket"])).is_err());
        assert!(split_trailing(&w(&["show", "mss", "--timeout", "x"])).is_err());
    }
}
