//! The host firewall, driven through firewalld's own client `firewall-cmd`, so that what
//! Khutulun opens is what an administrator sees with `firewall-cmd --list-ports`.
//!
//! Only the runtime configuration of the default zone is touched (`--add-port=PORT/tcp`,
//! `--remove-port=PORT/tcp`, never `--permanent`): a port Khutulun opened is gone when
//! firewalld restarts or reloads, and the agent opens it again when it next sees the
//! instance running (start, restart, adoption). Opening an open port and closing a closed
//! one are not errors (firewalld's ALREADY_ENABLED and NOT_ENABLED).
//!
//! firewall-cmd talks to firewalld over the D-Bus system bus only, at
//! `DBUS_SYSTEM_BUS_ADDRESS` when set (else `/run/dbus/system_bus_socket`); it inherits the
//! agent's environment.

use std::ffi::OsString;
use std::process::{Output, Stdio};
use std::time::Duration;

/// The program, looked up on PATH unless [`Firewall::with_program`] names another.
pub const FIREWALL_CMD: &str = "firewall-cmd";

/// How long one firewall-cmd call may take (firewalld builds its rule set on first use).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// firewall-cmd's exit codes (firewall/errors.py).
const ALREADY_ENABLED: i32 = 11;
const NOT_ENABLED: i32 = 12;
const DBUS_ERROR: i32 = 36;
const NOT_RUNNING: i32 = 252;

/// Whether firewalld can take requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirewallState {
    /// `firewall-cmd --state` says `running`.
    Running,
    /// firewalld does not run, or no system bus answers (so it cannot be reached); the
    /// text says which.
    NotRunning(String),
    /// There is no firewall-cmd to ask.
    NotInstalled,
}

/// What an open or a close did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The port was opened (or closed) now.
    Done,
    /// It already was (ALREADY_ENABLED on open, NOT_ENABLED on close).
    Already,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FirewallError {
    #[error("firewalld is not running ({0})")]
    NotRunning(String),
    #[error("{FIREWALL_CMD} is not installed (not found on PATH); install firewalld (scripts/setup does) to open ports in the host firewall")]
    NotInstalled,
    #[error("`{FIREWALL_CMD} {args}` failed (exit {code}): {reason}; {hint}")]
    Failed {
        args: String,
        code: String,
        reason: String,
        hint: String,
    },
}

/// firewall-cmd, run as a child process per request.
#[derive(Debug, Clone)]
pub struct Firewall {
    program: OsString,
    timeout: Duration,
}

impl Default for Firewall {
    fn default() -> Firewall {
        Firewall::new()
    }
}

impl Firewall {
    /// `firewall-cmd` from PATH.
    pub fn new() -> Firewall {
        Firewall::with_program(FIREWALL_CMD)
    }

    /// Another executable that behaves like firewall-cmd (tests).
    pub fn with_program(program: impl Into<OsString>) -> Firewall {
        Firewall {
            program: program.into(),
            timeout: CALL_TIMEOUT,
        }
    }

    /// `firewall-cmd --state`: `running` or not (and why not).
    pub async fn state(&self) -> FirewallState {
        match self.run(&["--state".to_owned()]).await {
            Err(FirewallError::NotInstalled) => FirewallState::NotInstalled,
            Err(e) => FirewallState::NotRunning(e.to_string()),
            Ok(out) => {
                let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if out.status.success() && stdout == "running" {
                    FirewallState::Running
                } else {
                    FirewallState::NotRunning(not_running_reason(&out))
                }
            }
        }
    }

    /// Opens `port`/tcp in the default zone's runtime configuration.
    pub async fn open_tcp_port(&self, port: u16) -> Result<Change, FirewallError> {
        let args = vec![format!("--add-port={port}/tcp")];
        let out = self.run(&args).await?;
        classify(&args, &out, ALREADY_ENABLED)
    }

    /// Closes `port`/tcp in the default zone's runtime configuration.
    pub async fn close_tcp_port(&self, port: u16) -> Result<Change, FirewallError> {
        let args = vec![format!("--remove-port={port}/tcp")];
        let out = self.run(&args).await?;
        classify(&args, &out, NOT_ENABLED)
    }

