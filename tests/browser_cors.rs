//! The browser is the oracle for `cors.actual_get` and `cors.preflight.PUT`, `.POST`, `.HEAD`:
//! headless Chromium loads a page from a Label Studio origin (`ls.test` on 127.0.0.1, over http
//! and https) that uses presigned URLs as the labeling UI does (media GET with `Range`,
//! `<img crossorigin>`, `<audio crossorigin>`) and as a direct uploader does (PUT of an
//! ArrayBuffer, PUT of a typed Blob, multipart form POST, HEAD), for a matrix of bucket CORS
//! rules on s3rver and Azurite and an https origin with an http bucket. lsprobe checks the same
//! bucket from the same origin; the test asserts both agree and prints the agreement table.
mod support;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::Method;
use lsprobe::config::{Target, resolve};
use lsprobe::emulators::{Emulators, Kind, S3User};
use lsprobe::provider::{Op, Storage};
use support::browser::{self, BUCKET_HOST, Case, PageServer};
use support::check::{CheckRun, check, edited_env_file};

const WAV_KEY: &str = "media/browser/clip 1.wav";
const PNG_KEY: &str = "media/browser/pixel ü.png";
const PUT_KEY: &str = "media/browser/upload.bin";

/// One bucket setup of the matrix.
struct Setup {
    name: String,
    /// The env.list lsprobe and the URLs use.
    env: PathBuf,
    /// The page's origin is https.
    https: bool,
    azure: bool,
}

/// What the browser and lsprobe said for one setup.
struct Row {
    setup: String,
    browser_media: String,
    browser_upload: String,
    browser_post: String,
    browser_head: String,
    lsprobe_media: String,
    lsprobe_upload: String,
    lsprobe_post: String,
    lsprobe_head: String,
}

impl Row {
    fn agrees(&self) -> bool {
        self.browser_media == self.lsprobe_media
            && self.browser_upload == self.lsprobe_upload
            && self.browser_post == self.lsprobe_post
            && self.browser_head == self.lsprobe_head
    }
}

fn target(env: &Path) -> Target {
    let args = lsprobe::config::TargetOptions {
        env_file: Some(env.to_path_buf()),
        ..Default::default()
    };
    resolve(&args, &[]).expect("the env file resolves").target
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Writes the media objects with credentials (through `writer`), then presigns every case's
/// URL from `setup.env` (which may name the endpoint differently: presigning sends nothing).
fn cases(setup: &Setup, writer: &Path, prefix: &str) -> Vec<Case> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    block_on(async {
        let wt = target(writer);
        let storage = Storage::new(&wt).unwrap();
        for (key, body, content_type) in [
            (WAV_KEY, Bytes::from(browser::wav()), "audio/wav"),
            (PNG_KEY, Bytes::from_static(browser::PNG), "image/png"),
        ] {
            let sent = storage
                .send(&Op::Put {
                    key: key.into(),
                    body,
                    content_type: content_type.into(),
                })
                .await
                .unwrap();
            assert!(sent.status.is_success(), "writing {key}: {sent:?}");
        }
        let t = target(&setup.env);
        let signer = Storage::new(&t).unwrap();
        let url = |method: Method, key: &'static str| {
            let (t, signer) = (&t, &signer);
            async move {
                signer
                    .presign(t, method, key, None, 3600)
                    .await
                    .unwrap()
                    .url
            }
        };
        let get = url(Method::GET, WAV_KEY).await;
        let png = url(Method::GET, PNG_KEY).await;
        let put = url(Method::PUT, PUT_KEY).await;
        [
            ("range", get.clone()),
            ("head", get.clone()),
            ("audio", get),
            ("img", png),
            ("put", put.clone()),
            ("put_typed", put.clone()),
            ("post", put),
        ]
        .into_iter()
        .map(|(kind, url)| Case {
            id: format!("{prefix}{kind}"),
            kind,
            url,
            azure: setup.azure,
        })
        .collect()
    })
}

/// The browser's outcome for one setup: media (all three loads agree or it is inconsistent)
/// and upload.
fn browser_outcome(results: &serde_json::Value, prefix: &str) -> (String, String) {
    let get = |kind: &str| {
        results[format!("{prefix}{kind}")]
            .as_str()
            .unwrap_or("missing")
            .to_string()
    };
    let media: Vec<String> = ["range", "img", "audio"].iter().map(|k| get(k)).collect();
    let media = if media.iter().all(|m| m == "ok") {
        "loads".to_string()
    } else if media.iter().all(|m| m.starts_with("blocked")) {
        "blocked".to_string()
    } else {
        format!(
            "inconsistent: range {}, img {}, audio {}",
            media[0], media[1], media[2]
        )
    };
    // CORS let the PUT through when the page could read an answer.
    let passed = |r: &str| r == "ok" || r.starts_with("answered");
    let upload = match (passed(&get("put")), passed(&get("put_typed"))) {
        (true, true) => "allowed",
        (true, false) => "File PUT blocked",
        (false, _) => "blocked",
    };
    (media, upload.to_string())
}

