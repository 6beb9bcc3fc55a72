//! Azure SharedKey signing for the few Blob service calls object_store has no API for (Set Blob
//! Service Properties), and for creating the container. Emulator (path-style) addressing:
//! `http://127.0.0.1:PORT/devstoreaccount1/...`.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{AZURE_ACCOUNT, AZURE_KEY};

const API_VERSION: &str = "2021-08-06";

/// The SharedKey string to sign (Blob service, version 2009-09-19 and later).
/// `path` starts with the account segment; `query` is sorted by name by the caller or here.
pub fn string_to_sign(
    verb: &str,
    content_length: usize,
    content_type: &str,
    ms_headers: &[(&str, &str)],
    path: &str,
    query: &[(&str, &str)],
) -> String {
    let length = if content_length == 0 {
        String::new()
    } else {
        content_length.to_string()
    };
    let mut headers: Vec<(String, &str)> = ms_headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim()))
        .collect();
    headers.sort();
    let mut canonical_headers = String::new();
    for (k, v) in headers {
        canonical_headers.push_str(&format!("{k}:{v}\n"));
    }
    let mut params: Vec<(String, &str)> = query
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), *v))
        .collect();
    params.sort();
    let mut resource = format!("/{AZURE_ACCOUNT}{path}");
    for (k, v) in params {
        resource.push_str(&format!("\n{k}:{v}"));
    }
    format!("{verb}\n\n\n{length}\n\n{content_type}\n\n\n\n\n\n\n{canonical_headers}{resource}")
}

/// `SharedKey devstoreaccount1:<signature>` for a string to sign.
pub fn authorization(string_to_sign: &str) -> String {
    let key = STANDARD
        .decode(AZURE_KEY)
        .expect("the well-known key is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    format!("SharedKey {AZURE_ACCOUNT}:{sig}")
}

/// Sends a SharedKey-signed request to Azurite at `base` (`http://127.0.0.1:PORT`); returns the
/// status and body.
pub async fn send(
    client: &reqwest::Client,
    base: &str,
    verb: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&str>,
) -> Result<(reqwest::StatusCode, String), reqwest::Error> {
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let body = body.unwrap_or("");
    let content_type = if body.is_empty() {
        ""
    } else {
        "application/xml"
    };
    let ms = [("x-ms-date", date.as_str()), ("x-ms-version", API_VERSION)];
    let sts = string_to_sign(verb, body.len(), content_type, &ms, path, query);
    let qs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let url = format!("{base}{path}?{}", qs.join("&"));
    let method = reqwest::Method::from_bytes(verb.as_bytes()).expect("a valid HTTP verb");
    let mut req = client
        .request(method, url)
        .header("x-ms-date", &date)
        .header("x-ms-version", API_VERSION)
        .header("Authorization", authorization(&sts))
        .header("Content-Length", body.len().to_string());
    if !content_type.is_empty() {
        req = req.header("Content-Type", content_type);
    }
    let resp = req.body(body.to_string()).send().await?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    Ok((status, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_follows_the_shared_key_layout() {
        let sts = string_to_sign(
            "PUT",
            0,
            "",
            &[("x-ms-version", "v"), ("x-ms-date", "d")],
            "/devstoreaccount1/lsprobe",
            &[("restype", "container")],
        );
        assert_eq!(
            sts,
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:d\nx-ms-version:v\n\
             /devstoreaccount1/devstoreaccount1/lsprobe\nrestype:container"
        );
        assert!(authorization(&sts).starts_with("SharedKey devstoreaccount1:"));
    }
}
