//! The accumulation proxy appliance: a DPDK bump-in-the-wire between a client-side and a
//! server-side port that fixes TCP MSS on SYN / SYN-ACK and accumulates TLS ClientHellos
//! within a bounded per-session packet budget. See `../shared/DESIGN.md`.

pub mod config;
pub mod io;
pub mod port;
pub mod runtime;
pub mod stats;
pub mod worker;