/// A request that sends no preflight (a multipart form POST, a HEAD): CORS let it through when
/// the page could read an answer, whatever its status.
fn browser_simple(results: &serde_json::Value, prefix: &str, kind: &str) -> String {
    let r = results[format!("{prefix}{kind}")]
        .as_str()
        .unwrap_or("missing");
    if r == "ok" || r.starts_with("answered") {
        "allowed".into()
    } else {
        "blocked".into()
    }
}

/// lsprobe's `cors.preflight.<method>` in the same words.
fn lsprobe_simple(run: &CheckRun, method: &str) -> String {
    let c = run.check(&format!("cors.preflight.{method}"));
    match c["status"].as_str().unwrap() {
        "pass" | "warn" => "allowed".into(),
        "fail" => "blocked".into(),
        other => format!("{other}: {}", c["message"]),
    }
}

/// lsprobe's verdicts mapped to the same words.
fn lsprobe_outcome(run: &CheckRun, origin: &str) -> (String, String) {
    let media = run.check("cors.actual_get");
    let media = match media["status"].as_str().unwrap() {
        "pass" | "warn" => "loads".to_string(),
        "fail" => "blocked".to_string(),
        other => format!("{other}: {}", media["message"]),
    };
    let put = run.check("cors.preflight.PUT");
    let optional_blocked = put["evidence"]["origins"][origin]["optional"]["allowed"] == false;
    let upload = match put["status"].as_str().unwrap() {
        "fail" => "blocked".to_string(),
        "pass" | "warn" if optional_blocked => "File PUT blocked".to_string(),
        "pass" | "warn" => "allowed".to_string(),
        other => format!("{other}: {}", put["message"]),
    };
    (media, upload)
}

fn suite_file(dir: &Path) -> PathBuf {
    let path = dir.join("browser.toml");
    std::fs::write(
        &path,
        "name = \"browser\"\n[[check]]\nid = \"cors.preflight.PUT\"\n[[check]]\nid = \"cors.preflight.POST\"\n[[check]]\nid = \"cors.preflight.HEAD\"\n[[check]]\nid = \"cors.actual_get\"\n",
    )
    .unwrap();
    path
}

/// Runs the page for `setups` (same origin) in one Chromium, and lsprobe for each setup.
fn judge(
    chromium: &Path,
    pages: &PageServer,
    setups: &[(Setup, PathBuf)],
    suite: &Path,
    page_name: &str,
    extra: &[Case],
) -> (Vec<Row>, serde_json::Value) {
    let https = setups[0].0.https;
    let origin = pages.origin(https);
    let mut all = extra.to_vec();
    for (i, (setup, writer)) in setups.iter().enumerate() {
        assert_eq!(setup.https, https);
        all.extend(cases(setup, writer, &format!("s{i}-")));
    }
    pages.put(page_name, browser::page(&all));
    let results = browser::results(chromium, &format!("{origin}/{page_name}"))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{page_name}: {results}");
    let rows = setups
        .iter()
        .enumerate()
        .map(|(i, (setup, _))| {
            let (browser_media, browser_upload) = browser_outcome(&results, &format!("s{i}-"));
            let run = check(
                &setup.env,
                &["--suite", suite.to_str().unwrap(), "--origin", &origin],
            );
            let (lsprobe_media, lsprobe_upload) = lsprobe_outcome(&run, &origin);
            Row {
                setup: setup.name.clone(),
                browser_media,
                browser_upload,
                browser_post: browser_simple(&results, &format!("s{i}-"), "post"),
                browser_head: browser_simple(&results, &format!("s{i}-"), "head"),
                lsprobe_media,
                lsprobe_upload,
                lsprobe_post: lsprobe_simple(&run, "POST"),
                lsprobe_head: lsprobe_simple(&run, "HEAD"),
            }
        })
        .collect();
    (rows, results)
}

fn s3_rule(origin: &str, methods: &[&str], headers: bool) -> String {
    let methods: String = methods
        .iter()
        .map(|m| format!("<AllowedMethod>{m}</AllowedMethod>"))
        .collect();
    let headers = if headers {
        "<AllowedHeader>*</AllowedHeader>"
    } else {
        ""
    };
    format!(
        "<CORSRule><AllowedOrigin>{origin}</AllowedOrigin>{methods}{headers}\
         <MaxAgeSeconds>3600</MaxAgeSeconds></CORSRule>"
    )
}

