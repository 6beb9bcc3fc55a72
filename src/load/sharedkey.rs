//! Azure Blob requests signed with SharedKey, lean: the account key is decoded and keyed into
//! an HMAC state once (cloned per request); the `Date` header is formatted once a second. With a
//! SAS token instead ([`AzureRequests::with_sas`]) nothing is signed: the token's query is
//! appended to each object's path once, when the path is encoded.
//!
//! Operations: Put Blob (`x-ms-blob-type: BlockBlob`), Get Blob, Get Blob Properties (HEAD),
//! List Blobs (`restype=container&comp=list`), Delete Blob. Service version `2023-11-03`, the
//! one object_store 0.14 sends.
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderName, HeaderValue, Method, header};
use serde::Deserialize;
use sha2::Sha256;

use super::connection::Endpoint;
use super::head_cache::Stamp;
use super::request::{
    Body, ListPage, ObjectPath, OpCall, OpRequest, http_date, unix_secs, uri_encode,
};
use crate::config::Secret;

/// The `x-ms-version` sent.
pub const AZURE_VERSION: &str = "2023-11-03";

static X_MS_VERSION: HeaderName = HeaderName::from_static("x-ms-version");
static X_MS_BLOB_TYPE: HeaderName = HeaderName::from_static("x-ms-blob-type");

/// What an Azure request builder needs to know.
#[derive(Clone, Debug)]
pub struct AzureConfig {
    /// Blob endpoint: `https://<account>.blob.core.windows.net`, or Azurite's
    /// `http://127.0.0.1:10000/devstoreaccount1` (the account in the path).
    pub endpoint: Arc<Endpoint>,
    /// Storage account name.
    pub account: String,
    /// Container.
    pub container: String,
    /// Account key, base64 as the portal shows it.
    pub access_key: Secret,
}

/// Invalid Azure configuration.
#[derive(Debug, thiserror::Error)]
#[error("STORAGE_AZURE_ACCOUNT_KEY is not valid base64: copy key1 or key2 from the portal")]
pub struct BadAccountKey;

struct Shared {
    endpoint: Arc<Endpoint>,
    account: String,
    host: HeaderValue,
    container_path: String,
    auth: Auth,
}

/// How requests are authorized.
enum Auth {
    /// SharedKey: the keyed HMAC state and `SharedKey <account>:`.
    Key {
        mac: Hmac<Sha256>,
        auth_prefix: String,
    },
    /// A SAS token's query (without `?`), appended to every request.
    Sas(Secret),
}

/// Builds SharedKey-signed Azure Blob requests. Clone one per worker.
#[derive(Clone)]
pub struct AzureRequests {
    shared: Arc<Shared>,
    sec: u64,
    date: HeaderValue,
}

