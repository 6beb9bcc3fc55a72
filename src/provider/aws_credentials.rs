//! The AWS credential chain step selected by [`crate::config::AwsChain`], fetched as botocore
//! fetches it: AssumeRoleWithWebIdentity at the selected STS endpoint, the container endpoint,
//! or IMDSv2 at the selected metadata endpoint. One attempt each, short timeouts.
use std::sync::Arc;

use object_store::aws::AwsCredential;
use serde::Deserialize;

use super::credential::{
    CredentialError, CredentialIdentity, Fetched, METADATA_TIMEOUT, Refreshing, STS_TIMEOUT,
    fetch_client, send_error, short_key_id,
};
use crate::config::AwsChain;
use crate::report::redact;

/// object_store's credential provider for the chain step; see the module docs.
#[derive(Debug)]
pub struct ChainProvider {
    chain: AwsChain,
    cache: Refreshing<AwsCredential>,
}

impl ChainProvider {
    /// A provider for `chain`; sends nothing until asked.
    pub fn new(chain: AwsChain) -> Self {
        ChainProvider {
            chain,
            cache: Refreshing::default(),
        }
    }

    /// The current credential (fetched on first use and ahead of expiry).
    pub async fn current(&self) -> Result<Fetched<AwsCredential>, CredentialError> {
        self.cache.get(|| fetch(&self.chain)).await
    }

    /// How many fetches were attempted.
    pub fn fetches(&self) -> u64 {
        self.cache.fetches()
    }
}

#[async_trait::async_trait]
impl object_store::CredentialProvider for ChainProvider {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        self.current()
            .await
            .map(|f| f.credential)
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })
    }
}

