//! `Target`: the resolved storage configuration every check and the load runner work on.
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::secret::Secret;

/// Which cloud the bucket lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Amazon S3 or an S3-compatible server.
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    Azure,
}

impl Provider {
    /// The `STORAGE_TYPE` value Label Studio uses for this provider.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::S3 => "s3",
            Provider::Gcs => "gcs",
            Provider::Azure => "azure",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a resolved value came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A command-line flag, e.g. `--bucket`.
    Flag {
        /// The flag as typed, with its dashes.
        flag: String,
    },
    /// A line of an env-file.
    EnvFile {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The variable name as written.
        key: String,
    },
    /// A key of a Helm values file.
    Values {
        /// The file.
        path: PathBuf,
        /// Dotted key path, e.g. `global.persistence.config.s3.bucket`.
        key_path: String,
        /// 1-based line of the key.
        line: usize,
    },
    /// A process environment variable.
    Environment {
        /// The variable name.
        var: String,
    },
    /// A file holding the value (a mounted Kubernetes secret, a credentials file).
    File {
        /// The file.
        path: PathBuf,
    },
    /// Label Studio's default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag { flag } => write!(f, "flag {flag}"),
            Source::EnvFile { path, line, key } => {
                write!(f, "{}:{line} ({key})", path.display())
            }
            Source::Values {
                path,
                key_path,
                line,
            } => write!(f, "{}:{line} ({key_path})", path.display()),
            Source::Environment { var } => write!(f, "environment {var}"),
            Source::File { path } => write!(f, "file {}", path.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Its origin.
    pub source: Source,
}

impl<T> Sourced<T> {
    /// Pairs a value with its source.
    pub fn new(value: T, source: Source) -> Self {
        Sourced { value, source }
    }
}

/// How TLS certificates of the endpoint are verified (`STORAGE_AWS_S3_VERIFY`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", content = "path", rename_all = "snake_case")]
pub enum TlsVerify {
    /// Verify against the system roots (Label Studio's default).
    Verify,
    /// Do not verify (`false`).
    Skip,
    /// Verify against this CA bundle.
    CaBundle(PathBuf),
}

/// The S3 credentials Label Studio would use.
#[derive(Clone, Debug)]
pub enum S3Credentials {
    /// Static keys from the configuration.
    Keys {
        /// Access key id (treated as secret: it is never printed).
        access_key_id: Sourced<Secret>,
        /// Secret access key.
        secret_access_key: Sourced<Secret>,
    },
    /// No `STORAGE_AWS_*` keys: the step of boto3's default chain Label Studio would use.
    Chain(Box<super::aws_chain::AwsChain>),
}

/// S3 specifics.
#[derive(Clone, Debug)]
pub struct S3Settings {
    /// Credentials.
    pub credentials: S3Credentials,
    /// `STORAGE_AWS_OBJECT_PARAMETERS`: extra parameters of every put (e.g. SSE).
    pub object_parameters: Option<Sourced<serde_json::Map<String, serde_json::Value>>>,
    /// `STORAGE_AWS_S3_USE_SSL`.
    pub use_ssl: Sourced<bool>,
    /// `STORAGE_AWS_S3_VERIFY`.
    pub verify: Sourced<TlsVerify>,
    /// `STORAGE_AWS_S3_SIGNATURE_VERSION` (unset: SigV2 presigned URLs, as botocore does).
    pub signature_version: Option<Sourced<String>>,
}

/// The GCS credentials Label Studio would use.
#[derive(Clone, Debug)]
pub enum GcsCredentials {
    /// A service-account JSON (inline, a file, or `GOOGLE_APPLICATION_CREDENTIALS`).
    ServiceAccount {
        /// The JSON text.
        json: Secret,
        /// Where it came from.
        source: Source,
        /// `client_email` from the JSON (not a secret).
        client_email: Option<String>,
    },
    /// An `external_account` JSON: Workload Identity Federation.
    ExternalAccount(Box<super::gcs_external::ExternalAccount>),
    /// None: the metadata server (GKE Workload Identity).
    MetadataServer {
        /// `http://GCE_METADATA_HOST`, or `http://metadata.google.internal`.
        endpoint: Sourced<url::Url>,
    },
}

/// GCS specifics.
#[derive(Clone, Debug)]
pub struct GcsSettings {
    /// Credentials.
    pub credentials: GcsCredentials,
    /// `STORAGE_GCS_PROJECT_ID`.
    pub project_id: Option<Sourced<String>>,
}

/// The Azure credentials.
#[derive(Clone, Debug)]
pub enum AzureCredentials {
    /// The storage account key (Label Studio's only way).
    AccountKey(Sourced<Secret>),
    /// A SAS token (lsprobe only: to test what a limited token may do).
    Sas(Sourced<Secret>),
}

/// Azure specifics.
#[derive(Clone, Debug)]
pub struct AzureSettings {
    /// `STORAGE_AZURE_ACCOUNT_NAME`.
    pub account_name: Sourced<String>,
    /// Credentials.
    pub credentials: AzureCredentials,
}

/// Provider-specific settings.
#[derive(Clone, Debug)]
pub enum ProviderSettings {
    /// S3.
    S3(Box<S3Settings>),
    /// GCS.
    Gcs(GcsSettings),
    /// Azure.
    Azure(AzureSettings),
}

/// The resolved storage configuration: what Label Studio would use, and where each value came from.
#[derive(Clone, Debug)]
pub struct Target {
    /// The storage type.
    pub provider: Sourced<Provider>,
    /// Bucket (S3, GCS) or container (Azure).
    pub bucket: Sourced<String>,
    /// Folder as Label Studio's storage backend uses it (`config::as_label_studio::folder`):
    /// "" or `a/b`, no slash at either end.
    pub folder: Sourced<String>,
    /// Custom endpoint (S3-compatible, GCS emulator, Azure sovereign cloud or emulator).
    pub endpoint: Option<Sourced<url::Url>>,
    /// Region (S3).
    pub region: Option<Sourced<String>>,
    /// Lifetime of the presigned URLs Label Studio makes, in seconds.
    pub url_expiry_secs: Sourced<u64>,
    /// Label Studio origins the browser uses (for CORS checks).
    pub origins: Vec<Sourced<String>>,
    /// Provider-specific settings.
    pub settings: ProviderSettings,
}

impl Target {
    /// The provider.
    pub fn provider(&self) -> Provider {
        self.provider.value
    }

    /// The key prefix objects go under: "" or `folder/`.
    pub fn folder_prefix(&self) -> String {
        if self.folder.value.is_empty() {
            String::new()
        } else {
            format!("{}/", self.folder.value)
        }
    }
}
