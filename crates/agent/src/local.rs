//! Starting and stopping one instance on this host. Flows call these directly for their own
//! host and through the internal API (`remote`) for others.

use crate::agent::Agent;
use crate::instance::{identity, load_current, paths_for};
use crate::instance_error::InstanceError;
use crate::operations::lifecycle::{self, Phase};
use crate::supervisor::{self, start_workload};
use crate::workload::{self, DelegateKind};
use khutulun_delegates::Running;
use khutulun_state::{EventKind, InstanceRecord, InstanceRef, InstanceStatus};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Starts one instance of this host and waits until it runs. One that is already
/// supervised here is left alone. `known`: the service's records as the caller just read
/// them (a flow starting many instances reads them once), else they are read here.
pub async fn start_here(
    agent: &Agent,
    instance: &InstanceRef,
    known: Option<&[InstanceRecord]>,
) -> Result<(), InstanceError> {
    let (ns, svc) = (&instance.namespace, &instance.service);
    let (record, graph) = load_current(agent, ns, svc).map_err(InstanceError::NotFound)?;
    let node = graph.node(&instance.node).ok_or_else(|| {
        InstanceError::NotFound(format!(
            "{instance}: node {} is not in the service",
            instance.node
        ))
    })?;
    let read;
    let instances = match known {
        Some(known) => known,
        None => {
            read = agent
                .store
                .instances(ns, svc)
                .map_err(InstanceError::state)?;
            &read[..]
        }
    };
    let epoch = match instances
        .iter()
        .find(|r| r.node == instance.node && r.index == instance.index)
    {
        Some(r) if r.host == agent.host.name => r.epoch,
        Some(r) => {
            return Err(InstanceError::NotHere(format!(
                "{instance} is placed on host {}, not on {}",
                r.host, agent.host.name
            )))
        }
        None => {
            return Err(InstanceError::NotFound(format!(
                "{instance} has no instance record"
            )))
        }
    };
    if !agent.lease.wait_valid(agent.lease.timing.period).await {
        return Err(InstanceError::NotHere(format!(
            "{instance} cannot start on host {}: the host is fenced (its lease on the shared state lapsed); it starts again once the lease is renewed",
            agent.host.name
        )));
    }
    // A copy this agent already supervises is this placement (nothing to do) or a stale one
    // from an earlier placement (stopped first, without a word to the state).
    let supervised = agent
        .supervisors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(instance)
        .map(|s| s.epoch);
    match supervised {
        Some(running) if running == epoch => return Ok(()),
        Some(stale) => {
            tracing::warn!(
                "{instance}: stopping a stale copy (epoch {stale}) before starting epoch {epoch}"
            );
            let supervisor = agent
                .supervisors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(instance);
            if let Some(supervisor) = supervisor {
                supervisor.fence(Duration::from_secs(10)).await;
            }
        }
        None => {}
    }
    agent.hold_epoch(instance, epoch);
    if let Err(message) =
        lifecycle::run_phase(agent, instance, &graph, instances, Phase::BeforeStart).await
    {
        return Err(fail(agent, instance, message));
    }
    let package = agent
        .store
        .layout()
        .revision_package(ns, svc, record.revision);
    let paths = paths_for(agent, ns, svc, &node.name, instance.index, &package);
    let identity = identity(agent, ns, svc, &node.name, instance.index);
    let built = workload::build(&graph, node, instance.index, instances, &paths, &identity)
        .map_err(|message| fail(agent, instance, message))?;
    let delegate = match (&built, agent.delegate_for(DelegateKind::of(&graph, node))) {
        (Some(_), Err(why)) => Err(why),
        (_, Ok(delegate)) => Ok(delegate),
        (None, Err(_)) => Ok(None),
    };
    let delegate = match delegate {
        Ok(delegate) => delegate,
        Err(message) => return Err(fail(agent, instance, message)),
    };
    match (built, delegate) {
        (Some(workload), Some(delegate)) => {
            match start_workload(agent, delegate, instance, &workload, epoch).await {
                Ok(running) => {
                    supervisor::spawn(agent.clone(), instance.clone(), workload, running, 0, epoch);
                }
                Err(message) => return Err(fail(agent, instance, message)),
            }
            // The workload runs (and is supervised); a failing start operation fails the
            // instance, and the deploy's rollback stops the workload.
            after_start(agent, instance, &graph).await
        }
        _ => {
            // Nothing for a delegate to run: the start operation is the start.
            after_start(agent, instance, &graph).await?;
            agent.update_instance(instance, |r| r.state = InstanceStatus::Running);
            agent.emit(EventKind::InstanceRunning {
                instance: instance.clone(),
                pid: None,
            });
            Ok(())
        }
    }
}

