//! The native backend: emulators installed from npm and PyPI, run as local processes on
//! 127.0.0.1, one process group each.
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::process::{free_port, spawn_logged, spawn_watchdog, stop_group};
use super::state::{State, create_private_dir, lock, tail};
use super::{Backend, EmulatorError, Emulators, Kind, Running, StartOptions, install, ready};

/// How long an emulator may take to answer HTTP after it was spawned.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `down` waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Starts `kinds` that are not already running in `emu`'s state dir.
pub(super) async fn up(
    emu: &mut Emulators,
    kinds: &[Kind],
    options: StartOptions,
) -> Result<(), EmulatorError> {
    let layout = emu.layout.clone();
    create_private_dir(&layout.state_dir)?;
    let _guard = lock(
        &layout.state_dir,
        "state.lock",
        "start or stop of emulators",
    )?;
    emu.state = State::load(&layout.state_dir)?;
    let mut wanted: Vec<Kind> = kinds.to_vec();
    wanted.sort();
    wanted.dedup();
    let mut started = Vec::new();
    for kind in wanted {
        if let Some(r) = emu.state.get(kind) {
            eprintln!("lsprobe: {kind} already runs on {}", r.endpoint());
            continue;
        }
        match start_one(emu, kind, options).await {
            Ok(running) => {
                eprintln!(
                    "lsprobe: {kind} ({}) runs on {}",
                    kind.emulator(),
                    running.endpoint()
                );
                emu.state.emulators.insert(kind.to_string(), running);
                emu.state.save(&layout.state_dir)?;
                started.push(kind);
            }
            Err(e) => {
                // Leave nothing half-started behind: stop what this call started.
                stop_recorded(emu, &started).await;
                let _ = emu.state.save(&layout.state_dir);
                return Err(e);
            }
        }
    }
    Ok(())
}

async fn start_one(
    emu: &mut Emulators,
    kind: Kind,
    options: StartOptions,
) -> Result<Running, EmulatorError> {
    let cache = emu.layout.cache_dir.clone();
    let program = tokio::task::spawn_blocking(move || install::ensure(&cache, kind))
        .await
        .expect("the install task does not panic")?;
    let state_dir = emu.layout.state_dir.clone();
    let work = state_dir.join(kind.name());
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(|e| EmulatorError::io(&work, e))?;
    }
    create_private_dir(&work)?;
    let log = state_dir.join(format!("{kind}.log"));
    let _ = std::fs::remove_file(&log);
    if kind == Kind::S3 {
        let cors = work.join("cors.xml");
        std::fs::write(&cors, ready::S3_CORS_XML).map_err(|e| EmulatorError::io(&cors, e))?;
    }

    // A port found free can be taken by someone else before the emulator binds it: try again.
    let mut attempts = 0;
    let (mut child, port, watchdog) = loop {
        attempts += 1;
        let port = free_port()?;
        let mut cmd = command(kind, &program, port, &work);
        let mut child = spawn_logged(&mut cmd, &log)?;
        // Tie it to this process at once, so that even a panic from here on leaves nothing.
        let watchdog = if options.die_with_this_process {
            match spawn_watchdog(child.id()) {
                Ok(w) => Some(w),
                Err(e) => {
                    stop_group(child.id(), STOP_GRACE).await;
                    let _ = child.wait();
                    return Err(e);
                }
            }
        } else {
            None
        };
        match wait_ready(kind, port, &mut child, &log).await {
            Ok(()) => break (child, port, watchdog),
            Err(e) => {
                stop_group(child.id(), Duration::from_secs(1)).await;
                let _ = child.wait();
                if let Some((mut dog, pipe)) = watchdog {
                    drop(pipe);
                    let _ = dog.wait();
                }
                if attempts < 3 && tail(&log, 50).contains("in use") {
                    eprintln!("lsprobe: {kind}: port {port} was taken, trying another ({e})");
                } else {
                    return Err(e);
                }
            }
        }
    };
    let pid = child.id();
    let watchdog_pid = watchdog.as_ref().map(|(dog, _)| dog.id());
    if let Some((dog, pipe)) = watchdog {
        emu.children.push((kind, dog));
        emu.watchdogs.push((kind, pipe));
    }
    let users = match ready::prepare(kind, port, &state_dir).await {
        Ok(users) => users,
        Err(e) => {
            stop_group(pid, STOP_GRACE).await;
            let _ = child.wait();
            emu.watchdogs.retain(|(k, _)| *k != kind);
            for (_, dog) in emu.children.iter_mut().filter(|(k, _)| *k == kind) {
                let _ = dog.wait();
            }
            emu.children.retain(|(k, _)| *k != kind);
            return Err(e);
        }
    };
    emu.children.push((kind, child));
    Ok(Running {
        kind: kind.to_string(),
        backend: Backend::Native,
        pid: Some(pid),
        watchdog_pid,
        port,
        log,
        started_at: chrono::Utc::now().to_rfc3339(),
        users,
    })
}

