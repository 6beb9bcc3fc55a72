//! `cors.actual_get` and `cors.expose_headers`: the GET the labeling UI sends for media loaded
//! straight from the bucket, through a presigned URL, without credentials, with `Origin`, and
//! with a `Range` as audio and video players send.
use bytes::Bytes;
use http::Method;
use serde_json::json;

use super::context::{Context, State};
use super::cors_rule::WHEN_IT_MATTERS;
use super::presign::{RANGE, fetch, media, presign_for};
use super::{CheckResult, Status};
use crate::config::Provider;
use crate::provider::presign::redact;

/// Response headers the guide exposes, per cloud (`x-ms-` stands for Azure's `x-ms-*`).
fn guide_expose(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::S3 => &[
            "x-amz-server-side-encryption",
            "x-amz-request-id",
            "x-amz-id-2",
        ],
        Provider::Gcs => &["content-type"],
        Provider::Azure => &["x-ms-"],
    }
}

/// Response headers a browser shows scripts without being exposed (CORS-safelisted).
const SAFELISTED: &[&str] = &[
    "cache-control",
    "content-language",
    "content-length",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
];

/// Mixed-content blocks of the media URL, one per `https` origin, and the fix.
pub fn mixed_content(ctx: &Context) -> Option<(Vec<String>, String)> {
    let url = ctx
        .store
        .storage()
        .object_url(&ctx.store.run.key(super::presign::MEDIA_NAME));
    let blocked: Vec<String> = ctx
        .target
        .origins
        .iter()
        .filter_map(|o| super::mixed_content::blocked(&o.value, &url))
        .collect();
    if blocked.is_empty() {
        return None;
    }
    let setting = ctx.target.endpoint.as_ref().map(|e| e.source.to_string());
    Some((
        blocked,
        super::mixed_content::remediation(setting.as_deref()),
    ))
}

/// `cors.actual_get`.
pub async fn actual_get(ctx: &Context, state: &mut State) -> CheckResult {
    let id = "cors.actual_get";
    if let Some((blocked, fix)) = mixed_content(ctx) {
        return CheckResult::new(id, Status::Fail, blocked.join("; "))
            .with_remediation(fix)
            .with_evidence("outcome", "mixed_content");
    }
    let written = match media(ctx, state, id).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let p = match presign_for(ctx, id, Method::GET, &written.key, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let http = ctx.store.storage().http();
    let mut failures = Vec::new();
    let mut exposed = Vec::new();
    let mut per_origin = serde_json::Map::new();
    for origin in ctx.target.origins.iter().map(|o| o.value.clone()) {
        let answer = match fetch(
            http,
            &p,
            Method::GET,
            Bytes::new(),
            Some(&origin),
            Some(RANGE),
        )
        .await
        {
            Ok(a) => a,
            Err(e) => return CheckResult::new(id, Status::Error, e.to_string()),
        };
        let get = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let allow = get("access-control-allow-origin");
        let expose = get("access-control-expose-headers");
        per_origin.insert(
            origin.clone(),
            json!({
                "status": answer.status.as_u16(),
                "access_control_allow_origin": allow,
                "access_control_expose_headers": expose,
            }),
        );
        exposed.push((origin.clone(), expose));
        if answer.status.is_server_error() {
            return super::presign::server_failed(
                id,
                &format!("the presigned GET with Origin {origin}"),
                &answer,
            );
        }
        if !answer.status.is_success() {
            failures.push(format!(
                "from {origin}: the GET answered {} (see presign.get)",
                answer.status
            ));
        } else if answer.status.as_u16() != 206 {
            failures.push(format!(
                "from {origin}: a Range request answered {} instead of 206 Partial Content",
                answer.status
            ));
        } else {
            match allow.as_deref() {
                Some("*") => {}
                Some(a) if a.eq_ignore_ascii_case(&origin) => {}
                Some(a) => failures.push(format!(
                    "from {origin}: Access-Control-Allow-Origin is `{a}`, which does not match"
                )),
                None => failures.push(format!(
                    "from {origin}: the answer has no Access-Control-Allow-Origin, so the browser \
                     hides it from the page (status 0 in the UI)"
                )),
            }
        }
    }
    state.exposed = Some(exposed);
    let result = |status, message: String| {
        CheckResult::new(id, status, message)
            .with_evidence("url", redact(&p.url))
            .with_evidence("range", format!("bytes={}-{}", RANGE.0, RANGE.1))
            .with_evidence("origins", serde_json::Value::Object(per_origin.clone()))
    };
    if failures.is_empty() {
        return result(
            Status::Pass,
            "a presigned GET with Origin and Range answers 206 with a matching \
             Access-Control-Allow-Origin"
                .into(),
        );
    }
    result(
        Status::Fail,
        format!("{}. {WHEN_IT_MATTERS}", failures.join("; ")),
    )
    .with_remediation(super::cors_rule::remediation(
        ctx.target.provider(),
        &ctx.target.bucket.value,
        &ctx.target
            .origins
            .iter()
            .map(|o| super::cors_rule::Missing::Origin(o.value.clone()))
            .collect::<Vec<_>>(),
    ))
}

/// `cors.expose_headers`.
pub async fn expose_headers(ctx: &Context, state: &mut State) -> CheckResult {
    let id = "cors.expose_headers";
    if state.exposed.is_none() {
        let r = actual_get(ctx, state).await;
        if state.exposed.is_none() {
            return CheckResult::new(
                id,
                Status::Skip,
                format!(
                    "not tested: the actual GET could not be made ({})",
                    r.message
                ),
            );
        }
    }
    let provider = ctx.target.provider();
    let wanted = guide_expose(provider);
    let mut notes = Vec::new();
    let mut per_origin = serde_json::Map::new();
    for (origin, expose) in state.exposed.clone().unwrap_or_default() {
        let list: Vec<String> = expose
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let visible = |w: &str| {
            SAFELISTED.contains(&w)
                || list
                    .iter()
                    .any(|h| h == "*" || h == w || (w.ends_with('-') && h.starts_with(w)))
        };
        let missing: Vec<&str> = wanted.iter().copied().filter(|w| !visible(w)).collect();
        per_origin.insert(origin.clone(), json!({"exposed": list, "missing": missing}));
        if !missing.is_empty() {
            let names: Vec<String> = missing
                .iter()
                .map(|m| {
                    if m.ends_with('-') {
                        format!("{m}*")
                    } else {
                        m.to_string()
                    }
                })
                .collect();
            notes.push(format!("from {origin}: not exposed: {}", names.join(", ")));
        }
    }
    let result = |status, message: String| {
        CheckResult::new(id, status, message)
            .with_evidence("guide_expose", json!(wanted))
            .with_evidence("origins", serde_json::Value::Object(per_origin.clone()))
    };
    if notes.is_empty() {
        return result(
            Status::Pass,
            "the guide's exposed response headers are visible to the page".into(),
        );
    }
    let rule = match provider {
        Provider::S3 => {
            "\"ExposeHeaders\": [\"x-amz-server-side-encryption\", \"x-amz-request-id\", \"x-amz-id-2\"]"
        }
        Provider::Gcs => "\"responseHeader\": [\"Content-Type\", \"Access-Control-Allow-Origin\"]",
        Provider::Azure => "<ExposedHeaders>x-ms-*</ExposedHeaders>",
    };
    result(
        Status::Warn,
        format!(
            "{}; the page cannot read them (request ids for support, the encryption header). {WHEN_IT_MATTERS}",
            notes.join("; ")
        ),
    )
    .with_remediation(format!(
        "Add the guide's exposed headers to the bucket's CORS rule: {rule}."
    ))
}
