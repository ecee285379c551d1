//! The nspawn delegate: system containers run by `systemd-nspawn`.
//!
//! nspawn is run like a bare process (it goes through [`ProcessDelegate`]): a child of the
//! agent in its own session and process group, its output (and, with `--console=pipe`, the
//! container's) appended to `stdout.log` and `stderr.log` in the log directory, its exit
//! seen through a pidfd, and a restarted agent adopting it by pid and start time. The
//! delegate records the machine name and the container's leader (its PID 1, found as the
//! `leader` module tells) with its start time in the instance record (`machine`,
//! `leader_pid`, `leader_start_time`).
//!
//! - Root: a directory is used in place (`--directory`); nspawn creates its mount points in
//!   it (dev, proc, sys, run, tmp, an empty etc/resolv.conf and etc/localtime to bind the
//!   host's onto), but it is never removed. A tarball is unpacked once into
//!   `<state_directory>/rootfs` (see the `tarball` module), kept across restarts and removed by
//!   `remove`. nspawn locks a root directory while a container runs from it, so two
//!   containers never share one.
//! - Command: a non-empty command runs as PID 2 under nspawn's small stub init
//!   (`--as-pid2`), which reaps orphans and turns a stop into SIGTERM and SIGHUP for the
//!   command (`--kill-signal=SIGRTMIN+3`); nspawn exits with the command's exit code. An
//!   empty command boots the root's init (`--boot`).
//! - Networking: the container shares the host's network namespace (nspawn's default
//!   without `--private-network`), so, like a bare process, the workload listens on its
//!   reserved port itself. The host's resolv.conf and timezone are bind-mounted
//!   (`--resolv-conf=bind-host --timezone=bind`) rather than copied into the root.
//! - Users: no user namespace (`--private-users` is off): root inside is root outside.
//! - Registration: with systemd as PID 1 the container registers with systemd-machined
//!   (`machinectl` sees it, nspawn gets its own scope); without it (containers, CI) nspawn
//!   runs with `--register=no --keep-unit` (see `registration_flags`).
//! - Stop: SIGTERM to nspawn's group (nspawn asks the container to halt), SIGKILL after the
//!   grace period. A container whose nspawn died by SIGKILL would live on (nspawn cannot
//!   take it down then), so `wait` and `stop` kill a leftover leader, which ends its whole
//!   PID namespace.
//! - Exec: `nsenter` into the leader's namespaces and root (see [`NspawnDelegate::exec_plan`]).

mod leader;
mod rootfs;
mod tarball;

use crate::container::{RootSource, SystemContainerSpec};
use crate::delegate::{
    Capabilities, Delegate, DelegateError, ExecPlan, Exit, Running, WorkloadSpec,
};
use crate::executable::resolve_executable;
use crate::proc_stat;
use crate::process::{ProcessDelegate, ProcessSpec};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The PATH nspawn itself, and commands run through `exec_plan`, get.
const SANE_PATH: &str = rootfs::DEFAULT_PATH;

/// Runs [`SystemContainerSpec`]s with systemd-nspawn.
#[derive(Debug, Clone)]
pub struct NspawnDelegate {
    program: PathBuf,
    /// Register containers with systemd-machined (systemd is PID 1).
    register: bool,
}

impl NspawnDelegate {
    /// The delegate when systemd-nspawn can run here: installed, and the agent is root.
    pub fn detect() -> Result<NspawnDelegate, DelegateError> {
        let path = host_path();
        let program = resolve_executable("systemd-nspawn", Path::new("/"), &path).map_err(|_| {
            DelegateError::MissingExecutable(
                "systemd-nspawn is not installed (Debian: the systemd-container package); scripts/setup installs it".into(),
            )
        })?;
        // That it needs root is a capability: the agent's registry checks it.
        Ok(NspawnDelegate {
            program,
            register: systemd_is_pid1(),
        })
    }

