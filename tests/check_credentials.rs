//! `lsprobe check` obtains credentials as Label Studio's SDKs do: boto3's chain (env keys, web
//! identity, instance metadata) and google-auth's metadata server, read from the env.list as
//! well as the environment, against loopback stand-ins for STS, IMDSv2 and the GCE metadata
//! server. Every run points the metadata endpoints at a stand-in or a closed loopback port and
//! starts from an empty environment, so no request can leave loopback.
#[path = "support/delay_proxy.rs"]
mod delay_proxy;
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lsprobe::emulators::{Kind, S3User};
use support::check::{CheckRun, check_with_env, edited_env_file};
use support::cred_standins::{self as standins, closed_port};

const ROLE: &str = "arn:aws:iam::123456789012:role/label-studio";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.stand-in-web-identity-token";

/// The s3-iam env.list of `user` and its keys; `None` after a loud skip.
fn s3_iam(user: S3User) -> Option<(PathBuf, String, String)> {
    let env = support::env_file(Kind::S3Iam, user)?;
    let text = std::fs::read_to_string(&env).unwrap();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap()
            .to_string()
    };
    let (id, secret) = (
        get("STORAGE_AWS_ACCESS_KEY_ID"),
        get("STORAGE_AWS_SECRET_ACCESS_KEY"),
    );
    Some((env, id, secret))
}

/// The env.list without the STORAGE_AWS_* keys, plus `add`.
fn keyless(env: &Path, add: &[(&str, &str)], name: &str) -> PathBuf {
    let mut changes: Vec<(&str, Option<&str>)> = vec![
        ("STORAGE_AWS_ACCESS_KEY_ID", None),
        ("STORAGE_AWS_SECRET_ACCESS_KEY", None),
    ];
    changes.extend(add.iter().map(|(k, v)| (*k, Some(*v))));
    edited_env_file(env, &changes, name)
}

fn token_file(dir: &Path) -> PathBuf {
    let path = dir.join("token");
    std::fs::write(&path, TOKEN).unwrap();
    path
}

fn target(run: &CheckRun) -> (String, String) {
    let t = &run.report["target"];
    (
        t["credential_source"].as_str().unwrap_or("").to_string(),
        t["identity"].as_str().unwrap_or("").to_string(),
    )
}

fn assert_passed(run: &CheckRun, what: &str) {
    assert_eq!(run.code, 0, "{what}: {}\n{}", run.report, run.stderr);
    assert_eq!(run.report["summary"]["failed"], 0, "{what}");
}

#[test]
fn keys_in_the_env_list_win_over_a_node_role() {
    let Some((env, id, secret)) = s3_iam(S3User::Full) else {
        return;
    };
    // The node role would hand out another user's keys: it must not be asked.
    let Some((_, other_id, other_secret)) = s3_iam(S3User::NoPut) else {
        return;
    };
    let imds = standins::imds(&other_id, &other_secret, 3600);
    let env = keyless(
        &env,
        &[
            ("AWS_ACCESS_KEY_ID", &id),
            ("AWS_SECRET_ACCESS_KEY", &secret),
        ],
        "cred-env-list-keys.list",
    );
    let run = check_with_env(
        &env,
        &[],
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url)],
    );
    assert_passed(&run, "AWS_* keys in env.list");
    let (source, identity) = target(&run);
    assert_eq!(source, "AWS chain: environment keys");
    assert!(
        identity.contains("cred-env-list-keys.list:") && identity.contains("AWS_ACCESS_KEY_ID"),
        "{identity}"
    );
    assert!(
        !run.report.to_string().contains(&secret),
        "no secret in the report"
    );
    assert!(imds.requests().is_empty(), "{:?}", imds.requests());
}

#[test]
fn keys_in_the_environment_are_used() {
    let Some((env, id, secret)) = s3_iam(S3User::Full) else {
        return;
    };
    let env = keyless(&env, &[], "cred-env-keys.list");
    let run = check_with_env(
        &env,
        &[],
        &[
            ("AWS_ACCESS_KEY_ID", &id),
            ("AWS_SECRET_ACCESS_KEY", &secret),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed_port()),
        ],
    );
    assert_passed(&run, "AWS_* keys in the environment");
    let (source, identity) = target(&run);
    assert_eq!(source, "AWS chain: environment keys");
    assert!(
        identity.contains("environment AWS_ACCESS_KEY_ID"),
        "{identity}"
    );
}

