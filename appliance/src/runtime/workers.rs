//! The worker threads: one per queue, each pinned to its `workers.cores` entry and (unless
//! `diag.pdump`) registered with DPDK, with its own config, mailbox, counters, hash secret
//! and queues to the control thread.
//!
//! Owns [`Workers`]: the threads, stopped and joined when it is dropped, and what the control
//! thread reads from them. Must not touch the ports' or pool's lifetimes (`start::Dpdk`) or
//! print what the end-to-end tests read (`report`).

use super::output::{Output, TrafficLog, WorkerEnd};
use super::start::Dpdk;
use super::Common;
use crate::capture::CaptureWriter;
use crate::config::Config;
use crate::counters::WorkerCounters;
use crate::live::Shared;
use crate::port::{self, DpdkIo};
use crate::worker::{Mailbox, Worker, WorkerConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The running workers. Fields drop in declaration order: the threads are stopped and
/// joined before the queues they write to.
pub(super) struct Workers {
    threads: WorkerThreads,
    /// Each worker's counters, by worker index.
    pub counters: Vec<Arc<WorkerCounters>>,
    /// Each worker's control requests (`show sessions`), by worker index.
    pub mailboxes: Vec<Arc<Mailbox>>,
    /// Records and captures the workers hand over.
    pub output: Output,
}

impl Workers {
    /// Start one worker per queue; returns once every one is pinned and registered. On an
    /// error, the workers already running are stopped and joined.
    pub fn spawn(
        cfg: &Config,
        dpdk: &Dpdk,
        common: &Common,
        traffic_log: Option<TrafficLog>,
    ) -> Result<Workers, String> {
        let register = lcore_registration(cfg);
        warn_without_thp(cfg, dpdk.queues);
        let capture_writer = match &cfg.diag.captures {
            Some(dir) => Some(CaptureWriter::new(
                dir,
                cfg.diag.max_captures,
                cfg.diag.max_capture_bytes,
            )?),
            None => None,
        };
        let mut w = Workers {
            threads: WorkerThreads {
                stop: Arc::new(AtomicBool::new(false)),
                handles: Vec::new(),
            },
            counters: Vec::new(),
            mailboxes: Vec::new(),
            output: Output::new(traffic_log, capture_writer),
        };
        for q in 0..dpdk.queues {
            let counters = Arc::new(WorkerCounters::default());
            let mailbox = Arc::new(Mailbox::default());
            w.counters.push(counters.clone());
            w.mailboxes.push(mailbox.clone());
            let launch = Launch {
                wcfg: worker_config(cfg, q, common, mailbox),
                core: cfg.workers.cores.get(q as usize).copied(),
                register,
                io: DpdkIo::new(dpdk.port_ids(), q, dpdk.pool.clone()),
                counters,
                shared: common.shared.clone(),
                end: w.output.connect_worker(),
                stop: w.threads.stop.clone(),
                clock: common.clock,
            };
            w.threads.handles.push(launch.spawn()?);
        }
        Ok(w)
    }

    /// Stop the workers, draining their output while they end their sessions (so every
    /// session gets its record), and join them.
    pub fn stop_and_drain(&mut self) {
        self.threads.stop.store(true, Ordering::SeqCst);
        while self.threads.handles.iter().any(|h| !h.is_finished()) {
            self.output.drain();
            std::thread::sleep(Duration::from_millis(1));
        }
        self.threads.join();
    }
}

/// Whether workers register with DPDK for an lcore id and mempool caches: not with
/// `diag.pdump`, because DPDK 22.11 turns multi-process off for good when a non-EAL thread
/// registers (`rte_thread_register` calls `rte_mp_disable`), and dpdk-dumpcap is a secondary
/// process.
fn lcore_registration(cfg: &Config) -> bool {
    let register = !cfg.diag.pdump;
    if !register {
        println!("pdump: workers run without DPDK lcore ids (no mempool cache), so secondary processes can attach");
    }
    register
}

/// The flow tables ask for transparent huge pages; say so when the kernel will not give them.
fn warn_without_thp(cfg: &Config, queues: u16) {
    let tables_bytes =
        u64::from(queues) * u64::from(cfg.flow.capacity) * crate::flow::SLOT_BYTES as u64;
    let thp = std::fs::read_to_string(crate::flow::THP_ENABLED).ok();
    if let Some(w) =
        crate::flow::thp_warning(thp.as_deref().and_then(crate::flow::thp_mode), tables_bytes)
    {
        tracing::warn!("{w}");
    }
}

fn worker_config(cfg: &Config, id: u16, common: &Common, mailbox: Arc<Mailbox>) -> WorkerConfig {
    WorkerConfig {
        id,
        flow_capacity: cfg.flow.capacity,
        timeouts: cfg.flow.timeouts,
        on_table_full: cfg.flow.on_table_full,
        malformed: cfg.flow.malformed,
        wall_epoch_ms: common.wall_epoch_ms,
        capacity: common.capacity.clone(),
        mailbox,
        // Each worker its own secret: hash flooding (flow/key.rs).
        hash_key: crate::flow::HashKey::random(),
    }
}

/// Everything one worker thread takes with it.
struct Launch {
    wcfg: WorkerConfig,
    /// The CPU to pin to (`workers.cores`), if any.
    core: Option<usize>,
    /// Register with DPDK (see [`lcore_registration`]).
    register: bool,
    io: DpdkIo,
    counters: Arc<WorkerCounters>,
    shared: Arc<Shared>,
    end: WorkerEnd,
    stop: Arc<AtomicBool>,
    clock: Instant,
}

impl Launch {
    /// Start the thread and wait until it is pinned and registered (or says why not).
    fn spawn(self) -> Result<JoinHandle<()>, String> {
        let q = self.wcfg.id;
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let h = std::thread::Builder::new()
            .name(format!("worker{q}"))
            .spawn(move || self.run(ready_tx))
            .map_err(|e| format!("spawning worker {q}: {e}"))?;
        ready_rx
            .recv()
            .map_err(|_| format!("worker {q} died during start"))??;
        Ok(h)
    }

    /// The thread's body: pin, register, report ready, poll until stopped, unregister.
    fn run(self, ready: mpsc::Sender<Result<(), String>>) {
        let q = self.wcfg.id;
        if let Some(core) = self.core {
            if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                let _ = ready.send(Err(format!(
                    "workers.cores: cannot pin worker {q} to core {core}"
                )));
                return;
            }
        }
        if self.register {
            if let Err(e) = port::register_thread() {
                let _ = ready.send(Err(format!("worker {q}: {e}")));
                return;
            }
        }
        let _ = ready.send(Ok(()));
        let mut w = Worker::new(
            self.wcfg,
            self.io,
            self.counters,
            self.shared,
            Some(self.end.log),
        );
        if let Some((cq, dir)) = self.end.captures {
            w.set_captures(cq, dir);
        }
        w.run(&self.stop, self.clock);
        drop(w);
        if self.register {
            port::unregister_thread();
        }
    }
}

/// The worker threads: stopped and joined when dropped, so that an error return after they
/// started (a later worker failing to pin, the control socket or metrics listener failing to
/// bind) cannot leave them polling ports, a pool and an EAL being torn down under them.
struct WorkerThreads {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl WorkerThreads {
    fn join(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for WorkerThreads {
    fn drop(&mut self) {
        self.join();
    }
}
