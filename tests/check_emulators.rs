//! `lsprobe check` against real emulators: the smoke suite passes where the bucket is right,
//! and each wrong permission, key, bucket or endpoint fails the matching check with its fix.
mod support;

use lsprobe::emulators::{AZURE_ACCOUNT, AZURE_KEY, BUCKET, Kind, S3User};
use support::check::{check, edited_env_file};

#[test]
fn smoke_suite_passes_on_s3rver_fake_gcs_and_azurite() {
    for kind in [Kind::S3, Kind::Gcs, Kind::Azure] {
        let Some(env) = support::env_file(kind, S3User::Full) else {
            return;
        };
        let run = check(&env, &[]);
        assert_eq!(run.code, 0, "{kind}: {}\n{}", run.report, run.stderr);
        assert_eq!(
            run.with_status("pass").len(),
            8,
            "{kind}: {:?}",
            run.statuses()
        );
        assert_eq!(run.report["summary"]["failed"], 0);
        assert_eq!(
            run.report["cleanup"]["leftover"].as_array().unwrap().len(),
            0,
            "{kind}: {}\n{}",
            run.report["cleanup"],
            run.stderr
        );
        assert!(run.report["cleanup"]["deleted"].as_u64().unwrap() >= 2);
        assert_eq!(run.report["target"]["provider"], kind.name());
    }
}

#[test]
fn moto_iam_each_limited_user_fails_exactly_its_action() {
    let cases = [
        (S3User::Full, vec![], ""),
        (S3User::NoList, vec!["permissions.list"], "s3:ListBucket"),
        (S3User::NoPut, vec!["permissions.put"], "s3:PutObject"),
        // S3 authorizes HeadObject with s3:GetObject: both fail, both name it.
        (
            S3User::NoGet,
            vec!["permissions.get", "permissions.head"],
            "s3:GetObject",
        ),
        (
            S3User::NoDelete,
            vec!["permissions.delete"],
            "s3:DeleteObject",
        ),
    ];
    for (user, failing, action) in cases {
        let Some(env) = support::env_file(Kind::S3Iam, user) else {
            return;
        };
        let run = check(&env, &[]);
        assert_eq!(
            run.with_status("fail"),
            failing,
            "{user:?}: {:?}",
            run.statuses()
        );
        assert_eq!(run.with_status("error"), Vec::<String>::new(), "{user:?}");
        assert_eq!(run.code, if failing.is_empty() { 0 } else { 1 }, "{user:?}");
        for id in &failing {
            let c = run.check(id);
            assert_eq!(c["evidence"]["outcome"], "denied", "{user:?} {id}: {c}");
            let fix = c["remediation"].as_str().unwrap();
            assert!(fix.contains(action), "{user:?} {id}: {fix}");
            assert!(fix.contains(&format!("arn:aws:s3:::{BUCKET}")), "{fix}");
        }
        // The user who may not delete leaves its objects: they are reported, by key.
        let leftover = run.report["cleanup"]["leftover"].as_array().unwrap();
        if user == S3User::NoDelete {
            assert!(!leftover.is_empty());
            assert!(
                run.stderr.contains("could not be deleted"),
                "{}",
                run.stderr
            );
        } else {
            assert!(leftover.is_empty(), "{user:?}: {leftover:?}");
        }
    }
}

#[test]
fn moto_wrong_secret_is_credentials_rejected_not_denied() {
    let Some(env) = support::env_file(Kind::S3Iam, S3User::Full) else {
        return;
    };
    let bad = edited_env_file(
        &env,
        &[(
            "STORAGE_AWS_SECRET_ACCESS_KEY",
            Some("not-the-secret-0000000000000000000000"),
        )],
        "s3-iam-wrong-secret.list",
    );
    let run = check(&bad, &[]);
    assert_eq!(run.code, 1);
    let list = run.check("permissions.list");
    assert_eq!(list["status"], "fail");
    assert_eq!(
        list["evidence"]["outcome"], "credentials_rejected",
        "{list}"
    );
    assert_eq!(list["evidence"]["code"], "SignatureDoesNotMatch");
    assert!(
        list["remediation"]
            .as_str()
            .unwrap()
            .contains("STORAGE_AWS_SECRET_ACCESS_KEY")
    );
    assert!(
        !run.report.to_string().contains("not-the-secret"),
        "a secret leaked into the report"
    );
    // Nothing else is attempted once the credentials are refused.
    assert_eq!(run.with_status("pass"), Vec::<String>::new());
}

