//! The deploy flow: compile, check, store a revision and reserve ports under the service
//! lock, then start the instances in dependency order (a background task). A failure before
//! the revision is stored changes nothing; a failure while starting stops what was started
//! and releases the ports.

use crate::agent::{Agent, Cancel};
use crate::assign::assign;
use crate::compile::{compile_package, CompileError};
use crate::flow_error::FlowError;
use crate::instance::{load_current, paths_for};
use crate::names::{check_name, instance_ref};
use crate::remote::start_on;
use crate::workload::{self, DelegateKind};
use khutulun_graph::ServiceGraph;
use khutulun_protocol::code;
use khutulun_state::{EventKind, InstanceRecord, InstanceStatus, ServiceRecord, ServiceStatus};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// What a deploy is given. The API checked `namespace` and `name` (`check_name`) before it
/// received the package.
pub struct DeployInput {
    pub namespace: String,
    pub name: String,
    /// The entry TOSCA file, relative to the package root.
    pub entry: String,
    pub inputs: BTreeMap<String, Value>,
    /// A staging directory (`DirStore::staging_dir`) holding the package as a tar.gz in
    /// [`ARCHIVE`]. The deploy removes it when it is done, whatever the outcome.
    pub staging: std::path::PathBuf,
    /// Deploy only while the service is at this revision (0: while it does not exist): a
    /// plan made against one revision is not applied to another.
    pub check_revision: Option<u64>,
}

/// The uploaded archive's name in the staging directory.
pub const ARCHIVE: &str = "package.tar.gz";

pub async fn deploy(agent: &Agent, input: DeployInput) -> Result<ServiceRecord, FlowError> {
    // A task of its own: a client that goes away must not cut a deploy in half.
    let agent = agent.clone();
    tokio::spawn(async move {
        let staging = input.staging.clone();
        let result = deploy_staged(&agent, &input, &staging).await;
        let _ = khutulun_state::blocking(|| std::fs::remove_dir_all(&staging));
        result
    })
    .await
    .map_err(FlowError::internal)?
}

/// What a deploy of `input` would change against the service's current revision.
pub struct Plan {
    pub current_revision: Option<u64>,
    pub changes: Vec<khutulun_graph::NodeChange>,
    /// Package files added, removed or changed that no node names.
    pub other_files: Vec<String>,
}

/// Compiles the package as a deploy would and compares it with the current revision, node
/// by node; stores, starts and stops nothing. The staging directory goes, as after a deploy.
pub async fn plan(agent: &Agent, input: DeployInput) -> Result<Plan, FlowError> {
    let staging = input.staging.clone();
    let result = async {
        let (graph, package) = compile_staged(agent, &input, &staging).await?;
        let (ns, name) = (&input.namespace, &input.name);
        let current = agent.store.service(ns, name).map_err(FlowError::internal)?;
        let empty = ServiceGraph::default();
        let (old_graph, old_package) = match &current {
            Some(record) => (
                load_current(agent, ns, name)
                    .map_err(FlowError::internal)?
                    .1,
                Some(
                    agent
                        .store
                        .layout()
                        .revision_package(ns, name, record.revision),
                ),
            ),
            None => (Arc::new(empty), None),
        };
        let digests = |dir: Option<std::path::PathBuf>| async move {
            match dir {
                None => Ok(khutulun_graph::FileDigests::new()),
                Some(dir) => tokio::task::spawn_blocking(move || crate::package::digests(&dir))
                    .await
                    .map_err(FlowError::internal)?
                    .map_err(FlowError::internal),
            }
        };
        let (old_files, new_files) = (digests(old_package).await?, digests(Some(package)).await?);
        // Changed files no node names (a TOSCA file, data a program reads): said apart.
        let other_files = match current {
            None => Vec::new(),
            Some(_) => {
                khutulun_graph::unnamed_changed_files(&old_graph, &graph, &old_files, &new_files)
            }
        };
        Ok(Plan {
            current_revision: current.map(|r| r.revision),
            changes: khutulun_graph::diff(&old_graph, &graph, &old_files, &new_files),
            other_files,
        })
    }
    .await;
    let _ = khutulun_state::blocking(|| std::fs::remove_dir_all(&staging));
    result
}

