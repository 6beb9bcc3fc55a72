//! `lsprobe load`: flags → plan, configuration → lean signed requests, then prepare (or read an
//! existing prefix), run, judge, clean up, report — with the run-safety rules of `lsprobe
//! check`: every key written is in the ledger before it is written and is deleted on every
//! exit path (Ctrl-C and SIGTERM included).
use std::io::IsTerminal;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::schedule::{parse_op_mix, parse_size_mix};
use super::sharedkey::{AzureConfig, AzureRequests};
use super::sigv4::{S3Config, S3Requests};
use super::suite::CapacitySuite;
use super::verdict::Metric;
use super::{
    Bound, Dataset, Endpoint, Live, LoadError, LoadPlan, LoadSummary, Mode, Op, OpRequest,
    VerdictConfig,
};
use crate::checks::command::{
    bounded_cleanup, cleanup_limit, interrupted, print, report_leftovers,
};
use crate::checks::{CheckResult, Status};
use crate::cli::LoadArgs;
use crate::config::parse::shorten;
use crate::config::{
    AzureCredentials, Provider, ProviderSettings, S3Credentials, Secret, Target, TlsVerify,
};
use crate::provider::aws_credentials::ChainProvider;
use crate::provider::{Cloud, Storage, classify};
use crate::report::{ReportWriter, RunReport, TargetSummary};
use crate::safety::{Ledger, RunPrefix, SafeStore};
use crate::{Exit, RunError};

/// Largest object size accepted: bodies are generated once per size and held in memory.
const MAX_SIZE: u64 = 1 << 30;
/// The most objects the prepare phase writes (each one a request before measuring starts).
const MAX_OBJECTS: usize = 100_000;
/// The highest open-loop rate: far above what one machine sends or one prefix takes.
const MAX_RATE: f64 = 100_000.0;
/// The longest measured duration, and warmup.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
const MAX_WARMUP: Duration = Duration::from_secs(3600);
/// The most measured requests.
const MAX_REQUESTS: u64 = 1_000_000_000;

/// What the flags and the suite ask for, validated before any request is sent.
#[derive(Debug)]
pub struct Setup {
    /// The load plan.
    pub plan: LoadPlan,
    /// Profiles, with `--threshold` overrides applied to the required class.
    pub verdict: VerdictConfig,
    /// The class required.
    pub required: String,
    /// `--existing-prefix`.
    pub existing: Option<String>,
    /// `--cleanup-timeout`.
    pub cleanup_limit: Duration,
}

/// The Azure account's SKU (Get Account Information, through the same adapter as the
/// `azure.account_kind` check); an error says why it is unknown.
async fn azure_sku(storage: &Storage) -> Result<String, String> {
    let Cloud::Azure(azure) = storage.cloud() else {
        return Err("not an Azure target".into());
    };
    let request = azure.account_info_request().map_err(|e| e.0)?;
    let sent = storage.execute(request).await;
    classify(storage.provider(), &sent).map_err(|f| f.describe())?;
    let info = crate::provider::azure::account_info(sent.as_ref().expect("classified as success"));
    if info.sku.is_empty() {
        return Err("the answer has no x-ms-sku-name".into());
    }
    Ok(info.sku)
}

fn bad(msg: String) -> RunError {
    RunError::BadInput(msg)
}

