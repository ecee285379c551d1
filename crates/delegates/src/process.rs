//! Bare processes: each in its own session and process group, and, where the host allows,
//! in a cgroup of its own (see [`crate::cgroup`]); output appended to log files, exits seen
//! through a pidfd.

use crate::cgroup::{self, CgroupRequest, InstanceCgroup};
use crate::delegate::{
    Capabilities, Delegate, DelegateError, ExecPlan, Exit, Running, WorkloadSpec,
};
use crate::executable::resolve_executable;
use crate::launch::Launch;
use crate::user::lookup_user;
use crate::{proc_context, proc_stat};
use rustix::process::{
    kill_process_group, pidfd_open, waitid, Pid, PidfdFlags, Signal, WaitId, WaitIdOptions,
};
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSpec {
    pub command: String,
    pub arguments: Vec<String>,
    /// The complete environment of the process.
    pub environment: BTreeMap<String, String>,
    pub working_directory: PathBuf,
    pub user: Option<String>,
    /// Where `stdout.log` and `stderr.log` go.
    pub log_directory: PathBuf,
    /// Run inside this transient systemd user scope (`systemd-run --user --scope`), for
    /// accounting and `systemctl --user status`; supervision stays with the agent.
    pub systemd_scope: Option<String>,
    /// Run in a cgroup of its own, with these limits: a stop then ends everything the
    /// process started, daemons that left its process group included. Ignored when
    /// `systemd_scope` is set (systemd owns the cgroup then) and on hosts without usable
    /// cgroups (the process runs in its process group only; logged once).
    pub cgroup: Option<CgroupRequest>,
    /// A descriptor of the agent's the process keeps open (inherited across exec): the
    /// agent's shared lock on `hosts/<host>/workloads.lock`, so that the lock stays held
    /// while any workload of the host runs, even after the agent died.
    pub lifeline_fd: Option<i32>,
}

#[derive(Debug, Default)]
pub struct ProcessDelegate;

impl ProcessDelegate {
    fn spec(spec: &WorkloadSpec) -> Result<&ProcessSpec, DelegateError> {
        match spec {
            WorkloadSpec::Process(p) => Ok(p),
            other => Err(DelegateError::Invalid(format!(
                "the process delegate cannot run {other:?}"
            ))),
        }
    }

    /// The processes of an instance: the members of its cgroup (found by name alone, as
    /// for an instance recorded without a pid), else those of its live main process's
    /// process group.
    pub fn members(running: &Running) -> Vec<u32> {
        if let Some(cgroup) = running.cgroup.as_deref().and_then(open_cgroup) {
            return cgroup.members();
        }
        match (running.pid, running.pid_start_time) {
            (Some(pid), Some(start)) if proc_stat::start_time(pid) == Some(start) => {
                proc_stat::live_group_members(pid)
            }
            _ => Vec::new(),
        }
    }

    /// Ends every process in the cgroup of that name (SIGTERM, SIGKILL after `grace`) and
    /// removes it, with no pid needed: for an instance whose start was cut short. Returns
    /// false when there was no such cgroup.
    pub async fn end_cgroup(name: &str, grace: Duration) -> Result<bool, DelegateError> {
        match InstanceCgroup::open(name)? {
            Some(cgroup) => cgroup.end(grace).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// The cgroup a new instance runs in; `None` when it runs in its process group only.
    fn new_cgroup(spec: &ProcessSpec) -> Result<Option<InstanceCgroup>, DelegateError> {
        let Some(request) = &spec.cgroup else {
            return Ok(None);
        };
        // systemd made the scope's cgroup; one of ours inside it would be the wrong owner's.
        if spec.systemd_scope.is_some() || cgroup::availability().is_err() {
            return Ok(None);
        }
        InstanceCgroup::create(request).map(Some)
    }

    fn search_path(spec: &ProcessSpec) -> String {
        spec.environment
            .get("PATH")
            .cloned()
            .or_else(|| std::env::var("PATH").ok())
            .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into())
    }
}

impl ProcessDelegate {
    pub const CAPABILITIES: Capabilities = Capabilities {
        binds_host_ports: true,
        exec: true,
        adoptable: true,
        needs_root: false,
        needs_host_support: false,
    };
}

#[async_trait::async_trait]
impl Delegate for ProcessDelegate {
    fn name(&self) -> &'static str {
        "process"
    }

