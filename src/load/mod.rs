//! `lsprobe load`: throughput and latency per operation, closed or open loop, and a
//! slow-storage verdict.
//!
//! schedule → workers → recorder → verdict, with its own lean signed request path (see
//! ../shared/performance.md): [`request::OpRequest`] builds signed requests
//! ([`sigv4::S3Requests`], [`sharedkey::AzureRequests`]); each worker owns one HTTP/1.1
//! connection ([`connection::Connection`]) and one [`recorder::Recorder`]; they are merged at
//! the end into a [`LoadSummary`].
//!
//! The caller (CLI, after config resolution) supplies the request builder, the run prefix,
//! and records the keys this module reports writing in its ledger.
pub mod autoterm;
pub mod connection;
pub mod gcs;
pub mod head_cache;
pub(crate) mod progress;
pub mod recorder;
pub mod request;
pub mod sas_grant;
pub mod schedule;
pub mod shard;
pub mod sharedkey;
pub mod sigv4;
pub mod suite;
pub mod summary;
pub mod timeline;
pub(crate) mod tls;
pub mod verdict;
pub(crate) mod verdict_check;
mod wire;
mod worker;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use tokio::time::Instant;

pub use autoterm::Autoterm;
pub use connection::Endpoint;
pub use request::{Op, OpCall, OpRequest, Payload};
pub use schedule::{Bound, Mix, Mode};
pub use shard::Shard;
pub use summary::LoadSummary;
pub use timeline::{Live, LiveFigures};
pub use verdict::{Verdict, VerdictConfig};

use connection::{Connection, Keep};
use head_cache::HeadCache;
use recorder::{Outcome, Recorder};
use worker::{RunShared, Worker};

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    /// Closed or open loop.
    pub mode: Mode,
    /// Workers, one connection each.
    pub concurrency: usize,
    /// When the measured part ends.
    pub bound: Bound,
    /// Excluded from the results.
    pub warmup: Duration,
    /// Operation weights.
    pub mix: Mix<Op>,
    /// Object size weights (PUT bodies and the prepared GET set).
    pub sizes: Mix<u64>,
    /// Objects in the prepared GET set.
    pub objects: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Page size of list operations.
    pub list_max_keys: u32,
    /// PUT keys per worker (PUTs overwrite them in turn, so a run writes a bounded set).
    pub put_slots: usize,
    /// RNG seed (each worker derives its own stream).
    pub seed: u64,
    /// Whether to keep a per-second timeline.
    pub timeline: bool,
    /// The longest a worker waits after a throttled or failed request (botocore: 20 s).
    pub backoff_max: Duration,
    /// Failed requests in a row (all workers) that stop the run early; 0: never.
    pub stop_after_failures: u64,
    /// This copy's shard of a sharded run (its part is already in the fields above).
    pub shard: Option<ShardPlan>,
    /// Stop once throughput and p99 are stable (`bound` is then the cap).
    pub autoterm: Option<Autoterm>,
}

/// A shard's place in its run.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardPlan {
    /// Which copy.
    pub shard: Shard,
    /// The whole run's plan, which the report carries: `report merge` compares it.
    pub whole: crate::report::PlanSummary,
}

impl LoadPlan {
    /// The plan as the report carries it (a shard's: the whole run's plan).
    pub fn summary(&self) -> crate::report::PlanSummary {
        if let Some(s) = &self.shard {
            return s.whole.clone();
        }
        crate::report::PlanSummary {
            mix: self.mix.items().iter().copied().collect(),
            sizes: self.sizes.items().iter().copied().collect(),
            warmup_s: self.warmup.as_secs_f64(),
            duration_s: match self.bound {
                Bound::Duration(d) => Some(d.as_secs_f64()),
                Bound::Requests(_) => None,
            },
            requests: match self.bound {
                Bound::Requests(n) => Some(n),
                Bound::Duration(_) => None,
            },
            objects: self.objects,
        }
    }