#[test]
fn a_wrong_secret_in_the_env_list_names_the_variable_and_its_line() {
    let Some((env, id, _)) = s3_iam(S3User::Full) else {
        return;
    };
    let env = keyless(
        &env,
        &[
            ("AWS_ACCESS_KEY_ID", &id),
            ("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
        ],
        "cred-wrong-secret.list",
    );
    let run = check_with_env(
        &env,
        &[],
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed_port())],
    );
    assert_eq!(run.code, 1, "{}", run.report);
    let list = run.check("permissions.list");
    assert_eq!(
        list["evidence"]["outcome"], "credentials_rejected",
        "{list}"
    );
    let fix = list["remediation"].as_str().unwrap();
    assert!(
        fix.contains("AWS_SECRET_ACCESS_KEY (") && fix.contains("cred-wrong-secret.list:"),
        "{fix}"
    );
}

fn irsa(vars_in_env_list: bool) {
    let Some((env, id, secret)) = s3_iam(S3User::Full) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path());
    let sts = standins::sts(ROLE, TOKEN, &id, &secret);
    // STS over HTTPS, trusted through AWS_CA_BUNDLE as botocore's STS client trusts it.
    let port: u16 = sts.host.rsplit(':').next().unwrap().parse().unwrap();
    let https = format!("https://127.0.0.1:{}", support::tls::tls_front(port));
    let bundle = support::tls::pki().ca_bundle.to_string_lossy().into_owned();
    let token_path = token.to_string_lossy().into_owned();
    let web_identity = [
        ("AWS_ROLE_ARN", ROLE),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_path.as_str()),
        ("AWS_ROLE_SESSION_NAME", "lsprobe-test"),
        ("AWS_ENDPOINT_URL_STS", https.as_str()),
        ("AWS_CA_BUNDLE", bundle.as_str()),
    ];
    let closed = closed_port();
    let mut vars = vec![("AWS_EC2_METADATA_SERVICE_ENDPOINT", closed.as_str())];
    let env = if vars_in_env_list {
        keyless(&env, &web_identity, "cred-irsa.list")
    } else {
        vars.extend(web_identity);
        keyless(&env, &[], "cred-irsa-env.list")
    };
    let run = check_with_env(&env, &[], &vars);
    assert_passed(&run, "IRSA");
    let (source, identity) = target(&run);
    assert_eq!(source, "AWS chain: web identity (IRSA)");
    assert!(
        identity.contains(ROLE) && identity.contains("session lsprobe-test"),
        "{identity}"
    );
    let seen = sts.requests();
    assert_eq!(seen.len(), 1, "one AssumeRoleWithWebIdentity: {seen:?}");
    assert!(seen[0].body.contains("Action=AssumeRoleWithWebIdentity"));
}

#[test]
fn irsa_in_the_env_list_assumes_the_role_at_the_configured_sts() {
    irsa(true);
}

#[test]
fn irsa_in_the_environment_assumes_the_role_at_the_configured_sts() {
    irsa(false);
}

#[test]
fn node_role_comes_from_boto3s_metadata_endpoint_variable() {
    let Some((env, id, secret)) = s3_iam(S3User::Full) else {
        return;
    };
    let imds = standins::imds(&id, &secret, 3600);
    let env = keyless(
        &env,
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url)],
        "cred-node-role.list",
    );
    let run = check_with_env(&env, &[], &[]);
    assert_passed(&run, "node role");
    let (source, identity) = target(&run);
    assert_eq!(source, "AWS chain: instance metadata (node role)");
    assert!(identity.contains("instance role node-role"), "{identity}");
    let paths: Vec<String> = imds
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        paths,
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/iam/security-credentials/",
            "GET /latest/meta-data/iam/security-credentials/node-role"
        ],
        "fetched once for the whole run"
    );
}

