//! Test support for the lean request path: the shared emulators of this test binary
//! (tests/support/emulators.rs: moto with IAM enforcement on, Azurite), seen as an endpoint, a
//! bucket or container, and keys. Nothing here depends on an emulator being on PATH: the shared
//! harness installs and starts them (and, under `LSPROBE_REQUIRE_EMULATORS=1`, fails the test
//! when it cannot).
//!
//! Needs `mod support;` at the test crate's root.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use lsprobe::emulators::{AZURE_ACCOUNT, AZURE_KEY, BUCKET, Kind, S3User};
use lsprobe::load::Endpoint;
use lsprobe::load::connection::{Connection, Keep};
use lsprobe::load::request::Body;
use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::client::HttpRequestBody;
/// Sends one request signed by object_store's `AwsAuthorizer` (service `service`) over the
/// lean path's connection; returns status and body.
#[allow(clippy::too_many_arguments)]
pub async fn aws_raw(
    endpoint: &Arc<Endpoint>,
    url_base: &str,
    service: &str,
    cred: &AwsCredential,
    method: http::Method,
    path_and_query: &str,
    body: &'static str,
    content_type: Option<&str>,
) -> (u16, String) {
    let mut theirs = http::Request::builder()
        .method(method.clone())
        .uri(format!("{url_base}{path_and_query}"));
    if let Some(ct) = content_type {
        theirs = theirs.header("content-type", ct);
    }
    let mut theirs = theirs
        .body(HttpRequestBody::from(Bytes::from_static(body.as_bytes())))
        .unwrap();
    AwsAuthorizer::new(cred, service, "us-east-1")
        .try_authorize(&mut theirs, None)
        .unwrap();
    let mut req = http::Request::builder().method(method).uri(path_and_query);
    for (k, v) in theirs.headers() {
        req = req.header(k, v);
    }
    let req = req
        .header("host", endpoint.host_header())
        .body(Body::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let mut conn = Connection::new(endpoint.clone());
    let x = conn.exchange(req, Keep::All, None).await.unwrap();
    (
        x.status.as_u16(),
        String::from_utf8_lossy(&x.body).to_string(),
    )
}

/// moto with IAM enforcement on (the shared s3-iam emulator), its bucket, and the keys of the
/// user the guide's policy allows everything it needs.
pub struct Moto {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The endpoint.
    pub endpoint: Arc<Endpoint>,
    /// The bucket.
    pub bucket: String,
    /// The user's access key id.
    pub key_id: String,
    /// The user's secret.
    pub secret: String,
}

impl Moto {
    /// The shared moto (`None` after a loud skip; a failure under
    /// `LSPROBE_REQUIRE_EMULATORS=1`).
    pub fn shared() -> Option<Moto> {
        let emu = crate::support::emulators()?;
        let url = emu.endpoint(Kind::S3Iam).expect("s3-iam runs");
        let pairs = emu
            .env_list(Kind::S3Iam, S3User::Full)
            .expect("s3-iam has the full user");
        let var = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{k} in the s3-iam env.list"))
        };
        Some(Moto {
            endpoint: Arc::new(Endpoint::parse(&url).unwrap()),
            url,
            bucket: BUCKET.into(),
            key_id: var("STORAGE_AWS_ACCESS_KEY_ID"),
            secret: var("STORAGE_AWS_SECRET_ACCESS_KEY"),
        })
    }
}

/// The account every Azurite knows.
pub const AZURITE_ACCOUNT: &str = AZURE_ACCOUNT;
/// Azurite's well-known key.
pub const AZURITE_KEY: &str = AZURE_KEY;

/// Azurite's blob service (the shared one) and its container.
pub struct Azurite {
    /// `http://127.0.0.1:PORT/devstoreaccount1`
    pub url: String,
    /// The container the harness created.
    pub container: String,
}

impl Azurite {
    /// The shared Azurite (`None` after a loud skip).
    pub fn shared() -> Option<Azurite> {
        let emu = crate::support::emulators()?;
        let base = emu.endpoint(Kind::Azure).expect("azure runs");
        Some(Azurite {
            url: format!("{base}/{AZURITE_ACCOUNT}"),
            container: BUCKET.into(),
        })
    }
}

/// Now, for signing.
pub fn now() -> SystemTime {
    SystemTime::now()
}
