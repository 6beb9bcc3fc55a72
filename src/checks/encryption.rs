//! `s3.encryption`: an object written as Label Studio writes it (honoring
//! `STORAGE_AWS_OBJECT_PARAMETERS`, e.g. ServerSideEncryption, SSEKMSKeyId) is stored encrypted:
//! its HEAD shows `x-amz-server-side-encryption`.
use bytes::Bytes;
use serde_json::json;

use super::context::{Context, State, skipped};
use super::{CheckResult, Status};
use crate::config::ProviderSettings;
use crate::provider::{Op, classify};

/// `s3.encryption`.
pub async fn encryption(ctx: &Context, _state: &mut State) -> CheckResult {
    let id = "s3.encryption";
    let ProviderSettings::S3(settings) = &ctx.target.settings else {
        return skipped(id, "applies to S3 only");
    };
    let requested: Vec<(&'static str, String)> = settings
        .object_parameters
        .as_ref()
        .map(|p| crate::provider::s3::object_parameter_headers(&p.value))
        .unwrap_or_default()
        .into_iter()
        .filter(|(h, _)| h.starts_with("x-amz-server-side-encryption"))
        .collect();
    let (key, sent) = ctx
        .store
        .put(
            "encryption/sse.bin",
            Bytes::from_static(b"lsprobe sse"),
            "application/octet-stream",
        )
        .await;
    if let Err(f) = classify(ctx.target.provider(), &sent) {
        return skipped(
            id,
            format!(
                "not tested: the write failed ({}); see permissions.put",
                f.describe()
            ),
        );
    }
    let head = match ctx.store.send_owned(Op::Head { key: key.clone() }).await {
        Ok(Ok(a)) if a.status.is_success() => a,
        Ok(Ok(a)) => {
            return skipped(
                id,
                format!(
                    "not tested: HEAD answered {}; see permissions.head",
                    a.status
                ),
            );
        }
        Ok(Err(e)) => return CheckResult::new(id, Status::Error, e.to_string()),
        Err(refused) => return CheckResult::new(id, Status::Error, refused.to_string()),
    };
    let get = |name: &str| {
        head.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let sse = get("x-amz-server-side-encryption");
    let kms = get("x-amz-server-side-encryption-aws-kms-key-id");
    let asked = |h: &str| {
        requested
            .iter()
            .find(|(n, _)| *n == h)
            .map(|(_, v)| v.clone())
    };
    let result = |status, message: String| {
        CheckResult::new(id, status, message)
            .with_evidence("key", key.as_str())
            .with_evidence(
                "requested",
                json!(
                    requested
                        .iter()
                        .map(|(h, v)| json!({"header": h, "value": v}))
                        .collect::<Vec<_>>()
                ),
            )
            .with_evidence("x-amz-server-side-encryption", json!(sse))
            .with_evidence("x-amz-server-side-encryption-aws-kms-key-id", json!(kms))
    };
    let source = settings
        .object_parameters
        .as_ref()
        .map(|p| format!(" ({})", p.source))
        .unwrap_or_default();
    match (&sse, asked("x-amz-server-side-encryption")) {
        (None, None) => result(
            Status::Warn,
            "the stored object shows no x-amz-server-side-encryption: it is not encrypted at rest \
             (or the server does not say so)"
                .into(),
        )
        .with_remediation(
            "Turn on default encryption for the bucket (the guide's note), or have Label Studio \
             ask for it: STORAGE_AWS_OBJECT_PARAMETERS={\"ServerSideEncryption\": \"AES256\"} \
             (or \"aws:kms\" with \"SSEKMSKeyId\").",
        ),
        (None, Some(v)) => result(
            Status::Warn,
            format!(
                "STORAGE_AWS_OBJECT_PARAMETERS{source} asks for ServerSideEncryption {v}, but the \
                 stored object shows no x-amz-server-side-encryption"
            ),
        )
        .with_remediation(
            "The server ignored the encryption request: on AWS check the bucket policy and KMS \
             key; an S3-compatible server may not support SSE.",
        ),
        (Some(seen), Some(v)) if !seen.eq_ignore_ascii_case(&v) => result(
            Status::Warn,
            format!("asked for ServerSideEncryption {v}{source}, the object is stored with {seen}"),
        )
        .with_remediation("Check the bucket's default encryption and the KMS key policy."),
        (Some(seen), _) => result(
            Status::Pass,
            format!("the stored object is encrypted at rest ({seen})"),
        ),
    }
}