impl Setup {
    /// Validates the flags against the suite; every error names its flag (exit 2).
    pub fn from_args(args: &LoadArgs, provider: Option<Provider>) -> Result<Self, RunError> {
        let suite = match args.suite.as_str() {
            "capacity" => CapacitySuite::builtin(),
            path => CapacitySuite::load(std::path::Path::new(path))
                .map_err(|e| bad(format!("--suite {path}: {e}")))?,
        };
        let mut plan = suite.plan().map_err(|e| bad(format!("--suite: {e}")))?;
        if let Some(s) = &args.mix {
            plan.mix = parse_op_mix(s).map_err(|e| bad(format!("--mix `{}`: {e}", shorten(s))))?;
        }
        if let Some(s) = &args.sizes {
            let s = &shorten(s);
            let sizes = parse_size_mix(s).map_err(|e| bad(format!("--size `{s}`: {e}")))?;
            for &(size, _) in sizes.items() {
                if size == 0 {
                    return Err(bad(format!(
                        "--size `{s}`: object sizes must be at least 1 byte (e.g. 4KiB)"
                    )));
                }
                if size > MAX_SIZE {
                    return Err(bad(format!(
                        "--size `{s}`: at most 1GiB per object (each size's body is held in \
                         memory once)"
                    )));
                }
            }
            plan.sizes = sizes;
        }
        if let Some(n) = args.concurrency {
            if !(1..=4096).contains(&n) {
                return Err(bad(format!(
                    "--concurrency {n}: give 1 to 4096 workers (one connection each)"
                )));
            }
            plan.concurrency = n;
        }
        let duration = |flag: &str, s: &str| {
            humantime::parse_duration(s.trim())
                .map_err(|e| bad(format!("{flag} `{}`: {e} (e.g. 30s, 5m)", shorten(s))))
        };
        if let Some(s) = &args.duration {
            let d = duration("--duration", s)?;
            if d.is_zero() || d > MAX_DURATION {
                return Err(bad(format!(
                    "--duration `{s}`: must be longer than 0 and at most 24h"
                )));
            }
            plan.bound = Bound::Duration(d);
        }
        if let Some(n) = args.requests {
            if n == 0 || n > MAX_REQUESTS {
                return Err(bad(format!(
                    "--requests {n}: measure 1 to {MAX_REQUESTS} requests"
                )));
            }
            plan.bound = Bound::Requests(n);
        }
        if let Some(rate) = args.rate {
            if !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE) {
                return Err(bad(format!(
                    "--rate {rate}: give a positive number of operations per second, at most \
                     {MAX_RATE} (open loop), or leave it out for a closed loop"
                )));
            }
            plan.mode = Mode::Open { rate };
        }
        if let Some(s) = &args.warmup {
            plan.warmup = duration("--warmup", s)?;
            if plan.warmup > MAX_WARMUP {
                return Err(bad(format!("--warmup `{s}`: at most 1h")));
            }
        }
        if let Some(n) = args.objects {
            if n == 0 || n > MAX_OBJECTS {
                return Err(bad(format!(
                    "--objects {n}: the GET set needs 1 to {MAX_OBJECTS} objects"
                )));
            }
            plan.objects = n;
        }
        if let Some(prefix) = &args.existing_prefix
            && let Some(op) = plan
                .mix
                .items()
                .iter()
                .map(|(op, _)| *op)
                .find(|op| op.writes())
        {
            return Err(bad(format!(
                "--existing-prefix {prefix} reads only and writes nothing: remove `{op}` from \
                 the mix (e.g. --mix get=80,head=20)"
            )));
        }
        let mut verdict = suite.verdict.clone();
        let required = match &args.require {
            Some(class) => {
                if !verdict.profiles.iter().any(|p| &p.class == class) {
                    let known: Vec<&str> =
                        verdict.profiles.iter().map(|p| p.class.as_str()).collect();
                    return Err(bad(format!(
                        "--require {class}: no such class in the capacity suite (classes: {})",
                        known.join(", ")
                    )));
                }
                class.clone()
            }
            None if provider == Some(Provider::Azure) => verdict
                .required_azure
                .clone()
                .unwrap_or_else(|| verdict.required.clone()),
            None => verdict.required.clone(),
        };
        for t in &args.thresholds {
            let t = &shorten(t);
            let (metric, value) = t.split_once('=').ok_or_else(|| {
                bad(format!(
                    "--threshold `{t}`: write METRIC=VALUE, e.g. get_ttfb_p50_ms=50"
                ))
            })?;
            let metric: Metric = metric
                .parse()
                .map_err(|e| bad(format!("--threshold `{t}`: {e}")))?;
            let value: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    bad(format!(
                        "--threshold `{t}`: the value must be a number at least 0"
                    ))
                })?;
            verdict
                .override_limit(&required, metric, value)
                .map_err(|e| bad(format!("--threshold `{t}`: {e}")))?;
        }
        Ok(Setup {
            plan,
            verdict,
            required,
            existing: args.existing_prefix.clone(),
            cleanup_limit: cleanup_limit(&args.cleanup_timeout)?,
        })
    }
}

