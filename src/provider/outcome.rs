//! What an answer means: success, or which of denied / credentials rejected / bucket missing /
//! not found / throttled / something else. Error codes come from the cloud's own answer; the
//! causes a cloud names beyond that (wrong region, KMS, network rules, ...) are read by
//! [`super::answers`], one module per cloud.
use http::StatusCode;

use super::answers::{self, Cause};
use super::{Answer, Unreachable};
use crate::config::Provider;

/// Why an operation did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The credentials are valid but lack the permission (403 AccessDenied,
    /// AuthorizationPermissionMismatch, GCS 403).
    Denied {
        /// HTTP status.
        status: u16,
        /// The cloud's error code, when it sent one.
        code: Option<String>,
    },
    /// The credentials themselves were refused (SignatureDoesNotMatch, InvalidAccessKeyId,
    /// AuthorizationFailure, AuthenticationFailed, 401).
    CredentialsRejected {
        /// HTTP status.
        status: u16,
        /// The cloud's error code.
        code: Option<String>,
    },
    /// The bucket or container does not exist (NoSuchBucket, ContainerNotFound).
    BucketMissing {
        /// HTTP status.
        status: u16,
        /// The cloud's error code.
        code: Option<String>,
    },
    /// The object does not exist.
    NotFound {
        /// HTTP status.
        status: u16,
        /// The cloud's error code.
        code: Option<String>,
    },
    /// The service asked to slow down (503 SlowDown, ServerBusy, 429).
    Throttled {
        /// HTTP status.
        status: u16,
        /// The cloud's error code.
        code: Option<String>,
    },
    /// The cloud named the cause in its answer (see [`Cause`]).
    Diagnosed {
        /// HTTP status.
        status: u16,
        /// The cloud's error code.
        code: Option<String>,
        /// What the answer says is wrong.
        cause: Cause,
    },
    /// Any other answer.
    Unexpected {
        /// HTTP status.
        status: u16,
        /// The cloud's error code.
        code: Option<String>,
        /// The start of the body.
        detail: String,
    },
    /// No answer: DNS, connect, TLS or timeout.
    Unreachable(String),
    /// The credentials could not be obtained (token file, STS, metadata server): the bucket
    /// was never contacted.
    CredentialsUnavailable(super::CredentialError),
}

impl Failure {
    /// One line for a person.
    pub fn describe(&self) -> String {
        let code = |c: &Option<String>| c.as_ref().map(|c| format!(" {c}")).unwrap_or_default();
        match self {
            Failure::Denied { status, code: c } => format!("denied ({status}{})", code(c)),
            Failure::CredentialsRejected { status, code: c } => {
                format!("credentials rejected ({status}{})", code(c))
            }
            Failure::BucketMissing { status, code: c } => {
                format!("bucket missing ({status}{})", code(c))
            }
            Failure::NotFound { status, code: c } => format!("not found ({status}{})", code(c)),
            Failure::Throttled { status, code: c } => format!("throttled ({status}{})", code(c)),
            Failure::Diagnosed {
                status,
                code: c,
                cause,
            } => format!("{} ({status}{})", cause.describe(), code(c)),
            Failure::Unexpected {
                status,
                code: c,
                detail,
            } => {
                format!("unexpected answer ({status}{}): {detail}", code(c))
            }
            Failure::Unreachable(why) => format!("unreachable: {why}"),
            Failure::CredentialsUnavailable(e) => {
                format!("credentials could not be obtained: {e}")
            }
        }
    }

    /// A short word for evidence and JUnit.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Denied { .. } => "denied",
            Failure::CredentialsRejected { .. } => "credentials_rejected",
            Failure::BucketMissing { .. } => "bucket_missing",
            Failure::NotFound { .. } => "not_found",
            Failure::Throttled { .. } => "throttled",
            Failure::Diagnosed { cause, .. } => cause.kind(),
            Failure::Unexpected { .. } => "unexpected",
            Failure::Unreachable(_) => "unreachable",
            Failure::CredentialsUnavailable(_) => "credentials_unavailable",
        }
    }
}

const CREDENTIAL_CODES: &[&str] = &[
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "AuthorizationFailure",
    "AuthenticationFailed",
    "InvalidAuthenticationInfo",
    "authError",
];
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AuthorizationPermissionMismatch",
    "AuthorizationResourceTypeMismatch",
    "InsufficientAccountPermissions",
    "forbidden",
    "insufficientPermissions",
];
const BUCKET_CODES: &[&str] = &["NoSuchBucket", "ContainerNotFound", "notFound:bucket"];
const THROTTLE_CODES: &[&str] = &[
    "SlowDown",
    "ServerBusy",
    "rateLimitExceeded",
    "TooManyRequests",
];

