//! Label Studio's variable names and its lookup order: `LABEL_STUDIO_<NAME>`, then
//! `HEARTEX_<NAME>`, then `<NAME>`. A [`Layer`] holds what one source (flags, a file, the
//! environment) says, by canonical name.
use std::collections::BTreeMap;

use super::target::{Source, Sourced};

/// Every variable lsprobe understands, by canonical name (without prefix).
pub const KNOWN: &[&str] = &[
    "STORAGE_TYPE",
    "STORAGE_AWS_ACCESS_KEY_ID",
    "STORAGE_AWS_SECRET_ACCESS_KEY",
    "STORAGE_AWS_BUCKET_NAME",
    "STORAGE_AWS_REGION_NAME",
    "STORAGE_AWS_ENDPOINT_URL",
    "STORAGE_AWS_OBJECT_PARAMETERS",
    "STORAGE_AWS_X_AMZ_EXPIRES",
    "STORAGE_AWS_FOLDER",
    "STORAGE_AWS_S3_USE_SSL",
    "STORAGE_AWS_S3_VERIFY",
    "STORAGE_AWS_S3_SIGNATURE_VERSION",
    "STORAGE_GCS_BUCKET_NAME",
    "STORAGE_GCS_PROJECT_ID",
    "STORAGE_GCS_FOLDER",
    "STORAGE_GCS_EXPIRATION_SECS",
    "STORAGE_GCS_ENDPOINT",
    "STORAGE_AZURE_ACCOUNT_NAME",
    "STORAGE_AZURE_ACCOUNT_KEY",
    "STORAGE_AZURE_CONTAINER_NAME",
    "STORAGE_AZURE_FOLDER",
    "STORAGE_AZURE_URL_EXPIRATION_SECS",
    "HOST",
    GOOGLE_APPLICATION_CREDENTIALS,
    AZURE_ENDPOINT,
    AZURE_SAS_TOKEN,
];

/// Read by the cloud SDKs themselves (boto3 / botocore, google-auth), never with Label Studio's
/// prefixes: they decide which credentials Label Studio uses when no `STORAGE_*` key is set.
pub const SDK: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_CA_BUNDLE",
    "GCE_METADATA_HOST",
    "GCE_METADATA_IP",
];

/// Read by Google's client library itself: no Label Studio prefixes.
pub const GOOGLE_APPLICATION_CREDENTIALS: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// lsprobe's own: the Azure blob endpoint (sovereign clouds, Azurite). Label Studio has none.
pub const AZURE_ENDPOINT: &str = "LSPROBE_AZURE_ENDPOINT";
/// lsprobe's own: a SAS token instead of the account key.
pub const AZURE_SAS_TOKEN: &str = "LSPROBE_AZURE_SAS_TOKEN";
/// Not a variable: the service-account JSON given inline (Helm `applicationCredentialsJSON`).
pub const GCS_CREDENTIALS_JSON: &str = "@gcs_credentials_json";

/// Variables whose values are credentials: shown as `***` wherever they appear.
pub const SECRET: &[&str] = &[
    "STORAGE_AWS_ACCESS_KEY_ID",
    "STORAGE_AWS_SECRET_ACCESS_KEY",
    "STORAGE_AZURE_ACCOUNT_KEY",
    AZURE_SAS_TOKEN,
    GCS_CREDENTIALS_JSON,
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
];

/// Splits a variable name into (canonical name, rank in Label Studio's lookup order:
/// 0 `LABEL_STUDIO_`, 1 `HEARTEX_`, 2 plain). `None` when Label Studio would not read it.
pub fn canonical(name: &str) -> Option<(String, u8)> {
    let unprefixed = [
        GOOGLE_APPLICATION_CREDENTIALS,
        AZURE_ENDPOINT,
        AZURE_SAS_TOKEN,
    ];
    if unprefixed.contains(&name) || SDK.contains(&name) {
        return Some((name.to_string(), 2));
    }
    let (rest, rank) = if let Some(rest) = name.strip_prefix("LABEL_STUDIO_") {
        (rest, 0)
    } else if let Some(rest) = name.strip_prefix("HEARTEX_") {
        (rest, 1)
    } else {
        (name, 2)
    };
    if unprefixed.contains(&rest) || SDK.contains(&rest) {
        return None;
    }
    // A plain HOST is the shell's host name, not Label Studio's address.
    if rest == "HOST" && rank == 2 {
        return None;
    }
    (rest.starts_with("STORAGE_") || rest == "HOST").then(|| (rest.to_string(), rank))
}

/// What one source says, by canonical name; within a source, Label Studio's lookup order
/// decides between prefixed spellings.
#[derive(Clone, Debug, Default)]
pub struct Layer {
    values: BTreeMap<String, (u8, Sourced<String>)>,
    /// Names Label Studio would read (`STORAGE_*`) that lsprobe does not know, with their source.
    pub unknown: Vec<(String, Source)>,
}

