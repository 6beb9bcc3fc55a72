//! Access tokens for a service-account key as google-auth obtains them (Label Studio's
//! `service_account.Credentials` with google-cloud-storage's scopes): a JWT signed RS256 with the
//! key, exchanged at the JSON's `token_uri` (`grant_type=urn:ietf:params:oauth:grant-type:
//! jwt-bearer`), cached and fetched again ahead of expiry. One attempt per fetch.
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use object_store::gcp::GcpCredential;
use serde::Deserialize;

use super::credential::{
    CredentialError, CredentialIdentity, Fetched, Refreshing, STS_TIMEOUT, fetch_client, send_error,
};
use crate::config::Secret;
use crate::report::redact;

/// Google's token endpoint, when the JSON names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The scopes google-cloud-storage's `Client` asks for.
pub const STORAGE_SCOPES: &str = "https://www.googleapis.com/auth/devstorage.full_control \
     https://www.googleapis.com/auth/devstorage.read_only \
     https://www.googleapis.com/auth/devstorage.read_write";
const STEP: &str = "service-account token (JWT grant)";

/// The key file fields the grant uses.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(default)]
    client_email: String,
    #[serde(default)]
    private_key: String,
    #[serde(default)]
    private_key_id: String,
    #[serde(default)]
    token_uri: Option<String>,
}

/// Tokens for one service-account key.
pub struct ServiceAccountProvider {
    email: String,
    key_id: String,
    key: ring::signature::RsaKeyPair,
    token_uri: url::Url,
    source: String,
    cache: Refreshing<GcpCredential>,
}

impl std::fmt::Debug for ServiceAccountProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountProvider")
            .field("email", &self.email)
            .field("token_uri", &redact::url(&self.token_uri))
            .finish_non_exhaustive()
    }
}

impl ServiceAccountProvider {
    /// A provider for the key file `json` (from `source`); sends nothing until asked. Fails,
    /// naming the field, when the JSON has no usable key, email or token URI.
    pub fn new(json: &Secret, source: &str) -> Result<Self, String> {
        let file: KeyFile = serde_json::from_str(json.expose())
            .map_err(|e| format!("the service-account JSON ({source}) is not JSON: {e}"))?;
        if file.client_email.trim().is_empty() {
            return Err(format!(
                "the service-account JSON ({source}) has no client_email: download the key \
                 again from IAM > Service accounts > Keys"
            ));
        }
        let body: String = file
            .private_key
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let key = STANDARD
            .decode(body)
            .ok()
            .filter(|der| !der.is_empty())
            .and_then(|der| ring::signature::RsaKeyPair::from_pkcs8(&der).ok())
            .ok_or_else(|| {
                format!(
                    "the service-account JSON ({source}) has no usable private_key (a PKCS#8 \
                     RSA key in PEM): download the key again from IAM > Service accounts > Keys"
                )
            })?;
        let uri = file.token_uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI);
        let token_uri = url::Url::parse(uri)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                format!(
                    "the service-account JSON ({source}) has token_uri `{}`, not an http(s) \
                     URL: remove it (Google's is {DEFAULT_TOKEN_URI})",
                    crate::config::parse::shorten(uri)
                )
            })?;
        Ok(ServiceAccountProvider {
            email: file.client_email,
            key_id: file.private_key_id,
            key,
            token_uri,
            source: source.to_string(),
            cache: Refreshing::default(),
        })
    }

    /// The current token (fetched on first use and ahead of expiry).
    pub async fn current(&self) -> Result<Fetched<GcpCredential>, CredentialError> {
        self.cache.get(|| self.fetch()).await
    }

    /// How many token fetches were attempted.
    pub fn fetches(&self) -> u64 {
        self.cache.fetches()
    }

    fn error(&self, detail: String) -> CredentialError {
        CredentialError {
            step: STEP.into(),
            detail,
            fix: format!(
                "Check that {} is reachable from where Label Studio runs, and that the key in \
                 the service-account JSON ({}) has not been deleted or disabled.",
                redact::url(&self.token_uri),
                self.source
            ),
        }
    }

    /// The signed assertion for `now` (seconds since the epoch).
    fn assertion(&self, now: i64) -> Result<String, CredentialError> {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": self.key_id});
        let claims = serde_json::json!({
            "iss": self.email,
            "scope": STORAGE_SCOPES,
            "aud": self.token_uri.as_str(),
            "iat": now,
            "exp": now + 3600,
        });
        let mut jwt = URL_SAFE_NO_PAD.encode(header.to_string());
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(claims.to_string(), &mut jwt);
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                jwt.as_bytes(),
                &mut signature,
            )
            .map_err(|e| self.error(format!("RSA signing failed: {e}")))?;
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut jwt);
        Ok(jwt)
    }

    async fn fetch(&self) -> Result<Fetched<GcpCredential>, CredentialError> {
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
            #[serde(default)]
            expires_in: Option<i64>,
        }
        let assertion = self.assertion(chrono::Utc::now().timestamp())?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
            .append_pair("assertion", &assertion)
            .finish();
        let where_ = redact::url(&self.token_uri);
        let answer = fetch_client(STS_TIMEOUT)
            .post(self.token_uri.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| self.error(format!("{where_}: {}", send_error(&e, STS_TIMEOUT))))?;
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        if !status.is_success() {
            let body: String = redact::text(&body).chars().take(300).collect();
            return Err(self.error(format!("{where_} answered {status}: {body}")));
        }
        let token: Token = serde_json::from_str(&body)
            .map_err(|e| self.error(format!("{where_} answered without a token ({e})")))?;
        Ok(Fetched {
            credential: Arc::new(GcpCredential {
                bearer: token.access_token,
            }),
            expires: token
                .expires_in
                .map(|s| chrono::Utc::now() + chrono::Duration::seconds(s)),
            identity: CredentialIdentity {
                source: format!("service-account JSON ({})", self.source),
                identity: format!("service account {}", self.email),
            },
        })
    }
}

super::gcp_credentials::gcs_token_provider!(ServiceAccountProvider);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_key_files_are_named() {
        let json = |v: serde_json::Value| Secret::new(v.to_string());
        let e = ServiceAccountProvider::new(&json(serde_json::json!({"private_key": "x"})), "f")
            .unwrap_err();
        assert!(e.contains("client_email"), "{e}");
        let e = ServiceAccountProvider::new(
            &json(serde_json::json!({"client_email": "a@b", "private_key": "nope"})),
            "f",
        )
        .unwrap_err();
        assert!(e.contains("private_key") && !e.contains("nope"), "{e}");
        assert!(ServiceAccountProvider::new(&Secret::new("{"), "f").is_err());
    }
}
