//! `lsprobe config show`: resolve the target from the flags and print it.
use crate::cli::{ConfigShowArgs, ShowFormat};
use crate::config::show::{json, text};
use crate::config::{TargetOptions, resolve};
use crate::{Exit, RunError};

/// Runs `config show`.
pub fn run(args: &ConfigShowArgs) -> Result<Exit, RunError> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let resolved = resolve(&TargetOptions::from(&args.target), &env)?;
    let out = match args.format {
        ShowFormat::Text => text(&resolved, args.verbose),
        ShowFormat::Json => json(&resolved, args.verbose),
    };
    println!("{}", out.trim_end());
    Ok(Exit::Passed)
}
