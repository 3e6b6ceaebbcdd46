//! The hold slots shared by all workers: one atomic counter, no lock.
//!
//! Owns only the shared counters (slots, sessions, their peaks). It knows nothing of
//! sessions or segments: the accumulator reserves a session's slots when it starts holding
//! (`admit`) and returns them when the session is freed (`session`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// The hold slots shared by all workers: one atomic counter, no lock.
#[derive(Debug)]
pub struct Capacity {
    pub pool_packets: u32,
    slots: AtomicU32,
    sessions: AtomicU32,
    peak_sessions: AtomicU32,
    peak_slots: AtomicU32,
}

impl Capacity {
    pub fn new(pool_packets: u32) -> Arc<Capacity> {
        Arc::new(Capacity {
            pool_packets,
            slots: AtomicU32::new(0),
            sessions: AtomicU32::new(0),
            peak_sessions: AtomicU32::new(0),
            peak_slots: AtomicU32::new(0),
        })
    }

    /// Reserve `n` slots for a starting session; false when the pool cannot hold them.
    pub fn reserve(&self, n: u32) -> bool {
        let ok = self
            .slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur + n <= self.pool_packets).then_some(cur + n)
            });
        match ok {
            Ok(prev) => {
                self.peak_slots.fetch_max(prev + n, Ordering::Relaxed);
                let s = self.sessions.fetch_add(1, Ordering::AcqRel) + 1;
                self.peak_sessions.fetch_max(s, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Return a session's `n` slots.
    pub fn release(&self, n: u32) {
        self.slots.fetch_sub(n, Ordering::AcqRel);
        self.sessions.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn slots_in_use(&self) -> u32 {
        self.slots.load(Ordering::Acquire)
    }
    pub fn active_sessions(&self) -> u32 {
        self.sessions.load(Ordering::Acquire)
    }
    pub fn peak_sessions(&self) -> u32 {
        self.peak_sessions.load(Ordering::Relaxed)
    }
    pub fn peak_slots(&self) -> u32 {
        self.peak_slots.load(Ordering::Relaxed)
    }
    /// Sessions that can accumulate at once at a packet limit.
    pub fn sessions_at(&self, packetlimit: u16) -> u32 {
        self.pool_packets / packetlimit.max(1) as u32
    }
}
