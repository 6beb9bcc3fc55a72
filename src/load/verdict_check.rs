//! `load.verdict` as a check: the verdict, the figures it judged and what went wrong
//! (failed, dropped, stalled requests, an early stop), with the fix when it fails.
use crate::checks::{CheckResult, Status};
use crate::config::{Provider, Target};

use super::LoadSummary;

/// `load.verdict` as a check: pass, or fail when slow with the figures that crossed which
/// thresholds and their sources.
pub(crate) fn verdict_check(summary: &LoadSummary, target: &Target) -> CheckResult {
    verdict_check_for(summary, target.provider())
}

/// [`verdict_check`] for a provider (all the target it needs): also what a merge of reports
/// judges again.
pub(crate) fn verdict_check_for(summary: &LoadSummary, provider: Provider) -> CheckResult {
    let v = &summary.verdict;
    let f = summary.figures();
    let (requests, failed) = summary
        .ops
        .values()
        .fold((0, 0), |(n, e), o| (n + o.count, e + o.errors));
    let mut figures = serde_json::Map::new();
    if let Some(t) = &f.get_ttfb {
        figures.insert("get_ttfb_p50_ms".into(), t.p50.into());
        figures.insert("get_ttfb_p99_ms".into(), t.p99.into());
    }
    if let Some(h) = &f.head {
        figures.insert("head_p50_ms".into(), h.p50.into());
        figures.insert("head_p99_ms".into(), h.p99.into());
    }
    if let Some(t) = f.throttled_pct {
        figures.insert("throttled_pct".into(), t.into());
    }
    if let Some(m) = f.get_mib_per_s {
        figures.insert("get_mib_per_s".into(), m.into());
    }
    if let Some(p) = f.failed_pct {
        figures.insert("failed_pct".into(), p.into());
    }
    if let Some(p) = f.stalled_pct {
        figures.insert("stalled_pct".into(), p.into());
    }
    let reasons = v.reasons.join("\n");
    let mut notes = Vec::new();
    if failed > 0 {
        notes.push(format!("{failed} of {requests} requests failed"));
    }
    if summary.dropped > 0 {
        notes.push(format!(
            "{} planned requests were never started (the storage did not keep up with \
             --rate)",
            summary.dropped
        ));
    }
    let stalled = summary.stalled_seconds();
    if stalled > 0 {
        notes.push(format!(
            "{stalled} of {} measured seconds saw no request succeed",
            summary.duration_s.floor()
        ));
    }
    if let Some(why) = &summary.stopped_early {
        notes.push(format!("stopped early: {why}"));
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!("; {}", notes.join("; "))
    };
    let (status, message) = if v.slow {
        let what = if f.failed_pct.is_some_and(|p| p > 0.0) || summary.stopped_early.is_some() {
            "failing or too slow"
        } else {
            "too slow"
        };
        (
            Status::Fail,
            format!(
                "{what}: measured class {}, {} required{notes}\n{reasons}",
                v.class, v.required
            ),
        )
    } else if v.class == "unknown" {
        // Nothing was measured: the run could not finish, it is never a pass.
        (Status::Error, format!("no verdict{notes}\n{reasons}"))
    } else {
        let ttfb = f
            .get_ttfb
            .map(|t| format!("; GET first byte p50 {:.1} ms, p99 {:.1} ms", t.p50, t.p99))
            .unwrap_or_default();
        let msg = format!(
            "fast enough: {}-class ({} required){ttfb}{notes}",
            v.class, v.required
        );
        let status = if failed > 0 || summary.dropped > 0 || stalled > 0 {
            Status::Warn
        } else {
            Status::Pass
        };
        (status, msg)
    };
    let mut check = CheckResult::new("load.verdict", status, message.trim_end())
        .with_evidence("class", v.class.clone())
        .with_evidence("required", v.required.clone())
        .with_evidence("reasons", v.reasons.clone())
        .with_evidence("figures", serde_json::Value::Object(figures))
        .with_evidence("requests", requests)
        .with_evidence("failed", failed)
        .with_evidence("dropped", summary.dropped)
        .with_evidence("stalled_seconds", stalled);
    if v.slow {
        let fix = if provider == Provider::Azure {
            "Label Studio's guide asks for a Premium_LRS / BlockBlobStorage (SSD) account: an \
             HDD-backed Standard account \"might be too slow and could malfunction\". Also run \
             lsprobe from the region of the storage account."
        } else {
            "Run lsprobe from where Label Studio runs (same region as the bucket); if requests \
             were throttled, lower --concurrency or spread keys over prefixes. The thresholds and \
             their sources are in suites/capacity.toml; override one with --threshold \
             METRIC=VALUE or ask for another class with --require."
        };
        check = check.with_remediation(fix);
    }
    check
}
