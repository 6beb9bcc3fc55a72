//! Presigned URLs made exactly as Label Studio makes them: S3 SigV2 query signing when
//! `STORAGE_AWS_S3_SIGNATURE_VERSION` is unset or `s3` (botocore's default for presigned S3
//! URLs, observed with Label Studio 1.23.2), SigV4 with `s3v4`; Azure blob SAS from the account
//! key (`sp=r&sr=b` for reads); GCS V4 signed URLs (see [`super::gcs_sign`]).
//!
//! A presigned URL is as good as a credential until it expires: only [`redact`]ed forms of it may
//! appear in a report or message.
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use object_store::signer::Signer;

use super::azure_sas::{SasResource, service_sas};
use super::{Cloud, Storage, gcs_sign, keys};
use crate::config::{AzureCredentials, ProviderSettings, Target};

/// How a URL is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// S3 query-string SigV2 (`AWSAccessKeyId`, `Signature`, `Expires`).
    S3SigV2,
    /// S3 query-string SigV4 (`X-Amz-Algorithm=AWS4-HMAC-SHA256`).
    S3SigV4,
    /// Azure service SAS for one blob (`sr=b`).
    AzureBlobSas,
    /// GCS V4 signed with the service account's private key.
    GcsV4Key,
    /// GCS V4 signed through the IAM signBlob API (no private key: Workload Identity).
    GcsV4SignBlob,
}

impl Scheme {
    /// A short name for evidence.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::S3SigV2 => "s3-sigv2",
            Scheme::S3SigV4 => "s3-sigv4",
            Scheme::AzureBlobSas => "azure-blob-sas",
            Scheme::GcsV4Key => "gcs-v4-private-key",
            Scheme::GcsV4SignBlob => "gcs-v4-signblob",
        }
    }
}

/// A presigned URL and the headers its user must send with it.
#[derive(Clone, Debug)]
pub struct Presigned {
    /// The URL, signature included: never print it, print [`redact`] of it.
    pub url: String,
    /// How it is signed.
    pub scheme: Scheme,
    /// Headers the request must carry (signed ones, `x-ms-blob-type` for an Azure upload).
    pub headers: Vec<(String, String)>,
}

/// Why no presigned URL could be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PresignError {
    /// This configuration cannot make one (not a failure of the bucket): the reason.
    Unsupported(String),
    /// The IAM signBlob API refused to sign (GCS without a private key).
    SignBlobRefused {
        /// HTTP status.
        status: u16,
        /// Google's error status or reason (e.g. `PERMISSION_DENIED`,
        /// `ACCESS_TOKEN_SCOPE_INSUFFICIENT`).
        code: Option<String>,
        /// Google's message.
        message: String,
        /// The service account whose key would sign.
        email: String,
    },
    /// Signing failed for another reason (credentials could not be obtained, signBlob
    /// unreachable).
    Failed(String),
}

impl std::fmt::Display for PresignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PresignError::Unsupported(why) | PresignError::Failed(why) => f.write_str(why),
            PresignError::SignBlobRefused {
                status,
                code,
                message,
                email,
            } => write!(
                f,
                "the IAM signBlob API refused to sign for {email} ({status}{}): {message}",
                code.as_ref().map(|c| format!(" {c}")).unwrap_or_default()
            ),
        }
    }
}

/// The S3 signature version Label Studio (botocore) uses for presigned URLs, given
/// `STORAGE_AWS_S3_SIGNATURE_VERSION` and the configured region (`None`: botocore's
/// `us-east-1`): see [`crate::config::as_label_studio::presigns_with_sigv4`].
pub fn s3_scheme(signature_version: Option<&str>, region: Option<&str>) -> Scheme {
    if crate::config::as_label_studio::presigns_with_sigv4(signature_version, region) {
        Scheme::S3SigV4
    } else {
        Scheme::S3SigV2
    }
}