    fn capabilities(&self) -> Capabilities {
        ProcessDelegate::CAPABILITIES
    }

    fn check(&self, spec: &WorkloadSpec) -> Result<(), DelegateError> {
        let spec = Self::spec(spec)?;
        if let Some(request) = &spec.cgroup {
            cgroup::name_components(&request.name)?;
        }
        if !spec.working_directory.is_dir() {
            return Err(DelegateError::Invalid(format!(
                "working directory {} does not exist",
                spec.working_directory.display()
            )));
        }
        resolve_executable(
            &spec.command,
            &spec.working_directory,
            &Self::search_path(spec),
        )?;
        if spec.systemd_scope.is_some() {
            resolve_executable(
                "systemd-run",
                &spec.working_directory,
                &Self::search_path(spec),
            )?;
        }
        if let Some(user) = &spec.user {
            let ids = lookup_user(user)?;
            let me = rustix::process::geteuid().as_raw();
            if me != 0 && me != ids.uid {
                return Err(DelegateError::Invalid(format!(
                    "cannot run as user \"{user}\": the agent runs as uid {me} and only root can switch users"
                )));
            }
        }
        Ok(())
    }

    async fn start(&self, spec: &WorkloadSpec) -> Result<Running, DelegateError> {
        self.check(spec)?;
        let spec = Self::spec(spec)?;
        let program = resolve_executable(
            &spec.command,
            &spec.working_directory,
            &Self::search_path(spec),
        )?;
        std::fs::create_dir_all(&spec.log_directory).map_err(|e| {
            DelegateError::io(
                format!("create log directory {}", spec.log_directory.display()),
                e,
            )
        })?;
        let log = |name: &str| {
            let path = spec.log_directory.join(name);
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| DelegateError::io(format!("open {}", path.display()), e))
        };
        // systemd-run registers the scope, then executes the program in its own process:
        // the pid supervised is the program's.
        let (executable, arguments, mut environment) = match &spec.systemd_scope {
            None => (program.clone(), spec.arguments.clone(), BTreeMap::new()),
            Some(unit) => {
                let systemd_run = resolve_executable(
                    "systemd-run",
                    &spec.working_directory,
                    &std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
                )?;
                let mut arguments: Vec<String> = [
                    "--user",
                    "--scope",
                    "--quiet",
                    "--collect",
                    "--unit",
                    unit,
                    "--",
                ]
                .map(String::from)
                .to_vec();
                arguments.push(program.to_string_lossy().into_owned());
                arguments.extend(spec.arguments.iter().cloned());
                let session: BTreeMap<String, String> =
                    ["XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"]
                        .into_iter()
                        .filter_map(|key| Some((key.to_owned(), std::env::var(key).ok()?)))
                        .collect();
                (systemd_run, arguments, session)
            }
        };
        environment.extend(spec.environment.iter().map(|(k, v)| (k.clone(), v.clone())));
        let user = match &spec.user {
            Some(user) => {
                let ids = lookup_user(user)?;
                Some((ids.uid, ids.gid))
            }
            None => None,
        };
        let null =
            std::fs::File::open("/dev/null").map_err(|e| DelegateError::io("open /dev/null", e))?;
        let launch = Launch::new(
            &executable,
            &arguments,
            &environment,
            &spec.working_directory,
            null.into(),
            log("stdout.log")?.into(),
            log("stderr.log")?.into(),
        )
        .map_err(|e| DelegateError::Invalid(format!("cannot start {}: {e}", program.display())))?
        .keep_open(spec.lifeline_fd)
        .user(user);
        let cgroup = Self::new_cgroup(spec)?;
        let pid = match spawn(launch, &program, cgroup.as_ref()).await {
            Ok(pid) => pid,
            Err(e) => {
                if let Some(cgroup) = &cgroup {
                    // Nothing runs in it: it goes.
                    let _ = cgroup.remove();
                }
                return Err(e);
            }
        };
        // The child stays unreaped until `wait` collects it through its pidfd.
        let start_time = proc_stat::state_and_start_time(pid).map(|(_, t)| t);
        Ok(Running {
            pid: Some(pid),
            pid_start_time: start_time,
            handle: BTreeMap::new(),
            attributes: BTreeMap::new(),
            cgroup: cgroup.map(|c| c.name().to_owned()),
        })
    }

    async fn is_alive(&self, running: &Running) -> bool {
        match (running.pid, running.pid_start_time) {
            (Some(pid), Some(start)) => proc_stat::start_time(pid) == Some(start),
            _ => false,
        }
    }

    async fn wait(&self, running: &Running) -> Exit {
        let unknown = Exit {
            code: None,
            signal: None,
        };
        let Some(pid) = running.pid else {
            return unknown;
        };
        let Some(fd) = open_pidfd(pid) else {
            return reap(pid).unwrap_or(unknown);
        };
        // A pidfd opened on a reused pid would watch a stranger: check the start time
        // (a zombie child of ours still has its stat entry).
        if running.pid_start_time.is_some()
            && proc_stat::state_and_start_time(pid).map(|(_, t)| t) != running.pid_start_time
        {
            return reap(pid).unwrap_or(unknown);
        }
        wait_readable(&fd).await;
        match waitid(
            WaitId::PidFd(std::os::fd::AsFd::as_fd(&fd)),
            WaitIdOptions::EXITED,
        ) {
            Ok(Some(status)) => Exit {
                code: status.exit_status(),
                signal: status.terminating_signal(),
            },
            // Not our child (adopted after an agent restart): its parent reaps it.
            _ => unknown,
        }
    }

    async fn stop(&self, running: &Running, grace: Duration) -> Result<(), DelegateError> {
        if let Some(cgroup) = running.cgroup.as_deref().and_then(open_cgroup) {
            return self.stop_in_cgroup(running, &cgroup, grace).await;
        }
        let Some(pid) = running.pid else {
            return Ok(());
        };
        if !self.is_alive(running).await {
            // The leader ended; what it left in its group (a shell's background child) gets
            // the same grace as the leader would have.
            if proc_stat::live_group_members(pid).is_empty() {
                return Ok(());
            }
            signal_group(pid, Signal::TERM);
            let deadline = std::time::Instant::now() + grace;
            while !proc_stat::live_group_members(pid).is_empty()
                && std::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            end_group(pid).await;
            return Ok(());
        }
        let fd = open_pidfd(pid);
        signal_group(pid, Signal::TERM);
        let ended = match &fd {
            Some(fd) => tokio::time::timeout(grace, wait_readable(fd)).await.is_ok(),
            None => true,
        };
        if !ended {
            tracing::info!(
                pid,
                "process did not stop within {grace:?}; sending SIGKILL"
            );
            signal_group(pid, Signal::KILL);
            if let Some(fd) = &fd {
                wait_readable(fd).await;
            }
        }
        end_group(pid).await;
        Ok(())
    }

    async fn remove(&self, _spec: &WorkloadSpec) -> Result<(), DelegateError> {
        Ok(())
    }

    /// Beside the process: as its user, with its environment, in its working directory.
    fn exec_plan(
        &self,
        running: &Running,
        command: &[String],
        _tty: bool,
    ) -> Result<ExecPlan, DelegateError> {
        if command.is_empty() {
            return Err(DelegateError::Invalid("no command to execute".into()));
        }
        let alive = match (running.pid, running.pid_start_time) {
            (Some(pid), Some(start)) => (proc_stat::start_time(pid) == Some(start)).then_some(pid),
            _ => None,
        };
        let Some(pid) = alive else {
            return Err(DelegateError::Invalid(
                "the process is not running (its pid is gone)".into(),
            ));
        };
        let unreadable = |what: &str, e: std::io::Error| {
            DelegateError::Invalid(format!("cannot read the {what} of process {pid}: {e}"))
        };
        Ok(ExecPlan {
            argv: command.to_vec(),
            environment: Some(
                proc_context::environment(pid).map_err(|e| unreadable("environment", e))?,
            ),
            working_directory: Some(
                proc_context::working_directory(pid)
                    .map_err(|e| unreadable("working directory", e))?,
            ),
            user: Some(proc_context::user(pid).map_err(|e| unreadable("user", e))?),
        })
    }
}

