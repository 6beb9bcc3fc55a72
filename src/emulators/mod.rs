//! Local S3, GCS and Azure emulators: install, start, stop, describe.
use crate::cli::EmulatorsCommand;
use crate::{Exit, RunError};

/// Runs `lsprobe emulators ...`.
pub async fn run(_cmd: &EmulatorsCommand) -> Result<Exit, RunError> {
    Err(RunError::Incomplete(anyhow::anyhow!(
        "emulators are being built"
    )))
}
