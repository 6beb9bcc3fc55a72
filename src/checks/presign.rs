//! `presign.get` / `presign.put`: the URLs Label Studio hands out, made as it makes them and
//! fetched without credentials, as nginx does (no `Origin`, the browser's `Range` forwarded) and
//! as a browser does (with `Origin`). Keys hold spaces, Unicode and slashes, so a URL encoded
//! twice shows up as a 404.
use bytes::Bytes;
use http::Method;
use serde_json::json;

use super::context::{Context, State, Written, content, first_difference};
use super::{CheckResult, Status};
use crate::provider::presign::{PresignError, Presigned, Scheme, redact};
use crate::provider::{Answer, Unreachable, classify};

/// The media object's name under the run prefix: spaces, Unicode and slashes, as Label Studio's
/// uploads may have.
pub const MEDIA_NAME: &str = "presign/a b/ü ñ/clip 1.bin";
const UPLOAD_NAME: &str = "presign/upload ü/x y.bin";
const CONTENT_TYPE: &str = "application/octet-stream";
pub use super::presign_refusal::{Rejection, error_message, expired_by_url, rejection};

/// The byte range nginx forwards in the checks (a media player's request).
pub const RANGE: (u64, u64) = (100, 1123);

/// Writes the media object once per run (credentialed, under the run prefix).
pub async fn media(ctx: &Context, state: &mut State, id: &str) -> Result<Written, CheckResult> {
    if let Some(m) = &state.media {
        return Ok(m.clone());
    }
    let body = content(2048, &format!("{}-media", ctx.store.run.run_id));
    let (key, sent) = ctx.store.put(MEDIA_NAME, body.clone(), CONTENT_TYPE).await;
    if let Err(failure) = classify(ctx.target.provider(), &sent) {
        return Err(CheckResult::new(
            id,
            Status::Skip,
            format!(
                "not tested: writing the object to fetch failed ({}); see permissions.put",
                failure.describe()
            ),
        )
        .with_evidence("key", key));
    }
    let written = Written { key, body };
    state.media = Some(written.clone());
    Ok(written)
}

/// Fetches a presigned URL without credentials.
pub async fn fetch(
    http: &reqwest::Client,
    presigned: &Presigned,
    method: Method,
    body: Bytes,
    origin: Option<&str>,
    range: Option<(u64, u64)>,
) -> Result<Answer, Unreachable> {
    let mut request = http.request(method, &presigned.url);
    for (k, v) in &presigned.headers {
        request = request.header(k, v);
    }
    if let Some(o) = origin {
        request = request.header("origin", o);
    }
    if let Some((a, b)) = range {
        request = request.header("range", format!("bytes={a}-{b}"));
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| Unreachable(redact(&crate::provider::describe_reqwest_error(&e))))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| Unreachable(redact(&crate::provider::describe_reqwest_error(&e))))?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Makes a presigned URL for a check, or the check's result when none can be made.
pub async fn presign_for(
    ctx: &Context,
    id: &str,
    method: Method,
    key: &str,
    content_type: Option<&str>,
) -> Result<Presigned, CheckResult> {
    let expiry = ctx.target.url_expiry_secs.value;
    match ctx
        .store
        .storage()
        .presign(&ctx.target, method, key, content_type, expiry)
        .await
    {
        Ok(p) => Ok(p),
        Err(PresignError::Unsupported(why)) => Err(CheckResult::new(
            id,
            Status::Skip,
            format!("not tested: {why}"),
        )),
        Err(e @ PresignError::SignBlobRefused { .. }) => {
            let PresignError::SignBlobRefused {
                status,
                code,
                email,
                ..
            } = &e
            else {
                unreachable!()
            };
            Err(CheckResult::new(
                id,
                Status::Fail,
                format!("Label Studio could not sign media URLs: {e}"),
            )
            .with_remediation(format!(
                "Without a private key Label Studio signs GCS URLs through the IAM signBlob API, \
                 which needs iam.serviceAccounts.signBlob: grant {email} the role \
                 roles/iam.serviceAccountTokenCreator on itself (`gcloud iam service-accounts \
                 add-iam-policy-binding {email} --member serviceAccount:{email} --role \
                 roles/iam.serviceAccountTokenCreator`); with ACCESS_TOKEN_SCOPE_INSUFFICIENT also \
                 give the node or pod the cloud-platform scope."
            ))
            .with_evidence("scheme", Scheme::GcsV4SignBlob.name())
            .with_evidence("status", *status)
            .with_evidence("code", json!(code)))
        }
        Err(PresignError::Failed(why)) => Err(CheckResult::new(
            id,
            Status::Error,
            format!("could not make a presigned URL: {why}"),
        )),
    }
}

