//! The error a command ends with, and how it maps to an exit code.
use crate::exit::Exit;

/// Why a command stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Invalid input (flags, env, files): the message names the input and the fix. Exit 2.
    #[error("{0}")]
    BadInput(String),
    /// The run could not finish. Exit 3.
    #[error(transparent)]
    Incomplete(#[from] anyhow::Error),
}

impl RunError {
    /// The exit code for this error.
    pub fn exit(&self) -> Exit {
        match self {
            RunError::BadInput(_) => Exit::BadInput,
            RunError::Incomplete(_) => Exit::Incomplete,
        }
    }
}

impl From<crate::config::ConfigError> for RunError {
    fn from(e: crate::config::ConfigError) -> Self {
        RunError::BadInput(e.to_string())
    }
}
