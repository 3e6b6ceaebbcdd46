//! The appliance's DPDK runtime: EAL and ports ([`port`], the only module that calls DPDK),
//! the startup order, worker threads, control loop and ordered shutdown ([`runtime`]), the
//! control socket's backend, metrics listener and advice ([`control`]), and the
//! failed-session capture writer ([`capture`]). The datapath itself (packet views, flow
//! table, MSS fixup, accumulation, the worker's poll loop) is `appliance-core`, which builds
//! without DPDK. The map of the whole tree: `ARCHITECTURE.md` at the repository root.

pub mod capture;
pub mod control;
pub mod port;
pub mod runtime;

// The core's modules under their old paths inside this crate (`crate::worker`, ...).
use appliance_core::{accumulate, config, counters, flow, io, live, logging, record, worker};
