//! The one pass an agent makes over the state when it starts: adopt the workloads of this
//! host that still run (same pid, same start time), restart those that died while no agent
//! watched (per their restart policy), and resume interrupted deploys and deletes.
//! After this pass the agent lives on events only.

use crate::agent::Agent;
use crate::deploy::spawn_start;
use crate::instance::{identity, load_current, paths_for};
use crate::names::instance_ref;
use crate::supervisor;
use crate::workload::{self, DelegateKind};
use khutulun_delegates::{Exit, Running};
use khutulun_state::{EventKind, InstanceRef, InstanceStatus, ServiceStatus};
use std::collections::BTreeSet;

/// `fenced`: instances self-fencing stopped; they start again whatever their restart policy
/// says (nothing of theirs failed).
pub async fn adopt_all(agent: &Agent, fenced: &BTreeSet<InstanceRef>) {
    stop_stale(agent).await;
    let namespaces = agent.store.namespaces().unwrap_or_default();
    for ns in namespaces {
        crate::commit::remove_uncommitted_services(agent, &ns).await;
        let services = match agent.store.services(&ns) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot list services of namespace {ns}: {e}");
                continue;
            }
        };
        for service in services {
            adopt_one(agent, &ns, &service.name, fenced).await;
        }
    }
}

/// One service of the pass, under its lock: no deploy stores a revision meanwhile, and a
/// flow of this agent that runs for it is seen (it owns the instances: a deploy that
/// resumed after the lease came back; adopting beside it would start them twice).
async fn adopt_one(agent: &Agent, ns: &str, name: &str, fenced: &BTreeSet<InstanceRef>) {
    let lock = match agent.lock_service(ns, name).await {
        Ok(lock) => lock,
        Err(e) => {
            tracing::error!("cannot adopt {ns}/{name}: {e}");
            return;
        }
    };
    if agent.service_task_running(ns, name) {
        return;
    }
    let service = match agent.store.service(ns, name) {
        Ok(Some(service)) => service,
        Ok(None) => return,
        Err(e) => {
            tracing::error!("cannot adopt {ns}/{name}: {e}");
            return;
        }
    };
    // A flow another live agent runs is that agent's business.
    let ours = match service.coordinator.as_deref() {
        None => true,
        Some(host) if host == agent.host.name => true,
        Some(host) => !agent.store.host_is_alive(host).unwrap_or(false),
    };
    if ours && service.status != ServiceStatus::Deleting {
        if let Err(e) = crate::commit::recover_locked(agent, ns, name, &service) {
            tracing::error!("cannot recover {ns}/{name}: {e}");
        }
    }
    match service.status {
        ServiceStatus::Deleting => {
            if ours {
                crate::delete::spawn_delete(agent, ns.to_owned(), name.to_owned())
            }
        }
        ServiceStatus::Failed => {}
        ServiceStatus::Deploying | ServiceStatus::Deployed => {
            if let Err(e) = adopt_service(agent, ns, name, fenced).await {
                tracing::error!("cannot adopt {ns}/{name}: {e}");
            }
            if service.status == ServiceStatus::Deploying && ours {
                spawn_start(agent, ns.to_owned(), name.to_owned());
            }
        }
    }
    drop(lock);
}

