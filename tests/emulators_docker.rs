//! `lsprobe emulators up/status/env/down --backend docker` against a Docker API (podman's
//! service with the locally built images, or the engine `DOCKER_HOST` names), through the
//! compose client a user has (`docker compose`, else `docker-compose`): the emulators outlive
//! lsprobe, serve `lsprobe check`, are published on 127.0.0.1 only, and nothing of the compose
//! project is left after `down`, also when `up` was killed with SIGKILL half way.
mod support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use lsprobe::emulators::{Kind, S3User, docker};
use support::check::check;
use support::containers::{Engine, containers_labelled, remove_labelled};

const PROJECT_LABEL: &str = "com.docker.compose.project";

/// One test at a time: each starts containers whose root file systems the engine copies (vfs).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn lsprobe(engine: &Engine, state_dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("lsprobe")
        .unwrap()
        .env("LSPROBE_STATE_DIR", state_dir)
        .env("DOCKER_HOST", &engine.docker_host)
        .args(args)
        .timeout(Duration::from_secs(900))
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The engine and a compose client, or `None` after a loud skip (a failure in CI).
fn engine() -> Option<&'static Engine> {
    let engine = match support::containers::engine() {
        Ok(e) => e,
        Err(reason) => {
            support::skip_or_fail(&reason);
            return None;
        }
    };
    let has = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .env("DOCKER_HOST", &engine.docker_host)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has("docker", &["compose", "version"]) && !has("docker-compose", &["version"]) {
        support::skip_or_fail(
            "no compose client: neither `docker compose` nor `docker-compose` (apt-get install docker-compose)",
        );
        return None;
    }
    Some(engine)
}

fn project_containers(engine: &Engine, state: &Path) -> Vec<serde_json::Value> {
    containers_labelled(engine, PROJECT_LABEL, &docker::project(state))
}

/// Runs `down` when the test ends, pass or fail, then removes through the API whatever of the
/// compose project is still there (when `down` itself is what failed), so nothing outlives it.
struct Down<'a>(&'a Engine, &'a Path);
impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = lsprobe(self.0, self.1, &["emulators", "down"]);
        let project = docker::project(self.1);
        let network = format!("{project}_default");
        remove_labelled(self.0, PROJECT_LABEL, &project, Some(&network));
        let _ = std::fs::remove_dir_all(self.1);
    }
}