/// `: <the server's error message>` for messages, or nothing.
pub fn said(body: &[u8]) -> String {
    let message = error_message(body);
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// The result for a 5xx answer: the server failed, which is not a verdict on permissions,
/// signatures or CORS rules (`error`, not `fail`).
pub fn server_failed(id: &str, how: &str, answer: &Answer) -> CheckResult {
    CheckResult::new(
        id,
        Status::Error,
        format!(
            "{how}: the storage server failed ({}{}); a server error says nothing about \
             permissions, signatures or CORS rules",
            answer.status,
            said(&answer.body)
        ),
    )
    .with_remediation(
        "Look at the storage server's logs: it failed on a request without credentials (a \
         presigned URL or a CORS preflight). Run again once it answers; if it is an emulator, it \
         may not support this request.",
    )
    .with_evidence("outcome", "server_error")
    .with_evidence("status", answer.status.as_u16())
}

fn judged(ctx: &Context, id: &str, p: &Presigned, how: &str, answer: &Answer) -> CheckResult {
    if answer.status.is_server_error() {
        return server_failed(id, how, answer);
    }
    let action = if id == "presign.put" {
        super::remedy::Action::Put
    } else {
        super::remedy::Action::Get
    };
    let r = super::presign_refusal::rejection_for(&ctx.target, p, action, answer);
    CheckResult::new(id, Status::Fail, format!("{how}: {}", r.message))
        .with_remediation(r.remediation)
        .with_evidence("outcome", r.kind)
        .with_evidence("status", answer.status.as_u16())
}

/// `presign.get`.
pub async fn get(ctx: &Context, state: &mut State) -> CheckResult {
    let id = "presign.get";
    let written = match media(ctx, state, id).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let p = match presign_for(ctx, id, Method::GET, &written.key, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let http = ctx.store.storage().http();
    let evidence = |r: CheckResult| {
        r.with_evidence("scheme", p.scheme.name())
            .with_evidence("url", redact(&p.url))
            .with_evidence("key", written.key.as_str())
    };
    // As nginx: no Origin, the browser's Range forwarded.
    let nginx = match fetch(http, &p, Method::GET, Bytes::new(), None, Some(RANGE)).await {
        Ok(a) => a,
        Err(e) => return evidence(CheckResult::new(id, Status::Error, e.to_string())),
    };
    if !nginx.status.is_success() {
        return evidence(judged(ctx, id, &p, "fetched as nginx does", &nginx));
    }
    let (a, b) = (RANGE.0 as usize, RANGE.1 as usize + 1);
    let range_ok = nginx.status.as_u16() == 206 && nginx.body[..] == written.body[a..b];
    let full_ok = nginx.status.as_u16() == 200 && nginx.body == written.body;
    if !range_ok && !full_ok {
        return evidence(
            CheckResult::new(
                id,
                Status::Fail,
                format!(
                    "fetched as nginx does with Range bytes={}-{}: answered {} with {} bytes \
                     that are not the bytes written",
                    RANGE.0,
                    RANGE.1,
                    nginx.status,
                    nginx.body.len()
                ),
            )
            .with_evidence("nginx_status", nginx.status.as_u16()),
        );
    }
    // As a browser: with Origin, the whole object.
    let origin = ctx.target.origins.first().map(|o| o.value.as_str());
    let browser = match fetch(http, &p, Method::GET, Bytes::new(), origin, None).await {
        Ok(a) => a,
        Err(e) => return evidence(CheckResult::new(id, Status::Error, e.to_string())),
    };
    if !browser.status.is_success() {
        return evidence(judged(ctx, id, &p, "fetched as a browser does", &browser));
    }
    if let Some(at) = first_difference(&written.body, &browser.body) {
        return evidence(CheckResult::new(
            id,
            Status::Fail,
            format!(
                "fetched as a browser does: the bytes differ from those written at byte {at} \
                 (wrote {}, read {})",
                written.body.len(),
                browser.body.len()
            ),
        ));
    }
    let status = if range_ok { Status::Pass } else { Status::Warn };
    let message = if range_ok {
        format!(
            "the {} URL returns the bytes written, to nginx (Range: 206) and to a browser",
            p.scheme.name()
        )
    } else {
        "the presigned URL works, but the server ignored the Range header (200 with the whole \
         object): audio and video seeking will download everything"
            .to_string()
    };
    evidence(CheckResult::new(id, status, message))
        .with_evidence("nginx_status", nginx.status.as_u16())
        .with_evidence("browser_status", browser.status.as_u16())
}

/// `presign.put`.
pub async fn put(ctx: &Context, _state: &mut State) -> CheckResult {
    let id = "presign.put";
    let key = ctx.store.run.key(UPLOAD_NAME);
    let body = content(1024, &format!("{}-upload", ctx.store.run.run_id));
    let p = match presign_for(ctx, id, Method::PUT, &key, Some(CONTENT_TYPE)).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let evidence = |r: CheckResult| {
        r.with_evidence("scheme", p.scheme.name())
            .with_evidence("url", redact(&p.url))
            .with_evidence("key", key.as_str())
    };
    // Recorded before sending: cleanup deletes it whatever happens next.
    ctx.store.ledger().record(&key);
    let http = ctx.store.storage().http();
    let origin = ctx.target.origins.first().map(|o| o.value.as_str());
    let sent = match fetch(http, &p, Method::PUT, body.clone(), origin, None).await {
        Ok(a) => a,
        Err(e) => return evidence(CheckResult::new(id, Status::Error, e.to_string())),
    };
    if !sent.status.is_success() {
        return evidence(judged(ctx, id, &p, "PUT through the presigned URL", &sent));
    }
    ctx.store.ledger().confirm(&key);
    let read = match ctx
        .store
        .send_owned(crate::provider::Op::Get { key: key.clone() })
        .await
    {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return evidence(CheckResult::new(id, Status::Error, e.to_string())),
        Err(refused) => return evidence(CheckResult::new(id, Status::Error, refused.to_string())),
    };
    if !read.status.is_success() {
        return evidence(CheckResult::new(
            id,
            Status::Fail,
            format!(
                "the presigned PUT answered {}, but a credentialed GET of the key answered {}: \
                 the upload landed under another name (double-encoded key?)",
                sent.status, read.status
            ),
        ));
    }
    match first_difference(&body, &read.body) {
        None => evidence(CheckResult::new(
            id,
            Status::Pass,
            format!(
                "an upload through the {} URL stores the bytes a credentialed GET reads back",
                p.scheme.name()
            ),
        ))
        .with_evidence("put_status", sent.status.as_u16())
        .with_evidence("bytes", json!(body.len())),
        Some(at) => evidence(CheckResult::new(
            id,
            Status::Fail,
            format!(
                "the bytes stored through the presigned URL differ from those sent at byte {at} \
                 (sent {}, read {})",
                body.len(),
                read.body.len()
            ),
        )),
    }
}