/// The start operation, once the workload runs: with the records as they are now (its own
/// pid and state among them), read only when there is an operation to run.
async fn after_start(
    agent: &Agent,
    instance: &InstanceRef,
    graph: &khutulun_graph::ServiceGraph,
) -> Result<(), InstanceError> {
    if lifecycle::steps(graph, &instance.node, instance.index, Phase::AfterStart).is_empty() {
        return Ok(());
    }
    let instances = agent
        .store
        .instances(&instance.namespace, &instance.service)
        .map_err(InstanceError::state)?;
    lifecycle::run_phase(agent, instance, graph, &instances, Phase::AfterStart)
        .await
        .map_err(|message| fail(agent, instance, message))
}

/// Marks the instance failed with `message`, announces it, and gives the failure back.
fn fail(agent: &Agent, instance: &InstanceRef, message: String) -> InstanceError {
    agent.update_instance(instance, |r| {
        r.state = InstanceStatus::Failed;
        r.message = Some(message.clone());
    });
    agent.emit(EventKind::InstanceFailed {
        instance: instance.clone(),
        message: message.clone(),
    });
    InstanceError::Failed(message)
}

/// When a stop looks for processes that carry the instance's mark but no record accounts
/// for (a reading of every process's environment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkSweep {
    /// Right after this instance's stop.
    Now,
    /// Once for the whole service, after all its stops (`end_unrecorded_of_service`): a
    /// mass stop reads /proc once, not once per instance.
    WithTheService,
}

/// Stops one instance of this host, dependants' order being the caller's business. With
/// `remove`, also removes what it leaves behind: a directory that is not kept, its data.
pub async fn stop_here(agent: &Agent, instance: &InstanceRef, remove: bool, sweep: MarkSweep) {
    // Read once: the lifecycle operations and the removal both need it.
    let current = load_current(agent, &instance.namespace, &instance.service).ok();
    let lifecycle_graph = lifecycle_context(agent, instance, remove, current.as_ref());
    if let Some((graph, instances)) = &lifecycle_graph {
        let running = instances.iter().any(|r| {
            r.node == instance.node
                && r.index == instance.index
                && matches!(r.state, InstanceStatus::Running | InstanceStatus::Starting)
        });
        if running {
            // A failing stop operation is announced (operation_failed); the stop goes on.
            if let Err(e) =
                lifecycle::run_phase(agent, instance, graph, instances, Phase::BeforeStop).await
            {
                tracing::warn!("{instance}: {e}");
            }
        }
    }
    let supervisor = agent
        .supervisors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(instance);
    let record = agent.store.instance_record(instance).ok().flatten();
    match supervisor {
        Some(supervisor) => supervisor.stop().await,
        None => {
            // Not supervised (failed, or never started): make sure nothing of it runs.
            if let Some(record) = record.as_ref().filter(|r| r.host == agent.host.name) {
                let mut stopped_something = false;
                if let Some(delegate) = agent.delegate_named(&record.delegate) {
                    let running = running_of(agent, record);
                    if record.pid.is_some() && delegate.is_alive(&running).await {
                        let _ = delegate.stop(&running, Duration::from_secs(10)).await;
                        stopped_something = true;
                    }
                }
                // A failed instance with nothing left running stays failed, with its
                // message: after a failed deploy it is the one that says why.
                let keep = match record.state {
                    InstanceStatus::Stopped => true,
                    InstanceStatus::Failed => !stopped_something,
                    _ => false,
                };
                if !keep {
                    agent.update_instance(instance, |r| {
                        r.state = InstanceStatus::Stopped;
                        r.pid = None;
                        r.pid_start_time = None;
                    });
                }
            }
        }
    }
    // Whatever the stopped run left (a daemon that left its session), or a copy started
    // but never recorded by an agent that died.
    match sweep {
        MarkSweep::Now => {
            end_unrecorded(agent, instance).await;
        }
        MarkSweep::WithTheService => end_cgroup_left(agent, instance).await,
    }
    crate::exposure::close(agent, instance).await;
    let _ = std::fs::remove_file(pid_file(agent, instance));
    if remove {
        if let Some((graph, instances)) = &lifecycle_graph {
            if let Err(e) =
                lifecycle::run_phase(agent, instance, graph, instances, Phase::Removed).await
            {
                tracing::warn!("{instance}: {e}");
            }
        }
        remove_leftovers(agent, instance, current.as_ref()).await;
        agent.forget_epoch(instance);
    }
}

