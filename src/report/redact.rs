//! The one way a URL reaches any output: without userinfo (`http://user:pass@host/`) and
//! without the signature of a presigned query. [`url`] renders a parsed URL; [`text`] cleans
//! any message that may quote one (a client's error, a check's evidence), so a credential
//! written into `STORAGE_AWS_ENDPOINT_URL` never reaches a terminal, report.json or junit.xml.
use std::borrow::Cow;

/// Query parameters that carry a signature or a credential in presigned URLs and SAS tokens.
const SIGNED_PARAMS: &[&str] = &[
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "signature",
    "awsaccesskeyid",
    "x-goog-signature",
    "x-goog-credential",
    "googleaccessid",
    "sig",
];

/// A URL for display: no userinfo, no fragment, and signature parameters masked.
pub fn url(u: &url::Url) -> String {
    let mut u = u.clone();
    // Fails only for URLs that cannot have userinfo, which then have none to remove.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_fragment(None);
    text(u.as_str()).into_owned()
}

/// `s` with the userinfo of every `scheme://user:pass@host` removed and every signature
/// parameter's value replaced by `***`.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.contains("://") && !s.contains('=') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let authority_end = rest
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace() || is_quote(c))
            .unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    let masked = mask_params(&out);
    if masked == s {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(masked)
    }
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\'' | '`' | '<' | '>')
}

fn mask_params(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        let (before, after) = rest.split_at(i);
        let name_start = before
            .rfind(|c: char| matches!(c, '?' | '&' | ';') || c.is_whitespace() || is_quote(c))
            .map_or(0, |p| {
                p + before[p..].chars().next().map_or(1, char::len_utf8)
            });
        let name = &before[name_start..];
        out.push_str(before);
        out.push('=');
        let after = &after[1..];
        let value_end = after
            .find(|c: char| matches!(c, '&' | '#' | ';') || c.is_whitespace() || is_quote(c))
            .unwrap_or(after.len());
        if SIGNED_PARAMS.iter().any(|p| name.eq_ignore_ascii_case(p)) && value_end > 0 {
            out.push_str("***");
            rest = &after[value_end..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_and_signatures_never_show() {
        let u = url::Url::parse("http://user:pa55@minio:9000/b?x=1#frag").unwrap();
        assert_eq!(url(&u), "http://minio:9000/b?x=1");
        let msg = "error sending request for url (http://AKIA:s3cr3t@127.0.0.1:9/b/k): refused";
        assert_eq!(
            text(msg),
            "error sending request for url (http://127.0.0.1:9/b/k): refused"
        );
        let presigned = "GET https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123&X-Amz-Expires=60 failed";
        let t = text(presigned);
        assert!(!t.contains("abc123") && !t.contains("AKIA"), "{t}");
        assert!(t.contains("X-Amz-Expires=60"), "{t}");
        let sas = "\"https://acct.blob.core.windows.net/c/k?sv=2024&sig=Zm9v%3D&se=x\"";
        assert!(!text(sas).contains("Zm9v"), "{}", text(sas));
        assert_eq!(text("plain message, a=b"), "plain message, a=b");
        assert!(matches!(text("no urls here"), Cow::Borrowed(_)));
        assert_eq!(text("ünïcode://x@y ok"), "ünïcode://y ok");
    }
}