    /// Whether `port`/tcp is open in the default zone's runtime configuration.
    pub async fn is_tcp_port_open(&self, port: u16) -> Result<bool, FirewallError> {
        let args = vec![format!("--query-port={port}/tcp")];
        let out = self.run(&args).await?;
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        match (out.status.code(), answer.as_str()) {
            (Some(0), "yes") => Ok(true),
            (Some(1), "no") => Ok(false),
            _ => classify(&args, &out, ALREADY_ENABLED).map(|_| false),
        }
    }

    async fn run(&self, args: &[String]) -> Result<Output, FirewallError> {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let program = self.program.to_string_lossy().into_owned();
        let failed = |reason: String, hint: &str| FirewallError::Failed {
            args: args.join(" "),
            code: "-".into(),
            reason,
            hint: hint.into(),
        };
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(FirewallError::NotInstalled)
            }
            Err(e) => {
                return Err(failed(
                    format!("cannot run {program}: {e}"),
                    "check that the agent may execute it",
                ))
            }
        };
        match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(failed(
                format!("waiting for {program}: {e}"),
                "check the agent's log",
            )),
            Err(_) => Err(failed(
                format!("no answer within {}s", self.timeout.as_secs()),
                "check that firewalld and the D-Bus system bus respond (firewall-cmd --state)",
            )),
        }
    }
}

/// Turns firewall-cmd's answer to an add or remove into what happened. `already` is the
/// exit code that means "nothing to do" (older firewall-cmd versions exit with it, newer
/// ones exit 0 and warn).
fn classify(args: &[String], out: &Output, already: i32) -> Result<Change, FirewallError> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let already_said = stderr.contains("ALREADY_ENABLED") || stderr.contains("NOT_ENABLED");
    match out.status.code() {
        Some(0) if already_said => Ok(Change::Already),
        Some(0) => Ok(Change::Done),
        Some(code) if code == already => Ok(Change::Already),
        Some(NOT_RUNNING) => Err(FirewallError::NotRunning(not_running_reason(out))),
        Some(DBUS_ERROR) if no_bus(&stderr) => {
            Err(FirewallError::NotRunning(not_running_reason(out)))
        }
        code => Err(FirewallError::Failed {
            args: args.join(" "),
            code: code.map_or_else(|| "by a signal".into(), |c| c.to_string()),
            reason: text_of(out),
            hint: hint_for(code, &stderr),
        }),
    }
}

/// firewalld needs the system bus: when none answers, firewalld is not running either.
fn no_bus(stderr: &str) -> bool {
    stderr.contains("Failed to connect to socket")
        || stderr.contains("org.freedesktop.DBus.Error.NoServer")
        || stderr.contains("org.freedesktop.DBus.Error.FileNotFound")
}

fn not_running_reason(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(DBUS_ERROR) && no_bus(&stderr) {
        format!(
            "no D-Bus system bus answers at {}; {FIREWALL_CMD} says: {}",
            std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
                .unwrap_or_else(|_| "unix:path=/run/dbus/system_bus_socket".into()),
            text_of(out)
        )
    } else {
        format!("{FIREWALL_CMD} says: {}", text_of(out))
    }
}

/// What firewall-cmd said, stdout and stderr, on one line.
fn text_of(out: &Output) -> String {
    let text = format!(
        "{} {}",
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        "it said nothing".into()
    } else {
        text
    }
}

