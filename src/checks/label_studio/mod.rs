//! End to end through a running Label Studio (`--label-studio URL --token TOKEN`):
//! `label_studio.upload` creates a temporary project, imports a small PNG the way the browser
//! does, finds the object Label Studio wrote and compares its bytes; `label_studio.serve`
//! fetches the task's media URL the way the browser does and compares again. The project is
//! deleted at the end of the run, and the object with it: Label Studio leaves uploads behind
//! when a project is deleted, and this run created it, so it goes into the run's ledger as
//! soon as its key is known.
pub mod api;
pub mod media;

use bytes::Bytes;

use self::api::{Reply, Session};
use self::media::{MediaLocation, Served};
use super::context::{Context, State, compare_evidence, first_difference, skipped};
use super::{CheckResult, Status};
use crate::provider::{Failure, Op, classify};

pub use api::Deployment;

/// The ids, in the order they run.
pub const IDS: [&str; 2] = ["label_studio.upload", "label_studio.serve"];

/// What `label_studio.upload` left for `label_studio.serve`.
#[derive(Clone, Debug)]
pub struct Uploaded {
    /// The temporary project.
    pub project: u64,
    /// The task's media URL as Label Studio gave it.
    pub media_url: String,
    /// The bytes uploaded.
    pub body: Bytes,
}

/// A labeling config with one image, as the simplest image project has.
const LABEL_CONFIG: &str = r#"<View><Image name="image" value="$image"/><Choices name="probe" toName="image"><Choice value="ok"/></Choices></View>"#;

/// Appends the end-to-end checks to `suite` unless it names them already (what
/// `--label-studio` does).
pub fn add_to(suite: &mut super::suite::Suite) {
    for id in IDS {
        if !suite.checks.iter().any(|c| c.id == id) {
            suite.checks.push(super::suite::SuiteCheck {
                id: id.to_string(),
                params: super::suite::CheckParams::default(),
            });
        }
    }
}

fn not_configured(id: &str) -> CheckResult {
    skipped(
        id,
        "no Label Studio given: pass --label-studio URL and --token TOKEN (or set \
         LABEL_STUDIO_TOKEN) to check uploads and media end to end through it",
    )
}

/// What a failed call to Label Studio most likely means.
fn api_failure(id: &str, session: &Session, what: &str, reply: &Reply) -> CheckResult {
    let base = session.deployment.display_url();
    let status = reply.status.as_u16();
    let body = String::from_utf8_lossy(&reply.body);
    let (status_kind, message, remediation) = if status == 401 {
        (
            Status::Fail,
            format!("{what}: Label Studio at {base} answered 401: the token was refused"),
            "Copy the token from Label Studio (Account & Settings > Access Token) into \
             --token or LABEL_STUDIO_TOKEN. A legacy token needs legacy tokens enabled for the \
             organization (Organization > API Tokens Settings); a personal access token is \
             exchanged at /api/token/refresh."
                .to_string(),
        )
    } else if let Some(error) = media::storage_error(&body) {
        (
            Status::Fail,
            format!("{what}: Label Studio answered {status} with a storage error: {error}"),
            "Label Studio could not use the bucket: fix the storage settings or permissions \
             named in the error (the other checks of this run say which), then restart Label \
             Studio so it reads them."
                .to_string(),
        )
    } else if status == 403 {
        (
            Status::Fail,
            format!(
                "{what}: Label Studio at {base} answered 403: {}",
                reply.excerpt(200)
            ),
            "The token's user may not do this: use a token of a user who can create projects \
             (an owner or administrator of the organization)."
                .to_string(),
        )
    } else if status == 404 {
        (
            Status::Error,
            format!("{what}: {base} answered 404: is this the address of Label Studio?"),
            "Give --label-studio the address the browser opens Label Studio at, including any \
             sub-path."
                .to_string(),
        )
    } else {
        (
            Status::Error,
            format!(
                "{what}: Label Studio answered {status}: {}",
                reply.excerpt(300)
            ),
            "See Label Studio's log for the request at this time.".to_string(),
        )
    };
    CheckResult::new(id, status_kind, message)
        .with_remediation(remediation)
        .with_evidence("status", status)
        .with_evidence("label_studio", base)
}

