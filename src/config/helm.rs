//! Helm values of the Label Studio chart (`ls-values.yaml`): `global.persistence.*`,
//! `global.extraEnvironmentVars`, and the service-account annotations of keyless auth.
use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use super::ConfigError;
use super::secret::read_mounted;
use super::target::Source;
use super::vars::{self, Layer};

/// What a values file says about storage.
#[derive(Debug, Default)]
pub struct HelmValues {
    /// Canonical variables (`STORAGE_TYPE`, `STORAGE_AWS_BUCKET_NAME`, ...).
    pub layer: Layer,
    /// `global.persistence.enabled`, where set.
    pub enabled: Option<(bool, Source)>,
    /// Service-account annotations that select keyless auth (IRSA role, GKE service account).
    pub annotations: Vec<(String, String, Source)>,
    /// Things Label Studio would do differently than the file may suggest.
    pub warnings: Vec<String>,
}

/// (Helm key, canonical variable) per storage type.
const S3_KEYS: &[(&str, &str)] = &[
    ("accessKey", "STORAGE_AWS_ACCESS_KEY_ID"),
    ("secretKey", "STORAGE_AWS_SECRET_ACCESS_KEY"),
    ("bucket", "STORAGE_AWS_BUCKET_NAME"),
    ("region", "STORAGE_AWS_REGION_NAME"),
    ("folder", "STORAGE_AWS_FOLDER"),
    ("urlExpirationSecs", "STORAGE_AWS_X_AMZ_EXPIRES"),
    ("endpointUrl", "STORAGE_AWS_ENDPOINT_URL"),
    ("objectParameters", "STORAGE_AWS_OBJECT_PARAMETERS"),
];
const S3_SECRETS: &[(&str, &str)] = &[
    ("accessKeyExistingSecret", "STORAGE_AWS_ACCESS_KEY_ID"),
    ("secretKeyExistingSecret", "STORAGE_AWS_SECRET_ACCESS_KEY"),
];
const GCS_KEYS: &[(&str, &str)] = &[
    ("projectID", "STORAGE_GCS_PROJECT_ID"),
    ("applicationCredentialsJSON", vars::GCS_CREDENTIALS_JSON),
    ("bucket", "STORAGE_GCS_BUCKET_NAME"),
    ("folder", "STORAGE_GCS_FOLDER"),
    ("urlExpirationSecs", "STORAGE_GCS_EXPIRATION_SECS"),
];
const GCS_SECRETS: &[(&str, &str)] = &[(
    "applicationCredentialsJSONExistingSecret",
    vars::GCS_CREDENTIALS_JSON,
)];
const AZURE_KEYS: &[(&str, &str)] = &[
    ("storageAccountName", "STORAGE_AZURE_ACCOUNT_NAME"),
    ("storageAccountKey", "STORAGE_AZURE_ACCOUNT_KEY"),
    ("containerName", "STORAGE_AZURE_CONTAINER_NAME"),
    ("folder", "STORAGE_AZURE_FOLDER"),
    ("urlExpirationSecs", "STORAGE_AZURE_URL_EXPIRATION_SECS"),
];
const AZURE_SECRETS: &[(&str, &str)] = &[
    (
        "storageAccountNameExistingSecret",
        "STORAGE_AZURE_ACCOUNT_NAME",
    ),
    (
        "storageAccountKeyExistingSecret",
        "STORAGE_AZURE_ACCOUNT_KEY",
    ),
];
const ANNOTATIONS: &[&str] = &[
    "eks.amazonaws.com/role-arn",
    "iam.gke.io/gcp-service-account",
];

