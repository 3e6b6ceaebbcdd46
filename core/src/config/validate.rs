//! `Config::validate`: the checks types alone do not make (ranges, consistency), one function
//! a section. Each error names the key: `section.key: message`.

use super::{
    multiprocess_blocker, AccumulationConfig, Config, ConfigError, DiagConfig, EalConfig,
    FlowConfig, MempoolConfig, PortsConfig, WorkersConfig, MAX_BYTES_MAX, MAX_BYTES_MIN,
    MAX_QUEUES, PACKETLIMIT_MAX, PACKETLIMIT_MIN,
};

/// The error for `key`.
fn bad(key: &str, msg: String) -> Result<(), ConfigError> {
    Err(ConfigError(format!("{key}: {msg}")))
}

impl Config {
    /// Check values that types alone do not (ranges, consistency).
    pub fn validate(&self) -> Result<(), ConfigError> {
        // In this order: the first error found is the one reported.
        workers(&self.workers)?;
        ports(&self.ports)?;
        mempool_cache(&self.mempool)?;
        flow(&self.flow)?;
        accumulation(&self.accumulation)?;
        self.policy.validate().map_err(ConfigError)?;
        crate::logging::parse_level(&self.log.level)
            .map_err(|e| ConfigError(format!("log.level: {e}")))?;
        diag(&self.diag, &self.eal)?;
        mempool_mbufs(&self.mempool)
    }
}

/// `[workers]`: queue count, one distinct core per queue.
fn workers(w: &WorkersConfig) -> Result<(), ConfigError> {
    let q = w.queue_count();
    if q == 0 || q > MAX_QUEUES {
        return bad(
            "workers.queues",
            format!("must be 1..={MAX_QUEUES}, got {q}"),
        );
    }
    if !w.cores.is_empty() && w.cores.len() != q as usize {
        return bad(
            "workers.cores",
            format!(
                "gives {} cores for {q} queues: give one core per queue",
                w.cores.len()
            ),
        );
    }
    let mut seen = w.cores.clone();
    seen.sort_unstable();
    if seen.windows(2).any(|pair| pair[0] == pair[1]) {
        return bad("workers.cores", "lists a core twice".into());
    }
    Ok(())
}

/// `[ports]`: descriptor counts, MTU, two different ports.
fn ports(p: &PortsConfig) -> Result<(), ConfigError> {
    for (key, v) in [("ports.rx_desc", p.rx_desc), ("ports.tx_desc", p.tx_desc)] {
        if !(64..=16384).contains(&v) {
            return bad(key, format!("must be 64..=16384, got {v}"));
        }
    }
    if let Some(mtu) = p.mtu {
        if !(576..=9600).contains(&mtu) {
            return bad("ports.mtu", format!("must be 576..=9600, got {mtu}"));
        }
    }
    if p.client.is_some() && p.client == p.server {
        return bad("ports.server", "is the same port as ports.client".into());
    }
    Ok(())
}

/// `[mempool] cache`.
fn mempool_cache(m: &MempoolConfig) -> Result<(), ConfigError> {
    if m.cache > 512 {
        return bad(
            "mempool.cache",
            format!(
                "must be at most 512 (RTE_MEMPOOL_CACHE_MAX_SIZE), got {}",
                m.cache
            ),
        );
    }
    Ok(())
}

/// `[mempool] mbufs` (checked last, after every other section).
fn mempool_mbufs(m: &MempoolConfig) -> Result<(), ConfigError> {
    if let Some(n) = m.mbufs {
        if n < 1024 {
            return bad("mempool.mbufs", format!("must be at least 1024, got {n}"));
        }
    }
    Ok(())
}

/// `[flow]`: table capacity and timeouts.
fn flow(f: &FlowConfig) -> Result<(), ConfigError> {
    if !(1024..=64 * 1024 * 1024).contains(&f.capacity) {
        return bad(
            "flow.capacity",
            format!("must be 1024..=67108864, got {}", f.capacity),
        );
    }
    f.timeouts.validate().map_err(ConfigError)
}

/// `[accumulation]`: budgets, pool, ports, timers.
fn accumulation(a: &AccumulationConfig) -> Result<(), ConfigError> {
    if !(PACKETLIMIT_MIN..=PACKETLIMIT_MAX).contains(&a.packetlimit) {
        return bad(
            "accumulation.packetlimit",
            format!(
                "must be {PACKETLIMIT_MIN}..={PACKETLIMIT_MAX}, got {}",
                a.packetlimit
            ),
        );
    }
    if !(MAX_BYTES_MIN..=MAX_BYTES_MAX).contains(&a.max_bytes) {
        return bad(
            "accumulation.max_bytes",
            format!(
                "must be {MAX_BYTES_MIN}..={MAX_BYTES_MAX}, got {}",
                a.max_bytes
            ),
        );
    }
    if !(64..=16 * 1024 * 1024).contains(&a.pool_packets) {
        return bad(
            "accumulation.pool_packets",
            format!("must be 64..=16777216, got {}", a.pool_packets),
        );
    }
    if a.pool_packets < a.packetlimit as u32 {
        return bad(
            "accumulation.pool_packets",
            "is smaller than packetlimit".into(),
        );
    }
    if a.ports.is_empty() && a.enabled {
        return bad(
            "accumulation.ports",
            "is empty (set enabled = false instead)".into(),
        );
    }
    if !(0.5..=600.0).contains(&a.hold_timeout_secs) {
        return bad(
            "accumulation.hold_timeout_secs",
            format!("must be 0.5..=600, got {}", a.hold_timeout_secs),
        );
    }
    if !(10..=60_000).contains(&a.retransmit_timeout_ms) {
        return bad(
            "accumulation.retransmit_timeout_ms",
            format!("must be 10..=60000, got {}", a.retransmit_timeout_ms),
        );
    }
    if !(1..=16).contains(&a.retransmit_tries) {
        return bad(
            "accumulation.retransmit_tries",
            format!("must be 1..=16, got {}", a.retransmit_tries),
        );
    }
    if a.min_ttl == 0 {
        return bad("accumulation.min_ttl", "must be 1..=255, got 0".into());
    }
    Ok(())
}

/// `[diag]`: capture count, and pdump only with DPDK multi-process.
fn diag(d: &DiagConfig, eal: &EalConfig) -> Result<(), ConfigError> {
    if d.max_captures == 0 {
        return bad("diag.max_captures", "must be at least 1".into());
    }
    if d.pdump {
        if let Some(why) = multiprocess_blocker(&eal.args) {
            return bad(
                "diag.pdump",
                format!("needs DPDK multi-process, but eal.args has {why}: remove it, reserve hugepages (dpdk-hugepages.py) and give a unique --file-prefix"),
            );
        }
    }
    Ok(())
}