#[test]
fn gcs_token_and_identity_come_from_the_metadata_host() {
    let Some(env) = support::env_file(Kind::Gcs, S3User::Full) else {
        return;
    };
    let gce = standins::gce("label-studio@project.iam.gserviceaccount.com");
    let env = edited_env_file(
        &env,
        &[
            ("GOOGLE_APPLICATION_CREDENTIALS", None),
            ("GCE_METADATA_HOST", Some(&gce.host)),
        ],
        "cred-gce.list",
    );
    let run = check_with_env(&env, &[], &[]);
    assert_passed(&run, "GCS metadata server");
    let (source, identity) = target(&run);
    assert!(source.starts_with("GCE metadata server"), "{source}");
    assert_eq!(
        identity,
        "service account label-studio@project.iam.gserviceaccount.com"
    );
    assert_eq!(gce.requests().len(), 2, "token and email, once");
}

#[test]
fn gcs_key_file_names_the_service_account() {
    let Some(env) = support::env_file(Kind::Gcs, S3User::Full) else {
        return;
    };
    let run = check_with_env(&env, &[], &[("GCE_METADATA_HOST", &closed_port())]);
    assert_passed(&run, "GCS key file");
    let (source, _) = target(&run);
    assert!(source.starts_with("service-account JSON ("), "{source}");
}

// Misconfigurations: the bucket endpoint is a closed port, so a check that blamed or contacted
// it would say "could not connect"; the credential step must be named instead.

fn misconfigured(lines: &[(&str, &str)], vars: &[(&str, &str)]) -> (CheckRun, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = closed_port();
    let mut text = format!(
        "STORAGE_TYPE=s3\nSTORAGE_AWS_BUCKET_NAME=lsprobe\nSTORAGE_AWS_REGION_NAME=us-east-1\n\
         STORAGE_AWS_ENDPOINT_URL={endpoint}\n"
    );
    for (k, v) in lines {
        text.push_str(&format!("{k}={v}\n"));
    }
    let env = dir.path().join("env.list");
    std::fs::write(&env, text).unwrap();
    let started = Instant::now();
    let run = check_with_env(&env, &[], vars);
    (run, started.elapsed())
}

fn assert_credentials_unavailable(run: &CheckRun, wall: Duration, fix_has: &[&str]) -> String {
    assert_eq!(run.code, 1, "{}\n{}", run.report, run.stderr);
    assert!(
        wall < Duration::from_secs(5),
        "took {wall:?}: no retry storm"
    );
    let checks = run.report["checks"].as_array().unwrap();
    let failed: Vec<_> = checks.iter().filter(|c| c["status"] == "fail").collect();
    assert_eq!(failed.len(), 1, "one failure, the rest skipped: {checks:?}");
    let c = failed[0];
    assert_eq!(c["evidence"]["outcome"], "credentials_unavailable", "{c}");
    let fix = c["remediation"].as_str().unwrap();
    for want in fix_has {
        assert!(fix.contains(want), "remediation lacks {want:?}: {fix}");
    }
    assert!(
        !fix.contains("STORAGE_AWS_ENDPOINT_URL") && !fix.contains("Nothing answered"),
        "the storage endpoint is not blamed: {fix}"
    );
    assert!(
        checks
            .iter()
            .filter(|c| c["status"] == "skip")
            .all(|c| c["message"].as_str().unwrap().contains("credentials")),
        "{checks:?}"
    );
    assert!(run.report["target"]["identity"].is_null());
    c["message"].as_str().unwrap().to_string()
}

#[test]
fn a_missing_token_file_is_named_and_nothing_is_sent() {
    let sts = standins::sts(ROLE, TOKEN, "AKIAUNUSED0000000000", "unused");
    let closed = closed_port();
    let (run, wall) = misconfigured(
        &[
            ("AWS_ROLE_ARN", ROLE),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/no/such/token"),
            ("AWS_ENDPOINT_URL_STS", &sts.url),
        ],
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed)],
    );
    let message =
        assert_credentials_unavailable(&run, wall, &["AWS_WEB_IDENTITY_TOKEN_FILE", "env.list:"]);
    assert!(message.contains("/no/such/token"), "{message}");
    assert!(sts.requests().is_empty(), "no STS request without a token");
}