/// The lean request builder for the target's provider.
#[derive(Clone)]
pub enum LeanRequests {
    /// S3 (SigV4).
    S3(Box<S3Requests>),
    /// Azure Blob (SharedKey).
    Azure(AzureRequests),
}

fn endpoint(url: &str, verify: &TlsVerify) -> Result<Arc<Endpoint>, RunError> {
    let ep = Endpoint::parse(url).map_err(|e| bad(e.to_string()))?;
    if !url.starts_with("https:") {
        return Ok(Arc::new(ep));
    }
    let ep = match verify {
        TlsVerify::Verify => Ok(ep),
        TlsVerify::Skip => ep.with_tls(Arc::new(tls::no_verification())),
        TlsVerify::CaBundle(path) => ep.with_tls(Arc::new(tls::ca_bundle(path)?)),
    }
    .map_err(|e| bad(format!("endpoint {url}: {e}")))?;
    Ok(Arc::new(ep))
}

/// Builds the lean request path for `target`: S3 (static keys or the AWS default chain,
/// resolved once) and Azure with an account key. GCS and Azure SAS tokens are not supported
/// by `lsprobe load` yet (exit 2, saying so).
pub async fn lean_requests(
    target: &Target,
    chain: Option<&ChainProvider>,
) -> Result<LeanRequests, RunError> {
    let bucket = target.bucket.value.clone();
    match &target.settings {
        ProviderSettings::S3(s) => {
            let (key_id, secret, token) = match &s.credentials {
                S3Credentials::Keys {
                    access_key_id,
                    secret_access_key,
                } => (
                    access_key_id.value.clone(),
                    secret_access_key.value.clone(),
                    None,
                ),
                S3Credentials::Chain(_) => {
                    let provider = chain.ok_or_else(|| bad("no AWS chain provider".into()))?;
                    let c = provider.current().await.map_err(|e| {
                        bad(format!(
                            "no S3 keys are configured and the AWS chain gave no credentials: \
                             {e}. {}",
                            e.fix
                        ))
                    })?;
                    let c = c.credential;
                    (
                        Secret::new(c.key_id.clone()),
                        Secret::new(c.secret_key.clone()),
                        c.token.clone().map(Secret::new),
                    )
                }
            };
            let region = target
                .region
                .as_ref()
                .map_or_else(|| "us-east-1".to_string(), |r| r.value.clone());
            let (url, bucket) = match &target.endpoint {
                Some(e) => (e.value.as_str().trim_end_matches('/').to_string(), bucket),
                None => {
                    let scheme = if s.use_ssl.value { "https" } else { "http" };
                    if bucket.contains('.') {
                        (format!("{scheme}://s3.{region}.amazonaws.com"), bucket)
                    } else {
                        // Virtual-hosted style: the bucket is in the host name.
                        (
                            format!("{scheme}://{bucket}.s3.{region}.amazonaws.com"),
                            String::new(),
                        )
                    }
                }
            };
            Ok(LeanRequests::S3(Box::new(S3Requests::new(S3Config {
                endpoint: endpoint(&url, &s.verify.value)?,
                bucket,
                region,
                access_key_id: key_id,
                secret_access_key: secret,
                session_token: token,
            }))))
        }
        ProviderSettings::Azure(a) => {
            let key = match &a.credentials {
                AzureCredentials::AccountKey(k) => k.value.clone(),
                AzureCredentials::Sas(_) => {
                    return Err(bad(
                        "`lsprobe load` signs Azure requests with the account key \
                         (STORAGE_AZURE_ACCOUNT_KEY), as Label Studio does; a SAS token is not \
                         supported by load yet"
                            .into(),
                    ));
                }
            };
            let account = a.account_name.value.clone();
            let url = match &target.endpoint {
                Some(e) => e.value.as_str().trim_end_matches('/').to_string(),
                None => format!("https://{account}.blob.core.windows.net"),
            };
            let requests = AzureRequests::new(AzureConfig {
                endpoint: endpoint(&url, &TlsVerify::Verify)?,
                account,
                container: bucket,
                access_key: key,
            })
            .map_err(|e| bad(e.to_string()))?;
            Ok(LeanRequests::Azure(requests))
        }
        ProviderSettings::Gcs(_) => Err(bad(
            "`lsprobe load` supports S3 and Azure for now; GCS is not supported yet (`lsprobe \
             check` covers GCS permissions)"
                .into(),
        )),
    }
}