impl Layer {
    /// Adds a variable as written (`LABEL_STUDIO_STORAGE_TYPE`, `STORAGE_TYPE`, ...).
    /// An empty value is kept: Label Studio's `get_env` returns the first spelling that is
    /// set at all, so `LABEL_STUDIO_STORAGE_AWS_FOLDER=` hides `STORAGE_AWS_FOLDER=media`.
    pub fn add_variable(&mut self, name: &str, value: String, source: Source) {
        let Some((name, rank)) = canonical(name) else {
            return;
        };
        if !KNOWN.contains(&name.as_str()) && !SDK.contains(&name.as_str()) {
            self.unknown.push((name, source));
            return;
        }
        self.insert_ranked(name, rank, value, source);
    }

    /// Sets a canonical name directly (flags, Helm keys).
    pub fn set(&mut self, name: &str, value: String, source: Source) {
        self.insert_ranked(name.to_string(), 0, value, source);
    }

    fn insert_ranked(&mut self, name: String, rank: u8, value: String, source: Source) {
        let keep = match self.values.get(&name) {
            Some((old_rank, _)) => rank <= *old_rank,
            None => true,
        };
        if keep {
            self.values
                .insert(name, (rank, Sourced::new(value, source)));
        }
    }

    /// The value of a canonical name, empty or not.
    pub fn get(&self, name: &str) -> Option<&Sourced<String>> {
        self.values.get(name).map(|(_, v)| v)
    }

    /// Every canonical name set, with its source.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Sourced<String>)> {
        self.values.iter().map(|(k, (_, v))| (k.as_str(), v))
    }
}

/// The known name closest to `name`, when it is close enough to be a typo.
pub fn did_you_mean(name: &str) -> Option<&'static str> {
    KNOWN
        .iter()
        .map(|k| {
            let prefix = k.starts_with(name) || name.starts_with(k);
            (if prefix { 0 } else { edit_distance(name, k) }, *k)
        })
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Source {
        Source::Environment { var: var.into() }
    }

    #[test]
    fn lookup_order_is_label_studio_then_heartex_then_plain() {
        let mut layer = Layer::default();
        layer.add_variable("STORAGE_TYPE", "gcs".into(), env("STORAGE_TYPE"));
        layer.add_variable(
            "HEARTEX_STORAGE_TYPE",
            "azure".into(),
            env("HEARTEX_STORAGE_TYPE"),
        );
        assert_eq!(layer.get("STORAGE_TYPE").unwrap().value, "azure");
        layer.add_variable("LABEL_STUDIO_STORAGE_TYPE", "s3".into(), env("L"));
        layer.add_variable("STORAGE_TYPE", "gcs".into(), env("STORAGE_TYPE"));
        assert_eq!(layer.get("STORAGE_TYPE").unwrap().value, "s3");
    }

    #[test]
    fn only_prefixed_host_counts() {
        assert_eq!(canonical("HOST"), None);
        assert_eq!(canonical("LABEL_STUDIO_HOST"), Some(("HOST".into(), 0)));
        assert_eq!(canonical("PATH"), None);
        assert_eq!(
            canonical("LABEL_STUDIO_GOOGLE_APPLICATION_CREDENTIALS"),
            None
        );
    }

    #[test]
    fn typos_are_unknown_with_a_suggestion() {
        let mut layer = Layer::default();
        layer.add_variable("STORAGE_AWS_BUCKET", "b".into(), env("STORAGE_AWS_BUCKET"));
        assert_eq!(layer.unknown.len(), 1);
        assert_eq!(
            did_you_mean("STORAGE_AWS_BUCKET"),
            Some("STORAGE_AWS_BUCKET_NAME")
        );
        assert_eq!(
            did_you_mean("STORAGE_AZURE_CONTAINER"),
            Some("STORAGE_AZURE_CONTAINER_NAME")
        );
        assert_eq!(did_you_mean("STORAGE_SOMETHING_ELSE_ENTIRELY"), None);
        assert_eq!(
            did_you_mean("STORAGE_GCS_PROJECTID"),
            Some("STORAGE_GCS_PROJECT_ID")
        );
    }

    #[test]
    fn an_empty_value_is_set_and_hides_later_spellings() {
        let mut layer = Layer::default();
        layer.add_variable(
            "STORAGE_AWS_FOLDER",
            "media".into(),
            env("STORAGE_AWS_FOLDER"),
        );
        layer.add_variable(
            "LABEL_STUDIO_STORAGE_AWS_FOLDER",
            String::new(),
            env("LABEL_STUDIO_STORAGE_AWS_FOLDER"),
        );
        assert_eq!(layer.get("STORAGE_AWS_FOLDER").unwrap().value, "");
    }
}