#[test]
fn a_wrong_role_gives_stss_answer_after_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path());
    let sts = standins::sts(ROLE, TOKEN, "AKIAUNUSED0000000000", "unused");
    let wrong = "arn:aws:iam::123456789012:role/not-trusted";
    let closed = closed_port();
    let (run, wall) = misconfigured(
        &[
            ("AWS_ROLE_ARN", wrong),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", &token.to_string_lossy()),
            ("AWS_ENDPOINT_URL_STS", &sts.url),
        ],
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed)],
    );
    let message = assert_credentials_unavailable(&run, wall, &["AWS_ROLE_ARN (", "trust policy"]);
    assert!(
        message.contains(wrong) && message.contains("403 AccessDenied"),
        "{message}"
    );
    assert!(message.contains(&sts.url), "STS address shown: {message}");
    assert_eq!(sts.requests().len(), 1, "sent once");
}

#[test]
fn sts_down_fails_fast_naming_the_sts_address() {
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path());
    let sts = closed_port();
    let (run, wall) = misconfigured(
        &[
            ("AWS_ROLE_ARN", ROLE),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", &token.to_string_lossy()),
        ],
        &[
            ("AWS_ENDPOINT_URL_STS", &sts),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed_port()),
        ],
    );
    let message = assert_credentials_unavailable(&run, wall, &["STS"]);
    assert!(
        message.contains(&sts) && message.contains("environment AWS_ENDPOINT_URL_STS"),
        "{message}"
    );
}

#[test]
fn an_https_sts_not_in_aws_ca_bundle_is_a_tls_failure_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path());
    let sts = standins::sts(ROLE, TOKEN, "AKIAUNUSED0000000000", "unused");
    let port: u16 = sts.host.rsplit(':').next().unwrap().parse().unwrap();
    let https = format!("https://127.0.0.1:{}", support::tls::tls_front(port));
    let other = support::tls::pki()
        .other_ca_bundle
        .to_string_lossy()
        .into_owned();
    let (run, wall) = misconfigured(
        &[
            ("AWS_ROLE_ARN", ROLE),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", &token.to_string_lossy()),
            ("AWS_ENDPOINT_URL_STS", &https),
            ("AWS_CA_BUNDLE", &other),
        ],
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed_port())],
    );
    let message = assert_credentials_unavailable(&run, wall, &["STS"]);
    assert!(message.contains("TLS handshake failed"), "{message}");
    assert!(
        sts.requests().is_empty(),
        "the handshake failed before any request"
    );
}

#[test]
fn metadata_down_fails_fast_without_falling_back() {
    let imds = closed_port();
    let (run, wall) = misconfigured(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds)], &[]);
    let message = assert_credentials_unavailable(
        &run,
        wall,
        &["AWS_EC2_METADATA_SERVICE_ENDPOINT", "env.list:5"],
    );
    assert!(message.contains(&imds), "{message}");
}

#[test]
fn metadata_answering_no_role_is_one_credential_failure() {
    // An IMDS whose node has no instance profile: token, then 404 for the role list.
    let imds = support::cred_standins::StandIn::start(|r| match r.path.as_str() {
        "/latest/api/token" => (200, "text/plain", "imds-token".into()),
        _ => (404, "text/plain", String::new()),
    });
    let (run, wall) = misconfigured(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url)], &[]);
    let message = assert_credentials_unavailable(&run, wall, &["instance profile"]);
    assert!(message.contains("404"), "{message}");
    assert_eq!(imds.requests().len(), 2, "token and role list, once each");
}

