//! What the end-to-end check sends and how it reads what came back: a small PNG unique to the
//! run, the object key behind a task's media URL, and the likely cause of a failed fetch.
use super::api::{Reply, excerpt};
use crate::checks::context::first_difference;

/// A valid 8x8 RGB PNG whose pixels come from `seed` (so each run uploads different bytes).
/// Deflate "stored" blocks keep the encoder a few lines long.
pub fn png(seed: &str) -> Vec<u8> {
    let pixels = crate::checks::context::content(8 * 8 * 3, seed);
    let mut raw = Vec::with_capacity(8 * (1 + 8 * 3));
    for row in pixels.chunks(8 * 3) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut zlib = vec![0x78, 0x01, 0x01];
    let len = raw.len() as u16;
    zlib.extend_from_slice(&len.to_le_bytes());
    zlib.extend_from_slice(&(!len).to_le_bytes());
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&8u32.to_be_bytes());
    ihdr.extend_from_slice(&8u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(&b"IHDR"[..], &ihdr[..]), (b"IDAT", &zlib), (b"IEND", &[])] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    out
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// Where a task's media lives, from its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaLocation {
    /// `/storage-data/uploaded/?filepath=upload/<project>/<uuid8>-<name>`: persistent storage;
    /// the object is `<folder>/<filepath>`.
    Bucket {
        /// `upload/<project>/<uuid8>-<name>`.
        filepath: String,
    },
    /// `/data/upload/<project>/<name>`: Label Studio's local disk (no persistent storage).
    LocalDisk,
    /// Anything else.
    Other,
}

/// Reads a task's media URL (relative, or absolute when LABEL_STUDIO_HOST is set).
pub fn locate(media_url: &str) -> MediaLocation {
    let parsed = url::Url::parse(media_url)
        .or_else(|_| url::Url::parse("http://label-studio.invalid/")?.join(media_url));
    let Ok(parsed) = parsed else {
        return MediaLocation::Other;
    };
    if parsed.path().ends_with("/storage-data/uploaded/")
        && let Some((_, filepath)) = parsed.query_pairs().find(|(k, _)| k == "filepath")
        && filepath.starts_with("upload/")
        && !filepath.contains("..")
    {
        return MediaLocation::Bucket {
            filepath: filepath.into_owned(),
        };
    }
    if parsed.path().contains("/data/upload/") {
        return MediaLocation::LocalDisk;
    }
    MediaLocation::Other
}

/// The path and query of a media URL, to fetch it from the `--label-studio` address (the
/// browser uses the address it loaded Label Studio from).
pub fn path_and_query(media_url: &str) -> Option<String> {
    let parsed = url::Url::parse(media_url)
        .or_else(|_| url::Url::parse("http://label-studio.invalid/")?.join(media_url))
        .ok()?;
    Some(match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    })
}

/// An `X-Accel-Redirect` value without its presigned query (which grants access to the
/// object): the path, and which signature the URL carried.
pub fn redact_accel(value: &str) -> (String, &'static str) {
    let (path, query) = value.split_once('?').unwrap_or((value, ""));
    let signature = signature_kind(query);
    let shown = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?<presigned query removed>")
    };
    (shown, signature)
}

/// Which signature a presigned query carries.
pub fn signature_kind(query: &str) -> &'static str {
    let has = |k: &str| {
        query.split('&').any(|p| {
            p.split('=')
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case(k))
        })
    };
    if has("X-Amz-Algorithm") {
        "SigV4"
    } else if has("AWSAccessKeyId") && has("Signature") {
        "SigV2"
    } else if has("sig") && has("sp") {
        "Azure SAS"
    } else if has("X-Goog-Algorithm") {
        "GCS V4"
    } else if query.is_empty() {
        "none"
    } else {
        "unknown"
    }
}

/// A storage error quoted in a body: boto3's `An error occurred (Code) when calling the Op
/// operation`, an S3 or GCS XML `<Code>`, Azure's `ErrorCode`. `None` when there is none.
pub fn storage_error(body: &str) -> Option<String> {
    if let Some(start) = body.find("An error occurred (") {
        let rest = &body[start..];
        let end = rest.find(['"', '\n']).unwrap_or(rest.len()).min(300);
        return Some(excerpt(&rest[..end], 300));
    }
    if let Some(start) = body.find("<Code>")
        && let Some(len) = body[start + 6..].find("</Code>")
    {
        let code = &body[start + 6..start + 6 + len];
        let message = body
            .find("<Message>")
            .and_then(|m| {
                body[m + 9..]
                    .find("</Message>")
                    .map(|l| &body[m + 9..m + 9 + l])
            })
            .unwrap_or("");
        return Some(excerpt(&format!("{code}: {message}"), 300));
    }
    for marker in [
        "ErrorCode",
        "AuthorizationFailure",
        "AuthenticationFailed",
        "NoCredentialsError",
        "EndpointConnectionError",
        "google.api_core.exceptions",
        "botocore.exceptions",
    ] {
        if let Some(at) = body.find(marker) {
            return Some(excerpt(&body[at..], 300));
        }
    }
    None
}

