//! A bucket in another region than `STORAGE_AWS_REGION_NAME`: botocore follows S3's
//! wrong-region answers for API calls (its `S3RegionRedirectorv2`), so Label Studio's uploads,
//! reads and listings still work, one extra round trip each, while the presigned media URLs it
//! signs for the configured region fail. lsprobe follows them the same way (see
//! [`crate::provider::s3::S3::follow_region_redirect`]); a permission check that passed that
//! way passes with this warning, and `presign.get` fails on its own answer.
use super::context::Context;
use super::{CheckResult, Status};
use crate::provider::Cloud;

/// `result`, turned into a warning naming the bucket's region when it is a passing
/// `permissions.*` check and S3 answered that the bucket is elsewhere.
pub fn note_redirect(ctx: &Context, mut result: CheckResult) -> CheckResult {
    let Cloud::S3(s3) = ctx.store.storage().cloud() else {
        return result;
    };
    let Some(region) = s3.learnt_region() else {
        return result;
    };
    if result.status != Status::Pass || !result.id.starts_with("permissions.") {
        return result;
    }
    let configured = match &ctx.target.region {
        Some(r) => format!("{} ({})", r.value, r.source),
        None => "unset, so us-east-1".to_string(),
    };
    result.status = Status::Warn;
    result.message = format!(
        "{}, but only after S3 answered that the bucket is in region {region}: Label Studio's \
         SDK (botocore) follows that answer the same way for API calls, while the presigned \
         media URLs it signs for {} fail (see presign.get)",
        result.message,
        s3.configured_region()
    );
    result.remediation = format!(
        "Set STORAGE_AWS_REGION_NAME={region}: it is {configured}, and the bucket `{}` is in \
         {region}.",
        ctx.target.bucket.value
    );
    result
        .with_evidence("bucket_region", region)
        .with_evidence("configured_region", s3.configured_region())
}
