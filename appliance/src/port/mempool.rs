//! Packet mbuf pools.

use super::DpdkError;
use std::ffi::CString;
use std::ptr::NonNull;

/// An `rte_pktmbuf` pool. Lives as long as EAL; shared by all workers (each has a cache).
pub struct Mempool {
    raw: NonNull<dpdk_sys::rte_mempool>,
}

// SAFETY: an rte_mempool is designed for concurrent use from any lcore (lock-free ring plus
// per-lcore caches); the pointer itself is never freed while the appliance runs.
unsafe impl Send for Mempool {}
// SAFETY: as above; all operations through &Mempool are thread-safe DPDK calls.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Create a pool of `n` mbufs with `data_room` bytes each (headroom included).
    pub fn create(name: &str, n: u32, cache: u32, data_room: u16) -> Result<Mempool, DpdkError> {
        let c = CString::new(name).map_err(|_| DpdkError::new("pool name with NUL", 22))?;
        // SAFETY: valid C string; the socket id `SOCKET_ID_ANY` (-1) lets DPDK choose.
        let p =
            unsafe { dpdk_sys::rte_pktmbuf_pool_create(c.as_ptr(), n, cache, 0, data_room, -1) };
        NonNull::new(p).map(|raw| Mempool { raw }).ok_or_else(|| {
            DpdkError::from_rc(
                format!("rte_pktmbuf_pool_create {name:?} ({n} mbufs of {data_room} bytes)"),
                -1,
            )
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.raw.as_ptr()
    }

    /// Mbufs free in the pool (including those in per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is valid; the count is a racy snapshot, which is all we need.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Mbufs handed out (in NIC rings, held, in flight).
    pub fn in_use(&self) -> u32 {
        // SAFETY: as above.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// Total mbufs in the pool.
    pub fn size(&self) -> u32 {
        // SAFETY: reading a field of a valid pool that never changes after creation.
        unsafe { (*self.raw.as_ptr()).size }
    }
}