/// Unpacks, checks and compiles an uploaded package as a deploy does: its graph, with the
/// placement policies applied and the preflight passed, and where the package is.
async fn compile_staged(
    agent: &Agent,
    input: &DeployInput,
    staging: &Path,
) -> Result<(ServiceGraph, std::path::PathBuf), FlowError> {
    // The package lives on the shared state's filesystem: every synchronous look at it is a
    // blocking section (see khutulun_state::blocking).
    let package = staging.join("package");
    khutulun_state::blocking(|| std::fs::create_dir_all(&package)).map_err(FlowError::internal)?;
    {
        let package = package.clone();
        let archive = staging.join(ARCHIVE);
        tokio::task::spawn_blocking(move || crate::package::unpack_file(&archive, &package))
            .await
            .map_err(FlowError::internal)?
            .map_err(|e| match e {
                crate::package::UnpackError::Refused(m) => {
                    FlowError::bad_input(code::BAD_PACKAGE, m)
                }
                crate::package::UnpackError::Storage(m) => FlowError::CannotStore(m),
            })?;
    }
    check_entry(&input.entry)?;
    if !khutulun_state::blocking(|| package.join(&input.entry).is_file()) {
        return Err(FlowError::bad_input(
            code::BAD_PACKAGE,
            format!("the package has no entry file \"{}\"", input.entry),
        ));
    }
    let mut graph = {
        let package = package.clone();
        let entry = input.entry.clone();
        let inputs = input.inputs.clone();
        let functions = khutulun_state::blocking(|| {
            crate::plugins::PluginFunctions::for_package(
                agent,
                &package,
                &input.namespace,
                &input.name,
            )
        })
        .map_err(|e| FlowError::internal(format!("plugins: {e}")))?;
        tokio::task::spawn_blocking(move || compile_package(&package, &entry, &inputs, &functions))
            .await
            .map_err(FlowError::internal)?
            .map_err(|CompileError::Diagnostics(d)| FlowError::InvalidTemplate(d))?
    };
    crate::placement::apply_policies(&mut graph)
        .map_err(|problems| FlowError::cannot_run(code::INVALID_POLICY, problems.join("\n")))?;
    khutulun_state::blocking(|| preflight(agent, input, &graph, &package))?;
    Ok((graph, package))
}

