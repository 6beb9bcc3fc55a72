//! Why emulators could not be installed, started or described.
use std::path::{Path, PathBuf};

use super::Kind;

/// Why emulators could not be installed, started or described.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A tool the install needs is missing.
    #[error("{tool} is needed to install {needed_for} but was not found on PATH: {fix}")]
    MissingTool {
        /// The program.
        tool: &'static str,
        /// What it installs.
        needed_for: &'static str,
        /// What to do.
        fix: &'static str,
    },
    /// Installing failed.
    #[error("installing {what} failed ({reason}); its log is {log}:\n{tail}")]
    Install {
        /// The package.
        what: String,
        /// What went wrong.
        reason: String,
        /// The installer's log.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// An emulator did not start.
    #[error("{kind} ({emulator}) did not start: {reason}; its log is {log}, last lines:\n{tail}")]
    Start {
        /// Which.
        kind: Kind,
        /// What runs behind it.
        emulator: &'static str,
        /// What went wrong.
        reason: String,
        /// Its log.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// A helper process of the tests (Label Studio, nginx) did not start.
    #[error("{what} did not start: {reason}; its log is {log}, last lines:\n{tail}")]
    Helper {
        /// What it is, with its version.
        what: String,
        /// What went wrong.
        reason: String,
        /// Its log.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// An emulator started but could not be prepared (bucket, CORS, users).
    #[error("{kind} started but could not be prepared: {reason}")]
    Setup {
        /// Which.
        kind: Kind,
        /// What went wrong.
        reason: String,
    },
    /// The emulator is not running.
    #[error(
        "the {kind} emulator is not running: start it with `lsprobe emulators up --provider {kind}`"
    )]
    NotRunning {
        /// Which.
        kind: Kind,
    },
    /// Bad input (flag, state file).
    #[error("{0}")]
    BadInput(String),
    /// Docker failed.
    #[error("docker: {0}")]
    Docker(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl EmulatorError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        EmulatorError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<EmulatorError> for crate::RunError {
    fn from(e: EmulatorError) -> Self {
        match e {
            EmulatorError::BadInput(_) | EmulatorError::NotRunning { .. } => {
                crate::RunError::BadInput(e.to_string())
            }
            other => crate::RunError::Incomplete(anyhow::Error::new(other)),
        }
    }
}
