//! Processes: free loopback ports, spawning in an own process group with a log file, the
//! watchdog that ties an emulator to the life of the process that started it, and stopping.
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::EmulatorError;
use super::state::pid_alive;

/// A free TCP port on 127.0.0.1 (bound to port 0, then released).
pub fn free_port() -> Result<u16, EmulatorError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| EmulatorError::io(Path::new("127.0.0.1:0"), e))?;
    let port = listener
        .local_addr()
        .map_err(|e| EmulatorError::io(Path::new("127.0.0.1:0"), e))?
        .port();
    Ok(port)
}

/// Spawns `cmd` as the leader of a new process group (so its node/python children can be
/// stopped with it), stdin closed, stdout and stderr appended to `log`.
pub fn spawn_logged(cmd: &mut Command, log: &Path) -> Result<Child, EmulatorError> {
    log_to(cmd, log)?
        .process_group(0)
        .spawn()
        .map_err(|e| EmulatorError::io(Path::new(cmd.get_program()), e))
}

/// Closes `cmd`'s stdin and appends its stdout and stderr to `log`.
pub fn log_to<'a>(cmd: &'a mut Command, log: &Path) -> Result<&'a mut Command, EmulatorError> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| EmulatorError::io(log, e))?;
    let err = out.try_clone().map_err(|e| EmulatorError::io(log, e))?;
    Ok(cmd.stdin(Stdio::null()).stdout(out).stderr(err))
}

/// Starts a watchdog in process group `pgid`: a shell that blocks reading a pipe whose write end
/// this process keeps. When this process ends, however it ends (even SIGKILL), the kernel closes
/// the write end, the read returns, and the watchdog stops the group (TERM, then KILL). Being in
/// the group, the watchdog is stopped with it by `down`.
pub fn spawn_watchdog(pgid: u32) -> Result<(Child, ChildStdin), EmulatorError> {
    // dash's `kill` needs `-s SIG` before `--`. The watchdog ignores TERM so that its own
    // group-wide TERM does not end it before the KILL that follows.
    let script = "trap '' TERM; read _unused; kill -s TERM -- -\"$0\" 2>/dev/null; sleep 3; \
                  kill -s KILL -- -\"$0\" 2>/dev/null";
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .arg(pgid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(pgid as i32)
        .spawn()
        .map_err(|e| EmulatorError::io(Path::new("/bin/sh"), e))?;
    let stdin = child.stdin.take().expect("stdin is piped");
    Ok((child, stdin))
}

/// Stops process group `pgid`: SIGTERM, then SIGKILL after `grace` if its leader still runs.
/// Returns whether the leader is gone.
pub async fn stop_group(pgid: u32, grace: Duration) -> bool {
    let Ok(raw) = i32::try_from(pgid) else {
        return true;
    };
    let group = Pid::from_raw(raw);
    if killpg(group, Signal::SIGTERM).is_err() {
        return !pid_alive(pgid);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !pid_alive(pgid) {
            // The leader is gone; make sure no child of it lingers.
            let _ = killpg(group, Signal::SIGKILL);
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = killpg(group, Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if !pid_alive(pgid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    !pid_alive(pgid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn group_stop_takes_children_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        // A leader that ignores TERM and has a child: KILL after the grace ends both.
        let mut leader = spawn_logged(
            Command::new("/bin/sh").args(["-c", "trap '' TERM; sleep 60 & echo $!; wait"]),
            &log,
        )
        .unwrap();
        let pgid = leader.id();
        let mut child_pid = None;
        for _ in 0..100 {
            if let Ok(t) = std::fs::read_to_string(&log)
                && let Ok(p) = t.trim().parse::<u32>()
            {
                child_pid = Some(p);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let child_pid = child_pid.expect("the child printed its pid");
        let reaper = std::thread::spawn(move || leader.wait());
        assert!(stop_group(pgid, Duration::from_millis(300)).await);
        reaper.join().unwrap().unwrap();
        for _ in 0..100 {
            if !pid_alive(child_pid) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!pid_alive(child_pid), "the leader's child survived");
    }

    #[test]
    fn watchdog_stops_the_group_when_its_pipe_closes() {
        let dir = tempfile::tempdir().unwrap();
        let mut leader = spawn_logged(
            Command::new("/bin/sh").args(["-c", "sleep 60"]),
            &dir.path().join("log"),
        )
        .unwrap();
        let (mut dog, pipe) = spawn_watchdog(leader.id()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(pid_alive(leader.id()));
        drop(pipe);
        let status = leader.wait().unwrap();
        assert!(!status.success());
        let _ = dog.wait();
    }

    #[test]
    fn free_port_is_on_loopback_and_nonzero() {
        assert_ne!(free_port().unwrap(), 0);
    }
}