async fn deploy_staged(
    agent: &Agent,
    input: &DeployInput,
    staging: &Path,
) -> Result<ServiceRecord, FlowError> {
    let (graph, package) = compile_staged(agent, input, staging).await?;
    let (ns, name) = (input.namespace.clone(), input.name.clone());
    let lock = agent
        .lock_service(&ns, &name)
        .await
        .map_err(FlowError::internal)?;
    let previous = agent
        .store
        .service(&ns, &name)
        .map_err(FlowError::internal)?;
    if let Some(expected) = input.check_revision {
        let now = previous.as_ref().map_or(0, |p| p.revision);
        if now != expected {
            let at = match &previous {
                Some(p) => format!("is at revision {}", p.revision),
                None => "does not exist".to_owned(),
            };
            return Err(FlowError::conflict(
                code::REVISION_CHANGED,
                format!("service \"{ns}/{name}\" {at}, not revision {expected} as --check-revision asks; nothing was deployed (plan again against the current revision)"),
            ));
        }
    }
    // Epochs of the placements this deploy replaces: the new ones are larger.
    let mut old_epochs: BTreeMap<(String, u32), u64> = BTreeMap::new();
    if let Some(previous) = &previous {
        if previous.status == ServiceStatus::Deleting {
            return Err(FlowError::conflict(
                code::SERVICE_DELETING,
                format!("service \"{ns}/{name}\" is being deleted; wait for the delete to finish, then deploy again"),
            ));
        }
        // A new revision replaces the old one: end the flow still starting it (at its next
        // safe point: nothing is left half-started), then stop its instances. Intent
        // first: until the new revision is committed the old one is "deploying" by this
        // host, so an agent that dies in between restarts the old one, never leaves it
        // stopped under "deployed".
        agent.supersede_service_task(&ns, &name).await;
        let mut intent = previous.clone();
        intent.status = ServiceStatus::Deploying;
        intent.coordinator = Some(agent.host.name.clone());
        intent.updated_at = chrono::Utc::now();
        agent
            .store
            .write_service(&intent)
            .map_err(FlowError::from_state_write)?;
        crate::crash::point("deploy.old-marked-deploying");
        crate::delete::stop_service_instances(agent, &ns, &name, false).await;
        crate::crash::point("deploy.old-stopped");
        let old = agent
            .store
            .instances(&ns, &name)
            .map_err(FlowError::internal)?;
        release_all_ports(agent, &ns, &name, &old);
        for old in old {
            old_epochs.insert((old.node.clone(), old.index), old.epoch);
        }
    }

    // Placement and ports: all or nothing, before anything is written.
    let wanted: Vec<(String, u32)> = graph
        .nodes
        .iter()
        .flat_map(|n| (0..n.count).map(move |i| (n.name.clone(), i)))
        .collect();
    let hosts = crate::hosts::live_hosts(agent, &[]);
    let assigned = assign(agent, &ns, &name, &graph, &wanted, &[], &hosts).map_err(|e| {
        // The previous revision was already stopped: say so in its record.
        if let Some(previous) = &previous {
            let mut record = previous.clone();
            record.status = ServiceStatus::Failed;
            record.message = Some(format!(
                "revision {} was stopped to deploy a new one, which could not be placed: {}",
                previous.revision, e.message
            ));
            record.updated_at = chrono::Utc::now();
            if let Err(write) = agent.store.write_service(&record) {
                // The answer says why the deploy failed; the record keeps saying deploying
                // until the next deploy or agent start (which resumes the old revision).
                tracing::error!("{ns}/{name}: cannot record that the deploy failed: {write}");
            }
        }
        if e.placement {
            FlowError::conflict(code::PLACEMENT_FAILED, e.message)
        } else {
            FlowError::conflict(code::PORTS_UNAVAILABLE, e.message)
        }
    })?;

    crate::crash::point("deploy.placed");

    // The records the new revision plans; they become the instance records once the
    // revision is committed.
    let now = chrono::Utc::now();
    let mut plan: Vec<InstanceRecord> = assigned
        .iter()
        .map(|a| {
            let node = graph
                .node(&a.node)
                .expect("assigned nodes are in the graph");
            InstanceRecord {
                namespace: ns.clone(),
                service: name.clone(),
                node: a.node.clone(),
                index: a.index,
                revision: 0,
                host: a.host.name.clone(),
                epoch: khutulun_state::lease::placement_epoch(
                    old_epochs.get(&(a.node.clone(), a.index)).copied(),
                    now.timestamp_millis().max(0) as u64,
                ),
                delegate: DelegateKind::of(&graph, node).name().to_owned(),
                state: InstanceStatus::Pending,
                address: a.host.address.clone(),
                pid: None,
                pid_start_time: None,
                ports: a.ports.clone(),
                attributes: BTreeMap::new(),
                handle: BTreeMap::new(),
                exit_code: None,
                exit_signal: None,
                restarts: 0,
                message: None,
                cpu_millis: a.resources.cpu_millis,
                memory_bytes: a.resources.memory_bytes,
                placement: a.reasons.clone(),
                updated_at: now,
            }
        })
        .collect();
    // Stored, then committed in one step (service.json names the revision), then the
    // records written from the plan. A crash before the commit leaves the old revision
    // (the new one's directory is removed at the next start); after it, the next start
    // writes what is missing of the plan (`commit::materialize`).
    let mut committed = false;
    let stored = (|| -> Result<ServiceRecord, FlowError> {
        let revision = agent
            .store
            .create_revision(&ns, &name, &package, &graph, &mut plan)
            .map_err(FlowError::from_state_write)?;
        crate::crash::point("deploy.revision-stored");
        let record = ServiceRecord {
            namespace: ns.clone(),
            name: name.clone(),
            revision,
            status: ServiceStatus::Deploying,
            message: None,
            entry: input.entry.clone(),
            inputs: graph.inputs.clone(),
            coordinator: Some(agent.host.name.clone()),
            created_at: previous.as_ref().map(|p| p.created_at).unwrap_or(now),
            updated_at: now,
        };
        agent
            .store
            .write_service(&record)
            .map_err(FlowError::from_state_write)?;
        committed = true;
        crate::crash::point("deploy.committed");
        crate::commit::materialize(agent, &ns, &name, &plan, true)
            .map_err(FlowError::from_state_write)?;
        Ok(record)
    })();
    let record = match stored {
        Ok(record) => record,
        Err(e) => {
            if committed {
                // The next agent start completes it; say what happened meanwhile.
                set_failed_now(agent, &ns, &name, &e.message());
            } else {
                for a in &assigned {
                    // A reservation this cannot release is one no record owns: the next
                    // agent start releases it (`commit::resync_ports`).
                    if let Err(e) = agent.store.release_instance_ports(
                        &a.host.name,
                        &ns,
                        &name,
                        &a.node,
                        a.index,
                    ) {
                        tracing::warn!(
                            "{ns}/{name}: cannot release the ports of {}/{}: {e}",
                            a.node,
                            a.index
                        );
                    }
                }
                let previous_revision = previous.as_ref().map_or(0, |p| p.revision);
                if let Err(cleanup) =
                    agent
                        .store
                        .remove_uncommitted_revisions(&ns, &name, previous_revision)
                {
                    tracing::warn!(
                        "{ns}/{name}: cannot remove the revision that failed to commit: {cleanup}"
                    );
                }
                if let Some(previous) = &previous {
                    let mut record = previous.clone();
                    record.status = ServiceStatus::Failed;
                    record.message = Some(format!(
                        "revision {} was stopped to deploy a new one, which could not be stored: {}",
                        previous.revision, e.message()
                    ));
                    record.updated_at = chrono::Utc::now();
                    if let Err(write) = agent.store.write_service(&record) {
                        tracing::warn!("{ns}/{name}: cannot record the failed deploy: {write}");
                    }
                }
            }
            return Err(e);
        }
    };
    agent.emit(EventKind::ServiceDeploying {
        namespace: ns.clone(),
        service: name.clone(),
        revision: record.revision,
    });
    for a in &assigned {
        agent.emit(EventKind::InstancePlaced {
            instance: instance_ref(&ns, &name, &a.node, a.index),
            on_host: a.host.name.clone(),
        });
    }
    // Registered while the lock is held, so that the next deploy of this service finds
    // this flow and waits for it before it touches the instances.
    spawn_start(agent, ns, name);
    crate::crash::point("deploy.accepted");
    drop(lock);
    Ok(record)
}

