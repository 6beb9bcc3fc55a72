//! Ctrl-C during `lsprobe check`: the run stops, cleanup still deletes what it wrote, and the
//! exit code says the run could not finish (3).
#[path = "support/delay_proxy.rs"]
mod delay_proxy;
mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use delay_proxy::{DelayProxy, DelaySpec};
use lsprobe::config::TargetOptions;
use lsprobe::emulators::{Kind, S3User};
use lsprobe::provider::{Op, Storage};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

async fn keys_under(storage: &Storage, prefix: &str) -> Vec<String> {
    let answer = storage
        .send(&Op::List {
            prefix: prefix.to_string(),
            limit: 1000,
            page: None,
        })
        .await
        .unwrap();
    assert!(answer.status.is_success());
    storage
        .parse_listing(&answer)
        .unwrap()
        .objects
        .into_iter()
        .map(|o| o.key)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_mid_run_still_cleans_up() {
    let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let emulators = support::emulators().unwrap();
    let upstream: SocketAddr = format!("127.0.0.1:{}", emulators.port(Kind::S3).unwrap())
        .parse()
        .unwrap();
    // Every answer takes 300 ms, so the run is still going when the signal comes.
    let proxy = DelayProxy::start(
        upstream,
        DelaySpec {
            delay: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await;
    let folder = format!("interrupt-{}", uuid::Uuid::new_v4().simple());
    let direct = Storage::new(
        &lsprobe::config::resolve(
            &TargetOptions {
                env_file: Some(env.clone()),
                ..Default::default()
            },
            &[],
        )
        .unwrap()
        .target,
    )
    .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_lsprobe"))
        .env_clear()
        .args(["check", "--format", "json", "--env-file"])
        .arg(&env)
        .args([
            "--folder",
            &folder,
            "--endpoint",
            &format!("http://{}", proxy.addr),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait until the run has written something of its own, then interrupt it.
    let runs = format!("{folder}/.lsprobe/");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut written = Vec::new();
    while written.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the run wrote nothing within 20 s"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be interrupted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        written = keys_under(&direct, &runs).await;
    }
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["exit_code"], 3);
    assert!(
        report["cleanup"]["leftover"].as_array().unwrap().is_empty(),
        "{report}"
    );
    let left = keys_under(&direct, &runs).await;
    assert!(
        left.is_empty(),
        "left in the bucket after Ctrl-C: {left:?} (written before the signal: {written:?})"
    );
}
