//! The whole command-line surface, in one place (clap derive).
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Secret;
pub use crate::emulators::{EmulatorBackend, EmulatorProvider, EnvFormat};
pub use crate::report::{ReportFormat, ShowFormat};

/// Proves that a bucket is fit to be Label Studio's persistent storage, and fast enough.
#[derive(Debug, Parser)]
#[command(name = "lsprobe", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The most threads `--threads` may ask for.
pub const MAX_THREADS: i64 = 256;

impl Cli {
    /// The runtime threads asked for (`lsprobe load --threads`); `None`: one per core. A
    /// count out of range is an error naming the flag (the caller exits 2, nothing sent).
    pub fn runtime_threads(&self) -> Result<Option<usize>, String> {
        let Command::Load(args) = &self.command else {
            return Ok(None);
        };
        match args.threads {
            None => Ok(None),
            Some(n @ 1..=MAX_THREADS) => Ok(Some(n as usize)),
            Some(n) => Err(format!(
                "--threads {n}: give a whole number from 1 to {MAX_THREADS} (default: one per core)"
            )),
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show how Label Studio's storage configuration resolves.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run a check suite against the configured bucket.
    Check(CheckArgs),
    /// Start, stop and describe local S3, GCS and Azure emulators.
    #[command(subcommand)]
    Emulators(EmulatorsCommand),
    /// Start the local emulators, run the smoke suite on each, stop them.
    Demo(DemoArgs),
    /// Measure throughput and latency per operation and judge whether the storage is too slow.
    Load(Box<LoadArgs>),
    /// Render, merge and compare JSON reports written by `check`, `load` or `demo`.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Render Kubernetes manifests that run lsprobe beside an installed Label Studio Helm
    /// release (its service account, secrets and values).
    K8s(Box<K8sArgs>),
}

/// Which Kubernetes manifests `lsprobe k8s` renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum K8sManifest {
    /// The smoke test as a Job (its status is the exit code).
    Job,
    /// The smoke test as a Pod annotated `helm.sh/hook: test`, for `helm test`.
    HelmTest,
    /// The smoke test as a CronJob, nightly by default.
    Cronjob,
    /// `lsprobe load` as N shards of one run (an Indexed Job) and a suspended Job merging their
    /// reports.
    Load,
}

/// Arguments of `lsprobe k8s`.
#[derive(Debug, Args)]
pub struct K8sArgs {
    /// What to render.
    #[arg(value_enum)]
    pub manifest: K8sManifest,
    /// The values file the release was installed with (`helm install -f ls-values.yaml`).
    #[arg(long, value_name = "FILE")]
    pub values: PathBuf,
    /// The Helm release name (`helm install NAME ...`): names the service account.
    #[arg(long, value_name = "NAME")]
    pub release: String,
    /// The lsprobe image built from docker/Dockerfile and pushed where the cluster pulls from,
    /// e.g. `ghcr.io/OWNER/lsprobe:0.1.0`.
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    /// The release's namespace (default: kubectl's current namespace).
    #[arg(long, short = 'n', value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// The report format the check prints in the pod log.
    #[arg(long, value_enum, default_value_t = ReportFormat::Junit)]
    pub log_format: ReportFormat,
    /// CronJob schedule (cron syntax, the cluster's time zone).
    #[arg(long, default_value = "0 3 * * *")]
    pub schedule: String,
    /// Shards of the load run, one pod each (Indexed Job completions and parallelism).
    #[arg(long, default_value_t = 4)]
    pub pods: usize,
    /// Storage class of the reports claim the copies share (ReadWriteMany; default: the
    /// cluster's default class).
    #[arg(long, value_name = "CLASS")]
    pub storage_class: Option<String>,
    /// Size of the reports claim.
    #[arg(long, default_value = "1Gi")]
    pub claim_size: String,
    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// More `lsprobe check` (or `lsprobe load`) arguments, after `--`, e.g. `-- --suite full`.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// `lsprobe report ...`: every command reads JSON reports (reports/report.schema.json).
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// A Markdown summary of one or more reports (for $GITHUB_STEP_SUMMARY, GitLab).
    Markdown {
        /// JSON reports, rendered one after the other.
        #[arg(required = true, value_name = "REPORT.json")]
        reports: Vec<PathBuf>,
        /// Write here instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// One self-contained HTML file of one or more reports, side by side, with plots.
    Html {
        /// JSON reports, shown side by side.
        #[arg(required = true, value_name = "REPORT.json")]
        reports: Vec<PathBuf>,
        /// Write here instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Merge the load reports of N copies of one run (e.g. run in parallel) into one.
    Merge {
        /// JSON load reports of the same plan and target.
        #[arg(required = true, num_args = 2.., value_name = "REPORT.json")]
        reports: Vec<PathBuf>,
        /// The merged JSON report.
        #[arg(short, long, value_name = "MERGED.json")]
        output: PathBuf,
    },
    /// Compare two load reports per operation; exit 1 on a regression beyond the threshold.
    Compare {
        /// The baseline JSON load report.
        #[arg(value_name = "BASE.json")]
        base: PathBuf,
        /// The JSON load report to judge against it.
        #[arg(value_name = "NEW.json")]
        new: PathBuf,
        /// The largest change for the worse tolerated, in percent (p50/p99 up, time per
        /// request up), when it is also beyond run-to-run noise.
        #[arg(long, value_name = "PERCENT", default_value_t = 10.0)]
        max_regression: f64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
}

/// `lsprobe config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved target, where each value came from, and warnings.
    Show(ConfigShowArgs),
}

/// Arguments of `lsprobe config show`.
#[derive(Debug, Args)]
pub struct ConfigShowArgs {
    /// Where the configuration comes from.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
    /// Also list every variable and key read, with its source (never its value).
    #[arg(long, short)]
    pub verbose: bool,
}

/// Where the storage configuration comes from, and the flags that override it.
/// Precedence: flag > named file (`--env-file`, `--values`) > process environment.
#[derive(Clone, Debug, Default, Args)]
pub struct TargetArgs {
    /// A Docker env-file as given to Label Studio (`docker run --env-file`).
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// A Helm values file (`ls-values.yaml`) of the Label Studio chart.
    #[arg(long, value_name = "FILE")]
    pub values: Option<PathBuf>,
    /// Where Kubernetes secrets are mounted: DIR/<secret>/<key> holds each value.
    #[arg(long, value_name = "DIR")]
    pub secret_dir: Option<PathBuf>,
    /// Storage type: s3, gcs or azure.
    #[arg(long = "type", value_name = "TYPE")]
    pub storage_type: Option<String>,
    /// Bucket (S3, GCS) or container (Azure).
    #[arg(long)]
    pub bucket: Option<String>,
    /// Folder inside the bucket that Label Studio writes under.
    #[arg(long)]
    pub folder: Option<String>,
    /// Endpoint URL (S3-compatible server, GCS endpoint, Azure blob endpoint).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Region (S3).
    #[arg(long)]
    pub region: Option<String>,
    /// The Label Studio origin the browser uses (repeatable); default from LABEL_STUDIO_HOST.
    #[arg(long = "origin", value_name = "URL")]
    pub origins: Vec<String>,
    /// A local copy of the GCS service-account JSON (overrides GOOGLE_APPLICATION_CREDENTIALS,
    /// whose path may exist only inside the Label Studio container).
    #[arg(long, value_name = "FILE")]
    pub gcs_credentials: Option<PathBuf>,
}

/// Arguments of `lsprobe check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Where the configuration comes from.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Suite to run: a name under suites/ (smoke, full) or a path to a suite file.
    #[arg(long, default_value = "smoke")]
    pub suite: String,
    /// Report formats to write (repeatable): text, json, junit, markdown, html.
    #[arg(long = "format", value_enum)]
    pub formats: Vec<ReportFormat>,
    /// Directory to write reports into, each as soon as its phase ends.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Turn warnings into failures.
    #[arg(long)]
    pub strict: bool,
    /// Also check end to end through this running Label Studio (e.g. `http://localhost:8080`):
    /// runs `label_studio.upload` and `label_studio.serve`. Needs `--token`.
    #[arg(long = "label-studio", value_name = "URL")]
    pub label_studio: Option<String>,
    /// A Label Studio API token (Account & Settings > Access Token), sent as
    /// `Authorization: Token ...`. Prefer the environment variable: a flag shows in `ps`.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "LABEL_STUDIO_TOKEN",
        hide_env_values = true,
        value_parser = secret
    )]
    pub token: Option<Secret>,
    /// How long cleanup may take before the objects not yet deleted are listed as left over
    /// (a second Ctrl-C stops it at once).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        allow_hyphen_values = true
    )]
    pub cleanup_timeout: String,
}

