//! The result of a load run: the `load` section of the JSON report (../shared/design.md),
//! built from the merged recorder. The type is the report's own ([`LoadReport`]): one struct
//! from the recorder to every exporter.
use super::recorder::{LatencySummary, OpRecord, Outcome, Recorder, encode_histogram};
use super::request::Op;
use super::schedule::Mode;
use super::timeline::Timeline;
use super::verdict::{Figures, Verdict};
use crate::report::{ErrorCounts, LoadMode, LoadReport, OpStats};

/// The `load` section of the report.
pub type LoadSummary = LoadReport;

/// One operation's figures over the measured window.
pub type OpSummary = OpStats;

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
        ttfb_histogram: if op == Op::Get {
            r.ttfb.as_ref().map(encode_histogram)
        } else {
            None
        },
    }
}

impl LoadReport {
    /// Builds the summary of a measured window of `secs` seconds; the verdict is filled in
    /// by the caller ([`super::verdict::judge`] over [`LoadReport::figures`]).
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
        LoadReport {
            mode: match mode {
                Mode::Open { .. } => LoadMode::Open,
                Mode::Closed => LoadMode::Closed,
            },
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
            dropped: 0,
            stopped_early: None,
            verdict,
            measured_from: None,
            plan: None,
            verdict_basis: None,
            shard: None,
            stop_reason: None,
        }
    }

    /// The figures the verdict judges.
    pub fn figures(&self) -> Figures {
        let get = self.ops.get(&Op::Get);
        let head = self.ops.get(&Op::Head).filter(|h| h.count > h.errors);
        let (throttled, total) = self.ops.values().fold((0, 0), |(t, n), o| {
            (t + o.errors_by_class.throttled, n + o.count)
        });
        let failed: u64 = self
            .ops
            .values()
            .map(|o| o.errors - o.errors_by_class.throttled)
            .sum::<u64>()
            + self.dropped;
        let asked = total + self.dropped;
        Figures {
            get_ttfb: get.and_then(|g| g.ttfb_ms),
            head: head.map(|h| h.latency_ms),
            throttled_pct: (total > 0).then(|| throttled as f64 * 100.0 / total as f64),
            get_mib_per_s: get
                .filter(|g| g.count > g.errors)
                .map(|g| g.bytes_per_s / (1024.0 * 1024.0)),
            failed_pct: (asked > 0).then(|| failed as f64 * 100.0 / asked as f64),
            stalled_pct: self.stalled_pct(),
        }
    }

    /// Whole measured seconds in which no request succeeded (the storage stalled, or
    /// answered only errors: workers backing off send few requests then, so the failure
    /// count alone would understate an outage), as a share of the whole measured seconds
    /// (None without a timeline or a whole second measured).
    fn stalled_pct(&self) -> Option<f64> {
        let seconds = self.duration_s.floor() as u64;
        if seconds == 0 || self.timeline.is_empty() {
            return None;
        }
        let mut busy = vec![false; seconds as usize];
        for p in &self.timeline {
            if p.count > p.errors
                && let Some(b) = busy.get_mut(p.second as usize)
            {
                *b = true;
            }
        }
        let stalled = busy.iter().filter(|b| !**b).count();
        Some(stalled as f64 * 100.0 / seconds as f64)
    }

    /// The whole measured seconds in which no request succeeded.
    pub fn stalled_seconds(&self) -> u64 {
        self.stalled_pct()
            .map_or(0, |p| (p * self.duration_s.floor() / 100.0).round() as u64)
    }
}
