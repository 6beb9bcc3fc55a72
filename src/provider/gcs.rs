//! Google Cloud Storage through its JSON API (what Label Studio's Python client uses, and what
//! fake-gcs-server serves): OAuth bearer from the credentials Label Studio's client uses: a
//! service-account key (JWT grant at its `token_uri`, as google-auth does), the metadata server,
//! or workload identity federation. [`GcsTokens`] shares the same token cache with `lsprobe
//! load`'s lean path.
use bytes::Bytes;
use http::Method;
use object_store::client::HttpRequest;
use object_store::gcp::{GcpCredential, GoogleCloudStorage, GoogleCloudStorageBuilder};
use serde::Deserialize;

use std::sync::Arc;

use super::credential::{CredentialError, CredentialIdentity};
use super::gcp_credentials::{MetadataProvider, MetadataSigning};
use super::gcp_external::{ExternalProvider, ExternalSigning};
use super::gcp_service_account::ServiceAccountProvider;
use super::{Op, Unreachable, build, keys};
use crate::config::{ConfigError, GcsCredentials, GcsSettings, Target};

const DEFAULT_BASE: &str = "https://storage.googleapis.com";

/// The GCS adapter.
#[derive(Debug)]
pub struct Gcs {
    base: String,
    bucket: String,
    store: GoogleCloudStorage,
    credentials: Credentials,
}

#[derive(Debug)]
enum Credentials {
    /// A key file: its identity is known without a request; tokens from the JWT grant
    /// (none for an emulator file with `disable_oauth`).
    Static(CredentialIdentity, Option<Arc<ServiceAccountProvider>>),
    Metadata(Arc<MetadataProvider>),
    External(Arc<ExternalProvider>),
}

/// Where a GCS run's bearer tokens come from; clones share one token cache.
#[derive(Clone, Debug)]
pub enum GcsTokens {
    /// No token is sent (an emulator key file with `disable_oauth`).
    None,
    /// A service-account key (JWT grant).
    ServiceAccount(Arc<ServiceAccountProvider>),
    /// The metadata server (GKE Workload Identity, GCE).
    Metadata(Arc<MetadataProvider>),
    /// Workload identity federation.
    External(Arc<ExternalProvider>),
}

impl GcsTokens {
    /// The current token, fetched on first use and again ahead of expiry; `None` when the
    /// credentials send no token.
    pub async fn current(&self) -> Result<Option<Arc<GcpCredential>>, CredentialError> {
        Ok(Some(
            match self {
                GcsTokens::None => return Ok(None),
                GcsTokens::ServiceAccount(p) => p.current().await?,
                GcsTokens::Metadata(p) => p.current().await?,
                GcsTokens::External(p) => p.current().await?,
            }
            .credential,
        ))
    }
}

impl Gcs {
    /// Builds the adapter from the target; sends nothing.
    pub fn new(target: &Target, settings: &GcsSettings) -> Result<Self, ConfigError> {
        let bucket = target.bucket.value.clone();
        let mut builder = GoogleCloudStorageBuilder::new().with_bucket_name(&bucket);
        let mut base = None;
        let credentials = match &settings.credentials {
            GcsCredentials::ServiceAccount {
                json,
                source,
                client_email,
            } => {
                builder = builder.with_service_account_key(json.expose());
                let parsed = serde_json::from_str::<serde_json::Value>(json.expose()).ok();
                base = parsed
                    .as_ref()
                    .and_then(|v| v.get("gcs_base_url")?.as_str().map(str::to_string));
                let disable_oauth = parsed
                    .as_ref()
                    .and_then(|v| v.get("disable_oauth")?.as_bool())
                    .unwrap_or(false);
                let tokens = if disable_oauth {
                    None
                } else {
                    let provider = Arc::new(
                        ServiceAccountProvider::new(json, &source.to_string())
                            .map_err(ConfigError)?,
                    );
                    builder = builder.with_credentials(provider.clone());
                    Some(provider)
                };
                Credentials::Static(
                    CredentialIdentity {
                        source: format!("service-account JSON ({source})"),
                        identity: client_email
                            .as_ref()
                            .map(|e| format!("service account {e}"))
                            .unwrap_or_else(|| "service account (no client_email)".into()),
                    },
                    tokens,
                )
            }
            GcsCredentials::ExternalAccount(account) => {
                let provider = Arc::new(ExternalProvider::new((**account).clone()));
                let email = account.service_account().unwrap_or_default();
                builder = builder
                    .with_credentials(provider.clone())
                    .with_signing_credentials(Arc::new(ExternalSigning(email)));
                Credentials::External(provider)
            }
            GcsCredentials::MetadataServer { endpoint } => {
                let provider = Arc::new(MetadataProvider::new(endpoint.clone()));
                builder = builder
                    .with_credentials(provider.clone())
                    .with_signing_credentials(Arc::new(MetadataSigning(provider.clone())));
                Credentials::Metadata(provider)
            }
        };
        if let Some(endpoint) = &target.endpoint {
            base = Some(endpoint.value.as_str().to_string());
        }
        let base = base
            .unwrap_or_else(|| DEFAULT_BASE.to_string())
            .trim_end_matches('/')
            .to_string();
        let store = builder.build().map_err(|e| {
            ConfigError(format!(
                "the GCS settings cannot be used ({e}); check the service-account JSON and bucket"
            ))
        })?;
        Ok(Gcs {
            base,
            bucket,
            store,
            credentials,
        })
    }