#[test]
fn s3_without_keys_uses_the_aws_default_chain() {
    let Some(env) = support::env_file(Kind::S3Iam, S3User::Full) else {
        return;
    };
    let text = std::fs::read_to_string(&env).unwrap();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap()
            .trim_matches('"')
            .to_string()
    };
    let (id, secret) = (
        value("STORAGE_AWS_ACCESS_KEY_ID"),
        value("STORAGE_AWS_SECRET_ACCESS_KEY"),
    );
    let keyless = edited_env_file(
        &env,
        &[
            ("STORAGE_AWS_ACCESS_KEY_ID", None),
            ("STORAGE_AWS_SECRET_ACCESS_KEY", None),
        ],
        "s3-iam-keyless.list",
    );
    // The chain's first link, the environment (as a pod with AWS_* variables has it); the
    // metadata links are never reached, so nothing leaves loopback.
    let run = support::check::check_with_env(
        &keyless,
        &[],
        &[
            ("AWS_ACCESS_KEY_ID", &id),
            ("AWS_SECRET_ACCESS_KEY", &secret),
        ],
    );
    assert_eq!(run.code, 0, "{:?}\n{}", run.statuses(), run.stderr);
    assert!(run.stderr.contains("AWS default chain"), "{}", run.stderr);
    assert!(!run.stderr.contains(&secret) && !run.report.to_string().contains(&secret));
}

fn azure_sas(permissions: &str) -> String {
    let expiry = chrono::Utc::now() + chrono::Duration::hours(1);
    lsprobe::provider::azure_sas::service_sas(
        AZURE_ACCOUNT,
        AZURE_KEY,
        BUCKET,
        lsprobe::provider::azure_sas::SasResource::Container,
        permissions,
        expiry,
    )
    .unwrap()
}

#[test]
fn azurite_sas_without_write_denies_put() {
    let Some(env) = support::env_file(Kind::Azure, S3User::Full) else {
        return;
    };
    let sas = azure_sas("rdl");
    let limited = edited_env_file(
        &env,
        &[
            ("STORAGE_AZURE_ACCOUNT_KEY", None),
            ("LSPROBE_AZURE_SAS_TOKEN", Some(&sas)),
        ],
        "azure-sas-no-write.list",
    );
    let run = check(&limited, &[]);
    assert_eq!(run.code, 1);
    let put = run.check("permissions.put");
    assert_eq!(put["status"], "fail", "{put}");
    assert_eq!(put["evidence"]["outcome"], "permission_mismatch", "{put}");
    assert_eq!(put["evidence"]["code"], "AuthorizationPermissionMismatch");
    assert!(
        put["remediation"].as_str().unwrap().contains("`w` (write)"),
        "{put}"
    );
    assert_eq!(run.check("permissions.list")["status"], "pass");
    assert!(
        !run.report.to_string().contains(&sas),
        "the SAS token leaked into the report"
    );
    // A full SAS passes the same suite.
    let full = edited_env_file(
        &env,
        &[
            ("STORAGE_AZURE_ACCOUNT_KEY", None),
            ("LSPROBE_AZURE_SAS_TOKEN", Some(&azure_sas("racwdl"))),
        ],
        "azure-sas-full.list",
    );
    let run = check(&full, &[]);
    assert_eq!(run.code, 0, "{:?}", run.statuses());
}

#[test]
fn azurite_wrong_account_key_is_credentials_rejected() {
    let Some(env) = support::env_file(Kind::Azure, S3User::Full) else {
        return;
    };
    let wrong = edited_env_file(
        &env,
        &[(
            "STORAGE_AZURE_ACCOUNT_KEY",
            Some("d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="),
        )],
        "azure-wrong-key.list",
    );
    let run = check(&wrong, &[]);
    assert_eq!(run.code, 1);
    let list = run.check("permissions.list");
    assert_eq!(
        list["evidence"]["outcome"], "credentials_rejected",
        "{list}"
    );
    assert!(
        list["remediation"]
            .as_str()
            .unwrap()
            .contains("STORAGE_AZURE_ACCOUNT_KEY")
    );
}

