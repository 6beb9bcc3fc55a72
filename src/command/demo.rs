//! `lsprobe demo`: start the local emulators (natively, in a private state directory), run the
//! smoke suite against S3, GCS and Azure, print one summary, write the reports, stop them.
use std::path::PathBuf;
use std::time::Instant;

use super::lifecycle::{interrupted, report_leftovers};
use crate::checks::runner::{Ending, run_suite};
use crate::checks::suite::Suite;
use crate::cli::DemoArgs;
use crate::config::TargetOptions;
use crate::emulators::{Emulators, Kind, Layout, S3User, StartOptions};
use crate::report::text::TextExporter;
use crate::report::{Exporter, ReportWriter};
use crate::{Exit, RunError, config};

/// The emulators the demo checks, one per cloud.
const KINDS: [Kind; 3] = [Kind::S3, Kind::Gcs, Kind::Azure];

/// Runs `lsprobe demo`.
pub async fn run(args: &DemoArgs) -> Result<Exit, RunError> {
    let dir = args.report_dir.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!(
            "demo-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ))
    });
    let suite = Suite::load("smoke", None)?;
    let writers: Vec<ReportWriter> = KINDS
        .iter()
        .map(|k| ReportWriter::new(Some(dir.join(k.name())), &args.formats))
        .collect();
    for w in &writers {
        w.prepare()?;
    }
    let state_dir = std::env::temp_dir().join(format!("lsprobe-demo-{}", std::process::id()));
    let layout = Layout::with_state_dir(&state_dir)?;
    eprintln!("starting the local emulators (the first run installs them: about a minute)...");
    let options = StartOptions {
        docker: false,
        die_with_this_process: true,
    };
    let emulators = Emulators::start_with(&KINDS, &layout, options).await?;
    let outcome = check_each(&emulators, &suite, &writers).await;
    let stopped = emulators.stop().await;
    let _ = std::fs::remove_dir_all(&state_dir);
    let rows = outcome?;
    stopped?;

    let text = TextExporter::for_terminal();
    let mut exit = Exit::Passed;
    println!("\nlsprobe demo: the smoke suite on each local emulator");
    println!(
        "  {:<8} {:<24} {:>6} {:>6} {:>6} {:>9}",
        "cloud", "emulator", "passed", "failed", "other", "time"
    );
    for (kind, report, elapsed) in &rows {
        let s = report.summary;
        println!(
            "  {:<8} {:<24} {:>6} {:>6} {:>6} {:>7.2} s",
            kind.name(),
            kind.emulator(),
            s.passed,
            s.failed,
            s.warned + s.errors + s.skipped,
            elapsed
        );
        if report.exit_code != 0 {
            exit = Exit::Failed;
            print!("{}", String::from_utf8_lossy(&text.render(report)));
        }
        report_leftovers(report);
    }
    println!("reports: {}", dir.display());
    Ok(exit)
}

async fn check_each(
    emulators: &Emulators,
    suite: &Suite,
    writers: &[ReportWriter],
) -> Result<Vec<(Kind, crate::report::RunReport, f64)>, RunError> {
    let mut rows = Vec::new();
    for (kind, writer) in KINDS.iter().zip(writers) {
        let env = emulators.env_list(*kind, S3User::Full)?;
        let resolved = config::resolve(&TargetOptions::default(), &env)?;
        let started = Instant::now();
        let (report, ending) =
            run_suite(&resolved.target, suite, writer, false, interrupted).await?;
        if ending != Ending::Completed {
            return Err(RunError::Incomplete(anyhow::anyhow!(
                "the demo was interrupted during {}; cleanup ran",
                kind.name()
            )));
        }
        rows.push((*kind, report, started.elapsed().as_secs_f64()));
    }
    Ok(rows)
}
