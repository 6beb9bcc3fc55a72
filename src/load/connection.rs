//! One HTTP/1.1 connection per worker, driven inside the worker's own task.
//!
//! No pool, no lock, no task hop, no channel: the worker writes the request head from a reused
//! buffer and reads the answer into another ([`super::wire`]), so a request costs about two
//! system calls and a header parse. A closed or failed connection is replaced on the next
//! request.
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Method, StatusCode};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::request::Body;
use super::wire;

/// Where requests go: scheme, host, port, and any path the endpoint URL carries.
#[derive(Clone)]
pub struct Endpoint {
    host: String,
    port: u16,
    host_header: HeaderValue,
    base_path: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Endpoint({}://{}:{}{})",
            if self.tls.is_some() { "https" } else { "http" },
            self.host,
            self.port,
            self.base_path
        )
    }
}

/// An endpoint URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("endpoint `{url}`: {reason}")]
pub struct EndpointError {
    url: String,
    reason: String,
}

impl Endpoint {
    /// Parses `http://host[:port][/path]` or `https://...`. HTTPS verifies certificates with
    /// the platform's roots (a rustls crypto provider must be installed); use
    /// [`Endpoint::with_tls`] for another configuration (a CA bundle, no verification).
    pub fn parse(url: &str) -> Result<Self, EndpointError> {
        let bad = |reason: &str| EndpointError {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let u = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let https = match u.scheme() {
            "http" => false,
            "https" => true,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let host = u.host_str().ok_or_else(|| bad("no host"))?.to_string();
        let port = u.port_or_known_default().ok_or_else(|| bad("no port"))?;
        // Like object_store: the port appears in Host only when it is not the default.
        let host_header = match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let mut ep = Endpoint {
            host_header: HeaderValue::from_str(&host_header).map_err(|e| bad(&e.to_string()))?,
            base_path: u.path().trim_end_matches('/').to_string(),
            host,
            port,
            tls: None,
        };
        if https {
            use rustls_platform_verifier::ConfigVerifierExt;
            let config = rustls::ClientConfig::with_platform_verifier()
                .map_err(|e| bad(&format!("TLS setup failed: {e}")))?;
            ep = ep.with_tls(Arc::new(config)).map_err(|e| bad(&e))?;
        }
        Ok(ep)
    }

    /// Uses TLS with `config` (ALPN is left to the config: this path speaks HTTP/1.1).
    pub fn with_tls(mut self, config: Arc<rustls::ClientConfig>) -> Result<Self, String> {
        let name = ServerName::try_from(self.host.clone()).map_err(|e| e.to_string())?;
        self.tls = Some((TlsConnector::from(config), name));
        Ok(self)
    }

    /// The `Host` header value (and the `host` SigV4 signs).
    pub fn host_header(&self) -> HeaderValue {
        self.host_header.clone()
    }

    /// The endpoint URL's path without a trailing `/` (`""` for most endpoints).
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    async fn connect(&self) -> io::Result<Stream> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Ok(Stream::Plain(tcp)),
            Some((connector, name)) => Ok(Stream::Tls(Box::new(
                connector.connect(name.clone(), tcp).await?,
            ))),
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    /// Whether the server closed the connection (or sent something unasked) while it was
    /// idle: a non-blocking read that finds anything but "nothing yet".
    fn dropped(&self) -> bool {
        let tcp = match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        };
        !matches!(tcp.try_read(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, b),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, b),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// What to keep of a response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Count the bytes, keep the first 4 KiB of an error body (for its error code).
    Errors,
    /// Keep everything (listings in the prepare phase; never on the measured path).
    All,
}

/// One request and its answer.
#[derive(Debug)]
pub struct Exchange {
    /// Status of the answer.
    pub status: StatusCode,
    /// When the response head arrived (time to first byte).
    pub first_byte: tokio::time::Instant,
    /// Body bytes received.
    pub bytes: u64,
    /// The kept body (see [`Keep`]); empty when nothing was kept.
    pub body: Vec<u8>,
    /// The response headers with [`Keep::All`]; empty otherwise (no copy on the hot path).
    pub headers: http::HeaderMap,
}

/// Why an exchange has no answer.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The connection could not be opened.
    #[error("could not connect: {0}")]
    Connect(#[source] io::Error),
    /// The deadline passed first.
    #[error("timed out")]
    Timeout,
    /// The connection failed mid-request, or the answer was not HTTP/1.1 as it should be.
    #[error("HTTP error: {0}")]
    Http(#[source] io::Error),
}

/// A worker's connection (opened lazily, replaced when it closes or fails).
pub struct Connection {
    endpoint: Arc<Endpoint>,
    live: Option<Stream>,
    /// The request head (and a small body) is written from here.
    out: Vec<u8>,
    reader: wire::Reader,
    /// When the last answer ended (a connection idle for long may have been closed).
    idle_since: tokio::time::Instant,
}

/// A connection idle longer than this is checked before it is reused: a server that closed
/// it meanwhile (S3 closes idle ones after about 20 s; a worker backing off waits up to as
/// long) must not turn the next request into an error. urllib3 checks the same way.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl Connection {
    /// A connection to `endpoint`, opened on first use.
    pub fn new(endpoint: Arc<Endpoint>) -> Self {
        Connection {
            endpoint,
            live: None,
            out: Vec::with_capacity(1024),
            reader: wire::Reader::default(),
            idle_since: tokio::time::Instant::now(),
        }
    }

    /// Sends `req` and reads the whole answer, giving up at `deadline`.
    pub async fn exchange(
        &mut self,
        req: http::Request<Body>,
        keep: Keep,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Exchange, ExchangeError> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let inlined = wire::encode_request(&req, &mut out);
        let rest = (!inlined).then_some(&req.body().0[..]);
        let result = self
            .exchange_encoded(&out, rest, req.method(), keep, deadline)
            .await;
        self.out = out;
        result
    }

    /// Sends a request already encoded ([`wire::encode_request`]): `head` (with any inlined
    /// body), then `rest` (a body not inlined); `method` is the request's.
    pub async fn exchange_encoded(
        &mut self,
        head: &[u8],
        rest: Option<&[u8]>,
        method: &Method,
        keep: Keep,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Exchange, ExchangeError> {
        let result = match deadline {
            // A TLS handshake to a stalled server must not outlive the request either.
            Some(d) => tokio::time::timeout_at(d, self.send_and_read(head, rest, method, keep))
                .await
                .unwrap_or(Err(ExchangeError::Timeout)),
            None => self.send_and_read(head, rest, method, keep).await,
        };
        if !matches!(&result, Ok((_, true))) {
            // Failed, timed out half-way, or the server closes: the next request opens anew.
            self.live = None;
        }
        result.map(|(x, _)| x)
    }

    /// One exchange; `.1`: the connection may carry the next request.
    async fn send_and_read(
        &mut self,
        head: &[u8],
        rest: Option<&[u8]>,
        method: &Method,
        keep: Keep,
    ) -> Result<(Exchange, bool), ExchangeError> {
        if self
            .live
            .as_ref()
            .is_some_and(|s| self.idle_since.elapsed() > STALE_AFTER && s.dropped())
        {
            self.live = None;
        }
        if self.live.is_none() {
            let stream = self
                .endpoint
                .connect()
                .await
                .map_err(ExchangeError::Connect)?;
            self.live = Some(stream);
            self.reader = wire::Reader::default();
        }
        let io = self.live.as_mut().expect("opened above");
        io.write_all(head).await.map_err(ExchangeError::Http)?;
        if let Some(body) = rest {
            io.write_all(body).await.map_err(ExchangeError::Http)?;
        }
        io.flush().await.map_err(ExchangeError::Http)?;
        let keep_all = keep == Keep::All;
        let head = self
            .reader
            .head(io, method, keep_all)
            .await
            .map_err(ExchangeError::Http)?;
        let first_byte = tokio::time::Instant::now();
        let keep_limit = if keep_all {
            usize::MAX
        } else if head.status.is_success() {
            0
        } else {
            4096
        };
        let mut kept = Vec::new();
        let bytes = self
            .reader
            .body(io, head.framing, &mut |data: &[u8]| {
                if kept.len() < keep_limit {
                    let n = data.len().min(keep_limit - kept.len());
                    kept.extend_from_slice(&data[..n]);
                }
            })
            .await
            .map_err(ExchangeError::Http)?;
        let reusable = head.keep_alive && !self.reader.has_leftover();
        // (The head's arrival stands for the end: one clock read less per request.)
        self.idle_since = first_byte;
        let exchange = Exchange {
            status: head.status,
            first_byte,
            bytes,
            body: kept,
            headers: head.headers,
        };
        Ok((exchange, reusable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers one request per connection and then closes it, as an idle
    /// timeout does, though the answer said keep-alive.
    async fn one_answer_per_connection() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0; 4096];
                    let _ = s.read(&mut buf).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await;
                });
            }
        });
        (port, accepted)
    }

    fn get() -> http::Request<Body> {
        let mut req = http::Request::new(Body::default());
        req.headers_mut()
            .insert(http::header::HOST, HeaderValue::from_static("127.0.0.1"));
        req
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_while_idle_is_replaced_not_failed() {
        let (port, accepted) = one_answer_per_connection().await;
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let mut conn = Connection::new(Arc::new(endpoint));
        let x = conn.exchange(get(), Keep::Errors, None).await.unwrap();
        assert_eq!((x.status, x.bytes), (StatusCode::OK, 2));
        tokio::time::sleep(STALE_AFTER + std::time::Duration::from_millis(300)).await;
        let x = conn.exchange(get(), Keep::Errors, None).await.unwrap();
        assert_eq!((x.status, x.bytes), (StatusCode::OK, 2));
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn host_header_keeps_only_explicit_ports() {
        let e = Endpoint::parse("http://127.0.0.1:9000/").unwrap();
        assert_eq!(e.host_header(), "127.0.0.1:9000");
        assert_eq!(e.base_path(), "");
        let e = Endpoint::parse("http://localhost/devstoreaccount1").unwrap();
        assert_eq!(e.host_header(), "localhost");
        assert_eq!(e.base_path(), "/devstoreaccount1");
        assert!(Endpoint::parse("ftp://x").is_err());
    }
}
