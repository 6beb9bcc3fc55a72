//! Presigned URLs as Label Studio makes them, fetched without credentials, on real emulators;
//! signatures checked where the backend checks them (s3s-fs, Azurite); GCS signBlob refusals
//! against a local stand-in (never Google); Azure account kind.
mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::Method;
use lsprobe::checks::presign::{fetch, rejection};
use lsprobe::config::{Target, resolve};
use lsprobe::emulators::{AZURE_ACCOUNT, AZURE_KEY, BUCKET, Kind, S3User};
use lsprobe::provider::azure_sas::{SasResource, service_sas};
use lsprobe::provider::presign::{Presigned, Scheme};
use lsprobe::provider::{Op, Storage};
use support::check::{CheckRun, check, edited_env_file};

fn target(env: &Path) -> Target {
    let args = lsprobe::config::TargetOptions {
        env_file: Some(env.to_path_buf()),
        ..Default::default()
    };
    resolve(&args, &[]).expect("the env file resolves").target
}

/// No signature, token or key id in clear anywhere in the report.
fn assert_no_signature(run: &CheckRun) {
    let text = run.report.to_string();
    for name in [
        "Signature=",
        "sig=",
        "X-Goog-Signature=",
        "X-Amz-Signature=",
        "AWSAccessKeyId=",
    ] {
        for (at, _) in text.match_indices(name) {
            assert!(
                text[at + name.len()..].starts_with("***"),
                "{name} in clear: {}",
                &text[at..(at + 80).min(text.len())]
            );
        }
    }
}

fn assert_round_trip(run: &CheckRun, scheme: &str, label: &str) {
    for id in ["presign.get", "presign.put"] {
        let c = run.check(id);
        assert_eq!(c["status"], "pass", "{label} {id}: {c}");
        assert_eq!(c["evidence"]["scheme"], scheme, "{label} {id}");
        assert!(
            c["evidence"]["url"].as_str().unwrap().contains("=***"),
            "{c}"
        );
    }
    let get = run.check("presign.get");
    assert!(
        get["evidence"]["key"]
            .as_str()
            .unwrap()
            .ends_with("presign/a b/ü ñ/clip 1.bin"),
        "{get}"
    );
    assert_eq!(get["evidence"]["nginx_status"], 206, "{get}");
    assert_no_signature(run);
    assert!(
        run.report["cleanup"]["leftover"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{label}: {}",
        run.report["cleanup"]
    );
}

/// The fake-gcs-server credentials with a private key generated now (openssl).
fn gcs_env_with_key(
    env: &Path,
    extra: &[(&str, serde_json::Value)],
    name: &str,
) -> Option<PathBuf> {
    let text = std::fs::read_to_string(env).unwrap();
    let creds = text
        .lines()
        .find_map(|l| l.strip_prefix("GOOGLE_APPLICATION_CREDENTIALS="))
        .unwrap();
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(creds).unwrap()).unwrap();
    for (k, v) in extra {
        json[*k] = v.clone();
    }
    let path = env.with_file_name(format!("{name}.json"));
    std::fs::write(&path, json.to_string()).unwrap();
    Some(edited_env_file(
        env,
        &[(
            "GOOGLE_APPLICATION_CREDENTIALS",
            Some(path.to_str().unwrap()),
        )],
        &format!("{name}.list"),
    ))
}

fn rsa_key_pem() -> Option<String> {
    let pem = lsprobe::emulators::rsa_private_key_pem();
    if pem.is_none() {
        support::skip_or_fail("openssl is needed to generate a service-account key");
    }
    pem
}

