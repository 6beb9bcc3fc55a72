//! The state file: which emulators run, on which port, with which PID and log.
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Backend, EmulatorError, Kind};

/// File name of the state inside the state dir.
pub const STATE_FILE: &str = "emulators.json";

/// Keys of one moto IAM user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserKeys {
    /// AWS access key id.
    pub access_key_id: String,
    /// AWS secret access key (an emulator's throw-away key; the state file is mode 0600).
    pub secret_access_key: String,
}

/// One running emulator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    /// Which emulator (`s3`, `s3-iam`, `gcs`, `azure`).
    pub kind: String,
    /// Native or Docker.
    pub backend: Backend,
    /// The emulator's process id, which is also its process group id (native only).
    pub pid: Option<u32>,
    /// The watchdog's process id, if it runs tied to the process that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog_pid: Option<u32>,
    /// The 127.0.0.1 port it listens on.
    pub port: u16,
    /// Its stdout and stderr.
    pub log: PathBuf,
    /// When it was started (RFC 3339).
    pub started_at: String,
    /// IAM users of `s3-iam`, by name (`full`, `no-list`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, UserKeys>,
}

impl Running {
    /// An emulator lsprobe does not run as a process of its own (a container, or one it
    /// adopted): no pid, its log named after it in `state_dir`, started now.
    pub fn without_process(
        kind: &str,
        backend: Backend,
        port: u16,
        state_dir: &std::path::Path,
        users: BTreeMap<String, UserKeys>,
    ) -> Self {
        Running {
            kind: kind.to_string(),
            backend,
            pid: None,
            watchdog_pid: None,
            port,
            log: state_dir.join(format!("{kind}.log")),
            started_at: chrono::Utc::now().to_rfc3339(),
            users,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Whether the recorded process still runs (zombies count as gone). Docker and external
    /// entries are taken as running.
    pub fn is_alive(&self) -> bool {
        match self.pid {
            Some(pid) => pid_alive(pid),
            None => self.backend != Backend::Native,
        }
    }
}

/// Everything recorded in one state dir.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Running emulators by kind name.
    pub emulators: BTreeMap<String, Running>,
}

impl State {
    /// Reads the state (an absent file is an empty state) and drops emulators whose process is
    /// gone.
    pub fn load(state_dir: &Path) -> Result<State, EmulatorError> {
        let path = state_dir.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(EmulatorError::io(&path, e)),
        };
        let mut state: State = serde_json::from_str(&text).map_err(|e| {
            EmulatorError::BadInput(format!(
                "{}: not a state file lsprobe wrote ({e}); stop the emulators by hand and delete it",
                path.display()
            ))
        })?;
        state.emulators.retain(|_, r| r.is_alive());
        Ok(state)
    }

    /// Writes the state atomically with mode 0600 (it holds the moto users' keys), or removes
    /// the file when nothing runs.
    pub fn save(&self, state_dir: &Path) -> Result<(), EmulatorError> {
        let path = state_dir.join(STATE_FILE);
        if self.emulators.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(EmulatorError::io(&path, e))
                }
                _ => Ok(()),
            };
        }
        create_private_dir(state_dir)?;
        let tmp = state_dir.join(format!("{STATE_FILE}.{}.tmp", std::process::id()));
        let json = serde_json::to_vec_pretty(self).expect("state serializes");
        write_private(&tmp, &json)?;
        std::fs::rename(&tmp, &path).map_err(|e| EmulatorError::io(&path, e))
    }

    /// The entry of `kind`.
    pub fn get(&self, kind: Kind) -> Option<&Running> {
        self.emulators.get(kind.name())
    }
}

/// Creates `dir` (and parents) with mode 0700 for the last component.
pub fn create_private_dir(dir: &Path) -> Result<(), EmulatorError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| EmulatorError::io(dir, e))
}

/// Writes `bytes` to `path` with mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), EmulatorError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| EmulatorError::io(path, e))?;
    f.write_all(bytes).map_err(|e| EmulatorError::io(path, e))
}

/// Takes an exclusive lock on `dir/name`, waiting for another holder (with a note on stderr).
pub fn lock(dir: &Path, name: &str, what: &str) -> Result<File, EmulatorError> {
    std::fs::create_dir_all(dir).map_err(|e| EmulatorError::io(dir, e))?;
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| EmulatorError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "lsprobe: waiting for another lsprobe {what} ({})",
                path.display()
            );
            file.lock().map_err(|e| EmulatorError::io(&path, e))?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(EmulatorError::io(&path, e)),
    }
    Ok(file)
}

/// Whether `pid` runs and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|s| s != "Z" && s != "X"),
        Err(_) => true,
    }
}

/// The last `n` lines of a log file (or a note that it cannot be read).
pub fn tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(n);
            let out = lines[start..].join("\n");
            if out.trim().is_empty() {
                "(the log is empty)".to_string()
            } else {
                out
            }
        }
        Err(e) => format!("(cannot read the log: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_drops_dead_pids() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::default();
        let me = Running {
            kind: "s3".into(),
            backend: Backend::Native,
            pid: Some(std::process::id()),
            watchdog_pid: None,
            port: 1234,
            log: dir.path().join("s3.log"),
            started_at: "now".into(),
            users: BTreeMap::new(),
        };
        let dead = Running {
            pid: Some(u32::MAX - 1),
            kind: "gcs".into(),
            ..me.clone()
        };
        state.emulators.insert("s3".into(), me.clone());
        state.emulators.insert("gcs".into(), dead);
        state.save(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(STATE_FILE)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
        let loaded = State::load(dir.path()).unwrap();
        assert_eq!(loaded.emulators.len(), 1);
        assert_eq!(loaded.emulators["s3"], me);
        State::default().save(dir.path()).unwrap();
        assert!(!dir.path().join(STATE_FILE).exists());
    }

    #[test]
    fn tail_keeps_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "a\nb\nc\n").unwrap();
        assert_eq!(tail(&p, 2), "b\nc");
        assert!(tail(&dir.path().join("none"), 2).starts_with("(cannot read"));
    }
}
