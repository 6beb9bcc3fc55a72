//! Every file lsprobe reads, fed hostile bytes the way a user's shell would hand them over:
//! `lsprobe config show` exits 0 or 2 (never a panic, abort or hang), within a time and
//! memory ceiling, and never prints the secret planted among the bytes. Plus the fixed cases
//! the fault campaign found: `/dev/zero` as any file, YAML nested 10,000 deep, an
//! `existingSecret` climbing out of `--secret-dir`, lax and huge flag values.
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;

const SECRET: &str = "Zq9SecretTail0f3D7distinctive";

/// Runs lsprobe under a 1 GiB address-space limit and a 30 s timeout, environment cleared
/// but for `env`.
fn lsprobe(args: &[&str], files: &[&Path], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = assert_cmd::Command::new("sh");
    cmd.env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut line = format!(
        "ulimit -v 1048576; exec '{}'",
        env!("CARGO_BIN_EXE_lsprobe")
    );
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    for f in files {
        line.push_str(&format!(" '{}'", f.display()));
    }
    let out = cmd
        .args(["-c", &line])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

fn planted(before: &[u8], secret_line: &str, after: &[u8]) -> Vec<u8> {
    let mut bytes = before.to_vec();
    bytes.push(b'\n');
    bytes.extend_from_slice(secret_line.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(after);
    bytes
}

fn assert_clean(code: Option<i32>, out: &str) -> Result<(), TestCaseError> {
    prop_assert!(matches!(code, Some(0) | Some(2)), "exit {code:?}: {out}");
    prop_assert!(!out.contains("panicked"), "{out}");
    // Neither the secret nor its wrapped second half.
    prop_assert!(!out.contains(&SECRET[12..]), "secret shown: {out}");
    Ok(())
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        "[ -~\t\r\n]{0,300}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn env_files(before in bytes(), after in bytes(), wrapped in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let line = if wrapped {
            format!("STORAGE_AWS_SECRET_ACCESS_KEY={}\n{}", &SECRET[..12], &SECRET[12..])
        } else {
            format!("STORAGE_AWS_SECRET_ACCESS_KEY={SECRET}")
        };
        let f = file(dir.path(), "env.list", &planted(&before, &line, &after));
        let (code, out) = lsprobe(&["config", "show", "-v", "--env-file"], &[&f], &[]);
        assert_clean(code, &out)?;
    }

    #[test]
    fn values_files(before in bytes(), after in bytes()) {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "global:\n  persistence:\n    type: s3\n    config:\n      s3:\n        bucket: b\n        secretKey: {SECRET}"
        );
        let f = file(dir.path(), "values.yaml", &planted(&before, &yaml, &after));
        let (code, out) = lsprobe(&["config", "show", "-v", "--values"], &[&f], &[]);
        assert_clean(code, &out)?;
    }

    #[test]
    fn mounted_secret_files(content in bytes()) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = content.clone();
        bytes.extend_from_slice(SECRET.as_bytes());
        file(dir.path(), "secrets/s3-keys/secretkey", &bytes);
        let yaml = "global:\n  persistence:\n    type: s3\n    config:\n      s3:\n        bucket: b\n        accessKey: AKIDPROPS\n        secretKeyExistingSecret: s3-keys\n        secretKeyExistingSecretKey: secretkey\n";
        let f = file(dir.path(), "values.yaml", yaml.as_bytes());
        let secrets = dir.path().join("secrets");
        let (code, out) = lsprobe(
            &["config", "show", "-v", "--secret-dir"],
            &[&secrets, Path::new("--values"), &f],
            &[],
        );
        assert_clean(code, &out)?;
    }

    #[test]
    fn gcs_credentials_files(content in bytes()) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = content.clone();
        bytes.extend_from_slice(format!("{{\"private_key\": \"{SECRET}\"}}").as_bytes());
        let f = file(dir.path(), "sa.json", &bytes);
        let path = f.display().to_string();
        let (code, out) = lsprobe(
            &["config", "show", "-v"],
            &[],
            &[
                ("STORAGE_TYPE", "gcs"),
                ("STORAGE_GCS_BUCKET_NAME", "b"),
                ("GOOGLE_APPLICATION_CREDENTIALS", &path),
            ],
        );
        assert_clean(code, &out)?;
    }

    #[test]
    fn suite_files_never_panic(text in "[ -~\n]{0,400}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = lsprobe::checks::suite::Suite::parse(&text, "x.toml");
        let _ = lsprobe::load::suite::CapacitySuite::parse(&text, "x.toml");
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = lsprobe::checks::suite::Suite::parse(&lossy, "x.toml");
        let _ = lsprobe::load::suite::CapacitySuite::parse(&lossy, "x.toml");
    }
}

