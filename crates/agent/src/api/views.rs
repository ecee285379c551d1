//! What the API returns: views of the state records, documented for OpenAPI.

use chrono::{DateTime, Utc};
use khutulun_state::{HostInfo, InstanceRecord, ServiceRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub host: String,
    pub version: String,
    pub api_url: String,
    /// `ok`, `stalled` (the shared state does not answer: a lease renewal is overdue) or
    /// `fenced` (this host stopped its workloads because its lease lapsed).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled_since: Option<DateTime<Utc>>,
    /// The epoch of this host's lease.
    pub lease_epoch: u64,
    /// The lease period, in seconds.
    pub lease_period_s: u64,
    /// What the state directory is on, e.g. `nfs4 server:/export on /mnt/state`.
    pub state_filesystem: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeployRequest {
    /// The entry TOSCA file, relative to the package root.
    pub entry: String,
    /// Input values by name.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// The package: a gzip-compressed tar archive, base64-encoded.
    pub package: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceView {
    pub namespace: String,
    pub name: String,
    pub revision: u64,
    /// deploying, deployed, failed or deleting.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub entry: String,
    #[schema(value_type = Object)]
    pub inputs: BTreeMap<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Number of instances, and of those running.
    pub instances: usize,
    pub running: usize,
}

impl ServiceView {
    pub fn new(record: &ServiceRecord, instances: &[InstanceRecord]) -> ServiceView {
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
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceDetail {
    #[serde(flatten)]
    pub service: ServiceView,
    pub instance_list: Vec<InstanceView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstanceView {
    pub namespace: String,
    pub service: String,
    pub node: String,
    pub index: u32,
    pub revision: u64,
    pub host: String,
    /// process, directory or none.
    pub delegate: String,
    /// pending, starting, running, exited, failed, stopping or stopped.
    pub state: String,
    pub address: String,
    pub pid: Option<u32>,
    /// Reserved ports by endpoint name.
    pub ports: BTreeMap<String, u16>,
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, serde_json::Value>,
    pub restarts: u32,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    pub message: Option<String>,
    /// Why the instance is on its host (the scheduler's reasons, and moves).
    pub placement: Vec<String>,
    /// CPU (thousandths of a core) and memory the instance asks of its host.
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub updated_at: DateTime<Utc>,
}

impl From<&InstanceRecord> for InstanceView {
    fn from(r: &InstanceRecord) -> InstanceView {
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
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HostView {
    pub name: String,
    pub address: String,
    pub api_url: String,
    /// As this agent sees it: alive, suspect, dead or left (SWIM gossip); `unreachable` when
    /// the host's agent holds its lock on the state but gossip has not reached it.
    pub state: String,
    /// Being drained: takes no new instances.
    pub draining: bool,
    pub labels: BTreeMap<String, String>,
    pub cpus: u32,
    pub memory_bytes: u64,
    /// Instances placed on the host.
    pub instances: usize,
    /// Process id of the host's agent.
    pub agent_pid: u32,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossip_addr: Option<String>,
    /// The epoch of its lease, and when it was last renewed (from `lease.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_epoch: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_renewed_at: Option<DateTime<Utc>>,
    /// Set when something about the host needs saying: a dead host whose instances still wait
    /// for fencing, a fenced host, a stalled state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl HostView {
    pub fn new(info: HostInfo, state: &str, draining: bool, instances: usize) -> HostView {
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
            lease_epoch: None,
            lease_renewed_at: None,
            note: None,
        }
    }
}

/// What a drain did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DrainResult {
    pub host: String,
    /// Instances now running elsewhere.
    pub moved: usize,
    /// Instances that could not be moved, and why.
    pub problems: Vec<String>,
}
