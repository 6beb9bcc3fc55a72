//! `lsprobe config show` as a user runs it: exit codes, sources, and messages that name the
//! input and the fix.
use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn lsprobe() -> Command {
    let mut cmd = Command::cargo_bin("lsprobe").unwrap();
    cmd.env_clear();
    cmd
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn shows_the_target_with_sources_and_exits_0() {
    lsprobe()
        .args(["config", "show", "--env-file"])
        .arg(fixture("s3-compose.env.list"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("ls-media"))
        .stdout(predicate::str::contains(
            "s3-compose.env.list:5 (STORAGE_AWS_BUCKET_NAME)",
        ))
        .stdout(predicate::str::contains("***"))
        .stdout(predicate::str::contains("fixture-secret-access-key-s3-0002").not());
}

#[test]
fn json_format_has_target_rows_and_warnings() {
    let out = lsprobe()
        .args(["config", "show", "--format", "json", "--values"])
        .arg(fixture("s3-irsa.values.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bucket = v["target"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["field"] == "bucket")
        .unwrap();
    assert_eq!(bucket["value"], "ls-media");
    assert!(
        bucket["source"]
            .as_str()
            .unwrap()
            .contains("global.persistence.config.s3.bucket")
    );
    assert!(v["warnings"][0].as_str().unwrap().contains("default chain"));
}

fn bad(args: &[&str], expect: &[&str]) {
    let assert = lsprobe()
        .args(["config", "show"])
        .args(args)
        .assert()
        .code(2);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    for e in expect {
        assert!(stderr.contains(e), "stderr lacks {e:?}:\n{stderr}");
    }
}

#[test]
fn no_storage_type() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "env.list", "STORAGE_AWS_BUCKET_NAME=b\n");
    bad(
        &["--env-file", f.to_str().unwrap()],
        &["no storage type", "STORAGE_TYPE", "--type"],
    );
}

#[test]
fn unknown_type_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "env.list", "# x\nSTORAGE_TYPE=minio\n");
    bad(
        &["--env-file", f.to_str().unwrap()],
        &["env.list:2", "minio", "s3, gcs or azure"],
    );
}

#[test]
fn volume_type_explains_there_is_no_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "v.yaml",
        "global:\n  persistence:\n    enabled: true\n    type: volume\n",
    );
    bad(&["--values", f.to_str().unwrap()], &["v.yaml:4", "volume"]);
}

#[test]
fn no_bucket() {
    bad(
        &["--type", "gcs"],
        &["no bucket", "STORAGE_GCS_BUCKET_NAME", "--bucket"],
    );
    bad(
        &["--type", "azure"],
        &["no container", "STORAGE_AZURE_CONTAINER_NAME"],
    );
}

#[test]
fn unreadable_file() {
    bad(
        &["--env-file", "/nonexistent/env.list"],
        &["--env-file /nonexistent/env.list", "cannot read"],
    );
    bad(
        &["--values", "/nonexistent/v.yaml"],
        &["--values /nonexistent/v.yaml"],
    );
}

#[test]
fn malformed_env_list_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "env.list",
        "STORAGE_TYPE=s3\nthis is not a variable\n",
    );
    bad(
        &["--env-file", f.to_str().unwrap()],
        &["env.list:2", "KEY=VALUE"],
    );
}

#[test]
fn invalid_yaml_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "v.yaml",
        "global:\n  persistence:\n    type: s3\n   config: [\n",
    );
    bad(
        &["--values", f.to_str().unwrap()],
        &["v.yaml:", "invalid YAML"],
    );
}

#[test]
fn invalid_credentials_json() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "v.yaml",
        "global:\n  persistence:\n    type: gcs\n    config:\n      gcs:\n        bucket: b\n        applicationCredentialsJSON: \"{not json\"\n",
    );
    bad(
        &["--values", f.to_str().unwrap()],
        &["v.yaml:7", "applicationCredentialsJSON", "not valid JSON"],
    );
}

#[test]
fn invalid_object_parameters_json() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "env.list",
        "STORAGE_TYPE=s3\nSTORAGE_AWS_BUCKET_NAME=b\nSTORAGE_AWS_OBJECT_PARAMETERS={\"ServerSideEncryption\":\n",
    );
    bad(
        &["--env-file", f.to_str().unwrap()],
        &[
            "env.list:3",
            "STORAGE_AWS_OBJECT_PARAMETERS",
            "not valid JSON",
        ],
    );
}

#[test]
fn bad_url() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "env.list",
        "STORAGE_TYPE=s3\nSTORAGE_AWS_BUCKET_NAME=b\nSTORAGE_AWS_ENDPOINT_URL=minio:9000\n",
    );
    bad(
        &["--env-file", f.to_str().unwrap()],
        &["env.list:3", "STORAGE_AWS_ENDPOINT_URL", "https://host"],
    );
    bad(
        &["--type", "s3", "--bucket", "b", "--endpoint", "ftp://x"],
        &["flag --endpoint", "scheme"],
    );
}

