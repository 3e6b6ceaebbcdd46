//! The configuration that can change at run time, shared with the workers without a lock:
//! the control thread publishes a new snapshot and bumps a version; each worker compares the
//! version once per loop (one relaxed load) and takes the new snapshot only when it changed.

use crate::config::{Config, Fragments, MssClamp, MssInsert, OnCapacity, OnLimit, OnUnparsable};
use crate::io::Side;
use crate::mss::MssPolicy;
use crate::policy::Policy;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Everything a worker reads per packet that an operator may change while it runs.
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// MSS policy by egress side.
    pub mss: [MssPolicy; 2],
    pub accumulate: bool,
    /// Inspection ports, as a bitmap over the 65536 port numbers.
    pub ports: Arc<PortSet>,
    pub packetlimit: u16,
    pub max_bytes: u32,
    pub on_limit: OnLimit,
    pub on_capacity: OnCapacity,
    pub hold_timeout_ms: u32,
    pub rto_ms: u32,
    pub tries: u8,
    pub policy: Arc<Policy>,
    /// Most sessions one client address accumulates at once on a worker (0: no cap).
    pub per_source: u16,
    /// Least TTL / hop limit of a held segment, raised when held (`[accumulation] min_ttl`).
    pub min_ttl: u8,
    /// What an unparsable ClientHello gets (`Config::on_unparsable`).
    pub on_unparsable: OnUnparsable,
    /// Drop TCP fragments (`[flow] fragments = "drop"` while accumulation is on).
    pub drop_tcp_fragments: bool,
}

/// A set of TCP ports (8 KiB bitmap: one load and a bit test per lookup).
#[derive(Clone)]
pub struct PortSet(Box<[u64; 1024]>);

impl PortSet {
    pub fn new(ports: &[u16]) -> PortSet {
        let mut b = Box::new([0u64; 1024]);
        for &p in ports {
            b[p as usize / 64] |= 1 << (p % 64);
        }
        PortSet(b)
    }
    #[inline]
    pub fn contains(&self, p: u16) -> bool {
        self.0[p as usize / 64] & (1 << (p % 64)) != 0
    }
}

impl Default for PortSet {
    fn default() -> Self {
        PortSet::new(&[])
    }
}

impl std::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v: Vec<u16> = (0..=u16::MAX).filter(|p| self.contains(*p)).collect();
        write!(f, "{v:?}")
    }
}

impl Live {
    /// Build from the config and the ports' MTUs (for `clamp = "auto"`), by side.
    pub fn from_config(cfg: &Config, mtu: [u16; 2]) -> Live {
        let mut mss = [MssPolicy::default(); 2];
        for side in Side::BOTH {
            mss[side.index()] =
                mss_policy(cfg.mss.clamp, cfg.mss.insert_missing, mtu[side.index()]);
        }
        let a = &cfg.accumulation;
        Live {
            mss,
            accumulate: a.enabled,
            ports: Arc::new(PortSet::new(&a.ports)),
            packetlimit: a.packetlimit,
            max_bytes: a.max_bytes,
            on_limit: a.on_limit,
            on_capacity: a.on_capacity,
            hold_timeout_ms: (a.hold_timeout_secs * 1000.0) as u32,
            rto_ms: a.retransmit_timeout_ms,
            tries: a.retransmit_tries,
            policy: Arc::new(Policy::new(&cfg.policy)),
            min_ttl: a.min_ttl,
            per_source: a.per_source,
            on_unparsable: cfg.on_unparsable(),
            drop_tcp_fragments: a.enabled && cfg.flow.fragments == Fragments::Drop,
        }
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