fn azure_rule(origins: &str, methods: &str, headers: &str) -> String {
    format!(
        "<CorsRule><AllowedOrigins>{origins}</AllowedOrigins><AllowedMethods>{methods}</AllowedMethods>\
         <AllowedHeaders>{headers}</AllowedHeaders><ExposedHeaders>x-ms-*</ExposedHeaders>\
         <MaxAgeInSeconds>3600</MaxAgeInSeconds></CorsRule>"
    )
}

const ALL: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

/// Creates an s3rver bucket with `rules` (or no CORS configuration).
fn s3rver_bucket(endpoint: &str, bucket: &str, rules: Option<&str>) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    block_on(async {
        let put = |url: String, body: String| {
            let client = client.clone();
            async move {
                let status = client.put(&url).body(body).send().await.unwrap().status();
                assert!(status.is_success(), "PUT {url}: {status}");
            }
        };
        put(format!("{endpoint}/{bucket}"), String::new()).await;
        if let Some(rules) = rules {
            put(
                format!("{endpoint}/{bucket}?cors"),
                format!(
                    "<CORSConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{rules}</CORSConfiguration>"
                ),
            )
            .await;
        }
    });
}

fn env_file(emu: &Emulators, kind: Kind, dir: &Path) -> PathBuf {
    let pairs = emu.env_list(kind, S3User::Full).unwrap();
    let path = dir.join(format!("{kind}.list"));
    std::fs::write(&path, lsprobe::emulators::render_env_list(kind, &pairs)).unwrap();
    path
}

fn print_table(rows: &[Row]) {
    let mut out = String::from(
        "\nbrowser (Chromium) vs lsprobe: media = cors.actual_get, PUT = cors.preflight.PUT, \
         form POST = cors.preflight.POST, HEAD = cors.preflight.HEAD\n\
         | setup | browser media | lsprobe media | browser PUT | lsprobe PUT | browser form POST | lsprobe POST | browser HEAD | lsprobe HEAD | agree |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.setup,
            r.browser_media,
            r.lsprobe_media,
            r.browser_upload,
            r.lsprobe_upload,
            r.browser_post,
            r.lsprobe_post,
            r.browser_head,
            r.lsprobe_head,
            if r.agrees() { "yes" } else { "NO" }
        ));
    }
    eprintln!("{out}");
}

