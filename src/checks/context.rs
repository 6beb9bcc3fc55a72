//! What checks share during one run: the safe store, the target, and what earlier checks found.
use std::time::Instant;

use bytes::Bytes;
use serde_json::json;

use super::remedy::{self, Action};
use super::{CheckResult, Status};
use crate::config::Target;
use crate::provider::{Answer, Failure, Unreachable, classify};
use crate::safety::SafeStore;

/// The run's store and target.
#[derive(Debug)]
pub struct Context {
    /// Every bucket access goes through it.
    pub store: SafeStore,
    /// What is being checked.
    pub target: Target,
    /// The Label Studio given with `--label-studio` (end-to-end checks), if any.
    pub label_studio: Option<super::label_studio::api::Session>,
}

/// An object this run wrote and can read back.
#[derive(Clone, Debug)]
pub struct Written {
    /// Full key.
    pub key: String,
    /// What was written.
    pub body: Bytes,
}

/// What earlier checks found, for the ones that depend on them.
#[derive(Debug, Default)]
pub struct State {
    /// The object `permissions.put` wrote.
    pub put: Option<Written>,
    /// Whether `permissions.put` was refused (later writes would only repeat its finding).
    pub put_failed: bool,
    /// Whether listing works (`None`: not tried yet).
    pub list_ok: Option<bool>,
    /// Whether HEAD works.
    pub head_ok: Option<bool>,
    /// A failure that makes every later check pointless (bucket missing, credentials
    /// rejected, endpoint unreachable), with the check that found it.
    pub blocked: Option<(String, Failure)>,
    /// Keys under the folder before the run (for `folder.isolation`).
    pub before: Option<Result<super::folder::Snapshot, String>>,
    /// The media object presigned URLs and actual CORS requests fetch (written once).
    pub media: Option<Written>,
    /// Preflight answers already seen, by (origin, method, requested headers).
    pub preflights: super::cors::Preflights,
    /// `Access-Control-Expose-Headers` of the actual GET with `Origin`, per origin.
    pub exposed: Option<Vec<(String, Option<String>)>>,
    /// What `label_studio.upload` left for `label_studio.serve`.
    pub label_studio: Option<super::label_studio::Uploaded>,
}

impl Context {
    /// Classifies an answer; on failure returns the finished failing result of `id`.
    pub fn expect_success<'a>(
        &self,
        id: &str,
        action: Action,
        request: &str,
        sent: &'a Result<Answer, Unreachable>,
        state: &mut State,
    ) -> Result<&'a Answer, CheckResult> {
        match classify(self.target.provider(), sent) {
            Ok(()) => Ok(sent.as_ref().expect("classified as success")),
            Err(failure) => {
                // Listing a prefix never answers 404 for a bucket that exists.
                let failure = match failure {
                    Failure::NotFound { status, code } if action == Action::List => {
                        Failure::BucketMissing { status, code }
                    }
                    other => other,
                };
                let blocks = match &failure {
                    Failure::BucketMissing { .. }
                    | Failure::CredentialsRejected { .. }
                    | Failure::Unreachable(_) => true,
                    Failure::Diagnosed { cause, .. } => cause.blocks(),
                    _ => false,
                };
                if blocks && state.blocked.is_none() {
                    state.blocked = Some((id.to_string(), failure.clone()));
                }
                Err(self.failed(id, action, request, &failure))
            }
        }
    }

    /// The failing result for `failure` of `action`.
    pub fn failed(
        &self,
        id: &str,
        action: Action,
        request: &str,
        failure: &Failure,
    ) -> CheckResult {
        let status = match failure {
            Failure::Throttled { .. } | Failure::Unexpected { .. } => Status::Error,
            Failure::Diagnosed { cause, .. } if cause.is_warning() => Status::Warn,
            _ => Status::Fail,
        };
        let mut result = CheckResult::new(id, status, format!("{request}: {}", failure.describe()))
            .with_remediation(remedy::for_failure(&self.target, action, failure))
            .with_evidence("request", request)
            .with_evidence("outcome", failure.kind());
        if let Some((status, code)) = status_and_code(failure) {
            result = result.with_evidence("status", status);
            if let Some(code) = code {
                result = result.with_evidence("code", code);
            }
        }
        result
    }
}

fn status_and_code(f: &Failure) -> Option<(u16, Option<String>)> {
    match f {
        Failure::Denied { status, code }
        | Failure::CredentialsRejected { status, code }
        | Failure::BucketMissing { status, code }
        | Failure::NotFound { status, code }
        | Failure::Throttled { status, code }
        | Failure::Diagnosed { status, code, .. }
        | Failure::Unexpected { status, code, .. } => Some((*status, code.clone())),
        Failure::Unreachable(_) | Failure::CredentialsUnavailable(_) => None,
    }
}

/// A passing result with the answer's status as evidence.
pub fn passed(id: &str, message: impl Into<String>, request: &str, answer: &Answer) -> CheckResult {
    CheckResult::new(id, Status::Pass, message)
        .with_evidence("request", request)
        .with_evidence("status", answer.status.as_u16())
}

/// A skipped result that names what it depends on.
pub fn skipped(id: &str, why: impl Into<String>) -> CheckResult {
    CheckResult::new(id, Status::Skip, why)
}

/// Deterministic, non-repeating-looking content of `size` bytes.
pub fn content(size: u64, seed: &str) -> Bytes {
    let mut x: u64 = seed.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut out = Vec::with_capacity(size as usize);
    while (out.len() as u64) < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size as usize);
    Bytes::from(out)
}

/// Where two byte strings first differ, for messages.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}

/// Times a check and stamps its duration.
pub async fn timed<F: std::future::Future<Output = CheckResult>>(f: F) -> CheckResult {
    let start = Instant::now();
    let mut result = f.await;
    result.duration_ms = start.elapsed().as_millis() as u64;
    result
}

/// Evidence for a byte comparison.
pub fn compare_evidence(written: usize, read: usize) -> serde_json::Value {
    json!({"bytes_written": written, "bytes_read": read})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_deterministic_and_sized() {
        assert_eq!(content(1000, "a"), content(1000, "a"));
        assert_ne!(content(1000, "a"), content(1000, "b"));
        assert_eq!(content(1001, "a").len(), 1001);
        assert_eq!(first_difference(b"abc", b"abd"), Some(2));
        assert_eq!(first_difference(b"abc", b"ab"), Some(2));
        assert_eq!(first_difference(b"abc", b"abc"), None);
    }
}
