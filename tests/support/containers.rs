//! A Docker API for the tests, and the emulators run as containers through testcontainers.
//!
//! [`engine`] gives the Docker API the tests use: the one `DOCKER_HOST` names, or Docker's
//! default socket when it answers (a Docker user's engine, with the images already there: built
//! by `LSPROBE_CONTAINER_ENGINE=docker docker/local/build-emulator-images.sh`), or else a podman
//! service this test process starts on a socket in a temp dir, after building the emulator
//! images locally (the script, cached by content). A watchdog holding a pipe from this process removes this process's containers and
//! stops the service when the process ends, however it ends.
//!
//! With `LSPROBE_TEST_EMULATORS=containers`, the shared emulators of a test binary
//! ([`super::emulators`]) are these containers instead of native processes.
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use lsprobe::emulators::{Emulators, Kind, Layout, S3_CORS_XML};
use testcontainers::bollard::models::PortBinding;
use testcontainers::core::ContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, Image, ImageExt};

/// The label every container of this test process carries (the watchdog removes by it).
pub const PID_LABEL: &str = "org.lsprobe.test-pid";

/// A Docker API the tests can use.
pub struct Engine {
    /// `unix:///.../podman.sock` or the user's `DOCKER_HOST`.
    pub docker_host: String,
    /// Whether this process started it (podman); then `DOCKER_HOST` was set to it.
    pub podman: bool,
    /// The watchdog's pipe and the watchdog (kept open for the life of the process).
    _watchdog: Mutex<Option<(ChildStdin, Child)>>,
}

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// Whether `LSPROBE_TEST_EMULATORS=containers` asks for the emulators as containers.
pub fn selected() -> bool {
    std::env::var("LSPROBE_TEST_EMULATORS").is_ok_and(|v| v == "containers")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Docker API of this process (started on first call), or why there is none.
pub fn engine() -> Result<&'static Engine, String> {
    ENGINE
        .get_or_init(start_engine)
        .as_ref()
        .map_err(Clone::clone)
}

/// Whether a Docker API answers `GET /_ping` on the unix socket `sock`.
pub fn pings(sock: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.") && answer.contains(" 200 ")
}

