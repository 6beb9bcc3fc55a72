//! Emulators someone else started and stops (the tests run them as containers through
//! testcontainers): lsprobe waits for them, prepares them as `up` does (bucket, CORS, IAM users)
//! and records them, so `env`, `status` and the checks reach them like any other.
use super::state::{State, create_private_dir, lock};
use super::{Backend, EmulatorError, Emulators, Kind, Layout, Running, docker, ready};

impl Emulators {
    /// Records `kind`, already listening on 127.0.0.1:`port` (s3: s3rver started with
    /// `--configure-bucket` and [`super::S3_CORS_XML`]; s3-iam: moto; gcs: fake-gcs-server whose
    /// public host is 127.0.0.1:`port`; azure: Azurite), after waiting for its HTTP answer and
    /// preparing it as [`Emulators::start`] does. lsprobe never stops it.
    pub async fn adopt(layout: &Layout, kind: Kind, port: u16) -> Result<Emulators, EmulatorError> {
        let state_dir = &layout.state_dir;
        create_private_dir(state_dir)?;
        docker::wait_http(kind, port, "external").await?;
        let users = ready::prepare(kind, port, state_dir).await?;
        let _guard = lock(state_dir, "state.lock", "start or stop of emulators")?;
        let mut state = State::load(state_dir)?;
        state.emulators.insert(
            kind.to_string(),
            Running::without_process(&kind.to_string(), Backend::External, port, state_dir, users),
        );
        state.save(state_dir)?;
        Emulators::attach(layout)
    }
}

/// Drops `kinds` from the record (their owner stops them).
pub(super) fn forget(emu: &mut Emulators, kinds: &[Kind]) -> Result<(), EmulatorError> {
    let state_dir = emu.layout.state_dir.clone();
    let _guard = lock(&state_dir, "state.lock", "start or stop of emulators")?;
    for k in kinds {
        emu.state.emulators.remove(k.name());
    }
    emu.state.save(&state_dir)
}
