//! The `lsprobe` binary: parse the command line, run, map the outcome to an exit code.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = lsprobe::cli::Cli::parse();
    let threads = match cli.runtime_threads() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // One thread: everything on this one (no hand-off between threads, as wrk -t1).
    let runtime = match threads {
        None => tokio::runtime::Runtime::new(),
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return std::process::ExitCode::from(3);
        }
    };
    let code = runtime.block_on(lsprobe::run(cli));
    std::process::ExitCode::from(code.code())
}
