//! The configuration that can change at run time, shared with the workers without a lock:
//! the control thread publishes a new snapshot and bumps a version; each worker compares the
//! version once per loop (one relaxed load) and takes the new snapshot only when it changed.

use crate::config::{Config, MssClamp, MssInsert};
use crate::io::Side;
use crate::mss::MssPolicy;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Everything a worker reads per packet that an operator may change while it runs.
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// MSS policy by egress side.
    pub mss: [MssPolicy; 2],
}

impl Live {
    /// Build from the config and the ports' MTUs (for `clamp = "auto"`), by side.
    pub fn from_config(cfg: &Config, mtu: [u16; 2]) -> Live {
        let mut mss = [MssPolicy::default(); 2];
        for side in Side::BOTH {
            mss[side.index()] =
                mss_policy(cfg.mss.clamp, cfg.mss.insert_missing, mtu[side.index()]);
        }
        Live { mss }
    }
}

/// The MSS policy for packets leaving through a port with this MTU.
pub fn mss_policy(clamp: MssClamp, insert: MssInsert, mtu: u16) -> MssPolicy {
    let (clamp_v4, clamp_v6) = match clamp {
        MssClamp::Off => (None, None),
        MssClamp::Auto => (
            Some(MssPolicy::auto_clamp_v4(mtu)),
            Some(MssPolicy::auto_clamp_v6(mtu)),
        ),
        MssClamp::Value(v) => (Some(v), Some(v)),
    };
    MssPolicy {
        clamp_v4,
        clamp_v6,
        insert_missing: match insert {
            MssInsert::Off => None,
            MssInsert::Value(v) => Some(v),
        },
    }
}

/// The published snapshot and its version.
pub struct Shared {
    version: AtomicU64,
    live: ArcSwap<Live>,
}

impl Shared {
    pub fn new(live: Live) -> Arc<Shared> {
        Arc::new(Shared {
            version: AtomicU64::new(1),
            live: ArcSwap::from_pointee(live),
        })
    }

    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn load(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// Publish a new snapshot (control thread only).
    pub fn publish(&self, live: Live) {
        self.live.store(Arc::new(live));
        self.version.fetch_add(1, Ordering::AcqRel);
    }
}