#[test]
fn missing_bucket_fails_clearly_without_leftovers() {
    for kind in [Kind::S3, Kind::Gcs, Kind::Azure] {
        let Some(env) = support::env_file(kind, S3User::Full) else {
            return;
        };
        let run = check(&env, &["--bucket", "no-such-bucket-lsprobe"]);
        assert_eq!(run.code, 1, "{kind}: {}", run.stderr);
        let list = run.check("permissions.list");
        assert_eq!(list["status"], "fail", "{kind}: {list}");
        assert_eq!(
            list["evidence"]["outcome"], "bucket_missing",
            "{kind}: {list}"
        );
        assert!(
            list["remediation"]
                .as_str()
                .unwrap()
                .contains("no-such-bucket-lsprobe")
        );
        assert!(
            run.report["cleanup"]["leftover"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

#[test]
fn unreachable_endpoint_fails_clearly() {
    let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    // Port 9 on loopback: nothing listens (discard service is never enabled here).
    let run = check(&env, &["--endpoint", "http://127.0.0.1:9"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let list = run.check("permissions.list");
    assert_eq!(list["evidence"]["outcome"], "unreachable", "{list}");
    assert!(
        list["message"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{list}"
    );
    assert!(
        list["remediation"]
            .as_str()
            .unwrap()
            .contains("http://127.0.0.1:9")
    );
    assert!(
        run.report["cleanup"]["leftover"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Every later check is skipped rather than repeating the same failure.
    assert_eq!(
        run.with_status("fail"),
        vec!["permissions.list".to_string()]
    );
}

#[test]
fn bad_suite_and_report_dir_are_exit_2_before_any_request() {
    let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("x.toml");
    std::fs::write(&suite, "name = \"x\"\n[[check]]\nid = \"permisions.put\"\n").unwrap();
    let out = assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .env_clear()
        .args(["check", "--env-file"])
        .arg(&env)
        .arg("--suite")
        .arg(&suite)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("x.toml:3") && stderr.contains("permissions.put"),
        "{stderr}"
    );
    let out = assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .env_clear()
        .args(["check", "--env-file"])
        .arg(&env)
        .args(["--report-dir", "/proc/lsprobe-cannot-write-here"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn report_dir_gets_json_and_junit_as_the_run_goes() {
    let Some(env) = support::env_file(Kind::S3Iam, S3User::NoPut) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .env_clear()
        .args(["check", "--env-file"])
        .arg(&env)
        .args(["--format", "json", "--format", "junit", "--report-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    support::check::validate_schema(&json);
    assert_eq!(json["exit_code"], 1);
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("name=\"permissions.put\""), "{junit}");
    assert!(junit.contains("<failure"), "{junit}");
    assert!(junit.contains("<skipped"), "{junit}");
    // The terminal still gets the text summary.
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL"));
}

#[test]
fn s3_encryption_passes_when_the_object_parameters_ask_for_sse() {
    let Some(env) = support::env_file(Kind::S3Iam, S3User::Full) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("encryption.toml");
    std::fs::write(
        &suite,
        "name = \"encryption\"\n[[check]]\nid = \"s3.encryption\"\n",
    )
    .unwrap();
    let suite = suite.to_str().unwrap();
    // As Label Studio is told to: STORAGE_AWS_OBJECT_PARAMETERS with ServerSideEncryption.
    let sse = edited_env_file(
        &env,
        &[(
            "STORAGE_AWS_OBJECT_PARAMETERS",
            Some(r#"{"ServerSideEncryption": "AES256"}"#),
        )],
        "s3-iam-sse.list",
    );
    let run = check(&sse, &["--suite", suite]);
    let c = run.check("s3.encryption");
    assert_eq!(c["status"], "pass", "{c}");
    assert_eq!(run.code, 0);
    assert!(
        run.report["cleanup"]["leftover"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// moto with IAM enforcement on answers requests without credentials (preflights, presigned
/// URLs) with 500: that is the server failing, reported as `error` without a CORS or permission
/// remedy, never as a failed rule. A user who may not write gets `folder.list_scope` skipped.
#[test]
fn moto_server_errors_are_errors_and_list_scope_needs_a_write() {
    let Some(env) = support::env_file(Kind::S3Iam, S3User::Full) else {
        return;
    };
    let run = check(&env, &["--suite", "full"]);
    eprintln!("{:?}", run.statuses());
    let mut server_errors = 0;
    for c in run.report["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        if !(id.starts_with("cors.") || id.starts_with("presign.")) {
            continue;
        }
        let status = c["evidence"]["status"].as_u64().unwrap_or(0);
        let answered_5xx = c["evidence"]["outcome"] == "server_error";
        assert!(
            c["status"] != "fail" || !c["message"].as_str().unwrap().contains("(status 5"),
            "a 5xx judged as a rule: {c}"
        );
        if answered_5xx {
            server_errors += 1;
            assert_eq!(c["status"], "error", "{c}");
            assert!((500..600).contains(&status), "{c}");
            let fix = c["remediation"].as_str().unwrap();
            assert!(!fix.contains("AllowedOrigins"), "{fix}");
            assert!(!fix.contains("s3:GetObject"), "{fix}");
            assert!(fix.contains("server's logs"), "{fix}");
        }
    }
    assert!(
        server_errors > 0,
        "moto answered no 5xx: {:?}",
        run.statuses()
    );

    let Some(no_put) = support::env_file(Kind::S3Iam, S3User::NoPut) else {
        return;
    };
    let run = check(&no_put, &[]);
    let c = run.check("folder.list_scope");
    assert_eq!(c["status"], "skip", "{c}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("nothing could be written"),
        "{c}"
    );
}
