//! A small load driver over the lean path, for benches/compare_wrk.sh and RSS measurements:
//! signed S3 GETs (closed loop) of existing objects, histograms and timeline on.
//!
//! `cargo run --release --example load_get -- --endpoint http://127.0.0.1:18080 --bucket bkt
//!  --key obj4k [--concurrency 16] [--duration 5s] [--warmup 0s] [--mix get=1]`
//!
//! Prints one line: `req/s=<successful GETs per second> count=.. errors=.. p50_ms=.. p99_ms=..`.
use std::sync::Arc;
use std::time::Duration;

use lsprobe::config::Secret;
use lsprobe::load::schedule::{parse_op_mix, parse_size_mix};
use lsprobe::load::sigv4::{S3Config, S3Requests};
use lsprobe::load::suite::CapacitySuite;
use lsprobe::load::{self, Bound, Dataset, Endpoint, LoadPlan, Mode};

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let (mut endpoint, mut bucket, mut key) =
        (String::new(), "bkt".to_string(), "obj4k".to_string());
    let (mut concurrency, mut duration, mut warmup) = (16usize, "5s".to_string(), "0s".to_string());
    let (mut mix, mut threads) = ("get=1".to_string(), 0usize);
    while let Some(a) = args.next() {
        let mut v = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--endpoint" => endpoint = v(),
            "--bucket" => bucket = v(),
            "--key" => key = v(),
            "--concurrency" => concurrency = v().parse().expect("a number"),
            "--duration" => duration = v(),
            "--warmup" => warmup = v(),
            "--mix" => mix = v(),
            "--threads" => threads = v().parse().expect("a number"),
            other => panic!("unknown argument {other}"),
        }
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        rt.worker_threads(threads);
    }
    let rt = rt.enable_all().build().unwrap();
    let requests = S3Requests::new(S3Config {
        endpoint: Arc::new(Endpoint::parse(&endpoint).expect("--endpoint")),
        bucket,
        region: "us-east-1".into(),
        access_key_id: Secret::new("AKIDEXAMPLE"),
        secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        session_token: None,
    });
    let plan = LoadPlan {
        mode: Mode::Closed,
        concurrency,
        bound: duration.parse::<Bound>().expect("--duration"),
        warmup: humantime::parse_duration(&warmup).expect("--warmup"),
        mix: parse_op_mix(&mix).expect("--mix"),
        sizes: parse_size_mix("4KiB").unwrap(),
        objects: 1,
        timeout: Duration::from_secs(30),
        list_max_keys: 100,
        put_slots: 4,
        seed: 7,
        timeline: true,
        backoff_max: Duration::from_secs(20),
        stop_after_failures: 20,
        shard: None,
        autoterm: None,
    };
    let data = Dataset {
        objects: vec![(key, 0)],
        list_prefix: String::new(),
        write_prefix: None,
        written: vec![],
    };
    let suite = CapacitySuite::builtin();
    let run = rt
        .block_on(load::run(
            &requests,
            &plan,
            &data,
            &suite.verdict.clone().for_provider("s3"),
            "hdd",
            None,
        ))
        .expect("load run");
    let get = &run.summary.ops[&load::Op::Get];
    println!(
        "req/s={:.0} count={} errors={} p50_ms={:.3} p99_ms={:.3} timeline_points={}",
        get.ops_per_s,
        get.count,
        get.errors,
        get.latency_ms.p50,
        get.latency_ms.p99,
        run.summary.timeline.len()
    );
}
