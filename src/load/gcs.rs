//! Google Cloud Storage requests through the JSON API with an OAuth bearer token, lean: the
//! `Authorization` header is built once per token (a swap bumps a generation each worker
//! compares with one atomic load), and every object's three request targets are encoded once.
//!
//! The requests are the ones google-cloud-storage 3.x (Label Studio's client) sends:
//! GET media `GET /download/storage/v1/b/B/o/NAME?alt=media` (`Blob.download_as_bytes`),
//! metadata `GET /storage/v1/b/B/o/NAME` (`Blob.exists`, `reload`: lsprobe's HEAD), LIST
//! `GET /storage/v1/b/B/o?...&prefix=P` (`list_blobs`), DELETE
//! `DELETE /storage/v1/b/B/o/NAME`. PUT is a simple media upload,
//! `POST /upload/storage/v1/b/B/o?uploadType=media&name=NAME` with the body as it is: the
//! library sends a multipart upload (JSON metadata, then the same bytes) up to 8 MiB; both store
//! the same object (name, size, `application/octet-stream`), and the media form sends the shared
//! body without a per-request copy.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderValue, Method, header};
use serde::Deserialize;

use super::connection::Endpoint;
use super::head_cache::Stamp;
use super::request::{Body, ListPage, ObjectPath, OpCall, OpRequest, uri_encode};
use crate::config::Secret;

/// What a GCS request builder needs to know.
#[derive(Clone, Debug)]
pub struct GcsConfig {
    /// The JSON API base: `https://storage.googleapis.com`, or fake-gcs-server's
    /// `http://127.0.0.1:PORT`.
    pub endpoint: Arc<Endpoint>,
    /// Bucket.
    pub bucket: String,
}

/// A bearer token that cannot go into a header.
#[derive(Debug, thiserror::Error)]
#[error("the GCS access token holds characters an HTTP header cannot carry")]
pub struct BadToken;

struct Shared {
    config: GcsConfig,
    host: HeaderValue,
    /// `{base}/download/storage/v1/b/{bucket}/o/`.
    download: String,
    /// `{base}/upload/storage/v1/b/{bucket}/o?uploadType=media&name=`.
    upload: String,
    /// `{base}/storage/v1/b/{bucket}/o`.
    objects: String,
    /// `Bearer …`, `None` when the credentials send none (fake-gcs-server's `disable_oauth`).
    bearer: RwLock<Option<HeaderValue>>,
    /// Bumped on every swap.
    generation: AtomicU64,
}

/// Builds bearer-token GCS JSON API requests. Clone one per worker.
#[derive(Clone)]
pub struct GcsRequests {
    shared: Arc<Shared>,
    generation: u64,
    bearer: Option<HeaderValue>,
}

const ALT_MEDIA: &str = "?alt=media";

impl GcsRequests {
    /// A builder for `config` sending `token` (none: no `Authorization` header).
    pub fn new(config: GcsConfig, token: Option<&Secret>) -> Result<Self, BadToken> {
        let bearer = token.map(bearer_header).transpose()?;
        let base = config.endpoint.base_path();
        let mut bucket = String::new();
        uri_encode(&config.bucket, false, &mut bucket);
        Ok(GcsRequests {
            shared: Arc::new(Shared {
                host: config.endpoint.host_header(),
                download: format!("{base}/download/storage/v1/b/{bucket}/o/"),
                upload: format!("{base}/upload/storage/v1/b/{bucket}/o?uploadType=media&name="),
                objects: format!("{base}/storage/v1/b/{bucket}/o"),
                bearer: RwLock::new(bearer.clone()),
                generation: AtomicU64::new(0),
                config,
            }),
            generation: 0,
            bearer,
        })
    }

