//! `folder.*`: writes land inside the configured folder under the exact key Label Studio would
//! use, listings stay inside it, and nothing else in it changes.
use std::collections::BTreeSet;

use super::context::{Context, State, content, passed, skipped};
use super::remedy::Action;
use super::suite::CheckParams;
use super::{CheckResult, Status};
use crate::provider::{Listed, Op, classify};

/// A name shaped like Label Studio's uploads (`upload/<project>/<uuid8>-<file name>`), with a
/// space and non-ASCII letters, so that encoding mistakes show.
pub const UPLOAD_NAME: &str = "upload/1/0a1b2c3d-scan ü ñ 1.png";

/// The keys under the folder outside every lsprobe run, and whether the listing bound was hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Keys with size and version.
    pub objects: BTreeSet<Listed>,
    /// The listing stopped at the bound.
    pub truncated: bool,
}

/// Lists the folder (outside lsprobe's runs), at most `limit` keys.
pub async fn snapshot(ctx: &Context, limit: usize) -> Result<Snapshot, String> {
    let mut objects = BTreeSet::new();
    let mut page = None;
    let mut seen = 0usize;
    loop {
        let sent = ctx
            .store
            .list(&ctx.store.run.folder_prefix, limit.min(1000), page.take())
            .await;
        if let Err(f) = classify(ctx.target.provider(), &sent) {
            return Err(f.describe());
        }
        let answer = sent.map_err(|e| e.0)?;
        let listing = ctx.store.storage().parse_listing(&answer)?;
        seen += listing.objects.len();
        objects.extend(
            listing
                .objects
                .into_iter()
                .filter(|o| !ctx.store.run.is_lsprobe_key(&o.key)),
        );
        match listing.next_page {
            Some(next) if seen < limit => page = Some(next),
            next => {
                return Ok(Snapshot {
                    objects,
                    truncated: next.is_some(),
                });
            }
        }
    }
}

/// `folder.write_scope`: an upload-shaped name lands at exactly `<folder>/…/<name>`.
pub async fn write_scope(ctx: &Context, state: &mut State) -> CheckResult {
    let id = "folder.write_scope";
    if state.put_failed {
        return skipped(
            id,
            "not tested: it writes an object, and permissions.put was refused",
        );
    }
    let (key, sent) = ctx
        .store
        .put(UPLOAD_NAME, content(64, UPLOAD_NAME), "image/png")
        .await;
    let request = format!("PUT `{key}`");
    if let Err(r) = ctx.expect_success(id, Action::Put, &request, &sent, state) {
        return r;
    }
    let folder = &ctx.store.run.folder_prefix;
    if !key.starts_with(folder.as_str()) {
        return CheckResult::new(
            id,
            Status::Fail,
            format!("the key `{key}` is outside `{folder}`"),
        );
    }
    if state.list_ok == Some(true) {
        let sent = ctx.store.list(&ctx.store.run.prefix, 100, None).await;
        let listed = match sent.as_ref().map(|a| ctx.store.storage().parse_listing(a)) {
            Ok(Ok(l)) => l.objects.into_iter().map(|o| o.key).collect::<Vec<_>>(),
            _ => return skipped(id, "not tested: listing the run prefix failed"),
        };
        if listed.contains(&key) {
            return CheckResult::new(id, Status::Pass, "an upload-shaped name (space, ü, ñ) is stored under the folder with exactly that key")
                .with_evidence("key", key);
        }
        return CheckResult::new(
            id,
            Status::Fail,
            format!("wrote `{key}`, but the listing shows other keys: the server changed the name (double encoding?)"),
        )
        .with_remediation(
            "The storage stores a different key than the one sent: Label Studio would then not \
             find its uploads. Check the S3-compatible server's or proxy's URL decoding.",
        )
        .with_evidence("expected", key)
        .with_evidence("seen", listed);
    }
    // Without list, a HEAD on the exact key shows the same.
    match ctx.store.send_owned(Op::Head { key: key.clone() }).await {
        Ok(sent) if classify(ctx.target.provider(), &sent).is_ok() => CheckResult::new(
            id,
            Status::Pass,
            "the upload-shaped key is readable at exactly the name written",
        )
        .with_evidence("key", key),
        _ => skipped(id, "not tested: neither list nor head is allowed"),
    }
}

