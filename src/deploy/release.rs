//! What a Kubernetes Job needs to know about an installed Label Studio Helm release, read from
//! the release's own `ls-values.yaml` as the chart (HumanSignal/charts, `_helpers.tpl`) reads
//! it: the app's service account, the existing secrets the storage settings name, whether the
//! file holds credentials inline, and the environment the chart gives the Label Studio pod
//! beyond the values lsprobe reads from the file itself.
use std::collections::BTreeMap;
use std::path::Path;

use saphyr::{LoadableYamlNode, Scalar, Yaml};

use crate::config::limits;

/// A values file that cannot be turned into manifests.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReleaseError(pub String);

/// The release as the manifests reuse it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Helm release name (`helm install NAME ...`).
    pub name: String,
    /// `global.persistence.type`: s3, gcs or azure.
    pub storage_type: String,
    /// The service account the Label Studio app pods run as (IRSA / Workload Identity).
    pub service_account: String,
    /// Its keyless-auth annotation, when the values set one (`eks.amazonaws.com/role-arn`,
    /// `iam.gke.io/gcp-service-account`), as (name, value).
    pub keyless: Option<(String, String)>,
    /// Existing secrets the storage settings name: secret name → keys read from it.
    pub secrets: BTreeMap<String, Vec<String>>,
    /// Dotted paths of credentials written inline in the values file, and of other values that
    /// look secret (a password, token, secret or key of another component): then the file
    /// itself is one.
    pub inline_credentials: Vec<String>,
    /// Environment of the Label Studio pod that lsprobe does not read from the values file:
    /// `global.` and `app.extraEnvironmentSecrets` (name → (secret, key)) ...
    pub env_from_secrets: BTreeMap<String, (String, String)>,
    /// ... and `app.extraEnvironmentVars` lsprobe reads (name → value) ...
    pub env_values: BTreeMap<String, String>,
    /// App-level settings of storage variables: in the Label Studio pod they override
    /// `global.persistence`, while lsprobe reads the values file first.
    pub overridden: Vec<String>,
    /// ... and `LABEL_STUDIO_HOST` as the chart derives it from `app.ingress`.
    pub label_studio_host: Option<String>,
}

const INLINE: &[(&str, &str)] = &[
    ("s3", "accessKey"),
    ("s3", "secretKey"),
    ("gcs", "applicationCredentialsJSON"),
    ("azure", "storageAccountName"),
    ("azure", "storageAccountKey"),
];
const EXISTING: &[(&str, &str)] = &[
    ("s3", "accessKeyExistingSecret"),
    ("s3", "secretKeyExistingSecret"),
    ("gcs", "applicationCredentialsJSONExistingSecret"),
    ("azure", "storageAccountNameExistingSecret"),
    ("azure", "storageAccountKeyExistingSecret"),
];

