//! The agent: shared handles (store, bus, delegates, supervisors) and its start-up.

use crate::api;
use crate::bus::EventBus;
use crate::config::AgentConfig;
use crate::registry::Delegates;
use crate::supervisor::Supervisor;
use crate::workload::DelegateKind;
use khutulun_delegates::Delegate;
use khutulun_state::{DirStore, EventKind, FileLock, HostInfo, InstanceRecord, InstanceRef};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::task::JoinHandle;

#[derive(Clone)]
pub struct Agent(Arc<Inner>);

pub struct Inner {
    pub config: AgentConfig,
    pub store: DirStore,
    pub bus: EventBus,
    pub host: HostInfo,
    /// Processes run in systemd user scopes (asked for, and a user manager answers).
    pub systemd_scopes: bool,
    /// Where this agent's instance cgroups live, below `khutulun/` in each hierarchy
    /// (`workload::cgroup_prefix`).
    pub cgroup_prefix: String,
    /// Held for the agent's whole life: proof to other agents that this host is alive.
    _alive: FileLock,
    /// A shared lock on `hosts/<host>/workloads.lock`, inherited by every process the
    /// agent starts: while anything of this host runs, other hosts do not fence it.
    lifeline: std::fs::File,
    pub supervisors: Mutex<HashMap<InstanceRef, Supervisor>>,
    /// Workloads this agent started or adopted and has not seen end, whatever their
    /// supervisor is doing: what self-fencing kills.
    pub live: Mutex<HashMap<InstanceRef, (DelegateKind, khutulun_delegates::Running)>>,
    /// The running deploy or delete flow of each service (namespace, name).
    service_tasks: Mutex<HashMap<(String, String), ServiceTask>>,
    /// Service locks: queued in this agent, then the state's flock.
    service_locks: crate::locks::ServiceLocks,
    /// Serialises read-modify-write of each instance record within this agent (striped:
    /// different instances seldom wait for each other).
    records: RecordLocks,
    /// The placement epoch this agent runs each of its instances under: it writes an
    /// instance's record only while the record carries that epoch.
    epochs: Mutex<HashMap<InstanceRef, u64>>,
    /// Starts between their intent record and their pid record at once (`start_workload`):
    /// each holds a blocking thread there, and a mass start must leave the runtime's other
    /// blocking threads to the API and the other flows.
    pub start_slots: tokio::sync::Semaphore,
    /// Hosts this agent is failing over, and what each waits for.
    pub failovers: Mutex<HashMap<String, crate::failover::Waiting>>,
    /// This host's lease on the shared state.
    pub lease: crate::lease::HostLease,
    /// What the state directory sits on.
    pub state_fs: crate::fscheck::StateFs,
    /// Membership, once gossip has started.
    pub cluster: OnceLock<khutulun_cluster::Cluster>,
    /// Client for other agents' APIs.
    pub http: reqwest::Client,
    /// Exposed endpoints' ports in the host firewall.
    pub exposure: crate::exposure::Exposure,
    /// User events this agent accepts (`POST /v1/events`): they go to the permanent log.
    pub user_events: Mutex<crate::rate::TokenBucket>,
    /// The Wasm plugin host, made on first use (its cache is `<data>/plugin-cache`).
    plugin_host: OnceLock<Result<Arc<khutulun_plugins::PluginHost>, String>>,
    /// The delegates this host can run, or why each cannot (said when a node needs it).
    delegates: Delegates,
    /// Parsed graphs of committed revisions (`instance::load_current`).
    pub graphs: crate::instance::GraphCache,
    /// Services and instance records for the read paths, checked against the files on
    /// every read (other hosts write them too).
    pub index: khutulun_state::StateIndex,
    /// The listings' JSON per snapshot of `index`.
    pub rendered: crate::api::rendered::Rendered,
}