/// Classifies an answer (or the lack of one). `Ok` is any 2xx.
pub fn classify(provider: Provider, sent: &Result<Answer, Unreachable>) -> Result<(), Failure> {
    let answer = match sent {
        Ok(a) => a,
        Err(Unreachable(why)) => return Err(Failure::Unreachable(why.clone())),
    };
    if answer.status.is_success() {
        return Ok(());
    }
    let status = answer.status.as_u16();
    let code = error_code(provider, answer);
    if let Some(cause) = answers::diagnose(provider, answer, code.as_deref()) {
        return Err(Failure::Diagnosed {
            status,
            code,
            cause,
        });
    }
    let has = |list: &[&str]| code.as_deref().is_some_and(|c| list.contains(&c));
    Err(
        if has(CREDENTIAL_CODES) || answer.status == StatusCode::UNAUTHORIZED {
            Failure::CredentialsRejected { status, code }
        } else if has(BUCKET_CODES) {
            Failure::BucketMissing { status, code }
        } else if has(DENIED_CODES) || answer.status == StatusCode::FORBIDDEN {
            Failure::Denied { status, code }
        } else if has(THROTTLE_CODES) || matches!(status, 429 | 503) {
            Failure::Throttled { status, code }
        } else if answer.status == StatusCode::NOT_FOUND {
            Failure::NotFound { status, code }
        } else {
            let detail: String = String::from_utf8_lossy(&answer.body)
                .chars()
                .take(200)
                .collect();
            Failure::Unexpected {
                status,
                code,
                detail,
            }
        },
    )
}

/// The cloud's error code: Azure's `x-ms-error-code`, the `<Code>` of an S3/Azure XML error,
/// GCS's JSON `error.errors[0].reason` (with `notFound:bucket` for a missing bucket).
pub fn error_code(provider: Provider, answer: &Answer) -> Option<String> {
    if let Some(code) = answer
        .headers
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
    {
        return Some(code.to_string());
    }
    let body = String::from_utf8_lossy(&answer.body);
    match provider {
        Provider::Gcs => {
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let error = v.get("error")?;
            let reason = error
                .pointer("/errors/0/reason")
                .and_then(|r| r.as_str())
                .map(str::to_string);
            let message = error.get("message").and_then(|m| m.as_str()).unwrap_or("");
            match reason.as_deref() {
                Some("notFound") if message.to_ascii_lowercase().contains("bucket") => {
                    Some("notFound:bucket".to_string())
                }
                _ => reason,
            }
        }
        Provider::S3 | Provider::Azure => {
            let start = body.find("<Code>")? + "<Code>".len();
            let end = body[start..].find("</Code>")? + start;
            Some(body[start..end].trim().to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::HeaderMap;

    fn answer(status: u16, body: &str) -> Result<Answer, Unreachable> {
        Ok(Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        })
    }

    #[test]
    fn s3_codes() {
        let denied = answer(403, "<Error><Code>AccessDenied</Code></Error>");
        assert!(matches!(
            classify(Provider::S3, &denied),
            Err(Failure::Denied { .. })
        ));
        let sig = answer(403, "<Error><Code>SignatureDoesNotMatch</Code></Error>");
        assert!(matches!(
            classify(Provider::S3, &sig),
            Err(Failure::CredentialsRejected { .. })
        ));
        let bucket = answer(404, "<Error><Code>NoSuchBucket</Code></Error>");
        assert!(matches!(
            classify(Provider::S3, &bucket),
            Err(Failure::BucketMissing { .. })
        ));
        assert!(classify(Provider::S3, &answer(204, "")).is_ok());
    }

    #[test]
    fn azure_header_code_wins() {
        // Azurite's answer to a wrong key: AuthorizationFailure saying authentication failed.
        let mut a = answer(
            403,
            "<Error><Code>AuthorizationFailure</Code><Message>Server failed to authenticate \
             the request.</Message></Error>",
        )
        .unwrap();
        a.headers
            .insert("x-ms-error-code", "AuthorizationFailure".parse().unwrap());
        assert!(matches!(
            classify(Provider::Azure, &Ok(a.clone())),
            Err(Failure::CredentialsRejected { .. })
        ));
        // Azure's AuthorizationFailure without that message (a HEAD has no body): network rules.
        a.body = Bytes::new();
        assert!(matches!(
            classify(Provider::Azure, &Ok(a)),
            Err(Failure::Diagnosed {
                cause: Cause::NetworkRules,
                ..
            })
        ));
    }

    #[test]
    fn gcs_json_errors() {
        let body = r#"{"error":{"code":404,"message":"The specified bucket does not exist.","errors":[{"reason":"notFound"}]}}"#;
        assert!(matches!(
            classify(Provider::Gcs, &answer(404, body)),
            Err(Failure::BucketMissing { .. })
        ));
        let body = r#"{"error":{"code":404,"message":"No such object: b/k","errors":[{"reason":"notFound"}]}}"#;
        assert!(matches!(
            classify(Provider::Gcs, &answer(404, body)),
            Err(Failure::NotFound { .. })
        ));
        assert!(matches!(
            classify(Provider::Gcs, &answer(401, "{}")),
            Err(Failure::CredentialsRejected { .. })
        ));
    }
}
