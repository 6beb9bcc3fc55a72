//! HTTP/1.1 on the wire for the lean path: a request head written into a reused buffer, a
//! response read into another, its body counted (and kept only when asked) without a copy
//! or an allocation per frame.
//!
//! What it speaks is what a storage answer needs: `Content-Length`, `Transfer-Encoding:
//! chunked` (trailers skipped), close-delimited bodies, `HEAD`, `1xx` interim answers and
//! `Connection: close`. Anything else malformed is an error, never a guess.
use std::io;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::request::Body;

/// The largest response head (status line and headers) accepted.
const MAX_HEAD: usize = 64 << 10;
/// The most headers one response may carry.
const MAX_HEADERS: usize = 100;
/// Where a connection's read buffer starts, and how far it grows while a large body
/// streams through it (fewer, larger reads; 4 KiB objects never grow it). 64 KiB read 64 MiB
/// objects fastest here (32 KiB to 1 MiB tried with benches/speed_bars.sh).
const READ_START: usize = 16 << 10;
const READ_MAX: usize = 64 << 10;
/// Bodies up to this size go out in the same write as the head.
pub const INLINE_BODY: usize = 16 << 10;

/// Appends `req`'s head to `out` (and its body when it is small: see [`INLINE_BODY`]).
/// Returns whether the body was inlined.
pub fn encode_request(req: &http::Request<Body>, out: &mut Vec<u8>) -> bool {
    let body = &req.body().0;
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(pq.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in req.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let sends_body = !body.is_empty() || matches!(*req.method(), Method::PUT | Method::POST);
    if sends_body && !req.headers().contains_key(http::header::CONTENT_LENGTH) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let inline = body.len() <= INLINE_BODY;
    if inline {
        out.extend_from_slice(body);
    }
    inline
}

/// A response head: what the exchange reports and how its body is framed.
#[derive(Debug)]
pub struct Head {
    pub status: StatusCode,
    /// The headers, only when asked for (see [`Reader::head`]).
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The server keeps the connection open after this answer.
    pub keep_alive: bool,
}

/// How a response body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes (0 for HEAD, 204 and 304).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    Close,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn eof(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the server closed the connection {what}"),
    )
}

/// A connection's read side: one buffer, reused for every answer on it.
pub struct Reader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The last read filled the buffer: a body streaming through may use a larger one.
    filled: bool,
}

impl Default for Reader {
    fn default() -> Self {
        Reader {
            buf: vec![0; READ_START],
            start: 0,
            end: 0,
            filled: false,
        }
    }
}

impl Reader {
    /// Whether bytes the server sent are still unread (an answer nobody asked for: the
    /// connection must not be reused).
    pub fn has_leftover(&self) -> bool {
        self.start < self.end
    }

