//! `lsprobe report ...`: read JSON reports back and render, merge or compare them. The JSON
//! report is the one source; nothing here talks to a bucket.
use std::path::{Path, PathBuf};

use crate::cli::{ReportCommand, ShowFormat};
use crate::report::json::JsonExporter;
use crate::report::text::TextExporter;
use crate::report::{Exporter, RunReport, SCHEMA_VERSION, compare, html, markdown, merge};
use crate::{Exit, RunError};

/// Runs one `lsprobe report` command.
pub fn run(command: &ReportCommand) -> Result<Exit, RunError> {
    match command {
        ReportCommand::Markdown { reports, output } => {
            let reports = read_all(reports)?;
            emit(output.as_deref(), &markdown::render_many(&reports))?;
            Ok(Exit::Passed)
        }
        ReportCommand::Html { reports, output } => {
            let reports = read_all(reports)?;
            emit(output.as_deref(), &html::render_many(&reports))?;
            Ok(Exit::Passed)
        }
        ReportCommand::Merge { reports, output } => {
            let named = reports
                .iter()
                .map(|p| Ok((p.display().to_string(), read(p)?)))
                .collect::<Result<Vec<_>, RunError>>()?;
            let merged = merge::merge(&named).map_err(|e| RunError::BadInput(e.to_string()))?;
            emit(Some(output), &JsonExporter.render(&merged))?;
            emit(None, &TextExporter::for_terminal().render(&merged))?;
            Ok(merged.exit(false))
        }
        ReportCommand::Compare {
            base,
            new,
            max_regression,
            format,
        } => {
            if !max_regression.is_finite() || *max_regression < 0.0 {
                return Err(RunError::BadInput(format!(
                    "--max-regression {max_regression}: give a percentage of 0 or more, e.g. 10"
                )));
            }
            let (a, b) = (read(base)?, read(new)?);
            let (na, nb) = (base.display().to_string(), new.display().to_string());
            let comparison = compare::compare((&na, &a), (&nb, &b), *max_regression)
                .map_err(|e| RunError::BadInput(e.to_string()))?;
            let bytes = match format {
                ShowFormat::Text => compare::render_text(&comparison, &na, &nb).into_bytes(),
                ShowFormat::Json => {
                    let mut v = serde_json::to_vec_pretty(&comparison)
                        .map_err(|e| RunError::Incomplete(e.into()))?;
                    v.push(b'\n');
                    v
                }
            };
            emit(None, &bytes)?;
            Ok(if comparison.regressions().is_empty() {
                Exit::Passed
            } else {
                Exit::Failed
            })
        }
    }
}

/// Reads one JSON report; a file that is not one is bad input naming the file.
pub fn read(path: &Path) -> Result<RunReport, RunError> {
    let bytes = std::fs::read(path).map_err(|e| {
        RunError::BadInput(format!(
            "cannot read the report {}: {e}; pass the report.json a run wrote",
            path.display()
        ))
    })?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        RunError::BadInput(format!(
            "{}:{}:{}: not JSON ({e}); pass the report.json a run wrote",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let version = value.get("schema_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(SCHEMA_VERSION)) {
        return Err(RunError::BadInput(format!(
            "{}: schema_version {} is not {SCHEMA_VERSION}, the version this lsprobe reads; \
             pass a report.json written by lsprobe {}",
            path.display(),
            version.map_or_else(|| "missing".to_string(), |v| v.to_string()),
            env!("CARGO_PKG_VERSION")
        )));
    }
    serde_json::from_value(value).map_err(|e| {
        RunError::BadInput(format!(
            "{}: not an lsprobe report ({e}); pass the report.json a run wrote",
            path.display()
        ))
    })
}

/// Reads every report, in order.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<RunReport>, RunError> {
    paths.iter().map(|p| read(p)).collect()
}

/// Writes `bytes` to `output`, or to stdout.
fn emit(output: Option<&Path>, bytes: &[u8]) -> Result<(), RunError> {
    use std::io::Write as _;
    match output {
        Some(path) => std::fs::write(path, bytes).map_err(|e| {
            RunError::BadInput(format!(
                "cannot write {} (-o): {e}; pass a path in a directory you can write to",
                path.display()
            ))
        }),
        None => std::io::stdout()
            .lock()
            .write_all(bytes)
            .map_err(|e| RunError::Incomplete(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn reads_back_what_a_run_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        let report = sample::full_report();
        std::fs::write(&path, JsonExporter.render(&report)).unwrap();
        assert_eq!(read(&path).unwrap(), report);
    }

    #[test]
    fn anything_else_is_bad_input_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("broken.json", "{\n  \"schema_version\": 1,\n  oops"),
            ("old.json", "{\"schema_version\": 0}"),
            ("other.json", "{\"schema_version\": 1, \"checks\": []}"),
        ];
        for (name, body) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, body).unwrap();
            let err = read(&path).unwrap_err();
            assert_eq!(err.exit(), Exit::BadInput);
            assert!(err.to_string().contains(name), "{err}");
        }
        let err = read(&dir.path().join("missing.json")).unwrap_err();
        assert!(err.to_string().contains("missing.json"), "{err}");
        assert!(
            read(&dir.path().join("broken.json"))
                .unwrap_err()
                .to_string()
                .contains("broken.json:3:"),
        );
    }
}