impl AzureRequests {
    /// A builder for `config`; fails if the account key is not base64.
    pub fn new(config: AzureConfig) -> Result<Self, BadAccountKey> {
        let key = STANDARD
            .decode(config.access_key.expose())
            .map_err(|_| BadAccountKey)?;
        let mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| BadAccountKey)?;
        let auth = Auth::Key {
            mac,
            auth_prefix: format!("SharedKey {}:", config.account),
        };
        Ok(Self::with_auth(
            config.endpoint,
            config.account,
            &config.container,
            auth,
        ))
    }

    /// A builder that signs nothing and appends `sas` (a SAS token's query, without `?`) to
    /// every request, as azure-storage-blob does with a SAS credential.
    pub fn with_sas(
        endpoint: Arc<Endpoint>,
        account: String,
        container: &str,
        sas: Secret,
    ) -> Self {
        Self::with_auth(endpoint, account, container, Auth::Sas(sas))
    }

    fn with_auth(endpoint: Arc<Endpoint>, account: String, container: &str, auth: Auth) -> Self {
        let container_path = format!("{}/{}", endpoint.base_path(), container);
        AzureRequests {
            shared: Arc::new(Shared {
                host: endpoint.host_header(),
                container_path,
                auth,
                endpoint,
                account,
            }),
            sec: u64::MAX,
            date: HeaderValue::from_static("x"),
        }
    }

    /// Signs any request (e.g. Create Container, Get Account Information): sets `Date` from
    /// `now`, `x-ms-version` if absent, `Host`, then `Authorization`. The URI must be
    /// origin-form (path and query). With a SAS token nothing is signed: the caller's URI
    /// must carry the token.
    pub fn sign(&self, req: &mut http::Request<Body>, now: SystemTime) {
        let h = req.headers_mut();
        h.insert(header::HOST, self.shared.host.clone());
        h.insert(
            header::DATE,
            HeaderValue::from_bytes(&http_date(unix_secs(now))).expect("ascii"),
        );
        h.entry(&X_MS_VERSION)
            .or_insert(HeaderValue::from_static(AZURE_VERSION));
        h.remove(header::AUTHORIZATION);
        if let Some(auth) = self.authorization(req) {
            req.headers_mut().insert(header::AUTHORIZATION, auth);
        }
    }

    /// The SharedKey `Authorization` of `req`; `None` with a SAS token.
    fn authorization(&self, req: &http::Request<Body>) -> Option<HeaderValue> {
        let Auth::Key { mac, auth_prefix } = &self.shared.auth else {
            return None;
        };
        let mut mac = mac.clone();
        self.write_string_to_sign(req, &mut |b: &[u8]| mac.update(b));
        let sig = mac.finalize().into_bytes();
        let mut auth = String::with_capacity(auth_prefix.len() + 44);
        auth.push_str(auth_prefix);
        STANDARD.encode_string(sig, &mut auth);
        Some(HeaderValue::from_maybe_shared(Bytes::from(auth)).expect("ascii"))
    }

    /// The string SharedKey signs for `request` (for tests and debugging).
    pub fn string_to_sign(&self, request: &http::Request<Body>) -> String {
        let mut v = Vec::new();
        self.write_string_to_sign(request, &mut |b: &[u8]| v.extend_from_slice(b));
        String::from_utf8(v).expect("headers are ascii")
    }

    fn write_string_to_sign(&self, req: &http::Request<Body>, put: &mut impl FnMut(&[u8])) {
        let h = req.headers();
        let get = |n: &HeaderName| h.get(n).map(|v| v.as_bytes()).unwrap_or_default();
        put(req.method().as_str().as_bytes());
        put(b"\n");
        put(get(&header::CONTENT_ENCODING));
        put(b"\n");
        put(get(&header::CONTENT_LANGUAGE));
        put(b"\n");
        let len = get(&header::CONTENT_LENGTH);
        put(if len == b"0" { b"" } else { len });
        put(b"\n");
        for n in [
            &HeaderName::from_static("content-md5"),
            &header::CONTENT_TYPE,
            &header::DATE,
            &header::IF_MODIFIED_SINCE,
            &header::IF_MATCH,
            &header::IF_NONE_MATCH,
            &header::IF_UNMODIFIED_SINCE,
            &header::RANGE,
        ] {
            put(get(n));
            put(b"\n");
        }
        // Canonicalized headers: x-ms-* sorted by name. We send few, so a small sort.
        let mut names: [Option<(&str, &[u8])>; 8] = [None; 8];
        let mut n = 0;
        for (k, v) in h {
            if k.as_str().starts_with("x-ms-") && n < names.len() {
                names[n] = Some((k.as_str(), v.as_bytes()));
                n += 1;
            }
        }
        names[..n].sort_unstable();
        for (k, v) in names[..n].iter().flatten() {
            put(k.as_bytes());
            put(b":");
            put(v);
            put(b"\n");
        }
        // Canonicalized resource: /account/path, then query parameters (decoded values)
        // sorted by name, one per line. Our queries are built already sorted.
        put(b"/");
        put(self.shared.account.as_bytes());
        put(req.uri().path().as_bytes());
        if let Some(q) = req.uri().query() {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                put(b"\n");
                put(k.to_lowercase().as_bytes());
                put(b":");
                put(v.as_bytes());
            }
        }
    }
}

