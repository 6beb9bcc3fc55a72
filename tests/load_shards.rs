//! `lsprobe load --shard I/N` and `--autoterm` as a user runs them, against the emulators:
//! three shards run as three real processes at once merge into the totals of one unsharded
//! run and leave nothing behind (s3rver, Azurite, fake-gcs-server); an autoterm run stops before its cap and says why;
//! bad shard input exits 2 before any request. No timing is asserted beyond "before the cap".
mod support;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use lsprobe::config::TargetOptions;
use lsprobe::emulators::{Kind, S3User};
use lsprobe::provider::{Op, Storage};
use support::check::validate_schema;

/// The tests of this binary take turns on the s3rver bucket (each in a folder of its own).
static BUCKET: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_json(path: &Path) -> serde_json::Value {
    let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    validate_schema(&v);
    v
}

/// `lsprobe ARGS... --env-file ENV` with an empty environment but `vars`, not yet waited for.
fn spawn(env: &Path, args: &[&str], vars: &[(&str, &str)]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_lsprobe"))
        .env_clear()
        .envs(vars.iter().copied())
        .args(args)
        .arg("--env-file")
        .arg(env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn storage(env: &Path) -> Storage {
    let args = TargetOptions {
        env_file: Some(env.to_path_buf()),
        ..Default::default()
    };
    let resolved = lsprobe::config::resolve(&args, &[]).expect("the env.list resolves");
    Storage::new(&resolved.target).expect("an adapter")
}

/// Every key under `prefix`.
async fn list(storage: &Storage, prefix: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut page = None;
    loop {
        let answer = storage
            .send(&Op::List {
                prefix: prefix.into(),
                limit: 1000,
                page: page.clone(),
            })
            .await
            .expect("the emulator answers");
        assert!(answer.status.is_success(), "{answer:?}");
        let listing = storage.parse_listing(&answer).unwrap();
        keys.extend(listing.objects.into_iter().map(|o| o.key));
        match listing.next_page {
            Some(p) => page = Some(p),
            None => return keys,
        }
    }
}

/// A run that measured: exit 0 (fast enough) or 1 (a slow verdict: the emulators on a busy
/// machine may cross a class's latency thresholds, which these tests do not judge).
fn measured(out: &Output, what: &str) {
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{what}: exit {:?}: {}",
        out.status.code(),
        text(&out.stderr)
    );
}

fn verdict(report: &serde_json::Value) -> &serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "load.verdict")
        .unwrap_or_else(|| panic!("no load.verdict in {report}"))
}

fn total(report: &serde_json::Value, field: &str) -> u64 {
    report["load"]["ops"]
        .as_object()
        .unwrap()
        .values()
        .map(|o| o[field].as_u64().unwrap())
        .sum()
}

