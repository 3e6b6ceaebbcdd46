//! The poll loop of one worker core: receive a burst from each side, process each frame, send
//! it out of the other side, flush; between bursts, the accumulator's timers, the control
//! thread's queries and aging. Generic over `PacketIo` so it runs on DPDK ports in production
//! and on in-memory fakes in tests.
//!
//! This file owns the `Worker` itself, its construction, the poll loop, draining and
//! shutdown. The work is in the submodules, each private:
//! - `burst`: the per-burst pre-pass (`Pre`: parse, flow key) and prefetch pipeline;
//! - `process`: what happens to one frame (fast path, general path, flow creation);
//! - `mailbox`: `show sessions` queries from the control thread, answered as rows;
//! - `end`: a session's end (counting by reason, its record to the control thread).

mod burst;
mod end;
mod mailbox;
mod process;

pub use mailbox::{Mailbox, SessionQuery, SessionRow};

use crate::accumulate::{Accumulator, Capacity};
use crate::config::{MalformedAction, OnTableFull};
use crate::counters::WorkerCounters;
use crate::flow::{EndReason, FlowTable, HashKey, Timeouts};
use crate::io::{PacketIo, Side, BURST};
use crate::live::{Live, Shared};
use crate::record::SessionRecord;
use burst::Pre;
use crossbeam::queue::ArrayQueue;
use end::{SessionEnd, WhenFull};
use mailbox::Answering;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// How a worker is set up (by the runtime, or by a test).
pub struct WorkerConfig {
    pub id: u16,
    pub flow_capacity: u32,
    pub timeouts: Timeouts,
    pub on_table_full: OnTableFull,
    pub malformed: MalformedAction,
    /// Unix time in ms at the worker clock's zero (for record timestamps).
    pub wall_epoch_ms: u64,
    /// Hold slots shared by all workers.
    pub capacity: Arc<Capacity>,
    /// Control requests to this worker.
    pub mailbox: Arc<Mailbox>,
    /// The flow table's hash secret (`HashKey::random` in the appliance).
    pub hash_key: HashKey,
}

/// Most flows expired per loop, so a mass expiry cannot stall RX for long.
const EXPIRE_BUDGET: usize = 1024;

/// One worker: its queue on both ports and everything it owns.
pub struct Worker<P: PacketIo> {
    pub id: u16,
    pub(crate) io: P,
    counters: Arc<WorkerCounters>,
    shared: Arc<Shared>,
    live: Arc<Live>,
    live_version: u64,
    flows: FlowTable,
    acc: Accumulator<P::Buf>,
    /// Where ended sessions are counted and their records go.
    end: SessionEnd,
    /// The control thread's `show sessions` queries and the scan answering one.
    queries: Answering,
    on_table_full: OnTableFull,
    malformed: MalformedAction,
    rx: Vec<P::Buf>,
    /// What the first pass over a burst learnt about each frame (`BURST` entries, reused).
    pre: Box<[Pre]>,
    /// The burst's frames while the pipeline works on them (`BURST` capacity, reused).
    held: Vec<Option<P::Buf>>,
    /// Whether frames of the common shapes take the established-flow path (`process_lite`).
    /// Always on but in tests and fuzzing, which turn it off to hold the two paths equal.
    pub(crate) lite: bool,
    /// Frames the established-flow path forwarded (tests check that it was taken).
    #[cfg(test)]
    lite_taken: u64,
}

impl<P: PacketIo> Worker<P> {
    pub fn new(
        cfg: WorkerConfig,
        io: P,
        counters: Arc<WorkerCounters>,
        shared: Arc<Shared>,
        log: Option<(Arc<ArrayQueue<SessionRecord>>, bool)>,
    ) -> Self {
        let live_version = shared.version();
        let pool = cfg.capacity.pool_packets;
        let acc = Accumulator::new(pool, pool, cfg.capacity.clone(), counters.clone());
        Worker {
            acc,
            id: cfg.id,
            io,
            end: SessionEnd::new(counters.clone(), log, cfg.id, cfg.wall_epoch_ms),
            counters,
            live: shared.load(),
            live_version,
            shared,
            flows: FlowTable::new(cfg.flow_capacity, cfg.id, cfg.timeouts, cfg.hash_key),
            queries: Answering::new(cfg.mailbox.clone()),
            on_table_full: cfg.on_table_full,
            malformed: cfg.malformed,
            rx: Vec::with_capacity(BURST),
            pre: burst::pre_entries(BURST),
            held: Vec::with_capacity(BURST),
            lite: true,
            #[cfg(test)]
            lite_taken: 0,
        }
    }