/// Keeps `requests` signing with current credentials: asks the chain provider every second
/// (it fetches only ahead of expiry) and swaps in a credential that changed.
async fn refresh_credentials(requests: S3Requests, provider: Arc<ChainProvider>) {
    let mut last = provider.current().await.ok().map(|f| f.credential);
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let Ok(fetched) = provider.current().await else {
            continue; // served again next second; an expired key shows as auth errors
        };
        if last
            .as_ref()
            .is_some_and(|l| Arc::ptr_eq(l, &fetched.credential))
        {
            continue;
        }
        let c = &fetched.credential;
        requests.swap_credentials(
            Secret::new(c.key_id.clone()),
            Secret::new(c.secret_key.clone()),
            c.token.clone().map(Secret::new),
        );
        last = Some(fetched.credential);
    }
}

/// Runs `lsprobe load`.
pub async fn run(args: &LoadArgs) -> Result<Exit, RunError> {
    // Flags first: a bad flag is named even when the configuration is missing too.
    Setup::from_args(args, None)?;
    let env: Vec<(String, String)> = std::env::vars().collect();
    let resolved = crate::config::resolve(&args.target, &env)?;
    for warning in &resolved.warnings {
        eprintln!("warning: {warning}");
    }
    let target = resolved.target;
    let setup = Setup::from_args(args, Some(target.provider()))?;
    let writer = ReportWriter::new(args.report_dir.clone(), &args.formats);
    writer.prepare()?;
    let storage = Storage::new(&target)?;
    let chain = match storage.cloud() {
        crate::provider::Cloud::S3(s3) => s3.chain_provider().cloned(),
        _ => None,
    };
    let requests = lean_requests(&target, chain.as_deref()).await?;
    let mut summary = TargetSummary::from(&target);
    if let Ok(who) = storage.identity().await {
        summary.identify(who);
    }
    // Temporary credentials (STS, metadata) are fetched again ahead of expiry in the
    // background and swapped in: workers never wait for a fetch.
    let refresher = match (&requests, chain) {
        (LeanRequests::S3(r), Some(provider)) => Some(tokio::spawn(refresh_credentials(
            r.as_ref().clone(),
            provider,
        ))),
        _ => None,
    };
    let store = SafeStore::new(
        storage,
        RunPrefix::new(&target.folder_prefix()),
        Ledger::default(),
    );
    let mut report = RunReport::new(summary);
    let progress = Progress::new(&setup.plan);

    let work = AssertUnwindSafe(async {
        match &requests {
            LeanRequests::S3(r) => measure(r.as_ref(), &setup, &store, &progress, None).await,
            LeanRequests::Azure(r) => {
                let sku = match azure_sku(store.storage()).await {
                    Ok(sku) => Some(sku),
                    Err(e) => {
                        progress.println(&format!(
                            "note: the Azure account SKU is unknown ({e}); the verdict goes by \
                             the figures alone"
                        ));
                        None
                    }
                };
                measure(r, &setup, &store, &progress, sku).await
            }
        }
    })
    .catch_unwind();
    let stop = interrupted();
    tokio::pin!(stop);
    let (outcome, mut ending) = tokio::select! {
        r = work => match r {
            Ok(outcome) => (Some(outcome), Ending::Completed),
            Err(_) => (None, Ending::Crashed),
        },
        () = &mut stop => (None, Ending::Interrupted),
    };
    progress.finish();
    if let Some(r) = refresher {
        r.abort();
    }

    let (cleanup, interrupted) =
        bounded_cleanup(&store, setup.cleanup_limit, ending == Ending::Interrupted).await;
    report.cleanup = cleanup;
    if interrupted {
        ending = Ending::Interrupted;
    }
    let elapsed_ms = (chrono::Utc::now() - report.started_at)
        .num_milliseconds()
        .max(0) as u64;
    let check = match outcome {
        Some(Ok(summary)) => {
            let check = verdict_check(&summary, &target);
            report.load = Some(summary);
            Some(check)
        }
        Some(Err(message)) => Some(
            CheckResult::new("load.verdict", Status::Error, message).with_remediation(
                "Run `lsprobe check` with the same configuration: it names the permission or \
                 setting that is missing.",
            ),
        ),
        None => None,
    };
    if let Some(mut check) = check {
        check = match &setup.existing {
            Some(prefix) => check.with_evidence("read_prefix", prefix.clone()),
            None => check.with_evidence("run_prefix", store.run.prefix.clone()),
        };
        check.duration_ms = elapsed_ms;
        report.push_check(check);
    }
    report.finish(false);
    if ending != Ending::Completed {
        report.exit_code = Exit::Incomplete.code();
    }
    writer
        .write(&report)
        .map_err(|e| RunError::Incomplete(e.into()))?;
    print(args.report_dir.as_deref(), &args.formats, &report);
    match ending {
        Ending::Interrupted => eprintln!("interrupted: the load run stopped early; cleanup ran"),
        Ending::Crashed => eprintln!("internal error: the load run panicked; cleanup ran"),
        Ending::Completed => {}
    }
    report_leftovers(&report);
    Ok(match report.exit_code {
        0 => Exit::Passed,
        1 => Exit::Failed,
        _ => Exit::Incomplete,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Completed,
    Interrupted,
    Crashed,
}

/// Prepare (or discover), run, judge. Every key is in the ledger before it is written; the
/// keys written are confirmed, and those never sent are forgotten, so cleanup deletes exactly
/// what may exist. An error is the message of a `load.verdict` that could not be given.
async fn measure<R: OpRequest>(
    requests: &R,
    setup: &Setup,
    store: &SafeStore,
    progress: &Progress,
    azure_sku: Option<String>,
) -> Result<LoadSummary, String> {
    let plan = &setup.plan;
    let run_prefix = store.run.prefix.clone();
    let ledger = store.ledger();
    let planned = super::planned_writes(plan, &run_prefix, setup.existing.is_some());
    for key in &planned {
        ledger.plan(key);
    }
    // A planned key counts (is deleted, or listed as left over) once a write of it was sent.
    let sent = ledger.clone();
    let on_write: super::WriteLog = Arc::new(move |key: &str| sent.record(key));
    let reads = plan.mix.any(|op| matches!(op, Op::Get | Op::Head));
    let data = match (&setup.existing, reads) {
        (Some(prefix), _) => {
            progress.phase(&format!("listing {prefix}"));
            super::discover(requests, prefix, plan.objects, plan.timeout)
                .await
                .map_err(|e| e.to_string())?
        }
        (None, true) => {
            progress.phase(&format!("writing {} objects to read", plan.objects));
            match super::prepare_logged(requests, plan, &run_prefix, Some(on_write.clone())).await {
                Ok(data) => {
                    confirm(ledger, &data.written);
                    data
                }
                Err(e) => {
                    if let LoadError::Prepare { written, .. } = &e {
                        confirm(ledger, written);
                    }
                    return Err(e.to_string());
                }
            }
        }
        (None, false) => Dataset {
            objects: Vec::new(),
            list_prefix: run_prefix.clone(),
            write_prefix: Some(run_prefix.clone()),
            written: Vec::new(),
        },
    };
    let live = Arc::new(Live::default());
    let _ticker = AbortTask(progress.run(plan, live.clone()));
    let result = super::run_with_live(
        requests,
        plan,
        &data,
        &setup.verdict,
        &setup.required,
        azure_sku.as_deref(),
        super::Watchers {
            live: Some(live),
            on_write: Some(on_write),
        },
    )
    .await;
    let run = result.map_err(|e| e.to_string())?;
    confirm(ledger, &run.written);
    // The run is over: the PUT slots no worker used were never sent.
    for key in planned {
        if !ledger.confirmed(&key) {
            ledger.forget(&key);
        }
    }
    Ok(run.summary)
}

/// Stops a task when dropped (the progress ticker, however `measure` ends).
struct AbortTask(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortTask {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }
}

fn confirm(ledger: &Ledger, keys: &[String]) {
    for key in keys {
        ledger.confirm(key);
    }
}

/// `load.verdict` as a check: pass, or fail when slow with the figures that crossed which
/// thresholds and their sources.
fn verdict_check(summary: &LoadSummary, target: &Target) -> CheckResult {
    let v = &summary.verdict;
    let f = summary.figures();
    let (requests, failed) = summary
        .ops
        .values()
        .fold((0, 0), |(n, e), o| (n + o.count, e + o.errors));
    let mut figures = serde_json::Map::new();
    if let Some(t) = &f.get_ttfb {
        figures.insert("get_ttfb_p50_ms".into(), t.p50.into());
        figures.insert("get_ttfb_p99_ms".into(), t.p99.into());
    }
    if let Some(h) = &f.head {
        figures.insert("head_p50_ms".into(), h.p50.into());
        figures.insert("head_p99_ms".into(), h.p99.into());
    }
    if let Some(t) = f.throttled_pct {
        figures.insert("throttled_pct".into(), t.into());
    }
    if let Some(m) = f.get_mib_per_s {
        figures.insert("get_mib_per_s".into(), m.into());
    }
    if let Some(p) = f.failed_pct {
        figures.insert("failed_pct".into(), p.into());
    }
    if let Some(p) = f.stalled_pct {
        figures.insert("stalled_pct".into(), p.into());
    }
    let reasons = v.reasons.join("\n");
    let mut notes = Vec::new();
    if failed > 0 {
        notes.push(format!("{failed} of {requests} requests failed"));
    }
    if summary.dropped > 0 {
        notes.push(format!(
            "{} planned requests were never started (the storage did not keep up with \
             --rate)",
            summary.dropped
        ));
    }
    let stalled = summary.stalled_seconds();
    if stalled > 0 {
        notes.push(format!(
            "{stalled} of {} measured seconds saw no request complete",
            summary.duration_s.floor()
        ));
    }
    if let Some(why) = &summary.stopped_early {
        notes.push(format!("stopped early: {why}"));
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!("; {}", notes.join("; "))
    };
    let (status, message) = if v.slow {
        let what = if f.failed_pct.is_some_and(|p| p > 0.0) || summary.stopped_early.is_some() {
            "failing or too slow"
        } else {
            "too slow"
        };
        (
            Status::Fail,
            format!(
                "{what}: measured class {}, {} required{notes}\n{reasons}",
                v.class, v.required
            ),
        )
    } else if v.class == "unknown" {
        // Nothing was measured: the run could not finish, it is never a pass.
        (Status::Error, format!("no verdict{notes}\n{reasons}"))
    } else {
        let ttfb = f
            .get_ttfb
            .map(|t| format!("; GET first byte p50 {:.1} ms, p99 {:.1} ms", t.p50, t.p99))
            .unwrap_or_default();
        let msg = format!(
            "fast enough: {}-class ({} required){ttfb}{notes}",
            v.class, v.required
        );
        let status = if failed > 0 || summary.dropped > 0 || stalled > 0 {
            Status::Warn
        } else {
            Status::Pass
        };
        (status, msg)
    };
    let mut check = CheckResult::new("load.verdict", status, message.trim_end())
        .with_evidence("class", v.class.clone())
        .with_evidence("required", v.required.clone())
        .with_evidence("reasons", v.reasons.clone())
        .with_evidence("figures", serde_json::Value::Object(figures))
        .with_evidence("requests", requests)
        .with_evidence("failed", failed)
        .with_evidence("dropped", summary.dropped)
        .with_evidence("stalled_seconds", stalled);
    if v.slow {
        let fix = if target.provider() == Provider::Azure {
            "Label Studio's guide asks for a Premium_LRS / BlockBlobStorage (SSD) account: an \
             HDD-backed Standard account \"might be too slow and could malfunction\". Also run \
             lsprobe from the region of the storage account."
        } else {
            "Run lsprobe from where Label Studio runs (same region as the bucket); if requests \
             were throttled, lower --concurrency or spread keys over prefixes. The thresholds and \
             their sources are in suites/capacity.toml; override one with --threshold \
             METRIC=VALUE or ask for another class with --require."
        };
        check = check.with_remediation(fix);
    }
    check
}

/// The progress bar: on a terminal only (stderr), redrawn a few times a second, and
/// suspended around any line printed while it shows.
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(plan: &LoadPlan) -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(
            Some(planned_len(plan)),
            ProgressDrawTarget::stderr_with_hz(4),
        );
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress { bar: Some(bar) }
    }

    fn phase(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_string());
        }
    }

    fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Switches to the measuring bar and starts its ticker (aborted by the caller).
    fn run(&self, plan: &LoadPlan, live: Arc<Live>) -> Option<tokio::task::JoinHandle<()>> {
        let bar = self.bar.clone()?;
        let unit = match plan.bound {
            Bound::Duration(_) => "s",
            Bound::Requests(_) => "requests",
        };
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}}"
            ))
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_length(planned_len(plan));
        bar.set_position(0);
        bar.set_message("warming up");
        let bound = plan.bound;
        let warmup = plan.warmup;
        Some(tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let l = live.snapshot();
                let pos = match bound {
                    Bound::Duration(_) => start.elapsed().as_secs(),
                    Bound::Requests(_) => l.done,
                };
                bar.set_position(pos.min(bar.length().unwrap_or(u64::MAX)));
                if l.done > 0 || start.elapsed() >= warmup {
                    bar.set_message(format!(
                        "{} ops/s  p50 {:.1} ms  p99 {:.1} ms  {} errors",
                        l.ops_per_s, l.p50_ms, l.p99_ms, l.errors
                    ));
                }
            }
        }))
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Elapsed / planned: seconds (warmup included) or measured requests.
fn planned_len(plan: &LoadPlan) -> u64 {
    match plan.bound {
        Bound::Duration(d) => (plan.warmup + d).as_secs().max(1),
        Bound::Requests(n) => n,
    }
}

