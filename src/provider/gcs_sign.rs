//! GCS V4 signed URLs (`GOOG4-RSA-SHA256`), as Label Studio's Python client makes them: with the
//! service account's private key when the credentials JSON has one, otherwise through the IAM
//! `signBlob` API (GKE Workload Identity), which needs `iam.serviceAccounts.signBlob`.
//!
//! The IAM endpoint is `https://iamcredentials.googleapis.com` unless the credentials JSON names
//! another in `lsprobe_iam_base_url` (beside object_store's emulator keys `gcs_base_url` and
//! `disable_oauth`; tests point it at a local stand-in). An emulator stub (`disable_oauth`)
//! without a private key and without that key is never sent to Google: it is reported as
//! unsupported.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use serde::Deserialize;

use super::gcs::Gcs;
use super::keys;
use super::presign::{PresignError, Presigned, Scheme};
use crate::config::{GcsCredentials, ProviderSettings, Target};

/// Where signBlob lives.
pub const DEFAULT_IAM_BASE: &str = "https://iamcredentials.googleapis.com";

#[derive(Deserialize, Default)]
struct KeyFile {
    #[serde(default)]
    client_email: String,
    #[serde(default)]
    private_key: String,
    #[serde(default)]
    disable_oauth: bool,
    #[serde(default)]
    lsprobe_iam_base_url: Option<String>,
}

/// A V4 signed URL for `key` (see the module doc).
pub async fn signed_url(
    gcs: &Gcs,
    http: &reqwest::Client,
    target: &Target,
    method: Method,
    key: &str,
    content_type: Option<&str>,
    expires_secs: u64,
) -> Result<Presigned, PresignError> {
    let ProviderSettings::Gcs(settings) = &target.settings else {
        unreachable!("a GCS adapter comes from GCS settings")
    };
    let file: KeyFile = match &settings.credentials {
        GcsCredentials::ServiceAccount { json, .. } => {
            serde_json::from_str(json.expose()).unwrap_or_default()
        }
        GcsCredentials::MetadataServer { .. } | GcsCredentials::ExternalAccount(_) => {
            KeyFile::default()
        }
    };
    if expires_secs > 604_800 {
        return Err(PresignError::Unsupported(format!(
            "GCS signed URLs live at most 7 days (604800 s); the configured expiry is {expires_secs} s: \
             lower STORAGE_GCS_EXPIRATION_SECS"
        )));
    }
    let url = url::Url::parse(&gcs.object_url(key))
        .map_err(|e| PresignError::Failed(format!("object URL: {e}")))?;
    let use_key = !file.private_key.trim().is_empty();
    let email = if !file.client_email.is_empty() {
        file.client_email.clone()
    } else if use_key || file.disable_oauth {
        String::new()
    } else {
        gcs.store()
            .signing_credentials()
            .get_credential()
            .await
            .map_err(|e| PresignError::Failed(format!("could not learn the service account: {e}")))?
            .email
            .clone()
    };
    let (canonical_query, string_to_sign, headers) = string_to_sign(
        &method,
        &url,
        &email,
        content_type,
        expires_secs,
        chrono::Utc::now(),
    );
    let (signature, scheme) = if use_key {
        (
            rsa_sign_hex(&file.private_key, &string_to_sign)?,
            Scheme::GcsV4Key,
        )
    } else {
        let base = match (&file.lsprobe_iam_base_url, file.disable_oauth) {
            (Some(base), _) => base.trim_end_matches('/').to_string(),
            (None, true) => {
                return Err(PresignError::Unsupported(
                    "the credentials JSON is an emulator stub (disable_oauth) without a \
                     private_key, so a signed URL would need Google's signBlob API; add a \
                     private_key to test signed URLs"
                        .into(),
                ));
            }
            (None, false) => DEFAULT_IAM_BASE.to_string(),
        };
        let token = gcs
            .store()
            .credentials()
            .get_credential()
            .await
            .map_err(|e| {
                PresignError::Failed(format!("could not obtain a token for signBlob: {e}"))
            })?;
        let sig = sign_blob(http, &base, &email, &token.bearer, &string_to_sign).await?;
        (sig, Scheme::GcsV4SignBlob)
    };
    Ok(Presigned {
        url: format!("{url}?{canonical_query}&X-Goog-Signature={signature}"),
        scheme,
        headers: headers.into_iter().filter(|(k, _)| k != "host").collect(),
    })
}