/// A fetch client trusting only the PEM bundle at `bundle` (botocore with `AWS_CA_BUNDLE`).
fn bundle_client(
    bundle: &crate::config::Sourced<std::path::PathBuf>,
) -> Result<reqwest::Client, String> {
    let pem =
        crate::config::limits::read_bytes(&bundle.value, crate::config::limits::MAX_PEM_BYTES)
            .map_err(|e| e.to_string())?;
    let certs = super::tls::pem_certificates(&pem)?;
    let config = super::tls::client_config(certs)?;
    reqwest::Client::builder()
        .connect_timeout(STS_TIMEOUT)
        .timeout(STS_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_backend_preconfigured(config)
        .build()
        .map_err(|e| e.to_string())
}

fn identity(chain: &AwsChain, who: String) -> CredentialIdentity {
    CredentialIdentity {
        source: format!("AWS chain: {}", chain.step()),
        identity: who,
    }
}

async fn fetch(chain: &AwsChain) -> Result<Fetched<AwsCredential>, CredentialError> {
    match chain {
        AwsChain::EnvKeys {
            access_key_id,
            secret_access_key,
            session_token,
        } => Ok(Fetched {
            credential: Arc::new(AwsCredential {
                key_id: access_key_id.value.clone(),
                secret_key: secret_access_key.value.expose().to_string(),
                token: session_token.as_ref().map(|t| t.value.expose().to_string()),
            }),
            expires: None,
            identity: identity(
                chain,
                format!(
                    "access key {} ({})",
                    short_key_id(&access_key_id.value),
                    access_key_id.source
                ),
            ),
        }),
        AwsChain::SharedFile {
            path,
            profile,
            access_key_id,
            secret_access_key,
            session_token,
        } => Ok(Fetched {
            credential: Arc::new(AwsCredential {
                key_id: access_key_id.clone(),
                secret_key: secret_access_key.expose().to_string(),
                token: session_token.as_ref().map(|t| t.expose().to_string()),
            }),
            expires: None,
            identity: identity(
                chain,
                format!(
                    "access key {} of profile [{}] in {}",
                    short_key_id(access_key_id),
                    profile.value,
                    path.value.display()
                ),
            ),
        }),
        AwsChain::WebIdentity {
            role_arn,
            token_file,
            session_name,
            sts,
            ca_bundle,
        } => {
            let step = chain.step().to_string();
            let client = match ca_bundle {
                None => fetch_client(STS_TIMEOUT),
                Some(b) => bundle_client(b).map_err(|e| CredentialError {
                    step: step.clone(),
                    detail: format!(
                        "AWS_CA_BUNDLE {} ({}) cannot be used for STS: {e}",
                        b.value.display(),
                        b.source
                    ),
                    fix: "Give AWS_CA_BUNDLE the path of a readable PEM bundle, or remove it."
                        .into(),
                })?,
            };
            let token = crate::config::limits::read_text(
                &token_file.value,
                crate::config::limits::MAX_CONFIG_BYTES,
            )
            .map_err(|e| CredentialError {
                step: step.clone(),
                detail: format!(
                    "the web identity token file {} (AWS_WEB_IDENTITY_TOKEN_FILE, {}) cannot be \
                     read ({e}); no request was sent",
                    token_file.value.display(),
                    token_file.source
                ),
                fix: format!(
                    "On EKS the token is projected at that path into pods whose service account \
                     has the eks.amazonaws.com/role-arn annotation: run lsprobe in such a pod, \
                     or point AWS_WEB_IDENTITY_TOKEN_FILE ({}) at a readable copy of the token.",
                    token_file.source
                ),
            })?;
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("Action", "AssumeRoleWithWebIdentity")
                .append_pair("Version", "2011-06-15")
                .append_pair("RoleArn", &role_arn.value)
                .append_pair("RoleSessionName", &session_name.value)
                .append_pair("WebIdentityToken", token.trim())
                .finish();
            let where_ = format!("STS {} ({})", redact::url(&sts.value), sts.source);
            let answer = client
                .post(sts.value.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .map_err(|e| CredentialError {
                    step: step.clone(),
                    detail: format!(
                        "AssumeRoleWithWebIdentity for {} at {where_}: {}",
                        role_arn.value,
                        send_error(&e, STS_TIMEOUT)
                    ),
                    fix: "Check that STS is reachable from where Label Studio runs (VPC endpoint, \
                          proxy, firewall), or fix AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL if \
                          one is set. Its certificate is checked against AWS_CA_BUNDLE when \
                          that is set (only that bundle, as botocore does), else the system \
                          roots."
                        .into(),
                })?;
            let status = answer.status();
            let body = answer.text().await.unwrap_or_default();
            if !status.is_success() {
                let code = xml(&body, "Code").unwrap_or("(no code)");
                let message = xml(&body, "Message").unwrap_or("");
                return Err(CredentialError {
                    step,
                    detail: format!(
                        "STS refused AssumeRoleWithWebIdentity for role {} ({}) at {where_}: {} \
                         {code}: {message}",
                        role_arn.value,
                        role_arn.source,
                        status.as_u16()
                    ),
                    fix: format!(
                        "Check AWS_ROLE_ARN ({}): the role must exist and its trust policy must \
                         allow sts:AssumeRoleWithWebIdentity for the cluster's OIDC provider and \
                         this service account (system:serviceaccount:NAMESPACE:NAME); the token \
                         in {} must be current.",
                        role_arn.source,
                        token_file.value.display()
                    ),
                });
            }
            let (credential, expires) = sts_credentials(&body).ok_or_else(|| CredentialError {
                step: step.clone(),
                detail: format!("{where_} answered without credentials: {}", clip(&body)),
                fix: "Check that the STS endpoint is AWS STS (or a compatible service).".into(),
            })?;
            let arn = xml(&body, "Arn").unwrap_or(&role_arn.value).to_string();
            let who = format!(
                "role {} ({}), session {}, assumed as {arn}, key {}",
                role_arn.value,
                role_arn.source,
                session_name.value,
                short_key_id(&credential.key_id)
            );
            Ok(Fetched {
                credential: Arc::new(credential),
                expires,
                identity: identity(chain, who),
            })
        }
        AwsChain::Container { uri, authorization } => {
            let step = chain.step().to_string();
            let mut request = fetch_client(METADATA_TIMEOUT).get(uri.value.clone());
            if let Some(a) = authorization {
                request = request.header("authorization", a.value.expose());
            }
            let where_ = format!("{} ({})", redact::url(&uri.value), uri.source);
            let (json, _) =
                get_json(request, &step, &where_, "the container credentials URI").await?;
            let (credential, expires) = json_credentials(&json, &step, &where_)?;
            let who = format!(
                "{} via {where_}, key {}",
                json.role_arn.as_deref().unwrap_or("container role"),
                short_key_id(&credential.key_id)
            );
            Ok(Fetched {
                credential: Arc::new(credential),
                expires,
                identity: identity(chain, who),
            })
        }
        AwsChain::InstanceMetadata { endpoint } => imds(chain, endpoint).await,
    }
}

async fn imds(
    chain: &AwsChain,
    endpoint: &crate::config::Sourced<url::Url>,
) -> Result<Fetched<AwsCredential>, CredentialError> {
    let step = chain.step().to_string();
    let base = endpoint.value.as_str().trim_end_matches('/').to_string();
    let where_ = format!("{} ({})", redact::url(&endpoint.value), endpoint.source);
    let client = fetch_client(METADATA_TIMEOUT);
    let down = |what: &str, e: String| CredentialError {
        step: step.clone(),
        detail: format!("instance metadata at {where_}: {what}: {e}"),
        fix: format!(
            "Nothing usable answered at the metadata endpoint ({}). Outside EC2/EKS nodes there \
             is no instance metadata: set STORAGE_AWS_ACCESS_KEY_ID / \
             STORAGE_AWS_SECRET_ACCESS_KEY, or fix AWS_EC2_METADATA_SERVICE_ENDPOINT if it is \
             set. On a node, check the hop limit (IMDSv2 needs 2 from a pod) and that the node \
             has an instance profile.",
            endpoint.source
        ),
    };
    let token = client
        .put(format!("{base}/latest/api/token"))
        .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
        .send()
        .await
        .map_err(|e| down("PUT /latest/api/token", send_error(&e, METADATA_TIMEOUT)))?;
    if !token.status().is_success() {
        return Err(down(
            "PUT /latest/api/token",
            format!("answered {}", token.status()),
        ));
    }
    let token = token.text().await.unwrap_or_default();
    let path = "/latest/meta-data/iam/security-credentials/";
    let roles = client
        .get(format!("{base}{path}"))
        .header("x-aws-ec2-metadata-token", &token)
        .send()
        .await
        .map_err(|e| down(path, send_error(&e, METADATA_TIMEOUT)))?;
    if !roles.status().is_success() {
        return Err(down(
            path,
            format!("answered {} (no instance profile?)", roles.status()),
        ));
    }
    let roles = roles.text().await.unwrap_or_default();
    let role = roles.lines().next().unwrap_or("").trim().to_string();
    if role.is_empty() {
        return Err(down(
            path,
            "no role: the node has no instance profile".into(),
        ));
    }
    let request = client
        .get(format!("{base}{path}{role}"))
        .header("x-aws-ec2-metadata-token", &token);
    let (json, _) = get_json(request, &step, &where_, "the role's credentials").await?;
    let (credential, expires) = json_credentials(&json, &step, &where_)?;
    let who = format!(
        "instance role {role} via {where_}, key {}",
        short_key_id(&credential.key_id)
    );
    Ok(Fetched {
        credential: Arc::new(credential),
        expires,
        identity: identity(chain, who),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonCredentials {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    token: Option<String>,
    expiration: Option<String>,
    role_arn: Option<String>,
}

async fn get_json(
    request: reqwest::RequestBuilder,
    step: &str,
    where_: &str,
    what: &str,
) -> Result<(JsonCredentials, u16), CredentialError> {
    let err = |detail: String| CredentialError {
        step: step.to_string(),
        detail: format!("{what} at {where_}: {detail}"),
        fix: "Check that the credentials endpoint is reachable from where Label Studio runs and \
              that the variables selecting it are right."
            .into(),
    };
    let answer = request
        .send()
        .await
        .map_err(|e| err(send_error(&e, METADATA_TIMEOUT)))?;
    let status = answer.status().as_u16();
    let body = answer.text().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(err(format!("answered {status}: {}", clip(&body))));
    }
    serde_json::from_str(&body)
        .map(|j| (j, status))
        .map_err(|e| err(format!("not a credentials JSON ({e})")))
}

fn json_credentials(
    json: &JsonCredentials,
    step: &str,
    where_: &str,
) -> Result<(AwsCredential, Option<chrono::DateTime<chrono::Utc>>), CredentialError> {
    match (&json.access_key_id, &json.secret_access_key) {
        (Some(id), Some(secret)) => Ok((
            AwsCredential {
                key_id: id.clone(),
                secret_key: secret.clone(),
                token: json.token.clone().filter(|t| !t.is_empty()),
            },
            json.expiration.as_deref().and_then(parse_time),
        )),
        _ => Err(CredentialError {
            step: step.to_string(),
            detail: format!("{where_} answered without AccessKeyId / SecretAccessKey"),
            fix: "Check that the endpoint is the credentials endpoint.".into(),
        }),
    }
}

fn sts_credentials(body: &str) -> Option<(AwsCredential, Option<chrono::DateTime<chrono::Utc>>)> {
    let creds = xml(body, "Credentials")?;
    Some((
        AwsCredential {
            key_id: xml(creds, "AccessKeyId")?.to_string(),
            secret_key: xml(creds, "SecretAccessKey")?.to_string(),
            token: xml(creds, "SessionToken")
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        },
        xml(creds, "Expiration").and_then(parse_time),
    ))
}

fn parse_time(t: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(t.trim())
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

fn xml<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].trim())
}

fn clip(body: &str) -> String {
    body.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_sts_answer() {
        let body = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>\
            <Credentials><AccessKeyId>ASIA1234567890</AccessKeyId><SecretAccessKey>s</SecretAccessKey>\
            <SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>\
            <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn></AssumedRoleUser>\
            </AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
        let (c, exp) = sts_credentials(body).unwrap();
        assert_eq!(c.key_id, "ASIA1234567890");
        assert_eq!(c.token.as_deref(), Some("t"));
        assert_eq!(exp.unwrap().timestamp(), 1_893_456_000);
        assert_eq!(xml(body, "Arn"), Some("arn:aws:sts::1:assumed-role/r/s"));
    }
}
