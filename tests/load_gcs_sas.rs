//! `lsprobe load` on GCS (bearer tokens on the JSON API) and on Azure with a SAS token, as a user
//! runs it, against fake-gcs-server and Azurite: every operation of the mix succeeds, the run
//! leaves nothing behind, the token is refreshed before it expires (proven at the stand-in that
//! issued it and at a proxy that refuses expired tokens), and a SAS token that cannot do what
//! the mix needs is refused before any request. google-cloud-storage and azure-storage-blob
//! (Label Studio's own clients, from its venv) are the oracle for what the lean requests store.
#[path = "support/delay_proxy.rs"]
mod delay_proxy;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use delay_proxy::{DelayProxy, DelaySpec};
use lsprobe::emulators::{Kind, S3User};
use support::check::validate_schema;
use support::cred_standins as standins;

struct LoadRun {
    code: i32,
    report: serde_json::Value,
    stderr: String,
}

/// `lsprobe load --env-file ENV --format json ARGS...` with only `vars` in the environment.
fn load(env: &Path, args: &[&str], vars: &[(&str, &str)]) -> LoadRun {
    let out = assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .env_clear()
        .envs(vars.iter().copied())
        .args(["load", "--format", "json", "--env-file"])
        .arg(env)
        .args(args)
        .timeout(Duration::from_secs(180))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    if !report.is_null() {
        validate_schema(&report);
    }
    LoadRun {
        code: out.status.code().unwrap_or(-1),
        report,
        stderr,
    }
}

/// The lines of the emulator's env.list for `kind`, as (name, value).
fn env_pairs(kind: Kind) -> Option<Vec<(String, String)>> {
    let path = support::env_file(kind, S3User::Full)?;
    let text = std::fs::read_to_string(path).unwrap();
    Some(
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect(),
    )
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    &pairs.iter().find(|(k, _)| k == key).unwrap().1
}

