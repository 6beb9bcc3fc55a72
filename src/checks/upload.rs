//! `upload.checksum_roundtrip`: one upload exactly as Label Studio's client sends it, read back
//! and compared byte for byte.
//!
//! - S3: boto3's default flexible checksums (CRC32): over plain HTTP a signed body with an
//!   `x-amz-checksum-crc32` header; over HTTPS an `aws-chunked` body with
//!   `STREAMING-UNSIGNED-PAYLOAD-TRAILER` and a trailing CRC32. A server that does not
//!   understand the trailer can store the chunk framing as the object and still answer 200:
//!   Label Studio then reports success and the file is corrupt.
//! - Azure: the create-only upload of Label Studio's Azure client (HEAD, expecting 404; PUT with
//!   `If-None-Match: *`), read back with its ranged GET; then a second create-only PUT to the
//!   same name, which the service must refuse (409 or 412). Its evidence is under `create_only`.
//! - GCS: skipped (Label Studio's GCS client sends plain uploads; `permissions.put` covers them).
use bytes::Bytes;
use http::Method;
use serde_json::json;

use super::context::{Context, State, content, first_difference, skipped};
use super::remedy::Action;
use super::suite::CheckParams;
use super::{CheckResult, Status};
use crate::provider::azure::Azure;
use crate::provider::s3::S3;
use crate::provider::s3_upload::{Transfer, looks_like_framing};
use crate::provider::{Answer, Cloud, Failure, Unreachable, build, classify};

const ID: &str = "upload.checksum_roundtrip";

/// The content type of the test uploads (Label Studio sends the upload's own).
pub const CONTENT_TYPE: &str = "application/octet-stream";

/// The two ways out of a server that mishandles boto3's aws-chunked uploads.
pub const CHUNKED_FIXES: &str = "Either set AWS_REQUEST_CHECKSUM_CALCULATION=when_required in \
     Label Studio's environment (boto3 then sends plain bodies without the aws-chunked \
     trailer), or upgrade the S3-compatible server to a version that supports aws-chunked \
     uploads with trailing checksums (x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER).";

/// Records a key of this run in the ledger before anything is sent, and returns it.
pub fn reserve(ctx: &Context, name: &str) -> String {
    let key = ctx.store.run.key(name);
    ctx.store.ledger().record(&key);
    key
}

/// `upload.checksum_roundtrip`.
pub async fn checksum_roundtrip(
    ctx: &Context,
    state: &mut State,
    params: &CheckParams,
) -> CheckResult {
    if state.put_failed {
        return skipped(
            ID,
            "not tested: permissions.put found that writing is refused",
        );
    }
    match ctx.store.storage().cloud() {
        Cloud::S3(s3) => s3_roundtrip(ctx, state, s3, params).await,
        Cloud::Azure(azure) => azure_create_only(ctx, state, azure, params).await,
        Cloud::Gcs(_) => skipped(
            ID,
            "not applicable: Label Studio's GCS client sends plain uploads (permissions.put \
             covers them)",
        ),
    }
}

async fn s3_roundtrip(
    ctx: &Context,
    state: &mut State,
    s3: &S3,
    params: &CheckParams,
) -> CheckResult {
    let storage = ctx.store.storage();
    let transfer = s3.transfer();
    let key = reserve(ctx, "upload/checksum.bin");
    let body = content(params.object_size, &format!("{}-crc", ctx.store.run.run_id));
    let crc = crate::provider::s3_upload::crc32_base64(crc32fast::hash(&body));
    let request = format!(
        "PUT `{key}` ({} bytes, {})",
        body.len(),
        match transfer {
            Transfer::ChecksumHeader => "x-amz-checksum-crc32 header",
            Transfer::AwsChunkedTrailer => "aws-chunked with trailing x-amz-checksum-crc32",
        }
    );
    let mut headers = vec![("content-type", CONTENT_TYPE.to_string())];
    headers.extend(s3.put_headers().iter().cloned());
    let sent = match s3
        .upload(
            Method::PUT,
            &s3.object_url(&key),
            &headers,
            body.clone(),
            transfer,
        )
        .await
    {
        Ok(p) => storage.execute_with_body(p.request, p.body).await,
        Err(e) => Err(e),
    };
    let evidence = |r: CheckResult| {
        r.with_evidence("key", key.as_str())
            .with_evidence("transfer", transfer.name())
            .with_evidence("crc32", crc.as_str())
    };
    if let Err(r) = ctx.expect_success(ID, Action::Put, &request, &sent, state) {
        return evidence(rejected_upload(r, transfer, &sent));
    }
    ctx.store.ledger().confirm(&key);

    let get = format!("GET `{key}` (x-amz-checksum-mode: ENABLED)");
    let read = match s3.get_with_checksum(&key).await {
        Ok(r) => storage.execute(r).await,
        Err(e) => Err(e),
    };
    let answer = match ctx.expect_success(ID, Action::Get, &get, &read, state) {
        Ok(a) => a,
        Err(r) => return evidence(r),
    };
    let server_crc = header(answer, "x-amz-checksum-crc32");
    match first_difference(&body, &answer.body) {
        None => evidence(CheckResult::new(
            ID,
            Status::Pass,
            format!(
                "an upload as Label Studio sends it ({}) reads back byte for byte",
                transfer.describe()
            ),
        ))
        .with_evidence("request", request)
        .with_evidence("bytes", body.len())
        .with_evidence("server_crc32", json!(server_crc)),
        Some(at) => {
            let framing = looks_like_framing(
                &answer.body[..answer.body.len().min(16)],
                &answer.body[answer.body.len().saturating_sub(64)..],
            );
            evidence(corrupted(
                ID,
                &request,
                transfer,
                body.len() as u64,
                answer.body.len() as u64,
                at as u64,
                framing,
            ))
            .with_evidence("server_crc32", json!(server_crc))
        }
    }
}

