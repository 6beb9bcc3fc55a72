//! `upload.multipart` and `upload.abort` (S3): files over 8 MiB go up the way boto3 sends them
//! (CreateMultipartUpload with CRC32, 8 MiB parts in parallel, CompleteMultipartUpload), and a
//! failed large upload must be abortable, or its parts stay in the bucket, billed and invisible
//! to listings.
//!
//! Memory stays bounded: parts are generated when they are sent (at most
//! [`PARTS_IN_FLIGHT`] at a time) and the object is compared while it streams back.
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use http::Method;
use serde_json::json;

use super::context::{Context, State, skipped};
use super::remedy::Action;
use super::suite::CheckParams;
use super::upload::{CONTENT_TYPE, corrupted, rejected_upload, reserve};
use super::{CheckResult, Status};
use crate::provider::answers::Cause;
use crate::provider::s3::S3;
use crate::provider::s3_upload::{
    CompletedPart, MULTIPART_CHUNK, crc32_base64, looks_like_framing, parse_upload_id,
};
use crate::provider::{Answer, Cloud, Failure, Unreachable, classify};

/// Parts sent at once (s3transfer uses up to 10 threads; 4 keeps memory at 32 MiB).
pub const PARTS_IN_FLIGHT: usize = 4;
/// The smallest object `upload.multipart` writes: one byte over boto3's 8 MiB threshold would
/// do, one more MiB makes a short last part.
pub const MIN_MULTIPART_SIZE: u64 = MULTIPART_CHUNK + 1024 * 1024;

const NOT_S3: &str = "not applicable: only Label Studio's S3 client uploads in parts";
const CREATE_NOTE: &str = "S3 authorizes CreateMultipartUpload, UploadPart and \
     CompleteMultipartUpload with s3:PutObject. ";

