//! A real Label Studio (PyPI `label-studio==1.23.2`, installed into the cache dir like the
//! emulators) and nginx in front of it, for the tests of the end-to-end check
//! (`label_studio.upload`, `label_studio.serve`).
//!
//! Both listen on 127.0.0.1 only and are tied to this process: a watchdog in each process group
//! stops it when this process ends, however it ends, or when the handle is dropped. Label
//! Studio runs with analytics, the version check and Sentry off, so it sends nothing off the
//! machine.
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command};
use std::time::{Duration, Instant};

use super::EmulatorError;
use super::install::{ensure_label_studio, which};
use super::process::{free_port, spawn_logged, spawn_watchdog, stop_group};
use super::state::tail;

/// What runs: the pinned Label Studio.
pub const LABEL_STUDIO: &str = "Label Studio 1.23.2";
/// The first start runs ~200 migrations on SQLite (about a minute on two busy cores).
const LABEL_STUDIO_READY: Duration = Duration::from_secs(300);
const NGINX_READY: Duration = Duration::from_secs(20);

/// How to start one Label Studio.
#[derive(Clone, Debug)]
pub struct LabelStudioOptions {
    /// The storage variables (`STORAGE_TYPE`, `STORAGE_AWS_*`, ...), given as they are.
    pub storage_env: Vec<(String, String)>,
    /// `USE_NGINX_FOR_UPLOADS`; `None` leaves Label Studio's default (true).
    pub use_nginx_for_uploads: Option<bool>,
    /// `LABEL_STUDIO_BASE_DATA_DIR`: the SQLite database. Two instances may share it (the
    /// second start then skips the migrations and takes seconds).
    pub data_dir: PathBuf,
    /// Where stdout and stderr go.
    pub log: PathBuf,
    /// The user created at start (an email address).
    pub username: String,
    /// Its password.
    pub password: String,
    /// Its API token (`Authorization: Token ...`); at least 6 characters.
    pub token: String,
}

/// A process tied to this one: dropping it stops the process group.
#[derive(Debug)]
struct Tied {
    child: Child,
    watchdog: Child,
    /// Closing it makes the watchdog stop the group.
    pipe: Option<ChildStdin>,
}

