//! `cors.preflight.<METHOD>`: the `OPTIONS` a browser sends before a cross-origin request to the
//! bucket, from each Label Studio origin, with the request headers that cloud's uploads carry.
//! When it fails, further preflights find which piece is missing (origin, method or header) and
//! the remediation marks it in the guide's rule.
use std::collections::BTreeMap;

use serde_json::json;

use super::context::{Context, State};
use super::cors_rule::{GUIDE_MAX_AGE, GUIDE_METHODS, Missing, WHEN_IT_MATTERS, remediation};
use super::cors_shape::{describe, shapes};
use super::presign::MEDIA_NAME;
use super::suite::CheckParams;
use super::{CheckResult, Status};
use crate::config::{AzureCredentials, ProviderSettings};
use crate::provider::{Cloud, build, outcome::error_code};

/// Preflight answers by (origin, method, requested headers joined by `,`).
pub type Preflights = BTreeMap<(String, String, String), Preflight>;

/// What one preflight answered.
#[derive(Clone, Debug, Default)]
pub struct Preflight {
    /// HTTP status (0: no answer).
    pub status: u16,
    /// `Access-Control-Allow-Origin`.
    pub allow_origin: Option<String>,
    /// `Access-Control-Allow-Methods`.
    pub allow_methods: Option<String>,
    /// `Access-Control-Allow-Headers`.
    pub allow_headers: Option<String>,
    /// `Access-Control-Max-Age`.
    pub max_age: Option<String>,
    /// The cloud's error code and message, if any.
    pub error: Option<(Option<String>, String)>,
    /// Why there was no answer.
    pub unreachable: Option<String>,
}

fn list_has(list: &Option<String>, item: &str) -> bool {
    list.as_deref().is_some_and(|l| {
        l.split(',')
            .map(str::trim)
            .any(|x| x == "*" || x.eq_ignore_ascii_case(item))
    })
}

