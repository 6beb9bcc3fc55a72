//! The Docker backend: drives Docker Compose (the `docker compose` plugin, or else the standalone
//! `docker-compose`, e.g. Debian's 1.29) over docker/compose.yml (embedded in the binary and
//! written into the state dir), with ports published on 127.0.0.1 only. The containers outlive
//! lsprobe (`up -d`); every container of a state dir belongs to one compose project, so `down`
//! (or the next `up`) removes what an interrupted `up` left behind.
//!
//! Verified against podman's Docker API service with locally built images
//! (tests/emulators_docker.rs). The preparation after start (bucket, CORS, IAM users) is the
//! same HTTP code the native backend uses, except that `s3` is moto here (s3rver has no
//! maintained image).
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
    answers_within("docker", &["info"], Duration::from_secs(2)).await
}

fn port_var(kind: Kind) -> &'static str {
    match kind {
        Kind::S3 => "LSPROBE_S3_PORT",
        Kind::S3Iam => "LSPROBE_S3_IAM_PORT",
        Kind::Gcs => "LSPROBE_GCS_PORT",
        Kind::Azure => "LSPROBE_AZURE_PORT",
    }
}

/// The compose project name of a state dir (`lsprobe-<8 hex>`), so two state dirs never share
/// containers; its containers carry the label `com.docker.compose.project=<name>`.
pub fn project(state_dir: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(state_dir.to_string_lossy().as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("lsprobe-{hex}")
}

/// The compose client found on this machine: the program and the arguments before the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    /// `docker compose` (the Compose v2 plugin).
    Plugin,
    /// `docker-compose` (standalone; Debian's is 1.29).
    Standalone,
}

async fn answers(program: &str, args: &[&str]) -> bool {
    answers_within(program, args, Duration::from_secs(20)).await
}

/// Whether `program args` exits 0 within `limit` (killed past it).
async fn answers_within(program: &str, args: &[&str], limit: Duration) -> bool {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    matches!(
        tokio::time::timeout(limit, child.wait()).await,
        Ok(Ok(status)) if status.success()
    )
}

/// `docker compose` when the plugin answers, else `docker-compose`.
async fn client() -> Result<Client, EmulatorError> {
    if answers("docker", &["compose", "version"]).await {
        Ok(Client::Plugin)
    } else if answers("docker-compose", &["version"]).await {
        Ok(Client::Standalone)
    } else {
        Err(EmulatorError::MissingTool {
            tool: "docker compose",
            needed_for: "--backend docker",
            fix: "install Docker Compose (the `docker compose` plugin, or the standalone \
                  `docker-compose`, e.g. `apt-get install docker-compose`), or use --backend native",
        })
    }
}

/// The compose file of a state dir: written by `up`; its presence means containers may exist.
fn compose_file(state_dir: &Path) -> PathBuf {
    state_dir.join("compose.yml")
}

fn compose(client: Client, state_dir: &Path) -> Result<Command, EmulatorError> {
    let file = compose_file(state_dir);
    std::fs::write(&file, COMPOSE_YML).map_err(|e| EmulatorError::io(&file, e))?;
    let mut cmd = match client {
        Client::Plugin => {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        }
        Client::Standalone => Command::new("docker-compose"),
    };
    cmd.arg("-f")
        .arg(&file)
        .args(["-p", &project(state_dir)])
        .stdin(Stdio::null());
    // docker-compose 1.29 gives up on an API call after 60 s; removing a container whose root
    // file system the engine copied (podman's vfs) takes longer than that on a busy machine.
    if std::env::var_os("COMPOSE_HTTP_TIMEOUT").is_none() {
        cmd.env("COMPOSE_HTTP_TIMEOUT", "600");
    }
    Ok(cmd)
}

/// `compose` with every port variable set: recorded ports for running kinds, `fallback` else.
fn compose_with_ports(
    client: Client,
    emu: &Emulators,
    fallback: u16,
) -> Result<Command, EmulatorError> {
    let mut cmd = compose(client, &emu.layout.state_dir)?;
    for k in Kind::ALL {
        let p = emu.state.get(k).map(|r| r.port).unwrap_or(fallback);
        cmd.env(port_var(k), p.to_string());
    }
    Ok(cmd)
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
    let client = client().await?;
    // Containers of services this state dir does not record were left by an `up` that was
    // interrupted (e.g. SIGKILL): remove them before anything starts.
    let unrecorded: Vec<&str> = Kind::ALL
        .into_iter()
        .filter(|k| emu.state.get(*k).is_none())
        .map(|k| k.name())
        .collect();
    if compose_file(&state_dir).exists() && !unrecorded.is_empty() {
        let mut cmd = compose_with_ports(client, emu, 1)?;
        cmd.args(["rm", "--stop", "--force"]).args(&unrecorded);
        run(cmd, "rm (leftovers)").await?;
    }
    for &kind in kinds {
        if let Some(r) = emu.state.get(kind) {
            eprintln!("lsprobe: {kind} already runs on {}", r.endpoint());
            continue;
        }
        let port = free_port()?;
        // Ports of the other services must resolve too; only this one is started.
        let mut cmd = compose_with_ports(client, emu, port)?;
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
            Running::without_process(&kind.to_string(), Backend::Docker, port, &state_dir, users),
        );
        emu.state.save(&state_dir)?;
    }
    Ok(())
}

pub(super) async fn wait_http(kind: Kind, port: u16, project: &str) -> Result<(), EmulatorError> {
    let client = ready::client();
    // Generous: on a busy machine the first start of an image can take a while.
    let deadline = Instant::now() + Duration::from_secs(120);
    let url = format!("http://127.0.0.1:{port}/");
    while Instant::now() < deadline {
        if client.get(&url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(EmulatorError::Docker(format!(
        "{kind}: no HTTP answer on 127.0.0.1:{port} within 120 s; see `docker compose -p {project} logs {kind}`"
    )))
}

/// Whether `up --backend docker` ran in this state dir (its containers may exist, recorded or
/// not).
pub fn used_in(state_dir: &Path) -> bool {
    compose_file(state_dir).exists()
}

/// Stops and removes the containers of `kinds`, and their state entries. When no container of
/// the state dir stays recorded, the whole compose project goes (`down`: also containers an
/// interrupted `up` left unrecorded, and the project's network).
pub(super) async fn down(emu: &mut Emulators, kinds: &[Kind]) -> Result<(), EmulatorError> {
    let state_dir = emu.layout.state_dir.clone();
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    let client = client().await?;
    let others_stay = Kind::ALL
        .into_iter()
        .any(|k| !kinds.contains(&k) && emu.get(k).is_some_and(|r| r.backend == Backend::Docker));
    let mut cmd = compose_with_ports(client, emu, 1)?;
    if others_stay {
        cmd.args(["rm", "--stop", "--force"]).args(&names);
        run(cmd, "rm").await?;
    } else {
        cmd.args(["down", "--remove-orphans", "--timeout", "5"]);
        run(cmd, "down").await?;
        let file = compose_file(&state_dir);
        std::fs::remove_file(&file).map_err(|e| EmulatorError::io(&file, e))?;
    }
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
        // Docker Compose 1.29 (Debian's docker-compose) rejects a top-level `name:`.
        assert!(!COMPOSE_YML.lines().any(|l| l.starts_with("name:")));
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