fn start_engine() -> Result<Engine, String> {
    let docker_host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
    let default_socket = Path::new("/var/run/docker.sock");
    let docker_host = docker_host
        .or_else(|| pings(default_socket).then(|| format!("unix://{}", default_socket.display())));
    if let Some(host) = docker_host {
        let cleanup = "ids=$(docker ps -aq --filter \"label=$LABEL\"); \
                       [ -z \"$ids\" ] || docker rm -f $ids >/dev/null 2>&1";
        let watchdog = spawn_watchdog("", cleanup)?;
        return Ok(Engine {
            docker_host: host,
            podman: false,
            _watchdog: Mutex::new(Some(watchdog)),
        });
    }
    if which("podman").is_none() {
        return Err(
            "no Docker API: DOCKER_HOST is not set and podman is not installed \
                    (apt-get install podman buildah runc mmdebstrap)"
                .into(),
        );
    }
    build_images()?;
    let dir = std::env::temp_dir().join(format!("lsprobe-podman-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let sock = dir.join("podman.sock");
    let _ = std::fs::remove_file(&sock);
    let log = dir.join("service.log");
    // `$svc` is the subshell running the lsp_podman function; podman is its child.
    let prelude = format!(
        ". '{env}'; lsp_podman system service --time=0 'unix://{sock}' >'{log}' 2>&1 & svc=$!;",
        env = repo().join("docker/local/podman-env.sh").display(),
        sock = sock.display(),
        log = log.display(),
    );
    let cleanup = format!(
        "ids=$(lsp_podman ps -aq --filter \"label=$LABEL\"); \
         [ -z \"$ids\" ] || lsp_podman rm -f -t 2 $ids >/dev/null 2>&1; \
         kill $(ps -o pid= --ppid $svc) $svc; rm -rf '{}'",
        dir.display()
    );
    let watchdog = spawn_watchdog(&prelude, &cleanup)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pings(&sock) {
        if Instant::now() > deadline {
            return Err(format!(
                "podman system service did not answer on {} within 60 s (see {})",
                sock.display(),
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let host = format!("unix://{}", sock.display());
    // SAFETY: set once, while the engine starts under a OnceLock and before any container
    // request; testcontainers reads DOCKER_HOST from the environment.
    unsafe { std::env::set_var("DOCKER_HOST", &host) };
    Ok(Engine {
        docker_host: host,
        podman: true,
        _watchdog: Mutex::new(Some(watchdog)),
    })
}

/// `bash -c "PRELUDE cat >/dev/null; CLEANUP"`: CLEANUP runs at EOF on its stdin, i.e. when this
/// process is gone, however it ended. In its own process group, so a Ctrl-C of the tests does
/// not cut the cleanup short. `$LABEL` is `org.lsprobe.test-pid=<this pid>`.
fn spawn_watchdog(prelude: &str, cleanup: &str) -> Result<(ChildStdin, Child), String> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!("{prelude} cat >/dev/null; {cleanup}"))
        .env("LABEL", format!("{PID_LABEL}={}", std::process::id()))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the container watchdog: {e}"))?;
    let stdin = child.stdin.take().expect("piped");
    Ok((stdin, child))
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(tool))
            .find(|c| c.is_file())
    })
}

/// Runs docker/local/build-emulator-images.sh (a no-op when the images are up to date).
fn build_images() -> Result<(), String> {
    let script = repo().join("docker/local/build-emulator-images.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The image, command and container port of each emulator (`host_port`: where it is published).
fn request(kind: Kind, host_port: u16) -> (GenericImage, Vec<String>, u16) {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match kind {
        Kind::S3 => (
            GenericImage::new("localhost/lsprobe/s3rver", "3.7.1"),
            args(&[
                "-d",
                "/data",
                "-a",
                "0.0.0.0",
                "-p",
                "5000",
                "--silent",
                "--configure-bucket",
                lsprobe::emulators::BUCKET,
                "/etc/lsprobe/cors.xml",
            ]),
            5000,
        ),
        Kind::S3Iam => (
            GenericImage::new("motoserver/moto", "5.2.5"),
            Vec::new(),
            5000,
        ),
        Kind::Gcs => {
            let public = format!("127.0.0.1:{host_port}");
            (
                GenericImage::new("fsouza/fake-gcs-server", "1.54.0"),
                vec![
                    "-scheme".into(),
                    "http".into(),
                    "-port".into(),
                    "4443".into(),
                    "-backend".into(),
                    "memory".into(),
                    "-public-host".into(),
                    public.clone(),
                    "-external-url".into(),
                    format!("http://{public}"),
                ],
                4443,
            )
        }
        Kind::Azure => (
            GenericImage::new("mcr.microsoft.com/azure-storage/azurite", "3.35.0"),
            args(&[
                "azurite-blob",
                "--blobHost",
                "0.0.0.0",
                "--blobPort",
                "10000",
                "--inMemoryPersistence",
                "--silent",
                "--disableTelemetry",
                "--skipApiVersionCheck",
            ]),
            10000,
        ),
    }
}

/// Starts `kind` as a container published on 127.0.0.1 only; returns it and its host port.
pub async fn run(kind: Kind) -> Result<(ContainerAsync<GenericImage>, u16), String> {
    engine()?;
    let host_port = free_port();
    let (image, cmd, port) = request(kind, host_port);
    let mut req = image
        .with_cmd(cmd)
        .with_mapped_port(host_port, ContainerPort::Tcp(port))
        .with_label(PID_LABEL, std::process::id().to_string())
        .with_startup_timeout(Duration::from_secs(300))
        .with_host_config_modifier(move |hc| {
            // Published on loopback only, never on the machine's other addresses.
            let binding = PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(host_port.to_string()),
            };
            hc.port_bindings = Some([(format!("{port}/tcp"), Some(vec![binding]))].into());
            hc.publish_all_ports = Some(false);
        });
    if kind == Kind::S3 {
        req = req.with_copy_to("/etc/lsprobe/cors.xml", S3_CORS_XML.as_bytes().to_vec());
    }
    let container = req.start().await.map_err(|e| {
        format!(
            "{kind}: the container did not start: {e} (images missing? run \
             docker/local/build-emulator-images.sh)"
        )
    })?;
    Ok((container, host_port))
}

/// The four emulators as containers, prepared and recorded in `state_dir` as `up` records
/// them. The containers live as long as this process (the watchdog removes them).
pub fn start_all(state_dir: PathBuf) -> Result<Emulators, String> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let emulators = runtime.block_on(async {
            std::fs::create_dir_all(&state_dir).map_err(|e| e.to_string())?;
            let layout = Layout::with_state_dir(state_dir.clone()).map_err(|e| e.to_string())?;
            // Started together: the engine copies each root file system (vfs), which takes a while.
            let started = futures::future::join_all(Kind::ALL.map(run)).await;
            let mut ports = Vec::new();
            for (kind, result) in Kind::ALL.into_iter().zip(started) {
                let (container, port) = result?;
                // Removed by the watchdog when this process ends, not when this handle drops.
                eprintln!(
                    "{kind}: container {} of {}, on 127.0.0.1:{port}",
                    &container.id()[..12],
                    container.image().name()
                );
                std::mem::forget(container);
                ports.push((kind, port));
            }
            // Published on loopback only: what the engine says, not what was asked.
            let engine = engine()?;
            let mine = containers_labelled(engine, PID_LABEL, &std::process::id().to_string());
            for c in &mine {
                for p in c["Ports"].as_array().into_iter().flatten() {
                    if p["IP"] != "127.0.0.1" {
                        return Err(format!("a container is published beyond loopback: {c}"));
                    }
                }
            }
            let mut emu = None;
            for (kind, port) in ports {
                emu = Some(
                    Emulators::adopt(&layout, kind, port)
                        .await
                        .map_err(|e| format!("{kind} (container): {e}"))?,
                );
            }
            Ok::<_, String>(emu.expect("four kinds"))
        });
        // The runtime goes; the containers stay (their handles were forgotten).
        drop(runtime);
        emulators
    })
    .join()
    .unwrap_or_else(|_| Err("the thread starting the containers panicked".into()))
}

/// `GET path` on the engine's Docker API (a unix socket); the JSON it answers.
pub fn api_get(engine: &Engine, path: &str) -> serde_json::Value {
    let sock = engine
        .docker_host
        .strip_prefix("unix://")
        .unwrap_or_else(|| panic!("not a unix socket: {}", engine.docker_host));
    let mut s = UnixStream::connect(sock).unwrap_or_else(|e| panic!("{sock}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.contains(" 200 "), "GET {path}: {head}\n{body}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Every container (running or not) whose label `key` is `value`.
pub fn containers_labelled(engine: &Engine, key: &str, value: &str) -> Vec<serde_json::Value> {
    let filters = format!(r#"{{"label":["{key}={value}"]}}"#);
    let path = format!(
        "/containers/json?all=1&filters={}",
        percent_encoding::utf8_percent_encode(&filters, percent_encoding::NON_ALPHANUMERIC)
    );
    api_get(engine, &path)
        .as_array()
        .expect("a list of containers")
        .clone()
}
