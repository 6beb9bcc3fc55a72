//! Run safety: every object this run writes lives under `<folder>/.lsprobe/<run-id>/`; a
//! ledger records each key *before* it is written; only ledger keys are ever read back or
//! deleted; cleanup deletes the ledger on every exit path and says exactly what is left.
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};

use crate::provider::{Answer, Failure, Op, Storage, Unreachable, classify};
use crate::report::Cleanup;

/// The directory name under the folder that holds lsprobe's runs.
pub const RUNS_DIR: &str = ".lsprobe";

/// The unique prefix of one run.
#[derive(Clone, Debug)]
pub struct RunPrefix {
    /// The run id: UTC time and a random suffix, e.g. `20261128T101500Z-1a2b3c4d`.
    pub run_id: String,
    /// `<folder>/.lsprobe/<run-id>/` (or `.lsprobe/<run-id>/` at the bucket root).
    pub prefix: String,
    /// `<folder>/` or "".
    pub folder_prefix: String,
}

impl RunPrefix {
    /// A fresh run prefix inside the folder (`folder_prefix` is "" or ends with `/`).
    pub fn new(folder_prefix: &str) -> Self {
        Self::with_suffix(folder_prefix, "")
    }

    /// [`RunPrefix::new`], the run id ending in `-<suffix>` when `suffix` is not empty (a
    /// shard's, e.g. `shard0of3`: still unique, and telling which copy wrote it).
    pub fn with_suffix(folder_prefix: &str, suffix: &str) -> Self {
        let uuid = uuid::Uuid::new_v4().simple().to_string();
        let mut run_id = format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            &uuid[..8]
        );
        if !suffix.is_empty() {
            run_id = format!("{run_id}-{suffix}");
        }
        RunPrefix {
            prefix: format!("{folder_prefix}{RUNS_DIR}/{run_id}/"),
            run_id,
            folder_prefix: folder_prefix.to_string(),
        }
    }

    /// The full key of a name inside the run prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name.trim_start_matches('/'))
    }

    /// Whether a key belongs to any lsprobe run in this folder (this one or a concurrent one).
    pub fn is_lsprobe_key(&self, key: &str) -> bool {
        key.starts_with(&format!("{}{RUNS_DIR}/", self.folder_prefix))
    }
}

/// Where a key of the ledger stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Written {
    /// Planned: the run may write it, but no request that writes it was sent yet.
    Planned,
    /// A write was sent (it may or may not have landed).
    Sent,
    /// The server confirmed the write.
    Confirmed,
}

/// The keys this run wrote or tried to write (and whether the write was confirmed). Shared by
/// every task of the run.
#[derive(Clone, Debug, Default)]
pub struct Ledger(Arc<Mutex<BTreeMap<String, Written>>>);

impl Ledger {
    /// Records a key before it is written.
    pub fn record(&self, key: &str) {
        let mut keys = self.lock();
        let state = keys.entry(key.to_string()).or_insert(Written::Sent);
        if *state == Written::Planned {
            *state = Written::Sent;
        }
    }

    /// Records a key the run may write later: it counts only once [`Ledger::record`] says a
    /// write was sent (a key never sent is neither deleted nor reported as left over).
    pub fn plan(&self, key: &str) {
        self.lock()
            .entry(key.to_string())
            .or_insert(Written::Planned);
    }

    /// Marks a recorded key as written (the server confirmed it).
    pub fn confirm(&self, key: &str) {
        if let Some(state) = self.lock().get_mut(key) {
            *state = Written::Confirmed;
        }
    }

    /// Whether the server confirmed writing the key.
    pub fn confirmed(&self, key: &str) -> bool {
        self.lock().get(key) == Some(&Written::Confirmed)
    }

