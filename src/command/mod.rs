//! The command layer: one place per subcommand turning the clap types of [`crate::cli`] into
//! the core's plain options, plus the run lifecycle `check` and `load` share (signals, cleanup,
//! printing, leftovers). The core modules never import clap, `crate::cli` or this layer (see
//! the test at the bottom).
mod check;
mod config;
mod demo;
mod emulators;
mod k8s;
pub mod lifecycle;
pub mod load;
mod load_grant;
mod load_region;
mod load_setup;
pub mod report;
mod value_enums;

use crate::cli::{Cli, Command, ConfigCommand, TargetArgs};
use crate::config::TargetOptions;
use crate::{Exit, report::redact};

/// Runs one command line to its end and returns the exit status. Errors are printed to stderr.
pub async fn run(cli: Cli) -> Exit {
    let outcome = match cli.command {
        Command::Config(ConfigCommand::Show(args)) => config::run(&args),
        Command::Emulators(cmd) => emulators::run(&cmd).await,
        Command::Check(args) => check::run(&args).await,
        Command::Demo(args) => demo::run(&args).await,
        Command::Load(args) => load::run(&args).await,
        Command::Report(cmd) => report::run(&cmd),
        Command::K8s(args) => k8s::run(&args),
    };
    match outcome {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("error: {}", redact::text(&e.to_string()));
            e.exit()
        }
    }
}

impl From<&TargetArgs> for TargetOptions {
    fn from(args: &TargetArgs) -> Self {
        let TargetArgs {
            env_file,
            values,
            secret_dir,
            storage_type,
            bucket,
            folder,
            endpoint,
            region,
            origins,
            gcs_credentials,
        } = args.clone();
        TargetOptions {
            env_file,
            values,
            secret_dir,
            storage_type,
            bucket,
            folder,
            endpoint,
            region,
            origins,
            gcs_credentials,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Where the command line may be known: its definition, this layer, the binary and the
    /// library's entry point (`lsprobe::run(cli)`).
    fn may_know_the_command_line(relative: &Path) -> bool {
        ["cli.rs", "main.rs", "lib.rs"]
            .iter()
            .any(|edge| relative == Path::new(edge))
            || relative.starts_with("command")
    }

    /// What gives a file away as knowing the command line (or the layer built on it).
    fn mentions_the_command_line(source: &str) -> Option<&'static str> {
        ["clap", "crate::cli", "lsprobe::cli", "crate::command"]
            .into_iter()
            .find(|needle| source.contains(needle))
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn the_core_never_imports_clap_or_the_cli_types() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut core = 0;
        let mut offenders = Vec::new();
        for path in &files {
            let relative = path.strip_prefix(&src).unwrap();
            if may_know_the_command_line(relative) {
                continue;
            }
            core += 1;
            let source = std::fs::read_to_string(path).unwrap();
            if let Some(needle) = mentions_the_command_line(&source) {
                offenders.push(format!("src/{}: `{needle}`", relative.display()));
            }
        }
        assert!(
            core > 50,
            "only {core} core files found under {}",
            src.display()
        );
        assert!(
            offenders.is_empty(),
            "the core must take plain options; move the clap-facing code to src/command/: {offenders:#?}"
        );
    }

    #[test]
    fn the_scan_catches_an_import_of_the_cli_types() {
        assert_eq!(
            mentions_the_command_line("use crate::cli::TargetArgs;"),
            Some("crate::cli")
        );
        assert_eq!(mentions_the_command_line("use clap::Parser;"), Some("clap"));
        assert_eq!(
            mentions_the_command_line("crate::command::lifecycle::interrupted()"),
            Some("crate::command")
        );
        assert_eq!(
            mentions_the_command_line("use crate::config::Target;"),
            None
        );
        assert!(may_know_the_command_line(Path::new("command/load.rs")));
        assert!(!may_know_the_command_line(Path::new("load/mod.rs")));
        assert!(!may_know_the_command_line(Path::new("config/resolve.rs")));
    }
}
