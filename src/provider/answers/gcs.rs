//! Google Cloud Storage's answers: requester pays, a disabled (billing) account, retention
//! policies, and the permission a 403 names.
use super::{Cause, word_after};
use crate::provider::Answer;

/// The cause a GCS JSON error answer names, if any.
pub fn diagnose(answer: &Answer, code: Option<&str>) -> Option<Cause> {
    let v: serde_json::Value = serde_json::from_slice(&answer.body).ok()?;
    let message = v
        .pointer("/error/message")
        .and_then(|m| m.as_str())
        .unwrap_or("");
    let lower = message.to_ascii_lowercase();
    match code {
        _ if lower.contains("requester pays") => Some(Cause::RequesterPays),
        Some("accountDisabled") => Some(Cause::AccountDisabled),
        Some("retentionPolicyNotMet") => Some(Cause::RetentionPolicy),
        _ if lower.contains("retention policy") && answer.status.as_u16() == 403 => {
            Some(Cause::RetentionPolicy)
        }
        _ if answer.status.as_u16() == 403 && message.contains(" does not have storage.") => {
            let principal = message
                .split(" does not have ")
                .next()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string);
            Some(Cause::MissingPermission {
                principal,
                permission: word_after(message, "does not have ")?,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::answer;
    use super::*;

    #[test]
    fn names_the_cause() {
        let pays = answer(
            400,
            &[],
            r#"{"error":{"code":400,"message":"Bucket is a requester pays bucket but no user project provided.","errors":[{"message":"Bucket is a requester pays bucket but no user project provided.","domain":"global","reason":"required"}]}}"#,
        );
        assert_eq!(
            diagnose(&pays, Some("required")),
            Some(Cause::RequesterPays)
        );
        let perm = answer(
            403,
            &[],
            r#"{"error":{"code":403,"message":"ls@p.iam.gserviceaccount.com does not have storage.objects.create access to the Google Cloud Storage object. Permission 'storage.objects.create' denied on resource (or it may not exist).","errors":[{"reason":"forbidden"}]}}"#,
        );
        assert_eq!(
            diagnose(&perm, Some("forbidden")),
            Some(Cause::MissingPermission {
                principal: Some("ls@p.iam.gserviceaccount.com".into()),
                permission: "storage.objects.create".into()
            })
        );
        let plain = answer(403, &[], r#"{"error":{"code":403,"message":"Forbidden"}}"#);
        assert_eq!(diagnose(&plain, None), None);
    }
}
