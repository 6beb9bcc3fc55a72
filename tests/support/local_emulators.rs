//! Test support: moto (with IAM enforcement) and Azurite started by the test itself, on
//! 127.0.0.1 only.
//!
//! TODO(merge): switch to the shared emulator harness (src/emulators + tests/support from the
//! emulators branch) once it lands: replace `Moto::start` / `Azurite::start` with its
//! handles; the tests only need an endpoint URL, a bucket/container and keys.
//!
//! A missing emulator skips the test with a message, except under
//! `LSPROBE_REQUIRE_EMULATORS=1` (CI), where it fails.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use lsprobe::load::Endpoint;
use lsprobe::load::connection::{Connection, Keep};
use lsprobe::load::request::Body;
use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::client::HttpRequestBody;

/// Finds an emulator binary: `$env_var`, then `PATH`. `None` means skip (or panic in CI).
pub fn find_bin(env_var: &str, name: &str) -> Option<String> {
    let found = std::env::var(env_var).ok().or_else(|| {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|f| f.is_file())
                .map(|f| f.display().to_string())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var("LSPROBE_REQUIRE_EMULATORS").as_deref() != Ok("1"),
            "{name} not found (set {env_var}) and LSPROBE_REQUIRE_EMULATORS=1"
        );
        eprintln!("skipping: {name} not found (set {env_var} or put it on PATH)");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16, what: &str) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 15 s");
}

/// A child process killed on drop.
pub struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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

fn xml_field(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    xml[start..end].to_string()
}

/// moto with IAM enforcement on, a bucket, and one user allowed `s3:*`.
pub struct Moto {
    _proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The endpoint.
    pub endpoint: Arc<Endpoint>,
    /// The bucket created.
    pub bucket: String,
    /// The user's access key id.
    pub key_id: String,
    /// The user's secret.
    pub secret: String,
}

impl Moto {
    /// Starts moto, creates bucket `bkt`, user `loader` with an `s3:*` policy and a key, then
    /// turns IAM enforcement on (a wrong secret then gets 403 SignatureDoesNotMatch).
    pub async fn start() -> Option<Moto> {
        let bin = find_bin("LSPROBE_MOTO_SERVER", "moto_server")?;
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let proc = Proc(child);
        wait_for(port, "moto");
        let url = format!("http://127.0.0.1:{port}");
        let endpoint = Arc::new(Endpoint::parse(&url).unwrap());
        let admin = AwsCredential {
            key_id: "admin".into(),
            secret_key: "admin".into(),
            token: None,
        };
        let form = Some("application/x-www-form-urlencoded");
        let (s, b) = aws_raw(
            &endpoint,
            &url,
            "s3",
            &admin,
            http::Method::PUT,
            "/bkt",
            "",
            None,
        )
        .await;
        assert_eq!(s, 200, "create bucket: {b}");
        let iam = |body: &'static str| {
            aws_raw(
                &endpoint,
                &url,
                "iam",
                &admin,
                http::Method::POST,
                "/",
                body,
                form,
            )
        };
        let (s, b) = iam("Action=CreateUser&UserName=loader&Version=2010-05-08").await;
        assert_eq!(s, 200, "CreateUser: {b}");
        let (s, b) = iam(
            "Action=PutUserPolicy&UserName=loader&PolicyName=all&Version=2010-05-08&PolicyDocument=\
             %7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow\
             %22%2C%22Action%22%3A%22s3%3A%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D",
        )
        .await;
        assert_eq!(s, 200, "PutUserPolicy: {b}");
        let (s, b) = iam("Action=CreateAccessKey&UserName=loader&Version=2010-05-08").await;
        assert_eq!(s, 200, "CreateAccessKey: {b}");
        let (key_id, secret) = (
            xml_field(&b, "AccessKeyId"),
            xml_field(&b, "SecretAccessKey"),
        );
        let client = reqwest::Client::new();
        let r = client
            .post(format!("{url}/moto-api/reset-auth"))
            .body("0")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "reset-auth: {}", r.status());
        Some(Moto {
            _proc: proc,
            url,
            endpoint,
            bucket: "bkt".into(),
            key_id,
            secret,
        })
    }
}

/// The account and key every Azurite knows.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known key.
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Azurite's blob service (in memory, telemetry off).
pub struct Azurite {
    _proc: Proc,
    /// `http://127.0.0.1:PORT/devstoreaccount1`
    pub url: String,
}

impl Azurite {
    /// Starts `azurite-blob` (from `LSPROBE_AZURITE_BLOB` or PATH).
    pub fn start() -> Option<Azurite> {
        let bin = find_bin("LSPROBE_AZURITE_BLOB", "azurite-blob")?;
        let port = free_port();
        let child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args([
                "--inMemoryPersistence",
                "--silent",
                "--disableTelemetry",
                "--skipApiVersionCheck",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite-blob starts");
        let proc = Proc(child);
        wait_for(port, "azurite");
        Some(Azurite {
            _proc: proc,
            url: format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"),
        })
    }
}

/// Now, for signing.
pub fn now() -> SystemTime {
    SystemTime::now()
}