    /// One iteration at worker time `now_ms`: a burst from each side, processed and flushed,
    /// then aging. Returns frames received.
    #[inline]
    pub fn poll(&mut self, now_ms: u64) -> usize {
        let v = self.shared.version();
        if v != self.live_version {
            self.live = self.shared.load();
            self.live_version = v;
        }
        let mut total = 0;
        for side in Side::BOTH {
            self.io.rx_burst(side, &mut self.rx);
            let n = self.rx.len();
            if n == 0 {
                continue;
            }
            total += n;
            let bytes = self.burst(side, now_ms);
            let c = &self.counters.base;
            match side {
                Side::Client => {
                    c.rx_from_client.add(n as u64);
                    c.rx_bytes_from_client.add(bytes);
                }
                Side::Server => {
                    c.rx_from_server.add(n as u64);
                    c.rx_bytes_from_server.add(bytes);
                }
            }
        }
        self.acc
            .poll_timers(&mut self.io, &self.live, &mut self.flows, now_ms);
        self.queries.poll(&self.flows, &self.acc, self.id, now_ms);
        self.io.flush();
        self.expire(now_ms);
        let c = &self.counters.base;
        c.polls.inc();
        if total > 0 {
            c.busy_polls.inc();
        }
        let [dc, ds] = self.io.tx_dropped();
        c.tx_dropped_to_client.set(dc);
        c.tx_dropped_to_server.set(ds);
        c.flows_active.set(self.flows.len() as u64);
        if self.flows.len() as u64 > c.flows_peak.get() {
            c.flows_peak.set(self.flows.len() as u64);
        }
        total
    }

    fn expire(&mut self, now_ms: u64) {
        let (flows, acc, end) = (&mut self.flows, &mut self.acc, &self.end);
        flows.expire(now_ms, EXPIRE_BUDGET, |idx, f| {
            end.end(acc, idx, f, EndReason::AgedOut, now_ms, WhenFull::Drop)
        });
    }

    /// Poll until `stop` is set, then drain: keep polling until both sides are quiet for a
    /// while (bounded), so frames already received are forwarded, not dropped; then end every
    /// session with reason `shutdown` (unless it had already ended).
    pub fn run(&mut self, stop: &AtomicBool, clock: Instant) {
        let now = || clock.elapsed().as_millis() as u64;
        while !stop.load(Ordering::Relaxed) {
            self.poll(now());
        }
        let mut quiet = 0;
        for _ in 0..100_000 {
            if self.poll(now()) == 0 {
                quiet += 1;
                if quiet >= 64 {
                    break;
                }
            } else {
                quiet = 0;
            }
        }
        self.io.flush();
        self.shutdown(now());
    }

    /// End every session (reason `shutdown` unless it had already ended): sessions still
    /// accumulating are released or reset per `on_limit` first. Records are handed over even
    /// if the log queue is momentarily full (the control thread is draining it).
    pub fn shutdown(&mut self, now_ms: u64) {
        let live = self.live.clone();
        self.acc
            .shutdown(&mut self.io, &live, &mut self.flows, now_ms);
        self.io.flush();
        let (flows, acc, end) = (&mut self.flows, &mut self.acc, &self.end);
        flows.drain(|idx, f| end.end(acc, idx, f, EndReason::Shutdown, now_ms, WhenFull::Wait));
        self.counters.base.flows_active.set(0);
    }

    /// Send the held packets of sessions the appliance ends itself to a capture writer.
    pub fn set_captures(
        &mut self,
        queue: Arc<ArrayQueue<crate::capture::CaptureJob<P::Buf>>>,
        dir: std::path::PathBuf,
    ) {
        self.acc.set_captures(queue, dir, self.end.wall_epoch_ms);
    }

    /// The accumulator itself (tests reach into its pools).
    #[cfg(test)]
    pub(crate) fn acc_mut(&mut self) -> &mut Accumulator<P::Buf> {
        &mut self.acc
    }

    /// Sessions the accumulator holds state for.
    pub fn accumulating(&self) -> usize {
        self.acc.active()
    }

    pub fn io(&self) -> &P {
        &self.io
    }

    /// The port layer, writable: tests feed frames to a `VecIo` and take what it sent.
    pub fn io_mut(&mut self) -> &mut P {
        &mut self.io
    }

    /// Turn the established-flow path off or on. Tests and fuzzing run the same traffic both
    /// ways and require the same results; the appliance always runs with it on.
    #[cfg(any(test, feature = "testing"))]
    pub fn set_established_path(&mut self, on: bool) {
        self.lite = on;
    }

    pub fn flows(&self) -> &FlowTable {
        &self.flows
    }

    pub fn counters(&self) -> &WorkerCounters {
        &self.counters
    }

    pub fn capacity(&self) -> &Capacity {
        self.acc.capacity()
    }
}

#[cfg(test)]
pub(crate) mod tests;
