//! Workload Identity Federation as google-auth does it: read the subject token (file or URL),
//! exchange it at the JSON's `token_url` (RFC 8693 token exchange), and when a service account
//! is impersonated, trade that for the service account's token at
//! `service_account_impersonation_url`. One attempt per request, short timeouts.
use std::sync::Arc;

use object_store::gcp::{GcpCredential, GcpSigningCredential};
use serde::Deserialize;

use super::credential::{
    CredentialError, CredentialIdentity, Fetched, METADATA_TIMEOUT, Refreshing, STS_TIMEOUT,
    fetch_client, send_error,
};
use crate::config::gcs_external::{ExternalAccount, SubjectSource};
use crate::report::redact;

const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const STEP: &str = "workload identity federation";

/// Access tokens from the federation exchange, cached and fetched again ahead of expiry.
#[derive(Debug)]
pub struct ExternalProvider {
    account: ExternalAccount,
    cache: Refreshing<GcpCredential>,
}

impl ExternalProvider {
    /// A provider for `account`; sends nothing until asked.
    pub fn new(account: ExternalAccount) -> Self {
        ExternalProvider {
            account,
            cache: Refreshing::default(),
        }
    }

    /// The current token.
    pub async fn current(&self) -> Result<Fetched<GcpCredential>, CredentialError> {
        self.cache.get(|| self.fetch()).await
    }

    fn error(&self, detail: String, fix: &str) -> CredentialError {
        CredentialError {
            step: STEP.into(),
            detail,
            fix: format!("{fix} The configuration is {}.", self.account.source),
        }
    }

    async fn subject_token(&self) -> Result<String, CredentialError> {
        let raw = match &self.account.subject {
            SubjectSource::File(path) => {
                crate::config::limits::read_text(path, crate::config::limits::MAX_CONFIG_BYTES)
                    .map_err(|e| {
                        self.error(
                            format!(
                                "the subject token file {} (credential_source.file) cannot be \
                                 read ({e}); no request was sent",
                                path.display()
                            ),
                            "On GKE/Kubernetes the token is a projected service-account token \
                             mounted at that path: run lsprobe in a pod that mounts it, or \
                             point credential_source.file at a readable copy.",
                        )
                    })?
            }
            SubjectSource::Url { url, headers } => {
                let mut request = fetch_client(METADATA_TIMEOUT).get(url.clone());
                for (k, v) in headers {
                    request = request.header(k, v);
                }
                let where_ = redact::url(url);
                let answer = request.send().await.map_err(|e| {
                    self.error(
                        format!(
                            "the subject token URL {where_} (credential_source.url): {}",
                            send_error(&e, METADATA_TIMEOUT)
                        ),
                        "Check that the token URL answers where Label Studio runs.",
                    )
                })?;
                let status = answer.status();
                let body = answer.text().await.unwrap_or_default();
                if !status.is_success() {
                    return Err(self.error(
                        format!("the subject token URL {where_} answered {status}"),
                        "Check the URL and its headers in credential_source.",
                    ));
                }
                body
            }
        };
        match &self.account.json_field {
            None => Ok(raw.trim().to_string()),
            Some(field) => serde_json::from_str::<serde_json::Value>(&raw)
                .ok()
                .and_then(|v| v.get(field)?.as_str().map(str::to_string))
                .ok_or_else(|| {
                    self.error(
                        format!("the subject token has no JSON field \"{field}\""),
                        "Check credential_source.format.subject_token_field_name.",
                    )
                }),
        }
    }

    async fn fetch(&self) -> Result<Fetched<GcpCredential>, CredentialError> {
        #[derive(Deserialize)]
        struct Exchanged {
            access_token: String,
            expires_in: Option<i64>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Impersonated {
            access_token: String,
            expire_time: Option<String>,
        }
        let subject = self.subject_token().await?;
        let a = &self.account;
        let sts = redact::url(&a.token_url);
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            )
            .append_pair("audience", &a.audience)
            .append_pair("scope", SCOPE)
            .append_pair(
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            )
            .append_pair("subject_token", &subject)
            .append_pair("subject_token_type", &a.subject_token_type)
            .finish();
        let answer = fetch_client(STS_TIMEOUT)
            .post(a.token_url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| {
                self.error(
                    format!("token exchange at {sts}: {}", send_error(&e, STS_TIMEOUT)),
                    "Check that Google STS (token_url) is reachable from where Label Studio runs.",
                )
            })?;
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        if !status.is_success() {
            let body: String = body.chars().take(300).collect();
            return Err(self.error(
                format!(
                    "token exchange at {sts} for {} answered {status}: {body}",
                    a.audience
                ),
                "Check the pool provider (audience), its attribute conditions, and that the \
                 subject token is current and issued for that audience.",
            ));
        }
        let exchanged: Exchanged = serde_json::from_str(&body)
            .map_err(|e| self.error(format!("{sts} answered without a token ({e})"), ""))?;
        let Some(imp) = &a.impersonation_url else {
            return Ok(Fetched {
                credential: Arc::new(GcpCredential {
                    bearer: exchanged.access_token,
                }),
                expires: exchanged
                    .expires_in
                    .map(|s| chrono::Utc::now() + chrono::Duration::seconds(s)),
                identity: self.identity(),
            });
        };
        let where_ = redact::url(imp);
        let answer = fetch_client(STS_TIMEOUT)
            .post(imp.clone())
            .bearer_auth(&exchanged.access_token)
            .json(&serde_json::json!({"scope": [SCOPE], "lifetime": "3600s"}))
            .send()
            .await
            .map_err(|e| {
                self.error(
                    format!("impersonation at {where_}: {}", send_error(&e, STS_TIMEOUT)),
                    "Check that the IAM credentials API is reachable.",
                )
            })?;
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        if !status.is_success() {
            let body: String = body.chars().take(300).collect();
            return Err(self.error(
                format!("impersonation at {where_} answered {status}: {body}"),
                "Grant the pool's principal roles/iam.workloadIdentityUser (or \
                 roles/iam.serviceAccountTokenCreator) on the service account.",
            ));
        }
        let token: Impersonated = serde_json::from_str(&body)
            .map_err(|e| self.error(format!("{where_} answered without a token ({e})"), ""))?;
        Ok(Fetched {
            credential: Arc::new(GcpCredential {
                bearer: token.access_token,
            }),
            expires: token
                .expire_time
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&chrono::Utc)),
            identity: self.identity(),
        })
    }

    fn identity(&self) -> CredentialIdentity {
        CredentialIdentity {
            source: format!("workload identity federation ({})", self.account.source),
            identity: match self.account.service_account() {
                Some(e) => format!("service account {e} via {}", self.account.audience),
                None => format!("federated principal of {}", self.account.audience),
            },
        }
    }
}

super::gcp_credentials::gcs_token_provider!(ExternalProvider);

/// The impersonated service account as the signing identity (signBlob, no private key).
#[derive(Debug)]
pub struct ExternalSigning(pub String);

#[async_trait::async_trait]
impl object_store::CredentialProvider for ExternalSigning {
    type Credential = GcpSigningCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<GcpSigningCredential>> {
        Ok(Arc::new(GcpSigningCredential {
            email: self.0.clone(),
            private_key: None,
        }))
    }
}