/// Arguments, file arguments and environment of one run.
type Case<'a> = (Vec<&'a str>, Vec<&'a Path>, Vec<(&'a str, &'a str)>);

#[test]
fn dev_zero_as_any_file_is_bad_input() {
    let zero = Path::new("/dev/zero");
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<Case> = vec![
        (vec!["config", "show", "--env-file"], vec![zero], vec![]),
        (vec!["config", "show", "--values"], vec![zero], vec![]),
        (
            vec!["config", "show"],
            vec![],
            vec![
                ("STORAGE_TYPE", "gcs"),
                ("STORAGE_GCS_BUCKET_NAME", "b"),
                ("GOOGLE_APPLICATION_CREDENTIALS", "/dev/zero"),
            ],
        ),
        (
            vec!["load", "--suite", "/dev/zero"],
            vec![],
            vec![("STORAGE_TYPE", "s3"), ("STORAGE_AWS_BUCKET_NAME", "b")],
        ),
    ];
    for (args, files, env) in &cases {
        let (code, out) = lsprobe(args, files, env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {out}");
        assert!(out.contains("/dev/zero"), "{args:?}: {out}");
    }
    // A mounted secret that is /dev/zero.
    std::fs::create_dir_all(dir.path().join("s/keys")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("s/keys/secretkey")).unwrap();
    let yaml = "global:\n  persistence:\n    type: s3\n    config:\n      s3:\n        bucket: b\n        secretKeyExistingSecret: keys\n        secretKeyExistingSecretKey: secretkey\n";
    let f = file(dir.path(), "v.yaml", yaml.as_bytes());
    let s = dir.path().join("s");
    let (code, out) = lsprobe(
        &["config", "show", "--secret-dir"],
        &[&s, Path::new("--values"), &f],
        &[],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("secretkey"), "{out}");
}

#[test]
fn deeply_nested_yaml_is_bad_input_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let flow = format!("a: {}", "[".repeat(10_000));
    let mut block = String::new();
    for i in 0..900 {
        block.push_str(&" ".repeat(i));
        block.push_str("k:\n");
    }
    for (name, text) in [("flow.yaml", flow), ("block.yaml", block)] {
        let f = file(dir.path(), name, text.as_bytes());
        let (code, out) = lsprobe(&["config", "show", "--values"], &[&f], &[]);
        assert_eq!(code, Some(2), "{name}: {out}");
        assert!(out.contains("levels deep"), "{name}: {out}");
    }
}

#[test]
fn an_existing_secret_cannot_climb_out_of_the_secret_dir() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "global:\n  persistence:\n    type: s3\n    config:\n      s3:\n        bucket: b\n        secretKeyExistingSecret: ../../../../dev\n        secretKeyExistingSecretKey: zero\n";
    let f = file(dir.path(), "v.yaml", yaml.as_bytes());
    let s = dir.path().join("secrets");
    std::fs::create_dir_all(&s).unwrap();
    let (code, out) = lsprobe(
        &["config", "show", "--secret-dir"],
        &[&s, Path::new("--values"), &f],
        &[],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("outside --secret-dir"), "{out}");
    assert!(out.contains("v.yaml:7"), "names the line: {out}");
}

#[test]
fn lax_and_huge_flag_values_are_refused_and_not_echoed_whole() {
    let huge = "get=1,".repeat(20_000); // 120 KB
    for (args, flag) in [
        (vec!["--mix", "get=70,get=30"], "--mix"),
        (vec!["--mix", "get=70,,put=30"], "--mix"),
        (vec!["--size", "4KiB:50,"], "--size"),
        (vec!["--size", "-1"], "--size"),
        (vec!["--objects", "99999999999"], "--objects"),
        (vec!["--rate", "99999999999"], "--rate"),
        (vec!["--concurrency", "-1"], "--concurrency"),
        (vec!["--mix", huge.as_str()], "--mix"),
    ] {
        let mut full = vec!["load"];
        full.extend(&args);
        let (code, out) = lsprobe(&full, &[], &[]);
        assert_eq!(code, Some(2), "{args:?}: {out}");
        assert!(out.contains(flag), "{args:?}: {out}");
        assert!(out.len() < 4_000, "{flag}: {} bytes echoed", out.len());
    }
    // A huge value inside a file is not echoed whole either.
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "STORAGE_TYPE=s3\nSTORAGE_AWS_BUCKET_NAME=b\nSTORAGE_AWS_X_AMZ_EXPIRES={}\n",
        "9x".repeat(400_000)
    );
    let f = file(dir.path(), "env.list", text.as_bytes());
    let (code, out) = lsprobe(&["config", "show", "--env-file"], &[&f], &[]);
    assert_eq!(code, Some(2), "{}", &out[..out.len().min(500)]);
    assert!(out.len() < 4_000, "{} bytes echoed", out.len());
}