impl Release {
    /// Reads `text` (the file at `path`) for release `name`.
    pub fn read(name: &str, text: &str, path: &Path) -> Result<Release, ReleaseError> {
        let at = path.display();
        if !is_dns_label(name) {
            return Err(ReleaseError(format!(
                "--release `{}`: not a Helm release name (lower-case letters, digits and `-`, \
                 at most 53); give the NAME of `helm install NAME`",
                crate::config::parse::shorten(name)
            )));
        }
        if limits::yaml_depth(text) > limits::MAX_YAML_DEPTH {
            return Err(ReleaseError(format!(
                "{at}: nested too deep to be a values file"
            )));
        }
        let docs = Yaml::load_from_str(text).map_err(|e| {
            ReleaseError(format!(
                "{at}:{}: invalid YAML: {}; fix the syntax",
                e.marker().line(),
                e.info()
            ))
        })?;
        let empty = Yaml::Value(Scalar::Null);
        let root = docs.first().unwrap_or(&empty);
        let get = |keys: &[&str]| -> Option<&Yaml<'_>> {
            keys.iter().try_fold(root, |node, key| {
                node.as_mapping_get(key).filter(|v| !v.is_null())
            })
        };
        let text_of = |keys: &[&str]| get(keys).and_then(scalar);
        let enabled = text_of(&["global", "persistence", "enabled"]);
        if enabled.as_deref() != Some("true") {
            return Err(ReleaseError(format!(
                "{at}: global.persistence.enabled is not true: this release keeps uploads on a \
                 volume, there is no bucket to check; set global.persistence.enabled: true and \
                 global.persistence.type"
            )));
        }
        let storage_type = text_of(&["global", "persistence", "type"]).unwrap_or_default();
        if !matches!(storage_type.as_str(), "s3" | "gcs" | "azure") {
            return Err(ReleaseError(format!(
                "{at}: global.persistence.type is `{}`: lsprobe checks s3, gcs or azure \
                 persistence",
                crate::config::parse::shorten(&storage_type)
            )));
        }
        let config = |key: &str| text_of(&["global", "persistence", "config", &storage_type, key]);
        let mut secrets: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (_, key) in EXISTING.iter().filter(|(t, _)| *t == storage_type) {
            let Some(secret) = config(key).filter(|s| !s.is_empty()) else {
                continue;
            };
            let path_of = |k: &str| format!("global.persistence.config.{storage_type}.{k}");
            let secret_key = config(&format!("{key}Key")).unwrap_or_default();
            for (what, v) in [(*key, &secret), (&format!("{key}Key")[..], &secret_key)] {
                if !limits::is_plain_name(v) {
                    return Err(ReleaseError(format!(
                        "{at}: {} is {}: not a Kubernetes secret or key name; name the secret \
                         (and the key in it) that holds the credential, e.g. `ls-s3` / `secretkey`",
                        path_of(what),
                        name_for_display(v)
                    )));
                }
            }
            let keys = secrets.entry(secret).or_default();
            if !keys.contains(&secret_key) {
                keys.push(secret_key);
            }
        }
        let mut inline_credentials: Vec<String> = INLINE
            .iter()
            .filter(|(t, key)| *t == storage_type && config(key).is_some_and(|v| !v.is_empty()))
            .map(|(t, key)| format!("global.persistence.config.{t}.{key}"))
            .collect();
        for found in secret_looking(root, "") {
            if !inline_credentials.contains(&found) {
                inline_credentials.push(found);
            }
        }
        let service_account = service_account(
            name,
            get(&["app", "serviceAccount", "create"]).and_then(scalar),
            text_of(&["app", "serviceAccount", "name"]),
            text_of(&["app", "FullnameOverride"]),
        );
        let keyless = [
            "eks.amazonaws.com/role-arn",
            "iam.gke.io/gcp-service-account",
        ]
        .iter()
        .find_map(|k| {
            let v = get(&["app", "serviceAccount", "annotations"])?.as_mapping_get(k)?;
            Some((k.to_string(), scalar(v)?))
        });
        let mut env_from_secrets = BTreeMap::new();
        let mut env_values = BTreeMap::new();
        let mut overridden = Vec::new();
        // The chart: `printf "%s" $key | replace "." "_" | upper`.
        let env_name = |key: &str| key.replace('.', "_").to_uppercase();
        for scope in ["global", "app"] {
            let Some(map) = get(&[scope, "extraEnvironmentSecrets"]).and_then(|m| m.as_mapping())
            else {
                continue;
            };
            for (k, v) in map {
                let (Some(key), Some(secret), Some(secret_key)) = (
                    scalar(k),
                    v.as_mapping_get("secretName").and_then(scalar),
                    v.as_mapping_get("secretKey").and_then(scalar),
                ) else {
                    continue;
                };
                let env = env_name(&key);
                if read_by_lsprobe(&env) {
                    if scope == "app" && is_storage(&env) {
                        overridden.push(format!("app.extraEnvironmentSecrets.{key}"));
                    }
                    env_from_secrets.insert(env, (secret, secret_key));
                }
            }
        }
        if let Some(map) = get(&["app", "extraEnvironmentVars"]).and_then(|m| m.as_mapping()) {
            for (k, v) in map {
                let (Some(key), Some(value)) = (scalar(k), scalar(v)) else {
                    continue;
                };
                let env = env_name(&key);
                if read_by_lsprobe(&env) {
                    if is_storage(&env) {
                        overridden.push(format!("app.extraEnvironmentVars.{key}"));
                    }
                    env_values.insert(env, value);
                }
            }
        }
        let extra_host = get(&["global", "extraEnvironmentVars"])
            .and_then(|m| m.as_mapping_get("LABEL_STUDIO_HOST"))
            .is_some();
        let ingress_on = text_of(&["app", "ingress", "enabled"]).as_deref() == Some("true");
        let label_studio_host = match (extra_host, ingress_on, text_of(&["app", "ingress", "host"]))
        {
            (false, true, Some(host)) if !host.is_empty() => {
                let tls = get(&["app", "ingress", "tls"])
                    .is_some_and(|t| t.as_sequence().is_some_and(|s| !s.is_empty()));
                let context = text_of(&["app", "contextPath"]).unwrap_or_default();
                Some(format!(
                    "http{}://{host}{context}",
                    if tls { "s" } else { "" }
                ))
            }
            _ => None,
        };
        Ok(Release {
            name: name.to_string(),
            storage_type,
            service_account,
            keyless,
            secrets,
            inline_credentials,
            env_from_secrets,
            env_values,
            overridden,
            label_studio_host,
        })
    }
}