impl ProcessDelegate {
    /// The main process's group and every member of the cgroup get SIGTERM; after `grace`
    /// the cgroup is killed; when it is empty it is removed. The main process may be gone
    /// already: what it left in the cgroup ends all the same.
    async fn stop_in_cgroup(
        &self,
        running: &Running,
        cgroup: &InstanceCgroup,
        grace: Duration,
    ) -> Result<(), DelegateError> {
        let live_main = match running.pid {
            Some(pid) if self.is_alive(running).await => Some(pid),
            _ => None,
        };
        if let Some(pid) = live_main {
            signal_group(pid, Signal::TERM);
        }
        cgroup.end(grace).await?;
        if let Some(pid) = live_main {
            if self.is_alive(running).await {
                // It moved itself out of the cgroup.
                tracing::info!(
                    pid,
                    cgroup = cgroup.name(),
                    "the main process left its cgroup"
                );
                end_group(pid).await;
            }
        }
        Ok(())
    }
}

/// Starts the process in a session and process group of its own (the agent's terminal and
/// signals never reach it, and stopping it can signal everything it spawned) and in
/// `cgroup`, joined before exec (nothing it runs starts outside). Without forking the
/// agent: see [`crate::launch`].
async fn spawn(
    launch: Launch,
    program: &std::path::Path,
    cgroup: Option<&InstanceCgroup>,
) -> Result<u32, DelegateError> {
    let joiner = cgroup.map(InstanceCgroup::joiner).transpose()?;
    let launch = launch.in_cgroup(joiner.map(|j| j.into_parts()));
    let context = match cgroup {
        None => format!("start {}", program.display()),
        Some(cgroup) => format!(
            "start {} in cgroup {}",
            program.display(),
            cgroup.unified_dir().display()
        ),
    };
    // Off the async workers: spawning waits until the child has exec'd, and the child
    // first enters its working directory, which may be on a stalled shared filesystem.
    tokio::task::spawn_blocking(move || launch.spawn())
        .await
        .map_err(|e| DelegateError::io("start a process", std::io::Error::other(e)))?
        .map(|spawned| spawned.pid)
        .map_err(|(step, e)| DelegateError::io(format!("{context}: {}", step.describe()), e))
}

