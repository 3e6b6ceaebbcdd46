//! The appliance's datapath and everything it needs, without DPDK: it builds and is tested on
//! a machine without libdpdk. The `appliance` crate adds the DPDK ports and the runtime.
//!
//! - [`packet`]: zero-copy header views, the frame parser, checksums;
//! - [`flow`]: the per-worker flow table, TCP tracking, the timer wheel;
//! - [`mss`]: MSS clamping and insertion on SYN / SYN-ACK;
//! - [`tls`]: TLS record deframing, ClientHello parsing, JA4;
//! - [`accumulate`]: holding ClientHello segments, judging and releasing them;
//! - [`worker`]: the poll loop, generic over [`io::PacketIo`];
//! - [`config`], [`live`], [`policy`]: settings at start and at run time;
//! - [`record`], [`stats`], [`capture`]: what a worker reports to the control thread;
//! - [`control`]: the control socket's grammar and server (shared with `appliancectl`);
//! - [`logging`]: the `tracing` subscriber with a run-time level.
//!
//! The map of the whole tree is `ARCHITECTURE.md` at the repository root.

pub mod accumulate;
pub mod capture;
pub mod config;
pub mod control;
pub mod counters;
pub mod flow;
pub mod io;
pub mod live;
pub mod logging;
pub mod mss;
pub mod packet;
pub mod policy;
pub mod record;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tls;
pub mod worker;