/// Writes an env.list of `pairs`, without `drop`, plus `add`; returns its path.
fn write_env(
    dir: &Path,
    name: &str,
    pairs: &[(String, String)],
    drop: &[&str],
    add: &[(&str, &str)],
) -> PathBuf {
    let mut text = String::new();
    for (k, v) in pairs {
        if !drop.contains(&k.as_str()) {
            text.push_str(&format!("{k}={v}\n"));
        }
    }
    for (k, v) in add {
        text.push_str(&format!("{k}={v}\n"));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Latency on a busy 2-core machine is not what these tests are about.
const LIFTED: &[&str] = &[
    "--require",
    "hdd",
    "--threshold",
    "get_ttfb_p50_ms=60000",
    "--threshold",
    "get_ttfb_p99_ms=60000",
    "--threshold",
    "stalled_pct=100",
];

const EVERY_OP: &[&str] = &[
    "--mix",
    "get=40,put=20,head=20,list=10,delete=10",
    "--size",
    "4KiB:80,256KiB:20",
    "--requests",
    "300",
    "--warmup",
    "0s",
    "--concurrency",
    "4",
    "--objects",
    "10",
];

fn assert_every_op_succeeded(run: &LoadRun, what: &str) {
    assert_eq!(run.code, 0, "{what}: {}\n{}", run.report, run.stderr);
    let load = &run.report["load"];
    for op in ["get", "put", "head", "list", "delete"] {
        let o = &load["ops"][op];
        assert!(o["count"].as_u64().unwrap() > 0, "{what} {op}: {load}");
        assert_eq!(o["errors"], 0, "{what} {op}: {o}");
    }
    let cleanup = &run.report["cleanup"];
    assert!(
        cleanup["leftover"].as_array().unwrap().is_empty(),
        "{what}: {cleanup}"
    );
    assert!(
        cleanup["deleted"].as_u64().unwrap() >= 10,
        "{what}: {cleanup}"
    );
}

fn run_prefix(run: &LoadRun) -> String {
    run.report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "load.verdict")
        .and_then(|c| c["evidence"]["run_prefix"].as_str())
        .unwrap_or_else(|| panic!("run_prefix in {}", run.report))
        .to_string()
}

/// Label Studio's Python (its venv holds google-cloud-storage and azure-storage-blob).
fn ls_python() -> Option<PathBuf> {
    let emu = support::emulators()?;
    let python = emu
        .layout()
        .cache_dir
        .join("venv/label-studio-1.23.2/bin/python");
    if python.exists() {
        return Some(python);
    }
    support::skip_or_fail("Label Studio's venv (the SDK oracle) is not installed");
    None
}

/// Runs `script` in Label Studio's Python; its stdout.
fn python(py: &Path, script: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Object names under `prefix` as google-cloud-storage lists them on fake-gcs-server.
fn gcs_names(py: &Path, endpoint: &str, prefix: &str) -> Vec<String> {
    let script = r#"
import sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
c = storage.Client(project="p", credentials=AnonymousCredentials(), client_options={"api_endpoint": sys.argv[1]})
for b in c.list_blobs("lsprobe", prefix=sys.argv[2]):
    print(b.name)
"#;
    python(py, script, &[endpoint, prefix])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn gcs_every_operation_succeeds_and_nothing_is_left() {
    let Some(pairs) = env_pairs(Kind::Gcs) else {
        return;
    };
    let env = support::env_file(Kind::Gcs, S3User::Full).unwrap();
    let mut args = EVERY_OP.to_vec();
    // GCS is held to the `gcs` profile by default; its latency limits are lifted (a busy
    // 2-core machine is not what this test is about).
    args.extend_from_slice(&[
        "--threshold",
        "get_ttfb_p50_ms=60000",
        "--threshold",
        "stalled_pct=100",
    ]);
    let run = load(&env, &args, &[]);
    assert_every_op_succeeded(&run, "gcs");
    assert_eq!(run.report["target"]["provider"], "gcs", "{}", run.report);
    let verdict = &run.report["load"]["verdict"];
    assert_eq!(verdict["required"], "gcs", "{verdict}");
    assert_eq!(verdict["class"], "gcs", "{verdict}");
    let prefix = run_prefix(&run);
    assert!(prefix.starts_with("media/.lsprobe/"), "{prefix}");
    let Some(py) = ls_python() else { return };
    let left = gcs_names(&py, get(&pairs, "STORAGE_GCS_ENDPOINT"), &prefix);
    assert!(left.is_empty(), "left under {prefix}: {left:?}");
}

/// A service-account key file whose `token_uri` is a loopback stand-in that verifies the JWT
/// grant and issues tokens valid 15 s; the storage is behind a proxy that refuses any request
/// whose bearer token the stand-in did not issue or that has expired. A run that kept its first
/// token would be refused after 15 s; a run that never asked the token endpoint would be
/// refused at once.
#[test]
fn gcs_service_account_tokens_are_granted_and_refreshed_before_expiry() {
    let Some(pairs) = env_pairs(Kind::Gcs) else {
        return;
    };
    let Some(pem) = lsprobe::emulators::rsa_private_key_pem() else {
        support::skip_or_fail("openssl is not installed (an RSA key for the grant)");
        return;
    };
    let der = {
        use base64::Engine;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    };
    let public = ring::signature::RsaKeyPair::from_pkcs8(&der)
        .unwrap()
        .public()
        .as_ref()
        .to_vec();
    const EMAIL: &str = "label-studio@lsprobe-local.iam.gserviceaccount.com";
    let tokens = standins::SessionTokens::default();
    let grant = standins::google_token(EMAIL, public, 15, tokens.clone());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = support::cloud_answers::socket_of(get(&pairs, "STORAGE_GCS_ENDPOINT"));
    let proxy = runtime.block_on(DelayProxy::start(
        upstream,
        DelaySpec {
            session_tokens: Some(tokens),
            ..Default::default()
        },
    ));
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("sa.json");
    std::fs::write(
        &key_file,
        serde_json::json!({
            "type": "service_account",
            "project_id": "lsprobe-local",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": EMAIL,
            "token_uri": format!("{}/token", grant.url),
        })
        .to_string(),
    )
    .unwrap();
    let endpoint = format!("http://{}", proxy.addr);
    let env = write_env(
        dir.path(),
        "env.list",
        &pairs,
        &["GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_GCS_ENDPOINT"],
        &[
            ("GOOGLE_APPLICATION_CREDENTIALS", key_file.to_str().unwrap()),
            ("STORAGE_GCS_ENDPOINT", &endpoint),
        ],
    );
    let closed = standins::closed_port();
    let mut args = vec![
        "--mix",
        "get=70,put=15,head=14,list=1",
        "--size",
        "4KiB",
        "--duration",
        "40s",
        "--warmup",
        "0s",
        "--concurrency",
        "2",
        "--objects",
        "10",
        "--rate",
        "20",
    ];
    args.extend_from_slice(LIFTED);
    let run = load(&env, &args, &[("GCE_METADATA_HOST", &closed[7..])]);
    assert_eq!(run.code, 0, "{}\n{}", run.report, run.stderr);
    let load = &run.report["load"];
    let mut requests = 0;
    for (op, o) in load["ops"].as_object().unwrap() {
        assert_eq!(o["errors"], 0, "{op}: no auth error over 40 s: {o}");
        requests += o["count"].as_u64().unwrap();
    }
    assert!(requests > 200, "{load}");
    assert_eq!(
        proxy.refused_tokens(),
        0,
        "a request went out with an expired or unknown token\n{load}"
    );
    let grants = grant.requests();
    assert!(
        grants.len() >= 3,
        "15 s tokens over 40 s are granted at least 3 times, got {}",
        grants.len()
    );
    assert!(
        run.report["target"]["credential_source"]
            .as_str()
            .unwrap()
            .starts_with("service-account JSON"),
        "{}",
        run.report["target"]
    );
    assert!(
        run.report["cleanup"]["leftover"]
            .as_array()
            .unwrap()
            .is_empty(),
        "cleanup sends the granted token too: {}",
        run.report["cleanup"]
    );
    let text = run.report.to_string() + &run.stderr;
    assert!(!text.contains("ya29.granted"), "no token is printed");
    assert!(!text.contains("PRIVATE KEY"), "no key is printed");
    drop(runtime);
}

/// GKE Workload Identity: no key file, the metadata server (`GCE_METADATA_HOST`, a loopback
/// stand-in) issues a new token valid 15 s at every fetch; the proxy in front of
/// fake-gcs-server refuses unknown and expired tokens.
#[test]
fn gcs_metadata_server_tokens_are_refreshed_before_expiry() {
    let Some(pairs) = env_pairs(Kind::Gcs) else {
        return;
    };
    const EMAIL: &str = "ls-pod@lsprobe-local.iam.gserviceaccount.com";
    let tokens = standins::SessionTokens::default();
    let gce = standins::gce_rotating(EMAIL, 15, tokens.clone());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = support::cloud_answers::socket_of(get(&pairs, "STORAGE_GCS_ENDPOINT"));
    let proxy = runtime.block_on(DelayProxy::start(
        upstream,
        DelaySpec {
            session_tokens: Some(tokens),
            ..Default::default()
        },
    ));
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{}", proxy.addr);
    let env = write_env(
        dir.path(),
        "env.list",
        &pairs,
        &["GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_GCS_ENDPOINT"],
        &[("STORAGE_GCS_ENDPOINT", &endpoint)],
    );
    let mut args = vec![
        "--mix",
        "get=60,put=20,head=10,list=5,delete=5",
        "--size",
        "4KiB",
        "--duration",
        "35s",
        "--warmup",
        "0s",
        "--concurrency",
        "2",
        "--objects",
        "10",
        "--rate",
        "20",
    ];
    args.extend_from_slice(LIFTED);
    let run = load(&env, &args, &[("GCE_METADATA_HOST", &gce.host)]);
    assert_eq!(run.code, 0, "{}\n{}", run.report, run.stderr);
    let load = &run.report["load"];
    for (op, o) in load["ops"].as_object().unwrap() {
        assert_eq!(o["errors"], 0, "{op}: no auth error over 35 s: {o}");
    }
    assert_eq!(
        proxy.refused_tokens(),
        0,
        "an expired or unknown token\n{load}"
    );
    let fetches = gce
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/token"))
        .count();
    assert!(
        fetches >= 3,
        "15 s tokens over 35 s: fetched {fetches} times"
    );
    let target = &run.report["target"];
    assert!(
        target["credential_source"]
            .as_str()
            .unwrap()
            .starts_with("GCE metadata server"),
        "{target}"
    );
    assert_eq!(target["identity"], format!("service account {EMAIL}"));
    assert!(
        run.report["cleanup"]["leftover"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    drop(runtime);
}

/// A key file that cannot give a token stops the run before any request reaches the bucket,
/// as `lsprobe check` does: one without a private key is bad input (exit 2, the file named,
/// never quoted); one whose key the token endpoint refuses (`invalid_grant`, as Google answers
/// a deleted key) fails the run (exit 1, a report saying why).
#[test]
fn gcs_key_files_that_give_no_token_fail_before_any_request() {
    let Some(pem) = lsprobe::emulators::rsa_private_key_pem() else {
        support::skip_or_fail("openssl is not installed (an RSA key for the grant)");
        return;
    };
    let other = lsprobe::emulators::rsa_private_key_pem().unwrap();
    let public_of_other = {
        use base64::Engine;
        let body: String = other.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        ring::signature::RsaKeyPair::from_pkcs8(&der)
            .unwrap()
            .public()
            .as_ref()
            .to_vec()
    };
    const EMAIL: &str = "label-studio@lsprobe-local.iam.gserviceaccount.com";
    let grant = standins::google_token(EMAIL, public_of_other, 3600, Default::default());
    let bucket = standins::StandIn::start(|_| (500, "text/plain", String::new()));
    let dir = tempfile::tempdir().unwrap();
    for (name, private_key, named, code) in [
        ("no key", "".to_string(), "no usable private_key", 2),
        (
            "a key the endpoint refuses",
            pem.clone(),
            "invalid_grant",
            1,
        ),
    ] {
        let key_file = dir.path().join("sa.json");
        std::fs::write(
            &key_file,
            serde_json::json!({
                "type": "service_account",
                "private_key_id": "k1",
                "private_key": private_key,
                "client_email": EMAIL,
                "token_uri": format!("{}/token", grant.url),
            })
            .to_string(),
        )
        .unwrap();
        let env = write_env(
            dir.path(),
            "env.list",
            &[],
            &[],
            &[
                ("STORAGE_TYPE", "gcs"),
                ("STORAGE_GCS_BUCKET_NAME", "lsprobe"),
                ("STORAGE_GCS_ENDPOINT", &bucket.url),
                ("GOOGLE_APPLICATION_CREDENTIALS", key_file.to_str().unwrap()),
            ],
        );
        let run = load(&env, &["--requests", "10"], &[]);
        assert_eq!(run.code, code, "{name}: {}", run.stderr);
        let said = format!("{}{}", run.report, run.stderr);
        assert!(said.contains(named), "{name}: {said}");
        assert!(
            said.contains(key_file.to_str().unwrap()),
            "{name}: names the file: {said}"
        );
        assert!(!said.contains("PRIVATE KEY"), "{name}: {said}");
        assert!(run.report["load"].is_null(), "{name}: nothing measured");
        assert!(
            bucket.requests().is_empty(),
            "{name}: nothing reached the bucket"
        );
    }
    assert_eq!(
        grant.requests().len(),
        1,
        "one grant attempt, no retry storm"
    );
}

/// A container SAS for Azurite's container with `permissions`, expiring `expiry_secs` from now.
fn sas(pairs: &[(String, String)], permissions: &str, expiry_secs: i64) -> String {
    lsprobe::provider::azure_sas::service_sas(
        get(pairs, "STORAGE_AZURE_ACCOUNT_NAME"),
        get(pairs, "STORAGE_AZURE_ACCOUNT_KEY"),
        get(pairs, "STORAGE_AZURE_CONTAINER_NAME"),
        lsprobe::provider::azure_sas::SasResource::Container,
        permissions,
        chrono::Utc::now() + chrono::Duration::seconds(expiry_secs),
    )
    .unwrap()
}

#[test]
fn azure_with_a_sas_token_runs_every_operation_and_leaves_nothing() {
    let Some(pairs) = env_pairs(Kind::Azure) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let token = sas(&pairs, "racwdl", 3600);
    let env = write_env(
        dir.path(),
        "sas.list",
        &pairs,
        &["STORAGE_AZURE_ACCOUNT_KEY"],
        &[("LSPROBE_AZURE_SAS_TOKEN", &token)],
    );
    let mut args = EVERY_OP.to_vec();
    args.extend_from_slice(LIFTED);
    let run = load(&env, &args, &[]);
    assert_every_op_succeeded(&run, "azure sas");
    assert_eq!(run.report["target"]["provider"], "azure");
    let text = run.report.to_string() + &run.stderr;
    let sig = token.split("sig=").nth(1).unwrap();
    assert!(!text.contains(sig), "the SAS signature is never printed");
    // What is left under the run prefix, through the account key (not the SAS).
    let keyed = support::env_file(Kind::Azure, S3User::Full).unwrap();
    let storage = {
        let args = lsprobe::config::TargetOptions {
            env_file: Some(keyed),
            ..Default::default()
        };
        let resolved = lsprobe::config::resolve(&args, &[]).unwrap();
        lsprobe::provider::Storage::new(&resolved.target).unwrap()
    };
    let prefix = run_prefix(&run);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answer = runtime
        .block_on(storage.send(&lsprobe::provider::Op::List {
            prefix: prefix.clone(),
            limit: 100,
            page: None,
        }))
        .unwrap();
    let listing = storage.parse_listing(&answer).unwrap();
    assert!(
        listing.objects.is_empty(),
        "left under {prefix}: {:?}",
        listing.objects
    );
}

/// Azurite behind a proxy that counts requests: a SAS that cannot do what the run needs is exit
/// 2 naming the setting, the permission and the flag, and nothing reaches the storage.
#[test]
fn an_under_privileged_or_expired_sas_is_refused_before_any_request() {
    let Some(pairs) = env_pairs(Kind::Azure) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let endpoint = get(&pairs, "LSPROBE_AZURE_ENDPOINT").to_string();
    let upstream = support::cloud_answers::socket_of(&endpoint);
    let proxy = runtime.block_on(DelayProxy::start(upstream, DelaySpec::default()));
    let account = get(&pairs, "STORAGE_AZURE_ACCOUNT_NAME").to_string();
    let through_proxy = format!("http://{}/{account}", proxy.addr);
    let dir = tempfile::tempdir().unwrap();
    for (name, token, args, named) in [
        (
            "read-list only, the default mix writes",
            sas(&pairs, "rl", 3600),
            &[][..],
            &["lacks `w`", "--mix"][..],
        ),
        (
            "no read for a GET mix",
            sas(&pairs, "wdl", 3600),
            &["--mix", "get=1"][..],
            &["lacks `r`", "--mix"][..],
        ),
        (
            "no delete: cleanup could not remove what it writes",
            sas(&pairs, "rwl", 3600),
            &["--mix", "get=1"][..],
            &["lacks `d`", "cleanup"][..],
        ),
        (
            "no list for a LIST mix",
            sas(&pairs, "rwd", 3600),
            &["--mix", "get=9,list=1"][..],
            &["lacks `l`", "--mix"][..],
        ),
        (
            "expired",
            sas(&pairs, "racwdl", -60),
            &[][..],
            &["expired at"][..],
        ),
        (
            "expires before the run ends",
            sas(&pairs, "racwdl", 30),
            &["--duration", "5m"][..],
            &["before the run ends", "--duration"][..],
        ),
    ] {
        let env = write_env(
            dir.path(),
            "sas.list",
            &pairs,
            &["STORAGE_AZURE_ACCOUNT_KEY", "LSPROBE_AZURE_ENDPOINT"],
            &[
                ("LSPROBE_AZURE_SAS_TOKEN", &token),
                ("LSPROBE_AZURE_ENDPOINT", &through_proxy),
            ],
        );
        let run = load(&env, args, &[]);
        assert_eq!(run.code, 2, "{name}: {}\n{}", run.report, run.stderr);
        for want in named
            .iter()
            .chain(&["LSPROBE_AZURE_SAS_TOKEN", "no request was sent"])
        {
            assert!(
                run.stderr.contains(want),
                "{name}: lacks {want:?}: {}",
                run.stderr
            );
        }
        let sig = token.split("sig=").nth(1).unwrap();
        assert!(
            !run.stderr.contains(sig),
            "{name}: the signature is not printed"
        );
        assert_eq!(proxy.requests(), 0, "{name}: a request reached the storage");
    }
    // The same proxy passes a SAS that can: the refusals above were the token's, not the way.
    let env = write_env(
        dir.path(),
        "sas-ok.list",
        &pairs,
        &["STORAGE_AZURE_ACCOUNT_KEY", "LSPROBE_AZURE_ENDPOINT"],
        &[
            ("LSPROBE_AZURE_SAS_TOKEN", &sas(&pairs, "rcwdl", 3600)),
            ("LSPROBE_AZURE_ENDPOINT", &through_proxy),
        ],
    );
    let mut args = vec!["--requests", "40", "--concurrency", "2", "--objects", "4"];
    args.extend_from_slice(LIFTED);
    let run = load(&env, &args, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.report, run.stderr);
    assert!(proxy.requests() > 40);
    drop(runtime);
}

/// Sends one lean request as it is (method, origin-form target, headers, body) to `base`.
fn send(base: &str, req: http::Request<lsprobe::load::request::Body>) -> (u16, Vec<u8>) {
    let (parts, body) = req.into_parts();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let body = body.0;
        let mut headers = parts.headers.clone();
        headers.remove(http::header::HOST);
        let answer = reqwest::Client::new()
            .request(parts.method, format!("{base}{}", parts.uri))
            .headers(headers)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.bytes().await.unwrap().to_vec())
    })
}

/// The oracle: an object lsprobe's lean PUT stored on fake-gcs-server is the object
/// google-cloud-storage's `upload_from_file` (Label Studio's upload) stores from the same bytes:
/// same size, content type and MD5; the library reads lsprobe's bytes back; lsprobe's GET,
/// HEAD, LIST and DELETE see and remove the library's object.
#[test]
fn gcs_lean_requests_store_what_google_cloud_storage_stores() {
    use lsprobe::load::OpRequest;
    use lsprobe::load::gcs::{GcsConfig, GcsRequests};
    use lsprobe::load::request::{OpCall, Payload};
    let Some(pairs) = env_pairs(Kind::Gcs) else {
        return;
    };
    let Some(py) = ls_python() else { return };
    let base = get(&pairs, "STORAGE_GCS_ENDPOINT")
        .trim_end_matches('/')
        .to_string();
    let mut rq = GcsRequests::new(
        GcsConfig {
            endpoint: std::sync::Arc::new(lsprobe::load::Endpoint::parse(&base).unwrap()),
            bucket: "lsprobe".into(),
        },
        None,
    )
    .unwrap();
    let prefix = format!("media/lsprobe-test/{}/", uuid::Uuid::new_v4());
    let ours = format!("{prefix}lean a+b ü.bin");
    let theirs = format!("{prefix}sdk a+b ü.bin");
    let body = Payload::generate(300_000, 7);
    let path = rq.object_path(&ours);
    let now = std::time::SystemTime::now();
    let (status, answer) = send(
        &base,
        rq.build(
            &OpCall::Put {
                path: &path,
                body: &body,
            },
            now,
        ),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.bin");
    std::fs::write(&file, &body.bytes).unwrap();
    let script = r#"
import sys, hashlib
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
endpoint, ours, theirs, path = sys.argv[1:5]
c = storage.Client(project="p", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint})
b = c.bucket("lsprobe")
with open(path, "rb") as f:
    b.blob(theirs).upload_from_file(f)
data = open(path, "rb").read()
assert b.blob(ours).download_as_bytes() == data, "the library reads what lsprobe wrote"
for name in (ours, theirs):
    o = b.get_blob(name)
    print(o.name, o.size, o.content_type, o.md5_hash)
"#;
    let out = python(
        &py,
        script,
        &[&base, &ours, &theirs, file.to_str().unwrap()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let strip = |l: &str, name: &str| l.strip_prefix(name).unwrap().to_string();
    assert_eq!(
        strip(lines[0], &ours),
        strip(lines[1], &theirs),
        "same size, content type and MD5:\n{out}"
    );
    assert!(
        lines[0].contains(" 300000 application/octet-stream "),
        "{out}"
    );
    // lsprobe's other operations on the library's object.
    let their_path = rq.object_path(&theirs);
    let (status, got) = send(&base, rq.build(&OpCall::Get(&their_path), now));
    assert_eq!((status, got == body.bytes), (200, true));
    let (status, meta) = send(&base, rq.build(&OpCall::Head(&their_path), now));
    assert_eq!(status, 200);
    let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap();
    assert_eq!(meta["name"], theirs.as_str());
    let list = OpCall::List {
        prefix: &prefix,
        max_keys: 1,
        continuation: None,
    };
    let (status, page) = send(&base, rq.build(&list, now));
    assert_eq!(status, 200);
    let first = rq.parse_list(&page).unwrap();
    assert_eq!(first.objects.len(), 1, "one per page");
    let token = first.continuation.clone().expect("a second page");
    let next = OpCall::List {
        prefix: &prefix,
        max_keys: 1,
        continuation: Some(&token),
    };
    let (_, page) = send(&base, rq.build(&next, now));
    let second = rq.parse_list(&page).unwrap();
    let mut names: Vec<(String, u64)> = first.objects.into_iter().chain(second.objects).collect();
    names.sort();
    assert_eq!(
        names,
        vec![(ours.clone(), 300_000), (theirs.clone(), 300_000)]
    );
    for p in [&path, &their_path] {
        let (status, _) = send(&base, rq.build(&OpCall::Delete(p), now));
        // GCS answers 204; fake-gcs-server 200.
        assert!(matches!(status, 200 | 204), "DELETE answered {status}");
    }
    assert!(gcs_names(&py, &base, &prefix).is_empty());
}

/// The oracle for SAS requests: azure-storage-blob, given the same SAS token, reads what
/// lsprobe's lean PUT wrote, and lsprobe's lean GET reads what the library wrote.
#[test]
fn azure_sas_lean_requests_agree_with_azure_storage_blob() {
    use lsprobe::load::OpRequest;
    use lsprobe::load::request::{OpCall, Payload};
    use lsprobe::load::sharedkey::AzureRequests;
    let Some(pairs) = env_pairs(Kind::Azure) else {
        return;
    };
    let Some(py) = ls_python() else { return };
    let endpoint = get(&pairs, "LSPROBE_AZURE_ENDPOINT")
        .trim_end_matches('/')
        .to_string();
    let container = get(&pairs, "STORAGE_AZURE_CONTAINER_NAME").to_string();
    let token = sas(&pairs, "racwdl", 3600);
    let mut rq = AzureRequests::with_sas(
        std::sync::Arc::new(lsprobe::load::Endpoint::parse(&endpoint).unwrap()),
        get(&pairs, "STORAGE_AZURE_ACCOUNT_NAME").to_string(),
        &container,
        lsprobe::config::Secret::new(token.clone()),
    );
    let origin = {
        let u = url::Url::parse(&endpoint).unwrap();
        format!("{}://{}", u.scheme(), u.host_str().unwrap()) + &format!(":{}", u.port().unwrap())
    };
    let prefix = format!("media/lsprobe-test/{}/", uuid::Uuid::new_v4());
    let ours = format!("{prefix}lean a+b ü.bin");
    let theirs = format!("{prefix}sdk a+b ü.bin");
    let body = Payload::generate(100_000, 3);
    let path = rq.object_path(&ours);
    let now = std::time::SystemTime::now();
    let put = rq.build(
        &OpCall::Put {
            path: &path,
            body: &body,
        },
        now,
    );
    let (status, answer) = send(&origin, put);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.bin");
    std::fs::write(&file, &body.bytes).unwrap();
    let script = r#"
import sys
from azure.storage.blob import ContainerClient
endpoint, container, sas, ours, theirs, path = sys.argv[1:7]
c = ContainerClient(account_url=endpoint, container_name=container, credential=sas)
data = open(path, "rb").read()
assert c.download_blob(ours).readall() == data, "the library reads what lsprobe wrote"
c.upload_blob(theirs, data)
for b in c.list_blobs(name_starts_with=sys.argv[7]):
    print(b.name, b.size)
"#;
    let out = python(
        &py,
        script,
        &[
            &endpoint,
            &container,
            &token,
            &ours,
            &theirs,
            file.to_str().unwrap(),
            &prefix,
        ],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![format!("{ours} 100000"), format!("{theirs} 100000")],
        "{out}"
    );
    let their_path = rq.object_path(&theirs);
    let (status, got) = send(&origin, rq.build(&OpCall::Get(&their_path), now));
    assert_eq!((status, got == body.bytes), (200, true));
    for p in [&path, &their_path] {
        let (status, _) = send(&origin, rq.build(&OpCall::Delete(p), now));
        assert_eq!(status, 202);
    }
}
