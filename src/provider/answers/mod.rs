//! What a cloud's error answer says, beyond its class: the causes each provider names in its
//! documented error codes, messages and headers (wrong region, a KMS key, the policy that
//! denies, the clock, network rules, billing). One small module per cloud reads its own answers;
//! [`super::outcome::classify`] asks them first and keeps its generic classes for the rest.
pub mod azure;
pub mod gcs;
pub mod s3;

use super::Answer;
use crate::config::Provider;

/// A cause the cloud named in its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// S3: the bucket lives in another region than the one requests are signed for
    /// (301 PermanentRedirect, 400 AuthorizationHeaderMalformed / AuthorizationQueryParametersError
    /// with `<Region>`, `x-amz-bucket-region`).
    WrongRegion {
        /// The bucket's region, when the answer names it.
        region: Option<String>,
    },
    /// S3: AccessDenied on the KMS key of SSE-KMS (`kms:GenerateDataKey` on PUT, `kms:Decrypt`
    /// on GET).
    KmsDenied {
        /// The KMS action refused.
        action: String,
        /// The key's ARN, from the message.
        key: Option<String>,
    },
    /// S3: AccessDenied naming the kind of policy that denies.
    PolicyDenied {
        /// The action refused (`s3:PutObject`).
        action: Option<String>,
        /// The principal refused.
        principal: Option<String>,
        /// Which policy type.
        policy: PolicyKind,
        /// An explicit `Deny` statement (true) or no `Allow` (false).
        explicit: bool,
    },
    /// The request's clock differs too much from the service's (S3 RequestTimeTooSkewed,
    /// Azure "Request date header too old").
    ClockSkew,
    /// Temporary credentials whose session token has expired (S3 ExpiredToken).
    ExpiredToken,
    /// Azure AuthorizationFailure: the storage account's network rules refuse this network.
    NetworkRules,
    /// Azure AuthorizationPermissionMismatch: the SAS or role lacks this permission.
    PermissionMismatch,
    /// Azure KeyBasedAuthenticationNotPermitted: Shared Key authorization is off.
    SharedKeyDisabled,
    /// Azure AccountIsDisabled, GCS accountDisabled.
    AccountDisabled,
    /// GCS: requester pays is on and no user project was sent.
    RequesterPays,
    /// GCS retentionPolicyNotMet: the object is held by a retention policy.
    RetentionPolicy,
    /// GCS 403 naming the principal and the permission it lacks.
    MissingPermission {
        /// Who was refused.
        principal: Option<String>,
        /// The permission (`storage.objects.create`).
        permission: String,
    },
}

/// The kind of AWS policy an AccessDenied message names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// The identity's own (IAM) policies.
    Identity,
    /// A resource-based policy: the bucket policy.
    Resource,
    /// An AWS Organizations service control policy.
    ServiceControl,
    /// An AWS Organizations resource control policy.
    ResourceControl,
    /// The role's or user's permissions boundary.
    Boundary,
    /// The session policy passed when the role was assumed.
    Session,
    /// The policy of the VPC endpoint the request went through.
    VpcEndpoint,
}

impl PolicyKind {
    /// The phrase AWS uses in the message.
    pub fn phrase(self) -> &'static str {
        match self {
            PolicyKind::Identity => "identity-based policy",
            PolicyKind::Resource => "resource-based policy",
            PolicyKind::ServiceControl => "service control policy",
            PolicyKind::ResourceControl => "resource control policy",
            PolicyKind::Boundary => "permissions boundary",
            PolicyKind::Session => "session policy",
            PolicyKind::VpcEndpoint => "VPC endpoint policy",
        }
    }

    /// Every kind, most specific phrase first.
    pub const ALL: [PolicyKind; 7] = [
        PolicyKind::ServiceControl,
        PolicyKind::ResourceControl,
        PolicyKind::VpcEndpoint,
        PolicyKind::Boundary,
        PolicyKind::Session,
        PolicyKind::Identity,
        PolicyKind::Resource,
    ];
}