/// The command line of each emulator (127.0.0.1 only; Azurite without telemetry).
fn command(kind: Kind, program: &Path, port: u16, work: &Path) -> Command {
    let port_s = port.to_string();
    let mut cmd = Command::new(program);
    cmd.current_dir(work);
    match kind {
        Kind::S3 => {
            let data = work.join("data");
            cmd.arg("-d")
                .arg(data)
                .args(["-a", "127.0.0.1", "-p", &port_s, "--silent"]);
            cmd.args(["--configure-bucket", super::BUCKET])
                .arg(work.join("cors.xml"));
        }
        Kind::S3Iam => {
            cmd.args(["-H", "127.0.0.1", "-p", &port_s]);
        }
        Kind::Gcs => {
            let host = format!("127.0.0.1:{port}");
            cmd.args(["-scheme", "http", "-host", "127.0.0.1", "-port", &port_s])
                .args(["-backend", "memory", "-public-host", &host])
                .args(["-external-url", &format!("http://{host}")]);
        }
        Kind::Azure => {
            cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port_s])
                .args(["--inMemoryPersistence", "--silent", "--disableTelemetry"])
                // No --location: Azurite rejects it with --inMemoryPersistence. The work dir is
                // its current directory, so nothing is written where lsprobe was started.
                .arg("--skipApiVersionCheck");
        }
    }
    cmd
}

/// The path polled until the emulator answers (any HTTP status counts).
fn probe_path(kind: Kind) -> &'static str {
    match kind {
        Kind::S3 | Kind::S3Iam => "/",
        Kind::Gcs => "/storage/v1/b",
        Kind::Azure => "/devstoreaccount1?comp=list",
    }
}

/// Polls until the emulator answers HTTP; on failure the caller stops it.
async fn wait_ready(
    kind: Kind,
    port: u16,
    child: &mut Child,
    log: &Path,
) -> Result<(), EmulatorError> {
    let client = ready::client();
    let url = format!("http://127.0.0.1:{port}{}", probe_path(kind));
    let deadline = Instant::now() + READY_TIMEOUT;
    let fail = |reason: String| EmulatorError::Start {
        kind,
        emulator: kind.emulator(),
        reason,
        log: log.to_path_buf(),
        tail: tail(log, 20),
    };
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(fail(format!(
                "it exited ({status}) before answering on 127.0.0.1:{port}"
            )));
        }
        if client.get(&url).send().await.is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(fail(format!(
                "no HTTP answer on 127.0.0.1:{port} within {}s",
                READY_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops `kinds` recorded in the state dir (native ones) and removes them from the state.
pub(super) async fn down(emu: &mut Emulators, kinds: &[Kind]) -> Result<(), EmulatorError> {
    let layout = emu.layout.clone();
    if !layout.state_dir.exists() {
        return Ok(());
    }
    let _guard = lock(
        &layout.state_dir,
        "state.lock",
        "start or stop of emulators",
    )?;
    let on_disk = State::load(&layout.state_dir)?;
    for (name, running) in on_disk.emulators {
        emu.state.emulators.entry(name).or_insert(running);
    }
    let left = stop_recorded(emu, kinds).await;
    emu.state.save(&layout.state_dir)?;
    if left.is_empty() {
        Ok(())
    } else {
        Err(EmulatorError::Setup {
            kind: left[0].0,
            reason: format!(
                "process {} still runs after SIGTERM and SIGKILL; stop it by hand",
                left[0].1
            ),
        })
    }
}

/// Stops the native emulators of `kinds`, reaps children this process owns, removes their work
/// dirs and state entries. Returns the ones that would not die.
async fn stop_recorded(emu: &mut Emulators, kinds: &[Kind]) -> Vec<(Kind, u32)> {
    let mut left = Vec::new();
    for &kind in kinds {
        let Some(running) = emu.state.emulators.get(kind.name()).cloned() else {
            continue;
        };
        if running.backend != Backend::Native {
            continue;
        }
        if let Some(pid) = running.pid
            && !stop_group(pid, STOP_GRACE).await
        {
            left.push((kind, pid));
            continue;
        }
        if let Some(dog) = running.watchdog_pid {
            stop_group(dog, Duration::from_secs(1)).await;
        }
        emu.watchdogs.retain(|(k, _)| *k != kind);
        for (_, child) in emu.children.iter_mut().filter(|(k, _)| *k == kind) {
            let _ = child.wait();
        }
        emu.children.retain(|(k, _)| *k != kind);
        let work: PathBuf = emu.layout.state_dir.join(kind.name());
        let _ = std::fs::remove_dir_all(&work);
        if kind == Kind::Gcs {
            let _ = std::fs::remove_file(emu.gcs_credentials_path());
        }
        emu.state.emulators.remove(kind.name());
    }
    left
}
