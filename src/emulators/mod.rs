//! Local S3, GCS and Azure emulators: install, start, stop, describe.
//!
//! The CLI (`lsprobe emulators ...`) and the integration tests share this code: both call
//! [`Emulators::start`] (or [`Emulators::start_with`]) with a [`Layout`] naming where the
//! emulators are installed (`cache_dir`) and where the running ones are recorded (`state_dir`).
//!
//! Everything listens on 127.0.0.1 only; no request leaves the machine (Azurite always runs with
//! `--disableTelemetry`).
mod azure_key;
mod choice;
pub mod docker;
pub(crate) mod env_list;
mod error;
mod external;
mod install;
pub mod label_studio;
pub mod native;
mod process;
mod ready;
mod s3_iam;
mod state;

use std::fmt;
use std::path::PathBuf;
use std::process::ChildStdin;
use std::str::FromStr;

pub use choice::{EmulatorBackend, EmulatorProvider, EnvFormat};
pub use env_list::render as render_env_list;
pub use error::EmulatorError;
pub use ready::{S3_CORS_XML, rsa_private_key_pem};
pub use state::{Running, State, UserKeys, pid_alive};

/// The bucket (S3, GCS) or container (Azure) every emulator is prepared with.
pub const BUCKET: &str = "lsprobe";
/// The folder the printed env.list points Label Studio at.
pub const FOLDER: &str = "media";
/// The GCS project id the printed env.list names.
pub const GCS_PROJECT: &str = "lsprobe-local";
/// Azurite's account.
pub const AZURE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known account key (public, documented by Microsoft; not a secret).
pub const AZURE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// s3rver's only accepted key pair (id and secret are the same).
pub const S3RVER_KEY: &str = "S3RVER";
/// The Label Studio origin the printed env.list names.
pub const LABEL_STUDIO_HOST: &str = "http://localhost:8080";

/// One emulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// s3rver: S3 whose bucket CORS rules are enforced on preflight.
    S3,
    /// moto with IAM enforcement on, and users with the guide's policy (full) or missing one action.
    S3Iam,
    /// fake-gcs-server.
    Gcs,
    /// Azurite's blob service.
    Azure,
}

impl Kind {
    /// Every emulator, in start order.
    pub const ALL: [Kind; 4] = [Kind::S3, Kind::S3Iam, Kind::Gcs, Kind::Azure];

    /// The name used on the command line and in the state file.
    pub fn name(self) -> &'static str {
        match self {
            Kind::S3 => "s3",
            Kind::S3Iam => "s3-iam",
            Kind::Gcs => "gcs",
            Kind::Azure => "azure",
        }
    }

    /// What runs behind it natively, with its pinned version.
    pub fn emulator(self) -> &'static str {
        match self {
            Kind::S3 => "s3rver 3.7.1",
            Kind::S3Iam => "moto 5.2.5",
            Kind::Gcs => "fake-gcs-server 1.54.0",
            Kind::Azure => "Azurite 3.35.0",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = EmulatorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                EmulatorError::BadInput(format!(
                    "unknown emulator `{s}`: use one of s3, s3-iam, gcs, azure"
                ))
            })
    }
}

/// A user of the `s3-iam` emulator (moto with IAM enforcement).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum S3User {
    /// The guide's policy: s3:ListBucket on the bucket; Put/Get/DeleteObject on `bucket/*`.
    Full,
    /// The guide's policy without s3:ListBucket.
    NoList,
    /// The guide's policy without s3:PutObject.
    NoPut,
    /// The guide's policy without s3:GetObject.
    NoGet,
    /// The guide's policy without s3:DeleteObject.
    NoDelete,
}

impl S3User {
    /// Every user, in creation order.
    pub const ALL: [S3User; 5] = [
        S3User::Full,
        S3User::NoList,
        S3User::NoPut,
        S3User::NoGet,
        S3User::NoDelete,
    ];

    /// The name on the command line (`--user`) and in the state file.
    pub fn name(self) -> &'static str {
        match self {
            S3User::Full => "full",
            S3User::NoList => "no-list",
            S3User::NoPut => "no-put",
            S3User::NoGet => "no-get",
            S3User::NoDelete => "no-delete",
        }
    }

    /// The IAM user name in moto (`lsprobe-<name>`).
    pub fn iam_name(self) -> String {
        format!("lsprobe-{}", self.name())
    }

    /// The S3 action this user lacks, if any.
    pub fn missing_action(self) -> Option<&'static str> {
        match self {
            S3User::Full => None,
            S3User::NoList => Some("s3:ListBucket"),
            S3User::NoPut => Some("s3:PutObject"),
            S3User::NoGet => Some("s3:GetObject"),
            S3User::NoDelete => Some("s3:DeleteObject"),
        }
    }
}

