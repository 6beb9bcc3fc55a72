//! `cors.preflight.*` against emulators that enforce bucket CORS: s3rver (per-bucket rules,
//! created here through PutBucketCors) and an Azurite of this test binary's own (its CORS rules
//! are account-wide). Each wrong rule fails the preflights it should, naming what is missing.
mod support;

use std::path::{Path, PathBuf};

use lsprobe::emulators::{Emulators, Kind, S3User};
use serde_json::json;
use support::check::{CheckRun, check};

const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];
const ORIGIN: &str = "http://localhost:8080";

fn preflight_ids() -> Vec<String> {
    METHODS
        .iter()
        .map(|m| format!("cors.preflight.{m}"))
        .collect()
}

/// Creates an s3rver bucket with `cors` (a `<CORSRule>` list) or no CORS configuration.
fn s3rver_bucket(env: &Path, bucket: &str, cors_rules: Option<&str>) {
    let text = std::fs::read_to_string(env).unwrap();
    let endpoint = text
        .lines()
        .find_map(|l| l.strip_prefix("STORAGE_AWS_ENDPOINT_URL="))
        .unwrap()
        .to_string();
    let client = blocking::client();
    client.put(format!("{endpoint}/{bucket}"), None);
    if let Some(rules) = cors_rules {
        let xml = format!(
            "<CORSConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{rules}</CORSConfiguration>"
        );
        client.put(format!("{endpoint}/{bucket}?cors"), Some(xml));
    }
}

/// A tiny blocking helper over reqwest's async client (the tests are plain `#[test]`s).
mod blocking {
    pub struct Blocking(reqwest::Client, tokio::runtime::Runtime);

    pub fn client() -> Blocking {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Blocking(
            reqwest::Client::builder().no_proxy().build().unwrap(),
            runtime,
        )
    }

    impl Blocking {
        pub fn put(&self, url: String, body: Option<String>) {
            let status = self.1.block_on(async {
                self.0
                    .put(&url)
                    .body(body.unwrap_or_default())
                    .send()
                    .await
                    .unwrap()
                    .status()
            });
            assert!(status.is_success(), "PUT {url}: {status}");
        }
    }
}

fn rule(origin: &str, methods: &[&str]) -> String {
    let methods: String = methods
        .iter()
        .map(|m| format!("<AllowedMethod>{m}</AllowedMethod>"))
        .collect();
    format!(
        "<CORSRule><AllowedOrigin>{origin}</AllowedOrigin>{methods}<AllowedHeader>*</AllowedHeader>\
         <MaxAgeSeconds>3600</MaxAgeSeconds></CORSRule>"
    )
}

fn assert_not_failed(run: &CheckRun, ids: &[String], label: &str) {
    for id in ids {
        let c = run.check(id);
        assert!(
            c["status"] == "pass" || c["status"] == "warn",
            "{label} {id}: {c}"
        );
        if c["status"] == "warn" {
            // s3rver never sends Access-Control-Max-Age on a preflight: the only warning allowed.
            assert!(
                c["message"]
                    .as_str()
                    .unwrap()
                    .contains("Access-Control-Max-Age"),
                "{label} {id}: {c}"
            );
        }
        for (_, seen) in c["evidence"]["origins"].as_object().unwrap() {
            assert_eq!(seen["status"], 200, "{c}");
        }
    }
}

#[test]
fn s3rver_guide_rule_passes_every_preflight() {
    let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let run = check(&env, &["--suite", "full"]);
    assert_eq!(run.code, 0, "{}\n{}", run.report, run.stderr);
    assert_not_failed(&run, &preflight_ids(), "guide rule");
    let put = run.check("cors.preflight.PUT");
    // A PUT is checked as an ArrayBuffer upload (no header) and as a File upload (Content-Type).
    assert_eq!(
        put["evidence"]["shapes"][0]["request_headers"],
        json!([]),
        "{put}"
    );
    assert_eq!(
        put["evidence"]["shapes"][1]["request_headers"],
        json!(["content-type"]),
        "{put}"
    );
    for id in ["cors.actual_get", "cors.expose_headers"] {
        assert_eq!(run.check(id)["status"], "pass", "{}", run.check(id));
    }
}

