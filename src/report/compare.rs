//! `lsprobe report compare BASE.json NEW.json`: per operation the change in throughput, p50,
//! p99 and error rate, and whether each change is beyond run-to-run noise.
//!
//! How "beyond noise" is decided (95 % level, from what the reports carry):
//! - **p50, p99**: a distribution-free confidence interval of the quantile from each run's
//!   histogram (the order statistics at ranks `n·q ± 1.96·√(n·q·(1−q))`); the change is beyond
//!   noise when the two intervals do not overlap; a quantile with fewer than 10 samples
//!   beyond it on either side (p99 of fewer than 1000 requests) is not judged ("too few
//!   samples to tell"): so few tail samples move with any hiccup of the client machine;
//! - **throughput**: the successful requests of each whole second of the timeline give a mean
//!   and its standard error (with fewer than 3 whole seconds, the count is taken as Poisson:
//!   standard error `√N / T`); beyond noise when the difference exceeds 1.96 standard errors
//!   of the difference;
//! - **error rate**: a two-proportion z-test (1.96).
//!
//! A **regression** is a change for the worse that is beyond noise *and* larger than
//! `--max-regression` percent: latency that grew by more than that, throughput whose time per
//! request grew by more than that (base/new − 1), or an error rate more than one percentage
//! point higher. A change within noise is never a regression, however large it looks.
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{LoadReport, RunReport};
use crate::load::Op;
use crate::load::recorder::decode_histogram;

const Z: f64 = 1.96;
/// The rise in error rate (percentage points) that counts as a regression when beyond noise.
const ERROR_RATE_POINTS: f64 = 1.0;

/// One figure of one operation, before and after.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// `throughput` (ops/s), `p50`, `p99` (ms) or `error_rate` (%).
    pub metric: &'static str,
    /// In the base report.
    pub base: f64,
    /// In the new report.
    pub new: f64,
    /// How much worse, in percent (negative: better); error rate in percentage points.
    pub worse_pct: f64,
    /// The 95 % interval of the base figure, when one could be given.
    pub base_interval: Option<(f64, f64)>,
    /// The 95 % interval of the new figure.
    pub new_interval: Option<(f64, f64)>,
    /// Whether the change is beyond run-to-run noise (`None`: too few samples to tell).
    pub beyond_noise: Option<bool>,
    /// Beyond noise, for the worse, and over the threshold.
    pub regression: bool,
}

/// The changes of one operation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpComparison {
    /// The operation.
    pub op: Op,
    /// Throughput, p50, p99, error rate; empty when the op ran in one report only.
    pub changes: Vec<Change>,
    /// `base` or `new` when the op ran in that report only.
    pub only_in: Option<&'static str>,
}

/// The comparison of two load reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// `--max-regression`, percent.
    pub max_regression: f64,
    /// Per operation.
    pub ops: Vec<OpComparison>,
}

/// Why two reports cannot be compared.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {why}")]
pub struct CompareError {
    /// The report.
    pub file: String,
    /// Why, and what to do.
    pub why: String,
}

impl Comparison {
    /// Every regression, as `op metric`.
    pub fn regressions(&self) -> Vec<String> {
        self.ops
            .iter()
            .flat_map(|o| {
                o.changes
                    .iter()
                    .filter(|c| c.regression)
                    .map(move |c| format!("{} {}", o.op.as_str(), c.metric))
            })
            .collect()
    }
}

/// Samples a run needs on each side of a quantile before its interval is trusted: below that,
/// one hiccup of the client machine moves the tail more than any interval says.
const MIN_TAIL_SAMPLES: f64 = 10.0;

