//! The docker delegate: OCI containers run by a Docker engine, driven through the Engine API
//! (bollard) over its unix socket.
//!
//! - Images never come from a registry: an image missing from the engine's local store is
//!   loaded from the spec's archive (`docker load`), or the start fails.
//! - The container's output is copied into `stdout.log` / `stderr.log` of the instance's log
//!   directory while [`Delegate::wait`] runs (see [`logs`]).
//! - `wait` is event-driven: it follows the engine's event stream for the container's `die`.
//! - Docker has no pods: pod specs are refused (podman runs them).

mod logs;
mod spec;

pub use spec::{container_ulimits, DEFAULT_SOCKET, LOG_DIRECTORY_LABEL};

use crate::container::{ContainerSpec, ImageSource};
use crate::delegate::{
    Capabilities, Delegate, DelegateError, ExecPlan, Exit, Running, WorkloadSpec,
};
use crate::proc_stat;
use bollard::errors::Error as EngineError;
use bollard::models::{ContainerInspectResponse, ContainerState, EventMessage};
use bollard::query_parameters::{
    CreateContainerOptions, EventsOptions, ImportImageOptions, RemoveContainerOptions,
    StopContainerOptions,
};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// The timeout of ordinary Engine API requests (until the response starts).
const REQUEST_TIMEOUT: u64 = 120;
/// Loading an image archive can take long: the engine answers once it has read it all.
const LOAD_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long `wait` lets the output copy drain after the container stopped.
const LOG_DRAIN: Duration = Duration::from_secs(10);

/// Runs [`WorkloadSpec::Container`]s on a Docker engine.
#[derive(Debug, Clone)]
pub struct DockerDelegate {
    docker: Docker,
    socket: PathBuf,
}

impl DockerDelegate {
    /// Connects to the engine at `socket`, else at `DOCKER_HOST` (a `unix://` URL), else at
    /// /var/run/docker.sock, and checks that it answers.
    pub async fn connect(socket: Option<&Path>) -> Result<Self, DelegateError> {
        let socket = spec::socket_path(socket, std::env::var("DOCKER_HOST").ok().as_deref())?;
        let unreachable = |cause: String| {
            DelegateError::Invalid(format!(
                "no Docker engine answers at {}: start dockerd, or pick podman with a Delegation policy ({cause})",
                socket.display()
            ))
        };
        let docker = Docker::connect_with_unix(
            &socket.to_string_lossy(),
            REQUEST_TIMEOUT,
            API_DEFAULT_VERSION,
        )
        .map_err(|e| unreachable(e.to_string()))?;
        // Negotiating asks the engine its API version and lowers ours to it: bollard speaks
        // the newest API, an engine answers older clients only (dockerd 20.10 speaks 1.41).
        let answer = async {
            let docker = docker.negotiate_version().await?;
            docker.ping().await?;
            Ok::<_, EngineError>(docker)
        };
        let docker = tokio::time::timeout(Duration::from_secs(15), answer)
            .await
            .map_err(|_| unreachable("no answer within 15s".into()))?
            .map_err(|e| unreachable(message(&e)))?;
        Ok(DockerDelegate { docker, socket })
    }

    /// The engine's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The Engine API client, for callers that need more than the delegate offers.
    pub fn engine(&self) -> &Docker {
        &self.docker
    }

    fn container(spec: &WorkloadSpec) -> Result<&ContainerSpec, DelegateError> {
        match spec {
            WorkloadSpec::Container(c) => Ok(c),
            WorkloadSpec::Pod(pod) => Err(DelegateError::Invalid(format!(
                "docker cannot run pod {}: Docker has no pods; pick podman with a Delegation policy, or run its containers as separate nodes",
                pod.name
            ))),
            other => Err(DelegateError::Invalid(format!(
                "the docker delegate runs containers only, not {other:?}"
            ))),
        }
    }

