//! The delete flow: mark the service as deleting, stop its instances in reverse dependency
//! order, remove what they leave behind, release ports, remove the service from the state.

use crate::agent::Agent;
use crate::api::error::ApiError;
use crate::deploy::{instance_ref, load_current, paths_for};
use crate::workload::{self, DelegateKind};
use khutulun_state::{EventKind, InstanceStatus, ServiceStatus};
use std::collections::BTreeMap;
use std::time::Duration;

/// Starts deleting a service; the returned record says `deleting`.
pub async fn delete(
    agent: &Agent,
    ns: &str,
    svc: &str,
) -> Result<khutulun_state::ServiceRecord, ApiError> {
    let record = {
        let store = agent.store.clone();
        let (ns, svc) = (ns.to_owned(), svc.to_owned());
        tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
            let _lock = store.lock_service(&ns, &svc).map_err(ApiError::internal)?;
            let mut record = store
                .require_service(&ns, &svc)
                .map_err(ApiError::from_state)?;
            record.status = ServiceStatus::Deleting;
            record.updated_at = chrono::Utc::now();
            store.write_service(&record).map_err(ApiError::internal)?;
            Ok(record)
        })
        .await
        .map_err(ApiError::internal)??
    };
    agent.emit(EventKind::ServiceDeleting {
        namespace: ns.to_owned(),
        service: svc.to_owned(),
    });
    spawn_delete(agent, ns.to_owned(), svc.to_owned());
    Ok(record)
}

/// Runs (or resumes, after an agent restart) the removal of a service marked `deleting`.
pub fn spawn_delete(agent: &Agent, ns: String, svc: String) {
    agent.cancel_service_task(&ns, &svc);
    let task_agent = agent.clone();
    let (n, s) = (ns.clone(), svc.clone());
    let task = tokio::spawn(async move {
        let agent = task_agent;
        if let Err(e) = finish_delete(&agent, &n, &s).await {
            tracing::error!("deleting {n}/{s}: {e}");
        }
    });
    agent.set_service_task(&ns, &svc, task);
}

async fn finish_delete(agent: &Agent, ns: &str, svc: &str) -> Result<(), String> {
    stop_service_instances(agent, ns, svc).await;
    // Directories that are not kept go with the service.
    if let Ok((record, graph)) = load_current(agent, ns, svc) {
        let package = agent
            .store
            .layout()
            .revision_package(ns, svc, record.revision);
        for node in &graph.nodes {
            if DelegateKind::of(node) != DelegateKind::Directory {
                continue;
            }
            for index in 0..node.count {
                let paths = paths_for(agent, ns, svc, &node.name, index, &package);
                if let Ok(Some(w)) =
                    workload::build(&graph, node, index, &[], &paths, &BTreeMap::new())
                {
                    if let Some(delegate) = agent.delegate(DelegateKind::Directory) {
                        if let Err(e) = delegate.remove(&w.spec).await {
                            tracing::warn!(
                                "removing the directory of {ns}/{svc} {}: {e}",
                                node.name
                            );
                        }
                    }
                }
            }
        }
    }
    agent
        .store
        .release_ports(&agent.host.name, ns, svc)
        .map_err(|e| e.to_string())?;
    {
        let store = agent.store.clone();
        let (n, s) = (ns.to_owned(), svc.to_owned());
        tokio::task::spawn_blocking(move || {
            let _lock = store.lock_service(&n, &s)?;
            store.remove_service(&n, &s)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    }
    let data = agent.config.data_dir.join("instances").join(ns).join(svc);
    let _ = std::fs::remove_dir_all(data);
    agent.emit(EventKind::ServiceDeleted {
        namespace: ns.to_owned(),
        service: svc.to_owned(),
    });
    Ok(())
}

/// Stops every instance of the service on this host, dependants before what they depend on.
pub async fn stop_service_instances(agent: &Agent, ns: &str, svc: &str) {
    let Ok(instances) = agent.store.instances(ns, svc) else {
        return;
    };
    let order: Vec<String> = match load_current(agent, ns, svc) {
        Ok((_, graph)) => khutulun_graph::stop_order(&graph)
            .unwrap_or_else(|_| graph.nodes.iter().rev().map(|n| n.name.clone()).collect()),
        Err(_) => instances.iter().map(|i| i.node.clone()).collect(),
    };
    for node in order {
        for record in instances
            .iter()
            .filter(|i| i.node == node && i.host == agent.host.name)
        {
            let instance = instance_ref(ns, svc, &record.node, record.index);
            let supervisor = agent
                .supervisors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&instance);
            match supervisor {
                Some(supervisor) => supervisor.stop().await,
                None => {
                    // Not supervised (failed, or never started): make sure nothing of it runs.
                    if let Some(delegate) = agent.delegate_named(&record.delegate) {
                        let running = khutulun_delegates::Running {
                            pid: record.pid,
                            pid_start_time: record.pid_start_time,
                            attributes: record.attributes.clone(),
                        };
                        if record.pid.is_some() && delegate.is_alive(&running) {
                            let _ = delegate.stop(&running, Duration::from_secs(10)).await;
                        }
                    }
                    if record.state != InstanceStatus::Stopped {
                        agent.update_instance(&instance, |r| {
                            r.state = InstanceStatus::Stopped;
                            r.pid = None;
                            r.pid_start_time = None;
                        });
                    }
                }
            }
        }
    }
}