/// The distribution-free 95 % interval of quantile `q` of `h`, in ms; `None` with fewer than
/// [`MIN_TAIL_SAMPLES`] samples beyond the quantile on either side.
fn quantile_interval(h: &Histogram<u64>, q: f64) -> Option<(f64, f64)> {
    let n = h.len() as f64;
    if n * q.min(1.0 - q) < MIN_TAIL_SAMPLES {
        return None;
    }
    let half = Z * (n * q * (1.0 - q)).sqrt();
    let lo = ((n * q - half).floor() / n).clamp(0.0, 1.0);
    let hi = ((n * q + half).ceil() / n).clamp(0.0, 1.0);
    let ms = |us: u64| us as f64 / 1000.0;
    Some((ms(h.value_at_quantile(lo)), ms(h.value_at_quantile(hi))))
}

/// Mean successful requests per second of `op` and its standard error.
fn throughput(load: &LoadReport, op: Op, ok: u64) -> (f64, f64) {
    let seconds = load.duration_s.floor() as usize;
    if seconds >= 3 && !load.timeline.is_empty() {
        let mut per_second = vec![0.0; seconds];
        for p in load.timeline.iter().filter(|p| p.op == op) {
            if let Some(s) = per_second.get_mut(p.second as usize) {
                *s += p.count.saturating_sub(p.errors) as f64;
            }
        }
        let n = seconds as f64;
        let mean = per_second.iter().sum::<f64>() / n;
        let var = per_second.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, (var / n).sqrt())
    } else {
        let t = load.duration_s.max(1e-6);
        (ok as f64 / t, (ok as f64).sqrt() / t)
    }
}

fn overlap(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

fn histogram(encoded: &str, file: &str) -> Result<Option<Histogram<u64>>, CompareError> {
    if encoded.is_empty() {
        return Ok(None);
    }
    decode_histogram(encoded)
        .map(Some)
        .map_err(|e| CompareError {
            file: file.to_string(),
            why: format!("a histogram does not decode ({e})"),
        })
}

fn load_of<'a>((file, r): (&str, &'a RunReport)) -> Result<&'a LoadReport, CompareError> {
    r.load.as_ref().ok_or_else(|| CompareError {
        file: file.to_string(),
        why: "not a load report (no `load` section): compare takes the report.json of \
              `lsprobe load`"
            .into(),
    })
}

