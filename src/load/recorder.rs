//! What a worker records: an HdrHistogram per (operation, outcome), time to first byte for
//! GET, bytes, and the open-loop queueing delay. One `Recorder` per worker, no sharing; they
//! are merged once at the end. Memory is flat however long the run: histograms, never
//! per-request samples (the histograms auto-resize with the largest latency seen).
use std::io::Cursor;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::request::Op;

/// Significant figures of the run-wide histograms (values are microseconds).
pub const SIGFIG: u8 = 3;

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// 2xx (and 404 on delete, which S3 treats as success too).
    Ok,
    /// The service asked us to slow down: 503, 429, `SlowDown`, `ServerBusy`.
    Throttled,
    /// 401 / 403: credentials or permissions.
    Denied,
    /// No answer before the request timeout.
    Timeout,
    /// Anything else: other statuses, connection failures.
    Other,
}

impl Outcome {
    /// Every outcome, in index order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::Throttled,
        Outcome::Denied,
        Outcome::Timeout,
        Outcome::Other,
    ];

    /// Classifies an answer by status and (for errors) the start of its body.
    pub fn classify(op: Op, status: StatusCode, error_body: &[u8]) -> Outcome {
        let s = status.as_u16();
        if status.is_success() || (op == Op::Delete && s == 404) {
            return Outcome::Ok;
        }
        let mentions = |needle: &[u8]| error_body.windows(needle.len()).any(|w| w == needle);
        if s == 503 || s == 429 || mentions(b"SlowDown") || mentions(b"ServerBusy") {
            Outcome::Throttled
        } else if s == 401 || s == 403 {
            Outcome::Denied
        } else {
            Outcome::Other
        }
    }
}

fn new_histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new(sigfig).expect("valid significant figures")
}

/// Records into a lazily created histogram; values in microseconds, at least 1.
pub(crate) fn record_into(slot: &mut Option<Histogram<u64>>, sigfig: u8, d: Duration) {
    let us = (d.as_micros() as u64).max(1);
    // Auto-resizing: only fails on values beyond u64 ranges, which a Duration cannot give.
    let _ = slot.get_or_insert_with(|| new_histogram(sigfig)).record(us);
}

fn merge_into(dst: &mut Option<Histogram<u64>>, src: &Option<Histogram<u64>>) {
    if let Some(src) = src {
        match dst {
            Some(d) => d.add(src).expect("auto-resizing histograms always merge"),
            None => *dst = Some(src.clone()),
        }
    }
}

/// One operation's figures in one worker (or merged).
#[derive(Clone, Debug, Default)]
pub struct OpRecord {
    /// Latency per outcome (index: [`Outcome::ALL`]), microseconds.
    pub latency: [Option<Histogram<u64>>; 5],
    /// Time to first byte of successful requests (GET), microseconds.
    pub ttfb: Option<Histogram<u64>>,
    /// Body bytes moved (sent for PUT, received otherwise) by successful requests.
    pub bytes: u64,
}

impl OpRecord {
    /// Requests with `outcome`.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.latency[outcome as usize]
            .as_ref()
            .map_or(0, |h| h.len())
    }

    /// Requests with any outcome but `Ok`.
    pub fn errors(&self) -> u64 {
        Outcome::ALL[1..].iter().map(|&o| self.count(o)).sum()
    }

    /// Every request.
    pub fn total(&self) -> u64 {
        self.count(Outcome::Ok) + self.errors()
    }
}

/// A worker's recorder.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    /// Per operation (index: [`Op::index`]).
    pub ops: [OpRecord; 5],
    /// Open loop: how late requests started after their intended time, microseconds.
    pub queue_delay: Option<Histogram<u64>>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one request: `latency` from its (intended) start to its last byte, `ttfb` to
    /// its response head, `bytes` of body moved.
    #[inline]
    pub fn record(
        &mut self,
        op: Op,
        outcome: Outcome,
        latency: Duration,
        ttfb: Option<Duration>,
        bytes: u64,
    ) {
        let r = &mut self.ops[op.index()];
        record_into(&mut r.latency[outcome as usize], SIGFIG, latency);
        if outcome == Outcome::Ok {
            r.bytes += bytes;
            if let Some(t) = ttfb {
                record_into(&mut r.ttfb, SIGFIG, t);
            }
        }
    }

    /// Records how late a request started after its intended time (open loop).
    #[inline]
    pub fn record_queue_delay(&mut self, delay: Duration) {
        record_into(&mut self.queue_delay, SIGFIG, delay);
    }

    /// Adds `other` into `self` (exact: histogram counts add).
    pub fn merge(&mut self, other: &Recorder) {
        for (a, b) in self.ops.iter_mut().zip(&other.ops) {
            for (x, y) in a.latency.iter_mut().zip(&b.latency) {
                merge_into(x, y);
            }
            merge_into(&mut a.ttfb, &b.ttfb);
            a.bytes += b.bytes;
        }
        merge_into(&mut self.queue_delay, &other.queue_delay);
    }
}