/// The failing result for an object that reads back different from what was uploaded.
pub fn corrupted(
    id: &str,
    request: &str,
    transfer: Transfer,
    written: u64,
    read: u64,
    at: u64,
    framing: bool,
) -> CheckResult {
    let cause = match (transfer, framing) {
        (Transfer::AwsChunkedTrailer, true) => {
            "the server stored the aws-chunked framing (chunk sizes and the trailing \
             x-amz-checksum-crc32) as the object's content: it mishandles aws-chunked/trailer \
             uploads, and Label Studio's uploads over HTTPS would be silently corrupted"
        }
        (Transfer::AwsChunkedTrailer, false) => {
            "the server answered success but stored different bytes: it mishandles \
             aws-chunked/trailer uploads (boto3's default over HTTPS), and Label Studio's \
             uploads would be silently corrupted"
        }
        (Transfer::ChecksumHeader, _) => {
            "the server answered success but stored different bytes: Label Studio's uploads \
             would be silently corrupted"
        }
    };
    let remediation = match transfer {
        Transfer::AwsChunkedTrailer => CHUNKED_FIXES.to_string(),
        Transfer::ChecksumHeader => "Check that nothing between Label Studio and the bucket \
             (a proxy, a gateway) alters request bodies, and that the S3-compatible server \
             stores what it is sent; upgrade it if it does not."
            .to_string(),
    };
    CheckResult::new(
        id,
        Status::Fail,
        format!(
            "{request} was accepted, but reading it back gave {read} bytes instead of \
             {written} (first difference at byte {at}): {cause}"
        ),
    )
    .with_remediation(remediation)
    .with_evidence("request", request)
    .with_evidence("bytes_written", written)
    .with_evidence("bytes_read", read)
    .with_evidence("first_difference", at)
    .with_evidence("stored_framing", framing)
}

/// An upload the server refused: when it was aws-chunked and the answer is not a permission
/// or credential problem, the chunked encoding itself is the likely cause.
pub fn rejected_upload(
    mut result: CheckResult,
    transfer: Transfer,
    sent: &Result<Answer, Unreachable>,
) -> CheckResult {
    if transfer == Transfer::AwsChunkedTrailer
        && let Err(Failure::Unexpected { .. } | Failure::NotFound { .. }) =
            classify(crate::config::Provider::S3, sent)
    {
        result.status = Status::Fail;
        result.message.push_str(
            ": the server refuses the aws-chunked upload with a trailing checksum that boto3 \
             sends over HTTPS, so Label Studio's uploads would fail",
        );
        result.remediation = CHUNKED_FIXES.to_string();
    }
    result
}

