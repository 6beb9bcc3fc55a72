//! Remediations for the causes a cloud names in its answer ([`Cause`]): what to change, and
//! where, for each one.
use super::remedy::{Action, permission};
use crate::config::{AzureCredentials, ProviderSettings, S3Credentials, Target};
use crate::provider::answers::{Cause, PolicyKind};

/// The fix for `cause`, met while doing `action`.
pub fn for_cause(target: &Target, action: Action, cause: &Cause) -> String {
    let bucket = &target.bucket.value;
    match cause {
        Cause::WrongRegion { region } => wrong_region(target, region.as_deref()),
        Cause::KmsDenied { action: kms, key } => {
            let key = key.as_deref().unwrap_or("the bucket's KMS key");
            format!(
                "The bucket's default encryption (or STORAGE_AWS_OBJECT_PARAMETERS) uses the KMS \
                 key {key}, and the identity may not use it ({kms} refused). Allow \
                 kms:GenerateDataKey (uploads) and kms:Decrypt (reads, multipart uploads) on \
                 {key} in the key policy, and in the identity's IAM policy too when the key is \
                 in another account."
            )
        }
        Cause::PolicyDenied {
            action: denied,
            principal,
            policy,
            explicit,
        } => policy_denied(
            target,
            action,
            denied.as_deref(),
            principal.as_deref(),
            *policy,
            *explicit,
        ),
        Cause::ClockSkew => "The clock of the machine this ran on is more than 15 minutes away \
             from the storage service's, so every signed request is refused: synchronise it \
             with NTP (chrony, systemd-timesyncd; in a container, the host's clock), on the \
             machines Label Studio runs on too."
            .to_string(),
        Cause::ExpiredToken => match s3_credentials(target) {
            Some(S3Credentials::Chain(chain)) => match &**chain {
                crate::config::AwsChain::EnvKeys {
                    session_token: Some(t),
                    ..
                } => format!(
                    "The session token that goes with these temporary keys has expired: \
                     AWS_SESSION_TOKEN ({}) is set by hand and is never renewed; remove the \
                     three AWS_* keys to let the chain (IRSA, instance profile) renew \
                     temporary credentials.",
                    t.source
                ),
                other => format!(
                    "The temporary credentials of the AWS default chain ({}: {}) have expired \
                     and were not renewed: check the pod's service-account role (IRSA: \
                     AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN) or the node's instance profile.",
                    other.step(),
                    other.describe()
                ),
            },
            _ => "The session token that goes with these temporary keys has expired: use \
                 long-term access keys of an IAM user in STORAGE_AWS_ACCESS_KEY_ID / \
                 STORAGE_AWS_SECRET_ACCESS_KEY, or let the AWS default chain (IRSA, instance \
                 profile) renew temporary credentials."
                .to_string(),
        },
        Cause::NetworkRules => "The credentials are fine: the storage account's network rules \
             (firewall, virtual networks, private endpoint) refuse the network this request came \
             from. In Storage account > Networking allow the network Label Studio runs in (its \
             outbound IP, its virtual network, or a private endpoint it resolves to), or enable \
             public network access."
            .to_string(),
        Cause::PermissionMismatch => match azure_credentials(target) {
            Some(AzureCredentials::Sas(_)) => permission(target, action),
            _ => format!(
                "The identity's Azure role does not include this data action: assign Storage \
                 Blob Data Contributor on the container `{bucket}` (or the account)."
            ),
        },
        Cause::SharedKeyDisabled => {
            let account = match &target.settings {
                ProviderSettings::Azure(a) => a.account_name.value.clone(),
                _ => "ACCOUNT".to_string(),
            };
            format!(
                "The storage account does not allow account-key (Shared Key) authorization, so \
                 Label Studio's STORAGE_AZURE_ACCOUNT_KEY cannot work at all, nor can the SAS \
                 URLs it signs with that key: turn on \"Allow storage account key access\" \
                 (az storage account update --name {account} --allow-shared-key-access true)."
            )
        }
        Cause::AccountDisabled => match target.provider() {
            crate::config::Provider::Gcs => format!(
                "The project that owns the bucket `{bucket}` has been disabled, most often \
                 because its billing account is closed or unpaid: re-enable billing for the \
                 project (Billing > Account management), or move the bucket's data to a project \
                 in good standing."
            ),
            _ => "The storage account is disabled (its subscription is disabled or suspended, \
                  e.g. for billing): re-enable the subscription in the Azure portal \
                  (Subscriptions)."
                .to_string(),
        },
        Cause::RequesterPays => format!(
            "Requester Pays is on for the bucket `{bucket}` and Label Studio's requests name no \
             project to bill, so every one is refused: turn it off \
             (gcloud storage buckets update gs://{bucket} --no-requester-pays)."
        ),
        Cause::RetentionPolicy => "Label Studio never deletes objects from this storage, so \
             this does not affect it. The bucket's retention policy (or the object's retention) \
             keeps lsprobe's test object until its retention period ends; it is listed under \
             cleanup.leftover."
            .to_string(),
        Cause::MissingPermission {
            principal,
            permission: name,
        } => {
            let who = principal.as_deref().unwrap_or("the service account");
            format!(
                "Grant {who} {name}: the role roles/storage.objectAdmin (Storage Object Admin) \
                 includes it; use the guide's condition \
                 resource.name.startsWith('projects/_/buckets/{bucket}')."
            )
        }
    }
}

