//! What the workers hand to the control thread, and where it goes: ended sessions' records
//! to the traffic log (and their diagnostics to the log), failed-session captures to the
//! capture writer.
//!
//! Owns the control thread's end of the per-worker queues ([`Output`]) and the traffic log
//! file. Runs only on the control thread; must never block a worker (the queues are bounded
//! and lock-free, a full queue is the worker's to count).

use crate::capture::CaptureWriter;
use crate::config::Config;
use crate::port::Mbuf;
use crate::record::SessionRecord;
use appliance_core::capture::CaptureJob;
use crossbeam::queue::ArrayQueue;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Records a worker can hand over before the control thread drains them (every 20 ms).
const LOG_QUEUE: usize = 65536;

/// Capture jobs a worker can hand over before the control thread writes them.
const CAPTURE_QUEUE: usize = 64;

/// A worker's end of its queues, for `Worker::new` and `Worker::set_captures`.
pub(super) struct WorkerEnd {
    /// Session records, and whether a traffic log file wants them all.
    pub log: (Arc<ArrayQueue<SessionRecord>>, bool),
    /// Capture jobs and the capture directory, with `diag.captures`.
    pub captures: Option<(Arc<ArrayQueue<CaptureJob<Mbuf>>>, PathBuf)>,
}

/// The control thread's end: every worker's queues, the traffic log, the capture writer.
pub(super) struct Output {
    logs: Vec<Arc<ArrayQueue<SessionRecord>>>,
    traffic_log: Option<TrafficLog>,
    captures: Vec<Arc<ArrayQueue<CaptureJob<Mbuf>>>>,
    capture_writer: Option<CaptureWriter>,
}

impl Output {
    pub fn new(traffic_log: Option<TrafficLog>, capture_writer: Option<CaptureWriter>) -> Output {
        Output {
            logs: Vec::new(),
            traffic_log,
            captures: Vec::new(),
            capture_writer,
        }
    }

    /// Queues for one more worker.
    pub fn connect_worker(&mut self) -> WorkerEnd {
        // Records always flow to the control thread: it logs diagnostics even without a
        // traffic log file.
        let records = Arc::new(ArrayQueue::new(LOG_QUEUE));
        self.logs.push(records.clone());
        let captures = self.capture_writer.as_ref().map(|w| {
            let q = Arc::new(ArrayQueue::new(CAPTURE_QUEUE));
            self.captures.push(q.clone());
            (q, w.dir.clone())
        });
        WorkerEnd {
            log: (records, self.traffic_log.is_some()),
            captures,
        }
    }

    /// Take everything the workers queued: records first, then captures.
    pub fn drain(&mut self) {
        self.drain_logs();
        self.drain_captures();
    }

    /// Flush the traffic log file.
    pub fn flush(&mut self) {
        if let Some(t) = &mut self.traffic_log {
            t.flush();
        }
    }

    /// Write ended sessions to the traffic log (when there is one) and log the diagnostics of
    /// sessions the appliance ended itself.
    fn drain_logs(&mut self) {
        let mut n = 0;
        for q in &self.logs {
            while let Some(r) = q.pop() {
                if let Some(d) = r.diag_line() {
                    tracing::warn!(session_id = r.session_id, "{d}");
                }
                if let Some(log) = self.traffic_log.as_mut() {
                    log.write(&r);
                }
                n += 1;
            }
        }
        if n > 0 {
            self.flush();
        }
    }

    /// Write the captures (or release them without a writer). Captures hold mbuf references:
    /// this must run before the pool goes away.
    fn drain_captures(&mut self) {
        for q in &self.captures {
            while let Some(job) = q.pop() {
                match &mut self.capture_writer {
                    Some(w) => w.write(job),
                    None => drop(job),
                }
            }
        }
    }
}

/// The traffic log file: one JSON line per ended session.
pub(super) struct TrafficLog {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    errors: u64,
}

impl TrafficLog {
    /// The file `log.traffic` names, opened for appending, or `None` without one.
    pub fn open_configured(cfg: &Config) -> Result<Option<TrafficLog>, String> {
        cfg.log.traffic.as_deref().map(TrafficLog::open).transpose()
    }

    fn open(path: &Path) -> Result<TrafficLog, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("log.traffic: creating {}: {e}", dir.display()))?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("log.traffic: opening {}: {e}", path.display()))?;
        Ok(TrafficLog {
            path: path.to_path_buf(),
            out: std::io::BufWriter::new(f),
            errors: 0,
        })
    }

    fn write(&mut self, r: &SessionRecord) {
        if writeln!(self.out, "{}", r.to_json()).is_err() {
            self.errors += 1;
            if self.errors == 1 {
                tracing::error!("cannot write traffic log {}", self.path.display());
            }
        }
    }

    fn flush(&mut self) {
        let _ = self.out.flush();
    }
}