fn unreachable(id: &str, session: &Session, reason: &str) -> CheckResult {
    CheckResult::new(
        id,
        Status::Error,
        format!(
            "cannot reach Label Studio at {}: {reason}",
            session.deployment.display_url()
        ),
    )
    .with_remediation(
        "Check --label-studio: the address must be reachable from where lsprobe runs.",
    )
    .with_evidence("label_studio", session.deployment.display_url())
}

/// `label_studio.upload`.
pub async fn upload(ctx: &Context, state: &mut State) -> CheckResult {
    let id = IDS[0];
    let Some(session) = &ctx.label_studio else {
        return not_configured(id);
    };
    let base = session.deployment.display_url();
    match session.authenticate().await {
        Ok(r) if r.status.is_success() => {}
        Ok(r) => return api_failure(id, session, "checking the token", &r),
        Err(e) => return unreachable(id, session, &e),
    }
    let run_id = ctx.store.run.run_id.clone();
    let title = format!("lsprobe {run_id}");
    let project = match session.create_project(&title, LABEL_CONFIG).await {
        Ok(r) if r.status.is_success() => match r.json().and_then(|j| j["id"].as_u64()) {
            Some(p) => p,
            None => {
                return CheckResult::new(
                    id,
                    Status::Error,
                    format!("creating a project: no project id in {}", r.excerpt(200)),
                );
            }
        },
        Ok(r) => return api_failure(id, session, "creating a project", &r),
        Err(e) => return unreachable(id, session, &e),
    };
    let name = format!("lsprobe-{run_id}.png");
    let body = Bytes::from(media::png(&run_id));
    let import = match session
        .import_file(project, &name, "image/png", body.clone())
        .await
    {
        Ok(r) => r,
        Err(e) => return unreachable(id, session, &e),
    };
    if !import.status.is_success() {
        return api_failure(id, session, "importing a PNG", &import)
            .with_evidence("project", project);
    }
    let tasks = match session.get(&format!("api/tasks?project={project}")).await {
        Ok(r) if r.status.is_success() => r,
        Ok(r) => return api_failure(id, session, "listing the project's tasks", &r),
        Err(e) => return unreachable(id, session, &e),
    };
    let media_url = tasks
        .json()
        .and_then(|j| j["tasks"][0]["data"]["image"].as_str().map(str::to_string));
    let Some(media_url) = media_url else {
        return CheckResult::new(
            id,
            Status::Error,
            format!(
                "the import answered {} but the project has no task with an image: {}",
                import.status.as_u16(),
                tasks.excerpt(200)
            ),
        )
        .with_evidence("project", project);
    };
    let filepath = match media::locate(&media_url) {
        MediaLocation::Bucket { filepath } => filepath,
        MediaLocation::LocalDisk => {
            return CheckResult::new(
                id,
                Status::Fail,
                format!(
                    "Label Studio at {base} stored the upload on its own disk ({media_url}), not \
                     in the bucket: persistent storage is not configured in that deployment"
                ),
            )
            .with_remediation(
                "Give Label Studio the storage variables (STORAGE_TYPE and STORAGE_AWS_* / \
                 STORAGE_GCS_* / STORAGE_AZURE_*, or the Helm chart's global.persistence) and \
                 restart it; without them uploads are lost when its container is replaced.",
            )
            .with_evidence("media_url", media_url)
            .with_evidence("project", project);
        }
        MediaLocation::Other => {
            return CheckResult::new(
                id,
                Status::Error,
                format!("the task's media URL is not one Label Studio 1.x makes: {media_url}"),
            )
            .with_evidence("media_url", media_url);
        }
    };
    // Label Studio wrote this object for this run: from here on cleanup deletes it.
    let key = format!("{}{filepath}", ctx.target.folder_prefix());
    ctx.store.ledger().record(&key);
    let evidence = |r: CheckResult| {
        r.with_evidence("project", project)
            .with_evidence("key", key.clone())
            .with_evidence("media_url", media_url.clone())
            .with_evidence("label_studio", base.clone())
    };
    let read = match ctx.store.send_owned(Op::Get { key: key.clone() }).await {
        Ok(read) => read,
        Err(refused) => return CheckResult::new(id, Status::Error, refused.to_string()),
    };
    state.label_studio = Some(Uploaded {
        project,
        media_url: media_url.clone(),
        body: body.clone(),
    });
    match classify(ctx.target.provider(), &read) {
        Ok(()) => {
            ctx.store.ledger().confirm(&key);
            let stored = &read.as_ref().expect("classified as success").body;
            match first_difference(&body, stored) {
                None => evidence(CheckResult::new(
                    id,
                    Status::Pass,
                    format!(
                        "Label Studio stored the upload in the bucket at {key}, bytes intact ({} bytes)",
                        body.len()
                    ),
                ))
                .with_evidence("compare", compare_evidence(body.len(), stored.len())),
                Some(at) => evidence(CheckResult::new(
                    id,
                    Status::Fail,
                    format!(
                        "Label Studio reported success but the bucket holds different bytes at {key} \
                         ({} bytes uploaded, {} stored, first difference at byte {at}): silent corruption",
                        body.len(),
                        stored.len()
                    ),
                ))
                .with_remediation(
                    "The storage server mishandles how Label Studio's boto3 uploads (an aws-chunked \
                     body with a trailing CRC32 over HTTPS): set AWS_REQUEST_CHECKSUM_CALCULATION=\
                     when_required in Label Studio's environment, or upgrade the S3-compatible server.",
                )
                .with_evidence("compare", compare_evidence(body.len(), stored.len())),
            }
        }
        Err(Failure::NotFound { .. }) => {
            ctx.store.ledger().forget(&key);
            evidence(CheckResult::new(
                id,
                Status::Fail,
                format!(
                    "Label Studio accepted the upload, but {key} is not in the bucket lsprobe \
                     checks: Label Studio writes to another bucket or folder than the \
                     configuration given to lsprobe"
                ),
            ))
            .with_remediation(
                "Give lsprobe the same env.list or values file as the Label Studio deployment \
                 (bucket and STORAGE_*_FOLDER must match).",
            )
        }
        Err(failure) => evidence(ctx.failed(
            id,
            super::remedy::Action::Get,
            &format!("GET {key} (the object Label Studio wrote)"),
            &failure,
        )),
    }
}

