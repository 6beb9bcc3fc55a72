//! Real-cloud answers the emulators never give, one test per fixture in
//! tests/fixtures/cloud-answers/: a stand-in in front of the emulator gives the answer as the
//! provider documents it, `lsprobe check` runs against it as a user runs it, and the status,
//! the cause (`evidence.outcome`) and the remediation are what the fixture says. The table in
//! docs/checks.md is generated from the same fixtures (`docs_table_matches_the_fixtures`).
mod support;

use lsprobe::emulators::{Kind, S3User};
use support::check::{check, edited_env_file};
use support::cloud_answers::{Fixture, StandIn, fixture_dir, socket_of};

/// The env.list variable holding the emulator's endpoint.
fn endpoint_var(kind: Kind) -> &'static str {
    match kind {
        Kind::Gcs => "STORAGE_GCS_ENDPOINT",
        Kind::Azure => "LSPROBE_AZURE_ENDPOINT",
        _ => "STORAGE_AWS_ENDPOINT_URL",
    }
}

fn container_sas(permissions: &str) -> String {
    use lsprobe::emulators::{AZURE_ACCOUNT, AZURE_KEY, BUCKET};
    use lsprobe::provider::azure_sas::{SasResource, service_sas};
    let expiry = chrono::Utc::now() + chrono::Duration::hours(1);
    service_sas(
        AZURE_ACCOUNT,
        AZURE_KEY,
        BUCKET,
        SasResource::Container,
        permissions,
        expiry,
    )
    .unwrap()
}

fn run_fixture(name: &str) {
    let fixture = Fixture::load(name);
    let kind = match fixture.cloud.as_str() {
        "s3" => Kind::S3,
        "gcs" => Kind::Gcs,
        "azure" => Kind::Azure,
        other => panic!("{name}: unknown cloud {other}"),
    };
    let Some(env) = support::env_file(kind, S3User::Full) else {
        return;
    };
    let text = std::fs::read_to_string(&env).unwrap();
    let var = endpoint_var(kind);
    let endpoint = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{var}=")))
        .unwrap_or_else(|| panic!("{var} in {}", env.display()))
        .trim_matches('"')
        .to_string();
    let upstream = socket_of(&endpoint);
    let stand_in = StandIn::start(upstream, fixture.answer.clone());
    let through = endpoint.replacen(&upstream.to_string(), &stand_in.addr.to_string(), 1);
    // `{container-sas:PERMS}`: a container SAS of the emulator's account with those permissions.
    let values: Vec<(String, String)> = fixture
        .env
        .iter()
        .map(|(k, v)| {
            let v = match v
                .strip_prefix("{container-sas:")
                .and_then(|p| p.strip_suffix('}'))
            {
                Some(permissions) => container_sas(permissions),
                None => v.clone(),
            };
            (k.clone(), v)
        })
        .collect();
    let mut changes: Vec<(&str, Option<&str>)> = vec![(var, Some(through.as_str()))];
    for (k, v) in &values {
        changes.push((k.as_str(), (!v.is_empty()).then_some(v.as_str())));
    }
    let edited = edited_env_file(&env, &changes, &format!("cloud-answer-{name}.list"));
    let suite = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cloud-answers-suite.toml");
    let run = check(&edited, &["--suite", suite.to_str().unwrap()]);
    let all = format!("{:#}\nstderr:\n{}", run.report["checks"], run.stderr);
    for e in &fixture.expect {
        let c = run.check(&e.check);
        assert_eq!(c["status"], e.status.as_str(), "{name}: {}\n{all}", e.check);
        if let Some(outcome) = &e.outcome {
            assert_eq!(
                c["evidence"]["outcome"],
                outcome.as_str(),
                "{name}: {}\n{all}",
                e.check
            );
        }
        let message = c["message"].as_str().unwrap();
        for piece in &e.message {
            assert!(
                message.contains(piece),
                "{name}: {} message lacks {piece:?}: {message}",
                e.check
            );
        }
        let remediation = c["remediation"].as_str().unwrap();
        for piece in &e.remediation {
            assert!(
                remediation.contains(piece),
                "{name}: {} remediation lacks {piece:?}: {remediation}",
                e.check
            );
        }
    }
    assert_eq!(run.code, fixture.exit_code, "{name}: exit code\n{all}");
}

macro_rules! rows {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                run_fixture($name);
            }
        )*
        /// Every fixture has its test above.
        const ROWS: &[&str] = &[$($name),*];
    };
}

rows! {
    s3_wrong_region_authorization_header_malformed => "s3-wrong-region-400",
    s3_wrong_region_permanent_redirect => "s3-wrong-region-301",
    s3_kms_denied_on_put => "s3-kms-generate-data-key",
    s3_kms_denied_on_get => "s3-kms-decrypt",
    s3_denied_by_service_control_policy => "s3-deny-scp",
    s3_denied_by_bucket_policy => "s3-deny-bucket-policy",
    s3_denied_by_permissions_boundary => "s3-deny-permissions-boundary",
    s3_denied_by_session_policy => "s3-deny-session-policy",
    s3_no_identity_policy_allows => "s3-deny-identity-policy",
    s3_request_time_too_skewed => "s3-clock-skew",
    s3_expired_token => "s3-expired-token",
    s3_slow_down => "s3-slow-down",
    azure_network_rules => "azure-authorization-failure",
    azure_bad_signature => "azure-authentication-failed",
    azure_request_date_too_old => "azure-clock-skew",
    azure_shared_key_disabled => "azure-key-based-auth-not-permitted",
    azure_account_disabled => "azure-account-disabled",
    azure_server_busy => "azure-server-busy",
    azure_sas_permission_mismatch => "azure-permission-mismatch",
    gcs_requester_pays => "gcs-requester-pays",
    gcs_account_disabled => "gcs-account-disabled",
    gcs_retention_policy_on_delete => "gcs-retention-policy",
    gcs_missing_permission => "gcs-missing-permission",
    unknown_answer_stays_unexpected => "s3-unknown-answer",
}

