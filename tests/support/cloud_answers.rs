//! Real-cloud answers the emulators never give: fixtures holding the answers as the providers
//! document them (tests/fixtures/cloud-answers/*.toml, each citing its page), and a stand-in
//! on 127.0.0.1 that sits in front of a real emulator. A request a fixture's answer matches (by
//! method, a piece of the path, and the region it is signed for) gets that answer; any other is
//! forwarded to the emulator, so everything else behaves as a real bucket does.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Where the fixtures live.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cloud-answers")
}

/// One documented answer and what lsprobe must make of it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// `s3`, `gcs` or `azure`.
    pub cloud: String,
    /// The page that documents the answer.
    pub source: String,
    /// Docs table: what you see.
    pub see: String,
    /// Docs table: what it means.
    pub means: String,
    /// Docs table: what to change.
    pub change: String,
    /// Variables to set (or, with an empty value, remove) in the emulator's env.list.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// The answers the stand-in gives.
    pub answer: Vec<Reply>,
    /// What `lsprobe check` must report.
    pub expect: Vec<Expect>,
    /// Its exit code.
    pub exit_code: i32,
}

/// An answer, and the requests it is given to.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// The method (`*`: any).
    #[serde(default = "any")]
    pub method: String,
    /// A piece of the path and query the request must hold (`*`: any).
    #[serde(default = "any")]
    pub path: String,
    /// Only requests signed for this region (SigV4 `Credential=` or `X-Amz-Credential`).
    pub signed_region: Option<String>,
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Response body.
    #[serde(default)]
    pub body: String,
}

/// One check's expected result.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Check id.
    pub check: String,
    /// pass | warn | fail | error | skip.
    pub status: String,
    /// `evidence.outcome` (absent: not checked).
    pub outcome: Option<String>,
    /// Pieces the message must hold.
    #[serde(default)]
    pub message: Vec<String>,
    /// Pieces the remediation must hold.
    #[serde(default)]
    pub remediation: Vec<String>,
}

fn any() -> String {
    "*".to_string()
}

impl Fixture {
    /// Reads `tests/fixtures/cloud-answers/<name>.toml`.
    pub fn load(name: &str) -> Fixture {
        let path = fixture_dir().join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Every fixture's name, sorted.
    pub fn names() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
            .expect("the fixture dir")
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".toml")
                    .map(str::to_string)
            })
            .filter(|n| n != "suite")
            .collect();
        names.sort();
        names
    }
}

/// What a request looked like, enough to pick an answer.
struct Seen {
    method: String,
    target: String,
    signed_region: Option<String>,
}

impl Reply {
    fn matches(&self, seen: &Seen) -> bool {
        (self.method == "*" || self.method.eq_ignore_ascii_case(&seen.method))
            && (self.path == "*" || seen.target.contains(&self.path))
            && self
                .signed_region
                .as_ref()
                .is_none_or(|r| seen.signed_region.as_deref() == Some(r.as_str()))
    }

    fn render(&self, head_request: bool) -> Vec<u8> {
        let reason = http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Unknown");
        let mut out = format!("HTTP/1.1 {} {reason}\r\n", self.status);
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = out.into_bytes();
        if !head_request {
            bytes.extend_from_slice(self.body.as_bytes());
        }
        bytes
    }
}

/// A running stand-in; it lives as long as the test process.
pub struct StandIn {
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
}

impl StandIn {
    /// Starts a stand-in giving `replies` and forwarding the rest to `upstream`.
    pub fn start(upstream: SocketAddr, replies: Vec<Reply>) -> StandIn {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                tx.send(listener.local_addr().expect("addr")).expect("send");
                let replies = std::sync::Arc::new(replies);
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let replies = replies.clone();
                    tokio::spawn(async move {
                        let _ = serve(stream, upstream, &replies).await;
                    });
                }
            });
        });
        StandIn {
            addr: rx.recv().expect("the stand-in starts"),
        }
    }
}

/// One request per connection: answered from `replies`, or forwarded; then the connection
/// closes (the answer says so).
async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    replies: &[Reply],
) -> std::io::Result<()> {
    let raw = read_request(&mut client).await?;
    let head_end = find(&raw, b"\r\n\r\n").expect("a whole request head") + 4;
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut first = head.lines().next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    let signed_region = signed_region(&head, &target);
    let seen = Seen {
        method,
        target,
        signed_region,
    };
    if let Some(reply) = replies.iter().find(|r| r.matches(&seen)) {
        client
            .write_all(&reply.render(seen.method == "HEAD"))
            .await?;
        return client.shutdown().await;
    }
    // Forward, naming the emulator as the host (fake-gcs-server routes signed URLs by Host;
    // none of the emulators used here checks the signature over it), asking it to close after
    // its answer, and pass the answer on.
    let mut request = Vec::with_capacity(raw.len() + 40);
    for line in head[..head_end - 4].split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("host:") {
            request.extend_from_slice(format!("host: {upstream}\r\n").as_bytes());
        } else if !lower.starts_with("connection:") {
            request.extend_from_slice(line.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
    }
    request.extend_from_slice(b"connection: close\r\n\r\n");
    request.extend_from_slice(&raw[head_end..]);
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&request).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    let Some(end) = find(&answer, b"\r\n\r\n") else {
        return client.shutdown().await;
    };
    let answer_head = String::from_utf8_lossy(&answer[..end]).into_owned();
    let mut out = Vec::with_capacity(answer.len() + 20);
    for line in answer_head.split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(&answer[end + 4..]);
    client.write_all(&out).await?;
    client.shutdown().await
}

/// Reads a request head and its body (`Content-Length` or chunked).
async fn read_request(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let done = match length {
            Some(n) => buf.len() >= head_end + n,
            None if chunked => find(&buf[head_end..], b"0\r\n\r\n").is_some(),
            None => true,
        };
        if done {
            return Ok(buf);
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The region of a SigV4 signature: `Credential=AKID/DATE/REGION/s3/aws4_request` in the
/// `Authorization` header, or `X-Amz-Credential` in the query of a presigned URL.
fn signed_region(head: &str, target: &str) -> Option<String> {
    let scope = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
        .and_then(|l| l.split("Credential=").nth(1))
        .map(|c| c.split(',').next().unwrap_or("").to_string())
        .or_else(|| {
            let query = target.split_once('?')?.1;
            query.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == "X-Amz-Credential").then(|| v.replace("%2F", "/").replace("%2f", "/"))
            })
        })?;
    scope.split('/').nth(2).map(str::to_string)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The host:port of an `http://` URL.
pub fn socket_of(url: &str) -> SocketAddr {
    let u = url::Url::parse(url).expect("an endpoint URL");
    let host = u.host_str().expect("a host");
    let port = u.port_or_known_default().expect("a port");
    format!("{host}:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{url}: not an IP endpoint ({e})"))
}
