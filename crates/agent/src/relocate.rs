//! Moving the instances of one host to others: failover (the host is dead and fenced) and
//! drain (the host is alive and emptied on purpose). Per service, under its lock: place the
//! instances again with the others fixed, reserve their ports on the new hosts, (drain:
//! stop them on the old host), rewrite their records. Then start them in dependency order and restart their dependants, which get the
//! new address in their environment.

use crate::agent::Agent;
use crate::assign::assign;
use crate::instance::load_current;
use crate::instance_error::InstanceError;
use crate::local::MarkSweep;
use crate::names::instance_ref;
use crate::remote::{start_on, stop_on};
use khutulun_state::{EventKind, InstanceRecord, InstanceStatus, ServiceStatus, StateResult};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// SWIM declared the host dead and this agent holds its alive.lock.
    Failover,
    /// The host is being drained.
    Drain,
}

impl Why {
    fn reason(self, from: &str) -> String {
        match self {
            Why::Failover => format!("moved from {from}: host dead"),
            Why::Drain => format!("moved from {from}: host drained"),
        }
    }
}

/// Every instance record of every service.
pub fn all_instances(agent: &Agent) -> StateResult<Vec<InstanceRecord>> {
    let mut all = Vec::new();
    for ns in agent.store.namespaces()? {
        for svc in agent.store.services(&ns)? {
            all.extend(agent.store.instances(&ns, &svc.name)?);
        }
    }
    Ok(all)
}

/// Moves every instance on `from` to other hosts. Returns how many moved and, per
/// service, what could not be done.
pub async fn relocate_host(agent: &Agent, from: &str, why: Why) -> (usize, Vec<String>) {
    let mut moved = 0;
    let mut problems = Vec::new();
    for ns in agent.store.namespaces().unwrap_or_default() {
        for service in agent.store.services(&ns).unwrap_or_default() {
            if service.status == ServiceStatus::Deleting {
                continue;
            }
            let on_host = agent
                .store
                .instances(&ns, &service.name)
                .unwrap_or_default()
                .iter()
                .any(|r| r.host == from);
            if !on_host {
                continue;
            }
            match relocate_service(agent, &ns, &service.name, from, why).await {
                Ok(n) => moved += n,
                Err(e) => problems.push(format!("{ns}/{}: {e}", service.name)),
            }
        }
    }
    (moved, problems)
}

