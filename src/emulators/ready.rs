//! Brings a started emulator to the ready-to-check state: the `lsprobe` bucket or container
//! exists, the guide's CORS rules are applied where the emulator enforces them, and (s3-iam) the
//! IAM users exist with enforcement on.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::state::{UserKeys, write_private};
use super::{AZURE_ACCOUNT, BUCKET, EmulatorError, GCS_PROJECT, Kind, azure_key, s3_iam};

/// The guide's S3 CORS rule, as s3rver's `--configure-bucket` reads it.
pub const S3_CORS_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedMethod>POST</AllowedMethod>
    <AllowedMethod>DELETE</AllowedMethod>
    <AllowedMethod>HEAD</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <ExposeHeader>x-amz-server-side-encryption</ExposeHeader>
    <ExposeHeader>x-amz-request-id</ExposeHeader>
    <ExposeHeader>x-amz-id-2</ExposeHeader>
    <MaxAgeSeconds>3600</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>
"#;

/// The Azure CORS rule set as Blob service properties. AllowedHeaders adds `x-ms-blob-type` and
/// `content-type` to the guide's `x-ms-blob-content-type`: a browser Put Blob must send
/// `x-ms-blob-type`, and with the guide's header list alone Azurite (like Azure) answers that
/// preflight 403 CorsPreflightFailure.
pub const AZURE_SERVICE_PROPERTIES_XML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<StorageServiceProperties>
  <Cors>
    <CorsRule>
      <AllowedOrigins>*</AllowedOrigins>
      <AllowedMethods>GET,PUT,POST,DELETE,HEAD</AllowedMethods>
      <AllowedHeaders>x-ms-blob-content-type,x-ms-blob-type,content-type</AllowedHeaders>
      <ExposedHeaders>x-ms-*</ExposedHeaders>
      <MaxAgeInSeconds>3600</MaxAgeInSeconds>
    </CorsRule>
  </Cors>
</StorageServiceProperties>
"#;

/// An HTTP client for loopback emulators: never through a proxy, short timeouts.
pub fn client() -> reqwest::Client {
    // reqwest is built without a default TLS provider; plain HTTP still needs one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a plain HTTP client builds")
}

/// Prepares `kind` listening on `port`; returns the IAM users' keys for s3-iam.
pub async fn prepare(
    kind: Kind,
    port: u16,
    state_dir: &Path,
) -> Result<BTreeMap<String, UserKeys>, EmulatorError> {
    let base = format!("http://127.0.0.1:{port}");
    let setup = |reason: String| EmulatorError::Setup { kind, reason };
    let client = client();
    match kind {
        Kind::S3 => {
            // s3rver created and configured the bucket at start (--configure-bucket).
            let r = client
                .head(format!("{base}/{BUCKET}"))
                .send()
                .await
                .map_err(|e| setup(format!("HEAD /{BUCKET}: {e}")))?;
            if !r.status().is_success() {
                return Err(setup(format!(
                    "bucket {BUCKET} missing: HEAD answered {}",
                    r.status()
                )));
            }
            Ok(BTreeMap::new())
        }
        Kind::S3Iam => s3_iam::prepare(&client, &base).await.map_err(setup),
        Kind::Gcs => {
            let r = client
                .post(format!("{base}/storage/v1/b?project={GCS_PROJECT}"))
                .json(&serde_json::json!({ "name": BUCKET }))
                .send()
                .await
                .map_err(|e| setup(format!("create bucket {BUCKET}: {e}")))?;
            let status = r.status();
            if !status.is_success() && status.as_u16() != 409 {
                let body = r.text().await.unwrap_or_default();
                return Err(setup(format!("create bucket {BUCKET}: {status} {body}")));
            }
            write_gcs_credentials(state_dir, port)?;
            Ok(BTreeMap::new())
        }
        Kind::Azure => {
            let container = format!("/{AZURE_ACCOUNT}/{BUCKET}");
            let (status, body) = azure_key::send(
                &client,
                &base,
                "PUT",
                &container,
                &[("restype", "container")],
                None,
            )
            .await
            .map_err(|e| setup(format!("create container {BUCKET}: {e}")))?;
            if !status.is_success() && status.as_u16() != 409 {
                return Err(setup(format!("create container {BUCKET}: {status} {body}")));
            }
            let (status, body) = azure_key::send(
                &client,
                &base,
                "PUT",
                &format!("/{AZURE_ACCOUNT}/"),
                &[("comp", "properties"), ("restype", "service")],
                Some(AZURE_SERVICE_PROPERTIES_XML),
            )
            .await
            .map_err(|e| setup(format!("set Blob service CORS properties: {e}")))?;
            if !status.is_success() {
                return Err(setup(format!(
                    "set Blob service CORS properties: {status} {body}"
                )));
            }
            Ok(BTreeMap::new())
        }
    }
}

/// The service-account JSON that points GCS clients at fake-gcs-server (no private key, OAuth
/// disabled: the trick object_store's own CI uses).
pub fn gcs_credentials_json(port: u16, private_key: &str) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "type": "service_account",
        "client_email": format!("lsprobe@{GCS_PROJECT}.iam.gserviceaccount.com"),
        "private_key": private_key,
        "private_key_id": "",
        "gcs_base_url": format!("http://127.0.0.1:{port}"),
        "disable_oauth": true,
    }))
    .expect("JSON serializes")
}

/// Writes the emulator's service-account JSON, with an RSA key made now so that V4 signed
/// URLs can be made locally (no key: presign checks skip rather than ask Google's signBlob).
fn write_gcs_credentials(state_dir: &Path, port: u16) -> Result<(), EmulatorError> {
    let path = state_dir.join("gcs-credentials.json");
    let key = rsa_private_key_pem().unwrap_or_default();
    write_private(&path, gcs_credentials_json(port, &key).as_bytes())
}

/// A fresh 2048-bit RSA key (PKCS#8 PEM) made by `openssl`, when it is installed.
pub fn rsa_private_key_pem() -> Option<String> {
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).ok())
        .flatten()
}

/// Creates the bucket on an S3 emulator that accepts unsigned requests (moto before IAM
/// enforcement is on).
pub async fn create_s3_bucket(client: &reqwest::Client, base: &str) -> Result<(), String> {
    let r = client
        .put(format!("{base}/{BUCKET}"))
        .send()
        .await
        .map_err(|e| format!("create bucket {BUCKET}: {e}"))?;
    if !r.status().is_success() {
        let status = r.status();
        return Err(format!(
            "create bucket {BUCKET}: {status} {}",
            r.text().await.unwrap_or_default()
        ));
    }
    Ok(())
}

/// `s3` on moto (Docker backend): create the bucket and put the guide's CORS rule (moto
/// stores it but answers preflights with its own blanket allow).
pub async fn prepare_s3_moto(client: &reqwest::Client, base: &str) -> Result<(), String> {
    create_s3_bucket(client, base).await?;
    // AWS requires Content-MD5 on PutBucketCors; moto does not check it.
    let r = client
        .put(format!("{base}/{BUCKET}?cors"))
        .body(S3_CORS_XML)
        .send()
        .await
        .map_err(|e| format!("put bucket CORS: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("put bucket CORS: {}", r.status()));
    }
    Ok(())
}
