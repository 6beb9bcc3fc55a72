//! The few calls of Label Studio's API (1.23) the end-to-end check makes, as its browser and
//! SDK make them: `Authorization: Token <token>` (a legacy token), or a personal access token
//! (a JWT) exchanged at `/api/token/refresh` for a `Bearer` access token.
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use url::Url;

use crate::config::Secret;
use crate::provider::describe_reqwest_error;

/// The deployment given with `--label-studio URL --token TOKEN`.
#[derive(Clone, Debug)]
pub struct Deployment {
    /// Base URL, e.g. `https://labelstudio.example.com/` (always ending with `/`).
    pub url: Url,
    /// The API token. Never printed.
    pub token: Secret,
}

impl Deployment {
    /// Validates the flags (bad input, exit 2, before any request).
    pub fn from_flags(url: &str, token: Option<&Secret>) -> Result<Deployment, crate::RunError> {
        let bad = |m: String| crate::RunError::BadInput(m);
        let mut parsed = Url::parse(url).map_err(|e| {
            bad(format!(
                "--label-studio `{url}` is not a URL ({e}); give the address the browser uses, e.g. http://localhost:8080"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(bad(format!(
                "--label-studio `{url}` must be an http:// or https:// address of Label Studio"
            )));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad(format!(
                "--label-studio `{url}` must not have a query or fragment; give the base address"
            )));
        }
        if !parsed.path().ends_with('/') {
            let path = format!("{}/", parsed.path());
            parsed.set_path(&path);
        }
        let token = match token.map(|t| t.expose().trim()) {
            Some(t) if !t.is_empty() => Secret::new(t),
            _ => {
                return Err(bad(
                    "--label-studio needs an API token: pass --token TOKEN or set LABEL_STUDIO_TOKEN \
                     (Label Studio: Account & Settings > Access Token)"
                        .into(),
                ));
            }
        };
        Ok(Deployment { url: parsed, token })
    }

    /// The base URL without credentials, for messages.
    pub fn display_url(&self) -> String {
        self.url.as_str().trim_end_matches('/').to_string()
    }
}

/// What Label Studio answered.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON, when it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// At most `n` characters of the body, on one line, for messages.
    pub fn excerpt(&self, n: usize) -> String {
        excerpt(&String::from_utf8_lossy(&self.body), n)
    }
}

/// At most `n` characters of `text` on one line.
pub fn excerpt(text: &str, n: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > n {
        format!("{}...", one_line.chars().take(n).collect::<String>())
    } else {
        one_line
    }
}

/// A session with one deployment during one run; remembers the project this run created.
#[derive(Debug)]
pub struct Session {
    /// The deployment.
    pub deployment: Deployment,
    http: reqwest::Client,
    /// The `Authorization` value, once known.
    authorization: Mutex<Option<Secret>>,
    /// The project this run created and has not deleted yet.
    project: Mutex<Option<u64>>,
}

impl Session {
    /// A session; sends nothing yet.
    pub fn new(deployment: Deployment) -> Result<Session, crate::RunError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lsprobe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                crate::RunError::BadInput(format!("cannot set up the HTTP client: {e}"))
            })?;
        Ok(Session {
            deployment,
            http,
            authorization: Mutex::new(None),
            project: Mutex::new(None),
        })
    }

    /// The URL of `path` (relative to the base; a leading `/` is dropped, so a deployment
    /// under a sub-path keeps it).
    pub fn url(&self, path: &str) -> Result<Url, String> {
        self.deployment
            .url
            .join(path.trim_start_matches('/'))
            .map_err(|e| format!("cannot build a URL from `{path}`: {e}"))
    }

    /// Finds the `Authorization` value: a JWT personal access token is exchanged for an access
    /// token; anything else is a legacy token. Then asks who the token belongs to.
    pub async fn authenticate(&self) -> Result<Reply, String> {
        let token = self.deployment.token.expose();
        let value = if looks_like_jwt(token) {
            let reply = self
                .send(
                    self.http
                        .post(self.url("api/token/refresh")?)
                        .json(&serde_json::json!({ "refresh": token })),
                    false,
                )
                .await?;
            match reply
                .json()
                .and_then(|j| j["access"].as_str().map(str::to_string))
            {
                Some(access) if reply.status.is_success() => format!("Bearer {access}"),
                _ => return Ok(reply),
            }
        } else {
            format!("Token {token}")
        };
        *self.authorization.lock().expect("not poisoned") = Some(Secret::new(value));
        self.get("api/current-user/whoami").await
    }

    /// GET `path` with the token.
    pub async fn get(&self, path: &str) -> Result<Reply, String> {
        self.send(self.http.get(self.url(path)?), true).await
    }

    /// Creates a project; remembers its id for [`Session::delete_project`].
    pub async fn create_project(&self, title: &str, label_config: &str) -> Result<Reply, String> {
        let body = serde_json::json!({
            "title": title,
            "description": "Temporary project of lsprobe's end-to-end check; deleted at the end of its run.",
            "label_config": label_config,
        });
        let reply = self
            .send(self.http.post(self.url("api/projects/")?).json(&body), true)
            .await?;
        if let Some(id) = reply.json().and_then(|j| j["id"].as_u64()) {
            *self.project.lock().expect("not poisoned") = Some(id);
        }
        Ok(reply)
    }

    /// Imports one file into a project, as the browser's upload does (multipart).
    pub async fn import_file(
        &self,
        project: u64,
        name: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<Reply, String> {
        let boundary = format!("lsprobe-{}", uuid::Uuid::new_v4().simple());
        let url = self.url(&format!("api/projects/{project}/import"))?;
        let request = self
            .http
            .post(url)
            .header(
                http::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(multipart_file(&boundary, name, content_type, &body));
        self.send(request, true).await
    }

    /// The project this run created and has not deleted.
    pub fn project(&self) -> Option<u64> {
        *self.project.lock().expect("not poisoned")
    }

    /// Deletes the project this run created, if any; `Ok(None)` when there was none.
    pub async fn delete_project(&self) -> Result<Option<(u64, Reply)>, String> {
        let Some(id) = self.project() else {
            return Ok(None);
        };
        let reply = self
            .send(
                self.http.delete(self.url(&format!("api/projects/{id}/"))?),
                true,
            )
            .await?;
        if reply.status.is_success() || reply.status == StatusCode::NOT_FOUND {
            *self.project.lock().expect("not poisoned") = None;
        }
        Ok(Some((id, reply)))
    }

    async fn send(&self, request: reqwest::RequestBuilder, auth: bool) -> Result<Reply, String> {
        let mut request = request;
        if auth {
            let value = self.authorization.lock().expect("not poisoned").clone();
            if let Some(value) = value {
                request = request.header(http::header::AUTHORIZATION, value.expose());
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| describe_reqwest_error(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| describe_reqwest_error(&e))?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// A `multipart/form-data` body with one file field named `file`, as a browser sends it.
fn multipart_file(boundary: &str, name: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let name = name.replace(['"', '\r', '\n'], "_");
    let mut out = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// A personal access token (Label Studio 1.14+) is a JWT: three base64url parts.
fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && token.starts_with("eyJ")
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_checked_before_any_request() {
        let d =
            Deployment::from_flags("http://127.0.0.1:8080", Some(&Secret::new("abc123"))).unwrap();
        assert_eq!(d.url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(format!("{d:?}").matches("abc123").count(), 0);
        let sub = Deployment::from_flags("https://x.example/ls", Some(&Secret::new("t"))).unwrap();
        assert_eq!(sub.url.as_str(), "https://x.example/ls/");
        for bad in ["localhost:8080", "ftp://x", "http://x/?a=1", "not a url"] {
            assert!(
                Deployment::from_flags(bad, Some(&Secret::new("t"))).is_err(),
                "{bad}"
            );
        }
        let err = Deployment::from_flags("http://x", None).unwrap_err();
        assert!(err.to_string().contains("LABEL_STUDIO_TOKEN"), "{err}");
        assert!(Deployment::from_flags("http://x", Some(&Secret::new("  "))).is_err());
    }

    #[test]
    fn urls_keep_a_sub_path() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let d = Deployment::from_flags("https://x.example/ls", Some(&Secret::new("t"))).unwrap();
        let s = Session::new(d).unwrap();
        assert_eq!(
            s.url("/storage-data/uploaded/?filepath=upload/1/a.png")
                .unwrap()
                .as_str(),
            "https://x.example/ls/storage-data/uploaded/?filepath=upload/1/a.png"
        );
    }

    #[test]
    fn tells_personal_access_tokens_from_legacy_tokens() {
        assert!(looks_like_jwt(
            "eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2ln"
        ));
        assert!(!looks_like_jwt("0123456789abcdef0123456789abcdef01234567"));
        assert!(!looks_like_jwt("eyJ.x"));
    }

    #[test]
    fn multipart_body_has_one_file_part() {
        let body = multipart_file("B", "a\"b.png", "image/png", b"PNG");
        let text = String::from_utf8(body).unwrap();
        assert_eq!(
            text,
            "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a_b.png\"\r\n\
             Content-Type: image/png\r\n\r\nPNG\r\n--B--\r\n"
        );
    }

    #[test]
    fn excerpts_are_short_and_on_one_line() {
        assert_eq!(excerpt("a\n  b\tc", 10), "a b c");
        assert_eq!(excerpt("abcdef", 3), "abc...");
    }
}