/// The graph and records lifecycle operations need, when the instance has a stop (or, with
/// `remove`, a delete) operation, is this host's, and its service still has a current
/// revision. The records are read only then: a mass stop reads no record twice.
fn lifecycle_context(
    agent: &Agent,
    instance: &InstanceRef,
    remove: bool,
    current: Option<&Current>,
) -> Option<(
    std::sync::Arc<khutulun_graph::ServiceGraph>,
    Vec<khutulun_state::InstanceRecord>,
)> {
    let (ns, svc) = (&instance.namespace, &instance.service);
    let graph = current?.1.clone();
    let has = |phase| !lifecycle::steps(&graph, &instance.node, instance.index, phase).is_empty();
    if !(has(Phase::BeforeStop) || remove && has(Phase::Removed)) {
        return None;
    }
    let instances = agent.store.instances(ns, svc).ok()?;
    instances
        .iter()
        .any(|r| r.node == instance.node && r.index == instance.index && r.host == agent.host.name)
        .then_some((graph, instances))
}

/// A directory that is not kept goes with its instance, and so does the instance's data.
/// A service's current record and graph (`load_current`).
type Current = (
    khutulun_state::ServiceRecord,
    std::sync::Arc<khutulun_graph::ServiceGraph>,
);

async fn remove_leftovers(agent: &Agent, instance: &InstanceRef, current: Option<&Current>) {
    let (ns, svc) = (&instance.namespace, &instance.service);
    if let Some((record, graph)) = current {
        // What a delegate leaves behind: a directory that is not kept, a container, a pod,
        // an unpacked root filesystem.
        if let Some(node) = graph.node(&instance.node) {
            let kind = DelegateKind::of(graph, node);
            let package = agent
                .store
                .layout()
                .revision_package(ns, svc, record.revision);
            let paths = paths_for(agent, ns, svc, &node.name, instance.index, &package);
            let identity = identity(agent, ns, svc, &node.name, instance.index);
            let built = workload::build(graph, node, instance.index, &[], &paths, &identity);
            if let (Ok(Some(w)), Some(delegate)) = (built, agent.delegate(kind)) {
                if let Err(e) = delegate.remove(&w.spec).await {
                    tracing::warn!("removing what {instance} left behind: {e}");
                }
            }
        }
    }
    let dir = workload::instance_dir(
        &agent.config.data_dir,
        ns,
        svc,
        &instance.node,
        instance.index,
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `<instance dir>/pid.json`: this host's own note of what it started, so that an agent
/// coming back after its instances were moved elsewhere can find and stop stale copies.
#[derive(Debug, Serialize, Deserialize)]
pub struct PidFile {
    pub pid: u32,
    pub pid_start_time: Option<u64>,
    pub delegate: String,
    /// The placement epoch it was started under (0: before epochs).
    #[serde(default)]
    pub epoch: u64,
}

/// What a delegate knows a recorded instance by: pid and start time, what it learned at
/// start, and for a process its cgroup.
pub fn running_of(agent: &Agent, record: &khutulun_state::InstanceRecord) -> Running {
    let instance = crate::names::instance_ref(
        &record.namespace,
        &record.service,
        &record.node,
        record.index,
    );
    Running {
        pid: record.pid,
        pid_start_time: record.pid_start_time,
        handle: record.delegate_handle().clone(),
        attributes: Default::default(),
        cgroup: cgroup_of(agent, &instance, &record.delegate),
    }
}

/// The cgroup of an instance run by the delegate named `delegate` (processes have one).
pub fn cgroup_of(agent: &Agent, instance: &InstanceRef, delegate: &str) -> Option<String> {
    (delegate == DelegateKind::Process.name()).then(|| cgroup_name(agent, instance))
}

/// The name an instance's cgroup has on this host.
fn cgroup_name(agent: &Agent, instance: &InstanceRef) -> String {
    workload::cgroup_name(
        &agent.cgroup_prefix,
        &instance.namespace,
        &instance.service,
        &instance.node,
        instance.index,
    )
}

/// The mark every process of an instance carries in its environment: its directory.
pub const INSTANCE_MARK: &str = "KHUTULUN_INSTANCE_DIR";

/// Ends every process that carries the instance's mark: what an agent that died between
/// starting a process and recording it left running, or what a stopped process left behind
/// (a daemon in a session of its own). Only for instances no supervisor watches. Returns
/// how many processes it ended.
pub async fn end_unrecorded(agent: &Agent, instance: &InstanceRef) -> usize {
    let dir = instance_dir(agent, instance);
    let mark = dir.display().to_string();
    // Its cgroup first (a process that rewrote its environment is still in it), then the
    // mark (hosts without cgroups; anything that left the cgroup).
    end_cgroup_left(agent, instance).await;
    let ended = end_marked([mark].into()).await;
    if !ended.is_empty() {
        tracing::warn!(
            "{instance}: ended {} process(es) no record accounted for (pids {ended:?})",
            ended.len()
        );
    }
    ended.len()
}

/// Ends whatever runs of instances whose records still say `pending` on this host: a start
/// cut short between its spawn and its pid record (a pending record announces a start, so
/// the start writes no other record before it spawns). Their cgroups, then one pass over
/// /proc for their marks. Returns how many processes the pass ended.
pub async fn end_unrecorded_pending(agent: &Agent, instances: &[InstanceRef]) -> usize {
    let mut marks = std::collections::BTreeSet::new();
    for instance in instances {
        end_cgroup_left(agent, instance).await;
        let dir = instance_dir(agent, instance);
        marks.insert(dir.display().to_string());
    }
    let ended = end_marked(marks).await;
    if !ended.is_empty() {
        tracing::warn!(
            "ended {} process(es) of pending instances that no record accounted for (pids {ended:?})",
            ended.len()
        );
    }
    ended.len()
}

/// Ends every process marked with one of `marks` (one pass over /proc, off the workers):
/// their pids.
async fn end_marked(marks: std::collections::BTreeSet<String>) -> Vec<u32> {
    tokio::task::spawn_blocking(move || {
        khutulun_delegates::marked::end_marked_among(INSTANCE_MARK, &marks, Duration::from_secs(10))
    })
    .await
    .unwrap_or_default()
}

/// Ends what is left in the instance's cgroup.
async fn end_cgroup_left(agent: &Agent, instance: &InstanceRef) {
    let cgroup = cgroup_name(agent, instance);
    match khutulun_delegates::ProcessDelegate::end_cgroup(&cgroup, Duration::from_secs(10)).await {
        Ok(true) => tracing::info!("{instance}: ended what was left in its cgroup {cgroup}"),
        Ok(false) => {}
        Err(e) => tracing::warn!("{instance}: cannot end its cgroup {cgroup}: {e}"),
    }
}

/// [`end_unrecorded`] for every instance of a service on this host at once: one pass over
/// /proc after a mass stop whose instances skipped theirs (`MarkSweep::WithTheService`).
pub async fn end_unrecorded_of_service(agent: &Agent, ns: &str, svc: &str) -> usize {
    let dir = agent.config.data_dir.join("instances").join(ns).join(svc);
    let within = dir.display().to_string();
    let ended = tokio::task::spawn_blocking(move || {
        khutulun_delegates::marked::end_marked_within(
            INSTANCE_MARK,
            &within,
            Duration::from_secs(10),
        )
    })
    .await
    .unwrap_or_default();
    if !ended.is_empty() {
        tracing::warn!(
            "{ns}/{svc}: ended {} process(es) no record accounted for (pids {ended:?})",
            ended.len()
        );
    }
    ended.len()
}

/// The instance's directory in this host's data directory (its logs, pid note, data).
fn instance_dir(agent: &Agent, instance: &InstanceRef) -> PathBuf {
    workload::instance_dir(
        &agent.config.data_dir,
        &instance.namespace,
        &instance.service,
        &instance.node,
        instance.index,
    )
}

pub fn pid_file(agent: &Agent, instance: &InstanceRef) -> PathBuf {
    instance_dir(agent, instance).join("pid.json")
}

pub fn write_pid_file(
    agent: &Agent,
    instance: &InstanceRef,
    running: &Running,
    delegate: &str,
    epoch: u64,
) {
    let Some(pid) = running.pid else {
        return;
    };
    let note = PidFile {
        pid,
        pid_start_time: running.pid_start_time,
        delegate: delegate.to_owned(),
        epoch,
    };
    // Not fsynced: it describes processes, which a crash of the machine ends too.
    if let Err(e) = khutulun_state::write_json_for_this_boot(&pid_file(agent, instance), &note) {
        tracing::warn!("cannot write the pid file of {instance}: {e}");
    }
}
