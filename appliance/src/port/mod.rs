//! The safe layer over `dpdk-sys`: EAL, mbuf pools, owned mbufs, ethdev ports with N queues,
//! and the worker-facing `PacketIo` implementation with buffered TX.
//!
//! This is the only place in the appliance (besides `bindings/`) that calls DPDK.

mod eal;
mod ethdev;
mod io;
mod mbuf;
mod mempool;

pub use eal::Eal;
pub use ethdev::{port_stats, LinkInfo, Port, PortConfig, PortStats};
pub use io::DpdkIo;
pub use mbuf::Mbuf;
pub use mempool::Mempool;

pub mod telemetry;

/// The data room of each mbuf of the packet pool (DPDK's default buffer size).
pub const MBUF_DATA_ROOM: u16 = dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16;

use std::fmt;

/// A DPDK call that failed, with what we were doing and DPDK's own words for the errno.
#[derive(Debug, Clone)]
pub struct DpdkError {
    pub context: String,
    pub errno: i32,
}

impl DpdkError {
    pub(crate) fn new(context: impl Into<String>, errno: i32) -> Self {
        DpdkError {
            context: context.into(),
            errno: errno.abs(),
        }
    }

    /// From a DPDK return code (negative errno) or, when it is -1, from `rte_errno`.
    pub(crate) fn from_rc(context: impl Into<String>, rc: i32) -> Self {
        let errno = if rc == -1 {
            // SAFETY: reads the calling thread's rte_errno; no preconditions.
            unsafe { dpdk_sys::shim_rte_errno() }
        } else {
            rc
        };
        Self::new(context, errno)
    }
}

impl fmt::Display for DpdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
        let msg = unsafe { std::ffi::CStr::from_ptr(dpdk_sys::rte_strerror(self.errno)) };
        write!(
            f,
            "{}: {} (errno {})",
            self.context,
            msg.to_string_lossy(),
            self.errno
        )
    }
}

impl std::error::Error for DpdkError {}

/// Turn a DPDK return code into a Result.
pub(crate) fn check(rc: i32, context: impl FnOnce() -> String) -> Result<i32, DpdkError> {
    if rc < 0 {
        Err(DpdkError::from_rc(context(), rc))
    } else {
        Ok(rc)
    }
}

/// TSC ticks per second (valid after EAL init).
pub fn tsc_hz() -> u64 {
    // SAFETY: plain read of a value EAL computed at init; returns 0 before init.
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}

/// Current TSC value.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: reads the CPU's time-stamp counter; no memory access.
    unsafe { dpdk_sys::shim_rte_rdtsc() }
}

/// Register the calling (non-EAL) thread with DPDK so it gets an lcore id and mempool caches.
pub fn register_thread() -> Result<u32, DpdkError> {
    // SAFETY: may be called from any thread after EAL init; idempotent per thread.
    let rc = unsafe { dpdk_sys::rte_thread_register() };
    check(rc, || "rte_thread_register".to_string())?;
    // SAFETY: reads the calling thread's lcore id (TLS).
    Ok(unsafe { dpdk_sys::shim_rte_lcore_id() })
}

/// Undo `register_thread` before the thread exits.
pub fn unregister_thread() {
    // SAFETY: releases the calling thread's lcore id; harmless if it had none.
    unsafe { dpdk_sys::rte_thread_unregister() }
}