#[test]
fn up_status_env_down_with_the_docker_backend() {
    let _turn = one_at_a_time();
    let Some(engine) = engine() else {
        return;
    };
    let state = support::test_state_dir("docker-cli");
    let _down = Down(engine, &state);
    let up = lsprobe(
        engine,
        &state,
        &[
            "emulators",
            "up",
            "--provider",
            "all",
            "--backend",
            "docker",
        ],
    );
    assert!(
        up.status.success(),
        "`emulators up --backend docker` exited {:?}: {}",
        up.status.code(),
        text(&up.stderr)
    );

    // lsprobe has exited; the containers run on, each published on loopback only.
    let containers = project_containers(engine, &state);
    assert_eq!(containers.len(), 4, "{containers:#?}");
    for c in &containers {
        assert_eq!(c["State"], "running", "{c:#}");
        let ports = c["Ports"].as_array().expect("Ports");
        assert!(!ports.is_empty(), "{c:#}");
        for p in ports {
            assert_eq!(p["IP"], "127.0.0.1", "published beyond loopback: {c:#}");
        }
    }

    let status = lsprobe(engine, &state, &["emulators", "status", "--format", "json"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let listed = doc["emulators"].as_array().expect("emulators[]");
    assert_eq!(listed.len(), 4, "{doc:#}");
    for e in listed {
        assert_eq!(e["backend"], "docker", "{e:#}");
        assert_eq!(e["running"], true, "{e:#}");
    }
    let s3 = listed.iter().find(|e| e["provider"] == "s3").expect("s3");
    assert_eq!(
        s3["emulator"], "moto 5.2.5",
        "compose runs moto for s3: {s3:#}"
    );

    // What `env` prints reaches a bucket `lsprobe check` passes on (s3 is moto here).
    let dir = tempfile::tempdir().unwrap();
    for (kind, user) in [
        (Kind::S3, S3User::Full),
        (Kind::S3Iam, S3User::Full),
        (Kind::Gcs, S3User::Full),
        (Kind::Azure, S3User::Full),
    ] {
        let env = lsprobe(
            engine,
            &state,
            &[
                "emulators",
                "env",
                "--provider",
                kind.name(),
                "--user",
                user.name(),
            ],
        );
        assert!(env.status.success(), "{kind}: {}", text(&env.stderr));
        if kind == Kind::S3 {
            let first = text(&env.stdout).lines().next().unwrap_or("").to_string();
            assert!(first.contains("(moto "), "the comment names moto: {first}");
        }
        let file = dir.path().join(format!("{kind}.list"));
        std::fs::write(&file, &env.stdout).unwrap();
        let run = check(&file, &[]);
        assert_eq!(run.code, 0, "{kind}: {}\n{}", run.report, run.stderr);
        assert_eq!(run.report["summary"]["failed"], 0, "{kind}");
        let provider = if kind == Kind::S3Iam {
            "s3"
        } else {
            kind.name()
        };
        assert_eq!(run.report["target"]["provider"], provider);
    }

    // s3-iam enforces IAM: the user without s3:PutObject is denied exactly that.
    let env = lsprobe(
        engine,
        &state,
        &[
            "emulators",
            "env",
            "--provider",
            "s3-iam",
            "--user",
            "no-put",
        ],
    );
    let file = dir.path().join("s3-iam-no-put.list");
    std::fs::write(&file, &env.stdout).unwrap();
    let run = check(&file, &[]);
    assert_ne!(run.code, 0, "{}", run.report);
    assert_eq!(
        run.with_status("fail"),
        ["permissions.put"],
        "{:?}",
        run.statuses()
    );

    let down = lsprobe(engine, &state, &["emulators", "down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert!(
        text(&down.stderr).contains("s3 (container)"),
        "{}",
        text(&down.stderr)
    );
    assert_eq!(
        project_containers(engine, &state),
        Vec::<serde_json::Value>::new()
    );
    let status = lsprobe(engine, &state, &["emulators", "status", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        doc["emulators"].as_array().map(Vec::len),
        Some(0),
        "{doc:#}"
    );
}

#[test]
fn a_sigkilled_up_leaves_no_container_after_the_next_up_and_down() {
    let _turn = one_at_a_time();
    let Some(engine) = engine() else {
        return;
    };
    let state = support::test_state_dir("docker-kill");
    let _down = Down(engine, &state);
    let mut up = std::process::Command::new(assert_cmd::cargo::cargo_bin("lsprobe"))
        .env("LSPROBE_STATE_DIR", &state)
        .env("DOCKER_HOST", &engine.docker_host)
        .args([
            "emulators",
            "up",
            "--provider",
            "all",
            "--backend",
            "docker",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once its first container exists: mid-`up`, the state not yet written for it.
    let deadline = Instant::now() + Duration::from_secs(600);
    while project_containers(engine, &state).is_empty() {
        assert!(Instant::now() < deadline, "no container within 600 s");
        assert!(
            up.try_wait().unwrap().is_none(),
            "up ended before any container showed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    up.kill().unwrap();
    up.wait().unwrap();
    // The compose client lsprobe had started may still finish what it was doing.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !project_containers(engine, &state).is_empty(),
        "the killed up left a container (the case under test)"
    );

    // The next `up` of one emulator removes what the killed one left, then starts its own.
    let up = lsprobe(
        engine,
        &state,
        &[
            "emulators",
            "up",
            "--provider",
            "gcs",
            "--backend",
            "docker",
        ],
    );
    assert!(up.status.success(), "{}", text(&up.stderr));
    let left = project_containers(engine, &state);
    let services: Vec<&str> = left
        .iter()
        .filter_map(|c| c["Labels"]["com.docker.compose.service"].as_str())
        .collect();
    assert_eq!(services, ["gcs"], "{left:#?}");

    let down = lsprobe(engine, &state, &["emulators", "down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(
        project_containers(engine, &state),
        Vec::<serde_json::Value>::new()
    );
}

#[test]
fn down_after_a_sigkilled_up_removes_its_containers() {
    let _turn = one_at_a_time();
    let Some(engine) = engine() else {
        return;
    };
    let state = support::test_state_dir("docker-kill-down");
    let _down = Down(engine, &state);
    let mut up = std::process::Command::new(assert_cmd::cargo::cargo_bin("lsprobe"))
        .env("LSPROBE_STATE_DIR", &state)
        .env("DOCKER_HOST", &engine.docker_host)
        .args([
            "emulators",
            "up",
            "--provider",
            "azure",
            "--backend",
            "docker",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while project_containers(engine, &state).is_empty() {
        assert!(Instant::now() < deadline, "no container within 600 s");
        assert!(
            up.try_wait().unwrap().is_none(),
            "up ended before any container showed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    up.kill().unwrap();
    up.wait().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let down = lsprobe(engine, &state, &["emulators", "down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(
        project_containers(engine, &state),
        Vec::<serde_json::Value>::new()
    );
}