    /// Sends `token` in every later request (of every clone); workers never wait for a fetch.
    pub fn swap_token(&self, token: &Secret) -> Result<(), BadToken> {
        let value = bearer_header(token)?;
        let mut bearer = self
            .shared
            .bearer
            .write()
            .unwrap_or_else(|e| e.into_inner());
        *bearer = Some(value);
        self.shared.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    fn current_bearer(&mut self) -> Option<&HeaderValue> {
        let generation = self.shared.generation.load(Ordering::Acquire);
        if generation != self.generation {
            let bearer = self.shared.bearer.read().unwrap_or_else(|e| e.into_inner());
            self.bearer = bearer.clone();
            self.generation = generation;
        }
        self.bearer.as_ref()
    }

    /// The three targets inside an [`ObjectPath`]'s bytes: media download, upload, metadata.
    fn targets(&self, path: &ObjectPath) -> (Bytes, Bytes, Bytes) {
        let s = &self.shared;
        let fixed = s.download.len() + ALT_MEDIA.len() + s.upload.len() + s.objects.len() + 1;
        let name = (path.path.len() - fixed) / 3;
        let download_end = s.download.len() + name + ALT_MEDIA.len();
        let upload_end = download_end + s.upload.len() + name;
        (
            path.path.slice(..download_end),
            path.path.slice(download_end..upload_end),
            path.path.slice(upload_end..),
        )
    }
}

fn bearer_header(token: &Secret) -> Result<HeaderValue, BadToken> {
    let mut v =
        HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| BadToken)?;
    v.set_sensitive(true);
    Ok(v)
}

impl OpRequest for GcsRequests {
    /// One buffer holding the three targets, `{download}NAME?alt=media`, `{upload}NAME` and
    /// `{objects}/NAME`: each request takes a slice of it (no allocation).
    fn object_path(&self, key: &str) -> ObjectPath {
        let s = &self.shared;
        let mut name = String::with_capacity(key.len() * 3);
        uri_encode(key, false, &mut name);
        let mut all = String::with_capacity(
            s.download.len() + s.upload.len() + s.objects.len() + 3 * name.len() + 11,
        );
        all.push_str(&s.download);
        all.push_str(&name);
        all.push_str(ALT_MEDIA);
        all.push_str(&s.upload);
        all.push_str(&name);
        all.push_str(&s.objects);
        all.push('/');
        all.push_str(&name);
        ObjectPath {
            key: key.into(),
            path: Bytes::from(all),
        }
    }

    fn build(&mut self, call: &OpCall<'_>, _now: SystemTime) -> http::Request<Body> {
        let (method, pq, body) = match *call {
            OpCall::Put { path, body } => (
                Method::POST,
                self.targets(path).1,
                Body::new(body.bytes.clone()),
            ),
            OpCall::Get(p) => (Method::GET, self.targets(p).0, Body::default()),
            OpCall::Head(p) => (Method::GET, self.targets(p).2, Body::default()),
            OpCall::Delete(p) => (Method::DELETE, self.targets(p).2, Body::default()),
            OpCall::List {
                prefix,
                max_keys,
                continuation,
            } => {
                let mut s = String::with_capacity(self.shared.objects.len() + 80);
                s.push_str(&self.shared.objects);
                s.push_str("?maxResults=");
                s.push_str(&max_keys.to_string());
                if let Some(token) = continuation {
                    s.push_str("&pageToken=");
                    uri_encode(token, false, &mut s);
                }
                s.push_str("&prefix=");
                uri_encode(prefix, false, &mut s);
                s.push_str("&projection=noAcl");
                (Method::GET, Bytes::from(s), Body::default())
            }
        };
        let mut req = http::Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = http::Uri::from_maybe_shared(pq).expect("encoded path is a valid URI");
        let host = self.shared.host.clone();
        let bearer = self.current_bearer().cloned();
        let h = req.headers_mut();
        h.reserve(4);
        h.insert(header::HOST, host);
        if let Some(bearer) = bearer {
            h.insert(header::AUTHORIZATION, bearer);
        }
        if let OpCall::Put { body, .. } = call {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(header::CONTENT_LENGTH, body.content_length.clone());
        }
        req
    }

    fn stamp(&self, _now: SystemTime) -> Stamp {
        // A bearer request carries no date: it changes only with the token.
        Stamp {
            secs: 0,
            generation: self.shared.generation.load(Ordering::Acquire),
        }
    }

    fn endpoint(&self) -> &Arc<Endpoint> {
        &self.shared.config.endpoint
    }

