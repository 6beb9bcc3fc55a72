//! `upload.*` against real emulators, plain and behind TLS (certificates made at test time):
//! uploads sent exactly as Label Studio's boto3 sends them, read back and compared; multipart
//! uploads; aborting them; Azure's create-only upload; and `STORAGE_AWS_S3_VERIFY` read as
//! Label Studio reads it.
mod support;

use std::path::{Path, PathBuf};

use lsprobe::emulators::{Kind, S3User};
use support::check::{CheckRun, check, edited_env_file};
use support::tls::{pki, tls_front};

/// 17 MiB: parts of 8, 8 and 1 MiB.
const MULTIPART_SIZE: u64 = 17 * 1024 * 1024;

/// A suite of the three upload checks.
fn upload_suite() -> PathBuf {
    let dir = support::test_state_dir("suites");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("uploads.toml");
    let text = format!(
        "name = \"uploads\"\n\n[[check]]\nid = \"upload.checksum_roundtrip\"\nobject_size = \
         57\n\n[[check]]\nid = \"upload.multipart\"\nobject_size = {MULTIPART_SIZE}\n\n\
         [[check]]\nid = \"upload.abort\"\n"
    );
    let tmp = dir.join(format!(".uploads-{:?}.tmp", std::thread::current().id()));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn run_uploads(env: &Path) -> CheckRun {
    let suite = upload_suite();
    let run = check(env, &["--suite", suite.to_str().unwrap()]);
    if std::env::var_os("LSPROBE_TEST_DUMP").is_some() {
        eprintln!("{}: {:#}", env.display(), run.report["checks"]);
    }
    run
}

/// The env.list of `kind` (as `user`) pointed at a TLS front of it, trusting the test CA.
fn behind_tls(kind: Kind, user: S3User, verify: Option<&str>) -> Option<PathBuf> {
    let env = support::env_file(kind, user)?;
    let port = support::emulators()?.port(kind).expect("runs");
    let front = tls_front(port);
    let bundle = pki().ca_bundle.to_string_lossy().into_owned();
    let endpoint = format!("https://127.0.0.1:{front}");
    let verify = verify.unwrap_or(&bundle);
    let name = format!(
        "{kind}-{}-tls-{}.list",
        user.name(),
        verify.len() + verify.bytes().map(usize::from).sum::<usize>()
    );
    Some(edited_env_file(
        &env,
        &[
            ("STORAGE_AWS_ENDPOINT_URL", Some(&endpoint)),
            ("STORAGE_AWS_S3_VERIFY", Some(verify)),
        ],
        &name,
    ))
}

fn assert_no_leftovers(run: &CheckRun) {
    assert_eq!(
        run.report["cleanup"]["leftover"].as_array().unwrap().len(),
        0,
        "{}\n{}",
        run.report["cleanup"],
        run.stderr
    );
}

fn assert_multipart_passed(run: &CheckRun, transfer: &str) {
    let m = run.check("upload.multipart");
    assert_eq!(m["status"], "pass", "{m}\n{}", run.stderr);
    let figures = &m["evidence"]["multipart"];
    assert_eq!(figures["object_size"], MULTIPART_SIZE);
    assert_eq!(figures["part_size"], 8 * 1024 * 1024);
    assert_eq!(figures["parts"], 3);
    assert!(
        figures["most_parts_in_flight"].as_u64().unwrap() >= 2,
        "{m}"
    );
    assert_eq!(figures["transfer"], transfer);
}

#[test]
fn s3rver_plain_http_uploads_pass() {
    let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let run = run_uploads(&env);
    let c = run.check("upload.checksum_roundtrip");
    assert_eq!(c["status"], "pass", "{c}\n{}", run.stderr);
    assert_eq!(c["evidence"]["transfer"], "checksum_header");
    assert_multipart_passed(&run, "checksum_header");
    // s3rver 3.7.1 has no AbortMultipartUpload: a warning, not a failure.
    let a = run.check("upload.abort");
    assert_eq!(a["status"], "warn", "{a}");
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .contains("AbortMultipartUpload"),
        "{a}"
    );
    assert_eq!(run.code, 0, "{}", run.report);
    assert_no_leftovers(&run);
    // The multipart object and the small one were written and deleted.
    assert!(run.report["cleanup"]["deleted"].as_u64().unwrap() >= 2);
}

#[test]
fn s3rver_behind_tls_is_caught_storing_the_chunk_framing() {
    let Some(env) = behind_tls(Kind::S3, S3User::Full, None) else {
        return;
    };
    let run = run_uploads(&env);
    let c = run.check("upload.checksum_roundtrip");
    assert_eq!(c["status"], "fail", "{c}\n{}", run.stderr);
    assert_eq!(c["evidence"]["transfer"], "aws_chunked_trailer");
    assert_eq!(c["evidence"]["stored_framing"], true, "{c}");
    // 57 bytes sent, 99 stored: the same figures as Label Studio against s3rver over TLS.
    assert_eq!(c["evidence"]["bytes_written"], 57);
    assert_eq!(c["evidence"]["bytes_read"], 99);
    let message = c["message"].as_str().unwrap();
    assert!(
        message.contains("mishandles aws-chunked/trailer uploads"),
        "{message}"
    );
    let fix = c["remediation"].as_str().unwrap();
    assert!(
        fix.contains("AWS_REQUEST_CHECKSUM_CALCULATION=when_required"),
        "{fix}"
    );
    assert!(fix.contains("upgrade the S3-compatible server"), "{fix}");
    // Its multipart uploads are corrupted the same way.
    let m = run.check("upload.multipart");
    assert_eq!(m["status"], "fail", "{m}");
    assert_eq!(m["evidence"]["stored_framing"], true, "{m}");
    assert_eq!(run.code, 1);
    assert_no_leftovers(&run);
}

