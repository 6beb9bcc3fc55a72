//! The Azure storage account's SKU and kind, for the verdict (an HDD-backed Standard account
//! cannot be SSD-class whatever the latency).
//!
//! NOTE (unify): the check `azure.account_kind` (src/checks/account.rs) sends the same request
//! (Get Account Information) through the object_store-signed adapter and reads the same two
//! headers. `lsprobe load` signs with the lean SharedKey signer and needs only the SKU, so it
//! keeps to this one function; to have one copy, the check can parse its answer with
//! [`AccountInfo`] or `load` can call the check's request and read `x-ms-sku-name`.
use std::time::{Duration, SystemTime};

use http::Method;

use super::connection::{Connection, Keep};
use super::request::{Body, OpRequest};
use super::sharedkey::AzureRequests;

/// What Get Account Information answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInfo {
    /// `x-ms-sku-name`, e.g. `Standard_LRS`, `Premium_LRS`.
    pub sku: String,
    /// `x-ms-account-kind`, e.g. `StorageV2`, `BlockBlobStorage`.
    pub kind: Option<String>,
}

/// Get Account Information (`GET <account>/?restype=account&comp=properties`), SharedKey-signed
/// with the lean signer. An error says why (a SAS without account scope, a network error).
pub async fn account_info(
    requests: &AzureRequests,
    timeout: Duration,
) -> Result<AccountInfo, String> {
    let base = requests.endpoint().base_path();
    // Query parameters sorted by name: the signer's canonical resource takes them in order.
    let pq = format!("{base}/?comp=properties&restype=account");
    let mut req = http::Request::builder()
        .method(Method::GET)
        .uri(pq)
        .body(Body::default())
        .map_err(|e| e.to_string())?;
    requests.sign(&mut req, SystemTime::now());
    let mut conn = Connection::new(requests.endpoint().clone());
    let deadline = tokio::time::Instant::now() + timeout;
    let x = conn
        .exchange(req, Keep::All, Some(deadline))
        .await
        .map_err(|e| e.to_string())?;
    if !x.status.is_success() {
        return Err(format!(
            "Get Account Information answered {}: {}",
            x.status,
            String::from_utf8_lossy(&x.body)
                .chars()
                .take(300)
                .collect::<String>()
        ));
    }
    let header = |name: &str| {
        x.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Ok(AccountInfo {
        sku: header("x-ms-sku-name").ok_or("no x-ms-sku-name in the answer")?,
        kind: header("x-ms-account-kind"),
    })
}