/// The canonical query (without the signature), the `GOOG4-RSA-SHA256` string to sign, and the
/// headers a request must send (`host` first; `content-type` too when given), for `url` at `now`.
pub fn string_to_sign(
    method: &Method,
    url: &url::Url,
    email: &str,
    content_type: Option<&str>,
    expires_secs: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> (String, String, Vec<(String, String)>) {
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let scope = format!("{}/auto/storage/goog4_request", now.format("%Y%m%d"));
    let mut headers: Vec<(String, String)> = vec![("host".into(), host)];
    if let Some(c) = content_type {
        headers.push(("content-type".into(), c.to_string()));
    }
    headers.sort();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    // Already in canonical (sorted by name) order.
    let query = [
        (
            "X-Goog-Algorithm".to_string(),
            "GOOG4-RSA-SHA256".to_string(),
        ),
        ("X-Goog-Credential".into(), format!("{email}/{scope}")),
        ("X-Goog-Date".into(), date.clone()),
        ("X-Goog-Expires".into(), expires_secs.to_string()),
        ("X-Goog-SignedHeaders".into(), signed_headers.clone()),
    ];
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{}={}", keys::component(k), keys::component(v)))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let canonical_request = format!(
        "{method}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\nUNSIGNED-PAYLOAD",
        url.path()
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical_request.as_bytes());
    let string_to_sign = format!(
        "GOOG4-RSA-SHA256\n{date}\n{scope}\n{}",
        hex(digest.as_ref())
    );
    (canonical_query, string_to_sign, headers)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RSA-SHA256 (PKCS#1 v1.5) with a PEM PKCS#8 key, hex-encoded.
pub fn rsa_sign_hex(pem: &str, message: &str) -> Result<String, PresignError> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = STANDARD.decode(body).map_err(|e| {
        PresignError::Failed(format!("the service account's private_key is not PEM: {e}"))
    })?;
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|e| {
        PresignError::Failed(format!(
            "the service account's private_key is not a PKCS#8 RSA key: {e}"
        ))
    })?;
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        message.as_bytes(),
        &mut signature,
    )
    .map_err(|e| PresignError::Failed(format!("RSA signing failed: {e}")))?;
    Ok(hex(&signature))
}

/// `POST {base}/v1/projects/-/serviceAccounts/{email}:signBlob`.
async fn sign_blob(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    bearer: &str,
    string_to_sign: &str,
) -> Result<String, PresignError> {
    let url = format!(
        "{base}/v1/projects/-/serviceAccounts/{}:signBlob",
        keys::component(email)
    );
    let mut request = http
        .post(&url)
        .json(&serde_json::json!({ "payload": STANDARD.encode(string_to_sign) }));
    if !bearer.is_empty() {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.map_err(|e| {
        PresignError::Failed(format!(
            "signBlob at {base}: {}",
            super::describe_reqwest_error(&e)
        ))
    })?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        let error = &body["error"];
        let code = error
            .pointer("/details/0/reason")
            .or_else(|| error.get("status"))
            .and_then(|c| c.as_str())
            .map(str::to_string);
        return Err(PresignError::SignBlobRefused {
            status: status.as_u16(),
            code,
            message: error["message"].as_str().unwrap_or_default().to_string(),
            email: email.to_string(),
        });
    }
    let signed = body["signedBlob"].as_str().ok_or_else(|| {
        PresignError::Failed(format!("signBlob at {base} answered without signedBlob"))
    })?;
    let bytes = STANDARD
        .decode(signed)
        .map_err(|e| PresignError::Failed(format!("signBlob's signedBlob is not base64: {e}")))?;
    Ok(hex(&bytes))
}
