//! The run report: [`RunReport`] is one serde struct that *is* the JSON format of design.md
//! (schema: `reports/report.schema.json`), and each exporter turns it into one file format
//! behind the [`Exporter`] trait.
pub mod compare;
pub mod digest;
mod formats;
pub mod html;
pub mod json;
pub mod junit;
pub mod load;
pub mod markdown;
pub mod merge;
pub mod redact;
pub mod target;
pub mod text;
pub mod units;
pub mod writer;

#[cfg(test)]
mod schema_tests;

use serde::{Deserialize, Serialize};

use crate::checks::{CheckResult, Status};
use crate::exit::Exit;

pub use formats::{ReportFormat, ShowFormat};
pub use load::{
    ErrorCounts, LatencyMs, LoadMode, LoadReport, OpStats, PlanSummary, StopReason, TimelinePoint,
    Verdict, VerdictBasis,
};
pub use target::TargetSummary;
pub use writer::{ReportError, ReportWriter};

/// The version of the JSON format; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything one run found: the JSON report of design.md, field for field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// [`SCHEMA_VERSION`] of the format this report was written in.
    pub schema_version: u32,
    /// The tool that wrote it.
    pub tool: Tool,
    /// What was checked (never any secret).
    pub target: TargetSummary,
    /// When the run started (RFC 3339, UTC).
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// How long the run took so far, in seconds.
    pub duration_s: f64,
    /// One result per check, in the order they ran.
    pub checks: Vec<CheckResult>,
    /// The load test, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadReport>,
    /// What cleanup deleted and what it could not.
    pub cleanup: Cleanup,
    /// Counts per status; kept in step with `checks` by [`RunReport::push_check`] and
    /// [`RunReport::finish`].
    pub summary: Summary,
    /// The process exit status this run ends (or would end) with.
    pub exit_code: u8,
}

/// The tool that wrote a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// `lsprobe`.
    pub name: String,
    /// The crate version.
    pub version: String,
}

impl Tool {
    /// This build of lsprobe.
    pub fn current() -> Self {
        Tool {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// What cleanup did with the objects this run wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleanup {
    /// How many objects were deleted.
    pub deleted: u64,
    /// Keys this run wrote and could not delete: the user must delete them by hand.
    pub leftover: Vec<String>,
}

/// How many checks ended with each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Status `pass`.
    pub passed: u32,
    /// Status `warn`.
    pub warned: u32,
    /// Status `fail`.
    pub failed: u32,
    /// Status `error`.
    pub errors: u32,
    /// Status `skip`.
    pub skipped: u32,
}

impl Summary {
    /// Counts one more result.
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Pass => self.passed += 1,
            Status::Warn => self.warned += 1,
            Status::Fail => self.failed += 1,
            Status::Error => self.errors += 1,
            Status::Skip => self.skipped += 1,
        }
    }

    /// All results counted.
    pub fn total(&self) -> u32 {
        self.passed + self.warned + self.failed + self.errors + self.skipped
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} warned, {} failed, {} errors, {} skipped",
            self.passed, self.warned, self.failed, self.errors, self.skipped
        )
    }
}

impl RunReport {
    /// An empty report for a run that starts now.
    pub fn new(target: TargetSummary) -> Self {
        RunReport {
            schema_version: SCHEMA_VERSION,
            tool: Tool::current(),
            target,
            started_at: chrono::Utc::now(),
            duration_s: 0.0,
            checks: Vec::new(),
            load: None,
            cleanup: Cleanup::default(),
            summary: Summary::default(),
            exit_code: Exit::Passed.code(),
        }
    }

    /// Appends one result and updates the summary.
    pub fn push_check(&mut self, mut result: CheckResult) {
        // Whatever a check quotes (a client's error, a URL it tried), no credential in a URL
        // reaches a report.
        result.message = redact::text(&result.message).into_owned();
        result.remediation = redact::text(&result.remediation).into_owned();
        result.evidence.values_mut().for_each(redact_json);
        self.summary.add(result.status);
        self.checks.push(result);
    }

