//! Test support: a latency- and fault-injecting HTTP/1.1 proxy and a tiny S3-ish origin,
//! both on 127.0.0.1 only.
//!
//! Faults (each a fraction of requests, drawn per request): a `503 SlowDown` answered by the
//! proxy itself, a connection reset instead of an answer, a response cut off mid-body; and
//! `kill_after`: the storage dies (listener closed, every connection dropped, new ones
//! refused).
//!
//! The proxy forwards each request to its upstream, then holds the response for `delay`
//! (plus up to `jitter`) before passing it on; with `stall`, the first response after a
//! moment pauses *every* response for a while (a server-wide hiccup, like a GC pause or a
//! failover), which is what separates an open loop from a closed one. Framing is by
//! `Content-Length` (no chunked bodies): enough for the origin below and for emulators that
//! send lengths.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// What the proxy injects.
#[derive(Clone, Debug, Default)]
pub struct DelaySpec {
    /// Every response is held this long.
    pub delay: Duration,
    /// Plus a uniform random extra of up to this.
    pub jitter: Duration,
    /// `(after, length)`: the first response at least `after` past the proxy's start pauses
    /// all responses for `length`, once.
    pub stall: Option<(Duration, Duration)>,
    /// Share of requests (0..=1) the proxy answers `503 SlowDown` without forwarding.
    pub slow_down: f64,
    /// Share of requests answered by a connection reset.
    pub reset: f64,
    /// Share of responses cut off halfway through (then the connection is closed).
    pub truncate: f64,
    /// The storage dies this long after the proxy starts.
    pub kill_after: Option<Duration>,
    /// DELETE requests are answered `403 AccessDenied` (cleanup cannot delete).
    pub deny_deletes: bool,
    /// DELETE requests are never answered (cleanup hangs on a stalled storage).
    pub stall_deletes: bool,
    /// Temporary credentials, as S3 (and GCS) judge them: when set, a request is forwarded only
    /// if its `x-amz-security-token` (or its `Authorization: Bearer` token) is one of these and
    /// its expiry (the value) has not passed; otherwise the proxy answers as S3 does,
    /// `400 ExpiredToken` (`403 InvalidToken` for a token it never issued or none).
    pub session_tokens: Option<SessionTokens>,
}

/// Session tokens handed out by a credential stand-in, with the instant each expires.
pub type SessionTokens = Arc<Mutex<std::collections::HashMap<String, std::time::Instant>>>;

/// Why S3 would refuse this request's session token, if it would.
fn token_refusal(tokens: &SessionTokens, raw: &[u8]) -> Option<(u16, &'static str, &'static str)> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let token = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        let k = k.trim();
        if k.eq_ignore_ascii_case("authorization") {
            return v.trim().strip_prefix("Bearer ").map(str::to_string);
        }
        k.eq_ignore_ascii_case("x-amz-security-token")
            .then(|| v.trim().to_string())
    });
    let expires = token.and_then(|t| tokens.lock().unwrap().get(&t).copied());
    match expires {
        None => Some((
            403,
            "InvalidToken",
            "The provided token is malformed or otherwise invalid.",
        )),
        Some(at) if at <= std::time::Instant::now() => {
            Some((400, "ExpiredToken", "The provided token has expired."))
        }
        Some(_) => None,
    }
}

struct State {
    spec: DelaySpec,
    started: Instant,
    /// None: not yet stalled; Some(t): responses wait until t.
    paused_until: Mutex<Option<Instant>>,
    seed: Mutex<u64>,
    killed: tokio::sync::watch::Sender<bool>,
    /// Requests that reached the proxy.
    requests: std::sync::atomic::AtomicU64,
    /// Request lines (`PUT /bkt/key HTTP/1.1`) of the writes and deletes seen.
    log: Mutex<Vec<String>>,
    /// Requests refused for their session token.
    refused_tokens: std::sync::atomic::AtomicU64,
}

/// A running proxy; dropped with the test's runtime.
pub struct DelayProxy {
    /// Where to send requests.
    pub addr: SocketAddr,
    state: Arc<State>,
}

/// One HTTP message read off a stream: its raw bytes and a few facts.
struct Message {
    raw: Vec<u8>,
    method_head: bool,
    status: u16,
}

