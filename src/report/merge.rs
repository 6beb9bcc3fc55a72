//! `lsprobe report merge`: the load reports of N copies of one run (a Kubernetes Indexed Job, a
//! CI matrix) into one report, as if one client had sent every request:
//! - latency and time-to-first-byte histograms add exactly (the encoded HdrHistograms);
//! - counts, errors, dropped requests and cleanup add up;
//! - rates (ops/s, bytes/s) are the sum of each copy's rate over the *common window*: the whole
//!   seconds of its timeline that lie (at least half) inside the time every copy was measuring;
//!   without such a second, the sum of the copies' own rates;
//! - timelines are aligned by the wall clock (`measured_from`, to the nearest second); a merged
//!   second's counts add, its p50 is the count-weighted mean and its p99 the largest of the
//!   copies' (the timeline carries no histograms, so these two are approximations);
//! - `duration_s` spans the first copy's start to the last copy's end;
//! - the verdict is judged again from the merged figures, against the profiles the copies used.
//!
//! Reports of different targets or plans are refused, naming the file.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;

use super::{Cleanup, ErrorCounts, LatencyMs, LoadReport, OpStats, RunReport, TimelinePoint, Tool};
use crate::load::Op;
use crate::load::recorder::{decode_histogram, encode_histogram};

/// Why reports cannot be merged; names the file.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {why}")]
pub struct MergeError {
    /// The report refused.
    pub file: String,
    /// Why, and what to do.
    pub why: String,
}

fn refuse(file: &str, why: impl Into<String>) -> MergeError {
    MergeError {
        file: file.to_string(),
        why: why.into(),
    }
}

/// What a copy must share with the first to be merged with it.
fn same_run(first: &RunReport, other: &RunReport) -> Option<&'static str> {
    let (a, b) = (&first.target, &other.target);
    if (a.provider, &a.bucket, &a.folder, &a.endpoint, &a.region)
        != (b.provider, &b.bucket, &b.folder, &b.endpoint, &b.region)
    {
        return Some("target (provider, bucket, folder, endpoint, region)");
    }
    let (a, b) = (first.load.as_ref()?, other.load.as_ref()?);
    if (a.mode, a.concurrency, a.rate) != (b.mode, b.concurrency, b.rate) {
        return Some("mode, concurrency or rate");
    }
    if a.plan != b.plan {
        return Some("plan (mix, sizes, warmup, duration or requests, objects)");
    }
    if a.verdict_basis != b.verdict_basis || a.verdict.required != b.verdict.required {
        return Some("verdict thresholds or required class");
    }
    None
}

/// The shards of a sharded run (`--shard I/N`) must all be there, each once, of one count;
/// copies without a shard are N copies of one plan and merge as they are.
fn check_shards(reports: &[(String, RunReport)]) -> Result<(), MergeError> {
    let shards: Vec<(&str, Option<crate::load::Shard>)> = reports
        .iter()
        .map(|(f, r)| (f.as_str(), r.load.as_ref().and_then(|l| l.shard)))
        .collect();
    let Some((first, first_shard)) = shards.iter().find_map(|(f, s)| s.map(|s| (*f, s))) else {
        return Ok(());
    };
    let count = first_shard.count;
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    for (file, shard) in &shards {
        let Some(shard) = shard else {
            return Err(refuse(
                file,
                format!(
                    "is not a shard while {first} is shard {first_shard}: merge the reports of \
                     one sharded run (all run with --shard I/{count}), or of unsharded copies"
                ),
            ));
        };
        if shard.count != count {
            return Err(refuse(
                file,
                format!(
                    "is shard {shard} while {first} is shard {first_shard}: the shards of one \
                     run share their count"
                ),
            ));
        }
        if let Some(other) = seen.insert(shard.index, file) {
            return Err(refuse(
                file,
                format!(
                    "is shard {shard}, as {other} is: give each shard's report once (a shard \
                     run twice would count its requests twice)"
                ),
            ));
        }
    }
    let missing: Vec<String> = (0..count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(refuse(
            first,
            format!(
                "the run has {count} shards but shard {} is missing: give every shard's report \
                 (a partial run's totals are not the run's); rerun the missing shard with the \
                 same flags and --shard",
                missing.join(", ")
            ),
        ));
    }
    Ok(())
}