#[test]
fn presigned_round_trips_on_s3rver_azurite_and_fake_gcs() {
    let Some(s3) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let run = check(&s3, &["--suite", "full"]);
    assert_round_trip(&run, "s3-sigv2", "s3rver unset");
    let v4 = edited_env_file(
        &s3,
        &[("STORAGE_AWS_S3_SIGNATURE_VERSION", Some("s3v4"))],
        "s3-s3v4.list",
    );
    assert_round_trip(&check(&v4, &["--suite", "full"]), "s3-sigv4", "s3rver s3v4");

    let azure = support::env_file(Kind::Azure, S3User::Full).unwrap();
    let run = check(&azure, &["--suite", "full"]);
    assert_round_trip(&run, "azure-blob-sas", "azurite");
    assert!(
        run.check("presign.get")["evidence"]["url"]
            .as_str()
            .unwrap()
            .contains("sp=r&")
    );

    let gcs = support::env_file(Kind::Gcs, S3User::Full).unwrap();
    // Stub credentials without a key: nothing is signed, nothing goes to Google.
    let stub = gcs_env_with_key(&gcs, &[("private_key", "".into())], "gcs-stub").unwrap();
    let stub = check(&stub, &["--suite", "full"]);
    let skipped = stub.check("presign.get");
    assert_eq!(skipped["status"], "skip", "{skipped}");
    assert!(skipped["message"].as_str().unwrap().contains("signBlob"));
    // `lsprobe emulators up` gives the emulator a key of its own (openssl), so the env.list it
    // prints signs URLs as is; a key made here works the same.
    let run = check(&gcs, &["--suite", "full"]);
    assert_round_trip(&run, "gcs-v4-private-key", "fake-gcs");
    let Some(pem) = rsa_key_pem() else { return };
    let keyed = gcs_env_with_key(&gcs, &[("private_key", pem.into())], "gcs-keyed").unwrap();
    let run = check(&keyed, &["--suite", "full"]);
    assert_round_trip(&run, "gcs-v4-private-key", "fake-gcs");
    assert!(!run.report.to_string().contains("PRIVATE KEY"));
}

/// Answers every request with `status` and `body`; returns the port and the requests seen.
fn stand_in(status: &str, body: &'static str) -> (u16, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    let status = status.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = vec![0; 65536];
            let n = s.read(&mut buf).unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, rx)
}

