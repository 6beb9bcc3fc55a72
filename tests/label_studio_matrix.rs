//! The differential matrix: for each row of storage settings (a misconfiguration or an edge
//! value), a real Label Studio 1.23.2 behind nginx does what a user does (create a project,
//! import an image, open it) and `lsprobe check` checks the same settings. The test asserts
//! that they agree:
//!
//! - the upload fails in Label Studio (or it does not start, or it writes to its own disk)
//!   ⇔ lsprobe refuses the configuration (exit 2) or `permissions.put` does not pass;
//! - the media is broken in Label Studio ⇔ `permissions.get` or `presign.get` does not pass;
//! - the object is where lsprobe's resolved folder says (same key).
//!
//! Rows cover s3rver, moto with IAM users missing one action, and Azurite (through a settings
//! module, as Label Studio takes no Azure endpoint from its environment). GCS is left out:
//! Label Studio signs GCS media URLs through google.auth and the IAM signBlob API, which have no
//! loopback stand-in here. The agreement table is printed at the end.
mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use lsprobe::emulators::label_studio::LabelStudioOptions;
use lsprobe::emulators::{Emulators, Kind, Layout, S3User};
use support::emulators::{skip_or_fail, start_tied, test_state_dir};
use support::ls_matrix::{Outcome, Verdict, azurite_env, deploy, lsprobe_check, use_it};

/// One row: which emulator and user, and what is changed from the emulator's env.list.
struct Row {
    name: &'static str,
    kind: Kind,
    user: S3User,
    /// (variable, value): replaces the emulator's value, or is added.
    change: Vec<(&'static str, String)>,
}

fn row(name: &'static str, kind: Kind, change: &[(&'static str, &str)]) -> Row {
    Row {
        name,
        kind,
        user: S3User::Full,
        change: change.iter().map(|(k, v)| (*k, v.to_string())).collect(),
    }
}

fn iam(name: &'static str, user: S3User) -> Row {
    Row {
        name,
        kind: Kind::S3Iam,
        user,
        change: Vec::new(),
    }
}

fn rows(s3_endpoint: &str) -> Vec<Row> {
    let folder = "STORAGE_AWS_FOLDER";
    vec![
        row("s3rver, the guide's settings", Kind::S3, &[]),
        row(
            "S3 folder with a leading slash (/media)",
            Kind::S3,
            &[(folder, "/media")],
        ),
        row(
            "S3 folder with a double slash (media//x)",
            Kind::S3,
            &[(folder, "media//x")],
        ),
        row(
            "S3 folder with a trailing slash (media/)",
            Kind::S3,
            &[(folder, "media/")],
        ),
        row(
            "S3 endpoint with a trailing space",
            Kind::S3,
            &[("STORAGE_AWS_ENDPOINT_URL", &format!("{s3_endpoint} "))],
        ),
        row(
            "S3 region with a trailing space",
            Kind::S3,
            &[("STORAGE_AWS_REGION_NAME", "us-east-1 ")],
        ),
        row(
            "S3 bucket that does not exist",
            Kind::S3,
            &[("STORAGE_AWS_BUCKET_NAME", "no-such-bucket")],
        ),
        row(
            "STORAGE_TYPE=S3 (upper case)",
            Kind::S3,
            &[("STORAGE_TYPE", "S3")],
        ),
        row(
            "STORAGE_AWS_X_AMZ_EXPIRES=1h",
            Kind::S3,
            &[("STORAGE_AWS_X_AMZ_EXPIRES", "1h")],
        ),
        row(
            "STORAGE_AWS_S3_SIGNATURE_VERSION=S3V4",
            Kind::S3,
            &[("STORAGE_AWS_S3_SIGNATURE_VERSION", "S3V4")],
        ),
        iam("moto IAM, the guide's policy", S3User::Full),
        iam("moto IAM without s3:PutObject", S3User::NoPut),
        iam("moto IAM without s3:GetObject", S3User::NoGet),
        row("Azurite, the guide's settings", Kind::Azure, &[]),
        row(
            "Azure folder with a leading slash (/media)",
            Kind::Azure,
            &[("STORAGE_AZURE_FOLDER", "/media")],
        ),
        row(
            "Azure container in upper case",
            Kind::Azure,
            &[("STORAGE_AZURE_CONTAINER_NAME", "LSPROBE")],
        ),
        row(
            "Azure account key of another account",
            Kind::Azure,
            &[(
                "STORAGE_AZURE_ACCOUNT_KEY",
                "bm90LXRoZS1rZXktb2YtdGhpcy1hY2NvdW50",
            )],
        ),
    ]
}

/// The emulator's variables with the row's changes.
fn settings(emulators: &Emulators, r: &Row) -> Vec<(String, String)> {
    let mut pairs = emulators
        .env_list(r.kind, r.user)
        .expect("the emulator runs");
    for (k, v) in &r.change {
        match pairs.iter_mut().find(|(name, _)| name == k) {
            Some(pair) => pair.1 = v.clone(),
            None => pairs.push((k.to_string(), v.clone())),
        }
    }
    pairs
}

