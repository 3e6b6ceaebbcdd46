//! The control socket server: a Unix stream socket served from one thread.
//!
//! All client sockets are nonblocking and multiplexed with `poll(2)`; nothing a client does
//! (garbage, a line that never ends, a huge request, not reading its responses, vanishing
//! mid-request) can block the loop or make it allocate without bound:
//!
//! - a request line is at most [`MAX_REQUEST`](super::MAX_REQUEST) bytes; a longer one gets
//!   `request too long (max 4096 bytes)` and the connection is closed after that reply;
//! - each client holds at most one partial line (≤ 4 KiB plus one read chunk);
//! - a client's next request is not read while its unsent output exceeds
//!   [`BACKPRESSURE_BYTES`], and a single response is at most
//!   [`ServerConfig::max_output_bytes`] (larger ones are replaced by an error reply), so
//!   the output buffer is bounded too; all clients together stop being served new requests
//!   while more than [`GLOBAL_OUTPUT_BUDGET`] bytes are queued;
//! - a client that makes no progress (sends nothing, or does not read) for
//!   [`ServerConfig::idle_timeout`] is disconnected;
//! - a partial line at end-of-stream is discarded, never executed (a cut-off
//!   `set packetlimit 24` must not become `set packetlimit 2`).
//!
//! Integration: either run [`Server::serve`] on a dedicated thread until a stop flag is
//! set, or call [`Server::poll_once`] with a short timeout from a loop that does other
//! work (draining log queues, periodic statistics).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::request::Request;

mod client;
mod peer;

use client::{refuse, Client};
use peer::peer_cred;

/// Default [`ServerConfig::max_clients`].
pub const DEFAULT_MAX_CLIENTS: usize = 64;
/// Default [`ServerConfig::max_requests_per_sec_per_client`].
pub const DEFAULT_MAX_REQUESTS_PER_SEC: u32 = 50;
/// Default [`ServerConfig::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`ServerConfig::max_output_bytes`]: the largest single response line.
pub const DEFAULT_MAX_OUTPUT: usize = 4 << 20;
/// A client's next request is not read while more than this many response bytes wait to
/// be sent to it.
pub const BACKPRESSURE_BYTES: usize = 64 << 10;
/// No client's next request is read while more than this many response bytes wait to be
/// sent in total.
pub const GLOBAL_OUTPUT_BUDGET: usize = 16 << 20;

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 4096;
/// Connections accepted per poll round at most (fairness against a connect flood).
const MAX_ACCEPTS_PER_ROUND: usize = 64;
/// How long to stop accepting after `accept` fails for lack of resources (EMFILE, ...).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Output buffers with more spare capacity than this are released once drained.
const KEEP_OUTPUT_CAPACITY: usize = 64 << 10;

/// The appliance side of the control protocol: executes one parsed request.
///
/// `handle` returns the response fields as a JSON object (the server adds `"ok": true`
/// in front), or an error message (sent as `{"ok":false,"error":msg}`). A non-object
/// value is sent as `{"ok":true,"result":value}`. It runs on the server's thread, so it
/// must not block for long; it is never called for a request that failed to parse.
pub trait Backend: Send + Sync {
    /// Execute `req` and return the response fields or an error message.
    fn handle(&self, req: Request) -> Result<Value, String>;
}

impl<F> Backend for F
where
    F: Fn(Request) -> Result<Value, String> + Send + Sync,
{
    fn handle(&self, req: Request) -> Result<Value, String> {
        self(req)
    }
}

/// Where and for whom the control socket is served.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Socket path. A stale socket file is replaced; a live one (another process answers)
    /// or a file that is not a socket makes [`Server::bind`] fail. Missing parent
    /// directories are created with mode 0755.
    pub path: PathBuf,
    /// Group id for the socket file: mode 0660 and this group when set, 0600 otherwise.
    /// Peers whose primary or supplementary group is this one are allowed.
    pub group: Option<u32>,
    /// Peer uids allowed besides root and the server's own effective uid.
    pub allowed_uids: Vec<u32>,
    /// Peer gids (primary or supplementary) allowed.
    pub allowed_gids: Vec<u32>,
    /// Concurrent clients; one more is told `too many clients` and closed.
    pub max_clients: usize,
    /// Requests per second per client (a token bucket with this burst); requests over it
    /// get `rate limit exceeded` without being executed. 0 disables the limit.
    pub max_requests_per_sec_per_client: u32,
    /// A client that neither sends nor receives anything for this long is disconnected.
    pub idle_timeout: Duration,
    /// Largest response line; a larger response is replaced by an error reply.
    pub max_output_bytes: usize,
}

