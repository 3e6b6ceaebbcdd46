//! The in-memory port layer for tests, fuzz targets and benches: [`VecIo`], a `Vec`-backed
//! [`PacketIo`] with a live-buffer count (the leak check), and [`VecBuf`], its
//! reference-counted buffer. Compiled only for this crate's tests and with the `testing`
//! feature (which `testkit` turns on), never into the appliance's release build.

use crate::io::{Frame, PacketIo, Side, BURST};
use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;

/// Data room of a buffer (like a DPDK mbuf's default 2048 bytes).
pub const ROOM: usize = 2048;

struct Storage {
    bytes: Vec<u8>,
    live: Rc<Cell<usize>>,
}

impl Drop for Storage {
    fn drop(&mut self) {
        self.live.set(self.live.get() - 1);
    }
}

/// A packet buffer: `share` adds a reference to the same storage (like an mbuf refcount);
/// the storage is freed, and the live count of its [`VecIo`] lowered, when the last
/// reference drops. Writing or resizing while shared breaks `Frame::share`'s contract and
/// panics.
pub struct VecBuf {
    store: Rc<Storage>,
    len: usize,
    /// Reports itself as chained over several buffers (`VecIo::rx_chained`).
    chained: bool,
}

impl Frame for VecBuf {
    fn data(&self) -> &[u8] {
        &self.store.bytes[..self.len]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut Rc::get_mut(&mut self.store)
            .expect("Frame contract: frame written while shared")
            .bytes[..len]
    }
    fn with_tailroom(&mut self) -> &mut [u8] {
        &mut Rc::get_mut(&mut self.store)
            .expect("Frame contract: frame written while shared")
            .bytes[..]
    }
    fn set_len(&mut self, len: usize) -> bool {
        assert!(
            Rc::strong_count(&self.store) == 1,
            "Frame contract: length changed while shared"
        );
        if len > self.store.bytes.len() {
            return false;
        }
        self.len = len;
        true
    }
    fn rss_hash(&self) -> Option<u32> {
        None
    }
    fn share(&self) -> Self {
        VecBuf {
            store: self.store.clone(),
            len: self.len,
            chained: self.chained,
        }
    }
    fn is_contiguous(&self) -> bool {
        !self.chained
    }
}

/// A `Vec`-backed [`PacketIo`]: frames to receive per side, frames sent per side, a count of
/// live buffers (the leak check), an optional pool size and TX queue size.
#[derive(Default)]
pub struct VecIo {
    /// Frames waiting to be received, per side.
    pub rx: [VecDeque<Vec<u8>>; 2],
    /// Frames sent, per side, in order.
    pub sent: [Vec<Vec<u8>>; 2],
    pending: [Vec<VecBuf>; 2],
    live: Rc<Cell<usize>>,
    /// Most buffers live at once (the mempool size); None: unbounded. RX and `alloc` fail
    /// beyond it.
    pub pool: Option<usize>,
    /// Frames per side a flush sends; the rest are dropped and counted. None: unbounded.
    pub tx_capacity: Option<usize>,
    dropped: [u64; 2],
    /// `alloc` calls refused (pool empty).
    pub alloc_failed: u64,
    /// Frames not received because the pool was empty (a NIC's `rx_nombuf`).
    pub rx_nombuf: u64,
    /// Received frames report themselves as chained over several buffers (a jumbo frame
    /// with scattered RX), of which `data()` is the first.
    pub rx_chained: bool,
}

impl VecIo {
    /// Buffers allocated and not yet freed.
    pub fn live(&self) -> usize {
        self.live.get()
    }

    /// A buffer holding `bytes`, as if received (tests); panics when the pool is exhausted.
    pub fn frame(&mut self, bytes: &[u8]) -> VecBuf {
        self.buffer(bytes).expect("VecIo pool exhausted")
    }

    fn buffer(&mut self, bytes: &[u8]) -> Option<VecBuf> {
        if self.pool.is_some_and(|p| self.live.get() >= p) {
            return None;
        }
        let mut v = vec![0u8; ROOM.max(bytes.len())];
        v[..bytes.len()].copy_from_slice(bytes);
        self.live.set(self.live.get() + 1);
        Some(VecBuf {
            store: Rc::new(Storage {
                bytes: v,
                live: self.live.clone(),
            }),
            len: bytes.len(),
            chained: false,
        })
    }
}

impl PacketIo for VecIo {
    type Buf = VecBuf;
    fn rx_burst(&mut self, side: Side, out: &mut Vec<VecBuf>) {
        out.clear();
        while out.len() < BURST {
            let Some(bytes) = self.rx[side.index()].pop_front() else {
                break;
            };
            match self.buffer(&bytes) {
                Some(mut b) => {
                    b.chained = self.rx_chained;
                    out.push(b)
                }
                None => self.rx_nombuf += 1,
            }
        }
    }
    fn tx(&mut self, side: Side, buf: VecBuf) {
        self.pending[side.index()].push(buf);
    }
    fn flush(&mut self) {
        for s in 0..2 {
            for (i, b) in std::mem::take(&mut self.pending[s]).into_iter().enumerate() {
                if self.tx_capacity.is_some_and(|c| i >= c) {
                    self.dropped[s] += 1;
                    continue;
                }
                self.sent[s].push(b.data().to_vec());
            }
        }
    }
    fn alloc(&mut self) -> Option<VecBuf> {
        let b = self.buffer(&[]);
        if b.is_none() {
            self.alloc_failed += 1;
        }
        b
    }
    fn tx_dropped(&self) -> [u64; 2] {
        self.dropped
    }
}
