//! One HTTP/1.1 connection per worker, driven inside the worker's own task.
//!
//! No pool, no lock, no task hop: the worker polls hyper's connection future together with
//! its request, so a request costs what hyper's codec costs. A closed or failed connection is
//! replaced on the next request.
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::request::Body;

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

type Driver = Pin<Box<http1::Connection<TokioIo<Stream>, Body>>>;

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
    /// The connection failed mid-request.
    #[error("HTTP error: {0}")]
    Http(#[from] hyper::Error),
}

/// A worker's connection (opened lazily, replaced when it closes).
pub struct Connection {
    endpoint: Arc<Endpoint>,
    live: Option<(http1::SendRequest<Body>, Driver)>,
}

impl Connection {
    /// A connection to `endpoint`, opened on first use.
    pub fn new(endpoint: Arc<Endpoint>) -> Self {
        Connection {
            endpoint,
            live: None,
        }
    }

    async fn open(&mut self) -> Result<(), ExchangeError> {
        let stream = self
            .endpoint
            .connect()
            .await
            .map_err(ExchangeError::Connect)?;
        let (sender, driver) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await?;
        self.live = Some((sender, Box::pin(driver)));
        Ok(())
    }

    /// Sends `req` and reads the whole answer, giving up at `deadline`.
    pub async fn exchange(
        &mut self,
        req: http::Request<Body>,
        keep: Keep,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Exchange, ExchangeError> {
        if self.live.as_ref().is_none_or(|(s, _)| s.is_closed()) {
            match deadline {
                // A TLS handshake to a stalled server must not outlive the request either.
                Some(d) => tokio::time::timeout_at(d, self.open())
                    .await
                    .map_err(|_| ExchangeError::Timeout)??,
                None => self.open().await?,
            }
        }
        let (result, driver_done) = {
            let (sender, driver) = self.live.as_mut().expect("opened above");
            let work = std::pin::pin!(async move {
                sender.ready().await?;
                let resp = sender.send_request(req).await?;
                read(resp, keep).await
            });
            let mut work = work;
            let sleep = std::pin::pin!(tokio::time::sleep_until(deadline.unwrap_or_else(|| {
                tokio::time::Instant::now() + std::time::Duration::from_secs(86_400)
            })));
            let mut sleep = sleep;
            let mut driver_done = false;
            let result = loop {
                tokio::select! {
                    biased;
                    r = &mut work => break r.map_err(ExchangeError::from),
                    _ = driver.as_mut(), if !driver_done => driver_done = true,
                    _ = &mut sleep, if deadline.is_some() => break Err(ExchangeError::Timeout),
                }
            };
            (result, driver_done)
        };
        if driver_done || result.is_err() {
            self.live = None;
        }
        result
    }
}

async fn read(resp: Response<Incoming>, keep: Keep) -> Result<Exchange, hyper::Error> {
    let first_byte = tokio::time::Instant::now();
    let status = resp.status();
    let keep_all = keep == Keep::All;
    let headers = if keep_all {
        resp.headers().clone()
    } else {
        http::HeaderMap::new()
    };
    let keep_limit = if keep_all {
        usize::MAX
    } else if status.is_success() {
        0
    } else {
        4096
    };
    let mut body = resp.into_body();
    let mut bytes = 0u64;
    let mut kept = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            bytes += data.len() as u64;
            if kept.len() < keep_limit {
                let n = data.len().min(keep_limit - kept.len());
                kept.extend_from_slice(&data[..n]);
            }
        }
    }
    Ok(Exchange {
        status,
        first_byte,
        bytes,
        body: kept,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