    /// The systemd-nspawn this delegate runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    fn spec(spec: &WorkloadSpec) -> Result<&SystemContainerSpec, DelegateError> {
        match spec {
            WorkloadSpec::SystemContainer(s) => Ok(s),
            other => Err(DelegateError::Invalid(format!(
                "the nspawn delegate cannot run {other:?}"
            ))),
        }
    }

    /// The arguments of systemd-nspawn for `spec` with its root at `root`.
    fn arguments(
        &self,
        spec: &SystemContainerSpec,
        root: &Path,
    ) -> Result<Vec<String>, DelegateError> {
        let mut args: Vec<String> = registration_flags(self.register)
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(
            [
                "--quiet",
                "--console=pipe",
                "--link-journal=no",
                "--resolv-conf=bind-host",
                "--timezone=bind",
            ]
            .map(String::from),
        );
        args.push("--directory".into());
        args.push(utf8(root)?.into());
        args.push("--machine".into());
        args.push(spec.name.clone());
        for (key, value) in &spec.environment {
            args.push("--setenv".into());
            args.push(format!("{key}={value}"));
        }
        for mount in &spec.mounts {
            args.push(
                if mount.read_only {
                    "--bind-ro"
                } else {
                    "--bind"
                }
                .into(),
            );
            args.push(format!(
                "{}:{}",
                escape_bind_path(utf8(&mount.source)?),
                escape_bind_path(&mount.target)
            ));
        }
        if spec.command.is_empty() {
            args.push("--boot".into());
        } else {
            args.push("--as-pid2".into());
            args.push("--kill-signal=SIGRTMIN+3".into());
            args.push("--".into());
            args.extend(spec.command.iter().cloned());
        }
        Ok(args)
    }
}

/// The registration flags: with systemd as PID 1 the container registers with
/// systemd-machined and gets its own scope; without it there is neither machined nor a unit
/// to move into.
pub(crate) fn registration_flags(systemd_is_pid1: bool) -> &'static [&'static str] {
    if systemd_is_pid1 {
        &["--register=yes"]
    } else {
        &["--register=no", "--keep-unit"]
    }
}

/// sd_booted(): systemd is PID 1 when /run/systemd/system is a directory.
fn systemd_is_pid1() -> bool {
    std::fs::symlink_metadata("/run/systemd/system")
        .map(|m| m.is_dir())
        .unwrap_or(false)
}

fn host_path() -> String {
    std::env::var("PATH").unwrap_or_else(|_| SANE_PATH.into())
}

fn utf8(path: &Path) -> Result<&str, DelegateError> {
    path.to_str().ok_or_else(|| {
        DelegateError::Invalid(format!(
            "the path {} is not UTF-8, which systemd-nspawn's arguments need here",
            path.display()
        ))
    })
}

/// nspawn splits `--bind` at colons and reads backslash escapes.
fn escape_bind_path(path: &str) -> String {
    path.replace('\\', "\\\\").replace(':', "\\:")
}

/// nspawn's rule for machine names: a host name of at most 64 characters.
fn check_machine_name(name: &str) -> Result<(), DelegateError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..");
    if valid {
        Ok(())
    } else {
        Err(DelegateError::Invalid(format!(
            "\"{name}\" is not a valid machine name for systemd-nspawn: use at most 64 letters, digits, '-', '_' and '.' (not at either end)"
        )))
    }
}

fn check_environment(spec: &SystemContainerSpec) -> Result<(), DelegateError> {
    for key in spec.environment.keys() {
        let mut chars = key.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(DelegateError::Invalid(format!(
                "system container \"{}\": environment variable name \"{key}\" is not valid",
                spec.name
            )));
        }
    }
    Ok(())
}

fn check_mounts(spec: &SystemContainerSpec) -> Result<(), DelegateError> {
    for mount in &spec.mounts {
        if !mount.target.starts_with('/') {
            return Err(DelegateError::Invalid(format!(
                "system container \"{}\": mount target \"{}\" is not an absolute path",
                spec.name, mount.target
            )));
        }
        if !mount.source.exists() {
            return Err(DelegateError::Invalid(format!(
                "system container \"{}\": mount source {} does not exist",
                spec.name,
                mount.source.display()
            )));
        }
    }
    Ok(())
}

/// Where a tarball root is unpacked.
fn unpacked_root(spec: &SystemContainerSpec) -> PathBuf {
    spec.state_directory.join("rootfs")
}

