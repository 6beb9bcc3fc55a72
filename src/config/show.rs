//! `lsprobe config show`.
use crate::cli::ConfigShowArgs;
use crate::{Exit, RunError};

/// Prints the resolved target.
pub fn run(_args: &ConfigShowArgs) -> Result<Exit, RunError> {
    Err(RunError::Incomplete(anyhow::anyhow!("config show is being built")))
}
