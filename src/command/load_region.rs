//! The bucket's region, as Label Studio's SDK finds it before `lsprobe load` signs anything.
//!
//! botocore follows an S3 answer saying the bucket is in another region (and naming it) for
//! every API call Label Studio makes, and caches that region: uploads and reads work, while the
//! presigned media URLs it signs for the configured region fail. The load path signs every
//! request itself, so it asks first, through the adapter that follows the answer as botocore
//! does (one LIST of at most one key under the folder: nothing is read or written), and signs
//! for the region the answer named. Without this, each request of the run would fail where
//! Label Studio's succeed.
use crate::config::Target;
use crate::provider::{Cloud, Op, Storage};

/// The region to sign the run's S3 requests for, and a note when S3 named another one than the
/// configuration's. A probe that fails leaves the configured region (the run then says why).
pub async fn bucket_region(
    target: &Target,
    storage: &Storage,
    configured: &str,
) -> (String, Option<String>) {
    let Cloud::S3(s3) = storage.cloud() else {
        return (configured.to_string(), None);
    };
    let probe = Op::List {
        prefix: target.folder_prefix(),
        limit: 1,
        page: None,
    };
    let _ = storage.send(&probe).await;
    let Some(region) = s3.learnt_region().filter(|r| r != configured) else {
        return (configured.to_string(), None);
    };
    let setting = match &target.region {
        Some(r) => format!("the configured region is {}, from {}", r.value, r.source),
        None => "STORAGE_AWS_REGION_NAME is unset, so us-east-1".to_string(),
    };
    let note = format!(
        "S3 answered that the bucket `{}` is in region {region} ({setting}): Label Studio's SDK \
         follows that answer for uploads and reads, but the presigned media URLs it signs fail; \
         this run signs for {region}. Set STORAGE_AWS_REGION_NAME={region}.",
        target.bucket.value
    );
    (region, Some(note))
}