impl ServerConfig {
    /// Defaults for everything but the path.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ServerConfig {
            path: path.into(),
            group: None,
            allowed_uids: Vec::new(),
            allowed_gids: Vec::new(),
            max_clients: DEFAULT_MAX_CLIENTS,
            max_requests_per_sec_per_client: DEFAULT_MAX_REQUESTS_PER_SEC,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_output_bytes: DEFAULT_MAX_OUTPUT,
        }
    }
}

impl Default for ServerConfig {
    /// Defaults, at [`super::DEFAULT_SOCKET`].
    fn default() -> Self {
        ServerConfig::new(super::DEFAULT_SOCKET)
    }
}

/// Counters of the control server since it was bound (for `show metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted and served.
    pub accepted: u64,
    /// Connections refused by the peer-credential check.
    pub denied: u64,
    /// Connections refused because `max_clients` were connected.
    pub rejected_busy: u64,
    /// Request lines received (including refused and malformed ones).
    pub requests: u64,
    /// Requests passed to the backend.
    pub executed: u64,
    /// Error replies sent (parse errors, backend errors, limits).
    pub errors: u64,
    /// Requests refused by the rate limit.
    pub rate_limited: u64,
    /// Lines longer than [`MAX_REQUEST`](super::MAX_REQUEST).
    pub too_long: u64,
    /// Clients disconnected for idleness.
    pub timed_out: u64,
    /// Responses replaced because they exceeded `max_output_bytes`.
    pub oversized_responses: u64,
    /// `accept` failures other than "no pending connection".
    pub accept_errors: u64,
    /// Clients connected now.
    pub clients: usize,
}

/// The control socket server. See the module documentation.
///
/// The socket file is removed when the server is dropped (if it is still the one it
/// created).
pub struct Server {
    listener: UnixListener,
    config: ServerConfig,
    own_euid: u32,
    /// (device, inode) of the socket file we created.
    socket_id: (u64, u64),
    state: Mutex<State>,
    /// Held for a whole [`Server::poll_once`], so two pollers never interleave; `state` is
    /// released while `poll(2)` waits, so [`Server::stats`] on another thread is not starved.
    polling: Mutex<()>,
}

struct State {
    clients: Vec<Client>,
    stats: ServerStats,
    accept_paused_until: Option<Instant>,
}