impl Storage {
    /// A presigned URL for `method` on `key`, valid `expires_secs`, made as Label Studio makes
    /// it. `content_type` is bound to upload URLs where the scheme signs it.
    pub async fn presign(
        &self,
        target: &Target,
        method: Method,
        key: &str,
        content_type: Option<&str>,
        expires_secs: u64,
    ) -> Result<Presigned, PresignError> {
        match self.cloud() {
            Cloud::S3(s3) => {
                let scheme = s3_scheme(s3.signature_version(), Some(s3.configured_region()));
                if scheme == Scheme::S3SigV4 {
                    let path = object_store::path::Path::parse(key)
                        .map_err(|e| PresignError::Failed(format!("key `{key}`: {e}")))?;
                    let url = s3
                        .store()
                        .signed_url(method, &path, Duration::from_secs(expires_secs))
                        .await
                        .map_err(|e| PresignError::Failed(format!("SigV4 presigning: {e}")))?;
                    let headers = content_type
                        .map(|c| vec![("content-type".to_string(), c.to_string())])
                        .unwrap_or_default();
                    return Ok(Presigned {
                        url: url.to_string(),
                        scheme,
                        headers,
                    });
                }
                let credential = s3
                    .store()
                    .credentials()
                    .get_credential()
                    .await
                    .map_err(|e| {
                        PresignError::Failed(format!("could not obtain AWS credentials: {e}"))
                    })?;
                let expires = chrono::Utc::now().timestamp() as u64 + expires_secs;
                let url = s3_sigv2_url(
                    &s3.object_url(key),
                    s3.bucket(),
                    key,
                    &method,
                    content_type.unwrap_or(""),
                    expires,
                    &credential.key_id,
                    &credential.secret_key,
                    credential.token.as_deref(),
                );
                let headers = content_type
                    .map(|c| vec![("content-type".to_string(), c.to_string())])
                    .unwrap_or_default();
                Ok(Presigned {
                    url,
                    scheme,
                    headers,
                })
            }
            Cloud::Azure(azure) => {
                let ProviderSettings::Azure(settings) = &target.settings else {
                    unreachable!("an Azure adapter comes from Azure settings")
                };
                let key_b64 = match &settings.credentials {
                    AzureCredentials::AccountKey(k) => k.value.expose().to_string(),
                    AzureCredentials::Sas(s) => {
                        return Err(PresignError::Unsupported(format!(
                            "Label Studio signs media URLs with the account key \
                             (STORAGE_AZURE_ACCOUNT_KEY); this run has a SAS token ({}) instead",
                            s.source
                        )));
                    }
                };
                let (permissions, mut headers) = if method == Method::PUT {
                    (
                        "cw",
                        vec![("x-ms-blob-type".to_string(), "BlockBlob".into())],
                    )
                } else {
                    ("r", vec![])
                };
                if let Some(c) = content_type {
                    headers.push(("content-type".into(), c.to_string()));
                }
                let expiry = chrono::Utc::now() + chrono::Duration::seconds(expires_secs as i64);
                let sas = service_sas(
                    azure.account(),
                    &key_b64,
                    &target.bucket.value,
                    SasResource::Blob(key),
                    permissions,
                    expiry,
                )
                .map_err(PresignError::Failed)?;
                Ok(Presigned {
                    url: format!("{}?{sas}", azure.object_url(key)),
                    scheme: Scheme::AzureBlobSas,
                    headers,
                })
            }
            Cloud::Gcs(gcs) => {
                gcs_sign::signed_url(
                    gcs,
                    self.http(),
                    target,
                    method,
                    key,
                    content_type,
                    expires_secs,
                )
                .await
            }
        }
    }
}