/// The cgroup of that name, if cgroups are usable here and it exists.
fn open_cgroup(name: &str) -> Option<InstanceCgroup> {
    match InstanceCgroup::open(name) {
        Ok(cgroup) => cgroup,
        Err(e) => {
            tracing::warn!("cannot open the cgroup {name} of an instance: {e}");
            None
        }
    }
}

/// True when a systemd user manager answers (never on hosts where systemd is not PID 1).
pub fn systemd_user_manager_available() -> bool {
    Command::new("systemctl")
        .args(["--user", "is-system-running"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|out| {
            let state = String::from_utf8_lossy(&out.stdout);
            matches!(state.trim(), "running" | "degraded" | "starting")
        })
        .unwrap_or(false)
}

pub(crate) fn open_pidfd(pid: u32) -> Option<OwnedFd> {
    let pid = Pid::from_raw(pid as i32)?;
    pidfd_open(pid, PidfdFlags::NONBLOCK).ok()
}

/// A pidfd becomes readable when the process ends.
pub(crate) async fn wait_readable(fd: &OwnedFd) {
    let dup = match fd.try_clone() {
        Ok(d) => d,
        Err(_) => return,
    };
    // SAFETY: `dup` is an owned pidfd that AsyncFd owns until it is dropped here.
    match unsafe { AsyncFd::register_with_interest(dup, tokio::io::Interest::READABLE) } {
        Ok(async_fd) => {
            let _ = async_fd.readable().await;
        }
        Err(e) => tracing::warn!("cannot watch pidfd: {e}"),
    }
}

/// Collects a child that already ended, if it is ours.
fn reap(pid: u32) -> Option<Exit> {
    let pid = Pid::from_raw(pid as i32)?;
    match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG) {
        Ok(Some((_, status))) => Some(Exit {
            code: status.exit_status(),
            signal: status.terminating_signal(),
        }),
        _ => None,
    }
}

fn signal_group(pid: u32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pid as i32) {
        // ESRCH: the group is already empty.
        let _ = kill_process_group(pid, signal);
    }
}