/// `size` bytes of a deterministic pattern starting at `offset` of the object: any range can
/// be made on its own, so parts are generated when sent and compared when read.
pub fn pattern(seed: u64, offset: u64, size: usize) -> Bytes {
    let mut out = Vec::with_capacity(size);
    let mut at = offset;
    while out.len() < size {
        let word = splitmix(seed ^ (at / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes();
        let from = (at % 8) as usize;
        let take = (8 - from).min(size - out.len());
        out.extend_from_slice(&word[from..from + take]);
        at += take as u64;
    }
    Bytes::from(out)
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn seed(run_id: &str) -> u64 {
    run_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// What became of an AbortMultipartUpload.
enum Abort {
    Done(u16),
    Refused(Failure),
}

async fn abort(ctx: &Context, s3: &S3, key: &str, upload_id: &str) -> Abort {
    let sent = match s3.abort_multipart(key, upload_id).await {
        Ok(r) => ctx.store.storage().execute(r).await,
        Err(e) => Err(e),
    };
    match classify(ctx.target.provider(), &sent) {
        Ok(()) => Abort::Done(sent.map(|a| a.status.as_u16()).unwrap_or_default()),
        Err(f) => Abort::Refused(f),
    }
}

/// Aborts after a failed step and says what is left.
async fn abort_after_failure(
    ctx: &Context,
    s3: &S3,
    key: &str,
    upload_id: &str,
    mut result: CheckResult,
) -> CheckResult {
    match abort(ctx, s3, key, upload_id).await {
        Abort::Done(_) => result.with_evidence("abort", "aborted"),
        Abort::Refused(f) => {
            result.message.push_str(&format!(
                "; aborting the incomplete upload {upload_id} failed too ({}): its parts stay \
                 in the bucket, billed as storage, until it is aborted or a lifecycle rule \
                 removes it (parts are not objects: cleanup cannot list or delete them)",
                f.describe()
            ));
            result
                .with_evidence("abort", format!("refused: {}", f.describe()))
                .with_evidence(
                    "incomplete_upload",
                    json!({"key": key, "upload_id": upload_id}),
                )
        }
    }
}

/// Sends CreateMultipartUpload; the upload id, or the finished failing result.
async fn create(
    ctx: &Context,
    state: &mut State,
    s3: &S3,
    id: &str,
    key: &str,
) -> Result<String, CheckResult> {
    let request = format!("CreateMultipartUpload `{key}` (POST ?uploads, CRC32)");
    let sent = match s3.create_multipart(key, CONTENT_TYPE).await {
        Ok(r) => ctx.store.storage().execute(r).await,
        Err(e) => Err(e),
    };
    let answer = ctx
        .expect_success(id, Action::Put, &request, &sent, state)
        .map_err(|mut r| {
            if r.evidence.get("outcome") == Some(&json!("denied")) {
                r.remediation = format!("{CREATE_NOTE}{}", r.remediation);
            }
            r.with_evidence("step", "CreateMultipartUpload")
                .with_evidence("key", key)
        })?;
    parse_upload_id(&answer.body).map_err(|e| {
        CheckResult::new(id, Status::Error, format!("{request}: {e}")).with_evidence("key", key)
    })
}

/// `upload.multipart`.
pub async fn multipart(ctx: &Context, state: &mut State, params: &CheckParams) -> CheckResult {
    let id = "upload.multipart";
    let Cloud::S3(s3) = ctx.store.storage().cloud() else {
        return skipped(id, NOT_S3);
    };
    if state.put_failed {
        return skipped(
            id,
            "not tested: permissions.put found that writing is refused",
        );
    }
    let storage = ctx.store.storage();
    let transfer = s3.transfer();
    let size = params.object_size.max(MIN_MULTIPART_SIZE);
    let parts = size.div_ceil(MULTIPART_CHUNK) as u32;
    let seed = seed(&ctx.store.run.run_id);
    let key = reserve(ctx, "upload/multipart.bin");
    let upload_id = match create(ctx, state, s3, id, &key).await {
        Ok(u) => u,
        Err(r) => return r,
    };

    // Parts in parallel, each generated when it is sent.
    let in_flight = AtomicUsize::new(0);
    let most_in_flight = AtomicUsize::new(0);
    let sent_parts: Vec<(u32, Result<Answer, Unreachable>)> = futures::stream::iter(1..=parts)
        .map(|number| {
            let (in_flight, most, upload_id, key) = (&in_flight, &most_in_flight, &upload_id, &key);
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let offset = u64::from(number - 1) * MULTIPART_CHUNK;
                let len = MULTIPART_CHUNK.min(size - offset) as usize;
                let body = pattern(seed, offset, len);
                let url = s3.part_url(key, upload_id, number);
                let sent = match s3.upload(Method::PUT, &url, &[], body, transfer).await {
                    Ok(p) => storage.execute_with_body(p.request, p.body).await,
                    Err(e) => Err(e),
                };
                in_flight.fetch_sub(1, Ordering::SeqCst);
                (number, sent)
            }
        })
        .buffer_unordered(PARTS_IN_FLIGHT)
        .collect()
        .await;
    let most_in_flight = most_in_flight.load(Ordering::SeqCst);
    let mut completed = Vec::new();
    for (number, sent) in &sent_parts {
        let request = format!("UploadPart {number} of `{key}` ({})", transfer.name());
        match ctx.expect_success(id, Action::Put, &request, sent, state) {
            Ok(a) => completed.push(CompletedPart {
                number: *number,
                etag: header(a, "etag").unwrap_or_default(),
                crc32: header(a, "x-amz-checksum-crc32"),
            }),
            Err(r) => {
                let r = rejected_upload(r, transfer, sent)
                    .with_evidence("step", "UploadPart")
                    .with_evidence("key", key.as_str());
                return abort_after_failure(ctx, s3, &key, &upload_id, r).await;
            }
        }
    }
    completed.sort_by_key(|p| p.number);

    let request = format!("CompleteMultipartUpload `{key}` ({parts} parts)");
    let sent = match s3.complete_multipart(&key, &upload_id, &completed).await {
        Ok(r) => storage.execute(r).await,
        Err(e) => Err(e),
    };
    // S3 may answer 200 with an <Error> body once the parts are assembled.
    let sent = sent.map(|mut a| {
        if a.status.is_success() && String::from_utf8_lossy(&a.body).contains("<Error>") {
            a.status = http::StatusCode::INTERNAL_SERVER_ERROR;
        }
        a
    });
    if let Err(r) = ctx.expect_success(id, Action::Put, &request, &sent, state) {
        let r = r
            .with_evidence("step", "CompleteMultipartUpload")
            .with_evidence("key", key.as_str());
        return abort_after_failure(ctx, s3, &key, &upload_id, r).await;
    }
    ctx.store.ledger().confirm(&key);

    let figures = json!({
        "object_size": size,
        "part_size": MULTIPART_CHUNK,
        "parts": parts,
        "most_parts_in_flight": most_in_flight,
        "transfer": transfer.name(),
    });
    let read = read_back(ctx, state, s3, id, &key, seed, size).await;
    let result = match read {
        Err(r) => r,
        Ok(seen) if seen.first_difference.is_none() && seen.bytes == size => CheckResult::new(
            id,
            Status::Pass,
            format!(
                "a {} upload as boto3 sends it ({parts} parts of 8 MiB, CRC32, up to \
                 {most_in_flight} parts at once) reads back byte for byte",
                crate::report::units::bytes(size)
            ),
        )
        .with_evidence("crc32", crc32_base64(seen.crc32))
        .with_evidence("server_crc32", json!(seen.server_crc32)),
        Ok(seen) => corrupted(
            id,
            &format!("the multipart upload of `{key}`"),
            transfer,
            size,
            seen.bytes,
            seen.first_difference.unwrap_or(seen.bytes.min(size)),
            seen.framing,
        ),
    };
    result
        .with_evidence("key", key.as_str())
        .with_evidence("multipart", figures)
}

/// What reading an object back showed.
struct Seen {
    bytes: u64,
    crc32: u32,
    first_difference: Option<u64>,
    framing: bool,
    server_crc32: Option<String>,
}

/// GETs the object and compares it with the pattern as it streams in.
async fn read_back(
    ctx: &Context,
    state: &mut State,
    s3: &S3,
    id: &str,
    key: &str,
    seed: u64,
    size: u64,
) -> Result<Seen, CheckResult> {
    let request = format!("GET `{key}`");
    let response = match s3.get_with_checksum(key).await {
        Ok(r) => ctx.store.storage().fetch(r).await,
        Err(e) => Err(e),
    };
    let mut response = match response {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            let answer = Ok(Answer {
                status: r.status(),
                headers: r.headers().clone(),
                body: r.bytes().await.unwrap_or_default(),
            });
            return Err(ctx
                .expect_success(id, Action::Get, &request, &answer, state)
                .expect_err("not a success"));
        }
        Err(e) => {
            return Err(ctx.failed(id, Action::Get, &request, &Failure::Unreachable(e.0)));
        }
    };
    let server_crc32 = response
        .headers()
        .get("x-amz-checksum-crc32")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut seen = Seen {
        bytes: 0,
        crc32: 0,
        first_difference: None,
        framing: false,
        server_crc32,
    };
    let mut crc = crc32fast::Hasher::new();
    let mut start = Vec::new();
    let mut end: Vec<u8> = Vec::new();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let why = crate::provider::describe_reqwest_error(&e);
                return Err(CheckResult::new(
                    id,
                    Status::Error,
                    format!(
                        "{request}: the body broke off after {} bytes: {why}",
                        seen.bytes
                    ),
                ));
            }
        };
        crc.update(&chunk);
        if start.len() < 16 {
            start.extend_from_slice(&chunk[..chunk.len().min(16 - start.len())]);
        }
        end.extend_from_slice(&chunk[chunk.len().saturating_sub(64)..]);
        if end.len() > 64 {
            end.drain(..end.len() - 64);
        }
        if seen.first_difference.is_none() && seen.bytes < size {
            let want = pattern(
                seed,
                seen.bytes,
                chunk.len().min((size - seen.bytes) as usize),
            );
            if let Some(at) = super::context::first_difference(&want, &chunk[..want.len()]) {
                seen.first_difference = Some(seen.bytes + at as u64);
            }
        }
        seen.bytes += chunk.len() as u64;
    }
    seen.crc32 = crc.finalize();
    seen.framing = looks_like_framing(&start, &end);
    Ok(seen)
}

