//! Without `STORAGE_AWS_ENDPOINT_URL`, Label Studio passes no endpoint to boto3, and botocore
//! takes one from `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (unless
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`). lsprobe must test the storage Label Studio
//! reaches, so boto3 1.44.8 (Label Studio 1.23.2's) is the oracle: for each setting, the
//! endpoint it resolves (`client.meta.endpoint_url`, no request sent) is the one lsprobe uses.
mod support;

use std::path::Path;
use std::process::Command;

use lsprobe::emulators::{Kind, S3User};
use support::check::{check_with_env, edited_env_file};

/// The endpoint boto3 resolves for an S3 client Label Studio would create (no endpoint_url)
/// with only `vars` in its environment.
fn boto3_endpoint(vars: &[(&str, &str)]) -> String {
    let script = "import boto3\n\
        c = boto3.client('s3', region_name='us-east-1', aws_access_key_id='k', \
        aws_secret_access_key='s')\n\
        print(c.meta.endpoint_url)\n";
    let out = Command::new(support::emulators::boto3_python())
        .env_clear()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .envs(vars.iter().copied())
        .args(["-c", script])
        .output()
        .expect("moto's python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The endpoint `lsprobe config show` resolves from this env.list: `None` for AWS itself.
fn lsprobe_endpoint(env_file: &Path) -> Option<String> {
    let out = assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .env_clear()
        .args(["config", "show", "--format", "json", "--env-file"])
        .arg(env_file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["target"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["field"] == "endpoint")
        .and_then(|r| r["value"].as_str())
        .map(str::to_string)
}

/// What a case is called, the variables it sets, the endpoint expected (`None`: AWS itself).
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);

#[test]
fn the_endpoint_is_the_one_boto3_resolves_from_the_environment() {
    let s3 = "http://127.0.0.1:9000";
    let global = "http://127.0.0.1:9001";
    let cases: [Case; 5] = [
        ("service variable", &[("AWS_ENDPOINT_URL_S3", s3)], Some(s3)),
        (
            "global variable",
            &[("AWS_ENDPOINT_URL", global)],
            Some(global),
        ),
        (
            "the service's wins",
            &[("AWS_ENDPOINT_URL_S3", s3), ("AWS_ENDPOINT_URL", global)],
            Some(s3),
        ),
        (
            "an empty one is skipped",
            &[("AWS_ENDPOINT_URL_S3", ""), ("AWS_ENDPOINT_URL", global)],
            Some(global),
        ),
        (
            "ignored when asked",
            &[
                ("AWS_ENDPOINT_URL_S3", s3),
                ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "True"),
            ],
            None,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (what, vars, expected) in cases {
        let oracle = boto3_endpoint(vars);
        match expected {
            Some(url) => assert_eq!(oracle, url, "{what}: the oracle"),
            None => assert!(oracle.contains("amazonaws.com"), "{what}: {oracle}"),
        }
        let mut text = "STORAGE_TYPE=s3\nSTORAGE_AWS_BUCKET_NAME=b\n\
            STORAGE_AWS_REGION_NAME=us-east-1\n"
            .to_string();
        for (k, v) in vars {
            text.push_str(&format!("{k}={v}\n"));
        }
        let env = dir.path().join("env.list");
        std::fs::write(&env, text).unwrap();
        let ours = lsprobe_endpoint(&env);
        assert_eq!(
            ours.as_deref().map(|u| u.trim_end_matches('/')),
            expected,
            "{what}: lsprobe resolves what boto3 does ({oracle})"
        );
    }
    // STORAGE_AWS_ENDPOINT_URL is what Label Studio passes: it wins over both.
    let env = dir.path().join("explicit.list");
    std::fs::write(
        &env,
        format!(
            "STORAGE_TYPE=s3\nSTORAGE_AWS_BUCKET_NAME=b\nSTORAGE_AWS_ENDPOINT_URL={global}\n\
             AWS_ENDPOINT_URL_S3={s3}\n"
        ),
    )
    .unwrap();
    assert_eq!(
        lsprobe_endpoint(&env)
            .as_deref()
            .map(|u| u.trim_end_matches('/')),
        Some(global)
    );
}

#[test]
fn check_tests_the_storage_aws_endpoint_url_s3_names() {
    let Some(env) = support::env_file(Kind::S3Iam, S3User::Full) else {
        return;
    };
    let text = std::fs::read_to_string(&env).unwrap();
    let endpoint = text
        .lines()
        .find_map(|l| l.strip_prefix("STORAGE_AWS_ENDPOINT_URL="))
        .expect("the emulator's env.list names its endpoint")
        .to_string();
    let env = edited_env_file(
        &env,
        &[
            ("STORAGE_AWS_ENDPOINT_URL", None),
            ("AWS_ENDPOINT_URL_S3", Some(&endpoint)),
        ],
        "endpoint-from-aws-endpoint-url-s3.list",
    );
    let run = check_with_env(&env, &[], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.report, run.stderr);
    assert_eq!(run.report["summary"]["failed"], 0);
    assert_eq!(
        run.report["target"]["endpoint"]
            .as_str()
            .map(|u| u.trim_end_matches('/')),
        Some(endpoint.trim_end_matches('/'))
    );
}
