//! Object keys in URLs. Label Studio's folders and file names may hold spaces and any Unicode:
//! keys are used exactly as written and percent-encoded once, never twice.
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but the unreserved characters of RFC 3986 (`A-Z a-z 0-9 - _ . ~`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes a whole key as one URL component: `/` becomes `%2F` (GCS JSON API, query values).
pub fn component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// Encodes a key as a URL path: each segment encoded, `/` kept (S3, Azure).
pub fn path(key: &str) -> String {
    key.split('/').map(component).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_once_keeping_slashes_in_paths() {
        assert_eq!(path("media/a b/ü.txt"), "media/a%20b/%C3%BC.txt");
        assert_eq!(path("a%2Fb"), "a%252Fb");
        assert_eq!(component("media/a b"), "media%2Fa%20b");
        assert_eq!(path("x/.lsprobe/run-1/k~_.-"), "x/.lsprobe/run-1/k~_.-");
    }
}