/// Releases a service's ports on every host its instances are on.
pub fn release_all_ports(agent: &Agent, ns: &str, svc: &str, records: &[InstanceRecord]) {
    let hosts: std::collections::BTreeSet<&str> = records.iter().map(|r| r.host.as_str()).collect();
    for host in hosts {
        if let Err(e) = agent.store.release_ports(host, ns, svc) {
            tracing::warn!("releasing the ports of {ns}/{svc} on host {host}: {e}");
        }
    }
}

/// Checks what can be checked before anything changes: names and executables.
fn preflight(
    agent: &Agent,
    input: &DeployInput,
    graph: &ServiceGraph,
    package: &Path,
) -> Result<(), FlowError> {
    let mut problems = Vec::new();
    for node in &graph.nodes {
        check_name("node", &node.name)?;
        let kind = DelegateKind::of(graph, node);
        let delegate = match agent.delegate_for(kind) {
            Ok(Some(delegate)) => delegate,
            Ok(None) => continue,
            Err(why) => {
                // Another host may run it: placement sends the node there, and that host's
                // agent checks its spec as it starts it.
                let elsewhere = crate::hosts::live_hosts(agent, &[])
                    .iter()
                    .any(|h| h.delegates.iter().any(|d| d == kind.name()));
                if !elsewhere {
                    problems.push(format!(
                        "node \"{}\": {why}; no other live host runs it either",
                        node.name
                    ));
                }
                continue;
            }
        };
        let needing_ports = workload::endpoints_needing_ports(graph, node);
        if !delegate.capabilities().binds_host_ports && !needing_ports.is_empty() {
            let endpoints: Vec<&str> = needing_ports.iter().map(|(e, _)| e.as_str()).collect();
            problems.push(format!(
                "node \"{}\": the {} delegate serves no host ports, so its endpoint(s) {} can never be reached; drop the port (and what connects to it) or run the node with a delegate that serves ports",
                node.name,
                kind.name(),
                endpoints.join(", ")
            ));
            continue;
        }
        let paths = paths_for(agent, &input.namespace, &input.name, &node.name, 0, package);
        match workload::build(graph, node, 0, &[], &paths, &BTreeMap::new()) {
            Ok(Some(w)) => {
                if let Err(e) = delegate.check(&w.spec) {
                    problems.push(format!("node \"{}\": {e}", node.name));
                }
            }
            Ok(None) => {}
            Err(e) => problems.push(e),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(FlowError::cannot_run(code::CANNOT_RUN, problems.join("\n")))
    }
}

/// Starts the instances of the current revision in the background.
pub fn spawn_start(agent: &Agent, namespace: String, service: String) {
    let task_agent = agent.clone();
    agent.spawn_service_task(
        &namespace.clone(),
        &service.clone(),
        move |cancel| async move {
            let (agent, ns, svc) = (task_agent, namespace, service);
            match start_all(&agent, &ns, &svc, &cancel).await {
                Started::All(revision) => {
                    set_status(
                        &agent,
                        &ns,
                        &svc,
                        revision,
                        ServiceStatus::Deployed,
                        None,
                        &cancel,
                    )
                    .await
                }
                Started::Superseded => {
                    tracing::info!("starting {ns}/{svc} stopped: a newer flow replaces it");
                }
                Started::Failed(revision, message) => {
                    tracing::warn!("deploy of {ns}/{svc} failed: {message}");
                    crate::delete::stop_service_instances(&agent, &ns, &svc, false).await;
                    let records = agent.store.instances(&ns, &svc).unwrap_or_default();
                    release_all_ports(&agent, &ns, &svc, &records);
                    set_status(
                        &agent,
                        &ns,
                        &svc,
                        revision,
                        ServiceStatus::Failed,
                        Some(message),
                        &cancel,
                    )
                    .await;
                }
            }
            crate::memory::give_back();
        },
    );
}

/// How a start flow ended.
enum Started {
    /// Every instance of this revision runs.
    All(u64),
    /// A newer flow asked this one to stop; it stopped between two nodes.
    Superseded,
    Failed(u64, String),
}

/// Starts every instance of the current revision where it is placed: each node as soon as
/// the nodes it requires run, the instances of one node at the same time. One read of the
/// records serves every node that became ready together. Once a newer flow asks, it
/// launches nothing more and lets what runs finish.
async fn start_all(agent: &Agent, ns: &str, svc: &str, cancel: &Cancel) -> Started {
    let (record, graph) = match load_current(agent, ns, svc) {
        Ok(current) => current,
        Err(message) => return Started::Failed(0, message),
    };
    let revision = record.revision;
    let order = match khutulun_graph::start_order(&graph) {
        Ok(order) => order,
        Err(e) => return Started::Failed(revision, e.to_string()),
    };
    let waits_for: crate::waves::WaitsFor = order
        .iter()
        .map(|node| (node.clone(), graph.dependencies_of(node)))
        .collect();
    let ran = crate::waves::each_when_ready(
        &order,
        &waits_for,
        || cancel.is_cancelled(),
        |batch| {
            let records = agent
                .store
                .instances(ns, svc)
                .map(Arc::new)
                .map_err(|e| e.to_string());
            batch
                .iter()
                .map(|node| start_node(agent, ns, svc, node.to_string(), records.clone()))
                .collect()
        },
    )
    .await;
    if !ran.failures.is_empty() {
        Started::Failed(revision, ran.failures.join("; "))
    } else if !ran.all_launched {
        Started::Superseded
    } else {
        Started::All(revision)
    }
}

/// Starts the instances of one node that do not run yet, all at once, from the records
/// read for its batch.
async fn start_node(
    agent: &Agent,
    ns: &str,
    svc: &str,
    node: String,
    records: Result<Arc<Vec<InstanceRecord>>, String>,
) -> (String, Result<(), Vec<String>>) {
    let records = match records {
        Ok(records) => records,
        Err(e) => return (node, Err(vec![e])),
    };
    let starts = records
        .iter()
        .filter(|r| r.node == node && r.state != InstanceStatus::Running)
        .map(|r| {
            let instance = instance_ref(ns, svc, &r.node, r.index);
            let (agent, host, records) = (agent.clone(), r.host.clone(), records.clone());
            // A task each: their blocking sections (record writes, events) run side by
            // side and share fsyncs, instead of taking turns in this flow's task.
            tokio::spawn(async move { start_on(&agent, &host, &instance, Some(&records)).await })
        });
    let failures: Vec<String> = futures_util::future::join_all(starts)
        .await
        .into_iter()
        .filter_map(|started| match started {
            Ok(started) => started.err().map(|e| e.to_string()),
            Err(e) => Some(format!("a start of node {node} ended abnormally: {e}")),
        })
        .collect();
    let result = if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    };
    (node, result)
}

