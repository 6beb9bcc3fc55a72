//! The `load` section of the report (design.md): plain serde structs the load runner fills.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The load test, as run and as judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Closed loop (fixed workers) or open loop (fixed arrival rate).
    pub mode: LoadMode,
    /// Workers (closed loop) or the most requests in flight (open loop).
    pub concurrency: u32,
    /// Intended arrival rate in operations per second (open loop); `null` in closed loop.
    pub rate: Option<f64>,
    /// How long the load ran, in seconds.
    pub duration_s: f64,
    /// Statistics per operation, keyed by its name (`put`, `get`, `head`, `list`, `delete`).
    pub ops: BTreeMap<String, OpStats>,
    /// One point per second and operation.
    pub timeline: Vec<TimelinePoint>,
    /// Whether the storage is fast enough for Label Studio.
    pub verdict: Verdict,
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

/// What one operation did during the load test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpStats {
    /// Requests completed (errors included).
    pub count: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Completed requests per second.
    pub ops_per_s: f64,
    /// Payload bytes per second (sent for writes, received for reads).
    pub bytes_per_s: f64,
    /// Latency of the whole request, in milliseconds.
    pub latency_ms: LatencyMs,
    /// Time to the first byte of the body (`get` only), in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb_ms: Option<LatencyMs>,
    /// The latency HdrHistogram itself (microseconds), V2 compressed and base64-encoded, so
    /// reports from several machines merge exactly.
    pub histogram: String,
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
    /// Seconds since the load started (0 is the first second).
    pub second: u64,
    /// The operation.
    pub op: String,
    /// Requests completed in this second.
    pub count: u64,
    /// Requests that failed in this second.
    pub errors: u64,
    /// Payload bytes moved in this second.
    pub bytes: u64,
    /// Median latency in this second, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency in this second, in milliseconds.
    pub p99_ms: f64,
}

/// The slow-storage verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Too slow for Label Studio: the run exits 1.
    pub slow: bool,
    /// Storage class the numbers point at, e.g. `ssd`, `hdd` or `unknown`.
    pub class: String,
    /// Why, one sentence each, with the numbers.
    pub reasons: Vec<String>,
}
