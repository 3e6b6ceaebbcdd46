//! The poll loop of one worker core: receive a burst from each side, process each frame, send
//! it out of the other side, flush. Generic over `PacketIo` so it runs on DPDK ports in
//! production and on in-memory fakes in tests.

use crate::counters;
use crate::io::{Frame, PacketIo, Side, BURST};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

counters! {
    /// Per-worker datapath counters (written by the worker only).
    pub struct WorkerCounters {
        rx_from_client,
        rx_from_server,
        rx_bytes_from_client,
        rx_bytes_from_server,
        tx_to_client,
        tx_to_server,
        tx_dropped_to_client,
        tx_dropped_to_server,
        polls,
        busy_polls,
    }
}

/// One worker: its queue on both ports and everything it owns.
pub struct Worker<P: PacketIo> {
    pub id: usize,
    io: P,
    counters: Arc<WorkerCounters>,
    rx: Vec<P::Buf>,
}

impl<P: PacketIo> Worker<P> {
    pub fn new(id: usize, io: P, counters: Arc<WorkerCounters>) -> Self {
        Worker {
            id,
            io,
            counters,
            rx: Vec::with_capacity(BURST),
        }
    }

    /// One iteration: a burst from each side, processed and flushed. Returns frames received.
    #[inline]
    pub fn poll(&mut self) -> usize {
        let mut total = 0;
        for side in Side::BOTH {
            self.io.rx_burst(side, &mut self.rx);
            let n = self.rx.len();
            if n == 0 {
                continue;
            }
            total += n;
            let mut bytes = 0u64;
            let mut rx = std::mem::take(&mut self.rx);
            for buf in rx.drain(..) {
                bytes += buf.data().len() as u64;
                self.process(side, buf);
            }
            self.rx = rx;
            let c = &self.counters;
            match side {
                Side::Client => {
                    c.rx_from_client.add(n as u64);
                    c.rx_bytes_from_client.add(bytes);
                    c.tx_to_server.add(n as u64);
                }
                Side::Server => {
                    c.rx_from_server.add(n as u64);
                    c.rx_bytes_from_server.add(bytes);
                    c.tx_to_client.add(n as u64);
                }
            }
        }
        self.io.flush();
        self.counters.polls.inc();
        if total > 0 {
            self.counters.busy_polls.inc();
        }
        let [dc, ds] = self.io.tx_dropped();
        self.counters.tx_dropped_to_client.set(dc);
        self.counters.tx_dropped_to_server.set(ds);
        total
    }

    #[inline]
    fn process(&mut self, from: Side, buf: P::Buf) {
        self.io.tx(from.other(), buf);
    }

    /// Poll until `stop` is set, then drain: keep polling until both sides are quiet for a
    /// while (bounded), so frames already received are forwarded, not dropped.
    pub fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            self.poll();
        }
        let mut quiet = 0;
        for _ in 0..100_000 {
            if self.poll() == 0 {
                quiet += 1;
                if quiet >= 64 {
                    break;
                }
            } else {
                quiet = 0;
            }
        }
        self.io.flush();
    }

    pub fn io(&self) -> &P {
        &self.io
    }
}

/// In-memory `PacketIo` for unit tests: frames are `Vec<u8>` with spare length as tailroom.
#[cfg(test)]
pub mod fake {
    use super::*;
    use std::cell::Cell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    /// Buffer size of a fake frame (its tailroom is `ROOM - len`).
    pub const ROOM: usize = 2048;

    /// A frame backed by a reference-counted byte vector, so `share` behaves like an mbuf
    /// reference; writing while shared panics, which enforces `Frame::share`'s contract.
    #[derive(Debug)]
    pub struct FakeBuf {
        bytes: Rc<Vec<u8>>,
        len: usize,
        live: Rc<Cell<i64>>,
    }

    impl Drop for FakeBuf {
        fn drop(&mut self) {
            self.live.set(self.live.get() - 1);
        }
    }