/// Marks the service failed with `message`, under the lock the caller holds; the write's
/// own failure is logged (the answer to the deploy reports the first one).
fn set_failed_now(agent: &Agent, ns: &str, svc: &str, message: &str) {
    let mut record = match agent.store.require_service(ns, svc) {
        Ok(record) => record,
        Err(e) => {
            tracing::error!("{ns}/{svc}: cannot record that the deploy failed: {e}");
            return;
        }
    };
    record.status = ServiceStatus::Failed;
    record.message = Some(format!(
        "revision {} was committed but not all of its instance records could be written ({message}); deploy again once the state can be written",
        record.revision
    ));
    record.updated_at = chrono::Utc::now();
    if let Err(e) = agent.store.write_service(&record) {
        // Still `deploying`: the next agent start writes what the plan lacks and resumes.
        tracing::error!("{ns}/{svc}: cannot record that the deploy failed: {e}");
    }
}

/// Records how a start flow ended, unless a newer flow took the service over (it asks this
/// one to stop, or the current revision is no longer the one this flow started).
async fn set_status(
    agent: &Agent,
    ns: &str,
    svc: &str,
    revision: u64,
    status: ServiceStatus,
    message: Option<String>,
    cancel: &Cancel,
) {
    // A status that cannot be written (a full or read-only state) is written again, with
    // backoff, until it is, or a newer flow or revision takes the service over: the service
    // never stays `deploying` with nothing left to finish it.
    let mut delay = std::time::Duration::from_secs(1);
    let mut said = false;
    loop {
        let lock = tokio::select! {
            lock = agent.lock_service(ns, svc) => match lock {
                Ok(lock) => lock,
                Err(e) => {
                    tracing::error!("cannot record that {ns}/{svc} is {}: {e}", status_name(status));
                    return;
                }
            },
            () = cancel.cancelled() => return,
        };
        let Ok(Some(mut record)) = agent.store.service(ns, svc) else {
            return;
        };
        if record.status == ServiceStatus::Deleting || record.revision != revision {
            return;
        }
        record.status = status;
        record.message = message.clone();
        record.updated_at = chrono::Utc::now();
        match agent.store.write_service(&record) {
            Ok(()) => break,
            Err(e) => {
                if !said {
                    tracing::error!(
                        "cannot record that {ns}/{svc} is {} ({e}); trying again until the state can be written",
                        status_name(status)
                    );
                    said = true;
                }
            }
        }
        drop(lock);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = cancel.cancelled() => return,
        }
        delay = (delay * 2).min(std::time::Duration::from_secs(30));
    }
    if said {
        tracing::info!("{ns}/{svc} is recorded {} now", status_name(status));
    }
    agent.emit(match status {
        ServiceStatus::Failed => EventKind::ServiceFailed {
            namespace: ns.to_owned(),
            service: svc.to_owned(),
            message: message.unwrap_or_default(),
        },
        _ => EventKind::ServiceDeployed {
            namespace: ns.to_owned(),
            service: svc.to_owned(),
            revision,
        },
    });
}

fn status_name(status: ServiceStatus) -> &'static str {
    match status {
        ServiceStatus::Deploying => "deploying",
        ServiceStatus::Deployed => "deployed",
        ServiceStatus::Failed => "failed",
        ServiceStatus::Deleting => "deleting",
    }
}

/// The entry names a file of the package: a relative path without `..` (checked before the
/// path is used; the compiler then reads nothing outside the package either).
fn check_entry(entry: &str) -> Result<(), FlowError> {
    use std::path::Component;
    let path = std::path::Path::new(entry);
    let inside = !entry.is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if inside {
        Ok(())
    } else {
        Err(FlowError::bad_input(
            code::BAD_ENTRY,
            format!("the entry \"{entry}\" is not a file of the package: give a path relative to the package root, without \"..\""),
        ))
    }
}