#[test]
fn gcs_signblob_refusal_is_reported_with_the_iam_fix() {
    let Some(gcs) = support::env_file(Kind::Gcs, S3User::Full) else {
        return;
    };
    let (port, seen) = stand_in(
        "403 Forbidden",
        r#"{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.signBlob' denied on resource (or it may not exist).","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"IAM_PERMISSION_DENIED"}]}}"#,
    );
    let env = gcs_env_with_key(
        &gcs,
        &[
            (
                "lsprobe_iam_base_url",
                format!("http://127.0.0.1:{port}").into(),
            ),
            // No key: signing goes through the (stand-in) signBlob API.
            ("private_key", "".into()),
        ],
        "gcs-signblob",
    )
    .unwrap();
    let run = check(&env, &["--suite", "full"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let c = run.check("presign.get");
    assert_eq!(c["status"], "fail", "{c}");
    assert_eq!(c["evidence"]["scheme"], "gcs-v4-signblob");
    assert_eq!(c["evidence"]["status"], 403);
    assert_eq!(c["evidence"]["code"], "IAM_PERMISSION_DENIED");
    let fix = c["remediation"].as_str().unwrap();
    assert!(fix.contains("iam.serviceAccounts.signBlob"), "{fix}");
    assert!(
        fix.contains("roles/iam.serviceAccountTokenCreator"),
        "{fix}"
    );
    let request = seen
        .recv_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    assert!(
        request.starts_with(
            "POST /v1/projects/-/serviceAccounts/lsprobe%40lsprobe-local.iam.gserviceaccount.com:signBlob "
        ),
        "{request}"
    );
    assert!(request.contains("\"payload\""), "{request}");
}

#[tokio::test]
async fn gcs_v4_signature_matches_object_stores_signer() {
    use object_store::gcp::{GcpSigningCredential, GoogleCloudStorageBuilder, ServiceAccountKey};
    use object_store::signer::Signer;
    let Some(pem) = rsa_key_pem() else { return };
    let credential = GcpSigningCredential {
        email: "sa@p.iam.gserviceaccount.com".into(),
        private_key: Some(ServiceAccountKey::from_pem(pem.as_bytes()).unwrap()),
    };
    let store = GoogleCloudStorageBuilder::new()
        .with_bucket_name("lsprobe-bucket")
        .with_service_account_key(
            r#"{"private_key":"","private_key_id":"","client_email":"x","disable_oauth":true}"#,
        )
        .with_signing_credentials(std::sync::Arc::new(
            object_store::StaticCredentialProvider::new(credential),
        ))
        .build()
        .unwrap();
    let path = object_store::path::Path::parse("media/clip-1.bin").unwrap();
    let theirs = store
        .signed_url(Method::GET, &path, std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    let param = |u: &url::Url, name: &str| {
        u.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let date =
        chrono::NaiveDateTime::parse_from_str(&param(&theirs, "X-Goog-Date"), "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc();
    let url =
        url::Url::parse("https://storage.googleapis.com/lsprobe-bucket/media/clip-1.bin").unwrap();
    let (query, sts, _) = lsprobe::provider::gcs_sign::string_to_sign(
        &Method::GET,
        &url,
        "sa@p.iam.gserviceaccount.com",
        None,
        3600,
        date,
    );
    let ours = lsprobe::provider::gcs_sign::rsa_sign_hex(&pem, &sts).unwrap();
    assert_eq!(ours, param(&theirs, "X-Goog-Signature"), "{query}");
}

/// s3s-fs on a free port over `dir`, with the `lsprobe` bucket; killed when dropped.
struct S3sFs(std::process::Child, u16);

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_s3s_fs(dir: &Path) -> Option<S3sFs> {
    let program = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo/bin/s3s-fs"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("s3s-fs"));
    std::fs::create_dir_all(dir.join(BUCKET)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(&program)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--access-key",
            "lsprobe-key",
            "--secret-key",
            "lsprobe-secret",
        ])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(child) = child else {
        support::skip_or_fail(
            "s3s-fs is not installed (cargo install s3s-fs@0.14.1 --features binary)",
        );
        return None;
    };
    let server = S3sFs(child, port);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(server);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("s3s-fs did not listen on 127.0.0.1:{port}");
}

fn tamper(p: &Presigned, param: &str) -> Presigned {
    let at = p.url.find(&format!("{param}=")).unwrap() + param.len() + 1;
    let mut url = p.url.clone();
    let c = if &url[at..at + 1] == "a" { "b" } else { "a" };
    url.replace_range(at..at + 1, c);
    Presigned { url, ..p.clone() }
}

#[tokio::test]
async fn s3s_fs_checks_signatures_and_sigv2_rejection_names_s3v4() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = start_s3s_fs(dir.path()) else {
        return;
    };
    let env = dir.path().join("s3s.list");
    let base = format!(
        "STORAGE_TYPE=s3\nSTORAGE_AWS_ACCESS_KEY_ID=lsprobe-key\nSTORAGE_AWS_SECRET_ACCESS_KEY=lsprobe-secret\n\
         STORAGE_AWS_BUCKET_NAME={BUCKET}\nSTORAGE_AWS_REGION_NAME=us-east-1\n\
         STORAGE_AWS_ENDPOINT_URL=http://127.0.0.1:{}\nSTORAGE_AWS_FOLDER=media\n",
        server.1
    );
    std::fs::write(
        &env,
        format!("{base}STORAGE_AWS_S3_SIGNATURE_VERSION=s3v4\n"),
    )
    .unwrap();
    let run = tokio::task::spawn_blocking({
        let env = env.clone();
        move || check(&env, &["--suite", "full"])
    })
    .await
    .unwrap();
    assert_round_trip(&run, "s3-sigv4", "s3s-fs s3v4");

    // Library level: a good URL works, the same URL tampered with is refused.
    let _ = rustls::crypto::ring::default_provider().install_default();
    for (version, param, scheme) in [
        ("s3v4", "X-Amz-Signature", Scheme::S3SigV4),
        ("s3", "Signature", Scheme::S3SigV2),
    ] {
        let env_v = dir.path().join(format!("s3s-{version}.list"));
        std::fs::write(
            &env_v,
            format!("{base}STORAGE_AWS_S3_SIGNATURE_VERSION={version}\n"),
        )
        .unwrap();
        let target = target(&env_v);
        let storage = Storage::new(&target).unwrap();
        let key = format!("media/lsprobe-test/{version}/a b/ü.bin");
        let put = storage
            .send(&Op::Put {
                key: key.clone(),
                body: Bytes::from_static(b"signed bytes"),
                content_type: "text/plain".into(),
            })
            .await
            .unwrap();
        assert!(put.status.is_success(), "{put:?}");
        let p = storage
            .presign(&target, Method::GET, &key, None, 600)
            .await
            .unwrap();
        assert_eq!(p.scheme, scheme);
        let good = fetch(storage.http(), &p, Method::GET, Bytes::new(), None, None)
            .await
            .unwrap();
        assert_eq!(good.status, 200, "{version}: {good:?}");
        assert_eq!(&good.body[..], b"signed bytes");
        let bad = fetch(
            storage.http(),
            &tamper(&p, param),
            Method::GET,
            Bytes::new(),
            None,
            None,
        )
        .await
        .unwrap();
        assert_eq!(bad.status, 403, "{version}: {bad:?}");
        let judged = rejection(&target, &p, &bad);
        match scheme {
            Scheme::S3SigV4 => assert_eq!(judged.kind, "signature_mismatch", "{judged:?}"),
            _ => {
                assert_eq!(judged.kind, "sigv2_refused", "{judged:?}");
                assert!(
                    judged
                        .remediation
                        .contains("STORAGE_AWS_S3_SIGNATURE_VERSION=s3v4")
                );
            }
        }
        let _ = storage.send(&Op::Delete { key }).await;
    }
}

#[tokio::test]
async fn azurite_expired_and_wrong_key_sas_are_rejected_and_reported() {
    let Some(env) = support::env_file(Kind::Azure, S3User::Full) else {
        return;
    };
    let target = target(&env);
    let storage = Storage::new(&target).unwrap();
    let key = format!("media/lsprobe-test/{}/sas ü.bin", uuid::Uuid::new_v4());
    let put = storage
        .send(&Op::Put {
            key: key.clone(),
            body: Bytes::from_static(b"sas bytes"),
            content_type: "text/plain".into(),
        })
        .await
        .unwrap();
    assert!(put.status.is_success());
    let now = chrono::Utc::now();
    let wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=";
    let cases = [
        ("valid", AZURE_KEY, now + chrono::Duration::hours(1), None),
        (
            "expired",
            AZURE_KEY,
            now - chrono::Duration::hours(1),
            Some("expired"),
        ),
        (
            "wrong key",
            wrong_key,
            now + chrono::Duration::hours(1),
            Some("signature_mismatch"),
        ),
    ];
    for (label, account_key, expiry, expected) in cases {
        let sas = service_sas(
            AZURE_ACCOUNT,
            account_key,
            BUCKET,
            SasResource::Blob(&key),
            "r",
            expiry,
        )
        .unwrap();
        let p = Presigned {
            url: format!("{}?{sas}", storage.object_url(&key)),
            scheme: Scheme::AzureBlobSas,
            headers: vec![],
        };
        let answer = fetch(storage.http(), &p, Method::GET, Bytes::new(), None, None)
            .await
            .unwrap();
        match expected {
            None => assert_eq!(&answer.body[..], b"sas bytes", "{label}"),
            Some(kind) => {
                assert_eq!(answer.status, 403, "{label}: {answer:?}");
                let judged = rejection(&target, &p, &answer);
                assert_eq!(judged.kind, kind, "{label}: {judged:?}");
                if kind == "expired" {
                    assert!(
                        judged
                            .remediation
                            .contains("STORAGE_AZURE_URL_EXPIRATION_SECS")
                    );
                } else {
                    assert!(judged.remediation.contains("STORAGE_AZURE_ACCOUNT_KEY"));
                }
                assert!(!judged.message.contains("sig="), "{judged:?}");
            }
        }
    }
    let _ = storage.send(&Op::Delete { key }).await;
}

#[test]
fn azure_account_kind_on_azurite_is_a_warning_and_strict_fails() {
    let Some(env) = support::env_file(Kind::Azure, S3User::Full) else {
        return;
    };
    let run = check(&env, &["--suite", "full"]);
    let c = run.check("azure.account_kind");
    assert_eq!(c["status"], "warn", "{c}");
    assert_eq!(c["evidence"]["sku_name"], "Standard_RAGRS");
    assert_eq!(c["evidence"]["account_kind"], "StorageV2");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("too slow and could malfunction")
    );
    assert!(c["remediation"].as_str().unwrap().contains("Premium_LRS"));
    assert_eq!(run.code, 0, "{:?}", run.statuses());
    let strict = check(&env, &["--suite", "full", "--strict"]);
    assert_eq!(strict.code, 1, "{:?}", strict.statuses());
}

/// boto3 is the oracle for which signature Label Studio's presigned URLs carry when
/// `STORAGE_AWS_S3_SIGNATURE_VERSION` is unset: botocore picks SigV2 only in the regions its
/// endpoint data lists with SigV2, SigV4 everywhere else (a newer region, `minio`, an upper-case
/// name). lsprobe must presign the same way, or `presign.get` tests a URL Label Studio never makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unset_signature_version_presigns_as_boto3_does_per_region() {
    let Some(base) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let regions = [
        None,
        Some("us-east-1"),
        Some("us-west-2"),
        Some("eu-west-1"),
        Some("eu-central-1"),
        Some("eu-north-1"),
        Some("ap-south-1"),
        Some("minio"),
        Some("US-EAST-1"),
    ];
    let script = r#"
import sys, boto3
endpoint = sys.argv[1]
for region in sys.argv[2:]:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=None if region == "-" else region,
        aws_access_key_id="AKIDORACLE", aws_secret_access_key="oracle-secret")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    print("v2" if "AWSAccessKeyId=" in url else "v4" if "X-Amz-Algorithm=" in url else "?")
"#;
    let out = std::process::Command::new(support::emulators::boto3_python())
        .env_clear()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["-c", script, "http://127.0.0.1:9"])
        .args(regions.iter().map(|r| r.unwrap_or("-")))
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let boto3: Vec<&str> = stdout.lines().collect();
    assert_eq!(boto3.len(), regions.len(), "{stdout}");
    assert!(boto3.contains(&"v2") && boto3.contains(&"v4"), "{boto3:?}");
    for (region, boto3) in regions.iter().zip(boto3) {
        let env = edited_env_file(
            &base,
            &[
                ("STORAGE_AWS_REGION_NAME", *region),
                ("STORAGE_AWS_S3_SIGNATURE_VERSION", None),
            ],
            "presign-region.env.list",
        );
        let target = target(&env);
        let storage = Storage::new(&target).unwrap();
        let p = storage
            .presign(&target, Method::GET, "lsprobe-oracle/k", None, 60)
            .await
            .unwrap();
        let lsprobe = match p.scheme {
            Scheme::S3SigV2 => "v2",
            Scheme::S3SigV4 => "v4",
            other => panic!("{other:?}"),
        };
        assert_eq!(lsprobe, boto3, "region {region:?}");
    }
}
