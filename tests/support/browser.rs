//! A real browser as the oracle: headless Chromium (Debian package `chromium`, installed by
//! `.ci/run`) loads a page from a test "Label Studio origin" and writes what it saw into the
//! DOM, which `--dump-dom` prints.
//!
//! Chromium reaches only 127.0.0.1: every name but the two below resolves to nothing
//! (`--host-resolver-rules ... MAP * ~NOTFOUND`, which covers IP literals too, so 127.0.0.1 is
//! excluded from it), anything else goes to a proxy on a closed loopback port, background
//! networking and component updates are off, and each run has a fresh profile. `ls.test` (the
//! page's origin) and `bucket.test` (a bucket endpoint by name, which browsers do not exempt
//! from mixed-content blocking as they do `127.0.0.1`) both map to 127.0.0.1. Measured with
//! `strace -f -e trace=%network`: every TCP connection goes to 127.0.0.1; the one other address
//! is a UDP `connect()` to 2001:4860:4860::8888 (Chromium's IPv6 reachability probe), which
//! sends no datagram.
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The page's host name.
pub const PAGE_HOST: &str = "ls.test";
/// A bucket endpoint by name.
pub const BUCKET_HOST: &str = "bucket.test";

/// The Chromium binary (`LSPROBE_CHROMIUM`, else `chromium` on PATH), or `None` after a loud
/// skip; under `LSPROBE_REQUIRE_EMULATORS=1` a missing Chromium fails the test.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LSPROBE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .flat_map(|d| [d.join("chromium"), d.join("chromium-browser")])
            .find(|p| p.is_file())
    });
    if found.is_none() {
        super::skip_or_fail(
            "headless Chromium is not installed (Debian: apt-get install -y chromium; or set \
             LSPROBE_CHROMIUM)",
        );
    }
    found
}

/// Serves pages on 127.0.0.1 over http and (through a TLS front with the test certificate)
/// https. Threads of the test process: they end with it.
pub struct PageServer {
    /// The plain-HTTP port.
    pub http_port: u16,
    /// The HTTPS port.
    pub https_port: u16,
    pages: Arc<Mutex<HashMap<String, String>>>,
}

impl PageServer {
    /// Starts the server.
    pub fn start() -> PageServer {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind page server");
        let http_port = listener.local_addr().unwrap().port();
        let pages: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let served = pages.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let pages = served.clone();
                std::thread::spawn(move || serve(stream, &pages));
            }
        });
        let https_port = super::tls::tls_front(http_port);
        PageServer {
            http_port,
            https_port,
            pages,
        }
    }

    /// Publishes `html` at `/<name>`.
    pub fn put(&self, name: &str, html: String) {
        self.pages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(format!("/{name}"), html);
    }

    /// The page's origin: `http://ls.test:PORT` or `https://ls.test:PORT`.
    pub fn origin(&self, https: bool) -> String {
        if https {
            format!("https://{PAGE_HOST}:{}", self.https_port)
        } else {
            format!("http://{PAGE_HOST}:{}", self.http_port)
        }
    }
}