    /// Shard `shard`'s part of this (whole) plan: `requests` and `objects` split with the
    /// remainder to the first shards (with `existing`, every shard lists the whole `objects`
    /// and reads its own part, see [`Shard::owns`]), the rate divided, a seed of its own.
    /// Errors name the flag that leaves a shard nothing to do.
    pub fn for_shard(mut self, shard: Shard, existing: bool) -> Result<LoadPlan, String> {
        let whole = self.summary();
        let n = shard.count;
        if let Bound::Requests(total) = self.bound {
            // Judged on the total, so every shard of a run refuses the same flags.
            if total < u64::from(n) {
                return Err(format!(
                    "--requests {total} with --shard {shard}: each of the {n} shards needs at \
                     least one request (give at least {n})"
                ));
            }
            self.bound = Bound::Requests(shard.part(total));
        }
        if let Mode::Open { rate } = self.mode {
            self.mode = Mode::Open {
                rate: rate / f64::from(n),
            };
        }
        let reads = self.mix.any(|op| matches!(op, Op::Get | Op::Head));
        if reads && !existing {
            if (self.objects as u64) < u64::from(n) {
                return Err(format!(
                    "--objects {} with --shard {shard}: each of the {n} shards writes its part \
                     of the GET set and needs at least one object (give at least {n})",
                    self.objects
                ));
            }
            self.objects = shard.part(self.objects as u64) as usize;
        }
        self.seed = shard.seed(self.seed);
        self.shard = Some(ShardPlan { shard, whole });
        Ok(self)
    }
}

/// Told each key a run is about to write, before the first request that writes it is sent
/// (the caller's ledger: cleanup then deletes exactly what may exist).
pub type WriteLog = Arc<dyn Fn(&str) + Send + Sync>;

/// Why a load run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The plan contradicts the data (e.g. writes with an existing prefix).
    #[error("{0}")]
    BadPlan(String),
    /// The prepare phase failed; `written` lists what it wrote (to be cleaned up).
    #[error("preparing the GET set failed at `{key}`: {message}")]
    Prepare {
        /// The key that failed.
        key: String,
        /// Why.
        message: String,
        /// Keys written before the failure.
        written: Vec<String>,
    },
    /// Listing an existing prefix failed.
    #[error("listing `{prefix}` failed: {message}")]
    List {
        /// The prefix.
        prefix: String,
        /// Why.
        message: String,
    },
}

/// The objects a run reads, and where it may write.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Keys GET and HEAD read, with their sizes.
    pub objects: Vec<(String, u64)>,
    /// Prefix list operations list.
    pub list_prefix: String,
    /// Where PUTs go (`None`: read-only, an existing prefix).
    pub write_prefix: Option<String>,
    /// Keys the prepare phase wrote (the caller's ledger deletes them).
    pub written: Vec<String>,
}

fn join(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        format!("{prefix}{rest}")
    } else {
        format!("{prefix}/{rest}")
    }
}

/// The key of object `i` of the prepared GET set (of `size` bytes) under `run_prefix`.
pub fn prepared_key(run_prefix: &str, i: usize, size: u64) -> String {
    join(run_prefix, &format!("get/{i:06}-{size}"))
}

/// The key of PUT slot `slot` of worker `worker` under `write_prefix`.
pub fn put_key(write_prefix: &str, worker: usize, slot: usize) -> String {
    join(write_prefix, &format!("put/w{worker:04}-{slot:03}"))
}

/// Every key a run of `plan` may write under `run_prefix`: the prepared GET set (unless
/// `existing` data is read) and the PUT slots (when the mix writes). The caller records them
/// in its ledger *before* [`prepare`] and [`run`] write anything.
pub fn planned_writes(plan: &LoadPlan, run_prefix: &str, existing: bool) -> Vec<String> {
    let mut keys = Vec::new();
    if existing {
        return keys;
    }
    if plan.mix.any(|op| matches!(op, Op::Get | Op::Head)) {
        keys.extend(
            (0..plan.objects)
                .map(|i| prepared_key(run_prefix, i, plan.sizes.spread(i, plan.objects))),
        );
    }
    if plan.mix.any(Op::writes) {
        for w in 0..plan.concurrency {
            keys.extend((0..plan.put_slots).map(|s| put_key(run_prefix, w, s)));
        }
    }
    keys
}

fn payloads(sizes: &Mix<u64>, seed: u64) -> Vec<(u64, Payload)> {
    sizes
        .items()
        .iter()
        .map(|&(s, _)| (s, Payload::generate(s as usize, seed ^ s)))
        .collect()
}

