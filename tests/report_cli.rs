//! `lsprobe report ...` and `--format markdown` as a user runs them, on reports of real runs
//! against the emulators: what a CI job summary shows, merged parallel runs, and comparisons.
mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use lsprobe::emulators::{Kind, S3User};

fn lsprobe(args: &[&str], paths: &[&Path]) -> Output {
    assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .env_clear()
        .args(args)
        .args(paths)
        .timeout(Duration::from_secs(180))
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A short, small `lsprobe load` writing every format into `dir`.
fn load_into(env: &Path, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "load",
        "--duration",
        "2s",
        "--warmup",
        "0s",
        "--concurrency",
        "2",
        "--objects",
        "4",
        "--sizes",
        "4KiB",
        "--mix",
        "get=80,put=20",
    ];
    args.extend_from_slice(extra);
    args.extend(["--report-dir", dir.to_str().unwrap(), "--env-file"]);
    lsprobe(&args, &[env])
}

fn s3_env() -> Option<PathBuf> {
    support::env_file(Kind::S3, S3User::Full)
}

#[test]
fn markdown_summary_of_a_check_and_of_its_json_report_agree() {
    let Some(env) = s3_env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = lsprobe(
        &[
            "check",
            "--report-dir",
            dir.path().to_str().unwrap(),
            "--env-file",
        ],
        &[&env],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(written.starts_with("## lsprobe: s3 bucket "), "{written}");
    assert!(written.contains("✅ passed"), "{written}");
    assert!(
        written.contains("| ✅ pass | permissions.list |"),
        "{written}"
    );

    // `lsprobe report markdown` renders the same summary from the JSON report.
    let json = dir.path().join("report.json");
    let out = lsprobe(&["report", "markdown"], &[&json]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), written);

    // `--format markdown` alone prints it, and `-o` writes it.
    let out = lsprobe(&["check", "--format", "markdown", "--env-file"], &[&env]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("## lsprobe: s3 bucket "));
    let md = dir.path().join("two.md");
    let out = lsprobe(
        &["report", "markdown", "-o", md.to_str().unwrap()],
        &[&json, &json],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let two = std::fs::read_to_string(&md).unwrap();
    assert_eq!(two.matches("## lsprobe: ").count(), 2, "{two}");
}

#[test]
fn markdown_of_a_load_run_shows_the_figures_and_the_verdict() {
    let Some(env) = s3_env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = load_into(&env, dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(md.contains("### Load: closed loop, 2 workers"), "{md}");
    assert!(md.contains("\n| get | "), "{md}");
    assert!(md.contains("\n| put | "), "{md}");
    assert!(md.contains("**Verdict: ✅ fast enough**"), "{md}");
}

#[test]
fn a_file_that_is_not_a_report_is_bad_input_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("notes.json");
    std::fs::write(&bad, "[1, 2").unwrap();
    let out = lsprobe(&["report", "markdown"], &[&bad]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("notes.json:1:"),
        "{}",
        text(&out.stderr)
    );
    let out = lsprobe(&["report", "markdown"], &[&dir.path().join("absent.json")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("absent.json"),
        "{}",
        text(&out.stderr)
    );
}
