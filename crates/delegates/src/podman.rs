//! The podman delegate: OCI containers and pods, run by the `podman` CLI (rootful, 4.3 and
//! later) as a careful administrator would: real containers that `podman ps` lists, labelled
//! with their instance, their output in plain log files.
//!
//! - Images come only from podman's local store or from an image archive shipped with the
//!   service (`podman load`); no registry is ever contacted.
//! - A container's output is copied from podman's `k8s-file` log into `stdout.log` and
//!   `stderr.log` while `wait` runs (see the `logs` module).
//! - `wait` resolves on podman's `died` event; nothing is polled.
//! - The global flags and the containers' resource limits depend on the host (see
//!   the `host` module).

mod cli;
mod host;
mod logs;

use crate::container::{ContainerSpec, ImageSource, Mount, Network, PodSpec, PortMapping};
use crate::delegate::{
    Capabilities, Delegate, DelegateError, ExecPlan, Exit, Running, WorkloadSpec,
};
use crate::executable::resolve_executable;
use crate::proc_stat;
use cli::Inspect;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use host::infra_containers_conf;
pub use host::{global_flags, ulimit_flags, HostFacts};

/// The label that tells where a container's output is copied to (its instance's log
/// directory), so that a restarted agent finds it again from the container alone.
pub const LOG_DIRECTORY_LABEL: &str = "io.khutulun.log-directory";

const UNKNOWN_EXIT: Exit = Exit {
    code: None,
    signal: None,
};

#[derive(Debug, Clone)]
pub struct PodmanDelegate {
    program: PathBuf,
    global: Vec<String>,
    ulimits: Vec<String>,
    /// containers.conf text for `podman pod create` (the infra container's limits).
    infra_conf: Option<String>,
}

impl PodmanDelegate {
    /// Finds podman and chooses its flags for this host.
    pub fn detect() -> Result<PodmanDelegate, DelegateError> {
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        let program = resolve_executable("podman", Path::new("/"), &path).map_err(|_| {
            DelegateError::MissingExecutable(
                "podman is not installed; scripts/setup installs it".into(),
            )
        })?;
        let facts = HostFacts::detect();
        if facts.needs_runc() && !runc_installed(&path) {
            return Err(DelegateError::MissingExecutable(
                "podman needs runc on this host (its cgroups are not v2-only or systemd is not PID 1, which crun refuses), and runc is not installed; scripts/setup installs it".into(),
            ));
        }
        let ulimits = ulimit_flags(&facts);
        let base = match std::env::var_os("CONTAINERS_CONF") {
            Some(path) => std::fs::read_to_string(path).ok(),
            None => std::fs::read_to_string("/etc/containers/containers.conf").ok(),
        };
        tracing::debug!(?facts, "podman host facts");
        Ok(PodmanDelegate {
            program,
            global: global_flags(&facts),
            infra_conf: infra_containers_conf(base.as_deref(), &ulimits),
            ulimits,
        })
    }

    /// The podman executable.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The flags every podman call gets (e.g. `--runtime runc --cgroup-manager cgroupfs`).
    pub fn global_flags(&self) -> &[String] {
        &self.global
    }

    /// The `--ulimit` flags every container gets.
    pub fn ulimit_flags(&self) -> &[String] {
        &self.ulimits
    }

