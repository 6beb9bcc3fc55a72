//! The guide's CORS rule for each cloud (seeds/persistent-storage.md), rendered with the piece a
//! preflight found missing marked, so the remediation shows exactly which line to change.
use crate::config::Provider;

/// Methods the guide allows, in its order.
pub const GUIDE_METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];
/// The guide's `MaxAgeSeconds`.
pub const GUIDE_MAX_AGE: u64 = 3600;

/// What a preflight found missing from the bucket's CORS rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// The bucket has no CORS configuration at all.
    NoConfiguration,
    /// No rule allows this origin.
    Origin(String),
    /// No rule for the origin allows these methods.
    Methods(Vec<String>),
    /// The rule for the origin and method does not allow these request headers.
    Headers(Vec<String>),
}

impl Missing {
    /// One phrase for messages.
    pub fn describe(&self) -> String {
        match self {
            Missing::NoConfiguration => "the bucket has no CORS configuration".into(),
            Missing::Origin(o) => format!("no CORS rule allows the origin {o}"),
            Missing::Methods(m) => format!("no CORS rule allows the method(s) {}", m.join(", ")),
            Missing::Headers(h) => {
                format!(
                    "the CORS rule does not allow the request header(s) {}",
                    h.join(", ")
                )
            }
        }
    }
}

/// When CORS matters, for every CORS message.
pub const WHEN_IT_MATTERS: &str = "Bucket CORS matters only where the browser talks to the bucket \
    itself: direct upload, and media (audio, video, CSV) the labeling UI loads straight from the \
    bucket. With Label Studio's default (USE_NGINX_FOR_UPLOADS=true) nginx fetches presigned \
    media server-side and the bucket's CORS rules are not used.";

fn mark(line: &str, note: Option<String>) -> String {
    match note {
        Some(n) => format!("{line}    <-- {n}"),
        None => line.to_string(),
    }
}

/// The fix for `missing` on `provider`: the guide's rule with the missing piece marked, and how
/// to apply it.
pub fn remediation(provider: Provider, bucket: &str, missing: &[Missing]) -> String {
    let methods_note = missing.iter().find_map(|m| match m {
        Missing::Methods(ms) => Some(format!("add {}", ms.join(", "))),
        _ => None,
    });
    let origin_note = missing.iter().find_map(|m| match m {
        Missing::Origin(o) => Some(format!("add {o} (or \"*\")")),
        _ => None,
    });
    let headers: Vec<String> = missing
        .iter()
        .flat_map(|m| match m {
            Missing::Headers(h) => h.clone(),
            _ => vec![],
        })
        .collect();
    let headers_note = (!headers.is_empty()).then(|| format!("add {}", headers.join(", ")));
    let no_config = missing.contains(&Missing::NoConfiguration);
    let whole = no_config.then(|| "missing: the whole rule".to_string());
    let (intro, rule, apply) = match provider {
        Provider::S3 => (
            "The guide's S3 CORS rule",
            [
                "[".to_string(),
                "  {".into(),
                mark(r#"    "AllowedHeaders": ["*"],"#, headers_note),
                mark(
                    r#"    "AllowedMethods": ["GET", "PUT", "POST", "DELETE", "HEAD"],"#,
                    methods_note,
                ),
                mark(r#"    "AllowedOrigins": ["*"],"#, origin_note),
                r#"    "ExposeHeaders": ["x-amz-server-side-encryption", "x-amz-request-id", "x-amz-id-2"],"#.into(),
                r#"    "MaxAgeSeconds": 3600"#.into(),
                mark("  }", whole),
                "]".into(),
            ]
            .join("\n"),
            format!(
                "Apply it in the S3 console (bucket > Permissions > Cross-origin resource sharing), \
                 or with `aws s3api put-bucket-cors --bucket {bucket} --cors-configuration \
                 file://cors.json` where cors.json is {{\"CORSRules\": <the list above>}}."
            ),
        ),
        Provider::Gcs => (
            "The guide's GCS CORS configuration (GCS answers preflights with the responseHeader \
             list as allowed request headers)",
            [
                "[".to_string(),
                "  {".into(),
                mark(r#"    "origin": ["*"],"#, origin_note),
                mark(
                    r#"    "method": ["GET", "PUT", "POST", "DELETE", "HEAD"],"#,
                    methods_note,
                ),
                mark(
                    r#"    "responseHeader": ["Content-Type", "Access-Control-Allow-Origin"],"#,
                    headers_note,
                ),
                r#"    "maxAgeSeconds": 3600"#.into(),
                mark("  }", whole),
                "]".into(),
            ]
            .join("\n"),
            format!("Apply it with `gsutil cors set cors-config.json gs://{bucket}`."),
        ),
        Provider::Azure => (
            "The guide's Azure CORS rule (Blob service; its AllowedHeaders list lacks \
             x-ms-blob-type and content-type, which a browser upload sends)",
            [
                "<Cors>".to_string(),
                mark("  <CorsRule>", whole),
                mark("    <AllowedOrigins>*</AllowedOrigins>", origin_note),
                mark(
                    "    <AllowedMethods>GET,PUT,POST,DELETE,HEAD</AllowedMethods>",
                    methods_note,
                ),
                mark(
                    "    <AllowedHeaders>x-ms-blob-content-type,x-ms-blob-type,content-type</AllowedHeaders>",
                    headers_note,
                ),
                "    <ExposedHeaders>x-ms-*</ExposedHeaders>".into(),
                "    <MaxAgeInSeconds>3600</MaxAgeInSeconds>".into(),
                "  </CorsRule>".into(),
                "</Cors>".into(),
            ]
            .join("\n"),
            "Apply it in Storage account > Resource sharing (CORS) > Blob service, or with `az \
             storage cors add --services b --methods GET PUT POST DELETE HEAD --origins '*' \
             --allowed-headers x-ms-blob-content-type x-ms-blob-type content-type \
             --exposed-headers 'x-ms-*' --max-age 3600 --account-name <account>`."
                .to_string(),
        ),
    };
    let what = if no_config {
        "There is no CORS configuration: add one.".to_string()
    } else {
        format!(
            "Change the marked line: {}.",
            missing
                .iter()
                .map(Missing::describe)
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    format!("{what} {intro}:\n{rule}\n{apply} {WHEN_IT_MATTERS}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_the_missing_piece() {
        let r = remediation(
            Provider::S3,
            "b",
            &[Missing::Methods(vec!["PUT".into(), "DELETE".into()])],
        );
        assert!(
            r.contains(r#""AllowedMethods": ["GET", "PUT", "POST", "DELETE", "HEAD"],    <-- add PUT, DELETE"#),
            "{r}"
        );
        let r = remediation(
            Provider::Azure,
            "c",
            &[Missing::Headers(vec!["x-ms-blob-type".into()])],
        );
        assert!(
            r.contains("</AllowedHeaders>    <-- add x-ms-blob-type"),
            "{r}"
        );
        let r = remediation(Provider::Gcs, "b", &[Missing::NoConfiguration]);
        assert!(
            r.contains("no CORS configuration") && r.contains("gsutil cors set"),
            "{r}"
        );
        assert!(r.contains("USE_NGINX_FOR_UPLOADS"));
    }
}