/// Parses a values file's text. `secret_dir` resolves `...ExistingSecret` pairs.
pub fn parse(
    text: &str,
    path: &Path,
    secret_dir: Option<&Path>,
) -> Result<HelmValues, ConfigError> {
    let depth = super::limits::yaml_depth(text);
    if depth > super::limits::MAX_YAML_DEPTH {
        return Err(ConfigError(format!(
            "{}: nests {depth} levels deep (at most {} are read; Label Studio's values nest \
             about 6): this is not a values file",
            path.display(),
            super::limits::MAX_YAML_DEPTH
        )));
    }
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        ConfigError(format!(
            "{}:{}: invalid YAML: {}; fix the syntax (indentation, quotes, `key: value`)",
            path.display(),
            e.marker().line(),
            e.info()
        ))
    })?;
    let mut out = HelmValues::default();
    let Some(root) = docs.first() else {
        return Ok(out);
    };
    let file = File {
        path: path.to_path_buf(),
    };
    if !matches!(
        root.data,
        YamlData::Mapping(_) | YamlData::Value(Scalar::Null)
    ) {
        return Err(ConfigError(format!(
            "{}:{}: the top of a values file must be a mapping (`global:` ...)",
            path.display(),
            root.span.start.line()
        )));
    }
    if let Some((extra, key_line)) = get_path(root, &["global", "extraEnvironmentVars"]) {
        for (name, value) in entries(extra) {
            if let Some(v) = scalar(value) {
                let source = file.source(
                    &format!("global.extraEnvironmentVars.{name}"),
                    key_line_of(value, key_line),
                );
                out.layer.add_variable(&name, v, source);
            }
        }
    }
    for sa in ["app", "rqworker"] {
        if let Some((ann, _)) = get_path(root, &[sa, "serviceAccount", "annotations"]) {
            for (name, value) in entries(ann) {
                if ANNOTATIONS.contains(&name.as_str())
                    && let Some(v) = scalar(value)
                {
                    let kp = format!("{sa}.serviceAccount.annotations.{name}");
                    out.annotations
                        .push((name, v, file.source(&kp, value.span.start.line())));
                }
            }
        }
    }
    let Some((persistence, _)) = get_path(root, &["global", "persistence"]) else {
        out.warnings.push(format!(
            "{} has no global.persistence: with it Label Studio keeps uploads on a local volume",
            path.display()
        ));
        return Ok(out);
    };
    if let Some((node, line)) = get_path(persistence, &["enabled"]) {
        let enabled = matches!(node.data, YamlData::Value(Scalar::Boolean(true)))
            || scalar(node).is_some_and(|s| s.eq_ignore_ascii_case("true"));
        let source = file.source("global.persistence.enabled", line);
        if !enabled {
            out.warnings.push(format!(
                "global.persistence.enabled is false ({source}): Label Studio will not use this \
                 bucket and keeps uploads on the pod's volume, lost on restart; set it to true"
            ));
        }
        out.enabled = Some((enabled, source));
    }
    let storage_type = match get_path(persistence, &["type"]) {
        Some((node, line)) => {
            let value = scalar(node).unwrap_or_default();
            out.layer.set(
                "STORAGE_TYPE",
                value.clone(),
                file.source("global.persistence.type", line),
            );
            value
        }
        None => return Ok(out),
    };
    let (keys, secrets) = match storage_type.as_str() {
        "s3" => (S3_KEYS, S3_SECRETS),
        "gcs" => (GCS_KEYS, GCS_SECRETS),
        "azure" => (AZURE_KEYS, AZURE_SECRETS),
        _ => return Ok(out),
    };
    let base = format!("global.persistence.config.{storage_type}");
    let Some((config, _)) = get_path(persistence, &["config", &storage_type]) else {
        return Ok(out);
    };
    for (name, value) in entries(config) {
        let key_path = format!("{base}.{name}");
        let line = value.span.start.line();
        if let Some((_, var)) = keys.iter().find(|(k, _)| *k == name) {
            let text = if name == "objectParameters" && !matches!(value.data, YamlData::Value(_)) {
                Some(to_json(value).to_string())
            } else {
                scalar(value)
            };
            // The chart (`_helpers.tpl`) renders endpointUrl and objectParameters only when
            // they are not empty; the other keys always, empty too (`urlExpirationSecs: ""`
            // then stops Label Studio: int('')).
            let guarded = matches!(name.as_str(), "endpointUrl" | "objectParameters");
            if let Some(text) = text.filter(|t| !(guarded && t.is_empty())) {
                out.layer.set(var, text, file.source(&key_path, line));
            }
        } else if let Some((_, var)) = secrets.iter().find(|(k, _)| *k == name) {
            let Some(secret) = scalar(value) else {
                continue;
            };
            let key_name = format!("{name}Key");
            let Some((key_node, _)) = get_path(config, &[&key_name]) else {
                return Err(ConfigError(format!(
                    "{}:{line}: {key_path} names a secret but {base}.{key_name} is missing; \
                     add the key inside the secret that holds the value",
                    path.display()
                )));
            };
            let key = scalar(key_node).unwrap_or_default();
            let asked_by = format!("{}:{line} ({key_path})", path.display());
            let (v, file_path) = read_mounted(secret_dir, &secret, &key, &asked_by)?;
            out.layer.set(var, v, Source::File { path: file_path });
        } else if !name.ends_with("ExistingSecretKey") {
            let hint = keys
                .iter()
                .chain(secrets)
                .map(|(k, _)| *k)
                .find(|k| k.eq_ignore_ascii_case(&name))
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            out.warnings.push(format!(
                "{}:{line}: {key_path} is not a key the Label Studio chart reads{hint}",
                path.display()
            ));
        }
    }
    Ok(out)
}

struct File {
    path: PathBuf,
}

impl File {
    fn source(&self, key_path: &str, line: usize) -> Source {
        Source::Values {
            path: self.path.clone(),
            key_path: key_path.to_string(),
            line,
        }
    }
}

fn key_line_of(value: &MarkedYaml<'_>, fallback: usize) -> usize {
    match value.span.start.line() {
        0 => fallback,
        n => n,
    }
}

