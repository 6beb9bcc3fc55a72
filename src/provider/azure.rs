//! Azure Blob Storage: SharedKey (account key) or SAS by object_store's `AzureAuthorizer`;
//! the endpoint is `https://<account>.blob.core.windows.net` unless overridden (sovereign
//! clouds, Azurite).
use bytes::Bytes;
use http::Method;
use object_store::azure::{AzureAccessKey, AzureAuthorizer, AzureCredential, split_sas};
use object_store::client::HttpRequest;
use serde::Deserialize;

use super::{Op, Unreachable, build, keys};
use crate::config::{AzureCredentials, AzureSettings, ConfigError, Target};

/// The Azure adapter.
#[derive(Debug)]
pub struct Azure {
    /// `https://<account>.blob.core.windows.net` or the override.
    account_url: String,
    account: String,
    container: String,
    credential: AzureCredential,
}

impl Azure {
    /// Builds the adapter from the target; sends nothing.
    pub fn new(target: &Target, settings: &AzureSettings) -> Result<Self, ConfigError> {
        let account = settings.account_name.value.clone();
        let credential = match &settings.credentials {
            AzureCredentials::AccountKey(key) => AzureCredential::AccessKey(
                AzureAccessKey::try_new(key.value.expose()).map_err(|_| {
                    ConfigError(format!(
                        "STORAGE_AZURE_ACCOUNT_KEY ({}) is not a valid account key; copy key1 \
                         or key2 from Storage account > Access keys",
                        key.source
                    ))
                })?,
            ),
            AzureCredentials::Sas(sas) => {
                AzureCredential::SASToken(split_sas(sas.value.expose()).map_err(|_| {
                    ConfigError(format!(
                        "LSPROBE_AZURE_SAS_TOKEN ({}) is not a SAS query string (sv=...&sig=...)",
                        sas.source
                    ))
                })?)
            }
        };
        let account_url = match &target.endpoint {
            Some(e) => e.value.as_str().trim_end_matches('/').to_string(),
            None => format!("https://{account}.blob.core.windows.net"),
        };
        Ok(Azure {
            account_url,
            account,
            container: target.bucket.value.clone(),
            credential,
        })
    }

    /// The unsigned URL of a blob.
    pub fn object_url(&self, key: &str) -> String {
        format!(
            "{}/{}/{}",
            self.account_url,
            self.container,
            keys::path(key)
        )
    }

    /// The account URL.
    pub fn account_url(&self) -> &str {
        &self.account_url
    }

    /// Whose credentials these are: the account, and the kind of credential.
    pub fn identity(&self) -> super::CredentialIdentity {
        let source = match &self.credential {
            AzureCredential::SASToken(_) => "SAS token",
            _ => "account key",
        };
        super::CredentialIdentity {
            source: source.into(),
            identity: format!("storage account {}", self.account),
        }
    }

    /// The account name.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The credential.
    pub fn credential(&self) -> &AzureCredential {
        &self.credential
    }

    /// Builds and signs the request for an operation.
    pub async fn request(&self, op: &Op) -> Result<HttpRequest, Unreachable> {
        let mut request = match op {
            Op::Put {
                key,
                body,
                content_type,
            } => build(
                Method::PUT,
                &self.object_url(key),
                &[
                    ("x-ms-blob-type", "BlockBlob".to_string()),
                    ("content-type", content_type.clone()),
                    ("content-length", body.len().to_string()),
                ],
                body.clone(),
            ),
            Op::Get { key } => build(Method::GET, &self.object_url(key), &[], Bytes::new()),
            Op::Head { key } => build(Method::HEAD, &self.object_url(key), &[], Bytes::new()),
            Op::Delete { key } => build(Method::DELETE, &self.object_url(key), &[], Bytes::new()),
            Op::List {
                prefix,
                limit,
                page,
            } => {
                let mut url = format!(
                    "{}/{}?restype=container&comp=list&prefix={}&maxresults={limit}",
                    self.account_url,
                    self.container,
                    keys::component(prefix)
                );
                if let Some(marker) = page {
                    url.push_str(&format!("&marker={}", keys::component(marker)));
                }
                build(Method::GET, &url, &[], Bytes::new())
            }
        };
        self.sign(&mut request)?;
        Ok(request)
    }

    /// Get Account Information (`GET <account>/?restype=account&comp=properties`), signed:
    /// its answer carries the SKU and kind ([`account_info`]).
    pub fn account_info_request(&self) -> Result<HttpRequest, Unreachable> {
        let url = format!("{}/?restype=account&comp=properties", self.account_url);
        let mut request = build(Method::GET, &url, &[], Bytes::new());
        self.sign(&mut request)?;
        Ok(request)
    }

    /// Signs any request with the account key (SharedKey) or appends the SAS token.
    pub fn sign(&self, request: &mut HttpRequest) -> Result<(), Unreachable> {
        AzureAuthorizer::new(&self.credential, &self.account)
            .try_authorize(request)
            .map_err(|e| Unreachable(format!("could not sign the request: {e}")))
    }
}

/// The storage account's SKU and kind, from a Get Account Information answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInfo {
    /// `x-ms-sku-name`, e.g. `Standard_LRS`, `Premium_LRS` ("" when absent).
    pub sku: String,
    /// `x-ms-account-kind`, e.g. `StorageV2`, `BlockBlobStorage` ("" when absent).
    pub kind: String,
}

/// Reads the SKU and kind headers of a Get Account Information answer.
pub fn account_info(answer: &super::Answer) -> AccountInfo {
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    AccountInfo {
        sku: header("x-ms-sku-name"),
        kind: header("x-ms-account-kind"),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnumerationResults {
    #[serde(default)]
    blobs: Blobs,
    next_marker: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Blobs {
    #[serde(default)]
    blob: Vec<Blob>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Blob {
    name: String,
    properties: Properties,
}

#[derive(Deserialize)]
struct Properties {
    #[serde(rename = "Content-Length", default)]
    content_length: u64,
    #[serde(rename = "Etag", default)]
    etag: String,
}

/// Parses a List Blobs answer.
pub fn parse_listing(body: &[u8]) -> Result<super::Listing, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("listing is not UTF-8: {e}"))?;
    let text = text.trim_start_matches('\u{feff}');
    let result: EnumerationResults =
        quick_xml::de::from_str(text).map_err(|e| format!("cannot read the Azure listing: {e}"))?;
    Ok(super::Listing {
        objects: result
            .blobs
            .blob
            .into_iter()
            .map(|b| super::Listed {
                key: b.name,
                size: b.properties.content_length,
                version: b.properties.etag,
            })
            .collect(),
        next_page: result.next_marker.filter(|m| !m.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_listing() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://127.0.0.1/devstoreaccount1" ContainerName="c"><Prefix>m/</Prefix><MaxResults>5</MaxResults><Blobs><Blob><Name>m/a b</Name><Properties><Content-Length>3</Content-Length><Etag>0x1</Etag></Properties></Blob></Blobs><NextMarker/></EnumerationResults>"#;
        let l = parse_listing(&Bytes::from(xml)).unwrap();
        assert_eq!(l.objects.len(), 1);
        assert_eq!(l.objects[0].key, "m/a b");
        assert_eq!(l.objects[0].size, 3);
        assert_eq!(l.next_page, None);
        let empty = r#"<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>"#;
        assert!(
            parse_listing(&Bytes::from(empty))
                .unwrap()
                .objects
                .is_empty()
        );
    }
}