#[test]
fn gce_metadata_down_fails_fast_without_falling_back() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("env.list");
    let host = closed_port().trim_start_matches("http://").to_string();
    std::fs::write(
        &env,
        format!(
            "STORAGE_TYPE=gcs\nSTORAGE_GCS_BUCKET_NAME=lsprobe\nSTORAGE_GCS_ENDPOINT={}\n\
             GCE_METADATA_HOST={host}\n",
            closed_port()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let run = check_with_env(&env, &[], &[]);
    let message = assert_credentials_unavailable(
        &run,
        started.elapsed(),
        &["GCE_METADATA_HOST (", "GOOGLE_APPLICATION_CREDENTIALS"],
    );
    assert!(message.contains(&host), "{message}");
}

const AUDIENCE: &str =
    "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s";
const SA: &str = "label-studio@project.iam.gserviceaccount.com";

/// Google STS and the IAM credentials API in one stand-in: the exchange checks the audience and
/// subject token; impersonation checks the exchanged token.
fn federation() -> support::cred_standins::StandIn {
    support::cred_standins::StandIn::start(|r| {
        if r.path == "/v1/token" {
            let form: Vec<(String, String)> = url::form_urlencoded::parse(r.body.as_bytes())
                .into_owned()
                .collect();
            let get = |k: &str| {
                form.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("")
            };
            if get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange"
                || get("audience") != AUDIENCE
                || get("subject_token") != TOKEN
            {
                return (
                    400,
                    "application/json",
                    r#"{"error":"invalid_grant","error_description":"The audience in ID Token does not match the expected audience."}"#.into(),
                );
            }
            return (
                200,
                "application/json",
                r#"{"access_token":"federated-token","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3600}"#.into(),
            );
        }
        let bearer = r
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer federated-token");
        if r.path == format!("/v1/projects/-/serviceAccounts/{SA}:generateAccessToken") && bearer {
            let expire = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
            return (
                200,
                "application/json",
                format!(r#"{{"accessToken":"ya29.impersonated","expireTime":"{expire}"}}"#),
            );
        }
        (403, "application/json", r#"{"error":{"code":403}}"#.into())
    })
}

fn wif_json(dir: &Path, fed: &str, credential_source: &str, impersonate: bool) -> PathBuf {
    let imp = if impersonate {
        format!(
            r#","service_account_impersonation_url":"{fed}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken""#
        )
    } else {
        String::new()
    };
    let path = dir.join("wif.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"type":"external_account","audience":"{AUDIENCE}","subject_token_type":"urn:ietf:params:oauth:token-type:jwt","token_url":"{fed}/v1/token"{imp},"credential_source":{credential_source}}}"#
        ),
    )
    .unwrap();
    path
}

fn gcs_with(json: &Path, name: &str) -> Option<PathBuf> {
    let env = support::env_file(Kind::Gcs, S3User::Full)?;
    Some(edited_env_file(
        &env,
        &[(
            "GOOGLE_APPLICATION_CREDENTIALS",
            Some(&json.to_string_lossy()),
        )],
        name,
    ))
}

#[test]
fn workload_identity_federation_file_sourced_with_impersonation() {
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path());
    let fed = federation();
    let source = format!(r#"{{"file":"{}"}}"#, token.display());
    let json = wif_json(dir.path(), &fed.url, &source, true);
    let Some(env) = gcs_with(&json, "cred-wif.list") else {
        return;
    };
    let closed = closed_port();
    let host = closed.trim_start_matches("http://");
    let run = check_with_env(&env, &[], &[("GCE_METADATA_HOST", host)]);
    assert_passed(&run, "WIF");
    let (source, identity) = target(&run);
    assert!(
        source.starts_with("workload identity federation"),
        "{source}"
    );
    assert_eq!(identity, format!("service account {SA} via {AUDIENCE}"));
    let paths: Vec<String> = fed.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/v1/token".to_string(),
            format!("/v1/projects/-/serviceAccounts/{SA}:generateAccessToken")
        ],
        "one exchange, one impersonation"
    );
    assert!(!run.report.to_string().contains("federated-token"));
}