/// Walks mappings by key; returns the node and the line of its key.
fn get_path<'a, 'b>(
    node: &'a MarkedYaml<'b>,
    keys: &[&str],
) -> Option<(&'a MarkedYaml<'b>, usize)> {
    let mut current = node;
    let mut line = node.span.start.line();
    for key in keys {
        let YamlData::Mapping(map) = &current.data else {
            return None;
        };
        let (k, v) = map.iter().find(|(k, _)| k.data.as_str() == Some(key))?;
        current = v;
        line = k.span.start.line();
    }
    Some((current, line))
}

/// The (key, value) pairs of a mapping with string keys.
fn entries<'a, 'b>(node: &'a MarkedYaml<'b>) -> Vec<(String, &'a MarkedYaml<'b>)> {
    match &node.data {
        YamlData::Mapping(map) => map
            .iter()
            .filter_map(|(k, v)| scalar(k).map(|k| (k, v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// A scalar as Label Studio's chart would template it into an environment variable.
fn scalar(node: &MarkedYaml<'_>) -> Option<String> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
        YamlData::Value(Scalar::Integer(i)) => Some(i.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        YamlData::Representation(s, _, _) => Some(s.to_string()),
        _ => None,
    }
}

fn to_json(node: &MarkedYaml<'_>) -> serde_json::Value {
    use serde_json::Value;
    match &node.data {
        YamlData::Mapping(map) => Value::Object(
            map.iter()
                .filter_map(|(k, v)| scalar(k).map(|k| (k, to_json(v))))
                .collect(),
        ),
        YamlData::Sequence(seq) => Value::Array(seq.iter().map(to_json).collect()),
        YamlData::Value(Scalar::Integer(i)) => Value::from(*i),
        YamlData::Value(Scalar::Boolean(b)) => Value::from(*b),
        YamlData::Value(Scalar::FloatingPoint(f)) => Value::from(f.into_inner()),
        _ => scalar(node).map(Value::String).unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> HelmValues {
        parse(text, Path::new("ls-values.yaml"), None).unwrap()
    }

    #[test]
    fn reads_s3_keys_with_lines() {
        let v = parse_str(
            "global:\n  persistence:\n    enabled: true\n    type: s3\n    config:\n      s3:\n        bucket: \"b\"\n        folder: \"\"\n        urlExpirationSecs: 600\n",
        );
        let bucket = v.layer.get("STORAGE_AWS_BUCKET_NAME").unwrap();
        assert_eq!(bucket.value, "b");
        assert_eq!(
            bucket.source,
            Source::Values {
                path: "ls-values.yaml".into(),
                key_path: "global.persistence.config.s3.bucket".into(),
                line: 7
            }
        );
        assert_eq!(
            v.layer.get("STORAGE_AWS_X_AMZ_EXPIRES").unwrap().value,
            "600"
        );
        assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    }

    #[test]
    fn empty_keys_are_set_as_the_chart_renders_them() {
        let v = parse_str(
            "global:\n  persistence:\n    type: s3\n    config:\n      s3:\n        bucket: b\n        urlExpirationSecs: \"\"\n        endpointUrl: \"\"\n",
        );
        // Always rendered: an empty value reaches Label Studio (int('') stops it).
        assert_eq!(v.layer.get("STORAGE_AWS_X_AMZ_EXPIRES").unwrap().value, "");
        // Rendered only when not empty.
        assert!(v.layer.get("STORAGE_AWS_ENDPOINT_URL").is_none());
    }

    #[test]
    fn object_parameters_mapping_becomes_json() {
        let v = parse_str(
            "global:\n  persistence:\n    type: s3\n    config:\n      s3:\n        objectParameters:\n          ServerSideEncryption: aws:kms\n",
        );
        let json = &v.layer.get("STORAGE_AWS_OBJECT_PARAMETERS").unwrap().value;
        assert_eq!(json, r#"{"ServerSideEncryption":"aws:kms"}"#);
    }

    #[test]
    fn invalid_yaml_names_the_line() {
        let err = parse("global:\n  persistence: [\n", Path::new("v.yaml"), None).unwrap_err();
        assert!(err.0.starts_with("v.yaml:"), "{}", err.0);
        assert!(err.0.contains("invalid YAML"));
    }

    #[test]
    fn unknown_key_warns_with_suggestion_and_disabled_persistence_warns() {
        let v = parse_str(
            "global:\n  persistence:\n    enabled: false\n    type: gcs\n    config:\n      gcs:\n        projectId: p\n",
        );
        assert!(v.warnings.iter().any(|w| w.contains("enabled is false")));
        assert!(
            v.warnings
                .iter()
                .any(|w| w.contains("did you mean `projectID`")),
            "{:?}",
            v.warnings
        );
    }

    #[test]
    fn existing_secret_without_key_is_an_error() {
        let err = parse(
            "global:\n  persistence:\n    type: azure\n    config:\n      azure:\n        storageAccountKeyExistingSecret: s\n",
            Path::new("v.yaml"),
            None,
        )
        .unwrap_err();
        assert!(
            err.0.contains("storageAccountKeyExistingSecretKey"),
            "{}",
            err.0
        );
        assert!(err.0.starts_with("v.yaml:6:"), "{}", err.0);
    }
}
