//! `lsprobe load` and `check` as a user runs them against a storage that fails: the
//! fault-injecting proxy (tests/support/delay_proxy.rs) in front of a tiny S3-ish origin, both
//! on 127.0.0.1. Exit codes, the report, the leftovers (only keys actually written), the
//! cleanup deadline and signals during cleanup.
#[path = "support/delay_proxy.rs"]
mod delay_proxy;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use delay_proxy::{DelayProxy, DelaySpec, start_origin};

const SECRET: &str = "wJalrXUtnFEMI-distinctive-secret-7f3a";

async fn proxy(spec: DelaySpec) -> DelayProxy {
    DelayProxy::start(start_origin(4096).await, spec).await
}

/// An env.list for the proxy; `endpoint` overrides the endpoint URL.
fn env_file(dir: &Path, proxy: &DelayProxy, endpoint: Option<&str>) -> PathBuf {
    let endpoint = endpoint.map_or_else(|| format!("http://{}", proxy.addr), str::to_string);
    let text = format!(
        "STORAGE_TYPE=s3\nSTORAGE_AWS_BUCKET_NAME=bkt\nSTORAGE_AWS_FOLDER=media\n\
         STORAGE_AWS_REGION_NAME=us-east-1\nSTORAGE_AWS_ACCESS_KEY_ID=AKIDFAULTS\n\
         STORAGE_AWS_SECRET_ACCESS_KEY={SECRET}\nSTORAGE_AWS_ENDPOINT_URL={endpoint}\n"
    );
    let path = dir.join("env.list");
    std::fs::write(&path, text).unwrap();
    path
}

