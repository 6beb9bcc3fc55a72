//! Recorder hot path: one `record` per request, and the end-of-run merge and encoding.
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lsprobe::load::Op;
use lsprobe::load::recorder::{Outcome, Recorder, encode_histogram};

fn filled(n: u64) -> Recorder {
    let mut r = Recorder::new();
    for i in 0..n {
        let lat = Duration::from_micros(100 + (i * 7919) % 200_000);
        r.record(Op::Get, Outcome::Ok, lat, Some(lat / 2), 4096);
        r.record_queue_delay(Duration::from_micros(i % 500));
    }
    r
}

fn bench(c: &mut Criterion) {
    let mut r = filled(1000);
    let mut i = 0u64;
    c.bench_function("recorder/record_get_ok_with_ttfb", |b| {
        b.iter(|| {
            i = i.wrapping_add(7919);
            let lat = Duration::from_micros(100 + i % 200_000);
            r.record(black_box(Op::Get), Outcome::Ok, lat, Some(lat / 2), 4096);
        })
    });
    let a = filled(100_000);
    let other = filled(100_000);
    c.bench_function("recorder/merge_two_workers", |b| {
        b.iter(|| {
            let mut m = a.clone();
            m.merge(black_box(&other));
            m
        })
    });
    let h = a.ops[Op::Get.index()].latency[0].clone().unwrap();
    c.bench_function("recorder/encode_histogram_v2_deflate_base64", |b| {
        b.iter(|| encode_histogram(black_box(&h)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