    /// Obtains the credentials (once; the metadata server's are cached) and says whose they are.
    pub async fn identity(&self) -> Result<CredentialIdentity, CredentialError> {
        match &self.credentials {
            Credentials::Static(i, _) => Ok(i.clone()),
            Credentials::Metadata(p) => p.current().await.map(|f| f.identity),
            Credentials::External(p) => p.current().await.map(|f| f.identity),
        }
    }

    /// The bearer tokens this adapter sends (the same cache).
    pub fn tokens(&self) -> GcsTokens {
        match &self.credentials {
            Credentials::Static(_, None) => GcsTokens::None,
            Credentials::Static(_, Some(p)) => GcsTokens::ServiceAccount(p.clone()),
            Credentials::Metadata(p) => GcsTokens::Metadata(p.clone()),
            Credentials::External(p) => GcsTokens::External(p.clone()),
        }
    }

    /// The JSON API base URL (no trailing `/`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The object_store client (credentials, signing).
    pub fn store(&self) -> &GoogleCloudStorage {
        &self.store
    }

    /// The public URL of an object (XML API style, as a signed URL has it).
    pub fn object_url(&self, key: &str) -> String {
        format!("{}/{}/{}", self.base, self.bucket, keys::path(key))
    }

    fn json_object_url(&self, key: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.base,
            keys::component(&self.bucket),
            keys::component(key)
        )
    }

    /// Builds and authorizes the request for an operation.
    pub async fn request(&self, op: &Op) -> Result<HttpRequest, Unreachable> {
        let bucket = keys::component(&self.bucket);
        let (method, url, headers, body) = match op {
            Op::Put {
                key,
                body,
                content_type,
            } => (
                Method::POST,
                format!(
                    "{}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}",
                    self.base,
                    keys::component(key)
                ),
                vec![("content-type", content_type.clone())],
                body.clone(),
            ),
            Op::Get { key } => (
                Method::GET,
                format!("{}?alt=media", self.json_object_url(key)),
                vec![],
                Bytes::new(),
            ),
            Op::Head { key } => (Method::GET, self.json_object_url(key), vec![], Bytes::new()),
            Op::Delete { key } => (
                Method::DELETE,
                self.json_object_url(key),
                vec![],
                Bytes::new(),
            ),
            Op::List {
                prefix,
                limit,
                page,
            } => {
                let mut url = format!(
                    "{}/storage/v1/b/{bucket}/o?prefix={}&maxResults={limit}",
                    self.base,
                    keys::component(prefix)
                );
                if let Some(token) = page {
                    url.push_str(&format!("&pageToken={}", keys::component(token)));
                }
                (Method::GET, url, vec![], Bytes::new())
            }
        };
        let mut headers = headers;
        let credential = self
            .store
            .credentials()
            .get_credential()
            .await
            .map_err(|e| Unreachable(format!("could not obtain a GCS access token: {e}")))?;
        if !credential.bearer.is_empty() {
            headers.push(("authorization", format!("Bearer {}", credential.bearer)));
        }
        Ok(build(method, &url, &headers, body))
    }
}

#[derive(Deserialize)]
struct Objects {
    #[serde(default)]
    items: Vec<Item>,
    #[serde(rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct Item {
    name: String,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    generation: Option<String>,
    #[serde(default)]
    etag: Option<String>,
}

/// Parses a JSON API `objects.list` answer.
pub fn parse_listing(body: &[u8]) -> Result<super::Listing, String> {
    let objects: Objects =
        serde_json::from_slice(body).map_err(|e| format!("cannot read the GCS listing: {e}"))?;
    Ok(super::Listing {
        objects: objects
            .items
            .into_iter()
            .map(|i| super::Listed {
                key: i.name,
                size: i.size.and_then(|s| s.parse().ok()).unwrap_or(0),
                version: i.generation.or(i.etag).unwrap_or_default(),
            })
            .collect(),
        next_page: objects.next_page_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_listing() {
        let body = r#"{"kind":"storage#objects","items":[{"name":"m/a b","size":"3","generation":"7"}],"nextPageToken":"t"}"#;
        let l = parse_listing(&Bytes::from(body)).unwrap();
        assert_eq!(l.objects[0].key, "m/a b");
        assert_eq!(l.objects[0].size, 3);
        assert_eq!(l.next_page.as_deref(), Some("t"));
        assert!(
            parse_listing(&Bytes::from("{}"))
                .unwrap()
                .objects
                .is_empty()
        );
    }
}
