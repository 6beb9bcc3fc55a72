//! Amazon S3's answers: wrong region (and the region it names), KMS denials, the policy an
//! AccessDenied names, the clock, expired session tokens.
use super::{Cause, PolicyKind, header, word_after, xml_text};
use crate::provider::Answer;

/// The cause an S3 error answer names, if any.
pub fn diagnose(answer: &Answer, code: Option<&str>) -> Option<Cause> {
    let message = xml_text(&answer.body, "Message").unwrap_or_default();
    if let Some(cause) = wrong_region(answer, code, &message) {
        return Some(cause);
    }
    match code? {
        "RequestTimeTooSkewed" => Some(Cause::ClockSkew),
        "ExpiredToken" => Some(Cause::ExpiredToken),
        "AccessDenied" => access_denied(&message),
        _ => None,
    }
}

/// The region an answer to a request sent to the wrong region names, as botocore's
/// `S3RegionRedirectorv2.get_bucket_region` reads it: the `x-amz-bucket-region` header, then
/// the body's `<Region>`; also the message's "expecting 'eu-west-1'" and the `<Endpoint>`.
pub fn named_region(answer: &Answer, message: &str) -> Option<String> {
    header(answer, "x-amz-bucket-region")
        .map(str::to_string)
        .or_else(|| xml_text(&answer.body, "Region"))
        .or_else(|| word_after(message, "expecting "))
        .or_else(|| xml_text(&answer.body, "Endpoint").and_then(|e| endpoint_region(&e)))
        .filter(|r| !r.is_empty())
}

/// Whether the answer says the bucket is in another region (the cases botocore redirects:
/// PermanentRedirect, a 301/302/307, AuthorizationHeaderMalformed with a `Region`, a HEAD's
/// bare 301/400 with `x-amz-bucket-region`, IllegalLocationConstraintException), plus a
/// presigned URL's AuthorizationQueryParametersError naming the region.
fn wrong_region(answer: &Answer, code: Option<&str>, message: &str) -> Option<Cause> {
    let status = answer.status.as_u16();
    let region = named_region(answer, message);
    let names_region = xml_text(&answer.body, "Region").is_some() || message.contains("expecting");
    let wrong = match code {
        Some("PermanentRedirect" | "TemporaryRedirect" | "IllegalLocationConstraintException") => {
            true
        }
        Some("AuthorizationHeaderMalformed" | "AuthorizationQueryParametersError") => names_region,
        None => {
            matches!(status, 301 | 302 | 307)
                || (status == 400 && header(answer, "x-amz-bucket-region").is_some())
        }
        Some(_) => matches!(status, 301 | 302 | 307),
    };
    wrong.then_some(Cause::WrongRegion { region })
}

/// `eu-west-1` from `bucket.s3.eu-west-1.amazonaws.com` or `bucket.s3-eu-west-1.amazonaws.com`;
/// `us-east-1` for the global `bucket.s3.amazonaws.com`.
fn endpoint_region(endpoint: &str) -> Option<String> {
    let labels: Vec<&str> = endpoint.split('.').collect();
    let at = labels.iter().position(|l| *l == "amazonaws")?;
    let before = labels.get(at.checked_sub(1)?)?;
    if *before == "s3" {
        return Some("us-east-1".to_string());
    }
    if let Some(r) = before.strip_prefix("s3-") {
        return Some(r.to_string());
    }
    let s3 = labels.get(at.checked_sub(2)?)?;
    (*s3 == "s3" || s3.starts_with("s3")).then(|| before.to_string())
}

/// AccessDenied: a KMS key, or the policy type AWS names ("because no identity-based policy
/// allows the s3:PutObject action", "with an explicit deny in a service control policy").
fn access_denied(message: &str) -> Option<Cause> {
    let action = word_after(message, "perform: ");
    let kms_key = message
        .find("arn:aws:kms:")
        .and_then(|at| word_after(&message[at..], ""));
    if action.as_deref().is_some_and(|a| a.starts_with("kms:")) || kms_key.is_some() {
        return Some(Cause::KmsDenied {
            action: action
                .filter(|a| a.starts_with("kms:"))
                .unwrap_or_else(|| "kms:Decrypt".to_string()),
            key: kms_key,
        });
    }
    let principal = word_after(message, "User: ");
    PolicyKind::ALL.iter().find_map(|&policy| {
        let explicit = message.contains(&format!("explicit deny in a {}", policy.phrase()));
        let implicit = message.contains(&format!("because no {} allows", policy.phrase()));
        (explicit || implicit).then(|| Cause::PolicyDenied {
            action: action.clone(),
            principal: principal.clone(),
            policy,
            explicit,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::answer;
    use super::*;
    use crate::config::Provider;
    use crate::provider::outcome::error_code;

    fn cause(a: &Answer) -> Option<Cause> {
        diagnose(a, error_code(Provider::S3, a).as_deref())
    }

    #[test]
    fn wrong_region_from_header_body_or_head() {
        let a = answer(
            400,
            &[],
            "<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is \
             malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message>\
             <Region>eu-west-1</Region></Error>",
        );
        assert_eq!(
            cause(&a),
            Some(Cause::WrongRegion {
                region: Some("eu-west-1".into())
            })
        );
        let head = answer(301, &[("x-amz-bucket-region", "ap-south-1")], "");
        assert_eq!(
            cause(&head),
            Some(Cause::WrongRegion {
                region: Some("ap-south-1".into())
            })
        );
        let redirect = answer(
            301,
            &[],
            "<Error><Code>PermanentRedirect</Code><Endpoint>b.s3.eu-central-1.amazonaws.com\
             </Endpoint></Error>",
        );
        assert_eq!(
            cause(&redirect),
            Some(Cause::WrongRegion {
                region: Some("eu-central-1".into())
            })
        );
        let malformed = answer(
            400,
            &[],
            "<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header \
             is malformed; a non-empty Access Key (AKID) must be provided</Message></Error>",
        );
        assert_eq!(cause(&malformed), None, "not a region problem");
    }

    #[test]
    fn kms_and_policy_denials() {
        let kms = answer(
            403,
            &[],
            "<Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::111122223333:user/ls is \
             not authorized to perform: kms:GenerateDataKey on resource: \
             arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab because \
             no identity-based policy allows the kms:GenerateDataKey action</Message></Error>",
        );
        assert_eq!(
            cause(&kms),
            Some(Cause::KmsDenied {
                action: "kms:GenerateDataKey".into(),
                key: Some(
                    "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                        .into()
                )
            })
        );
        let scp = answer(
            403,
            &[],
            "<Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::111122223333:user/ls is \
             not authorized to perform: s3:PutObject on resource: \
             &quot;arn:aws:s3:::b/k&quot; with an explicit deny in a service control \
             policy</Message></Error>",
        );
        assert_eq!(
            cause(&scp),
            Some(Cause::PolicyDenied {
                action: Some("s3:PutObject".into()),
                principal: Some("arn:aws:iam::111122223333:user/ls".into()),
                policy: PolicyKind::ServiceControl,
                explicit: true
            })
        );
        let bare = answer(
            403,
            &[],
            "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        );
        assert_eq!(
            cause(&bare),
            None,
            "a bare AccessDenied stays a plain denial"
        );
    }

    #[test]
    fn clock_and_token() {
        let skew = answer(403, &[], "<Error><Code>RequestTimeTooSkewed</Code></Error>");
        assert_eq!(cause(&skew), Some(Cause::ClockSkew));
        let expired = answer(400, &[], "<Error><Code>ExpiredToken</Code></Error>");
        assert_eq!(cause(&expired), Some(Cause::ExpiredToken));
    }
}
