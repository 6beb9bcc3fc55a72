//! The one load loop. Every worker runs it, closed or open loop alike: claim a slot from the
//! schedule, wait for its intended start (open loop), build and sign a request, exchange it on
//! the worker's own connection, record. The one lock on this path is the recorder of the
//! worker's runtime thread, held for the few records of a request (uncontended on one
//! thread); the bodies are shared `Bytes`. A read (GET, HEAD) already built in the same
//! signing second is sent again as it was encoded ([`HeadCache`]); any other request allocates
//! its header map and `Authorization` value, and a kept (error) body what it holds.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::connection::{Connection, ExchangeError, Keep};
use super::head_cache::HeadCache;
use super::recorder::{Outcome, Recorder};
use super::request::{ObjectPath, Op, OpCall, OpRequest, Payload};
use super::schedule::{Mix, Rng, Schedule, Slot};
use super::timeline::{Interval, IntervalReport};
use super::wire;

/// Waits shorter than this are not slept (the timer's granularity is 1 ms): the request starts
/// at once and is measured from its actual start.
const MIN_SLEEP: Duration = Duration::from_millis(1);

/// What every worker of a run shares (read-only).
pub(crate) struct RunShared {
    pub schedule: Schedule,
    pub mix: Mix<Op>,
    pub sizes: Mix<u64>,
    /// One body per size of the size mix, generated once.
    pub payloads: Vec<(u64, Payload)>,
    /// Objects GET and HEAD read.
    pub read_set: Vec<ObjectPath>,
    pub list_prefix: String,
    pub list_max_keys: u32,
    pub timeout: Duration,
    /// The longest wait after a throttled or failed request (botocore's 20 s).
    pub backoff_max: Duration,
    /// Consecutive failed requests (all workers) that stop the run; 0: never.
    pub stop_after_failures: u64,
    /// Failed requests in a row, across workers (reset by any success).
    pub failures_in_a_row: AtomicU64,
    /// Set when the run stops early; workers stop claiming slots and cut their backoff.
    pub stop: tokio::sync::watch::Sender<bool>,
    /// Told each key the run is about to write, once per key, before its first PUT is sent.
    pub on_write: Option<super::WriteLog>,
}

impl RunShared {
    fn payload(&self, size: u64) -> &Payload {
        self.payloads
            .iter()
            .find(|(s, _)| *s == size)
            .map(|(_, p)| p)
            .unwrap_or(&self.payloads[0].1)
    }
}

/// Where workers record: one recorder per runtime thread, shared by the workers that use it
/// (per-worker histograms at 64 workers spill out of the cache: every record was a miss).
pub(crate) type SharedRecorder = Arc<std::sync::Mutex<Recorder>>;

/// What a worker hands back.
pub(crate) struct WorkerResult {
    /// Keys this worker sent a PUT for (bounded: its put slots).
    pub written: Vec<String>,
    /// When its last measured request ended.
    pub last_end: Option<Instant>,
}

/// One worker: its request builder, connection, RNG, (shared) recorder and PUT key slots.
pub(crate) struct Worker<R: OpRequest> {
    pub requests: R,
    pub conn: Connection,
    pub rng: Rng,
    pub recorder: SharedRecorder,
    pub interval: Interval,
    /// This worker's PUT keys; PUTs cycle through them so the run writes a bounded set.
    pub put_slots: Vec<ObjectPath>,
    pub put_used: Vec<bool>,
    /// Reads already encoded, sent again while their stamp holds.
    pub heads: HeadCache,
}

impl<R: OpRequest> Worker<R> {
    /// A worker with its own connection and RNG stream.
    pub fn new(
        requests: R,
        seed: u64,
        put_slots: Vec<ObjectPath>,
        recorder: SharedRecorder,
        timeline: Option<tokio::sync::mpsc::UnboundedSender<IntervalReport>>,
        heads: HeadCache,
    ) -> Self {
        let conn = Connection::new(requests.endpoint().clone());
        Worker {
            conn,
            rng: Rng::new(seed),
            recorder,
            interval: Interval::new(timeline),
            put_used: vec![false; put_slots.len()],
            put_slots,
            requests,
            heads,
        }
    }

