//! The differential matrix's support: one real Label Studio 1.23.2 (with nginx in front, as
//! its Docker image runs) per row of storage settings, all on one migrated SQLite database, and
//! what a user does with it: create a project, import an image, open its media.
//!
//! Label Studio takes no Azure endpoint from its environment; Azure rows run it with a settings
//! module (`DJANGO_SETTINGS_MODULE`) that builds a connection string to Azurite from the
//! row's own `STORAGE_AZURE_*` values, so those values still decide what happens.
use std::path::{Path, PathBuf};

use bytes::Bytes;
use lsprobe::checks::label_studio::api::{Deployment, Session};
use lsprobe::checks::label_studio::media::{self, MediaLocation};
use lsprobe::config::Secret;
use lsprobe::emulators::label_studio::{LabelStudioOptions, LocalLabelStudio, LocalNginx};

/// The settings module of the Azure rows. `base` comes first: Label Studio's own settings
/// module reads `django.conf.settings` while it is imported (Sentry's set-up), which then sees
/// this module half-built; with base's names already in it, that read succeeds.
const AZURITE_SETTINGS: &str = r#"# Label Studio's settings with the Azure client pointed at Azurite (written by lsprobe's tests)
import os
import sys

import label_studio

sys.path.insert(0, os.path.dirname(label_studio.__file__))
from core.settings.base import *  # noqa: E402,F401,F403
from core.settings.label_studio import *  # noqa: E402,F401,F403

AZURE_CONNECTION_STRING = (
    'DefaultEndpointsProtocol=http;'
    f'AccountName={AZURE_ACCOUNT_NAME};AccountKey={AZURE_ACCOUNT_KEY};'
    f'BlobEndpoint={os.environ["LSPROBE_TEST_AZURITE_BLOB_ENDPOINT"]};'
)
"#;

/// The variables that make Label Studio use Azurite (`blob_endpoint`:
/// `http://127.0.0.1:PORT/devstoreaccount1`); the module is written into `dir`.
pub fn azurite_env(dir: &Path, blob_endpoint: &str) -> Vec<(String, String)> {
    std::fs::create_dir_all(dir).expect("settings dir");
    std::fs::write(dir.join("lsprobe_azurite_settings.py"), AZURITE_SETTINGS)
        .expect("write the settings module");
    vec![
        (
            "DJANGO_SETTINGS_MODULE".into(),
            "lsprobe_azurite_settings".into(),
        ),
        ("PYTHONPATH".into(), dir.to_string_lossy().into_owned()),
        (
            "LSPROBE_TEST_AZURITE_BLOB_ENDPOINT".into(),
            blob_endpoint.into(),
        ),
    ]
}

/// One running deployment: Label Studio and nginx in front of it.
pub struct Deployed {
    /// nginx's address: what the browser opens.
    pub url: String,
    /// Label Studio's log.
    pub log: PathBuf,
    _label_studio: LocalLabelStudio,
    _nginx: LocalNginx,
}

/// Starts Label Studio with `env` (and nginx in front); `Err` carries why it did not start,
/// with the last line of its log (a Python exception when a setting stops it).
pub async fn deploy(
    cache: &Path,
    base: &LabelStudioOptions,
    env: Vec<(String, String)>,
    work: &Path,
) -> Result<Deployed, String> {
    let options = LabelStudioOptions {
        storage_env: env,
        log: work.join("label-studio.log"),
        ..base.clone()
    };
    let ls = match LocalLabelStudio::start(cache, &options).await {
        Ok(ls) => ls,
        Err(e) => return Err(startup_error(&options.log).unwrap_or_else(|| e.to_string())),
    };
    let nginx = LocalNginx::start(&work.join("nginx"), ls.port)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Deployed {
        url: nginx.url.clone(),
        log: options.log,
        _label_studio: ls,
        _nginx: nginx,
    })
}

/// The exception that ended Label Studio's start, from its log.
fn startup_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .find(|l| l.contains("Error:") || l.contains("Error(") || l.contains("Exception:"))
        .map(|l| l.trim().chars().take(200).collect())
}

/// What Label Studio did when a user imported an image and opened it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Label Studio did not start with these settings.
    NoStart(String),
    /// The import was refused (status, what Label Studio said).
    UploadFailed(u16, String),
    /// The import succeeded, but the file went to Label Studio's own disk, not the bucket.
    LocalDisk,
    /// The import succeeded and the file is in the bucket under `upload/...` (`filepath`);
    /// `media` says whether the browser got the same bytes back.
    Uploaded {
        /// `upload/<project>/<uuid8>-<name>`: the key below the folder.
        filepath: String,
        /// The media request gave back the image.
        media_ok: bool,
        /// What the media request answered, when it did not.
        media_error: Option<String>,
    },
}

impl Outcome {
    /// The file reached the bucket.
    pub fn upload_ok(&self) -> bool {
        matches!(self, Outcome::Uploaded { .. })
    }

    /// The browser got the file back (`None` when nothing was uploaded).
    pub fn media_ok(&self) -> Option<bool> {
        match self {
            Outcome::Uploaded { media_ok, .. } => Some(*media_ok),
            _ => None,
        }
    }