#[test]
fn workload_identity_federation_url_sourced_json_token() {
    let dir = tempfile::tempdir().unwrap();
    let fed = federation();
    let subject = support::cred_standins::StandIn::start(|r| {
        if r.headers
            .iter()
            .any(|(k, v)| k == "metadata" && v == "True")
        {
            (
                200,
                "application/json",
                format!(r#"{{"access_token":"{TOKEN}"}}"#),
            )
        } else {
            (400, "text/plain", String::new())
        }
    });
    let source = format!(
        r#"{{"url":"{}/token","headers":{{"Metadata":"True"}},"format":{{"type":"json","subject_token_field_name":"access_token"}}}}"#,
        subject.url
    );
    let json = wif_json(dir.path(), &fed.url, &source, false);
    let Some(env) = gcs_with(&json, "cred-wif-url.list") else {
        return;
    };
    let run = check_with_env(&env, &[], &[("GCE_METADATA_HOST", "127.0.0.1:9")]);
    assert_passed(&run, "WIF, URL-sourced");
    assert_eq!(target(&run).1, format!("federated principal of {AUDIENCE}"));
    assert_eq!(subject.requests().len(), 1);
    assert_eq!(fed.requests().len(), 1);
}

#[test]
fn workload_identity_federation_wrong_audience_is_a_credential_failure() {
    let dir = tempfile::tempdir().unwrap();
    let fed = federation();
    std::fs::write(dir.path().join("token"), "another-token").unwrap();
    let source = format!(r#"{{"file":"{}"}}"#, dir.path().join("token").display());
    let json = wif_json(dir.path(), &fed.url, &source, true);
    let env = dir.path().join("env.list");
    std::fs::write(
        &env,
        format!(
            "STORAGE_TYPE=gcs\nSTORAGE_GCS_BUCKET_NAME=lsprobe\nSTORAGE_GCS_ENDPOINT={}\n\
             GOOGLE_APPLICATION_CREDENTIALS={}\n",
            closed_port(),
            json.display()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let run = check_with_env(&env, &[], &[("GCE_METADATA_HOST", "127.0.0.1:9")]);
    let message =
        assert_credentials_unavailable(&run, started.elapsed(), &["audience", "wif.json"]);
    assert!(
        message.contains("400") && message.contains("invalid_grant"),
        "{message}"
    );
    assert_eq!(fed.requests().len(), 1, "one exchange, no impersonation");
}

#[test]
fn aws_sourced_federation_is_refused_clearly_by_show_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let json = wif_json(
        dir.path(),
        "http://127.0.0.1:9",
        // The aws1 shape, every address on a closed loopback port: refused before any request.
        r#"{"environment_id":"aws1","region_url":"http://127.0.0.1:9/latest/meta-data/placement/availability-zone","url":"http://127.0.0.1:9/latest/meta-data/iam/security-credentials","regional_cred_verification_url":"http://127.0.0.1:9/?Action=GetCallerIdentity&Version=2011-06-15"}"#,
        false,
    );
    let env = dir.path().join("env.list");
    std::fs::write(
        &env,
        format!(
            "STORAGE_TYPE=gcs\nSTORAGE_GCS_BUCKET_NAME=lsprobe\nGOOGLE_APPLICATION_CREDENTIALS={}\n",
            json.display()
        ),
    )
    .unwrap();
    for command in [&["config", "show"][..], &["check"][..]] {
        let out = assert_cmd::Command::cargo_bin("lsprobe")
            .unwrap()
            .env_clear()
            .args(command)
            .arg("--env-file")
            .arg(&env)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains("external_account")
                && stderr.contains("does not support")
                && stderr.contains("GOOGLE_APPLICATION_CREDENTIALS"),
            "{command:?}: {stderr}"
        );
    }
}

#[test]
fn load_refreshes_node_role_credentials_that_expire_every_15_seconds() {
    // The storage judges temporary credentials as S3 does: a proxy in front of s3rver refuses
    // any request whose session token is unknown or past its expiry (400 ExpiredToken). The
    // node role's IMDS issues a new token, valid 15 s, at every fetch. A run that kept its
    // first credentials would fail every request after 15 s.
    let Some(base) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let text = std::fs::read_to_string(&base).unwrap();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap()
            .trim_matches('"')
            .to_string()
    };
    let (id, secret) = (
        get("STORAGE_AWS_ACCESS_KEY_ID"),
        get("STORAGE_AWS_SECRET_ACCESS_KEY"),
    );
    let upstream = support::cloud_answers::socket_of(&get("STORAGE_AWS_ENDPOINT_URL"));
    let tokens = standins::SessionTokens::default();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let proxy = runtime.block_on(delay_proxy::DelayProxy::start(
        upstream,
        delay_proxy::DelaySpec {
            session_tokens: Some(tokens.clone()),
            ..Default::default()
        },
    ));
    let imds = standins::imds_rotating(&id, &secret, 15, tokens);
    let endpoint = format!("http://{}", proxy.addr);
    let env = keyless(
        &base,
        &[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url),
            ("STORAGE_AWS_ENDPOINT_URL", &endpoint),
        ],
        "cred-load-refresh.list",
    );
    let out = assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .env_clear()
        .args(["load", "--format", "json", "--env-file"])
        .arg(&env)
        .args(["--duration", "45s", "--warmup", "0s", "--concurrency", "2"])
        .args(["--objects", "10", "--rate", "20"])
        .timeout(Duration::from_secs(180))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    support::check::validate_schema(&report);
    let load = &report["load"];
    let mut requests = 0;
    for (op, o) in load["ops"].as_object().unwrap() {
        assert_eq!(
            o["errors"], 0,
            "{op}: no auth error over 45 s: {o}\n{stderr}"
        );
        requests += o["count"].as_u64().unwrap();
    }
    assert!(requests > 100, "{load}");
    assert_eq!(
        proxy.refused_tokens(),
        0,
        "a request went out with an expired or unknown token\n{load}"
    );
    // One fetch is three requests (token, role list, role); 15 s credentials are fetched again
    // in the last third of their lifetime: at least three fetches over 45 s.
    let fetches = imds
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/node-role"))
        .count();
    assert!(fetches >= 3, "credentials fetched {fetches} times");
    assert_eq!(
        report["target"]["credential_source"],
        "AWS chain: instance metadata (node role)"
    );
    assert!(
        report["cleanup"]["leftover"].as_array().unwrap().is_empty(),
        "{report}"
    );
    drop(runtime);
}