fn header(answer: &Answer, name: &str) -> Option<String> {
    answer
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Azure: HEAD (404 expected), PUT with `If-None-Match: *`, ranged GET, compare; then the same
/// create-only PUT again, which must be refused.
async fn azure_create_only(
    ctx: &Context,
    state: &mut State,
    azure: &Azure,
    params: &CheckParams,
) -> CheckResult {
    let storage = ctx.store.storage();
    let key = reserve(ctx, "upload/create-only.bin");
    let body = content(params.object_size, &format!("{}-az", ctx.store.run.run_id));
    let url = azure.object_url(&key);
    let send = |method: Method, url: String, headers: Vec<(&'static str, String)>, b: Bytes| async move {
        let mut r = build(method, &url, &headers, b);
        azure.sign(&mut r)?;
        storage.execute(r).await
    };
    let mut create_only = serde_json::Map::new();
    let with = |r: CheckResult, c: &serde_json::Map<String, serde_json::Value>| {
        r.with_evidence("key", key.as_str())
            .with_evidence("create_only", serde_json::Value::Object(c.clone()))
    };

    // 1. The existence check every Azure save makes first.
    let head = format!("HEAD `{key}` (existence check before the upload)");
    let sent = send(Method::HEAD, url.clone(), vec![], Bytes::new()).await;
    match classify(ctx.target.provider(), &sent) {
        Err(Failure::NotFound { status, .. }) => {
            create_only.insert("head_before".into(), status.into());
        }
        Ok(()) => {
            let r = CheckResult::new(
                ID,
                Status::Error,
                format!("{head} found an object under a new unique name"),
            );
            return with(r, &create_only);
        }
        Err(_) => {
            return match ctx.expect_success(ID, Action::Head, &head, &sent, state) {
                Err(r) => with(r, &create_only),
                Ok(_) => unreachable!("classified as a failure"),
            };
        }
    }

    // 2. The create-only PUT.
    let put_headers = |len: usize| {
        vec![
            ("x-ms-blob-type", "BlockBlob".to_string()),
            ("x-ms-blob-content-type", CONTENT_TYPE.to_string()),
            ("if-none-match", "*".to_string()),
            ("content-type", CONTENT_TYPE.to_string()),
            ("content-length", len.to_string()),
        ]
    };
    let put_url = format!("{url}?timeout=20");
    let put = format!(
        "PUT `{key}` ({} bytes, If-None-Match: *, x-ms-blob-type: BlockBlob)",
        body.len()
    );
    let sent = send(
        Method::PUT,
        put_url.clone(),
        put_headers(body.len()),
        body.clone(),
    )
    .await;
    let answer = match ctx.expect_success(ID, Action::Put, &put, &sent, state) {
        Ok(a) => a,
        Err(r) => return with(r, &create_only),
    };
    ctx.store.ledger().confirm(&key);
    create_only.insert("put".into(), answer.status.as_u16().into());

    // 3. Read back as Label Studio does (a ranged GET of up to 32 MiB).
    let get = format!("GET `{key}` (x-ms-range: bytes=0-33554431)");
    let sent = send(
        Method::GET,
        url.clone(),
        vec![("x-ms-range", "bytes=0-33554431".to_string())],
        Bytes::new(),
    )
    .await;
    let answer = match ctx.expect_success(ID, Action::Get, &get, &sent, state) {
        Ok(a) => a,
        Err(r) => return with(r, &create_only),
    };
    if let Some(at) = first_difference(&body, &answer.body) {
        let r = corrupted(
            ID,
            &put,
            Transfer::ChecksumHeader,
            body.len() as u64,
            answer.body.len() as u64,
            at as u64,
            false,
        );
        return with(r, &create_only);
    }

    // 4. The same create-only PUT again: the service must refuse to overwrite.
    let again = format!("PUT `{key}` again with If-None-Match: *");
    let other = content(body.len() as u64, "overwrite");
    let sent = send(Method::PUT, put_url, put_headers(other.len()), other).await;
    let result = match &sent {
        Ok(a) if matches!(a.status.as_u16(), 409 | 412) => {
            create_only.insert("put_again".into(), a.status.as_u16().into());
            if let Some(code) = header(a, "x-ms-error-code") {
                create_only.insert("put_again_code".into(), code.into());
            }
            CheckResult::new(
                ID,
                Status::Pass,
                format!(
                    "a create-only upload as Label Studio makes it (HEAD 404, PUT If-None-Match: \
                     *) reads back byte for byte, and a second create-only PUT to the same name \
                     is refused ({})",
                    a.status
                ),
            )
        }
        Ok(a) if a.status.is_success() => {
            create_only.insert("put_again".into(), a.status.as_u16().into());
            CheckResult::new(
                ID,
                Status::Fail,
                format!(
                    "{again} was accepted ({}): the service ignores If-None-Match: *, so Label \
                     Studio's create-only saves can overwrite an existing file",
                    a.status
                ),
            )
            .with_remediation(
                "Use a storage service that honours conditional headers (If-None-Match: *) on \
                 Put Blob, as Azure Blob Storage does; check any proxy or gateway in front of \
                 it for dropped headers.",
            )
        }
        _ => {
            let failure = classify(ctx.target.provider(), &sent)
                .err()
                .map(|f| f.describe())
                .unwrap_or_default();
            CheckResult::new(
                ID,
                Status::Error,
                format!("{again}: expected 409 or 412, got {failure}"),
            )
        }
    };
    with(result.with_evidence("request", put), &create_only)
}