/// TLS settings for `STORAGE_AWS_S3_VERIFY` other than the platform's roots.
mod tls {
    use std::path::Path;
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

    use crate::RunError;

    /// Verifies against the CA bundle at `path` (PEM).
    pub fn ca_bundle(path: &Path) -> Result<ClientConfig, RunError> {
        let bad = |e: String| {
            RunError::BadInput(format!(
                "STORAGE_AWS_S3_VERIFY: {} is not a usable PEM CA bundle: {e}",
                path.display()
            ))
        };
        let pem = crate::config::limits::read_bytes(path, crate::config::limits::MAX_PEM_BYTES)
            .map_err(|e| bad(e.to_string()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        // The same trust as the checks (and boto3): a certificate in the bundle is trusted as
        // the server's own. The lean connection speaks HTTP/1.1 only: no ALPN.
        let mut config = crate::provider::tls::client_config(certs).map_err(bad)?;
        config.alpn_protocols.clear();
        Ok(config)
    }

    /// `STORAGE_AWS_S3_VERIFY=false`: no certificate verification, as Label Studio does then.
    pub fn no_verification() -> ClientConfig {
        ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(
                rustls::crypto::ring::default_provider(),
            )))
            .with_no_client_auth()
    }

    #[derive(Debug)]
    struct NoVerify(rustls::crypto::CryptoProvider);

