//! The one pass an agent makes over the state when it starts: adopt the workloads of this
//! host that still run (same pid, same start time), restart those that died while no agent
//! watched (per their restart policy), and resume interrupted deploys and deletes.
//! After this pass the agent lives on events only.

use crate::agent::Agent;
use crate::deploy::{identity, instance_ref, load_current, paths_for, spawn_start};
use crate::supervisor;
use crate::workload::{self, DelegateKind};
use khutulun_delegates::{Exit, Running};
use khutulun_state::{EventKind, InstanceStatus, ServiceStatus};

pub async fn adopt_all(agent: &Agent) {
    let namespaces = agent.store.namespaces().unwrap_or_default();
    for ns in namespaces {
        let services = match agent.store.services(&ns) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot list services of namespace {ns}: {e}");
                continue;
            }
        };
        for service in services {
            match service.status {
                ServiceStatus::Deleting => {
                    crate::delete::spawn_delete(agent, ns.clone(), service.name.clone())
                }
                ServiceStatus::Failed => {}
                ServiceStatus::Deploying | ServiceStatus::Deployed => {
                    if let Err(e) = adopt_service(agent, &ns, &service.name).await {
                        tracing::error!("cannot adopt {ns}/{}: {e}", service.name);
                    }
                    if service.status == ServiceStatus::Deploying {
                        spawn_start(agent, ns.clone(), service.name.clone());
                    }
                }
            }
        }
    }
}

async fn adopt_service(agent: &Agent, ns: &str, svc: &str) -> Result<(), String> {
    let (record, graph) = load_current(agent, ns, svc)?;
    let package = agent
        .store
        .layout()
        .revision_package(ns, svc, record.revision);
    let instances = agent.store.instances(ns, svc).map_err(|e| e.to_string())?;
    let order = khutulun_graph::start_order(&graph).map_err(|e| e.to_string())?;
    for node_name in order {
        let Some(node) = graph.node(&node_name) else {
            continue;
        };
        for rec in instances
            .iter()
            .filter(|i| i.node == node_name && i.host == agent.host.name)
        {
            if !matches!(
                rec.state,
                InstanceStatus::Running | InstanceStatus::Starting
            ) {
                continue;
            }
            let kind = DelegateKind::of(node);
            let Some(delegate) = agent.delegate(kind) else {
                continue;
            };
            let instance = instance_ref(ns, svc, &node.name, rec.index);
            let paths = paths_for(agent, ns, svc, &node.name, rec.index, &package);
            let identity = identity(agent, ns, svc, &node.name, rec.index);
            let workload = workload::build(&graph, node, rec.index, &instances, &paths, &identity)?
                .ok_or_else(|| format!("{instance} has no workload"))?;
            let running = Running {
                pid: rec.pid,
                pid_start_time: rec.pid_start_time,
                attributes: rec.attributes.clone(),
            };
            if delegate.is_alive(&running) {
                agent.update_instance(&instance, |r| r.state = InstanceStatus::Running);
                agent.emit(EventKind::InstanceAdopted {
                    instance: instance.clone(),
                    pid: rec.pid,
                });
                supervisor::spawn(agent.clone(), instance, workload, running, rec.restarts);
                continue;
            }
            // It ended while no agent watched: report it, then restart it per its policy.
            let exit = Exit {
                code: None,
                signal: None,
            };
            agent.update_instance(&instance, |r| {
                r.state = InstanceStatus::Failed;
                r.pid = None;
                r.pid_start_time = None;
                r.message = Some("ended while the agent was not running".into());
            });
            agent.emit(EventKind::InstanceExited {
                instance: instance.clone(),
                pid: rec.pid,
                code: None,
                signal: None,
            });
            if workload.restart.restarts_after(&exit) {
                match supervisor::start_workload(agent, delegate, &instance, &workload).await {
                    Ok(running) => supervisor::spawn(
                        agent.clone(),
                        instance,
                        workload,
                        running,
                        rec.restarts + 1,
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
