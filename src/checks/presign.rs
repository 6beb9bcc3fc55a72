//! `presign.get` / `presign.put`: the URLs Label Studio hands out, made as it makes them and
//! fetched without credentials, as nginx does (no `Origin`, the browser's `Range` forwarded) and
//! as a browser does (with `Origin`). Keys hold spaces, Unicode and slashes, so a URL encoded
//! twice shows up as a 404.
use bytes::Bytes;
use http::Method;
use serde_json::json;

use super::context::{Context, State, Written, content, first_difference};
use super::{CheckResult, Status};
use crate::config::{Provider, Target};
use crate::provider::outcome::error_code;
use crate::provider::presign::{PresignError, Presigned, Scheme, redact};
use crate::provider::{Answer, Unreachable, classify};

/// The media object's name under the run prefix: spaces, Unicode and slashes, as Label Studio's
/// uploads may have.
pub const MEDIA_NAME: &str = "presign/a b/ü ñ/clip 1.bin";
const UPLOAD_NAME: &str = "presign/upload ü/x y.bin";
const CONTENT_TYPE: &str = "application/octet-stream";
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

/// The `<Message>` (and Azure's `<AuthenticationErrorDetail>`) or JSON `error.message` of an
/// error body, shortened.
pub fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].trim().to_string())
    };
    let json = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_string));
    let message = [tag("Message"), tag("AuthenticationErrorDetail"), json]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    // Azure's detail quotes its string-to-sign: keep the first sentence only.
    message
        .split('\n')
        .next()
        .unwrap_or("")
        .chars()
        .take(240)
        .collect()
}

/// What a refused presigned request means and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// `expired`, `signature_mismatch`, `sigv2_refused`, `denied`, `not_found`, `other`.
    pub kind: &'static str,
    /// One line for a person.
    pub message: String,
    /// The fix.
    pub remediation: String,
}

/// Whether the URL's own expiry (`se=`, `Expires=`, `X-Amz-Date`/`X-Goog-Date` plus
/// `...-Expires`) has passed: servers do not always say why they refused (Azurite does not).
pub fn expired_by_url(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let q: std::collections::HashMap<String, String> = parsed
        .query_pairs()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect();
    let now = chrono::Utc::now();
    if let Some(se) = q.get("se") {
        return chrono::DateTime::parse_from_rfc3339(se).is_ok_and(|t| t < now);
    }
    if let Some(e) = q.get("expires").and_then(|e| e.parse::<i64>().ok()) {
        return e < now.timestamp();
    }
    for (date, expires) in [
        ("x-amz-date", "x-amz-expires"),
        ("x-goog-date", "x-goog-expires"),
    ] {
        if let (Some(d), Some(e)) = (
            q.get(date),
            q.get(expires).and_then(|e| e.parse::<i64>().ok()),
        ) {
            return chrono::NaiveDateTime::parse_from_str(d, "%Y%m%dT%H%M%SZ")
                .is_ok_and(|t| t.and_utc() + chrono::Duration::seconds(e) < now);
        }
    }
    false
}

