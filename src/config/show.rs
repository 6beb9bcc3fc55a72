//! What `lsprobe config show` prints: the resolved target, the source of each value, and warnings.
//! Secrets print as `***`.
use serde::Serialize;
use serde_json::json;

use super::Resolved;
use super::target::*;

/// One line of the table: a field, its value as shown, and where it came from.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Field name, e.g. `bucket`.
    pub field: &'static str,
    /// The value as shown (secrets as `***`).
    pub value: String,
    /// Where it came from, e.g. `env.list:3 (STORAGE_AWS_BUCKET_NAME)`.
    pub source: String,
}

fn row<T>(field: &'static str, value: impl Into<String>, v: &Sourced<T>) -> Row {
    Row {
        field,
        value: value.into(),
        source: v.source.to_string(),
    }
}

/// The rows describing a target, secrets masked.
pub fn rows(t: &Target) -> Vec<Row> {
    let mut rows = vec![
        row("type", t.provider.value.as_str(), &t.provider),
        row(
            if t.provider() == Provider::Azure {
                "container"
            } else {
                "bucket"
            },
            t.bucket.value.clone(),
            &t.bucket,
        ),
        row(
            "folder",
            if t.folder.value.is_empty() {
                "(bucket root)".to_string()
            } else {
                t.folder.value.clone()
            },
            &t.folder,
        ),
    ];
    if let Some(e) = &t.endpoint {
        rows.push(row("endpoint", crate::report::redact::url(&e.value), e));
    }
    if let Some(r) = &t.region {
        rows.push(row("region", r.value.clone(), r));
    }
    rows.push(row(
        "url expiry",
        format!("{} s", t.url_expiry_secs.value),
        &t.url_expiry_secs,
    ));
    for o in &t.origins {
        rows.push(row("origin", o.value.clone(), o));
    }
    match &t.settings {
        ProviderSettings::S3(s) => s3_rows(s, t.region.as_ref(), &mut rows),
        ProviderSettings::Gcs(g) => {
            match &g.credentials {
                GcsCredentials::ServiceAccount {
                    source,
                    client_email,
                    ..
                } => rows.push(Row {
                    field: "credentials",
                    value: format!(
                        "service-account JSON ***{}",
                        client_email
                            .as_ref()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default()
                    ),
                    source: source.to_string(),
                }),
                GcsCredentials::ExternalAccount(a) => rows.push(Row {
                    field: "credentials",
                    value: a.describe(),
                    source: a.source.to_string(),
                }),
                GcsCredentials::MetadataServer { endpoint } => rows.push(Row {
                    field: "credentials",
                    value: format!("metadata server {} (Workload Identity)", endpoint.value),
                    source: endpoint.source.to_string(),
                }),
            }
            if let Some(p) = &g.project_id {
                rows.push(row("project", p.value.clone(), p));
            }
        }
        ProviderSettings::Azure(a) => {
            rows.push(row(
                "account",
                a.account_name.value.clone(),
                &a.account_name,
            ));
            match &a.credentials {
                AzureCredentials::AccountKey(k) => rows.push(row("account key", "***", k)),
                AzureCredentials::Sas(s) => rows.push(row("sas token", "***", s)),
            }
        }
    }
    rows
}

fn s3_rows(s: &S3Settings, region: Option<&Sourced<String>>, rows: &mut Vec<Row>) {
    match &s.credentials {
        S3Credentials::Keys {
            access_key_id,
            secret_access_key,
        } => {
            rows.push(row("access key id", "***", access_key_id));
            rows.push(row("secret access key", "***", secret_access_key));
        }
        S3Credentials::Chain(chain) => rows.push(Row {
            field: "credentials",
            value: format!("AWS chain: {}: {}", chain.step(), chain.describe()),
            source: "boto3's default chain".into(),
        }),
    }
    if let Some(p) = &s.object_parameters {
        rows.push(row(
            "object parameters",
            serde_json::Value::Object(p.value.clone()).to_string(),
            p,
        ));
    }
    rows.push(row("use ssl", s.use_ssl.value.to_string(), &s.use_ssl));
    let verify = match &s.verify.value {
        TlsVerify::Verify => "true".to_string(),
        TlsVerify::Skip => "false".to_string(),
        TlsVerify::CaBundle(p) => p.display().to_string(),
    };
    rows.push(row("verify", verify, &s.verify));
    match &s.signature_version {
        Some(v) => rows.push(row("signature version", v.value.clone(), v)),
        None => rows.push(Row {
            field: "signature version",
            value: if super::as_label_studio::presigns_with_sigv4(
                None,
                region.map(|r| r.value.as_str()),
            ) {
                "unset: presigned URLs are SigV4 (botocore's default for a region it does not \
                 list with SigV2)"
                    .into()
            } else {
                "unset: presigned URLs are SigV2 (botocore's default for this region)".into()
            },
            source: "default".into(),
        }),
    }
}

/// Renders the resolution as text; `verbose` adds every variable read (names, never values).
pub fn text(resolved: &Resolved, verbose: bool) -> String {
    let rows = rows(&resolved.target);
    let width = rows
        .iter()
        .map(|r| r.value.chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    let mut out = String::from("Resolved storage target\n");
    for r in &rows {
        out.push_str(&format!(
            "  {:<18} {:<width$}  {}\n",
            r.field, r.value, r.source
        ));
    }
    if verbose {
        out.push_str("\nRead\n");
        for (name, source) in &resolved.read {
            out.push_str(&format!("  {name:<34} {source}\n"));
        }
    }
    if !resolved.warnings.is_empty() {
        out.push_str("\nWarnings\n");
        for w in &resolved.warnings {
            out.push_str(&format!("  - {w}\n"));
        }
    }
    out
}

/// Renders the resolution as JSON; `verbose` adds every variable read (names, never values).
pub fn json(resolved: &Resolved, verbose: bool) -> String {
    let mut value = json!({
        "target": rows(&resolved.target),
        "warnings": resolved.warnings,
    });
    if verbose {
        let read: Vec<_> = resolved
            .read
            .iter()
            .map(|(name, source)| json!({"name": name, "source": source.to_string()}))
            .collect();
        value["read"] = json!(read);
    }
    serde_json::to_string_pretty(&value).unwrap_or_default()
}
