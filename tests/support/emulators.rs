//! Emulators started once per test binary through the same library code the CLI uses, each
//! tied to this process: a watchdog in the emulator's process group reads a pipe this process
//! holds, so when the test binary ends (normally, by panic or SIGKILL) the kernel closes the pipe
//! and the watchdog stops the emulator. They never outlive the tests.
//!
//! `LSPROBE_REQUIRE_EMULATORS=1` (CI): an emulator that cannot start fails the test with the
//! reason. Otherwise the test prints a loud `SKIPPED: ...` line and returns.
use std::path::PathBuf;
use std::sync::OnceLock;

use lsprobe::emulators::{Emulators, Kind, Layout, S3User, StartOptions};

static SHARED: OnceLock<Result<Emulators, String>> = OnceLock::new();

/// Whether CI demands the emulators (`LSPROBE_REQUIRE_EMULATORS=1`).
pub fn require_emulators() -> bool {
    std::env::var("LSPROBE_REQUIRE_EMULATORS").is_ok_and(|v| v == "1")
}

/// Panics with `reason` under `LSPROBE_REQUIRE_EMULATORS=1`; otherwise prints a loud skip line.
pub fn skip_or_fail(reason: &str) {
    if require_emulators() {
        panic!("LSPROBE_REQUIRE_EMULATORS=1 and the emulators are unavailable: {reason}");
    }
    eprintln!(
        "\n**********\nSKIPPED: emulators unavailable: {reason}\n(set LSPROBE_REQUIRE_EMULATORS=1 to make this a failure)\n**********\n"
    );
}

/// A state dir of this test process (never the user's), under the system temp dir. Dirs left by
/// test processes that are gone are removed first.
pub fn test_state_dir(label: &str) -> PathBuf {
    let tmp = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("lsprobe-test-") else {
                continue;
            };
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid
                && !lsprobe::emulators::pid_alive(pid)
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    tmp.join(format!("lsprobe-test-{}-{label}", std::process::id()))
}

/// Starts `kinds` in `state_dir`, tied to this process. Runs on its own thread and runtime, so it
/// can be called from inside `#[tokio::test]`.
pub fn start_tied(kinds: &[Kind], state_dir: PathBuf) -> Result<Emulators, String> {
    let kinds = kinds.to_vec();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let layout = Layout::with_state_dir(state_dir).map_err(|e| e.to_string())?;
            let options = StartOptions {
                docker: false,
                die_with_this_process: true,
            };
            Emulators::start_with(&kinds, &layout, options)
                .await
                .map_err(|e| e.to_string())
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the thread starting the emulators panicked".into()))
}

/// The four emulators of this test binary (started on first call), or `None` after a loud skip.
/// Native processes, or containers of the emulator images under
/// `LSPROBE_TEST_EMULATORS=containers` (tests/support/containers.rs).
pub fn emulators() -> Option<&'static Emulators> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let shared = SHARED.get_or_init(|| {
        if super::containers::selected() {
            super::containers::start_all(test_state_dir("shared"))
        } else {
            start_tied(&Kind::ALL, test_state_dir("shared"))
        }
    });
    match shared {
        Ok(e) => Some(e),
        Err(reason) => {
            skip_or_fail(reason);
            None
        }
    }
}

/// The Python of moto's virtualenv, which holds boto3 1.44.8 (the version Label Studio 1.23.2
/// runs): the oracle for what Label Studio's S3 client does. Installed with the emulators.
pub fn boto3_python() -> PathBuf {
    let emu = emulators().expect("the emulators (and so moto's venv) are installed");
    std::fs::read_dir(emu.layout().cache_dir.join("venv"))
        .expect("the emulators' venvs")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("moto-"))
        })
        .expect("moto's venv")
        .join("bin/python")
}

/// Writes the env.list reaching `kind` (for s3-iam, as `user`) into the state dir; returns its path.
pub fn env_file(kind: Kind, user: S3User) -> Option<PathBuf> {
    let emu = emulators()?;
    let pairs = emu.env_list(kind, user).expect("the emulator runs");
    let dir = emu.layout().state_dir.join("env");
    std::fs::create_dir_all(&dir).expect("create env dir");
    let path = dir.join(format!("{kind}-{}.list", user.name()));
    // Tests run in parallel and may ask for the same file: write aside, then rename.
    let tmp = dir.join(format!(
        ".{kind}-{}-{:?}.tmp",
        user.name(),
        std::thread::current().id()
    ));
    std::fs::write(&tmp, lsprobe::emulators::render_env_list(kind, &pairs))
        .expect("write env.list");
    std::fs::rename(&tmp, &path).expect("rename env.list");
    Some(path)
}

/// A unique object key under `media/lsprobe-test/`, with a space and non-ASCII characters as
/// Label Studio's file names may have (built with `Path::parse`, which keeps them as written).
pub fn object_path(name: &str) -> object_store::path::Path {
    let key = format!("media/lsprobe-test/{}/{name} ü.txt", uuid::Uuid::new_v4());
    object_store::path::Path::parse(key).expect("a valid key")
}
