//! The GCE metadata server as google-auth reaches it: `GCE_METADATA_HOST` (or
//! `metadata.google.internal`), `Metadata-Flavor: Google`, one attempt, a short timeout, and no
//! fallback to 169.254.169.254 when the configured host does not answer.
use std::sync::Arc;

use object_store::gcp::{GcpCredential, GcpSigningCredential};
use serde::Deserialize;

use super::credential::{
    CredentialError, CredentialIdentity, Fetched, METADATA_TIMEOUT, Refreshing, fetch_client,
    send_error,
};
use crate::config::Sourced;
use crate::report::redact;

/// Implements object_store's `CredentialProvider` for a token source with an async
/// `current()` returning a `Fetched` GCS credential (metadata server, key file, federation).
macro_rules! gcs_token_provider {
    ($provider:ty) => {
        #[async_trait::async_trait]
        impl object_store::CredentialProvider for $provider {
            type Credential = object_store::gcp::GcpCredential;

            async fn get_credential(
                &self,
            ) -> object_store::Result<std::sync::Arc<object_store::gcp::GcpCredential>> {
                self.current().await.map(|f| f.credential).map_err(|e| {
                    object_store::Error::Generic {
                        store: "GCS",
                        source: Box::new(e),
                    }
                })
            }
        }
    };
}
pub(crate) use gcs_token_provider;

const TOKEN_PATH: &str = "computeMetadata/v1/instance/service-accounts/default/token";
const EMAIL_PATH: &str = "computeMetadata/v1/instance/service-accounts/default/email";

/// Access tokens (and the service account's email) from the metadata server.
#[derive(Debug)]
pub struct MetadataProvider {
    endpoint: Sourced<url::Url>,
    cache: Refreshing<GcpCredential>,
}

impl MetadataProvider {
    /// A provider for the metadata server at `endpoint`; sends nothing until asked.
    pub fn new(endpoint: Sourced<url::Url>) -> Self {
        MetadataProvider {
            endpoint,
            cache: Refreshing::default(),
        }
    }

    /// The current token (fetched on first use and ahead of expiry).
    pub async fn current(&self) -> Result<Fetched<GcpCredential>, CredentialError> {
        self.cache.get(|| self.fetch()).await
    }

    fn error(&self, what: &str, detail: String) -> CredentialError {
        CredentialError {
            step: "GCE metadata server".into(),
            detail: format!(
                "{what} at {} ({}): {detail}",
                redact::url(&self.endpoint.value),
                self.endpoint.source
            ),
            fix: format!(
                "Outside GCE/GKE there is no metadata server: give the service-account JSON \
                 (GOOGLE_APPLICATION_CREDENTIALS or --gcs-credentials), or fix \
                 GCE_METADATA_HOST ({}) if it is set. On GKE, check that Workload Identity is \
                 enabled on the node pool and the pod's service account is bound to a Google \
                 service account.",
                self.endpoint.source
            ),
        }
    }

    async fn get(&self, path: &str) -> Result<String, CredentialError> {
        let url = format!("{}{path}", self.endpoint.value);
        let answer = fetch_client(METADATA_TIMEOUT)
            .get(&url)
            .header("metadata-flavor", "Google")
            .send()
            .await
            .map_err(|e| self.error(path, send_error(&e, METADATA_TIMEOUT)))?;
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        if !status.is_success() {
            let body: String = body.chars().take(200).collect();
            return Err(self.error(path, format!("answered {status}: {body}")));
        }
        Ok(body)
    }

    async fn fetch(&self) -> Result<Fetched<GcpCredential>, CredentialError> {
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
            #[serde(default)]
            expires_in: Option<i64>,
        }
        let body = self.get(TOKEN_PATH).await?;
        let token: Token = serde_json::from_str(&body)
            .map_err(|e| self.error(TOKEN_PATH, format!("not a token JSON ({e})")))?;
        let email = self.get(EMAIL_PATH).await?.trim().to_string();
        Ok(Fetched {
            credential: Arc::new(GcpCredential {
                bearer: token.access_token,
            }),
            expires: token
                .expires_in
                .map(|s| chrono::Utc::now() + chrono::Duration::seconds(s)),
            identity: CredentialIdentity {
                source: format!(
                    "GCE metadata server {} ({})",
                    redact::url(&self.endpoint.value),
                    self.endpoint.source
                ),
                identity: format!("service account {email}"),
            },
        })
    }
}

gcs_token_provider!(MetadataProvider);

/// The signing identity of the metadata server's service account (signBlob, no private key).
#[derive(Debug)]
pub struct MetadataSigning(pub Arc<MetadataProvider>);

#[async_trait::async_trait]
impl object_store::CredentialProvider for MetadataSigning {
    type Credential = GcpSigningCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<GcpSigningCredential>> {
        let fetched = self
            .0
            .current()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "GCS",
                source: Box::new(e),
            })?;
        let email = fetched
            .identity
            .identity
            .trim_start_matches("service account ")
            .to_string();
        Ok(Arc::new(GcpSigningCredential {
            email,
            private_key: None,
        }))
    }
}
