//! Flow-table lookup hit and miss, and insert + remove, at 10k, 1M and 10M flows.
//!
//! Keys are made from an index on every iteration (as the worker makes one from every
//! packet) and hashed with `FlowKey::hash`; indices walk the table in a large stride so
//! consecutive lookups do not share cache lines. The table holds `n` flows and has
//! `n + 1024` slots (the headroom lets insert + remove run without hitting "full").
//!
//! Back-to-back independent lookups overlap their cache misses (the CPU runs ahead into the
//! next iteration); `lookup_hit_dependent` chains them to show the latency of one.

use appliance_benches as fx;
use appliance_core::flow::Insert;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};

const SIZES: [(u64, &str); 3] = [(10_000, "10k"), (1_000_000, "1M"), (10_000_000, "10M")];

fn flow(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow");
    g.throughput(Throughput::Elements(1));
    for (n, label) in SIZES {
        let start = Instant::now();
        let capacity = (n + 1024) as u32;
        let mut table = fx::filled_table(n, capacity);
        println!(
            "flow table {label}: {n} flows, capacity {capacity}, {:.1} MB, \
             flow_bytes_per_session={:.1} (memory_bytes / capacity), filled in {:.2} s",
            table.memory_bytes() as f64 / 1e6,
            table.memory_bytes() as f64 / f64::from(capacity),
            start.elapsed().as_secs_f64()
        );
        let mut hit = fx::Walk::new(n);
        g.bench_function(BenchmarkId::new("lookup_hit", label), |b| {
            b.iter(|| {
                let k = fx::flow_key(hit.next_index());
                black_box(table.lookup(&k, table.hash(&k)))
            })
        });
        // The same, but each key depends on the previous lookup's result, so cache misses
        // cannot overlap across iterations: the latency a packet sees when the worker has
        // other work between lookups, rather than the throughput of back-to-back lookups.
        let mut dep = fx::Walk::new(n);
        let zero = black_box(0u64);
        let mut last = 0u64;
        g.bench_function(BenchmarkId::new("lookup_hit_dependent", label), |b| {
            b.iter(|| {
                let k = fx::flow_key(dep.next_index() + (last & zero));
                let r = table.lookup(&k, table.hash(&k));
                last = u64::from(r.unwrap_or(0));
                r
            })
        });
        let mut miss = fx::Walk::new(n);
        g.bench_function(BenchmarkId::new("lookup_miss", label), |b| {
            b.iter(|| {
                let k = fx::flow_key(n + miss.next_index());
                black_box(table.lookup(&k, table.hash(&k)))
            })
        });
        // lookup_or_insert on a present key (the worker calls lookup first, insert on a miss).
        let mut found = fx::Walk::new(n);
        g.bench_function(BenchmarkId::new("lookup_or_insert_found", label), |b| {
            b.iter(|| {
                let k = fx::flow_key(found.next_index());
                black_box(table.lookup_or_insert(&k, table.hash(&k), 1))
            })
        });
        // A new session and its end: create, then remove.
        let mut fresh = fx::Walk::new(n);
        g.bench_function(BenchmarkId::new("insert_remove", label), |b| {
            b.iter(|| {
                let k = fx::flow_key(n + fresh.next_index());
                match table.lookup_or_insert(&k, table.hash(&k), 1) {
                    Insert::Created(i) => black_box(table.remove(i)),
                    other => panic!("{other:?}"),
                }
            })
        });
        assert_eq!(table.len() as u64, n);
        drop(table);
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    targets = flow
}
criterion_main!(benches);