/// Writes `plan.objects` objects under `<run_prefix>/get/`, sizes following the size mix,
/// over up to `plan.concurrency` connections (at most 8). Returns the dataset with every key
/// written.
pub async fn prepare<R: OpRequest>(
    requests: &R,
    plan: &LoadPlan,
    run_prefix: &str,
) -> Result<Dataset, LoadError> {
    prepare_logged(requests, plan, run_prefix, None).await
}

/// [`prepare`], telling `on_write` each key before its PUT is sent.
pub async fn prepare_logged<R: OpRequest>(
    requests: &R,
    plan: &LoadPlan,
    run_prefix: &str,
    on_write: Option<WriteLog>,
) -> Result<Dataset, LoadError> {
    let bodies = Arc::new(payloads(&plan.sizes, plan.seed));
    let objects: Vec<(String, u64)> = (0..plan.objects)
        .map(|i| {
            let size = plan.sizes.spread(i, plan.objects);
            (prepared_key(run_prefix, i, size), size)
        })
        .collect();
    let lanes = plan.concurrency.clamp(1, 8);
    let results: Vec<_> = futures::stream::iter(0..lanes)
        .map(|lane| {
            let mut rq = requests.clone();
            let mut conn = Connection::new(rq.endpoint().clone());
            let objects = &objects;
            let bodies = bodies.clone();
            let on_write = on_write.clone();
            async move {
                let mut written = Vec::new();
                for (key, size) in objects.iter().skip(lane).step_by(lanes) {
                    let body = &bodies
                        .iter()
                        .find(|(s, _)| s == size)
                        .expect("a body per size")
                        .1;
                    let path = rq.object_path(key);
                    let req = rq.build(&OpCall::Put { path: &path, body }, SystemTime::now());
                    written.push(key.clone());
                    if let Some(log) = &on_write {
                        log(key);
                    }
                    let deadline = Some(Instant::now() + plan.timeout);
                    match conn.exchange(req, Keep::Errors, deadline).await {
                        Ok(x) if x.status.is_success() => {}
                        Ok(x) => {
                            let msg = format!(
                                "status {}: {}",
                                x.status,
                                String::from_utf8_lossy(&x.body)
                            );
                            return (written, Some((key.clone(), msg)));
                        }
                        Err(e) => return (written, Some((key.clone(), e.to_string()))),
                    }
                }
                (written, None)
            }
        })
        .buffer_unordered(lanes)
        .collect()
        .await;
    let mut written = Vec::new();
    let mut failure = None;
    for (w, f) in results {
        written.extend(w);
        failure = failure.or(f);
    }
    if let Some((key, message)) = failure {
        return Err(LoadError::Prepare {
            key,
            message,
            written,
        });
    }
    Ok(Dataset {
        objects,
        list_prefix: run_prefix.to_string(),
        write_prefix: Some(run_prefix.to_string()),
        written,
    })
}

/// Lists up to `limit` existing objects under `prefix` to read: writes nothing at all.
pub async fn discover<R: OpRequest>(
    requests: &R,
    prefix: &str,
    limit: usize,
    timeout: Duration,
) -> Result<Dataset, LoadError> {
    let err = |message: String| LoadError::List {
        prefix: prefix.to_string(),
        message,
    };
    let mut rq = requests.clone();
    let mut conn = Connection::new(rq.endpoint().clone());
    let mut objects = Vec::new();
    let mut continuation: Option<String> = None;
    while objects.len() < limit {
        let call = OpCall::List {
            prefix,
            max_keys: (limit - objects.len()).min(1000) as u32,
            continuation: continuation.as_deref(),
        };
        let req = rq.build(&call, SystemTime::now());
        let x = conn
            .exchange(req, Keep::All, Some(Instant::now() + timeout))
            .await
            .map_err(|e| err(e.to_string()))?;
        if !x.status.is_success() {
            return Err(err(format!(
                "status {}: {}",
                x.status,
                String::from_utf8_lossy(&x.body)
            )));
        }
        let page = rq.parse_list(&x.body).map_err(err)?;
        objects.extend(page.objects.into_iter().filter(|(k, _)| !k.ends_with('/')));
        match page.continuation {
            Some(c) => continuation = Some(c),
            None => break,
        }
    }
    objects.truncate(limit);
    if objects.is_empty() {
        return Err(err("no objects there to read".into()));
    }
    Ok(Dataset {
        objects,
        list_prefix: prefix.to_string(),
        write_prefix: None,
        written: Vec::new(),
    })
}

