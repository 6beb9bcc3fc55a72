//! Realistic reports for the tests of the report module and its exporters.
use std::collections::BTreeMap;

use super::*;
use crate::config::Provider;
use crate::load::Op;

/// A target summary as an S3 run against s3rver would show it.
pub(crate) fn target() -> TargetSummary {
    TargetSummary {
        provider: Provider::S3,
        bucket: "ls-media".into(),
        folder: "label-studio/data".into(),
        endpoint: Some("http://127.0.0.1:4568/".into()),
        region: Some("us-east-1".into()),
        origins: vec!["http://localhost:8080".into()],
        url_expiry_secs: 900,
        credentials: "access keys".into(),
        credential_source: Some("STORAGE_AWS_* keys".into()),
        identity: Some("access key S3RV…LEAK (env.list:2 (STORAGE_AWS_ACCESS_KEY_ID))".into()),
    }
}

/// A report with no checks yet.
pub(crate) fn empty_report() -> RunReport {
    let mut report = RunReport::new(target());
    report.started_at = "2025-05-01T12:00:00.250Z".parse().unwrap();
    report
}

fn latency(scale: f64) -> LatencyMs {
    LatencyMs {
        p50: 2.5 * scale,
        p90: 4.0 * scale,
        p99: 9.75 * scale,
        p999: 20.0 * scale,
        max: 31.2 * scale,
        mean: 3.1 * scale,
    }
}

/// A load section; `slow` sets the verdict.
pub(crate) fn load_report(slow: bool) -> LoadReport {
    let mut ops = BTreeMap::new();
    ops.insert(
        Op::Get,
        OpStats {
            count: 1200,
            errors: 3,
            errors_by_class: ErrorCounts {
                throttled: 2,
                other: 1,
                ..Default::default()
            },
            ops_per_s: 40.0,
            bytes_per_s: 40960.0,
            latency_ms: latency(1.0),
            ttfb_ms: Some(latency(0.5)),
            histogram: "HISTFAAAACl4nJNpmSzMwMDAxQABzFCaEUzOmNZg/wEiMH0XqmUBAMs2Bco=".into(),
            ttfb_histogram: None,
        },
    );
    ops.insert(
        Op::Put,
        OpStats {
            count: 600,
            errors: 0,
            errors_by_class: ErrorCounts::default(),
            ops_per_s: 20.0,
            bytes_per_s: 20480.0,
            latency_ms: latency(2.0),
            ttfb_ms: None,
            histogram: "HISTFAAAACl4nJNpmSzMwMDAxQABzFCaEUzOmNZg/wEiMH0XqmUBAMs2Bco=".into(),
            ttfb_histogram: None,
        },
    );
    LoadReport {
        mode: LoadMode::Closed,
        concurrency: 8,
        rate: None,
        duration_s: 30.0,
        ops,
        queue_delay_ms: None,
        timeline: vec![TimelinePoint {
            second: 0,
            op: Op::Get,
            count: 40,
            errors: 0,
            bytes: 40960,
            p50_ms: 2.4,
            p99_ms: 9.0,
        }],
        timeline_late: 0,
        dropped: 0,
        stopped_early: None,
        verdict: Verdict {
            slow,
            class: if slow { "hdd" } else { "ssd" }.into(),
            required: "ssd".into(),
            reasons: if slow {
                vec!["get p99 180 ms is above the 100 ms an SSD-class bucket answers in".into()]
            } else {
                vec![]
            },
        },
        measured_from: None,
        plan: None,
        verdict_basis: None,
        shard: None,
        stop_reason: None,
    }
}

/// A report with a check of every status, a load section and keys left after cleanup; its
/// messages hold characters XML and terminals must escape.
pub(crate) fn full_report() -> RunReport {
    let mut report = empty_report();
    report.push_check(
        CheckResult::new(
            "permissions.list",
            Status::Pass,
            "listed 2 keys under the folder",
        )
        .with_evidence("status", 200),
    );
    let mut fail = CheckResult::new(
        "permissions.put",
        Status::Fail,
        "put was denied: 403 AccessDenied <Code> & \"quotes\" 'apostrophes'",
    )
    .with_remediation(
        "Add to the IAM policy of this user:\n  \"Action\": \"s3:PutObject\"\n  \"Resource\": \"arn:aws:s3:::ls-media/*\"",
    )
    .with_evidence("status", 403)
    .with_evidence("code", "AccessDenied")
    .with_evidence("expected", "200 OK")
    .with_evidence("seen", "403 AccessDenied")
    .with_evidence("key", "label-studio/data/.lsprobe/r1/put-probe");
    fail.duration_ms = 12;
    report.push_check(fail);
    report.push_check(
        CheckResult::new(
            "azure.account_kind",
            Status::Warn,
            "StorageV2 Standard_LRS: an HDD-class account \u{1b}[31m",
        )
        .with_remediation("Use a Premium_LRS BlockBlobStorage account."),
    );
    report.push_check(
        CheckResult::new(
            "presign.get",
            Status::Error,
            "could not reach http://127.0.0.1:4568: connection refused\u{0}",
        )
        .with_evidence("error", "connect"),
    );
    report.push_check(CheckResult::new(
        "s3.encryption",
        Status::Skip,
        "STORAGE_AWS_OBJECT_PARAMETERS sets no encryption",
    ));
    report.load = Some(load_report(true));
    report.cleanup = Cleanup {
        deleted: 4,
        leftover: vec!["label-studio/data/.lsprobe/r1/über ünïcode & <x>".into()],
    };
    report.duration_s = 1.5;
    report.exit_code = report.exit(false).code();
    report
}