impl OpRequest for AzureRequests {
    fn object_path(&self, key: &str) -> ObjectPath {
        let path = ObjectPath::under(&self.shared.container_path, key);
        match &self.shared.auth {
            Auth::Key { .. } => path,
            Auth::Sas(sas) => {
                let mut with_sas = Vec::with_capacity(path.path.len() + 1 + sas.expose().len());
                with_sas.extend_from_slice(&path.path);
                with_sas.push(b'?');
                with_sas.extend_from_slice(sas.expose().as_bytes());
                ObjectPath {
                    key: path.key,
                    path: Bytes::from(with_sas),
                }
            }
        }
    }

    fn build(&mut self, call: &OpCall<'_>, now: SystemTime) -> http::Request<Body> {
        let secs = unix_secs(now);
        if secs != self.sec {
            self.sec = secs;
            self.date = HeaderValue::from_bytes(&http_date(secs)).expect("ascii");
        }
        let (method, pq, body) = match *call {
            OpCall::Put { path, body } => (
                Method::PUT,
                path.path.clone(),
                Body::new(body.bytes.clone()),
            ),
            OpCall::Get(p) => (Method::GET, p.path.clone(), Body::default()),
            OpCall::Head(p) => (Method::HEAD, p.path.clone(), Body::default()),
            OpCall::Delete(p) => (Method::DELETE, p.path.clone(), Body::default()),
            OpCall::List {
                prefix,
                max_keys,
                continuation,
            } => {
                let mut s = String::with_capacity(self.shared.container_path.len() + 80);
                s.push_str(&self.shared.container_path);
                s.push_str("?comp=list");
                if let Some(m) = continuation {
                    s.push_str("&marker=");
                    uri_encode(m, false, &mut s);
                }
                s.push_str("&maxresults=");
                s.push_str(&max_keys.to_string());
                s.push_str("&prefix=");
                uri_encode(prefix, false, &mut s);
                s.push_str("&restype=container");
                if let Auth::Sas(sas) = &self.shared.auth {
                    s.push('&');
                    s.push_str(sas.expose());
                }
                (Method::GET, Bytes::from(s), Body::default())
            }
        };
        let mut req = http::Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = http::Uri::from_maybe_shared(pq).expect("encoded path is a valid URI");
        let h = req.headers_mut();
        h.reserve(6);
        h.insert(header::HOST, self.shared.host.clone());
        h.insert(header::DATE, self.date.clone());
        h.insert(&X_MS_VERSION, HeaderValue::from_static(AZURE_VERSION));
        if let OpCall::Put { body, .. } = call {
            h.insert(&X_MS_BLOB_TYPE, HeaderValue::from_static("BlockBlob"));
            h.insert(header::CONTENT_LENGTH, body.content_length.clone());
        }
        if let Some(auth) = self.authorization(&req) {
            req.headers_mut().insert(header::AUTHORIZATION, auth);
        }
        req
    }

    fn stamp(&self, now: SystemTime) -> Stamp {
        // Every request carries `Date` (with a SAS too, as azure-storage-blob sends it).
        Stamp {
            secs: unix_secs(now),
            generation: 0,
        }
    }

    fn endpoint(&self) -> &Arc<Endpoint> {
        &self.shared.endpoint
    }