#[test]
fn moto_behind_tls_passes_the_https_upload_path() {
    let Some(env) = behind_tls(Kind::S3Iam, S3User::Full, None) else {
        return;
    };
    let run = run_uploads(&env);
    let c = run.check("upload.checksum_roundtrip");
    assert_eq!(c["status"], "pass", "{c}\n{}", run.stderr);
    assert_eq!(c["evidence"]["transfer"], "aws_chunked_trailer");
    assert_multipart_passed(&run, "aws_chunked_trailer");
    assert_eq!(run.code, 0, "{:?}", run.statuses());
    assert_no_leftovers(&run);
}

#[test]
fn moto_guide_policy_passes_multipart_and_warns_about_abort() {
    let Some(env) = support::env_file(Kind::S3Iam, S3User::Full) else {
        return;
    };
    let run = run_uploads(&env);
    assert_eq!(run.check("upload.checksum_roundtrip")["status"], "pass");
    assert_multipart_passed(&run, "checksum_header");
    let a = run.check("upload.abort");
    assert_eq!(a["status"], "warn", "{a}");
    assert_eq!(a["evidence"]["outcome"], "denied");
    let fix = a["remediation"].as_str().unwrap();
    assert!(fix.contains("s3:AbortMultipartUpload"), "{fix}");
    assert!(fix.contains("AbortIncompleteMultipartUpload"), "{fix}");
    // What could not be aborted is named; it is not a key, so cleanup has nothing left.
    assert!(
        a["evidence"]["incomplete_upload"]["upload_id"]
            .as_str()
            .is_some_and(|u| !u.is_empty()),
        "{a}"
    );
    assert!(
        a["message"].as_str().unwrap().contains("not an object"),
        "{a}"
    );
    assert_eq!(
        run.code,
        0,
        "warnings do not fail the run: {:?}",
        run.statuses()
    );
    assert_no_leftovers(&run);
}

#[test]
fn moto_without_put_object_names_it_for_create_multipart_upload() {
    let Some(env) = support::env_file(Kind::S3Iam, S3User::NoPut) else {
        return;
    };
    let run = run_uploads(&env);
    let m = run.check("upload.multipart");
    assert_eq!(m["status"], "fail", "{m}");
    assert_eq!(m["evidence"]["step"], "CreateMultipartUpload");
    assert_eq!(m["evidence"]["outcome"], "denied");
    let fix = m["remediation"].as_str().unwrap();
    assert!(
        fix.contains("CreateMultipartUpload") && fix.contains("s3:PutObject"),
        "{fix}"
    );
    assert_eq!(run.check("upload.checksum_roundtrip")["status"], "fail");
    assert_eq!(run.check("upload.abort")["status"], "skip");
    assert_eq!(run.code, 1);
    assert_no_leftovers(&run);
}

#[test]
fn azurite_create_only_upload_and_refused_overwrite() {
    let Some(env) = support::env_file(Kind::Azure, S3User::Full) else {
        return;
    };
    let run = run_uploads(&env);
    let c = run.check("upload.checksum_roundtrip");
    assert_eq!(c["status"], "pass", "{c}\n{}", run.stderr);
    let create_only = &c["evidence"]["create_only"];
    assert_eq!(create_only["head_before"], 404, "{c}");
    assert_eq!(create_only["put"], 201, "{c}");
    let again = create_only["put_again"].as_u64().unwrap();
    assert!(again == 409 || again == 412, "{c}");
    // S3 only.
    assert_eq!(run.check("upload.multipart")["status"], "skip");
    assert_eq!(run.check("upload.abort")["status"], "skip");
    assert_eq!(run.code, 0);
    assert_no_leftovers(&run);
}

#[test]
fn tls_verify_is_read_as_label_studio_reads_it() {
    // The test CA as bundle: covered by the TLS tests above. A bundle of another CA: the
    // handshake fails, as it would for Label Studio, and the check says so.
    let other = pki().other_ca_bundle.to_string_lossy().into_owned();
    let Some(env) = behind_tls(Kind::S3, S3User::Full, Some(&other)) else {
        return;
    };
    let run = run_uploads(&env);
    let c = run.check("upload.checksum_roundtrip");
    assert_eq!(c["evidence"]["outcome"], "unreachable", "{c}");
    assert!(
        c["message"].as_str().unwrap().contains("certificate"),
        "{c}"
    );
    assert!(
        c["remediation"]
            .as_str()
            .unwrap()
            .contains("STORAGE_AWS_S3_VERIFY"),
        "{c}"
    );
    // `false` (Label Studio's spelling) skips verification: the run reaches the server.
    let env = behind_tls(Kind::S3Iam, S3User::Full, Some("false")).unwrap();
    let run = run_uploads(&env);
    assert_eq!(run.check("upload.checksum_roundtrip")["status"], "pass");
    // `true` is a CA bundle path to Label Studio (only false, False and 0 turn it off):
    // with an HTTPS endpoint every request of Label Studio would fail. Exit 2, nothing sent.
    let env = behind_tls(Kind::S3, S3User::Full, Some("true")).unwrap();
    let out = assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .env_clear()
        .args(["check", "--env-file"])
        .arg(&env)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("STORAGE_AWS_S3_VERIFY") && stderr.contains("CA bundle"),
        "{stderr}"
    );
}

#[test]
fn full_suite_names_the_upload_checks() {
    let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let run = check(&env, &["--suite", "full"]);
    for id in [
        "upload.checksum_roundtrip",
        "upload.multipart",
        "upload.abort",
    ] {
        assert_ne!(run.check(id)["status"], "skip", "{id}: {}", run.check(id));
    }
    assert_no_leftovers(&run);
}
