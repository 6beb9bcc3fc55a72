//! Amazon S3 and S3-compatible servers: SigV4 by object_store's `AwsAuthorizer`, credentials
//! from static keys or the step of boto3's chain the configuration selects
//! ([`super::aws_credentials`]).
use bytes::Bytes;
use http::Method;
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsAuthorizer};
use object_store::client::HttpRequest;
use serde::Deserialize;

use std::sync::Arc;

use super::aws_credentials::ChainProvider;
use super::credential::{CredentialError, CredentialIdentity, short_key_id};
use super::{Op, Unreachable, build, keys};
use crate::config::{ConfigError, S3Credentials, S3Settings, Target};

/// Label Studio's region when none is set (boto3's fallback).
const DEFAULT_REGION: &str = "us-east-1";

/// The S3 adapter.
#[derive(Debug)]
pub struct S3 {
    /// `endpoint/bucket` (path style) with a custom endpoint; `None` on AWS, where the URL
    /// depends on the region (see [`S3::bucket_url`]).
    endpoint_bucket_url: Option<String>,
    /// `https` or `http` (`STORAGE_AWS_S3_USE_SSL`), on AWS.
    scheme: &'static str,
    bucket: String,
    /// `STORAGE_AWS_REGION_NAME` (or us-east-1).
    region: String,
    /// The bucket's region learnt from a wrong-region answer: botocore's region-redirect cache.
    learnt_region: std::sync::Mutex<Option<String>>,
    /// `STORAGE_AWS_S3_SIGNATURE_VERSION` as given (unset: SigV2 presigned URLs).
    signature_version: Option<String>,
    store: AmazonS3,
    /// Headers every put carries, from `STORAGE_AWS_OBJECT_PARAMETERS`.
    put_headers: Vec<(&'static str, String)>,
    /// The chain step's provider (no `STORAGE_AWS_*` keys), or the static keys' identity.
    credentials: Credentials,
}

#[derive(Debug)]
enum Credentials {
    Static(CredentialIdentity),
    Chain(Arc<ChainProvider>),
}

impl S3 {
    /// Builds the adapter from the target; sends nothing.
    pub fn new(target: &Target, settings: &S3Settings) -> Result<Self, ConfigError> {
        let region = target
            .region
            .as_ref()
            .map(|r| r.value.clone())
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        let bucket = &target.bucket.value;
        let (builder, credentials) = match &settings.credentials {
            S3Credentials::Keys {
                access_key_id,
                secret_access_key,
            } => (
                AmazonS3Builder::new()
                    .with_access_key_id(access_key_id.value.expose())
                    .with_secret_access_key(secret_access_key.value.expose()),
                Credentials::Static(CredentialIdentity {
                    source: "STORAGE_AWS_* keys".into(),
                    identity: format!(
                        "access key {} ({})",
                        short_key_id(access_key_id.value.expose()),
                        access_key_id.source
                    ),
                }),
            ),
            S3Credentials::Chain(chain) => {
                let provider = Arc::new(ChainProvider::new((**chain).clone()));
                (
                    AmazonS3Builder::new().with_credentials(provider.clone()),
                    Credentials::Chain(provider),
                )
            }
        };
        let mut builder = builder.with_bucket_name(bucket).with_region(&region);
        let mut endpoint_bucket_url = None;
        if let Some(endpoint) = &target.endpoint {
            let base = endpoint.value.as_str().trim_end_matches('/');
            builder = builder
                .with_endpoint(base)
                .with_allow_http(endpoint.value.scheme() == "http");
            endpoint_bucket_url = Some(format!("{base}/{}", keys::component(bucket)));
        }
        let scheme = if settings.use_ssl.value {
            "https"
        } else {
            "http"
        };
        let store = builder.build().map_err(|e| {
            ConfigError(format!(
                "the S3 settings cannot be used ({e}); check bucket, region and endpoint"
            ))
        })?;
        let put_headers = settings
            .object_parameters
            .as_ref()
            .map(|p| object_parameter_headers(&p.value))
            .unwrap_or_default();
        Ok(S3 {
            endpoint_bucket_url,
            scheme,
            bucket: bucket.clone(),
            region,
            learnt_region: std::sync::Mutex::new(None),
            signature_version: settings.signature_version.as_ref().map(|v| v.value.clone()),
            store,
            put_headers,
            credentials,
        })
    }

