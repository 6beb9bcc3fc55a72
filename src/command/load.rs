//! `lsprobe load`: flags → plan, configuration → lean signed requests, then prepare (or read an
//! existing prefix), run, judge, clean up, report — with the run-safety rules of `lsprobe
//! check`: every key written is in the ledger before it is written and is deleted on every
//! exit path (Ctrl-C and SIGTERM included).
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use super::lifecycle::{interrupted, print, report_leftovers};
pub use super::load_setup::Setup;
use super::load_setup::bad;
use crate::checks::{CheckResult, Status};
use crate::cli::LoadArgs;
use crate::config::header_value;
use crate::config::{AzureCredentials, ProviderSettings, S3Credentials, Secret, Target, TlsVerify};
use crate::load::gcs::{GcsConfig, GcsRequests};
use crate::load::progress::Progress;
use crate::load::sharedkey::{AzureConfig, AzureRequests};
use crate::load::sigv4::{S3Config, S3Requests};
use crate::load::tls;
use crate::load::verdict_check::verdict_check;
use crate::load::{Dataset, Endpoint, Live, LoadError, LoadSummary, Op, OpRequest};
use crate::provider::aws_credentials::ChainProvider;
use crate::provider::gcs::GcsTokens;
use crate::provider::{Cloud, Storage, classify};
use crate::report::{ReportWriter, RunReport, TargetSummary};
use crate::safety::{Ledger, RunPrefix, SafeStore};
use crate::{Exit, RunError};

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

/// The lean request builder for the target's provider.
#[derive(Clone)]
pub enum LeanRequests {
    /// S3 (SigV4).
    S3(Box<S3Requests>),
    /// Azure Blob (SharedKey, or a SAS token).
    Azure(AzureRequests),
    /// GCS JSON API (bearer token).
    Gcs(GcsRequests),
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

/// Credentials the configuration points at could not be obtained (the AWS chain, a GCS token):
/// Label Studio's uploads would fail the same way, so the run fails (exit 1) with the reason
/// and its fix, as `lsprobe check` does; it is not bad input.
#[derive(Debug)]
pub struct NoCredentials(pub String);

/// Builds the lean request path for `target`: S3 (static keys or the AWS default chain,
/// resolved once), Azure with an account key or a SAS token, GCS with the bearer token of the
/// adapter's credentials (fetched once here; see [`refresh_gcs_token`]).
pub async fn lean_requests(
    target: &Target,
    storage: &Storage,
) -> Result<Result<LeanRequests, NoCredentials>, RunError> {
    let chain = match storage.cloud() {
        Cloud::S3(s3) => s3.chain_provider().cloned(),
        _ => None,
    };
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
                    let provider = chain
                        .as_deref()
                        .ok_or_else(|| bad("no AWS chain provider".into()))?;
                    let c = match provider.current().await {
                        Ok(c) => c,
                        Err(e) => {
                            return Ok(Err(NoCredentials(format!(
                                "no S3 keys are configured and the AWS chain gave no \
                                 credentials: {e}. {}",
                                e.fix
                            ))));
                        }
                    };
                    let c = c.credential;
                    for (what, value) in [
                        ("access key id", Some(&c.key_id)),
                        ("session token", c.token.as_ref()),
                    ] {
                        if let Some(why) = value.and_then(|v| header_value::problem(v)) {
                            return Err(bad(format!(
                                "the {what} the AWS default chain gave {why}; fix the \
                                 AWS_* variables or the credentials file it came from"
                            )));
                        }
                    }
                    (
                        Secret::new(c.key_id.clone()),
                        Secret::new(c.secret_key.clone()),
                        c.token.clone().map(Secret::new),
                    )
                }
            };
            let configured = target
                .region
                .as_ref()
                .map_or_else(|| "us-east-1".to_string(), |r| r.value.clone());
            let (region, note) =
                super::load_region::bucket_region(target, storage, &configured).await;
            if let Some(note) = note {
                eprintln!("warning: {note}");
            }
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
            Ok(Ok(LeanRequests::S3(Box::new(S3Requests::new(S3Config {
                endpoint: endpoint(&url, &s.verify.value)?,
                bucket,
                region,
                access_key_id: key_id,
                secret_access_key: secret,
                session_token: token,
            })))))
        }
        ProviderSettings::Azure(a) => {
            let account = a.account_name.value.clone();
            let url = match &target.endpoint {
                Some(e) => e.value.as_str().trim_end_matches('/').to_string(),
                None => format!("https://{account}.blob.core.windows.net"),
            };
            let endpoint = endpoint(&url, &TlsVerify::Verify)?;
            let requests = match &a.credentials {
                AzureCredentials::AccountKey(k) => AzureRequests::new(AzureConfig {
                    endpoint,
                    account,
                    container: bucket,
                    access_key: k.value.clone(),
                })
                .map_err(|e| bad(e.to_string()))?,
                AzureCredentials::Sas(sas) => {
                    AzureRequests::with_sas(endpoint, account, &bucket, sas.value.clone())
                }
            };
            Ok(Ok(LeanRequests::Azure(requests)))
        }
        ProviderSettings::Gcs(_) => {
            let Cloud::Gcs(gcs) = storage.cloud() else {
                return Err(bad("no GCS adapter for GCS settings".into()));
            };
            let token = match gcs.tokens().current().await {
                Ok(t) => t,
                Err(e) => {
                    return Ok(Err(NoCredentials(format!(
                        "the GCS credentials gave no access token: {e}. {}",
                        e.fix
                    ))));
                }
            };
            let token = token.map(|t| Secret::new(t.bearer.clone()));
            let requests = GcsRequests::new(
                GcsConfig {
                    endpoint: endpoint(gcs.base(), &TlsVerify::Verify)?,
                    bucket,
                },
                token.as_ref(),
            )
            .map_err(|e| bad(e.to_string()))?;
            Ok(Ok(LeanRequests::Gcs(requests)))
        }
    }
}