impl FromStr for S3User {
    type Err = EmulatorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        S3User::ALL
            .into_iter()
            .find(|u| u.name() == s)
            .ok_or_else(|| {
                EmulatorError::BadInput(format!(
                    "unknown --user `{s}`: use one of full, no-list, no-put, no-get, no-delete"
                ))
            })
    }
}

/// How emulators run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Processes installed from npm and PyPI into the cache directory.
    Native,
    /// Containers of the public images, through `docker compose`.
    Docker,
    /// Started and stopped by someone else (the tests' containers, through testcontainers);
    /// lsprobe prepared and recorded it, and only forgets it on `down`.
    External,
}

/// Where emulators are installed and where the running ones are recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Installed emulators (shared by every user of this machine account; safe to share).
    pub cache_dir: PathBuf,
    /// The state file, logs, data and credential files of the running emulators.
    pub state_dir: PathBuf,
}

impl Layout {
    /// The layout from the environment: `LSPROBE_HOME` (default `$XDG_CACHE_HOME/lsprobe` or
    /// `$HOME/.cache/lsprobe`) holds the installs; `LSPROBE_STATE_DIR` (default
    /// `$LSPROBE_HOME/state`) the running emulators.
    pub fn from_env() -> Result<Layout, EmulatorError> {
        let cache_dir = default_cache_dir()?;
        let state_dir = match std::env::var_os("LSPROBE_STATE_DIR") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => cache_dir.join("state"),
        };
        Ok(Layout {
            cache_dir,
            state_dir,
        })
    }

    /// A layout with the default cache dir and the given state dir (what tests use).
    pub fn with_state_dir(state_dir: impl Into<PathBuf>) -> Result<Layout, EmulatorError> {
        Ok(Layout {
            cache_dir: default_cache_dir()?,
            state_dir: state_dir.into(),
        })
    }
}

fn default_cache_dir() -> Result<PathBuf, EmulatorError> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(home) = non_empty("LSPROBE_HOME") {
        return Ok(PathBuf::from(home));
    }
    if let Some(xdg) = non_empty("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(xdg).join("lsprobe"));
    }
    if let Some(home) = non_empty("HOME") {
        return Ok(PathBuf::from(home).join(".cache").join("lsprobe"));
    }
    Err(EmulatorError::BadInput(
        "cannot choose a cache directory: neither LSPROBE_HOME, XDG_CACHE_HOME nor HOME is set; \
         set LSPROBE_HOME to a writable directory"
            .into(),
    ))
}

/// Options of [`Emulators::start_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct StartOptions {
    /// Use Docker instead of native processes.
    pub docker: bool,
    /// Stop the emulators when this process ends, however it ends (tests). Each emulator gets a
    /// small watchdog in its process group that reads a pipe held by this process: at EOF (this
    /// process is gone) it kills the group.
    pub die_with_this_process: bool,
}

/// Running emulators recorded in one state directory.
///
/// Dropping the handle leaves them running (the CLI's `up` relies on it); call [`Emulators::stop`]
/// or use [`StartOptions::die_with_this_process`].
#[derive(Debug)]
pub struct Emulators {
    layout: Layout,
    state: State,
    /// Write ends of the watchdogs' pipes; dropping one makes its watchdog stop its emulator.
    watchdogs: Vec<(Kind, ChildStdin)>,
    /// Children (emulators and watchdogs) this process spawned, reaped on stop.
    children: Vec<(Kind, std::process::Child)>,
}

impl Emulators {
    /// Installs (first time) and starts `kinds` natively, recording them under
    /// `layout.state_dir`. Kinds already running there are left as they are.
    pub async fn start(kinds: &[Kind], layout: &Layout) -> Result<Self, EmulatorError> {
        Self::start_with(kinds, layout, StartOptions::default()).await
    }

    /// [`Emulators::start`] with options.
    pub async fn start_with(
        kinds: &[Kind],
        layout: &Layout,
        options: StartOptions,
    ) -> Result<Self, EmulatorError> {
        let mut emulators = Emulators::attach(layout)?;
        if options.docker {
            docker::up(&mut emulators, kinds).await?;
        } else {
            native::up(&mut emulators, kinds, options).await?;
        }
        Ok(emulators)
    }