    /// The bucket's URL: `endpoint/bucket` with a custom endpoint, else
    /// `https://bucket.s3.<region>.amazonaws.com` for the region requests are signed for.
    pub fn bucket_url(&self) -> String {
        self.bucket_url_in(&self.region())
    }

    fn bucket_url_in(&self, region: &str) -> String {
        match &self.endpoint_bucket_url {
            Some(url) => url.clone(),
            None if self.bucket.contains('.') => {
                format!(
                    "{}://s3.{region}.amazonaws.com/{}",
                    self.scheme, self.bucket
                )
            }
            None => format!(
                "{}://{}.s3.{region}.amazonaws.com",
                self.scheme, self.bucket
            ),
        }
    }

    /// The unsigned URL of an object.
    pub fn object_url(&self, key: &str) -> String {
        format!("{}/{}", self.bucket_url(), keys::path(key))
    }

    /// The object_store client (credentials, presigning).
    pub fn store(&self) -> &AmazonS3 {
        &self.store
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `STORAGE_AWS_S3_SIGNATURE_VERSION`, when set.
    pub fn signature_version(&self) -> Option<&str> {
        self.signature_version.as_deref()
    }

    /// The region requests are signed for: the bucket's region once an answer named it
    /// (as botocore's redirect cache does), else the configured one.
    pub fn region(&self) -> String {
        self.learnt_region().unwrap_or_else(|| self.region.clone())
    }

    /// The configured region (`STORAGE_AWS_REGION_NAME`, or us-east-1): presigned URLs are
    /// signed for it whatever the bucket's region, as botocore signs them.
    pub fn configured_region(&self) -> &str {
        &self.region
    }

    /// The bucket's region, when a wrong-region answer named one and requests follow it.
    pub fn learnt_region(&self) -> Option<String> {
        self.learnt_region
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// botocore's `S3RegionRedirectorv2.redirect_from_error`: when `answer` says the bucket is
    /// in another region and names it, remember that region and return `sent` (the request as
    /// it was sent: method, URL, headers, body) moved to that region's URL and signed for it,
    /// to be sent once more. `None`: not a wrong-region answer, or no region named.
    pub async fn follow_region_redirect(
        &self,
        answer: &super::Answer,
        sent: (Method, String, http::HeaderMap, Bytes),
    ) -> Result<Option<HttpRequest>, Unreachable> {
        if answer.status.is_success() {
            return Ok(None);
        }
        let code = super::outcome::error_code(crate::config::Provider::S3, answer);
        let Some(super::answers::Cause::WrongRegion {
            region: Some(region),
        }) = super::answers::s3::diagnose(answer, code.as_deref())
        else {
            return Ok(None);
        };
        let (method, url, headers, body) = sent;
        let old_base = self.bucket_url();
        if region == self.region() {
            return Ok(None);
        }
        *self.learnt_region.lock().unwrap_or_else(|e| e.into_inner()) = Some(region.clone());
        let url = match url.strip_prefix(&old_base) {
            Some(rest) => format!("{}{rest}", self.bucket_url()),
            None => url,
        };
        let kept: Vec<(String, String)> = headers
            .iter()
            .filter(|(name, _)| {
                !matches!(
                    name.as_str(),
                    "authorization"
                        | "x-amz-date"
                        | "x-amz-content-sha256"
                        | "x-amz-security-token"
                )
            })
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let kept: Vec<(&str, String)> = kept.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        let mut request = build(method, &url, &kept, body);
        self.sign(&mut request).await?;
        Ok(Some(request))
    }

    /// Headers every put carries, from `STORAGE_AWS_OBJECT_PARAMETERS`.
    pub fn put_headers(&self) -> &[(&'static str, String)] {
        &self.put_headers
    }

    /// Obtains the credentials (once; the chain's are cached) and says whose they are.
    pub async fn identity(&self) -> Result<CredentialIdentity, CredentialError> {
        match &self.credentials {
            Credentials::Static(i) => Ok(i.clone()),
            Credentials::Chain(p) => p.current().await.map(|f| f.identity),
        }
    }

    /// The chain step's provider, when the credentials come from the AWS chain.
    pub fn chain_provider(&self) -> Option<&Arc<ChainProvider>> {
        match &self.credentials {
            Credentials::Chain(p) => Some(p),
            Credentials::Static(_) => None,
        }
    }

    /// The current credential (static keys, or from the AWS default chain).
    pub async fn credential(
        &self,
    ) -> Result<std::sync::Arc<object_store::aws::AwsCredential>, Unreachable> {
        self.store
            .credentials()
            .get_credential()
            .await
            .map_err(|e| Unreachable(format!("could not obtain AWS credentials: {e}")))
    }

    /// Builds and signs the request for an operation.
    pub async fn request(&self, op: &Op) -> Result<HttpRequest, Unreachable> {
        let mut request = match op {
            Op::Put {
                key,
                body,
                content_type,
            } => {
                let mut headers = vec![("content-type", content_type.clone())];
                headers.extend(self.put_headers.iter().cloned());
                build(Method::PUT, &self.object_url(key), &headers, body.clone())
            }
            Op::Get { key } => build(Method::GET, &self.object_url(key), &[], Bytes::new()),
            Op::Head { key } => build(Method::HEAD, &self.object_url(key), &[], Bytes::new()),
            Op::Delete { key } => build(Method::DELETE, &self.object_url(key), &[], Bytes::new()),
            Op::List {
                prefix,
                limit,
                page,
            } => {
                // ListObjects (V1) with markers, as boto3's `objects.filter` sends it: every
                // S3-compatible server has it (s3rver 3.7.1 answers 500 to a truncated V2).
                let mut url = format!(
                    "{}/?max-keys={limit}&prefix={}",
                    self.bucket_url(),
                    keys::component(prefix)
                );
                if let Some(marker) = page {
                    url.push_str(&format!("&marker={}", keys::component(marker)));
                }
                build(Method::GET, &url, &[], Bytes::new())
            }
        };
        self.sign(&mut request).await?;
        Ok(request)
    }

    /// Signs any S3 request with SigV4 (object_store's authorizer), payload hash included.
    pub async fn sign(&self, request: &mut HttpRequest) -> Result<(), Unreachable> {
        let credential = self.credential().await?;
        let region = self.region();
        AwsAuthorizer::new(&credential, "s3", &region)
            .try_authorize(request, None)
            .map_err(|e| Unreachable(format!("could not sign the request: {e}")))
    }
}

/// Maps boto3's ExtraArgs names of `STORAGE_AWS_OBJECT_PARAMETERS` to S3 request headers.
pub fn object_parameter_headers(
    params: &serde_json::Map<String, serde_json::Value>,
) -> Vec<(&'static str, String)> {
    const MAP: &[(&str, &str)] = &[
        ("ServerSideEncryption", "x-amz-server-side-encryption"),
        ("SSEKMSKeyId", "x-amz-server-side-encryption-aws-kms-key-id"),
        (
            "BucketKeyEnabled",
            "x-amz-server-side-encryption-bucket-key-enabled",
        ),
        ("StorageClass", "x-amz-storage-class"),
        ("ACL", "x-amz-acl"),
        ("CacheControl", "cache-control"),
        ("ContentDisposition", "content-disposition"),
        ("ContentEncoding", "content-encoding"),
    ];
    MAP.iter()
        .filter_map(|(name, header)| {
            let value = params.get(*name)?;
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((*header, text))
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    contents: Vec<Contents>,
    #[serde(default)]
    is_truncated: bool,
    next_marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Contents {
    key: String,
    #[serde(default)]
    size: u64,
    #[serde(rename = "ETag", default)]
    etag: String,
}

/// Parses a ListObjects answer; the next page starts after `NextMarker` or the last key.
pub fn parse_listing(body: &[u8]) -> Result<super::Listing, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("listing is not UTF-8: {e}"))?;
    let result: ListBucketResult =
        quick_xml::de::from_str(text).map_err(|e| format!("cannot read the S3 listing: {e}"))?;
    let next_page = if result.is_truncated {
        result
            .next_marker
            .filter(|m| !m.is_empty())
            .or_else(|| result.contents.last().map(|c| c.key.clone()))
    } else {
        None
    };
    Ok(super::Listing {
        objects: result
            .contents
            .into_iter()
            .map(|c| super::Listed {
                key: c.key,
                size: c.size,
                version: c.etag,
            })
            .collect(),
        next_page,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_listing() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>m/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>m/a b.txt</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"x"</ETag><Size>3</Size></Contents>
<Contents><Key>m/ü</Key><ETag>"y"</ETag><Size>0</Size></Contents>
</ListBucketResult>"#;
        let l = parse_listing(&Bytes::from(xml)).unwrap();
        assert_eq!(l.objects.len(), 2);
        assert_eq!(l.objects[0].key, "m/a b.txt");
        assert_eq!(l.objects[1].key, "m/ü");
        assert_eq!(
            l.next_page.as_deref(),
            Some("m/ü"),
            "truncated: continue after the last key"
        );
        let empty = parse_listing(&Bytes::from(
            "<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>",
        ))
        .unwrap();
        assert!(empty.objects.is_empty());
    }

    fn aws_target() -> Target {
        use crate::config::{ProviderSettings, Secret, Source, Sourced, TlsVerify};
        let flag = |f: &str| Source::Flag { flag: f.into() };
        Target {
            provider: Sourced::new(crate::config::Provider::S3, flag("--type")),
            bucket: Sourced::new("ls-media".into(), flag("--bucket")),
            folder: Sourced::new(String::new(), Source::Default),
            endpoint: None,
            region: Some(Sourced::new("us-east-1".into(), flag("--region"))),
            url_expiry_secs: Sourced::new(900, Source::Default),
            origins: vec![],
            settings: ProviderSettings::S3(Box::new(S3Settings {
                credentials: S3Credentials::Keys {
                    access_key_id: Sourced::new(Secret::new("AKIDEXAMPLE"), flag("--key")),
                    secret_access_key: Sourced::new(Secret::new("secret"), flag("--secret")),
                },
                object_parameters: None,
                use_ssl: Sourced::new(true, Source::Default),
                verify: Sourced::new(TlsVerify::Verify, Source::Default),
                signature_version: None,
            })),
        }
    }

    #[tokio::test]
    async fn follows_a_wrong_region_answer_once_as_botocore_does() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let target = aws_target();
        let crate::config::ProviderSettings::S3(settings) = &target.settings else {
            unreachable!()
        };
        let s3 = S3::new(&target, settings).unwrap();
        assert_eq!(
            s3.object_url("k"),
            "https://ls-media.s3.us-east-1.amazonaws.com/k"
        );
        let answer = crate::provider::Answer {
            status: http::StatusCode::BAD_REQUEST,
            headers: http::HeaderMap::new(),
            body: Bytes::from(
                "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region \
                 'us-east-1' is wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region>\
                 </Error>",
            ),
        };
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", "AWS4-HMAC-SHA256 old".parse().unwrap());
        headers.insert("content-type", "text/plain".parse().unwrap());
        let sent = (
            Method::PUT,
            s3.object_url("a/k.bin"),
            headers.clone(),
            Bytes::from_static(b"x"),
        );
        let again = s3
            .follow_region_redirect(&answer, sent)
            .await
            .unwrap()
            .expect("re-sent to the named region");
        assert_eq!(
            again.uri().to_string(),
            "https://ls-media.s3.eu-west-1.amazonaws.com/a/k.bin"
        );
        let auth = again.headers()["authorization"].to_str().unwrap();
        assert!(auth.contains("/eu-west-1/s3/aws4_request"), "{auth}");
        assert_eq!(again.headers()["content-type"], "text/plain");
        assert_eq!(s3.learnt_region().as_deref(), Some("eu-west-1"));
        assert_eq!(s3.configured_region(), "us-east-1");
        // Later requests go to the learnt region; the same answer again is not followed again.
        assert_eq!(
            s3.object_url("k"),
            "https://ls-media.s3.eu-west-1.amazonaws.com/k"
        );
        let sent = (Method::GET, s3.object_url("k"), headers, Bytes::new());
        assert!(
            s3.follow_region_redirect(&answer, sent)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn object_parameters_become_headers() {
        let p: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"ServerSideEncryption":"aws:kms","SSEKMSKeyId":"k","Other":1}"#,
        )
        .unwrap();
        let h = object_parameter_headers(&p);
        assert!(h.contains(&("x-amz-server-side-encryption", "aws:kms".to_string())));
        assert!(h.contains(&(
            "x-amz-server-side-encryption-aws-kms-key-id",
            "k".to_string()
        )));
        assert_eq!(h.len(), 2);
    }
}
