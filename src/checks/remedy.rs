//! Remediations: what to change, quoting the line of the documented policy that is missing.
use crate::config::{AzureCredentials, GcsCredentials, Provider, ProviderSettings, Target};
use crate::provider::Failure;

/// A storage action of the documented permission set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// List keys.
    List,
    /// Write an object.
    Put,
    /// Read an object.
    Get,
    /// Read an object's metadata.
    Head,
    /// Delete an object.
    Delete,
}

impl Action {
    /// The S3 IAM action that authorizes it (HeadObject is authorized by s3:GetObject).
    pub fn s3_action(self) -> &'static str {
        match self {
            Action::List => "s3:ListBucket",
            Action::Put => "s3:PutObject",
            Action::Get | Action::Head => "s3:GetObject",
            Action::Delete => "s3:DeleteObject",
        }
    }

    fn gcs_permission(self) -> &'static str {
        match self {
            Action::List => "storage.objects.list",
            Action::Put => "storage.objects.create",
            Action::Get | Action::Head => "storage.objects.get",
            Action::Delete => "storage.objects.delete",
        }
    }

    fn sas_letter(self) -> (&'static str, &'static str) {
        match self {
            Action::List => ("l", "list"),
            Action::Put => ("w", "write"),
            Action::Get | Action::Head => ("r", "read"),
            Action::Delete => ("d", "delete"),
        }
    }
}

/// The fix for a failure of `action`, naming the setting or permission to change.
pub fn for_failure(target: &Target, action: Action, failure: &Failure) -> String {
    match failure {
        Failure::Denied { .. } => permission(target, action),
        Failure::CredentialsRejected { .. } => credentials(target),
        Failure::BucketMissing { .. } => bucket_missing(target),
        Failure::Unreachable(why) => {
            let mut fix = unreachable(target);
            if let ProviderSettings::S3(s) = &target.settings
                && why.contains("certificate")
            {
                let setting = match &s.verify.source {
                    crate::config::Source::Default => "STORAGE_AWS_S3_VERIFY (unset)".to_string(),
                    source => format!("the CA bundle setting ({source})"),
                };
                fix.push_str(&format!(
                    " The server's TLS certificate was not accepted: {setting} must be the path \
                     of a PEM bundle holding the CA that signed it, or the server's own \
                     certificate (Label Studio trusts only that bundle then); set \
                     STORAGE_AWS_S3_VERIFY=false only to skip verification. A certificate for \
                     another host name or an expired one must be replaced on the server."
                ));
            }
            fix
        }
        Failure::CredentialsUnavailable(e) => format!(
            "The bucket was not contacted: the {} step of the credential chain failed. {}",
            e.step, e.fix
        ),
        Failure::Throttled { .. } => super::remedy_cause::throttled(target),
        Failure::Diagnosed { cause, .. } => super::remedy_cause::for_cause(target, action, cause),
        Failure::Unexpected { status, .. } if *status >= 500 => "The storage server failed \
             (a 5xx answer): that is an error of the server, not a missing permission or a wrong \
             setting. Look at the server's logs and run again once it answers; if it is an \
             S3-compatible server or emulator, it may not support this request."
            .to_string(),
        Failure::NotFound { .. } | Failure::Unexpected { .. } => format!(
            "The server answered in a way Label Studio would not expect for this operation; \
             if it is an S3-compatible server or emulator, check that it supports it. {}",
            permission(target, action)
        ),
    }
}

/// The fix when the credentials of a chain step were refused, naming the variables to check.
fn chain_refused(chain: &crate::config::AwsChain) -> String {
    use crate::config::AwsChain;
    match chain {
        AwsChain::EnvKeys {
            access_key_id,
            secret_access_key,
            session_token,
        } => format!(
            "The access key was refused (unknown key id, a secret that does not match, or an \
             expired session token): check AWS_ACCESS_KEY_ID ({}) and AWS_SECRET_ACCESS_KEY \
             ({}){}, and that the key is active in IAM. Label Studio uses these because no \
             STORAGE_AWS_ACCESS_KEY_ID is set.",
            access_key_id.source,
            secret_access_key.source,
            session_token
                .as_ref()
                .map(|t| format!(" and AWS_SESSION_TOKEN ({})", t.source))
                .unwrap_or_default()
        ),
        AwsChain::SharedFile { path, profile, .. } => format!(
            "The access key of profile [{}] in {} was refused: check that it is active in IAM.",
            profile.value,
            path.value.display()
        ),
        other => format!(
            "The temporary credentials from the {} step ({}) were refused: check the role's \
             trust and that its session is not expired.",
            other.step(),
            other.describe()
        ),
    }
}