/// Reads one request (`is_request`) or response; `None` at a clean end of stream.
async fn read_message(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    is_request: bool,
    head_req: bool,
) -> Option<Message> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let first = head.lines().next().unwrap_or_default().to_string();
    let status = if is_request {
        0
    } else {
        first
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    };
    let method_head = is_request && first.starts_with("HEAD ");
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let no_body = !is_request && (head_req || status == 204 || status == 304);
    if chunked && !no_body {
        // A chunked body (fake-gcs-server's larger answers): `SIZE\r\nDATA\r\n` until the
        // zero-size chunk and the empty line after it (no trailers).
        let mut pos = head_end;
        let end = loop {
            let line_end = buf[pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .map(|i| pos + i);
            if let Some(line_end) = line_end {
                let line = String::from_utf8_lossy(&buf[pos..line_end]).to_string();
                let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
                let next = line_end + 2 + size + 2;
                if buf.len() >= next {
                    if size == 0 {
                        break next;
                    }
                    pos = next;
                    continue;
                }
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let raw: Vec<u8> = buf.drain(..end).collect();
        return Some(Message {
            raw,
            method_head,
            status,
        });
    }
    let body_len = if no_body { 0 } else { len };
    while buf.len() < head_end + body_len {
        let mut chunk = [0u8; 64 * 1024];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let raw: Vec<u8> = buf.drain(..head_end + body_len).collect();
    Some(Message {
        raw,
        method_head,
        status,
    })
}

impl DelayProxy {
    /// Starts a proxy to `upstream`.
    pub async fn start(upstream: SocketAddr, spec: DelaySpec) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            spec,
            started: Instant::now(),
            paused_until: Mutex::new(None),
            seed: Mutex::new(0x2545_F491),
            killed: tokio::sync::watch::Sender::new(false),
            requests: std::sync::atomic::AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            refused_tokens: std::sync::atomic::AtomicU64::new(0),
        });
        let st = state.clone();
        tokio::spawn(async move {
            let mut killed = st.killed.subscribe();
            let kill_at = st.spec.kill_after.map(|d| st.started + d);
            loop {
                let until_kill = async {
                    match kill_at {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => {
                            tokio::spawn(serve_client(client, upstream, st.clone()));
                        }
                        Err(_) => return,
                    },
                    () = until_kill => {
                        st.killed.send_replace(true);
                        return; // the listener is dropped: new connections are refused
                    }
                    _ = killed.wait_for(|k| *k) => return,
                }
            }
        });
        DelayProxy { addr, state }
    }

    /// Kills the storage now: the listener closes and every open connection drops.
    pub fn kill(&self) {
        self.state.killed.send_replace(true);
    }

    /// The paths (no query) of the requests with `method` seen so far.
    pub fn paths(&self, method: &str) -> Vec<String> {
        let prefix = format!("{method} ");
        self.state
            .log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter_map(|rest| rest.split(' ').next())
            .map(|target| target.split('?').next().unwrap_or(target).to_string())
            .collect()
    }

    /// Requests refused for an expired, unknown or missing session token so far.
    pub fn refused_tokens(&self) -> u64 {
        self.state
            .refused_tokens
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Requests that reached the proxy so far.
    pub fn requests(&self) -> u64 {
        self.state
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A uniform draw in 0..1 from the proxy's generator.
fn draw(state: &State) -> f64 {
    let mut s = state.seed.lock().unwrap();
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    (*s % 1_000_000) as f64 / 1_000_000.0
}

/// What the proxy does with one request.
enum Fault {
    None,
    SlowDown,
    Reset,
    Truncate,
}

fn fault(state: &State) -> Fault {
    let spec = &state.spec;
    let x = draw(state);
    if x < spec.slow_down {
        Fault::SlowDown
    } else if x < spec.slow_down + spec.reset {
        Fault::Reset
    } else if x < spec.slow_down + spec.reset + spec.truncate {
        Fault::Truncate
    } else {
        Fault::None
    }
}

async fn hold(state: &State) {
    let spec = &state.spec;
    let mut d = spec.delay;
    if !spec.jitter.is_zero() {
        d += spec.jitter.mul_f64(draw(state));
    }
    tokio::time::sleep(d).await;
    let until = {
        let mut p = state.paused_until.lock().unwrap();
        if let (None, Some((after, len))) = (*p, spec.stall)
            && state.started.elapsed() >= after
        {
            *p = Some(Instant::now() + len);
        }
        *p
    };
    if let Some(t) = until {
        tokio::time::sleep_until(t).await;
    }
}

async fn serve_client(client: TcpStream, upstream: SocketAddr, state: Arc<State>) {
    let mut killed = state.killed.subscribe();
    if *killed.borrow() {
        return;
    }
    tokio::select! {
        () = relay(client, upstream, state.clone()) => {}
        _ = killed.wait_for(|k| *k) => {} // dropping the sockets closes them
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, state: Arc<State>) {
    let _ = client.set_nodelay(true);
    let Ok(mut up) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = up.set_nodelay(true);
    let (mut cbuf, mut ubuf) = (Vec::new(), Vec::new());
    while let Some(req) = read_message(&mut client, &mut cbuf, true, false).await {
        state
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let line = String::from_utf8_lossy(
            &req.raw[..req.raw.iter().position(|&b| b == b'\r').unwrap_or(0)],
        )
        .to_string();
        let delete = line.starts_with("DELETE ");
        if delete || line.starts_with("PUT ") {
            state.log.lock().unwrap().push(line);
        }
        if delete && state.spec.stall_deletes {
            std::future::pending::<()>().await;
        }
        if delete && state.spec.deny_deletes {
            let body = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
            let out = format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if client.write_all(out.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        if let Some(tokens) = &state.spec.session_tokens
            && let Some((status, code, message)) = token_refusal(tokens, &req.raw)
        {
            state
                .refused_tokens
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let body = format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>");
            let out = format!(
                "HTTP/1.1 {status} Refused\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if client.write_all(out.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        let fault = fault(&state);
        match fault {
            Fault::SlowDown => {
                hold(&state).await;
                let body = "<Error><Code>SlowDown</Code><Message>Please reduce your request \
                            rate.</Message></Error>";
                let out = format!(
                    "HTTP/1.1 503 Slow Down\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if client.write_all(out.as_bytes()).await.is_err() {
                    return;
                }
                continue;
            }
            Fault::Reset => {
                // SO_LINGER 0: closing sends RST, not FIN.
                let _ = client.set_zero_linger();
                return;
            }
            Fault::Truncate | Fault::None => {}
        }
        if up.write_all(&req.raw).await.is_err() {
            return;
        }
        let Some(resp) = read_message(&mut up, &mut ubuf, false, req.method_head).await else {
            return;
        };
        hold(&state).await;
        if let Fault::Truncate = fault {
            let cut = resp.raw.len() / 2;
            let _ = client.write_all(&resp.raw[..cut]).await;
            return;
        }
        if client.write_all(&resp.raw).await.is_err() {
            return;
        }
    }
}

/// A tiny S3-ish origin: GET of a key answers `body_len` bytes, HEAD its length, PUT 200,
/// DELETE 204, GET with a query (a listing) an empty ListBucketResult. Signatures ignored.
pub async fn start_origin(body_len: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Arc::new(vec![b'x'; body_len]);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let mut buf = Vec::new();
                while let Some(req) = read_message(&mut s, &mut buf, true, false).await {
                    let line = String::from_utf8_lossy(
                        &req.raw[..req.raw.iter().position(|&b| b == b'\r').unwrap_or(0)],
                    )
                    .to_string();
                    let mut out = Vec::new();
                    if line.starts_with("GET ") && line.contains('?') {
                        let xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult></ListBucketResult>";
                        out.extend_from_slice(
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", xml.len())
                                .as_bytes(),
                        );
                        out.extend_from_slice(xml);
                    } else if line.starts_with("GET ") {
                        out.extend_from_slice(
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                                .as_bytes(),
                        );
                        out.extend_from_slice(&body);
                    } else if line.starts_with("HEAD ") {
                        out.extend_from_slice(
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                                .as_bytes(),
                        );
                    } else if line.starts_with("DELETE ") {
                        out.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n");
                    } else {
                        out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                    }
                    if s.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