/// Mount points under `path` in the agent's mount namespace (removing through them would
/// delete someone else's files).
fn mounts_under(path: &Path) -> Vec<String> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let prefix = path.to_string_lossy().into_owned();
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        // mountinfo escapes spaces and the like as octal; such paths simply never match.
        .filter(|point| {
            *point == prefix
                || point
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .map(String::from)
        .collect()
}

/// Once nspawn has ended: the container it may have left behind is killed, and the empty
/// propagation directory nspawn cannot remove where /run is no tmpfs (hosts without
/// systemd) goes (only when empty: nothing is ever removed recursively there).
async fn after_exit(running: &Running) {
    leader::kill_orphan(running).await;
    let machine = running.handle.get("machine").and_then(Value::as_str);
    if let Some(machine) = machine.filter(|m| check_machine_name(m).is_ok()) {
        let _ = std::fs::remove_dir(Path::new(PROPAGATE_DIRECTORY).join(machine));
    }
}

/// nspawn's lock file for a root directory, which stays behind when nspawn is killed:
/// removed with the root when no one holds it.
fn remove_lock_file(root: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(root) else {
        return;
    };
    let path = Path::new(LOCK_DIRECTORY).join(format!("inode-{}:{}", meta.dev(), meta.ino()));
    let Ok(file) = std::fs::File::open(&path) else {
        return;
    };
    if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok() {
        let _ = std::fs::remove_file(&path);
    }
}

/// Where nspawn keeps its image lock files (`inode-<device>:<inode>`).
const LOCK_DIRECTORY: &str = "/run/systemd/nspawn/locks";

/// Where nspawn keeps a directory per machine for `machinectl bind`.
const PROPAGATE_DIRECTORY: &str = "/run/systemd/nspawn/propagate";

impl NspawnDelegate {
    pub const CAPABILITIES: Capabilities = Capabilities {
        binds_host_ports: true,
        exec: true,
        adoptable: true,
        needs_root: true,
        needs_host_support: true,
    };
}

#[async_trait::async_trait]
impl Delegate for NspawnDelegate {
    fn name(&self) -> &'static str {
        "nspawn"
    }

    fn capabilities(&self) -> Capabilities {
        NspawnDelegate::CAPABILITIES
    }

    fn check(&self, spec: &WorkloadSpec) -> Result<(), DelegateError> {
        let spec = Self::spec(spec)?;
        check_machine_name(&spec.name)?;
        check_environment(spec)?;
        check_mounts(spec)?;
        match &spec.root {
            RootSource::Directory(root) => {
                rootfs::check_root(root, "directory")?;
                rootfs::check_program(root, spec)?;
            }
            RootSource::Tarball(tarball) => {
                if !tarball.is_file() {
                    return Err(DelegateError::Invalid(format!(
                        "the system container's root tarball {} {}",
                        tarball.display(),
                        if tarball.exists() {
                            "is not a file"
                        } else {
                            "does not exist"
                        }
                    )));
                }
                // Once unpacked, the root can be checked like a directory.
                let root = unpacked_root(spec);
                if root.is_dir() {
                    rootfs::check_root(&root, "directory (unpacked)")?;
                    rootfs::check_program(&root, spec)?;
                }
            }
        }
        Ok(())
    }

    async fn start(&self, workload: &WorkloadSpec) -> Result<Running, DelegateError> {
        self.check(workload)?;
        let spec = Self::spec(workload)?;
        let root = match &spec.root {
            RootSource::Directory(root) => root.clone(),
            RootSource::Tarball(tarball) => {
                let root = unpacked_root(spec);
                if !root.is_dir() {
                    let (tarball, target) = (tarball.clone(), root.clone());
                    std::fs::create_dir_all(&spec.state_directory).map_err(|e| {
                        DelegateError::io(format!("create {}", spec.state_directory.display()), e)
                    })?;
                    tracing::info!(machine = %spec.name, "unpacking {} into {}", tarball.display(), target.display());
                    tokio::task::spawn_blocking(move || tarball::unpack(&tarball, &target))
                        .await
                        .map_err(|e| DelegateError::Invalid(format!("unpacking failed: {e}")))??;
                    let checked = rootfs::check_root(&root, "tarball (unpacked)")
                        .and_then(|()| rootfs::check_program(&root, spec));
                    if let Err(e) = checked {
                        let _ = tarball::remove_if_present(&root);
                        return Err(e);
                    }
                }
                root
            }
        };
        let arguments = self.arguments(spec, &root)?;
        let notify = leader::NotifySocket::bind()
            .map_err(|e| DelegateError::io("create a notification socket for systemd-nspawn", e))?;
        let process = WorkloadSpec::Process(ProcessSpec {
            command: utf8(&self.program)?.into(),
            arguments,
            // NOTIFY_SOCKET is always ours: an agent run by systemd must not have nspawn
            // report to the agent's own service manager.
            environment: BTreeMap::from([
                ("PATH".into(), SANE_PATH.into()),
                ("NOTIFY_SOCKET".into(), notify.address()),
            ]),
            working_directory: PathBuf::from("/"),
            user: None,
            log_directory: spec.log_directory.clone(),
            systemd_scope: None,
            lifeline_fd: None,
            cgroup: None,
        });
        let mut running = ProcessDelegate.start(&process).await?;
        let nspawn = running.pid.expect("a started process has a pid");
        running
            .handle
            .insert("machine".into(), Value::String(spec.name.clone()));
        match notify.leader(nspawn, leader::ANNOUNCE_TIMEOUT).await {
            Some(pid) => {
                running
                    .handle
                    .insert(leader::LEADER_PID.into(), Value::from(pid));
                if let Some(start) = proc_stat::start_time(pid) {
                    running
                        .handle
                        .insert(leader::LEADER_START_TIME.into(), Value::from(start));
                }
            }
            // Still running without a known leader: exec_plan looks for it when needed.
            None if ProcessDelegate.is_alive(&running).await => tracing::warn!(
                machine = %spec.name,
                nspawn,
                "systemd-nspawn announced no container; see {}",
                spec.log_directory.join("stderr.log").display()
            ),
            // Ended already (a failure, or a command that was done at once): wait tells.
            None => tracing::debug!(machine = %spec.name, nspawn, "systemd-nspawn ended at once"),
        }
        Ok(running)
    }

    async fn is_alive(&self, running: &Running) -> bool {
        ProcessDelegate.is_alive(running).await
    }

    async fn wait(&self, running: &Running) -> Exit {
        let exit = ProcessDelegate.wait(running).await;
        after_exit(running).await;
        exit
    }

    async fn stop(&self, running: &Running, grace: Duration) -> Result<(), DelegateError> {
        ProcessDelegate.stop(running, grace).await?;
        after_exit(running).await;
        Ok(())
    }

    async fn remove(&self, workload: &WorkloadSpec) -> Result<(), DelegateError> {
        let spec = Self::spec(workload)?;
        // A directory root is the user's: never touched.
        if let RootSource::Tarball(_) = spec.root {
            let root = unpacked_root(spec);
            let partial = tarball::partial_path(&root);
            for path in [&root, &partial] {
                let mounted = mounts_under(path);
                if !mounted.is_empty() {
                    return Err(DelegateError::Invalid(format!(
                        "cannot remove {}: something is mounted under it ({}); is the container still running?",
                        path.display(),
                        mounted.join(", ")
                    )));
                }
            }
            tokio::task::spawn_blocking(move || {
                remove_lock_file(&root);
                tarball::remove_if_present(&partial)?;
                tarball::remove_if_present(&root)
            })
            .await
            .map_err(|e| DelegateError::Invalid(format!("removing the root failed: {e}")))??;
        }
        Ok(())
    }

    /// `nsenter` into the leader's mount, UTS, IPC, network, PID and cgroup namespaces,
    /// its root and its working directory. (`--wd` without a value means the target's:
    /// `--wd=/` would open the agent's `/`, outside the container's root.) The PID
    /// namespace makes nsenter fork, so the command is a process of the container and
    /// nsenter exits with its status. util-linux 2.38 has no `--env`, so the plan gives the
    /// complete environment: a sane PATH, HOME and `container`.
    fn exec_plan(
        &self,
        running: &Running,
        command: &[String],
        tty: bool,
    ) -> Result<ExecPlan, DelegateError> {
        if command.is_empty() {
            return Err(DelegateError::Invalid("no command to execute".into()));
        }
        let machine = running
            .handle
            .get("machine")
            .and_then(Value::as_str)
            .unwrap_or("the system container");
        let Some(leader) = leader::current(running) else {
            return Err(DelegateError::Invalid(format!(
                "{machine} is not running (no container leader found)"
            )));
        };
        let nsenter =
            resolve_executable("nsenter", Path::new("/"), &host_path()).map_err(|_| {
                DelegateError::MissingExecutable(
                    "nsenter is not installed (Debian: the util-linux package)".into(),
                )
            })?;
        let mut argv = vec![
            nsenter.display().to_string(),
            "--target".into(),
            leader.to_string(),
        ];
        argv.extend(
            [
                "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--root", "--wd", "--",
            ]
            .map(String::from),
        );
        argv.extend(command.iter().cloned());
        let mut environment = BTreeMap::from([
            ("PATH".to_string(), SANE_PATH.to_string()),
            ("HOME".into(), "/root".into()),
            ("container".into(), "systemd-nspawn".into()),
        ]);
        if tty {
            environment.insert(
                "TERM".into(),
                std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into()),
            );
        }
        Ok(ExecPlan {
            argv,
            environment: Some(environment),
            working_directory: None,
            user: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::Mount;

    fn delegate(register: bool) -> NspawnDelegate {
        NspawnDelegate {
            program: "/usr/bin/systemd-nspawn".into(),
            register,
        }
    }

    fn spec(command: &[&str]) -> SystemContainerSpec {
        SystemContainerSpec {
            name: "web-1".into(),
            root: RootSource::Directory("/srv/root".into()),
            command: command.iter().map(|s| s.to_string()).collect(),
            environment: BTreeMap::from([("PORT".into(), "8080".into())]),
            mounts: vec![
                Mount {
                    source: "/data/www".into(),
                    target: "/www".into(),
                    read_only: true,
                },
                Mount {
                    source: "/data/a:b".into(),
                    target: "/state".into(),
                    read_only: false,
                },
            ],
            state_directory: "/var/lib/k/machine".into(),
            log_directory: "/var/lib/k".into(),
        }
    }

    #[test]
    fn registration_depends_on_systemd_being_pid1() {
        assert_eq!(registration_flags(false), ["--register=no", "--keep-unit"]);
        assert_eq!(registration_flags(true), ["--register=yes"]);
    }

    #[test]
    fn a_command_runs_as_pid2_with_environment_and_binds() {
        let args = delegate(false)
            .arguments(&spec(&["httpd", "-f"]), Path::new("/srv/root"))
            .unwrap();
        assert_eq!(
            args,
            [
                "--register=no",
                "--keep-unit",
                "--quiet",
                "--console=pipe",
                "--link-journal=no",
                "--resolv-conf=bind-host",
                "--timezone=bind",
                "--directory",
                "/srv/root",
                "--machine",
                "web-1",
                "--setenv",
                "PORT=8080",
                "--bind-ro",
                "/data/www:/www",
                "--bind",
                "/data/a\\:b:/state",
                "--as-pid2",
                "--kill-signal=SIGRTMIN+3",
                "--",
                "httpd",
                "-f",
            ]
        );
    }

    #[test]
    fn no_command_boots() {
        let args = delegate(true)
            .arguments(&spec(&[]), Path::new("/srv/root"))
            .unwrap();
        assert_eq!(args.first().map(String::as_str), Some("--register=yes"));
        assert_eq!(args.last().map(String::as_str), Some("--boot"));
        assert!(!args.iter().any(|a| a == "--"));
    }

    #[test]
    fn machine_names_are_host_names() {
        check_machine_name("web-1.prod_a").unwrap();
        for bad in ["", ".x", "x.", "a..b", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_machine_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn exec_plans_need_a_leader() {
        let running = Running {
            pid: Some(u32::MAX / 2),
            pid_start_time: Some(1),
            handle: BTreeMap::from([("machine".into(), Value::String("gone".into()))]),
            attributes: BTreeMap::new(),
            cgroup: None,
        };
        let err = delegate(false)
            .exec_plan(&running, &["sh".into()], false)
            .unwrap_err();
        assert!(err.to_string().contains("gone is not running"), "{err}");
    }

    #[test]
    fn mount_points_under_a_path_are_found() {
        assert!(mounts_under(Path::new("/proc")).contains(&"/proc".to_string()));
        assert!(mounts_under(Path::new("/definitely/not/mounted")).is_empty());
    }
}