fn hint_for(code: Option<i32>, stderr: &str) -> String {
    match code {
        Some(253) | Some(29) => {
            "the agent may not change the firewall: run it as root, or allow it in polkit (org.fedoraproject.FirewallD1.config)".into()
        }
        Some(251) => "firewalld runs but failed to apply its rules; see its log (journalctl -u firewalld) and fix its configuration".into(),
        Some(112) => "firewalld's default zone is invalid; set one with firewall-cmd --set-default-zone".into(),
        _ if stderr.contains("DBUS_ERROR") => {
            "firewall-cmd could not talk to firewalld over D-Bus; check `firewall-cmd --state` as the agent's user".into()
        }
        _ => "check `firewall-cmd --state` and firewalld's log".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn output(code: i32, stdout: &str, stderr: &str) -> Output {
        Output {
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    fn args() -> Vec<String> {
        vec!["--add-port=20001/tcp".into()]
    }

    #[test]
    fn success_and_already_are_changes() {
        assert_eq!(
            classify(&args(), &output(0, "success\n", ""), ALREADY_ENABLED),
            Ok(Change::Done)
        );
        let warned = output(
            0,
            "success\n",
            "Warning: ALREADY_ENABLED: '20001:tcp' already in 'public'\n",
        );
        assert_eq!(
            classify(&args(), &warned, ALREADY_ENABLED),
            Ok(Change::Already)
        );
        let not_enabled = output(
            0,
            "success\n",
            "Warning: NOT_ENABLED: '20001:tcp' not in 'public'",
        );
        assert_eq!(
            classify(&args(), &not_enabled, NOT_ENABLED),
            Ok(Change::Already)
        );
        // Older firewall-cmd versions exit with the code instead of warning.
        assert_eq!(
            classify(
                &args(),
                &output(11, "", "Error: ALREADY_ENABLED"),
                ALREADY_ENABLED
            ),
            Ok(Change::Already)
        );
    }

    #[test]
    fn not_running_and_no_bus_are_not_running() {
        let not_running = output(252, "", "FirewallD is not running\n");
        assert!(matches!(
            classify(&args(), &not_running, ALREADY_ENABLED),
            Err(FirewallError::NotRunning(why)) if why.contains("FirewallD is not running")
        ));
        let no_bus = output(
            36,
            "",
            "Error: DBUS_ERROR: Failed to connect to socket /run/dbus/system_bus_socket: No such file or directory\n",
        );
        assert!(matches!(
            classify(&args(), &no_bus, ALREADY_ENABLED),
            Err(FirewallError::NotRunning(why)) if why.contains("no D-Bus system bus answers")
        ));
    }

    #[test]
    fn other_failures_say_what_failed_and_what_to_do() {
        let denied = output(253, "", "Error: NOT_AUTHORIZED\n");
        let e = classify(&args(), &denied, ALREADY_ENABLED).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("firewall-cmd --add-port=20001/tcp"), "{text}");
        assert!(text.contains("exit 253"), "{text}");
        assert!(text.contains("NOT_AUTHORIZED"), "{text}");
        assert!(text.contains("run it as root"), "{text}");
    }

    /// A stand-in firewall-cmd: a shell script that answers like the real one.
    fn fake(dir: &std::path::Path, body: &str) -> Firewall {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("firewall-cmd");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Firewall::with_program(path)
    }

    #[tokio::test]
    async fn state_runs_firewall_cmd() {
        let dir = tempfile::tempdir().unwrap();
        let running = fake(dir.path(), r#"[ "$1" = --state ] && echo running"#);
        assert_eq!(running.state().await, FirewallState::Running);
        let dir2 = tempfile::tempdir().unwrap();
        let stopped = fake(dir2.path(), "echo 'not running'; exit 252");
        assert!(matches!(
            stopped.state().await,
            FirewallState::NotRunning(why) if why.contains("not running")
        ));
        let missing = Firewall::with_program(dir.path().join("no-such-firewall-cmd"));
        assert_eq!(missing.state().await, FirewallState::NotInstalled);
        assert_eq!(
            missing.open_tcp_port(1).await,
            Err(FirewallError::NotInstalled)
        );
    }

    #[tokio::test]
    async fn open_and_close_pass_the_port() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls");
        let fw = fake(
            dir.path(),
            &format!("echo \"$@\" >> {}; echo success", log.display()),
        );
        assert_eq!(fw.open_tcp_port(20001).await, Ok(Change::Done));
        assert_eq!(fw.close_tcp_port(20001).await, Ok(Change::Done));
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "--add-port=20001/tcp\n--remove-port=20001/tcp\n"
        );
    }
}
