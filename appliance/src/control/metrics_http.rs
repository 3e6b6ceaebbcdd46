//! The Prometheus listener (`[metrics] listen = "127.0.0.1:9464"`): a small HTTP/1.1 server on
//! its own thread that answers `GET /metrics` (and `HEAD`) with the text format
//! (`text/plain; version=0.0.4`), the same text `appliancectl show metrics` prints.
//!
//! Bounded in every direction, since it may face a management network:
//! - at most [`MAX_CONNECTIONS`] requests served at once (each on a short-lived thread);
//!   further connections get `503` and are closed;
//! - a request head of at most [`MAX_REQUEST`] bytes (`431` beyond), no request body;
//! - [`IO_TIMEOUT`] to receive the head and to send the answer;
//! - one request per connection (`Connection: close`).
//!
//! Other paths get `404`, other methods `405`, anything unparsable `400`. There is no
//! authentication: bind it to loopback or a management address only.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Requests served at once.
pub const MAX_CONNECTIONS: usize = 8;
/// Largest request head (request line and headers).
pub const MAX_REQUEST: usize = 8192;
/// Time allowed to receive a request and to send the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Produces the metrics text (or an error message, answered with `500`).
pub type Source = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// A running listener; dropping it (or [`MetricsServer::stop`]) stops it.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A bound listening socket, not served yet (bind early, fail before anything starts).
pub struct Bound {
    listener: TcpListener,
}

impl Bound {
    /// Bind `addr`.
    pub fn bind(addr: SocketAddr) -> std::io::Result<Bound> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Bound { listener })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve `source` on its own thread until stopped.
    pub fn serve(self, source: Source) -> std::io::Result<MetricsServer> {
        let listener = self.listener;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || accept_loop(listener, source, st))?;
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl MetricsServer {
    /// Bind `addr` and serve `source` until stopped.
    pub fn start(addr: SocketAddr, source: Source) -> std::io::Result<MetricsServer> {
        Bound::bind(addr)?.serve(source)
    }

    /// The bound address (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting and wait for the listener thread (requests in flight finish on their
    /// own threads within [`IO_TIMEOUT`]).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(listener: TcpListener, source: Source, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let mut pfd = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the listener we own.
        let n = unsafe { libc::poll(&mut pfd, 1, 100) };
        if n <= 0 {
            continue;
        }
        loop {
            match listener.accept() {
                Ok((conn, _peer)) => {
                    if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                        active.fetch_sub(1, Ordering::SeqCst);
                        busy(conn);
                        continue;
                    }
                    let (src, act) = (source.clone(), active.clone());
                    let spawned = std::thread::Builder::new()
                        .name("metrics-conn".into())
                        .spawn(move || {
                            serve(conn, &*src);
                            act.fetch_sub(1, Ordering::SeqCst);
                        });
                    if spawned.is_err() {
                        active.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
            }
        }
    }
}

/// Too many requests at once: a short 503 without reading the request.
fn busy(conn: TcpStream) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_write_timeout(Some(Duration::from_millis(200)));
    let mut c = conn;
    let _ = respond(
        &mut c,
        false,
        503,
        "Service Unavailable",
        "text/plain",
        b"busy\n",
    );
}

/// A parsed request line.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestLine {
    pub method: String,
    pub path: String,
}

/// Outcome of reading a request head.
#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    Request(RequestLine),
    /// Status and reason to answer with.
    Bad(u16, &'static str),
}

/// Parse a complete request head (`GET /metrics?x HTTP/1.1\r\n...`).
pub fn parse_head(head: &[u8]) -> Head {
    let Ok(text) = std::str::from_utf8(head) else {
        return Head::Bad(400, "Bad Request");
    };
    let line = text.split("\r\n").next().unwrap_or("");
    let mut words = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Head::Bad(400, "Bad Request");
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Head::Bad(400, "Bad Request");
    }
    // A body would be left unread: refuse requests that announce one.
    for h in text.split("\r\n").skip(1) {
        if let Some((name, value)) = h.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            if (name == "content-length" && value.trim() != "0") || name == "transfer-encoding" {
                return Head::Bad(400, "Bad Request");
            }
        }
    }
    let path = target.split(['?', '#']).next().unwrap_or("").to_string();
    Head::Request(RequestLine {
        method: method.to_string(),
        path,
    })
}

/// Read until the end of the head (`\r\n\r\n`), at most `MAX_REQUEST` bytes, within the
/// timeout. `Err(status)` when it is too large or does not arrive.
fn read_head(conn: &mut TcpStream) -> Result<Vec<u8>, (u16, &'static str)> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end + 4);
            return Ok(buf);
        }
        if buf.len() >= MAX_REQUEST {
            return Err((431, "Request Header Fields Too Large"));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err((408, "Request Timeout"));
        }
        let _ = conn.set_read_timeout(Some(left));
        let want = chunk.len().min(MAX_REQUEST - buf.len());
        match conn.read(&mut chunk[..want]) {
            Ok(0) => return Err((400, "Bad Request")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err((408, "Request Timeout"))
            }
            Err(_) => return Err((400, "Bad Request")),
        }
    }
}

