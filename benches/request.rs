//! Per-operation cost of signing and building a request on the lean path (no network).
use std::hint::black_box;
use std::sync::Arc;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use lsprobe::config::Secret;
use lsprobe::load::Endpoint;
use lsprobe::load::gcs::{GcsConfig, GcsRequests};
use lsprobe::load::request::{OpCall, OpRequest, Payload};
use lsprobe::load::sharedkey::{AzureConfig, AzureRequests};
use lsprobe::load::sigv4::{S3Config, S3Requests};

fn bench(c: &mut Criterion) {
    let mut s3 = S3Requests::new(S3Config {
        endpoint: Arc::new(Endpoint::parse("http://127.0.0.1:18080").unwrap()),
        bucket: "bkt".into(),
        region: "us-east-1".into(),
        access_key_id: Secret::new("AKIDEXAMPLE"),
        secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        session_token: None,
    });
    let path = s3.object_path("media/upload/1/ab12cd34-image.jpg");
    let body = Payload::generate(4096, 1);
    c.bench_function("sigv4/get", |b| {
        b.iter(|| s3.build(black_box(&OpCall::Get(&path)), SystemTime::now()))
    });
    c.bench_function("sigv4/put_4KiB", |b| {
        b.iter(|| {
            s3.build(
                black_box(&OpCall::Put {
                    path: &path,
                    body: &body,
                }),
                SystemTime::now(),
            )
        })
    });
    c.bench_function("sigv4/list", |b| {
        let call = OpCall::List {
            prefix: "media/upload/",
            max_keys: 100,
            continuation: None,
        };
        b.iter(|| s3.build(black_box(&call), SystemTime::now()))
    });
    let mut az = AzureRequests::new(AzureConfig {
        endpoint: Arc::new(Endpoint::parse("http://127.0.0.1:10000/devstoreaccount1").unwrap()),
        account: "devstoreaccount1".into(),
        container: "ctr".into(),
        access_key: Secret::new(
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
        ),
    })
    .unwrap();
    let apath = az.object_path("media/upload/1/ab12cd34-image.jpg");
    c.bench_function("sharedkey/get", |b| {
        b.iter(|| az.build(black_box(&OpCall::Get(&apath)), SystemTime::now()))
    });
    let mut sas = AzureRequests::with_sas(
        Arc::new(Endpoint::parse("http://127.0.0.1:10000/devstoreaccount1").unwrap()),
        "devstoreaccount1".into(),
        "ctr",
        Secret::new(
            "sv=2022-11-02&sr=c&sp=racwdl&se=2030-01-01T00%3A00%3A00Z&sig=\
             aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29y%3D",
        ),
    );
    let spath = sas.object_path("media/upload/1/ab12cd34-image.jpg");
    c.bench_function("azure_sas/get", |b| {
        b.iter(|| sas.build(black_box(&OpCall::Get(&spath)), SystemTime::now()))
    });
    let mut gcs = GcsRequests::new(
        GcsConfig {
            endpoint: Arc::new(Endpoint::parse("http://127.0.0.1:4443").unwrap()),
            bucket: "bkt".into(),
        },
        Some(&Secret::new(
            "ya29.a0AfB_byC-example-access-token-of-typical-length-0123456789abcdef",
        )),
    )
    .unwrap();
    let gpath = gcs.object_path("media/upload/1/ab12cd34-image.jpg");
    c.bench_function("gcs_bearer/get", |b| {
        b.iter(|| gcs.build(black_box(&OpCall::Get(&gpath)), SystemTime::now()))
    });
    c.bench_function("gcs_bearer/put_4KiB", |b| {
        b.iter(|| {
            gcs.build(
                black_box(&OpCall::Put {
                    path: &gpath,
                    body: &body,
                }),
                SystemTime::now(),
            )
        })
    });
    c.bench_function("object_path/encode_key", |b| {
        b.iter(|| s3.object_path(black_box("media/a b/ü/upload/1/ab12cd34-image.jpg")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