/// The fix for a service that asked to slow down.
pub fn throttled(target: &Target) -> String {
    match target.provider() {
        crate::config::Provider::S3 => "S3 asked to slow down (503 SlowDown): the request rate \
             on this prefix is above what S3 has scaled to. It scales up over minutes: run again \
             later, or spread load over more prefixes (STORAGE_AWS_FOLDER)."
            .to_string(),
        crate::config::Provider::Azure => "Azure asked to slow down (ServerBusy): the storage \
             account is above its scalability targets (requests per second or bandwidth): run \
             again later, or use a premium (SSD) account or several accounts."
            .to_string(),
        crate::config::Provider::Gcs => "GCS asked to slow down (429): run again later; GCS \
             ramps up request rates gradually for a bucket."
            .to_string(),
    }
}

fn wrong_region(target: &Target, region: Option<&str>) -> String {
    let configured = match &target.region {
        Some(r) => format!("{} ({})", r.value, r.source),
        None => "unset, so us-east-1".to_string(),
    };
    match region {
        Some(r) => format!(
            "The bucket `{}` is in region {r}, but STORAGE_AWS_REGION_NAME is {configured}: set \
             STORAGE_AWS_REGION_NAME={r}.",
            target.bucket.value
        ),
        None => format!(
            "The bucket `{0}` is in another region than STORAGE_AWS_REGION_NAME ({configured}): \
             set STORAGE_AWS_REGION_NAME to the bucket's region (aws s3api get-bucket-location \
             --bucket {0}).",
            target.bucket.value
        ),
    }
}

