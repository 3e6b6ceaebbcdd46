//! The ordered shutdown after the control loop ends: workers drained and joined, the capture
//! server stopped, the last records and captures written, the ports stopped, the final
//! counters and the mbuf leak check printed, then the control state, ports, pool and EAL
//! released in that order.
//!
//! Owns that order only. Runs once the control socket, metrics listener and telemetry are
//! stopped (`control::Control::stop`), so nothing else reads the state it releases.

use super::report;
use super::start::Dpdk;
use super::workers::Workers;
use crate::accumulate::Capacity;
use crate::control::ops::Ops;
use std::sync::Arc;

/// Stop everything `run` started, in order, and print the final lines.
pub(super) fn shutdown(mut dpdk: Dpdk, mut workers: Workers, capacity: &Capacity, ops: Arc<Ops>) {
    tracing::info!("stopping: draining workers");
    workers.stop_and_drain();
    // Capture callbacks run inside the workers' RX/TX bursts: stop the server only now.
    drop(dpdk.pdump.take());
    // Captures hold mbuf references: write (and release) them before the pool goes away.
    workers.output.drain();
    workers.output.flush();
    for p in &mut dpdk.ports {
        p.stop();
    }
    report::stats("final", &dpdk.ports, &workers.counters);
    report::final_accumulation(capacity);
    report::final_mbufs(&dpdk.pool, dpdk.pool_start);
    // The control state holds the last references to the pool besides ours: release it while
    // EAL still runs (telemetry and the metrics listener hold none by now). Then the ports,
    // the pool and EAL, in `Dpdk`'s field order.
    drop(ops);
    drop(workers);
    drop(dpdk);
}