/// Compares `new` with `base` (file names for errors).
pub fn compare(
    base: (&str, &RunReport),
    new: (&str, &RunReport),
    max_regression: f64,
) -> Result<Comparison, CompareError> {
    let (a, b) = (load_of(base)?, load_of(new)?);
    let mut ops = Vec::new();
    let all: std::collections::BTreeSet<Op> = a.ops.keys().chain(b.ops.keys()).copied().collect();
    for op in all {
        let (Some(sa), Some(sb)) = (a.ops.get(&op), b.ops.get(&op)) else {
            ops.push(OpComparison {
                op,
                changes: Vec::new(),
                only_in: Some(if a.ops.contains_key(&op) {
                    "base"
                } else {
                    "new"
                }),
            });
            continue;
        };
        let mut changes = Vec::new();
        let (ok_a, ok_b) = (sa.count - sa.errors, sb.count - sb.errors);
        let ((ra, se_a), (rb, se_b)) = (throughput(a, op, ok_a), throughput(b, op, ok_b));
        let se = (se_a * se_a + se_b * se_b).sqrt();
        let worse = if rb > 0.0 {
            (ra / rb - 1.0) * 100.0
        } else if ra > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        let beyond = (se > 0.0).then(|| (ra - rb).abs() > Z * se);
        changes.push(Change {
            metric: "throughput",
            base: sa.ops_per_s,
            new: sb.ops_per_s,
            worse_pct: worse,
            base_interval: Some((ra - Z * se_a, ra + Z * se_a)),
            new_interval: Some((rb - Z * se_b, rb + Z * se_b)),
            beyond_noise: beyond,
            regression: beyond == Some(true) && worse > max_regression,
        });
        let (ha, hb) = (
            histogram(&sa.histogram, base.0)?,
            histogram(&sb.histogram, new.0)?,
        );
        for (metric, q, va, vb) in [
            ("p50", 0.5, sa.latency_ms.p50, sb.latency_ms.p50),
            ("p99", 0.99, sa.latency_ms.p99, sb.latency_ms.p99),
        ] {
            let ia = ha.as_ref().and_then(|h| quantile_interval(h, q));
            let ib = hb.as_ref().and_then(|h| quantile_interval(h, q));
            let beyond = match (ia, ib) {
                (Some(x), Some(y)) => Some(!overlap(x, y)),
                _ => None,
            };
            let worse = if va > 0.0 {
                (vb / va - 1.0) * 100.0
            } else {
                0.0
            };
            changes.push(Change {
                metric,
                base: va,
                new: vb,
                worse_pct: worse,
                base_interval: ia,
                new_interval: ib,
                beyond_noise: beyond,
                regression: beyond == Some(true) && worse > max_regression,
            });
        }
        let (na, nb) = (sa.count as f64, sb.count as f64);
        let (pa, pb) = (
            sa.errors as f64 / na.max(1.0),
            sb.errors as f64 / nb.max(1.0),
        );
        let pooled = (sa.errors + sb.errors) as f64 / (na + nb).max(1.0);
        let se = (pooled * (1.0 - pooled) * (1.0 / na.max(1.0) + 1.0 / nb.max(1.0))).sqrt();
        let beyond = if se > 0.0 {
            Some((pb - pa).abs() > Z * se)
        } else {
            Some(false)
        };
        let worse = (pb - pa) * 100.0;
        changes.push(Change {
            metric: "error_rate",
            base: pa * 100.0,
            new: pb * 100.0,
            worse_pct: worse,
            base_interval: None,
            new_interval: None,
            beyond_noise: beyond,
            regression: beyond == Some(true) && worse > ERROR_RATE_POINTS,
        });
        ops.push(OpComparison {
            op,
            changes,
            only_in: None,
        });
    }
    Ok(Comparison {
        max_regression,
        ops,
    })
}

fn figure(metric: &str, v: f64) -> String {
    match metric {
        "throughput" => format!("{v:.1}/s"),
        "error_rate" => format!("{v:.2}%"),
        _ => format!("{v:.1} ms"),
    }
}