/// Wrap an I/O error with context, keeping its kind.
fn context(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl Server {
    /// Create the socket at `config.path` with the configured permissions and start
    /// listening (nonblocking). Fails if another live process serves that path.
    pub fn bind(config: ServerConfig) -> io::Result<Server> {
        let path = config.path.clone();
        prepare_path(&path)?;
        let listener = UnixListener::bind(&path)
            .map_err(|e| context(e, format!("cannot bind control socket {}", path.display())))?;
        // From here on, remove the file again if anything fails.
        let cleanup = |e: io::Error| {
            let _ = fs::remove_file(&path);
            e
        };
        let mode = if config.group.is_some() { 0o660 } else { 0o600 };
        if let Some(gid) = config.group {
            std::os::unix::fs::chown(&path, None, Some(gid))
                .map_err(|e| {
                    context(
                        e,
                        format!(
                            "cannot set group {gid} on control socket {}",
                            path.display()
                        ),
                    )
                })
                .map_err(cleanup)?;
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .map_err(|e| {
                context(
                    e,
                    format!(
                        "cannot set permissions on control socket {}",
                        path.display()
                    ),
                )
            })
            .map_err(cleanup)?;
        listener.set_nonblocking(true).map_err(cleanup)?;
        let meta = fs::symlink_metadata(&path).map_err(cleanup)?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let own_euid = unsafe { libc::geteuid() };
        Ok(Server {
            listener,
            config,
            own_euid,
            socket_id: (meta.dev(), meta.ino()),
            polling: Mutex::new(()),
            state: Mutex::new(State {
                clients: Vec::new(),
                stats: ServerStats::default(),
                accept_paused_until: None,
            }),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.config.path
    }

    /// The configuration the server was bound with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Counters since the server was bound.
    pub fn stats(&self) -> ServerStats {
        let st = self.lock();
        let mut s = st.stats;
        s.clients = st.clients.len();
        s
    }

    /// Serve until `stop` is set (checked at least every 100 ms). Returns an error only if
    /// `poll(2)` itself fails.
    pub fn serve(&self, backend: &dyn Backend, stop: &AtomicBool) -> io::Result<()> {
        while !stop.load(Ordering::Acquire) {
            self.poll_once(backend, 100)?;
        }
        Ok(())
    }

    /// Wait up to `timeout_ms` milliseconds (0: do not wait; negative: wait indefinitely)
    /// for socket activity, then accept new clients, read and answer complete requests,
    /// send pending output and drop idle or finished clients. Returns the number of
    /// requests passed to the backend in this round.
    pub fn poll_once(&self, backend: &dyn Backend, timeout_ms: i32) -> io::Result<usize> {
        let _polling = self.polling.lock().unwrap_or_else(|e| e.into_inner());
        let mut guard = self.lock();
        let st = &mut *guard;
        let now = Instant::now();

        let accepting = st.accept_paused_until.map_or(true, |t| now >= t);
        let total_out: usize = st.clients.iter().map(Client::pending_output).sum();
        let serve_more = total_out <= GLOBAL_OUTPUT_BUDGET;
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(st.clients.len() + 1);
        fds.push(libc::pollfd {
            fd: if accepting {
                self.listener.as_raw_fd()
            } else {
                -1
            },
            events: libc::POLLIN,
            revents: 0,
        });
        let mut ready_now = false;
        for c in &st.clients {
            let mut events = 0;
            if c.wants_read(serve_more) {
                events |= libc::POLLIN;
            }
            if c.pending_output() > 0 {
                events |= libc::POLLOUT;
            }
            ready_now |= serve_more && c.has_ready_line();
            fds.push(libc::pollfd {
                fd: c.stream.as_raw_fd(),
                events,
                revents: 0,
            });
        }
        // Buffered complete lines are answered without waiting.
        let timeout = if ready_now { 0 } else { timeout_ms.max(-1) };
        let nfds = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
        // The clients cannot change while `state` is released: only a poller changes them,
        // and `polling` admits one at a time.
        drop(guard);
        // SAFETY: `fds` is a valid, initialised array of `nfds` pollfd structures that
        // stays alive and unaliased for the duration of the call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout) };
        let mut guard = self.lock();
        let st = &mut *guard;
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        let now = Instant::now();
        let mut executed = 0;

        for (i, c) in st.clients.iter_mut().enumerate() {
            let revents = fds.get(i + 1).map_or(0, |p| p.revents);
            if revents & libc::POLLNVAL != 0 {
                c.dead = true;
                continue;
            }
            if revents & (libc::POLLHUP | libc::POLLERR) != 0 && !serve_more {
                // Gone, and nothing can be done for it this round: drop it rather than
                // let its hang-up wake every poll.
                c.dead = true;
                continue;
            }
            if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
                && c.wants_read(serve_more)
            {
                c.read_some(now);
            }
            if revents & (libc::POLLOUT | libc::POLLHUP | libc::POLLERR) != 0 {
                c.flush(now);
            }
            if serve_more {
                executed += c.process_lines(backend, &self.config, &mut st.stats, now);
            }
            c.flush(now);
            c.check_done();
            if !c.dead && now.duration_since(c.last_activity) >= self.config.idle_timeout {
                c.time_out(self.config.idle_timeout);
                st.stats.timed_out += 1;
            }
        }
        st.clients.retain(|c| !c.dead);

        if fds[0].revents & libc::POLLIN != 0 {
            self.accept_all(st, now);
        }
        Ok(executed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing in the server panics while holding the lock; if a backend did, the
        // state is still consistent (clients are only added or removed as a whole).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn accept_all(&self, st: &mut State, now: Instant) {
        for _ in 0..MAX_ACCEPTS_PER_ROUND {
            match self.listener.accept() {
                Ok((stream, _)) => self.admit(st, stream, now),
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => break,
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => continue,
                    _ => {
                        // EMFILE, ENFILE, ENOBUFS, ENOMEM: the pending connection stays
                        // queued and would wake poll at once; back off instead of spinning.
                        st.stats.accept_errors += 1;
                        st.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                        break;
                    }
                },
            }
        }
    }

    /// Check a new connection's credentials and the client limit; keep it or refuse it.
    fn admit(&self, st: &mut State, stream: UnixStream, now: Instant) {
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        let fd = stream.as_raw_fd();
        let cred = match peer_cred(fd) {
            Ok(c) => c,
            Err(e) => {
                st.stats.denied += 1;
                refuse(
                    fd,
                    &format!("permission denied: cannot read peer credentials: {e}"),
                );
                return;
            }
        };
        if !peer::is_allowed(&self.config, self.own_euid, fd, &cred) {
            st.stats.denied += 1;
            refuse(
                fd,
                &format!("permission denied: uid {} is not allowed", cred.uid),
            );
            return;
        }
        if st.clients.len() >= self.config.max_clients {
            st.stats.rejected_busy += 1;
            refuse(
                fd,
                &format!(
                    "too many clients (max {}), try again later",
                    self.config.max_clients
                ),
            );
            return;
        }
        st.stats.accepted += 1;
        st.clients.push(Client::new(
            stream,
            now,
            f64::from(self.config.max_requests_per_sec_per_client),
        ));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Remove the socket file only if it is still ours (not replaced by a newer server).
        if let Ok(meta) = fs::symlink_metadata(&self.config.path) {
            if (meta.dev(), meta.ino()) == self.socket_id {
                let _ = fs::remove_file(&self.config.path);
            }
        }
    }
}

/// Make `path` bindable: replace a stale socket, refuse a live one or a non-socket, and
/// create missing parent directories.
fn prepare_path(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "control socket {} is in use by another running process",
                    path.display()
                ),
            )),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => fs::remove_file(path)
                .map_err(|e| {
                    context(
                        e,
                        format!("cannot remove stale control socket {}", path.display()),
                    )
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(context(
                e,
                format!("cannot check existing control socket {}", path.display()),
            )),
        },
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if !dir.exists() {
                    use std::os::unix::fs::DirBuilderExt;
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o755)
                        .create(dir)
                        .map_err(|e| {
                            context(e, format!("cannot create directory {}", dir.display()))
                        })?;
                }
            }
            Ok(())
        }
        Err(e) => Err(context(e, format!("cannot inspect {}", path.display()))),
    }
}

