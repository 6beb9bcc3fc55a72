//! Which step of boto3's default credential chain Label Studio would use when no
//! `STORAGE_AWS_*` keys are set, decided from the merged view (flags > env.list / Helm values >
//! process environment) without sending a request.
//!
//! botocore 1.44 (`credentials.create_credential_resolver`) tries, in this order: environment
//! keys, web identity (`AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`), the shared credentials
//! file, container credentials, instance metadata (IMDSv2, one attempt, 1 s timeout). The first
//! step whose inputs are present is the one used: a failure in it is an error, not a reason to
//! try the next one (only instance metadata is tried when nothing else is configured).
use std::path::{Path, PathBuf};

use super::resolve::Sources;
use super::target::{Source, Sourced};
use super::{ConfigError, Secret};
use crate::provider::credential::short_key_id;
use crate::report::redact;

/// boto3's instance metadata address when `AWS_EC2_METADATA_SERVICE_ENDPOINT` is unset.
pub const IMDS_DEFAULT: &str = "http://169.254.169.254";
/// The ECS agent's address for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
pub const ECS_HOST: &str = "http://169.254.170.2";

/// The step of the chain that gives the credentials.
// Built once per run and boxed in `S3Credentials`: the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum AwsChain {
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`).
    EnvKeys {
        /// The access key id (shown: it identifies, it does not authorize).
        access_key_id: Sourced<String>,
        /// The secret key.
        secret_access_key: Sourced<Secret>,
        /// The session token of temporary keys.
        session_token: Option<Sourced<Secret>>,
    },
    /// `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE` (EKS IRSA): AssumeRoleWithWebIdentity.
    WebIdentity {
        /// The role to assume.
        role_arn: Sourced<String>,
        /// The file holding the token (projected by EKS).
        token_file: Sourced<PathBuf>,
        /// `AWS_ROLE_SESSION_NAME`, or botocore's `botocore-session-<time>`.
        session_name: Sourced<String>,
        /// The STS endpoint (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL` or regional).
        sts: Sourced<url::Url>,
        /// `AWS_CA_BUNDLE`: botocore's STS client trusts only this bundle when it is set.
        ca_bundle: Option<Sourced<PathBuf>>,
    },
    /// Static keys of a profile in the shared credentials file.
    SharedFile {
        /// The file.
        path: Sourced<PathBuf>,
        /// `AWS_PROFILE` or `default`.
        profile: Sourced<String>,
        /// The profile's access key id.
        access_key_id: String,
        /// The profile's secret key.
        secret_access_key: Secret,
        /// The profile's session token.
        session_token: Option<Secret>,
    },
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` / `_RELATIVE_URI` (ECS, EKS Pod Identity).
    Container {
        /// The credentials endpoint.
        uri: Sourced<url::Url>,
        /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
        authorization: Option<Sourced<Secret>>,
    },
    /// The instance metadata service (node role), IMDSv2.
    InstanceMetadata {
        /// `AWS_EC2_METADATA_SERVICE_ENDPOINT` or 169.254.169.254.
        endpoint: Sourced<url::Url>,
    },
}

impl AwsChain {
    /// The step in words, e.g. `web identity (IRSA)`.
    pub fn step(&self) -> &'static str {
        match self {
            AwsChain::EnvKeys { .. } => "environment keys",
            AwsChain::WebIdentity { .. } => "web identity (IRSA)",
            AwsChain::SharedFile { .. } => "shared credentials file",
            AwsChain::Container { .. } => "container credentials",
            AwsChain::InstanceMetadata { .. } => "instance metadata (node role)",
        }
    }

    /// What is known before any request: the identity and where it came from; no secret.
    pub fn describe(&self) -> String {
        match self {
            AwsChain::EnvKeys {
                access_key_id,
                session_token,
                ..
            } => format!(
                "access key {} ({}){}",
                short_key_id(&access_key_id.value),
                access_key_id.source,
                if session_token.is_some() {
                    " with a session token"
                } else {
                    ""
                }
            ),
            AwsChain::WebIdentity {
                role_arn,
                token_file,
                session_name,
                sts,
                ..
            } => format!(
                "role {} ({}), session {}, token file {} ({}), STS {} ({})",
                role_arn.value,
                role_arn.source,
                session_name.value,
                token_file.value.display(),
                token_file.source,
                redact::url(&sts.value),
                sts.source
            ),
            AwsChain::SharedFile {
                path,
                profile,
                access_key_id,
                ..
            } => format!(
                "access key {} of profile [{}] ({}) in {} ({})",
                short_key_id(access_key_id),
                profile.value,
                profile.source,
                path.value.display(),
                path.source
            ),
            AwsChain::Container { uri, .. } => {
                format!("{} ({})", redact::url(&uri.value), uri.source)
            }
            AwsChain::InstanceMetadata { endpoint } => {
                format!("{} ({})", redact::url(&endpoint.value), endpoint.source)
            }
        }
    }
}

/// Picks the step boto3 would use. `home` is the process's `HOME` (the default shared file).
pub(super) fn select(
    sources: &Sources,
    region: Option<&str>,
    home: Option<&Path>,
) -> Result<AwsChain, ConfigError> {
    let id = sources.pick("AWS_ACCESS_KEY_ID");
    let secret = sources.pick("AWS_SECRET_ACCESS_KEY");
    match (id, secret) {
        (Some(id), Some(secret)) => {
            return Ok(AwsChain::EnvKeys {
                access_key_id: id,
                secret_access_key: Sourced::new(Secret::new(secret.value), secret.source),
                session_token: sources
                    .pick("AWS_SESSION_TOKEN")
                    .map(|t| Sourced::new(Secret::new(t.value), t.source)),
            });
        }
        (Some(one), None) | (None, Some(one)) => {
            // botocore raises PartialCredentialsError here rather than trying the next step.
            return Err(ConfigError(format!(
                "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set ({}); boto3 \
                 then fails with PartialCredentialsError: set both, or neither",
                one.source
            )));
        }
        (None, None) => {}
    }
    let role = sources.pick("AWS_ROLE_ARN");
    let token_file = sources.pick("AWS_WEB_IDENTITY_TOKEN_FILE");
    match (role, token_file) {
        (Some(role_arn), Some(file)) => {
            let session_name = sources.pick("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| {
                Sourced::new(
                    format!("botocore-session-{}", chrono::Utc::now().timestamp()),
                    Source::Default,
                )
            });
            return Ok(AwsChain::WebIdentity {
                role_arn,
                token_file: Sourced::new(PathBuf::from(file.value), file.source),
                session_name,
                sts: sts_endpoint(sources, region)?,
                ca_bundle: sources
                    .pick("AWS_CA_BUNDLE")
                    .map(|b| Sourced::new(PathBuf::from(b.value), b.source)),
            });
        }
        (Some(one), None) | (None, Some(one)) => {
            // botocore skips web identity unless both are set; say so, the user meant IRSA.
            return Err(ConfigError(format!(
                "only one of AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE is set ({}): boto3 \
                 uses web identity (IRSA) only with both; on EKS both come from the service \
                 account's eks.amazonaws.com/role-arn annotation",
                one.source
            )));
        }
        (None, None) => {}
    }
    if let Some(shared) = shared_file(sources, home)? {
        return Ok(shared);
    }
    let full = sources.pick("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    let relative = sources.pick("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    let container = match (relative, full) {
        (Some(r), _) => Some(Sourced::new(format!("{ECS_HOST}{}", r.value), r.source)),
        (None, Some(f)) => Some(f),
        (None, None) => None,
    };
    if let Some(uri) = container {
        let url = super::parse::url(&uri, "AWS_CONTAINER_CREDENTIALS_FULL_URI")?;
        return Ok(AwsChain::Container {
            uri: Sourced::new(url, uri.source),
            authorization: sources
                .pick("AWS_CONTAINER_AUTHORIZATION_TOKEN")
                .map(|t| Sourced::new(Secret::new(t.value), t.source)),
        });
    }
    if let Some(disabled) = sources.pick("AWS_EC2_METADATA_DISABLED")
        && disabled.value.eq_ignore_ascii_case("true")
    {
        return Err(ConfigError(format!(
            "no S3 credentials: no STORAGE_AWS_ACCESS_KEY_ID / STORAGE_AWS_SECRET_ACCESS_KEY, no \
             AWS_ACCESS_KEY_ID, no web identity, no shared credentials file, no container \
             credentials, and instance metadata is disabled (AWS_EC2_METADATA_DISABLED, {}); \
             boto3 fails with NoCredentialsError: set STORAGE_AWS_ACCESS_KEY_ID and \
             STORAGE_AWS_SECRET_ACCESS_KEY",
            disabled.source
        )));
    }
    let endpoint = sources
        .pick("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .unwrap_or_else(|| Sourced::new(IMDS_DEFAULT.to_string(), Source::Default));
    let url = super::parse::url(&endpoint, "AWS_EC2_METADATA_SERVICE_ENDPOINT")?;
    Ok(AwsChain::InstanceMetadata {
        endpoint: Sourced::new(url, endpoint.source),
    })
}

fn sts_endpoint(sources: &Sources, region: Option<&str>) -> Result<Sourced<url::Url>, ConfigError> {
    let configured = if super::resolve::ignores_configured_endpoints(sources) {
        &[][..]
    } else {
        &["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"][..]
    };
    for &name in configured {
        if let Some(v) = sources.pick(name) {
            let url = super::parse::url(&v, name)?;
            return Ok(Sourced::new(url, v.source));
        }
    }
    let host = match region {
        Some(r) => format!("https://sts.{r}.amazonaws.com/"),
        None => "https://sts.amazonaws.com/".to_string(),
    };
    Ok(Sourced::new(
        url::Url::parse(&host).map_err(|e| ConfigError(format!("region {region:?}: {e}")))?,
        Source::Default,
    ))
}

/// The shared credentials file's profile, when the file exists and has the profile's keys.
fn shared_file(sources: &Sources, home: Option<&Path>) -> Result<Option<AwsChain>, ConfigError> {
    let path = match sources.pick("AWS_SHARED_CREDENTIALS_FILE") {
        Some(p) => Sourced::new(PathBuf::from(&p.value), p.source),
        None => match home {
            Some(h) => Sourced::new(h.join(".aws/credentials"), Source::Default),
            None => return Ok(None),
        },
    };
    let profile = sources
        .pick("AWS_PROFILE")
        .unwrap_or_else(|| Sourced::new("default".to_string(), Source::Default));
    let text = match super::limits::read_text(&path.value, super::limits::MAX_CONFIG_BYTES) {
        Ok(t) => t,
        Err(_) if path.source == Source::Default && profile.source == Source::Default => {
            return Ok(None);
        }
        Err(e) => {
            return Err(ConfigError(format!(
                "the shared credentials file {} ({}) cannot be read here ({e}); give the path \
                 of a readable copy in AWS_SHARED_CREDENTIALS_FILE, or remove AWS_PROFILE",
                path.value.display(),
                path.source
            )));
        }
    };
    let keys = ini_section(&text, &profile.value);
    let get = |k: &str| keys.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(Some(AwsChain::SharedFile {
            path,
            profile,
            access_key_id: id,
            secret_access_key: Secret::new(secret),
            session_token: get("aws_session_token").map(Secret::new),
        })),
        _ if profile.source != Source::Default => Err(ConfigError(format!(
            "AWS_PROFILE = {} ({}) has no aws_access_key_id and aws_secret_access_key in {}; \
             lsprobe reads static keys of the shared credentials file only (not SSO, \
             credential_process or role profiles): add the keys or unset AWS_PROFILE",
            profile.value,
            profile.source,
            path.value.display()
        ))),
        _ => Ok(None),
    }
}

/// The `key = value` pairs of `[section]` of an INI file.
fn ini_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside && let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::Layer;

    fn sources(file: &[(&str, &str)], env: &[(&str, &str)]) -> Sources {
        let mut f = Layer::default();
        for (k, v) in file {
            f.add_variable(
                k,
                v.to_string(),
                Source::EnvFile {
                    path: "env.list".into(),
                    line: 1,
                    key: k.to_string(),
                },
            );
        }
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Sources {
            flags: Default::default(),
            file: f,
            env: crate::config::environment::layer(&env),
        }
    }

    #[test]
    fn env_list_keys_win_over_process_web_identity() {
        let s = sources(
            &[
                ("AWS_ACCESS_KEY_ID", "AKIA1234567890AB"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ],
            &[
                ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ],
        );
        let c = select(&s, None, None).unwrap();
        assert!(matches!(c, AwsChain::EnvKeys { .. }), "{c:?}");
        assert!(c.describe().contains("(env.list:1"), "{}", c.describe());
    }

    #[test]
    fn web_identity_before_shared_file_container_and_metadata() {
        let s = sources(
            &[
                ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c"),
            ],
            &[("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9/")],
        );
        match select(&s, Some("eu-west-1"), None).unwrap() {
            AwsChain::WebIdentity { sts, .. } => {
                assert_eq!(sts.value.as_str(), "http://127.0.0.1:9/");
            }
            other => panic!("{other:?}"),
        }
        let s = sources(
            &[
                ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ],
            &[],
        );
        match select(&s, Some("eu-west-1"), None).unwrap() {
            AwsChain::WebIdentity { sts, .. } => {
                assert_eq!(sts.value.as_str(), "https://sts.eu-west-1.amazonaws.com/")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn metadata_endpoint_is_boto3s_variable_and_can_be_disabled() {
        let s = sources(
            &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:7/")],
            &[],
        );
        match select(&s, None, None).unwrap() {
            AwsChain::InstanceMetadata { endpoint } => {
                assert_eq!(endpoint.value.as_str(), "http://127.0.0.1:7/");
                assert!(endpoint.source.to_string().starts_with("env.list:1"));
            }
            other => panic!("{other:?}"),
        }
        let s = sources(&[("AWS_EC2_METADATA_DISABLED", "true")], &[]);
        let e = select(&s, None, None).unwrap_err();
        assert!(e.0.contains("NoCredentialsError"), "{e}");
    }

    #[test]
    fn shared_file_profile_and_half_configs() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[default]\naws_access_key_id = AKIAPROFILEDEF1\naws_secret_access_key = x\n\n[ls]\n\
             aws_access_key_id=AKIAPROFILEALS1\naws_secret_access_key=y\n",
        )
        .unwrap();
        let path = file.to_string_lossy().into_owned();
        let s = sources(
            &[
                ("AWS_SHARED_CREDENTIALS_FILE", &path),
                ("AWS_PROFILE", "ls"),
            ],
            &[],
        );
        let c = select(&s, None, None).unwrap();
        assert!(c.describe().contains("AKIA…ALS1 of profile [ls]"), "{c:?}");
        // The default file under HOME, default profile.
        std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
        std::fs::copy(&file, dir.path().join(".aws/credentials")).unwrap();
        let c = select(&sources(&[], &[]), None, Some(dir.path())).unwrap();
        assert!(c.describe().contains("AKIA…DEF1"), "{c:?}");
        let s = sources(&[("AWS_ROLE_ARN", "arn:aws:iam::1:role/r")], &[]);
        assert!(select(&s, None, None).unwrap_err().0.contains("both"));
        let s = sources(&[("AWS_ACCESS_KEY_ID", "AKIA")], &[]);
        assert!(
            select(&s, None, None)
                .unwrap_err()
                .0
                .contains("PartialCredentialsError")
        );
    }
}
