//! [`TargetSummary`]: what the report says about the target. It holds no secret: credentials
//! appear only as the kind of credential, and the endpoint loses its userinfo and query.
use serde::{Deserialize, Deserializer, Serialize};

use crate::config::{
    AzureCredentials, GcsCredentials, Provider, ProviderSettings, S3Credentials, Target,
};

/// The target as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSummary {
    /// `s3`, `gcs` or `azure`.
    #[serde(deserialize_with = "provider_from_str")]
    pub provider: Provider,
    /// Bucket (S3, GCS) or container (Azure).
    pub bucket: String,
    /// Folder inside the bucket ("" for the whole bucket).
    pub folder: String,
    /// Custom endpoint without userinfo, query or fragment; `null` for the cloud's default.
    pub endpoint: Option<String>,
    /// Region (S3), when set.
    pub region: Option<String>,
    /// Label Studio origins the CORS checks use.
    pub origins: Vec<String>,
    /// Lifetime of the presigned URLs Label Studio makes, in seconds.
    pub url_expiry_secs: u64,
    /// The kind of credential, in words: `access keys`, `default chain`,
    /// `service account json`, `metadata server`, `external account`, `account key` or `sas token`.
    pub credentials: String,
    /// The credential source actually used, e.g. `AWS chain: web identity (IRSA)`; `null`
    /// when the credentials could not be obtained.
    #[serde(default)]
    pub credential_source: Option<String>,
    /// Whose credentials: a shortened access key id, role ARN and session, service-account
    /// email, storage account. Never a secret.
    #[serde(default)]
    pub identity: Option<String>,
}

impl TargetSummary {
    /// Records the credentials the run obtained.
    pub fn identify(&mut self, who: crate::provider::CredentialIdentity) {
        self.credential_source = Some(who.source);
        self.identity = Some(who.identity);
    }
}

impl From<&Target> for TargetSummary {
    fn from(target: &Target) -> Self {
        let credentials = match &target.settings {
            ProviderSettings::S3(s3) => match s3.credentials {
                S3Credentials::Keys { .. } => "access keys",
                S3Credentials::Chain(_) => "default chain",
            },
            ProviderSettings::Gcs(gcs) => match gcs.credentials {
                GcsCredentials::ServiceAccount { .. } => "service account json",
                GcsCredentials::MetadataServer { .. } => "metadata server",
                GcsCredentials::ExternalAccount(_) => "external account",
            },
            ProviderSettings::Azure(azure) => match azure.credentials {
                AzureCredentials::AccountKey(_) => "account key",
                AzureCredentials::Sas(_) => "sas token",
            },
        };
        TargetSummary {
            provider: target.provider(),
            bucket: target.bucket.value.clone(),
            folder: target.folder.value.clone(),
            endpoint: target.endpoint.as_ref().map(|e| public_url(&e.value)),
            region: target.region.as_ref().map(|r| r.value.clone()),
            origins: target.origins.iter().map(|o| o.value.clone()).collect(),
            url_expiry_secs: target.url_expiry_secs.value,
            credentials: credentials.to_string(),
            credential_source: None,
            identity: None,
        }
    }
}

/// The URL without user, password, query (a SAS token lives there) or fragment.
fn public_url(url: &url::Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    super::redact::url(&url)
}

fn provider_from_str<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Provider, D::Error> {
    let name = String::deserialize(deserializer)?;
    match name.as_str() {
        "s3" => Ok(Provider::S3),
        "gcs" => Ok(Provider::Gcs),
        "azure" => Ok(Provider::Azure),
        other => Err(serde::de::Error::unknown_variant(
            other,
            &["s3", "gcs", "azure"],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AzureSettings, Secret, Source, Sourced};

    fn azure_target() -> Target {
        let flag = |f: &str| Source::Flag { flag: f.into() };
        Target {
            provider: Sourced::new(Provider::Azure, flag("--type")),
            bucket: Sourced::new("media".into(), flag("--bucket")),
            folder: Sourced::new("ls/data".into(), flag("--folder")),
            endpoint: Some(Sourced::new(
                url::Url::parse(
                    "https://user:hunter2@acct.blob.core.windows.net/?sv=1&sig=SECRETSIG#x",
                )
                .unwrap(),
                flag("--endpoint"),
            )),
            region: None,
            url_expiry_secs: Sourced::new(900, Source::Default),
            origins: vec![Sourced::new(
                "https://ls.example.com".into(),
                flag("--origin"),
            )],
            settings: ProviderSettings::Azure(AzureSettings {
                account_name: Sourced::new("acct".into(), flag("--account")),
                credentials: AzureCredentials::Sas(Sourced::new(
                    Secret::new("sv=1&sig=SECRETSIG"),
                    flag("--sas"),
                )),
            }),
        }
    }

    #[test]
    fn holds_no_secret() {
        let summary = TargetSummary::from(&azure_target());
        let json = serde_json::to_string(&summary).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(!json.contains("SECRETSIG"), "{json}");
        assert!(!json.contains("user"), "{json}");
        assert_eq!(
            summary.endpoint.as_deref(),
            Some("https://acct.blob.core.windows.net/")
        );
        assert_eq!(summary.credentials, "sas token");
        assert_eq!(summary.folder, "ls/data");
        assert_eq!(summary.url_expiry_secs, 900);
        let back: TargetSummary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, summary);
    }

    #[test]
    fn rejects_unknown_provider() {
        let json = r#"{"provider":"ftp","bucket":"b","folder":"","endpoint":null,"region":null,
            "origins":[],"url_expiry_secs":1,"credentials":"x"}"#;
        let err = serde_json::from_str::<TargetSummary>(json).unwrap_err();
        assert!(err.to_string().contains("ftp"), "{err}");
    }
}