    /// Makes sure the image is in the local store: never pulls, loads the archive if there
    /// is one.
    async fn ensure_image(&self, spec: &ContainerSpec) -> Result<(), DelegateError> {
        if self.has_image(&spec.image).await? {
            return Ok(());
        }
        match &spec.image_source {
            ImageSource::Local => Err(DelegateError::Invalid(format!(
                "image {} is not in the Docker engine's local store (no registry is contacted): load it with `docker load` or ship it as an image artifact",
                spec.image
            ))),
            ImageSource::Archive(archive) => {
                let loaded = self.load_archive(archive).await?;
                if self.has_image(&spec.image).await? {
                    tracing::info!(image = %spec.image, archive = %archive.display(), "loaded image archive");
                    return Ok(());
                }
                Err(DelegateError::Invalid(format!(
                    "image archive {} does not hold image {} (the engine loaded: {})",
                    archive.display(),
                    spec.image,
                    if loaded.is_empty() {
                        "nothing".to_string()
                    } else {
                        loaded.join("; ")
                    }
                )))
            }
        }
    }

    async fn has_image(&self, image: &str) -> Result<bool, DelegateError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if status(&e) == Some(404) => Ok(false),
            Err(e) => Err(DelegateError::Invalid(format!(
                "docker cannot look up image {image}: {}",
                message(&e)
            ))),
        }
    }

    /// `docker load` of an archive, streamed from the file; returns what the engine said it
    /// loaded.
    async fn load_archive(&self, archive: &Path) -> Result<Vec<String>, DelegateError> {
        let file = tokio::fs::File::open(archive).await.map_err(|e| {
            DelegateError::io(format!("open image archive {}", archive.display()), e)
        })?;
        let chunks = futures_util::stream::unfold(Some(file), |file| async move {
            let mut file = file?;
            let mut chunk = Vec::with_capacity(1 << 20);
            match (&mut file).take(1 << 20).read_to_end(&mut chunk).await {
                Ok(0) => None,
                Ok(_) => Some((Ok(chunk.into()), Some(file))),
                Err(e) => Some((Err(e), None)),
            }
        });
        let docker = self.docker.clone().with_timeout(LOAD_TIMEOUT);
        let mut answers = docker.import_image(
            ImportImageOptions {
                quiet: true,
                ..Default::default()
            },
            bollard::body_try_stream(chunks),
            None,
        );
        let mut loaded = Vec::new();
        while let Some(answer) = answers.next().await {
            match answer {
                Ok(info) => {
                    if let Some(text) = info.stream.as_deref().map(str::trim) {
                        if !text.is_empty() {
                            loaded.push(text.to_string());
                        }
                    }
                }
                Err(e) => {
                    return Err(DelegateError::Invalid(format!(
                        "docker could not load image archive {}: {}",
                        archive.display(),
                        message(&e)
                    )))
                }
            }
        }
        Ok(loaded)
    }

    /// Removes a container by id or name; a missing one is no error.
    async fn remove_container(&self, reference: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(reference, Some(options)).await {
            Err(e) if status(&e) == Some(404) => Ok(()),
            // 409: a removal of it is already in progress.
            Err(e) if status(&e) == Some(409) && message(&e).contains("in progress") => Ok(()),
            other => other,
        }
    }

    async fn inspect(&self, reference: &str) -> Result<ContainerInspectResponse, EngineError> {
        self.docker.inspect_container(reference, None).await
    }

    async fn create_and_start(&self, spec: &ContainerSpec) -> Result<Running, DelegateError> {
        let failed = |e: &EngineError| {
            let mut text = format!(
                "docker could not start container {}: {}",
                spec.name,
                message(e)
            );
            let text_lower = text.to_ascii_lowercase();
            if (text_lower.contains("address already in use")
                || text_lower.contains("port is already allocated"))
                && !spec.ports.is_empty()
            {
                let ports: Vec<String> = spec
                    .ports
                    .iter()
                    .map(|p| format!("{} (endpoint {})", p.host_port, p.endpoint))
                    .collect();
                text.push_str(&format!(
                    " (a host port it publishes is taken: {})",
                    ports.join(", ")
                ));
            }
            DelegateError::Invalid(text)
        };
        let body = spec::create_body(spec, spec::own_container_ulimits());
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| failed(&e))?;
        for warning in &created.warnings {
            tracing::warn!(container = %spec.name, "docker: {warning}");
        }
        let id = created.id;
        let started = async {
            self.docker.start_container(&id, None).await?;
            self.inspect(&id).await
        };
        let inspected = match started.await {
            Ok(inspected) => inspected,
            Err(e) => {
                // Nothing of a failed start stays behind.
                if let Err(cleanup) = self.remove_container(&id).await {
                    tracing::warn!(
                        container = %spec.name,
                        "cannot remove the container that failed to start: {}",
                        message(&cleanup)
                    );
                }
                return Err(failed(&e));
            }
        };
        let pid = inspected
            .state
            .as_ref()
            .and_then(|s| s.pid)
            .filter(|pid| *pid > 0)
            .and_then(|pid| u32::try_from(pid).ok());
        Ok(Running {
            pid,
            pid_start_time: pid.and_then(proc_stat::start_time),
            handle: BTreeMap::from([
                ("container_id".to_string(), serde_json::Value::from(id)),
                (
                    "container_name".to_string(),
                    serde_json::Value::from(spec.name.clone()),
                ),
            ]),
            attributes: BTreeMap::new(),
            cgroup: None,
        })
    }

    /// Resolves with the container's exit: `events` carries the engine's `die`/`kill`/`oom`
    /// events for it (replayed from the engine's buffer, then live), `first` is the
    /// inspection made after subscribing.
    async fn watch_exit(
        &self,
        reference: &str,
        first: ContainerInspectResponse,
        mut events: Subscription,
    ) -> Exit {
        let unknown = Exit {
            code: None,
            signal: None,
        };
        let mut signals: Vec<i32> = Vec::new();
        let mut oom = false;
        let mut died_code: Option<i64> = None;
        let mut state = first.state;
        loop {
            if !is_running(&state) {
                if died_code.is_none() {
                    // It stopped before we looked: its `kill` events, if the engine still
                    // buffers them, come in the replay right away; collect them briefly
                    // to tell a signal from an exit code.
                    while let Ok(Some(Ok(event))) =
                        tokio::time::timeout(Duration::from_millis(300), events.receiver.recv())
                            .await
                    {
                        if record(&event, &mut signals, &mut oom).is_some() {
                            break;
                        }
                    }
                }
                let state = state.unwrap_or_default();
                let code = state.exit_code.or(died_code).unwrap_or(-1);
                if code < 0 {
                    return unknown;
                }
                return spec::exit_from(code, oom || state.oom_killed == Some(true), &signals);
            }
            match events.receiver.recv().await {
                Some(Ok(event)) => {
                    if let Some(code) = record(&event, &mut signals, &mut oom) {
                        died_code = Some(code.unwrap_or(-1));
                        state = match self.inspect(reference).await {
                            Ok(inspected) => inspected.state,
                            // Removed right after it died (`docker rm -f`): the event's code.
                            Err(_) => Some(ContainerState {
                                running: Some(false),
                                exit_code: code,
                                ..Default::default()
                            }),
                        };
                        if is_running(&state) {
                            // The die of an earlier run (someone ran `docker start` on it
                            // again): what was sent to that run says nothing about this one.
                            signals.clear();
                            oom = false;
                            died_code = None;
                        }
                    }
                }
                ended => {
                    let why = match ended {
                        Some(Err(e)) => e,
                        _ => "closed by the engine".to_string(),
                    };
                    tracing::warn!(
                        container = reference,
                        "the engine's event stream ended: {why}"
                    );
                    match self.inspect(reference).await {
                        Ok(inspected) => {
                            state = inspected.state;
                            if is_running(&state) {
                                // The engine still runs it (the stream broke): subscribe
                                // again after a pause, so a failing engine is not hammered.
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                events = Subscription::start(self.docker.clone(), reference);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(
                                container = reference,
                                "cannot inspect the container after its event stream ended: {}",
                                message(&e)
                            );
                            return unknown;
                        }
                    }
                }
            }
        }
    }
}