/// lsprobe's prediction from its verdict: (upload fails, media broken).
fn predicted(v: &Verdict) -> (bool, bool) {
    if v.code == 2 {
        return (true, true);
    }
    let failed = |id: &str| v.status(id) != "pass";
    (
        failed("permissions.put"),
        failed("permissions.get") || failed("presign.get"),
    )
}

/// The folder lsprobe resolved for an env.list (`config show`), as a key prefix.
fn lsprobe_folder_prefix(env_file: &Path) -> Option<String> {
    let out = assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .env_clear()
        .args(["config", "show", "--format", "json", "--env-file"])
        .arg(env_file)
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let folder = shown["target"]
        .as_array()?
        .iter()
        .find(|r| r["field"] == "folder")?["value"]
        .as_str()?
        .to_string();
    Some(if folder == "(bucket root)" {
        String::new()
    } else {
        format!("{folder}/")
    })
}

/// One line of the table.
struct Line {
    name: &'static str,
    label_studio: String,
    lsprobe: String,
    key: String,
    agree: bool,
}

/// How long one row may take (start, use, check) on a busy machine.
const ROW_DEADLINE: std::time::Duration = std::time::Duration::from_secs(900);

const SUITE: &str = "name = \"matrix\"\n[[check]]\nid = \"permissions.put\"\n[[check]]\nid = \"permissions.get\"\n[[check]]\nid = \"presign.get\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_studio_and_lsprobe_agree_on_every_row() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let state = test_state_dir("ls-matrix");
    let emulators = match start_tied(
        &[Kind::S3, Kind::S3Iam, Kind::Azure],
        state.join("emulators"),
    ) {
        Ok(e) => Arc::new(e),
        Err(reason) => return skip_or_fail(&reason),
    };
    if lsprobe::emulators::label_studio::nginx_program().is_none() {
        return skip_or_fail("nginx is not installed (tests/support/install-nginx.sh)");
    }
    let cache = Layout::with_state_dir(&state).unwrap().cache_dir;
    let token = format!("lsprobe-test-{}", uuid::Uuid::new_v4().simple());
    let base = LabelStudioOptions {
        storage_env: Vec::new(),
        use_nginx_for_uploads: None,
        data_dir: state.join("ls-data"),
        log: state.join("unused.log"),
        username: "lsprobe@example.com".into(),
        password: uuid::Uuid::new_v4().simple().to_string(),
        token: token.clone(),
    };
    std::fs::write(state.join("matrix.toml"), SUITE).unwrap();
    let s3_endpoint = emulators.endpoint(Kind::S3).expect("s3rver runs");
    let azurite = format!(
        "{}/devstoreaccount1",
        emulators.endpoint(Kind::Azure).expect("Azurite runs")
    );
    let rows = rows(&s3_endpoint);
    // The first Label Studio migrates the shared database; the others start on it in seconds,
    // a few at a time. Users act one row at a time (SQLite).
    let turn = Arc::new(tokio::sync::Mutex::new(()));
    let run_row = |i: usize, r: &Row| {
        let pairs = settings(&emulators, r);
        let dir = state.join(format!("row-{i:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        let env_file = dir.join("env.list");
        std::fs::write(&env_file, support::ls_matrix::render_quoted(&pairs)).unwrap();
        let mut ls_env: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(k, _)| k.starts_with("STORAGE_"))
            .collect();
        if r.kind == Kind::Azure {
            ls_env.extend(azurite_env(&state.join("settings"), &azurite));
        }
        let (cache, base, token, turn, state) = (
            cache.clone(),
            base.clone(),
            token.clone(),
            turn.clone(),
            state.clone(),
        );
        let (name, kind, s3) = (r.name, r.kind, s3_endpoint.clone());
        async move {
            let png = lsprobe::checks::label_studio::media::png(name);
            let deployed = deploy(&cache, &base, ls_env, &dir).await;
            let _turn = turn.lock().await;
            let outcome = match &deployed {
                Ok(d) => use_it(&d.url, &token, &png).await,
                Err(why) => Outcome::NoStart(why.clone()),
            };
            let suite = state.join("matrix.toml");
            let ls_url = deployed.as_ref().map(|d| d.url.clone()).ok();
            let (verdict, prefix) = tokio::task::spawn_blocking(move || {
                let mut args = vec!["--suite".to_string(), suite.to_string_lossy().into_owned()];
                if let Some(url) = ls_url {
                    args.extend(["--label-studio".to_string(), url]);
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let verdict = lsprobe_check(&env_file, &args, &[("LABEL_STUDIO_TOKEN", &token)]);
                (verdict, lsprobe_folder_prefix(&env_file))
            })
            .await
            .unwrap();
            let key = same_key(kind, &s3, &outcome, &verdict, prefix.as_deref(), &png).await;
            drop(deployed);
            line(name, &outcome, &verdict, key)
        }
    };
    let first = run_row(0, &rows[0]).await;
    // Each row is a task of its own (at most three Label Studios at a time), with a deadline:
    // a row that hangs is a failed row, not a hung test.
    let slots = Arc::new(tokio::sync::Semaphore::new(3));
    let mut tasks = Vec::new();
    for (i, r) in rows.iter().enumerate().skip(1) {
        let (name, row_future, slots) = (r.name, run_row(i, r), slots.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.expect("open");
            let started = Instant::now();
            let line = tokio::time::timeout(ROW_DEADLINE, row_future)
                .await
                .unwrap_or_else(|_| Line {
                    name,
                    label_studio: format!("no answer within {ROW_DEADLINE:?}"),
                    lsprobe: "-".into(),
                    key: "n/a".into(),
                    agree: false,
                });
            eprintln!("row {i:02} ({name}) done in {:.0?}", started.elapsed());
            line
        }));
    }
    let mut lines = vec![first];
    for task in tasks {
        lines.push(task.await.expect("a row does not panic"));
    }
    print_table(&lines, started.elapsed());
    let disagree: Vec<&str> = lines.iter().filter(|l| !l.agree).map(|l| l.name).collect();
    assert!(disagree.is_empty(), "disagreement on: {disagree:?}");
    assert!(lines.len() >= 12);
}

