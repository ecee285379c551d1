//! What the API returns: the wire types of `khutulun_protocol` (re-exported here), made
//! from the state's records by the functions below.

pub use khutulun_protocol::requests::DeployRequest;
pub use khutulun_protocol::views::{
    DrainResult, GossipMember, GossipView, Health, HostView, InstanceView, PlanNode, PlanView,
    PluginView, ServiceDetail, ServiceView,
};
use khutulun_state::{HostInfo, InstanceRecord, ServiceRecord};

/// A service record and its instances' records as the API shows the service.
pub fn service_view(record: &ServiceRecord, instances: &[InstanceRecord]) -> ServiceView {
    ServiceView {
        namespace: record.namespace.clone(),
        name: record.name.clone(),
        revision: record.revision,
        status: serde_json::to_value(record.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        message: record.message.clone(),
        entry: record.entry.clone(),
        inputs: record.inputs.clone(),
        created_at: record.created_at,
        updated_at: record.updated_at,
        instances: instances.len(),
        running: instances
            .iter()
            .filter(|i| i.state == khutulun_state::InstanceStatus::Running)
            .count(),
    }
}

/// An instance record as the API shows it.
pub fn instance_view(r: &InstanceRecord) -> InstanceView {
    InstanceView {
        namespace: r.namespace.clone(),
        service: r.service.clone(),
        node: r.node.clone(),
        index: r.index,
        revision: r.revision,
        host: r.host.clone(),
        delegate: r.delegate.clone(),
        state: r.state.as_str().to_owned(),
        address: r.address.clone(),
        pid: r.pid,
        ports: r.ports.clone(),
        attributes: r.attributes.clone(),
        handle: r.handle.clone(),
        restarts: r.restarts,
        exit_code: r.exit_code,
        exit_signal: r.exit_signal,
        message: r.message.clone(),
        placement: r.placement.clone(),
        cpu_millis: r.cpu_millis,
        memory_bytes: r.memory_bytes,
        updated_at: r.updated_at,
    }
}

/// A host's record as the API shows it, with what this agent knows of it (its membership
/// state, a drain, its instance count); lease and note are the caller's to fill in.
pub fn host_view(info: HostInfo, state: &str, draining: bool, instances: usize) -> HostView {
    HostView {
        name: info.name,
        address: info.address,
        api_url: info.api_url,
        state: state.to_owned(),
        draining,
        labels: info.labels,
        cpus: info.cpus,
        memory_bytes: info.memory_bytes,
        instances,
        agent_pid: info.agent_pid,
        started_at: info.started_at,
        gossip_addr: info.gossip_addr,
        delegates: info.delegates,
        lease_epoch: None,
        lease_renewed_at: None,
        note: None,
    }
}

/// A deploy's plan as the API shows it.
pub fn plan_view(ns: &str, service: &str, plan: &crate::deploy::Plan) -> PlanView {
    use khutulun_graph::NodeAction;
    PlanView {
        namespace: ns.to_owned(),
        service: service.to_owned(),
        current_revision: plan.current_revision,
        changes: !plan.other_files.is_empty()
            || plan
                .changes
                .iter()
                .any(|c| c.action != NodeAction::Unchanged),
        other_files_changed: plan.other_files.clone(),
        nodes: plan
            .changes
            .iter()
            .map(|c| PlanNode {
                node: c.node.clone(),
                action: serde_json::to_value(c.action)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                count_before: c.count_before,
                count_after: c.count_after,
                reasons: c.reasons.clone(),
            })
            .collect(),
    }
}