impl Tied {
    fn spawn(cmd: &mut Command, log: &Path) -> Result<Tied, EmulatorError> {
        let mut child = spawn_logged(cmd, log)?;
        match spawn_watchdog(child.id()) {
            Ok((watchdog, pipe)) => Ok(Tied {
                child,
                watchdog,
                pipe: Some(pipe),
            }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    async fn stop(mut self) {
        stop_group(self.child.id(), Duration::from_secs(5)).await;
        let _ = self.child.wait();
        self.pipe.take();
        let _ = self.watchdog.wait();
    }
}

impl Drop for Tied {
    fn drop(&mut self) {
        // The watchdog reads EOF and stops the group (TERM, then KILL).
        self.pipe.take();
    }
}

/// A running Label Studio.
#[derive(Debug)]
pub struct LocalLabelStudio {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// Its log.
    pub log: PathBuf,
    process: Tied,
}

impl LocalLabelStudio {
    /// Installs Label Studio into `cache_dir` (first use only) and starts it on a free
    /// loopback port; returns once it answers `/health`.
    pub async fn start(
        cache_dir: &Path,
        options: &LabelStudioOptions,
    ) -> Result<LocalLabelStudio, EmulatorError> {
        let cache = cache_dir.to_path_buf();
        let program = tokio::task::spawn_blocking(move || ensure_label_studio(&cache))
            .await
            .expect("the install task does not panic")?;
        std::fs::create_dir_all(&options.data_dir)
            .map_err(|e| EmulatorError::io(&options.data_dir, e))?;
        let port = free_port()?;
        let mut cmd = label_studio_command(&program, port, options);
        let mut process = Tied::spawn(&mut cmd, &options.log)?;
        let url = format!("http://127.0.0.1:{port}");
        match wait_ready(&mut process, &format!("{url}/health"), LABEL_STUDIO_READY).await {
            Ok(()) => Ok(LocalLabelStudio {
                url,
                port,
                log: options.log.clone(),
                process,
            }),
            Err(reason) => {
                process.stop().await;
                Err(EmulatorError::Helper {
                    what: LABEL_STUDIO.into(),
                    reason,
                    log: options.log.clone(),
                    tail: tail(&options.log, 30),
                })
            }
        }
    }

    /// Stops it.
    pub async fn stop(self) {
        self.process.stop().await;
    }
}

/// The command line and the whole environment of Label Studio: nothing is inherited but PATH,
/// so no setting of the machine leaks in, and nothing phones home.
fn label_studio_command(program: &Path, port: u16, o: &LabelStudioOptions) -> Command {
    let mut cmd = Command::new(program);
    let home = o.data_dir.join("home");
    let _ = std::fs::create_dir_all(&home);
    let bin = program.parent().unwrap_or(Path::new("/"));
    cmd.current_dir(&o.data_dir)
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        )
        .env("HOME", &home)
        .env("LANG", "C.UTF-8")
        .env("PYTHONUNBUFFERED", "1")
        .env("LABEL_STUDIO_BASE_DATA_DIR", &o.data_dir)
        .env("SECRET_KEY", uuid::Uuid::new_v4().simple().to_string())
        // Nothing leaves the machine: no analytics, no PyPI version check, no Sentry, feature
        // flags from the bundled file.
        .env("COLLECT_ANALYTICS", "false")
        .env("LATEST_VERSION_CHECK", "false")
        .env("SENTRY_DSN", "")
        .env("FRONTEND_SENTRY_DSN", "")
        .env("FEATURE_FLAGS_OFFLINE", "true");
    if let Some(nginx) = o.use_nginx_for_uploads {
        cmd.env(
            "USE_NGINX_FOR_UPLOADS",
            if nginx { "true" } else { "false" },
        );
    }
    for (k, v) in &o.storage_env {
        cmd.env(k, v);
    }
    cmd.args(["start", "--no-browser", "--internal-host", "127.0.0.1"])
        .args(["--port", &port.to_string()])
        .args(["--username", &o.username, "--password", &o.password])
        .args(["--user-token", &o.token, "--enable-legacy-api-token"]);
    cmd
}

/// nginx in front of a Label Studio, configured as Label Studio's own `deploy/default.conf`
/// for media: the internal `/file_download/<scheme>/<host>/<path>` location that follows
/// Label Studio's `X-Accel-Redirect` and fetches the presigned URL server-side.
#[derive(Debug)]
pub struct LocalNginx {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// Its error log.
    pub log: PathBuf,
    process: Tied,
}

/// The nginx program: on PATH, or where Debian puts it.
pub fn nginx_program() -> Option<PathBuf> {
    which("nginx").or_else(|| {
        let sbin = PathBuf::from("/usr/sbin/nginx");
        sbin.is_file().then_some(sbin)
    })
}

impl LocalNginx {
    /// Starts nginx on a free loopback port in front of `upstream_port`; its config, pid and
    /// logs live in `work`.
    pub async fn start(work: &Path, upstream_port: u16) -> Result<LocalNginx, EmulatorError> {
        let program = nginx_program().ok_or(EmulatorError::MissingTool {
            tool: "nginx",
            needed_for: "the Label Studio end-to-end test (nginx in front, as in production)",
            fix: "run tests/support/install-nginx.sh (Debian: apt-get install nginx-light)",
        })?;
        std::fs::create_dir_all(work).map_err(|e| EmulatorError::io(work, e))?;
        let port = free_port()?;
        let conf = work.join("nginx.conf");
        std::fs::write(&conf, nginx_config(work, port, upstream_port))
            .map_err(|e| EmulatorError::io(&conf, e))?;
        let log = work.join("error.log");
        let mut cmd = Command::new(program);
        cmd.arg("-e")
            .arg(&log)
            .arg("-p")
            .arg(work)
            .arg("-c")
            .arg(&conf);
        let mut process = Tied::spawn(&mut cmd, &work.join("nginx.out"))?;
        let url = format!("http://127.0.0.1:{port}");
        match wait_ready(&mut process, &format!("{url}/nginx_health"), NGINX_READY).await {
            Ok(()) => Ok(LocalNginx {
                url,
                port,
                log,
                process,
            }),
            Err(reason) => {
                process.stop().await;
                Err(EmulatorError::Helper {
                    what: "nginx".into(),
                    reason,
                    tail: format!("{}{}", tail(&work.join("nginx.out"), 10), tail(&log, 20)),
                    log,
                })
            }
        }
    }

    /// Stops it.
    pub async fn stop(self) {
        self.process.stop().await;
    }
}

/// The nginx configuration: loopback only, in the foreground, every file under `work`, no
/// temporary files (bodies stay in memory, so unprivileged workers need no directory), and
/// the media locations of Label Studio's `deploy/default.conf`.
pub fn nginx_config(work: &Path, port: u16, upstream_port: u16) -> String {
    let w = work.display();
    format!(
        r#"worker_processes 1;
daemon off;
pid {w}/nginx.pid;
error_log {w}/error.log info;
events {{ worker_connections 256; }}
http {{
  access_log {w}/access.log;
  client_body_temp_path {w}/client_body;
  proxy_temp_path {w}/proxy;
  fastcgi_temp_path {w}/fastcgi;
  uwsgi_temp_path {w}/uwsgi;
  scgi_temp_path {w}/scgi;
  client_max_body_size 350m;
  client_body_buffer_size 1m;
  proxy_max_temp_file_size 0;
  server {{
    listen 127.0.0.1:{port};
    location = /nginx_health {{ return 200; }}
    # Label Studio answers a media request with X-Accel-Redirect:
    # /file_download/<scheme>/<host>/<path>?<presigned query>; nginx fetches it server-side.
    location ~ ^/file_download/(.*?)/(.*?)/(.*) {{
      internal;
      set $download_protocol $1;
      set $download_host $2;
      set $download_path $3;
      set $download_url $download_protocol://$download_host/$download_path;
      proxy_hide_header x-amz-id-2;
      proxy_hide_header x-amz-request-id;
      proxy_set_header Host $download_host;
      proxy_set_header Authorization '';
      proxy_set_header Cookie '';
      proxy_hide_header Content-Disposition;
      add_header Content-Disposition $upstream_http_content_disposition;
      proxy_pass $download_url$is_args$args;
      proxy_intercept_errors on;
      error_page 301 302 307 = @handle_redirect;
    }}
    location @handle_redirect {{
      set $saved_redirect_location '$upstream_http_location';
      proxy_pass $saved_redirect_location;
    }}
    location / {{
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_redirect off;
      proxy_read_timeout 300;
      proxy_pass http://127.0.0.1:{upstream_port};
    }}
  }}
}}
"#
    )
}

/// Polls `url` until it answers 200; fails early when the process ends.
async fn wait_ready(process: &mut Tied, url: &str, timeout: Duration) -> Result<(), String> {
    let client = super::ready::client();
    let started = Instant::now();
    loop {
        if let Some(status) = process.exited() {
            return Err(format!("it ended with {status} before answering {url}"));
        }
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if started.elapsed() > timeout {
            return Err(format!("{url} did not answer 200 within {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_listens_on_loopback_and_follows_label_studio_redirects() {
        let conf = nginx_config(Path::new("/w"), 8081, 8080);
        assert!(conf.contains("listen 127.0.0.1:8081;"));
        assert!(conf.contains("proxy_pass http://127.0.0.1:8080;"));
        assert!(conf.contains("location ~ ^/file_download/(.*?)/(.*?)/(.*) {"));
        assert!(conf.contains("internal;"));
        assert!(conf.contains("proxy_pass $download_url$is_args$args;"));
        assert!(conf.contains("pid /w/nginx.pid;"));
        assert!(!conf.contains("0.0.0.0"));
    }

    #[test]
    fn label_studio_gets_no_outside_setting_and_phones_nowhere() {
        let o = LabelStudioOptions {
            storage_env: vec![("STORAGE_TYPE".into(), "s3".into())],
            use_nginx_for_uploads: Some(false),
            data_dir: PathBuf::from("/tmp/lsprobe-ls-unit"),
            log: PathBuf::from("/tmp/lsprobe-ls-unit.log"),
            username: "u@example.com".into(),
            password: "p".into(),
            token: "t".repeat(10),
        };
        let cmd = label_studio_command(Path::new("/v/bin/label-studio"), 9, &o);
        let envs: std::collections::BTreeMap<String, String> = cmd
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.into(), v?.to_str()?.into())))
            .collect();
        assert_eq!(envs["COLLECT_ANALYTICS"], "false");
        assert_eq!(envs["LATEST_VERSION_CHECK"], "false");
        assert_eq!(envs["SENTRY_DSN"], "");
        assert_eq!(envs["FRONTEND_SENTRY_DSN"], "");
        assert_eq!(envs["USE_NGINX_FOR_UPLOADS"], "false");
        assert_eq!(envs["STORAGE_TYPE"], "s3");
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let host = args.iter().position(|a| a == "--internal-host").unwrap();
        assert_eq!(args[host + 1], "127.0.0.1");
    }
}