/// Whatever is left in process group `pgid` goes. SIGKILL is delivered asynchronously:
/// wait, bounded, until every member has died, so that what they held (a port) is free
/// when this returns.
async fn end_group(pgid: u32) {
    signal_group(pgid, Signal::KILL);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while !proc_stat::live_group_members(pgid).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &std::path::Path, command: &str, args: &[&str]) -> WorkloadSpec {
        WorkloadSpec::Process(ProcessSpec {
            command: command.into(),
            arguments: args.iter().map(|s| s.to_string()).collect(),
            environment: BTreeMap::from([
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("GREETING".into(), "hi".into()),
            ]),
            working_directory: dir.to_owned(),
            user: None,
            log_directory: dir.join("logs"),
            systemd_scope: None,
            lifeline_fd: None,
            cgroup: None,
        })
    }

    #[tokio::test]
    async fn runs_in_own_group_logs_output_and_reports_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let d = ProcessDelegate;
        let running = d
            .start(&spec(
                dir.path(),
                "sh",
                &["-c", "echo $GREETING; echo oops >&2; exit 3"],
            ))
            .await
            .unwrap();
        let exit = d.wait(&running).await;
        assert_eq!(
            exit,
            Exit {
                code: Some(3),
                signal: None
            }
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("logs/stdout.log")).unwrap(),
            "hi\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("logs/stderr.log")).unwrap(),
            "oops\n"
        );
    }

    #[tokio::test]
    async fn stop_terminates_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let d = ProcessDelegate;
        // The shell starts a child that ignores nothing; both must be gone after stop.
        let running = d
            .start(&spec(
                dir.path(),
                "sh",
                // Renamed into place: the test never reads a half-written file.
                &[
                    "-c",
                    "sleep 100 & echo $! > child.tmp; mv child.tmp child.pid; wait",
                ],
            ))
            .await
            .unwrap();
        let pid = running.pid.unwrap();
        assert_eq!(
            rustix::process::getpgid(Pid::from_raw(pid as i32))
                .unwrap()
                .as_raw_pid(),
            pid as i32
        );
        let waiter = {
            let running = running.clone();
            tokio::spawn(async move { ProcessDelegate.wait(&running).await })
        };
        // Give the shell time to write the child's pid.
        for _ in 0..100 {
            if dir.path().join("child.pid").exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let child: u32 = std::fs::read_to_string(dir.path().join("child.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        d.stop(&running, Duration::from_secs(5)).await.unwrap();
        let exit = waiter.await.unwrap();
        assert_eq!(exit.signal, Some(15));
        assert!(!d.is_alive(&running).await);
        // The orphaned sleep is killed too (it may linger as a zombie of init briefly).
        let child_alive = proc_stat::start_time(child).is_some();
        assert!(!child_alive, "child {child} of the group survived stop");
    }

    #[tokio::test]
    async fn stop_escalates_to_sigkill_after_grace() {
        let dir = tempfile::tempdir().unwrap();
        let d = ProcessDelegate;
        let running = d
            .start(&spec(
                dir.path(),
                "sh",
                &["-c", "trap '' TERM; while :; do sleep 0.05; done"],
            ))
            .await
            .unwrap();
        let waiter = {
            let running = running.clone();
            tokio::spawn(async move { ProcessDelegate.wait(&running).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        d.stop(&running, Duration::from_millis(300)).await.unwrap();
        assert_eq!(waiter.await.unwrap().signal, Some(9));
    }

    #[tokio::test]
    async fn missing_executable_is_a_clear_error_and_starts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = ProcessDelegate
            .start(&spec(dir.path(), "definitely-not-installed", &[]))
            .await
            .unwrap_err();
        assert!(matches!(err, DelegateError::MissingExecutable(_)));
        assert!(!dir.path().join("logs").exists());
    }

    #[tokio::test]
    async fn a_reused_pid_is_not_mistaken_for_the_process() {
        let d = ProcessDelegate;
        let me = std::process::id();
        let start = proc_stat::start_time(me).unwrap();
        assert!(
            d.is_alive(&Running {
                pid: Some(me),
                pid_start_time: Some(start),
                ..Default::default()
            })
            .await
        );
        assert!(
            !d.is_alive(&Running {
                pid: Some(me),
                pid_start_time: Some(start + 1),
                ..Default::default()
            })
            .await
        );
    }
}