/// Serialise a response as one line of JSON (without the newline): `{"ok":true,...fields}`
/// with `ok` first, `{"ok":true,"result":v}` for a non-object, `{"ok":false,"error":msg}`.
pub fn encode_response(result: &Result<Value, String>) -> String {
    fn json(v: &impl serde::Serialize) -> String {
        // Serialising a `Value` or a `str` cannot fail (keys are always strings).
        serde_json::to_string(v).unwrap_or_else(|_| "null".to_string())
    }
    match result {
        Ok(Value::Object(map)) => {
            let mut s = String::from("{\"ok\":true");
            for (k, v) in map {
                if k == "ok" {
                    continue;
                }
                s.push(',');
                s.push_str(&json(k));
                s.push(':');
                s.push_str(&json(v));
            }
            s.push('}');
            s
        }
        Ok(other) => format!("{{\"ok\":true,\"result\":{}}}", json(other)),
        Err(msg) => format!("{{\"ok\":false,\"error\":{}}}", json(msg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encode_puts_ok_first_and_one_line() {
        let v = json!({"zeta": 1, "alpha": "a\nb", "ok": "ignored"});
        let s = encode_response(&Ok(v));
        assert!(s.starts_with("{\"ok\":true,"), "{s}");
        assert!(!s.contains('\n'));
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["ok"], json!(true));
        assert_eq!(back["alpha"], json!("a\nb"));
        assert_eq!(back["zeta"], json!(1));

        assert_eq!(encode_response(&Ok(json!(5))), "{\"ok\":true,\"result\":5}");
        assert_eq!(encode_response(&Ok(json!({}))), "{\"ok\":true}");
        assert_eq!(
            encode_response(&Err("bad \"x\"".into())),
            "{\"ok\":false,\"error\":\"bad \\\"x\\\"\"}"
        );
    }

    #[test]
    fn config_defaults() {
        let c = ServerConfig::new("/tmp/x.sock");
        assert_eq!(c.max_clients, 64);
        assert_eq!(c.max_requests_per_sec_per_client, 50);
        assert_eq!(c.idle_timeout, Duration::from_secs(30));
        assert_eq!(c.max_output_bytes, 4 << 20);
        assert_eq!(
            ServerConfig::default().path,
            PathBuf::from(super::super::DEFAULT_SOCKET)
        );
    }
}
