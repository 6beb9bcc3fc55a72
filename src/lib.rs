//! lsprobe: proves that a bucket is fit to be Label Studio's persistent storage, and fast enough.
//!
//! The binary is a thin shell over [`run`]; tests call the same code in-process.
pub mod checks;
pub mod cli;
pub mod config;
pub mod demo;
pub mod emulators;
pub mod error;
pub mod exit;
pub mod load;
pub mod provider;
pub mod report;
pub mod safety;

pub use error::RunError;
pub use exit::Exit;

use cli::{Cli, Command, ConfigCommand};

/// Runs one command line to its end and returns the exit status. Errors are printed to stderr.
pub async fn run(cli: Cli) -> Exit {
    let outcome = match cli.command {
        Command::Config(ConfigCommand::Show(args)) => config::show::run(&args),
        Command::Emulators(cmd) => emulators::run(&cmd).await,
        Command::Check(args) => checks::command::run(&args).await,
        Command::Demo(args) => demo::run(&args).await,
        Command::Load(args) => load::command::run(&args).await,
        Command::Report(cmd) => report::command::run(&cmd),
    };
    match outcome {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("error: {}", report::redact::text(&e.to_string()));
            e.exit()
        }
    }
}