#[test]
fn chromium_and_lsprobe_agree_on_cors_for_s3rver_and_azurite() {
    let Some(chromium) = browser::chromium() else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = match support::emulators::start_tied(
        &[Kind::S3, Kind::Azure],
        support::test_state_dir("browser"),
    ) {
        Ok(e) => e,
        Err(reason) => {
            support::skip_or_fail(&reason);
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let suite = suite_file(dir.path());
    let pages = PageServer::start();
    let mut rows = Vec::new();

    // s3rver: one bucket per rule, all judged from one http page.
    let s3_env = env_file(&emu, Kind::S3, dir.path());
    let s3_endpoint = emu.endpoint(Kind::S3).unwrap();
    let s3_port = url::Url::parse(&s3_endpoint).unwrap().port().unwrap();
    // The bucket by name: s3rver reads a Host it does not know as a bucket, so the name goes
    // through a front that restores `Host: 127.0.0.1`.
    let named_port = browser::host_front(s3_port);
    let bucket_env = |bucket: &str, endpoint: Option<String>| {
        let mut changes = vec![("STORAGE_AWS_BUCKET_NAME", Some(bucket.to_string()))];
        if let Some(e) = endpoint {
            changes.push(("STORAGE_AWS_ENDPOINT_URL", Some(e)));
        }
        let changes: Vec<(&str, Option<&str>)> =
            changes.iter().map(|(k, v)| (*k, v.as_deref())).collect();
        let name = format!("{bucket}-{}.list", changes.len());
        edited_env_file(&s3_env, &changes, &name)
    };
    let s3_setups = [
        ("guide rule", Some(s3_rule("*", &ALL, true))),
        ("no CORS configuration", None),
        ("GET/HEAD only", Some(s3_rule("*", &["GET", "HEAD"], true))),
        (
            "another origin",
            Some(s3_rule("https://other.example.com", &ALL, true)),
        ),
        ("no allowed headers", Some(s3_rule("*", &ALL, false))),
    ];
    let mut http_setups = Vec::new();
    for (i, (name, rules)) in s3_setups.iter().enumerate() {
        let bucket = format!("browser-s3-{i}");
        s3rver_bucket(&s3_endpoint, &bucket, rules.as_deref());
        let env = bucket_env(&bucket, None);
        http_setups.push((
            Setup {
                name: format!("s3rver: {name} (http page)"),
                env: env.clone(),
                https: false,
                azure: false,
            },
            env,
        ));
    }
    // An https Label Studio origin and an http bucket with the guide's rule: blocked as mixed
    // content by name; a loopback IP literal is exempt. The control: the same URLs by name load
    // from the http page, so only the page's scheme blocks them.
    let guide_bucket = "browser-s3-0";
    let by_ip = bucket_env(guide_bucket, None);
    let by_name = bucket_env(
        guide_bucket,
        Some(format!("http://{BUCKET_HOST}:{named_port}")),
    );
    let control_setup = Setup {
        name: "control".into(),
        env: by_name.clone(),
        https: false,
        azure: false,
    };
    let control = cases(&control_setup, &by_ip, "control-");
    let (http_rows, results) = judge(&chromium, &pages, &http_setups, &suite, "s3-http", &control);
    rows.extend(http_rows);
    let (media, upload) = browser_outcome(&results, "control-");
    assert_eq!(
        (media.as_str(), upload.as_str()),
        ("loads", "allowed"),
        "the bucket by name from the http page: {results}"
    );
    let https_setups = vec![
        (
            Setup {
                name: format!("s3rver: guide rule, https page, bucket http://{BUCKET_HOST}"),
                env: by_name.clone(),
                https: true,
                azure: false,
            },
            by_ip.clone(),
        ),
        (
            Setup {
                name: "s3rver: guide rule, https page, bucket http://127.0.0.1 (exempt)".into(),
                env: by_ip.clone(),
                https: true,
                azure: false,
            },
            by_ip,
        ),
    ];
    rows.extend(judge(&chromium, &pages, &https_setups, &suite, "s3-https", &[]).0);
    // lsprobe says why, and the fix (without a request: the name does not resolve for it).
    let run = check(
        &by_name,
        &[
            "--suite",
            suite.to_str().unwrap(),
            "--origin",
            &pages.origin(true),
        ],
    );
    for id in [
        "cors.actual_get",
        "cors.preflight.PUT",
        "cors.preflight.POST",
    ] {
        let c = run.check(id);
        assert!(
            c["message"].as_str().unwrap().contains("mixed content"),
            "{c}"
        );
        assert!(
            c["remediation"]
                .as_str()
                .unwrap()
                .contains("Serve the bucket over https"),
            "{c}"
        );
    }

    // Azurite: its CORS rules are account-wide, so one page per rule.
    let azure_env = env_file(&emu, Kind::Azure, dir.path());
    let azure_base = emu.endpoint(Kind::Azure).unwrap();
    let upload_headers = "x-ms-blob-content-type,x-ms-blob-type,content-type";
    let azure_setups = [
        (
            "guide rule with the upload headers",
            azure_rule("*", "GET,PUT,POST,DELETE,HEAD", upload_headers),
        ),
        (
            "the guide's AllowedHeaders (no x-ms-blob-type)",
            azure_rule("*", "GET,PUT,POST,DELETE,HEAD", "x-ms-blob-content-type"),
        ),
        (
            "x-ms-blob-type but no content-type",
            azure_rule("*", "GET,PUT,POST,DELETE,HEAD", "x-ms-blob-type"),
        ),
        ("GET/HEAD only", azure_rule("*", "GET,HEAD", "*")),
        (
            "another origin",
            azure_rule("https://other.example.com", "GET,PUT,POST,DELETE,HEAD", "*"),
        ),
        ("no CORS rules", String::new()),
    ];
    for (i, (name, rules)) in azure_setups.iter().enumerate() {
        let base = azure_base.clone();
        let rules = rules.clone();
        block_on(lsprobe::emulators::set_azurite_cors(&base, &rules)).unwrap();
        let setup = Setup {
            name: format!("Azurite: {name} (http page)"),
            env: azure_env.clone(),
            https: false,
            azure: true,
        };
        rows.extend(
            judge(
                &chromium,
                &pages,
                &[(setup, azure_env.clone())],
                &suite,
                &format!("azure-{i}"),
                &[],
            )
            .0,
        );
    }

    print_table(&rows);
    let disagree: Vec<&Row> = rows.iter().filter(|r| !r.agrees()).collect();
    assert!(
        disagree.is_empty(),
        "the browser and lsprobe disagree on {} of {} setups (table above)",
        disagree.len(),
        rows.len()
    );
    // The matrix shows both outcomes of each verdict, so the agreement cannot be vacuous.
    for (what, values) in [
        (
            "media",
            rows.iter()
                .map(|r| r.browser_media.as_str())
                .collect::<Vec<_>>(),
        ),
        (
            "upload",
            rows.iter().map(|r| r.browser_upload.as_str()).collect(),
        ),
        (
            "post",
            rows.iter().map(|r| r.browser_post.as_str()).collect(),
        ),
        (
            "head",
            rows.iter().map(|r| r.browser_head.as_str()).collect(),
        ),
    ] {
        assert!(values.contains(&"blocked"), "{what}: {values:?}");
        assert!(
            values.contains(&"loads") || values.contains(&"allowed"),
            "{what}: {values:?}"
        );
    }
    assert!(rows.iter().any(|r| r.browser_upload == "File PUT blocked"));
}
