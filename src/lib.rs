//! lsprobe: proves that a bucket is fit to be Label Studio's persistent storage, and fast enough.
//!
//! The binary is a thin shell over [`run`]; tests call the same code in-process.
pub mod checks;
pub mod cli;
pub mod command;
pub mod config;
pub mod deploy;
pub mod emulators;
pub mod error;
pub mod exit;
pub mod load;
pub mod provider;
pub mod report;
pub mod safety;

pub use error::RunError;
pub use exit::Exit;

/// Runs one command line to its end and returns the exit status. Errors are printed to stderr.
pub async fn run(cli: cli::Cli) -> Exit {
    command::run(cli).await
}