/// Judges a non-2xx answer to the presigned URL `presigned`.
pub fn rejection(target: &Target, presigned: &Presigned, answer: &Answer) -> Rejection {
    let scheme = presigned.scheme;
    let code = error_code(target.provider(), answer);
    let detail = error_message(&answer.body);
    let lower = format!("{} {}", code.as_deref().unwrap_or(""), detail).to_ascii_lowercase();
    let status = answer.status.as_u16();
    let said = format!(
        "{status}{}{}",
        code.as_ref().map(|c| format!(" {c}")).unwrap_or_default(),
        if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        }
    );
    let expiry_var = match target.provider() {
        Provider::S3 => "STORAGE_AWS_X_AMZ_EXPIRES",
        Provider::Gcs => "STORAGE_GCS_EXPIRATION_SECS",
        Provider::Azure => "STORAGE_AZURE_URL_EXPIRATION_SECS",
    };
    let expired = expired_by_url(&presigned.url)
        || lower.contains("expired")
        || lower.contains("signed expiry")
        || lower.contains("time frame")
        || lower.contains("expiry time");
    let mismatch = lower.contains("signaturedoesnotmatch")
        || lower.contains("signature did not match")
        || lower.contains("signature")
        || lower.contains("authenticationfailed");
    if status == 404 {
        return Rejection {
            kind: "not_found",
            message: format!("the object exists, but its presigned URL answered {said}"),
            remediation: "The URL names a different key than the one written: the key is encoded \
                 twice (a space as %2520, `/` as %252F) or the endpoint's addressing (path vs \
                 virtual-host style) differs from the bucket's; check STORAGE_AWS_ENDPOINT_URL \
                 and any proxy that rewrites paths."
                .into(),
        };
    }
    if scheme == Scheme::S3SigV2 && !expired && matches!(status, 400 | 401 | 403) {
        return Rejection {
            kind: "sigv2_refused",
            message: format!(
                "the server refused the SigV2 presigned URL Label Studio makes when \
                 STORAGE_AWS_S3_SIGNATURE_VERSION is unset ({said})"
            ),
            remediation: "Set STORAGE_AWS_S3_SIGNATURE_VERSION=s3v4 in Label Studio's \
                 environment: many AWS regions and S3-compatible servers accept only SigV4 \
                 presigned URLs."
                .into(),
        };
    }
    if expired {
        return Rejection {
            kind: "expired",
            message: format!("the presigned URL was refused as expired ({said})"),
            remediation: format!(
                "The URL expired before it was used: raise {expiry_var} ({} s now) and check \
                 that the clocks of Label Studio and the storage agree.",
                target.url_expiry_secs.value
            ),
        };
    }
    if mismatch {
        let why = match target.provider() {
            Provider::Azure => {
                "the SAS is signed with STORAGE_AZURE_ACCOUNT_KEY and the account \
                 does not accept that key (rotated, or another account's key)"
            }
            Provider::S3 => {
                "the signature does not match what the server computes: a proxy \
                 rewrites Host or the path, or the endpoint is not the one the URL was signed for"
            }
            Provider::Gcs => {
                "the signature does not match: the signing service account's key is \
                 revoked, or a proxy rewrites Host or the path"
            }
        };
        return Rejection {
            kind: "signature_mismatch",
            message: format!("the presigned URL's signature was rejected ({said})"),
            remediation: format!("Fix the signing: {why}."),
        };
    }
    let denied = status == 403;
    Rejection {
        kind: if denied { "denied" } else { "other" },
        message: format!("the presigned URL was refused ({said})"),
        remediation: "A presigned URL carries the signer's permissions: check that the \
             credentials Label Studio uses may read (GET) and write (PUT) objects, and that no \
             bucket policy, firewall or private endpoint blocks requests without credentials \
             from the browser's or nginx's network."
            .into(),
    }
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

fn judged(ctx: &Context, id: &str, p: &Presigned, how: &str, answer: &Answer) -> CheckResult {
    let r = rejection(&ctx.target, p, answer);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_read_from_the_url() {
        let past = "2020-01-01T00%3A00%3A00Z";
        assert!(expired_by_url(&format!(
            "http://h/c/k?sv=1&se={past}&sig=x"
        )));
        assert!(!expired_by_url(
            "http://h/c/k?sv=1&se=2999-01-01T00%3A00%3A00Z&sig=x"
        ));
        assert!(expired_by_url(
            "http://h/b/k?AWSAccessKeyId=a&Signature=s&Expires=1000"
        ));
        assert!(expired_by_url(
            "http://h/b/k?X-Amz-Date=20200101T000000Z&X-Amz-Expires=60&X-Amz-Signature=s"
        ));
        assert!(!expired_by_url("http://h/b/k"));
        assert_eq!(
            error_message(b"<Error><Code>X</Code><Message>Request has expired</Message></Error>"),
            "Request has expired"
        );
    }
}