    /// The counts per status, computed from `checks`.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for check in &self.checks {
            summary.add(check.status);
        }
        summary
    }

    /// The exit status the checks and the load verdict call for (design.md, "Exit codes"):
    /// a failed check, a check that could not be carried out (`error`: the bucket is not
    /// proven fit) or a "slow" load verdict is [`Exit::Failed`]; so is a warning under
    /// `--strict`. Keys left after cleanup do not change it: they are reported loudly instead.
    pub fn exit(&self, strict: bool) -> Exit {
        let summary = self.summary();
        let slow = self.load.as_ref().is_some_and(|load| load.verdict.slow);
        if summary.failed > 0 || summary.errors > 0 || slow || (strict && summary.warned > 0) {
            Exit::Failed
        } else {
            Exit::Passed
        }
    }

    /// Brings `summary`, `duration_s` and `exit_code` up to date; call after each phase.
    /// Returns the exit status. A run that could not finish sets `exit_code` to
    /// [`Exit::Incomplete`] itself afterwards.
    pub fn finish(&mut self, strict: bool) -> Exit {
        self.summary = self.summary();
        let elapsed = chrono::Utc::now() - self.started_at;
        self.duration_s = elapsed.num_milliseconds().max(0) as f64 / 1000.0;
        let exit = self.exit(strict);
        self.exit_code = exit.code();
        exit
    }
}

fn redact_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let std::borrow::Cow::Owned(clean) = redact::text(s) {
                *s = clean;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(redact_json),
        _ => {}
    }
}

/// Turns a report into one file format.
pub trait Exporter {
    /// The file's bytes.
    fn render(&self, report: &RunReport) -> Vec<u8>;
    /// The file name it is written under in `--report-dir`.
    fn file_name(&self) -> &'static str;
}

/// The exporter of a format. Text is rendered without colour (for files).
pub fn exporter(format: ReportFormat) -> Box<dyn Exporter> {
    match format {
        ReportFormat::Text => Box::new(text::TextExporter { colour: false }),
        ReportFormat::Json => Box::new(json::JsonExporter),
        ReportFormat::Junit => Box::new(junit::JunitExporter),
        ReportFormat::Markdown => Box::new(markdown::MarkdownExporter),
        ReportFormat::Html => Box::new(html::HtmlExporter),
    }
}

#[cfg(test)]
pub(crate) mod sample;

#[cfg(test)]
mod tests {
    use super::*;

    fn with_statuses(statuses: &[Status]) -> RunReport {
        let mut report = sample::empty_report();
        for (i, status) in statuses.iter().enumerate() {
            report.push_check(CheckResult::new(&format!("c{i}"), *status, "x"));
        }
        report
    }

    #[test]
    fn summary_counts_each_status() {
        let report = with_statuses(&[
            Status::Pass,
            Status::Pass,
            Status::Warn,
            Status::Fail,
            Status::Error,
            Status::Skip,
        ]);
        let summary = report.summary();
        assert_eq!(summary, report.summary);
        assert_eq!(
            summary.to_string(),
            "2 passed, 1 warned, 1 failed, 1 errors, 1 skipped"
        );
        assert_eq!(summary.total(), 6);
    }

    #[test]
    fn exit_follows_the_contract() {
        use Status::*;
        assert_eq!(with_statuses(&[Pass, Skip]).exit(true), Exit::Passed);
        assert_eq!(with_statuses(&[Pass, Warn]).exit(false), Exit::Passed);
        assert_eq!(with_statuses(&[Pass, Warn]).exit(true), Exit::Failed);
        assert_eq!(with_statuses(&[Pass, Fail]).exit(false), Exit::Failed);
        assert_eq!(with_statuses(&[Pass, Error]).exit(false), Exit::Failed);
        assert_eq!(with_statuses(&[]).exit(false), Exit::Passed);

        let mut slow = with_statuses(&[Pass]);
        slow.load = Some(sample::load_report(true));
        assert_eq!(slow.exit(false), Exit::Failed);
        slow.load = Some(sample::load_report(false));
        assert_eq!(slow.exit(false), Exit::Passed);

        let mut leftovers = with_statuses(&[Pass]);
        leftovers.cleanup.leftover = vec!["f/.lsprobe/r/k".into()];
        assert_eq!(leftovers.exit(true), Exit::Passed);
    }

    #[test]
    fn finish_updates_summary_and_exit_code() {
        let mut report = with_statuses(&[Status::Fail]);
        report
            .checks
            .push(CheckResult::new("late", Status::Pass, "x"));
        assert_eq!(report.finish(false), Exit::Failed);
        assert_eq!(report.summary.passed, 1);
        assert_eq!(report.exit_code, 1);
        assert!(report.duration_s >= 0.0);
    }

    #[test]
    fn tool_is_this_crate() {
        let tool = Tool::current();
        assert_eq!(tool.name, "lsprobe");
        assert_eq!(tool.version, env!("CARGO_PKG_VERSION"));
    }
}