async fn relocate_service(
    agent: &Agent,
    ns: &str,
    svc: &str,
    from: &str,
    why: Why,
) -> Result<usize, RelocateError> {
    let (_, graph) = load_current(agent, ns, svc).map_err(RelocateError::State)?;
    let order = khutulun_graph::start_order(&graph).map_err(RelocateError::state)?;

    let lock = agent
        .lock_service(ns, svc)
        .await
        .map_err(RelocateError::state)?;
    let records = agent
        .store
        .instances(ns, svc)
        .map_err(RelocateError::state)?;
    let lost: Vec<&InstanceRecord> = records.iter().filter(|r| r.host == from).collect();
    let wanted: Vec<(String, u32)> = lost.iter().map(|r| (r.node.clone(), r.index)).collect();
    let fixed: Vec<(String, u32, String)> = records
        .iter()
        .filter(|r| r.host != from)
        .map(|r| (r.node.clone(), r.index, r.host.clone()))
        .collect();
    let hosts = crate::hosts::live_hosts(agent, &[from]);
    let assigned = match assign(agent, ns, svc, &graph, &wanted, &fixed, &hosts) {
        Ok(assigned) => assigned,
        Err(e) => {
            let unplaceable = RelocateError::Unplaceable {
                from: from.to_owned(),
                reason: e.message,
            };
            let message = unplaceable.to_string();
            if why == Why::Drain {
                // They keep running where they are.
                return Err(unplaceable);
            }
            for record in &lost {
                // It stays on its host, pending: if the host comes back, its agent starts it.
                let mut failed = (*record).clone();
                failed.state = InstanceStatus::Pending;
                failed.pid = None;
                failed.pid_start_time = None;
                failed.message = Some(message.clone());
                failed.updated_at = chrono::Utc::now();
                if let Err(e) = agent.store.write_instance(&failed) {
                    // Its record keeps naming the lost host: the next failover pass tries again.
                    tracing::error!(
                        "cannot record that {}/{} stays pending: {e}",
                        record.node,
                        record.index
                    );
                }
                agent.emit(EventKind::InstanceFailed {
                    instance: instance_ref(ns, svc, &record.node, record.index),
                    message: message.clone(),
                });
            }
            return Err(unplaceable);
        }
    };
    if why == Why::Drain {
        // Placed elsewhere: now stop them where they are, dependants first.
        for node in order.iter().rev() {
            for record in lost.iter().filter(|r| &r.node == node) {
                let instance = instance_ref(ns, svc, &record.node, record.index);
                if let Err(e) = stop_on(agent, from, &instance, false, MarkSweep::Now).await {
                    tracing::warn!("{e}");
                }
            }
        }
    }
    for a in &assigned {
        let Some(old) = lost.iter().find(|r| r.node == a.node && r.index == a.index) else {
            continue;
        };
        // The lost host's reservation: left behind, it is released when that host's agent
        // starts again (`commit::resync_ports`), and it blocks nothing elsewhere.
        if let Err(e) = agent
            .store
            .release_instance_ports(from, ns, svc, &a.node, a.index)
        {
            tracing::warn!(
                "{ns}/{svc}: cannot release the ports of {}/{} on host {from}: {e}",
                a.node,
                a.index
            );
        }
        let mut placement = vec![why.reason(from)];
        placement.extend(a.reasons.iter().cloned());
        let record = InstanceRecord {
            host: a.host.name.clone(),
            epoch: khutulun_state::lease::placement_epoch(
                Some(old.epoch),
                chrono::Utc::now().timestamp_millis().max(0) as u64,
            ),
            address: a.host.address.clone(),
            state: InstanceStatus::Pending,
            pid: None,
            pid_start_time: None,
            ports: a.ports.clone(),
            attributes: Default::default(),
            handle: Default::default(),
            exit_code: None,
            exit_signal: None,
            restarts: 0,
            message: None,
            cpu_millis: a.resources.cpu_millis,
            memory_bytes: a.resources.memory_bytes,
            placement,
            updated_at: chrono::Utc::now(),
            ..(*old).clone()
        };
        agent
            .store
            .write_instance(&record)
            .map_err(RelocateError::state)?;
    }
    drop(lock);
    for a in &assigned {
        agent.emit(EventKind::InstanceMoved {
            instance: instance_ref(ns, svc, &a.node, a.index),
            from_host: from.to_owned(),
            to_host: a.host.name.clone(),
            reason: why.reason(from),
        });
    }

    // Start them where they now are, in dependency order; instances of one node at once.
    let mut problems = Vec::new();
    for node in &order {
        let starts = assigned.iter().filter(|a| &a.node == node).map(|a| {
            let instance = instance_ref(ns, svc, &a.node, a.index);
            let host = a.host.name.clone();
            async move { start_on(agent, &host, &instance, None).await }
        });
        for result in futures_util::future::join_all(starts).await {
            if let Err(e) = result {
                problems.push(e);
            }
        }
    }

    // Dependants that stayed get the new address by restarting where they are.
    let moved_nodes: BTreeSet<&str> = assigned.iter().map(|a| a.node.as_str()).collect();
    let moved: BTreeSet<(&str, u32)> = assigned
        .iter()
        .map(|a| (a.node.as_str(), a.index))
        .collect();
    let dependants: BTreeSet<&str> = graph
        .relationships
        .iter()
        .filter(|r| moved_nodes.contains(r.target.as_str()))
        .map(|r| r.source.as_str())
        .collect();
    for node in order.iter().filter(|n| dependants.contains(n.as_str())) {
        let because: Vec<&str> = graph
            .relationships
            .iter()
            .filter(|r| &r.source == node && moved_nodes.contains(r.target.as_str()))
            .map(|r| r.target.as_str())
            .collect();
        for record in records.iter().filter(|r| {
            &r.node == node
                && r.host != from
                && !moved.contains(&(r.node.as_str(), r.index))
                && r.state == InstanceStatus::Running
        }) {
            let instance = instance_ref(ns, svc, &record.node, record.index);
            agent.emit(EventKind::InstanceReconnecting {
                instance: instance.clone(),
                because_of: format!("{} moved off host {from}", because.join(", ")),
            });
            if let Err(e) = stop_on(agent, &record.host, &instance, false, MarkSweep::Now).await {
                problems.push(e);
                continue;
            }
            if let Err(e) = start_on(agent, &record.host, &instance, None).await {
                problems.push(e);
            }
        }
    }
    if problems.is_empty() {
        Ok(assigned.len())
    } else {
        Err(RelocateError::Instances(problems))
    }
}

/// Why the instances of one service could not be moved off a host.
#[derive(Debug, thiserror::Error)]
pub enum RelocateError {
    /// The shared state could not be read or written.
    #[error("{0}")]
    State(String),
    /// No live host can take them (placement, ports).
    #[error("could not be moved off host {from}: {reason}")]
    Unplaceable { from: String, reason: String },
    /// They were placed, and these starts (or dependants' restarts) failed.
    #[error("{}", join(.0))]
    Instances(Vec<InstanceError>),
}

impl RelocateError {
    fn state(error: impl std::fmt::Display) -> RelocateError {
        RelocateError::State(error.to_string())
    }
}

fn join(errors: &[InstanceError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
