//! Calling the podman CLI and reading what it answers.

use crate::delegate::Exit;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The parts of `podman inspect --type container` the delegate reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Inspect {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub state: State,
    #[serde(default)]
    pub host_config: HostConfig,
    #[serde(default)]
    pub config: Config,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub running: bool,
    #[serde(default)]
    pub paused: bool,
    #[serde(default, rename = "OOMKilled")]
    pub oom_killed: bool,
    #[serde(default)]
    pub pid: i64,
    #[serde(default)]
    pub exit_code: i32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    #[serde(default)]
    pub log_config: LogConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(default, rename = "Type")]
    pub kind: String,
    #[serde(default)]
    pub path: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

impl Inspect {
    /// Running, paused or being stopped: its processes exist. (`State.Running` is false
    /// while podman stops a container, and its exit code is not known yet.)
    pub fn alive(&self) -> bool {
        self.state.running || self.state.paused || self.state.status == "stopping"
    }

    pub fn main_pid(&self) -> Option<u32> {
        u32::try_from(self.state.pid).ok().filter(|pid| *pid > 0)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.config.labels.as_ref()?.get(key).map(String::as_str)
    }

    pub fn exit(&self) -> Exit {
        exit_from_code(self.state.exit_code, self.state.oom_killed)
    }
}

/// Parses `podman inspect` output (a JSON array); podman prints the containers it found
/// even when it fails for others.
pub fn parse_inspect(stdout: &[u8]) -> Vec<Inspect> {
    serde_json::from_slice(stdout).unwrap_or_default()
}

/// A line of `podman events --format json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(rename = "Status", default)]
    pub status: String,
    #[serde(rename = "ContainerExitCode", default)]
    pub exit_code: Option<i32>,
}

/// podman records only a number for how a container ended: the exit code, or 128 + the
/// signal that killed its main process (conmon's convention, like a shell's `$?`). Codes
/// 129–192 are therefore reported as the signal (code `None`), the way the process
/// delegate reports a killed process. A program that itself exits with such a code (e.g.
/// `exit 137`) cannot be told apart and is reported as killed too. The kernel's OOM
/// killer always sends SIGKILL.
pub fn exit_from_code(code: i32, oom_killed: bool) -> Exit {
    if oom_killed {
        return Exit {
            code: None,
            signal: Some(9),
        };
    }
    if (129..=128 + 64).contains(&code) {
        Exit {
            code: None,
            signal: Some(code - 128),
        }
    } else {
        Exit {
            code: Some(code),
            signal: None,
        }
    }
}

/// podman's own reason for a failure, from its stderr: its `Error: ...` lines (without the
/// prefix), else its last line.
pub fn reason(stderr: &[u8], status: std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(stderr);
    let errors: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Error: "))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    if !errors.is_empty() {
        return errors.join("; ");
    }
    match text.lines().map(str::trim).rfind(|line| !line.is_empty()) {
        Some(line) => line.to_owned(),
        None => format!("podman ended with {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn signal_exit_codes_become_signals() {
        assert_eq!(
            exit_from_code(137, false),
            Exit {
                code: None,
                signal: Some(9)
            }
        );
        assert_eq!(
            exit_from_code(143, false),
            Exit {
                code: None,
                signal: Some(15)
            }
        );
        for code in [0, 3, 125, 126, 127, 128, 193, 255] {
            assert_eq!(
                exit_from_code(code, false),
                Exit {
                    code: Some(code),
                    signal: None
                }
            );
        }
        assert_eq!(exit_from_code(0, true).signal, Some(9));
    }

    #[test]
    fn reason_is_podmans_error_line() {
        let status = std::process::ExitStatus::from_raw(125 << 8);
        let stderr = b"time=\"x\" level=warning msg=\"noise\"\nError: unable to start container \"abc\": cannot listen on the TCP port: listen tcp4 :18555: bind: address already in use\n";
        assert_eq!(
            reason(stderr, status),
            "unable to start container \"abc\": cannot listen on the TCP port: listen tcp4 :18555: bind: address already in use"
        );
        assert_eq!(reason(b"something odd\n\n", status), "something odd");
        assert!(
            reason(b"", status).contains("125"),
            "{}",
            reason(b"", status)
        );
    }

    #[test]
    fn parses_inspect_and_events() {
        let json = br#"[{"Id":"abc","Name":"web","State":{"Status":"exited","Running":false,"Pid":0,"ExitCode":143,"OOMKilled":false},
            "HostConfig":{"LogConfig":{"Type":"k8s-file","Path":"/x/ctr.log"}},"Config":{"Labels":{"a":"b"}}}]"#;
        let found = parse_inspect(json);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "abc");
        assert!(!found[0].alive());
        assert_eq!(found[0].main_pid(), None);
        assert_eq!(found[0].host_config.log_config.path, "/x/ctr.log");
        assert_eq!(found[0].label("a"), Some("b"));
        assert_eq!(found[0].exit().signal, Some(15));
        assert!(parse_inspect(b"").is_empty());
        let event: Event = serde_json::from_str(
            r#"{"ContainerExitCode":7,"ID":"0954","Image":"i","Name":"n","Status":"died","Time":"t","Type":"container","Attributes":{}}"#,
        )
        .unwrap();
        assert_eq!(
            (event.id.as_str(), event.status.as_str(), event.exit_code),
            ("0954", "died", Some(7))
        );
    }
}