async fn adopt_service(
    agent: &Agent,
    ns: &str,
    svc: &str,
    fenced: &BTreeSet<InstanceRef>,
) -> Result<(), String> {
    let (record, graph) = load_current(agent, ns, svc)?;
    let status = record.status;
    let package = agent
        .store
        .layout()
        .revision_package(ns, svc, record.revision);
    let instances = agent.store.instances(ns, svc).map_err(|e| e.to_string())?;
    let pending_here: Vec<InstanceRef> = instances
        .iter()
        .filter(|r| r.host == agent.host.name && r.state == InstanceStatus::Pending)
        .map(|r| instance_ref(ns, svc, &r.node, r.index))
        .collect();
    if !pending_here.is_empty() {
        // A start cut short after its spawn left its record pending: nothing of it may run
        // on when it is started again (here, or by the deploy resumed below).
        crate::local::end_unrecorded_pending(agent, &pending_here).await;
    }
    let order = khutulun_graph::start_order(&graph).map_err(|e| e.to_string())?;
    for node_name in order {
        let Some(node) = graph.node(&node_name) else {
            continue;
        };
        for rec in instances
            .iter()
            .filter(|i| i.node == node_name && i.host == agent.host.name)
        {
            if rec.state == InstanceStatus::Pending && status == ServiceStatus::Deployed {
                // Left pending here when a failover found no other host for it.
                let instance = instance_ref(ns, svc, &node.name, rec.index);
                if let Err(e) = crate::local::start_here(agent, &instance, None).await {
                    tracing::warn!("{e}");
                }
                continue;
            }
            if !matches!(
                rec.state,
                InstanceStatus::Running | InstanceStatus::Starting
            ) {
                continue;
            }
            let kind = DelegateKind::of(&graph, node);
            let Some(delegate) = agent.delegate(kind) else {
                continue;
            };
            let instance = instance_ref(ns, svc, &node.name, rec.index);
            let paths = paths_for(agent, ns, svc, &node.name, rec.index, &package);
            let identity = identity(agent, ns, svc, &node.name, rec.index);
            let workload = workload::build(&graph, node, rec.index, &instances, &paths, &identity)?
                .ok_or_else(|| format!("{instance} has no workload"))?;
            let running = crate::local::running_of(agent, rec);
            let supervised = agent
                .supervisors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&instance)
                .map(|s| s.epoch);
            if supervised == Some(rec.epoch) {
                // Already watched by this agent (a second pass after the lease came back).
                continue;
            }
            let alive = delegate.is_alive(&running).await;
            let adoptable = delegate.capabilities().adoptable;
            // Cut short while it started: it counts as running only once it listens, so
            // that no dependant starts before it (a start would have waited too).
            let ready = !alive
                || rec.state != InstanceStatus::Starting
                || rec.ports.is_empty()
                || ready_in_time(agent, delegate, &running, rec).await;
            if alive && adoptable && ready {
                agent.hold_epoch(&instance, rec.epoch);
                agent.note_live(&instance, kind, &running);
                agent.update_instance(&instance, |r| r.state = InstanceStatus::Running);
                agent.emit(EventKind::InstanceAdopted {
                    instance: instance.clone(),
                    pid: rec.pid,
                });
                crate::exposure::open(agent, &instance, &workload.exposed).await;
                supervisor::spawn(
                    agent.clone(),
                    instance,
                    workload,
                    running,
                    rec.restarts,
                    rec.epoch,
                );
                continue;
            }
            if alive {
                // Its delegate cannot take over a running workload, or it never became
                // ready: stopped, and started afresh below.
                if let Err(e) = delegate.stop(&running, workload.stop_timeout).await {
                    tracing::warn!("{instance}: cannot stop it to start it afresh: {e}");
                }
            }
            // It ended while no agent watched (or it was started and never recorded: the
            // agent died in between). Nothing of it may run on: a copy found by its mark
            // is ended before a new one starts. Then report it and restart it per its policy.
            crate::local::end_unrecorded(agent, &instance).await;
            let exit = Exit {
                code: None,
                signal: None,
            };
            let was_fenced = fenced.contains(&instance);
            agent.hold_epoch(&instance, rec.epoch);
            agent.update_instance(&instance, |r| {
                r.state = InstanceStatus::Failed;
                r.pid = None;
                r.pid_start_time = None;
                r.message = Some(if was_fenced {
                    "stopped while this host was fenced".into()
                } else if alive && !ready {
                    format!(
                        "restarted by the agent's start: it was starting and did not listen on its ports within {} s",
                        crate::readiness::READY_TIMEOUT.as_secs()
                    )
                } else if alive {
                    format!(
                        "restarted by the agent's start: the {} delegate cannot adopt a running workload",
                        kind.name()
                    )
                } else {
                    "ended while the agent was not running".into()
                });
            });
            agent.emit(EventKind::InstanceExited {
                instance: instance.clone(),
                pid: rec.pid,
                code: None,
                signal: None,
            });
            if was_fenced || alive || workload.restart.restarts_after(&exit) {
                match supervisor::start_workload(agent, delegate, &instance, &workload, rec.epoch)
                    .await
                {
                    Ok(running) => supervisor::spawn(
                        agent.clone(),
                        instance,
                        workload,
                        running,
                        rec.restarts + 1,
                        rec.epoch,
                    ),
                    Err(message) => {
                        agent.update_instance(&instance, |r| r.message = Some(message.clone()));
                        agent.emit(EventKind::InstanceFailed { instance, message });
                    }
                }
            }
        }
    }
    Ok(())
}