fn serve(mut conn: TcpStream, source: &(dyn Fn() -> Result<String, String> + Send + Sync)) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_write_timeout(Some(IO_TIMEOUT));
    let _ = conn.set_nodelay(true);
    let head = match read_head(&mut conn) {
        Ok(h) => h,
        Err((code, reason)) => {
            let _ = respond(&mut conn, false, code, reason, "text/plain", b"");
            return;
        }
    };
    let (code, reason, ctype, body, head_only) = match parse_head(&head) {
        Head::Bad(code, reason) => (code, reason, "text/plain", Vec::new(), false),
        Head::Request(r) => {
            let head_only = r.method == "HEAD";
            if r.path != "/metrics" {
                (
                    404,
                    "Not Found",
                    "text/plain",
                    b"try /metrics\n".to_vec(),
                    head_only,
                )
            } else if r.method != "GET" && !head_only {
                (405, "Method Not Allowed", "text/plain", Vec::new(), false)
            } else {
                match source() {
                    Ok(text) => (200, "OK", CONTENT_TYPE, text.into_bytes(), head_only),
                    Err(e) => (
                        500,
                        "Internal Server Error",
                        "text/plain",
                        format!("{e}\n").into_bytes(),
                        head_only,
                    ),
                }
            }
        }
    };
    let _ = respond(&mut conn, head_only, code, reason, ctype, &body);
}

fn respond(
    conn: &mut TcpStream,
    head_only: bool,
    code: u16,
    reason: &str,
    ctype: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if code == 405 {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(body);
    }
    conn.write_all(&bytes)?;
    conn.flush()?;
    let _ = conn.shutdown(std::net::Shutdown::Write);
    // Let the client read the answer before the close (avoids a reset on unread input), but
    // for 200 ms and 64 KiB at most: a client trickling bytes must not hold the thread.
    let mut sink = [0u8; 512];
    let deadline = std::time::Instant::now() + Duration::from_millis(200);
    let mut drained = 0usize;
    while drained < 64 * 1024 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match conn.read(&mut sink) {
            Ok(n) if n > 0 => drained += n,
            _ => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(text: &'static str) -> MetricsServer {
        MetricsServer::start(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(move || Ok(text.to_string())),
        )
        .unwrap()
    }

    fn get(addr: SocketAddr, raw: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(raw).unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    }

    #[test]
    fn parse_heads() {
        assert_eq!(
            parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Head::Request(RequestLine {
                method: "GET".into(),
                path: "/metrics".into()
            })
        );
        assert_eq!(
            parse_head(b"GET /metrics\r\n\r\n"),
            Head::Bad(400, "Bad Request")
        );
        assert_eq!(
            parse_head(b"GET metrics HTTP/1.1\r\n\r\n"),
            Head::Bad(400, "Bad Request")
        );
        assert_eq!(
            parse_head(b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
            Head::Bad(400, "Bad Request")
        );
        assert_eq!(
            parse_head(b"\xff\xfe\r\n\r\n"),
            Head::Bad(400, "Bad Request")
        );
    }

    #[test]
    fn serves_metrics_and_refuses_the_rest() {
        let s = server("appliance_up 1\n");
        let a = s.local_addr();
        let r = get(a, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Type: text/plain; version=0.0.4"), "{r}");
        assert!(r.contains("Content-Length: 15\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\nappliance_up 1\n"), "{r}");
        let r = get(a, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(
            r.starts_with("HTTP/1.1 200") && r.ends_with("\r\n\r\n"),
            "{r}"
        );
        let r = get(a, b"GET / HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
        let r = get(a, b"DELETE /metrics HTTP/1.1\r\n\r\n");
        assert!(
            r.starts_with("HTTP/1.1 405") && r.contains("Allow: GET"),
            "{r}"
        );
        let r = get(a, b"nonsense\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 400"), "{r}");
        let mut big = b"GET /metrics HTTP/1.1\r\n".to_vec();
        big.extend(std::iter::repeat(b'a').take(MAX_REQUEST));
        let r = get(a, &big);
        assert!(r.starts_with("HTTP/1.1 431"), "{r}");
        s.stop();
        assert!(TcpStream::connect(a).is_err(), "still listening after stop");
    }

    #[test]
    fn source_errors_are_500() {
        let s = MetricsServer::start(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(|| Err("state poisoned".to_string())),
        )
        .unwrap();
        let r = get(s.local_addr(), b"GET /metrics HTTP/1.0\r\n\r\n");
        assert!(
            r.starts_with("HTTP/1.1 500") && r.ends_with("state poisoned\n"),
            "{r}"
        );
    }

    #[test]
    fn slow_clients_are_bounded() {
        let s = server("x 1\n");
        let a = s.local_addr();
        // Fill every slot with clients that never send a request.
        let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS)
            .map(|_| TcpStream::connect(a).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let r = get(a, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 503"), "{r}");
        drop(idle);
        // Slots free up once the idle clients are gone.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = get(a, b"GET /metrics HTTP/1.1\r\n\r\n");
            if r.starts_with("HTTP/1.1 200") {
                break;
            }
            assert!(Instant::now() < deadline, "slots never freed: {r}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A client that keeps trickling bytes after its answer does not hold its connection
    /// thread: the server closes on it (the drain after an answer is bounded).
    #[test]
    fn a_trickling_client_is_closed_on() {
        let s = server("x 1\n");
        let mut c = TcpStream::connect(s.local_addr()).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        // One byte every 100 ms, for up to 8 s: each arrives within the 200 ms read timeout,
        // so only a bound on the whole drain ends it.
        let mut writes = 0;
        for _ in 0..80 {
            if c.write_all(b"x").is_err() {
                break;
            }
            writes += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            writes < 80,
            "the server kept reading a trickling client for 8 s"
        );
        s.stop();
    }
}
