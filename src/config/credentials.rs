//! The credentials and provider-specific settings of each cloud, read as Label Studio reads
//! them (part of [`super::resolve`]).
use std::path::{Path, PathBuf};

use base64::Engine;

use super::resolve::Sources;
use super::target::*;
use super::{ConfigError, Secret, as_label_studio, parse, vars};

pub(super) fn keyless_note(annotations: &[(String, String, Source)], key: &str) -> String {
    match annotations.iter().find(|(k, _, _)| k == key) {
        Some((_, v, source)) => {
            format!(" The chart annotates the service account with {key}: {v} ({source}).")
        }
        None => String::new(),
    }
}

/// `STORAGE_AWS_S3_VERIFY` as Label Studio reads it (core/settings/base.py): exactly `false`,
/// `False` or `0` turn verification off; any other value goes to boto3 as `verify=<value>`,
/// which botocore takes as the path of the only CA bundle to trust. So `true` is a path too,
/// and every HTTPS request of Label Studio then fails (no such CA bundle).
pub(super) fn verify(
    v: Sourced<String>,
    plain_http: bool,
    warnings: &mut Vec<String>,
) -> Result<Sourced<TlsVerify>, ConfigError> {
    if v.value.trim().is_empty() {
        return Err(ConfigError(format!(
            "STORAGE_AWS_S3_VERIFY = `{}` ({}) is empty: Label Studio hands it to boto3 as the CA \
             bundle, and botocore refuses every request (\"Invalid CA bundle: ... resolved to an \
             empty or whitespace-only string\"), so every upload answers HTTP 500, over HTTP \
             too; remove the line to verify against the default CA bundle, or set it to false",
            v.value, v.source
        )));
    }
    if matches!(v.value.as_str(), "false" | "False" | "0") {
        warnings.push(format!(
            "STORAGE_AWS_S3_VERIFY is false ({}): TLS certificates are not verified",
            v.source
        ));
        return Ok(Sourced::new(TlsVerify::Skip, v.source));
    }
    let path = PathBuf::from(&v.value);
    if path.is_file() {
        return Ok(Sourced::new(TlsVerify::CaBundle(path), v.source));
    }
    let why = format!(
        "STORAGE_AWS_S3_VERIFY = `{}` ({}) is not a CA bundle file here, and Label Studio hands \
         every value other than false, False or 0 to boto3 as the path of the CA bundle to \
         trust",
        v.value, v.source
    );
    let fix = "remove the variable to verify against the default CA bundle, set it to false to \
               skip verification, or give the path of a PEM bundle (as mounted in Label \
               Studio's container, and readable where lsprobe runs)";
    if plain_http {
        warnings.push(format!(
            "{why}; harmless over plain HTTP, but Label Studio's requests fail once the \
             endpoint is HTTPS: {fix}"
        ));
        Ok(Sourced::new(TlsVerify::Verify, v.source))
    } else {
        Err(ConfigError(format!(
            "{why}: Label Studio's HTTPS requests to the bucket would fail (\"Could not find a \
             suitable TLS CA certificate bundle, invalid path\"); {fix}"
        )))
    }
}