    impl Frame for FakeBuf {
        fn data(&self) -> &[u8] {
            &self.bytes[..self.len]
        }
        fn data_mut(&mut self) -> &mut [u8] {
            let len = self.len;
            &mut Rc::get_mut(&mut self.bytes).expect("frame written while shared")[..len]
        }
        fn with_tailroom(&mut self) -> &mut [u8] {
            &mut Rc::get_mut(&mut self.bytes).expect("frame written while shared")[..]
        }
        fn set_len(&mut self, len: usize) -> bool {
            if len > ROOM {
                return false;
            }
            self.len = len;
            true
        }
        fn rss_hash(&self) -> Option<u32> {
            None
        }
        fn share(&self) -> Self {
            self.live.set(self.live.get() + 1);
            FakeBuf {
                bytes: self.bytes.clone(),
                len: self.len,
                live: self.live.clone(),
            }
        }
        fn is_contiguous(&self) -> bool {
            true
        }
    }

    /// Queues of frames to receive per side, and what was sent per side.
    #[derive(Default)]
    pub struct FakeIo {
        pub rx: [VecDeque<Vec<u8>>; 2],
        pub sent: [Vec<Vec<u8>>; 2],
        pending: [Vec<FakeBuf>; 2],
        /// Frames allocated and not yet dropped: must be 0 when a test ends (leak check).
        pub live: Rc<Cell<i64>>,
        /// Frames per side the fake TX accepts before it refuses (full queue).
        pub tx_capacity: Option<usize>,
        dropped: [u64; 2],
    }

    impl FakeIo {
        pub fn frame(&self, bytes: &[u8]) -> FakeBuf {
            let mut v = vec![0u8; ROOM];
            v[..bytes.len()].copy_from_slice(bytes);
            self.live.set(self.live.get() + 1);
            FakeBuf {
                bytes: Rc::new(v),
                len: bytes.len(),
                live: self.live.clone(),
            }
        }
    }

    impl PacketIo for FakeIo {
        type Buf = FakeBuf;
        fn rx_burst(&mut self, side: Side, out: &mut Vec<FakeBuf>) {
            out.clear();
            while out.len() < BURST {
                match self.rx[side.index()].pop_front() {
                    Some(b) => out.push(self.frame(&b)),
                    None => break,
                }
            }
        }
        fn tx(&mut self, side: Side, buf: FakeBuf) {
            self.pending[side.index()].push(buf);
        }
        fn flush(&mut self) {
            for s in 0..2 {
                for b in std::mem::take(&mut self.pending[s]) {
                    if self.tx_capacity.is_some_and(|c| self.sent[s].len() >= c) {
                        self.dropped[s] += 1;
                        continue;
                    }
                    self.sent[s].push(b.data().to_vec());
                }
            }
        }
        fn alloc(&mut self) -> Option<FakeBuf> {
            Some(self.frame(&[]))
        }
        fn tx_dropped(&self) -> [u64; 2] {
            self.dropped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeIo;
    use super::*;

    #[test]
    fn forwards_each_side_to_the_other_in_order() {
        let mut io = FakeIo::default();
        for i in 0..100u8 {
            io.rx[0].push_back(vec![i; 60 + i as usize]);
        }
        io.rx[1].push_back(vec![0xee; 64]);
        let counters = Arc::new(WorkerCounters::default());
        let mut w = Worker::new(0, io, counters.clone());
        while w.poll() > 0 {}
        let io = w.io();
        assert_eq!(io.sent[1].len(), 100);
        for (i, f) in io.sent[1].iter().enumerate() {
            assert_eq!(f, &vec![i as u8; 60 + i]);
        }
        assert_eq!(io.sent[0], vec![vec![0xee; 64]]);
        assert_eq!(counters.rx_from_client.get(), 100);
        assert_eq!(counters.rx_from_server.get(), 1);
        assert_eq!(counters.tx_to_server.get(), 100);
        assert_eq!(io.live.get(), 0, "every frame freed after TX");
    }

    #[test]
    fn tx_drops_are_counted_and_freed() {
        let mut io = FakeIo::default();
        io.tx_capacity = Some(3);
        for _ in 0..10 {
            io.rx[0].push_back(vec![1; 64]);
        }
        let counters = Arc::new(WorkerCounters::default());
        let mut w = Worker::new(0, io, counters.clone());
        w.poll();
        assert_eq!(counters.tx_dropped_to_server.get(), 7);
        assert_eq!(w.io().live.get(), 0);
    }
}