impl Cause {
    /// A short word for evidence (`outcome`) and JUnit.
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::WrongRegion { .. } => "wrong_region",
            Cause::KmsDenied { .. } => "kms_denied",
            Cause::PolicyDenied { .. } => "policy_denied",
            Cause::ClockSkew => "clock_skew",
            Cause::ExpiredToken => "expired_token",
            Cause::NetworkRules => "network_rules",
            Cause::PermissionMismatch => "permission_mismatch",
            Cause::SharedKeyDisabled => "shared_key_disabled",
            Cause::AccountDisabled => "account_disabled",
            Cause::RequesterPays => "requester_pays",
            Cause::RetentionPolicy => "retention_policy",
            Cause::MissingPermission { .. } => "missing_permission",
        }
    }

    /// What it means, for a person.
    pub fn describe(&self) -> String {
        match self {
            Cause::WrongRegion { region: Some(r) } => {
                format!("the bucket is in region {r}, not the configured one")
            }
            Cause::WrongRegion { region: None } => {
                "the bucket is in another region than the configured one".to_string()
            }
            Cause::KmsDenied { action, key } => format!(
                "the KMS key {} of the bucket's encryption refused {action}",
                key.as_deref().unwrap_or("(not named)")
            ),
            Cause::PolicyDenied {
                action,
                policy,
                explicit,
                ..
            } => {
                let action = action.as_deref().unwrap_or("the action");
                if *explicit {
                    format!(
                        "{action} is denied by an explicit Deny in a {}",
                        policy.phrase()
                    )
                } else {
                    format!("no {} allows {action}", policy.phrase())
                }
            }
            Cause::ClockSkew => "the request's clock is too far from the service's".to_string(),
            Cause::ExpiredToken => "the temporary credentials have expired".to_string(),
            Cause::NetworkRules => {
                "the storage account's network rules refuse this network".to_string()
            }
            Cause::PermissionMismatch => {
                "the credential does not carry this permission".to_string()
            }
            Cause::SharedKeyDisabled => {
                "the storage account does not allow account-key (Shared Key) authorization"
                    .to_string()
            }
            Cause::AccountDisabled => "the account is disabled".to_string(),
            Cause::RequesterPays => {
                "requester pays is on and the request names no project to bill".to_string()
            }
            Cause::RetentionPolicy => {
                "a retention policy keeps the object until its retention period ends".to_string()
            }
            Cause::MissingPermission {
                principal,
                permission,
            } => format!(
                "{} lacks {permission}",
                principal.as_deref().unwrap_or("the identity")
            ),
        }
    }

    /// Whether every later check is pointless (nothing can work until it is fixed).
    pub fn blocks(&self) -> bool {
        matches!(
            self,
            Cause::WrongRegion { region: None }
                | Cause::ClockSkew
                | Cause::ExpiredToken
                | Cause::NetworkRules
                | Cause::SharedKeyDisabled
                | Cause::AccountDisabled
                | Cause::RequesterPays
        )
    }

    /// Whether it is only a warning: something Label Studio never does was refused.
    pub fn is_warning(&self) -> bool {
        matches!(self, Cause::RetentionPolicy)
    }
}

/// The cause `provider`'s answer names, if it names one this module knows. `code` is the
/// cloud's error code as [`super::outcome::error_code`] read it.
pub fn diagnose(provider: Provider, answer: &Answer, code: Option<&str>) -> Option<Cause> {
    match provider {
        Provider::S3 => s3::diagnose(answer, code),
        Provider::Azure => azure::diagnose(answer, code),
        Provider::Gcs => gcs::diagnose(answer, code),
    }
}

/// The text of the first `<tag>` element of an XML error body, entities decoded.
pub fn xml_text(body: &[u8], tag: &str) -> Option<String> {
    let body = String::from_utf8_lossy(body);
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(
        body[start..end]
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
            .trim()
            .to_string(),
    )
}

/// A header's value as text.
pub fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The word after `marker` in `text` (up to whitespace, a quote or a comma).
pub fn word_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let word: String = text[start..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | ',' | ';'))
        .collect();
    let word = word.trim_end_matches('.').to_string();
    (!word.is_empty()).then_some(word)
}

#[cfg(test)]
pub(crate) mod test_support {
    use bytes::Bytes;
    use http::{HeaderMap, StatusCode};

    use crate::provider::Answer;

    /// An answer with these headers and body.
    pub fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: Bytes::from(body.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_xml_text_and_words() {
        let body = b"<Error><Message>a &quot;b&quot; &amp; c</Message></Error>";
        assert_eq!(xml_text(body, "Message").as_deref(), Some("a \"b\" & c"));
        assert_eq!(xml_text(body, "Region"), None);
        assert_eq!(
            word_after("on resource: \"arn:aws:s3:::b/k\" because", "on resource: ").as_deref(),
            Some("arn:aws:s3:::b/k")
        );
    }
}
