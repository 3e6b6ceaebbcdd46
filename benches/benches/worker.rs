//! The worker's per-frame cost on established TCP flows, without DPDK: `Worker::poll` over a
//! replay device that does what `net_pcap` (infinite_rx) and `net_null` do in
//! `scripts/bench` — copy each stored frame into a free buffer on RX, give buffers back on
//! flush — so the figure is the worker's own work plus one small copy per frame.
//!
//! Flows: 100 (all in L1/L2: the compute cost), 10k and 1M (the flow table's cache misses),
//! one 60-byte data segment per flow from `appliance gen --established`, replayed in a loop.
//! `io_only` is the replay device alone (RX then TX of the same buffers): the floor.

use appliance::config::Config;
use appliance::gen::{paired, GenArgs};
use appliance::io::{Frame, PacketIo, Side, BURST};
use appliance::live::{Live, Shared};
use appliance::worker::{Worker, WorkerConfig, WorkerCounters};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::sync::Arc;

/// A plain owned buffer (no refcount: `share` copies, which established flows never do).
struct Buf {
    bytes: Box<[u8]>,
    len: usize,
}

impl Buf {
    fn fill(&mut self, frame: &[u8]) {
        self.bytes[..frame.len()].copy_from_slice(frame);
        self.len = frame.len();
    }
}

impl Frame for Buf {
    fn data(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.len]
    }
    fn with_tailroom(&mut self) -> &mut [u8] {
        &mut self.bytes[..]
    }
    fn set_len(&mut self, len: usize) -> bool {
        if len > self.bytes.len() {
            return false;
        }
        self.len = len;
        true
    }
    fn rss_hash(&self) -> Option<u32> {
        None
    }
    fn share(&self) -> Self {
        Buf {
            bytes: self.bytes.clone(),
            len: self.len,
        }
    }
    fn is_contiguous(&self) -> bool {
        true
    }
}

/// Stored frames replayed in a loop into reused buffers.
struct Replay {
    frames: Vec<Vec<u8>>,
    next: usize,
    free: Vec<Buf>,
    pending: Vec<Buf>,
}

impl Replay {
    fn new(frames: Vec<Vec<u8>>) -> Replay {
        let free = (0..4 * BURST)
            .map(|_| Buf {
                bytes: vec![0; 2048].into_boxed_slice(),
                len: 0,
            })
            .collect();
        Replay {
            frames,
            next: 0,
            free,
            pending: Vec::with_capacity(BURST),
        }
    }
}

impl PacketIo for Replay {
    type Buf = Buf;
    fn rx_burst(&mut self, side: Side, out: &mut Vec<Buf>) {
        out.clear();
        if side == Side::Server {
            return;
        }
        while out.len() < BURST {
            let Some(mut b) = self.free.pop() else { break };
            b.fill(&self.frames[self.next]);
            self.next = if self.next + 1 == self.frames.len() {
                0
            } else {
                self.next + 1
            };
            out.push(b);
        }
    }
    fn tx(&mut self, _side: Side, buf: Buf) {
        self.pending.push(buf);
    }
    fn flush(&mut self) {
        self.free.append(&mut self.pending);
    }
    fn alloc(&mut self) -> Option<Buf> {
        self.free.pop()
    }
    fn tx_dropped(&self) -> [u64; 2] {
        [0, 0]
    }
}

fn worker(frames: Vec<Vec<u8>>, capacity: u32) -> Worker<Replay> {
    let cfg = Config::parse(&format!("[flow]\ncapacity = {capacity}\n")).expect("config");
    let shared = Shared::new(Live::from_config(&cfg, [1500, 1500]));
    Worker::new(
        WorkerConfig {
            id: 0,
            flow_capacity: cfg.flow.capacity,
            timeouts: cfg.flow.timeouts,
            on_table_full: cfg.flow.on_table_full,
            malformed: cfg.flow.malformed,
            wall_epoch_ms: 0,
            capacity: appliance::accumulate::Capacity::new(cfg.accumulation.pool_packets),
            mailbox: Default::default(),
        },
        Replay::new(frames),
        Arc::new(WorkerCounters::default()),
        shared,
        None,
    )
}

fn established(n: u32) -> Vec<Vec<u8>> {
    let args = GenArgs {
        sessions: n,
        clients: 64,
        ..GenArgs::default()
    };
    paired::established_frames(&args)
        .expect("established frames")
        .into_iter()
        .map(|[c, _]| c)
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("worker");
    g.throughput(Throughput::Elements(BURST as u64));
    let frames = established(100);
    let mut io = Replay::new(frames);
    let mut rx = Vec::with_capacity(BURST);
    g.bench_function("io_only", |b| {
        b.iter(|| {
            io.rx_burst(Side::Client, &mut rx);
            for buf in rx.drain(..) {
                criterion::black_box(buf.data().len());
                io.tx(Side::Server, buf);
            }
            io.flush();
        })
    });
    for (n, label, capacity) in [
        (100, "100", 1024),
        (10_000, "10k", 65_536),
        (1_000_000, "1M", 1_200_000),
    ] {
        let mut w = worker(established(n), capacity);
        // One pass creates the flows (mid-stream pick-ups); then every frame is a hit.
        let mut now_us = 1_000_000u64;
        for _ in 0..n as usize / BURST + 2 {
            w.poll(now_us / 1000);
        }
        assert_eq!(w.flows().len(), n as usize, "every flow created");
        g.bench_with_input(BenchmarkId::new("established", label), &n, |b, _| {
            b.iter(|| {
                now_us += 1;
                assert_eq!(w.poll(now_us / 1000), BURST);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
