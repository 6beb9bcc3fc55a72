//! TLS trust as boto3 (OpenSSL) has it: a self-signed `openssl req -x509` certificate (CA:TRUE)
//! given as the bundle is trusted as the server's own certificate, by `STORAGE_AWS_S3_VERIFY` or
//! `AWS_CA_BUNDLE`; boto3 itself is asked first, as the oracle. A certificate for another host,
//! or one not in the bundle, fails in words naming the setting.
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use lsprobe::emulators::{Kind, S3User};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::check::{check_with_env, edited_env_file};
use support::tls::{pki, tls_front_with};

/// `openssl req -x509 -newkey rsa:2048` for `san` (e.g. `IP:127.0.0.1`): (cert.pem, key.pem).
fn openssl_self_signed(dir: &Path, name: &str, san: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=lsprobe-test", "-addext"])
        .arg(format!("subjectAltName={san}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        other => {
            support::skip_or_fail(&format!("openssl req -x509 failed: {other:?}"));
            panic!("openssl is needed");
        }
    };
    drop(out);
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"),
        "the premise: openssl req -x509 makes a CA certificate"
    );
    (cert, key)
}

fn front(cert: &Path, key: &Path) -> Option<u16> {
    let port = support::emulators()?.port(Kind::S3Iam).expect("runs");
    let cert = CertificateDer::from_pem_file(cert).unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    Some(tls_front_with(port, cert, key))
}

/// boto3 (moto's virtualenv) lists the bucket over HTTPS with `verify=bundle`: true when it can.
fn boto3_lists(endpoint: &str, bundle: &Path, id: &str, secret: &str) -> bool {
    let python = support::emulators::boto3_python();
    let script = "import sys, boto3\n\
        c = boto3.client('s3', endpoint_url=sys.argv[1], verify=sys.argv[2], \
        aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4], region_name='us-east-1')\n\
        c.list_objects(Bucket='lsprobe', MaxKeys=1)\n";
    let out = Command::new(python)
        .env_clear()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["-c", script, endpoint])
        .arg(bundle)
        .args([id, secret])
        .output()
        .expect("moto's python runs");
    out.status.success()
}

fn keys(env: &Path) -> (String, String) {
    let text = std::fs::read_to_string(env).unwrap();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap()
            .to_string()
    };
    (
        get("STORAGE_AWS_ACCESS_KEY_ID"),
        get("STORAGE_AWS_SECRET_ACCESS_KEY"),
    )
}

#[test]
fn a_self_signed_ca_certificate_in_the_bundle_is_trusted_as_boto3_trusts_it() {
    let Some(env) = support::env_file(Kind::S3Iam, S3User::Full) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_self_signed(dir.path(), "minio", "IP:127.0.0.1");
    let Some(port) = front(&cert, &key) else {
        return;
    };
    let endpoint = format!("https://127.0.0.1:{port}");
    let (id, secret) = keys(&env);
    assert!(
        boto3_lists(&endpoint, &cert, &id, &secret),
        "the oracle: boto3 accepts the certificate"
    );
    let bundle = cert.to_string_lossy().into_owned();
    for setting in ["STORAGE_AWS_S3_VERIFY", "AWS_CA_BUNDLE"] {
        let env = edited_env_file(
            &env,
            &[
                ("STORAGE_AWS_ENDPOINT_URL", Some(&endpoint)),
                (setting, Some(&bundle)),
            ],
            &format!("tls-self-signed-{setting}.list"),
        );
        let run = check_with_env(&env, &[], &[]);
        assert_eq!(run.code, 0, "{setting}: {}\n{}", run.report, run.stderr);
        assert_eq!(run.report["summary"]["failed"], 0);
    }
}

#[test]
fn a_certificate_not_in_the_bundle_or_for_another_host_fails_in_words() {
    let Some(env) = support::env_file(Kind::S3Iam, S3User::Full) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_self_signed(dir.path(), "served", "IP:127.0.0.1");
    let (other_host, other_key) =
        openssl_self_signed(dir.path(), "other-host", "DNS:storage.example.com");
    let (id, secret) = keys(&env);
    let cases = [
        (
            front(&cert, &key),
            pki().other_ca_bundle.clone(),
            "self-signed CA certificate that is not in the trusted bundle",
        ),
        (
            front(&other_host, &other_key),
            other_host.clone(),
            "not for this host name",
        ),
    ];
    for (i, (port, bundle, words)) in cases.into_iter().enumerate() {
        let endpoint = format!("https://127.0.0.1:{}", port.unwrap());
        assert!(
            !boto3_lists(&endpoint, &bundle, &id, &secret),
            "the oracle: boto3 refuses it too ({words})"
        );
        let env = edited_env_file(
            &env,
            &[
                ("STORAGE_AWS_ENDPOINT_URL", Some(&endpoint)),
                ("STORAGE_AWS_S3_VERIFY", Some(&bundle.to_string_lossy())),
            ],
            &format!("tls-refused-{i}.list"),
        );
        let run = check_with_env(&env, &[], &[]);
        assert_eq!(run.code, 1, "{}", run.report);
        let list = run.check("permissions.list");
        let message = list["message"].as_str().unwrap();
        assert!(message.contains(words), "{message}");
        let fix = list["remediation"].as_str().unwrap();
        assert!(fix.contains("STORAGE_AWS_S3_VERIFY"), "{fix}");
    }
}