/// Waits until an adopted instance that was starting listens on its reserved ports; false
/// when it ends first or does not within the readiness timeout.
async fn ready_in_time(
    agent: &Agent,
    delegate: &dyn khutulun_delegates::Delegate,
    running: &Running,
    record: &khutulun_state::InstanceRecord,
) -> bool {
    let ports: Vec<u16> = record.ports.values().copied().collect();
    matches!(
        crate::readiness::ready_or_not(&agent.host.address, &ports, delegate.wait(running)).await,
        crate::readiness::Readiness::Listening
    )
}

/// Stops what this host still runs of instances that are no longer its own: they were moved
/// to other hosts (failover) while this host's agent was away, or their service is gone.
/// The host's own pid notes (`pid.json` in each instance directory) say what it started.
async fn stop_stale(agent: &Agent) {
    let root = agent.config.data_dir.join("instances");
    for (ns, svc, dir_name) in instance_dirs(&root) {
        let Some((node, index)) = dir_name
            .rsplit_once('-')
            .and_then(|(n, i)| Some((n.to_owned(), i.parse::<u32>().ok()?)))
        else {
            continue;
        };
        let instance = instance_ref(&ns, &svc, &node, index);
        let note_path = crate::local::pid_file(agent, &instance);
        let Ok(Some(note)) = khutulun_state::read_json::<crate::local::PidFile>(&note_path) else {
            continue;
        };
        let record = agent.store.instance(&ns, &svc, &node, index).ok().flatten();
        // Before epochs (0) only the host was compared.
        let current = khutulun_state::lease::copy_is_current(
            record.as_ref().map(|r| (r.host.as_str(), r.epoch)),
            &agent.host.name,
            if note.epoch == 0 {
                record.as_ref().map_or(0, |r| r.epoch)
            } else {
                note.epoch
            },
        );
        if current {
            continue;
        }
        crate::exposure::close(agent, &instance).await;
        let Some(delegate) = agent.delegate_named(&note.delegate) else {
            continue;
        };
        let running = Running {
            pid: Some(note.pid),
            pid_start_time: note.pid_start_time,
            cgroup: crate::local::cgroup_of(agent, &instance, &note.delegate),
            ..Default::default()
        };
        if delegate.is_alive(&running).await {
            let now_on = match &record {
                Some(r) if r.host == agent.host.name => {
                    format!("it was placed here again (epoch {})", r.epoch)
                }
                Some(r) => format!("it now runs on host {}", r.host),
                None => "its service is gone".into(),
            };
            tracing::info!("stopping stale {instance} (pid {}): {now_on}", note.pid);
            let _ = delegate
                .stop(&running, std::time::Duration::from_secs(10))
                .await;
            agent.emit(EventKind::InstanceStopped {
                instance: instance.clone(),
            });
        }
        crate::local::end_unrecorded(agent, &instance).await;
        let _ = std::fs::remove_file(&note_path);
    }
}

/// (namespace, service, instance directory name) under `<data>/instances`.
fn instance_dirs(root: &std::path::Path) -> Vec<(String, String, String)> {
    let names = |dir: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut found = Vec::new();
    for ns in names(root) {
        for svc in names(&root.join(&ns)) {
            for dir in names(&root.join(&ns).join(&svc)) {
                found.push((ns.clone(), svc.clone(), dir));
            }
        }
    }
    found
}
