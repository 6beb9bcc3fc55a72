//! The Docker backend: drives `docker compose` over docker/compose.yml (embedded in the binary
//! and written into the state dir), with ports published on 127.0.0.1 only.
//!
//! Not exercised on the project's machines (no Docker engine runs there): the native backend is
//! the verified one. The preparation after start (bucket, CORS, IAM users) is the same HTTP code
//! the native backend uses, except that `s3` is moto here (s3rver has no maintained image).
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::process::free_port;
use super::state::{State, create_private_dir, lock};
use super::{Backend, EmulatorError, Emulators, Kind, Running, ready};

/// The compose file, as committed in docker/compose.yml.
pub const COMPOSE_YML: &str = include_str!("../../docker/compose.yml");

/// Whether a Docker engine answers `docker info` within ~2 s.
pub async fn available() -> bool {
    let child = Command::new("docker")
        .arg("info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), child.wait()).await,
        Ok(Ok(status)) if status.success()
    )
}

fn port_var(kind: Kind) -> &'static str {
    match kind {
        Kind::S3 => "LSPROBE_S3_PORT",
        Kind::S3Iam => "LSPROBE_S3_IAM_PORT",
        Kind::Gcs => "LSPROBE_GCS_PORT",
        Kind::Azure => "LSPROBE_AZURE_PORT",
    }
}

/// A compose project name per state dir, so two state dirs never share containers.
fn project(state_dir: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(state_dir.to_string_lossy().as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("lsprobe-{hex}")
}

fn compose(state_dir: &Path) -> Result<(Command, PathBuf), EmulatorError> {
    let file = state_dir.join("compose.yml");
    std::fs::write(&file, COMPOSE_YML).map_err(|e| EmulatorError::io(&file, e))?;
    let mut cmd = Command::new("docker");
    cmd.arg("compose")
        .arg("-f")
        .arg(&file)
        .args(["-p", &project(state_dir)])
        .stdin(Stdio::null());
    Ok((cmd, file))
}

async fn run(mut cmd: Command, what: &str) -> Result<(), EmulatorError> {
    let out = cmd
        .output()
        .await
        .map_err(|e| EmulatorError::Docker(format!("cannot run docker compose ({what}): {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(EmulatorError::Docker(format!(
            "docker compose {what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Starts `kinds` that are not already running, each in its container.
pub(super) async fn up(emu: &mut Emulators, kinds: &[Kind]) -> Result<(), EmulatorError> {
    let state_dir = emu.layout.state_dir.clone();
    create_private_dir(&state_dir)?;
    let _guard = lock(&state_dir, "state.lock", "start or stop of emulators")?;
    emu.state = State::load(&state_dir)?;
    for &kind in kinds {
        if let Some(r) = emu.state.get(kind) {
            eprintln!("lsprobe: {kind} already runs on {}", r.endpoint());
            continue;
        }
        let port = free_port()?;
        let (mut cmd, _) = compose(&state_dir)?;
        // Ports of the other services must resolve too; only this one is started.
        for other in Kind::ALL {
            let p = emu.state.get(other).map(|r| r.port).unwrap_or(port);
            cmd.env(port_var(other), p.to_string());
        }
        cmd.env(port_var(kind), port.to_string());
        cmd.args(["up", "-d", kind.name()]);
        eprintln!("lsprobe: starting {kind} with docker compose on 127.0.0.1:{port}");
        run(cmd, &format!("up {kind}")).await?;
        wait_http(kind, port, &project(&state_dir)).await?;
        let users = if kind == Kind::S3 {
            ready::prepare_s3_moto(&ready::client(), &format!("http://127.0.0.1:{port}"))
                .await
                .map_err(|reason| EmulatorError::Setup { kind, reason })?;
            Default::default()
        } else {
            ready::prepare(kind, port, &state_dir).await?
        };
        emu.state.emulators.insert(
            kind.to_string(),
            Running {
                kind: kind.to_string(),
                backend: Backend::Docker,
                pid: None,
                watchdog_pid: None,
                port,
                log: state_dir.join(format!("{kind}.log")),
                started_at: chrono::Utc::now().to_rfc3339(),
                users,
            },
        );
        emu.state.save(&state_dir)?;
    }
    Ok(())
}

async fn wait_http(kind: Kind, port: u16, project: &str) -> Result<(), EmulatorError> {
    let client = ready::client();
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("http://127.0.0.1:{port}/");
    while Instant::now() < deadline {
        if client.get(&url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(EmulatorError::Docker(format!(
        "{kind}: no HTTP answer on 127.0.0.1:{port} within 60 s; see `docker compose -p {project} logs {kind}`"
    )))
}

/// Stops and removes the containers of `kinds`, and their state entries.
pub(super) async fn down(emu: &mut Emulators, kinds: &[Kind]) -> Result<(), EmulatorError> {
    let state_dir = emu.layout.state_dir.clone();
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    let (mut cmd, _) = compose(&state_dir)?;
    for k in Kind::ALL {
        let port = emu.get(k).map(|r| r.port).unwrap_or(1);
        cmd.env(port_var(k), port.to_string());
    }
    cmd.args(["rm", "--stop", "--force"]).args(&names);
    run(cmd, "rm").await?;
    {
        let _guard = lock(&state_dir, "state.lock", "start or stop of emulators")?;
        for k in kinds {
            emu.state.emulators.remove(k.name());
        }
        emu.state.save(&state_dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_publishes_on_loopback_only_and_disables_telemetry() {
        for line in COMPOSE_YML
            .lines()
            .filter(|l| l.trim_start().starts_with("- \""))
        {
            if line.contains(":${LSPROBE_") {
                assert!(line.contains("\"127.0.0.1:"), "{line}");
            }
        }
        assert!(COMPOSE_YML.contains("--disableTelemetry"));
        for kind in Kind::ALL {
            assert!(COMPOSE_YML.contains(&format!("  {}:\n", kind.name())));
            assert!(COMPOSE_YML.contains(port_var(kind)));
        }
    }

    #[test]
    fn projects_differ_per_state_dir() {
        assert_ne!(project(Path::new("/a")), project(Path::new("/b")));
    }
}