impl Deref for Agent {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Agent {
    /// Opens the state, claims the host and registers it. Fails when another agent already
    /// serves this host name.
    pub fn new(config: AgentConfig, delegates: Delegates) -> Result<Agent, String> {
        config.validate()?;
        khutulun_state::install_blocking_hook(off_the_workers);
        khutulun_state::set_writer(&config.host);
        let store = DirStore::open(&config.state_dir).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            format!(
                "cannot create the data directory {}: {e}",
                config.data_dir.display()
            )
        })?;
        let state_fs = crate::fscheck::check(&config.state_dir)?;
        if state_fs.kind == crate::fscheck::FsKind::OtherNetwork {
            tracing::warn!(
                "the state directory is on {}: only local filesystems and NFSv4 are tested; locks and leases are treated as on NFS",
                state_fs.describe()
            );
        }
        let alive = claim(&store, &config.host)?;
        // The only agent of this host now: what an earlier one left half-written is ours.
        match store.sweep_leftovers(&config.host) {
            Ok((0, 0)) => {}
            Ok((temps, locks)) => tracing::info!(
                "removed {temps} temporary file(s) and {locks} lock file(s) that earlier crashes left in the state"
            ),
            Err(e) => tracing::warn!("cannot sweep the state for leftovers of crashes: {e}"),
        }
        let lifeline = store
            .hold_workloads_lock(&config.host)
            .map_err(|e| format!("cannot hold this host's workloads lock: {e}"))?;
        let lease = crate::lease::HostLease::take(
            &store,
            &config.host,
            khutulun_state::lease::LeaseTiming {
                period: config.lease_period,
                skew: config.clock_skew,
                lock_expiry_floor: state_fs.lock_expiry_floor(),
            },
        )?;
        let host = HostInfo {
            name: config.host.clone(),
            address: config.address.clone(),
            api_url: config.api_url(),
            labels: config.labels.clone(),
            cpus: config.cpus.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get() as u32)
                    .unwrap_or(1)
            }),
            memory_bytes: config.memory_bytes.unwrap_or_else(memory_bytes),
            agent_pid: std::process::id(),
            started_at: chrono::Utc::now(),
            port_range: config.port_range,
            gossip_addr: None,
            // Published once the agent knows (`membership::start`, after it looked for
            // the Docker engine).
            delegates: Vec::new(),
        };
        store.write_host(&host).map_err(|e| e.to_string())?;
        let bus = EventBus::new(config.host.clone(), store.clone());
        let systemd_scopes = config.systemd_scopes
            && {
                let available = khutulun_delegates::systemd_user_manager_available();
                if !available {
                    tracing::warn!("--systemd-scopes: no systemd user manager answers (systemd is not PID 1 here, or there is no user session); supervising processes directly");
                }
                available
            };
        let cgroup_prefix = crate::workload::cgroup_prefix(&host.name, &config.data_dir);
        let revalidate = match state_fs.kind {
            crate::fscheck::FsKind::Local => khutulun_state::Revalidate::Stat,
            _ => khutulun_state::Revalidate::Open,
        };
        let index = khutulun_state::StateIndex::new(store.clone(), revalidate);
        Ok(Agent(Arc::new(Inner {
            config,
            store,
            bus,
            host,
            systemd_scopes,
            cgroup_prefix,
            _alive: alive,
            lifeline,
            supervisors: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            service_tasks: Mutex::new(HashMap::new()),
            service_locks: crate::locks::ServiceLocks::default(),
            records: RecordLocks::default(),
            epochs: Mutex::new(HashMap::new()),
            start_slots: tokio::sync::Semaphore::new(crate::memory::BLOCKING_THREADS / 2),
            failovers: Mutex::new(HashMap::new()),
            lease,
            state_fs,
            cluster: OnceLock::new(),
            http: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(3))
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))?,
            exposure: crate::exposure::Exposure::new(),
            user_events: Mutex::new(crate::rate::TokenBucket::new(
                crate::api::USER_EVENT_BURST,
                crate::api::USER_EVENTS_PER_SECOND,
            )),
            plugin_host: OnceLock::new(),
            delegates,
            graphs: Default::default(),
            index,
            rendered: Default::default(),
        })))
    }

    /// The delegate of `kind` when it can run here.
    pub fn delegate(&self, kind: DelegateKind) -> Option<&dyn Delegate> {
        self.delegate_for(kind).ok().flatten()
    }

    /// The delegate of `kind`: None for nodes nothing runs, an error saying why when the
    /// delegate cannot run on this host (its tool missing, no Docker engine answering).
    pub fn delegate_for(&self, kind: DelegateKind) -> Result<Option<&dyn Delegate>, String> {
        self.delegates.get(kind).map_err(|why| {
            format!(
                "the {} delegate cannot run on host {}: {why}",
                kind.name(),
                self.host.name
            )
        })
    }

    /// The plugin host of this agent: compiled components are cached in
    /// `<data>/plugin-cache`; every call is bounded by the agent's plugin limits.
    pub fn plugin_host(&self) -> Result<Arc<khutulun_plugins::PluginHost>, String> {
        self.plugin_host
            .get_or_init(|| {
                khutulun_plugins::PluginHost::new(
                    &self.config.data_dir.join("plugin-cache"),
                    self.config.plugin_limits,
                )
                .map(Arc::new)
                .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// The names of the delegates that can run on this host (published in its host record).
    pub fn available_delegates(&self) -> Vec<String> {
        self.delegates.available()
    }

    /// The delegate an instance record names (`process`, `directory`, ...).
    pub fn delegate_named(&self, name: &str) -> Option<&dyn Delegate> {
        self.delegate(DelegateKind::from_name(name))
    }

    /// Changes this host's record of an instance, logging a write that fails: for news
    /// whose loss the next write or the next adoption pass corrects (a state, a message, a
    /// count). A write the next step depends on (the intent before a process is spawned,
    /// the pid after) goes through `try_update_instance`.
    pub fn update_instance(
        &self,
        instance: &InstanceRef,
        change: impl FnOnce(&mut InstanceRecord),
    ) -> Option<InstanceRecord> {
        match self.try_update_instance(instance, change) {
            Ok(record) => record,
            Err(unwritten) => {
                tracing::error!("cannot write the record of {instance}: {}", unwritten.error);
                Some(unwritten.record)
            }
        }
    }

    /// Changes this host's record of an instance: the record written, `None` when it is not
    /// this host's to write (moved, fenced, placed again), or the changed record that could
    /// not be written and why.
    pub fn try_update_instance(
        &self,
        instance: &InstanceRef,
        change: impl FnOnce(&mut InstanceRecord),
    ) -> Result<Option<InstanceRecord>, Box<UnwrittenRecord>> {
        // The wait for the records mutex is a blocking section too: its holder may be
        // waiting on the filesystem.
        khutulun_state::blocking(|| self.update_instance_here(instance, change))
    }

    fn update_instance_here(
        &self,
        instance: &InstanceRef,
        change: impl FnOnce(&mut InstanceRecord),
    ) -> Result<Option<InstanceRecord>, Box<UnwrittenRecord>> {
        let _guard = self.records.lock(instance);
        let record = self.store.instance_record(instance).ok().flatten();
        let Some(mut record) = record else {
            return Ok(None);
        };
        if record.host != self.host.name {
            // The instance was moved to another host (drain, failover): not ours to write.
            tracing::debug!("not writing {instance}: it now belongs to {}", record.host);
            return Ok(None);
        }
        if !self.lease.is_valid() {
            tracing::debug!("not writing {instance}: this host is fenced");
            return Ok(None);
        }
        let held = self
            .epochs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(instance)
            .copied();
        if held.is_some_and(|held| held != record.epoch) {
            // Placed again since this agent took it up: a stale copy must not write.
            tracing::debug!(
                "not writing {instance}: it runs here under epoch {held:?}, the state says {}",
                record.epoch
            );
            return Ok(None);
        }
        change(&mut record);
        record.updated_at = chrono::Utc::now();
        match self.store.write_instance(&record) {
            Ok(()) => Ok(Some(record)),
            Err(error) => Err(Box::new(UnwrittenRecord { record, error })),
        }
    }

    /// The spec to start: processes keep the host's workloads lock (see `lifeline`).
    pub fn with_lifeline(
        &self,
        spec: &khutulun_delegates::WorkloadSpec,
    ) -> khutulun_delegates::WorkloadSpec {
        use std::os::fd::AsRawFd;
        let mut spec = spec.clone();
        if let khutulun_delegates::WorkloadSpec::Process(process) = &mut spec {
            process.lifeline_fd = Some(self.lifeline.as_raw_fd());
        }
        spec
    }

    /// A descriptor of the host's lifeline, for a sweep of its holders off the runtime.
    pub fn lifeline_handle(&self) -> std::io::Result<std::fs::File> {
        self.lifeline.try_clone()
    }

    /// Notes a workload that runs (started or adopted).
    pub fn note_live(
        &self,
        instance: &InstanceRef,
        kind: DelegateKind,
        running: &khutulun_delegates::Running,
    ) {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(instance.clone(), (kind, running.clone()));
    }

    /// Forgets a workload that ended or was stopped.
    pub fn note_gone(&self, instance: &InstanceRef, running: &khutulun_delegates::Running) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live
            .get(instance)
            .is_some_and(|(_, r)| r.pid == running.pid)
        {
            live.remove(instance);
        }
    }

    /// Notes the placement epoch this agent now runs `instance` under.
    pub fn hold_epoch(&self, instance: &InstanceRef, epoch: u64) {
        self.epochs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(instance.clone(), epoch);
    }

    /// How many instances this agent holds an epoch for.
    #[cfg(test)]
    pub fn epochs_held(&self) -> usize {
        self.epochs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Forgets the epoch of an instance removed from this host (deleted, scaled away):
    /// the map would otherwise keep every instance this agent ever ran.
    pub fn forget_epoch(&self, instance: &InstanceRef) {
        let mut epochs = self.epochs.lock().unwrap_or_else(|e| e.into_inner());
        epochs.remove(instance);
        if epochs.is_empty() {
            epochs.shrink_to_fit();
        }
    }

    pub fn emit(&self, kind: EventKind) {
        self.bus.emit(kind);
    }

    /// Takes a service's lock (every change to its record, revisions or instance set is
    /// made under it) without holding an async worker while waiting.
    pub async fn lock_service(
        &self,
        namespace: &str,
        service: &str,
    ) -> Result<crate::locks::ServiceGuard, khutulun_state::StateError> {
        self.service_locks
            .lock(&self.store, namespace, service)
            .await
    }

    /// Runs a service's flow (deploy or delete) in the background. The flow it replaces is
    /// told to stop at its next safe point, and the new one begins only after it ended, so
    /// two flows never work on one service's instances at once.
    pub fn spawn_service_task<F, Fut>(&self, namespace: &str, service: &str, body: F)
    where
        F: FnOnce(Cancel) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let key = (namespace.to_owned(), service.to_owned());
        let (cancel, cancelled) = tokio::sync::watch::channel(false);
        let mut tasks = self.service_tasks.lock().unwrap_or_else(|e| e.into_inner());
        let previous = tasks.remove(&key);
        let handle = tokio::spawn(async move {
            if let Some(previous) = previous {
                previous.finish().await;
            }
            body(Cancel(cancelled)).await;
        });
        tasks.insert(key, ServiceTask { handle, cancel });
    }

    /// True while a flow (deploy, start, delete) of this agent runs for the service: the
    /// flow owns its instances, the adoption pass leaves them alone.
    pub fn service_task_running(&self, namespace: &str, service: &str) -> bool {
        let tasks = self.service_tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks
            .get(&(namespace.to_owned(), service.to_owned()))
            .is_some_and(|task| !task.handle.is_finished())
    }

    /// Tells the flow running for a service to stop at its next safe point and waits until
    /// it has ended. (Not for the flow itself: it would wait for itself.)
    pub async fn supersede_service_task(&self, namespace: &str, service: &str) {
        let previous = {
            let mut tasks = self.service_tasks.lock().unwrap_or_else(|e| e.into_inner());
            let key = (namespace.to_owned(), service.to_owned());
            match tasks.get(&key) {
                Some(task) if Some(task.handle.id()) != tokio::task::try_id() => tasks.remove(&key),
                _ => None,
            }
        };
        if let Some(previous) = previous {
            previous.finish().await;
        }
    }
}

/// A changed instance record that could not be written, and why.
#[derive(Debug)]
pub struct UnwrittenRecord {
    pub record: InstanceRecord,
    pub error: khutulun_state::StateError,
}

/// A service's running flow and the switch that asks it to stop.
struct ServiceTask {
    handle: JoinHandle<()>,
    cancel: tokio::sync::watch::Sender<bool>,
}

impl ServiceTask {
    async fn finish(self) {
        let _ = self.cancel.send(true);
        let _ = self.handle.await;
    }
}

/// A flow's view of its switch: it checks it between steps (never in the middle of starting
/// or stopping an instance, so nothing is left half-started), and gives up waiting for a
/// service lock when told to stop.
#[derive(Clone)]
pub struct Cancel(tokio::sync::watch::Receiver<bool>);

impl Cancel {
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the flow is asked to stop.
    pub async fn cancelled(&self) {
        let mut receiver = self.0.clone();
        if receiver.wait_for(|c| *c).await.is_err() {
            // Nobody can ask any more.
            std::future::pending::<()>().await;
        }
    }
}

const CLAIM_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Claims the host's alive.lock. While another agent fails this host over (it holds the lock
/// for that), waits for it to finish instead of giving up.
fn claim(store: &DirStore, host: &str) -> Result<FileLock, String> {
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        match store.claim_host(host) {
            Ok(lock) => return Ok(lock),
            Err(e) => {
                // Other agents hold the lock for moments too (probing whether the host is
                // alive, or fencing it): only a lock held longer than that is an agent.
                let waiting = started.elapsed() < CLAIM_GRACE
                    || (crate::failover::being_failed_over(store, host)
                        && started.elapsed() < crate::failover::WAIT_FOR_FAILOVER);
                if !waiting {
                    return Err(e.to_string());
                }
                if !said {
                    tracing::info!("another agent is moving this host's instances after it was declared dead; waiting for it to finish");
                    said = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
    }
}

/// The state's blocking sections (every filesystem call, every wait for a lock) never hold a
/// runtime worker: on the multi-threaded runtime the worker hands its other tasks to a new
/// thread for the length of the section, so the API, health and gossip go on answering
/// whatever the shared filesystem does.
fn off_the_workers(section: &mut dyn FnMut()) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(section)
        }
        _ => section(),
    }
}