pub(super) fn s3(
    sources: &Sources,
    annotations: &[(String, String, Source)],
    home: Option<&Path>,
    endpoint: Option<&Sourced<url::Url>>,
    warnings: &mut Vec<String>,
) -> Result<S3Settings, ConfigError> {
    let id = sources.pick("STORAGE_AWS_ACCESS_KEY_ID");
    let secret = sources.pick("STORAGE_AWS_SECRET_ACCESS_KEY");
    let credentials = match (id, secret) {
        (Some(id), Some(secret)) => S3Credentials::Keys {
            access_key_id: Sourced::new(Secret::new(id.value), id.source),
            secret_access_key: Sourced::new(Secret::new(secret.value), secret.source),
        },
        (None, None) => {
            let region = sources.pick("STORAGE_AWS_REGION_NAME").map(|r| r.value);
            let chain = super::aws_chain::select(sources, region.as_deref(), home)?;
            if let super::aws_chain::AwsChain::WebIdentity { role_arn, .. } = &chain
                && let Some((_, annotated, source)) = annotations
                    .iter()
                    .find(|(k, _, _)| k == "eks.amazonaws.com/role-arn")
                && annotated != &role_arn.value
            {
                warnings.push(format!(
                    "AWS_ROLE_ARN = {} ({}) differs from the service account's \
                     eks.amazonaws.com/role-arn annotation {annotated} ({source}): EKS sets \
                     AWS_ROLE_ARN in the pod from the annotation, so Label Studio assumes the \
                     annotated role; make them agree",
                    role_arn.value, role_arn.source
                ));
            }
            let keyless = !matches!(
                chain,
                super::aws_chain::AwsChain::EnvKeys { .. }
                    | super::aws_chain::AwsChain::SharedFile { .. }
            );
            warnings.push(format!(
                "no STORAGE_AWS_ACCESS_KEY_ID / STORAGE_AWS_SECRET_ACCESS_KEY: Label Studio uses \
                 the AWS default chain (boto3's), whose first configured step here is {}: {}.{}",
                chain.step(),
                chain.describe(),
                if keyless {
                    format!(
                        " lsprobe takes the same step from where it runs, so what it may do \
                         depends on the pod's service account or node role there: run it in a \
                         pod with the same service account to test the same role.{}",
                        keyless_note(annotations, "eks.amazonaws.com/role-arn")
                    )
                } else {
                    String::new()
                }
            ));
            S3Credentials::Chain(Box::new(chain))
        }
        (Some(one), None) | (None, Some(one)) => {
            return Err(ConfigError(format!(
                "only one of STORAGE_AWS_ACCESS_KEY_ID and STORAGE_AWS_SECRET_ACCESS_KEY is set \
                 ({}); set both, or neither to use the AWS default chain",
                one.source
            )));
        }
    };
    let object_parameters = sources
        .pick("STORAGE_AWS_OBJECT_PARAMETERS")
        .map(|v| {
            parse::json_object(&v, "STORAGE_AWS_OBJECT_PARAMETERS")
                .map(|m| Sourced::new(m, v.source))
        })
        .transpose()?;
    let use_ssl = match sources.pick_raw("STORAGE_AWS_S3_USE_SSL") {
        Some(v) => Sourced::new(
            as_label_studio::boolean(&v, "STORAGE_AWS_S3_USE_SSL")?,
            v.source,
        ),
        None => parse::default(true),
    };
    let plain_http = endpoint.is_some_and(|e| e.value.scheme() == "http");
    let verify = match (
        sources.pick_raw("STORAGE_AWS_S3_VERIFY"),
        sources.pick("AWS_CA_BUNDLE"),
    ) {
        (Some(v), _) => verify(v, plain_http, warnings)?,
        // Label Studio passes no `verify` then, and botocore takes AWS_CA_BUNDLE as the bundle.
        (None, Some(b)) => {
            let path = PathBuf::from(&b.value);
            if path.is_file() {
                Sourced::new(TlsVerify::CaBundle(path), b.source)
            } else if plain_http {
                parse::default(TlsVerify::Verify)
            } else {
                return Err(ConfigError(format!(
                    "AWS_CA_BUNDLE = `{}` ({}) is not a file here, and boto3 takes it as the \
                     path of the CA bundle to trust: give the path of a PEM bundle readable \
                     where lsprobe runs, or remove the variable",
                    b.value, b.source
                )));
            }
        }
        (None, None) => parse::default(TlsVerify::Verify),
    };
    let signature_version = sources
        .pick_raw("STORAGE_AWS_S3_SIGNATURE_VERSION")
        .map(|v| as_label_studio::signature_version(v, warnings))
        .transpose()?;
    Ok(S3Settings {
        credentials,
        object_parameters,
        use_ssl,
        verify,
        signature_version,
    })
}