#[test]
fn missing_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    bad(
        &[
            "--values",
            fixture("s3-existing-secret.values.yaml").to_str().unwrap(),
            "--secret-dir",
            dir.path().to_str().unwrap(),
        ],
        &[
            "ls-s3/accesskey",
            "s3-existing-secret.values.yaml:7",
            "accessKeyExistingSecret",
        ],
    );
    bad(
        &[
            "--values",
            fixture("s3-existing-secret.values.yaml").to_str().unwrap(),
        ],
        &["--secret-dir"],
    );
}

#[test]
fn key_and_sas_both_set() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "env.list",
        "STORAGE_TYPE=azure\nSTORAGE_AZURE_ACCOUNT_NAME=a\nSTORAGE_AZURE_ACCOUNT_KEY=a2V5\nSTORAGE_AZURE_CONTAINER_NAME=c\nLSPROBE_AZURE_SAS_TOKEN=sv=2024&sig=x\n",
    );
    bad(
        &["--env-file", f.to_str().unwrap()],
        &["env.list:3", "env.list:5", "keep one"],
    );
}

#[test]
fn one_s3_key_without_the_other() {
    bad_env(
        &[
            ("STORAGE_TYPE", "s3"),
            ("STORAGE_AWS_BUCKET_NAME", "b"),
            ("STORAGE_AWS_ACCESS_KEY_ID", "AKIA"),
        ],
        &["only one of", "environment STORAGE_AWS_ACCESS_KEY_ID"],
    );
}

fn bad_env(env: &[(&str, &str)], expect: &[&str]) {
    let mut cmd = lsprobe();
    cmd.args(["config", "show"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let assert = cmd.assert().code(2);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    for e in expect {
        assert!(stderr.contains(e), "stderr lacks {e:?}:\n{stderr}");
    }
}

#[test]
fn unknown_storage_variable_warns_with_did_you_mean() {
    lsprobe()
        .args(["config", "show", "--type", "s3", "--bucket", "b"])
        .env("STORAGE_AWS_BUCKET", "typo")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "did you mean STORAGE_AWS_BUCKET_NAME",
        ));
}

#[test]
fn disabled_persistence_warns() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "v.yaml",
        "global:\n  persistence:\n    enabled: false\n    type: s3\n    config:\n      s3:\n        bucket: b\n",
    );
    lsprobe()
        .args(["config", "show", "--values"])
        .arg(&f)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "global.persistence.enabled is false",
        ));
}

#[test]
fn bad_flag_is_exit_2() {
    lsprobe()
        .args(["config", "show", "--no-such-flag"])
        .assert()
        .code(2);
}

/// Values Label Studio 1.23.2 refuses (it does not start, or every upload answers 500) are
/// refused with its reason and the line, exit 2; values it normalises are shown normalised.
/// docs/configuration.md has the table; tests/label_studio_matrix.rs proves rows of it.
#[test]
fn values_label_studio_refuses_are_refused_with_its_reason_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let base = "STORAGE_TYPE=s3\nSTORAGE_AWS_BUCKET_NAME=b\nSTORAGE_AWS_REGION_NAME=eu-west-1\n";
    let cases = [
        ("STORAGE_AWS_FOLDER=/media", "leading slash"),
        ("STORAGE_AWS_FOLDER=media//x", "Attempted access"),
        (
            "STORAGE_AWS_ENDPOINT_URL=\"http://127.0.0.1:9 \"",
            "not a valid URI",
        ),
        ("STORAGE_AWS_REGION_NAME=\"eu-west-1 \"", "InvalidRegion"),
        ("STORAGE_AWS_X_AMZ_EXPIRES=1h", "does not start"),
        ("STORAGE_AWS_X_AMZ_EXPIRES=", "does not start"),
        ("STORAGE_AWS_S3_USE_SSL=y", "Incorrect bool value"),
        (
            "STORAGE_AWS_S3_SIGNATURE_VERSION=S3V4",
            "Unknown Signature Version",
        ),
        ("STORAGE_TYPE=S3", "local disk"),
    ];
    for (line, reason) in cases {
        let path = write(&dir, "env.list", &format!("{base}{line}\n"));
        let out = lsprobe()
            .args(["config", "show", "--env-file"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{line}: {stderr}");
        assert!(stderr.contains(reason), "{line}: {stderr}");
        assert!(stderr.contains("env.list:4"), "{line}: {stderr}");
    }
    for (line, folder) in [
        ("STORAGE_AWS_FOLDER=media/", "media"),
        ("STORAGE_AWS_FOLDER=", "(bucket root)"),
    ] {
        let path = write(&dir, "env.list", &format!("{base}{line}\n"));
        lsprobe()
            .args(["config", "show", "--env-file"])
            .arg(&path)
            .env("LABEL_STUDIO_STORAGE_AWS_FOLDER", "ignored-by-the-file")
            .assert()
            .code(0)
            .stdout(predicate::str::contains(format!(
                "folder             {folder}"
            )));
    }
}