/// `folder.list_scope`: listing the run prefix returns the run's objects, and listing the
/// folder returns only keys under the folder.
pub async fn list_scope(ctx: &Context, state: &mut State, params: &CheckParams) -> CheckResult {
    let id = "folder.list_scope";
    if state.list_ok != Some(true) {
        return skipped(
            id,
            "not tested: needs permissions.list, which failed or did not run",
        );
    }
    if state.put_failed || state.put.is_none() {
        return skipped(
            id,
            "not tested: nothing could be written (permissions.put failed or did not run), so a \
             listing cannot show that the run's objects are found under the folder",
        );
    }
    let run_prefix = ctx.store.run.prefix.clone();
    let request = format!("LIST prefix `{run_prefix}`");
    let sent = ctx.store.list(&run_prefix, 1000, None).await;
    let answer = match ctx.expect_success(id, Action::List, &request, &sent, state) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let listed: Vec<String> = match ctx.store.storage().parse_listing(answer) {
        Ok(l) => l.objects.into_iter().map(|o| o.key).collect(),
        Err(e) => return CheckResult::new(id, Status::Error, e),
    };
    let expected: Vec<String> = state.put.iter().map(|w| w.key.clone()).collect();
    let missing: Vec<&String> = expected.iter().filter(|k| !listed.contains(k)).collect();
    let outside: Vec<&String> = listed
        .iter()
        .filter(|k| !k.starts_with(&run_prefix))
        .collect();
    if !missing.is_empty() || !outside.is_empty() {
        return CheckResult::new(
            id,
            Status::Fail,
            format!(
                "{request}: {} of the run's objects missing, {} keys outside the prefix",
                missing.len(),
                outside.len()
            ),
        )
        .with_remediation("The storage does not honour the listing prefix; Label Studio's folder would not be kept apart.")
        .with_evidence("expected", serde_json::json!(expected))
        .with_evidence("seen", serde_json::json!(listed));
    }
    let folder = ctx.store.run.folder_prefix.clone();
    let sent = ctx
        .store
        .list(&folder, params.list_limit.clamp(1, 1000), None)
        .await;
    let outside_folder: Vec<String> = match sent
        .as_ref()
        .map(|a| ctx.store.storage().parse_listing(a))
    {
        Ok(Ok(l)) => l
            .objects
            .into_iter()
            .map(|o| o.key)
            .filter(|k| !k.starts_with(&folder))
            .collect(),
        _ => return CheckResult::new(id, Status::Error, format!("LIST prefix `{folder}` failed")),
    };
    if !outside_folder.is_empty() {
        return CheckResult::new(
            id,
            Status::Fail,
            format!("listing `{folder}` returned keys outside it"),
        )
        .with_evidence("seen", serde_json::json!(outside_folder));
    }
    passed(
        id,
        "listings return the run's objects and stay inside the folder",
        &request,
        answer,
    )
    .with_evidence("keys", listed.len())
}

/// `folder.isolation`: the keys under the folder that are not lsprobe's are the same after the
/// run (cleanup included) as before it.
pub fn isolation(state: &State, after: Result<Snapshot, String>, limit: usize) -> CheckResult {
    let id = "folder.isolation";
    let before = match &state.before {
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            return skipped(
                id,
                format!("not tested: listing the folder before the run failed ({e})"),
            );
        }
        None => return skipped(id, "not tested: the folder was not listed before the run"),
    };
    let after = match after {
        Ok(a) => a,
        Err(e) => {
            return CheckResult::new(
                id,
                Status::Error,
                format!("listing the folder after the run failed: {e}"),
            );
        }
    };
    let bound = if before.truncated || after.truncated {
        format!(" (compared the first {limit} keys: the listing bound was reached)")
    } else {
        String::new()
    };
    if before.objects == after.objects {
        return CheckResult::new(
            id,
            Status::Pass,
            format!(
                "{} keys under the folder outside lsprobe's runs are unchanged{bound}",
                before.objects.len()
            ),
        )
        .with_evidence("keys_compared", before.objects.len())
        .with_evidence("bound_reached", before.truncated || after.truncated);
    }
    let changed: Vec<&String> = before
        .objects
        .symmetric_difference(&after.objects)
        .map(|o| &o.key)
        .collect();
    // Someone else (Label Studio itself) may be writing: say so rather than accuse the run.
    CheckResult::new(
        id,
        Status::Warn,
        format!(
            "{} keys under the folder changed during the run{bound}; lsprobe touches only its own \
             prefix, so another writer (Label Studio in use?) changed them",
            changed.len()
        ),
    )
    .with_evidence("changed", serde_json::json!(changed))
}