impl Preflight {
    fn origin_ok(&self, origin: &str) -> bool {
        (200..300).contains(&self.status)
            && self
                .allow_origin
                .as_deref()
                .is_some_and(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    }

    fn method_ok(&self, method: &str) -> bool {
        match &self.allow_methods {
            Some(_) => list_has(&self.allow_methods, method),
            // Without Allow-Methods a browser still allows the CORS-safelisted methods.
            None => matches!(method, "GET" | "HEAD" | "POST"),
        }
    }

    fn headers_missing(&self, headers: &[String]) -> Vec<String> {
        headers
            .iter()
            .filter(|h| !list_has(&self.allow_headers, h))
            .cloned()
            .collect()
    }

    fn evidence(&self) -> serde_json::Value {
        json!({
            "status": self.status,
            "access_control_allow_origin": self.allow_origin,
            "access_control_allow_methods": self.allow_methods,
            "access_control_allow_headers": self.allow_headers,
            "access_control_max_age": self.max_age,
            "error": self.error.as_ref().map(|(c, m)| json!({"code": c, "message": m})),
            "unreachable": self.unreachable,
        })
    }
}

/// Sends (or recalls) one preflight to the run's media URL.
async fn preflight(
    ctx: &Context,
    state: &mut State,
    origin: &str,
    method: &str,
    headers: &[String],
) -> Preflight {
    let cache_key = (origin.to_string(), method.to_string(), headers.join(","));
    if let Some(p) = state.preflights.get(&cache_key) {
        return p.clone();
    }
    let url = ctx
        .store
        .storage()
        .object_url(&ctx.store.run.key(MEDIA_NAME));
    let mut request = ctx
        .store
        .storage()
        .http()
        .request(http::Method::OPTIONS, &url)
        .header("origin", origin)
        .header("access-control-request-method", method);
    if !headers.is_empty() {
        request = request.header("access-control-request-headers", headers.join(","));
    }
    let p = match request.send().await {
        Err(e) => Preflight {
            unreachable: Some(crate::provider::describe_reqwest_error(&e)),
            ..Preflight::default()
        },
        Ok(response) => {
            let status = response.status();
            let h = response.headers().clone();
            let get = |name: &str| {
                h.get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let body = response.bytes().await.unwrap_or_default();
            let mut p = Preflight {
                status: status.as_u16(),
                allow_origin: get("access-control-allow-origin"),
                allow_methods: get("access-control-allow-methods"),
                allow_headers: get("access-control-allow-headers"),
                max_age: get("access-control-max-age"),
                ..Preflight::default()
            };
            if !status.is_success() {
                let answer = crate::provider::Answer {
                    status,
                    headers: h,
                    body: body.clone(),
                };
                let code = error_code(ctx.target.provider(), &answer);
                p.error = Some((code, super::presign::error_message(&body)));
            }
            p
        }
    };
    state.preflights.insert(cache_key, p.clone());
    p
}

/// Whether the preflight lets `method` with `headers` through from `origin`.
fn allows(p: &Preflight, origin: &str, method: &str, headers: &[String]) -> bool {
    p.origin_ok(origin) && p.method_ok(method) && p.headers_missing(headers).is_empty()
}

/// Finds what is missing for a preflight that did not pass.
async fn diagnose(
    ctx: &Context,
    state: &mut State,
    first: &Preflight,
    origin: &str,
    method: &str,
    headers: &[String],
) -> Vec<Missing> {
    if first.origin_ok(origin) {
        // The answer itself says what is allowed.
        let mut missing = Vec::new();
        if !first.method_ok(method) {
            missing.push(Missing::Methods(vec![method.to_string()]));
        }
        let h = first.headers_missing(headers);
        if !h.is_empty() {
            missing.push(Missing::Headers(h));
        }
        return missing;
    }
    if no_configuration(ctx, first).await {
        return vec![Missing::NoConfiguration];
    }
    let bare = preflight(ctx, state, origin, method, &[]).await;
    if allows(&bare, origin, method, &[]) {
        let mut lacking = Vec::new();
        for h in headers {
            let one = preflight(ctx, state, origin, method, std::slice::from_ref(h)).await;
            if !allows(&one, origin, method, std::slice::from_ref(h)) {
                lacking.push(h.clone());
            }
        }
        if lacking.is_empty() {
            lacking = headers.to_vec();
        }
        return vec![Missing::Headers(lacking)];
    }
    for other in GUIDE_METHODS {
        let p = preflight(ctx, state, origin, other, &[]).await;
        if allows(&p, origin, other, &[]) {
            return vec![Missing::Methods(vec![method.to_string()])];
        }
    }
    vec![Missing::Origin(origin.to_string())]
}

/// Whether the cloud says there is no CORS configuration at all: S3's `CORS is not enabled for
/// this bucket`, or (Azure with the account key) Blob service properties without a rule.
async fn no_configuration(ctx: &Context, first: &Preflight) -> bool {
    if let Some((_, message)) = &first.error
        && message.contains("CORS is not enabled")
    {
        return true;
    }
    let (Cloud::Azure(azure), ProviderSettings::Azure(settings)) =
        (ctx.store.storage().cloud(), &ctx.target.settings)
    else {
        return false;
    };
    if !matches!(settings.credentials, AzureCredentials::AccountKey(_)) {
        return false;
    }
    let url = format!("{}/?restype=service&comp=properties", azure.account_url());
    let mut request = build(http::Method::GET, &url, &[], bytes::Bytes::new());
    if azure.sign(&mut request).is_err() {
        return false;
    }
    match ctx.store.storage().execute(request).await {
        Ok(a) if a.status.is_success() => !String::from_utf8_lossy(&a.body).contains("<CorsRule>"),
        _ => false,
    }
}

/// What one shape's preflight found from one origin.
enum Outcome {
    Allowed(Preflight),
    Blocked(Preflight, Vec<Missing>),
}

/// `cors.preflight.<METHOD>`.
pub async fn preflight_check(
    ctx: &Context,
    state: &mut State,
    method: &str,
    params: &CheckParams,
) -> CheckResult {
    let id = format!("cors.preflight.{method}");
    let provider = ctx.target.provider();
    let shapes = shapes(
        method,
        provider,
        params.request_headers.for_provider(provider),
    );
    let headers = shapes[0].headers.clone();
    let url = ctx
        .store
        .storage()
        .object_url(&ctx.store.run.key(MEDIA_NAME));
    let mut failures = Vec::new();
    let mut optional_failures = Vec::new();
    let mut missing_all: Vec<Missing> = Vec::new();
    let mut max_age_notes = Vec::new();
    let mut mixed_fix = None;
    let mut per_origin = serde_json::Map::new();
    for origin in ctx.target.origins.iter().map(|o| o.value.clone()) {
        if let Some(why) = super::mixed_content::blocked(&origin, &url) {
            failures.push(why);
            let setting = ctx.target.endpoint.as_ref().map(|e| e.source.to_string());
            mixed_fix = Some(super::mixed_content::remediation(setting.as_deref()));
            per_origin.insert(origin, json!({"outcome": "mixed_content"}));
            continue;
        }
        // The required shape's answer, with the optional shapes' answers under `optional`.
        let mut seen = json!({});
        for (i, shape) in shapes.iter().enumerate() {
            let outcome = match shape_outcome(ctx, state, &origin, method, &shape.headers).await {
                Ok(o) => o,
                Err(r) => return r.with_evidence("origin", origin),
            };
            let (p, missing) = match outcome {
                Outcome::Allowed(p) => (p, vec![]),
                Outcome::Blocked(p, m) => (p, m),
            };
            let mut evidence = p.evidence();
            evidence["shape"] = json!(shape.name);
            evidence["request_headers"] = json!(shape.headers);
            evidence["allowed"] = json!(missing.is_empty());
            if missing.is_empty() {
                if i == 0 {
                    match p.max_age.as_deref().and_then(|m| m.trim().parse::<u64>().ok()) {
                        Some(age) if age >= GUIDE_MAX_AGE => {}
                        Some(age) => max_age_notes.push(format!(
                            "{origin}: Access-Control-Max-Age is {age} s, below the guide's {GUIDE_MAX_AGE}"
                        )),
                        None => max_age_notes.push(format!(
                            "{origin}: no Access-Control-Max-Age, so browsers repeat the preflight \
                             before nearly every request (the guide sets {GUIDE_MAX_AGE})"
                        )),
                    }
                }
            } else {
                evidence["missing"] =
                    json!(missing.iter().map(Missing::describe).collect::<Vec<_>>());
                let line = format!(
                    "from {origin}: {} (status {})",
                    missing
                        .iter()
                        .map(Missing::describe)
                        .collect::<Vec<_>>()
                        .join("; "),
                    p.status
                );
                if i == 0 {
                    failures.push(line);
                } else {
                    optional_failures.push(format!("{} is blocked {line}", shape.name));
                }
                for m in missing {
                    if !missing_all.contains(&m) {
                        missing_all.push(m);
                    }
                }
            }
            let blocked = evidence["allowed"] == json!(false);
            if i == 0 {
                seen = evidence;
            } else {
                seen["optional"] = evidence;
            }
            if blocked {
                // A shape that adds headers cannot pass where the required one does not.
                break;
            }
        }
        per_origin.insert(origin, seen);
    }
    let request = format!(
        "OPTIONS {} with Access-Control-Request-Method: {method}{}",
        crate::provider::presign::redact(&url),
        if headers.is_empty() {
            String::new()
        } else {
            format!(", Access-Control-Request-Headers: {}", headers.join(","))
        }
    );
    let base = |status, message: String| {
        CheckResult::new(&id, status, message)
            .with_evidence("request", request.as_str())
            .with_evidence("request_headers", json!(headers))
            .with_evidence("models", describe(method))
            .with_evidence(
                "shapes",
                json!(
                    shapes
                        .iter()
                        .map(|s| json!({"name": s.name, "request_headers": s.headers}))
                        .collect::<Vec<_>>()
                ),
            )
            .with_evidence("origins", serde_json::Value::Object(per_origin.clone()))
    };
    if !failures.is_empty() {
        let mut fix = Vec::new();
        if let Some(m) = &mixed_fix {
            fix.push(m.clone());
        }
        if !missing_all.is_empty() {
            fix.push(remediation(
                provider,
                &ctx.target.bucket.value,
                &missing_all,
            ));
        }
        return base(
            Status::Fail,
            format!(
                "a browser may not send {} to the bucket {}. {WHEN_IT_MATTERS}",
                shapes[0].name,
                failures.join("; ")
            ),
        )
        .with_remediation(fix.join(" "));
    }
    if !optional_failures.is_empty() {
        return base(
            Status::Warn,
            format!(
                "{} passes, but {}: an uploader that sends the file as a File or typed Blob is \
                 refused, one that sends an ArrayBuffer works. {WHEN_IT_MATTERS}",
                shapes[0].name,
                optional_failures.join("; ")
            ),
        )
        .with_remediation(remediation(
            provider,
            &ctx.target.bucket.value,
            &missing_all,
        ));
    }
    if !max_age_notes.is_empty() {
        return base(
            Status::Warn,
            format!("the preflight passes, but {}", max_age_notes.join("; ")),
        )
        .with_remediation(format!(
            "Set MaxAgeSeconds (S3), maxAgeSeconds (GCS) or MaxAgeInSeconds (Azure) to \
             {GUIDE_MAX_AGE} in the bucket's CORS rule, as the guide does. {WHEN_IT_MATTERS}"
        ));
    }
    base(
        Status::Pass,
        format!(
            "the preflight passes from {}",
            ctx.target
                .origins
                .iter()
                .map(|o| o.value.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// Sends the preflight of one shape from one origin and, when it does not pass, finds what is
/// missing. A server error or no answer ends the check with `error`.
async fn shape_outcome(
    ctx: &Context,
    state: &mut State,
    origin: &str,
    method: &str,
    headers: &[String],
) -> Result<Outcome, CheckResult> {
    let id = format!("cors.preflight.{method}");
    let p = preflight(ctx, state, origin, method, headers).await;
    if let Some(why) = &p.unreachable {
        return Err(CheckResult::new(
            &id,
            Status::Error,
            format!("OPTIONS from {origin}: {why}"),
        ));
    }
    if p.status >= 500 {
        return Err(server_error(&id, origin, &p));
    }
    if allows(&p, origin, method, headers) {
        return Ok(Outcome::Allowed(p));
    }
    let missing = diagnose(ctx, state, &p, origin, method, headers).await;
    Ok(Outcome::Blocked(p, missing))
}

/// A preflight answered with a 5xx: the server failed; that is no CORS answer.
fn server_error(id: &str, origin: &str, p: &Preflight) -> CheckResult {
    let detail = p
        .error
        .as_ref()
        .map(|(code, message)| {
            format!(
                "{}{}",
                code.as_ref().map(|c| format!(" {c}")).unwrap_or_default(),
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                }
            )
        })
        .unwrap_or_default();
    CheckResult::new(
        id,
        Status::Error,
        format!(
            "the storage server failed answering the preflight from {origin} ({}{detail}): a \
             server error says nothing about the bucket's CORS rules",
            p.status
        ),
    )
    .with_remediation(
        "Look at the storage server's logs and run again once it answers preflights; if it is an \
         emulator, it may not support CORS preflights (moto with IAM enforcement on answers \
         them with 500).",
    )
    .with_evidence("outcome", "server_error")
    .with_evidence("status", p.status)
    .with_evidence("answer", p.evidence())
}
