//! ClientHello accumulate-and-parse (deframe every held segment, copy the handshake message
//! into the scratch buffer, parse it) for hellos of 1, 2, 13 and 18 segments, and JA4.

use appliance_benches as fx;
use appliance_core::tls::{copy_hello, ja4, parse_client_hello, Deframer, Verdict};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;

/// The accumulation's `max_bytes` (default config).
const MAX_BYTES: u32 = 16_384;

fn accumulate(c: &mut Criterion) {
    let mut g = c.benchmark_group("client_hello");
    let mut scratch = vec![0u8; MAX_BYTES as usize + 4];
    for segments in [1usize, 2, 13, 18] {
        let (stream, seg) = fx::hello_segments(segments);
        let chunks: Vec<&[u8]> = stream.chunks(seg).collect();
        g.throughput(Throughput::Bytes(stream.len() as u64));
        let id = BenchmarkId::new(
            "deframe_copy_parse",
            format!("{segments}seg_{}B", stream.len()),
        );
        g.bench_function(id, |b| {
            b.iter(|| {
                let mut d = Deframer::new(MAX_BYTES);
                let mut held = 0;
                let mut v = Verdict::NeedMore;
                for chunk in &chunks {
                    held += 1;
                    v = d.feed(black_box(chunk));
                    if v.is_final() {
                        break;
                    }
                }
                assert!(matches!(v, Verdict::Complete(_)));
                let n = copy_hello(chunks[..held].iter().copied(), &mut scratch).expect("copy");
                parse_client_hello(&scratch[..n]).expect("parse")
            })
        });
    }
    g.finish();
}

fn fingerprint(c: &mut Criterion) {
    let mut g = c.benchmark_group("ja4");
    g.throughput(Throughput::Elements(1));
    for segments in [2usize, 18] {
        let (stream, seg) = fx::hello_segments(segments);
        let mut scratch = vec![0u8; MAX_BYTES as usize + 4];
        let n = copy_hello(stream.chunks(seg), &mut scratch).expect("copy");
        let info = parse_client_hello(&scratch[..n]).expect("parse");
        g.bench_function(format!("{}B_hello", stream.len()), |b| {
            b.iter(|| ja4(black_box(&info)))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    targets = accumulate, fingerprint
}
criterion_main!(benches);