    impl ServerCertVerifier for NoVerify {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn setup(flags: &[&str]) -> Result<Setup, String> {
        let mut argv = vec!["lsprobe", "load"];
        argv.extend_from_slice(flags);
        let cli = crate::cli::Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let crate::cli::Command::Load(args) = cli.command else {
            unreachable!()
        };
        Setup::from_args(&args, Some(Provider::S3)).map_err(|e| e.to_string())
    }

    #[test]
    fn flags_override_the_suite() {
        let s = setup(&[
            "--mix",
            "get=1",
            "--size",
            "4KiB",
            "--concurrency",
            "3",
            "--requests",
            "50",
            "--rate",
            "20",
            "--threshold",
            "get_ttfb_p50_ms=5",
            "--require",
            "ssd",
        ])
        .unwrap();
        assert_eq!(s.plan.concurrency, 3);
        assert_eq!(s.plan.bound, Bound::Requests(50));
        assert_eq!(s.plan.mode, Mode::Open { rate: 20.0 });
        assert_eq!(s.required, "ssd");
        let ssd = &s.verdict.profiles[0];
        assert!(ssd.thresholds.iter().any(|t| t.limit == 5.0
            && t.metric == Metric::GetTtfbP50Ms
            && t.source.starts_with("command line")));
        let defaults = setup(&[]).unwrap();
        assert_eq!(defaults.required, "hdd");
        assert_eq!(defaults.plan.mode, Mode::Closed);
    }

