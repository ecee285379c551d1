use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::container::{ContainerSpec, PodSpec, SystemContainerSpec};
use crate::directory::DirectorySpec;
use crate::process::ProcessSpec;

/// What to run, as the agent derived it from the graph.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadSpec {
    Process(ProcessSpec),
    Directory(DirectorySpec),
    /// An OCI container, run by the podman or the docker delegate.
    Container(ContainerSpec),
    /// A podman pod: containers sharing one network namespace.
    Pod(PodSpec),
    /// A systemd-nspawn system container.
    SystemContainer(SystemContainerSpec),
}

/// What a started workload is known by, kept in the instance record so that a restarted
/// agent can find it again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Running {
    pub pid: Option<u32>,
    pub pid_start_time: Option<u64>,
    /// The delegate's own handle on the workload (container ids, machine name, leader
    /// pid): what it finds the workload by again. Kept apart from the TOSCA attributes, so
    /// that an operation's output can never redirect a stop to another workload.
    pub handle: BTreeMap<String, serde_json::Value>,
    /// Runtime attributes the workload offers to TOSCA (`$get_attribute`), e.g. a
    /// directory's `path`.
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// The relative name of the process's own cgroup (e.g. `ns/svc/node/0`), when it runs
    /// in one; `None` when it runs in its process group only, or in a systemd scope (whose
    /// cgroup systemd owns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
}

/// How to run a command inside (or beside) a running workload, for `khutulun exec`: the
/// agent spawns `argv` (under a pseudo-terminal when asked) and relays its input, output
/// and exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecPlan {
    /// The program and its arguments, e.g. `podman exec -i <id> sh`.
    pub argv: Vec<String>,
    /// The complete environment; `None` keeps the agent's.
    pub environment: Option<BTreeMap<String, String>>,
    pub working_directory: Option<std::path::PathBuf>,
    /// Run as this uid and gid.
    pub user: Option<(u32, u32)>,
}

/// How a workload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl Exit {
    /// Exit code 0. An exit we could not observe (an adopted process) counts as a failure.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit code {code}"),
            (None, Some(signal)) => write!(f, "signal {signal}"),
            (None, None) => write!(f, "unknown status (not a child of this agent)"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DelegateError {
    #[error("{0}")]
    MissingExecutable(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
}

impl DelegateError {
    pub fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        DelegateError::Io {
            action: action.into(),
            source,
        }
    }
}

/// What a delegate can do, declared by the delegate once: the agent and placement read
/// these instead of matching on delegate names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Its workloads listen on the host ports reserved for their endpoints.
    pub binds_host_ports: bool,
    /// It runs commands inside (or beside) a running workload (`khutulun exec`).
    pub exec: bool,
    /// A restarted agent can find a running workload of it again from the instance record
    /// and keep it; otherwise what runs is stopped and started afresh.
    pub adoptable: bool,
    /// It runs only when the agent is root.
    pub needs_root: bool,
    /// It needs a tool or an engine some hosts lack (podman, dockerd, systemd-nspawn):
    /// placement sends its instances only to hosts that publish it.
    pub needs_host_support: bool,
}

/// Runs one kind of workload. Implementations never poll: `wait` resolves on the event
/// that the workload ended (pidfd readability for processes).
#[async_trait::async_trait]
pub trait Delegate: Send + Sync {
    /// The name stored in instance records (`process`, `directory`, ...).
    fn name(&self) -> &'static str;

    /// What it can do (see [`Capabilities`]).
    fn capabilities(&self) -> Capabilities;

    /// Checks that the workload can start (e.g. its executable exists) without changing
    /// anything, so a deploy can fail before it starts anything.
    fn check(&self, spec: &WorkloadSpec) -> Result<(), DelegateError>;

    async fn start(&self, spec: &WorkloadSpec) -> Result<Running, DelegateError>;

    /// True when `running` (from an instance record) is still alive and is the same
    /// workload, not a reused pid.
    async fn is_alive(&self, running: &Running) -> bool;

    /// Resolves when the workload ends. For workloads that never end (directories) it never
    /// resolves.
    async fn wait(&self, running: &Running) -> Exit;

    /// Stops the workload: politely, then by force after `grace`.
    async fn stop(&self, running: &Running, grace: Duration) -> Result<(), DelegateError>;

    /// Removes what the workload left behind when its service is deleted.
    async fn remove(&self, spec: &WorkloadSpec) -> Result<(), DelegateError>;

    /// How to run `command` inside the running workload; `tty` asks for a terminal (e.g.
    /// `-t` for `podman exec`). Workloads that run nothing (directories) refuse.
    fn exec_plan(
        &self,
        running: &Running,
        command: &[String],
        tty: bool,
    ) -> Result<ExecPlan, DelegateError> {
        let _ = (running, command, tty);
        Err(DelegateError::Invalid(format!(
            "a {} runs no program to execute commands in",
            self.name()
        )))
    }
}