/// What a run hands back.
#[derive(Debug)]
pub struct LoadRun {
    /// Figures, timeline, verdict (judged with `verdict` over the suite's profiles).
    pub summary: LoadSummary,
    /// Keys the run's PUTs wrote (besides [`Dataset::written`]); the ledger deletes them.
    pub written: Vec<String>,
    /// The merged recorder (for merging with other machines' runs or more figures).
    pub recorder: Recorder,
}

/// Runs the load: `plan.concurrency` workers over `data`, judged against `verdict` requiring
/// class `required` (`azure_sku` when known).
pub async fn run<R: OpRequest>(
    requests: &R,
    plan: &LoadPlan,
    data: &Dataset,
    verdict_config: &VerdictConfig,
    required: &str,
    azure_sku: Option<&str>,
) -> Result<LoadRun, LoadError> {
    run_with_live(
        requests,
        plan,
        data,
        verdict_config,
        required,
        azure_sku,
        Watchers::default(),
    )
    .await
}

/// Aborts the workers when the run is dropped (Ctrl-C: the caller stops awaiting), so no
/// request is sent after the caller moved on to cleanup.
struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// Who follows a run as it goes.
#[derive(Clone, Default)]
pub struct Watchers {
    /// Kept up to date for a progress display (needs `plan.timeline`).
    pub live: Option<Arc<Live>>,
    /// Told each key before the run first writes it.
    pub on_write: Option<WriteLog>,
}