    /// One short cell of the table.
    pub fn cell(&self) -> String {
        match self {
            Outcome::NoStart(why) => format!("does not start ({})", short(why, 60)),
            Outcome::UploadFailed(status, why) => {
                format!("upload {status} ({})", short(why, 60))
            }
            Outcome::LocalDisk => "upload to local disk, not the bucket".into(),
            Outcome::Uploaded { media_ok: true, .. } => "upload ok, media ok".into(),
            Outcome::Uploaded { media_error, .. } => format!(
                "upload ok, media broken ({})",
                short(media_error.as_deref().unwrap_or(""), 50)
            ),
        }
    }
}

fn short(s: &str, n: usize) -> String {
    media::storage_error(s).unwrap_or_else(|| lsprobe::checks::label_studio::api::excerpt(s, n))
}

const LABEL_CONFIG: &str = r#"<View><Image name="image" value="$image"/></View>"#;

/// What a user does: creates a project, imports `png`, opens the task's image through the
/// deployment's address (nginx). The project is deleted afterwards.
pub async fn use_it(url: &str, token: &str, png: &[u8]) -> Outcome {
    let deployment = Deployment::from_flags(url, Some(&Secret::new(token))).expect("a URL");
    let session = Session::new(deployment).expect("a client");
    let outcome = user_path(&session, png).await;
    let _ = session.delete_project().await;
    outcome
}

async fn user_path(session: &Session, png: &[u8]) -> Outcome {
    let who = session.authenticate().await.expect("Label Studio answers");
    assert!(
        who.status.is_success(),
        "token refused: {}",
        who.excerpt(200)
    );
    let created = session
        .create_project("lsprobe matrix", LABEL_CONFIG)
        .await
        .expect("Label Studio answers");
    let project = created
        .json()
        .and_then(|j| j["id"].as_u64())
        .unwrap_or_else(|| panic!("no project: {}", created.excerpt(300)));
    let import = session
        .import_file(
            project,
            "matrix.png",
            "image/png",
            Bytes::copy_from_slice(png),
        )
        .await
        .expect("Label Studio answers");
    if !import.status.is_success() {
        // Label Studio's error body is JSON with the exception in `detail`.
        let detail = import
            .json()
            .and_then(|j| j["detail"].as_str().map(str::to_string))
            .unwrap_or_else(|| import.excerpt(300));
        return Outcome::UploadFailed(import.status.as_u16(), detail);
    }
    let tasks = session
        .get(&format!("api/tasks?project={project}"))
        .await
        .expect("Label Studio answers");
    let media_url = tasks
        .json()
        .and_then(|j| j["tasks"][0]["data"]["image"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no task with an image: {}", tasks.excerpt(300)));
    let filepath = match media::locate(&media_url) {
        MediaLocation::Bucket { filepath } => filepath,
        MediaLocation::LocalDisk => return Outcome::LocalDisk,
        MediaLocation::Other => panic!("unexpected media URL {media_url}"),
    };
    let path = media::path_and_query(&media_url).expect("a media path");
    let served = session.get(&path).await;
    let (media_ok, media_error) = match served {
        Ok(r) if r.status.is_success() && r.body.as_ref() == png => (true, None),
        Ok(r) => (
            false,
            Some(format!(
                "{} {}",
                r.status.as_u16(),
                if r.body.is_empty() {
                    "(empty)".to_string()
                } else {
                    r.excerpt(120)
                }
            )),
        ),
        Err(e) => (false, Some(e)),
    };
    Outcome::Uploaded {
        filepath,
        media_ok,
        media_error,
    }
}

/// `KEY="VALUE"` lines, so that spaces at either end of a value survive (lsprobe, like
/// Compose, drops them from unquoted values).
pub fn render_quoted(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\"\n"))
        .collect()
}

/// What `lsprobe` answered for one row.
pub struct Verdict {
    /// Exit code.
    pub code: i32,
    /// Status per check id (empty when the configuration was refused).
    pub statuses: std::collections::BTreeMap<String, String>,
    /// The JSON report, when there is one.
    pub report: Option<serde_json::Value>,
    /// Standard error (the refusal, for exit 2).
    pub stderr: String,
}

impl Verdict {
    /// The status of one check (`-` when it did not run).
    pub fn status(&self, id: &str) -> &str {
        self.statuses.get(id).map_or("-", String::as_str)
    }

    /// One check's evidence.
    pub fn evidence(&self, id: &str) -> Option<&serde_json::Value> {
        self.report.as_ref()?["checks"]
            .as_array()?
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| &c["evidence"])
    }
}

/// Runs `lsprobe check --env-file FILE --format json ARGS...` with an empty environment and
/// `vars`; unlike `support::check`, a refused configuration (exit 2, no report) is an answer.
pub fn lsprobe_check(env_file: &Path, args: &[&str], vars: &[(&str, &str)]) -> Verdict {
    let out = assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .env_clear()
        .envs(vars.iter().copied())
        .args(["check", "--format", "json", "--env-file"])
        .arg(env_file)
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Option<serde_json::Value> = serde_json::from_slice(&out.stdout).ok();
    let statuses = report
        .as_ref()
        .and_then(|r| r["checks"].as_array())
        .map(|checks| {
            checks
                .iter()
                .map(|c| {
                    (
                        c["id"].as_str().unwrap_or_default().to_string(),
                        c["status"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        code == 2 || report.is_some(),
        "exit {code} without a report: {stderr}"
    );
    Verdict {
        code,
        statuses,
        report,
        stderr,
    }
}