    /// Whether this run wrote (or planned to write) the key.
    pub fn contains(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    /// Forgets a key that is known to be gone.
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Every key a write was sent for (planned keys never sent are left out).
    pub fn keys(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, s)| **s != Written::Planned)
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Written>> {
        // A panic elsewhere must not stop cleanup: the set is valid whatever was interrupted.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How a bounded cleanup ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CleanupEnd {
    /// Every delete was answered.
    Done,
    /// The deadline passed first; what was not deleted is listed.
    TimedOut,
    /// A signal asked to stop waiting; what was not deleted is listed.
    Stopped,
}

/// The only way checks touch a bucket: writes land under the run prefix, and reads and
/// deletes are refused for any key this run did not write.
#[derive(Debug)]
pub struct SafeStore {
    storage: Storage,
    /// The run prefix.
    pub run: RunPrefix,
    ledger: Ledger,
}

/// A request that the safety rules refuse (a bug in lsprobe, never sent).
#[derive(Debug, thiserror::Error)]
#[error("refused to {op} `{key}`: this run did not write it")]
pub struct Refused {
    op: &'static str,
    key: String,
}

impl SafeStore {
    /// Wraps a storage adapter for one run.
    pub fn new(storage: Storage, run: RunPrefix, ledger: Ledger) -> Self {
        SafeStore {
            storage,
            run,
            ledger,
        }
    }

    /// The adapter (for provider facts and unsigned requests).
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Writes `name` under the run prefix; returns the full key and the answer.
    pub async fn put(
        &self,
        name: &str,
        body: Bytes,
        content_type: &str,
    ) -> (String, Result<Answer, Unreachable>) {
        let key = self.run.key(name);
        self.ledger.record(&key);
        let op = Op::Put {
            key: key.clone(),
            body,
            content_type: content_type.to_string(),
        };
        let answer = self.storage.send(&op).await;
        if classify(self.storage.provider(), &answer).is_ok() {
            self.ledger.confirm(&key);
        }
        (key, answer)
    }

    /// Sends a read or delete of a key this run wrote.
    pub async fn send_owned(&self, op: Op) -> Result<Result<Answer, Unreachable>, Refused> {
        let key = match &op {
            Op::Get { key } | Op::Head { key } | Op::Delete { key } => key.clone(),
            Op::Put { key, .. } => key.clone(),
            Op::List { .. } => return Ok(self.storage.send(&op).await),
        };
        if !self.ledger.contains(&key) {
            return Err(Refused { op: op.name(), key });
        }
        let deleting = matches!(op, Op::Delete { .. });
        let answer = self.storage.send(&op).await;
        if deleting && gone(self.storage.provider(), &answer) {
            self.ledger.forget(&key);
        }
        Ok(answer)
    }

    /// Lists keys under a prefix (metadata only; never reads an object).
    pub async fn list(
        &self,
        prefix: &str,
        limit: usize,
        page: Option<String>,
    ) -> Result<Answer, Unreachable> {
        self.storage
            .send(&Op::List {
                prefix: prefix.to_string(),
                limit,
                page,
            })
            .await
    }

    /// Deletes every key in the ledger (concurrently, then once more one by one for what
    /// failed: some servers stumble over parallel deletes in one directory); what still could
    /// not be deleted is listed.
    pub async fn cleanup(&self) -> Cleanup {
        let mut cleanup = Cleanup::default();
        self.cleanup_into(&mut cleanup).await;
        cleanup
    }

    /// [`SafeStore::cleanup`], giving up at `limit` or when `stop` completes (a second
    /// Ctrl-C): then every key whose delete was not answered is listed as left over.
    pub async fn cleanup_within(
        &self,
        limit: std::time::Duration,
        stop: impl std::future::Future<Output = ()>,
    ) -> (Cleanup, CleanupEnd) {
        let mut cleanup = Cleanup::default();
        let end = {
            let work = self.cleanup_into(&mut cleanup);
            tokio::select! {
                () = work => CleanupEnd::Done,
                () = tokio::time::sleep(limit) => CleanupEnd::TimedOut,
                () = stop => CleanupEnd::Stopped,
            }
        };
        if end != CleanupEnd::Done {
            cleanup.leftover = self.ledger.keys();
        }
        (cleanup, end)
    }

    async fn cleanup_into(&self, cleanup: &mut Cleanup) {
        let mut first =
            futures::stream::iter(self.ledger.keys().into_iter().map(|key| async move {
                let answer = self.storage.send(&Op::Delete { key: key.clone() }).await;
                (key, answer)
            }))
            .buffer_unordered(8);
        let mut retry = Vec::new();
        while let Some((key, answer)) = first.next().await {
            if !self.settle(&key, &answer, cleanup) {
                retry.push(key);
            }
        }
        for key in retry {
            let answer = self.storage.send(&Op::Delete { key: key.clone() }).await;
            if !self.settle(&key, &answer, cleanup) {
                cleanup.leftover.push(key);
            }
        }
        cleanup.leftover.sort();
        // Planned keys never sent are not this run's to delete or report.
        self.ledger.lock().retain(|_, s| *s != Written::Planned);
    }

