//! `lsprobe emulators up | down | status | env`, built on [`Emulators`].
use crate::cli::{EmulatorBackend, EmulatorProvider, EmulatorsCommand, EnvFormat, ShowFormat};
use crate::{Exit, RunError};

use crate::emulators::{Emulators, Kind, Layout, S3User, StartOptions, docker, env_list};

fn kinds(p: EmulatorProvider) -> Vec<Kind> {
    match p {
        EmulatorProvider::S3 => vec![Kind::S3],
        EmulatorProvider::S3Iam => vec![Kind::S3Iam],
        EmulatorProvider::Gcs => vec![Kind::Gcs],
        EmulatorProvider::Azure => vec![Kind::Azure],
        EmulatorProvider::All => Kind::ALL.to_vec(),
    }
}

/// Runs `lsprobe emulators ...`.
pub async fn run(cmd: &EmulatorsCommand) -> Result<Exit, RunError> {
    let layout = Layout::from_env()?;
    match cmd {
        EmulatorsCommand::Up { provider, backend } => {
            let docker = match backend {
                EmulatorBackend::Native => false,
                EmulatorBackend::Docker => true,
                EmulatorBackend::Auto => docker::available().await,
            };
            let options = StartOptions {
                docker,
                die_with_this_process: false,
            };
            let emu = Emulators::start_with(&kinds(*provider), &layout, options).await?;
            eprintln!(
                "lsprobe: state in {}; `lsprobe emulators env --provider P` prints the env.list, \
                 `lsprobe emulators down` stops them",
                layout.state_dir.display()
            );
            print_status(&emu, ShowFormat::Text);
            Ok(Exit::Passed)
        }
        EmulatorsCommand::Down { provider } => {
            let emu = Emulators::attach(&layout)?;
            let wanted = kinds(*provider);
            let running: Vec<String> = wanted
                .iter()
                .filter_map(|k| {
                    emu.get(*k).map(|r| match r.pid {
                        Some(pid) => format!("{k} (pid {pid})"),
                        None => format!("{k} (container)"),
                    })
                })
                .collect();
            emu.stop_kinds(&wanted).await?;
            if running.is_empty() {
                eprintln!("lsprobe: no emulator was running");
            } else {
                eprintln!("lsprobe: stopped {}", running.join(", "));
            }
            Ok(Exit::Passed)
        }
        EmulatorsCommand::Status { format } => {
            let emu = Emulators::attach(&layout)?;
            print_status(&emu, *format);
            Ok(Exit::Passed)
        }
        EmulatorsCommand::Env {
            provider,
            format,
            user,
        } => {
            let kind = match provider {
                EmulatorProvider::All => {
                    return Err(RunError::BadInput(
                        "`emulators env` prints one env.list: choose --provider s3, s3-iam, gcs or azure"
                            .into(),
                    ));
                }
                p => kinds(*p)[0],
            };
            let user: S3User = user.parse()?;
            let emu = Emulators::attach(&layout)?;
            let pairs = emu.env_list(kind, user)?;
            match format {
                EnvFormat::EnvList => {
                    let emulator = emu.get(kind).map_or(kind.emulator(), emulator_of);
                    print!("{}", env_list::render_for(kind, emulator, &pairs))
                }
                EnvFormat::Json => {
                    let map: serde_json::Map<String, serde_json::Value> = pairs
                        .into_iter()
                        .map(|(k, v)| (k, serde_json::Value::String(v)))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&map).expect("JSON"));
                }
            }
            Ok(Exit::Passed)
        }
    }
}

/// What runs behind a recorded emulator: docker/compose.yml runs moto for `s3`.
fn emulator_of(r: &crate::emulators::Running) -> &'static str {
    match r.kind.parse::<Kind>() {
        Ok(Kind::S3) if r.backend == crate::emulators::Backend::Docker => Kind::S3Iam.emulator(),
        Ok(k) => k.emulator(),
        Err(_) => "",
    }
}

/// The status table's pid column: `-` for a container (its process is the engine's).
fn pid_text(pid: Option<u32>) -> String {
    pid.map_or_else(|| "-".to_string(), |p| p.to_string())
}

fn print_status(emu: &Emulators, format: ShowFormat) {
    let state = emu.state();
    match format {
        ShowFormat::Json => {
            let list: Vec<serde_json::Value> = state
                .emulators
                .values()
                .map(|r| {
                    serde_json::json!({
                        "provider": r.kind,
                        "emulator": emulator_of(r),
                        "backend": r.backend,
                        "pid": r.pid,
                        "host": "127.0.0.1",
                        "port": r.port,
                        "endpoint": r.endpoint(),
                        "log": r.log,
                        "started_at": r.started_at,
                        "running": r.is_alive(),
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "state_dir": emu.layout().state_dir,
                "emulators": list,
            });
            println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
        }
        ShowFormat::Text => {
            if state.emulators.is_empty() {
                println!(
                    "no emulator runs (state dir {})",
                    emu.layout().state_dir.display()
                );
                return;
            }
            println!(
                "{:<8} {:<24} {:<8} {:<8} {:<24} log",
                "provider", "emulator", "backend", "pid", "endpoint"
            );
            for r in state.emulators.values() {
                let emulator = emulator_of(r);
                let backend = serde_json::to_value(r.backend).ok();
                let backend = backend.as_ref().and_then(|b| b.as_str()).unwrap_or("");
                println!(
                    "{:<8} {:<24} {:<8} {:<8} {:<24} {}",
                    r.kind,
                    emulator,
                    backend,
                    pid_text(r.pid),
                    r.endpoint(),
                    r.log.display()
                );
            }
        }
    }
}