    /// The emulators recorded under `layout.state_dir` (dead ones are dropped from the record).
    pub fn attach(layout: &Layout) -> Result<Self, EmulatorError> {
        let state = State::load(&layout.state_dir)?;
        Ok(Emulators {
            layout: layout.clone(),
            state,
            watchdogs: Vec::new(),
            children: Vec::new(),
        })
    }

    /// The layout this handle uses.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The recorded state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// A running emulator, if `kind` runs.
    pub fn get(&self, kind: Kind) -> Option<&Running> {
        self.state.emulators.get(&kind.to_string())
    }

    /// A running emulator, or [`EmulatorError::NotRunning`].
    pub fn require(&self, kind: Kind) -> Result<&Running, EmulatorError> {
        self.get(kind).ok_or(EmulatorError::NotRunning { kind })
    }

    /// `http://127.0.0.1:PORT` of a running emulator.
    pub fn endpoint(&self, kind: Kind) -> Option<String> {
        self.get(kind).map(|r| r.endpoint())
    }

    /// The port of a running emulator.
    pub fn port(&self, kind: Kind) -> Option<u16> {
        self.get(kind).map(|r| r.port)
    }

    /// The process id of a running native emulator (its process group id too).
    pub fn pid(&self, kind: Kind) -> Option<u32> {
        self.get(kind).and_then(|r| r.pid)
    }

    /// The Label Studio env.list that reaches `kind` (for `s3-iam`, with `user`'s keys).
    pub fn env_list(
        &self,
        kind: Kind,
        user: S3User,
    ) -> Result<Vec<(String, String)>, EmulatorError> {
        env_list::env_list(self, kind, user)
    }

    /// Where `up` wrote the GCS service-account JSON that points at fake-gcs-server.
    pub fn gcs_credentials_path(&self) -> PathBuf {
        self.layout.state_dir.join("gcs-credentials.json")
    }

    /// Stops every emulator of this state dir and removes its state.
    pub async fn stop(self) -> Result<(), EmulatorError> {
        self.stop_kinds(&Kind::ALL).await
    }

    /// Stops `kinds` and removes them from the state.
    pub async fn stop_kinds(mut self, kinds: &[Kind]) -> Result<(), EmulatorError> {
        let docker_kinds: Vec<Kind> = kinds
            .iter()
            .copied()
            .filter(|k| self.get(*k).is_some_and(|r| r.backend == Backend::Docker))
            .collect();
        // A docker `up` that was interrupted may have left containers it never recorded.
        let leftovers = docker::used_in(&self.layout.state_dir);
        if !docker_kinds.is_empty() || leftovers {
            let kinds = if docker_kinds.is_empty() {
                kinds.to_vec()
            } else {
                docker_kinds
            };
            docker::down(&mut self, &kinds).await?;
        }
        let external: Vec<Kind> = kinds
            .iter()
            .copied()
            .filter(|k| self.get(*k).is_some_and(|r| r.backend == Backend::External))
            .collect();
        if !external.is_empty() {
            external::forget(&mut self, &external)?;
        }
        native::down(&mut self, kinds).await
    }
}

/// Replaces Azurite's Blob service CORS rules (account-wide) at `base` (`http://127.0.0.1:PORT`).
/// `rules` is what goes inside `<Cors>`: `<CorsRule>` elements, or "" for none. Tests use it
/// on an Azurite of their own, never on a shared one.
pub async fn set_azurite_cors(base: &str, rules: &str) -> Result<(), EmulatorError> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<StorageServiceProperties><Cors>{rules}</Cors></StorageServiceProperties>"
    );
    let setup = |reason: String| EmulatorError::Setup {
        kind: Kind::Azure,
        reason,
    };
    let (status, body) = azure_key::send(
        &ready::client(),
        base,
        "PUT",
        &format!("/{AZURE_ACCOUNT}/"),
        &[("comp", "properties"), ("restype", "service")],
        Some(&xml),
    )
    .await
    .map_err(|e| setup(format!("set Blob service CORS properties: {e}")))?;
    if !status.is_success() {
        return Err(setup(format!(
            "set Blob service CORS properties: {status} {body}"
        )));
    }
    Ok(())
}
