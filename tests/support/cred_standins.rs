//! Loopback stand-ins for the credential services the SDK chains reach: AWS STS
//! (AssumeRoleWithWebIdentity), the EC2 instance metadata service (IMDSv2) and the GCE metadata
//! server. Each is a small HTTP/1.1 server on 127.0.0.1 with a log of the requests it got, so a
//! test asserts which credential requests were made (and that none went elsewhere).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as the stand-in saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
}

/// The answer: status, content type, body.
pub type Reply = (u16, &'static str, String);

/// A running stand-in; stops with the test process.
pub struct StandIn {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub host: String,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl StandIn {
    /// Starts a stand-in answering with `handler`.
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let l = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, handler) = (l.clone(), handler.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &log, handler.as_ref());
                });
            }
        });
        StandIn {
            url: format!("http://{addr}"),
            host: addr.to_string(),
            log,
        }
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(
    stream: TcpStream,
    log: &Mutex<Vec<Seen>>,
    handler: &(dyn Fn(&Seen) -> Reply + Send + Sync),
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        let seen = Seen {
            method,
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        log.lock().unwrap().push(seen.clone());
        let (status, content_type, body) = handler(&seen);
        write!(
            out,
            "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )?;
        out.flush()?;
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

fn expiration(lifetime_secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(lifetime_secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// IMDSv2 handing out `key_id` / `secret` as role `node-role`'s credentials, valid for
/// `lifetime_secs`.
pub fn imds(key_id: &str, secret: &str, lifetime_secs: i64) -> StandIn {
    imds_serving(key_id, secret, lifetime_secs, None)
}

/// Session tokens handed out, with the instant each expires (the same type as
/// `delay_proxy::SessionTokens`).
pub type SessionTokens = Arc<Mutex<std::collections::HashMap<String, std::time::Instant>>>;

/// IMDSv2 handing out `key_id` / `secret` with a new session token at every credentials
/// fetch, valid for `lifetime_secs`; each token and its expiry go into `tokens`, which a
/// `DelayProxy` (tests/support/delay_proxy.rs) in front of the storage enforces as S3 does.
pub fn imds_rotating(
    key_id: &str,
    secret: &str,
    lifetime_secs: i64,
    tokens: SessionTokens,
) -> StandIn {
    imds_serving(key_id, secret, lifetime_secs, Some(tokens))
}

fn imds_serving(
    key_id: &str,
    secret: &str,
    lifetime_secs: i64,
    tokens: Option<SessionTokens>,
) -> StandIn {
    let (key_id, secret) = (key_id.to_string(), secret.to_string());
    let issued = std::sync::atomic::AtomicU64::new(0);
    StandIn::start(move |r| {
        let token_ok = r
            .headers
            .iter()
            .any(|(k, v)| k == "x-aws-ec2-metadata-token" && v == "imds-token");
        match (r.method.as_str(), r.path.as_str()) {
            ("PUT", "/latest/api/token") => (200, "text/plain", "imds-token".into()),
            (_, _) if !token_ok => (401, "text/plain", String::new()),
            ("GET", "/latest/meta-data/iam/security-credentials/") => {
                (200, "text/plain", "node-role".into())
            }
            ("GET", "/latest/meta-data/iam/security-credentials/node-role") => {
                let token = match &tokens {
                    None => String::new(),
                    Some(tokens) => {
                        let n = issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let token = format!("session-{n}");
                        let lifetime = std::time::Duration::from_secs(lifetime_secs as u64);
                        tokens
                            .lock()
                            .unwrap()
                            .insert(token.clone(), std::time::Instant::now() + lifetime);
                        token
                    }
                };
                (
                    200,
                    "application/json",
                    serde_json::json!({
                        "Code": "Success",
                        "Type": "AWS-HMAC",
                        "AccessKeyId": key_id,
                        "SecretAccessKey": secret,
                        "Token": token,
                        "Expiration": expiration(lifetime_secs),
                    })
                    .to_string(),
                )
            }
            _ => (404, "text/plain", String::new()),
        }
    })
}

/// STS answering AssumeRoleWithWebIdentity for `role_arn` with `token` by `key_id` / `secret`,
/// and AccessDenied (403) for any other role or token, as AWS STS does.
pub fn sts(role_arn: &str, token: &str, key_id: &str, secret: &str) -> StandIn {
    let (role_arn, token) = (role_arn.to_string(), token.to_string());
    let (key_id, secret) = (key_id.to_string(), secret.to_string());
    StandIn::start(move |r| {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(r.body.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        if get("Action") != "AssumeRoleWithWebIdentity" {
            return (
                400,
                "text/xml",
                "<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>".into(),
            );
        }
        if get("RoleArn") != role_arn || get("WebIdentityToken") != token {
            return (
                403,
                "text/xml",
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
                 <Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message>\
                 </Error><RequestId>1</RequestId></ErrorResponse>"
                    .to_string(),
            );
        }
        let session = get("RoleSessionName");
        (
            200,
            "text/xml",
            format!(
                "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>\
                 <Credentials><AccessKeyId>{key_id}</AccessKeyId>\
                 <SecretAccessKey>{secret}</SecretAccessKey><SessionToken></SessionToken>\
                 <Expiration>{}</Expiration></Credentials><AssumedRoleUser>\
                 <Arn>{}/{session}</Arn></AssumedRoleUser>\
                 </AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
                expiration(3600),
                role_arn
                    .replace(":role/", ":assumed-role/")
                    .replace(":iam:", ":sts:")
            ),
        )
    })
}

/// The GCE metadata server of service account `email`, answering only with
/// `Metadata-Flavor: Google` as the real one does.
pub fn gce(email: &str) -> StandIn {
    let email = email.to_string();
    StandIn::start(move |r| {
        if !r
            .headers
            .iter()
            .any(|(k, v)| k == "metadata-flavor" && v == "Google")
        {
            return (403, "text/plain", "Missing Metadata-Flavor header".into());
        }
        match r.path.as_str() {
            "/computeMetadata/v1/instance/service-accounts/default/token" => (
                200,
                "application/json",
                r#"{"access_token":"ya29.stand-in","expires_in":3599,"token_type":"Bearer"}"#
                    .into(),
            ),
            "/computeMetadata/v1/instance/service-accounts/default/email" => {
                (200, "application/text", email.clone())
            }
            _ => (404, "text/plain", String::new()),
        }
    })
}

/// Google's OAuth token endpoint for a service-account key, judging the JWT grant as Google
/// does: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, an RS256 assertion whose
/// signature verifies with `public_key` (the key's RSAPublicKey DER), issued by `email`, for
/// this endpoint (`aud`), unexpired. Each grant issues a new token valid `lifetime_secs`,
/// recorded in `tokens` (which a `DelayProxy` enforces); anything else is `400 invalid_grant`.
pub fn google_token(
    email: &str,
    public_key: Vec<u8>,
    lifetime_secs: u64,
    tokens: SessionTokens,
) -> StandIn {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let email = email.to_string();
    let issued = std::sync::atomic::AtomicU64::new(0);
    let aud = Arc::new(Mutex::new(String::new()));
    let aud_set = aud.clone();
    let standin = StandIn::start(move |r| {
        let refuse = |why: &str| {
            (
                400,
                "application/json",
                serde_json::json!({"error": "invalid_grant", "error_description": why}).to_string(),
            )
        };
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(r.body.as_bytes())
                .into_owned()
                .collect();
        if r.method != "POST" || r.path != "/token" {
            return (404, "text/plain", String::new());
        }
        if form.get("grant_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return refuse("unsupported grant_type");
        }
        let assertion = form.get("assertion").cloned().unwrap_or_default();
        let parts: Vec<&str> = assertion.split('.').collect();
        if parts.len() != 3 {
            return refuse("not a JWT");
        }
        let signed = format!("{}.{}", parts[0], parts[1]);
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default();
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &public_key,
        );
        if key.verify(signed.as_bytes(), &sig).is_err() {
            return refuse("Invalid JWT Signature.");
        }
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap_or_default())
                .unwrap_or_default();
        let now = chrono::Utc::now().timestamp();
        if claims["iss"] != email.as_str()
            || claims["aud"] != aud.lock().unwrap().as_str()
            || claims["exp"].as_i64().unwrap_or(0) <= now
            || !claims["scope"]
                .as_str()
                .unwrap_or("")
                .contains("devstorage")
        {
            return refuse(&format!("bad claims {claims}"));
        }
        let n = issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token = format!("ya29.granted-{n}");
        tokens.lock().unwrap().insert(
            token.clone(),
            std::time::Instant::now() + std::time::Duration::from_secs(lifetime_secs),
        );
        (
            200,
            "application/json",
            serde_json::json!({
                "access_token": token,
                "expires_in": lifetime_secs,
                "token_type": "Bearer",
            })
            .to_string(),
        )
    });
    *aud_set.lock().unwrap() = format!("{}/token", standin.url);
    standin
}

/// The GCE metadata server of service account `email` issuing a new access token at every
/// token fetch, valid `lifetime_secs`, recorded in `tokens` (which a `DelayProxy` enforces).
pub fn gce_rotating(email: &str, lifetime_secs: u64, tokens: SessionTokens) -> StandIn {
    let email = email.to_string();
    let issued = std::sync::atomic::AtomicU64::new(0);
    StandIn::start(move |r| {
        if !r
            .headers
            .iter()
            .any(|(k, v)| k == "metadata-flavor" && v == "Google")
        {
            return (403, "text/plain", "Missing Metadata-Flavor header".into());
        }
        match r.path.as_str() {
            "/computeMetadata/v1/instance/service-accounts/default/token" => {
                let n = issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let token = format!("ya29.metadata-{n}");
                tokens.lock().unwrap().insert(
                    token.clone(),
                    std::time::Instant::now() + std::time::Duration::from_secs(lifetime_secs),
                );
                (
                    200,
                    "application/json",
                    serde_json::json!({
                        "access_token": token,
                        "expires_in": lifetime_secs,
                        "token_type": "Bearer",
                    })
                    .to_string(),
                )
            }
            "/computeMetadata/v1/instance/service-accounts/default/email" => {
                (200, "application/text", email.clone())
            }
            _ => (404, "text/plain", String::new()),
        }
    })
}