/// Percentiles of a latency distribution, in milliseconds: the report's type.
pub use crate::report::LatencyMs as LatencySummary;

impl LatencySummary {
    /// From a histogram of microseconds.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// A histogram as the report carries it: HdrHistogram V2 + Deflate, base64. Histograms from
/// several machines decode and add exactly.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .expect("serializing into memory cannot fail");
    STANDARD.encode(buf)
}

/// Decodes [`encode_histogram`]'s output.
pub fn decode_histogram(s: &str) -> Result<Histogram<u64>, String> {
    let bytes = STANDARD.decode(s.trim()).map_err(|e| e.to_string())?;
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut Cursor::new(bytes))
        .map_err(|e| format!("{e:?}"))?;
    h.auto(true);
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_answers() {
        let c = |s: u16, b: &str| {
            Outcome::classify(Op::Get, StatusCode::from_u16(s).unwrap(), b.as_bytes())
        };
        assert_eq!(c(200, ""), Outcome::Ok);
        assert_eq!(c(503, ""), Outcome::Throttled);
        assert_eq!(c(500, "<Code>ServerBusy</Code>"), Outcome::Throttled);
        assert_eq!(c(400, "<Code>SlowDown</Code>"), Outcome::Throttled);
        assert_eq!(
            c(403, "<Code>SignatureDoesNotMatch</Code>"),
            Outcome::Denied
        );
        assert_eq!(c(404, ""), Outcome::Other);
        assert_eq!(
            Outcome::classify(Op::Delete, StatusCode::NOT_FOUND, b""),
            Outcome::Ok
        );
    }

    #[test]
    fn merging_adds_counts_exactly() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        for i in 1..=100u64 {
            a.record(
                Op::Get,
                Outcome::Ok,
                Duration::from_millis(i),
                Some(Duration::from_millis(1)),
                10,
            );
            b.record(Op::Get, Outcome::Ok, Duration::from_secs(i), None, 10);
        }
        b.record(Op::Put, Outcome::Denied, Duration::from_millis(3), None, 5);
        a.merge(&b);
        let g = &a.ops[Op::Get.index()];
        assert_eq!(g.count(Outcome::Ok), 200);
        assert_eq!(g.bytes, 2000);
        assert_eq!(g.ttfb.as_ref().unwrap().len(), 100);
        assert_eq!(a.ops[Op::Put.index()].errors(), 1);
        assert_eq!(a.ops[Op::Put.index()].bytes, 0);
        let h = g.latency[0].as_ref().unwrap();
        assert!(h.max() >= 99_000_000, "{}", h.max());
    }

    #[test]
    fn histograms_round_trip_and_merge_after_decoding() {
        let mut h = new_histogram(SIGFIG);
        for v in [5u64, 120, 3_000, 2_000_000] {
            h.record(v).unwrap();
        }
        let s = encode_histogram(&h);
        let mut back = decode_histogram(&s).unwrap();
        assert_eq!(back, h);
        back.add(&h).unwrap();
        back.record(60_000_000_000).unwrap();
        assert_eq!(back.len(), 9);
        assert!(decode_histogram("not base64").is_err());
    }

    #[test]
    fn summary_is_in_milliseconds() {
        let mut h = new_histogram(SIGFIG);
        for _ in 0..99 {
            h.record(50_000).unwrap();
        }
        h.record(1_000_000).unwrap();
        let s = LatencySummary::from_histogram(&h);
        assert!((s.p50 - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.max - 1000.0).abs() < 1.0, "{s:?}");
        assert!(s.p999 > 900.0, "{s:?}");
    }
}
