//! An owned mbuf that returns itself to its pool when dropped.

use crate::io::Frame;
use std::ptr::NonNull;

/// One packet buffer. Holding an `Mbuf` means holding one reference to it.
#[repr(transparent)]
pub struct Mbuf(NonNull<dpdk_sys::rte_mbuf>);

// SAFETY: an Mbuf is one counted reference to a buffer; whoever holds it may use it from any
// thread (workers hand references to the capture thread). Shared bytes are never written while
// more than one reference exists (see `Frame::share`).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Take ownership of a raw mbuf from DPDK (RX burst, alloc).
    ///
    /// # Safety
    /// `raw` must be a valid mbuf whose one reference the caller gives away.
    #[inline]
    pub unsafe fn from_raw(raw: NonNull<dpdk_sys::rte_mbuf>) -> Mbuf {
        Mbuf(raw)
    }

    /// Give the reference away (to TX), without freeing.
    #[inline]
    pub fn into_raw(self) -> *mut dpdk_sys::rte_mbuf {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    #[inline]
    fn raw(&self) -> &dpdk_sys::rte_mbuf {
        // SAFETY: we hold a reference, so the mbuf is valid for our lifetime.
        unsafe { self.0.as_ref() }
    }

    /// Current reference count.
    pub fn refcnt(&self) -> u16 {
        // SAFETY: valid mbuf.
        unsafe { dpdk_sys::shim_rte_mbuf_refcnt_read(self.0.as_ptr()) }
    }

    /// Total packet length over all segments.
    pub fn pkt_len(&self) -> u32 {
        self.raw().pkt_len
    }
}

impl Frame for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off is the start of data_len initialised bytes of the first
        // segment, valid while we hold the reference.
        unsafe {
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        let m = self.raw();
        let (addr, off, len) = (
            m.buf_addr as *mut u8,
            m.data_off as usize,
            m.data_len as usize,
        );
        // SAFETY: as in `data`; &mut self gives exclusive access through this handle, and shared
        // buffers are not written (contract of `share`).
        unsafe { std::slice::from_raw_parts_mut(addr.add(off), len) }
    }

    #[inline]
    fn with_tailroom(&mut self) -> &mut [u8] {
        let m = self.raw();
        let (addr, off) = (m.buf_addr as *mut u8, m.data_off as usize);
        let room = if m.next.is_null() {
            (m.buf_len as usize).saturating_sub(off)
        } else {
            m.data_len as usize
        };
        // SAFETY: the buffer is buf_len bytes from buf_addr; from data_off to its end is ours.
        // Bytes past data_len may be uninitialised garbage but are plain u8s in DPDK memory.
        unsafe { std::slice::from_raw_parts_mut(addr.add(off), room) }
    }

    #[inline]
    fn set_len(&mut self, len: usize) -> bool {
        let m = self.raw();
        if !m.next.is_null() || m.data_off as usize + len > m.buf_len as usize {
            return false;
        }
        // SAFETY: exclusive handle, single segment, length within the buffer (checked above).
        unsafe {
            let m = self.0.as_mut();
            m.data_len = len as u16;
            m.pkt_len = len as u32;
        }
        true
    }

    #[inline]
    fn rss_hash(&self) -> Option<u32> {
        let m = self.raw();
        if m.ol_flags & dpdk_sys::RTE_MBUF_F_RX_RSS_HASH as u64 != 0 {
            // SAFETY: the flag says the driver wrote the rss member of the hash union.
            Some(unsafe { m.__bindgen_anon_2.hash.rss })
        } else {
            None
        }
    }

    #[inline]
    fn share(&self) -> Mbuf {
        // SAFETY: valid mbuf; the new reference is owned by the returned handle.
        unsafe { dpdk_sys::shim_rte_mbuf_refcnt_update(self.0.as_ptr(), 1) };
        Mbuf(self.0)
    }

    #[inline]
    fn is_contiguous(&self) -> bool {
        self.raw().next.is_null()
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own one reference; rte_pktmbuf_free drops it (and frees at zero).
        unsafe { dpdk_sys::shim_rte_pktmbuf_free(self.0.as_ptr()) }
    }
}