fn serve(stream: std::net::TcpStream, pages: &Mutex<HashMap<String, String>>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {}
        }
    }
    let page = pages
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&path)
        .cloned();
    let (status, body) = match page {
        Some(p) => ("200 OK", p),
        None => ("404 Not Found", String::new()),
    };
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Loads `url` in headless Chromium and returns the JSON the page wrote into
/// `<pre id="results">`, or why it could not.
pub fn results(chromium: &std::path::Path, url: &str) -> Result<serde_json::Value, String> {
    let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
    // A port nothing listens on: the proxy every non-loopback request dies at.
    let closed = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--mute-audio",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--ignore-certificate-errors",
            "--virtual-time-budget=30000",
        ])
        .arg(format!("--proxy-server=http://127.0.0.1:{closed}"))
        .arg(format!("--proxy-bypass-list={PAGE_HOST};{BUCKET_HOST}"))
        .arg(format!(
            "--host-resolver-rules=MAP {PAGE_HOST} 127.0.0.1, MAP {BUCKET_HOST} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
        ))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| format!("{}: {e}", chromium.display()))?;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            // Chromium and its helpers are in their own process group: end them all.
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            return Err(format!("Chromium did not finish loading {url} in 180 s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    let dom = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let start = dom
        .find("<pre id=\"results\">")
        .map(|i| i + "<pre id=\"results\">".len());
    let json = start
        .and_then(|s| dom[s..].find("</pre>").map(|e| &dom[s..s + e]))
        .map(|t| {
            t.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        });
    match json.as_deref().map(serde_json::from_str) {
        Some(Ok(v)) => Ok(v),
        _ => Err(format!(
            "the page at {url} wrote no results\nDOM:\n{dom}\nstderr (last lines):\n{}",
            stderr.lines().rev().take(15).collect::<Vec<_>>().join("\n")
        )),
    }
}

/// One thing the page does with a bucket URL.
#[derive(serde::Serialize, Clone, Debug)]
pub struct Case {
    /// Key of the result.
    pub id: String,
    /// `range` (fetch with `Range`, as audio players and wavesurfer do), `img` and `audio`
    /// (`crossorigin="anonymous"`), `put` (fetch PUT with an ArrayBuffer), `put_typed` (fetch
    /// PUT of a Blob with a type), `post` (fetch POST of a multipart form: no preflight), `head` (fetch HEAD: no preflight).
    pub kind: &'static str,
    /// The presigned URL.
    pub url: String,
    /// Azure: send `x-ms-blob-type: BlockBlob`.
    pub azure: bool,
}

/// The page that runs `cases` and writes `{id: "ok" | "blocked: ..." | "answered N"}`.
pub fn page(cases: &[Case]) -> String {
    let cases = serde_json::to_string(cases).unwrap().replace("</", "<\\/");
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>lsprobe browser oracle</title></head>
<body><pre id="results">pending</pre><script>
const cases = {cases};
async function range(c) {{
  try {{
    const r = await fetch(c.url, {{ headers: {{ Range: "bytes=100-1123" }} }});
    const b = await r.arrayBuffer();
    return r.status === 206 && b.byteLength === 1024 ? "ok" : "answered " + r.status + " with " + b.byteLength + " bytes";
  }} catch (e) {{ return "blocked: " + e.message; }}
}}
function element(c, tag, ok) {{
  return new Promise((resolve) => {{
    const el = document.createElement(tag);
    el.crossOrigin = "anonymous";
    el.addEventListener(ok, () => resolve("ok"), {{ once: true }});
    el.addEventListener("error", () => resolve("blocked: <" + tag + "> error" + (el.error ? " " + el.error.code : "")), {{ once: true }});
    if (tag === "audio") {{ el.preload = "auto"; el.muted = true; document.body.appendChild(el); }}
    el.src = c.url;
  }});
}}
async function put(c, typed) {{
  const bytes = new Uint8Array(16);
  const body = typed ? new Blob([bytes], {{ type: "application/octet-stream" }}) : bytes.buffer;
  const headers = c.azure ? {{ "x-ms-blob-type": "BlockBlob" }} : {{}};
  try {{
    const r = await fetch(c.url, {{ method: "PUT", body, headers }});
    return r.ok ? "ok" : "answered " + r.status;
  }} catch (e) {{ return "blocked: " + e.message; }}
}}
async function post(c) {{
  const form = new FormData();
  form.append("key", "upload.bin");
  form.append("file", new Blob([new Uint8Array(16)], {{ type: "application/octet-stream" }}), "upload.bin");
  try {{
    const r = await fetch(c.url, {{ method: "POST", body: form }});
    return r.ok ? "ok" : "answered " + r.status;
  }} catch (e) {{ return "blocked: " + e.message; }}
}}
async function head(c) {{
  try {{
    const r = await fetch(c.url, {{ method: "HEAD" }});
    return r.ok ? "ok" : "answered " + r.status;
  }} catch (e) {{ return "blocked: " + e.message; }}
}}
function run(c) {{
  switch (c.kind) {{
    case "range": return range(c);
    case "img": return element(c, "img", "load");
    case "audio": return element(c, "audio", "loadedmetadata");
    case "put": return put(c, false);
    case "put_typed": return put(c, true);
    case "post": return post(c);
    case "head": return head(c);
  }}
  return Promise.resolve("unknown kind " + c.kind);
}}
Promise.all(cases.map(run)).then((outcomes) => {{
  const out = {{}};
  cases.forEach((c, i) => {{ out[c.id] = outcomes[i]; }});
  document.getElementById("results").textContent = JSON.stringify(out);
}});
</script></body></html>
"#
    )
}

/// A 1x1 PNG.
pub const PNG: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 4, 0,
    0, 0, 181, 28, 12, 2, 0, 0, 0, 11, 73, 68, 65, 84, 120, 218, 99, 100, 96, 0, 0, 0, 6, 0, 2, 48,
    129, 208, 47, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// One second of 8-bit mono PCM at 8 kHz (a valid WAV, longer than the range fetched).
pub fn wav() -> Vec<u8> {
    let samples = 8000u32;
    let mut w = Vec::with_capacity(44 + samples as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + samples).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&8000u32.to_le_bytes()); // byte rate
    w.extend_from_slice(&1u16.to_le_bytes()); // block align
    w.extend_from_slice(&8u16.to_le_bytes()); // bits
    w.extend_from_slice(b"data");
    w.extend_from_slice(&samples.to_le_bytes());
    w.extend((0..samples).map(|i| 128u8.wrapping_add(((i % 16) * 4) as u8)));
    w
}

/// A port on 127.0.0.1 that hands each request to `backend_port` with `Host: 127.0.0.1:<port>`
/// (one request per connection), so a browser can use a bucket endpoint by name
/// (`http://bucket.test:<port>`) while the emulator still sees path-style requests: s3rver
/// reads any other Host as a bucket name.
pub fn host_front(backend_port: u16) -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind host front");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            std::thread::spawn(move || forward(client, backend_port));
        }
    });
    port
}

fn forward(mut client: std::net::TcpStream, backend_port: u16) {
    // The request head, byte by byte (it is small), so the body stays in the socket.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines: Vec<String> = text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .filter(|l| {
            let name = l
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            name != "host" && name != "connection"
        })
        .map(str::to_string)
        .collect();
    lines.push(format!("Host: 127.0.0.1:{backend_port}"));
    lines.push("Connection: close".into());
    let Ok(mut backend) = std::net::TcpStream::connect(("127.0.0.1", backend_port)) else {
        return;
    };
    if backend
        .write_all(format!("{}\r\n\r\n", lines.join("\r\n")).as_bytes())
        .is_err()
    {
        return;
    }
    let (Ok(mut client_in), Ok(mut backend_out)) = (client.try_clone(), backend.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut backend_out);
    });
    let _ = std::io::copy(&mut backend, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = backend.shutdown(std::net::Shutdown::Both);
}