/// `label_studio.serve`.
pub async fn serve(ctx: &Context, state: &mut State) -> CheckResult {
    let id = IDS[1];
    let Some(session) = &ctx.label_studio else {
        return not_configured(id);
    };
    let Some(uploaded) = &state.label_studio else {
        return skipped(
            id,
            "not run: label_studio.upload did not leave a task to fetch (see its result)",
        );
    };
    let Some(path) = media::path_and_query(&uploaded.media_url) else {
        return CheckResult::new(
            id,
            Status::Error,
            format!("cannot read the media URL {}", uploaded.media_url),
        );
    };
    let reply = match session.get(&path).await {
        Ok(r) => r,
        Err(e) => return unreachable(id, session, &e),
    };
    let base = session.deployment.display_url();
    let status = reply.status.as_u16();
    let served_by = reply.header("server").unwrap_or("").to_string();
    let result = match media::judge(&reply, &uploaded.body) {
        Served::Intact => CheckResult::new(
            id,
            Status::Pass,
            format!(
                "the browser's fetch of the task's media returned the uploaded bytes ({} bytes)",
                uploaded.body.len()
            ),
        )
        .with_evidence(
            "compare",
            compare_evidence(uploaded.body.len(), reply.body.len()),
        ),
        Served::NoNginx {
            redirect,
            signature,
        } => CheckResult::new(
            id,
            Status::Fail,
            format!(
                "Label Studio answered {status} with an empty body and X-Accel-Redirect: {redirect}: \
                 no nginx in front of Label Studio follows it (USE_NGINX_FOR_UPLOADS is on, its \
                 default), so the browser shows no image"
            ),
        )
        .with_remediation(
            "Either put nginx in front of Label Studio with the internal /file_download/ location of \
             Label Studio's deploy/default.conf (the official Docker image runs it; see \
             docs/label-studio.md), or set USE_NGINX_FOR_UPLOADS=false in Label Studio's \
             environment so Django streams the files itself.",
        )
        .with_evidence("x_accel_redirect", redirect)
        .with_evidence("presigned_signature", signature),
        Served::TokenRejected => CheckResult::new(
            id,
            Status::Fail,
            format!("fetching the media: Label Studio at {base} answered 401: the token was refused"),
        )
        .with_remediation("Check --token / LABEL_STUDIO_TOKEN (it worked for the upload: was it revoked?)."),
        Served::Forbidden => CheckResult::new(
            id,
            Status::Fail,
            format!(
                "fetching the media: Label Studio answered 403 ({}): the token's user may not read the file it uploaded",
                reply.excerpt(200)
            ),
        ),
        Served::Storage { status, error } => CheckResult::new(
            id,
            Status::Fail,
            format!("fetching the media: answered {status} with a storage error: {error}"),
        )
        .with_remediation(
            "The bucket refused the read Label Studio set up. Behind nginx this is the presigned \
             URL nginx fetches: an S3-compatible server or region that accepts only SigV4 needs \
             STORAGE_AWS_S3_SIGNATURE_VERSION=s3v4; an expired URL needs a correct clock. Without \
             nginx, Label Studio's own credentials need read permission (s3:GetObject).",
        ),
        Served::Gateway { status } => CheckResult::new(
            id,
            Status::Fail,
            format!(
                "fetching the media: the proxy in front of Label Studio answered {status}: it could \
                 not fetch the presigned URL from the storage endpoint"
            ),
        )
        .with_remediation(
            "nginx fetches the presigned URL itself: the storage endpoint must be reachable from \
             nginx, and a host name needs a `resolver` directive (the location uses variables); \
             see nginx's error log.",
        ),
        Served::Different { got, at } => CheckResult::new(
            id,
            Status::Fail,
            format!(
                "fetching the media returned {got} bytes that differ from the {} uploaded (first \
                 difference at byte {at})",
                uploaded.body.len()
            ),
        )
        .with_remediation(
            "Something between the browser and the bucket changes the file (a proxy, compression, \
             or an upload stored with its chunk framing: see label_studio.upload and \
             upload.checksum_roundtrip).",
        )
        .with_evidence("compare", compare_evidence(uploaded.body.len(), got)),
        Served::Unexpected { status, body } => CheckResult::new(
            id,
            Status::Error,
            format!("fetching the media: answered {status}: {body}"),
        ),
    };
    let mut result = result
        .with_evidence("status", status)
        .with_evidence("media_url", uploaded.media_url.clone())
        .with_evidence("project", uploaded.project)
        .with_evidence("label_studio", base);
    if !served_by.is_empty() {
        result = result.with_evidence("server", served_by);
    }
    result
}

/// Deletes the project this run created (if any). Returns what is left to report: the project
/// itself when it could not be deleted. Objects are the ledger's business.
pub async fn finish(ctx: &Context) -> Vec<String> {
    let Some(session) = &ctx.label_studio else {
        return Vec::new();
    };
    match session.delete_project().await {
        Ok(None) => Vec::new(),
        Ok(Some((_, r))) if r.status.is_success() || r.status.as_u16() == 404 => Vec::new(),
        Ok(Some((project, r))) => vec![format!(
            "label-studio project {project} at {} (DELETE answered {}): delete it in Label Studio",
            session.deployment.display_url(),
            r.status.as_u16()
        )],
        Err(e) => {
            let project = session.project().unwrap_or_default();
            vec![format!(
                "label-studio project {project} at {} ({e}): delete it in Label Studio",
                session.deployment.display_url()
            )]
        }
    }
}
