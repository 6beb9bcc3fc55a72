//! [`ReportWriter`]: (re)writes every chosen report format into `--report-dir` after each
//! phase, atomically (temporary file, then rename), so a later failure loses nothing and a
//! reader never sees half a file.
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::ReportFormat;
use super::{RunReport, exporter};
use crate::error::RunError;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The directory could not be created.
    #[error(
        "cannot create --report-dir {}: {source}; pass a directory you can write to",
        dir.display()
    )]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A report file could not be written.
    #[error(
        "cannot write {} in --report-dir: {source}; check the free space and permissions there",
        path.display()
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl From<ReportError> for RunError {
    /// A directory that cannot be created is bad input (exit 2, found before any request);
    /// a write that fails later means the run could not finish (exit 3).
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::CreateDir { .. } => RunError::BadInput(e.to_string()),
            ReportError::Write { .. } => RunError::Incomplete(anyhow::Error::new(e)),
        }
    }
}

/// Writes the report files of one run.
#[derive(Clone, Debug, Default)]
pub struct ReportWriter {
    /// `--report-dir`; `None` writes nothing.
    pub dir: Option<PathBuf>,
    /// `--format`, in order and without repeats; empty means every format.
    pub formats: Vec<ReportFormat>,
}

impl ReportWriter {
    /// A writer for `--report-dir` and the `--format` flags (repeats are dropped; none given
    /// means every format).
    pub fn new(dir: Option<PathBuf>, formats: &[ReportFormat]) -> Self {
        let mut chosen: Vec<ReportFormat> = Vec::new();
        for format in formats {
            if !chosen.contains(format) {
                chosen.push(*format);
            }
        }
        if chosen.is_empty() {
            chosen = vec![
                ReportFormat::Text,
                ReportFormat::Json,
                ReportFormat::Junit,
                ReportFormat::Markdown,
                ReportFormat::Html,
            ];
        }
        ReportWriter {
            dir,
            formats: chosen,
        }
    }

    /// Creates the directory; call before the first request so a bad `--report-dir` is
    /// found early (exit 2).
    pub fn prepare(&self) -> Result<(), ReportError> {
        match &self.dir {
            Some(dir) => fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
                dir: dir.clone(),
                source,
            }),
            None => Ok(()),
        }
    }

    /// Writes every chosen format; returns the paths written.
    pub fn write(&self, report: &RunReport) -> Result<Vec<PathBuf>, ReportError> {
        let Some(dir) = &self.dir else {
            return Ok(Vec::new());
        };
        self.prepare()?;
        let mut written = Vec::new();
        for format in &self.formats {
            let exporter = exporter(*format);
            let path = dir.join(exporter.file_name());
            write_atomically(&path, &exporter.render(report)).map_err(|source| {
                ReportError::Write {
                    path: path.clone(),
                    source,
                }
            })?;
            written.push(path);
        }
        Ok(written)
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{CheckResult, Status};
    use crate::exit::Exit;
    use crate::report::sample;

    #[test]
    fn rewrites_every_format_after_each_phase() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/reports");
        let writer = ReportWriter::new(
            Some(dir.clone()),
            &[ReportFormat::Json, ReportFormat::Junit, ReportFormat::Json],
        );
        assert_eq!(
            writer.formats,
            vec![ReportFormat::Json, ReportFormat::Junit]
        );
        writer.prepare().unwrap();

        let mut report = sample::empty_report();
        report.push_check(CheckResult::new("permissions.list", Status::Pass, "ok"));
        let paths = writer.write(&report).unwrap();
        assert_eq!(paths, vec![dir.join("report.json"), dir.join("junit.xml")]);

        report.push_check(CheckResult::new("permissions.put", Status::Fail, "denied"));
        report.finish(false);
        writer.write(&report).unwrap();
        let back: RunReport =
            serde_json::from_slice(&fs::read(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(back.checks.len(), 2);
        assert_eq!(back.exit_code, Exit::Failed.code());
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
    }

    #[test]
    fn no_formats_means_all_and_no_dir_means_nothing() {
        let writer = ReportWriter::new(None, &[]);
        assert_eq!(writer.formats.len(), 5);
        assert!(writer.write(&sample::empty_report()).unwrap().is_empty());
    }

    #[test]
    fn a_dir_that_cannot_be_created_names_the_flag() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        fs::write(&file, b"x").unwrap();
        let writer = ReportWriter::new(Some(file.join("reports")), &[ReportFormat::Json]);
        let err = writer.prepare().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("--report-dir"), "{message}");
        assert!(message.contains("a-file/reports"), "{message}");
        assert_eq!(RunError::from(err).exit(), Exit::BadInput);
    }
}
