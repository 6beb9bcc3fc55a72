//! The per-second timeline: bounded memory, no locks on the hot path.
//!
//! Each worker fills a small histogram per operation for the current second
//! ([`Interval`]) and, when its clock moves to a later second, sends it whole to one
//! collector task (one message per worker per second, not per request). The collector merges
//! the workers' intervals of a second and, once no worker can still report that second
//! (a grace of the request timeout), reduces them to one small [`TimelinePoint`].
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::mpsc;

use super::recorder::record_into;
use super::request::Op;
use crate::report::TimelinePoint;

/// Significant figures of the per-second histograms (1% is plenty for a timeline).
const SIGFIG: u8 = 2;

/// One worker's second.
#[derive(Debug)]
pub struct IntervalReport {
    sec: u32,
    ok: [Option<Histogram<u64>>; 5],
    errors: [u32; 5],
    bytes: [u64; 5],
}

/// The worker side: the current second's figures.
#[derive(Debug)]
pub struct Interval {
    tx: Option<mpsc::UnboundedSender<IntervalReport>>,
    sec: u32,
    ok: [Option<Histogram<u64>>; 5],
    errors: [u32; 5],
    bytes: [u64; 5],
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
            bytes: [0; 5],
            dirty: false,
        }
    }

    /// Records one request that ended in second `sec` of the measured window (`bytes` of
    /// payload moved when it succeeded).
    #[inline]
    pub fn record(&mut self, sec: u32, op: Op, ok: bool, latency: Duration, bytes: u64) {
        if self.tx.is_none() {
            return;
        }
        self.flush_before(sec);
        self.sec = sec;
        self.dirty = true;
        if ok {
            record_into(&mut self.ok[op.index()], SIGFIG, latency);
            self.bytes[op.index()] += bytes;
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
                bytes: std::mem::take(&mut self.bytes),
            });
        }
    }
}

impl Drop for Interval {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The collected timeline.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// One point per second and operation that saw a request, in order.
    pub points: Vec<TimelinePoint>,
    /// Requests reported after their second was closed (slower than the grace); counted in
    /// the run's totals but missing from the timeline.
    pub late: u64,
}

#[derive(Default)]
struct Slot {
    ok: [Option<Histogram<u64>>; 5],
    errors: [u64; 5],
    bytes: [u64; 5],
}

fn close(sec: u32, slot: Slot, out: &mut Vec<TimelinePoint>) {
    points_of(sec, &slot, out);
}

fn points_of(sec: u32, slot: &Slot, out: &mut Vec<TimelinePoint>) {
    for op in Op::ALL {
        let i = op.index();
        let h = slot.ok[i].as_ref();
        let ok = h.map_or(0, |h| h.len());
        if ok + slot.errors[i] == 0 {
            continue;
        }
        let q = |q: f64| h.map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0);
        out.push(TimelinePoint {
            second: u64::from(sec),
            op,
            count: ok + slot.errors[i],
            errors: slot.errors[i],
            bytes: slot.bytes[i],
            p50_ms: q(0.5),
            p99_ms: q(0.99),
        });
    }
}

/// Live figures for a progress display, updated by the collector once per worker and second
/// (never on the request path).
#[derive(Debug, Default)]
pub struct Live(Mutex<LiveInner>);

#[derive(Debug, Default)]
struct LiveInner {
    done: u64,
    errors: u64,
    /// The newest second seen and the one before it (the last one nearly complete).
    current: Option<LiveSecond>,
    previous: Option<LiveSecond>,
}

#[derive(Debug)]
struct LiveSecond {
    sec: u32,
    count: u64,
    ok: Option<Histogram<u64>>,
}

impl LiveSecond {
    fn add(&mut self, r: &IntervalReport) {
        for h in r.ok.iter().flatten() {
            self.count += h.len();
            match &mut self.ok {
                Some(d) => d.add(h).expect("auto-resizing histograms merge"),
                None => self.ok = Some(h.clone()),
            }
        }
        self.count += r.errors.iter().map(|&e| u64::from(e)).sum::<u64>();
    }
}

