//! The result of a load run: the `load` section of the JSON report (../shared/design.md).
//!
//! NOTE for the merge: src/report/mod.rs defines `LoadReport` with the same shape; the two are
//! to be unified into one struct (this one carries a few extra fields: `errors_by_class`,
//! `queue_delay_ms`, `timeline_late`).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::recorder::{LatencySummary, OpRecord, Outcome, Recorder, encode_histogram};
use super::request::Op;
use super::schedule::Mode;
use super::timeline::{Timeline, TimelinePoint};
use super::verdict::{Figures, Verdict};

/// Failed requests by kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// 503, 429, SlowDown, ServerBusy.
    pub throttled: u64,
    /// 401, 403.
    pub denied: u64,
    /// No answer in time.
    pub timeout: u64,
    /// Everything else.
    pub other: u64,
}

/// One operation's figures over the measured window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpSummary {
    /// Requests sent (successful or not).
    pub count: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Failures by kind.
    pub errors_by_class: ErrorCounts,
    /// Successful requests per second.
    pub ops_per_s: f64,
    /// Body bytes per second (sent for put, received otherwise).
    pub bytes_per_s: f64,
    /// Latency of successful requests (open loop: from the intended start).
    pub latency_ms: LatencySummary,
    /// Time to first byte (get only).
    pub ttfb_ms: Option<LatencySummary>,
    /// The latency histogram (microseconds), HdrHistogram V2 + Deflate, base64.
    pub histogram: String,
}

/// The `load` section of the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// `closed` or `open`.
    pub mode: String,
    /// Workers (one connection each).
    pub concurrency: usize,
    /// Intended requests per second (open loop).
    pub rate: Option<f64>,
    /// Length of the measured window, seconds.
    pub duration_s: f64,
    /// Per operation that ran.
    pub ops: BTreeMap<Op, OpSummary>,
    /// Open loop: how late requests started after their intended time.
    pub queue_delay_ms: Option<LatencySummary>,
    /// One point per second of the measured window.
    pub timeline: Vec<TimelinePoint>,
    /// Requests missing from the timeline (reported after their second closed).
    pub timeline_late: u64,
    /// The slow-storage verdict.
    pub verdict: Verdict,
}

fn op_summary(op: Op, r: &OpRecord, secs: f64) -> OpSummary {
    let ok = r.latency[Outcome::Ok as usize].as_ref();
    let n_ok = r.count(Outcome::Ok) as f64;
    OpSummary {
        count: r.total(),
        errors: r.errors(),
        errors_by_class: ErrorCounts {
            throttled: r.count(Outcome::Throttled),
            denied: r.count(Outcome::Denied),
            timeout: r.count(Outcome::Timeout),
            other: r.count(Outcome::Other),
        },
        ops_per_s: n_ok / secs,
        bytes_per_s: r.bytes as f64 / secs,
        latency_ms: ok.map(LatencySummary::from_histogram).unwrap_or_default(),
        ttfb_ms: if op == Op::Get {
            r.ttfb.as_ref().map(LatencySummary::from_histogram)
        } else {
            None
        },
        histogram: ok.map(encode_histogram).unwrap_or_default(),
    }
}

impl LoadSummary {
    /// Builds the summary of a measured window of `secs` seconds; the verdict is filled in
    /// by the caller ([`super::verdict::judge`] over [`LoadSummary::figures`]).
    pub fn new(
        mode: Mode,
        concurrency: usize,
        recorder: &Recorder,
        timeline: Timeline,
        secs: f64,
        verdict: Verdict,
    ) -> Self {
        let secs = secs.max(1e-6);
        let ops = Op::ALL
            .into_iter()
            .filter(|op| recorder.ops[op.index()].total() > 0)
            .map(|op| (op, op_summary(op, &recorder.ops[op.index()], secs)))
            .collect();
        LoadSummary {
            mode: mode.to_string(),
            concurrency,
            rate: match mode {
                Mode::Open { rate } => Some(rate),
                Mode::Closed => None,
            },
            duration_s: secs,
            ops,
            queue_delay_ms: recorder
                .queue_delay
                .as_ref()
                .map(LatencySummary::from_histogram),
            timeline: timeline.points,
            timeline_late: timeline.late,
            verdict,
        }
    }

    /// The figures the verdict judges.
    pub fn figures(&self) -> Figures {
        let get = self.ops.get(&Op::Get);
        let head = self.ops.get(&Op::Head).filter(|h| h.count > h.errors);
        let (throttled, total) = self.ops.values().fold((0, 0), |(t, n), o| {
            (t + o.errors_by_class.throttled, n + o.count)
        });
        Figures {
            get_ttfb: get.and_then(|g| g.ttfb_ms.clone()),
            head: head.map(|h| h.latency_ms.clone()),
            throttled_pct: (total > 0).then(|| throttled as f64 * 100.0 / total as f64),
            get_mib_per_s: get
                .filter(|g| g.count > g.errors)
                .map(|g| g.bytes_per_s / (1024.0 * 1024.0)),
        }
    }
}