pub(super) fn gcs(
    sources: &Sources,
    annotations: &[(String, String, Source)],
    warnings: &mut Vec<String>,
) -> Result<GcsSettings, ConfigError> {
    let from_path =
        |path: &Path, source: Source, name: &str| -> Result<(String, Source), ConfigError> {
            super::limits::read_text(path, super::limits::MAX_CONFIG_BYTES)
            .map(|text| (text, Source::File { path: path.to_path_buf() }))
            .map_err(|e| {
                ConfigError(format!(
                    "{name} ({source}) points to {}, which cannot be read here ({e}); that may be \
                     the path inside the Label Studio container: pass --gcs-credentials with a \
                     local copy of the service-account JSON",
                    path.display()
                ))
            })
        };
    let json = if let Some(path) = &sources.flags.gcs_credentials {
        let flag = Source::Flag {
            flag: "--gcs-credentials".into(),
        };
        Some(from_path(path, flag, "--gcs-credentials")?)
    } else if let Some(inline) = sources.pick(vars::GCS_CREDENTIALS_JSON) {
        Some((inline.value, inline.source))
    } else if let Some(p) = sources.pick(vars::GOOGLE_APPLICATION_CREDENTIALS) {
        Some(from_path(
            Path::new(&p.value),
            p.source,
            vars::GOOGLE_APPLICATION_CREDENTIALS,
        )?)
    } else {
        None
    };
    let credentials = match json {
        Some((text, source))
            if serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| Some(v.get("type")?.as_str()? == "external_account"))
                == Some(true) =>
        {
            GcsCredentials::ExternalAccount(Box::new(super::gcs_external::parse(&text, &source)?))
        }
        Some((text, source)) => {
            let client_email = service_account_email(&text, &source)?;
            GcsCredentials::ServiceAccount {
                json: Secret::new(text),
                source,
                client_email,
            }
        }
        None => {
            warnings.push(format!(
                "no service-account JSON: Label Studio uses the metadata server (GKE Workload \
                 Identity), so what it may do depends on the pod's service account, and signing \
                 media URLs needs iam.serviceAccounts.signBlob. lsprobe uses the credentials of \
                 the machine it runs on: run it in a pod with the same service account.{}",
                keyless_note(annotations, "iam.gke.io/gcp-service-account")
            ));
            let endpoint = match sources.pick("GCE_METADATA_HOST") {
                Some(h) => {
                    let url = url::Url::parse(&format!("http://{}/", h.value)).map_err(|e| {
                        ConfigError(format!(
                            "GCE_METADATA_HOST = `{}` ({}) is not a host[:port] ({e}); give the \
                             metadata server's host and port, e.g. 127.0.0.1:8080",
                            h.value, h.source
                        ))
                    })?;
                    Sourced::new(url, h.source)
                }
                None => Sourced::new(
                    url::Url::parse("http://metadata.google.internal/").expect("valid URL"),
                    Source::Default,
                ),
            };
            GcsCredentials::MetadataServer { endpoint }
        }
    };
    Ok(GcsSettings {
        credentials,
        project_id: sources.pick("STORAGE_GCS_PROJECT_ID"),
    })
}

/// Checks a credentials JSON and returns its `client_email`.
pub(super) fn service_account_email(
    text: &str,
    source: &Source,
) -> Result<Option<String>, ConfigError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ConfigError(format!(
            "the GCS credentials ({source}) are not valid JSON ({e}); use the service-account \
             key file as downloaded from Google Cloud"
        ))
    })?;
    let kind = value.get("type").and_then(|t| t.as_str());
    if !matches!(kind, Some("service_account" | "authorized_user")) {
        return Err(ConfigError(format!(
            "the GCS credentials ({source}) have no recognised \"type\" (found {kind:?}); use a \
             service-account key file, whose type is \"service_account\""
        )));
    }
    Ok(value
        .get("client_email")
        .and_then(|e| e.as_str())
        .map(str::to_string))
}

