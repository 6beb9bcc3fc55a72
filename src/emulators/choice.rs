//! Which emulators a command acts on, how they run, and how their settings are printed (plain
//! values; the command layer maps flags onto them).

/// Which emulator(s) a command acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EmulatorProvider {
    /// s3rver: S3 with CORS rules enforced.
    S3,
    /// moto with IAM enforcement: the guide's policy and users missing one action each.
    S3Iam,
    /// fake-gcs-server.
    Gcs,
    /// Azurite (blob service).
    Azure,
    /// All of the above.
    All,
}

/// How emulators are run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmulatorBackend {
    /// Docker when an engine answers, native otherwise.
    Auto,
    /// Processes installed from npm and PyPI into LSPROBE_HOME.
    Native,
    /// Containers of the public images through a Docker engine.
    Docker,
}

/// Formats of `emulators env`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvFormat {
    /// `KEY=VALUE` lines, as `docker run --env-file` and `lsprobe --env-file` read them.
    EnvList,
    /// A JSON object.
    Json,
}
