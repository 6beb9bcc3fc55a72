//! SigV4 header signing with a payload hash given as text, for the one request object_store's
//! `AwsAuthorizer` cannot sign: boto3's upload over HTTPS, whose `x-amz-content-sha256` is
//! the literal `STREAMING-UNSIGNED-PAYLOAD-TRAILER`. `AwsAuthorizer::try_authorize` always
//! replaces that header with a hex digest, `UNSIGNED-PAYLOAD` or
//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, and its canonical request is private.
//!
//! This follows `AwsAuthorizer` step by step (same header canonicalization, same query
//! canonicalization, S3 path used once-encoded) and a test proves that, given the same date
//! and payload hash, both produce the same `Authorization` header. Every other S3 request is
//! signed by `AwsAuthorizer` itself.
use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http::HeaderValue;
use object_store::aws::AwsCredential;
use object_store::client::HttpRequest;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// The payload hash of boto3's aws-chunked uploads with a trailing checksum.
pub const STREAMING_UNSIGNED_PAYLOAD_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// `A-Z a-z 0-9 - . _ ~` stay, everything else is percent-encoded (SigV4's query encoding).
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Signs `request` for S3 in `region` with `payload_hash` as `x-amz-content-sha256`.
pub fn sign_s3(
    request: &mut HttpRequest,
    credential: &AwsCredential,
    region: &str,
    payload_hash: &str,
    date: DateTime<Utc>,
) -> Result<(), String> {
    let url = url::Url::parse(&request.uri().to_string()).map_err(|e| e.to_string())?;
    let value = |s: &str| HeaderValue::from_str(s).map_err(|e| e.to_string());
    if let Some(token) = &credential.token {
        request
            .headers_mut()
            .insert("x-amz-security-token", value(token)?);
    }
    let date_str = date.format("%Y%m%dT%H%M%SZ").to_string();
    request
        .headers_mut()
        .insert("x-amz-date", value(&date_str)?);
    request
        .headers_mut()
        .insert("x-amz-content-sha256", value(payload_hash)?);

    // Signed with the host, which the HTTP client then sets itself.
    let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    headers.entry("host".into()).or_default().push(host.into());
    for (name, v) in request.headers() {
        let name = name.as_str();
        if ["authorization", "content-length", "user-agent", "host"].contains(&name) {
            continue;
        }
        let v = v.to_str().map_err(|e| e.to_string())?;
        headers
            .entry(name.to_string())
            .or_default()
            .push(v.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    let signed_headers = headers.keys().cloned().collect::<Vec<_>>().join(";");
    let mut canonical_headers = String::new();
    for (name, values) in &headers {
        let _ = writeln!(canonical_headers, "{name}:{}", values.join(","));
    }

    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, STRICT).to_string(),
                utf8_percent_encode(&v, STRICT).to_string(),
            )
        })
        .collect();
    query.sort_unstable();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");

    let canonical_request = format!(
        "{}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        request.method().as_str(),
        url.path(),
    );
    let scope = format!("{}/{region}/s3/aws4_request", date.format("%Y%m%d"));
    let string_to_sign = format!(
        "{ALGORITHM}\n{date_str}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = format!("AWS4{}", credential.secret_key).into_bytes();
    for part in [
        date.format("%Y%m%d").to_string().as_str(),
        region,
        "s3",
        "aws4_request",
    ] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credential.key_id
    );
    request
        .headers_mut()
        .insert("authorization", value(&authorization)?);
    Ok(())
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::Method;
    use object_store::aws::AwsAuthorizer;

    fn request(body: &'static [u8]) -> HttpRequest {
        crate::provider::build(
            Method::PUT,
            "http://127.0.0.1:9000/bucket/media/a%20b/%C3%BC.bin?uploadId=x%2By&partNumber=2",
            &[
                ("content-type", "audio/wav".into()),
                ("x-amz-checksum-crc32", "mMKE/w==".into()),
                ("x-amz-meta-note", "  two   words ".into()),
            ],
            Bytes::from_static(body),
        )
    }

    #[test]
    fn matches_object_stores_authorizer_byte_for_byte() {
        for token in [None, Some("session-token".to_string())] {
            let credential = AwsCredential {
                key_id: "AKIDEXAMPLE".into(),
                secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                token,
            };
            let mut theirs = request(b"some body");
            AwsAuthorizer::new(&credential, "s3", "eu-west-3")
                .try_authorize(&mut theirs, None)
                .unwrap();
            let date = theirs.headers()["x-amz-date"].to_str().unwrap();
            let date = chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
                .unwrap()
                .and_utc();
            let digest = theirs.headers()["x-amz-content-sha256"]
                .to_str()
                .unwrap()
                .to_string();
            assert_eq!(digest, hex(&Sha256::digest(b"some body")));
            let mut ours = request(b"some body");
            sign_s3(&mut ours, &credential, "eu-west-3", &digest, date).unwrap();
            assert_eq!(ours.headers(), theirs.headers());
        }
    }

    #[test]
    fn sets_the_streaming_trailer_hash() {
        let credential = AwsCredential {
            key_id: "k".into(),
            secret_key: "s".into(),
            token: None,
        };
        let mut r = request(b"");
        sign_s3(
            &mut r,
            &credential,
            "us-east-1",
            STREAMING_UNSIGNED_PAYLOAD_TRAILER,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(
            r.headers()["x-amz-content-sha256"],
            STREAMING_UNSIGNED_PAYLOAD_TRAILER
        );
        let auth = r.headers()["authorization"].to_str().unwrap();
        assert!(auth.contains("SignedHeaders=content-type;host;x-amz-checksum-crc32;x-amz-content-sha256;x-amz-date;x-amz-meta-note,"), "{auth}");
    }
}
