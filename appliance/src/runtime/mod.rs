//! `appliance run`: start EAL from the config, set up the mbuf pool and both ports, start one
//! pinned worker per queue, report, serve the control socket until SIGINT/SIGTERM, and shut
//! down in order.
//!
//! This module owns the order of those steps and nothing else: [`run`] reads as the sequence,
//! each step lives in a submodule. None of them calls DPDK directly (that is `crate::port`).
//!
//! - `start`: EAL, the capture server, the mbuf pool and ports, and the checks before start;
//! - `workers`: spawning and pinning the worker threads, their configs and mailboxes;
//! - `output`: what workers hand to the control thread (session records, captures);
//! - `control`: signals, the control socket, metrics listener, telemetry, periodic stats;
//! - `report`: the lines end-to-end tests read (`ready`, stats, final counters, leak check);
//! - `shutdown`: the ordered shutdown.
//!
//! Teardown order is carried by ownership: `start::Dpdk` drops its ports before the pool
//! and the pool before EAL, and `workers::Workers`, created after it, is dropped (its
//! threads stopped and joined) first, on every return, an early error included.

mod control;
mod output;
mod report;
mod shutdown;
mod start;
mod workers;

use crate::accumulate::Capacity;
use crate::config::Config;
use crate::live::{Live, Shared};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Run the appliance until a signal stops it.
pub fn run(
    cfg: Config,
    config_path: Option<PathBuf>,
    eal_override: Option<Vec<String>>,
) -> Result<(), String> {
    crate::logging::init(crate::logging::parse_level(&cfg.log.level)?);
    let stop = control::stop_on_signals()?;
    // Bind the Prometheus listener first: a taken port fails the start before anything runs.
    let metrics = control::bind_metrics(&cfg)?;

    let dpdk = start::Dpdk::start(&cfg, eal_override)?;
    let common = Common::new(&cfg, dpdk.mtu());
    let traffic_log = output::TrafficLog::open_configured(&cfg)?;
    let mut workers = workers::Workers::spawn(&cfg, &dpdk, &common, traffic_log)?;
    report::ready(&dpdk);

    let ops = control::ops(&cfg, config_path, &dpdk, &workers, &common);
    let control = control::Control::start(&cfg, ops.clone(), metrics)?;
    control.run(&stop, &dpdk, &mut workers);
    control.stop();

    shutdown::shutdown(dpdk, workers, &common.capacity, ops);
    Ok(())
}

/// What the workers and the control thread share.
struct Common {
    /// The live settings the control socket changes and the workers read.
    shared: Arc<Shared>,
    /// Hold slots for all workers.
    capacity: Arc<Capacity>,
    /// The workers' clock (zero at start).
    clock: Instant,
    /// Unix time in ms at `clock`'s zero, for record timestamps.
    wall_epoch_ms: u64,
}

impl Common {
    fn new(cfg: &Config, mtu: [u16; 2]) -> Common {
        Common {
            shared: Shared::new(Live::from_config(cfg, mtu)),
            capacity: Capacity::new(cfg.accumulation.pool_packets),
            clock: Instant::now(),
            wall_epoch_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }
    }
}
