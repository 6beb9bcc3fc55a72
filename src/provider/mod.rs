//! One adapter per cloud, the same shape for each: build the request an operation needs,
//! sign it with object_store's own authorizer (SigV4, SharedKey / SAS, OAuth bearer), send it
//! once with reqwest and hand back the answer as it came. No retries: a 403 is a 403.
pub mod answers;
pub mod aws_credentials;
pub mod azure;
pub mod azure_sas;
pub mod credential;
pub mod gcp_credentials;
pub mod gcp_external;
pub mod gcp_service_account;
pub mod gcs;
pub mod gcs_sign;
pub mod keys;
pub mod outcome;
pub mod presign;
pub mod s3;
pub mod s3_upload;
pub mod sigv4;
pub mod tls;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use object_store::client::HttpRequest;

use crate::config::{Provider, ProviderSettings, Target, TlsVerify};
pub use credential::{CredentialError, CredentialIdentity};
pub use outcome::{Failure, classify};

/// One storage operation, as Label Studio performs it.
#[derive(Clone, Debug)]
pub enum Op {
    /// Upload an object.
    Put {
        /// Full key.
        key: String,
        /// Content.
        body: Bytes,
        /// `Content-Type`.
        content_type: String,
    },
    /// Download an object.
    Get {
        /// Full key.
        key: String,
    },
    /// Read an object's metadata (S3 HeadObject, Azure Get Blob Properties, GCS metadata GET).
    Head {
        /// Full key.
        key: String,
    },
    /// List keys under a prefix.
    List {
        /// Key prefix.
        prefix: String,
        /// At most this many keys in one page.
        limit: usize,
        /// Continuation token of the previous page.
        page: Option<String>,
    },
    /// Delete one object (a single DELETE, as Label Studio sends it).
    Delete {
        /// Full key.
        key: String,
    },
}

impl Op {
    /// A short name for evidence: put, get, head, list, delete.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Put { .. } => "put",
            Op::Get { .. } => "get",
            Op::Head { .. } => "head",
            Op::List { .. } => "list",
            Op::Delete { .. } => "delete",
        }
    }
}

/// What the server answered.
#[derive(Clone, Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Bytes,
}

/// One object in a listing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag or generation, whatever identifies this version.
    pub version: String,
}

/// One page of a listing.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// The objects.
    pub objects: Vec<Listed>,
    /// Token of the next page, when there is one.
    pub next_page: Option<String>,
}

/// A request could not be sent or got no answer (DNS, connect, TLS, timeout).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// The cloud-specific half of an adapter.
#[derive(Debug)]
pub enum Cloud {
    /// Amazon S3 or compatible.
    S3(s3::S3),
    /// Google Cloud Storage.
    Gcs(gcs::Gcs),
    /// Azure Blob Storage.
    Azure(azure::Azure),
}

/// A storage adapter for one target.
#[derive(Debug)]
pub struct Storage {
    cloud: Cloud,
    http: reqwest::Client,
    provider: Provider,
}

impl Storage {
    /// Builds the adapter; sends no request.
    pub fn new(target: &Target) -> Result<Self, crate::config::ConfigError> {
        let http = http_client(target)?;
        let cloud = match &target.settings {
            ProviderSettings::S3(s) => Cloud::S3(s3::S3::new(target, s)?),
            ProviderSettings::Gcs(g) => Cloud::Gcs(gcs::Gcs::new(target, g)?),
            ProviderSettings::Azure(a) => Cloud::Azure(azure::Azure::new(target, a)?),
        };
        Ok(Storage {
            cloud,
            http,
            provider: target.provider(),
        })
    }

    /// The provider.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The HTTP client (for unsigned requests such as CORS preflights and presigned URLs).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Obtains the credentials before any check runs (one attempt) and says whose they are.
    pub async fn identity(&self) -> Result<CredentialIdentity, CredentialError> {
        match &self.cloud {
            Cloud::S3(c) => c.identity().await,
            Cloud::Gcs(c) => c.identity().await,
            Cloud::Azure(c) => Ok(c.identity()),
        }
    }

    /// The cloud-specific adapter.
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// Sends one operation, signed, once.
    pub async fn send(&self, op: &Op) -> Result<Answer, Unreachable> {
        let request = match &self.cloud {
            Cloud::S3(c) => c.request(op).await,
            Cloud::Gcs(c) => c.request(op).await,
            Cloud::Azure(c) => c.request(op).await,
        }?;
        self.execute(request).await
    }

    /// Sends a signed [`HttpRequest`] and reads the whole answer. On S3, an answer saying the
    /// bucket is in another region (and naming it) is followed once, re-signed for that region,
    /// as botocore does for Label Studio's API calls (see [`s3::S3::follow_region_redirect`]).
    pub async fn execute(&self, request: HttpRequest) -> Result<Answer, Unreachable> {
        let Cloud::S3(s3) = &self.cloud else {
            return read_answer(self.fetch(request).await?).await;
        };
        let sent = (
            request.method().clone(),
            request.uri().to_string(),
            request.headers().clone(),
            request.body().as_bytes().cloned().unwrap_or_default(),
        );
        let answer = read_answer(self.fetch(request).await?).await?;
        match s3.follow_region_redirect(&answer, sent).await? {
            Some(again) => read_answer(self.fetch(again).await?).await,
            None => Ok(answer),
        }
    }