/// Notes a `kill` (its signal) or `oom` event; for a `die` event returns its exit code
/// attribute (`Some(None)` when it has none).
fn record(event: &EventMessage, signals: &mut Vec<i32>, oom: &mut bool) -> Option<Option<i64>> {
    let attributes = event.actor.as_ref().and_then(|a| a.attributes.as_ref());
    let attribute = |key: &str| attributes.and_then(|a| a.get(key)).map(String::as_str);
    match event.action.as_deref() {
        Some("kill") => {
            if let Some(signal) = attribute("signal").and_then(spec::signal_number) {
                signals.push(signal);
            }
            None
        }
        Some("oom") => {
            *oom = true;
            None
        }
        Some("die") => Some(attribute("exitCode").and_then(|c| c.parse().ok())),
        _ => None,
    }
}

fn is_running(state: &Option<ContainerState>) -> bool {
    state
        .as_ref()
        .is_some_and(|s| s.running == Some(true) || s.restarting == Some(true))
}

/// The engine's events about one container, read by a task so that the subscription is
/// under way before the container is inspected; the task ends with the subscription.
struct Subscription {
    receiver: mpsc::UnboundedReceiver<Result<EventMessage, String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscription {
    fn start(docker: Docker, container: &str) -> Self {
        let filters = HashMap::from([
            ("container".to_string(), vec![container.to_string()]),
            ("type".to_string(), vec!["container".to_string()]),
            (
                "event".to_string(),
                vec!["die".to_string(), "kill".to_string(), "oom".to_string()],
            ),
        ]);
        // `since` makes the engine replay the events it still buffers (the last 256 or so)
        // before the live ones: a `die` between the start and this subscription, or between
        // the request and the engine registering it, is not missed. A container id is
        // never reused, so old events of this id are this container's.
        let options = EventsOptions {
            since: Some("1".to_string()),
            until: None,
            filters: Some(filters),
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut stream = docker.events(Some(options));
            while let Some(event) = stream.next().await {
                let failed = event.is_err();
                if sender.send(event.map_err(|e| message(&e))).is_err() || failed {
                    break;
                }
            }
        });
        Subscription { receiver, task }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The engine's own message of an error (what `docker` would print), else the error.
fn message(e: &EngineError) -> String {
    match e {
        EngineError::DockerResponseServerError { message, .. } => message.trim().to_string(),
        EngineError::DockerStreamError { error } => error.trim().to_string(),
        other => other.to_string(),
    }
}

fn status(e: &EngineError) -> Option<u16> {
    match e {
        EngineError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The container's id (or, from older records, its name).
fn container_reference(running: &Running) -> Option<String> {
    ["container_id", "container_name"]
        .iter()
        .find_map(|key| running.handle.get(*key)?.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl DockerDelegate {
    pub const CAPABILITIES: Capabilities = Capabilities {
        binds_host_ports: true,
        exec: true,
        adoptable: true,
        needs_root: false,
        needs_host_support: true,
    };
}

#[async_trait::async_trait]
impl Delegate for DockerDelegate {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn capabilities(&self) -> Capabilities {
        DockerDelegate::CAPABILITIES
    }

    fn check(&self, spec: &WorkloadSpec) -> Result<(), DelegateError> {
        let spec = Self::container(spec)?;
        let invalid = |text: String| Err(DelegateError::Invalid(text));
        if let Some(pod) = &spec.pod {
            return invalid(format!(
                "docker cannot run container {} in pod {pod}: Docker has no pods; pick podman with a Delegation policy",
                spec.name
            ));
        }
        if spec.name.is_empty() || spec.image.is_empty() {
            return invalid(format!(
                "a docker container needs a name and an image (name {:?}, image {:?})",
                spec.name, spec.image
            ));
        }
        for mount in &spec.mounts {
            if !mount.target.starts_with('/') {
                return invalid(format!(
                    "container {}: mount target {} is not an absolute path",
                    spec.name, mount.target
                ));
            }
            if !mount.source.is_absolute() || !mount.source.exists() {
                return invalid(format!(
                    "container {}: mount source {} does not exist (or is not absolute)",
                    spec.name,
                    mount.source.display()
                ));
            }
        }
        if let ImageSource::Archive(archive) = &spec.image_source {
            if !archive.is_file() {
                return invalid(format!(
                    "container {}: image archive {} does not exist",
                    spec.name,
                    archive.display()
                ));
            }
        }
        Ok(())
    }

    async fn start(&self, spec: &WorkloadSpec) -> Result<Running, DelegateError> {
        self.check(spec)?;
        let spec = Self::container(spec)?;
        self.ensure_image(spec).await?;
        // A container of this name left over from an earlier run (an agent that died
        // mid-way) would block the name.
        self.remove_container(&spec.name).await.map_err(|e| {
            DelegateError::Invalid(format!(
                "docker could not remove the leftover container {}: {}",
                spec.name,
                message(&e)
            ))
        })?;
        std::fs::create_dir_all(&spec.log_directory).map_err(|e| {
            DelegateError::io(
                format!("create log directory {}", spec.log_directory.display()),
                e,
            )
        })?;
        // A new container starts a new copy of the output.
        logs::forget_position(&spec.log_directory);
        self.create_and_start(spec).await
    }

    async fn is_alive(&self, running: &Running) -> bool {
        let Some(reference) = container_reference(running) else {
            return false;
        };
        match self.inspect(&reference).await {
            Ok(inspected) => inspected.state.and_then(|s| s.running) == Some(true),
            Err(_) => false,
        }
    }

    async fn wait(&self, running: &Running) -> Exit {
        let unknown = Exit {
            code: None,
            signal: None,
        };
        let Some(reference) = container_reference(running) else {
            return unknown;
        };
        // Subscribe first, then inspect: a death in between is in the stream.
        let events = Subscription::start(self.docker.clone(), &reference);
        let inspected = match self.inspect(&reference).await {
            Ok(inspected) => inspected,
            Err(e) => {
                tracing::warn!(container = %reference, "cannot inspect container: {}", message(&e));
                return unknown;
            }
        };
        let id = inspected.id.clone().unwrap_or_else(|| reference.clone());
        let log_directory = inspected
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(LOG_DIRECTORY_LABEL))
            .map(PathBuf::from);
        let copy = async {
            match log_directory {
                Some(dir) => logs::copy_output(&self.docker, &id, dir).await,
                None => {
                    tracing::warn!(container = %reference, "no {LOG_DIRECTORY_LABEL} label: its output is not copied")
                }
            }
        };
        let watch = self.watch_exit(&reference, inspected, events);
        tokio::pin!(copy, watch);
        let mut copied = false;
        let exit = tokio::select! {
            exit = &mut watch => exit,
            () = &mut copy => {
                copied = true;
                (&mut watch).await
            }
        };
        if !copied && tokio::time::timeout(LOG_DRAIN, copy).await.is_err() {
            tracing::warn!(container = %reference, "the output copy did not end within {LOG_DRAIN:?} of the exit");
        }
        exit
    }

    async fn stop(&self, running: &Running, grace: Duration) -> Result<(), DelegateError> {
        let Some(reference) = container_reference(running) else {
            return Ok(());
        };
        let seconds = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let options = StopContainerOptions {
            t: Some(i32::try_from(seconds).unwrap_or(i32::MAX)),
            signal: None,
        };
        // The engine answers when the container is gone: after the grace and the SIGKILL.
        let docker = self
            .docker
            .clone()
            .with_timeout(grace + Duration::from_secs(REQUEST_TIMEOUT));
        match docker.stop_container(&reference, Some(options)).await {
            Ok(()) => Ok(()),
            // 304: already stopped; 404: already gone.
            Err(e) if matches!(status(&e), Some(304) | Some(404)) => Ok(()),
            Err(e) => Err(DelegateError::Invalid(format!(
                "docker could not stop container {reference}: {}",
                message(&e)
            ))),
        }
    }

    async fn remove(&self, spec: &WorkloadSpec) -> Result<(), DelegateError> {
        let spec = Self::container(spec)?;
        self.remove_container(&spec.name).await.map_err(|e| {
            DelegateError::Invalid(format!(
                "docker could not remove container {}: {}",
                spec.name,
                message(&e)
            ))
        })?;
        logs::forget_position(&spec.log_directory);
        Ok(())
    }

    fn exec_plan(
        &self,
        running: &Running,
        command: &[String],
        tty: bool,
    ) -> Result<ExecPlan, DelegateError> {
        let reference = container_reference(running).ok_or_else(|| {
            DelegateError::Invalid("the instance record names no docker container".into())
        })?;
        if command.is_empty() {
            return Err(DelegateError::Invalid(
                "no command to execute in the container".into(),
            ));
        }
        let mut argv = vec![
            "docker".to_string(),
            "-H".to_string(),
            format!("unix://{}", self.socket.display()),
            "exec".to_string(),
            "-i".to_string(),
        ];
        if tty {
            argv.push("-t".to_string());
        }
        argv.push(reference);
        argv.extend(command.iter().cloned());
        Ok(ExecPlan {
            argv,
            environment: None,
            working_directory: None,
            user: None,
        })
    }
}
