//! `lsprobe check --label-studio URL --token TOKEN` against a real Label Studio 1.23.2 with
//! persistent storage on s3rver: it passes with nginx in front (the default mode) and with
//! `USE_NGINX_FOR_UPLOADS=false`, fails naming the missing nginx when Label Studio runs alone
//! at its default, names a refused token, and leaves nothing behind in the bucket or in Label
//! Studio (Label Studio itself keeps uploads when a project is deleted).
mod support;

use std::path::Path;

use support::check::{CheckRun, check_with_env};
use support::label_studio::{Rig, rig};

/// A suite with only the end-to-end checks (`--label-studio` would add them to any suite).
fn e2e_suite(rig: &Rig) -> String {
    let path = rig.env_file.with_file_name("e2e.toml");
    std::fs::write(
        &path,
        "name = \"e2e\"\n[[check]]\nid = \"label_studio.upload\"\n[[check]]\nid = \"label_studio.serve\"\n",
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

/// Runs the check against `url`, the token from LABEL_STUDIO_TOKEN.
fn run(rig: &Rig, url: &str, token: &str) -> CheckRun {
    let suite = e2e_suite(rig);
    check_with_env(
        &rig.env_file,
        &["--suite", &suite, "--label-studio", url],
        &[("LABEL_STUDIO_TOKEN", token)],
    )
}

/// The object the run made Label Studio write is gone from the bucket, the temporary project
/// from Label Studio, and the token appears nowhere in the output.
async fn assert_nothing_left(rig: &Rig, run: &CheckRun) {
    assert_eq!(
        run.report["cleanup"]["leftover"].as_array().unwrap().len(),
        0,
        "{}\n{}",
        run.report["cleanup"],
        run.stderr
    );
    let upload = run.check("label_studio.upload");
    let project = upload["evidence"]["project"]
        .as_u64()
        .expect("a project id");
    let client = reqwest::Client::new();
    if let Some(key) = upload["evidence"]["key"].as_str() {
        assert!(key.starts_with("media/upload/"), "{key}");
        // s3rver lets unsigned requests through.
        let url = format!("{}/lsprobe/{key}", rig.s3_endpoint);
        let status = client.get(&url).send().await.unwrap().status();
        assert_eq!(status.as_u16(), 404, "{key} is still in the bucket");
    }
    let status = client
        .get(format!("{}/api/projects/{project}/", rig.alone_url))
        .header("Authorization", format!("Token {}", rig.token))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 404, "project {project} is still there");
    let all = format!("{}{}", run.report, run.stderr);
    assert!(!all.contains(&rig.token), "the token leaked: {all}");
    assert!(
        !all.contains("Signature="),
        "a presigned query leaked: {all}"
    );
}

#[tokio::test]
async fn passes_with_nginx_in_front_of_label_studio() {
    let Some(rig) = rig() else { return };
    let run = run(rig, &rig.nginx_url, &rig.token);
    assert_eq!(run.code, 0, "{}\n{}", run.report, run.stderr);
    assert_eq!(run.check("label_studio.upload")["status"], "pass");
    let serve = run.check("label_studio.serve");
    assert_eq!(serve["status"], "pass", "{serve}");
    assert_eq!(
        serve["evidence"]["server"]
            .as_str()
            .unwrap()
            .split('/')
            .next(),
        Some("nginx")
    );
    assert_eq!(run.report["cleanup"]["deleted"], 1);
    assert_nothing_left(rig, &run).await;
}

#[tokio::test]
async fn fails_naming_the_missing_nginx_when_label_studio_runs_alone() {
    let Some(rig) = rig() else { return };
    let run = run(rig, &rig.alone_url, &rig.token);
    assert_eq!(run.code, 1, "{}\n{}", run.report, run.stderr);
    assert_eq!(run.check("label_studio.upload")["status"], "pass");
    let serve = run.check("label_studio.serve");
    assert_eq!(serve["status"], "fail", "{serve}");
    let message = serve["message"].as_str().unwrap();
    assert!(message.contains("X-Accel-Redirect"), "{message}");
    assert!(message.contains("no nginx"), "{message}");
    assert!(message.contains("USE_NGINX_FOR_UPLOADS"), "{message}");
    let fix = serve["remediation"].as_str().unwrap();
    assert!(fix.contains("USE_NGINX_FOR_UPLOADS=false"), "{fix}");
    assert!(fix.contains("/file_download/"), "{fix}");
    let redirect = serve["evidence"]["x_accel_redirect"].as_str().unwrap();
    assert!(
        redirect.starts_with("/file_download/http/127.0.0.1:"),
        "{redirect}"
    );
    assert!(
        redirect.ends_with("?<presigned query removed>"),
        "{redirect}"
    );
    assert_eq!(serve["evidence"]["presigned_signature"], "SigV2");
    assert_nothing_left(rig, &run).await;
}

#[tokio::test]
async fn passes_when_django_streams_the_files_itself() {
    let Some(rig) = rig() else { return };
    let run = run(rig, &rig.django_url, &rig.token);
    assert_eq!(run.code, 0, "{}\n{}", run.report, run.stderr);
    assert_eq!(run.check("label_studio.serve")["status"], "pass");
    assert_nothing_left(rig, &run).await;
}

#[tokio::test]
async fn a_refused_token_is_named_and_nothing_is_created() {
    let Some(rig) = rig() else { return };
    let wrong = "not-the-token-0123456789";
    let run = run(rig, &rig.nginx_url, wrong);
    assert_eq!(run.code, 1, "{}\n{}", run.report, run.stderr);
    let upload = run.check("label_studio.upload");
    assert_eq!(upload["status"], "fail", "{upload}");
    assert!(
        upload["message"].as_str().unwrap().contains("401"),
        "{upload}"
    );
    assert!(
        upload["message"].as_str().unwrap().contains("token"),
        "{upload}"
    );
    assert_eq!(run.check("label_studio.serve")["status"], "skip");
    assert_eq!(run.report["cleanup"]["deleted"], 0);
    assert!(!format!("{}{}", run.report, run.stderr).contains(wrong));
}

#[tokio::test]
async fn without_label_studio_the_checks_are_skipped_and_a_url_needs_a_token() {
    let Some(rig) = rig() else { return };
    let suite = e2e_suite(rig);
    let run = check_with_env(&rig.env_file, &["--suite", &suite], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.report, run.stderr);
    for id in ["label_studio.upload", "label_studio.serve"] {
        let c = run.check(id);
        assert_eq!(c["status"], "skip");
        assert!(
            c["message"].as_str().unwrap().contains("--label-studio"),
            "{c}"
        );
    }
    let out = assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .env_clear()
        .args(["check", "--env-file"])
        .arg(Path::new(&rig.env_file))
        .args(["--label-studio", &rig.nginx_url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LABEL_STUDIO_TOKEN"));
}