fn memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Runs an agent until SIGINT or SIGTERM. Workloads keep running when the agent stops;
/// the next agent on this host adopts them.
pub async fn run(config: AgentConfig) -> Result<(), String> {
    config.validate()?;
    let tcp = match config.api {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .map_err(|e| format!("cannot listen on {address}: {e}"))?,
        ),
        None => None,
    };
    let socket = api::local_socket::bind(&config.socket).await?;
    let socket_path = config.socket.clone();
    let delegates = Delegates::detect(config.docker_socket.as_deref()).await;
    let agent = Agent::new(config, delegates)?;
    crate::handlers::spawn(&agent);
    agent.emit(EventKind::AgentStarted {
        api_url: agent.host.api_url.clone(),
    });
    crate::membership::start(&agent).await?;
    crate::adopt::adopt_all(&agent, &Default::default()).await;
    crate::lease::spawn(&agent);
    let app = api::router(agent.clone());
    match &tcp {
        Some(_) => tracing::info!(
            "agent for host {} listening on {} and on {}",
            agent.host.name,
            agent.host.api_url,
            socket_path.display()
        ),
        None => tracing::info!(
            "agent for host {} listening on {} (no token, so no TCP)",
            agent.host.name,
            socket_path.display()
        ),
    }
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let until_stopping = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let local = axum::serve(
        socket,
        app.clone()
            .layer(axum::Extension(api::local_socket::LocalPeer)),
    )
    .with_graceful_shutdown(until_stopping());
    let remote = async {
        match tcp {
            Some(listener) => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(until_stopping())
                    .await
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = local => result.map_err(|e| format!("API server (Unix socket) failed: {e}"))?,
        result = remote => result.map_err(|e| format!("API server failed: {e}"))?,
        () = async {
            shutdown_signal().await;
            let _ = stopping.send(true);
            // Open event streams and log follows never end by themselves: give ordinary
            // requests a moment to finish, then go.
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        } => {}
    }
    agent.emit(EventKind::AgentStopping);
    if let Some(cluster) = agent.cluster.get() {
        // Others see "left", not "dead": no failover for an agent that stops on purpose.
        cluster.leave().await;
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Locks for read-modify-write of instance records, one per stripe of instances.
struct RecordLocks([Mutex<()>; RecordLocks::STRIPES]);

impl RecordLocks {
    const STRIPES: usize = 64;

    fn lock(&self, instance: &InstanceRef) -> std::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        instance.hash(&mut hasher);
        let stripe = (hasher.finish() % Self::STRIPES as u64) as usize;
        self.0[stripe].lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for RecordLocks {
    fn default() -> Self {
        RecordLocks(std::array::from_fn(|_| Mutex::new(())))
    }
}