    /// Sends a signed request with a body of its own (streamed uploads), once; reads the
    /// whole (small) answer.
    pub async fn execute_with_body(
        &self,
        request: HttpRequest,
        body: reqwest::Body,
    ) -> Result<Answer, Unreachable> {
        let (parts, _) = request.into_parts();
        read_answer(self.send_parts(parts, body).await?).await
    }

    /// Sends a signed request once and hands back the response unread, so that a large body
    /// can be consumed as a stream.
    pub async fn fetch(&self, request: HttpRequest) -> Result<reqwest::Response, Unreachable> {
        let (parts, body) = request.into_parts();
        let body = body.as_bytes().cloned().unwrap_or_default();
        self.send_parts(parts, body.into()).await
    }

    async fn send_parts(
        &self,
        parts: http::request::Parts,
        body: reqwest::Body,
    ) -> Result<reqwest::Response, Unreachable> {
        self.http
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| Unreachable(describe_reqwest_error(&e)))
    }

    /// Parses a successful listing answer.
    pub fn parse_listing(&self, answer: &Answer) -> Result<Listing, String> {
        match &self.cloud {
            Cloud::S3(_) => s3::parse_listing(&answer.body),
            Cloud::Gcs(_) => gcs::parse_listing(&answer.body),
            Cloud::Azure(_) => azure::parse_listing(&answer.body),
        }
    }

    /// The URL of an object as a browser would fetch it (no signature).
    pub fn object_url(&self, key: &str) -> String {
        match &self.cloud {
            Cloud::S3(c) => c.object_url(key),
            Cloud::Gcs(c) => c.object_url(key),
            Cloud::Azure(c) => c.object_url(key),
        }
    }
}

/// Reads a whole response into an [`Answer`].
async fn read_answer(response: reqwest::Response) -> Result<Answer, Unreachable> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| Unreachable(describe_reqwest_error(&e)))?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Builds an unsigned request; the adapter signs it.
pub(crate) fn build(
    method: Method,
    url: &str,
    headers: &[(&str, String)],
    body: Bytes,
) -> HttpRequest {
    let mut builder = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(body.into())
        .expect("request parts built from valid URL and header values")
}

fn http_client(target: &Target) -> Result<reqwest::Client, crate::config::ConfigError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("lsprobe/", env!("CARGO_PKG_VERSION")));
    if let ProviderSettings::S3(s) = &target.settings {
        match &s.verify.value {
            TlsVerify::Verify => {}
            TlsVerify::Skip => builder = builder.tls_danger_accept_invalid_certs(true),
            TlsVerify::CaBundle(path) => {
                let pem =
                    crate::config::limits::read_bytes(path, crate::config::limits::MAX_PEM_BYTES)
                        .map_err(|e| {
                        crate::config::ConfigError(format!(
                            "STORAGE_AWS_S3_VERIFY ({}): cannot read {} ({e})",
                            s.verify.source,
                            path.display()
                        ))
                    })?;
                let certs = tls::pem_certificates(&pem).map_err(|e| {
                    crate::config::ConfigError(format!(
                        "STORAGE_AWS_S3_VERIFY ({}): {} is not a PEM certificate bundle ({e})",
                        s.verify.source,
                        path.display()
                    ))
                })?;
                if certs.is_empty() {
                    return Err(crate::config::ConfigError(format!(
                        "STORAGE_AWS_S3_VERIFY ({}): {} holds no PEM certificate",
                        s.verify.source,
                        path.display()
                    )));
                }
                // boto3 given a bundle trusts that bundle only (it replaces the default
                // roots), so a server whose CA is missing from it fails in Label Studio; a
                // certificate in the bundle is trusted as the server's own, CA or not.
                let config = tls::client_config(certs).map_err(|e| {
                    crate::config::ConfigError(format!(
                        "STORAGE_AWS_S3_VERIFY ({}): {} cannot be used ({e})",
                        s.verify.source,
                        path.display()
                    ))
                })?;
                builder = builder.tls_backend_preconfigured(config);
            }
        }
    }
    builder
        .build()
        .map_err(|e| crate::config::ConfigError(format!("cannot set up the HTTP client: {e}")))
}

/// Says which of DNS, connect, TLS or timeout went wrong, with the chain of causes.
pub fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let url = e.url().map(|u| {
        let mut u = u.clone();
        u.set_query(None);
        format!(" to {u}")
    });
    let chain = chain.join(": ");
    match tls::in_words(&chain) {
        Some(words) => format!(
            "TLS handshake failed{}: {words} ({chain})",
            url.unwrap_or_default()
        ),
        None => format!("{kind}{}: {chain}", url.unwrap_or_default()),
    }
}