    /// Reads more into the buffer, making room first; 0 means the server closed. The buffer
    /// doubles, up to 64 KiB, when a head or line does not fit yet, or (`stream`: body bytes
    /// streaming through) when the last read filled it.
    async fn fill<S: AsyncRead + Unpin>(&mut self, io: &mut S, stream: bool) -> io::Result<usize> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let cap = if stream { READ_MAX } else { MAX_HEAD };
        let outgrown = self.end == self.buf.len() || (stream && self.filled);
        if outgrown && self.buf.len() < cap {
            self.buf.resize((self.buf.len() * 2).min(cap), 0);
        }
        if self.end == self.buf.len() {
            return Err(bad("a response line or head is too long"));
        }
        let n = io.read(&mut self.buf[self.end..]).await?;
        self.filled = self.end + n == self.buf.len();
        self.end += n;
        Ok(n)
    }

    /// Reads one response head for a request with `method` (interim `1xx` answers are
    /// skipped). `headers`: keep the headers (otherwise only framing is looked at).
    pub async fn head<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut S,
        method: &Method,
        headers: bool,
    ) -> io::Result<Head> {
        loop {
            let (len, head) = loop {
                if self.start < self.end
                    && let Some(parsed) =
                        parse_head(&self.buf[self.start..self.end], method, headers)?
                {
                    break parsed;
                }
                if self.end - self.start >= MAX_HEAD {
                    return Err(bad(format!("the response head is over {MAX_HEAD} bytes")));
                }
                if self.fill(io, false).await? == 0 {
                    return Err(eof(if self.start == self.end {
                        "before answering"
                    } else {
                        "in the middle of the response head"
                    }));
                }
            };
            self.start += len;
            let interim =
                head.status.is_informational() && head.status != StatusCode::SWITCHING_PROTOCOLS;
            if !interim {
                return Ok(head);
            }
        }
    }

    /// Reads the body `framing` describes, handing each piece to `sink`; returns its size.
    pub async fn body<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut S,
        framing: Framing,
        sink: &mut impl FnMut(&[u8]),
    ) -> io::Result<u64> {
        match framing {
            Framing::Length(n) => {
                self.exact(io, n, sink).await?;
                Ok(n)
            }
            Framing::Close => {
                let mut total = 0u64;
                loop {
                    if self.start < self.end {
                        sink(&self.buf[self.start..self.end]);
                        total += (self.end - self.start) as u64;
                        self.start = self.end;
                    }
                    if self.fill(io, true).await? == 0 {
                        return Ok(total);
                    }
                }
            }
            Framing::Chunked => {
                let mut total = 0u64;
                loop {
                    let line = self.line(io).await?;
                    let size = chunk_size(&self.buf[line.0..line.1])?;
                    if size == 0 {
                        // Trailers, up to the empty line.
                        while {
                            let l = self.line(io).await?;
                            l.0 != l.1
                        } {}
                        return Ok(total);
                    }
                    self.exact(io, size, sink).await?;
                    total += size;
                    let crlf = self.line(io).await?;
                    if crlf.0 != crlf.1 {
                        return Err(bad("a chunk is longer than its size line says"));
                    }
                }
            }
        }
    }

    /// Hands exactly `n` body bytes to `sink`.
    async fn exact<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut S,
        mut n: u64,
        sink: &mut impl FnMut(&[u8]),
    ) -> io::Result<()> {
        while n > 0 {
            if self.start == self.end && self.fill(io, true).await? == 0 {
                return Err(eof("before the end of the body"));
            }
            let take = (self.end - self.start).min(usize::try_from(n).unwrap_or(usize::MAX));
            sink(&self.buf[self.start..self.start + take]);
            self.start += take;
            n -= take as u64;
        }
        Ok(())
    }

    /// The next line (without its CRLF) as a range of the buffer, valid until the next read.
    async fn line<S: AsyncRead + Unpin>(&mut self, io: &mut S) -> io::Result<(usize, usize)> {
        loop {
            if let Some(i) = self.buf[self.start..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                let (s, nl) = (self.start, self.start + i);
                self.start = nl + 1;
                let e = if nl > s && self.buf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                return Ok((s, e));
            }
            if self.fill(io, false).await? == 0 {
                return Err(eof("in the middle of a chunked body"));
            }
        }
    }
}

/// Parses a complete head at the start of `buf`: its length and what it says; `None` when
/// more bytes are needed.
fn parse_head(buf: &[u8], method: &Method, keep: bool) -> io::Result<Option<(usize, Head)>> {
    // Uninitialised slots: zeroing 100 headers would cost more than parsing the answer.
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut slots);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(bad(format!("malformed response head: {e}"))),
    };
    let code = resp.code.unwrap_or(0);
    let status = StatusCode::from_u16(code).map_err(|_| bad(format!("status code {code}")))?;
    let version = if resp.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut length = None;
    let mut chunked = false;
    let mut close = version == Version::HTTP_10;
    let mut headers = HeaderMap::new();
    for h in resp.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| bad("a Content-Length that is not a number"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("two different Content-Length headers"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
        if keep {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| bad(format!("header name `{name}`")))?;
            let v = HeaderValue::from_bytes(h.value)
                .map_err(|_| bad(format!("the value of header `{name}`")))?;
            headers.append(n, v);
        }
    }
    let bodiless = *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = if bodiless {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        close = true;
        Framing::Close
    };
    Ok(Some((
        len,
        Head {
            status,
            headers,
            framing,
            keep_alive: !close,
        },
    )))
}

