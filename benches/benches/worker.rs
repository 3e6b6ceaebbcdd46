//! The worker's per-frame cost on established TCP flows, without DPDK: `Worker::poll` over a
//! replay device that does what `net_pcap` (infinite_rx) and `net_null` do in
//! `scripts/bench` — copy each stored frame into a free buffer on RX, give buffers back on
//! flush — so the figure is the worker's own work plus one small copy per frame.
//!
//! Flows: 100 (all in L1/L2: the compute cost), 10k and 1M (the flow table's cache misses),
//! one 60-byte data segment per flow from `appliance gen --established`, replayed in a loop.
//! `io_only` is the replay device alone (RX then TX of the same buffers): the floor.

use appliance_benches::{established_frames, replay_worker, Replay};
use appliance_core::io::{Frame, PacketIo, Side, BURST};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("worker");
    g.throughput(Throughput::Elements(BURST as u64));
    let frames = established_frames(100);
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
        let mut w = replay_worker(established_frames(n), capacity);
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
