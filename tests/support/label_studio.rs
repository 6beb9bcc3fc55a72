//! A real Label Studio 1.23.2 with persistent storage on s3rver, started once per test binary
//! and tied to it, in the deployments the end-to-end check must tell apart:
//!
//! - `nginx_url`: nginx in front of Label Studio at its default (`USE_NGINX_FOR_UPLOADS` on),
//!   as Label Studio's Docker image runs: media must come back intact;
//! - `alone_url`: the same Label Studio without nginx: media requests get an empty 200 with
//!   `X-Accel-Redirect`;
//! - `django_url`: a second Label Studio on the same database with
//!   `USE_NGINX_FOR_UPLOADS=false`: Django streams the file itself.
//!
//! The second Label Studio reuses the first one's migrated SQLite database, so it starts in
//! seconds. Everything listens on 127.0.0.1; Label Studio runs with analytics, version check
//! and Sentry off. nginx must be installed (tests/support/install-nginx.sh).
use std::path::PathBuf;
use std::sync::OnceLock;

use lsprobe::emulators::label_studio::{LabelStudioOptions, LocalLabelStudio, LocalNginx};
use lsprobe::emulators::{Emulators, Kind, Layout, S3User};

use super::emulators::{skip_or_fail, start_tied, test_state_dir};

/// The running deployments.
pub struct Rig {
    /// s3rver and its env.list (Label Studio's storage).
    pub emulators: Emulators,
    /// The env.list lsprobe is given (the same storage as Label Studio's).
    pub env_file: PathBuf,
    /// nginx in front of Label Studio (default mode).
    pub nginx_url: String,
    /// Label Studio (default mode) without nginx.
    pub alone_url: String,
    /// Label Studio with `USE_NGINX_FOR_UPLOADS=false`, without nginx.
    pub django_url: String,
    /// The API token of the user created at start (a test value).
    pub token: String,
    /// `http://127.0.0.1:PORT` of s3rver.
    pub s3_endpoint: String,
    _label_studio: Vec<LocalLabelStudio>,
    _nginx: LocalNginx,
}

static RIG: OnceLock<Result<Rig, String>> = OnceLock::new();

/// The deployments of this test binary (started on first call), or `None` after a loud skip.
/// Under `LSPROBE_REQUIRE_EMULATORS=1` a Label Studio or nginx that cannot be installed or
/// started fails the test.
pub fn rig() -> Option<&'static Rig> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match RIG.get_or_init(start) {
        Ok(rig) => Some(rig),
        Err(reason) => {
            skip_or_fail(reason);
            None
        }
    }
}

fn start() -> Result<Rig, String> {
    let state = test_state_dir("label-studio");
    let emulators = start_tied(&[Kind::S3], state.join("emulators"))?;
    let pairs = emulators
        .env_list(Kind::S3, S3User::Full)
        .map_err(|e| e.to_string())?;
    let env_file = state.join("s3.list");
    std::fs::write(
        &env_file,
        lsprobe::emulators::render_env_list(Kind::S3, &pairs),
    )
    .map_err(|e| e.to_string())?;
    // Label Studio gets the storage variables only (no LABEL_STUDIO_HOST: relative media URLs).
    let storage_env: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(k, _)| k.starts_with("STORAGE_"))
        .collect();
    let s3_endpoint = emulators.endpoint(Kind::S3).ok_or("s3rver runs")?;
    let token = format!("lsprobe-test-{}", uuid::Uuid::new_v4().simple());
    let cache = Layout::with_state_dir(&state)
        .map_err(|e| e.to_string())?
        .cache_dir;
    let options = |nginx: Option<bool>, name: &str| LabelStudioOptions {
        storage_env: storage_env.clone(),
        use_nginx_for_uploads: nginx,
        data_dir: state.join("ls-data"),
        log: state.join(format!("label-studio-{name}.log")),
        username: "lsprobe@example.com".into(),
        password: uuid::Uuid::new_v4().simple().to_string(),
        token: token.clone(),
    };
    let default_options = options(None, "default");
    let django_options = options(Some(false), "django");
    let nginx_dir = state.join("nginx");
    on_own_runtime(async move {
        let started = std::time::Instant::now();
        let default = LocalLabelStudio::start(&cache, &default_options)
            .await
            .map_err(|e| e.to_string())?;
        eprintln!(
            "label studio (default mode) ready on {} in {:.1?}",
            default.url,
            started.elapsed()
        );
        let started = std::time::Instant::now();
        let django = LocalLabelStudio::start(&cache, &django_options)
            .await
            .map_err(|e| e.to_string())?;
        eprintln!(
            "label studio (USE_NGINX_FOR_UPLOADS=false) ready on {} in {:.1?}",
            django.url,
            started.elapsed()
        );
        let nginx = LocalNginx::start(&nginx_dir, default.port)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Rig {
            emulators,
            env_file,
            nginx_url: nginx.url.clone(),
            alone_url: default.url.clone(),
            django_url: django.url.clone(),
            token,
            s3_endpoint,
            _label_studio: vec![default, django],
            _nginx: nginx,
        })
    })
}

/// Runs `f` on a runtime of its own thread (callable from inside `#[tokio::test]`).
fn on_own_runtime<T: Send + 'static>(
    f: impl std::future::Future<Output = Result<T, String>> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(f)
    })
    .join()
    .unwrap_or_else(|_| Err("the thread starting Label Studio panicked".into()))
}
