//! Credentials obtained the way the SDKs Label Studio uses obtain them: one attempt per fetch,
//! short timeouts, only the address the chain selected, and never a fallback to another source.
//! A fetched credential is cached and fetched again ahead of its expiry, so long runs keep
//! signing with valid keys.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The SDKs' metadata timeout (botocore 1 s, google-auth 3 s): lsprobe allows 2 s.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(2);
/// STS answers within a few seconds or not at all.
pub const STS_TIMEOUT: Duration = Duration::from_secs(5);

/// Credentials could not be obtained: the step that failed, what happened, and the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {detail}")]
pub struct CredentialError {
    /// The step of the chain, e.g. `web identity (IRSA)`.
    pub step: String,
    /// What failed, naming the file, role, STS or metadata address and its source.
    pub detail: String,
    /// What to change.
    pub fix: String,
}

/// Which credentials the run uses: the source and the identity, never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CredentialIdentity {
    /// Where they came from, e.g. `web identity (IRSA)`, `STORAGE_AWS_* keys`.
    pub source: String,
    /// Who they are: a shortened access key id, a role ARN and session, an SA email, an account.
    pub identity: String,
}

/// An access key id as AWS's own tools show it: the first 4 and last 4 characters.
pub fn short_key_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// A fetched credential with its lifetime.
#[derive(Debug)]
pub struct Fetched<C> {
    /// The credential.
    pub credential: Arc<C>,
    /// When it stops working (`None`: static keys).
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
    /// Who it is.
    pub identity: CredentialIdentity,
}

impl<C> Clone for Fetched<C> {
    fn clone(&self) -> Self {
        Fetched {
            credential: self.credential.clone(),
            expires: self.expires,
            identity: self.identity.clone(),
        }
    }
}

struct Cached<C> {
    fetched: Fetched<C>,
    at: Instant,
    now_utc: chrono::DateTime<chrono::Utc>,
}

/// A cache around one fetch function: fetched on first use, again ahead of expiry (a third of
/// the lifetime, at most 5 minutes early); concurrent callers wait for one fetch.
pub struct Refreshing<C> {
    cached: Mutex<Option<Cached<C>>>,
    fetching: tokio::sync::Mutex<()>,
    /// How many fetches were attempted (for evidence and tests).
    fetches: std::sync::atomic::AtomicU64,
}

impl<C> std::fmt::Debug for Refreshing<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refreshing").finish_non_exhaustive()
    }
}

impl<C> Default for Refreshing<C> {
    fn default() -> Self {
        Refreshing {
            cached: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            fetches: Default::default(),
        }
    }
}

impl<C> Refreshing<C> {
    fn fresh(&self) -> Option<Fetched<C>> {
        let guard = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        let cached = guard.as_ref()?;
        let Some(expires) = cached.fetched.expires else {
            return Some(cached.fetched.clone());
        };
        // Credentials that arrive (nearly) expired are still kept a moment: never a fetch per
        // request.
        let lifetime = (expires - cached.now_utc)
            .to_std()
            .unwrap_or_default()
            .max(Duration::from_secs(2));
        let margin = (lifetime / 3).min(Duration::from_secs(300));
        let elapsed = cached.at.elapsed();
        (elapsed + margin < lifetime).then(|| cached.fetched.clone())
    }

    fn still_valid(&self) -> Option<Fetched<C>> {
        let guard = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        let cached = guard.as_ref()?;
        let valid = cached
            .fetched
            .expires
            .is_none_or(|e| e > chrono::Utc::now() + chrono::Duration::seconds(1));
        valid.then(|| cached.fetched.clone())
    }

    /// The cached credential, or a new one from `fetch` when there is none or it expires soon.
    /// A failed refresh keeps serving a credential that has not expired yet.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<Fetched<C>, CredentialError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Fetched<C>, CredentialError>>,
    {
        if let Some(f) = self.fresh() {
            return Ok(f);
        }
        let _one = self.fetching.lock().await;
        if let Some(f) = self.fresh() {
            return Ok(f);
        }
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match fetch().await {
            Ok(f) => {
                *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
                    fetched: f.clone(),
                    at: Instant::now(),
                    now_utc: chrono::Utc::now(),
                });
                Ok(f)
            }
            Err(e) => self.still_valid().ok_or(e),
        }
    }

    /// How many fetches were attempted.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The client credential fetches use: no redirects, one attempt (reqwest never retries), and
/// `timeout` for the whole request.
pub fn fetch_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("lsprobe/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// A failed send in words: refused, timed out, TLS, with the address.
pub fn send_error(e: &reqwest::Error, timeout: Duration) -> String {
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let chain = chain.join(": ");
    if let Some(words) = super::tls::in_words(&chain) {
        format!("TLS handshake failed: {words} ({chain})")
    } else if e.is_timeout() {
        format!("no answer within {} s", timeout.as_secs())
    } else if e.is_connect() {
        format!("could not connect ({chain})")
    } else {
        super::describe_reqwest_error(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(expires_in: Option<i64>) -> Fetched<String> {
        Fetched {
            credential: Arc::new("k".to_string()),
            expires: expires_in.map(|s| chrono::Utc::now() + chrono::Duration::seconds(s)),
            identity: CredentialIdentity {
                source: "s".into(),
                identity: "i".into(),
            },
        }
    }

    #[tokio::test]
    async fn fetches_once_then_ahead_of_expiry() {
        let cache = Refreshing::default();
        cache.get(|| async { Ok(fetched(None)) }).await.unwrap();
        cache.get(|| async { Ok(fetched(None)) }).await.unwrap();
        assert_eq!(cache.fetches(), 1, "static keys are fetched once");

        let cache = Refreshing::default();
        cache.get(|| async { Ok(fetched(Some(3))) }).await.unwrap();
        cache.get(|| async { Ok(fetched(Some(3))) }).await.unwrap();
        assert_eq!(cache.fetches(), 1);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        cache.get(|| async { Ok(fetched(Some(3))) }).await.unwrap();
        assert_eq!(
            cache.fetches(),
            2,
            "refetched in the last third of the lifetime"
        );
    }

    #[tokio::test]
    async fn a_failed_refresh_serves_the_unexpired_credential_then_fails() {
        let cache = Refreshing::default();
        cache.get(|| async { Ok(fetched(Some(6))) }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(4200)).await;
        let err = || async {
            Err(CredentialError {
                step: "s".into(),
                detail: "down".into(),
                fix: "f".into(),
            })
        };
        assert!(
            cache.get(err).await.is_ok(),
            "expires in 1.8 s: still served"
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(cache.get(err).await.unwrap_err().detail, "down");
    }

    #[test]
    fn key_ids_are_shortened() {
        assert_eq!(short_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(short_key_id("short"), "*****");
    }
}