pub(super) fn azure(
    sources: &Sources,
    warnings: &mut Vec<String>,
) -> Result<AzureSettings, ConfigError> {
    let account_name = sources.pick("STORAGE_AZURE_ACCOUNT_NAME").ok_or_else(|| {
        ConfigError(
            "no Azure storage account: set STORAGE_AZURE_ACCOUNT_NAME, or the chart's \
             global.persistence.config.azure.storageAccountName"
                .to_string(),
        )
    })?;
    let key = sources.pick("STORAGE_AZURE_ACCOUNT_KEY");
    let sas = sources.pick(vars::AZURE_SAS_TOKEN);
    let credentials = match (key, sas) {
        (Some(k), Some(s)) => {
            return Err(ConfigError(format!(
                "both an account key ({}) and a SAS token ({}) are set; keep one: the key to \
                 test what Label Studio does, the SAS token to test a limited grant",
                k.source, s.source
            )));
        }
        (Some(k), None) => {
            if base64::engine::general_purpose::STANDARD
                .decode(k.value.trim())
                .is_err()
            {
                return Err(ConfigError(format!(
                    "STORAGE_AZURE_ACCOUNT_KEY ({}) is not base64, so it is not an account key; \
                     copy key1 or key2 from Storage account > Access keys",
                    k.source
                )));
            }
            AzureCredentials::AccountKey(Sourced::new(Secret::new(k.value.trim()), k.source))
        }
        (None, Some(s)) => {
            warnings.push(format!(
                "a SAS token is used ({}): Label Studio itself always uses the account key",
                s.source
            ));
            let token = s.value.trim().trim_start_matches('?').to_string();
            AzureCredentials::Sas(Sourced::new(Secret::new(token), s.source))
        }
        (None, None) => {
            return Err(ConfigError(
                "no Azure credentials: set STORAGE_AZURE_ACCOUNT_KEY (or the chart's \
                 storageAccountKey), or LSPROBE_AZURE_SAS_TOKEN to test a SAS grant"
                    .to_string(),
            ));
        }
    };
    Ok(AzureSettings {
        account_name,
        credentials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(v: &str) -> Sourced<String> {
        Sourced::new(
            v.to_string(),
            Source::Environment {
                var: "STORAGE_AWS_S3_VERIFY".into(),
            },
        )
    }

    #[test]
    fn s3_verify_is_read_as_label_studio_reads_it() {
        let mut warnings = Vec::new();
        for off in ["false", "False", "0"] {
            let v = verify(value(off), false, &mut warnings).unwrap();
            assert_eq!(v.value, TlsVerify::Skip, "{off}");
        }
        assert_eq!(warnings.len(), 3);
        // Anything else is a CA bundle path to Label Studio, `true` included.
        for path_to_ls in ["true", "True", "1", "FALSE", "no", "/no/such/bundle.pem"] {
            let e = verify(value(path_to_ls), false, &mut warnings).unwrap_err();
            assert!(e.0.contains("CA bundle"), "{e}");
            // Harmless over plain HTTP: a warning, and lsprobe verifies as usual.
            let v = verify(value(path_to_ls), true, &mut warnings).unwrap();
            assert_eq!(v.value, TlsVerify::Verify);
        }
        // Empty (or blank) is refused even over plain HTTP: botocore checks it up front.
        for empty in ["", " "] {
            let e = verify(value(empty), true, &mut warnings).unwrap_err();
            assert!(e.0.contains("Invalid CA bundle"), "{e}");
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        let path = file.path().to_string_lossy().into_owned();
        let v = verify(value(&path), false, &mut warnings).unwrap();
        assert_eq!(v.value, TlsVerify::CaBundle(file.path().to_path_buf()));
    }
}