#[test]
fn s3rver_get_only_rule_fails_the_other_methods_naming_them() {
    let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let bucket = "lsprobe-cors-get-only";
    s3rver_bucket(&env, bucket, Some(&rule("*", &["GET"])));
    let run = check(&env, &["--suite", "full", "--bucket", bucket]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_not_failed(&run, &["cors.preflight.GET".into()], "get-only");
    for method in ["PUT", "POST", "DELETE", "HEAD"] {
        let c = run.check(&format!("cors.preflight.{method}"));
        assert_eq!(c["status"], "fail", "{c}");
        let message = c["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("no CORS rule allows the method(s) {method}")),
            "{message}"
        );
        assert!(message.contains("USE_NGINX_FOR_UPLOADS"), "{message}");
        let fix = c["remediation"].as_str().unwrap();
        assert!(
            fix.contains(&format!(
                r#""AllowedMethods": ["GET", "PUT", "POST", "DELETE", "HEAD"],    <-- add {method}"#
            )),
            "{fix}"
        );
    }
    // The media GET itself is allowed by the rule.
    assert_eq!(run.check("cors.actual_get")["status"], "pass");
}

#[test]
fn s3rver_without_cors_configuration_fails_every_preflight() {
    let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let bucket = "lsprobe-no-cors";
    s3rver_bucket(&env, bucket, None);
    let run = check(&env, &["--suite", "full", "--bucket", bucket]);
    assert_eq!(run.code, 1);
    for id in preflight_ids() {
        let c = run.check(&id);
        assert_eq!(c["status"], "fail", "{c}");
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .contains("the bucket has no CORS configuration"),
            "{c}"
        );
        let fix = c["remediation"].as_str().unwrap();
        assert!(
            fix.starts_with("There is no CORS configuration: add one."),
            "{fix}"
        );
        assert!(
            fix.contains("aws s3api put-bucket-cors --bucket lsprobe-no-cors"),
            "{fix}"
        );
        assert_eq!(c["evidence"]["origins"][ORIGIN]["status"], 403, "{c}");
    }
    // Without CORS the presigned URLs still work: nginx does not need it.
    assert_eq!(run.check("presign.get")["status"], "pass");

    // The text report, rendered from this JSON report, says each thing once.
    let report: lsprobe::report::RunReport = serde_json::from_value(run.report.clone()).unwrap();
    let text = String::from_utf8(lsprobe::report::Exporter::render(
        &lsprobe::report::text::TextExporter::default(),
        &report,
    ))
    .unwrap();
    assert_eq!(
        text.matches("There is no CORS configuration: add one.")
            .count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("Bucket CORS matters only where").count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("fixes cors.preflight.GET, PUT, POST, DELETE, HEAD"),
        "{text}"
    );
}

#[test]
fn s3rver_rule_for_another_origin_fails_naming_the_origin() {
    let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let bucket = "lsprobe-cors-other-origin";
    s3rver_bucket(
        &env,
        bucket,
        Some(&rule("https://other.example.com", &METHODS)),
    );
    let run = check(&env, &["--suite", "full", "--bucket", bucket]);
    assert_eq!(run.code, 1);
    for id in preflight_ids() {
        let c = run.check(&id);
        assert_eq!(c["status"], "fail", "{c}");
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .contains(&format!("no CORS rule allows the origin {ORIGIN}")),
            "{c}"
        );
        assert!(
            c["remediation"].as_str().unwrap().contains(&format!(
                r#""AllowedOrigins": ["*"],    <-- add {ORIGIN} (or "*")"#
            )),
            "{c}"
        );
    }
    // A second origin that the rule allows passes while the first still fails.
    let run = check(
        &env,
        &[
            "--suite",
            "full",
            "--bucket",
            bucket,
            "--origin",
            "https://other.example.com",
        ],
    );
    assert_not_failed(&run, &preflight_ids(), "other origin itself");
}

/// An Azurite of this test only: its CORS rules are account-wide.
fn own_azurite() -> Option<(Emulators, PathBuf)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu =
        match support::emulators::start_tied(&[Kind::Azure], support::test_state_dir("cors-azure"))
        {
            Ok(e) => e,
            Err(reason) => {
                support::skip_or_fail(&reason);
                return None;
            }
        };
    let pairs = emu.env_list(Kind::Azure, S3User::Full).unwrap();
    let path = emu.layout().state_dir.join("azure-cors.list");
    std::fs::write(
        &path,
        lsprobe::emulators::render_env_list(Kind::Azure, &pairs),
    )
    .unwrap();
    Some((emu, path))
}

