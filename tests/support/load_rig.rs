//! Test support shared by the load runner's in-process tests (load_latency, load_faults): lean
//! S3 requests to a proxy or origin on 127.0.0.1, a GET-only plan and its data set.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use lsprobe::config::Secret;
use lsprobe::load::schedule::{parse_op_mix, parse_size_mix};
use lsprobe::load::sigv4::{S3Config, S3Requests};
use lsprobe::load::{Bound, Dataset, Endpoint, LoadPlan, Mode};

/// Signed S3 requests to `addr` (path style, bucket `bkt`); the test origins ignore signatures.
pub fn requests(addr: std::net::SocketAddr) -> S3Requests {
    S3Requests::new(S3Config {
        endpoint: Arc::new(Endpoint::parse(&format!("http://{addr}")).unwrap()),
        bucket: "bkt".into(),
        region: "us-east-1".into(),
        access_key_id: Secret::new("AKID"),
        secret_access_key: Secret::new("SECRET"),
        session_token: None,
    })
}

/// GETs of four 4 KiB objects, no warm-up, a 10 s request timeout.
pub fn plan(mode: Mode, concurrency: usize, bound: Bound) -> LoadPlan {
    LoadPlan {
        mode,
        concurrency,
        bound,
        warmup: Duration::ZERO,
        mix: parse_op_mix("get=1").unwrap(),
        sizes: parse_size_mix("4KiB").unwrap(),
        objects: 4,
        timeout: Duration::from_secs(10),
        list_max_keys: 10,
        put_slots: 2,
        seed: 1,
        timeline: true,
        backoff_max: Duration::from_secs(20),
        stop_after_failures: 20,
        shard: None,
        autoterm: None,
    }
}

/// The four objects `plan` reads.
pub fn dataset() -> Dataset {
    Dataset {
        objects: (0..4).map(|i| (format!("run/get/{i}"), 4096)).collect(),
        list_prefix: "run/".into(),
        write_prefix: Some("run/".into()),
        written: vec![],
    }
}
