//! Checks: each one exercises one thing Label Studio needs from the bucket and returns a
//! [`CheckResult`] with a verdict a person can act on.
pub mod account;
pub mod context;
pub mod cors;
pub mod cors_actual;
pub mod cors_rule;
pub mod cors_shape;
pub mod encryption;
pub mod folder;
pub mod label_studio;
pub mod mixed_content;
pub mod multipart;
pub mod permissions;
pub mod presign;
pub mod presign_refusal;
pub mod region;
pub mod remedy;
pub mod remedy_cause;
pub mod runner;
pub mod suite;
pub mod upload;

use serde::{Deserialize, Serialize};

/// The verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It works as Label Studio needs.
    Pass,
    /// It works, but something is off (e.g. an HDD-class account); a failure under `--strict`.
    Warn,
    /// What Label Studio needs does not work: an assertion failed.
    Fail,
    /// The check could not be carried out (a runtime problem, not a verdict on the bucket).
    Error,
    /// Not applicable to this target, or a check it depends on failed.
    Skip,
}

/// The outcome of one check (JSON `checks[]`, design.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Stable id, e.g. `permissions.put`.
    pub id: String,
    /// The verdict.
    pub status: Status,
    /// What was seen, in one or two sentences.
    pub message: String,
    /// What to do about it (empty when it passed).
    pub remediation: String,
    /// What the verdict rests on: status codes, error codes, headers, keys used.
    pub evidence: serde_json::Map<String, serde_json::Value>,
    /// How long the check took.
    pub duration_ms: u64,
}

impl CheckResult {
    /// A result with no evidence and no duration yet.
    pub fn new(id: &str, status: Status, message: impl Into<String>) -> Self {
        CheckResult {
            id: id.to_string(),
            status,
            message: message.into(),
            remediation: String::new(),
            evidence: serde_json::Map::new(),
            duration_ms: 0,
        }
    }

    /// Sets the remediation.
    pub fn with_remediation(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = remediation.into();
        self
    }

    /// Adds one piece of evidence.
    pub fn with_evidence(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.evidence.insert(key.to_string(), value.into());
        self
    }
}
