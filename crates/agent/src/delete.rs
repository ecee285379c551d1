//! The delete flow: mark the service as deleting, stop its instances in reverse dependency
//! order, remove what they leave behind, release ports, remove the service from the state.

use crate::agent::Agent;
use crate::deploy::release_all_ports;
use crate::flow_error::FlowError;
use crate::instance::load_current;
use crate::local::MarkSweep;
use crate::names::instance_ref;
use crate::remote::stop_on;
use khutulun_state::{EventKind, ServiceStatus};

/// Starts deleting a service; the returned record says `deleting`.
pub async fn delete(
    agent: &Agent,
    ns: &str,
    svc: &str,
) -> Result<khutulun_state::ServiceRecord, FlowError> {
    let record = {
        let _lock = agent
            .lock_service(ns, svc)
            .await
            .map_err(FlowError::internal)?;
        let mut record = agent
            .store
            .require_service(ns, svc)
            .map_err(FlowError::from_state)?;
        record.status = ServiceStatus::Deleting;
        record.coordinator = Some(agent.host.name.clone());
        record.updated_at = chrono::Utc::now();
        agent
            .store
            .write_service(&record)
            .map_err(FlowError::internal)?;
        record
    };
    crate::crash::point("delete.marked");
    agent.emit(EventKind::ServiceDeleting {
        namespace: ns.to_owned(),
        service: svc.to_owned(),
    });
    spawn_delete(agent, ns.to_owned(), svc.to_owned());
    Ok(record)
}

/// Runs (or resumes, after an agent restart) the removal of a service marked `deleting`.
pub fn spawn_delete(agent: &Agent, ns: String, svc: String) {
    let task_agent = agent.clone();
    agent.spawn_service_task(&ns.clone(), &svc.clone(), move |_| async move {
        if let Err(e) = finish_delete(&task_agent, &ns, &svc).await {
            tracing::error!("deleting {ns}/{svc}: {e}");
        }
    });
}

async fn finish_delete(agent: &Agent, ns: &str, svc: &str) -> Result<(), String> {
    // Stopping with `remove` also takes away directories that are not kept and instance data.
    stop_service_instances(agent, ns, svc, true).await;
    crate::crash::point("delete.stopped");
    let records = agent.store.instances(ns, svc).map_err(|e| e.to_string())?;
    release_all_ports(agent, ns, svc, &records);
    crate::crash::point("delete.ports-released");
    {
        let _lock = agent
            .lock_service(ns, svc)
            .await
            .map_err(|e| e.to_string())?;
        agent
            .store
            .remove_service(ns, svc)
            .map_err(|e| e.to_string())?;
    }
    let data = agent.config.data_dir.join("instances").join(ns).join(svc);
    let _ = std::fs::remove_dir_all(data);
    agent.emit(EventKind::ServiceDeleted {
        namespace: ns.to_owned(),
        service: svc.to_owned(),
    });
    agent.graphs.forget(ns, svc);
    agent.index.forget(ns, svc);
    crate::memory::give_back();
    Ok(())
}

/// Stops every instance of the service wherever it runs, dependants before what they depend
/// on. With `remove`, what the instances leave behind goes too (delete).
pub async fn stop_service_instances(agent: &Agent, ns: &str, svc: &str, remove: bool) {
    let Ok(instances) = agent.store.instances(ns, svc) else {
        return;
    };
    // Each node stops once every node that requires it has stopped; independent nodes stop
    // at the same time. Without a graph, all at once.
    let (order, waits_for) = match load_current(agent, ns, svc) {
        Ok((_, graph)) => match khutulun_graph::stop_order(&graph) {
            Ok(order) => {
                let mut dependants = crate::waves::WaitsFor::new();
                for node in &order {
                    for target in graph.dependencies_of(node) {
                        dependants.entry(target).or_default().push(node.clone());
                    }
                }
                (order, dependants)
            }
            Err(_) => (
                graph.nodes.iter().rev().map(|n| n.name.clone()).collect(),
                Default::default(),
            ),
        },
        Err(_) => {
            let mut nodes: Vec<String> = instances.iter().map(|i| i.node.clone()).collect();
            nodes.dedup();
            (nodes, Default::default())
        }
    };
    let instances = &instances;
    crate::waves::each_when_ready::<String, _>(
        &order,
        &waits_for,
        || false,
        |batch| {
            batch
                .iter()
                .map(|node| {
                    let node = node.to_string();
                    async move {
                        // A task each: all stops begin at once, whatever else the
                        // runtime is busy with, instead of as this flow's task gets polled.
                        let stops = instances.iter().filter(|i| i.node == node).map(|record| {
                            let instance = instance_ref(ns, svc, &record.node, record.index);
                            let (agent, host) = (agent.clone(), record.host.clone());
                            tokio::spawn(async move {
                                if let Err(e) = stop_on(
                                    &agent,
                                    &host,
                                    &instance,
                                    remove,
                                    MarkSweep::WithTheService,
                                )
                                .await
                                {
                                    tracing::warn!("{e}");
                                }
                            })
                        });
                        futures_util::future::join_all(stops).await;
                        (node, Ok(()))
                    }
                })
                .collect()
        },
    )
    .await;
    // What the stops here left carrying a mark: one pass over /proc for the whole service.
    if instances.iter().any(|i| i.host == agent.host.name) {
        crate::local::end_unrecorded_of_service(agent, ns, svc).await;
    }
}