/// The comparison as text for people.
pub fn render_text(c: &Comparison, base: &str, new: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "lsprobe report compare: {base} (base) -> {new} (new)");
    let _ = writeln!(
        out,
        "  {:<6} {:<10} {:>12} {:>12} {:>10}  judgement",
        "op", "figure", "base", "new", "worse by"
    );
    for o in &c.ops {
        if let Some(side) = o.only_in {
            let _ = writeln!(out, "  {:<6} ran in the {side} report only", o.op.as_str());
            continue;
        }
        for ch in &o.changes {
            let worse = if ch.metric == "error_rate" {
                format!("{:+.2} pt", ch.worse_pct)
            } else if ch.worse_pct.is_finite() {
                format!("{:+.0}%", ch.worse_pct)
            } else {
                "stopped".into()
            };
            let judgement = match (ch.regression, ch.beyond_noise) {
                (true, _) => "REGRESSION",
                (false, Some(true)) if ch.worse_pct > 0.0 => "worse, within the threshold",
                (false, Some(true)) => "better",
                (false, Some(false)) => "within noise",
                (false, None) => "too few samples to tell",
            };
            let _ = writeln!(
                out,
                "  {:<6} {:<10} {:>12} {:>12} {:>10}  {judgement}",
                o.op.as_str(),
                ch.metric,
                figure(ch.metric, ch.base),
                figure(ch.metric, ch.new),
                worse
            );
        }
    }
    let regressions = c.regressions();
    if regressions.is_empty() {
        let _ = writeln!(out, "no regression beyond noise and {}%", c.max_regression);
    } else {
        let _ = writeln!(
            out,
            "{} regression(s) beyond noise and {}%: {}",
            regressions.len(),
            c.max_regression,
            regressions.join(", ")
        );
    }
    out.push_str(
        "worse by: the growth of the latency, or of the time per request for throughput; in \
         percentage points for the error rate\n\
         noise: p50/p99 by 95% order-statistic intervals from the histograms; throughput by the \
         per-second spread of the timeline; error rate by a two-proportion z-test\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::recorder::encode_histogram;
    use crate::report::sample;

    /// A load report whose get latencies are `base_us` plus a spread of 0..2 ms.
    fn run(base_us: u64, errors: u64) -> RunReport {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for i in 0..2000u64 {
            h.record(base_us + (i * 7919) % 2000).unwrap();
        }
        let mut report = sample::empty_report();
        let mut load = sample::load_report(false);
        load.ops.remove(&Op::Put);
        load.timeline.clear();
        load.duration_s = 2.0;
        let get = load.ops.get_mut(&Op::Get).unwrap();
        get.count = 2000 + errors;
        get.errors = errors;
        get.ops_per_s = 2000.0 / 2.0;
        get.latency_ms = crate::report::LatencyMs::from_histogram(&h);
        get.histogram = encode_histogram(&h);
        report.load = Some(load);
        report
    }

    fn decisions(base: &RunReport, new: &RunReport, max: f64) -> Vec<String> {
        compare(("a", base), ("b", new), max).unwrap().regressions()
    }

    #[test]
    fn fifty_ms_more_is_a_regression_and_the_same_run_is_not() {
        let base = run(10_000, 0);
        assert!(decisions(&base, &base.clone(), 10.0).is_empty());
        let slower = run(60_000, 0);
        assert_eq!(decisions(&base, &slower, 10.0), vec!["get p50", "get p99"]);
        // Over the threshold only: +500 % is within a 1000 % allowance.
        assert!(decisions(&base, &slower, 1000.0).is_empty());
        // Faster is never a regression.
        assert!(decisions(&slower, &base, 10.0).is_empty());
    }

    #[test]
    fn a_small_shift_within_the_interval_is_noise() {
        let c = compare(("a", &run(10_000, 0)), ("b", &run(10_010, 0)), 0.0).unwrap();
        let p50 = &c.ops[0].changes[1];
        assert_eq!(p50.metric, "p50");
        assert!(p50.worse_pct > 0.0);
        assert_eq!(p50.beyond_noise, Some(false), "{p50:?}");
        assert!(c.regressions().is_empty());
    }

    #[test]
    fn errors_count_when_they_rise_beyond_chance() {
        let c = compare(("a", &run(10_000, 0)), ("b", &run(10_000, 200)), 10.0).unwrap();
        assert_eq!(c.regressions(), vec!["get error_rate"]);
        let c = compare(("a", &run(10_000, 1)), ("b", &run(10_000, 2)), 10.0).unwrap();
        assert!(c.regressions().is_empty());
    }

    #[test]
    fn a_report_without_load_is_refused_by_name() {
        let err = compare(
            ("a.json", &run(1, 0)),
            ("b.json", &sample::empty_report()),
            10.0,
        )
        .unwrap_err();
        assert_eq!(err.file, "b.json");
    }

    #[test]
    fn a_tail_of_few_samples_is_not_judged() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in 1..=500u64 {
            h.record(v * 100).unwrap();
        }
        assert!(quantile_interval(&h, 0.5).is_some());
        assert_eq!(quantile_interval(&h, 0.99), None);
    }

    #[test]
    fn the_median_interval_holds_the_median() {
        let report = run(10_000, 0);
        let h = decode_histogram(&report.load.unwrap().ops[&Op::Get].histogram).unwrap();
        let (lo, hi) = quantile_interval(&h, 0.5).unwrap();
        assert!(lo < 11.0 && 11.0 < hi, "{lo}..{hi}");
        assert!(hi - lo < 0.5, "{lo}..{hi}");
    }
}
