//! The per-second timeline: bounded memory, no locks on the hot path.
//!
//! Each worker fills a small histogram per operation for the current second
//! ([`Interval`]) and, when its clock moves to a later second, sends it whole to one
//! collector task (one message per worker per second, not per request). The collector merges
//! the workers' intervals of a second and, once no worker can still report that second
//! (a grace of the request timeout), reduces them to one small [`TimelinePoint`].
use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::recorder::record_into;
use super::request::Op;

/// Significant figures of the per-second histograms (1% is plenty for a timeline).
const SIGFIG: u8 = 2;

/// One worker's second.
#[derive(Debug)]
pub struct IntervalReport {
    sec: u32,
    ok: [Option<Histogram<u64>>; 5],
    errors: [u32; 5],
}

/// The worker side: the current second's figures.
#[derive(Debug)]
pub struct Interval {
    tx: Option<mpsc::UnboundedSender<IntervalReport>>,
    sec: u32,
    ok: [Option<Histogram<u64>>; 5],
    errors: [u32; 5],
    dirty: bool,
}

impl Interval {
    /// A worker's interval sending to `tx` (`None`: no timeline).
    pub fn new(tx: Option<mpsc::UnboundedSender<IntervalReport>>) -> Self {
        Interval {
            tx,
            sec: 0,
            ok: Default::default(),
            errors: [0; 5],
            dirty: false,
        }
    }

    /// Records one request that ended in second `sec` of the measured window.
    #[inline]
    pub fn record(&mut self, sec: u32, op: Op, ok: bool, latency: Duration) {
        if self.tx.is_none() {
            return;
        }
        self.flush_before(sec);
        self.sec = sec;
        self.dirty = true;
        if ok {
            record_into(&mut self.ok[op.index()], SIGFIG, latency);
        } else {
            self.errors[op.index()] += 1;
        }
    }

    /// Sends what this worker holds if it belongs to a second before `sec` (call before an
    /// idle wait, so an idle worker does not hold a second back).
    pub fn flush_before(&mut self, sec: u32) {
        if self.dirty && self.sec < sec {
            self.flush();
        }
    }

    /// Sends what this worker holds.
    pub fn flush(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        if let Some(tx) = &self.tx {
            let _ = tx.send(IntervalReport {
                sec: self.sec,
                ok: std::mem::take(&mut self.ok),
                errors: std::mem::take(&mut self.errors),
            });
        }
    }
}

impl Drop for Interval {
    fn drop(&mut self) {
        self.flush();
    }
}

/// One operation in one second.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PointOp {
    /// Requests that ended in this second.
    pub count: u64,
    /// Of which failed.
    pub errors: u64,
    /// Median latency of the successful ones, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

/// One second of the measured window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Seconds since the end of the warmup.
    pub t: u32,
    /// Per operation that ran in this second.
    pub ops: BTreeMap<Op, PointOp>,
}

/// The collected timeline.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// One point per second that saw a request, in order.
    pub points: Vec<TimelinePoint>,
    /// Requests reported after their second was closed (slower than the grace); counted in
    /// the run's totals but missing from the timeline.
    pub late: u64,
}

#[derive(Default)]
struct Slot {
    ok: [Option<Histogram<u64>>; 5],
    errors: [u64; 5],
}

fn close(sec: u32, slot: Slot) -> TimelinePoint {
    let mut ops = BTreeMap::new();
    for op in Op::ALL {
        let i = op.index();
        let h = slot.ok[i].as_ref();
        let ok = h.map_or(0, |h| h.len());
        if ok + slot.errors[i] == 0 {
            continue;
        }
        let q = |q: f64| h.map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0);
        ops.insert(
            op,
            PointOp {
                count: ok + slot.errors[i],
                errors: slot.errors[i],
                p50_ms: q(0.5),
                p99_ms: q(0.99),
            },
        );
    }
    TimelinePoint { t: sec, ops }
}

/// Receives the workers' intervals until every sender is gone. Seconds older than the newest
/// seen minus `grace_s` are closed as they go, so memory holds at most `grace_s` seconds of
/// histograms.
pub async fn collect(mut rx: mpsc::UnboundedReceiver<IntervalReport>, grace_s: u32) -> Timeline {
    let mut pending: BTreeMap<u32, Slot> = BTreeMap::new();
    let mut out = Timeline::default();
    let mut closed_before = 0u32;
    while let Some(r) = rx.recv().await {
        if r.sec < closed_before {
            out.late += r.ok.iter().flatten().map(|h| h.len()).sum::<u64>()
                + r.errors.iter().map(|&e| u64::from(e)).sum::<u64>();
            continue;
        }
        let slot = pending.entry(r.sec).or_default();
        for (i, h) in r.ok.into_iter().enumerate() {
            if let Some(h) = h {
                match &mut slot.ok[i] {
                    Some(d) => d.add(&h).expect("auto-resizing histograms merge"),
                    None => slot.ok[i] = Some(h),
                }
            }
            slot.errors[i] += u64::from(r.errors[i]);
        }
        let newest = *pending.keys().next_back().expect("just inserted");
        let limit = newest.saturating_sub(grace_s);
        while let Some(entry) = pending.first_entry() {
            if *entry.key() >= limit {
                break;
            }
            let (sec, slot) = entry.remove_entry();
            out.points.push(close(sec, slot));
            closed_before = sec + 1;
        }
    }
    out.points
        .extend(pending.into_iter().map(|(s, slot)| close(s, slot)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn merges_workers_per_second_and_closes_old_seconds() {
        let (tx, rx) = mpsc::unbounded_channel();
        let collector = tokio::spawn(collect(rx, 2));
        let mut a = Interval::new(Some(tx.clone()));
        let mut b = Interval::new(Some(tx));
        for s in 0..10u32 {
            a.record(s, Op::Get, true, Duration::from_millis(10));
            b.record(s, Op::Get, true, Duration::from_millis(30));
            b.record(s, Op::Put, false, Duration::from_millis(1));
        }
        // A report for second 1 arriving after second 9 was seen is late.
        let mut late = Interval::new(a.tx.clone());
        late.record(1, Op::Head, true, Duration::from_millis(1));
        drop(late);
        drop(a);
        drop(b);
        let t = collector.await.unwrap();
        assert_eq!(t.points.len(), 10);
        assert_eq!(t.late, 1);
        let p = &t.points[3];
        assert_eq!(p.t, 3);
        assert_eq!(p.ops[&Op::Get].count, 2);
        assert_eq!(p.ops[&Op::Put].errors, 1);
        assert!((p.ops[&Op::Get].p99_ms - 30.0).abs() < 0.5, "{p:?}");
        assert!((p.ops[&Op::Get].p50_ms - 10.0).abs() < 0.2, "{p:?}");
    }
}