/// The plan every copy runs: 90 requests of a mix that reads and writes, over 9 objects.
fn plan<'a>(folder: &'a str, dir: &'a Path) -> Vec<&'a str> {
    vec![
        "load",
        "--folder",
        folder,
        "--requests",
        "90",
        "--objects",
        "9",
        "--warmup",
        "0s",
        "--concurrency",
        "2",
        "--sizes",
        "4KiB",
        "--mix",
        "get=60,put=20,head=20",
        "--format",
        "json",
        "--report-dir",
        dir.to_str().unwrap(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_merge_to_one_runs_totals_and_leave_nothing() {
    for kind in [Kind::S3, Kind::Azure, Kind::Gcs] {
        let Some(env) = support::env_file(kind, S3User::Full) else {
            return;
        };
        let _turn = BUCKET.lock().await;
        three_shards_on(kind, &env).await;
    }
}

/// Three shards at once and one unsharded run of the same flags on `kind`'s emulator.
async fn three_shards_on(kind: Kind, env: &Path) {
    let env = env.to_path_buf();
    let folder = format!("shards-{}", uuid::Uuid::new_v4().simple());
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    // Three shards at once, two of them told by --shard, one as an Indexed Job pod is; one
    // on one thread, one on two, one on the default (the totals do not depend on threads).
    let children: Vec<_> = (0..3)
        .map(|i| {
            let mut args = plan(&folder, dirs[i].path());
            let index = i.to_string();
            if i < 2 {
                let shard = format!("{i}/3");
                let threads = (i + 1).to_string();
                args.extend(["--shard", &shard, "--threads", &threads]);
                spawn(&env, &args, &[])
            } else {
                spawn(
                    &env,
                    &args,
                    &[
                        ("JOB_COMPLETION_INDEX", &index),
                        ("LSPROBE_SHARD_COUNT", "3"),
                    ],
                )
            }
        })
        .collect();
    let outs: Vec<Output> = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect()
    })
    .await
    .unwrap();
    for (i, out) in outs.iter().enumerate() {
        measured(out, &format!("{kind} shard {i}"));
    }
    let paths: Vec<PathBuf> = (0..3).map(|i| dirs[i].path().join("report.json")).collect();
    let shards: Vec<serde_json::Value> = paths.iter().map(|p| read_json(p)).collect();
    let mut prefixes = Vec::new();
    for (i, r) in shards.iter().enumerate() {
        assert_eq!(r["load"]["shard"]["index"], i, "{}", r["load"]);
        assert_eq!(r["load"]["shard"]["count"], 3);
        assert_eq!(r["load"]["plan"]["requests"], 90, "the whole run's plan");
        assert_eq!(r["load"]["stop_reason"], "requests_done");
        // 90 over 3: 30 each; 9 objects: 3 each, written under the shard's own prefix.
        assert_eq!(total(r, "count"), 30, "{kind} shard {i}");
        let prefix = verdict(r)["evidence"]["run_prefix"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            prefix.starts_with(&format!("{folder}/.lsprobe/"))
                && prefix.ends_with(&format!("-shard{i}of3/")),
            "{prefix}"
        );
        assert!(
            r["cleanup"]["deleted"].as_u64().unwrap() >= 3,
            "{}",
            r["cleanup"]
        );
        assert_ne!(verdict(r)["status"], "error", "{kind}: {}", verdict(r));
        prefixes.push(prefix);
    }
    assert_eq!(
        prefixes.iter().collect::<BTreeSet<_>>().len(),
        3,
        "{prefixes:?}"
    );

    // One unsharded run of the same flags.
    let one = spawn(&env, &plan(&folder, dirs[3].path()), &[]);
    let out = tokio::task::spawn_blocking(move || one.wait_with_output().unwrap())
        .await
        .unwrap();
    measured(&out, &format!("{kind} unsharded"));
    let whole = read_json(&dirs[3].path().join("report.json"));
    assert!(whole["load"].get("shard").is_none(), "{}", whole["load"]);

    let merged_path = dirs[0].path().join("merged.json");
    let out = Command::new(env!("CARGO_BIN_EXE_lsprobe"))
        .env_clear()
        .args(["report", "merge", "-o", merged_path.to_str().unwrap()])
        .args(&paths)
        .output()
        .unwrap();
    measured(&out, &format!("{kind} merge"));
    let merged = read_json(&merged_path);
    assert_eq!(total(&merged, "count"), total(&whole, "count"));
    assert_eq!(total(&merged, "count"), 90);
    assert_eq!(total(&merged, "errors"), 0, "{}", merged["load"]);
    assert_eq!(merged["load"]["plan"], whole["load"]["plan"]);
    assert_eq!(merged["load"]["concurrency"], 6);
    assert_eq!(merged["load"]["stop_reason"], "requests_done");
    let shard_deleted: u64 = shards
        .iter()
        .map(|r| r["cleanup"]["deleted"].as_u64().unwrap())
        .sum();
    assert_eq!(merged["cleanup"]["deleted"], shard_deleted);

    // Two shards are not the run: merge names the missing one; a shard twice is refused.
    for (files, says) in [
        (vec![&paths[0], &paths[1]], "shard 2/3 is missing"),
        (vec![&paths[0], &paths[1], &paths[1]], "as "),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_lsprobe"))
            .env_clear()
            .args(["report", "merge", "-o", merged_path.to_str().unwrap()])
            .args(files)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains(says), "{}", text(&out.stderr));
    }

    // Nothing of the four runs is left in the folder.
    let storage = storage(&env);
    let left = list(&storage, &format!("{folder}/")).await;
    assert!(left.is_empty(), "{kind}: left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoterm_stops_before_the_cap_and_says_why() {
    let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let _turn = BUCKET.lock().await;
    let folder = format!("autoterm-{}", uuid::Uuid::new_v4().simple());
    let dir = tempfile::tempdir().unwrap();
    // An open loop at a steady 40/s on a small GET set: its throughput is as steady as the
    // schedule; the tolerance is wide so that a busy machine's p99 jitter does not keep it
    // running to the cap.
    let args = [
        "load",
        "--folder",
        &folder,
        "--autoterm",
        "--autoterm-window",
        "5s",
        "--autoterm-tolerance",
        "60",
        "--duration",
        "90s",
        "--rate",
        "40",
        "--warmup",
        "1s",
        "--concurrency",
        "4",
        "--objects",
        "4",
        "--sizes",
        "4KiB",
        "--mix",
        "get=100",
        "--format",
        "json",
        "--format",
        "markdown",
        "--format",
        "text",
        "--report-dir",
        dir.path().to_str().unwrap(),
    ];
    let child = spawn(&env, &args, &[]);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    measured(&out, "autoterm");
    let report = read_json(&dir.path().join("report.json"));
    let load = &report["load"];
    assert_eq!(load["stop_reason"], "autoterm_stable", "{load}");
    let measured = load["duration_s"].as_f64().unwrap();
    assert!(measured < 90.0, "stopped before the 90 s cap: {measured}");
    assert!(measured >= 5.0, "not before a full window: {measured}");
    assert!(
        load["dropped"].as_u64().unwrap() <= 2,
        "{}",
        load["dropped"]
    );
    let text_report = std::fs::read_to_string(dir.path().join("report.txt")).unwrap();
    assert!(
        text_report.contains("stopped: autoterm: throughput and p99 were stable"),
        "{text_report}"
    );
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(md.contains("Stopped: autoterm:"), "{md}");
    let storage = storage(&env);
    let left = list(&storage, &format!("{folder}/")).await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A loopback port that counts the connections made to it.
struct Sentinel(TcpListener);

impl Sentinel {
    fn new() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Sentinel(l)
    }

    fn url(&self) -> String {
        format!("http://{}", self.0.local_addr().unwrap())
    }

    fn connections(&self) -> usize {
        std::iter::from_fn(|| self.0.accept().ok()).count()
    }
}

#[test]
fn bad_shard_autoterm_and_threads_input_exits_2_naming_it_before_any_request() {
    let sentinel = Sentinel::new();
    let url = sentinel.url();
    let target = ["load", "--type", "s3", "--bucket", "b", "--endpoint", &url];
    let keys = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
    ];
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--shard", "3/2"], &[], "--shard"),
        (&["--shard", "0/0"], &[], "--shard"),
        (&["--shard", "x"], &[], "--shard"),
        (
            &[],
            &[
                ("JOB_COMPLETION_INDEX", "one"),
                ("LSPROBE_SHARD_COUNT", "3"),
            ],
            "JOB_COMPLETION_INDEX",
        ),
        (
            &[],
            &[("JOB_COMPLETION_INDEX", "3"), ("LSPROBE_SHARD_COUNT", "3")],
            "below the count",
        ),
        (
            &[],
            &[("JOB_COMPLETION_INDEX", "0"), ("LSPROBE_SHARD_COUNT", "x")],
            "LSPROBE_SHARD_COUNT",
        ),
        (&["--shard", "0/4", "--requests", "3"], &[], "--requests"),
        (&["--autoterm", "--requests", "100"], &[], "--autoterm"),
        (
            &["--autoterm", "--autoterm-tolerance", "0"],
            &[],
            "--autoterm-tolerance",
        ),
        (&["--threads", "0"], &[], "--threads 0"),
        (&["--threads", "-2"], &[], "--threads -2"),
        (&["--threads", "257"], &[], "--threads 257"),
    ];
    for (flags, vars, named) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_lsprobe"))
            .env_clear()
            .envs(keys)
            .envs(vars.iter().copied())
            .args(target)
            .args(*flags)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?} {vars:?}: {stderr}");
        assert!(stderr.contains(named), "{flags:?} {vars:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{flags:?}: nothing runs");
    }
    assert_eq!(sentinel.connections(), 0, "no request was sent");
}