fn policy_denied(
    target: &Target,
    action: Action,
    denied: Option<&str>,
    principal: Option<&str>,
    policy: PolicyKind,
    explicit: bool,
) -> String {
    let what = denied.unwrap_or(action.s3_action());
    let who = principal.unwrap_or("the identity");
    let bucket = &target.bucket.value;
    match (policy, explicit) {
        (PolicyKind::Identity, false) => match denied {
            Some(named) if named != action.s3_action() => format!(
                "No IAM policy of {who} allows {named}: grant it on arn:aws:s3:::{bucket}/* (for \
                 object actions) or arn:aws:s3:::{bucket} (for bucket actions)."
            ),
            _ => permission(target, action),
        },
        (PolicyKind::Identity, true) => format!(
            "A Deny statement in {who}'s own IAM policies refuses {what}: remove it or narrow it \
             so that it does not cover arn:aws:s3:::{bucket}."
        ),
        (PolicyKind::Resource, _) => format!(
            "The bucket policy of `{bucket}` {} {what} for {who}: edit it (aws s3api \
             get-bucket-policy --bucket {bucket}) to allow it.",
            if explicit { "denies" } else { "does not allow" }
        ),
        (PolicyKind::ServiceControl | PolicyKind::ResourceControl, _) => format!(
            "A {} of AWS Organizations denies {what} in this account: IAM policies cannot \
             override it; ask the organization's administrators to allow it for {who}.",
            policy.phrase()
        ),
        (PolicyKind::Boundary, _) => format!(
            "The permissions boundary of {who} {} {what}: add it to the boundary policy (a \
             boundary caps what the identity's own policies can grant).",
            if explicit { "denies" } else { "does not allow" }
        ),
        (PolicyKind::Session, _) => format!(
            "The session policy passed when the role was assumed {} {what}: widen the policy \
             given to AssumeRole (or drop it).",
            if explicit { "denies" } else { "does not allow" }
        ),
        (PolicyKind::VpcEndpoint, _) => format!(
            "The policy of the VPC endpoint these requests go through {} {what}: allow it on \
             arn:aws:s3:::{bucket} in the endpoint's policy.",
            if explicit { "denies" } else { "does not allow" }
        ),
    }
}

fn s3_credentials(target: &Target) -> Option<&S3Credentials> {
    match &target.settings {
        ProviderSettings::S3(s) => Some(&s.credentials),
        _ => None,
    }
}

fn azure_credentials(target: &Target) -> Option<&AzureCredentials> {
    match &target.settings {
        ProviderSettings::Azure(a) => Some(&a.credentials),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{S3Settings, Secret, Source, Sourced, TlsVerify};

    fn s3_target() -> Target {
        let flag = |f: &str| Source::Flag { flag: f.into() };
        Target {
            provider: Sourced::new(crate::config::Provider::S3, flag("--type")),
            bucket: Sourced::new("media".into(), flag("--bucket")),
            folder: Sourced::new(String::new(), Source::Default),
            endpoint: None,
            region: Some(Sourced::new("us-east-1".into(), flag("--region"))),
            url_expiry_secs: Sourced::new(900, Source::Default),
            origins: vec![],
            settings: ProviderSettings::S3(Box::new(S3Settings {
                credentials: S3Credentials::Keys {
                    access_key_id: Sourced::new(Secret::new("AKID"), flag("--key")),
                    secret_access_key: Sourced::new(Secret::new("s"), flag("--secret")),
                },
                object_parameters: None,
                use_ssl: Sourced::new(true, Source::Default),
                verify: Sourced::new(TlsVerify::Verify, Source::Default),
                signature_version: None,
            })),
        }
    }

    #[test]
    fn names_what_the_answer_names() {
        let t = s3_target();
        let region = for_cause(
            &t,
            Action::List,
            &Cause::WrongRegion {
                region: Some("eu-west-1".into()),
            },
        );
        assert!(
            region.contains("STORAGE_AWS_REGION_NAME=eu-west-1"),
            "{region}"
        );
        assert!(region.contains("us-east-1 (flag --region)"), "{region}");
        // An abort denied by the identity's policies names the abort, not s3:PutObject.
        let abort = for_cause(
            &t,
            Action::Put,
            &Cause::PolicyDenied {
                action: Some("s3:AbortMultipartUpload".into()),
                principal: Some("arn:aws:iam::1:user/ls".into()),
                policy: PolicyKind::Identity,
                explicit: false,
            },
        );
        assert!(abort.contains("allows s3:AbortMultipartUpload"), "{abort}");
        assert!(!abort.contains("s3:PutObject"), "{abort}");
        let put = for_cause(
            &t,
            Action::Put,
            &Cause::PolicyDenied {
                action: Some("s3:PutObject".into()),
                principal: None,
                policy: PolicyKind::Identity,
                explicit: false,
            },
        );
        assert!(
            put.contains("Grant s3:PutObject on arn:aws:s3:::media/*"),
            "{put}"
        );
    }
}