#[test]
fn every_fixture_has_a_test_and_cites_its_source() {
    let mut rows: Vec<String> = ROWS.iter().map(|r| r.to_string()).collect();
    rows.sort();
    assert_eq!(
        rows,
        Fixture::names(),
        "tests/cloud_answers.rs rows! vs {}",
        fixture_dir().display()
    );
    for name in Fixture::names() {
        let f = Fixture::load(&name);
        assert!(
            f.source.starts_with("https://"),
            "{name}: source must be the page's URL"
        );
        assert!(!f.expect.is_empty() && !f.answer.is_empty(), "{name}");
    }
}

/// The table of docs/checks.md between its markers, as the fixtures make it.
fn table() -> String {
    let mut out = String::from(
        "| Cloud | What you see | lsprobe reports | What it means | What to change | Documented at |\n\
         |---|---|---|---|---|---|\n",
    );
    for name in Fixture::names() {
        let f = Fixture::load(&name);
        let cell = |s: &str| s.trim().replace('\n', " ").replace('|', "\\|");
        let reports: Vec<String> = f
            .expect
            .iter()
            .filter(|e| e.status != "pass" && e.status != "skip")
            .map(|e| {
                let outcome = e
                    .outcome
                    .as_ref()
                    .map(|o| format!(" `{o}`"))
                    .unwrap_or_default();
                format!("`{}` {}{outcome}", e.check, e.status)
            })
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | [{}]({}) |\n",
            match f.cloud.as_str() {
                "s3" => "S3",
                "gcs" => "GCS",
                _ => "Azure",
            },
            cell(&f.see),
            reports.join("; "),
            cell(&f.means),
            cell(&f.change),
            url::Url::parse(&f.source).unwrap().host_str().unwrap(),
            f.source
        ));
    }
    out
}

const BEGIN: &str = "<!-- cloud-answers:begin (generated from tests/fixtures/cloud-answers by tests/cloud_answers.rs; LSPROBE_BLESS=1 rewrites it) -->\n";
const END: &str = "<!-- cloud-answers:end -->";

#[test]
fn docs_table_matches_the_fixtures() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/checks.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc
        .find(BEGIN)
        .expect("docs/checks.md has the cloud-answers markers")
        + BEGIN.len();
    let end = doc[start..].find(END).expect("the end marker") + start;
    let want = table();
    if std::env::var("LSPROBE_BLESS").is_ok_and(|v| v == "1") {
        let new = format!("{}{want}{}", &doc[..start], &doc[end..]);
        std::fs::write(&path, new).unwrap();
        return;
    }
    assert_eq!(
        &doc[start..end],
        want,
        "docs/checks.md's table differs from the fixtures: run \
         LSPROBE_BLESS=1 cargo test --test cloud_answers docs_table"
    );
}

/// The oracle for the wrong-region rows: boto3 itself (the moto emulator's venv holds it), sent
/// through the same stand-in, uploads after following the answer and gets its presigned URL
/// refused, which is what lsprobe reports (`permissions.*` warn, `presign.get` fails).
#[test]
fn boto3_follows_the_wrong_region_answers_and_its_presigned_url_fails() {
    for (name, refused) in [
        ("s3-wrong-region-400", "presigned: 400"),
        ("s3-wrong-region-301", "presigned: 301"),
    ] {
        boto3_oracle(name, refused);
    }
}

fn boto3_oracle(name: &str, refused: &str) {
    let fixture = Fixture::load(name);
    let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let text = std::fs::read_to_string(&env).unwrap();
    let var = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {}", env.display()))
            .trim_matches('"')
            .to_string()
    };
    let endpoint = var("STORAGE_AWS_ENDPOINT_URL");
    let upstream = socket_of(&endpoint);
    let stand_in = StandIn::start(upstream, fixture.answer.clone());
    let script = r#"
import sys, urllib.request, urllib.error, uuid
import boto3
from botocore.config import Config
endpoint, bucket, key_id, secret = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id=key_id, aws_secret_access_key=secret,
    config=Config(signature_version="s3v4", retries={"max_attempts": 1}))
key = "lsprobe-oracle/%s.bin" % uuid.uuid4()
s3.put_object(Bucket=bucket, Key=key, Body=b"region")
print("put: ok")
url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
try:
    urllib.request.urlopen(url)
    print("presigned: ok")
except urllib.error.HTTPError as e:
    print("presigned: %d %s" % (e.code, e.read().decode()))
s3.delete_object(Bucket=bucket, Key=key)
print("delete: ok")
"#;
    let out = std::process::Command::new(support::emulators::boto3_python())
        .env_clear()
        .args(["-c", script])
        .arg(format!("http://{}", stand_in.addr))
        .args([
            var("STORAGE_AWS_BUCKET_NAME"),
            var("STORAGE_AWS_ACCESS_KEY_ID"),
            var("STORAGE_AWS_SECRET_ACCESS_KEY"),
        ])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}: {stdout}\n{stderr}");
    assert!(stdout.contains("put: ok"), "{name}: {stdout}");
    assert!(stdout.contains(refused), "{name}: {stdout}");
    assert!(stdout.contains("delete: ok"), "{name}: {stdout}");
}
