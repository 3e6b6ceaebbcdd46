//! The per-worker store of ClientHello summaries: by flow until the flow's record takes it,
//! with recycled boxes. The summary's fields are `record::hello`'s.
//!
//! Owns the store (`info`, the spares); it sees no packet.

use super::Accumulator;
use crate::io::Frame;
use crate::record::TlsSummary;

/// Most sessions whose ClientHello summary a worker keeps until the session ends; beyond it
/// the traffic log record goes without the summary (counted).
const MAX_INFO: usize = 1 << 18;
/// Recycled summaries kept per worker.
pub(super) const SPARE_SUMMARIES: usize = 1024;

impl<B: Frame> Accumulator<B> {
    /// Record a one-line outcome for the session's log record.
    pub(super) fn note(&mut self, fidx: u32, result: &'static str, diag: Option<String>) {
        let s = TlsSummary {
            accumulation: Some(result),
            diag,
            ..TlsSummary::default()
        };
        self.store_info(fidx, s);
    }

    /// Merge `s` into flow `fidx`'s summary (a recycled box when it has none yet).
    pub(super) fn store_info(&mut self, fidx: u32, s: TlsSummary) {
        if self.info.len() >= MAX_INFO && !self.info.contains_key(&fidx) {
            self.counters.acc.tls_info_dropped.inc();
            return;
        }
        match self.info.get_mut(&fidx) {
            Some(old) => old.merge(s),
            None => {
                let mut b = self.spare_summaries.pop().unwrap_or_default();
                *b = s;
                self.info.insert(fidx, b);
            }
        }
    }
}