fn lsprobe(env: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lsprobe"));
    cmd.env_clear()
        .args(["load", "--format", "json", "--env-file"])
        .arg(env)
        .args(["--warmup", "0s", "--size", "4KiB"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

async fn run(mut cmd: Command) -> (Output, serde_json::Value, Duration) {
    let t0 = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, report, t0.elapsed())
}

fn leftovers(report: &serde_json::Value) -> BTreeSet<String> {
    report["cleanup"]["leftover"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

/// The keys the storage saw a PUT for (path without the bucket).
fn written(proxy: &DelayProxy) -> BTreeSet<String> {
    proxy
        .paths("PUT")
        .iter()
        .map(|p| p.trim_start_matches("/bkt/").to_string())
        .collect()
}

fn verdict(report: &serde_json::Value) -> &serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "load.verdict")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_are_exactly_the_keys_written() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(DelaySpec {
        deny_deletes: true,
        ..Default::default()
    })
    .await;
    let env = env_file(dir.path(), &proxy, None);
    let cmd = lsprobe(
        &env,
        &[
            "--requests",
            "40",
            "--concurrency",
            "4",
            "--objects",
            "5",
            "--mix",
            "get=80,put=20",
        ],
    );
    let (out, report, _) = run(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let left = leftovers(&report);
    let put = written(&proxy);
    assert_eq!(left, put, "leftovers are the keys the storage saw written");
    // 5 prepared objects and 4 workers x 16 PUT slots were planned; far fewer were written.
    assert!(left.len() >= 5 && left.len() < 5 + 64, "{left:?}");
    for key in &left {
        assert!(stderr.contains(key.as_str()), "{key} not listed:\n{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_of_a_stalled_storage_stops_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(DelaySpec {
        stall_deletes: true,
        ..Default::default()
    })
    .await;
    let env = env_file(dir.path(), &proxy, None);
    let args = ["--requests", "20", "--concurrency", "2", "--objects", "3"];
    let mut cmd = lsprobe(&env, &args);
    cmd.args(["--mix", "get=1", "--cleanup-timeout", "2s"]);
    let (out, report, elapsed) = run(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--cleanup-timeout"), "{stderr}");
    assert_eq!(leftovers(&report), written(&proxy), "{stderr}");
    assert_eq!(leftovers(&report).len(), 3);
    // Before: 99.5 s. The deadline is 2 s; 60 s is a ceiling no busy machine reaches.
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_during_cleanup_exits_3_and_a_second_stops_waiting() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(DelaySpec {
        stall_deletes: true,
        ..Default::default()
    })
    .await;
    let env = env_file(dir.path(), &proxy, None);
    let args = ["--requests", "20", "--concurrency", "2", "--objects", "3"];
    let mut cmd = lsprobe(&env, &args);
    cmd.args(["--mix", "get=1", "--cleanup-timeout", "10m"]);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.paths("DELETE").is_empty() {
        assert!(Instant::now() < deadline, "cleanup never started");
        assert!(child.try_wait().unwrap().is_none(), "ended before cleanup");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = Pid::from_raw(child.id() as i32);
    // The run had finished: the first signal marks it interrupted, cleanup goes on.
    kill(pid, Signal::SIGINT).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "one signal does not abandon cleanup"
    );
    kill(pid, Signal::SIGINT).unwrap();
    let t0 = Instant::now();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "the 10 min deadline was not waited for"
    );
    assert!(stderr.contains("second signal"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["exit_code"], 3);
    assert_eq!(leftovers(&report), written(&proxy));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_storage_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(DelaySpec::default()).await;
    let env = env_file(dir.path(), &proxy, None);
    let args = ["--duration", "6s", "--concurrency", "4", "--objects", "3"];
    let mut cmd = lsprobe(&env, &args);
    cmd.args(["--mix", "get=1", "--cleanup-timeout", "5s"]);
    let child = cmd.spawn().unwrap();
    // The storage dies once the measured run is well under way.
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.requests() < 200 {
        assert!(Instant::now() < deadline, "the run never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.kill();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}\n{report}");
    let v = verdict(&report);
    assert_eq!(v["status"], "fail", "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("failed"), "{v}");
    assert!(message.contains("saw no request succeed"), "{v}");
    assert_eq!(report["load"]["verdict"]["slow"], true);
    assert_eq!(leftovers(&report), written(&proxy), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_loop_ends_on_time_above_what_the_storage_sustains() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(DelaySpec {
        delay: Duration::from_millis(100),
        ..Default::default()
    })
    .await;
    let env = env_file(dir.path(), &proxy, None);
    let args = ["--duration", "3s", "--rate", "10000", "--concurrency", "2"];
    let mut cmd = lsprobe(&env, &args);
    cmd.args(["--objects", "2", "--mix", "get=1"]);
    let (out, report, elapsed) = run(cmd).await;
    assert_eq!(out.status.code(), Some(1));
    // Before: 29.7 s for --duration 3s --rate 10000. Now: 3 s plus at most one request
    // timeout to drain; 60 s is a ceiling no busy machine reaches.
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    let dropped = report["load"]["dropped"].as_u64().unwrap();
    assert!(dropped > 20_000, "{dropped}");
    let message = verdict(&report)["message"].as_str().unwrap().to_string();
    assert!(message.contains("never started"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_byte_in_a_header_value_is_bad_input_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(DelaySpec::default()).await;
    let env = env_file(dir.path(), &proxy, None);
    for (var, bad) in [
        (
            "STORAGE_AWS_ACCESS_KEY_ID=AKIDFAULTS",
            "STORAGE_AWS_ACCESS_KEY_ID=S3\0RVER",
        ),
        (
            "STORAGE_AWS_REGION_NAME=us-east-1",
            "STORAGE_AWS_REGION_NAME=us-\u{1}east-1",
        ),
    ] {
        let text = std::fs::read_to_string(&env).unwrap().replace(var, bad);
        let bad_env = dir.path().join("bad.env.list");
        std::fs::write(&bad_env, text).unwrap();
        for command in ["check", "load"] {
            let out = Command::new(env!("CARGO_BIN_EXE_lsprobe"))
                .env_clear()
                .args([command, "--env-file"])
                .arg(&bad_env)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
            let name = bad.split('=').next().unwrap();
            assert!(stderr.contains(name), "{command}: {stderr}");
            assert!(stderr.contains("bad.env.list:"), "{command}: {stderr}");
            assert!(!stderr.contains("panicked"), "{command}: {stderr}");
            assert!(!stderr.contains("RVER"), "{command}: {stderr}");
        }
    }
    assert_eq!(proxy.requests(), 0, "no request is sent on bad input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_endpoint_url_never_reach_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(DelaySpec::default()).await;
    let endpoint = format!("http://lsuser:{SECRET}@{}/", proxy.addr);
    let env = env_file(dir.path(), &proxy, Some(&endpoint));
    let reports = dir.path().join("reports");
    let mut cmd = lsprobe(
        &env,
        &["--requests", "20", "--concurrency", "2", "--objects", "2"],
    );
    cmd.args(["--mix", "get=1", "--format", "junit", "--format", "text"])
        .arg("--report-dir")
        .arg(&reports);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let mut seen = vec![
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ];
    for entry in std::fs::read_dir(&reports).unwrap() {
        seen.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    for format in ["text", "json"] {
        let out = Command::new(env!("CARGO_BIN_EXE_lsprobe"))
            .env_clear()
            .args([
                "config",
                "show",
                "--verbose",
                "--format",
                format,
                "--env-file",
            ])
            .arg(&env)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}");
        seen.push(String::from_utf8_lossy(&out.stdout).into_owned());
        seen.push(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    assert!(seen.len() >= 7, "report files were written");
    for text in &seen {
        assert!(!text.contains(SECRET), "secret shown:\n{text}");
        assert!(!text.contains("lsuser"), "userinfo shown:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_cleanup_also_stops_at_its_deadline_and_lists_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(DelaySpec {
        stall_deletes: true,
        ..Default::default()
    })
    .await;
    let env = env_file(dir.path(), &proxy, None);
    // The checks that write but do not delete (a stalled DELETE inside a check waits for
    // the request timeout; the deadline is about cleanup).
    let suite = dir.path().join("writes.toml");
    std::fs::write(
        &suite,
        "name = \"writes\"\ndescription = \"put and read back\"\n\n[[check]]\nid = \
         \"permissions.put\"\nobject_size = 1024\n\n[[check]]\nid = \"permissions.get\"\n",
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lsprobe"));
    cmd.env_clear()
        .args([
            "check",
            "--format",
            "json",
            "--cleanup-timeout",
            "2s",
            "--suite",
        ])
        .arg(&suite)
        .arg("--env-file")
        .arg(&env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (out, report, elapsed) = run(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--cleanup-timeout"), "{stderr}");
    let left = leftovers(&report);
    assert!(!left.is_empty(), "{report}");
    assert_eq!(left, written(&proxy), "{stderr}");
    // The deadline is 2 s; 60 s is a ceiling no busy machine reaches.
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}