/// botocore's `HmacV1QueryAuth`: `Signature = base64(HMAC-SHA1(secret, METHOD \n \n
/// content-type \n expires \n [x-amz-security-token:...\n] /bucket/key))`.
#[allow(clippy::too_many_arguments)]
pub fn s3_sigv2_url(
    object_url: &str,
    bucket: &str,
    key: &str,
    method: &Method,
    content_type: &str,
    expires: u64,
    key_id: &str,
    secret: &str,
    token: Option<&str>,
) -> String {
    let amz = token
        .map(|t| format!("x-amz-security-token:{t}\n"))
        .unwrap_or_default();
    let resource = format!("/{bucket}/{}", keys::path(key));
    let string_to_sign = format!("{method}\n\n{content_type}\n{expires}\n{amz}{resource}");
    let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let signature = STANDARD.encode(ring::hmac::sign(&mac, string_to_sign.as_bytes()).as_ref());
    let mut url = format!(
        "{object_url}?AWSAccessKeyId={}&Signature={}&Expires={expires}",
        keys::component(key_id),
        keys::component(&signature)
    );
    if let Some(t) = token {
        url.push_str(&format!("&x-amz-security-token={}", keys::component(t)));
    }
    url
}

/// Query parameters whose values are signatures or credentials-equivalents.
const SECRET_PARAMS: &[&str] = &[
    "signature",
    "x-amz-signature",
    "x-goog-signature",
    "sig",
    "x-amz-security-token",
    "awsaccesskeyid",
    "x-amz-credential",
];

/// The URL with every signature, token and key id replaced by `***`: the only form of a
/// presigned URL that may be printed.
pub fn redact(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.contains(&name.to_ascii_lowercase().as_str()) => {
                format!("{name}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigv2_matches_the_documented_example() {
        // AWS's SigV2 query-string example (RESTAuthentication, "Query String Request
        // Authentication"): GET /johnsmith/photos/puppy.jpg, Expires 1175139620.
        let url = s3_sigv2_url(
            "https://johnsmith.s3.amazonaws.com/photos/puppy.jpg",
            "johnsmith",
            "photos/puppy.jpg",
            &Method::GET,
            "",
            1175139620,
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
        );
        assert!(
            url.contains("Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D"),
            "{url}"
        );
        assert!(url.contains("Expires=1175139620"));
    }

    #[test]
    fn redaction_hides_every_signature() {
        let cases = [
            "http://h/b/k?AWSAccessKeyId=AKIA&Signature=abc%2B&Expires=1",
            "http://h/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=deadbeef",
            "http://h/a/c/k?sv=2022-11-02&sr=b&sp=r&se=2030&sig=c2ln",
            "http://h/b/k?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature=0123",
        ];
        for url in cases {
            let r = redact(url);
            for secret in ["AKIA", "abc", "deadbeef", "c2ln", "0123"] {
                assert!(!r.contains(secret), "{r}");
            }
            assert!(r.contains("=***"), "{r}");
        }
        assert!(redact(cases[2]).contains("sp=r"));
        assert_eq!(redact("http://h/k"), "http://h/k");
    }

    #[test]
    fn label_studio_signature_versions() {
        // What boto3 1.44.8 (Label Studio 1.23.2's) made for `generate_presigned_url` with no
        // signature version configured, with and without an endpoint_url (the same either way).
        let seen = [
            (None, Scheme::S3SigV2),
            (Some("us-east-1"), Scheme::S3SigV2),
            (Some("us-west-2"), Scheme::S3SigV2),
            (Some("eu-west-1"), Scheme::S3SigV2),
            (Some("aws-global"), Scheme::S3SigV2),
            (Some("us-gov-west-1"), Scheme::S3SigV2),
            (Some("US-EAST-1"), Scheme::S3SigV4),
            (Some("eu-central-1"), Scheme::S3SigV4),
            (Some("eu-north-1"), Scheme::S3SigV4),
            (Some("us-east-2"), Scheme::S3SigV4),
            (Some("ap-south-1"), Scheme::S3SigV4),
            (Some("cn-north-1"), Scheme::S3SigV4),
            (Some("minio"), Scheme::S3SigV4),
        ];
        for (region, scheme) in seen {
            assert_eq!(s3_scheme(None, region), scheme, "{region:?}");
        }
        assert_eq!(s3_scheme(Some("s3"), Some("eu-central-1")), Scheme::S3SigV2);
        assert_eq!(s3_scheme(Some("s3v4"), None), Scheme::S3SigV4);
    }
}
