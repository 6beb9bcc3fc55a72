//! `lsprobe check`: resolve the configuration, load the suite, run it, print and write the
//! reports, exit per design.md.
use std::io::Write as _;
use std::path::Path;

use super::label_studio::{self, Deployment};
use super::runner::{Ending, run_suite_with};
use super::suite::Suite;
use crate::cli::{CheckArgs, ReportFormat};
use crate::report::{Exporter, ReportWriter, RunReport, exporter, text::TextExporter};
use crate::{Exit, RunError, config};

/// Runs `lsprobe check`.
pub async fn run(args: &CheckArgs) -> Result<Exit, RunError> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let resolved = config::resolve(&args.target, &env)?;
    for warning in &resolved.warnings {
        eprintln!("warning: {warning}");
    }
    let mut suite = Suite::load(&args.suite, None)?;
    let label_studio = match &args.label_studio {
        Some(url) => {
            label_studio::add_to(&mut suite);
            Some(Deployment::from_flags(url, args.token.as_ref())?)
        }
        None => None,
    };
    let writer = ReportWriter::new(args.report_dir.clone(), &args.formats);
    writer.prepare()?;
    let (report, ending) = run_suite_with(
        &resolved.target,
        &suite,
        &writer,
        args.strict,
        label_studio,
        interrupted(),
    )
    .await?;
    print(args.report_dir.as_deref(), &args.formats, &report);
    if ending == Ending::Interrupted {
        eprintln!("interrupted: the run stopped early; cleanup ran");
    }
    if ending == Ending::Crashed {
        eprintln!("internal error: a check panicked; cleanup ran");
    }
    report_leftovers(&report);
    Ok(match report.exit_code {
        0 => Exit::Passed,
        1 => Exit::Failed,
        _ => Exit::Incomplete,
    })
}

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
