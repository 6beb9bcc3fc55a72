//! The runtime image (docker/Dockerfile's final stage) built here from Debian packages by
//! docker/local/build-runtime-image.sh around this test binary's own lsprobe, and podman to run
//! it (docker/local/podman-env.sh: vfs storage, runc, no ulimits). Built once per test binary;
//! cached by content across runs under `$LSPROBE_HOME/runtime-image`.
//! Included by tests/runtime_image.rs through `#[path]` (only that test uses it).
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository's root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `lsp_podman ARGS...` (docker/local/podman-env.sh).
pub fn podman(args: &[&str]) -> Output {
    Command::new("bash")
        .args(["-c", r#"source "$1"; shift; lsp_podman "$@""#, "bash"])
        .arg(repo().join("docker/local/podman-env.sh"))
        .args(args)
        .output()
        .expect("bash runs")
}

/// [`podman`], which must succeed; its stdout.
pub fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The image built around this test's lsprobe (its content tag), or `None` after a loud skip
/// (a failure under `LSPROBE_REQUIRE_EMULATORS=1`) when podman or mmdebstrap is missing or the
/// build cannot reach Debian.
pub fn image() -> Option<&'static str> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    let built = IMAGE.get_or_init(|| {
        for tool in ["podman", "mmdebstrap", "runc"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success());
            if !found {
                return Err(format!(
                    "{tool} is not installed (apt-get install -y podman buildah runc mmdebstrap)"
                ));
            }
        }
        let out = Command::new("bash")
            .arg(repo().join("docker/local/build-runtime-image.sh"))
            .arg(env!("CARGO_BIN_EXE_lsprobe"))
            .env("LSPROBE_IMAGE", "localhost/lsprobe:test")
            .output()
            .expect("bash runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("{stderr}");
        if !out.status.success() {
            return Err(format!("build-runtime-image.sh failed: {stderr}"));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let tag = stdout.lines().last().unwrap_or_default().trim().to_string();
        assert!(
            tag.starts_with("localhost/lsprobe:content-"),
            "the script's last line names the content tag: {stdout:?}"
        );
        Ok(tag)
    });
    match built {
        Ok(tag) => Some(tag),
        Err(reason) => {
            crate::support::skip_or_fail(reason);
            None
        }
    }
}

/// A directory the image's user (65532) can read: `/config` in the container.
pub fn config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    set_mode(dir.path(), 0o755);
    dir
}

/// A directory owned by the image's user (65532): `/reports` in the container.
pub fn reports_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::chown(dir.path(), Some(65532), Some(65532))
        .expect("chown (tests run as root)");
    dir
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Copies `file` into `dir` as `name`, readable by anyone; returns its path inside the container.
pub fn put(dir: &Path, file: &Path, name: &str) -> String {
    let to = dir.join(name);
    std::fs::copy(file, &to).expect("copy into the config dir");
    set_mode(&to, 0o644);
    format!("/config/{name}")
}

/// What one container run gave.
pub struct ContainerRun {
    /// The container's exit code, as `podman run` returns it.
    pub code: i32,
    /// Standard output and error of the container.
    pub stdout: String,
    pub stderr: String,
    /// `report.json` from the reports volume, when written.
    pub report: Option<serde_json::Value>,
    /// The reports directory on the host.
    pub reports: PathBuf,
}

/// `podman run --rm --network host --read-only -v CONFIG:/config:ro -v REPORTS:/reports
/// [EXTRA...] IMAGE ARGS...`: the image's own user and entrypoint, and a read-only root
/// filesystem with a tmpfs /tmp, as the Kubernetes manifests (deploy/k8s/) run it.
pub fn run_container(
    config: &Path,
    reports: &Path,
    extra: &[String],
    args: &[&str],
) -> ContainerRun {
    let image = image().expect("the image was built");
    let config_volume = format!("{}:/config:ro", config.display());
    let reports_volume = format!("{}:/reports", reports.display());
    let mut all: Vec<&str> = vec![
        "run",
        "--rm",
        "--network",
        "host",
        "--read-only",
        "-v",
        &config_volume,
        "-v",
        &reports_volume,
    ];
    all.extend(extra.iter().map(String::as_str));
    all.push(image);
    all.extend_from_slice(args);
    let out = podman(&all);
    let report = std::fs::read(reports.join("report.json"))
        .ok()
        .map(|b| serde_json::from_slice(&b).expect("report.json is JSON"));
    ContainerRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        report,
        reports: reports.to_path_buf(),
    }
}

/// The env.list's variables (comments and blank lines skipped).
pub fn env_pairs(env_file: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(env_file)
        .expect("read env.list")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
