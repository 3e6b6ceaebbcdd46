//! The accumulation proxy appliance: a DPDK bump-in-the-wire between a client-side and a
//! server-side port that fixes TCP MSS on SYN / SYN-ACK and accumulates TLS ClientHellos
//! within a bounded per-session packet budget. See `../shared/DESIGN.md`.

pub mod accumulate;
pub mod capture;
pub mod config;
pub mod control;
pub mod flow;
pub mod fuzzing;
pub mod gen;
pub mod io;
pub mod live;
pub mod logging;
pub mod metrics_http;
pub mod mss;
pub mod packet;
pub mod policy;
pub mod port;
pub mod record;
pub mod runtime;
pub mod stats;
pub mod telemetry;
pub mod tls;
pub mod worker;