/// [`run`], with `watchers` following it.
pub async fn run_with_live<R: OpRequest>(
    requests: &R,
    plan: &LoadPlan,
    data: &Dataset,
    verdict_config: &VerdictConfig,
    required: &str,
    azure_sku: Option<&str>,
    watchers: Watchers,
) -> Result<LoadRun, LoadError> {
    let live = watchers.live;
    if data.write_prefix.is_none() && plan.mix.any(Op::writes) {
        return Err(LoadError::BadPlan(
            "an existing prefix is read-only: remove put and delete from the mix".into(),
        ));
    }
    if data.objects.is_empty() && plan.mix.any(|op| matches!(op, Op::Get | Op::Head)) {
        return Err(LoadError::BadPlan(
            "get and head need objects to read".into(),
        ));
    }
    // Bodies and paths first: generating megabytes of payload on a busy machine must not eat
    // into the measured window.
    let bodies = payloads(&plan.sizes, plan.seed);
    let read_set = data
        .objects
        .iter()
        .map(|(k, _)| requests.object_path(k))
        .collect();
    let start = Instant::now() + Duration::from_millis(20);
    let shared = Arc::new(RunShared {
        schedule: schedule::Schedule::new(plan.mode, plan.bound, plan.warmup, start),
        mix: plan.mix.clone(),
        sizes: plan.sizes.clone(),
        payloads: bodies,
        read_set,
        list_prefix: data.list_prefix.clone(),
        list_max_keys: plan.list_max_keys,
        timeout: plan.timeout,
        backoff_max: plan.backoff_max,
        stop_after_failures: plan.stop_after_failures,
        failures_in_a_row: std::sync::atomic::AtomicU64::new(0),
        stop: tokio::sync::watch::Sender::new(false),
        on_write: watchers.on_write,
    });
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let grace = plan.timeout.as_secs() as u32 + 2;
    // Autoterm: when the timeline is stable, the workers stop claiming requests.
    let stable_at = Arc::new(std::sync::OnceLock::<Instant>::new());
    let watch = plan.autoterm.map(|rule| {
        let (shared, stable_at) = (shared.clone(), stable_at.clone());
        timeline::AutotermWatch {
            rule,
            on_stable: Box::new(move || {
                let _ = stable_at.set(Instant::now());
                shared.stop.send_replace(true);
            }),
        }
    });
    let collector = tokio::spawn(timeline::collect(rx, grace, live, watch));
    let write_prefix = data.write_prefix.clone().unwrap_or_default();
    let mut handles = Vec::with_capacity(plan.concurrency);
    let mut guard = AbortOnDrop(vec![collector.abort_handle()]);
    // One recorder per runtime thread (workers spread over them), merged at the end.
    let threads = tokio::runtime::Handle::current()
        .metrics()
        .num_workers()
        .max(1);
    let recorders: Vec<worker::SharedRecorder> = (0..threads)
        .map(|_| Arc::new(std::sync::Mutex::new(Recorder::new())))
        .collect();
    let head_slots = HeadCache::slots_for(shared.read_set.len(), plan.concurrency);
    for w in 0..plan.concurrency {
        let slots = (0..plan.put_slots)
            .map(|s| requests.object_path(&put_key(&write_prefix, w, s)))
            .collect();
        let seed = plan.seed ^ (w as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407);
        let worker = Worker::new(
            requests.clone(),
            seed,
            slots,
            recorders[w % threads].clone(),
            (plan.timeline || plan.autoterm.is_some()).then(|| tx.clone()),
            HeadCache::new(head_slots),
        );
        let h = tokio::spawn(worker.run(shared.clone()));
        guard.0.push(h.abort_handle());
        handles.push(h);
    }
    drop(tx);
    tokio::time::sleep_until(start).await;
    let mut recorder = Recorder::new();
    let mut written = Vec::new();
    let mut last_end = None::<Instant>;
    for h in handles {
        let r = h
            .await
            .map_err(|e| LoadError::BadPlan(format!("a worker failed: {e}")))?;
        written.extend(r.written);
        last_end = last_end.max(r.last_end);
    }
    for r in &recorders {
        recorder.merge(&r.lock().unwrap_or_else(|e| e.into_inner()));
    }
    let timeline = collector.await.unwrap_or_default();
    guard.0.clear();
    let measure_from = shared.schedule.measure_from();
    let stable_at = stable_at.get().copied();
    let stopped_early = *shared.stop.borrow() && stable_at.is_none();
    let secs = match plan.bound {
        Bound::Duration(d) if !stopped_early && stable_at.is_none() => d.as_secs_f64(),
        _ => last_end.map_or(0.0, |e| {
            e.saturating_duration_since(measure_from).as_secs_f64()
        }),
    };
    let mut summary = LoadSummary::new(
        plan.mode,
        plan.concurrency,
        &recorder,
        timeline,
        secs,
        placeholder(),
    );
    if stopped_early {
        summary.stopped_early = Some(format!(
            "the last {} requests all failed or were throttled; lsprobe stopped sending to \
             spare the bucket",
            plan.stop_after_failures
        ));
    } else if let Some(planned) = shared.schedule.planned_measured_until(stable_at) {
        let sent: u64 = recorder.ops.iter().map(|o| o.total()).sum();
        summary.dropped = planned.saturating_sub(sent);
    }
    summary.stop_reason = Some(if stopped_early {
        crate::report::StopReason::Failures
    } else if stable_at.is_some() {
        crate::report::StopReason::AutotermStable
    } else {
        match plan.bound {
            Bound::Duration(_) => crate::report::StopReason::DurationCap,
            Bound::Requests(_) => crate::report::StopReason::RequestsDone,
        }
    });
    summary.shard = plan.shard.as_ref().map(|s| s.shard);
    summary.verdict = verdict::judge(verdict_config, required, &summary.figures(), azure_sku);
    let since = Instant::now().saturating_duration_since(measure_from);
    summary.measured_from = chrono::Duration::from_std(since)
        .ok()
        .map(|d| chrono::Utc::now() - d);
    summary.plan = Some(plan.summary());
    summary.verdict_basis = Some(crate::report::VerdictBasis {
        config: verdict_config.clone(),
        azure_sku: azure_sku.map(str::to_string),
    });
    debug_assert!(
        recorder
            .ops
            .iter()
            .all(|o| o.count(Outcome::Ok) <= o.total())
    );
    Ok(LoadRun {
        summary,
        written,
        recorder,
    })
}

fn placeholder() -> Verdict {
    Verdict {
        slow: false,
        class: "unknown".into(),
        required: String::new(),
        reasons: Vec::new(),
    }
}