    #[test]
    fn bad_flags_are_named() {
        for (flags, named) in [
            (&["--mix", "put=abc"][..], "--mix"),
            (&["--size", "0"][..], "--size"),
            (&["--size", "2GiB"][..], "--size"),
            (&["--rate", "-1"][..], "--rate"),
            (&["--rate", "0"][..], "--rate"),
            (&["--concurrency", "0"][..], "--concurrency"),
            (&["--duration", "soon"][..], "--duration"),
            (&["--requests", "0"][..], "--requests"),
            (&["--objects", "0"][..], "--objects"),
            (&["--objects", "99999999999"][..], "--objects"),
            (&["--rate", "99999999999"][..], "--rate"),
            (&["--duration", "1000d"][..], "--duration"),
            (&["--mix", "get=70,get=30"][..], "--mix"),
            (&["--mix", "get=70,,put=30"][..], "--mix"),
            (&["--size", "4KiB:50,"][..], "--size"),
            (&["--size", "-1"][..], "--size"),
            (&["--cleanup-timeout", "soon"][..], "--cleanup-timeout"),
            (&["--threshold", "p42=1"][..], "--threshold"),
            (&["--threshold", "head_p99_ms=-3"][..], "--threshold"),
            (&["--require", "tape"][..], "--require"),
            (
                &["--existing-prefix", "media/", "--mix", "get=9,put=1"][..],
                "put",
            ),
        ] {
            let e = setup(flags).unwrap_err();
            assert!(e.contains(named), "{flags:?}: {e}");
        }
        assert!(setup(&["--existing-prefix", "media/", "--mix", "get=9,head=1"]).is_ok());
    }
}
