//! The records kept in the state directory. Each is one small JSON file.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const FORMAT_VERSION: u32 = 1;

/// `cluster.json`: written once by the first agent that uses the directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub id: String,
    pub format_version: u32,
    pub created_at: DateTime<Utc>,
}

/// `hosts/<host>/host.json`: what an agent announces about its host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub name: String,
    /// The address workloads on this host are reached at.
    pub address: String,
    /// The agent's API base URL.
    pub api_url: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub cpus: u32,
    pub memory_bytes: u64,
    pub agent_pid: u32,
    pub started_at: DateTime<Utc>,
    /// Ports the host hands out to endpoints that ask for any port.
    #[serde(default)]
    pub port_range: crate::PortRange,
    /// The UDP address of its gossip socket, when it takes part in gossip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossip_addr: Option<String>,
    /// The delegates its agent can run (`process`, `podman`, `docker`, ...): placement
    /// sends an instance only to a host that runs its delegate. Empty in records of agents
    /// that did not say (taken as able to run any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegates: Vec<String>,
}

/// `hosts/<host>/drain.json`: the host is being emptied on purpose and takes no new work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrainRecord {
    pub since: DateTime<Utc>,
    /// The host whose agent took the request.
    pub by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    /// Instances are being started.
    Deploying,
    /// Every instance was started.
    Deployed,
    /// A deploy failed; its instances were stopped and its ports released.
    Failed,
    /// Instances are being stopped before the service is removed.
    Deleting,
}

/// `namespaces/<ns>/services/<svc>/service.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub namespace: String,
    pub name: String,
    pub revision: u64,
    pub status: ServiceStatus,
    /// Why the service failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The entry TOSCA file inside the package.
    pub entry: String,
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// The host whose agent runs the service's current flow (deploy or delete); another agent
    /// takes the flow over when this host dies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinator: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    Pending,
    Starting,
    Running,
    Exited,
    Failed,
    Stopping,
    Stopped,
}

impl InstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Pending => "pending",
            InstanceStatus::Starting => "starting",
            InstanceStatus::Running => "running",
            InstanceStatus::Exited => "exited",
            InstanceStatus::Failed => "failed",
            InstanceStatus::Stopping => "stopping",
            InstanceStatus::Stopped => "stopped",
        }
    }
}

/// `instances/<node>-<index>.json`: the mutable runtime state of one node instance.
/// Only the agent of `host` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub namespace: String,
    pub service: String,
    pub node: String,
    pub index: u32,
    pub revision: u64,
    pub host: String,
    /// The placement's fencing epoch: grows with every placement (deploy, failover, drain).
    /// The host's agent runs, adopts and writes the instance only under this epoch; a copy
    /// it runs under another one is stale and is stopped first.
    #[serde(default)]
    pub epoch: u64,
    /// The delegate that runs it: `process`, `directory`, ...
    pub delegate: String,
    pub state: InstanceStatus,
    /// The address of its host.
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Start time of `pid` in clock ticks since boot (/proc/<pid>/stat field 22), so a
    /// reused pid is never mistaken for ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start_time: Option<u64>,
    /// Reserved ports by endpoint (capability) name.
    #[serde(default)]
    pub ports: BTreeMap<String, u16>,
    /// Other runtime attributes, the ones TOSCA reads (e.g. a directory's `path`, an
    /// operation's outputs).
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// The delegate's own handle on the workload (container ids, machine name): what it
    /// finds the workload by. Only the delegate writes it; `delegate_handle` reads it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub handle: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_signal: Option<i32>,
    #[serde(default)]
    pub restarts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the instance asks of its host (Resources policies): CPU in thousandths of a core.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cpu_millis: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub memory_bytes: u64,
    /// Why the instance is on its host, one reason per line (see the scheduler).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

impl InstanceRecord {
    /// The delegate's handle on the workload. Records written before the handle had a
    /// field of its own kept it among the attributes.
    pub fn delegate_handle(&self) -> &BTreeMap<String, serde_json::Value> {
        if self.handle.is_empty() {
            &self.attributes
        } else {
            &self.handle
        }
    }
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}
