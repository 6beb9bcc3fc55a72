//! Google Cloud Storage through its JSON API (what Label Studio's Python client uses, and what
//! fake-gcs-server serves): OAuth bearer from object_store's credential provider
//! (service-account key or metadata server).
use bytes::Bytes;
use http::Method;
use object_store::client::HttpRequest;
use object_store::gcp::{GoogleCloudStorage, GoogleCloudStorageBuilder};
use serde::Deserialize;

use std::sync::Arc;

use super::credential::{CredentialError, CredentialIdentity};
use super::gcp_credentials::{MetadataProvider, MetadataSigning};
use super::gcp_external::{ExternalProvider, ExternalSigning};
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
    Static(CredentialIdentity),
    Metadata(Arc<MetadataProvider>),
    External(Arc<ExternalProvider>),
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
                base = serde_json::from_str::<serde_json::Value>(json.expose())
                    .ok()
                    .and_then(|v| v.get("gcs_base_url")?.as_str().map(str::to_string));
                Credentials::Static(CredentialIdentity {
                    source: format!("service-account JSON ({source})"),
                    identity: client_email
                        .as_ref()
                        .map(|e| format!("service account {e}"))
                        .unwrap_or_else(|| "service account (no client_email)".into()),
                })
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
            Credentials::Static(i) => Ok(i.clone()),
            Credentials::Metadata(p) => p.current().await.map(|f| f.identity),
            Credentials::External(p) => p.current().await.map(|f| f.identity),
        }
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
