//! `PacketIo` over DPDK: one worker's queue on the client-side and server-side ports, with a TX
//! buffer per port flushed when full or at the end of each loop.

use super::{Mbuf, Mempool};
use crate::io::{PacketIo, Side, BURST};
use std::ptr::NonNull;
use std::sync::Arc;

struct TxBuffer {
    pkts: [*mut dpdk_sys::rte_mbuf; BURST],
    len: usize,
    dropped: u64,
}

/// A worker's queue `queue` on both ports.
pub struct DpdkIo {
    ports: [u16; 2],
    queue: u16,
    tx: [TxBuffer; 2],
    pool: Arc<Mempool>,
}

// SAFETY: the raw pointers in the TX buffers are owned mbuf references (see Mbuf's Send); a
// DpdkIo is moved to its worker thread once and used only there.
unsafe impl Send for DpdkIo {}

impl DpdkIo {
    /// `ports` is [client-side port id, server-side port id].
    pub fn new(ports: [u16; 2], queue: u16, pool: Arc<Mempool>) -> DpdkIo {
        let empty = || TxBuffer {
            pkts: [std::ptr::null_mut(); BURST],
            len: 0,
            dropped: 0,
        };
        DpdkIo {
            ports,
            queue,
            tx: [empty(), empty()],
            pool,
        }
    }

    fn flush_side(&mut self, side: usize) {
        let b = &mut self.tx[side];
        if b.len == 0 {
            return;
        }
        // SAFETY: pkts[..len] are owned mbuf references; the driver takes the first `sent`.
        let sent = unsafe {
            dpdk_sys::shim_rte_eth_tx_burst(
                self.ports[side],
                self.queue,
                b.pkts.as_mut_ptr(),
                b.len as u16,
            )
        } as usize;
        for p in &mut b.pkts[sent..b.len] {
            // SAFETY: not taken by the driver, so still ours to free.
            unsafe { dpdk_sys::shim_rte_pktmbuf_free(*p) };
            *p = std::ptr::null_mut();
        }
        b.dropped += (b.len - sent) as u64;
        b.len = 0;
    }
}

impl PacketIo for DpdkIo {
    type Buf = Mbuf;

    #[inline]
    fn rx_burst(&mut self, side: Side, out: &mut Vec<Mbuf>) {
        out.clear();
        let mut raw = [std::ptr::null_mut::<dpdk_sys::rte_mbuf>(); BURST];
        // SAFETY: raw has room for BURST pointers; the driver fills the first n with mbufs
        // whose references it hands to us.
        let n = unsafe {
            dpdk_sys::shim_rte_eth_rx_burst(
                self.ports[side.index()],
                self.queue,
                raw.as_mut_ptr(),
                BURST as u16,
            )
        } as usize;
        for p in &raw[..n] {
            if let Some(nn) = NonNull::new(*p) {
                // SAFETY: a valid mbuf just received; its reference is now ours.
                out.push(unsafe { Mbuf::from_raw(nn) });
            }
        }
    }

    #[inline]
    fn tx(&mut self, side: Side, buf: Mbuf) {
        let s = side.index();
        if self.tx[s].len == BURST {
            self.flush_side(s);
        }
        let b = &mut self.tx[s];
        b.pkts[b.len] = buf.into_raw();
        b.len += 1;
    }

    #[inline]
    fn flush(&mut self) {
        self.flush_side(0);
        self.flush_side(1);
    }

    fn alloc(&mut self) -> Option<Mbuf> {
        // SAFETY: valid pool; a non-NULL result is a fresh mbuf whose reference we own.
        let p = unsafe { dpdk_sys::shim_rte_pktmbuf_alloc(self.pool.as_ptr()) };
        // SAFETY: as above.
        NonNull::new(p).map(|nn| unsafe { Mbuf::from_raw(nn) })
    }

    fn tx_dropped(&self) -> [u64; 2] {
        [self.tx[0].dropped, self.tx[1].dropped]
    }
}

impl Drop for DpdkIo {
    fn drop(&mut self) {
        // Whatever is still buffered goes out (or is freed): nothing leaks at shutdown.
        self.flush();
    }
}
