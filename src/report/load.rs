//! The `load` section of the report (design.md): the one struct the load runner fills
//! ([`crate::load::LoadSummary`] is this type) and every exporter reads.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::load::Op;

/// The load test, as run and as judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Closed loop (fixed workers) or open loop (fixed arrival rate).
    pub mode: LoadMode,
    /// Workers, one connection each (open loop: the most requests in flight).
    pub concurrency: usize,
    /// Intended arrival rate in operations per second (open loop); `null` in closed loop.
    pub rate: Option<f64>,
    /// Length of the measured window (after the warmup), in seconds.
    pub duration_s: f64,
    /// Statistics per operation that ran, keyed by its name (`put`, `get`, `head`, `list`,
    /// `delete`).
    pub ops: BTreeMap<Op, OpStats>,
    /// Open loop: how late requests started after their intended time (reported apart from
    /// the latency, which counts from the intended start); `null` in closed loop.
    #[serde(default)]
    pub queue_delay_ms: Option<LatencyMs>,
    /// One point per second and operation of the measured window.
    pub timeline: Vec<TimelinePoint>,
    /// Requests missing from the timeline (reported after their second was closed); they
    /// are counted in `ops`.
    #[serde(default)]
    pub timeline_late: u64,
    /// Open loop: requests the schedule planned in the measured window that were never
    /// started (the storage could not keep up, or the run stopped early); they count as
    /// failed in the verdict.
    #[serde(default)]
    pub dropped: u64,
    /// Why the run stopped before its planned end (a bucket failing or throttling every
    /// request is not hammered further); `null` when it ran to the end.
    #[serde(default)]
    pub stopped_early: Option<String>,
    /// Whether the storage is fast enough for Label Studio.
    pub verdict: Verdict,
    /// When second 0 of the timeline (the measured window) began, by the wall clock: copies
    /// run in parallel are aligned on it when merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_from: Option<chrono::DateTime<chrono::Utc>>,
    /// What the run was asked to do: reports merge only when their plans are equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanSummary>,
    /// What the verdict was judged against, so that it can be judged again (after a merge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict_basis: Option<VerdictBasis>,
    /// Which copy of a sharded run this is (`--shard I/N`, 0-based); absent when unsharded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::load::Shard>,
    /// Why the measured part ended; absent in reports of an older lsprobe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
}

/// Why a load run's measured part ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// `--autoterm`: throughput and p99 were stable for the window.
    AutotermStable,
    /// `--duration` ran out (with `--autoterm`: the figures never settled before the cap).
    DurationCap,
    /// `--requests` were all measured.
    RequestsDone,
    /// Every recent request failed or was throttled (`stopped_early` says which).
    Failures,
}

impl StopReason {
    /// A sentence for the text and Markdown reports.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::AutotermStable => {
                "autoterm: throughput and p99 were stable for the window, before the cap"
            }
            StopReason::DurationCap => "the duration ran out",
            StopReason::RequestsDone => "every request asked for was measured",
            StopReason::Failures => "every recent request failed or was throttled",
        }
    }
}

/// The plan of a load run, as far as it shapes the figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// Operation weights.
    pub mix: BTreeMap<Op, u32>,
    /// Object size weights, by size in bytes.
    pub sizes: BTreeMap<u64, u32>,
    /// Excluded from the results, in seconds.
    pub warmup_s: f64,
    /// The measured duration asked for, in seconds (`null` when counting requests).
    pub duration_s: Option<f64>,
    /// The measured requests asked for (`null` when running for a duration).
    pub requests: Option<u64>,
    /// Objects in the GET set.
    pub objects: usize,
}

/// The verdict's inputs besides the figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictBasis {
    /// The storage-class profiles and their thresholds, after `--threshold` overrides.
    pub config: crate::load::VerdictConfig,
    /// The Azure account SKU when known (a Standard account is never SSD-class).
    #[serde(default)]
    pub azure_sku: Option<String>,
}

/// How requests are scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadMode {
    /// Each worker sends its next request when the previous one is answered.
    Closed,
    /// Requests start on a schedule; latency counts from the intended start.
    Open,
}

/// Failed requests by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// The service asked to slow down: 503, 429, `SlowDown`, `ServerBusy`.
    pub throttled: u64,
    /// 401, 403.
    pub denied: u64,
    /// No answer within the request timeout.
    pub timeout: u64,
    /// Everything else (other statuses, connection failures).
    pub other: u64,
}

/// What one operation did during the load test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpStats {
    /// Requests sent in the measured window (successful or not).
    pub count: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Failures by kind.
    #[serde(default)]
    pub errors_by_class: ErrorCounts,
    /// Successful requests per second.
    pub ops_per_s: f64,
    /// Payload bytes per second (sent for put, received otherwise).
    pub bytes_per_s: f64,
    /// Latency of successful requests, in milliseconds (open loop: from the intended start).
    pub latency_ms: LatencyMs,
    /// Time to the first byte (`get` only), in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb_ms: Option<LatencyMs>,
    /// The latency HdrHistogram itself (microseconds), V2 compressed and base64-encoded, so
    /// reports from several machines merge exactly.
    pub histogram: String,
    /// The time-to-first-byte HdrHistogram (`get` only), encoded as `histogram`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb_histogram: Option<String>,
}

/// Latency quantiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyMs {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// One second of one operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Seconds since the measured window started (0 is the first second).
    pub second: u64,
    /// The operation.
    pub op: Op,
    /// Requests that ended in this second.
    pub count: u64,
    /// Of which failed.
    pub errors: u64,
    /// Payload bytes moved by the successful ones.
    pub bytes: u64,
    /// Median latency of the successful ones, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, in milliseconds.
    pub p99_ms: f64,
}

/// The slow-storage verdict (also reported as the check `load.verdict`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Below the required class: the run exits 1.
    pub slow: bool,
    /// The fastest profile whose every threshold held: e.g. `ssd`, `hdd`; `unknown` when
    /// none did or nothing was measured.
    pub class: String,
    /// The class required (`--require`, or the suite's default for the provider).
    #[serde(default)]
    pub required: String,
    /// Each threshold crossed (naming the figure, the limit and its source), or why no class
    /// could be given.
    pub reasons: Vec<String>,
}