/// The chart's `ls-app.serviceAccountName`: with `create` (the default) the name or the app's
/// full name (`<release>-ls-app`, or the release when it already contains `ls-app`); without,
/// the name or `ls`.
fn service_account(
    release: &str,
    create: Option<String>,
    name: Option<String>,
    fullname_override: Option<String>,
) -> String {
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        return name;
    }
    if create.as_deref() == Some("false") {
        return "ls".into();
    }
    let full = match fullname_override.filter(|f| !f.is_empty()) {
        Some(f) => f,
        None if release.contains("ls-app") => release.to_string(),
        None => format!("{release}-ls-app"),
    };
    full.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// Keys anywhere in the file whose name says they hold a secret (`password`, `token`,
/// `secret`, `...key`) with a non-empty value, except references to Kubernetes secrets
/// (`...ExistingSecret[Key]`, `secretName` / `secretKey` pairs).
fn secret_looking(node: &Yaml<'_>, path: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Some(map) = node.as_mapping() else {
        return found;
    };
    let is_reference = map.iter().any(|(k, _)| k.as_str() == Some("secretName"));
    for (k, v) in map {
        let Some(key) = k.as_str() else { continue };
        let here = if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        };
        if v.is_mapping() {
            found.extend(secret_looking(v, &here));
            continue;
        }
        let lower = key.to_ascii_lowercase();
        let named_secret = ["password", "token", "secret"]
            .iter()
            .any(|w| lower.contains(w))
            || lower.ends_with("key");
        let reference = lower.ends_with("existingsecret")
            || lower.ends_with("existingsecretkey")
            || (is_reference && matches!(key, "secretName" | "secretKey"));
        if named_secret && !reference && scalar(v).is_some_and(|s| !s.is_empty()) {
            found.push(here);
        }
    }
    found
}

/// Variables lsprobe reads from its environment (storage settings in Label Studio's three
/// spellings, the SDKs' credential chains, the browser origin).
fn read_by_lsprobe(name: &str) -> bool {
    let bare = name
        .strip_prefix("LABEL_STUDIO_")
        .or_else(|| name.strip_prefix("HEARTEX_"))
        .unwrap_or(name);
    ["STORAGE_", "AWS_", "GOOGLE_", "GCE_", "LSPROBE_"]
        .iter()
        .any(|p| bare.starts_with(p))
        || name == "LABEL_STUDIO_HOST"
}

/// A rejected secret or key name for an error: quoted when short; a longer value is likely
/// the credential itself pasted where its secret's name belongs, so only its length is said.
fn name_for_display(v: &str) -> String {
    const SHOWN: usize = 16;
    let n = v.chars().count();
    if n <= SHOWN {
        format!("`{v}`")
    } else {
        format!("a value of {n} characters (not shown: it may be the credential itself)")
    }
}

/// A storage variable in any of Label Studio's spellings.
fn is_storage(name: &str) -> bool {
    let bare = name
        .strip_prefix("LABEL_STUDIO_")
        .or_else(|| name.strip_prefix("HEARTEX_"))
        .unwrap_or(name);
    bare.starts_with("STORAGE_")
}