#[test]
fn container_credentials_and_shared_file_rows() {
    let Some((env, id, secret)) = s3_iam(S3User::Full) else {
        return;
    };
    // ECS / EKS Pod Identity: a full URI and an authorization token, sent as the header.
    let (key_id, key) = (id.clone(), secret.clone());
    let agent = support::cred_standins::StandIn::start(move |r| {
        let authorized = r
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "pod-identity-token");
        if r.path != "/v1/credentials" || !authorized {
            return (403, "text/plain", String::new());
        }
        (
            200,
            "application/json",
            serde_json::json!({
                "AccessKeyId": key_id,
                "SecretAccessKey": key,
                "Expiration": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
            })
            .to_string(),
        )
    });
    let uri = format!("{}/v1/credentials", agent.url);
    let closed = closed_port();
    let container = keyless(
        &env,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "pod-identity-token"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed),
        ],
        "cred-container.list",
    );
    let run = check_with_env(&container, &[], &[]);
    assert_passed(&run, "container credentials");
    assert_eq!(target(&run).0, "AWS chain: container credentials");
    assert_eq!(agent.requests().len(), 1);
    assert!(!run.report.to_string().contains("pod-identity-token"));

    // A shared credentials file named by AWS_SHARED_CREDENTIALS_FILE, profile from AWS_PROFILE.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    std::fs::write(
        &file,
        format!(
            "[default]\naws_access_key_id = AKIANOTUSED000000000\naws_secret_access_key = x\n\n\
             [label-studio]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"
        ),
    )
    .unwrap();
    let shared = keyless(
        &env,
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", &file.to_string_lossy()),
            ("AWS_PROFILE", "label-studio"),
        ],
        "cred-shared-file.list",
    );
    let run = check_with_env(
        &shared,
        &[],
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed)],
    );
    assert_passed(&run, "shared credentials file");
    let (source, identity) = target(&run);
    assert_eq!(source, "AWS chain: shared credentials file");
    assert!(identity.contains("profile [label-studio]"), "{identity}");
}