/// One copy, checked.
struct Copy<'a> {
    load: &'a LoadReport,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

fn add(into: &mut Option<Histogram<u64>>, encoded: &str, file: &str) -> Result<(), MergeError> {
    if encoded.is_empty() {
        return Ok(());
    }
    let h = decode_histogram(encoded)
        .map_err(|e| refuse(file, format!("a histogram does not decode ({e})")))?;
    match into {
        Some(total) => total
            .add(&h)
            .map_err(|e| refuse(file, format!("a histogram does not add ({e:?})")))?,
        None => *into = Some(h),
    }
    Ok(())
}

fn max_latency(a: LatencyMs, b: LatencyMs) -> LatencyMs {
    LatencyMs {
        p50: a.p50.max(b.p50),
        p90: a.p90.max(b.p90),
        p99: a.p99.max(b.p99),
        p999: a.p999.max(b.p999),
        max: a.max.max(b.max),
        mean: a.mean.max(b.mean),
    }
}

fn secs(d: chrono::TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// Successful requests and bytes per second of `op` in the seconds of `copy` inside
/// `[from, to)`; `None` when no whole second is.
fn window_rates(copy: &Copy, op: Op, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<(f64, f64)> {
    let seconds = copy.load.duration_s.floor() as u64;
    let inside: Vec<u64> = (0..seconds)
        .filter(|s| {
            let mid = copy.start + chrono::TimeDelta::milliseconds(*s as i64 * 1000 + 500);
            mid >= from && mid < to
        })
        .collect();
    if inside.is_empty() {
        return None;
    }
    let (ok, bytes) = copy
        .load
        .timeline
        .iter()
        .filter(|p| p.op == op && inside.contains(&p.second))
        .fold((0u64, 0u64), |(n, b), p| {
            (n + (p.count - p.errors.min(p.count)), b + p.bytes)
        });
    let n = inside.len() as f64;
    Some((ok as f64 / n, bytes as f64 / n))
}

/// Merges `reports` (file name, report), in the order given; see the module doc.
pub fn merge(reports: &[(String, RunReport)]) -> Result<RunReport, MergeError> {
    let (first_file, first) = reports
        .first()
        .ok_or_else(|| refuse("(none)", "give at least two reports"))?;
    let mut copies = Vec::new();
    for (file, report) in reports {
        let Some(load) = &report.load else {
            return Err(refuse(
                file,
                "not a load report (no `load` section): merge takes the report.json of `lsprobe load`",
            ));
        };
        let (Some(start), Some(_), Some(_)) = (load.measured_from, &load.plan, &load.verdict_basis)
        else {
            return Err(refuse(
                file,
                "has no measured_from, plan or verdict_basis (written by an older lsprobe); \
                 run the copies again with this version",
            ));
        };
        if let Some(what) = same_run(first, report) {
            return Err(refuse(
                file,
                format!("its {what} differs from {first_file}'s: merge only copies of one run"),
            ));
        }
        let end = start + chrono::TimeDelta::milliseconds((load.duration_s * 1000.0) as i64);
        copies.push(Copy { load, start, end });
    }
    check_shards(reports)?;
    let base = &copies[0].load;
    let t0 = copies
        .iter()
        .map(|c| c.start)
        .min()
        .expect("one copy at least");
    let t1 = copies
        .iter()
        .map(|c| c.end)
        .max()
        .expect("one copy at least");
    let common = (
        copies.iter().map(|c| c.start).max().expect("one copy"),
        copies.iter().map(|c| c.end).min().expect("one copy"),
    );

    let mut ops = BTreeMap::new();
    let all_ops: std::collections::BTreeSet<Op> = copies
        .iter()
        .flat_map(|c| c.load.ops.keys().copied())
        .collect();
    for op in all_ops {
        let (mut latency, mut ttfb) = (None, None);
        let mut stats = OpStats {
            count: 0,
            errors: 0,
            errors_by_class: ErrorCounts::default(),
            ops_per_s: 0.0,
            bytes_per_s: 0.0,
            latency_ms: LatencyMs::default(),
            ttfb_ms: None,
            histogram: String::new(),
            ttfb_histogram: None,
        };
        for ((file, _), copy) in reports.iter().zip(&copies) {
            let Some(s) = copy.load.ops.get(&op) else {
                continue;
            };
            add(&mut latency, &s.histogram, file)?;
            if let Some(t) = &s.ttfb_histogram {
                add(&mut ttfb, t, file)?;
            }
            stats.count += s.count;
            stats.errors += s.errors;
            let e = &mut stats.errors_by_class;
            e.throttled += s.errors_by_class.throttled;
            e.denied += s.errors_by_class.denied;
            e.timeout += s.errors_by_class.timeout;
            e.other += s.errors_by_class.other;
            let (rate, bytes) =
                window_rates(copy, op, common.0, common.1).unwrap_or((s.ops_per_s, s.bytes_per_s));
            stats.ops_per_s += rate;
            stats.bytes_per_s += bytes;
        }
        if let Some(h) = &latency {
            stats.latency_ms = LatencyMs::from_histogram(h);
            stats.histogram = encode_histogram(h);
        }
        if let Some(h) = &ttfb {
            stats.ttfb_ms = Some(LatencyMs::from_histogram(h));
            stats.ttfb_histogram = Some(encode_histogram(h));
        }
        ops.insert(op, stats);
    }

    let mut points: BTreeMap<(u64, Op), (TimelinePoint, f64)> = BTreeMap::new();
    for copy in &copies {
        let offset = secs(copy.start - t0).round().max(0.0) as u64;
        for p in &copy.load.timeline {
            let second = p.second + offset;
            let ok = p.count.saturating_sub(p.errors) as f64;
            let (merged, weight) = points.entry((second, p.op)).or_insert_with(|| {
                (
                    TimelinePoint {
                        second,
                        op: p.op,
                        count: 0,
                        errors: 0,
                        bytes: 0,
                        p50_ms: 0.0,
                        p99_ms: 0.0,
                    },
                    0.0,
                )
            });
            merged.count += p.count;
            merged.errors += p.errors;
            merged.bytes += p.bytes;
            if ok > 0.0 {
                merged.p50_ms = (merged.p50_ms * *weight + p.p50_ms * ok) / (*weight + ok);
                *weight += ok;
            }
            merged.p99_ms = merged.p99_ms.max(p.p99_ms);
        }
    }

    let stopped: Vec<&str> = copies
        .iter()
        .filter_map(|c| c.load.stopped_early.as_deref())
        .collect();
    let mut load = LoadReport {
        mode: base.mode,
        concurrency: base.concurrency * copies.len(),
        rate: base.rate.map(|r| r * copies.len() as f64),
        duration_s: secs(t1 - t0).max(0.0),
        ops,
        queue_delay_ms: copies
            .iter()
            .filter_map(|c| c.load.queue_delay_ms)
            .reduce(max_latency),
        timeline: points.into_values().map(|(p, _)| p).collect(),
        timeline_late: copies.iter().map(|c| c.load.timeline_late).sum(),
        dropped: copies.iter().map(|c| c.load.dropped).sum(),
        stopped_early: (!stopped.is_empty()).then(|| stopped.join("; ")),
        verdict: base.verdict.clone(),
        measured_from: Some(t0),
        plan: base.plan.clone(),
        verdict_basis: base.verdict_basis.clone(),
        shard: None,
        // The merged run ended when its last copy did, for that copy's reason.
        stop_reason: copies
            .iter()
            .max_by_key(|c| c.end)
            .and_then(|c| c.load.stop_reason),
    };
    let basis = load.verdict_basis.as_ref().expect("checked above");
    load.verdict = crate::load::verdict::judge(
        &basis.config,
        &base.verdict.required,
        &load.figures(),
        basis.azure_sku.as_deref(),
    );

    let mut report = RunReport::new(first.target.clone());
    report.tool = Tool::current();
    report.started_at = reports
        .iter()
        .map(|(_, r)| r.started_at)
        .min()
        .expect("one");
    let ended = reports
        .iter()
        .map(|(_, r)| {
            r.started_at + chrono::TimeDelta::milliseconds((r.duration_s * 1000.0) as i64)
        })
        .max()
        .expect("one");
    report.duration_s = secs(ended - report.started_at).max(0.0);
    for (_, r) in reports {
        for check in r.checks.iter().filter(|c| c.id != "load.verdict") {
            let seen = report.checks.iter().any(|c| {
                (&c.id, c.status, &c.message) == (&check.id, check.status, &check.message)
            });
            if !seen {
                report.push_check(check.clone());
            }
        }
    }
    let files: Vec<&str> = reports.iter().map(|(f, _)| f.as_str()).collect();
    let check = crate::load::verdict_check::verdict_check_for(&load, first.target.provider)
        .with_evidence("merged_from", files);
    report.push_check(check);
    report.load = Some(load);
    report.cleanup = Cleanup {
        deleted: reports.iter().map(|(_, r)| r.cleanup.deleted).sum(),
        leftover: reports
            .iter()
            .flat_map(|(_, r)| r.cleanup.leftover.iter().cloned())
            .collect(),
    };
    report.summary = report.summary();
    report.exit_code = report.exit(false).code();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::verdict::{Metric, Profile, Threshold};
    use crate::report::sample;

    fn copy(start: &str) -> RunReport {
        let mut report = sample::full_report();
        let load = report.load.as_mut().unwrap();
        let mut h = Histogram::<u64>::new(3).unwrap();
        for us in [800, 1200, 2500, 2500, 9000] {
            h.record(us).unwrap();
        }
        for stats in load.ops.values_mut() {
            stats.histogram = encode_histogram(&h);
        }
        load.ops.get_mut(&Op::Get).unwrap().ttfb_histogram = Some(encode_histogram(&h));
        load.measured_from = Some(start.parse().unwrap());
        load.plan = Some(crate::report::PlanSummary {
            mix: [(Op::Get, 1)].into(),
            sizes: [(4096, 1)].into(),
            warmup_s: 0.0,
            duration_s: Some(30.0),
            requests: None,
            objects: 4,
        });
        let profile = |class: &str, limit: f64| Profile {
            class: class.into(),
            providers: Vec::new(),
            thresholds: vec![Threshold {
                metric: Metric::GetTtfbP99Ms,
                limit,
                source: "test".into(),
            }],
        };
        load.verdict_basis = Some(crate::report::VerdictBasis {
            config: crate::load::VerdictConfig {
                required: "ssd".into(),
                required_azure: None,
                required_gcs: None,
                profiles: vec![profile("ssd", 1000.0), profile("hdd", 5000.0)],
            },
            azure_sku: None,
        });
        report
    }

    #[test]
    fn counts_add_histograms_add_and_the_verdict_is_judged_again() {
        let a = copy("2025-05-01T12:00:01Z");
        let b = copy("2025-05-01T12:00:03Z");
        let one = decode_histogram(&a.load.as_ref().unwrap().ops[&Op::Get].histogram).unwrap();
        let merged = merge(&[("a.json".into(), a), ("b.json".into(), b)]).unwrap();
        let load = merged.load.as_ref().unwrap();
        let get = &load.ops[&Op::Get];
        assert_eq!(get.count, 2400);
        assert_eq!(get.errors_by_class.throttled, 4);
        assert_eq!(
            decode_histogram(&get.histogram).unwrap().len(),
            2 * one.len()
        );
        // The sample copies' timelines hold second 0 only, 2 s apart.
        let seconds: Vec<u64> = load.timeline.iter().map(|p| p.second).collect();
        assert_eq!(seconds, vec![0, 2]);
        assert_eq!(load.duration_s, 32.0);
        assert_eq!(load.concurrency, 16);
        // Judged against the copies' thresholds (1 s), not their stored "slow" verdicts.
        assert!(!load.verdict.slow, "{:?}", load.verdict);
        assert_eq!(load.verdict.class, "ssd");
        let verdict = merged
            .checks
            .iter()
            .find(|c| c.id == "load.verdict")
            .unwrap();
        assert_eq!(
            verdict.evidence["merged_from"],
            serde_json::json!(["a.json", "b.json"])
        );
        assert_eq!(merged.cleanup.leftover.len(), 2);
    }

    fn shard(start: &str, index: u32, count: u32) -> RunReport {
        let mut r = copy(start);
        r.load.as_mut().unwrap().shard = Some(crate::load::Shard { index, count });
        r
    }

    #[test]
    fn the_shards_of_a_run_merge_once_each_and_all_of_them() {
        let t = "2025-05-01T12:00:01Z";
        let named = |rs: Vec<RunReport>| -> Vec<(String, RunReport)> {
            rs.into_iter()
                .enumerate()
                .map(|(i, r)| (format!("s{i}.json"), r))
                .collect()
        };
        let mut last = shard("2025-05-01T12:00:02Z", 2, 3);
        last.load.as_mut().unwrap().stop_reason = Some(crate::report::StopReason::AutotermStable);
        let merged = merge(&named(vec![shard(t, 1, 3), shard(t, 0, 3), last])).unwrap();
        let load = merged.load.unwrap();
        assert_eq!(load.ops[&Op::Get].count, 3600);
        assert_eq!(load.shard, None);
        assert_eq!(
            load.stop_reason,
            Some(crate::report::StopReason::AutotermStable)
        );
        for (reports, file, says) in [
            (
                vec![shard(t, 0, 3), shard(t, 1, 3)],
                "s0.json",
                "shard 2/3 is missing",
            ),
            (
                vec![shard(t, 0, 2), shard(t, 0, 2)],
                "s1.json",
                "as s0.json is",
            ),
            (
                vec![shard(t, 0, 2), shard(t, 1, 3)],
                "s1.json",
                "share their count",
            ),
            (vec![shard(t, 0, 2), copy(t)], "s1.json", "is not a shard"),
            (vec![copy(t), shard(t, 1, 2)], "s0.json", "is not a shard"),
        ] {
            let err = merge(&named(reports)).unwrap_err();
            assert_eq!(err.file, file, "{err}");
            assert!(err.to_string().contains(says), "{err}");
        }
    }

    #[test]
    fn reports_that_are_not_copies_of_one_run_are_refused_by_name() {
        let a = copy("2025-05-01T12:00:01Z");
        let mut no_load = copy("2025-05-01T12:00:01Z");
        no_load.load = None;
        let mut other = copy("2025-05-01T12:00:01Z");
        other.load.as_mut().unwrap().concurrency = 3;
        let mut old = copy("2025-05-01T12:00:01Z");
        old.load.as_mut().unwrap().plan = None;
        for (name, report, says) in [
            ("c.json", no_load, "not a load report"),
            ("d.json", other, "mode, concurrency or rate"),
            ("e.json", old, "older lsprobe"),
        ] {
            let err = merge(&[("a.json".into(), a.clone()), (name.into(), report)]).unwrap_err();
            assert_eq!(err.file, name);
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}
