//! Header parsing and MSS fixup.

use appliance_benches as fx;
use appliance_core::mss::{self, MssOutcome, MssPolicy};
use appliance_core::packet;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::time::Duration;

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    for (name, frame) in [
        ("ipv4_tcp_syn", fx::syn_v4()),
        ("ipv6_tcp_data", fx::data_v6()),
        ("vlan_ipv4_tcp_syn", fx::syn_vlan_v4()),
    ] {
        assert!(packet::parse(&frame).is_ok());
        g.bench_function(name, |b| b.iter(|| packet::parse(black_box(&frame))));
    }
    g.finish();
}

fn mss_fixup(c: &mut Criterion) {
    let mut g = c.benchmark_group("mss");
    g.throughput(Throughput::Elements(1));
    // Insert: a SYN-ACK without MSS in a buffer with tailroom (like an mbuf's data room).
    let synack = fx::synack_without_mss_v4();
    let insert = MssPolicy {
        clamp_v4: None,
        clamp_v6: None,
        insert_missing: Some(1460),
    };
    let setup = |frame: &[u8]| {
        let mut buf = vec![0u8; 256];
        buf[..frame.len()].copy_from_slice(frame);
        let h = packet::parse(frame).expect("fixture");
        (buf, h)
    };
    {
        let (mut buf, mut h) = setup(&synack);
        let r = mss::fixup(&mut buf, synack.len(), &mut h, &insert);
        assert!(matches!(r.outcome, MssOutcome::Inserted { value: 1460 }));
    }
    g.bench_function("insert_synack_v4", |b| {
        b.iter_batched_ref(
            || setup(&synack),
            |(buf, h)| mss::fixup(buf, synack.len(), h, &insert),
            BatchSize::SmallInput,
        )
    });
    // Clamp: a SYN announcing 1460 lowered to 1400.
    let syn = fx::syn_v4();
    let clamp = MssPolicy {
        clamp_v4: Some(1400),
        clamp_v6: Some(1380),
        insert_missing: None,
    };
    g.bench_function("clamp_syn_v4", |b| {
        b.iter_batched_ref(
            || setup(&syn),
            |(buf, h)| mss::fixup(buf, syn.len(), h, &clamp),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    targets = parse, mss_fixup
}
criterion_main!(benches);