/// What a browser-like fetch of the media showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    /// The bytes uploaded came back.
    Intact,
    /// Label Studio answered `X-Accel-Redirect` and nothing followed it: no nginx in front
    /// while `USE_NGINX_FOR_UPLOADS` is on (its default).
    NoNginx {
        /// The redirect, its presigned query removed.
        redirect: String,
        /// The signature of the presigned URL.
        signature: &'static str,
    },
    /// 401: the token (or the session) was refused.
    TokenRejected,
    /// 403 from Label Studio: this user may not read the file.
    Forbidden,
    /// The storage refused or failed, as quoted in the body.
    Storage {
        /// HTTP status.
        status: u16,
        /// The storage error.
        error: String,
    },
    /// 502/504: the proxy in front could not fetch the presigned URL.
    Gateway {
        /// HTTP status.
        status: u16,
    },
    /// 200 with other bytes.
    Different {
        /// Bytes received.
        got: usize,
        /// First differing offset.
        at: usize,
    },
    /// Anything else.
    Unexpected {
        /// HTTP status.
        status: u16,
        /// Start of the body.
        body: String,
    },
}

/// Judges the answer to the media fetch against what was uploaded.
pub fn judge(reply: &Reply, uploaded: &[u8]) -> Served {
    let status = reply.status.as_u16();
    if let Some(accel) = reply.header("x-accel-redirect") {
        let (redirect, signature) = redact_accel(accel);
        if reply.status.is_success() {
            return Served::NoNginx {
                redirect,
                signature,
            };
        }
    }
    let body = String::from_utf8_lossy(&reply.body);
    match status {
        200 | 206 => match first_difference(uploaded, &reply.body) {
            None => Served::Intact,
            Some(at) => match storage_error(&body) {
                Some(error) => Served::Storage { status, error },
                None => Served::Different {
                    got: reply.body.len(),
                    at,
                },
            },
        },
        401 => Served::TokenRejected,
        403 if storage_error(&body).is_none() && reply.json().is_some() => Served::Forbidden,
        _ => match storage_error(&body) {
            Some(error) => Served::Storage { status, error },
            None if status == 502 || status == 504 => Served::Gateway { status },
            None => Served::Unexpected {
                status,
                body: reply.excerpt(200),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, StatusCode};

    fn reply(status: u16, headers: &[(&'static str, &str)], body: &[u8]) -> Reply {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: Bytes::copy_from_slice(body),
        }
    }

    #[test]
    fn the_png_is_valid_and_unique_per_seed() {
        let a = png("run-a");
        assert!(a.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(a.ends_with(&[0xae, 0x42, 0x60, 0x82]), "IEND's CRC");
        assert_ne!(a, png("run-b"));
        assert_eq!(a, png("run-a"));
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }

    #[test]
    fn finds_the_key_behind_a_media_url() {
        let want = MediaLocation::Bucket {
            filepath: "upload/3/d69ca685-probe.png".into(),
        };
        assert_eq!(
            locate("/storage-data/uploaded/?filepath=upload/3/d69ca685-probe.png"),
            want
        );
        assert_eq!(
            locate(
                "https://ls.example/storage-data/uploaded/?filepath=upload%2F3%2Fd69ca685-probe.png"
            ),
            want
        );
        assert_eq!(
            locate("/data/upload/3/d69ca685-probe.png"),
            MediaLocation::LocalDisk
        );
        assert_eq!(
            locate("/storage-data/uploaded/?filepath=upload/../../etc"),
            MediaLocation::Other
        );
        assert_eq!(
            path_and_query("http://localhost:8080/storage-data/uploaded/?filepath=upload/1/a.png")
                .unwrap(),
            "/storage-data/uploaded/?filepath=upload/1/a.png"
        );
    }

    #[test]
    fn an_empty_200_with_x_accel_redirect_means_no_nginx() {
        let r = reply(
            200,
            &[(
                "x-accel-redirect",
                "/file_download/http/127.0.0.1:9000/b/media/upload/1/a.png?AWSAccessKeyId=K&Signature=S%3D&Expires=1",
            )],
            b"",
        );
        match judge(&r, b"PNG") {
            Served::NoNginx {
                redirect,
                signature,
            } => {
                assert_eq!(
                    redirect,
                    "/file_download/http/127.0.0.1:9000/b/media/upload/1/a.png?<presigned query removed>"
                );
                assert!(!redirect.contains("Signature"));
                assert_eq!(signature, "SigV2");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_token_storage_gateway_and_corruption() {
        assert_eq!(judge(&reply(200, &[], b"PNG"), b"PNG"), Served::Intact);
        assert_eq!(
            judge(&reply(401, &[], br#"{"detail":"Invalid token."}"#), b"PNG"),
            Served::TokenRejected
        );
        assert_eq!(
            judge(&reply(403, &[], br#"{"detail":"no"}"#), b"PNG"),
            Served::Forbidden
        );
        let s3 = b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        assert_eq!(
            judge(&reply(403, &[], s3), b"PNG"),
            Served::Storage {
                status: 403,
                error: "AccessDenied: Access Denied".into()
            }
        );
        let boto = br#"{"detail":"An error occurred (NoSuchKey) when calling the GetObject operation: gone"}"#;
        match judge(&reply(500, &[], boto), b"PNG") {
            Served::Storage { status: 500, error } => {
                assert!(
                    error.starts_with("An error occurred (NoSuchKey)"),
                    "{error}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            judge(&reply(502, &[], b"<html>Bad Gateway</html>"), b"PNG"),
            Served::Gateway { status: 502 }
        );
        assert_eq!(
            judge(&reply(200, &[], b"PNX"), b"PNG"),
            Served::Different { got: 3, at: 2 }
        );
    }

    #[test]
    fn names_the_signature_of_a_presigned_query() {
        assert_eq!(
            signature_kind("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=1"),
            "SigV4"
        );
        assert_eq!(signature_kind("sp=r&sr=b&se=x&sig=y"), "Azure SAS");
        assert_eq!(signature_kind(""), "none");
    }
}