    fn parse_list(&self, body: &[u8]) -> Result<ListPage, String> {
        #[derive(Deserialize)]
        struct EnumerationResults {
            #[serde(rename = "Blobs", default)]
            blobs: Blobs,
            #[serde(rename = "NextMarker")]
            next_marker: Option<String>,
        }
        #[derive(Deserialize, Default)]
        struct Blobs {
            #[serde(rename = "Blob", default)]
            blob: Vec<Blob>,
        }
        #[derive(Deserialize)]
        struct Blob {
            #[serde(rename = "Name")]
            name: String,
            #[serde(rename = "Properties")]
            properties: Properties,
        }
        #[derive(Deserialize)]
        struct Properties {
            #[serde(rename = "Content-Length")]
            content_length: u64,
        }
        let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
        let text = text.trim_start_matches('\u{feff}');
        let r: EnumerationResults = quick_xml::de::from_str(text).map_err(|e| e.to_string())?;
        Ok(ListPage {
            objects: r
                .blobs
                .blob
                .into_iter()
                .map(|b| (b.name, b.properties.content_length))
                .collect(),
            continuation: r.next_marker.filter(|m| !m.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::request::Payload;

    fn azurite() -> AzureRequests {
        AzureRequests::new(config()).unwrap()
    }

    fn config() -> AzureConfig {
        AzureConfig {
            endpoint: Arc::new(Endpoint::parse("http://127.0.0.1:10000/devstoreaccount1").unwrap()),
            account: "devstoreaccount1".into(),
            container: "ctr".into(),
            access_key: Secret::new(
                "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
            ),
        }
    }

    #[test]
    fn string_to_sign_of_a_put() {
        let mut r = azurite();
        let p = r.object_path("a b/ü");
        let body = Payload::generate(10, 1);
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let req = r.build(
            &OpCall::Put {
                path: &p,
                body: &body,
            },
            t,
        );
        assert_eq!(
            r.string_to_sign(&req),
            "PUT\n\n\n10\n\n\nTue, 14 Nov 2023 22:13:20 GMT\n\n\n\n\n\n\
             x-ms-blob-type:BlockBlob\nx-ms-version:2023-11-03\n\
             /devstoreaccount1/devstoreaccount1/ctr/a%20b/%C3%BC"
        );
    }

    #[test]
    fn list_resource_has_sorted_decoded_parameters() {
        let mut r = azurite();
        let call = OpCall::List {
            prefix: "run 1/",
            max_keys: 5,
            continuation: None,
        };
        let req = r.build(&call, SystemTime::now());
        let s = r.string_to_sign(&req);
        assert!(
            s.ends_with(
                "/devstoreaccount1/devstoreaccount1/ctr\ncomp:list\nmaxresults:5\nprefix:run 1/\nrestype:container"
            ),
            "{s}"
        );
    }

    #[test]
    fn rejects_a_key_that_is_not_base64() {
        let mut c = config();
        c.access_key = Secret::new("not base64!");
        assert!(AzureRequests::new(c).is_err());
    }

    #[test]
    fn a_sas_token_is_appended_and_nothing_is_signed() {
        let c = config();
        let mut r = AzureRequests::with_sas(
            c.endpoint,
            c.account,
            &c.container,
            Secret::new("sv=2022-11-02&sr=c&sp=rl&sig=a%2Bb"),
        );
        let p = r.object_path("a b");
        let now = SystemTime::now();
        let get = r.build(&OpCall::Get(&p), now);
        assert_eq!(
            get.uri(),
            "/devstoreaccount1/ctr/a%20b?sv=2022-11-02&sr=c&sp=rl&sig=a%2Bb"
        );
        assert!(!get.headers().contains_key("authorization"));
        let list = r.build(
            &OpCall::List {
                prefix: "p/",
                max_keys: 5,
                continuation: None,
            },
            now,
        );
        assert_eq!(
            list.uri(),
            "/devstoreaccount1/ctr?comp=list&maxresults=5&prefix=p%2F&restype=container\
             &sv=2022-11-02&sr=c&sp=rl&sig=a%2Bb"
        );
        assert!(!list.headers().contains_key("authorization"));
        assert_eq!(p.key.as_ref(), "a b");
    }

    #[test]
    fn parses_a_listing() {
        let xml = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults \
            ServiceEndpoint=\"http://x/\" ContainerName=\"ctr\"><Prefix>p/</Prefix><Blobs>\
            <Blob><Name>p/a</Name><Properties><Content-Length>7</Content-Length></Properties></Blob>\
            </Blobs><NextMarker /></EnumerationResults>";
        let page = azurite().parse_list(xml.as_bytes()).unwrap();
        assert_eq!(page.objects, vec![("p/a".into(), 7)]);
        assert_eq!(page.continuation, None);
    }
}