    /// Books one delete answer; false when the key may still be there.
    fn settle(
        &self,
        key: &str,
        answer: &Result<Answer, Unreachable>,
        cleanup: &mut Cleanup,
    ) -> bool {
        match classify(self.storage.provider(), answer) {
            Ok(()) => {
                // S3 answers 204 for a key that never existed: count only confirmed writes.
                if self.ledger.confirmed(key) {
                    cleanup.deleted += 1;
                }
                self.ledger.forget(key);
                true
            }
            Err(Failure::NotFound { .. }) => {
                self.ledger.forget(key);
                true
            }
            Err(_) => false,
        }
    }
}

fn gone(provider: crate::config::Provider, answer: &Result<Answer, Unreachable>) -> bool {
    matches!(
        classify(provider, answer),
        Ok(()) | Err(Failure::NotFound { .. })
    )
}

/// Deletes what the run wrote, for at most `limit`. `signal()` completes on Ctrl-C or SIGTERM
/// (the command layer supplies it). A signal during cleanup makes the run
/// one that was interrupted (exit 3); a signal once the run is already interrupted (the
/// second Ctrl-C) stops waiting. A panic in cleanup loses nothing: what was not deleted is
/// listed. Returns the cleanup and whether the run is now interrupted.
pub async fn bounded_cleanup<F: Future<Output = ()>>(
    store: &SafeStore,
    limit: Duration,
    interrupted_already: bool,
    signal: impl Fn() -> F,
) -> (Cleanup, bool) {
    let signalled = AtomicBool::new(false);
    let stop = async {
        if !interrupted_already {
            signal().await;
            signalled.store(true, Ordering::Relaxed);
        }
        signal().await;
    };
    let work = AssertUnwindSafe(store.cleanup_within(limit, stop)).catch_unwind();
    let (cleanup, end) = match work.await {
        Ok(done) => done,
        Err(_) => {
            eprintln!("internal error: cleanup panicked; the objects it had not deleted follow");
            let cleanup = Cleanup {
                leftover: store.ledger().keys(),
                ..Default::default()
            };
            (cleanup, CleanupEnd::Stopped)
        }
    };
    match end {
        CleanupEnd::Done => {}
        CleanupEnd::TimedOut => eprintln!(
            "cleanup: stopped waiting after {} (--cleanup-timeout)",
            humantime::format_duration(limit)
        ),
        CleanupEnd::Stopped => eprintln!("cleanup: stopped waiting (second signal)"),
    }
    let interrupted =
        interrupted_already || signalled.load(Ordering::Relaxed) || end == CleanupEnd::Stopped;
    (cleanup, interrupted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_prefix_lives_inside_the_folder() {
        let run = RunPrefix::new("media/");
        assert!(run.prefix.starts_with("media/.lsprobe/"));
        assert!(run.prefix.ends_with('/'));
        assert_eq!(run.key("/a/b.txt"), format!("{}a/b.txt", run.prefix));
        assert!(run.is_lsprobe_key("media/.lsprobe/other-run/x"));
        assert!(!run.is_lsprobe_key("media/upload/1/x"));
        let root = RunPrefix::new("");
        assert!(root.prefix.starts_with(".lsprobe/"));
        assert_ne!(RunPrefix::new("").run_id, root.run_id);
    }

    #[test]
    fn ledger_survives_a_panic_while_locked() {
        let ledger = Ledger::default();
        ledger.record("k");
        assert!(!ledger.confirmed("k"));
        ledger.confirm("k");
        assert!(ledger.confirmed("k"));
        let l2 = ledger.clone();
        let _ = std::thread::spawn(move || {
            let _guard = l2.0.lock().unwrap();
            panic!("boom");
        })
        .join();
        assert_eq!(ledger.keys(), vec!["k".to_string()]);
    }

    #[test]
    fn planned_keys_count_only_once_sent() {
        let ledger = Ledger::default();
        ledger.plan("a");
        ledger.plan("b");
        assert!(ledger.contains("a"));
        assert!(ledger.keys().is_empty(), "nothing was sent");
        ledger.record("b");
        assert_eq!(ledger.keys(), vec!["b".to_string()]);
        ledger.confirm("b");
        ledger.plan("b");
        assert!(
            ledger.confirmed("b"),
            "planning again does not undo a write"
        );
    }
}