    fn command<I, S>(&self, args: I) -> tokio::process::Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = tokio::process::Command::new(&self.program);
        command.args(&self.global).args(args).stdin(Stdio::null());
        command
    }

    async fn run<I, S>(&self, args: I) -> Result<Output, DelegateError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(args)
            .output()
            .await
            .map_err(|e| DelegateError::io(format!("run {}", self.program.display()), e))
    }

    /// Runs podman; its stdout when it succeeds, else `what: <podman's reason>`.
    async fn run_ok<I, S>(
        &self,
        args: I,
        what: impl FnOnce() -> String,
    ) -> Result<String, DelegateError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.run(args).await?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(DelegateError::Invalid(format!(
                "{}: {}",
                what(),
                cli::reason(&out.stderr, out.status)
            )))
        }
    }

    /// The containers among `ids` that exist; `None` when podman failed for another reason
    /// than missing containers (so nothing can be concluded).
    async fn inspect(&self, ids: &[String]) -> Option<Vec<Inspect>> {
        if ids.is_empty() {
            return Some(Vec::new());
        }
        let mut args = vec!["inspect".to_owned(), "--type".into(), "container".into()];
        args.extend(ids.iter().cloned());
        let out = match self.run(&args).await {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!("{e}");
                return None;
            }
        };
        let found = cli::parse_inspect(&out.stdout);
        if out.status.success() {
            return Some(found);
        }
        let reason = cli::reason(&out.stderr, out.status);
        if reason.contains("no such container") {
            Some(found)
        } else {
            tracing::warn!("podman inspect {ids:?}: {reason}");
            None
        }
    }

    /// Makes sure the image is in podman's store, loading its archive if it has one.
    async fn ensure_image(&self, spec: &ContainerSpec) -> Result<(), DelegateError> {
        if self.image_exists(&spec.image).await? {
            return Ok(());
        }
        match &spec.image_source {
            ImageSource::Local => Err(DelegateError::Invalid(format!(
                "image {} is not in podman's local store (no registry is contacted): load it with `podman load` or ship it as an image artifact",
                spec.image
            ))),
            ImageSource::Archive(archive) => {
                let mut args = vec![OsStr::new("load"), OsStr::new("-i")];
                args.push(archive.as_os_str());
                let loaded = self
                    .run_ok(args, || {
                        format!(
                            "podman could not load image archive {} (for image {})",
                            archive.display(),
                            spec.image
                        )
                    })
                    .await?;
                if self.image_exists(&spec.image).await? {
                    return Ok(());
                }
                let names: Vec<&str> = loaded
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("Loaded image:"))
                    .map(str::trim)
                    .collect();
                Err(DelegateError::Invalid(format!(
                    "image archive {} does not contain image {} (it holds: {})",
                    archive.display(),
                    spec.image,
                    if names.is_empty() {
                        "nothing podman could name".to_owned()
                    } else {
                        names.join(", ")
                    }
                )))
            }
        }
    }

    async fn image_exists(&self, image: &str) -> Result<bool, DelegateError> {
        let out = self.run(["image", "exists", image]).await?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(DelegateError::Invalid(format!(
                "podman could not look up image {image}: {}",
                cli::reason(&out.stderr, out.status)
            ))),
        }
    }

    /// `podman rm -f` without waiting: what is removed was stopped already or is a
    /// leftover.
    async fn remove_container(&self, name: &str) -> Result<(), DelegateError> {
        self.run_ok(["rm", "--force", "--ignore", "--time", "0", name], || {
            format!("podman could not remove container {name}")
        })
        .await
        .map(drop)
    }

    async fn remove_pod(&self, name: &str) -> Result<(), DelegateError> {
        self.run_ok(
            ["pod", "rm", "--force", "--ignore", "--time", "0", name],
            || format!("podman could not remove pod {name}"),
        )
        .await
        .map(drop)
    }

    /// After a failed start: removes what was created, keeping the first error.
    async fn clean_up_after(&self, container: Option<&str>, pod: Option<&str>) {
        if let Some(name) = container {
            if let Err(e) = self.remove_container(name).await {
                tracing::warn!("{e}");
            }
        }
        if let Some(name) = pod {
            if let Err(e) = self.remove_pod(name).await {
                tracing::warn!("{e}");
            }
        }
    }

    async fn start_container(&self, spec: &ContainerSpec) -> Result<Running, DelegateError> {
        self.ensure_image(spec).await?;
        create_log_directory(&spec.log_directory)?;
        self.remove_container(&spec.name).await?;
        let name = spec.name.as_str();
        let created = self
            .run_ok(create_args(spec, &self.ulimits), || {
                format!("podman could not create container {name}")
            })
            .await;
        let id = match created {
            Ok(out) => last_line(&out),
            Err(e) => {
                self.clean_up_after(Some(name), None).await;
                return Err(e);
            }
        };
        if let Err(e) = self
            .run_ok(["start", id.as_str()], || {
                format!("podman could not start container {name}")
            })
            .await
        {
            self.clean_up_after(Some(name), None).await;
            return Err(e);
        }
        let found = self
            .inspect(std::slice::from_ref(&id))
            .await
            .unwrap_or_default();
        let Some(container) = found.into_iter().find(|c| c.id == id) else {
            return Err(DelegateError::Invalid(format!(
                "podman started container {name} ({id}) but cannot find it"
            )));
        };
        Ok(running_of(&[container], None))
    }

    async fn start_pod(&self, spec: &PodSpec) -> Result<Running, DelegateError> {
        for member in &spec.containers {
            self.ensure_image(member).await?;
        }
        create_log_directory(&spec.log_directory)?;
        for member in &spec.containers {
            create_log_directory(&member.log_directory)?;
        }
        self.remove_pod(&spec.name).await?;
        for member in &spec.containers {
            self.remove_container(&member.name).await?;
        }
        let pod = spec.name.as_str();
        let pod_id = match self.create_pod(spec).await {
            Ok(id) => id,
            Err(e) => {
                self.clean_up_after(None, Some(pod)).await;
                return Err(e);
            }
        };
        let mut ids = Vec::new();
        for member in &spec.containers {
            let mut member = member.clone();
            member.pod = Some(spec.name.clone());
            let name = member.name.as_str();
            match self
                .run_ok(create_args(&member, &self.ulimits), || {
                    format!("podman could not create container {name} in pod {pod}")
                })
                .await
            {
                Ok(out) => ids.push(last_line(&out)),
                Err(e) => {
                    self.clean_up_after(Some(name), Some(pod)).await;
                    return Err(e);
                }
            }
        }
        if let Err(e) = self
            .run_ok(["pod", "start", pod], || {
                format!("podman could not start pod {pod}")
            })
            .await
        {
            self.clean_up_after(None, Some(pod)).await;
            return Err(e);
        }
        let found = self.inspect(&ids).await.unwrap_or_default();
        let members: Vec<Inspect> = ids
            .iter()
            .filter_map(|id| found.iter().find(|c| &c.id == id).cloned())
            .collect();
        if members.len() != ids.len() {
            return Err(DelegateError::Invalid(format!(
                "podman started pod {pod} but cannot find all its containers"
            )));
        }
        Ok(running_of(&members, Some((pod_id.as_str(), pod))))
    }

    /// `podman pod create`, with the infra container's limits in a temporary
    /// containers.conf when the host needs them (see [`infra_containers_conf`]).
    async fn create_pod(&self, spec: &PodSpec) -> Result<String, DelegateError> {
        let mut args = vec![
            "pod".to_owned(),
            "create".into(),
            "--name".into(),
            spec.name.clone(),
        ];
        for (key, value) in &spec.labels {
            args.push("--label".into());
            args.push(format!("{key}={value}"));
        }
        for port in &spec.ports {
            args.push("--publish".into());
            args.push(format!("{}:{}", port.host_port, port.container_port));
        }
        let mut command = self.command(&args);
        let conf = match &self.infra_conf {
            Some(text) => {
                static COUNT: AtomicU64 = AtomicU64::new(0);
                let path = std::env::temp_dir().join(format!(
                    "khutulun-podman-infra-{}-{}.conf",
                    std::process::id(),
                    COUNT.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::write(&path, text)
                    .map_err(|e| DelegateError::io(format!("write {}", path.display()), e))?;
                command.env("CONTAINERS_CONF", &path);
                Some(path)
            }
            None => None,
        };
        let out = command.output().await;
        if let Some(path) = conf {
            let _ = std::fs::remove_file(path);
        }
        let out =
            out.map_err(|e| DelegateError::io(format!("run {}", self.program.display()), e))?;
        if !out.status.success() {
            return Err(DelegateError::Invalid(format!(
                "podman could not create pod {}: {}",
                spec.name,
                cli::reason(&out.stderr, out.status)
            )));
        }
        Ok(last_line(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Resolves when one of the containers is no longer running: on podman's `died`
    /// event, or at once when one is not running already.
    ///
    /// The event stream is started first and asked to replay events from a moment before
    /// the state is read (`--since`), so a container that dies between reading its state
    /// and the stream being ready is still seen: its event is in the replay.
    async fn watch_death(&self, ids: &[String]) -> Exit {
        let mut failures = 0u32;
        loop {
            let since = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs().saturating_sub(2))
                .unwrap_or(0);
            let mut args = vec![
                "events".to_owned(),
                "--format".into(),
                "json".into(),
                "--since".into(),
                since.to_string(),
                "--filter".into(),
                "event=died".into(),
            ];
            for id in ids {
                args.push("--filter".into());
                args.push(format!("container={id}"));
            }
            let child = self
                .command(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn();
            if let Some(found) = self.inspect(ids).await {
                for id in ids {
                    match found.iter().find(|c| &c.id == id) {
                        None => return UNKNOWN_EXIT,
                        Some(c) if !c.alive() => return c.exit(),
                        Some(_) => {}
                    }
                }
            }
            let problem = match child {
                Ok(mut child) => {
                    let stdout = child.stdout.take().expect("piped");
                    let mut stderr = child.stderr.take().expect("piped");
                    let stderr_text = tokio::spawn(async move {
                        let mut text = String::new();
                        let _ = stderr.read_to_string(&mut text).await;
                        text
                    });
                    let mut lines = BufReader::new(stdout).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let Ok(event) = serde_json::from_str::<cli::Event>(&line) else {
                            continue;
                        };
                        if event.status != "died" || !ids.contains(&event.id) {
                            continue;
                        }
                        // The event carries the exit code podman recorded; inspect
                        // only when it does not (and for the OOM killer).
                        let found = self
                            .inspect(std::slice::from_ref(&event.id))
                            .await
                            .unwrap_or_default();
                        let state = found.iter().find(|c| c.id == event.id && !c.alive());
                        return match (event.exit_code, state) {
                            (Some(code), state) => {
                                cli::exit_from_code(code, state.is_some_and(|c| c.state.oom_killed))
                            }
                            (None, Some(c)) => c.exit(),
                            (None, None) => UNKNOWN_EXIT,
                        };
                    }
                    let _ = child.kill().await;
                    let status = child.wait().await.ok();
                    let text = stderr_text.await.unwrap_or_default();
                    match status {
                        Some(status) => cli::reason(text.as_bytes(), status),
                        None => text.trim().to_owned(),
                    }
                }
                Err(e) => e.to_string(),
            };
            // Not polling: the stream failed; it is started again after a pause.
            failures += 1;
            let delay = Duration::from_secs(u64::from(failures.min(30)));
            tracing::warn!(
                "podman events for {ids:?} ended ({problem}); watching again in {delay:?}"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

fn runc_installed(path: &str) -> bool {
    let known = "/usr/bin:/usr/sbin:/usr/local/bin:/usr/local/sbin:/bin:/sbin";
    resolve_executable("runc", Path::new("/"), &format!("{path}:{known}")).is_ok()
}

fn create_log_directory(directory: &Path) -> Result<(), DelegateError> {
    std::fs::create_dir_all(directory)
        .map_err(|e| DelegateError::io(format!("create log directory {}", directory.display()), e))
}

fn last_line(stdout: &str) -> String {
    stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
        .to_owned()
}

/// The arguments of `podman create` for a container (a pod member when `spec.pod` is set:
/// it then shares the pod's network and publishes nothing itself).
fn create_args(spec: &ContainerSpec, ulimits: &[String]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "create".into(),
        "--name".into(),
        spec.name.clone(),
        // Never contact a registry, even if the image vanished since it was checked.
        "--pull".into(),
        "never".into(),
        // The relay reads this driver's file (see `logs`).
        "--log-driver".into(),
        "k8s-file".into(),
    ];
    for (key, value) in &spec.labels {
        args.push("--label".into());
        args.push(format!("{key}={value}"));
    }
    args.push("--label".into());
    args.push(format!(
        "{LOG_DIRECTORY_LABEL}={}",
        spec.log_directory.display()
    ));
    for (key, value) in &spec.environment {
        args.push("--env".into());
        args.push(format!("{key}={value}"));
    }
    match &spec.pod {
        Some(pod) => {
            args.push("--pod".into());
            args.push(pod.clone());
        }
        None => {
            args.push("--network".into());
            args.push(
                match spec.network {
                    Network::Bridge => "bridge",
                    Network::Host => "host",
                }
                .into(),
            );
            if spec.network == Network::Bridge {
                for port in &spec.ports {
                    args.push("--publish".into());
                    args.push(format!("{}:{}", port.host_port, port.container_port));
                }
            }
        }
    }
    for mount in &spec.mounts {
        args.push("--volume".into());
        let mut volume = format!("{}:{}", mount.source.display(), mount.target);
        if mount.read_only {
            volume.push_str(":ro");
        }
        args.push(volume);
    }
    args.extend(ulimits.iter().cloned());
    if let Some(entrypoint) = &spec.entrypoint {
        args.push("--entrypoint".into());
        args.push(serde_json::to_string(entrypoint).expect("strings serialize"));
    }
    args.push(spec.image.clone());
    args.extend(spec.command.iter().cloned());
    args
}

/// What a started container or pod is known by; the first container stands for a pod.
fn running_of(members: &[Inspect], pod: Option<(&str, &str)>) -> Running {
    let first = &members[0];
    let pid = first.main_pid();
    let mut handle = BTreeMap::from([
        ("container_id".to_owned(), Value::String(first.id.clone())),
        (
            "container_name".to_owned(),
            Value::String(first.name.clone()),
        ),
    ]);
    if let Some((pod_id, pod_name)) = pod {
        handle.insert("pod_id".into(), Value::String(pod_id.to_owned()));
        handle.insert("pod_name".into(), Value::String(pod_name.to_owned()));
        handle.insert(
            "container_ids".into(),
            Value::Array(
                members
                    .iter()
                    .map(|c| Value::String(c.id.clone()))
                    .collect(),
            ),
        );
        handle.insert(
            "container_names".into(),
            Value::Array(
                members
                    .iter()
                    .map(|c| Value::String(c.name.clone()))
                    .collect(),
            ),
        );
    }
    Running {
        pid,
        pid_start_time: pid.and_then(proc_stat::start_time),
        handle,
        attributes: BTreeMap::new(),
        cgroup: None,
    }
}

/// The ids of the containers a [`Running`] stands for: all members of a pod.
fn member_ids(running: &Running) -> Vec<String> {
    if let Some(Value::Array(ids)) = running.handle.get("container_ids") {
        return ids
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
    }
    running
        .handle
        .get("container_id")
        .and_then(Value::as_str)
        .map(|id| vec![id.to_owned()])
        .unwrap_or_default()
}

fn pod_id(running: &Running) -> Option<&str> {
    running.handle.get("pod_id").and_then(Value::as_str)
}

/// podman's rule for container and pod names.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn check_name(kind: &str, name: &str) -> Result<(), DelegateError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(DelegateError::Invalid(format!(
            "{kind} name \"{name}\" is not valid for podman: it must start with a letter or digit and contain only letters, digits, '_', '.' and '-'"
        )))
    }
}

fn check_ports(owner: &str, ports: &[PortMapping]) -> Result<(), DelegateError> {
    let mut seen = BTreeSet::new();
    for port in ports {
        if port.host_port == 0 || port.container_port == 0 {
            return Err(DelegateError::Invalid(format!(
                "{owner}: endpoint {} publishes port {} to {}; ports must not be 0",
                port.endpoint, port.host_port, port.container_port
            )));
        }
        if !seen.insert(port.host_port) {
            return Err(DelegateError::Invalid(format!(
                "{owner}: host port {} is published twice",
                port.host_port
            )));
        }
    }
    Ok(())
}

fn check_labels(owner: &str, labels: &BTreeMap<String, String>) -> Result<(), DelegateError> {
    match labels.keys().find(|k| k.is_empty() || k.contains('=')) {
        Some(key) => Err(DelegateError::Invalid(format!(
            "{owner}: label \"{key}\" is not a valid label name"
        ))),
        None => Ok(()),
    }
}

fn check_mount(owner: &str, mount: &Mount) -> Result<(), DelegateError> {
    let source = mount.source.to_string_lossy();
    if !mount.source.is_absolute() || source.contains(':') || source.contains(',') {
        return Err(DelegateError::Invalid(format!(
            "{owner}: mount source \"{source}\" must be an absolute path without ':' or ','"
        )));
    }
    if !mount.target.starts_with('/') || mount.target.contains(':') || mount.target.contains(',') {
        return Err(DelegateError::Invalid(format!(
            "{owner}: mount target \"{}\" must be an absolute path without ':' or ','",
            mount.target
        )));
    }
    if !mount.source.exists() {
        return Err(DelegateError::Invalid(format!(
            "{owner}: mount source {source} does not exist"
        )));
    }
    Ok(())
}

fn check_container(spec: &ContainerSpec, pod: Option<&str>) -> Result<(), DelegateError> {
    check_name("container", &spec.name)?;
    let owner = format!("container {}", spec.name);
    if spec.image.trim().is_empty() {
        return Err(DelegateError::Invalid(format!("{owner}: no image")));
    }
    if let ImageSource::Archive(path) = &spec.image_source {
        if !path.is_file() {
            return Err(DelegateError::Invalid(format!(
                "{owner}: image archive {} does not exist",
                path.display()
            )));
        }
    }
    if let Some(key) = spec
        .environment
        .keys()
        .find(|k| k.is_empty() || k.contains('='))
    {
        return Err(DelegateError::Invalid(format!(
            "{owner}: environment variable name \"{key}\" is not valid"
        )));
    }
    check_labels(&owner, &spec.labels)?;
    for mount in &spec.mounts {
        check_mount(&owner, mount)?;
    }
    let in_pod = pod.or(spec.pod.as_deref());
    if let Some(pod) = in_pod {
        if !spec.ports.is_empty() {
            return Err(DelegateError::Invalid(format!(
                "{owner} is in pod {pod} and publishes ports itself; a pod's ports are published by the pod"
            )));
        }
        if spec.network == Network::Host {
            return Err(DelegateError::Invalid(format!(
                "{owner} is in pod {pod} and asks for the host's network; containers in a pod share the pod's"
            )));
        }
    } else {
        check_ports(&owner, &spec.ports)?;
    }
    if !spec.log_directory.is_absolute() {
        return Err(DelegateError::Invalid(format!(
            "{owner}: log directory {} must be absolute",
            spec.log_directory.display()
        )));
    }
    Ok(())
}

fn check_pod(spec: &PodSpec) -> Result<(), DelegateError> {
    check_name("pod", &spec.name)?;
    let owner = format!("pod {}", spec.name);
    check_ports(&owner, &spec.ports)?;
    check_labels(&owner, &spec.labels)?;
    if spec.containers.is_empty() {
        return Err(DelegateError::Invalid(format!("{owner} has no containers")));
    }
    let mut names = BTreeSet::new();
    for member in &spec.containers {
        check_container(member, Some(&spec.name))?;
        if !names.insert(member.name.as_str()) {
            return Err(DelegateError::Invalid(format!(
                "{owner}: two containers are named {}",
                member.name
            )));
        }
    }
    Ok(())
}

/// The containers and log directories of a workload, for removing its bookkeeping.
fn position_files(spec: &WorkloadSpec) -> Vec<PathBuf> {
    match spec {
        WorkloadSpec::Container(c) => vec![logs::position_file(&c.log_directory, &c.name)],
        WorkloadSpec::Pod(p) => p
            .containers
            .iter()
            .map(|c| logs::position_file(&c.log_directory, &c.name))
            .collect(),
        _ => Vec::new(),
    }
}

async fn changed(watcher: &Option<logs::Watcher>) {
    match watcher {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

impl PodmanDelegate {
    pub const CAPABILITIES: Capabilities = Capabilities {
        binds_host_ports: true,
        exec: true,
        adoptable: true,
        needs_root: false,
        needs_host_support: true,
    };
}

#[async_trait::async_trait]
impl Delegate for PodmanDelegate {
    fn name(&self) -> &'static str {
        "podman"
    }

    fn capabilities(&self) -> Capabilities {
        PodmanDelegate::CAPABILITIES
    }

    fn check(&self, spec: &WorkloadSpec) -> Result<(), DelegateError> {
        match spec {
            WorkloadSpec::Container(c) => check_container(c, None),
            WorkloadSpec::Pod(p) => check_pod(p),
            other => Err(DelegateError::Invalid(format!(
                "the podman delegate cannot run {other:?}"
            ))),
        }
    }

    async fn start(&self, spec: &WorkloadSpec) -> Result<Running, DelegateError> {
        self.check(spec)?;
        match spec {
            WorkloadSpec::Container(c) => self.start_container(c).await,
            WorkloadSpec::Pod(p) => self.start_pod(p).await,
            _ => unreachable!("check accepts only containers and pods"),
        }
    }

    async fn is_alive(&self, running: &Running) -> bool {
        let ids = member_ids(running);
        if ids.is_empty() {
            return false;
        }
        let Some(found) = self.inspect(&ids).await else {
            return false;
        };
        ids.iter()
            .all(|id| found.iter().any(|c| &c.id == id && c.alive()))
    }

    /// Copies the containers' output to their log files until one of them ends (see the
    /// `logs` module), and resolves with how it ended.
    async fn wait(&self, running: &Running) -> Exit {
        let ids = member_ids(running);
        if ids.is_empty() {
            return UNKNOWN_EXIT;
        }
        let found = self.inspect(&ids).await.unwrap_or_default();
        let mut relays: Vec<logs::Relay> = found
            .iter()
            .filter(|c| c.host_config.log_config.kind == "k8s-file")
            .filter(|c| !c.host_config.log_config.path.is_empty())
            .filter_map(|c| {
                let directory = c.label(LOG_DIRECTORY_LABEL)?;
                Some(logs::Relay::new(
                    &c.id,
                    &c.name,
                    Path::new(&c.host_config.log_config.path),
                    Path::new(directory),
                ))
            })
            .collect();
        let watcher = if relays.is_empty() {
            None
        } else {
            match logs::Watcher::new(relays.iter().filter_map(|r| r.watch_directory())) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!("cannot watch the output of containers {ids:?} (it is copied when they end): {e}");
                    None
                }
            }
        };
        for relay in &mut relays {
            relay.drain();
        }
        let death = self.watch_death(&ids);
        tokio::pin!(death);
        let exit = loop {
            tokio::select! {
                exit = &mut death => break exit,
                _ = changed(&watcher) => {
                    for relay in &mut relays {
                        relay.drain();
                    }
                }
            }
        };
        for relay in &mut relays {
            relay.drain();
        }
        exit
    }

    async fn stop(&self, running: &Running, grace: Duration) -> Result<(), DelegateError> {
        let seconds = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let seconds = seconds.to_string();
        if let Some(pod) = pod_id(running) {
            return self
                .run_ok(["pod", "stop", "--ignore", "--time", &seconds, pod], || {
                    format!("podman could not stop pod {pod}")
                })
                .await
                .map(drop);
        }
        for id in member_ids(running) {
            self.run_ok(["stop", "--ignore", "--time", &seconds, &id], || {
                format!("podman could not stop container {id}")
            })
            .await?;
        }
        Ok(())
    }

    async fn remove(&self, spec: &WorkloadSpec) -> Result<(), DelegateError> {
        match spec {
            WorkloadSpec::Container(c) => self.remove_container(&c.name).await?,
            WorkloadSpec::Pod(p) => {
                self.remove_pod(&p.name).await?;
                for member in &p.containers {
                    self.remove_container(&member.name).await?;
                }
            }
            other => {
                return Err(DelegateError::Invalid(format!(
                    "the podman delegate cannot remove {other:?}"
                )))
            }
        }
        for path in position_files(spec) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(DelegateError::io(format!("remove {}", path.display()), e)),
            }
        }
        Ok(())
    }

    fn exec_plan(
        &self,
        running: &Running,
        command: &[String],
        tty: bool,
    ) -> Result<ExecPlan, DelegateError> {
        if command.is_empty() {
            return Err(DelegateError::Invalid("no command to execute".into()));
        }
        let Some(id) = member_ids(running).into_iter().next() else {
            return Err(DelegateError::Invalid(
                "the instance record names no podman container".into(),
            ));
        };
        let mut argv = vec![self.program.display().to_string()];
        argv.extend(self.global.iter().cloned());
        argv.push("exec".into());
        argv.push("-i".into());
        if tty {
            argv.push("-t".into());
        }
        argv.push(id);
        argv.extend(command.iter().cloned());
        Ok(ExecPlan {
            argv,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str) -> ContainerSpec {
        ContainerSpec {
            name: name.into(),
            image: "localhost/web:1".into(),
            image_source: ImageSource::Local,
            entrypoint: None,
            command: vec!["httpd".into(), "-f".into()],
            environment: BTreeMap::from([("A".into(), "1".into())]),
            network: Network::Bridge,
            ports: vec![PortMapping {
                endpoint: "http".into(),
                host_port: 8080,
                container_port: 80,
            }],
            mounts: vec![Mount {
                source: "/srv".into(),
                target: "/www".into(),
                read_only: true,
            }],
            labels: BTreeMap::from([(crate::INSTANCE_LABEL.into(), "ns/svc/web/0".into())]),
            log_directory: "/var/log/k/web".into(),
            pod: None,
        }
    }

    fn delegate() -> PodmanDelegate {
        PodmanDelegate {
            program: "/usr/bin/podman".into(),
            global: vec!["--runtime".into(), "runc".into()],
            ulimits: Vec::new(),
            infra_conf: None,
        }
    }

    #[test]
    fn create_arguments() {
        let ulimits = vec!["--ulimit".to_owned(), "nofile=10:10".to_owned()];
        let mut spec = container("web");
        spec.entrypoint = Some(vec!["/bin/sh".into(), "-c".into()]);
        let args = create_args(&spec, &ulimits);
        let want = "create --name web --pull never --log-driver k8s-file \
            --label io.khutulun.instance=ns/svc/web/0 --label io.khutulun.log-directory=/var/log/k/web \
            --env A=1 --network bridge --publish 8080:80 --volume /srv:/www:ro --ulimit nofile=10:10 \
            --entrypoint [\"/bin/sh\",\"-c\"] localhost/web:1 httpd -f";
        assert_eq!(args.join(" "), want);
        spec.pod = Some("pod1".into());
        spec.entrypoint = None;
        let args = create_args(&spec, &[]).join(" ");
        assert!(args.contains("--pod pod1 --volume"), "{args}");
        assert!(
            !args.contains("--publish") && !args.contains("--network"),
            "{args}"
        );
        spec.pod = None;
        spec.network = Network::Host;
        let args = create_args(&spec, &[]).join(" ");
        assert!(args.contains("--network host --volume"), "{args}");
    }

    #[test]
    fn check_rejects_bad_specs() {
        let d = delegate();
        let ok = |spec: ContainerSpec| d.check(&WorkloadSpec::Container(spec));
        let mut spec = container("web");
        spec.mounts[0].source = "/".into();
        assert!(ok(spec.clone()).is_ok());
        let err = |spec: ContainerSpec| ok(spec).unwrap_err().to_string();
        assert!(err(container("-web")).contains("not valid"));
        let mut s = spec.clone();
        s.mounts[0].target = "www".into();
        assert!(err(s).contains("must be an absolute path"));
        let mut s = spec.clone();
        s.mounts[0].source = "/definitely/not/here".into();
        assert!(err(s).contains("does not exist"));
        let mut s = spec.clone();
        s.ports[0].host_port = 0;
        assert!(err(s).contains("must not be 0"));
        let mut s = spec.clone();
        s.image_source = ImageSource::Archive("/definitely/not/here.tar".into());
        assert!(err(s).contains("image archive"));
        let pod = |containers: Vec<ContainerSpec>| {
            d.check(&WorkloadSpec::Pod(PodSpec {
                name: "pod1".into(),
                ports: Vec::new(),
                labels: BTreeMap::new(),
                containers,
                log_directory: "/var/log/k/pod1".into(),
            }))
        };
        let mut member = spec.clone();
        member.ports.clear();
        assert!(pod(vec![member.clone()]).is_ok());
        assert!(pod(vec![spec.clone()])
            .unwrap_err()
            .to_string()
            .contains("published by the pod"));
        assert!(pod(vec![member.clone(), member])
            .unwrap_err()
            .to_string()
            .contains("two containers"));
        assert!(pod(Vec::new()).is_err());
    }

    #[test]
    fn exec_plans_run_podman_exec_in_the_first_container() {
        let running = Running {
            handle: BTreeMap::from([
                ("container_id".into(), Value::String("aaa".into())),
                (
                    "container_ids".into(),
                    Value::Array(vec![
                        Value::String("aaa".into()),
                        Value::String("bbb".into()),
                    ]),
                ),
            ]),
            ..Default::default()
        };
        let plan = delegate()
            .exec_plan(&running, &["sh".into()], true)
            .unwrap();
        assert_eq!(
            plan.argv,
            [
                "/usr/bin/podman",
                "--runtime",
                "runc",
                "exec",
                "-i",
                "-t",
                "aaa",
                "sh"
            ]
        );
        assert_eq!(member_ids(&running), ["aaa", "bbb"]);
        assert!(delegate()
            .exec_plan(&Running::default(), &["sh".into()], false)
            .is_err());
    }

    #[test]
    fn names() {
        assert!(valid_name("khutulun-ns.svc_web-0"));
        assert!(!valid_name(""));
        assert!(!valid_name("_x"));
        assert!(!valid_name("a/b"));
    }
}