/// What grants `action`, quoted from the guide's policy for this cloud.
pub fn permission(target: &Target, action: Action) -> String {
    let bucket = &target.bucket.value;
    match &target.settings {
        ProviderSettings::S3(_) => {
            let (resource, statement) = match action {
                Action::List => (
                    format!("arn:aws:s3:::{bucket}"),
                    format!(
                        "{{\"Effect\": \"Allow\", \"Action\": [\"s3:ListBucket\"], \
                         \"Resource\": [\"arn:aws:s3:::{bucket}\"]}}"
                    ),
                ),
                _ => (
                    format!("arn:aws:s3:::{bucket}/*"),
                    format!(
                        "{{\"Effect\": \"Allow\", \"Action\": [\"s3:PutObject\", \
                         \"s3:GetObject\", \"s3:DeleteObject\"], \"Resource\": \
                         [\"arn:aws:s3:::{bucket}/*\"]}}"
                    ),
                ),
            };
            let head = if action == Action::Head {
                " (S3 authorizes HeadObject with s3:GetObject)"
            } else {
                ""
            };
            format!(
                "Grant {} on {resource}{head}. The guide's policy has it in this statement: \
                 {statement}. Check also bucket policies, SCPs and KMS key policies that may deny it.",
                action.s3_action()
            )
        }
        ProviderSettings::Gcs(g) => {
            let who = match &g.credentials {
                GcsCredentials::ServiceAccount {
                    client_email: Some(e),
                    ..
                } => e.clone(),
                _ => "the service account".to_string(),
            };
            format!(
                "Grant {who} the role roles/storage.objectAdmin (Storage Object Admin), which \
                 includes {}, with the guide's condition \
                 resource.name.startsWith('projects/_/buckets/{bucket}').",
                action.gcs_permission()
            )
        }
        ProviderSettings::Azure(a) => match &a.credentials {
            AzureCredentials::Sas(s) => {
                let (letter, word) = action.sas_letter();
                format!(
                    "The SAS token ({}) lacks the `{letter}` ({word}) permission: issue a \
                     container SAS with sp=racwdl, or at least `{letter}`.",
                    s.source
                )
            }
            AzureCredentials::AccountKey(_) => "The account key allows every operation, so this \
                 denial comes from the storage account's network rules (firewall, private \
                 endpoint) or a policy: allow Label Studio's network in Storage account > \
                 Networking."
                .to_string(),
        },
    }
}

fn credentials(target: &Target) -> String {
    match &target.settings {
        ProviderSettings::S3(s) => match &s.credentials {
            crate::config::S3Credentials::Keys {
                access_key_id,
                secret_access_key,
            } => format!(
                "The access key was refused (unknown key id or a secret that does not match): \
                 check STORAGE_AWS_ACCESS_KEY_ID ({}) and STORAGE_AWS_SECRET_ACCESS_KEY ({}), \
                 and that the key is active in IAM.",
                access_key_id.source, secret_access_key.source
            ),
            crate::config::S3Credentials::Chain(chain) => chain_refused(chain),
        },
        ProviderSettings::Gcs(g) => match &g.credentials {
            GcsCredentials::ServiceAccount { source, .. } => format!(
                "The service account's token was refused: check that the key ({source}) is \
                 current and the service account is enabled."
            ),
            GcsCredentials::ExternalAccount(a) => format!(
                "The federated token was refused: check that the service account ({}) grants \
                 roles/iam.workloadIdentityUser to the pool's principal and is enabled.",
                a.service_account()
                    .unwrap_or_else(|| "none impersonated: the pool's principal itself".into())
            ),
            GcsCredentials::MetadataServer { .. } => {
                "The metadata server's token was refused: check \
                 the Workload Identity binding of the pod's service account."
                    .to_string()
            }
        },
        ProviderSettings::Azure(a) => match &a.credentials {
            AzureCredentials::AccountKey(k) => format!(
                "The account key was refused: check STORAGE_AZURE_ACCOUNT_KEY ({}) and \
                 STORAGE_AZURE_ACCOUNT_NAME ({}); keys are shown and rotated in Storage account \
                 > Access keys.",
                k.source, a.account_name.source
            ),
            AzureCredentials::Sas(s) => format!(
                "The SAS token ({}) was refused: it has expired, or it was signed with a key \
                 that has been rotated; issue a new one.",
                s.source
            ),
        },
    }
}

fn bucket_missing(target: &Target) -> String {
    let (what, var) = match target.provider() {
        Provider::S3 => ("bucket", "STORAGE_AWS_BUCKET_NAME"),
        Provider::Gcs => ("bucket", "STORAGE_GCS_BUCKET_NAME"),
        Provider::Azure => ("container", "STORAGE_AZURE_CONTAINER_NAME"),
    };
    let place = match (&target.endpoint, &target.region) {
        (Some(e), _) => format!(" at {}", e.value),
        (None, Some(r)) => format!(" in region {}", r.value),
        _ => String::new(),
    };
    format!(
        "The {what} `{}` does not exist{place}: create it, or fix {var} ({}).",
        target.bucket.value, target.bucket.source
    )
}

fn unreachable(target: &Target) -> String {
    match &target.endpoint {
        Some(e) => format!(
            "Nothing answered at {} ({}): check the endpoint, DNS, proxies, firewalls and TLS \
             settings.",
            e.value, e.source
        ),
        None => "The cloud's endpoint did not answer: check DNS, proxies, firewalls and TLS \
                 settings from where Label Studio runs."
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AzureSettings, Secret, Source, Sourced};

    fn target() -> Target {
        let flag = |f: &str| Source::Flag { flag: f.into() };
        Target {
            provider: Sourced::new(Provider::Azure, flag("--type")),
            bucket: Sourced::new("media".into(), flag("--bucket")),
            folder: Sourced::new(String::new(), flag("--folder")),
            endpoint: None,
            region: None,
            url_expiry_secs: Sourced::new(900, Source::Default),
            origins: vec![],
            settings: ProviderSettings::Azure(AzureSettings {
                account_name: Sourced::new("acct".into(), flag("--account")),
                credentials: AzureCredentials::Sas(Sourced::new(
                    Secret::new("sv=1&sig=x"),
                    flag("--sas"),
                )),
            }),
        }
    }

    #[test]
    fn a_server_error_gets_no_permission_advice() {
        let t = target();
        let failed = Failure::Unexpected {
            status: 500,
            code: Some("InternalError".into()),
            detail: String::new(),
        };
        let fix = for_failure(&t, Action::Put, &failed);
        assert!(fix.contains("error of the server"), "{fix}");
        assert!(!fix.contains("SAS token"), "{fix}");
        let odd = Failure::Unexpected {
            status: 409,
            code: None,
            detail: String::new(),
        };
        assert!(for_failure(&t, Action::Put, &odd).contains("SAS token"));
    }
}