fn scalar(node: &Yaml<'_>) -> Option<String> {
    match node {
        Yaml::Value(Scalar::String(s)) => Some(s.to_string()),
        Yaml::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        Yaml::Value(Scalar::Integer(i)) => Some(i.to_string()),
        Yaml::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        Yaml::Representation(s, _, _) => Some(s.to_string()),
        _ => None,
    }
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 53
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Release, ReleaseError> {
        Release::read("ls", text, Path::new("ls-values.yaml"))
    }

    const S3_SECRET: &str = "global:\n  persistence:\n    enabled: true\n    type: s3\n    config:\n      s3:\n        accessKeyExistingSecret: ls-s3\n        accessKeyExistingSecretKey: accesskey\n        secretKeyExistingSecret: ls-s3\n        secretKeyExistingSecretKey: secretkey\n        bucket: b\n";

    #[test]
    fn existing_secrets_are_grouped_by_secret() {
        let r = read(S3_SECRET).unwrap();
        assert_eq!(r.storage_type, "s3");
        assert_eq!(r.secrets["ls-s3"], vec!["accesskey", "secretkey"]);
        assert!(r.inline_credentials.is_empty());
        assert_eq!(r.service_account, "ls-ls-app");
    }

    #[test]
    fn service_account_follows_the_chart_helper() {
        assert_eq!(service_account("prod", None, None, None), "prod-ls-app");
        assert_eq!(service_account("my-ls-app", None, None, None), "my-ls-app");
        assert_eq!(service_account("p", Some("false".into()), None, None), "ls");
        assert_eq!(service_account("p", None, Some("sa".into()), None), "sa");
        assert_eq!(service_account("p", None, None, Some("x".into())), "x");
    }

    #[test]
    fn inline_keys_ingress_host_and_extra_secrets_are_found() {
        let text = "global:\n  persistence:\n    enabled: true\n    type: azure\n    config:\n      azure:\n        storageAccountName: acct\n        storageAccountKey: k\n  extraEnvironmentSecrets:\n    storage.azure.folder: {secretName: s, secretKey: folder}\n    postgre_password: {secretName: db, secretKey: pw}\napp:\n  contextPath: /ls\n  ingress:\n    enabled: true\n    host: ls.example.com\n    tls: [{secretName: t}]\n";
        let r = read(text).unwrap();
        assert_eq!(r.inline_credentials.len(), 2);
        assert_eq!(
            r.label_studio_host.as_deref(),
            Some("https://ls.example.com/ls")
        );
        assert_eq!(
            r.env_from_secrets.keys().collect::<Vec<_>>(),
            vec!["STORAGE_AZURE_FOLDER"]
        );
        assert!(
            r.overridden.is_empty(),
            "global extras do not beat global.persistence"
        );
        let text = format!(
            "{S3_SECRET}app:\n  extraEnvironmentVars:\n    AWS_STS_REGIONAL_ENDPOINTS: regional\n    \
             STORAGE_AWS_FOLDER: other\n    DEBUG: \"1\"\n"
        );
        let r = read(&text).unwrap();
        assert_eq!(
            r.env_values.keys().collect::<Vec<_>>(),
            vec!["AWS_STS_REGIONAL_ENDPOINTS", "STORAGE_AWS_FOLDER"]
        );
        assert_eq!(
            r.overridden,
            vec!["app.extraEnvironmentVars.STORAGE_AWS_FOLDER"]
        );
    }

    #[test]
    fn other_secrets_in_the_file_are_found_but_references_are_not() {
        let text = format!(
            "{S3_SECRET}  extraEnvironmentVars:\n    LABEL_STUDIO_PASSWORD: hunter2\n    \
             LABEL_STUDIO_USERNAME: me\n  pgConfig:\n    password:\n      secretName: db\n      \
             secretKey: pw\npostgresql:\n  auth:\n    password: \"\"\n"
        );
        let r = read(&text).unwrap();
        assert_eq!(
            r.inline_credentials,
            vec!["global.extraEnvironmentVars.LABEL_STUDIO_PASSWORD"]
        );
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = read("global:\n  persistence:\n    enabled: false\n").unwrap_err();
        assert!(e.0.contains("global.persistence.enabled"), "{e}");
        let e = read(&S3_SECRET.replace(
            "ls-s3\n        accessKeyExistingSecretKey",
            "../x\n        accessKeyExistingSecretKey",
        ))
        .unwrap_err();
        assert!(e.0.contains("accessKeyExistingSecret is `../x`"), "{e}");
        let pasted = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let e = read(&S3_SECRET.replace(
            "ls-s3\n        accessKeyExistingSecretKey",
            &format!("{pasted}\n        accessKeyExistingSecretKey"),
        ))
        .unwrap_err();
        assert!(
            e.0.contains("accessKeyExistingSecret is a value of 40"),
            "{e}"
        );
        assert!(
            !e.0.contains("wJalr"),
            "a pasted credential is never echoed: {e}"
        );
        let e = Release::read("Bad_Name", S3_SECRET, Path::new("v")).unwrap_err();
        assert!(e.0.contains("--release"), "{e}");
        let e = read("a: [").unwrap_err();
        assert!(e.0.contains("ls-values.yaml:"), "{e}");
    }
}
