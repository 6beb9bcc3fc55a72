//! The run lifecycle `check` and `load` (and `demo`) share: signals, the cleanup time limit,
//! printing the report, listing leftovers.
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::report::{Exporter, ReportFormat, RunReport, exporter, text::TextExporter};
use crate::{RunError, config};

/// Prints the report: as text, or in the one format asked for when no --report-dir is given
/// (`lsprobe check` and `lsprobe load` alike).
pub fn print(report_dir: Option<&Path>, formats: &[ReportFormat], report: &RunReport) {
    let bytes = match (report_dir, formats) {
        (None, [format]) if *format != ReportFormat::Text => exporter(*format).render(report),
        _ => TextExporter::for_terminal().render(report),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&bytes);
    let _ = out.flush();
}

/// Says on stderr which keys this run could not delete.
pub fn report_leftovers(report: &RunReport) {
    if report.cleanup.leftover.is_empty() {
        return;
    }
    eprintln!(
        "cleanup: {} object(s) written by this run could not be deleted; delete them by hand:",
        report.cleanup.leftover.len()
    );
    for key in &report.cleanup.leftover {
        eprintln!("  {key}");
    }
}

/// Parses `--cleanup-timeout` (exit 2 naming the flag when it is not a duration).
pub fn cleanup_limit(value: &str) -> Result<Duration, RunError> {
    match humantime::parse_duration(value.trim()) {
        Ok(d) if d <= Duration::from_secs(3600) => Ok(d),
        Ok(_) => Err(RunError::BadInput(format!(
            "--cleanup-timeout `{}`: at most 1h",
            config::parse::shorten(value)
        ))),
        Err(e) => Err(RunError::BadInput(format!(
            "--cleanup-timeout `{}`: {e} (e.g. 30s, 2m)",
            config::parse::shorten(value)
        ))),
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn interrupted() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