/// Status and error code, without the body.
fn short(failure: &Failure) -> String {
    match failure {
        Failure::Unexpected { status, code, .. } | Failure::NotFound { status, code } => {
            format!(
                "{status}{}",
                code.as_ref().map(|c| format!(" {c}")).unwrap_or_default()
            )
        }
        other => other.describe(),
    }
}

fn header(answer: &Answer, name: &str) -> Option<String> {
    answer
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `upload.abort`: start a multipart upload (no parts) and abort it.
pub async fn abort_check(ctx: &Context, state: &mut State) -> CheckResult {
    let id = "upload.abort";
    let Cloud::S3(s3) = ctx.store.storage().cloud() else {
        return skipped(id, NOT_S3);
    };
    if state.put_failed {
        return skipped(
            id,
            "not tested: permissions.put found that writing is refused",
        );
    }
    // Never becomes an object; it is in the ledger all the same, as every key this run names.
    let key = reserve(ctx, "upload/abort.bin");
    let upload_id = match create(ctx, state, s3, id, &key).await {
        Ok(u) => u,
        Err(r) if r.evidence.get("outcome") == Some(&json!("denied")) => {
            return skipped(
                id,
                format!(
                    "not tested: starting a multipart upload was refused ({}); see \
                     upload.multipart",
                    r.message
                ),
            )
            .with_evidence("key", key);
        }
        Err(r) => return r,
    };
    let request = format!("AbortMultipartUpload `{key}` (DELETE ?uploadId={upload_id})");
    let left = json!({"key": key, "upload_id": upload_id, "parts": 0});
    let lifecycle = "or add a lifecycle rule that removes incomplete multipart uploads \
         (AbortIncompleteMultipartUpload, e.g. DaysAfterInitiation 1) to the bucket";
    match abort(ctx, s3, &key, &upload_id).await {
        Abort::Done(status) => CheckResult::new(
            id,
            Status::Pass,
            "aborting a multipart upload works: a failed large upload leaves no parts behind",
        )
        .with_evidence("request", request)
        .with_evidence("status", status),
        Abort::Refused(
            failure @ (Failure::Denied { .. }
            | Failure::Diagnosed {
                cause: Cause::PolicyDenied { .. },
                ..
            }),
        ) => CheckResult::new(
            id,
            Status::Warn,
            format!(
                "{request}: {}. A large upload that fails midway leaves its parts in the bucket, \
                 billed as storage and invisible to listings. The upload lsprobe started stays \
                 incomplete (no parts, nothing billed); it is not an object, so cleanup cannot \
                 delete it",
                failure.describe()
            ),
        )
        .with_remediation(format!(
            "Grant s3:AbortMultipartUpload on arn:aws:s3:::{}/* (the guide's policy does not \
             have it: add it to the statement with s3:PutObject, s3:GetObject and \
             s3:DeleteObject), {lifecycle}.",
            ctx.target.bucket.value
        ))
        .with_evidence("request", request)
        .with_evidence("outcome", failure.kind())
        .with_evidence("incomplete_upload", left),
        Abort::Refused(failure @ (Failure::Unexpected { .. } | Failure::NotFound { .. })) => {
            CheckResult::new(
                id,
                Status::Warn,
                format!(
                    "{request}: answered {}: the server does not seem to support \
                     AbortMultipartUpload; failed large uploads would leave their parts behind. \
                     The upload lsprobe started stays incomplete (no parts); it is not an object, \
                     so cleanup cannot delete it",
                    short(&failure)
                ),
            )
            .with_remediation(format!(
                "Use an S3-compatible server that implements AbortMultipartUpload, {lifecycle}."
            ))
            .with_evidence("request", request)
            .with_evidence("outcome", failure.kind())
            .with_evidence("incomplete_upload", left)
        }
        Abort::Refused(failure) => ctx
            .failed(id, Action::Put, &request, &failure)
            .with_evidence("incomplete_upload", left),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_ranges_join_up() {
        let whole = pattern(7, 0, 1000);
        let mut joined = Vec::new();
        for (from, to) in [(0, 3), (3, 8), (8, 9), (9, 517), (517, 1000)] {
            joined.extend_from_slice(&pattern(7, from, (to - from) as usize));
        }
        assert_eq!(&whole[..], &joined[..]);
        assert_ne!(pattern(8, 0, 64), pattern(7, 0, 64));
        // Parts differ from each other (a server that repeats a part is caught).
        assert_ne!(pattern(7, 0, 64), pattern(7, MULTIPART_CHUNK, 64));
    }

    #[test]
    fn sizes_are_over_the_threshold() {
        const { assert!(MIN_MULTIPART_SIZE > MULTIPART_CHUNK) };
        assert_eq!(MIN_MULTIPART_SIZE.div_ceil(MULTIPART_CHUNK), 2);
        assert_eq!((17 * 1024 * 1024u64).div_ceil(MULTIPART_CHUNK), 3);
    }
}