/// Whether the object Label Studio wrote is where lsprobe's folder says: read directly from
/// s3rver (which takes unsigned requests); elsewhere `label_studio.upload` read it back at
/// lsprobe's key (it compares the bytes). "n/a" when nothing reached the bucket or the row's
/// user may not read.
async fn same_key(
    kind: Kind,
    s3_endpoint: &str,
    outcome: &Outcome,
    verdict: &Verdict,
    prefix: Option<&str>,
    png: &[u8],
) -> Option<bool> {
    let Outcome::Uploaded { filepath, .. } = outcome else {
        return None;
    };
    let prefix = prefix?;
    if kind == Kind::S3 {
        let url = format!("{s3_endpoint}/lsprobe/{prefix}{filepath}");
        let got = reqwest::get(&url).await.ok()?;
        let same = got.status().is_success() && got.bytes().await.ok()?.as_ref() == png;
        return Some(same);
    }
    match verdict.status("label_studio.upload") {
        "pass" => {
            let key = verdict.evidence("label_studio.upload")?["key"].as_str()?;
            Some(key.starts_with(&format!("{prefix}upload/")))
        }
        _ if verdict.status("permissions.get") != "pass" => None,
        _ => Some(false),
    }
}

fn line(name: &'static str, outcome: &Outcome, verdict: &Verdict, key: Option<bool>) -> Line {
    let ls_upload_fails = !outcome.upload_ok();
    let ls_media_broken = outcome.media_ok() == Some(false);
    let (upload_fails, media_broken) = predicted(verdict);
    let agree = upload_fails == ls_upload_fails
        && (ls_upload_fails || media_broken == ls_media_broken)
        && key != Some(false);
    let lsprobe = if verdict.code == 2 {
        let reason = verdict
            .stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        // Drop the file name: `error: NAME = `value` (FILE:LINE (NAME)): reason`.
        let reason = match reason.split_once("))") {
            Some((head, rest)) => {
                let name = head.trim_start_matches("error: ");
                let name = name.split(" (").next().unwrap_or(name);
                format!("{name}: {}", rest.trim_start_matches(':').trim())
            }
            None => reason.to_string(),
        };
        format!(
            "exit 2: {}",
            lsprobe::checks::label_studio::api::excerpt(&reason, 90)
        )
    } else {
        format!(
            "exit {}: put {}, get {}, presign {}",
            verdict.code,
            verdict.status("permissions.put"),
            verdict.status("permissions.get"),
            verdict.status("presign.get")
        )
    };
    Line {
        name,
        label_studio: outcome.cell(),
        lsprobe,
        key: match key {
            Some(true) => "same".into(),
            Some(false) => "DIFFERS".into(),
            None => "n/a".into(),
        },
        agree,
    }
}

fn print_table(lines: &[Line], took: std::time::Duration) {
    let mut out = format!(
        "\nLabel Studio 1.23.2 vs lsprobe ({} rows, {:.0?})\n\n| row | Label Studio | lsprobe | key | agree |\n|---|---|---|---|---|\n",
        lines.len(),
        took
    );
    for l in lines {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            l.name,
            l.label_studio,
            l.lsprobe,
            l.key,
            if l.agree { "yes" } else { "NO" }
        ));
    }
    // Also kept as a file: `cargo test` shows a passing test's output only with --nocapture.
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("label_studio_matrix.md");
    let _ = std::fs::write(&file, &out);
    eprintln!("{out}\n(also in {})", file.display());
}