/// The size on a chunk's size line (hex, extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> io::Result<u64> {
    let hex = line
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let s = std::str::from_utf8(hex).map_err(|_| bad("a chunk size line that is not text"))?;
    if s.is_empty() || s.len() > 15 {
        return Err(bad(format!("chunk size `{s}`")));
    }
    u64::from_str_radix(s, 16).map_err(|_| bad(format!("chunk size `{s}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, pq: &'static str, body: &'static [u8]) -> http::Request<Body> {
        let mut req = http::Request::new(Body::new(bytes::Bytes::from_static(body)));
        *req.method_mut() = method;
        *req.uri_mut() = http::Uri::from_static(pq);
        req.headers_mut().insert(
            http::header::HOST,
            HeaderValue::from_static("127.0.0.1:9000"),
        );
        req
    }

    #[test]
    fn a_request_head_is_what_hyper_would_send() {
        let mut out = Vec::new();
        assert!(encode_request(
            &request(Method::GET, "/b/k?x=1", b""),
            &mut out
        ));
        assert_eq!(
            out,
            b"GET /b/k?x=1 HTTP/1.1\r\nhost: 127.0.0.1:9000\r\n\r\n"
        );
        out.clear();
        encode_request(&request(Method::PUT, "/b/k", b"abc"), &mut out);
        assert_eq!(
            out,
            b"PUT /b/k HTTP/1.1\r\nhost: 127.0.0.1:9000\r\ncontent-length: 3\r\n\r\nabc"
        );
        out.clear();
        // An empty PUT still says its length (servers answer 411 otherwise).
        encode_request(&request(Method::PUT, "/b/k", b""), &mut out);
        assert!(out.ends_with(b"content-length: 0\r\n\r\n"));
    }

    async fn read_all(wire: &[u8], method: Method) -> io::Result<(Head, Vec<u8>, bool)> {
        // One byte per read: every boundary inside a head, size line and body is crossed.
        let mut io = tokio_test_reader(wire);
        let mut r = Reader::default();
        let head = r.head(&mut io, &method, true).await?;
        let mut body = Vec::new();
        r.body(&mut io, head.framing, &mut |b| body.extend_from_slice(b))
            .await?;
        Ok((head, body, r.has_leftover()))
    }

    /// A reader that hands out one byte per read.
    fn tokio_test_reader(wire: &[u8]) -> impl AsyncRead + Unpin + use<> {
        struct OneByte(std::collections::VecDeque<u8>);
        impl AsyncRead for OneByte {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<io::Result<()>> {
                if let Some(b) = self.0.pop_front() {
                    buf.put_slice(&[b]);
                }
                std::task::Poll::Ready(Ok(()))
            }
        }
        OneByte(wire.iter().copied().collect())
    }

    #[tokio::test]
    async fn bodies_end_where_their_framing_says() {
        let (h, body, left) = read_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"e\"\r\n\r\nhelloGARBAGE",
            Method::GET,
        )
        .await
        .unwrap();
        assert_eq!(
            (h.status, body.as_slice(), left),
            (StatusCode::OK, &b"hello"[..], false)
        );
        assert_eq!(h.headers["etag"], "\"e\"");
        assert!(h.keep_alive);
        // Read at once, the bytes after the body are left over: the connection is not reused.
        let mut io = &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloGARBAGE"[..];
        let mut r = Reader::default();
        let h = r.head(&mut io, &Method::GET, false).await.unwrap();
        r.body(&mut io, h.framing, &mut |_| {}).await.unwrap();
        assert!(r.has_leftover());

        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nx-trailer: t\r\n\r\n";
        let (h, body, left) = read_all(chunked, Method::GET).await.unwrap();
        assert_eq!(
            (h.framing, body.as_slice(), left),
            (Framing::Chunked, &b"hello, world!!!"[..], false)
        );

        let (h, body, _) = read_all(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\nno such key",
            Method::GET,
        )
        .await
        .unwrap();
        assert_eq!(
            (h.status, body.as_slice()),
            (StatusCode::NOT_FOUND, &b"no such key"[..])
        );
        assert!(!h.keep_alive);

        // HEAD: the length describes the object, no body follows.
        let (h, body, left) = read_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n",
            Method::HEAD,
        )
        .await
        .unwrap();
        assert_eq!(
            (h.framing, body.len(), left),
            (Framing::Length(0), 0, false)
        );
    }

    #[tokio::test]
    async fn a_cut_or_malformed_answer_is_an_error() {
        for wire in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"NOT HTTP\r\n\r\n",
            b"",
        ] {
            assert!(
                read_all(wire, Method::GET).await.is_err(),
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[tokio::test]
    async fn a_head_may_outgrow_the_first_buffer_up_to_its_limit() {
        let head = |n: usize| {
            let mut w = b"HTTP/1.1 200 OK\r\nx-amz-meta-big: ".to_vec();
            w.extend(std::iter::repeat_n(b'a', n));
            w.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
            w
        };
        let (h, body, _) = read_all(&head(40 << 10), Method::GET).await.unwrap();
        assert_eq!((h.status, body.as_slice()), (StatusCode::OK, &b"ok"[..]));
        let e = read_all(&head(MAX_HEAD), Method::GET).await.unwrap_err();
        assert!(e.to_string().contains("over 65536 bytes"), "{e}");
    }

    #[tokio::test]
    async fn a_large_body_grows_the_buffer_to_its_cap_only() {
        let mut wire = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n".to_vec();
        wire.extend(std::iter::repeat_n(7u8, 1 << 20));
        let mut io = &wire[..];
        let mut r = Reader::default();
        let head = r.head(&mut io, &Method::GET, false).await.unwrap();
        let mut n = 0u64;
        assert_eq!(
            r.body(&mut io, head.framing, &mut |b| n += b.len() as u64)
                .await
                .unwrap(),
            1 << 20
        );
        assert_eq!(n, 1 << 20);
        assert_eq!(r.buf.len(), READ_MAX);
    }
}