    fn parse_list(&self, body: &[u8]) -> Result<ListPage, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Objects {
            #[serde(default)]
            items: Vec<Item>,
            next_page_token: Option<String>,
        }
        #[derive(Deserialize)]
        struct Item {
            name: String,
            /// A decimal string in the JSON API.
            size: String,
        }
        let r: Objects = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let objects = r
            .items
            .into_iter()
            .map(|i| {
                let size = i
                    .size
                    .parse()
                    .map_err(|_| format!("object {} has size `{}`", i.name, i.size))?;
                Ok((i.name, size))
            })
            .collect::<Result<_, String>>()?;
        Ok(ListPage {
            objects,
            continuation: r.next_page_token.filter(|t| !t.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::request::Payload;

    fn gcs(token: Option<&str>) -> GcsRequests {
        GcsRequests::new(
            GcsConfig {
                endpoint: Arc::new(Endpoint::parse("http://127.0.0.1:4443").unwrap()),
                bucket: "bkt".into(),
            },
            token.map(Secret::new).as_ref(),
        )
        .unwrap()
    }

    fn target(req: &http::Request<Body>) -> String {
        format!("{} {}", req.method(), req.uri())
    }

    #[test]
    fn each_operation_reaches_its_json_api_target() {
        let mut r = gcs(Some("ya29.a"));
        let p = r.object_path("run 1/get/ü+x");
        let body = Payload::generate(10, 1);
        let now = SystemTime::now();
        let put = r.build(
            &OpCall::Put {
                path: &p,
                body: &body,
            },
            now,
        );
        assert_eq!(
            target(&put),
            "POST /upload/storage/v1/b/bkt/o?uploadType=media&name=run%201%2Fget%2F%C3%BC%2Bx"
        );
        assert_eq!(put.headers()["content-length"], "10");
        assert_eq!(put.headers()["content-type"], "application/octet-stream");
        assert_eq!(
            target(&r.build(&OpCall::Get(&p), now)),
            "GET /download/storage/v1/b/bkt/o/run%201%2Fget%2F%C3%BC%2Bx?alt=media"
        );
        assert_eq!(
            target(&r.build(&OpCall::Head(&p), now)),
            "GET /storage/v1/b/bkt/o/run%201%2Fget%2F%C3%BC%2Bx"
        );
        let del = r.build(&OpCall::Delete(&p), now);
        assert_eq!(
            target(&del),
            "DELETE /storage/v1/b/bkt/o/run%201%2Fget%2F%C3%BC%2Bx"
        );
        assert_eq!(del.headers()["authorization"], "Bearer ya29.a");
        assert_eq!(del.headers()["host"], "127.0.0.1:4443");
        let list = OpCall::List {
            prefix: "run 1/",
            max_keys: 5,
            continuation: Some("tok/1"),
        };
        assert_eq!(
            target(&r.build(&list, now)),
            "GET /storage/v1/b/bkt/o?maxResults=5&pageToken=tok%2F1&prefix=run%201%2F&projection=noAcl"
        );
    }

    #[test]
    fn a_swapped_token_reaches_every_clone_and_none_sends_no_header() {
        let r = gcs(Some("first"));
        let mut worker = r.clone();
        let p = worker.object_path("k");
        let now = SystemTime::now();
        assert_eq!(
            worker.build(&OpCall::Get(&p), now).headers()["authorization"],
            "Bearer first"
        );
        r.swap_token(&Secret::new("second")).unwrap();
        let get = worker.build(&OpCall::Get(&p), now);
        assert_eq!(get.headers()["authorization"], "Bearer second");
        assert!(get.headers()["authorization"].is_sensitive());
        assert!(r.swap_token(&Secret::new("bad\ntoken")).is_err());
        let mut none = gcs(None);
        assert!(
            !none
                .build(&OpCall::Get(&p), now)
                .headers()
                .contains_key("authorization")
        );
    }

    #[test]
    fn an_endpoint_path_prefixes_every_target() {
        let mut r = GcsRequests::new(
            GcsConfig {
                endpoint: Arc::new(Endpoint::parse("http://127.0.0.1:4443/gcs/").unwrap()),
                bucket: "b".into(),
            },
            None,
        )
        .unwrap();
        let p = r.object_path("a");
        assert_eq!(
            target(&r.build(&OpCall::Head(&p), SystemTime::now())),
            "GET /gcs/storage/v1/b/b/o/a"
        );
    }

    #[test]
    fn parses_a_listing() {
        let json = br#"{"kind":"storage#objects","nextPageToken":"n1","items":[
            {"kind":"storage#object","name":"p/a","size":"7"},{"name":"p/b","size":"0"}]}"#;
        let page = gcs(None).parse_list(json).unwrap();
        assert_eq!(page.objects, vec![("p/a".into(), 7), ("p/b".into(), 0)]);
        assert_eq!(page.continuation.as_deref(), Some("n1"));
        let empty = gcs(None)
            .parse_list(br#"{"kind":"storage#objects"}"#)
            .unwrap();
        assert!(empty.objects.is_empty() && empty.continuation.is_none());
        assert!(gcs(None).parse_list(b"<xml/>").is_err());
    }
}