/// A flag value that must never be printed (`Debug` of the arguments shows `***`).
fn secret(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(value))
}

/// Arguments of `lsprobe load`. Unset values come from the capacity suite's `[defaults]`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Where the configuration comes from.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Capacity suite: `capacity` or a path to a suite file.
    #[arg(long, default_value = "capacity")]
    pub suite: String,
    /// Operation mix, e.g. `put=20,get=70,head=10` (ops: put, get, head, list, delete).
    #[arg(
        long,
        visible_alias = "ops",
        value_name = "OP=WEIGHT,...",
        allow_hyphen_values = true
    )]
    pub mix: Option<String>,
    /// Object sizes, e.g. `256KiB` or `4KiB:50,256KiB:40,8MiB:10`.
    #[arg(
        long,
        visible_alias = "size",
        value_name = "SIZE[:WEIGHT],...",
        allow_hyphen_values = true
    )]
    pub sizes: Option<String>,
    /// Workers, one connection each.
    #[arg(long, allow_negative_numbers = true)]
    pub concurrency: Option<usize>,
    /// Threads that drive the workers (default: one per core), like wrk's `-t`. When the
    /// storage runs on the same machine, leave it cores to serve with: `--threads 1`.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub threads: Option<i64>,
    /// How long to measure (after the warmup), e.g. `60s`.
    #[arg(long, conflicts_with = "requests", allow_hyphen_values = true)]
    pub duration: Option<String>,
    /// How many requests to measure instead of a duration.
    #[arg(long, allow_negative_numbers = true)]
    pub requests: Option<u64>,
    /// Stop once throughput and p99 have been stable (within --autoterm-tolerance) for
    /// --autoterm-window; --duration is then the cap. Not with --requests.
    #[arg(long)]
    pub autoterm: bool,
    /// How long throughput and p99 must have been stable, e.g. `10s` (whole seconds, at least
    /// 5s; default 10s).
    #[arg(
        long,
        value_name = "DURATION",
        requires = "autoterm",
        allow_hyphen_values = true
    )]
    pub autoterm_window: Option<String>,
    /// How far (percent) the window's blocks may stray from the window, e.g. `7.5` (warp's
    /// default, the default here too).
    #[arg(
        long,
        value_name = "PERCENT",
        requires = "autoterm",
        allow_hyphen_values = true
    )]
    pub autoterm_tolerance: Option<String>,
    /// Run as copy I of N of one sharded run (0-based, like JOB_COMPLETION_INDEX): this copy
    /// takes its part of --requests, --objects and --rate, its own run prefix and cleanup.
    /// Without it, JOB_COMPLETION_INDEX with LSPROBE_SHARD_COUNT set the shard.
    #[arg(long, value_name = "I/N", allow_hyphen_values = true)]
    pub shard: Option<String>,
    /// Open loop at this many requests per second (latency from the intended start).
    #[arg(long, value_name = "OPS_PER_S", allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// Excluded from the results, e.g. `5s`.
    #[arg(long, allow_hyphen_values = true)]
    pub warmup: Option<String>,
    /// Objects the prepare phase writes for GET and HEAD.
    #[arg(long, allow_negative_numbers = true)]
    pub objects: Option<usize>,
    /// Read existing objects under this prefix instead; nothing is written at all.
    #[arg(long, value_name = "PREFIX")]
    pub existing_prefix: Option<String>,
    /// Override a verdict threshold of the required class, e.g. `get_ttfb_p50_ms=50`
    /// (repeatable).
    #[arg(
        long = "threshold",
        value_name = "METRIC=VALUE",
        allow_hyphen_values = true
    )]
    pub thresholds: Vec<String>,
    /// The storage class required (a profile of the suite, e.g. `ssd`, `hdd`).
    #[arg(long, value_name = "CLASS")]
    pub require: Option<String>,
    /// Report formats to write (repeatable): text, json, junit, markdown, html.
    #[arg(long = "format", value_enum)]
    pub formats: Vec<ReportFormat>,
    /// Directory to write reports into.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// How long cleanup may take before the objects not yet deleted are listed as left over
    /// (a second Ctrl-C stops it at once).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        allow_hyphen_values = true
    )]
    pub cleanup_timeout: String,
}

