//! Which browser request each `cors.preflight.<METHOD>` models, and the request headers that
//! request carries. Read from what browsers send (measured with headless Chromium, see
//! tests/browser_cors.rs) and from Label Studio 1.23.2's frontend: its import page uploads files
//! with a multipart form POST to Label Studio itself (`/api/projects/<id>/import`), never to the
//! bucket, and media is loaded with GET (with `Range` for audio and video).
use crate::config::Provider;

/// One request shape: a name for messages and the non-safelisted headers it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// What the browser does, for messages.
    pub name: String,
    /// `Access-Control-Request-Headers` the browser would send (lower case).
    pub headers: Vec<String>,
}

/// Azure's Put Blob refuses a request without it, so every browser PUT to a blob SAS carries it.
pub const AZURE_BLOB_TYPE: &str = "x-ms-blob-type";

/// What the preflight of `method` stands for, in one sentence.
pub fn describe(method: &str) -> &'static str {
    match method {
        "GET" | "HEAD" => {
            "a GET or HEAD with only CORS-safelisted headers (Range included) sends no preflight; \
             the bucket's rule for the method decides whether the answer carries \
             Access-Control-Allow-Origin, and this OPTIONS asks that rule"
        }
        "POST" => {
            "a multipart form POST (a browser upload with a presigned POST policy) sends no \
             preflight; the bucket's rule for POST decides whether the answer carries \
             Access-Control-Allow-Origin, and this OPTIONS asks that rule"
        }
        "PUT" => {
            "a browser PUT to a presigned URL (fetch or XMLHttpRequest) always sends a \
             preflight; an ArrayBuffer or untyped Blob body carries no Content-Type, a File or \
             typed Blob does (Label Studio 1.23.2's own UI uploads through Label Studio, not to \
             the bucket)"
        }
        _ => "a fetch with this method and no extra headers sends a preflight",
    }
}

/// The shapes checked for `method` on `provider`: the first is the request every browser
/// client of this kind sends (blocked: `fail`); the others add headers some clients send
/// (blocked alone: `warn`). `extra` are the suite's `request_headers`.
pub fn shapes(method: &str, provider: Provider, extra: &[String]) -> Vec<Shape> {
    let mut base: Vec<String> = extra.iter().map(|h| h.to_ascii_lowercase()).collect();
    if method == "PUT" && provider == Provider::Azure && !base.iter().any(|h| h == AZURE_BLOB_TYPE)
    {
        base.insert(0, AZURE_BLOB_TYPE.to_string());
    }
    let mut out = vec![Shape {
        name: match (method, base.is_empty()) {
            ("PUT", true) => "PUT with an ArrayBuffer body (no Content-Type)".to_string(),
            ("PUT", false) => format!("PUT with {} (no Content-Type)", base.join(", ")),
            (m, true) => format!("{m} with no extra headers"),
            (m, false) => format!("{m} with {}", base.join(", ")),
        },
        headers: base.clone(),
    }];
    if method == "PUT" && !base.iter().any(|h| h == "content-type") {
        let mut typed = base;
        typed.push("content-type".into());
        out.push(Shape {
            name: format!("PUT of a File or typed Blob (with {})", typed.join(", ")),
            headers: typed,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_has_a_bare_and_a_typed_shape_and_azure_always_sends_the_blob_type() {
        let s3 = shapes("PUT", Provider::S3, &[]);
        assert_eq!(s3.len(), 2);
        assert!(s3[0].headers.is_empty());
        assert_eq!(s3[1].headers, ["content-type"]);
        let azure = shapes("PUT", Provider::Azure, &[]);
        assert_eq!(azure[0].headers, [AZURE_BLOB_TYPE]);
        assert_eq!(azure[1].headers, [AZURE_BLOB_TYPE, "content-type"]);
        let post = shapes("POST", Provider::S3, &[]);
        assert_eq!(post.len(), 1);
        assert!(post[0].headers.is_empty());
        // A suite that asks for Content-Type makes it part of the required shape.
        let asked = shapes("PUT", Provider::Gcs, &["Content-Type".into()]);
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].headers, ["content-type"]);
    }
}
