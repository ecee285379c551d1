//! Assigning instances to hosts: the scheduler's placement, then the ports each instance
//! needs on its host, all or nothing. Used by deploy (every instance) and by failover and
//! drain (the instances of one host, the others fixed). Call it under the service lock.

use crate::agent::Agent;
use crate::placement;
use crate::workload;
use khutulun_graph::ServiceGraph;
use khutulun_scheduler as scheduler;
use khutulun_state::{HostInfo, InstanceRecord, PortOwner, PortRequest};
use std::collections::BTreeMap;

/// Where one instance goes and what it holds there.
#[derive(Debug, Clone)]
pub struct Assigned {
    pub node: String,
    pub index: u32,
    pub host: HostInfo,
    pub ports: BTreeMap<String, u16>,
    pub reasons: Vec<String>,
    pub resources: scheduler::Resources,
}

pub struct AssignError {
    /// True when no placement honours the policies or capacity (as opposed to ports).
    pub placement: bool,
    pub message: String,
}

/// Places `wanted` instances of a service on `hosts`, `fixed` ones staying where they are,
/// and reserves their ports. On error nothing is reserved.
pub fn assign(
    agent: &Agent,
    ns: &str,
    svc: &str,
    graph: &ServiceGraph,
    wanted: &[(String, u32)],
    fixed: &[(String, u32, String)],
    hosts: &[HostInfo],
) -> Result<Vec<Assigned>, AssignError> {
    let records = crate::relocate::all_instances(agent).unwrap_or_default();
    let placing = |r: &InstanceRecord| {
        r.namespace == ns
            && r.service == svc
            && wanted.iter().any(|(n, i)| *n == r.node && *i == r.index)
    };
    let host_states = placement::host_states(hosts, &records, &placing);
    let request = scheduler::Request {
        instances: wanted
            .iter()
            .map(|(node, index)| scheduler::InstanceRequest {
                id: scheduler::InstanceId {
                    node: node.clone(),
                    index: *index,
                },
                resources: placement::resources(graph, node),
            })
            .collect(),
        policies: placement::rules(graph)
            .into_iter()
            .chain(placement::delegate_rules(graph))
            .collect(),
        fixed: fixed
            .iter()
            .map(|(node, index, host)| {
                (
                    scheduler::InstanceId {
                        node: node.clone(),
                        index: *index,
                    },
                    host.clone(),
                )
            })
            .collect(),
    };
    let placed = scheduler::place(&request, &host_states).map_err(|e| AssignError {
        placement: true,
        message: e.to_string(),
    })?;

    // Ports, per host, all or nothing across hosts.
    let mut by_host: BTreeMap<String, Vec<PortRequest>> = BTreeMap::new();
    for assignment in &placed.assignments {
        let Some(node) = graph.node(&assignment.id.node) else {
            continue;
        };
        for (endpoint, port) in workload::endpoints_needing_ports(graph, node) {
            by_host
                .entry(assignment.host.clone())
                .or_default()
                .push(PortRequest {
                    owner: PortOwner {
                        namespace: ns.to_owned(),
                        service: svc.to_owned(),
                        node: node.name.clone(),
                        index: assignment.id.index,
                        endpoint,
                    },
                    port,
                });
        }
    }
    let mut granted: Vec<(PortOwner, String, u16)> = Vec::new();
    for (host_name, requests) in &by_host {
        let host = hosts
            .iter()
            .find(|h| &h.name == host_name)
            .expect("the scheduler places on given hosts");
        let local = host.name == agent.host.name;
        let in_use = |port: u16| local && crate::readiness::port_in_use(port);
        match agent
            .store
            .reserve_ports(host_name, requests, host.port_range, &in_use)
        {
            Ok(ports) => granted.extend(
                requests
                    .iter()
                    .zip(ports)
                    .map(|(r, p)| (r.owner.clone(), host_name.clone(), p)),
            ),
            Err(e) => {
                for (owner, host, _) in &granted {
                    // Left behind, it is released at the next agent start
                    // (`commit::resync_ports`): no record owns it.
                    if let Err(e) = agent.store.release_instance_ports(
                        host,
                        &owner.namespace,
                        &owner.service,
                        &owner.node,
                        owner.index,
                    ) {
                        tracing::warn!(
                            "cannot release the ports reserved for {}/{} {}/{}: {e}",
                            owner.namespace,
                            owner.service,
                            owner.node,
                            owner.index
                        );
                    }
                }
                return Err(AssignError {
                    placement: false,
                    message: format!("on host {host_name}: {e}"),
                });
            }
        }
    }
    Ok(placed
        .assignments
        .into_iter()
        .map(|a| {
            let host = hosts
                .iter()
                .find(|h| h.name == a.host)
                .cloned()
                .expect("the scheduler places on given hosts");
            let ports = granted
                .iter()
                .filter(|(o, _, _)| o.node == a.id.node && o.index == a.id.index)
                .map(|(o, _, p)| (o.endpoint.clone(), *p))
                .collect();
            Assigned {
                resources: placement::resources(graph, &a.id.node),
                node: a.id.node,
                index: a.id.index,
                host,
                ports,
                reasons: a.reasons,
            }
        })
        .collect())
}