/// What [`Live::snapshot`] shows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LiveFigures {
    /// Measured requests so far.
    pub done: u64,
    /// Of which failed.
    pub errors: u64,
    /// Requests in the last complete second (all operations).
    pub ops_per_s: u64,
    /// Median latency of the successful ones in that second, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, LiveInner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, r: &IntervalReport) {
        let mut l = self.lock();
        l.done += r.ok.iter().flatten().map(|h| h.len()).sum::<u64>()
            + r.errors.iter().map(|&e| u64::from(e)).sum::<u64>();
        l.errors += r.errors.iter().map(|&e| u64::from(e)).sum::<u64>();
        let newer = l.current.as_ref().is_none_or(|c| r.sec > c.sec);
        if newer {
            l.previous = l.current.take();
            l.current = Some(LiveSecond {
                sec: r.sec,
                count: 0,
                ok: None,
            });
        }
        let inner = &mut *l;
        for slot in [&mut inner.current, &mut inner.previous]
            .into_iter()
            .flatten()
        {
            if slot.sec == r.sec {
                slot.add(r);
            }
        }
    }

    /// The figures so far: totals, and the rate and latency of the last complete second.
    pub fn snapshot(&self) -> LiveFigures {
        let l = self.lock();
        let second = l.previous.as_ref().or(l.current.as_ref());
        let q = |q: f64| {
            second
                .and_then(|s| s.ok.as_ref())
                .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
        };
        LiveFigures {
            done: l.done,
            errors: l.errors,
            ops_per_s: second.map_or(0, |s| s.count),
            p50_ms: q(0.5),
            p99_ms: q(0.99),
        }
    }
}

/// `--autoterm` following the timeline as it is collected.
pub struct AutotermWatch {
    /// When to stop.
    pub rule: super::Autoterm,
    /// Called once, the first time the run is stable.
    pub on_stable: Box<dyn FnOnce() + Send>,
}

