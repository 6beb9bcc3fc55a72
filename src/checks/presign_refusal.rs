//! What a refused presigned URL means: expired, signature mismatch, SigV2 not accepted (the fix
//! is `STORAGE_AWS_S3_SIGNATURE_VERSION=s3v4`), a double-encoded key (404), or denied.
use super::remedy::Action;
use crate::config::{Provider, Target};
use crate::provider::Answer;
use crate::provider::answers::{self, Cause};
use crate::provider::outcome::error_code;
use crate::provider::presign::{Presigned, Scheme};

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
    /// `expired`, `signature_mismatch`, `sigv2_refused`, `denied`, `not_found`, `other`, or the
    /// kind of a cause the cloud named (`wrong_region`, `kms_denied`, ...).
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

/// Judges a non-2xx answer to the presigned GET URL `presigned`.
pub fn rejection(target: &Target, presigned: &Presigned, answer: &Answer) -> Rejection {
    rejection_for(target, presigned, Action::Get, answer)
}

/// Judges a non-2xx answer to the presigned URL `presigned`, made for `action` (get or put).
pub fn rejection_for(
    target: &Target,
    presigned: &Presigned,
    action: Action,
    answer: &Answer,
) -> Rejection {
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
    // A cause the cloud names (a URL signed for the wrong region, the clock, a KMS key, ...).
    if status != 404
        && let Some(cause) = answers::diagnose(target.provider(), answer, code.as_deref())
    {
        let message = match &cause {
            Cause::WrongRegion { .. } => format!(
                "the presigned URL is signed for the configured region, and the bucket is \
                 elsewhere: {} ({said})",
                cause.describe()
            ),
            _ => format!(
                "the presigned URL was refused: {} ({said})",
                cause.describe()
            ),
        };
        return Rejection {
            kind: cause.kind(),
            message,
            remediation: super::remedy_cause::for_cause(target, action, &cause),
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