    /// Runs the loop until the schedule says stop.
    pub async fn run(mut self, run: Arc<RunShared>) -> WorkerResult {
        let measure_from = run.schedule.measure_from();
        let sec_of = |t: Instant| t.saturating_duration_since(measure_from).as_secs() as u32;
        let mut last_put = 0usize;
        let mut next_put = 0usize;
        let mut last_end = None;
        let mut stop = run.stop.subscribe();
        let planned_end = run.schedule.planned_end();
        // Retryable failures in a row on this worker: the exponent of its backoff.
        let mut streak = 0u32;
        loop {
            if *stop.borrow() {
                break;
            }
            let now = Instant::now();
            let (intended, measured) = match run.schedule.next(now) {
                Slot::Stop => break,
                Slot::Go { intended, measured } => (intended, measured),
            };
            let start = match intended {
                Some(at) if at > now + MIN_SLEEP => {
                    self.interval.flush_before(sec_of(at));
                    tokio::time::sleep_until(at).await;
                    Instant::now()
                }
                _ => now,
            };
            let op = run.mix.pick(&mut self.rng);
            let read = matches!(op, Op::Get | Op::Head)
                .then(|| self.rng.below(run.read_set.len() as u64) as usize);
            let (call, sent) = match op {
                Op::Get => (OpCall::Get(&run.read_set[read.unwrap_or(0)]), 0),
                Op::Head => (OpCall::Head(&run.read_set[read.unwrap_or(0)]), 0),
                Op::List => (
                    OpCall::List {
                        prefix: &run.list_prefix,
                        max_keys: run.list_max_keys,
                        continuation: None,
                    },
                    0,
                ),
                Op::Put => {
                    let body = run.payload(run.sizes.pick(&mut self.rng));
                    last_put = next_put;
                    next_put = (next_put + 1) % self.put_slots.len();
                    if !self.put_used[last_put] {
                        self.put_used[last_put] = true;
                        if let Some(log) = &run.on_write {
                            log(&self.put_slots[last_put].key);
                        }
                    }
                    let call = OpCall::Put {
                        path: &self.put_slots[last_put],
                        body,
                    };
                    (call, body.bytes.len() as u64)
                }
                Op::Delete => (OpCall::Delete(&self.put_slots[last_put]), 0),
            };
            let wall = SystemTime::now();
            let deadline = Some(start + run.timeout);
            // A read already built in this stamp (second, credentials) is sent as it was.
            let stamp = read.map(|i| (i, self.requests.stamp(wall)));
            if let Some((i, stamp)) = stamp
                && self.heads.get(i, op, stamp).is_none()
            {
                let req = self.requests.build(&call, wall);
                let method = req.method().clone();
                self.heads.put(i, op, stamp, method, |out| {
                    let inlined = wire::encode_request(&req, out);
                    debug_assert!(inlined, "a read carries no body to send apart");
                });
            }
            let result = match stamp.and_then(|(i, s)| self.heads.get(i, op, s)) {
                Some((method, head)) => {
                    self.conn
                        .exchange_encoded(head, None, method, Keep::Errors, deadline)
                        .await
                }
                None => {
                    let req = self.requests.build(&call, wall);
                    self.conn.exchange(req, Keep::Errors, deadline).await
                }
            };
            let end = Instant::now();
            // Open loop: measured from the intended start, so time spent waiting for a free
            // worker (a stalled server) counts. Never earlier than the actual start.
            let begin = intended.map_or(start, |i| i.min(start));
            let (outcome, ttfb, bytes) = match &result {
                Ok(x) => {
                    let outcome = Outcome::classify(op, x.status, &x.body);
                    let ttfb =
                        (op == Op::Get).then(|| x.first_byte.saturating_duration_since(begin));
                    (outcome, ttfb, if op == Op::Put { sent } else { x.bytes })
                }
                Err(ExchangeError::Timeout) => (Outcome::Timeout, None, 0),
                Err(_) => (Outcome::Other, None, 0),
            };
            if measured {
                let latency = end.saturating_duration_since(begin);
                {
                    let mut recorder = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
                    recorder.record(op, outcome, latency, ttfb, bytes);
                    if let Some(i) = intended {
                        recorder.record_queue_delay(start.saturating_duration_since(i));
                    }
                }
                let moved = if outcome == Outcome::Ok { bytes } else { 0 };
                self.interval
                    .record(sec_of(end), op, outcome == Outcome::Ok, latency, moved);
                last_end = Some(end);
            }
            // Like the SDKs: a throttled or failed request makes this worker wait, longer each
            // time; enough failures in a row across all workers stop the run.
            if outcome == Outcome::Ok {
                streak = 0;
                if run.failures_in_a_row.load(Ordering::Relaxed) != 0 {
                    run.failures_in_a_row.store(0, Ordering::Relaxed);
                }
                continue;
            }
            let in_a_row = run.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
            if run.stop_after_failures > 0 && in_a_row >= run.stop_after_failures {
                run.stop.send_replace(true);
                break;
            }
            if matches!(
                outcome,
                Outcome::Throttled | Outcome::Timeout | Outcome::Other
            ) {
                streak = streak.saturating_add(1);
                let wait = backoff(streak, run.backoff_max, &mut self.rng);
                let until =
                    planned_end.map_or(Instant::now() + wait, |e| e.min(Instant::now() + wait));
                tokio::select! {
                    () = tokio::time::sleep_until(until) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        }
        self.interval.flush();
        let written = self
            .put_slots
            .iter()
            .zip(&self.put_used)
            .filter(|(_, used)| **used)
            .map(|(p, _)| p.key.to_string())
            .collect();
        WorkerResult { written, last_end }
    }
}

/// botocore's "standard" retry backoff: rand(0, 1) * min(2^attempt s, max).
fn backoff(attempt: u32, max: Duration, rng: &mut Rng) -> Duration {
    let cap = Duration::from_secs(1u64 << attempt.min(30)).min(max);
    cap.mul_f64(rng.below(1 << 20) as f64 / f64::from(1u32 << 20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_like_botocore_and_stops_at_the_cap() {
        let mut rng = Rng::new(7);
        let max = Duration::from_secs(20);
        for attempt in 1..40 {
            let cap = Duration::from_secs(1u64 << attempt.min(30)).min(max);
            for _ in 0..50 {
                assert!(backoff(attempt, max, &mut rng) <= cap);
            }
        }
        let mean = (0..1000)
            .map(|_| backoff(10, max, &mut rng).as_secs_f64())
            .sum::<f64>()
            / 1000.0;
        assert!((8.0..12.0).contains(&mean), "uniform over 0..20 s: {mean}");
    }
}
