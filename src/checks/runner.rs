//! The suite runner: runs a suite's checks in order against one target, writes the reports
//! after every check, and cleans up on every exit path (success, failure, Ctrl-C, panic).
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use super::context::{Context, State, skipped, timed};
use super::label_studio::{self, Deployment, api::Session};
use super::remedy::Action;
use super::suite::{Suite, SuiteCheck};
use super::{
    CheckResult, Status, account, cors, cors_actual, encryption, folder, multipart, permissions,
    presign, region, upload,
};
use crate::config::Target;
use crate::exit::Exit;
use crate::provider::{Failure, Storage};
use crate::report::{ReportWriter, RunReport, TargetSummary};
use crate::safety::{Ledger, RunPrefix, SafeStore};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every check ran.
    Completed,
    /// Stopped by a signal; cleanup ran.
    Interrupted,
    /// A check panicked; cleanup ran.
    Crashed,
}

/// Runs `suite` against `target`. `signal()` completes on Ctrl-C or SIGTERM (the command layer
/// supplies it): a signal ends the run early; cleanup runs whatever happens (see
/// [`crate::safety::bounded_cleanup`]). Sends no request if the target cannot be used (exit 2).
pub async fn run_suite<F: Future<Output = ()>>(
    target: &Target,
    suite: &Suite,
    writer: &ReportWriter,
    strict: bool,
    signal: impl Fn() -> F,
) -> Result<(RunReport, Ending), crate::RunError> {
    run_suite_with(
        target,
        suite,
        writer,
        strict,
        None,
        std::time::Duration::from_secs(30),
        signal,
    )
    .await
}

/// [`run_suite`] with a Label Studio deployment for the end-to-end checks.
pub async fn run_suite_with<F: Future<Output = ()>>(
    target: &Target,
    suite: &Suite,
    writer: &ReportWriter,
    strict: bool,
    label_studio: Option<Deployment>,
    cleanup_limit: std::time::Duration,
    signal: impl Fn() -> F,
) -> Result<(RunReport, Ending), crate::RunError> {
    let storage = Storage::new(target)?;
    // The credentials first, once: a chain step that fails is reported as such, and no check
    // sends a request with credentials that do not exist.
    let identity = storage.identity().await;
    let run = RunPrefix::new(&target.folder_prefix());
    let ctx = Context {
        store: SafeStore::new(storage, run, Ledger::default()),
        target: target.clone(),
        label_studio: label_studio.map(Session::new).transpose()?,
    };
    let mut summary = TargetSummary::from(target);
    let mut state = State::default();
    match identity {
        Ok(who) => summary.identify(who),
        Err(e) => state.blocked = Some(("credentials".into(), Failure::CredentialsUnavailable(e))),
    }
    let mut report = RunReport::new(summary);
    let mut credentials_reported = false;
    let isolation = suite.checks.iter().find(|c| c.id == "folder.isolation");

    let work = AssertUnwindSafe(async {
        if let Some(check) = isolation.filter(|_| state.blocked.is_none()) {
            state.before = Some(folder::snapshot(&ctx, check.params.list_limit).await);
        }
        for check in suite.checks.iter().filter(|c| c.id != "folder.isolation") {
            let result = match &state.blocked {
                Some((by, Failure::CredentialsUnavailable(e))) if by == "credentials" => {
                    if credentials_reported {
                        skipped(
                            &check.id,
                            format!(
                                "not run: the credentials could not be obtained ({})",
                                e.step
                            ),
                        )
                    } else {
                        credentials_reported = true;
                        let failure = Failure::CredentialsUnavailable(e.clone());
                        ctx.failed(&check.id, Action::List, "obtaining credentials", &failure)
                    }
                }
                Some((by, failure)) => skipped(
                    &check.id,
                    format!("not run: {by} found the target {}", failure.describe()),
                ),
                None => region::note_redirect(&ctx, timed(dispatch(&ctx, &mut state, check)).await),
            };
            report.push_check(result);
            report.finish(strict);
            if let Err(e) = writer.write(&report) {
                eprintln!("warning: {e}");
            }
        }
    })
    .catch_unwind();
    let stop = signal();
    tokio::pin!(stop);
    let mut ending = tokio::select! {
        finished = work => if finished.is_ok() { Ending::Completed } else { Ending::Crashed },
        () = &mut stop => Ending::Interrupted,
    };

    // The Label Studio project first (it refers to the object), then the objects.
    let projects_left = label_studio::finish(&ctx).await;
    let (cleanup, interrupted) = crate::safety::bounded_cleanup(
        &ctx.store,
        cleanup_limit,
        ending == Ending::Interrupted,
        &signal,
    )
    .await;
    report.cleanup = cleanup;
    if interrupted {
        ending = Ending::Interrupted;
    }
    report.cleanup.leftover.extend(projects_left);
    let no_credentials = matches!(state.blocked, Some((_, Failure::CredentialsUnavailable(_))));
    if let (Some(check), true) = (isolation, no_credentials) {
        report.push_check(skipped(
            &check.id,
            "not run: the credentials could not be obtained",
        ));
    } else if let (Some(check), Ending::Completed) = (isolation, ending) {
        let after = folder::snapshot(&ctx, check.params.list_limit).await;
        let mut result = folder::isolation(&state, after, check.params.list_limit);
        result.duration_ms = 0;
        report.push_check(result);
    }
    report.finish(strict);
    if ending != Ending::Completed {
        report.exit_code = Exit::Incomplete.code();
    }
    writer
        .write(&report)
        .map_err(|e| crate::RunError::Incomplete(e.into()))?;
    Ok((report, ending))
}

async fn dispatch(ctx: &Context, state: &mut State, check: &SuiteCheck) -> CheckResult {
    let params = &check.params;
    match check.id.as_str() {
        "permissions.list" => permissions::list(ctx, state).await,
        "permissions.put" => permissions::put(ctx, state, params).await,
        "permissions.get" => permissions::get(ctx, state).await,
        "permissions.head" => permissions::head(ctx, state).await,
        "permissions.delete" => permissions::delete(ctx, state, params).await,
        "folder.write_scope" => folder::write_scope(ctx, state).await,
        "folder.list_scope" => folder::list_scope(ctx, state, params).await,
        "cors.preflight.GET" => cors::preflight_check(ctx, state, "GET", params).await,
        "cors.preflight.PUT" => cors::preflight_check(ctx, state, "PUT", params).await,
        "cors.preflight.POST" => cors::preflight_check(ctx, state, "POST", params).await,
        "cors.preflight.DELETE" => cors::preflight_check(ctx, state, "DELETE", params).await,
        "cors.preflight.HEAD" => cors::preflight_check(ctx, state, "HEAD", params).await,
        "cors.actual_get" => cors_actual::actual_get(ctx, state).await,
        "cors.expose_headers" => cors_actual::expose_headers(ctx, state).await,
        "presign.get" => presign::get(ctx, state).await,
        "presign.put" => presign::put(ctx, state).await,
        "s3.encryption" => encryption::encryption(ctx, state).await,
        "azure.account_kind" => account::account_kind(ctx, state).await,
        "upload.checksum_roundtrip" => upload::checksum_roundtrip(ctx, state, params).await,
        "upload.multipart" => multipart::multipart(ctx, state, params).await,
        "upload.abort" => multipart::abort_check(ctx, state).await,
        "label_studio.upload" => label_studio::upload(ctx, state).await,
        "label_studio.serve" => label_studio::serve(ctx, state).await,
        other => CheckResult::new(
            other,
            Status::Skip,
            "not available in this version of lsprobe",
        ),
    }
}
