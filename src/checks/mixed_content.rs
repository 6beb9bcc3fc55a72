//! Mixed content: a page served over `https://` may not load an `http://` URL. Browsers block
//! `fetch` outright and (Chromium) upgrade `<img>`/`<audio>`/`<video>` to `https://`, which an
//! `http`-only bucket does not answer; either way the labeling UI shows no media, whatever the
//! bucket's CORS rules say. Browsers exempt "potentially trustworthy" hosts: loopback IP
//! literals (`127.0.0.0/8`, `[::1]`) and `localhost` (and names under `.localhost`).

/// Why a page on `origin` cannot load `url`, or `None` when the browser lets it.
pub fn blocked(origin: &str, url: &str) -> Option<String> {
    let origin_url = url::Url::parse(origin).ok()?;
    let target = url::Url::parse(url).ok()?;
    if origin_url.scheme() != "https" || target.scheme() != "http" {
        return None;
    }
    if trustworthy_host(&target) {
        return None;
    }
    Some(format!(
        "the Label Studio page on {origin} is served over https, but the bucket URL is http \
         (http://{}): the browser blocks it as mixed content, whatever the CORS rules",
        target.host_str().unwrap_or_default()
    ))
}

/// The fix for a mixed-content block.
pub fn remediation(endpoint_setting: Option<&str>) -> String {
    let setting = endpoint_setting.unwrap_or("the storage endpoint");
    format!(
        "Serve the bucket over https: point {setting} at an https:// endpoint with a certificate \
         the browsers trust (for an S3-compatible server, enable TLS on it or put a TLS proxy in \
         front), or keep Label Studio's default USE_NGINX_FOR_UPLOADS=true so nginx fetches \
         media server-side and the browser never loads the bucket URL."
    )
}

fn trustworthy_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_page_and_http_bucket_is_blocked_unless_loopback() {
        let url = "http://minio.internal:9000/b/k?X-Amz-Signature=s";
        let why = blocked("https://ls.example.com", url).unwrap();
        assert!(why.contains("mixed content"), "{why}");
        assert!(why.contains("http://minio.internal"), "{why}");
        assert!(!why.contains("Signature"), "{why}");
        assert_eq!(blocked("http://ls.example.com", url), None);
        assert_eq!(
            blocked("https://ls.example.com", "https://b.s3.amazonaws.com/k"),
            None
        );
        for exempt in [
            "http://127.0.0.1:9000/b/k",
            "http://127.8.0.1/b/k",
            "http://[::1]:9000/b/k",
            "http://localhost:9000/b/k",
            "http://minio.localhost/b/k",
        ] {
            assert_eq!(blocked("https://ls.example.com", exempt), None, "{exempt}");
        }
        assert!(blocked("https://ls.example.com", "http://10.0.0.5/b/k").is_some());
    }
}