/// Arguments of `lsprobe demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the reports (default reports/demo-<timestamp>).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Report formats to write for each emulator (repeatable): text, json, junit, markdown, html;
    /// none given writes every format.
    #[arg(long = "format", value_enum)]
    pub formats: Vec<ReportFormat>,
}

/// `lsprobe emulators ...`
#[derive(Debug, Subcommand)]
pub enum EmulatorsCommand {
    /// Install (first time) and start emulators; a no-op for those already running.
    Up {
        /// Which emulator(s).
        #[arg(long, value_enum, default_value_t = EmulatorProvider::All)]
        provider: EmulatorProvider,
        /// How to run them.
        #[arg(long, value_enum, default_value_t = EmulatorBackend::Auto)]
        backend: EmulatorBackend,
    },
    /// Stop the emulators this tool started.
    Down {
        /// Which emulator(s).
        #[arg(long, value_enum, default_value_t = EmulatorProvider::All)]
        provider: EmulatorProvider,
    },
    /// List running emulators and their addresses.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
    /// Print the Label Studio configuration that reaches an emulator.
    Env {
        /// Which emulator.
        #[arg(long, value_enum)]
        provider: EmulatorProvider,
        /// Output format.
        #[arg(long, value_enum, default_value_t = EnvFormat::EnvList)]
        format: EnvFormat,
        /// For s3-iam: which user's keys (full, no-list, no-put, no-get, no-delete).
        #[arg(long, default_value = "full")]
        user: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_label_studio_token_is_never_shown() {
        let cli = Cli::try_parse_from([
            "lsprobe",
            "check",
            "--label-studio",
            "http://127.0.0.1:8080",
            "--token",
            "s3cr3t-token",
        ])
        .unwrap();
        assert!(!format!("{cli:?}").contains("s3cr3t-token"));
        let Command::Check(args) = cli.command else {
            panic!("a check")
        };
        assert_eq!(args.token.unwrap().expose(), "s3cr3t-token");
    }
}
