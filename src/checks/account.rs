//! `azure.account_kind`: Get Account Information (`?restype=account&comp=properties`) gives the
//! SKU and kind; the guide asks for Premium_LRS / BlockBlobStorage (SSD), warning that HDD-backed
//! accounts "might be too slow and could malfunction".
use super::context::{Context, State, skipped};
use super::remedy::Action;
use super::{CheckResult, Status};
use crate::provider::Cloud;
use crate::provider::azure::{AccountInfo, account_info};

/// `azure.account_kind`.
pub async fn account_kind(ctx: &Context, state: &mut State) -> CheckResult {
    let id = "azure.account_kind";
    let Cloud::Azure(azure) = ctx.store.storage().cloud() else {
        return skipped(id, "applies to Azure only");
    };
    let request_line = format!(
        "GET {}/?restype=account&comp=properties",
        azure.account_url()
    );
    let request = match azure.account_info_request() {
        Ok(r) => r,
        Err(e) => return CheckResult::new(id, Status::Error, e.to_string()),
    };
    let sent = ctx.store.storage().execute(request).await;
    let answer = match ctx.expect_success(id, Action::List, &request_line, &sent, state) {
        Ok(a) => a,
        Err(r) => {
            return r.with_remediation(
                "Get Account Information needs the account key (or an account SAS with \
                 ss=b&srt=s): Label Studio itself signs with STORAGE_AZURE_ACCOUNT_KEY. Look up the \
                 account's SKU and kind in Storage account > Overview instead.",
            );
        }
    };
    let AccountInfo { sku, kind } = account_info(answer);
    let result = |status, message: String| {
        CheckResult::new(id, status, message)
            .with_evidence("request", request_line.as_str())
            .with_evidence("sku_name", sku.as_str())
            .with_evidence("account_kind", kind.as_str())
    };
    if sku.starts_with("Premium") && kind == "BlockBlobStorage" {
        return result(
            Status::Pass,
            format!("the account is {sku} / {kind} (SSD), as the guide asks"),
        );
    }
    result(
        Status::Warn,
        format!(
            "the account is {} / {}, not Premium_LRS / BlockBlobStorage: it is HDD-backed, and \
             the guide warns that Label Studio on it \"might be too slow and could malfunction\"",
            if sku.is_empty() { "(no SKU)" } else { &sku },
            if kind.is_empty() { "(no kind)" } else { &kind }
        ),
    )
    .with_remediation(
        "Create a storage account with SKU Premium_LRS and kind BlockBlobStorage (`az storage \
         account create --sku Premium_LRS --kind BlockBlobStorage ...`), copy the data over \
         (azcopy), and point STORAGE_AZURE_ACCOUNT_NAME and STORAGE_AZURE_ACCOUNT_KEY at it; \
         lsprobe's load test (`lsprobe load`) measures whether the current account is fast enough.",
    )
}
