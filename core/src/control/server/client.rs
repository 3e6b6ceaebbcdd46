//! One connection of the control socket: its input and output buffers, reading up to one
//! request line, answering lines through the [`Backend`], flushing, the per-client rate
//! limit and idle timeout.

use std::io::{self, Read};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{
    encode_response, Backend, ServerConfig, ServerStats, BACKPRESSURE_BYTES, KEEP_OUTPUT_CAPACITY,
    READ_CHUNK,
};
use crate::control::request::{parse_request, MAX_REQUEST};

pub(super) struct Client {
    pub(super) stream: UnixStream,
    /// Bytes received and not yet consumed: at most one partial line plus a read chunk.
    inbuf: Vec<u8>,
    /// Response bytes; `out[out_pos..]` is still to be sent.
    out: Vec<u8>,
    out_pos: usize,
    pub(super) last_activity: Instant,
    tokens: f64,
    last_refill: Instant,
    /// The peer closed its sending side: no more reads.
    read_eof: bool,
    /// Close once the output is sent; read nothing more.
    closing: bool,
    /// Drop at the end of this round.
    pub(super) dead: bool,
}

impl Client {
    /// A newly admitted client with a full token bucket of `tokens`.
    pub(super) fn new(stream: UnixStream, now: Instant, tokens: f64) -> Client {
        Client {
            stream,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            last_activity: now,
            tokens,
            last_refill: now,
            read_eof: false,
            closing: false,
            dead: false,
        }
    }
    pub(super) fn pending_output(&self) -> usize {
        self.out.len() - self.out_pos
    }

    fn has_complete_line(&self) -> bool {
        self.inbuf.contains(&b'\n')
    }

    /// A buffered request can be answered now.
    pub(super) fn has_ready_line(&self) -> bool {
        !self.closing
            && !self.dead
            && self.pending_output() <= BACKPRESSURE_BYTES
            && (self.has_complete_line() || self.inbuf.len() > MAX_REQUEST + 1)
    }

    pub(super) fn wants_read(&self, serve_more: bool) -> bool {
        serve_more
            && !self.closing
            && !self.read_eof
            && !self.dead
            && self.pending_output() <= BACKPRESSURE_BYTES
            && !self.has_complete_line()
            && self.inbuf.len() <= MAX_REQUEST + 1
    }

    /// Read what is available, stopping at the first complete line or an overlong one.
    pub(super) fn read_some(&mut self, now: Instant) {
        let mut buf = [0u8; READ_CHUNK];
        while !self.has_complete_line() && self.inbuf.len() <= MAX_REQUEST + 1 {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.read_eof = true;
                    break;
                }
                Ok(n) => {
                    self.inbuf.extend_from_slice(&buf[..n]);
                    self.last_activity = now;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.dead = true;
                    break;
                }
            }
        }
    }

    /// Send as much pending output as the socket takes.
    pub(super) fn flush(&mut self, now: Instant) {
        while !self.dead && self.out_pos < self.out.len() {
            match send_nosignal(self.stream.as_raw_fd(), &self.out[self.out_pos..]) {
                Ok(0) => self.dead = true,
                Ok(n) => {
                    self.out_pos += n;
                    self.last_activity = now;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => self.dead = true,
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if self.out.capacity() > KEEP_OUTPUT_CAPACITY {
                self.out = Vec::new();
            }
        }
    }

    /// Close once everything owed has been sent.
    pub(super) fn check_done(&mut self) {
        if self.pending_output() == 0
            && (self.closing || (self.read_eof && !self.has_complete_line()))
        {
            self.dead = true;
        }
    }

    pub(super) fn time_out(&mut self, after: Duration) {
        if self.pending_output() == 0 {
            refuse(
                self.stream.as_raw_fd(),
                &format!("idle timeout: nothing received or sent for {after:?}"),
            );
        }
        self.dead = true;
    }

    fn push_response(
        &mut self,
        result: &Result<Value, String>,
        cfg: &ServerConfig,
        stats: &mut ServerStats,
    ) {
        if result.is_err() {
            stats.errors += 1;
        }
        let mut line = encode_response(result);
        if line.len() + 1 > cfg.max_output_bytes {
            stats.oversized_responses += 1;
            stats.errors += 1;
            line = encode_response(&Err(format!(
                "response too large ({} bytes, max {}); narrow the request (e.g. --limit)",
                line.len() + 1,
                cfg.max_output_bytes
            )));
        }
        if self.out_pos > 0 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        self.out.reserve(line.len() + 1);
        self.out.extend_from_slice(line.as_bytes());
        self.out.push(b'\n');
    }

    /// Answer complete buffered lines while the output is below the backpressure mark.
    pub(super) fn process_lines(
        &mut self,
        backend: &dyn Backend,
        cfg: &ServerConfig,
        stats: &mut ServerStats,
        now: Instant,
    ) -> usize {
        let mut executed = 0;
        while !self.closing && !self.dead && self.pending_output() <= BACKPRESSURE_BYTES {
            let Some(nl) = self.inbuf.iter().position(|&b| b == b'\n') else {
                if self.inbuf.len() > MAX_REQUEST + 1
                    || (self.inbuf.len() == MAX_REQUEST + 1 && self.inbuf.last() != Some(&b'\r'))
                {
                    self.too_long(cfg, stats);
                }
                break;
            };
            let mut line: Vec<u8> = self.inbuf.drain(..=nl).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            stats.requests += 1;
            if line.len() > MAX_REQUEST {
                self.too_long(cfg, stats);
                break;
            }
            if !self.take_token(cfg, now) {
                stats.rate_limited += 1;
                self.push_response(&Err("rate limit exceeded".to_string()), cfg, stats);
                continue;
            }
            let result = match std::str::from_utf8(&line) {
                Err(_) => Err("request is not valid UTF-8".to_string()),
                Ok(text) => match parse_request(text) {
                    Err(e) => Err(e),
                    Ok(req) => {
                        executed += 1;
                        stats.executed += 1;
                        catch_unwind(AssertUnwindSafe(|| backend.handle(req))).unwrap_or_else(
                            |_| Err("internal error: the command failed unexpectedly".to_string()),
                        )
                    }
                },
            };
            self.push_response(&result, cfg, stats);
        }
        executed
    }

    fn too_long(&mut self, cfg: &ServerConfig, stats: &mut ServerStats) {
        stats.too_long += 1;
        self.inbuf = Vec::new();
        self.push_response(
            &Err(format!("request too long (max {MAX_REQUEST} bytes)")),
            cfg,
            stats,
        );
        self.closing = true;
    }

    /// Token bucket: `rate` tokens per second, burst `rate`.
    fn take_token(&mut self, cfg: &ServerConfig, now: Instant) -> bool {
        let rate = f64::from(cfg.max_requests_per_sec_per_client);
        if rate <= 0.0 {
            return true;
        }
        let elapsed = now.duration_since(self.last_refill).as_secs_f64();
        self.last_refill = now;
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// `send(2)` with `MSG_NOSIGNAL`, so a vanished peer is an `EPIPE` error, never a signal.
fn send_nosignal(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid readable slice of `buf.len()` bytes for the whole call.
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast::<libc::c_void>(),
            buf.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Best-effort one-line error to a connection about to be closed.
pub(super) fn refuse(fd: RawFd, msg: &str) {
    let mut line = encode_response(&Err(msg.to_string()));
    line.push('\n');
    let _ = send_nosignal(fd, line.as_bytes());
}
