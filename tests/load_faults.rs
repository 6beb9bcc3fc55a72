//! The load runner against injected faults (tests/support/delay_proxy.rs): storage that dies,
//! throttles every request, resets connections, cuts bodies or stalls never passes, and a run
//! ends at its planned time and spares a bucket that refuses everything. Bounds on wall time
//! here are generous ceilings on *lsprobe's* schedule (seconds planned plus the request
//! timeout), never on the machine's speed.
#[path = "support/delay_proxy.rs"]
mod delay_proxy;
#[path = "support/load_rig.rs"]
mod load_rig;

use delay_proxy::{DelayProxy, DelaySpec, start_origin};
use load_rig::{dataset, requests};
use lsprobe::load::suite::CapacitySuite;
use lsprobe::load::{self, Bound, LoadPlan, LoadSummary, Mode, Op};
use std::time::{Duration, Instant};

/// The shared plan with a 5 s request timeout: a dead or stalled storage is given up on sooner.
fn plan(mode: Mode, concurrency: usize, bound: Bound) -> LoadPlan {
    LoadPlan {
        timeout: Duration::from_secs(5),
        ..load_rig::plan(mode, concurrency, bound)
    }
}

async fn measure(spec: DelaySpec, plan: LoadPlan) -> (LoadSummary, Duration, DelayProxy) {
    let origin = start_origin(4096).await;
    let proxy = DelayProxy::start(origin, spec).await;
    // The rig's requests are S3's: judge them by the profiles that apply to S3.
    let verdict = CapacitySuite::builtin().verdict.for_provider("s3");
    let t0 = Instant::now();
    let run = load::run(
        &requests(proxy.addr),
        &plan,
        &dataset(),
        &verdict,
        "hdd",
        None,
    )
    .await
    .unwrap();
    (run.summary, t0.elapsed(), proxy)
}

fn reasons(s: &LoadSummary) -> String {
    s.verdict.reasons.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_killed_mid_run_fails_the_verdict() {
    let spec = DelaySpec {
        kill_after: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    let four_s = Bound::Duration(Duration::from_secs(4));
    let (s, elapsed, _proxy) = measure(spec, plan(Mode::Closed, 4, four_s)).await;
    let get = &s.ops[&Op::Get];
    assert!(get.errors > 0, "{get:?}");
    assert!(
        s.verdict.slow,
        "dead storage must never pass: {:?}",
        s.verdict
    );
    // Workers back off, so few requests fail after the kill: the seconds without a single
    // success say the storage was down.
    assert!(s.stalled_seconds() >= 1, "{:?}", s.timeline);
    assert!(reasons(&s).contains("stalled_pct"), "{}", reasons(&s));
    assert!(elapsed < Duration::from_secs(4 + 5 + 20), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_throttling_everything_is_spared_and_fails() {
    let spec = DelaySpec {
        slow_down: 1.0,
        ..Default::default()
    };
    let ten_s = Bound::Duration(Duration::from_secs(10));
    let (s, _, proxy) = measure(spec, plan(Mode::Closed, 8, ten_s)).await;
    let sent = proxy.requests();
    // Before: 280,735 requests in 15 s. Now workers back off like botocore and the run stops
    // after 20 throttled answers in a row.
    assert!(
        sent < 200,
        "{sent} requests sent to a bucket answering only 503"
    );
    assert!(s.stopped_early.is_some(), "{s:?}");
    assert!(s.verdict.slow, "{:?}", s.verdict);
    assert!(reasons(&s).contains("throttled_pct"), "{}", reasons(&s));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_and_truncated_bodies_count_as_failures() {
    let spec = DelaySpec {
        reset: 0.1,
        truncate: 0.1,
        ..Default::default()
    };
    let mut p = plan(Mode::Closed, 2, Bound::Requests(300));
    p.stop_after_failures = 0;
    p.backoff_max = Duration::from_millis(20);
    let (s, _, _) = measure(spec, p).await;
    let get = &s.ops[&Op::Get];
    assert_eq!(get.count, 300);
    assert!(
        (20..=120).contains(&get.errors),
        "about 20% of 300 failed: {get:?}"
    );
    assert!(s.verdict.slow, "{:?}", s.verdict);
    assert!(reasons(&s).contains("failed_pct"), "{}", reasons(&s));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_closed_loop_is_caught_by_its_timeline() {
    // Fast answers, but the storage stalls 3 s of a 5 s run: the closed loop's latency
    // quantiles hide it (a handful of slow samples); the empty seconds do not.
    let spec = DelaySpec {
        stall: Some((Duration::from_millis(500), Duration::from_secs(3))),
        ..Default::default()
    };
    let five_s = Bound::Duration(Duration::from_secs(5));
    let (s, _, _) = measure(spec, plan(Mode::Closed, 2, five_s)).await;
    assert!(s.stalled_seconds() >= 2, "{:?}", s.timeline);
    assert!(s.verdict.slow, "{:?}", s.verdict);
    assert!(reasons(&s).contains("stalled_pct"), "{}", reasons(&s));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_loop_stops_at_the_planned_end_and_reports_what_it_dropped() {
    // 2 workers at 100 ms per request sustain ~20 requests/s; 2,000/s is asked for 2 s.
    let spec = DelaySpec {
        delay: Duration::from_millis(100),
        ..Default::default()
    };
    let two_s = Bound::Duration(Duration::from_secs(2));
    let (s, elapsed, _) = measure(spec, plan(Mode::Open { rate: 2000.0 }, 2, two_s)).await;
    let sent = s.ops[&Op::Get].count;
    // Before, the backlog of ~4,000 requests was worked off: ~200 s. Now: 2 s plus at most
    // one request timeout (5 s) to drain.
    assert!(elapsed < Duration::from_secs(2 + 5 + 3), "{elapsed:?}");
    assert!(s.dropped > 3000, "dropped {}", s.dropped);
    assert_eq!(
        s.dropped + sent,
        4000,
        "every planned request is sent or dropped"
    );
    assert!(s.verdict.slow, "{:?}", s.verdict);
    assert!(reasons(&s).contains("failed_pct"), "{}", reasons(&s));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_storage_still_passes() {
    let (s, _, _) = measure(
        DelaySpec::default(),
        plan(Mode::Closed, 2, Bound::Requests(200)),
    )
    .await;
    assert_eq!(s.ops[&Op::Get].errors, 0);
    assert_eq!((s.dropped, s.stopped_early.as_deref()), (0, None));
    assert!(!s.verdict.slow, "{:?}", s.verdict);
}
