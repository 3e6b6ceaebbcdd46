//! The worker's half of failed-session captures: when the appliance ends a session itself
//! (`accumulation-limit`, `policy-deny`, `release-timeout`), the accumulator packs the
//! buffers it held for it into a [`CaptureJob`] (references, no copy, no allocation) and
//! hands it over a bounded lock-free queue. The writer on the control thread (the
//! `appliance` crate's `capture` module) turns each job into [`file_name`]'s pcap file.

use std::path::{Path, PathBuf};

/// Most packets kept per capture (the largest packet limit plus the over-budget segment).
pub const MAX_PACKETS: usize = crate::config::PACKETLIMIT_MAX as usize + 1;

/// One session's packets, in sequence order.
pub struct CaptureJob<B> {
    pub session_id: u64,
    pub reason: &'static str,
    pub unix_ms: u64,
    pub packets: [Option<B>; MAX_PACKETS],
}

impl<B> CaptureJob<B> {
    pub fn new(session_id: u64, reason: &'static str, unix_ms: u64) -> Self {
        CaptureJob {
            session_id,
            reason,
            unix_ms,
            packets: std::array::from_fn(|_| None),
        }
    }

    /// Add a packet; false when full (it is dropped).
    pub fn push(&mut self, b: B) -> bool {
        match self.packets.iter_mut().find(|p| p.is_none()) {
            Some(slot) => {
                *slot = Some(b);
                true
            }
            None => false,
        }
    }
}

/// The file a session's capture is written to.
pub fn file_name(dir: &Path, session_id: u64) -> PathBuf {
    dir.join(format!("session-{session_id}.pcap"))
}
