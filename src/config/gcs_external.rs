//! `external_account` credentials (GCS Workload Identity Federation) as google-auth reads them:
//! a subject token from a file or a URL (text, or a field of a JSON answer), exchanged at the
//! JSON's `token_url` (Google STS), then optionally for a service account's token at
//! `service_account_impersonation_url`. AWS-sourced (`environment_id: aws1`) and executable
//! sources are not supported (exit 2, saying so).
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;
use super::target::Source;

/// Where the subject token comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectSource {
    /// `credential_source.file`.
    File(PathBuf),
    /// `credential_source.url` with its `headers`.
    Url {
        /// The URL.
        url: url::Url,
        /// Headers sent with the GET.
        headers: Vec<(String, String)>,
    },
}

/// A parsed `external_account` JSON; holds no secret (the subject token is read when used).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalAccount {
    /// Where the JSON came from.
    pub source: Source,
    /// The workload identity provider (`//iam.googleapis.com/projects/.../providers/...`).
    pub audience: String,
    /// `urn:ietf:params:oauth:token-type:jwt` and the like.
    pub subject_token_type: String,
    /// Google STS (`https://sts.googleapis.com/v1/token`).
    pub token_url: url::Url,
    /// `...serviceAccounts/EMAIL:generateAccessToken`, when a service account is impersonated.
    pub impersonation_url: Option<url::Url>,
    /// Where the subject token comes from.
    pub subject: SubjectSource,
    /// `credential_source.format.subject_token_field_name` when the token is a JSON field.
    pub json_field: Option<String>,
}

impl ExternalAccount {
    /// The impersonated service account's email, from the impersonation URL.
    pub fn service_account(&self) -> Option<String> {
        let url = self.impersonation_url.as_ref()?;
        let last = url.path().rsplit('/').next()?;
        let email = last.strip_suffix(":generateAccessToken")?;
        Some(
            percent_encoding::percent_decode_str(email)
                .decode_utf8_lossy()
                .into_owned(),
        )
    }

    /// The identity in words: the pool provider and the service account, if impersonated.
    pub fn describe(&self) -> String {
        let subject = match &self.subject {
            SubjectSource::File(p) => format!("token file {}", p.display()),
            SubjectSource::Url { url, .. } => {
                format!("token URL {}", crate::report::redact::url(url))
            }
        };
        format!(
            "workload identity federation: {} via {}, {subject}{}",
            self.audience,
            crate::report::redact::url(&self.token_url),
            self.service_account()
                .map(|e| format!(", impersonating {e}"))
                .unwrap_or_default()
        )
    }
}

#[derive(Deserialize)]
struct Json {
    audience: Option<String>,
    subject_token_type: Option<String>,
    token_url: Option<String>,
    service_account_impersonation_url: Option<String>,
    credential_source: Option<CredentialSource>,
}

#[derive(Deserialize)]
struct CredentialSource {
    file: Option<String>,
    url: Option<String>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    environment_id: Option<String>,
    executable: Option<serde_json::Value>,
    format: Option<Format>,
}

#[derive(Deserialize)]
struct Format {
    #[serde(rename = "type")]
    kind: Option<String>,
    subject_token_field_name: Option<String>,
}

/// Parses an `external_account` JSON (`text`, from `source`).
pub fn parse(text: &str, source: &Source) -> Result<ExternalAccount, ConfigError> {
    let bad = |what: String| {
        ConfigError(format!(
            "the GCS credentials ({source}) are an external_account JSON (Workload Identity \
             Federation) that lsprobe cannot use: {what}. Point GOOGLE_APPLICATION_CREDENTIALS \
             (or --gcs-credentials) at the configuration file `gcloud iam \
             workload-identity-pools create-cred-config` wrote, or at a service-account key"
        ))
    };
    let json: Json = serde_json::from_str(text).map_err(|e| bad(format!("{e}")))?;
    let need = |v: Option<String>, name: &str| v.ok_or_else(|| bad(format!("no \"{name}\"")));
    let url = |v: &str, name: &str| {
        url::Url::parse(v).map_err(|e| bad(format!("\"{name}\" is not a URL ({e})")))
    };
    let audience = need(json.audience, "audience")?;
    let subject_token_type = need(json.subject_token_type, "subject_token_type")?;
    let token_url = url(&need(json.token_url, "token_url")?, "token_url")?;
    let impersonation_url = json
        .service_account_impersonation_url
        .map(|u| url(&u, "service_account_impersonation_url"))
        .transpose()?;
    let cs = json
        .credential_source
        .ok_or_else(|| bad("no \"credential_source\"".into()))?;
    if cs.environment_id.is_some() || cs.executable.is_some() {
        return Err(bad(
            "its credential_source is AWS (environment_id) or an executable, which lsprobe \
             does not support yet (only file- and URL-sourced subject tokens)"
                .into(),
        ));
    }
    let subject = match (cs.file, cs.url) {
        (Some(f), _) => SubjectSource::File(PathBuf::from(f)),
        (None, Some(u)) => SubjectSource::Url {
            url: url(&u, "credential_source.url")?,
            headers: cs.headers.into_iter().collect(),
        },
        (None, None) => {
            return Err(bad(
                "credential_source has neither \"file\" nor \"url\"".into()
            ));
        }
    };
    let json_field = match cs.format {
        Some(Format {
            kind: Some(k),
            subject_token_field_name,
        }) if k == "json" => Some(subject_token_field_name.ok_or_else(|| {
            bad("credential_source.format is json without subject_token_field_name".into())
        })?),
        _ => None,
    };
    Ok(ExternalAccount {
        source: source.clone(),
        audience,
        subject_token_type,
        token_url,
        impersonation_url,
        subject,
        json_field,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE_SOURCED: &str = r#"{"type":"external_account",
      "audience":"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s",
      "subject_token_type":"urn:ietf:params:oauth:token-type:jwt",
      "token_url":"https://sts.googleapis.com/v1/token",
      "service_account_impersonation_url":"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/ls@p.iam.gserviceaccount.com:generateAccessToken",
      "credential_source":{"file":"/var/run/secrets/tokens/gcp-ksa/token","format":{"type":"text"}}}"#;

    #[test]
    fn parses_file_and_url_sources_and_refuses_aws() {
        let a = parse(FILE_SOURCED, &Source::Default).unwrap();
        assert_eq!(
            a.subject,
            SubjectSource::File("/var/run/secrets/tokens/gcp-ksa/token".into())
        );
        assert_eq!(
            a.service_account().as_deref(),
            Some("ls@p.iam.gserviceaccount.com")
        );
        let url = FILE_SOURCED.replace(
            r#"{"file":"/var/run/secrets/tokens/gcp-ksa/token","format":{"type":"text"}}"#,
            r#"{"url":"http://127.0.0.1:1/token","headers":{"Metadata":"True"},"format":{"type":"json","subject_token_field_name":"access_token"}}"#,
        );
        let a = parse(&url, &Source::Default).unwrap();
        assert!(matches!(a.subject, SubjectSource::Url { .. }));
        assert_eq!(a.json_field.as_deref(), Some("access_token"));
        let aws = FILE_SOURCED.replace(
            r#"{"file":"/var/run/secrets/tokens/gcp-ksa/token","format":{"type":"text"}}"#,
            r#"{"environment_id":"aws1","region_url":"x","url":"y"}"#,
        );
        let e = parse(&aws, &Source::Default).unwrap_err();
        assert!(e.0.contains("does not support"), "{e}");
    }
}
