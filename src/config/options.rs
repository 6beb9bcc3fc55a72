//! What the caller says about the target: the plain counterpart of the `--env-file`, `--values`,
//! `--type`, ... flags (the command layer fills it from the command line).
use std::path::PathBuf;

/// Where the storage configuration comes from, and the values that override it.
/// Precedence: these values > named file (`env_file`, `values`) > process environment.
#[derive(Clone, Debug, Default)]
pub struct TargetOptions {
    /// A Docker env-file as given to Label Studio (`docker run --env-file`).
    pub env_file: Option<PathBuf>,
    /// A Helm values file (`ls-values.yaml`) of the Label Studio chart.
    pub values: Option<PathBuf>,
    /// Where Kubernetes secrets are mounted: DIR/<secret>/<key> holds each value.
    pub secret_dir: Option<PathBuf>,
    /// Storage type: s3, gcs or azure.
    pub storage_type: Option<String>,
    /// Bucket (S3, GCS) or container (Azure).
    pub bucket: Option<String>,
    /// Folder inside the bucket that Label Studio writes under.
    pub folder: Option<String>,
    /// Endpoint URL (S3-compatible server, GCS endpoint, Azure blob endpoint).
    pub endpoint: Option<String>,
    /// Region (S3).
    pub region: Option<String>,
    /// The Label Studio origins the browser uses; default from LABEL_STUDIO_HOST.
    pub origins: Vec<String>,
    /// A local copy of the GCS service-account JSON (overrides GOOGLE_APPLICATION_CREDENTIALS).
    pub gcs_credentials: Option<PathBuf>,
}
