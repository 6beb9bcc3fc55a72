//! `lsprobe check`: resolve the configuration, load the suite, run it, print and write the
//! reports, exit per design.md.
use super::lifecycle::{cleanup_limit, interrupted, print, report_leftovers};
use crate::checks::label_studio::{self, Deployment};
use crate::checks::runner::{Ending, run_suite_with};
use crate::checks::suite::Suite;
use crate::cli::CheckArgs;
use crate::config::TargetOptions;
use crate::report::ReportWriter;
use crate::{Exit, RunError, config};

/// Runs `lsprobe check`.
pub async fn run(args: &CheckArgs) -> Result<Exit, RunError> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let resolved = config::resolve(&TargetOptions::from(&args.target), &env)?;
    let cleanup_limit = cleanup_limit(&args.cleanup_timeout)?;
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
        cleanup_limit,
        interrupted,
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