/// Receives the workers' intervals until every sender is gone. Seconds older than the newest
/// seen minus `grace_s` are closed as they go, so memory holds at most `grace_s` seconds of
/// histograms. `live`, when given, is kept up to date for a progress display.
///
/// `autoterm`, when given, judges each second as soon as a report of a second two later
/// arrived (a worker reports a second when it moves past it; a request still running then is
/// left out of the decision, not of the timeline), and calls `on_stable` once.
pub async fn collect(
    mut rx: mpsc::UnboundedReceiver<IntervalReport>,
    grace_s: u32,
    live: Option<Arc<Live>>,
    mut autoterm: Option<AutotermWatch>,
) -> Timeline {
    let mut pending: BTreeMap<u32, Slot> = BTreeMap::new();
    let mut out = Timeline::default();
    let mut closed_before = 0u32;
    // Autoterm: the seconds judged so far (their points, the last window's only).
    let mut judged = 0u32;
    let mut recent: Vec<TimelinePoint> = Vec::new();
    while let Some(r) = rx.recv().await {
        if let Some(live) = &live {
            live.add(&r);
        }
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
            slot.bytes[i] += r.bytes[i];
        }
        let newest = *pending.keys().next_back().expect("just inserted");
        if let Some(watch) = &autoterm {
            let window = watch.rule.window_s.max(super::autoterm::BLOCKS);
            let mut stable = false;
            while judged + 2 <= newest && !stable {
                if let Some(slot) = pending.get(&judged) {
                    points_of(judged, slot, &mut recent);
                }
                judged += 1;
                recent.retain(|p| p.second + u64::from(window) >= u64::from(judged));
                stable = watch.rule.is_stable(&recent, u64::from(judged));
            }
            if stable && let Some(watch) = autoterm.take() {
                (watch.on_stable)();
            }
        }
        let limit = newest.saturating_sub(grace_s);
        while let Some(entry) = pending.first_entry() {
            if *entry.key() >= limit {
                break;
            }
            let (sec, slot) = entry.remove_entry();
            close(sec, slot, &mut out.points);
            closed_before = sec + 1;
        }
    }
    for (sec, slot) in pending {
        close(sec, slot, &mut out.points);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `seconds` of (GETs, latency ms) from two workers; whether autoterm fired and
    /// the timeline still holds every second.
    async fn autoterm_after(seconds: &[(u32, u64)]) -> bool {
        let (tx, rx) = mpsc::unbounded_channel();
        let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watch = AutotermWatch {
            rule: crate::load::Autoterm {
                window_s: 5,
                tolerance: 0.075,
            },
            on_stable: Box::new({
                let fired = fired.clone();
                move || fired.store(true, std::sync::atomic::Ordering::SeqCst)
            }),
        };
        let collector = tokio::spawn(collect(rx, 30, None, Some(watch)));
        let mut a = Interval::new(Some(tx.clone()));
        let mut b = Interval::new(Some(tx));
        for (s, &(n, ms)) in seconds.iter().enumerate() {
            for _ in 0..n {
                a.record(s as u32, Op::Get, true, Duration::from_millis(ms), 10);
                b.record(s as u32, Op::Get, true, Duration::from_millis(ms), 10);
            }
        }
        drop((a, b));
        let t = collector.await.unwrap();
        assert_eq!(t.points.len(), seconds.len(), "the timeline is whole");
        fired.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn autoterm_fires_on_a_steady_timeline_as_it_is_collected() {
        // 5 steady seconds are judged once a report of a second two later arrived.
        assert!(autoterm_after(&[(50, 10); 7]).await);
        assert!(
            !autoterm_after(&[(50, 10); 6]).await,
            "second 4 not yet complete"
        );
        // Throughput doubling at second 3: no window of seconds 0..7 is stable within 7.5 %.
        let ramp: Vec<(u32, u64)> = (0..12)
            .map(|s| (if s < 3 { 50 } else { 100 }, 10))
            .collect();
        assert!(!autoterm_after(&ramp[..9]).await);
        // ... until 5 whole seconds after the change are in.
        assert!(autoterm_after(&ramp).await);
    }

    #[tokio::test]
    async fn merges_workers_per_second_and_closes_old_seconds() {
        let (tx, rx) = mpsc::unbounded_channel();
        let live = Arc::new(Live::default());
        let collector = tokio::spawn(collect(rx, 2, Some(live.clone()), None));
        let mut a = Interval::new(Some(tx.clone()));
        let mut b = Interval::new(Some(tx));
        for s in 0..10u32 {
            a.record(s, Op::Get, true, Duration::from_millis(10), 100);
            b.record(s, Op::Get, true, Duration::from_millis(30), 100);
            b.record(s, Op::Put, false, Duration::from_millis(1), 7);
        }
        // A report for second 1 arriving after second 9 was seen is late.
        let mut late = Interval::new(a.tx.clone());
        late.record(1, Op::Head, true, Duration::from_millis(1), 0);
        drop(late);
        drop(a);
        drop(b);
        let t = collector.await.unwrap();
        assert_eq!(t.points.len(), 20, "a get and a put row per second");
        assert_eq!(t.late, 1);
        let at = |sec: u64, op: Op| {
            t.points
                .iter()
                .find(|p| p.second == sec && p.op == op)
                .unwrap()
        };
        let get = at(3, Op::Get);
        assert_eq!((get.count, get.bytes), (2, 200));
        assert_eq!((at(3, Op::Put).errors, at(3, Op::Put).bytes), (1, 0));
        assert!((get.p99_ms - 30.0).abs() < 0.5, "{get:?}");
        assert!((get.p50_ms - 10.0).abs() < 0.2, "{get:?}");
        let l = live.snapshot();
        assert_eq!((l.done, l.errors), (31, 10), "{l:?}");
        assert_eq!(l.ops_per_s, 3, "second 8: two gets and a put");
        assert!((l.p99_ms - 30.0).abs() < 0.5, "{l:?}");
    }
}
