//! `permissions.*`: each action of the documented permission set, exercised on objects under
//! the run prefix.
use serde_json::json;

use super::context::{Context, State, Written, content, first_difference, passed, skipped};
use super::remedy::Action;
use super::suite::CheckParams;
use super::{CheckResult, Status};
use crate::config::Provider;
use crate::provider::{Answer, Op};

const CONTENT_TYPE: &str = "application/octet-stream";

/// `permissions.list`: list the folder, as Label Studio's "Check connection" does.
pub async fn list(ctx: &Context, state: &mut State) -> CheckResult {
    let id = "permissions.list";
    let prefix = ctx.store.run.folder_prefix.clone();
    let request = format!("LIST prefix `{prefix}`");
    let sent = ctx.store.list(&prefix, 1, None).await;
    let answer = match ctx.expect_success(id, Action::List, &request, &sent, state) {
        Ok(a) => a,
        Err(r) => {
            state.list_ok = Some(false);
            return r;
        }
    };
    state.list_ok = Some(true);
    match ctx.store.storage().parse_listing(answer) {
        Ok(_) => passed(id, "listing the folder works", &request, answer),
        Err(e) => CheckResult::new(id, Status::Error, format!("{request}: {e}")),
    }
}

/// `permissions.put`: write a small object, as an upload does.
pub async fn put(ctx: &Context, state: &mut State, params: &CheckParams) -> CheckResult {
    let id = "permissions.put";
    let body = content(params.object_size, &ctx.store.run.run_id);
    let (key, sent) = ctx
        .store
        .put("permissions/put.bin", body.clone(), CONTENT_TYPE)
        .await;
    let request = format!("PUT `{key}` ({} bytes)", body.len());
    let answer = match ctx.expect_success(id, Action::Put, &request, &sent, state) {
        Ok(a) => a,
        Err(r) => {
            state.put_failed = true;
            return r.with_evidence("key", key);
        }
    };
    let result =
        passed(id, "writing an object works", &request, answer).with_evidence("key", key.as_str());
    state.put = Some(Written { key, body });
    result
}

/// `permissions.get`: read back the object `permissions.put` wrote and compare bytes.
pub async fn get(ctx: &Context, state: &mut State) -> CheckResult {
    let id = "permissions.get";
    let Some(written) = state.put.clone() else {
        return skipped(
            id,
            "not tested: needs the object permissions.put writes, and that failed",
        );
    };
    let request = format!("GET `{}`", written.key);
    let sent = match ctx
        .store
        .send_owned(Op::Get {
            key: written.key.clone(),
        })
        .await
    {
        Ok(sent) => sent,
        Err(refused) => return CheckResult::new(id, Status::Error, refused.to_string()),
    };
    let answer = match ctx.expect_success(id, Action::Get, &request, &sent, state) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match first_difference(&written.body, &answer.body) {
        None => passed(
            id,
            "reading an object back returns the bytes written",
            &request,
            answer,
        ),
        Some(at) => CheckResult::new(
            id,
            Status::Fail,
            format!(
                "{request}: the bytes read differ from those written (wrote {}, read {}, first \
                 difference at byte {at})",
                written.body.len(),
                answer.body.len()
            ),
        )
        .with_remediation(
            "The server does not return what was stored: if it is an S3-compatible server or \
             a proxy, check it does not alter bodies (compression, chunked-upload framing).",
        )
        .with_evidence("expected", format!("{} bytes", written.body.len()))
        .with_evidence("seen", format!("{} bytes", answer.body.len())),
    }
}

/// `permissions.head`: read the object's metadata, as Label Studio's existence checks do.
pub async fn head(ctx: &Context, state: &mut State) -> CheckResult {
    let id = "permissions.head";
    let Some(written) = state.put.clone() else {
        return skipped(
            id,
            "not tested: needs the object permissions.put writes, and that failed",
        );
    };
    let request = format!("HEAD `{}`", written.key);
    let sent = match ctx
        .store
        .send_owned(Op::Head {
            key: written.key.clone(),
        })
        .await
    {
        Ok(sent) => sent,
        Err(refused) => return CheckResult::new(id, Status::Error, refused.to_string()),
    };
    let answer = match ctx.expect_success(id, Action::Head, &request, &sent, state) {
        Ok(a) => a,
        Err(r) => {
            state.head_ok = Some(false);
            return r;
        }
    };
    state.head_ok = Some(true);
    let size = object_size(ctx.target.provider(), answer);
    if size == Some(written.body.len() as u64) {
        passed(id, "reading an object's metadata works", &request, answer)
            .with_evidence("size", written.body.len())
    } else {
        CheckResult::new(
            id,
            Status::Fail,
            format!(
                "{request}: the metadata gives size {size:?}, {} bytes were written",
                written.body.len()
            ),
        )
        .with_evidence("expected", written.body.len())
        .with_evidence("seen", json!(size))
    }
}

/// The size an answer to `Op::Head` reports.
pub fn object_size(provider: Provider, answer: &Answer) -> Option<u64> {
    match provider {
        Provider::Gcs => serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()?
            .get("size")?
            .as_str()?
            .parse()
            .ok(),
        Provider::S3 | Provider::Azure => answer
            .headers
            .get(http::header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse()
            .ok(),
    }
}

/// `permissions.delete`: write an object of its own, delete it, and see that it is gone.
pub async fn delete(ctx: &Context, state: &mut State, params: &CheckParams) -> CheckResult {
    let id = "permissions.delete";
    let body = content(params.object_size.min(1024), "delete");
    let (key, sent) = ctx
        .store
        .put("permissions/delete.bin", body, CONTENT_TYPE)
        .await;
    if crate::provider::classify(ctx.target.provider(), &sent).is_err() {
        return skipped(
            id,
            "not tested: it deletes an object it writes first, and writing failed",
        );
    }
    let request = format!("DELETE `{key}`");
    let sent = match ctx.store.send_owned(Op::Delete { key: key.clone() }).await {
        Ok(sent) => sent,
        Err(refused) => return CheckResult::new(id, Status::Error, refused.to_string()),
    };
    let answer = match ctx.expect_success(id, Action::Delete, &request, &sent, state) {
        Ok(a) => a,
        Err(r) => {
            return r.with_evidence("key", key.as_str()).with_evidence(
                "note",
                "the object could not be deleted and is listed under cleanup.leftover",
            );
        }
    };
    let result = passed(id, "deleting an object works", &request, answer);
    if state.head_ok != Some(true) {
        return result;
    }
    // The key was forgotten by the ledger once deleted: check it through a fresh HEAD.
    let still_there = ctx
        .store
        .storage()
        .send(&Op::Head { key: key.clone() })
        .await;
    match &still_there {
        Ok(a) if a.status.is_success() => CheckResult::new(
            id,
            Status::Fail,
            format!(
                "{request} answered {}, but the object is still there",
                answer.status
            ),
        )
        .with_evidence("key", key),
        _ => result.with_evidence("verified_gone", true),
    }
}