/// Keeps `requests` sending a current token: asks the token source every second (it fetches
/// only ahead of expiry) and swaps in a token that changed.
async fn refresh_gcs_token(requests: GcsRequests, tokens: GcsTokens) {
    let mut last = tokens.current().await.ok().flatten();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let Ok(Some(token)) = tokens.current().await else {
            continue; // asked again next second; an expired token shows as auth errors
        };
        if last.as_ref().is_some_and(|l| Arc::ptr_eq(l, &token)) {
            continue;
        }
        // A token a header cannot carry was refused when the run was set up; a later one
        // like it is skipped (requests keep the previous token and show its expiry).
        let _ = requests.swap_token(&Secret::new(token.bearer.clone()));
        last = Some(token);
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
    let resolved = crate::config::resolve(&crate::config::TargetOptions::from(&args.target), &env)?;
    for warning in &resolved.warnings {
        eprintln!("warning: {warning}");
    }
    let target = resolved.target;
    let setup = Setup::from_args(args, Some(target.provider()))?;
    if let ProviderSettings::Azure(a) = &target.settings
        && let AzureCredentials::Sas(sas) = &a.credentials
    {
        super::load_grant::check_sas(sas, &setup)?;
    }
    if let Some(w) =
        crate::load::Shard::unsharded_warning(args.shard.as_deref(), |k| std::env::var(k).ok())
    {
        eprintln!("warning: {w}");
    }
    let writer = ReportWriter::new(args.report_dir.clone(), &args.formats);
    writer.prepare()?;
    let storage = Storage::new(&target)?;
    let chain = match storage.cloud() {
        Cloud::S3(s3) => s3.chain_provider().cloned(),
        _ => None,
    };
    let requests = match lean_requests(&target, &storage).await? {
        Ok(r) => r,
        Err(NoCredentials(message)) => {
            return no_credentials(&writer, args, &target, message);
        }
    };
    let gcs_tokens = match storage.cloud() {
        Cloud::Gcs(gcs) => Some(gcs.tokens()),
        _ => None,
    };
    let mut summary = TargetSummary::from(&target);
    if let Ok(who) = storage.identity().await {
        summary.identify(who);
    }
    // Temporary credentials (STS, metadata) are fetched again ahead of expiry in the
    // background and swapped in: workers never wait for a fetch.
    let refresher = match (&requests, chain, gcs_tokens) {
        (LeanRequests::S3(r), Some(provider), _) => Some(tokio::spawn(refresh_credentials(
            r.as_ref().clone(),
            provider,
        ))),
        (LeanRequests::Gcs(r), _, Some(tokens)) => {
            Some(tokio::spawn(refresh_gcs_token(r.clone(), tokens)))
        }
        _ => None,
    };
    let shard = setup.plan.shard.as_ref().map(|s| s.shard);
    let suffix = shard.map(|s| s.run_suffix()).unwrap_or_default();
    let store = SafeStore::new(
        storage,
        RunPrefix::with_suffix(&target.folder_prefix(), &suffix),
        Ledger::default(),
    );
    let mut report = RunReport::new(summary);
    let progress = Progress::new(&setup.plan);

    let work = AssertUnwindSafe(async {
        match &requests {
            LeanRequests::S3(r) => measure(r.as_ref(), &setup, &store, &progress, None).await,
            LeanRequests::Gcs(r) => measure(r, &setup, &store, &progress, None).await,
            LeanRequests::Azure(r) => {
                let sku = match azure_sku(store.storage()).await {
                    Ok(sku) => Some(sku),
                    Err(e) => {
                        progress.println(&format!(
                            "note: the Azure account SKU is unknown ({}); the verdict goes by \
                             the figures alone",
                            crate::report::redact::text(&e)
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

    let (cleanup, interrupted) = crate::safety::bounded_cleanup(
        &store,
        setup.cleanup_limit,
        ending == Ending::Interrupted,
        interrupted,
    )
    .await;
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
        None if ending == Ending::Interrupted => Some(
            CheckResult::new(
                "load.verdict",
                Status::Error,
                "interrupted (Ctrl-C or SIGTERM) before the run ended: no verdict; the \
                 objects it wrote were cleaned up",
            )
            .with_remediation("Run `lsprobe load` again and let it finish (or use --autoterm)."),
        ),
        None => None,
    };
    if let Some(mut check) = check {
        check = match &setup.existing {
            Some(prefix) => check.with_evidence("read_prefix", prefix.clone()),
            None => check.with_evidence("run_prefix", store.run.prefix.clone()),
        };
        // The run signed for the bucket's region S3 named (see load_region): the report says so.
        if let Cloud::S3(s3) = store.storage().cloud()
            && let Some(region) = s3.learnt_region()
        {
            check = check
                .with_evidence("bucket_region", region)
                .with_evidence("configured_region", s3.configured_region());
        }
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

/// The report of a run that could not start: no credentials. Nothing was written.
fn no_credentials(
    writer: &ReportWriter,
    args: &LoadArgs,
    target: &Target,
    message: String,
) -> Result<Exit, RunError> {
    let mut report = RunReport::new(TargetSummary::from(target));
    report.push_check(
        CheckResult::new("load.verdict", Status::Fail, message).with_remediation(
            "Fix the credentials Label Studio gets (the variables or files named above); \
             `lsprobe check` with the same configuration names the step that failed.",
        ),
    );
    let exit = report.finish(false);
    writer
        .write(&report)
        .map_err(|e| RunError::Incomplete(e.into()))?;
    print(args.report_dir.as_deref(), &args.formats, &report);
    Ok(exit)
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
    let planned = crate::load::planned_writes(plan, &run_prefix, setup.existing.is_some());
    for key in &planned {
        ledger.plan(key);
    }
    // A planned key counts (is deleted, or listed as left over) once a write of it was sent.
    let sent = ledger.clone();
    let on_write: crate::load::WriteLog = Arc::new(move |key: &str| sent.record(key));
    let reads = plan.mix.any(|op| matches!(op, Op::Get | Op::Head));
    let data = match (&setup.existing, reads) {
        (Some(prefix), _) => {
            progress.phase(&format!("listing {prefix}"));
            let whole = plan
                .shard
                .as_ref()
                .map_or(plan.objects, |s| s.whole.objects);
            let mut data = crate::load::discover(requests, prefix, whole, plan.timeout)
                .await
                .map_err(|e| e.to_string())?;
            // A shard reads its own part of what every shard lists in the same order.
            if let Some(s) = &plan.shard {
                let shard = s.shard;
                data.objects = shard.own(std::mem::take(&mut data.objects));
                if data.objects.is_empty() {
                    return Err(format!(
                        "shard {shard}: {prefix} holds fewer objects than shards, none is left \
                         for this one; run fewer shards or give a prefix with more objects"
                    ));
                }
            }
            data
        }
        (None, true) => {
            progress.phase(&format!("writing {} objects to read", plan.objects));
            match crate::load::prepare_logged(requests, plan, &run_prefix, Some(on_write.clone()))
                .await
            {
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
    let result = crate::load::run_with_live(
        requests,
        plan,
        &data,
        &setup.verdict,
        &setup.required,
        azure_sku.as_deref(),
        crate::load::Watchers {
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