fn set_cors(emu: &Emulators, rules: &str) {
    let base = emu.endpoint(Kind::Azure).unwrap();
    let rules = rules.to_string();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(lsprobe::emulators::set_azurite_cors(&base, &rules))
    })
    .join()
    .unwrap()
    .unwrap();
}

fn azure_rule(headers: &str) -> String {
    format!(
        "<CorsRule><AllowedOrigins>*</AllowedOrigins><AllowedMethods>GET,PUT,POST,DELETE,HEAD</AllowedMethods>\
         <AllowedHeaders>{headers}</AllowedHeaders><ExposedHeaders>x-ms-*</ExposedHeaders>\
         <MaxAgeInSeconds>3600</MaxAgeInSeconds></CorsRule>"
    )
}

#[test]
fn azurite_guide_rule_missing_header_and_no_rules() {
    let Some((emu, env)) = own_azurite() else {
        return;
    };
    // 1. The rule the emulator is prepared with (the guide's, plus the upload headers).
    let run = check(&env, &["--suite", "full"]);
    for id in preflight_ids() {
        let c = run.check(&id);
        assert_eq!(c["status"], "pass", "{c}");
        assert_eq!(
            c["evidence"]["origins"][ORIGIN]["access_control_max_age"],
            "3600"
        );
        // Azurite echoes the origin, as Azure does.
        assert_eq!(
            c["evidence"]["origins"][ORIGIN]["access_control_allow_origin"],
            ORIGIN
        );
    }
    assert_eq!(run.check("cors.expose_headers")["status"], "pass");

    // 2. Allowed headers without x-ms-blob-type: the PUT preflight fails naming it (every
    //    browser PUT to a blob SAS carries it); a form POST asks for no header and passes.
    set_cors(&emu, &azure_rule("x-ms-blob-content-type,content-type"));
    let run = check(&env, &["--suite", "full"]);
    {
        let method = "PUT";
        let c = run.check(&format!("cors.preflight.{method}"));
        assert_eq!(c["status"], "fail", "{c}");
        let message = c["message"].as_str().unwrap();
        assert!(
            message.contains("does not allow the request header(s) x-ms-blob-type"),
            "{message}"
        );
        assert!(!message.contains("content-type,"), "{message}");
        assert!(
            c["remediation"]
                .as_str()
                .unwrap()
                .contains("</AllowedHeaders>    <-- add x-ms-blob-type"),
            "{c}"
        );
    }
    for method in ["GET", "POST", "DELETE", "HEAD"] {
        let c = run.check(&format!("cors.preflight.{method}"));
        assert_eq!(c["status"], "pass", "{c}");
    }

    // 2b. x-ms-blob-type allowed but not Content-Type: an ArrayBuffer PUT passes, a File PUT
    //     (with Content-Type) is refused: a warning naming content-type.
    set_cors(&emu, &azure_rule("x-ms-blob-type"));
    let run = check(&env, &["--suite", "full"]);
    let c = run.check("cors.preflight.PUT");
    assert_eq!(c["status"], "warn", "{c}");
    let message = c["message"].as_str().unwrap();
    assert!(
        message.contains("does not allow the request header(s) content-type"),
        "{message}"
    );
    assert_eq!(c["evidence"]["origins"][ORIGIN]["allowed"], true, "{c}");
    assert_eq!(
        c["evidence"]["origins"][ORIGIN]["optional"]["allowed"], false,
        "{c}"
    );

    // 3. No rules at all: every preflight fails with the "no CORS configuration" fix.
    set_cors(&emu, "");
    let run = check(&env, &["--suite", "full"]);
    for id in preflight_ids() {
        let c = run.check(&id);
        assert_eq!(c["status"], "fail", "{c}");
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .contains("the bucket has no CORS configuration"),
            "{c}"
        );
        assert!(c["remediation"].as_str().unwrap().contains("<CorsRule>"));
    }
    assert_eq!(run.check("cors.actual_get")["status"], "fail");
    // Presigned URLs fetched server-side do not need CORS.
    assert_eq!(run.check("presign.get")["status"], "pass");
}
