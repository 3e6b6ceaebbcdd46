//! The end of a session: whatever removed it from the flow table (aging, port reuse,
//! shutdown), its accumulator state is dropped, it is counted by end reason, and its record
//! goes to the control thread when a traffic log or a diagnostic wants it.
//!
//! Owns: `SessionEnd` (where records go) and the hand-off. Must not remove flows itself (the
//! caller has already taken the flow out of the table) nor touch frames.

use crate::accumulate::Accumulator;
use crate::counters::WorkerCounters;
use crate::flow::{flag, EndReason, Flow};
use crate::io::Frame;
use crate::record::SessionRecord;
use crossbeam::queue::ArrayQueue;
use std::sync::Arc;

/// Records to the control thread, and whether every session goes (a traffic log is
/// configured) or only those with a diagnostic.
pub(super) type Log = Option<(Arc<ArrayQueue<SessionRecord>>, bool)>;

/// What to do when the log queue is full.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum WhenFull {
    /// Count the record as lost (`log_queue_full`): the datapath never waits.
    Drop,
    /// Retry for up to a second (shutdown: the control thread is draining the queue).
    Wait,
}

/// Where a worker's ended sessions go.
pub(super) struct SessionEnd {
    counters: Arc<WorkerCounters>,
    log: Log,
    worker: u16,
    /// Unix time in ms at the worker clock's zero (for record timestamps).
    pub(super) wall_epoch_ms: u64,
}

impl SessionEnd {
    pub(super) fn new(
        counters: Arc<WorkerCounters>,
        log: Log,
        worker: u16,
        wall_epoch_ms: u64,
    ) -> Self {
        SessionEnd {
            counters,
            log,
            worker,
            wall_epoch_ms,
        }
    }

    /// A session removed from the flow table (`f`, which was in slot `idx`): drop the
    /// accumulator's state for it, count it by end reason (its own, or `default_reason`) and
    /// hand its record to the control thread when a traffic log or a diagnostic wants it; a
    /// ClientHello summary no record takes goes back to the accumulator's pools.
    pub(super) fn end<B: Frame>(
        &self,
        acc: &mut Accumulator<B>,
        idx: u32,
        f: Flow,
        default_reason: EndReason,
        now_ms: u64,
        when_full: WhenFull,
    ) {
        if f.has(flag::ACCUMULATING) {
            acc.on_flow_removed(idx);
        }
        let tls = acc.take_info(idx);
        let mut f = f;
        if f.has(flag::LOGGED) {
            acc.recycle(tls);
            return;
        }
        f.end_with(default_reason);
        let reason = f.end_reason().unwrap_or(default_reason);
        let counters = &self.counters;
        counters.ended[reason.index()].inc();
        // Without a traffic log only the sessions with a diagnostic go to the control thread.
        let wanted = self
            .log
            .as_ref()
            .filter(|(_, every)| *every || tls.as_ref().is_some_and(|t| t.diag.is_some()));
        let Some((q, _)) = wanted else {
            acc.recycle(tls);
            return;
        };
        let mut rec = SessionRecord::from_flow(&f, self.worker, self.wall_epoch_ms + now_ms);
        rec.tls = tls;
        let wait = when_full == WhenFull::Wait;
        for attempt in 0..1000 {
            match q.push(rec) {
                Ok(()) => {
                    counters.base.log_records.inc();
                    return;
                }
                Err(r) if wait && attempt < 999 => {
                    rec = r;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(mut r) => {
                    counters.base.log_queue_full.inc();
                    acc.recycle(r.tls.take());
                    return;
                }
            }
        }
    }
}
